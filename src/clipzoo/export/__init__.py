"""Writing models out: the self-contained folder that ``local-dir:`` loads (``folder``), and transformers
folders (``transformers``: CLIPModel/SiglipModel, ``siglip2``: Siglip2Model, ``transformers_tokenizer``).
The key tables they write by live in :mod:`clipzoo.formats`, read backwards.

May import: factory, formats, preprocess, tokenizers, registry, files, errors, constants.
"""
