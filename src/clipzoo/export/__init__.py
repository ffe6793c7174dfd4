"""Writing models out: the self-contained folder that ``local-dir:`` loads, and the transformers folder.

May import: factory, formats, preprocess, tokenizers, files, errors, constants.
"""
