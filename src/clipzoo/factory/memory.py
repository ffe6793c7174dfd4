"""Refuse an image size whose image tower cannot fit in this machine's memory, before anything is built."""

from __future__ import annotations

import os
from typing import Any

from .arguments import ArgumentError


def _physical_memory() -> int | None:
    """Bytes of RAM on this machine (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _image_tower_bytes(vision: Any, height: int, width: int) -> int:
    """A lower bound of the memory one image needs in the image tower, float32.

    The input tensor always; for a native ViT also its position table (tokens x width) and one attention map
    (heads x tokens^2), which is what grows without bound with the image size.
    """
    need = 3 * height * width * 4
    if vision.timm_model_name or isinstance(vision.layers, (list, tuple)) or not vision.patch_size:
        return need
    tokens = (height // vision.patch_size) * (width // vision.patch_size) + 1
    heads = max(1, vision.width // vision.head_width)
    return need + 4 * (tokens * vision.width + heads * tokens * tokens)


def check_image_size_fits(vision: Any, source: str, memory: int | None = None) -> None:
    """Refuse an image size whose image tower cannot fit in this machine's memory, before anything is built.

    Args:
        vision: The image tower's config (a :class:`clipzoo.config.VisionCfg`) at the size to check.
        source: The model's name, for the message.
        memory: Bytes available; None reads the machine's RAM.

    Raises:
        ArgumentError: the image tower needs more memory than there is (the message gives the largest size that
            fits).
    """
    memory = memory if memory is not None else _physical_memory()
    size = vision.image_size
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if memory is None or _image_tower_bytes(vision, height, width) <= memory:
        return
    step = vision.patch_size or 32
    low, high = 1, max(height, width) // step  # square sizes, in steps: the largest that fits
    while low < high:
        mid = (low + high + 1) // 2
        fits = _image_tower_bytes(vision, mid * step, mid * step) <= memory
        low, high = (mid, high) if fits else (low, mid - 1)
    need = _image_tower_bytes(vision, height, width) / 2**30
    what = (
        "its position table and one attention map"
        if vision.patch_size and not vision.timm_model_name
        else "input"
    )
    raise ArgumentError(
        f"{source}: image size {(height, width)} needs at least {need:,.1f} GiB for one image in the image tower "
        f"({what}), more than this machine's {memory / 2**30:.1f} GiB; sizes up to about {low * step} fit"
    )
