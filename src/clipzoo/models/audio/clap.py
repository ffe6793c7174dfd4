"""CLAP: contrastive language-audio pretraining. An audio tower (HTSAT or Whisper encoder plus a two-layer
projection) and a text tower (native or Hugging Face), with open_clip main's names: ``audio.encoder``,
``audio.proj``, ``text``, ``logit_scale``; ``encode_audio``, ``encode_text``, ``get_logits``, ``forward``.

What ``encode_audio`` takes (the tower decides; a wrong kind is a TypeError that says which it takes):

- clipzoo's audio transform output, batched: a dict with ``input_features`` (B, 1 or 4, frames, mel_bins) and
  ``is_longer`` (B,) for HTSAT (transformers' ``ClapFeatureExtractor`` names), ``waveform`` (B, samples) for
  Whisper;
- open_clip main's dict: ``waveform`` (unfused HTSAT, Whisper) or ``mel_fusion`` and ``longer`` (fused HTSAT);
- a tensor: mel features (B, C, frames, mel_bins) or waveforms (B, samples) at the model's sample rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import AudioInputError
from ...registry.config import AudioCfg, TextCfg
from ..clip import LogitHead
from ..towers import as_section, build_text_tower

if TYPE_CHECKING:
    from .htsat import HTSAT
    from .whisper import WhisperEncoder

_PROJ_ACTS = {"relu": nn.ReLU, "gelu": nn.GELU}


class AudioTower(nn.Module):
    """``encoder`` (HTSAT or Whisper) -> pooled embedding -> ``proj`` (Linear, activation, Linear)."""

    def __init__(self, cfg: AudioCfg, embed_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.is_whisper = cfg.model_type == "whisper"
        if self.is_whisper:
            from .whisper import WhisperEncoder

            self.encoder: WhisperEncoder | HTSAT = WhisperEncoder(cfg, embed_dim)
            width = embed_dim
        else:
            from .htsat import HTSAT

            self.encoder = encoder = HTSAT(cfg)
            width = encoder.geometry.out_dim
        if cfg.proj_act not in _PROJ_ACTS:
            raise ValueError(f"audio_cfg.proj_act must be one of {', '.join(_PROJ_ACTS)}, got {cfg.proj_act!r}")
        self.proj = nn.Sequential(nn.Linear(width, embed_dim), _PROJ_ACTS[cfg.proj_act](), nn.Linear(embed_dim, embed_dim))

    def embed(self, audio: Any) -> torch.Tensor:
        """The encoder's pooled embedding (before ``proj``) of any accepted input (see the module docstring)."""
        if self.is_whisper:
            return self.encoder(self._waveform(audio)).mean(dim=1)
        features, longer = self._mel_input(audio)
        return self.encoder(features, longer)

    def forward(self, audio: Any, apply_proj: bool = True) -> torch.Tensor:
        """Audio input -> features (B, embed_dim); ``apply_proj=False`` stops before the projection."""
        features = self.embed(audio)
        if self.cfg.pre_norm:
            features = F.normalize(features, dim=-1)
        return self.proj(features) if apply_proj else features

    def _proj_weight(self) -> torch.Tensor:
        first = self.proj[0]
        assert isinstance(first, nn.Linear)
        return first.weight

    def _device(self) -> torch.device:
        return self._proj_weight().device

    def _waveform(self, audio: Any) -> torch.Tensor:
        wave = audio.get("waveform") if isinstance(audio, Mapping) else audio
        if not isinstance(wave, torch.Tensor) or wave.dim() != 2:
            raise AudioInputError(
                "this Whisper audio tower takes waveforms (B, samples) at "
                f"{self.cfg.sample_rate} Hz, or a dict with 'waveform' (its audio transform's output), got "
                f"{_describe(audio)}"
            )
        return wave.to(self._device())

    def _mel_input(self, audio: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        from .htsat import HTSAT

        device, encoder = self._device(), self.encoder
        assert isinstance(encoder, HTSAT)  # Whisper towers take waveforms (_waveform)
        if isinstance(audio, Mapping):
            mel = audio.get("input_features", audio.get("mel_fusion"))
            flags = audio.get("is_longer", audio.get("longer"))
            if mel is None and "waveform" in audio and not encoder.fusion:
                mel = encoder.log_mel(torch.as_tensor(audio["waveform"]).to(device))
        elif isinstance(audio, torch.Tensor) and audio.dim() == 2 and not encoder.fusion:
            mel, flags = encoder.log_mel(audio.to(device)), None
        else:
            mel, flags = audio, None
        channels = 4 if encoder.fusion else 1
        if not isinstance(mel, torch.Tensor) or mel.dim() != 4 or mel.shape[1] not in (1, channels):
            raise AudioInputError(
                f"this HTSAT audio tower ({'fused' if encoder.fusion else 'unfused'}) takes mel features "
                f"(B, {channels}, frames, {self.cfg.mel_bins}) or a dict with 'input_features' and 'is_longer' "
                f"(its audio transform's output, batched)"
                + ("" if encoder.fusion else ", or waveforms (B, samples)")
                + f"; got {_describe(audio)}"
            )
        if flags is not None:
            flags = torch.as_tensor(flags, device=device).reshape(-1).bool()
        return mel.to(device=device, dtype=self._proj_weight().dtype), flags

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute the encoder's blocks in the backward pass."""
        self.encoder.set_grad_checkpointing(enable)


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, Mapping):
        return f"a dict with keys {sorted(value)}"
    return type(value).__name__


class CLAP(LogitHead, nn.Module):
    """An audio-text contrastive model (open_clip main's ``CLAP``)."""

    def __init__(
        self,
        embed_dim: int,
        audio_cfg: AudioCfg | dict,
        text_cfg: TextCfg | dict,
        quick_gelu: bool = False,
        init_logit_scale: float | None = None,
        init_logit_bias: float | None = None,
        nonscalar_logit_scale: bool = False,
        cast_dtype: torch.dtype | None = None,
        output_dict: bool = False,
    ) -> None:
        super().__init__()
        self.output_dict = output_dict
        self.embed_dim = embed_dim
        self.audio = AudioTower(as_section(audio_cfg, AudioCfg), embed_dim)
        self.text = build_text_tower(embed_dim, text_cfg, quick_gelu, cast_dtype)
        self.context_length = getattr(self.text, "context_length", None)
        self.vocab_size = getattr(self.text, "vocab_size", None)
        self._init_logit_params(init_logit_scale, init_logit_bias, nonscalar_logit_scale)

    def encode_audio(self, audio: Any, normalize: bool = False) -> torch.Tensor:
        """Audio (see the module docstring for the accepted inputs) -> features (B, embed_dim).

        Raises:
            AudioInputError: the input is not one the audio tower takes (a TypeError naming what it takes).
        """
        if self.audio.cfg.training_head:
            features = self.audio(audio, apply_proj=False)
        else:
            features = self.audio(audio)
        return F.normalize(features, dim=-1) if normalize else features

    def encode_text(self, text: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """Token ids (B, L) -> features (B, embed_dim), L2-normalized when ``normalize``."""
        features = self.text(text)
        return F.normalize(features, dim=-1) if normalize else features

    def get_logits(self, audio: Any, text: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(audio-to-text logits, text-to-audio logits), scaled and biased."""
        audio_features = self.encode_audio(audio, normalize=True)
        text_features = self.encode_text(text, normalize=True)
        logits = self._image_logits(audio_features, text_features)  # the same scaled logits, audio for images
        return logits, logits.T

    def forward(self, audio: Any = None, text: torch.Tensor | None = None):
        """Normalized ``audio_features``, ``text_features`` (None for a skipped input) and the exponentiated
        ``logit_scale`` (and ``logit_bias``): a tuple, or a dict when built with ``output_dict=True``."""
        audio_features = None
        if audio is not None:
            audio_features = self.encode_audio(audio, normalize=True)
            if self.audio.cfg.training_head:  # open_clip: the head projects the normalized embedding
                audio_features = F.normalize(self.audio.proj(audio_features), dim=-1)
        text_features = self.encode_text(text, normalize=True) if text is not None else None
        return self._outputs("audio_features", audio_features, text_features)

    def lock_text_tower(self, unlocked_layers: int = 0, freeze_layer_norm: bool = True) -> None:
        """Freeze the text tower except its last ``unlocked_layers`` layers."""
        self.text.lock(unlocked_layers, freeze_layer_norm)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute blocks of both towers in the backward pass."""
        self.audio.set_grad_checkpointing(enable)
        self.text.set_grad_checkpointing(enable)
