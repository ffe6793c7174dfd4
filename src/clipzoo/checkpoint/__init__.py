"""Checkpoint files to a loaded model: read (safetensors by memory map, pickles with ``weights_only``),
detect the format from the content (``detect``: one ``Converter`` row per foreign format), convert with
:mod:`clipzoo.formats`, adapt (position embeddings, logit shapes, NaFlex layout) and load strictly (``load``).

May import: formats, models, registry, errors, sizes. Never the factory.
"""
