"""Writing models out: ``writers`` (``export_model``: the writer chosen by format from a table), the
self-contained folder that ``local-dir:`` loads and the atomic, locked target (``folder``), ONNX folders
(``onnx``, read back by the torch-free :mod:`clipzoo.onnx` runtime), and transformers folders (``transformers``:
CLIPModel/SiglipModel, ``siglip2``: Siglip2Model, ``transformers_tokenizer``). The key tables they write by live
in :mod:`clipzoo.formats`, read backwards.

May import: onnx (the manifest and tokenizer reader), factory, formats, preprocess, tokenizers, models, registry,
files, errors, constants.
"""
