"""open_clip's tower config dataclasses, ``CLIPVisionCfg``, ``CLIPTextCfg`` and ``MultimodalCfg``.

Each is a subclass of clipzoo's typed section (:class:`clipzoo.registry.config.VisionCfg`, ``TextCfg``,
``MultimodalCfg``), so clipzoo's models take them wherever they take a config section, with the same fields
and defaults; only the order of the constructor's parameters is open_clip's, so positional construction
(``CLIPVisionCfg(12, 768)``) means what it means there. Fields clipzoo adds come last.
"""

from __future__ import annotations

import dataclasses

from ...registry import config

__all__ = ["CLIPTextCfg", "CLIPVisionCfg", "MultimodalCfg"]

_BLOCK = "block_type qk_norm scaled_cosine_attn scale_heads scale_attn_inner scale_attn scale_fc".split()
# open_clip 3.3.0's field order (model.py / coca_model.py)
_VISION_ORDER = (
    "layers width head_width mlp_ratio patch_size image_size ls_init_value patch_dropout attentional_pool"
    " attn_pooler_queries attn_pooler_heads no_ln_pre pos_embed_type final_ln_after_pool pool_type"
    " output_tokens act_kwargs norm_kwargs".split()
    + _BLOCK
    + "timm_model_name timm_model_pretrained timm_pool timm_proj timm_proj_bias timm_drop timm_drop_path".split()
)
_TEXT_ORDER = (
    "context_length vocab_size hf_tokenizer_name tokenizer_mode tokenizer_kwargs width heads layers mlp_ratio"
    " ls_init_value embed_cls pad_id eos_id no_causal_mask final_ln_after_pool pool_type proj_bias proj_type"
    " output_tokens act_kwargs norm_kwargs".split()
    + _BLOCK
    + "hf_model_name hf_model_pretrained hf_proj_type hf_pooler_type".split()
)
_MULTIMODAL_ORDER = _TEXT_ORDER + ["dim_head", "n_queries", "attn_pooler_heads"]


def _ordered_init(base: type, order: list[str]):
    """A dataclass ``__init__`` for ``base``'s fields with the parameters in ``order`` (the rest after)."""
    fields = {f.name: f for f in dataclasses.fields(base)}
    missing = [name for name in order if name not in fields]
    if missing:
        raise TypeError(
            f"clipzoo.registry.config.{base.__name__} lacks open_clip's field(s) {', '.join(missing)}"
        )
    names = order + [name for name in fields if name not in order]
    specs = []
    for name in names:
        f = fields[name]
        default = (
            dataclasses.field(default_factory=f.default_factory)
            if f.default_factory is not dataclasses.MISSING
            else dataclasses.field(default=f.default)
        )
        specs.append((name, f.type, default))
    return dataclasses.make_dataclass(f"_{base.__name__}Init", specs).__init__


@dataclasses.dataclass(init=False)
class CLIPVisionCfg(config.VisionCfg):
    """Image tower config with open_clip's name and parameter order (a :class:`clipzoo.registry.config.VisionCfg`)."""

    __init__ = _ordered_init(config.VisionCfg, _VISION_ORDER)


@dataclasses.dataclass(init=False)
class CLIPTextCfg(config.TextCfg):
    """Text tower config with open_clip's name and parameter order (a :class:`clipzoo.registry.config.TextCfg`)."""

    __init__ = _ordered_init(config.TextCfg, _TEXT_ORDER)


@dataclasses.dataclass(init=False)
class MultimodalCfg(config.MultimodalCfg, CLIPTextCfg):
    """CoCa's decoder config with open_clip's parameter order (a ``CLIPTextCfg``, as in open_clip)."""

    __init__ = _ordered_init(config.MultimodalCfg, _MULTIMODAL_ORDER)
