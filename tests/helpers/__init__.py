"""Shared test helpers: tiny configs, registries, the local Hub, images, checkpoints, tokenizer models.

Modules here import only what their own helpers need (torch, PIL, sentencepiece are imported inside the
functions that use them), so a test that takes a config from here does not pay for torch.
"""
