"""From a name and a tag to a ready model: resolve -> build -> load -> finish.

Modules: ``sources`` (registry name, ``hf-hub:org/repo``, ``local-dir:PATH``; torch-free), ``create``
(``create_model`` and its wrappers, ``get_tokenizer``, preprocess-config accessors), ``arguments`` (checks of
the public arguments at the door).
May import: registry, models, tokenizers, preprocess, hub, checkpoint, formats, errors, constants. Never the
CLI, export, onnx runtime or compat layers (``sources`` reads ``clipzoo.onnx.manifest`` to refuse ONNX
folders, the one allowed exception).
"""
