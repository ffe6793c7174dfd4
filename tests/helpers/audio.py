"""Sounds for the audio (CLAP) tests."""

from __future__ import annotations

RATE = 48000  # CLAP's sample rate


def tone(seconds: float, rate: int = RATE, freq: float = 440.0):
    """A sine tone (float32 numpy waveform) of ``seconds`` at ``rate``."""
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
