"""Position-embedding helpers with open_clip's names: 2-D sin-cos tables (numpy, MAE layout) and the resizing
of checkpoint position embeddings to a model (in place, as ``open_clip.model.resize_pos_embed`` does).

numpy is imported when a table is built, torch when a state dict is resized.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = [
    "get_1d_sincos_pos_embed_from_grid",
    "get_2d_sincos_pos_embed",
    "get_2d_sincos_pos_embed_from_grid",
    "interpolate_pos_embed",
    "resize_pos_embed",
    "resize_text_pos_embed",
]

_log = logging.getLogger(__name__)


def _check_even(embed_dim: int) -> None:
    if embed_dim % 2:
        raise ValueError(f"a sin-cos position embedding needs an even width, got embed_dim={embed_dim}")


def get_1d_sincos_pos_embed_from_grid(embed_dim: int, pos: Any) -> Any:
    """Sin-cos embedding of positions: ``(M, embed_dim)`` float64, the sines first, then the cosines.

    Args:
        embed_dim: Output width (even).
        pos: Array of positions, any shape (flattened to ``M`` values).
    """
    import numpy as np

    _check_even(embed_dim)
    omega = 1.0 / 10000 ** (np.arange(embed_dim // 2, dtype=np.float64) / (embed_dim / 2.0))
    angles = np.einsum("m,d->md", np.asarray(pos).reshape(-1), omega)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def get_2d_sincos_pos_embed_from_grid(embed_dim: int, grid: Any) -> Any:
    """``(H*W, embed_dim)``: half the width encodes ``grid[0]``, the other half ``grid[1]``."""
    _check_even(embed_dim)
    import numpy as np

    first = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[0])
    second = get_1d_sincos_pos_embed_from_grid(embed_dim // 2, grid[1])
    return np.concatenate([first, second], axis=1)


def get_2d_sincos_pos_embed(embed_dim: int, grid_size: int, cls_token: bool = False) -> Any:
    """Fixed 2-D sin-cos table for a square ``grid_size`` grid, ``(grid_size**2 [+1], embed_dim)``.

    The width coordinate is encoded first (MAE's convention); with ``cls_token`` a zero row comes first.
    """
    import numpy as np

    coords = np.arange(grid_size, dtype=np.float32)
    grid = np.stack(np.meshgrid(coords, coords), axis=0).reshape(2, 1, grid_size, grid_size)
    table = get_2d_sincos_pos_embed_from_grid(embed_dim, grid)
    if cls_token:
        table = np.concatenate([np.zeros([1, embed_dim]), table], axis=0)
    return table


def interpolate_pos_embed(model: Any, checkpoint_model: dict) -> None:
    """Resize a timm-style ``pos_embed`` in ``checkpoint_model`` (in place) to ``model.patch_embed``'s grid.

    Extra tokens (class, distillation) are kept; the square patch grid is resized bicubically.
    """
    if "pos_embed" not in checkpoint_model:
        return
    import torch
    import torch.nn.functional as F

    old = checkpoint_model["pos_embed"]
    width = old.shape[-1]
    num_patches = model.patch_embed.num_patches
    extra = model.pos_embed.shape[-2] - num_patches
    old_side = int((old.shape[-2] - extra) ** 0.5)
    new_side = int(num_patches**0.5)
    if old_side == new_side:
        return
    _log.info("position embedding interpolated from %dx%d to %dx%d", old_side, old_side, new_side, new_side)
    tokens, patches = old[:, :extra], old[:, extra:]
    patches = patches.reshape(-1, old_side, old_side, width).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, size=(new_side, new_side), mode="bicubic", align_corners=False)
    patches = patches.permute(0, 2, 3, 1).flatten(1, 2)
    checkpoint_model["pos_embed"] = torch.cat((tokens, patches), dim=1)


def resize_pos_embed(
    state_dict: dict, model: Any, interpolation: str = "bicubic", antialias: bool = True
) -> None:
    """Resize ``state_dict['visual.positional_embedding']`` (in place) to ``model.visual``'s patch grid.

    :func:`clipzoo.checkpoint.load.resize_pos_embed`, which states the rules (antialias, widths, dtype).

    Args:
        state_dict: A checkpoint in open_clip's layout, modified in place.
        model: The model it will be loaded into (its ``visual.grid_size``).
        interpolation: ``torch.nn.functional.interpolate`` mode.
        antialias: Antialias when downsampling.

    Raises:
        CheckpointError: the checkpoint's positions do not form a square grid.
    """
    from ...checkpoint.load import resize_pos_embed as resize

    resize(state_dict, model, interpolation=interpolation, antialias=antialias)


def resize_text_pos_embed(
    state_dict: dict, model: Any, interpolation: str = "linear", antialias: bool = False
) -> None:
    """Resize the text position embeddings in ``state_dict`` (in place) to the model's context length.

    :func:`clipzoo.checkpoint.load.resize_text_pos_embed` with ``check_width=True`` (open_clip asserts the
    width); the rules are stated at :func:`clipzoo.checkpoint.load.resize_pos_embed`.

    Args:
        state_dict: A checkpoint (``positional_embedding`` or ``text.positional_embedding``), modified in place.
        model: The model (or its ``text`` tower) whose ``positional_embedding`` gives the length.
        interpolation: ``torch.nn.functional.interpolate`` mode along the positions.
        antialias: Antialias when shortening.

    Raises:
        ValueError: the checkpoint's embedding width differs from the model's (a ``CheckpointError``).
    """
    from ...checkpoint.load import resize_text_pos_embed as resize

    key = "positional_embedding" if "positional_embedding" in state_dict else "text.positional_embedding"
    before = state_dict.get(key)
    resize(state_dict, model, interpolation=interpolation, antialias=antialias, check_width=True)
    after = state_dict.get(key)
    if after is not before and before is not None and after is not None:
        _log.info("text position embedding resized from %d to %d positions", before.shape[0], after.shape[0])
