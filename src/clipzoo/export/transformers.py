"""Export to a Hugging Face transformers folder: ``export_model(name, tag, to=DIR, format="transformers")``.

The folder holds ``config.json``, ``model.safetensors``, ``preprocessor_config.json`` and the tokenizer files, so
that transformers alone (``AutoModel``, ``AutoProcessor``, ``pipeline("zero-shot-image-classification")``) gives
clipzoo's features, token ids and preprocessing, and ``local-dir:DIR`` loads it back into clipzoo.

What transformers can represent, and so what exports (:func:`transformers_export_support` says it for a config):

- native-ViT CLIP (class token, learnable position embeddings, pre-norm, token pooling) with the CLIP text tower
  (causal, argmax/eos pooling, no projection bias), any size and image size, QuickGELU, GELU or tanh-GELU ->
  ``CLIPModel``;
- SigLIP / SigLIP 2 fixed resolution: timm's SigLIP ViT (no class token, MAP attention-pool head) with the SigLIP
  text tower (bidirectional, last-token pooling, projection bias) -> ``SiglipModel``.

Everything else (ModifiedResNet, ConvNeXt, EVA and other timm trunks, CoCa, attentional pooling, Hugging Face text
towers, custom attention blocks, layer scale, ...) is refused, with the reason, before the model is built.

Tokenizers are written so that transformers reproduces clipzoo's ids: the CLIP BPE as ``vocab.json`` +
``merges.txt`` for ``CLIPTokenizer`` (padding with id 0, as clipzoo pads), a SigLIP sentencepiece model for
``SiglipTokenizer`` (which canonicalizes text as clipzoo does), and a ``tokenizer.json`` tokenizer with clipzoo's
text cleaning added to its normalizer (and clipzoo's special-token template) for ``PreTrainedTokenizerFast``.
SigLIP tokenizers return ``input_ids`` only: SigLIP's text tower attends to padding, as it was trained.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnsupportedArchitectureError
from ..formats.transformers import clip_to_hf, siglip_to_hf
from ..formats.transformers_config import (
    CLIP_VISION_FIELDS,
    HF_ACTIVATIONS,
    HF_PAIR_TYPES,
    HF_RESAMPLE,
    NATIVE_LN_EPS,
    TEXT_FIELDS,
    write_fields,
)
from ..registry.config import BLOCK_SWITCHES
from ..registry.naflex import is_naflex_vision
from .folder import ExportError
from .siglip2 import (
    image_processor_basics,
    siglip2_export_problems,
    siglip2_model_files,
    timm_act_name,
)
from .tipsv2 import is_tipsv2_config, tipsv2_export_problems, tipsv2_model_files
from .transformers_tokenizer import ModelFiles, float32_state, write_model_files

# timm's SigLIP ViT family (patch bias, no class token, MAP head); the "gap" variants have no MAP head
_TIMM_SIGLIP_NAME = re.compile(r"^vit_[a-z0-9]+_patch\d+_siglip_\d+$")


@dataclass(frozen=True)
class ExportSupport:
    """Whether an architecture exports to transformers: the transformers class, or the reason it cannot."""

    hf_class: str | None
    reason: str = ""

    @property
    def ok(self) -> bool:
        """True when the architecture exports."""
        return self.hf_class is not None


# ---------------------------------------------------------------------------------------------------- support


def _get(section: Any, key: str, default: Any = None) -> Any:
    return section.get(key, default) if isinstance(section, dict) else getattr(section, key, default)


def _as_cfg(model_cfg: Any):
    from ..registry.config import ModelCfg, parse_model_config

    return model_cfg if isinstance(model_cfg, ModelCfg) else parse_model_config(model_cfg, source="<export>")


def _block_problems(cfg: Any, tower: str) -> list[str]:
    # read torch-free from the config table: check_spec runs before any build
    problems = [f"{tower} uses {name}" for name in BLOCK_SWITCHES if getattr(cfg, name)]
    if cfg.block_type not in (None, "default"):
        problems.append(f"{tower} block_type {cfg.block_type!r}")
    if cfg.ls_init_value is not None:
        problems.append(f"{tower} has layer scale (ls_init_value)")
    if set(cfg.norm_kwargs or {}) - {"eps"}:
        problems.append(f"{tower} norm_kwargs {cfg.norm_kwargs} (transformers has only layer_norm_eps)")
    if cfg.act_kwargs not in (None, {}, {"approximate": "tanh"}, {"approximate": "none"}):
        problems.append(f"{tower} act_kwargs {cfg.act_kwargs}")
    return problems


def _text_problems(text: Any, siglip: bool) -> list[str]:
    if text.hf_model_name:
        return [
            f"the text tower is a Hugging Face model ({text.hf_model_name}), not a CLIP/SigLIP text tower"
        ]
    problems = _block_problems(text, "the text tower")
    if text.embed_cls:
        problems.append("the text tower has a class token (embed_cls)")
    if text.final_ln_after_pool:
        problems.append("the text tower normalizes after pooling")
    if text.proj_type != "linear":
        problems.append(f"text proj_type {text.proj_type!r}")
    if text.tokenizer_mode:
        problems.append(f"tokenizer_mode {text.tokenizer_mode!r}")
    if siglip:
        if not text.no_causal_mask or text.pool_type != "last" or not text.proj_bias:
            problems.append(
                "SiglipModel's text tower is bidirectional, pools the last token and has a projection bias "
                f"(this one: causal={not text.no_causal_mask}, pool_type={text.pool_type!r}, "
                f"proj_bias={text.proj_bias})"
            )
    else:
        if text.no_causal_mask or text.pool_type not in ("argmax", "eos") or text.proj_bias:
            problems.append(
                "CLIPModel's text tower is causal, pools at argmax/eos and has no projection bias "
                f"(this one: causal={not text.no_causal_mask}, pool_type={text.pool_type!r}, "
                f"proj_bias={text.proj_bias})"
            )
        if text.pool_type == "eos" and text.eos_id == 2:
            problems.append("eos pooling with eos_id 2 (transformers reads eos_token_id 2 as argmax pooling)")
    return problems


def _square(size: Any) -> bool:
    return isinstance(size, int) or (len(size) == 2 and size[0] == size[1])


def _clip_vision_problems(vision: Any) -> list[str]:
    if isinstance(vision.layers, (list, tuple)):
        return ["the image tower is a ModifiedResNet; transformers' CLIPModel has only a ViT image tower"]
    problems = _block_problems(vision, "the image tower")
    checks = (
        (vision.attentional_pool, "the image tower uses an attentional pooler"),
        (vision.no_ln_pre, "the image tower has no pre-norm (no_ln_pre)"),
        (vision.pos_embed_type != "learnable", f"position embedding {vision.pos_embed_type!r}"),
        (
            vision.pool_type != "tok",
            f"image pool_type {vision.pool_type!r} (CLIPModel pools the class token)",
        ),
        (vision.final_ln_after_pool, "the image tower normalizes after pooling"),
        (not _square(vision.image_size), f"non-square image size {vision.image_size}"),
    )
    return problems + [message for failed, message in checks if failed]


def _siglip_vision_problems(vision: Any) -> list[str]:
    name = vision.timm_model_name
    if not _TIMM_SIGLIP_NAME.match(name):
        return [
            f"the image tower is timm's {name!r}; transformers represents only timm's SigLIP ViT (MAP head)"
        ]
    problems = []
    if vision.timm_pool != "map" or vision.timm_proj not in ("none", "", None):
        problems.append(
            f"timm_pool={vision.timm_pool!r}, timm_proj={vision.timm_proj!r} (SiglipModel: 'map' and no projection)"
        )
    if not _square(vision.image_size):
        problems.append(f"non-square image size {vision.image_size}")
    if set(vision.norm_kwargs or {}) - {"eps"}:
        problems.append(f"image norm_kwargs {vision.norm_kwargs}")
    return problems


def _preprocess_problems(preprocess: dict[str, Any] | None, siglip: bool) -> list[str]:
    if not preprocess:
        return []
    problems = []
    mode = preprocess.get("resize_mode", "shortest")
    if mode not in ("shortest", "squash"):
        problems.append(
            f"resize_mode {mode!r}: transformers' image processors resize 'shortest' (+ crop) or 'squash'"
        )
    if preprocess.get("interpolation", "bicubic") not in HF_RESAMPLE.values():
        problems.append(f"interpolation {preprocess['interpolation']!r}")
    if preprocess.get("mode", "RGB") != "RGB":
        problems.append(f"image mode {preprocess['mode']!r}")
    return problems


def transformers_export_support(
    model_cfg: Any, preprocess_cfg: dict[str, Any] | None = None
) -> ExportSupport:
    """Say whether an architecture (and its preprocessing) exports to transformers, without building it.

    Args:
        model_cfg: a :class:`clipzoo.registry.config.ModelCfg` or an open_clip-format dict.
        preprocess_cfg: the eval preprocessing to carry over (optional: None checks the architecture only).

    Returns:
        ``ExportSupport("CLIPModel" | "SiglipModel" | "Siglip2Model" | "Tipsv2Model")``, or ``ExportSupport(None, reason)``.
    """
    cfg = _as_cfg(model_cfg)
    if cfg.is_audio:  # CLAP -> ClapModel (clipzoo.export.clap)
        from .clap import clap_export_problems

        problems = clap_export_problems(cfg)
        return ExportSupport(None, "; ".join(problems)) if problems else ExportSupport("ClapModel")
    if is_tipsv2_config(cfg):  # TIPSv2 -> Tipsv2Model (clipzoo.export.tipsv2)
        problems = tipsv2_export_problems(cfg, preprocess_cfg)
        return ExportSupport(None, "; ".join(problems)) if problems else ExportSupport("Tipsv2Model")
    if cfg.is_coca:
        return ExportSupport(None, "CoCa (a text decoder): transformers has no CoCa model")
    if cfg.nonscalar_logit_scale:
        return ExportSupport(None, "a non-scalar logit scale")
    siglip = bool(cfg.vision_cfg.timm_model_name)
    naflex = is_naflex_vision(cfg.vision_cfg)
    if naflex:  # SigLIP 2 NaFlex -> Siglip2Model (clipzoo.formats.siglip2)
        problems = siglip2_export_problems(cfg.vision_cfg)
        if cfg.init_logit_bias is None:
            problems.append("a NaFlex image tower without a logit bias (a SigLIP 2 model has one)")
    elif siglip:
        problems = _siglip_vision_problems(cfg.vision_cfg)
        if cfg.init_logit_bias is None:
            problems.append("a timm image tower without a logit bias (a SigLIP model has one)")
    else:
        problems = _clip_vision_problems(cfg.vision_cfg)
        if cfg.init_logit_bias is not None:
            problems.append(
                "a logit bias (sigmoid loss) with a CLIP image tower: CLIPModel has no logit_bias"
            )
    if problems and problems[0].startswith(("the image tower is", "the NaFlex tower is")):
        return ExportSupport(None, problems[0])
    problems += _text_problems(cfg.text_cfg, siglip)
    problems += _preprocess_problems(preprocess_cfg, siglip)
    if problems:
        return ExportSupport(None, "; ".join(problems))
    return ExportSupport("Siglip2Model" if naflex else "SiglipModel" if siglip else "CLIPModel")


def check_spec(spec: Any) -> None:
    """Raise ExportError with the reason when ``spec`` (a factory ModelSpec) cannot export to transformers.

    export_model calls it before the model is built.
    """
    support = transformers_export_support(spec.model_cfg, dict(spec.preprocess_cfg))
    if not support.ok:
        raise UnsupportedArchitectureError(
            f"{spec.name} cannot be exported to transformers: {support.reason}"
        )


# ---------------------------------------------------------------------------------------------------- weights


def _hf_act(quick_gelu: bool, act_kwargs: dict | None) -> str:
    """transformers' name for a clipzoo activation: the first entry of the import table that reads back to it."""
    approximate = {"approximate": "tanh"} if (act_kwargs or {}).get("approximate") == "tanh" else None
    for name, (quick, kwargs) in HF_ACTIVATIONS.items():
        if quick == quick_gelu and (quick or kwargs == approximate):
            return name
    raise ExportError(f"activation quick_gelu={quick_gelu}, {act_kwargs} has no transformers name")


def _eps(cfg: Any, default: float = NATIVE_LN_EPS) -> float:
    return float((cfg.norm_kwargs or {}).get("eps", default))


def _side(size: Any) -> int:
    return int(size if isinstance(size, int) else size[0])


def _native_text_config(model: Any, cfg: Any, quick_gelu: bool) -> dict[str, Any]:
    text = cfg.text_cfg
    tower = getattr(model, "text", model)
    block = tower.transformer.resblocks[0]
    return {
        **write_fields(text, TEXT_FIELDS),
        "intermediate_size": block.mlp.c_fc.out_features,
        "hidden_act": _hf_act(quick_gelu, text.act_kwargs),
        "layer_norm_eps": _eps(text),
        "attention_dropout": 0.0,
    }


def clip_config(model: Any, cfg: Any, eos_token_id: int) -> dict[str, Any]:
    """transformers CLIPConfig (as JSON) for a clipzoo CLIP model built from ``cfg``."""
    vision = cfg.vision_cfg
    text = _native_text_config(model, cfg, cfg.quick_gelu)
    # transformers pools at the first eos_token_id, or at argmax(ids) when eos_token_id is 2 (its legacy switch)
    text.update(model_type=HF_PAIR_TYPES[1], eos_token_id=eos_token_id, projection_dim=cfg.embed_dim,
                bos_token_id=None, pad_token_id=None)  # fmt: skip
    if eos_token_id == 49407:  # clipzoo's CLIP BPE: start 49406, padding 0
        text.update(bos_token_id=49406, pad_token_id=0)
    visual = model.visual
    vision_config = {
        "model_type": HF_PAIR_TYPES[0],
        **write_fields(vision, CLIP_VISION_FIELDS),
        "intermediate_size": visual.transformer.resblocks[0].mlp.c_fc.out_features,
        "num_attention_heads": vision.width // vision.head_width,
        "num_channels": 3,
        "image_size": _side(vision.image_size),
        "hidden_act": _hf_act(
            cfg.quick_gelu if vision.quick_gelu is None else vision.quick_gelu, vision.act_kwargs
        ),
        "layer_norm_eps": _eps(vision),
        "attention_dropout": 0.0,
        "projection_dim": cfg.embed_dim,
    }
    return {
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": cfg.embed_dim,
        "logit_scale_init_value": float(model.logit_scale.detach().reshape(())),
        "text_config": text,
        "vision_config": vision_config,
        "dtype": "float32",
    }


def _check_siglip_trunk(trunk: Any) -> None:
    """The built timm trunk really is what SiglipVisionModel computes (timm_model_kwargs could change it)."""
    from torch import nn

    block = trunk.blocks[0]
    checks = (
        (getattr(trunk, "cls_token", None) is not None, "a class token"),
        (getattr(trunk, "reg_token", None) is not None, "register tokens"),
        (getattr(trunk, "global_pool", "") != "map", f"global_pool {getattr(trunk, 'global_pool', '')!r}"),
        (not isinstance(trunk.norm_pre, nn.Identity), "a pre-norm"),
        (not isinstance(getattr(trunk, "fc_norm", nn.Identity()), nn.Identity), "an fc_norm"),
        (trunk.patch_embed.proj.bias is None, "no patch-embedding bias"),
        (not isinstance(block.ls1, nn.Identity), "layer scale"),
        (not isinstance(block.attn.q_norm, nn.Identity), "q/k norms"),
        (getattr(trunk.attn_pool, "latent_len", 1) != 1, "more than one attention-pool query"),
        (getattr(trunk, "no_embed_class", False), "no_embed_class"),
    )
    found = [what for failed, what in checks if failed]
    if found:
        raise ExportError(f"the timm SigLIP trunk has {', '.join(found)}, which SiglipVisionModel has not")


def siglip_config(model: Any, cfg: Any) -> dict[str, Any]:
    """transformers SiglipConfig (as JSON) for a clipzoo SigLIP model: the image numbers are read off the trunk."""
    trunk = model.visual.trunk
    _check_siglip_trunk(trunk)
    block = trunk.blocks[0]
    img = trunk.patch_embed.img_size
    if img[0] != img[1]:
        raise ExportError(f"non-square image size {tuple(img)}: SiglipVisionConfig has one image_size")
    vision_config = {
        "model_type": "siglip_vision_model",
        "hidden_size": trunk.embed_dim,
        "intermediate_size": block.mlp.fc1.out_features,
        "num_hidden_layers": len(trunk.blocks),
        "num_attention_heads": block.attn.num_heads,
        "num_channels": 3,
        "image_size": int(img[0]),
        "patch_size": int(trunk.patch_embed.patch_size[0]),
        "hidden_act": timm_act_name(block.mlp.act),
        "layer_norm_eps": float(block.norm1.eps),
        "attention_dropout": 0.0,
        "vision_use_head": True,
    }
    text = _native_text_config(model, cfg, cfg.quick_gelu)
    if text["hidden_size"] != model.text.text_projection.in_features or cfg.embed_dim != trunk.embed_dim:
        raise ExportError(
            f"embed_dim {cfg.embed_dim} differs from the image width {trunk.embed_dim}: SiglipModel compares the "
            "pooled image tokens with the projected text directly"
        )
    # the special ids live in the tokenizer files; the text tower does not use them
    text.update(model_type="siglip_text_model", projection_size=cfg.embed_dim, bos_token_id=None,
                eos_token_id=None, pad_token_id=None)  # fmt: skip
    return {
        "architectures": ["SiglipModel"],
        "model_type": "siglip",
        "text_config": text,
        "vision_config": vision_config,
        "dtype": "float32",
    }


def preprocessor_config(preprocess: dict[str, Any], siglip: bool) -> dict[str, Any]:
    """transformers image-processor config reproducing clipzoo's eval transform (resize, crop, mean/std)."""
    size = preprocess.get("size", 224)
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    shortest = preprocess.get("resize_mode", "shortest") == "shortest"
    out: dict[str, Any] = {
        # SiglipImageProcessor has no center crop: a SigLIP model with shortest-side preprocessing gets CLIP's
        "image_processor_type": "SiglipImageProcessor" if siglip and not shortest else "CLIPImageProcessor",
        "processor_class": "SiglipProcessor" if siglip else "CLIPProcessor",
        **image_processor_basics(preprocess),
    }
    if shortest:
        if h != w:
            raise ExportError(f"resize_mode 'shortest' with a non-square size {(h, w)}")
        out.update(size={"shortest_edge": h}, do_center_crop=True, crop_size={"height": h, "width": w})
    else:
        out.update(size={"height": h, "width": w})
        if not siglip:
            out["do_center_crop"] = False
    return out


# ---------------------------------------------------------------------------------------------------- tokenizers



# ---------------------------------------------------------------------------------------------------- writer


def _eos_token_id(cfg: Any) -> int:
    text = cfg.text_cfg
    if text.pool_type == "eos":
        return text.eos_id
    # argmax pooling: with clipzoo's CLIP BPE the end token is the largest id, so transformers' "first eos" pools
    # at the same place; any other vocabulary keeps argmax through transformers' eos_token_id == 2 switch
    return 49407 if not text.hf_tokenizer_name and text.vocab_size == 49408 else 2


def write_transformers_folder(folder: Path, model: Any, spec: Any, *, include_tokenizer: bool = True) -> None:
    """Write ``model`` (built from ``spec``, a factory ModelSpec) as a transformers CLIPModel/SiglipModel folder.

    Args:
        folder: an empty (temporary) folder; export_model renames it into place.
        model: the clipzoo model, with its weights.
        spec: the ModelSpec it was built from (architecture, preprocessing, tokenizer).
        include_tokenizer: also write the tokenizer files (needed by AutoProcessor and pipelines).

    Raises:
        UnsupportedArchitectureError: the architecture, its preprocessing or its tokenizer has no transformers
            equivalent (an ExportError).
    """
    from ..factory.tokenizer import get_tokenizer

    check_spec(spec)
    cfg = spec.model_cfg
    tokenizer = (
        get_tokenizer(spec.name, context_length=cfg.text_cfg.context_length) if include_tokenizer else None
    )
    write_model_files(folder, _model_files(model, spec), tokenizer)


def _model_files(model: Any, spec: Any) -> ModelFiles:
    """The config, weights and processor of the transformers class that ``spec``'s architecture exports to."""
    cfg = spec.model_cfg
    if cfg.is_audio:
        from .clap import clap_model_files

        return clap_model_files(model, spec)
    if is_tipsv2_config(cfg):
        return tipsv2_model_files(model, spec)
    if is_naflex_vision(cfg.vision_cfg):
        return siglip2_model_files(model, spec)
    state = float32_state(model)
    siglip = bool(cfg.vision_cfg.timm_model_name)
    if siglip:
        config = siglip_config(model, cfg)
        side = _side(spec.preprocess_cfg.get("size", config["vision_config"]["image_size"]))
        if side != config["vision_config"]["image_size"]:
            raise UnsupportedArchitectureError(
                f"the timm trunk runs at {config['vision_config']['image_size']} px but the preprocessing makes "
                f"{side} px images (force_image_size on a timm tower); export without it"
            )
        weights = siglip_to_hf(state, ExportError)
    else:
        config = clip_config(model, cfg, _eos_token_id(cfg))
        weights = clip_to_hf(state, ExportError)
    return ModelFiles(config, weights, preprocessor_config(dict(spec.preprocess_cfg), siglip), siglip=siglip)


# export_model calls a writer's ``check_spec`` (when it has one) before building the model
write_transformers_folder.__dict__["check_spec"] = check_spec
