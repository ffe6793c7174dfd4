"""transformers ``ClapConfig`` and ``ClapFeatureExtractor`` settings <-> open_clip main's CLAP config, both ways.

Each table row is (transformers key, clipzoo key, default on transformers' side); the import reads it left to
right, the export right to left, so the two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

# ClapAudioConfig key -> clipzoo htsat_cfg key (HTSAT's geometry; transformers' defaults are HTSAT-tiny's)
_HTSAT = (
    ("patch_embeds_hidden_size", "embed_dim", 96),
    ("depths", "depths", [2, 2, 6, 2]),
    ("num_attention_heads", "num_heads", [4, 8, 16, 32]),
    ("spec_size", "spec_size", 256),
    ("patch_size", "patch_size", 4),
    ("window_size", "window", 8),
    ("mlp_ratio", "mlp_ratio", 4.0),
)
# ClapFeatureExtractor key -> audio_cfg key (the mel front end); max_length_s is clip_samples / sample_rate
_FRONT_END = (
    ("sampling_rate", "sample_rate", 48000),
    ("feature_size", "mel_bins", 64),
    ("fft_window_size", "window_size", 1024),
    ("hop_length", "hop_size", 480),
    ("frequency_min", "fmin", 0),
    ("frequency_max", "fmax", 14000),
)
# ClapAudioConfig settings clipzoo's HTSAT implements only at these values (anything else is refused)
_FIXED = {
    "enable_patch_layer_norm": True,
    "flatten_patch_embeds": True,
    "qkv_bias": True,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "aff_block_r": 4,
    "patch_embed_input_channels": 1,
}
_SIZES = {"tiny": {"embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [4, 8, 16, 32]}}
TEXT_MODEL_TYPE = "roberta"  # ClapTextModel is RoBERTa under another name (same modules, same weights)


def _check_fixed(audio: dict) -> None:
    for key, value in _FIXED.items():
        if key in audio and audio[key] != value and not (isinstance(value, float) and abs(audio[key] - value) < 1e-12):
            raise ValueError(f"audio_config.{key}={audio[key]!r} is not supported (clipzoo's HTSAT has {value!r})")
    stride = audio.get("patch_stride", audio.get("patch_size", 4))
    stride = list(stride) if isinstance(stride, (list, tuple)) else [stride, stride]
    if stride != [audio.get("patch_size", 4)] * 2:
        raise ValueError(f"audio_config.patch_stride={stride} must equal the patch size (non-overlapping patches)")


def hf_clap_model_cfg(config: dict, tokenizer_source: str | None = None) -> dict[str, Any]:
    """open_clip main's CLAP model_cfg for a transformers ``ClapConfig`` (as the ``config.json`` dict)."""
    audio = dict(config.get("audio_config") or {})
    text = dict(config.get("text_config") or {})
    _check_fixed(audio)
    htsat = {oc: audio.get(hf, default) for hf, oc, default in _HTSAT}
    width = htsat["embed_dim"] * 2 ** (len(htsat["depths"]) - 1)
    if audio.get("hidden_size", 768) != width:
        raise ValueError(f"audio_config.hidden_size={audio.get('hidden_size')} is not the last stage's width {width}")
    tiny = {**htsat, **_SIZES["tiny"]}
    audio_cfg: dict[str, Any] = {
        "model_type": "HTSAT",
        "model_name": "tiny",
        "mel_bins": audio.get("num_mel_bins", 64),
        "class_num": audio.get("num_classes", 527),
        "enable_fusion": bool(audio.get("enable_fusion", False)),
        "proj_act": audio.get("projection_hidden_act", "relu"),
    }
    if htsat != tiny:
        audio_cfg["htsat_cfg"] = htsat
    text_config = {k: v for k, v in text.items() if k not in ("projection_dim", "projection_hidden_act")}
    text_config["model_type"] = TEXT_MODEL_TYPE
    return {
        "embed_dim": config.get("projection_dim", 512),
        "audio_cfg": audio_cfg,
        "text_cfg": {
            "hf_model_name": tokenizer_source or "roberta-base",
            "hf_tokenizer_name": tokenizer_source or "roberta-base",
            "hf_model_config": text_config,
            "hf_pooler_type": "cls_pooler",
            "hf_proj_type": "clap_mlp",
        },
        **({"init_logit_scale": config["logit_scale_init_value"]} if "logit_scale_init_value" in config else {}),
    }


def apply_clap_feature_extractor(model_cfg: dict, processor: dict) -> None:
    """Write a ``ClapFeatureExtractor``'s front end (rate, mel bands, window, hop, band edges, clip length) into
    ``model_cfg['audio_cfg']``; the fusion flag stays the model's."""
    audio = model_cfg["audio_cfg"]
    for hf, oc, default in _FRONT_END:
        audio[oc] = processor.get(hf, default)
    audio["clip_samples"] = int(processor.get("max_length_s", 10) * audio["sample_rate"])
    if processor.get("padding", "repeatpad") != "repeatpad":
        raise ValueError(f"feature extractor padding={processor['padding']!r}: clipzoo pads with 'repeatpad'")


def feature_extractor_from_cfg(audio_cfg: dict) -> dict[str, Any]:
    """The ``preprocessor_config.json`` of a ``ClapFeatureExtractor`` that computes what clipzoo's transform does."""
    out: dict[str, Any] = {"feature_extractor_type": "ClapFeatureExtractor", "processor_class": "ClapProcessor"}
    for hf, oc, default in _FRONT_END:
        out[hf] = audio_cfg.get(oc, default)
    out["max_length_s"] = audio_cfg.get("clip_samples", 480000) // out["sampling_rate"]
    out.update(truncation="fusion" if audio_cfg.get("enable_fusion") else "rand_trunc", padding="repeatpad",
               padding_value=0.0, return_attention_mask=False, top_db=None)  # fmt: skip
    return out


def clap_config_from_cfg(model_cfg: dict, text_config: dict) -> dict[str, Any]:
    """The ``ClapConfig`` dict of an HTSAT CLAP model_cfg whose text tower has ``text_config`` (RoBERTa)."""
    audio = model_cfg["audio_cfg"]
    if audio.get("model_type", "HTSAT") != "HTSAT":
        raise ValueError("transformers' ClapModel has an HTSAT audio tower only (this model is Whisper-based)")
    sizes = {"tiny": _SIZES["tiny"], "base": {"embed_dim": 128, "depths": [2, 2, 12, 2], "num_heads": [4, 8, 16, 32]},
             "large": {"embed_dim": 256, "depths": [2, 2, 12, 2], "num_heads": [4, 8, 16, 32]}}  # fmt: skip
    htsat: dict[str, Any] = {oc: default for _, oc, default in _HTSAT}
    htsat.update(sizes[audio.get("model_name", "tiny")], **(audio.get("htsat_cfg") or {}))
    embed_dim = model_cfg["embed_dim"]
    audio_config = {hf: htsat[oc] for hf, oc, _ in _HTSAT}
    audio_config.update(
        _FIXED, model_type="clap_audio_model", num_mel_bins=audio.get("mel_bins", 64),
        num_classes=audio.get("class_num", 527), enable_fusion=bool(audio.get("enable_fusion", False)),
        hidden_size=htsat["embed_dim"] * 2 ** (len(htsat["depths"]) - 1), projection_dim=embed_dim,
        projection_hidden_act=audio.get("proj_act", "gelu"), patch_stride=[htsat["patch_size"]] * 2,
    )  # fmt: skip
    text = {**text_config, "model_type": "clap_text_model", "projection_dim": embed_dim,
            "projection_hidden_act": "relu"}  # fmt: skip
    return {
        "model_type": "clap",
        "architectures": ["ClapModel"],
        "projection_dim": embed_dim,
        "projection_hidden_act": "relu",
        "audio_config": audio_config,
        "text_config": text,
    }

