"""Checkpoint files to a loaded model: read (safetensors by memory map, pickles with ``weights_only``),
detect the format from the content, convert with the table in ``formats``, adapt (position embeddings,
logit shapes) and load strictly.

May import: formats, registry, errors. Never the factory.
"""
