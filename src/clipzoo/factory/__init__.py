"""From a name and a tag to a ready model: resolve -> build -> load -> create.

Modules, one job each: ``sources`` (registry name, ``hf-hub:org/repo``, ``local-dir:PATH``; torch-free),
``resolve`` (the caller's words to a ``ModelSpec``; torch-free), ``meta_build`` (the module, on the meta device
when weights follow), ``fetch`` (fetch the spec's weights and hand them to :mod:`clipzoo.checkpoint.load`),
``precision`` (the cast to the chosen precision), ``create`` (``create_model`` and its two wrappers), ``tokenizer``
(``get_tokenizer``), ``preprocess_cfg`` (the preprocess config a model carries), ``transforms`` (a model's eval
transform, NaFlex included), ``docstrings`` (the create functions' docstrings from one table), ``arguments``
(checks of the public arguments at the door), ``memory`` (the image size against this machine's RAM),
``summary`` (parameter counts and cost for ``clipzoo info``).
May import: registry, models, tokenizers, preprocess, hub, checkpoint, formats, errors, constants. Never the
CLI, export, the compat layer or the onnx package (``sources`` reads ``clipzoo.onnx.manifest`` to refuse ONNX
folders, the one allowed exception).
"""
