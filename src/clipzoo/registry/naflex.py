"""NaFlex image towers at the config level (stdlib only): which configs are NaFlex, their patch size and token budget,
``force_naflex_vision``, and the image size a token budget allows.

A NaFlex tower (timm's ``NaFlexVit``, SigLIP 2 "naflex") keeps each image's aspect ratio and takes as many patches
as the image needs, up to a budget (``vision_cfg.image_seq_len``, open_clip main's key). Its input is either a dense
``(B, 3, H, W)`` tensor or a dict of patches (:data:`NAFLEX_INPUT_KEYS`, timm's names). The torch half (batch
helpers, checkpoint layout) is :mod:`clipzoo.models.naflex`; the eval transform is :mod:`clipzoo.preprocess.naflex`.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from ..errors import NaFlexConfigError
from .config import BLOCK_OPTIONS

# The NaFlex batch: patches (B, N, P*P*3) flattened as (row, column, channel), patch_coord (B, N, 2) as (y, x) patch
# indices, patch_valid (B, N) True for real patches, False for padding.
NAFLEX_INPUT_KEYS = ("patches", "patch_coord", "patch_valid")
NAFLEX_TIMM_PREFIX = "naflexvit"  # timm's NaFlexVit entrypoints are all named naflexvit_*
# A native (OpenAI-layout) ViT becomes this timm model with its numbers in timm_model_kwargs (open_clip main's
# choice); timm builds it as a NaFlexVit because of use_naflex=True.
_NATIVE_AS_TIMM = "vit_base_patch16_clip_224"
_NATIVE_LN_EPS = 1e-5  # clipzoo's (and PyTorch's) LayerNorm default; timm's ViTs use 1e-6


def _get(section: Any, key: str, default: Any = None) -> Any:
    return section.get(key, default) if isinstance(section, dict) else getattr(section, key, default)


def is_naflex_vision(vision_cfg: Any) -> bool:
    """True when the image tower config (dict or ``VisionCfg``) builds a timm NaFlexVit."""
    name = _get(vision_cfg, "timm_model_name") or ""
    kwargs = _get(vision_cfg, "timm_model_kwargs") or {}
    return name.startswith(NAFLEX_TIMM_PREFIX) or bool(kwargs.get("use_naflex"))


def naflex_patch_size(vision_cfg: Any) -> int:
    """Patch side of a NaFlex tower: ``timm_model_kwargs.patch_size``, else ``vision_cfg.patch_size`` (16)."""
    kwargs = _get(vision_cfg, "timm_model_kwargs") or {}
    size = kwargs.get("patch_size") or _get(vision_cfg, "patch_size") or 16
    return int(size[0] if isinstance(size, (list, tuple)) else size)


def naflex_token_budget(vision_cfg: Any) -> int:
    """Default patches per image: ``image_seq_len``, else as many as the square ``image_size`` has."""
    budget = _get(vision_cfg, "image_seq_len")
    if budget:
        return int(budget)
    size = _get(vision_cfg, "image_size", 224)
    height, width = (size, size) if isinstance(size, int) else size
    patch = naflex_patch_size(vision_cfg)
    return (height // patch) * (width // patch)


# ---------------------------------------------------------------------------------------------------- force_naflex


_PLAIN_NATIVE = {  # native ViT options NaFlexVit has no equivalent for, with the value a plain ViT has
    "attentional_pool": False, "pool_type": "tok", "no_ln_pre": False, "final_ln_after_pool": False,
    "output_tokens": False, "pos_embed_type": "learnable",
    **{name: default for name, _, default, _ in BLOCK_OPTIONS if name != "norm_kwargs"},
}  # fmt: skip


def _native_to_naflex(vision: dict, quick_gelu: bool) -> None:
    odd = {
        k: vision[k] for k, plain in _PLAIN_NATIVE.items() if vision.get(k, plain) not in (plain, "default")
    }
    if isinstance(vision.get("layers"), (list, tuple)):
        odd["layers"] = vision["layers"]
    if odd:
        raise NaFlexConfigError(
            "force_naflex_vision=True converts a plain ViT (class-token pooling, learned positions, standard "
            f"blocks) or a timm ViT/EVA; this image tower has {odd}"
        )
    image_size = vision.get("image_size", 224)
    patch = vision.get("patch_size", 16)
    width, head_width = vision.get("width", 768), vision.get("head_width", 64)
    height_px, width_px = (image_size, image_size) if isinstance(image_size, int) else image_size
    kwargs = copy.deepcopy(vision.get("timm_model_kwargs") or {})
    kwargs.update(
        use_naflex=True, img_size=image_size, patch_size=patch, embed_dim=width, depth=vision.get("layers", 12),
        num_heads=width // head_width, mlp_ratio=vision.get("mlp_ratio", 4.0), class_token=True, reg_tokens=0,
        global_pool="token", pool_include_prefix=False, pos_embed="learned",
        pos_embed_grid_size=[height_px // patch, width_px // patch], pre_norm=True, final_norm=True,
        fc_norm=False, embed_proj_type="linear", qkv_bias=True, proj_bias=True,
    )  # fmt: skip
    if quick_gelu:
        kwargs["act_layer"] = "quick_gelu"
    if vision.get("ls_init_value") is not None:
        kwargs["init_values"] = vision["ls_init_value"]
    vision.update(
        timm_model_name=_NATIVE_AS_TIMM, timm_model_pretrained=False, timm_pool="token", timm_proj="linear",
        timm_proj_bias=False, timm_model_kwargs=kwargs,
        norm_kwargs={"eps": _NATIVE_LN_EPS, **(vision.get("norm_kwargs") or {})},
    )  # fmt: skip
    for key in ("layers", "width", "head_width", "mlp_ratio", "ls_init_value"):
        vision.pop(key, None)


def apply_force_naflex_vision(raw: dict) -> None:
    """Turn the image tower of a raw model config into a NaFlexVit in place (``force_naflex_vision=True``).

    A native ViT becomes a timm NaFlexVit with the same numbers (its checkpoints are converted when loaded, see
    :func:`clipzoo.models.naflex.to_naflex_layout`); a timm ViT gets ``use_naflex=True``; a NaFlex tower stays.

    Args:
        raw: An open_clip-format model config dict (``vision_cfg`` is changed).

    Raises:
        NaFlexConfigError: the image tower is a ResNet, a non-ViT timm model, or a ViT with options NaFlexVit lacks.
    """
    vision = raw["vision_cfg"]
    name = vision.get("timm_model_name")
    if not name:
        _native_to_naflex(vision, bool(raw.get("quick_gelu", False)))
    elif not is_naflex_vision(vision):
        if not (name.startswith("vit_") or name.startswith("eva")):
            raise NaFlexConfigError(
                f"force_naflex_vision=True needs a ViT image tower; timm model {name!r} is not a ViT/EVA "
                "(use a naflexvit_* config such as ViT-B-16-SigLIP2-naflex)"
            )
        vision["timm_model_kwargs"] = {**(vision.get("timm_model_kwargs") or {}), "use_naflex": True}
    if vision.get("image_seq_len") is None:
        vision["image_seq_len"] = naflex_token_budget(vision)


# ---------------------------------------------------------------------------------------------------- geometry


def _scaled_side(side: int, scale: float, patch_size: int) -> int:
    """``side * scale`` rounded up to whole patches, at least one patch."""
    return max(patch_size, math.ceil(side * scale / patch_size) * patch_size)


def size_for_patch_budget(height: int, width: int, patch_size: int, max_num_patches: int) -> tuple[int, int]:
    """Largest (height, width) of the same aspect, in whole patches, whose patch count fits ``max_num_patches``.

    The arithmetic of transformers' ``Siglip2ImageProcessor`` (``get_image_size_for_max_num_patches``): bisect the
    scale factor in (1e-6, 100) until the interval is narrower than 1e-5, round each scaled side up to whole
    patches (at least one), keep the largest scale whose count fits.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        patch_size: Patch side in pixels.
        max_num_patches: The token budget.

    Returns:
        (target height, target width) in pixels, multiples of ``patch_size``.

    Raises:
        ValueError: a non-positive size, patch size or budget.
    """
    if min(height, width, patch_size, max_num_patches) <= 0:
        raise ValueError(
            f"image size {height}x{width}, patch size {patch_size} and max_num_patches {max_num_patches} "
            "must all be positive"
        )
    eps = 1e-5
    low, high = eps / 10, 100.0
    while high - low >= eps:
        middle = (low + high) / 2
        rows = _scaled_side(height, middle, patch_size) // patch_size
        cols = _scaled_side(width, middle, patch_size) // patch_size
        if rows * cols <= max_num_patches:
            low = middle
        else:
            high = middle
    return _scaled_side(height, low, patch_size), _scaled_side(width, low, patch_size)
