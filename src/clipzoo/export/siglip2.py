"""Export of clipzoo's NaFlex SigLIP models to a transformers ``Siglip2Model`` folder (weights by the table in
:mod:`clipzoo.formats.transformers`, read backwards; config and NaFlex image processor written here).
"""

from __future__ import annotations

from typing import Any

from ..formats.transformers import clipzoo_to_siglip2
from ..formats.transformers_config import HF_RESAMPLE
from .folder import ExportError
from .transformers_tokenizer import ModelFiles, float32_state

# clipzoo interpolation name -> PIL number ("random" means bicubic at eval time)
_RESAMPLE = {**{name: number for number, name in HF_RESAMPLE.items()}, "random": 3}


def timm_act_name(act: Any) -> str:
    """transformers' ``hidden_act`` name for a built timm activation module (ExportError when it has none)."""
    from torch import nn

    name = type(act).__name__
    if isinstance(act, nn.GELU):
        return "gelu_pytorch_tanh" if act.approximate == "tanh" else "gelu"
    if name == "GELUTanh":
        return "gelu_pytorch_tanh"
    if name in ("GELU",):  # timm's own exact GELU
        return "gelu"
    if name == "QuickGELU":
        return "quick_gelu"
    raise ExportError(
        f"timm activation {name} has no transformers equivalent (gelu, gelu_pytorch_tanh, quick_gelu)"
    )


def siglip2_export_problems(vision: Any) -> list[str]:
    """Why a NaFlex image tower config has no Siglip2VisionModel equivalent (empty when it has one)."""
    problems = []
    kwargs = vision.timm_model_kwargs or {}
    if vision.timm_model_name not in ("naflexvit_base_patch16_siglip", "naflexvit_so400m_patch16_siglip"):
        problems.append(f"the NaFlex tower is timm's {vision.timm_model_name!r}; Siglip2Model is the SigLIP one")
    if vision.timm_pool != "map" or vision.timm_proj not in ("none", "", None):
        problems.append(f"timm_pool={vision.timm_pool!r}, timm_proj={vision.timm_proj!r} (Siglip2: 'map', none)")
    odd = sorted(set(kwargs) - {"embed_dim", "depth", "num_heads", "mlp_ratio", "patch_size", "act_layer",
                                "pos_embed_grid_size", "img_size"})  # fmt: skip
    if odd:
        problems.append(f"timm_model_kwargs {odd} change the tower beyond its size")
    return problems


def _trunk_problems(trunk: Any) -> list[str]:
    from torch import nn

    embeds, block = trunk.embeds, trunk.blocks[0]
    checks = (
        (embeds.cls_token is not None or getattr(embeds, "reg_token", None) is not None, "prefix tokens"),
        (not isinstance(trunk.norm_pre, nn.Identity), "a pre-norm"),
        (not isinstance(getattr(trunk, "fc_norm", nn.Identity()), nn.Identity), "an fc_norm"),
        (getattr(embeds, "pos_embed_type", "learned") != "learned", "non-learned positions"),
        (embeds.pos_embed.shape[1] != embeds.pos_embed.shape[2], "a non-square position grid"),
        ((embeds.pos_embed_interp_mode, embeds.pos_embed_antialias, embeds.pos_embed_align_corners,
          embeds.pos_embed_ar_preserving) != ("bilinear", True, False, False),
         "another position resizing than transformers' (bilinear, antialiased)"),
        (not isinstance(block.ls1, nn.Identity), "layer scale"),
        (not isinstance(block.attn.q_norm, nn.Identity), "q/k norms"),
        (embeds.proj.bias is None, "no patch-embedding bias"),
    )  # fmt: skip
    return [what for failed, what in checks if failed]


def siglip2_config(model: Any, cfg: Any) -> dict[str, Any]:
    """transformers Siglip2Config (as JSON) of a clipzoo NaFlex SigLIP model; numbers read off the built towers.

    Args:
        model: The clipzoo model.
        cfg: Its ModelCfg.

    Returns:
        The ``config.json`` dict.

    Raises:
        ExportError: the built trunk differs from Siglip2VisionModel (the message lists how).
    """
    trunk = model.visual.trunk
    problems = _trunk_problems(trunk)
    if problems:
        raise ExportError(f"the NaFlexVit trunk has {', '.join(problems)}, which Siglip2VisionModel has not")
    block, side = trunk.blocks[0], trunk.embeds.pos_embed.shape[1]
    act = timm_act_name(block.mlp.act)
    vision_config = {
        "model_type": "siglip2_vision_model", "hidden_size": trunk.embed_dim,
        "intermediate_size": block.mlp.fc1.out_features, "num_hidden_layers": len(trunk.blocks),
        "num_attention_heads": block.attn.num_heads, "num_channels": 3,
        "patch_size": int(trunk.embeds.patch_size[0]), "hidden_act": act, "layer_norm_eps": float(block.norm1.eps),
        "attention_dropout": 0.0, "vision_use_head": True, "num_patches": int(side * side),
    }  # fmt: skip
    tower, text = model.text, cfg.text_cfg
    if tower.text_projection.in_features != text.width or cfg.embed_dim != trunk.embed_dim:
        raise ExportError(f"embed_dim {cfg.embed_dim} differs from the image width {trunk.embed_dim}")
    text_act = "gelu_pytorch_tanh" if (text.act_kwargs or {}).get("approximate") == "tanh" else "gelu"
    text_config = {
        "model_type": "siglip2_text_model", "vocab_size": text.vocab_size, "hidden_size": text.width,
        "intermediate_size": tower.transformer.resblocks[0].mlp.c_fc.out_features, "num_hidden_layers": text.layers,
        "num_attention_heads": text.heads, "max_position_embeddings": text.context_length,
        "hidden_act": "quick_gelu" if cfg.quick_gelu else text_act,
        "layer_norm_eps": float((text.norm_kwargs or {}).get("eps", 1e-5)), "attention_dropout": 0.0,
        "projection_size": cfg.embed_dim, "bos_token_id": None, "eos_token_id": None, "pad_token_id": None,
    }  # fmt: skip
    return {
        "architectures": ["Siglip2Model"],
        "model_type": "siglip2",
        "text_config": text_config,
        "vision_config": vision_config,
        "dtype": "float32",
    }




def image_processor_basics(preprocess: dict[str, Any]) -> dict[str, Any]:
    """The settings every transformers image processor clipzoo writes shares: resample, rescale, mean/std, RGB."""
    return {
        "do_resize": True,
        "resample": _RESAMPLE[preprocess.get("interpolation", "bicubic")],
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [float(x) for x in preprocess["mean"]],
        "image_std": [float(x) for x in preprocess["std"]],
        "do_convert_rgb": True,
    }


def siglip2_preprocessor_config(preprocess: dict[str, Any], patch_size: int, max_num_patches: int) -> dict:
    """The ``Siglip2ImageProcessor`` config that reproduces clipzoo's NaFlex eval transform."""
    return {
        "image_processor_type": "Siglip2ImageProcessor",
        "processor_class": "Siglip2Processor",
        **image_processor_basics(preprocess),
        "patch_size": int(patch_size),
        "max_num_patches": int(max_num_patches),
    }


def siglip2_model_files(model: Any, spec: Any) -> ModelFiles:
    """Siglip2Model's config, weights and NaFlex image processor for a clipzoo NaFlex SigLIP ``model``.

    Raises:
        ExportError: the model has no Siglip2Model equivalent.
    """
    from ..registry.naflex import naflex_token_budget

    config = siglip2_config(model, spec.model_cfg)
    budget = naflex_token_budget(spec.model_cfg.vision_cfg)
    processor = siglip2_preprocessor_config(dict(spec.preprocess_cfg), config["vision_config"]["patch_size"], budget)
    weights = clipzoo_to_siglip2(float32_state(model))
    return ModelFiles(config, weights, processor, processor_class="Siglip2Processor", siglip=True)
