"""transformers ``Tipsv2Config`` (``config.json`` of a Tipsv2Model folder) to clipzoo's model and preprocessing
configs, and back (the export reads the same field table the other way). Torch-free: used while resolving a name.

The image tower is timm's ``vit_*_patch14_reg1_tipsv2`` family sized by ``timm_model_kwargs`` (the SwiGLU member
for ``use_swiglu_ffn``); the text tower is clipzoo's native one with open_clip main's TIPSv2 switches
(sinusoidal positions, sqrt(width) embedding scale, padding mask, mean pooling, ReLU, no projection).
"""

from __future__ import annotations

import math
from typing import Any

# timm families of the two vision MLPs (plain GELU MLP; SwiGLU packed as DINOv2's w12)
TIPSV2_TIMM = {False: "vit_base_patch14_reg1_tipsv2", True: "vit_giant_patch14_reg1_tipsv2"}
# transformers 5.x Tipsv2VisionConfig / Tipsv2TextConfig defaults (save_pretrained may omit them)
TIPSV2_VISION_DEFAULTS: dict[str, Any] = {
    "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "mlp_ratio": 4, "hidden_act": "gelu",
    "layer_norm_eps": 1e-6, "image_size": 448, "patch_size": 14, "num_channels": 3, "qkv_bias": True,
    "layerscale_value": 1.0, "use_swiglu_ffn": False, "num_register_tokens": 1,
}  # fmt: skip
TIPSV2_TEXT_DEFAULTS: dict[str, Any] = {
    "vocab_size": 32000, "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12,
    "num_attention_heads": 12, "max_position_embeddings": 64, "hidden_act": "relu", "layer_norm_eps": 1e-5,
    "pad_token_id": 0, "scale_sqrt_depth": True,
}  # fmt: skip
TIPSV2_TEMPERATURE = 0.005065968260169029
# transformers activation names of the plain vision MLP -> timm's
TIPSV2_VISION_ACTS = {
    "gelu": "gelu",
    "gelu_pytorch_tanh": "gelu_tanh",
    "quick_gelu": "quick_gelu",
    "relu": "relu",
}
# transformers activation names of the text MLP -> clipzoo's text_cfg.act_layer
TIPSV2_TEXT_ACTS = {"relu": "relu", "gelu": "gelu", "quick_gelu": "quick_gelu"}
# Tipsv2ImageProcessor's defaults: squash to 448 px, bilinear, pixels in [0, 1] (no normalization)
TIPSV2_PREPROCESS: dict[str, Any] = {
    "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "interpolation": "bilinear", "resize_mode": "squash",
    "size": 448,
}  # fmt: skip
_TIMM_EPS, _NATIVE_EPS = 1e-6, 1e-5


def _filled(section: Any, defaults: dict[str, Any], name: str) -> dict[str, Any]:
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise ValueError(f"transformers Tipsv2Config: {name} must be an object, got {type(section).__name__}")
    return {**defaults, **{k: v for k, v in section.items() if v is not None}}


def swiglu_hidden(width: int, mlp_ratio: float) -> int:
    """DINOv2's (and transformers') SwiGLU hidden size: 2/3 of the MLP width, rounded up to a multiple of 8."""
    return (int(int(width * mlp_ratio) * 2 / 3) + 7) // 8 * 8


def _ratio(width: int, hidden: int) -> float:
    """An MLP ratio whose ``int(width * ratio)`` is ``hidden`` (the towers' arithmetic)."""
    ratio = hidden / width
    return ratio if int(width * ratio) == hidden else (hidden + 0.5) / width


def tipsv2_vision_cfg(vision: dict[str, Any]) -> dict[str, Any]:
    """A Tipsv2VisionConfig (dict, defaults filled in) -> clipzoo vision_cfg (a sized timm TIPSv2 trunk).

    Raises:
        ValueError: an activation or channel count clipzoo cannot build.
    """
    if vision["num_channels"] != 3:
        raise ValueError(
            f"vision_config: num_channels={vision['num_channels']}; clipzoo's image towers take RGB"
        )
    width, swiglu = vision["hidden_size"], bool(vision["use_swiglu_ffn"])
    kwargs: dict[str, Any] = {
        "embed_dim": width, "depth": vision["num_hidden_layers"], "num_heads": vision["num_attention_heads"],
        "patch_size": vision["patch_size"], "img_size": vision["image_size"], "qkv_bias": vision["qkv_bias"],
        "reg_tokens": vision["num_register_tokens"], "init_values": vision["layerscale_value"],
    }  # fmt: skip
    if swiglu:  # timm's packed SwiGLU: fc1 holds gate and value, so its width is twice the hidden size
        kwargs["mlp_ratio"] = _ratio(width, 2 * swiglu_hidden(width, vision["mlp_ratio"]))
    else:
        if vision["hidden_act"] not in TIPSV2_VISION_ACTS:
            raise ValueError(
                f"vision_config: hidden_act {vision['hidden_act']!r}; supported: {', '.join(TIPSV2_VISION_ACTS)}"
            )
        kwargs["mlp_ratio"] = _ratio(width, int(width * vision["mlp_ratio"]))
        kwargs["act_layer"] = TIPSV2_VISION_ACTS[vision["hidden_act"]]
    cfg: dict[str, Any] = {
        "image_size": vision["image_size"],
        "timm_model_name": TIPSV2_TIMM[swiglu],
        "timm_model_pretrained": False,
        "timm_pool": "token",
        "timm_proj": "none",
        "timm_model_kwargs": kwargs,
    }
    if vision["layer_norm_eps"] != _TIMM_EPS:
        cfg["norm_kwargs"] = {"eps": vision["layer_norm_eps"]}
    return cfg


def tipsv2_text_cfg(text: dict[str, Any], tokenizer_source: str | None = None) -> dict[str, Any]:
    """A Tipsv2TextConfig (dict, defaults filled in) -> clipzoo text_cfg (open_clip main's TIPSv2 keys).

    Raises:
        ValueError: an activation clipzoo's text tower does not have.
    """
    if text["hidden_act"] not in TIPSV2_TEXT_ACTS:
        raise ValueError(
            f"text_config: hidden_act {text['hidden_act']!r}; supported: {', '.join(TIPSV2_TEXT_ACTS)}"
        )
    width = text["hidden_size"]
    cfg: dict[str, Any] = {
        "context_length": text["max_position_embeddings"], "vocab_size": text["vocab_size"], "width": width,
        "heads": text["num_attention_heads"], "layers": text["num_hidden_layers"],
        "mlp_ratio": _ratio(width, text["intermediate_size"]), "no_causal_mask": True, "use_pad_mask": True,
        "pad_id": text["pad_token_id"] or 0, "pool_type": "mean", "pos_embed_type": "sinusoidal",
        "scale_sqrt_depth": bool(text["scale_sqrt_depth"]), "proj_type": "none",
        "act_layer": TIPSV2_TEXT_ACTS[text["hidden_act"]],
    }  # fmt: skip
    if text["layer_norm_eps"] != _NATIVE_EPS:
        cfg["norm_kwargs"] = {"eps": text["layer_norm_eps"]}
    if tokenizer_source:
        cfg["hf_tokenizer_name"] = tokenizer_source
    return cfg


def hf_tipsv2_model_cfg(config: dict, tokenizer_source: str | None = None) -> dict[str, Any]:
    """transformers Tipsv2Config (as a dict) -> open_clip-format model_cfg (timm image trunk, native text tower).

    Args:
        config: The parsed ``config.json``.
        tokenizer_source: The folder (or Hub repo) holding the tokenizer files, if any.

    Returns:
        The model config; ``init_logit_scale`` is log(1 / temperature_init_value).

    Raises:
        ValueError: the towers differ in width, or a setting clipzoo cannot build.
    """
    vision = _filled(config.get("vision_config"), TIPSV2_VISION_DEFAULTS, "vision_config")
    text = _filled(config.get("text_config"), TIPSV2_TEXT_DEFAULTS, "text_config")
    if vision["hidden_size"] != text["hidden_size"]:
        raise ValueError(
            f"Tipsv2Config: the text width {text['hidden_size']} differs from the image width {vision['hidden_size']}"
        )
    temperature = config.get("temperature_init_value") or TIPSV2_TEMPERATURE
    return {
        "embed_dim": vision["hidden_size"],
        "custom_text": True,
        "init_logit_scale": -math.log(temperature),
        "vision_cfg": tipsv2_vision_cfg(vision),
        "text_cfg": tipsv2_text_cfg(text, tokenizer_source),
    }
