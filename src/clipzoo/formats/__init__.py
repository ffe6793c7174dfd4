"""Foreign checkpoint and folder layouts, each described once and read in both directions where clipzoo
writes it too: OpenAI TorchScript archives (read without running their code), big_vision ``.npz``, and
Hugging Face transformers CLIP/SigLIP folders (key tables, config translation, preprocessing).

May import: registry, tokenizers (for writing tokenizer files), errors, constants. Never the factory,
checkpoint loading or export (the import-linter contracts check it).
"""
