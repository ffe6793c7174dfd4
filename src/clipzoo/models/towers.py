"""Build an image or text tower from its typed config section (native, timm or Hugging Face)."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import torch

from ..registry.config import TextCfg, VisionCfg
from .layers import act_factory, norm_factory
from .resnet import ModifiedResNet
from .text import TextTransformer
from .transformer import AttnOptions
from .vit import VisionTransformer

if TYPE_CHECKING:  # timm and transformers are imported only when a config needs them
    from _typeshed import DataclassInstance

    from .hf_text import HFTextTower
    from .timm_tower import TimmTower

# The towers the builders return (string aliases: the timm and transformers modules load lazily).
ImageTower: TypeAlias = "VisionTransformer | ModifiedResNet | TimmTower"
TextTower: TypeAlias = "TextTransformer | HFTextTower"
SectionT = TypeVar("SectionT", bound="DataclassInstance")  # a config section: a dataclass


def as_section(cfg: SectionT | dict, cls: type[SectionT]) -> SectionT:
    """Accept a config section as its dataclass or as an open_clip-style dict."""
    if isinstance(cfg, cls):
        return cfg
    if isinstance(cfg, dict):
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} key(s): {', '.join(unknown)}")
        return cls(**cfg)
    raise TypeError(f"expected a {cls.__name__} or a dict, got {type(cfg).__name__}")


def attn_options(cfg: VisionCfg | TextCfg) -> AttnOptions:
    """The custom-block switches of a tower config."""
    return AttnOptions.from_config(cfg)


def vision_tower_kind(cfg: VisionCfg) -> str:
    """'timm', 'resnet' (stage depths given as a list) or 'vit'."""
    if cfg.timm_model_name:
        return "timm"
    return "resnet" if isinstance(cfg.layers, (list, tuple)) else "vit"


def _timm_tower(
    embed_dim: int, cfg: VisionCfg, quick_gelu: bool, cast_dtype: torch.dtype | None
) -> TimmTower:
    from .timm_tower import TimmTower  # timm is heavy: imported only when a config needs it

    tower = TimmTower(cfg, embed_dim)
    if cfg.image_seq_len is not None:  # open_clip main: a NaFlex tower's default token budget
        tower.image_seq_len = int(cfg.image_seq_len)
    return tower


def _resnet_tower(
    embed_dim: int, cfg: VisionCfg, quick_gelu: bool, cast_dtype: torch.dtype | None
) -> ModifiedResNet:
    heads = cfg.width * 32 // cfg.head_width
    layers, size = cfg.layers, cfg.image_size
    assert isinstance(layers, (list, tuple)), "vision_tower_kind chose a ResNet: layers lists the stage depths"
    if not isinstance(size, int):
        raise ValueError(f"a ModifiedResNet tower needs a square image_size (an int), got {size!r}")
    return ModifiedResNet(list(layers), embed_dim, heads, image_size=size, width=cfg.width)


def _native_kwargs(
    cls: type, embed_dim: int, cfg: VisionCfg | TextCfg, quick_gelu: bool, cast_dtype: torch.dtype | None
) -> dict[str, Any]:
    """The keyword arguments of a native tower: every config field its constructor takes under the same name,
    plus the output width and the block options (activation, norm, attention switches)."""
    params = inspect.signature(cls).parameters
    kwargs = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg) if f.name in params}
    kwargs.update(
        output_dim=embed_dim,
        act_layer=act_factory(quick_gelu, cfg.act_kwargs, getattr(cfg, "act_layer", None)),
        norm_layer=norm_factory(cast_dtype, cfg.norm_kwargs),
        attn_options=attn_options(cfg),
    )
    return kwargs


def _vit_tower(
    embed_dim: int, cfg: VisionCfg, quick_gelu: bool, cast_dtype: torch.dtype | None
) -> VisionTransformer:
    return VisionTransformer(
        **_native_kwargs(VisionTransformer, embed_dim, cfg, quick_gelu, cast_dtype),
        heads=cfg.width // cfg.head_width,
        pooler_norm_layer=norm_factory(cast_dtype),
    )


VISION_BUILDERS: dict[str, Callable[..., ImageTower]] = {
    "timm": _timm_tower,
    "resnet": _resnet_tower,
    "vit": _vit_tower,
}


def build_vision_tower(
    embed_dim: int, cfg: VisionCfg | dict, quick_gelu: bool = False, cast_dtype: torch.dtype | None = None
) -> ImageTower:
    """The image tower the config asks for; timm towers always use exact GELU (timm's own layers).

    The config's own ``quick_gelu`` (when not None) overrides the model-level ``quick_gelu`` for this tower.
    """
    cfg = as_section(cfg, VisionCfg)
    if cfg.quick_gelu is not None:
        quick_gelu = cfg.quick_gelu
    return VISION_BUILDERS[vision_tower_kind(cfg)](embed_dim, cfg, quick_gelu, cast_dtype)


def build_text_tower(
    embed_dim: int, cfg: TextCfg | dict, quick_gelu: bool = False, cast_dtype: torch.dtype | None = None
) -> TextTower:
    """The native text transformer, or the Hugging Face wrapper when ``hf_model_name`` is set."""
    cfg = as_section(cfg, TextCfg)
    if cfg.hf_model_name:
        from .hf_text import HFTextTower  # transformers is optional and heavy

        return HFTextTower(cfg, embed_dim)
    return TextTransformer(**_native_kwargs(TextTransformer, embed_dim, cfg, quick_gelu, cast_dtype))
