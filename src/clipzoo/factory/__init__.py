"""From a name and a tag to a ready model: resolve -> build -> load -> create.

Modules: ``sources`` (registry name, ``hf-hub:org/repo``, ``local-dir:PATH``; torch-free), ``resolve`` (the
caller's words to a ``ModelSpec``; torch-free), ``build`` (the module, on the meta device when weights follow),
``load`` (fetch and assign the weights), ``create`` (``create_model`` and its wrappers, ``get_tokenizer``,
preprocess-config accessors), ``arguments`` (checks of the public arguments at the door), ``summary``
(parameter counts and cost for ``clipzoo info``).
May import: registry, models, tokenizers, preprocess, hub, checkpoint, formats, errors, constants. Never the
CLI, export, the compat layer or the onnx package (``sources`` reads ``clipzoo.onnx.manifest`` to refuse ONNX
folders, the one allowed exception).
"""
