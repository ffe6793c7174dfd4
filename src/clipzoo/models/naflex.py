"""NaFlex image towers at run time: the patch-dict batch, and checkpoints of plain ViTs loaded into a NaFlexVit.

A NaFlex tower is a :class:`~clipzoo.models.timm_tower.TimmTower` whose trunk is timm's ``NaFlexVit``; timm's
trunk itself takes either a dense ``(B, 3, H, W)`` tensor or the dict of :data:`clipzoo.registry.naflex.NAFLEX_INPUT_KEYS`.
This module converts transformers' ``Siglip2Processor`` output to that dict, and the key layout of a native
(OpenAI-style) or timm ViT checkpoint to the NaFlexVit's (``force_naflex_vision=True``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import NaFlexInputError
from ..registry.naflex import NAFLEX_INPUT_KEYS

if TYPE_CHECKING:
    from timm.models.naflexvit import NaFlexVit

    StateDict = dict[str, torch.Tensor]


def naflex_trunk(model: nn.Module) -> NaFlexVit | None:
    """The timm NaFlexVit trunk of a model or image tower, or None when it has none."""
    visual = getattr(model, "visual", model)
    trunk = getattr(visual, "trunk", None)
    return trunk if type(trunk).__name__ == "NaFlexVit" else None


def check_naflex_batch(
    batch: Mapping[str, torch.Tensor], trunk: nn.Module | None = None, token_budget: int = 0
) -> None:
    """Raise NaFlexInputError unless ``batch`` has patches (B, N, D), patch_coord (B, N, 2) and patch_valid (B, N),
    and, given the ``trunk`` it is for, fits it: checked before any work (a coordinate of 10000 would make the trunk
    resize its position grid to 10000 x 10000).

    Args:
        batch: The dict an image tower was given.
        trunk: The NaFlexVit it is for: D must be its patch's pixels (P * P * 3), every image needs at least one
            valid patch, and the valid patches' coordinates must be whole numbers from 0 whose grid (rows x
            columns) fits the token budget: the batch's N positions, or ``token_budget`` when larger (training
            batches may keep a subset of an image's patches).
        token_budget: The tower's own budget (its config's ``image_seq_len``); 0 when it has none.

    Raises:
        NaFlexInputError: a key is missing, the shapes do not agree, or the batch does not fit the trunk.
    """
    missing = [k for k in NAFLEX_INPUT_KEYS if k not in batch]
    if missing:
        raise NaFlexInputError(
            f"a NaFlex batch needs the keys {', '.join(NAFLEX_INPUT_KEYS)}; missing {', '.join(missing)} (build it "
            "with the model's eval transform and torch.utils.data.default_collate, or naflex_batch_from_hf)"
        )
    patches, coord, valid = (batch[k] for k in NAFLEX_INPUT_KEYS)
    if patches.ndim != 3 or coord.shape != (*patches.shape[:2], 2) or valid.shape != patches.shape[:2]:
        raise NaFlexInputError(
            "NaFlex batch shapes must be patches (B, N, P*P*3), patch_coord (B, N, 2), patch_valid (B, N); got "
            f"{tuple(patches.shape)}, {tuple(coord.shape)}, {tuple(valid.shape)}"
        )
    if trunk is not None:
        _check_patch_width(patches, trunk)
    _check_patch_grid(coord, valid, max(coord.shape[1], token_budget))


def _check_patch_width(patches: torch.Tensor, trunk: nn.Module) -> None:
    embeds = getattr(trunk, "embeds", None)
    patch, channels = getattr(embeds, "patch_size", None), getattr(embeds, "in_chans", 3)
    if patch is None or getattr(embeds, "enable_patch_interpolator", False):
        return  # (an interpolating trunk takes other patch sizes)
    width = int(patch[0]) * int(patch[1]) * int(channels)
    if patches.shape[-1] != width:
        raise NaFlexInputError(
            f"NaFlex patches are {patches.shape[-1]} values wide, this model's are {width} ({patch[0]}x{patch[1]} "
            f"px x {channels} channels); make them with the model's own NaFlex transform (its preprocess)"
        )


def _check_patch_grid(coord: torch.Tensor, valid: torch.Tensor, budget: int) -> None:
    if coord.is_floating_point() or valid.is_floating_point():
        raise NaFlexInputError("NaFlex patch_coord must hold integers and patch_valid booleans (or 0/1)")
    valid = valid.bool()
    empty = (~valid.any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise NaFlexInputError(f"NaFlex images {empty} have no valid patch (patch_valid all False); drop them")
    inside = coord.masked_fill(~valid.unsqueeze(-1), 0)
    if bool((inside < 0).any()):
        raise NaFlexInputError("NaFlex patch_coord holds negative coordinates; (row, column) count from 0")
    rows, cols = inside[..., 0].amax(dim=1) + 1, inside[..., 1].amax(dim=1) + 1
    grid = rows * cols
    over = (grid > budget).nonzero().flatten().tolist()
    if over:
        i = over[0]
        raise NaFlexInputError(
            f"NaFlex image {i}: its patch_coord spans a {int(rows[i])}x{int(cols[i])} grid, more than the token "
            f"budget of {budget} patches; coordinates count patches from 0 within the image"
        )


def naflex_batch_from_hf(
    pixel_values: torch.Tensor, pixel_attention_mask: torch.Tensor, spatial_shapes: torch.Tensor
) -> dict[str, torch.Tensor]:
    """transformers' ``Siglip2Processor`` output as the NaFlex batch clipzoo's ``encode_image`` takes.

    Args:
        pixel_values: (B, N, P*P*3) patches, flattened (row, column, channel) as timm's are.
        pixel_attention_mask: (B, N), 1 for real patches, 0 for padding.
        spatial_shapes: (B, 2) patch rows and columns of each image; its real patches come first, row by row.

    Returns:
        ``{"patches", "patch_coord", "patch_valid"}`` with (y, x) patch coordinates (0 for padding).

    Raises:
        NaFlexInputError: the shapes do not agree.
    """
    batch, length = pixel_values.shape[:2]
    if pixel_attention_mask.shape != (batch, length) or spatial_shapes.shape != (batch, 2):
        raise NaFlexInputError(
            f"expected pixel_attention_mask ({batch}, {length}) and spatial_shapes ({batch}, 2), got "
            f"{tuple(pixel_attention_mask.shape)} and {tuple(spatial_shapes.shape)}"
        )
    coord = torch.zeros(batch, length, 2, dtype=torch.long, device=pixel_values.device)
    index = torch.arange(length, device=pixel_values.device)
    for i, (rows, cols) in enumerate(spatial_shapes.tolist()):
        count = rows * cols
        coord[i, :count, 0] = index[:count] // cols
        coord[i, :count, 1] = index[:count] % cols
    return {"patches": pixel_values, "patch_coord": coord, "patch_valid": pixel_attention_mask.bool()}


# ---------------------------------------------------------------------------------------------------- checkpoints

# Native block parameter names -> timm block names (prefix match, rest of the key kept).
_NATIVE_BLOCK_NAMES = (
    ("ln_1.", "norm1."),
    ("ln_2.", "norm2."),
    ("attn.in_proj_weight", "attn.qkv.weight"),
    ("attn.in_proj_bias", "attn.qkv.bias"),
    ("attn.out_proj.", "attn.proj."),
    ("mlp.c_fc.", "mlp.fc1."),
    ("mlp.c_proj.", "mlp.fc2."),
    ("ls_1.gamma", "ls1.gamma"),
    ("ls_2.gamma", "ls2.gamma"),
)
_NATIVE_SINGLE = {
    "visual.ln_pre.weight": "visual.trunk.norm_pre.weight",
    "visual.ln_pre.bias": "visual.trunk.norm_pre.bias",
    "visual.ln_post.weight": "visual.trunk.norm.weight",
    "visual.ln_post.bias": "visual.trunk.norm.bias",
}


def _native_block_key(key: str) -> str:
    block, _, rest = key[len("visual.transformer.resblocks.") :].partition(".")
    for old, new in _NATIVE_BLOCK_NAMES:
        if rest.startswith(old):
            return f"visual.trunk.blocks.{block}.{new}{rest[len(old) :]}"
    return key


def _native_vit_to_naflex(state: StateDict) -> StateDict:
    """An OpenAI-layout ViT image tower as NaFlexVit keys: the class position folds into the class token, the
    conv patch kernel becomes a linear one over (row, column, channel), the projection a linear head."""
    out: StateDict = {}
    positions = state["visual.positional_embedding"]
    grid = positions.shape[0] - 1
    side = int(round(grid**0.5))
    if side * side != grid:
        raise ValueError(f"visual.positional_embedding: {grid} patch positions do not form a square grid")
    for key, value in state.items():
        if key == "visual.positional_embedding":
            out["visual.trunk.embeds.pos_embed"] = value[1:].reshape(1, side, side, -1)
        elif key == "visual.class_embedding":
            out["visual.trunk.embeds.cls_token"] = (value + positions[0]).reshape(1, 1, -1)
        elif key == "visual.conv1.weight":
            out["visual.trunk.embeds.proj.weight"] = value.permute(0, 2, 3, 1).flatten(1)
        elif key == "visual.proj":
            out["visual.head.proj.weight"] = value.T
        elif key.startswith("visual.transformer.resblocks."):
            out[_native_block_key(key)] = value
        else:
            out[_NATIVE_SINGLE.get(key, key)] = value
    return out


def _timm_vit_to_naflex(state: StateDict, trunk: NaFlexVit) -> StateDict:
    """A timm ViT/EVA trunk's keys as NaFlexVit's, by timm's own filter (patch kernel, position grid, tokens)."""
    from timm.models.naflexvit import checkpoint_filter_fn

    prefix = "visual.trunk."
    trunk_state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    out = {k: v for k, v in state.items() if not k.startswith(prefix)}
    out.update({prefix + k: v for k, v in checkpoint_filter_fn(trunk_state, trunk).items()})
    return out


def to_naflex_layout(state: StateDict, model: nn.Module) -> StateDict:
    """Checkpoint adapter: a plain ViT image tower's weights loaded into a NaFlexVit tower (``force_naflex_vision``).

    Args:
        state: The checkpoint in open_clip's layout.
        model: The model being loaded.

    Returns:
        ``state`` with its image-tower keys renamed and reshaped for the NaFlexVit, or unchanged when the model has
        no NaFlexVit or the checkpoint already has its layout.
    """
    trunk = naflex_trunk(model)
    if trunk is None:
        return state
    if "visual.conv1.weight" in state:
        return _native_vit_to_naflex(state)
    if "visual.trunk.patch_embed.proj.weight" in state or "visual.trunk.pos_embed" in state:
        return _timm_vit_to_naflex(state, trunk)
    return state
