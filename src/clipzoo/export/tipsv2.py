"""Export of clipzoo's TIPSv2 models to a transformers ``Tipsv2Model`` folder: weights by the table in
:mod:`clipzoo.formats.tipsv2` read backwards, ``config.json`` from the built towers, the image processor
(``Tipsv2ImageProcessor``) and the tokenizer files (a ``tokenizer.json`` that gives clipzoo's ids).

What exports: timm's ``vit_*_patch14_reg1_tipsv2`` trunk (class token, register tokens, layer scale, GELU MLP
or SwiGLU) pooled at the class token without projection, with the TIPSv2 text tower (sinusoidal positions,
padding mask, mean pooling, no projection) of the same width, and squash preprocessing without normalization
other than what transformers' image processor can say (mean/std are written out).
"""

from __future__ import annotations

import math
from typing import Any

from ..formats.tipsv2 import clipzoo_to_tipsv2
from ..formats.tipsv2_config import TIPSV2_TEXT_ACTS, TIPSV2_TIMM
from .folder import ExportError
from .siglip2 import image_processor_basics, timm_act_name
from .transformers_tokenizer import ModelFiles, float32_state, refuse_problems

# what the text tower of a TIPSv2 config must say for Tipsv2TextModel to compute the same features
_TIPS_TEXT = {"pool_type": "mean", "pos_embed_type": "sinusoidal", "no_causal_mask": True, "use_pad_mask": True,
              "proj_type": "none", "embed_cls": False, "hf_model_name": None}  # fmt: skip


def _get(section: Any, key: str, default: Any = None) -> Any:
    return section.get(key, default) if isinstance(section, dict) else getattr(section, key, default)


def is_tipsv2_config(model_cfg: Any) -> bool:
    """True when the image tower is one of timm's TIPSv2 trunks (the text tower is checked on export)."""
    vision = _get(model_cfg, "vision_cfg") or {}
    return _get(vision, "timm_model_name") in TIPSV2_TIMM.values() or str(
        _get(vision, "timm_model_name") or ""
    ).endswith("_reg1_tipsv2")


def tipsv2_export_problems(model_cfg: Any, preprocess: dict[str, Any] | None = None) -> list[str]:
    """Why a TIPSv2 config (and its preprocessing) has no Tipsv2Model equivalent; empty when it has one."""
    vision, text = _get(model_cfg, "vision_cfg"), _get(model_cfg, "text_cfg")
    problems = []
    if _get(vision, "timm_pool") != "token" or _get(vision, "timm_proj") != "none":
        problems.append("a TIPSv2 image tower pooled other than at its class token, or projected")
    for key, want in _TIPS_TEXT.items():
        if _get(text, key, want) != want:
            problems.append(f"text_cfg.{key}={_get(text, key)!r} (Tipsv2TextModel: {want!r})")
    if _get(text, "act_layer") not in TIPSV2_TEXT_ACTS:
        problems.append(f"text_cfg.act_layer={_get(text, 'act_layer')!r}")
    if _get(model_cfg, "init_logit_bias") is not None:
        problems.append("a logit bias (Tipsv2Model has a temperature only)")
    if preprocess and preprocess.get("resize_mode", "squash") != "squash":
        problems.append(f"resize_mode {preprocess['resize_mode']!r} (Tipsv2ImageProcessor squashes)")
    return problems


def _vision_config(trunk: Any) -> dict[str, Any]:
    """Tipsv2VisionConfig of a built timm TIPSv2 trunk (its numbers read off the modules)."""
    block = trunk.blocks[0]
    width = trunk.embed_dim
    swiglu = type(block.mlp).__name__ == "GluMlp"
    hidden = block.mlp.fc1.out_features // (2 if swiglu else 1)
    if swiglu:  # Tipsv2VisionSwiGLUFFN recomputes the hidden size from mlp_ratio: find a ratio that gives it
        ratio = next(
            (r / 8 for r in range(1, 129) if (int(int(width * r / 8) * 2 / 3) + 7) // 8 * 8 == hidden), None
        )
        if ratio is None:
            raise ExportError(f"SwiGLU hidden size {hidden} has no Tipsv2VisionConfig.mlp_ratio")
        act = "silu"
    else:
        ratio, act = hidden / width, timm_act_name(block.mlp.act)
        if int(width * ratio) != hidden:
            raise ExportError(f"MLP hidden size {hidden} is not int({width} * mlp_ratio) for any mlp_ratio")
    grid = trunk.patch_embed.grid_size
    if grid[0] != grid[1]:
        raise ExportError(
            f"a non-square position grid {tuple(grid)}: Tipsv2VisionEmbeddings needs a square one"
        )
    patch = trunk.patch_embed.patch_size[0]
    return {
        "model_type": "tipsv2_vision_model", "hidden_size": width, "num_hidden_layers": len(trunk.blocks),
        "num_attention_heads": block.attn.num_heads, "mlp_ratio": ratio, "hidden_act": act,
        "layer_norm_eps": float(trunk.norm.eps), "image_size": grid[0] * patch, "patch_size": patch,
        "num_channels": 3, "qkv_bias": block.attn.qkv.bias is not None, "use_swiglu_ffn": swiglu,
        "num_register_tokens": trunk.num_reg_tokens, "layerscale_value": 1.0,
    }  # fmt: skip


def tipsv2_config(model: Any, cfg: Any) -> dict[str, Any]:
    """The Tipsv2Config (as a dict) of a built clipzoo TIPSv2 model."""
    trunk, text_tower, text = model.visual.trunk, model.text, cfg.text_cfg
    vision = _vision_config(trunk)
    if text.width != vision["hidden_size"]:
        raise ExportError(f"text width {text.width} differs from the image width {vision['hidden_size']}")
    text_config = {
        "model_type": "tipsv2_text_model", "vocab_size": text.vocab_size, "hidden_size": text.width,
        "intermediate_size": text_tower.transformer.resblocks[0].mlp.c_fc.out_features,
        "num_hidden_layers": text.layers, "num_attention_heads": text.heads,
        "max_position_embeddings": text.context_length, "hidden_act": text.act_layer,
        "layer_norm_eps": float((text.norm_kwargs or {}).get("eps", 1e-5)), "pad_token_id": text.pad_id,
        "scale_sqrt_depth": bool(text.scale_sqrt_depth), "bos_token_id": None, "eos_token_id": None,
    }  # fmt: skip
    return {
        "architectures": ["Tipsv2Model"],
        "model_type": "tipsv2",
        "temperature_init_value": math.exp(-float(model.logit_scale.detach().float().reshape(()))),
        "text_config": text_config,
        "vision_config": vision,
        "dtype": "float32",
    }


def tipsv2_preprocessor_config(preprocess: dict[str, Any], image_size: int) -> dict[str, Any]:
    """The ``Tipsv2ImageProcessor`` config reproducing clipzoo's eval transform (squash, mean/std written out)."""
    size = preprocess.get("size", image_size)
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    return {
        "image_processor_type": "Tipsv2ImageProcessor",
        "processor_class": "Tipsv2Processor",
        **image_processor_basics(preprocess),
        "size": {"height": h, "width": w},
    }


def tipsv2_model_files(model: Any, spec: Any) -> ModelFiles:
    """Tipsv2Model's config, weights and image processor for a clipzoo TIPSv2 ``model`` built from ``spec``.

    Raises:
        ExportError: the model has no Tipsv2Model equivalent.
    """
    refuse_problems(tipsv2_export_problems(spec.model_cfg, dict(spec.preprocess_cfg)), spec.name, "Tipsv2Model")
    config = tipsv2_config(model, spec.model_cfg)
    weights = clipzoo_to_tipsv2(float32_state(model), config["vision_config"]["use_swiglu_ffn"], ExportError)
    processor = tipsv2_preprocessor_config(dict(spec.preprocess_cfg), config["vision_config"]["image_size"])
    # the tokenizer keeps its attention mask: the text tower masks padding
    return ModelFiles(config, weights, processor, processor_class="Tipsv2Processor")
