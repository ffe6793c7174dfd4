"""Model construction from a typed config, low-precision casting, and parameter counting."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..registry.config import ModelCfg
from .audio import CLAP
from .clip import CLIP, CustomTextCLIP
from .coca import CoCa, MultimodalDecoder
from .text import TextTransformer
from .transformer import Attention
from .vit import VisionTransformer

MODEL_CLASSES: dict[str, type[nn.Module]] = {"coca": CoCa, "custom_text": CustomTextCLIP, "clip": CLIP, "clap": CLAP}
_CAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
_INPUT_DTYPES = {
    "bf16": torch.bfloat16,
    "pure_bf16": torch.bfloat16,
    "fp16": torch.float16,
    "pure_fp16": torch.float16,
}
# top-level attribute names under which CLIP keeps its text modules
_CLIP_TEXT_NAMES = ("transformer", "token_embedding", "positional_embedding", "ln_final", "text_projection")


def model_kind(cfg: ModelCfg) -> str:
    """'clap' (audio-text), 'coca' (has a multimodal decoder), 'custom_text' (text under ``text.``) or 'clip'."""
    if cfg.is_audio:
        return "clap"
    if cfg.is_coca:
        return "coca"
    if cfg.custom_text or cfg.uses_hf_text:
        return "custom_text"
    return "clip"


def build_model(
    cfg: ModelCfg, *, cast_dtype: torch.dtype | None = None, output_dict: bool = False, **model_kwargs
) -> nn.Module:
    """Build the architecture ``cfg`` describes (random init; cheap enough to run under ``torch.device('meta')``).

    ``cast_dtype`` (bf16/fp16) makes LayerNorms compute in float32 for a later ``convert_weights_to_lp``;
    ``model_kwargs`` override constructor arguments (e.g. ``init_logit_scale``, ``pad_id`` for CoCa).
    """
    kind = model_kind(cfg)
    tower: dict[str, object] = {"audio_cfg": cfg.audio_cfg} if kind == "clap" else {"vision_cfg": cfg.vision_cfg}
    kwargs = {
        "embed_dim": cfg.embed_dim,
        **tower,
        "text_cfg": cfg.text_cfg,
        "quick_gelu": cfg.quick_gelu,
        "init_logit_scale": cfg.init_logit_scale,
        "init_logit_bias": cfg.init_logit_bias,
        "nonscalar_logit_scale": cfg.nonscalar_logit_scale,
        "cast_dtype": cast_dtype,
    }
    if kind == "coca":
        kwargs["multimodal_cfg"] = cfg.multimodal_cfg
    else:  # CoCa always returns a dict
        kwargs["output_dict"] = output_dict
    kwargs.update(model_kwargs)
    return MODEL_CLASSES[kind](**kwargs)


def get_cast_dtype(precision: str) -> torch.dtype | None:
    """The weight dtype of mixed-precision modes ('bf16', 'fp16'); None otherwise.

    Args:
        precision: A precision name as ``create_model`` takes it (``'fp32'``, ``'fp16'``, ``'bf16'``,
            ``'pure_fp16'``, ``'amp'``, ...).

    Returns:
        ``torch.bfloat16`` for ``'bf16'``, ``torch.float16`` for ``'fp16'``, None for every other name (unknown
        names included, as in open_clip).
    """
    return _CAST_DTYPES.get(precision)


def get_input_dtype(precision: str) -> torch.dtype | None:
    """The dtype images should be given in for ``precision``; None means float32.

    Args:
        precision: A precision name as ``create_model`` takes it.

    Returns:
        ``torch.bfloat16`` for ``'bf16'``/``'pure_bf16'``, ``torch.float16`` for ``'fp16'``/``'pure_fp16'``,
        None for every other name (the amp modes and fp32 take float32 images).
    """
    return _INPUT_DTYPES.get(precision)


def _cast(param: torch.Tensor | None, dtype: torch.dtype) -> None:
    if param is not None:
        param.data = param.data.to(dtype)


def _cast_layer(module: nn.Module, dtype: torch.dtype) -> None:
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
        _cast(module.weight, dtype)
        _cast(module.bias, dtype)
    if isinstance(module, Attention):
        for weight in module.projection_weights():
            _cast(weight, dtype)
        _cast(module.in_proj_bias, dtype)
    if isinstance(module, (CLIP, TextTransformer, MultimodalDecoder)):
        projection = getattr(module, "text_projection", None)
        if isinstance(projection, nn.Parameter):
            _cast(projection, dtype)
    if isinstance(module, VisionTransformer):
        _cast(module.proj, dtype)


def convert_weights_to_lp(model: nn.Module, dtype: torch.dtype = torch.float16) -> None:
    """OpenAI-style mixed precision: matmul/conv weights to ``dtype``; norms, embeddings, scales stay float32.

    Casts, in place, the weights and biases of linear and conv layers, attention projections, and the text and
    image projection matrices; everything else keeps its dtype.

    Args:
        model: The model to convert (changed in place).
        dtype: The low-precision dtype, ``torch.float16`` (the default) or ``torch.bfloat16``.
    """
    model.apply(lambda module: _cast_layer(module, dtype))


convert_weights_to_fp16 = convert_weights_to_lp  # open_clip's older name


def get_model_tokenize_cfg(model: nn.Module) -> dict[str, int]:
    """``context_length`` and ``vocab_size`` of the model's text tower (what a tokenizer must match).

    Args:
        model: A clipzoo/open_clip model, or its text tower.

    Returns:
        ``{"context_length": int, "vocab_size": int}``, each key only when the tower has that attribute.
    """
    module = getattr(model, "text", model)
    names = ("context_length", "vocab_size")
    return {name: getattr(module, name) for name in names if getattr(module, name, None) is not None}


def _tower_of(name: str, text_prefixes: tuple[str, ...]) -> str:
    head = name.split(".", 1)[0]
    if head in ("visual", "audio"):
        return head
    if head == "text_decoder":
        return "text_decoder"
    return "text" if head in text_prefixes else "other"


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> dict[str, int]:
    """Parameter counts per tower: ``visual`` (``audio`` for CLAP), ``text``, ``text_decoder`` (CoCa), ``other``
    and ``total``."""
    keep: Callable[[nn.Parameter], bool] = (lambda p: p.requires_grad) if trainable_only else (lambda p: True)
    text_prefixes = ("text", *_CLIP_TEXT_NAMES)
    counts = {"visual": 0, "audio": 0, "text": 0, "text_decoder": 0, "other": 0}
    for name, param in model.named_parameters():
        if keep(param):
            counts[_tower_of(name, text_prefixes)] += param.numel()
    if not isinstance(model, CoCa):
        counts.pop("text_decoder")
    counts.pop("visual" if isinstance(model, CLAP) else "audio")
    counts["total"] = sum(counts.values())
    return counts
