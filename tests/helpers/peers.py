"""The peer (open_clip 3.3.0) pieces that tests load on their own."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def open_clip_loss_module():
    """open_clip's loss.py loaded on its own: it only needs torch, and skipping open_clip's package import
    (~11 s: torchvision, transformers) keeps worker processes fast."""
    package_dir = importlib.util.find_spec("open_clip").submodule_search_locations[0]
    spec = importlib.util.spec_from_file_location("open_clip_peer_loss", Path(package_dir) / "loss.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
