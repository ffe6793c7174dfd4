"""HTSAT, CLAP's hierarchical token-semantic audio transformer: a log-mel spectrogram folded into a square image,
patch-embedded (with attentional feature fusion of three local crops for the fused variant), four Swin stages,
and the mean of the final tokens as the clip embedding.

Names are open_clip main's (``bn0``, ``patch_embed``, ``layers``, ``norm``, the front end's
``spectrogram_extractor.stft.conv_real``/``conv_imag`` and ``logmel_extractor.melW``, and the unused
sound-event head ``tscam_conv``/``head``), so its state dicts load unchanged; transformers' ``ClapAudioModel``
holds the same numbers under other names (:mod:`clipzoo.formats.clap`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ... import melscale
from ...registry.config import AudioCfg
from .swin import SwinStage

# HTSAT sizes (open_clip main's table): patch-embedding width, blocks per stage, heads per stage.
HTSAT_SIZES: dict[str, dict] = {
    "tiny": {"embed_dim": 96, "depths": [2, 2, 6, 2], "num_heads": [4, 8, 16, 32]},
    "base": {"embed_dim": 128, "depths": [2, 2, 12, 2], "num_heads": [4, 8, 16, 32]},
    "large": {"embed_dim": 256, "depths": [2, 2, 12, 2], "num_heads": [4, 8, 16, 32]},
}
_LOG_FLOOR = 1e-10  # power floor before the dB conversion (librosa's and transformers' amin)


@dataclass(frozen=True)
class HTSATGeometry:
    """The numbers an HTSAT is built from: a named size plus the fixed image geometry (and any override)."""

    embed_dim: int
    depths: tuple[int, ...]
    num_heads: tuple[int, ...]
    spec_size: int = 256
    patch_size: int = 4
    window: int = 8
    mlp_ratio: float = 4.0

    @classmethod
    def from_cfg(cls, cfg: AudioCfg) -> HTSATGeometry:
        """The named size (``model_name``) with ``htsat_cfg`` overrides (clipzoo: transformers folders of any size)."""
        merged = {**HTSAT_SIZES[cfg.model_name], **(cfg.htsat_cfg or {})}
        merged["depths"] = tuple(merged["depths"])
        merged["num_heads"] = tuple(merged["num_heads"])
        return cls(**merged)

    @property
    def out_dim(self) -> int:
        """Width of the final stage (the clip embedding)."""
        return self.embed_dim * 2 ** (len(self.depths) - 1)


class AFF2d(nn.Module):
    """Attentional feature fusion: a learned, per-position mix of the global and the local patch embeddings."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        inner = channels // reduction

        def branch(pool: bool) -> list[nn.Module]:
            return [
                *([nn.AdaptiveAvgPool2d(1)] if pool else []),
                nn.Conv2d(channels, inner, 1), nn.BatchNorm2d(inner), nn.ReLU(inplace=True),
                nn.Conv2d(inner, channels, 1), nn.BatchNorm2d(channels),
            ]  # fmt: skip

        self.local_att = nn.Sequential(*branch(pool=False))
        self.global_att = nn.Sequential(*branch(pool=True))

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """Fuse ``x`` (global) and ``residual`` (local), both (B, C, H, W)."""
        mixed = x + residual
        single = mixed.shape[0] == 1 and self.training  # batch-norm statistics need two samples
        if single:
            mixed = torch.cat([mixed, mixed])
        weight = torch.sigmoid(self.local_att(mixed) + self.global_att(mixed))
        if single:
            weight = weight[:1]
        return 2 * x * weight + 2 * residual * (1 - weight)


class PatchEmbed(nn.Module):
    """Non-overlapping patches of the folded spectrogram; the fused variant adds its three local crops."""

    def __init__(self, geometry: HTSATGeometry, fusion: bool) -> None:
        super().__init__()
        p, dim = geometry.patch_size, geometry.embed_dim
        self.proj = nn.Conv2d(1, dim, kernel_size=p, stride=p)
        self.norm = nn.LayerNorm(dim)
        self.fusion = fusion
        if fusion:  # each local crop covers a third of the width: 3x wider kernels and strides
            self.mel_conv2d = nn.Conv2d(1, dim, kernel_size=(p, 3 * p), stride=(p, 3 * p))
            self.fusion_model = AFF2d(dim)

    def forward(self, x: torch.Tensor, longer: torch.Tensor | None = None) -> torch.Tensor:
        """Folded spectrograms (B, C, S, S) -> tokens (B, N, dim); channels 1-3 are the crops of a fused input."""
        out = self.proj(x[:, :1])
        if self.fusion and longer is not None and longer.numel():
            local = x[longer, 1:]
            b, crops, h, w = local.shape
            local = self.mel_conv2d(local.reshape(b * crops, 1, h, w))
            local = local.view(b, crops, *local.shape[1:]).permute(0, 2, 3, 1, 4).flatten(3)
            width = out.shape[-1]  # the three crops side by side, cut or zero-padded to the global width
            local = F.pad(local, (0, max(0, width - local.shape[-1])))[..., :width]
            out = out.clone()
            out[longer] = self.fusion_model(out[longer], local).to(out.dtype)
        return self.norm(out.flatten(2).transpose(1, 2))


class Spectrogram(nn.Module):
    """The STFT as two strided convolutions (torchlibrosa's layout: open_clip's checkpoints store the kernels)."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        real, imag = melscale.dft_kernels(n_fft)
        self.stft = nn.Module()
        for name, kernel in (("conv_real", real), ("conv_imag", imag)):
            conv = nn.Module()
            conv.register_buffer("weight", torch.tensor(kernel, dtype=torch.float32)[:, None, :])
            self.stft.add_module(name, conv)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> power spectrogram (B, 1, frames, n_fft // 2 + 1), frames centred (reflect padding)."""
        x = F.pad(waveform[:, None, :], (self.n_fft // 2, self.n_fft // 2), mode="reflect")
        real = F.conv1d(x, self.stft.get_buffer("conv_real.weight"), stride=self.hop)
        imag = F.conv1d(x, self.stft.get_buffer("conv_imag.weight"), stride=self.hop)
        return (real**2 + imag**2).transpose(1, 2)[:, None]


class LogMel(nn.Module):
    """Power spectrogram -> log-mel in dB (Slaney filters, librosa's default), as torchlibrosa computes it."""

    if TYPE_CHECKING:
        melW: torch.Tensor  # a buffer (register_buffer)

    def __init__(self, cfg: AudioCfg) -> None:
        super().__init__()
        filters = melscale.mel_filters(cfg.window_size, cfg.mel_bins, cfg.sample_rate, cfg.fmin, cfg.fmax,
                                       "slaney", slaney_norm=True)  # fmt: skip
        self.register_buffer("melW", torch.tensor(filters, dtype=torch.float32))

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        """(…, bins) -> (…, mel_bins)."""
        return 10.0 * torch.log10(torch.clamp(power @ self.melW, min=_LOG_FLOOR))


class HTSAT(nn.Module):
    """Mel features (B, 1 or 4, frames, mel_bins) -> clip embedding (B, out_dim); raw waveforms through the
    in-model front end (unfused models, as open_clip's)."""

    def __init__(self, cfg: AudioCfg) -> None:
        super().__init__()
        g = HTSATGeometry.from_cfg(cfg)
        self.geometry = g
        self.fusion = cfg.enable_fusion
        self.freq_ratio = g.spec_size // cfg.mel_bins  # the spectrogram's time axis folds into this many rows
        self.spectrogram_extractor = Spectrogram(cfg.window_size, cfg.hop_size)
        self.logmel_extractor = LogMel(cfg)
        self.bn0 = nn.BatchNorm2d(cfg.mel_bins)
        self.patch_embed = PatchEmbed(g, self.fusion)
        grid = g.spec_size // g.patch_size
        self.layers = nn.ModuleList(
            SwinStage(g.embed_dim * 2**i, (grid // 2**i, grid // 2**i), depth, heads, g.window, g.mlp_ratio,
                      downsample=i < len(g.depths) - 1)  # fmt: skip
            for i, (depth, heads) in enumerate(zip(g.depths, g.num_heads))
        )
        self.norm = nn.LayerNorm(g.out_dim)
        # open_clip's sound-event head (clip-wise classes); the embedding does not use it
        final_rows = g.spec_size // 2 ** (len(g.depths) - 1) // g.patch_size // self.freq_ratio
        self.tscam_conv = nn.Conv2d(g.out_dim, cfg.class_num, kernel_size=(final_rows, 3), padding=(0, 1))
        self.head = nn.Linear(cfg.class_num, cfg.class_num)
        self.apply(_init_weights)

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """Raw waveforms (B, samples) -> (B, 1, frames, mel_bins), computed in float32 whatever the model dtype."""
        with torch.autocast(waveform.device.type, enabled=False):
            return self.logmel_extractor(self.spectrogram_extractor(waveform.float()))

    def fold(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, frames, mel_bins) -> (B, C, spec_size, spec_size): time stretched to spec_size * freq_ratio
        frames (bicubic), then cut into freq_ratio strips stacked along the frequency axis."""
        b, c, t, f = x.shape
        target_t, target_f = self.geometry.spec_size * self.freq_ratio, self.geometry.spec_size // self.freq_ratio
        if t > target_t or f > target_f:
            raise ValueError(
                f"HTSAT takes at most {target_t} frames of {target_f} mel bins, got {t} frames of {f}"
            )
        if t < target_t or f < target_f:
            x = F.interpolate(x, (target_t, target_f), mode="bicubic", align_corners=True)
        x = x.transpose(2, 3).reshape(b, c, target_f, self.freq_ratio, target_t // self.freq_ratio)
        return x.permute(0, 1, 3, 2, 4).reshape(b, c, target_f * self.freq_ratio, target_t // self.freq_ratio)

    def forward(self, features: torch.Tensor, longer: torch.Tensor | None = None) -> torch.Tensor:
        """Mel features (B, C, frames, mel_bins) and the fused-input flags (B,) -> embeddings (B, out_dim)."""
        x = self.bn0(features.transpose(1, 3)).transpose(1, 3)
        longer_idx = torch.where(longer)[0] if (self.fusion and longer is not None) else None
        x = self.patch_embed(self.fold(x), longer_idx)
        for layer in self.layers:
            x = layer(x)
        # the mean over all final tokens: open_clip's (and transformers') pooled output after regrouping them
        return self.norm(x).mean(dim=1)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each Swin block in the backward pass."""
        for layer in self.layers:
            assert isinstance(layer, SwinStage)
            layer.grad_checkpointing = enable


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
