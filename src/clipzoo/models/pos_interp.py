"""Run-time resolution (``interpolate_pos_encoding=True``): a ViT's learned position grid resized per call.

The arithmetic is transformers' ``CLIPVisionEmbeddings``/``SiglipVisionEmbeddings.interpolate_pos_encoding``: the
patch positions as a square grid, bicubic, ``align_corners=False``, no antialiasing, to ``(H // patch, W // patch)``;
prefix-token positions (the class token's) kept. At the trained grid nothing changes. The stored weights are never
modified (unlike ``force_image_size``, which resizes them once when loading).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


def resize_position_grid(
    table: torch.Tensor,
    old_grid: tuple[int, int],
    new_grid: tuple[int, int],
    num_prefix: int,
    mode: str = "bicubic",
    antialias: bool = False,
) -> torch.Tensor:
    """A (prefix + rows * cols, width) position table resized to ``new_grid``; the one position-grid resampler.

    The defaults are transformers' run-time resize (bicubic, no antialiasing); loading a checkpoint at another
    image size (:func:`clipzoo.checkpoint.load.resize_pos_embed`) uses it with open_clip's ``antialias=True``.
    The grid is interpolated in float32 with ``align_corners=False``; prefix positions are kept. (No keyword-only
    arguments: TorchScript compiles this function where a ViT calls it.)

    Args:
        table: Positions, prefix tokens first, then the grid row by row.
        old_grid: (rows, cols) the table holds.
        new_grid: (rows, cols) wanted.
        num_prefix: Number of leading positions that are not on the grid (1 for a class token).
        mode: ``torch.nn.functional.interpolate`` mode.
        antialias: Antialias (it matters only when shrinking the grid).

    Returns:
        The resized table, in ``table``'s dtype; ``table`` itself when the grids are equal.
    """
    if old_grid[0] == new_grid[0] and old_grid[1] == new_grid[1]:
        return table
    prefix, grid = table[:num_prefix], table[num_prefix:]
    width = grid.shape[-1]
    image = grid.reshape(1, old_grid[0], old_grid[1], width).permute(0, 3, 1, 2)
    image = F.interpolate(
        image.float(), size=(new_grid[0], new_grid[1]), mode=mode, antialias=antialias, align_corners=False
    )
    grid = image.permute(0, 2, 3, 1).reshape(new_grid[0] * new_grid[1], width).to(table.dtype)
    return torch.cat([prefix, grid], dim=0)


@contextlib.contextmanager
def _lenient_patch_embed(patch_embed: nn.Module) -> Iterator[None]:
    """Let timm's PatchEmbed take any multiple of its patch size for the duration."""
    strict = getattr(patch_embed, "strict_img_size", False)
    patch_embed.strict_img_size = False
    try:
        yield
    finally:
        patch_embed.strict_img_size = strict


def timm_vit_forward_interpolated(trunk: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Run a timm ViT trunk on images of any size (multiples of its patch), its positions resized as
    transformers resizes them; a NaFlexVit (which resizes its own positions) runs as it is.

    Args:
        trunk: The timm model of a :class:`~clipzoo.models.timm_tower.TimmTower`.
        images: (B, 3, H, W).

    Returns:
        The trunk's output for ``images``.

    Raises:
        ValueError: the trunk has no learned absolute position table (not a ViT), or sizes it itself.
    """
    if type(trunk).__name__ == "NaFlexVit":
        return trunk(images)
    pos_embed = getattr(trunk, "pos_embed", None)
    patch_embed = getattr(trunk, "patch_embed", None)
    if (
        not isinstance(pos_embed, torch.Tensor)
        or patch_embed is None
        or not hasattr(patch_embed, "grid_size")
    ):
        raise ValueError(
            f"interpolate_pos_encoding=True needs a ViT with a learned position table; timm model "
            f"{type(trunk).__name__} has none (build it at the wanted size with force_image_size instead)"
        )
    if getattr(trunk, "dynamic_img_size", False):
        return trunk(images)  # timm resizes the positions itself on every call
    patch = patch_embed.patch_size
    new_grid = (images.shape[-2] // patch[0], images.shape[-1] // patch[1])
    old_grid = (int(patch_embed.grid_size[0]), int(patch_embed.grid_size[1]))
    if new_grid == old_grid:
        return trunk(images)
    prefix = 0 if getattr(trunk, "no_embed_class", False) else int(getattr(trunk, "num_prefix_tokens", 0))
    resized = resize_position_grid(pos_embed[0], old_grid, new_grid, prefix).unsqueeze(0)
    with _lenient_patch_embed(patch_embed):
        return torch.func.functional_call(trunk, {"pos_embed": resized}, (images,), strict=False)
