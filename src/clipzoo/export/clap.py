"""Export of clipzoo's CLAP models to a transformers ``ClapModel`` folder: weights by the table in
:mod:`clipzoo.formats.clap` read backwards, ``config.json`` and the ``ClapFeatureExtractor`` settings by
:mod:`clipzoo.formats.clap_config`, and the tokenizer files.

What exports: an HTSAT audio tower (fused or not, any size) with a RoBERTa text tower pooled at its CLS token
through its pooling layer and a ``clap_mlp`` projection (the LAION CLAP layout, which is all ``ClapModel`` is).
Whisper towers and CLIP-style text towers have no ``ClapModel`` equivalent.
"""

from __future__ import annotations

from typing import Any

from ..formats.clap import clap_to_hf
from ..formats.clap_config import clap_config_from_cfg, feature_extractor_from_cfg
from .folder import ExportError
from .transformers_tokenizer import ModelFiles, refuse_problems

# what the text tower must be for ClapTextModel + ClapProjectionLayer to compute the same features
_CLAP_TEXT = {"hf_pooler_type": "cls_pooler", "hf_proj_type": "clap_mlp"}


def clap_export_problems(model_cfg: Any) -> list[str]:
    """Why an audio-text config has no ClapModel equivalent; empty when it has one."""
    audio, text = model_cfg.audio_cfg, model_cfg.text_cfg
    problems = []
    if audio.model_type != "HTSAT":
        problems.append(f"a {audio.model_type} audio tower (ClapModel's is HTSAT)")
    if not text.hf_model_name:
        problems.append("a CLIP-style text tower (ClapModel's is RoBERTa)")
    for key, want in _CLAP_TEXT.items():
        if getattr(text, key) != want:
            problems.append(f"text_cfg.{key}={getattr(text, key)!r} (ClapModel: {want!r})")
    if audio.proj_act != "relu":
        problems.append(f"audio_cfg.proj_act={audio.proj_act!r} (ClapModel's projection uses relu)")
    if audio.pre_norm or audio.training_head or model_cfg.init_logit_bias is not None:
        problems.append("pre_norm, training_head or a logit bias (ClapModel has none of them)")
    return problems


def clap_model_files(model: Any, spec: Any) -> ModelFiles:
    """ClapModel's config, weights and feature extractor for a clipzoo CLAP ``model`` built from ``spec``.

    Raises:
        ExportError: the model has no ClapModel equivalent.
    """
    refuse_problems(clap_export_problems(spec.model_cfg), spec.name, "ClapModel")
    text_config = model.text.config.to_dict()
    config = clap_config_from_cfg(spec.model_cfg.to_dict(), text_config)
    # float weights in float32; integer buffers (position indices, batch counts) keep their dtype
    state = {k: v.detach().to("cpu").float() if v.is_floating_point() else v.detach().to("cpu")
             for k, v in model.state_dict().items()}  # fmt: skip
    extractor = feature_extractor_from_cfg(spec.model_cfg.to_dict()["audio_cfg"] | _audio_front_end(spec))
    # the tokenizer (an HFTokenizer): a tokenizer.json giving clipzoo's ids, with the attention mask RoBERTa needs
    return ModelFiles(config, clap_to_hf(state, ExportError), extractor, processor_class="ClapProcessor")


def _audio_front_end(spec: Any) -> dict[str, Any]:
    """Every front-end field of the audio config (``to_dict`` leaves out the defaults, the extractor needs all)."""
    audio = spec.model_cfg.audio_cfg
    keys = ("sample_rate", "mel_bins", "window_size", "hop_size", "fmin", "fmax", "clip_samples", "enable_fusion")
    return {key: getattr(audio, key) for key in keys}
