"""The Whisper audio encoder as a CLAP tower: log-mel (80 Slaney bands at 16 kHz, Whisper's scaling), two
convolutions, sinusoidal positions, pre-norm transformer blocks, pairwise average pooling, a projection.

Names are open_clip main's (``conv1``, ``conv2``, ``positional_embedding``, ``blocks.N.attn.query/key/value/out``,
``attn_ln``, ``mlp.0``/``mlp.2``, ``mlp_ln``, ``ln_post``, ``proj``, ``audio_bos_eos_token``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ... import melscale
from ...registry.config import AudioCfg

# Whisper sizes (open_clip main's table): blocks, width, heads.
WHISPER_SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (4, 384, 6),
    "base": (6, 512, 8),
    "small": (12, 768, 12),
    "medium": (24, 1024, 16),
    "large": (32, 1280, 20),
}
WHISPER_MELS = 80  # Whisper's front end is fixed: 80 bands, 400-sample window, 160-sample hop at 16 kHz
WHISPER_N_FFT = 400
WHISPER_HOP = 160
_DYNAMIC_RANGE = 8.0  # log10 units kept below each clip's maximum (80 dB)
# Whisper's own 80-band filter table (OpenAI's mel_filters.npz, which open_clip ships): made with an older
# librosa, it differs from today's librosa.filters.mel by up to 0.036, so it is data here, not recomputed.
_FILTERS_FILE = Path(__file__).with_name("whisper_mel_80.npz")


def whisper_mel_filters() -> torch.Tensor:
    """Whisper's (80, 201) mel filter table, float32."""
    with np.load(_FILTERS_FILE) as data:
        return torch.tensor(data["mel_80"], dtype=torch.float32)


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's fixed positional table (length, channels): sines then cosines of geometric frequencies."""
    step = math.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-step * torch.arange(channels // 2))
    t = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([torch.sin(t), torch.cos(t)], dim=1)


class Attention(nn.Module):
    """Self-attention with Whisper's bias-free key projection."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width, bias=False)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, width) -> (B, T, width)."""
        b, t, w = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, -1).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)))
        return self.out(out.transpose(1, 2).reshape(b, t, w))


class Block(nn.Module):
    """Pre-norm attention and MLP (4x, GELU), both residual."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = Attention(width, heads)
        self.attn_ln = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.mlp_ln = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, width) -> (B, T, width)."""
        x = x + self.attn(self.attn_ln(x))
        return x + self.mlp(self.mlp_ln(x))


class WhisperEncoder(nn.Module):
    """Waveforms (B, samples at 16 kHz) -> token embeddings (B, T', output_dim)."""

    if TYPE_CHECKING:  # buffers (register_buffer)
        positional_embedding: torch.Tensor
        mel_filters: torch.Tensor
        window: torch.Tensor

    def __init__(self, cfg: AudioCfg, output_dim: int) -> None:
        super().__init__()
        layers, width, heads = WHISPER_SIZES[cfg.model_name]
        frames = cfg.clip_samples // WHISPER_HOP
        self.conv1 = nn.Conv1d(WHISPER_MELS, width, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(width, width, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positional_embedding", sinusoids((frames - 1) // 2 + 1, width))
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Linear(width, output_dim)
        # open_clip's begin/end-of-audio embeddings (for its generative models); unused by CLAP's features
        self.audio_bos_eos_token = nn.Embedding(2, output_dim)
        self.register_buffer("mel_filters", whisper_mel_filters(), persistent=False)
        self.register_buffer("window", torch.tensor(melscale.hann_window(WHISPER_N_FFT), dtype=torch.float32),
                             persistent=False)  # fmt: skip
        self.grad_checkpointing = False

    def init_non_persistent_buffers(self) -> None:
        """Recompute the computed buffers (after a meta-device build: they are not in checkpoints)."""
        device = self.conv1.weight.device if self.conv1.weight.device.type != "meta" else "cpu"
        self.mel_filters = whisper_mel_filters().to(device)
        self.window = torch.tensor(melscale.hann_window(WHISPER_N_FFT), dtype=torch.float32, device=device)

    def log_mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, 80, frames): Whisper's log-mel, each clip clamped to 80 dB below its maximum."""
        stft = torch.stft(waveform.float(), WHISPER_N_FFT, WHISPER_HOP, window=self.window, return_complex=True)
        power = stft[..., :-1].abs() ** 2
        log_spec = torch.clamp(self.mel_filters @ power, min=1e-10).log10()
        # per clip (open_clip takes the maximum over the whole batch, so a clip's features depend on its batch)
        peak = log_spec.amax(dim=(1, 2), keepdim=True)
        return (torch.maximum(log_spec, peak - _DYNAMIC_RANGE) + 4.0) / 4.0

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> (B, T', output_dim)."""
        x = self.log_mel(waveform).to(self.conv1.weight.dtype)
        x = F.gelu(self.conv2(F.gelu(self.conv1(x)))).transpose(1, 2)
        if x.shape[1] > self.positional_embedding.shape[0]:
            raise ValueError(
                f"Whisper tower: {x.shape[1]} positions, at most {self.positional_embedding.shape[0]} "
                "(the clip is longer than the config's clip_samples)"
            )
        x = x + self.positional_embedding[: x.shape[1]].to(x.dtype)
        for block in self.blocks:
            if self.grad_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        x = F.avg_pool1d(x.transpose(1, 2), 2, stride=2).transpose(1, 2)
        return self.proj(self.ln_post(x))

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute each block in the backward pass."""
        self.grad_checkpointing = enable
