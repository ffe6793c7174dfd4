"""transformers CLIP/SigLIP folders: ``config.json`` and ``preprocessor_config.json`` to clipzoo's model and
preprocessing configs, and the folder layouts clipzoo reads (single model, sharded weights, a vision + text pair).

Towers are built from the config's numbers, any size: a CLIP image tower is clipzoo's native ViT; a SigLIP image
tower (patch bias, no class token, MAP attention-pool head) is timm's SigLIP ViT family with ``timm_model_kwargs``
(width, depth, heads, MLP ratio, patch and image size, activation) and ``norm_kwargs`` (eps), so its activation
is transformers' own (tanh-approximate GELU for SigLIP) and features match transformers'. Such a config is
clipzoo's: open_clip 3.3.0 has no ``timm_model_kwargs`` and cannot load it. Torch-free: used while resolving a name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .clap_config import apply_clap_feature_extractor, hf_clap_model_cfg
from .tipsv2_config import TIPSV2_PREPROCESS, hf_tipsv2_model_cfg

HF_CONFIG_FILE = "config.json"
HF_PREPROCESSOR_FILE = "preprocessor_config.json"
# transformers 5.x ProcessorMixin.save_pretrained writes the image processor's settings here instead
HF_PROCESSOR_FILE = "processor_config.json"
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Large transformers checkpoints are saved in shards listed by an index (its "weight_map": key -> shard file)
HF_SHARD_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")




def _section(config: dict, name: str) -> dict:
    section = config.get(name)
    if not isinstance(section, dict):
        raise ValueError(
            f"transformers config has no {name!r} section (model_type {config.get('model_type')!r})"
        )
    return section


def _merged(section: dict, defaults: dict) -> dict:
    # save_pretrained writes only values that differ from the class defaults: put the defaults back.
    return {**defaults, **{k: v for k, v in section.items() if v is not None}}


# transformers 4.56 class defaults (CLIPTextConfig, CLIPVisionConfig, SiglipTextConfig, SiglipVisionConfig).
_CLIP_TEXT = {
    "vocab_size": 49408,
    "hidden_size": 512,
    "intermediate_size": 2048,
    "num_hidden_layers": 12,
    "num_attention_heads": 8,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "eos_token_id": 49407,
}
_VIT_B = {  # the vision size both classes default to (ViT-B)
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 224,
}
_CLIP_VISION = {**_VIT_B, "patch_size": 32, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5}
_SIGLIP_TEXT = {
    "vocab_size": 32000,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 64,
    "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
    "projection_size": None,
}
_SIGLIP_VISION = {
    **_VIT_B,
    "patch_size": 16,
    "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
    "vision_use_head": True,
}
# transformers activation name -> (quick_gelu flag, act_kwargs of nn.GELU)
HF_ACTIVATIONS: dict[str, tuple[bool, dict | None]] = {
    "quick_gelu": (True, None),
    "gelu": (False, None),
    "gelu_pytorch_tanh": (False, {"approximate": "tanh"}),
    "gelu_new": (False, {"approximate": "tanh"}),
}
# transformers activation name -> timm activation name (timm's SigLIP ViT takes ``act_layer`` by name)
HF_TIMM_ACTIVATIONS = {
    "quick_gelu": "quick_gelu",
    "gelu": "gelu",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_new": "gelu_tanh",
}
# The timm model whose family (ViT without class token, MAP attention-pool head, patch bias) every transformers
# SigLIP image tower is built from; its size comes from the config's numbers (``timm_model_kwargs``).
SIGLIP_TIMM_FAMILY = "vit_base_patch16_siglip_224"
_TIMM_VIT_EPS = 1e-6  # timm's ViT LayerNorm eps


def _activation(section: dict, where: str) -> tuple[bool, dict | None]:
    act = section["hidden_act"]
    if act not in HF_ACTIVATIONS:
        raise ValueError(
            f"{where}: hidden_act {act!r} has no clipzoo equivalent; supported: {', '.join(HF_ACTIVATIONS)}"
        )
    return HF_ACTIVATIONS[act]


# The numbers a transformers tower section and clipzoo's native tower config hold alike, one table read both
# ways: (transformers key, clipzoo key). Reading a folder sets cfg[clipzoo] = section[transformers]; the export
# (clipzoo.export.transformers) writes section[transformers] = cfg.clipzoo. What is computed (MLP ratio vs
# intermediate size, head width vs head count, eps, activation) is said beside each use.
TEXT_FIELDS: tuple[tuple[str, str], ...] = (
    ("vocab_size", "vocab_size"),
    ("hidden_size", "width"),
    ("num_hidden_layers", "layers"),
    ("num_attention_heads", "heads"),
    ("max_position_embeddings", "context_length"),
)
CLIP_VISION_FIELDS: tuple[tuple[str, str], ...] = (
    ("hidden_size", "width"),
    ("num_hidden_layers", "layers"),
    ("patch_size", "patch_size"),
)
NATIVE_LN_EPS = 1e-5  # clipzoo's native LayerNorm eps (CLIP's too); a config says only a different one


def read_fields(section: dict, fields: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The clipzoo config keys of ``fields`` from a (defaults-merged) transformers section."""
    return {ours: section[theirs] for theirs, ours in fields}


def write_fields(cfg: Any, fields: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """The transformers keys of ``fields`` from a clipzoo tower config (``TextCfg``/``VisionCfg``)."""
    return {theirs: getattr(cfg, ours) for theirs, ours in fields}


def _mlp_ratio(section: dict) -> float:
    width, hidden = section["hidden_size"], section["intermediate_size"]
    ratio = hidden / width
    if int(width * ratio) != hidden:  # the towers compute int(width * mlp_ratio)
        ratio = (hidden + 0.5) / width
    return ratio


def _tower_common(section: dict, fields: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    out = read_fields(section, fields)
    ratio = _mlp_ratio(section)
    if ratio != 4.0:
        out["mlp_ratio"] = ratio
    if section["layer_norm_eps"] != NATIVE_LN_EPS:
        out["norm_kwargs"] = {"eps": section["layer_norm_eps"]}
    return out


def _clip_text_pool(text: dict) -> dict[str, Any]:
    # transformers: eos_token_id == 2 (old configs) pools at argmax(ids); otherwise at the first eos token.
    eos = text["eos_token_id"]
    return {"pool_type": "argmax"} if eos in (2, None) else {"pool_type": "eos", "eos_id": eos}


def hf_clip_model_cfg(config: dict, tokenizer_source: str | None = None) -> dict[str, Any]:
    """transformers CLIPConfig (as a dict) -> open_clip model_cfg."""
    text = _merged(_section(config, "text_config"), _CLIP_TEXT)
    vision = _merged(_section(config, "vision_config"), _CLIP_VISION)
    (tq, t_act), (vq, v_act) = _activation(text, "text_config"), _activation(vision, "vision_config")
    _check_square_rgb(vision, "vision_config")
    heads = vision["num_attention_heads"]
    vision_cfg = {
        "image_size": vision["image_size"],
        **_tower_common(vision, CLIP_VISION_FIELDS),
        "head_width": vision["hidden_size"] // heads,
    }
    text_cfg = {**_tower_common(text, TEXT_FIELDS), **_clip_text_pool(text)}
    for cfg, act in ((vision_cfg, v_act), (text_cfg, t_act)):
        if act:
            cfg["act_kwargs"] = act
    if vq != tq:  # the model-level flag follows the text tower; the image tower says its own
        vision_cfg["quick_gelu"] = vq
    if tokenizer_source and text["vocab_size"] != _CLIP_TEXT["vocab_size"]:
        text_cfg["hf_tokenizer_name"] = tokenizer_source
    out = {"embed_dim": config.get("projection_dim", 512), "vision_cfg": vision_cfg, "text_cfg": text_cfg}
    if tq:
        out["quick_gelu"] = True
    return out


def _check_square_rgb(vision: dict, where: str) -> None:
    if vision["num_channels"] != 3:
        raise ValueError(
            f"{where}: num_channels={vision['num_channels']}; clipzoo's image towers take RGB (3)"
        )
    heads = vision["num_attention_heads"]
    if vision["hidden_size"] % heads:
        raise ValueError(f"{where}: hidden_size {vision['hidden_size']} is not divisible by {heads} heads")


def siglip_vision_cfg(vision: dict) -> dict[str, Any]:
    """A merged transformers SiglipVisionConfig -> clipzoo vision_cfg: a timm SigLIP ViT of exactly these numbers."""
    _check_square_rgb(vision, "vision_config")
    act = vision["hidden_act"]
    if act not in HF_TIMM_ACTIVATIONS:
        raise ValueError(
            f"vision_config: hidden_act {act!r} has no timm equivalent; supported: {', '.join(HF_TIMM_ACTIVATIONS)}"
        )
    if not vision["vision_use_head"]:
        raise ValueError(
            "vision_config: vision_use_head=false (no attention-pool head): the image features would be the "
            "un-pooled tokens, which a CLIP-style image tower cannot return"
        )
    cfg: dict[str, Any] = {
        "image_size": vision["image_size"],
        "timm_model_name": SIGLIP_TIMM_FAMILY,
        "timm_model_pretrained": False,
        "timm_pool": "map",
        "timm_proj": "none",
        "timm_model_kwargs": {
            "embed_dim": vision["hidden_size"],
            "depth": vision["num_hidden_layers"],
            "num_heads": vision["num_attention_heads"],
            "mlp_ratio": _mlp_ratio(vision),
            "patch_size": vision["patch_size"],
            "img_size": vision["image_size"],
            "act_layer": HF_TIMM_ACTIVATIONS[act],
        },
    }
    if vision["layer_norm_eps"] != _TIMM_VIT_EPS:
        cfg["norm_kwargs"] = {"eps": vision["layer_norm_eps"]}
    return cfg


def hf_siglip_model_cfg(config: dict, tokenizer_source: str | None = None) -> dict[str, Any]:
    """transformers SiglipConfig (as a dict) -> open_clip model_cfg (timm image trunk, native text tower)."""
    text = _merged(_section(config, "text_config"), _SIGLIP_TEXT)
    vision = _merged(_section(config, "vision_config"), _SIGLIP_VISION)
    t_quick, t_act = _activation(text, "text_config")
    embed_dim = vision["hidden_size"]
    projection = text["projection_size"] or text["hidden_size"]
    if projection != embed_dim:
        raise ValueError(f"SigLIP text projection_size {projection} differs from the image width {embed_dim}")
    vision_cfg = siglip_vision_cfg(vision)
    text_cfg = {
        **_tower_common(text, TEXT_FIELDS),
        "no_causal_mask": True,
        "proj_bias": True,
        "pool_type": "last",
    }
    if t_act:
        text_cfg["act_kwargs"] = t_act
    if tokenizer_source:
        text_cfg["hf_tokenizer_name"] = tokenizer_source
        # transformers' own SigLIP text path: SiglipTokenizer canonicalizes itself (clipzoo's SigLipTokenizer does
        # the same steps), Gemma (SigLIP 2) and other tokenizer.json tokenizers take the text as given
        text_cfg["tokenizer_kwargs"] = {"clean": "whitespace"}
    out: dict[str, Any] = {
        "embed_dim": embed_dim,
        "init_logit_bias": -10.0,
        "custom_text": True,
        "vision_cfg": vision_cfg,
        "text_cfg": text_cfg,
    }
    if (
        t_quick
    ):  # the model-level flag reaches the native text tower only; the timm tower has its own act_layer
        out["quick_gelu"] = True
    return out


# The timm family every transformers Siglip2 vision tower is built from; its size comes from timm_model_kwargs.
SIGLIP2_TIMM_FAMILY = "naflexvit_base_patch16_siglip"
# transformers 5.x Siglip2VisionConfig defaults (save_pretrained writes only what differs from them)
_SIGLIP2_VISION: dict[str, Any] = {
    "hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
    "num_channels": 3, "patch_size": 16, "hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-6,
    "vision_use_head": True, "num_patches": 256,
}  # fmt: skip



# ---------------------------------------------------------------------------------------------------- SigLIP 2 (NaFlex), MetaCLIP 2


def siglip2_vision_cfg(vision: dict, max_num_patches: int | None = None) -> dict[str, Any]:
    """A transformers Siglip2VisionConfig (dict, defaults filled in) -> clipzoo vision_cfg (a timm NaFlexVit).

    Args:
        vision: The ``vision_config`` section.
        max_num_patches: The image processor's token budget (default: the position table's size).

    Returns:
        The open_clip-format ``vision_cfg``.

    Raises:
        ValueError: an activation, head or channel count clipzoo cannot build.
    """
    v = {**_SIGLIP2_VISION, **{k: x for k, x in vision.items() if x is not None}}
    if v["num_channels"] != 3:
        raise ValueError(f"vision_config: num_channels={v['num_channels']}; clipzoo's image towers take RGB (3)")
    if v["hidden_act"] not in HF_TIMM_ACTIVATIONS:
        raise ValueError(f"vision_config: hidden_act {v['hidden_act']!r}; supported: {', '.join(HF_TIMM_ACTIVATIONS)}")
    if not v["vision_use_head"]:
        raise ValueError("vision_config: vision_use_head=false: a CLIP-style image tower needs the pooling head")
    side = math.isqrt(v["num_patches"])
    if side * side != v["num_patches"]:
        raise ValueError(f"vision_config: num_patches={v['num_patches']} is not a square grid")
    patch = v["patch_size"]
    cfg: dict[str, Any] = {
        "image_size": side * patch,
        "image_seq_len": int(max_num_patches or v["num_patches"]),
        "timm_model_name": SIGLIP2_TIMM_FAMILY,
        "timm_model_pretrained": False,
        "timm_pool": "map",
        "timm_proj": "none",
        "timm_model_kwargs": {
            "embed_dim": v["hidden_size"], "depth": v["num_hidden_layers"], "num_heads": v["num_attention_heads"],
            "mlp_ratio": _mlp_ratio(v), "patch_size": patch,
            "act_layer": HF_TIMM_ACTIVATIONS[v["hidden_act"]], "pos_embed_grid_size": [side, side],
        },
    }  # fmt: skip
    if v["layer_norm_eps"] != _TIMM_VIT_EPS:
        cfg["norm_kwargs"] = {"eps": v["layer_norm_eps"]}
    return cfg


def hf_siglip2_model_cfg(config: dict, tokenizer_source: str | None = None) -> dict[str, Any]:
    """transformers Siglip2Config (as a dict) -> open_clip model_cfg: NaFlexVit image tower, SigLIP text tower."""
    vision = config.get("vision_config") or {}
    # the text tower is SigLIP's; build it through the SigLIP translation with a stand-in fixed-size vision section
    side = math.isqrt(int(vision.get("num_patches") or _SIGLIP2_VISION["num_patches"]))
    as_siglip = {**config, "vision_config": {**{k: x for k, x in vision.items() if k != "num_patches"},
                                             "image_size": side * (vision.get("patch_size") or 16)}}  # fmt: skip
    out = hf_siglip_model_cfg(as_siglip, tokenizer_source)
    out["vision_cfg"] = siglip2_vision_cfg(vision)
    return out


def hf_metaclip2_model_cfg(config: dict, tokenizer_source: str | None = None) -> dict[str, Any]:
    """transformers MetaClip2Config (as a dict) -> open_clip model_cfg: CLIP's, pooling at the first eos token."""
    out = hf_clip_model_cfg(config, tokenizer_source)
    eos = (config.get("text_config") or {}).get("eos_token_id", 49407)
    out["text_cfg"].update(pool_type="eos", eos_id=eos)
    vocab = out["text_cfg"]["vocab_size"]
    if tokenizer_source and vocab == 49408:  # hf_clip_model_cfg keeps the CLIP BPE for CLIP's vocabulary size
        out["text_cfg"]["hf_tokenizer_name"] = tokenizer_source
    return out


def apply_siglip2_processor(model_cfg: dict, processor: dict) -> None:
    """Take the token budget of a ``Siglip2ImageProcessor`` config into ``model_cfg`` (in place)."""
    budget = processor.get("max_num_patches")
    if budget and model_cfg.get("vision_cfg", {}).get("timm_model_name") == SIGLIP2_TIMM_FAMILY:
        model_cfg["vision_cfg"]["image_seq_len"] = int(budget)


HF_MODEL_TYPES: dict[str, Callable[[dict, str | None], dict]] = {
    "clip": hf_clip_model_cfg,
    "siglip": hf_siglip_model_cfg,
    # transformers' newer CLIP-family models: SigLIP 2 NaFlex, MetaCLIP 2 (CLIP layout)
    "siglip2": hf_siglip2_model_cfg,
    "metaclip_2": hf_metaclip2_model_cfg,
    "clap": hf_clap_model_cfg,  # audio-text (LAION CLAP): formats.clap_config
    "tipsv2": hf_tipsv2_model_cfg,  # TIPSv2 (clipzoo.formats.tipsv2_config)
}


def model_cfg_from_hf_config(config: dict, tokenizer_source: str | None = None) -> dict[str, Any]:
    """open_clip model_cfg for a transformers ``config.json`` (CLIP or SigLIP)."""
    model_type = config.get("model_type")
    if model_type not in HF_MODEL_TYPES:
        raise ValueError(
            f"transformers model_type {model_type!r} is not supported; supported: {', '.join(HF_MODEL_TYPES)}"
        )
    return HF_MODEL_TYPES[model_type](config, tokenizer_source)


# PIL resampling numbers as transformers stores them (read both ways: the export inverts this table).
HF_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def _hf_size(size: Any) -> int | tuple[int, int]:
    if isinstance(size, int):
        return size
    if "height" in size and "width" in size:
        h, w = int(size["height"]), int(size["width"])
        return h if h == w else (h, w)
    if "shortest_edge" in size:
        return int(size["shortest_edge"])
    raise ValueError(
        f"image processor size {size!r} is not understood (expected height/width or shortest_edge)"
    )


def preprocess_cfg_from_hf(processor: dict) -> dict[str, Any]:
    """open_clip preprocess_cfg from a transformers ``preprocessor_config.json`` (CLIP/SigLIP image processor)."""
    out: dict[str, Any] = {}
    if processor.get("do_normalize", True):
        out["mean"] = tuple(processor.get("image_mean", (0.48145466, 0.4578275, 0.40821073)))
        out["std"] = tuple(processor.get("image_std", (0.26862954, 0.26130258, 0.27577711)))
    else:
        out["mean"], out["std"] = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if processor.get("do_rescale", True) and abs(processor.get("rescale_factor", 1 / 255) - 1 / 255) > 1e-9:
        raise ValueError(
            f"rescale_factor {processor['rescale_factor']} is not 1/255; clipzoo always scales by 1/255"
        )
    resample = processor.get("resample", 3)
    if resample not in HF_RESAMPLE:
        raise ValueError(f"resample={resample} has no clipzoo interpolation; supported: {HF_RESAMPLE}")
    out["interpolation"] = HF_RESAMPLE[resample]
    if processor.get("do_center_crop", False):
        out["resize_mode"] = "shortest"
        out["size"] = _hf_size(processor.get("crop_size", processor.get("size", 224)))
    else:
        size = processor.get("size", 224)
        out["resize_mode"] = "shortest" if isinstance(size, dict) and "shortest_edge" in size else "squash"
        out["size"] = _hf_size(size)
    return out


def _model_type(folder: Path) -> str | None:
    path = Path(folder) / HF_CONFIG_FILE
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return config.get("model_type") if isinstance(config, dict) else None


# A CLIPVisionModelWithProjection + CLIPTextModelWithProjection pair: two transformers folders side by side
HF_PAIR_TYPES = ("clip_vision_model", "clip_text_model")


def hf_pair_folders(folder: Path) -> tuple[Path, Path] | None:
    """(vision folder, text folder) when ``folder``'s subfolders hold a CLIPVisionModelWithProjection and a
    CLIPTextModelWithProjection (one each, e.g. ``image_encoder/`` + ``text_encoder/``), else None."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found: dict[str, list[Path]] = {kind: [] for kind in HF_PAIR_TYPES}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        kind = _model_type(sub)
        if kind in found:
            found[kind].append(sub)
    vision, text = found[HF_PAIR_TYPES[0]], found[HF_PAIR_TYPES[1]]
    if len(vision) == 1 and len(text) == 1:
        return vision[0], text[0]
    if vision or text:
        raise ValueError(
            f"{folder}: expected one CLIP vision and one CLIP text subfolder, found {len(vision)} vision "
            f"({', '.join(p.name for p in vision) or '-'}) and {len(text)} text ({', '.join(p.name for p in text) or '-'})"
        )
    return None


def is_hf_folder(folder: Path) -> bool:
    """True when ``folder`` holds a transformers model (``config.json`` with a ``model_type``) or a CLIP
    vision + text pair (:func:`hf_pair_folders`)."""
    if _model_type(folder) is not None:
        return True
    try:
        return hf_pair_folders(folder) is not None
    except ValueError:
        return True  # a broken pair: reading it reports what is wrong


def _pair_config(vision_dir: Path, text_dir: Path) -> dict:
    """The CLIPConfig (as a dict) that the pair's two tower configs make together."""
    vision = json.loads((vision_dir / HF_CONFIG_FILE).read_text(encoding="utf-8"))
    text = json.loads((text_dir / HF_CONFIG_FILE).read_text(encoding="utf-8"))
    dims = {vision.get("projection_dim", 512), text.get("projection_dim", 512)}
    if len(dims) != 1:
        raise ValueError(f"the vision and text towers project to different sizes {sorted(dims)}")
    return {"model_type": "clip", "projection_dim": dims.pop(), "vision_config": vision, "text_config": text}


def _processor_settings(folder: Path, section: str) -> dict | None:
    """``preprocessor_config.json``, else the ``section`` of transformers 5's ``processor_config.json``."""
    path = Path(folder) / HF_PREPROCESSOR_FILE
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    path = Path(folder) / HF_PROCESSOR_FILE
    if path.is_file():
        found = json.loads(path.read_text(encoding="utf-8")).get(section)
        return found if isinstance(found, dict) else None
    return None


def read_image_processor_config(folder: Path) -> dict | None:
    """The image processor's settings of a transformers folder: ``preprocessor_config.json``, else the
    ``image_processor`` section of transformers 5's ``processor_config.json``; None when neither has them."""
    return _processor_settings(folder, "image_processor")


def read_feature_extractor_config(folder: Path) -> dict | None:
    """An audio feature extractor's settings: ``preprocessor_config.json``, else the ``feature_extractor``
    section of transformers 5's ``processor_config.json``; None when neither has them."""
    return _processor_settings(folder, "feature_extractor")


def read_hf_folder_config(folder: Path, tokenizer_source: str | None = None) -> tuple[dict, dict]:
    """(model_cfg, preprocess_cfg) of a transformers CLIP/SigLIP folder (``config.json`` + image processor)."""
    folder = Path(folder)
    config_path = folder / HF_CONFIG_FILE
    pair = None if config_path.is_file() else hf_pair_folders(folder)
    try:
        config = _pair_config(*pair) if pair else json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{config_path}: not valid JSON ({err.msg} at line {err.lineno})") from err
    try:
        model_cfg = model_cfg_from_hf_config(config, tokenizer_source)
    except ValueError as err:
        raise ValueError(f"{folder if pair else config_path}: {err}") from err
    if pair and tokenizer_source == str(folder) and not (folder / "tokenizer_config.json").is_file():
        text_cfg = model_cfg["text_cfg"]  # a pair keeps its tokenizer with the text tower
        if text_cfg.get("hf_tokenizer_name") and (pair[1] / "tokenizer_config.json").is_file():
            text_cfg["hf_tokenizer_name"] = str(pair[1])
    if pair and not (folder / HF_PREPROCESSOR_FILE).is_file():
        folder = pair[0]  # the image processor saved with the vision tower
    processor = read_image_processor_config(folder)
    preprocess: dict = {}
    if config.get("model_type") == "clap":
        # an audio feature extractor: its front end belongs to the audio config, not the image preprocessing
        extractor = read_feature_extractor_config(folder)
        if extractor is not None:
            apply_clap_feature_extractor(model_cfg, extractor)
    elif processor is not None:
        preprocess = preprocess_cfg_from_hf(processor)
        apply_siglip2_processor(model_cfg, processor)  # the NaFlex token budget (max_num_patches)
    elif config.get("model_type") == "tipsv2":
        preprocess = {k: v for k, v in TIPSV2_PREPROCESS.items() if k != "size"}
    elif config.get("model_type") in ("siglip", "siglip2"):  # their processor defaults: squash, 0.5 mean/std
        preprocess = {
            "mean": (0.5, 0.5, 0.5),
            "std": (0.5, 0.5, 0.5),
            "resize_mode": "squash",
            "interpolation": "bicubic" if config.get("model_type") == "siglip" else "bilinear",
        }
    return model_cfg, preprocess
