"""clipzoo: CLIP-family models, open_clip-compatible."""
__version__ = "0.1.0"
