"""Eval preprocessing of NaFlex models: one image of any size and aspect -> a padded dict of patches.

The image keeps its aspect ratio and is resized to the largest size, in whole patches, whose patch count fits the
token budget (transformers' ``Siglip2ImageProcessor`` arithmetic, :func:`clipzoo.registry.naflex.size_for_patch_budget`),
normalized, cut into patches flattened as (row, column, channel), and padded to ``max_num_patches`` so that
``torch.utils.data.default_collate`` stacks a list of them into the batch ``encode_image`` takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..registry.naflex import size_for_patch_budget
from .geometry import RESAMPLE


class NaFlexEvalTransform:
    """Image (PIL image, path or binary file) -> ``{"patches", "patch_coord", "patch_valid"}`` at a token budget.

    Args:
        patch_size: Patch side in pixels (the tower's).
        max_num_patches: Token budget: patches per image at most, and the padded length of every output.
        mean: Per-channel normalization mean.
        std: Per-channel normalization std.
        interpolation: ``'bicubic'``, ``'bilinear'`` (transformers' SigLIP 2 default) or ``'nearest'``.

    Raises:
        ValueError: a non-positive patch size or budget, a zero std, or an unknown interpolation.
    """

    accepts_sources = True

    def __init__(
        self,
        patch_size: int,
        max_num_patches: int,
        mean: Sequence[float],
        std: Sequence[float],
        interpolation: str = "bilinear",
    ) -> None:
        if patch_size <= 0 or max_num_patches <= 0:
            raise ValueError(
                f"patch_size ({patch_size}) and max_num_patches ({max_num_patches}) must be positive"
            )
        if any(s == 0 for s in std):
            raise ValueError(f"std must not contain zeros, got {tuple(std)}")
        if interpolation not in RESAMPLE:
            raise ValueError(
                f"unknown interpolation {interpolation!r}; expected one of {', '.join(RESAMPLE)}"
            )
        self.patch_size, self.max_num_patches = int(patch_size), int(max_num_patches)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.interpolation = interpolation

    def __repr__(self) -> str:
        return (
            f"NaFlexEvalTransform(patch_size={self.patch_size}, max_num_patches={self.max_num_patches}, "
            f"interpolation={self.interpolation!r}, mean={tuple(self.mean.tolist())}, std={tuple(self.std.tolist())})"
        )

    def target_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) an image of this size is resized to."""
        h, w = size_for_patch_budget(height, width, self.patch_size, self.max_num_patches)
        return w, h

    def __call__(self, src: Any) -> dict[str, torch.Tensor]:
        """Preprocess one image to its padded patch dict (see the class docstring)."""
        from .images import load_image

        img = load_image(src)
        img = img if img.mode == "RGB" else img.convert("RGB")
        size = self.target_size(*img.size)
        if img.size != size:
            img = img.resize(size, RESAMPLE[self.interpolation])
        pixels = np.asarray(img, dtype=np.float32) / np.float32(255)  # (H, W, 3)
        pixels = (pixels - self.mean) / self.std
        p = self.patch_size
        rows, cols = size[1] // p, size[0] // p
        patches = pixels.reshape(rows, p, cols, p, 3).transpose(0, 2, 1, 3, 4).reshape(rows * cols, p * p * 3)
        count, budget = rows * cols, self.max_num_patches
        out = {
            "patches": torch.zeros(budget, p * p * 3, dtype=torch.float32),
            "patch_coord": torch.zeros(budget, 2, dtype=torch.long),
            "patch_valid": torch.zeros(budget, dtype=torch.bool),
        }
        out["patches"][:count] = torch.from_numpy(np.ascontiguousarray(patches))
        index = torch.arange(count)
        out["patch_coord"][:count, 0] = index // cols
        out["patch_coord"][:count, 1] = index % cols
        out["patch_valid"][:count] = True
        return out
