"""Run-time resolution (``interpolate_pos_encoding=True``): a ViT's learned position grid resized per call.

The arithmetic is transformers' ``CLIPVisionEmbeddings``/``SiglipVisionEmbeddings.interpolate_pos_encoding``: the
patch positions as a square grid, bicubic, ``align_corners=False``, no antialiasing, to ``(H // patch, W // patch)``;
prefix-token positions (the class token's) kept. At the trained grid nothing changes. The stored weights are never
modified (unlike ``force_image_size``, which resizes them once when loading).

Sizes (:func:`check_image_size`): without ``interpolate_pos_encoding`` an image tower takes exactly the size it was
built for, and anything else is an :class:`ImageSizeError` saying which size it takes and how to run another (as
transformers refuses it). With it, any size of at least one patch works as in transformers: the grid is
``(H // patch, W // patch)`` and the pixels of a remainder (right and bottom) are not seen.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ImageSizeError

if TYPE_CHECKING:
    from timm.layers import PatchEmbed


def check_image_size(image: torch.Tensor, size: tuple[int, int], patch: int, interpolate: bool) -> None:
    """Refuse images the tower cannot take, before any work (scriptable: the towers call it in ``forward``).

    Args:
        image: (B, 3, H, W).
        size: (height, width) the tower was built for.
        patch: Its patch size (0 for a tower without a patch grid: only ``size`` works).
        interpolate: ``interpolate_pos_encoding=True`` was passed: any size of at least one patch.

    Raises:
        ImageSizeError: the size does not fit; the message names the sizes the tower takes.
    """
    height, width = int(image.shape[-2]), int(image.shape[-1])
    if interpolate and patch > 0:
        if height < patch or width < patch:
            raise ImageSizeError(
                f"images of {height}x{width} px are smaller than one {patch} px patch; "
                f"interpolate_pos_encoding=True takes sides of at least {patch} px"
            )
        return
    if height == size[0] and width == size[1]:
        return
    if patch > 0:
        hint = (
            f"; or pass interpolate_pos_encoding=True to encode_image/forward to run other sizes (sides in whole "
            f"{patch} px patches; a remainder is cut off, as in transformers)"
        )
    else:
        hint = "; this tower has no patch grid to resize: build the model at that size with force_image_size=..."
    raise ImageSizeError(
        f"images of {height}x{width} px do not fit this image tower: it takes {size[0]}x{size[1]} px (resize "
        f"them to it, as the model's eval transform does){hint}"
    )


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
def _lenient_patch_embed(patch_embed: PatchEmbed) -> Iterator[None]:
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
    patch = patch_embed.patch_size
    check_image_size(images, (0, 0), min(patch[0], patch[1]), True)
    new_grid = (images.shape[-2] // patch[0], images.shape[-1] // patch[1])
    # transformers' arithmetic: the patch convolution drops a remainder, which timm's PatchEmbed would refuse
    images = images[..., : new_grid[0] * patch[0], : new_grid[1] * patch[1]]
    if getattr(trunk, "dynamic_img_size", False):
        return trunk(images)  # timm resizes the positions itself on every call
    old_grid = (int(patch_embed.grid_size[0]), int(patch_embed.grid_size[1]))
    if new_grid == old_grid:
        return trunk(images)
    prefix = 0 if getattr(trunk, "no_embed_class", False) else int(getattr(trunk, "num_prefix_tokens", 0))
    resized = resize_position_grid(pos_embed[0], old_grid, new_grid, prefix).unsqueeze(0)
    with _lenient_patch_embed(patch_embed):
        return torch.func.functional_call(trunk, {"pos_embed": resized}, (images,), strict=False)
