"""Mel filter banks, the Hann window and DFT kernels: the numbers both audio front ends are built from (numpy only).

The CLAP audio transform (:mod:`clipzoo.preprocess.audio`) and the CLAP towers' in-model front ends
(:mod:`clipzoo.models.audio`) sit side by side in the layer order and cannot import each other; the arithmetic they
share lives here, below both. The formulas are the published ones: the HTK mel scale (``2595 log10(1 + f/700)``,
torchaudio's default) and Slaney's (linear below 1 kHz, logarithmic above, librosa's default, with Slaney's
area normalization), triangles placed as librosa and transformers' ``mel_filter_bank`` place them.
"""

from __future__ import annotations

import numpy as np

MEL_SCALES = ("htk", "slaney")
_SLANEY_BREAK_HZ = 1000.0  # Slaney's scale is linear below 1 kHz (3 mels per 200 Hz), logarithmic above
_SLANEY_BREAK_MEL = 15.0
_SLANEY_LOGSTEP = np.log(6.4) / 27.0  # 27 mels per factor 6.4 in frequency


def hz_to_mel(freq: np.ndarray | float, scale: str) -> np.ndarray:
    """Frequencies in Hz to mels on the ``'htk'`` or ``'slaney'`` scale."""
    freq = np.asarray(freq, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + freq / 700.0)
    mels = 3.0 * freq / 200.0
    high = freq >= _SLANEY_BREAK_HZ
    return np.where(
        high, _SLANEY_BREAK_MEL + np.log(np.maximum(freq, 1e-30) / _SLANEY_BREAK_HZ) / _SLANEY_LOGSTEP, mels
    )


def mel_to_hz(mels: np.ndarray, scale: str) -> np.ndarray:
    """Mels on the ``'htk'`` or ``'slaney'`` scale to Hz (the inverse of :func:`hz_to_mel`)."""
    mels = np.asarray(mels, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    freq = 200.0 * mels / 3.0
    high = mels >= _SLANEY_BREAK_MEL
    return np.where(high, _SLANEY_BREAK_HZ * np.exp(_SLANEY_LOGSTEP * (mels - _SLANEY_BREAK_MEL)), freq)


def mel_filters(
    n_fft: int, n_mels: int, sample_rate: int, fmin: float, fmax: float, scale: str, slaney_norm: bool
) -> np.ndarray:
    """Triangular mel filters, shape ``(n_fft // 2 + 1, n_mels)`` (float64): spectrogram bins -> mel bands.

    ``scale='htk', slaney_norm=False`` is torchaudio's ``MelSpectrogram`` default (CLAP's fusion front end);
    ``scale='slaney', slaney_norm=True`` is ``librosa.filters.mel`` (CLAP's and Whisper's other front ends).
    """
    if scale not in MEL_SCALES:
        raise ValueError(f"mel scale must be one of {', '.join(MEL_SCALES)}, got {scale!r}")
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale), n_mels + 2), scale)
    bins = np.linspace(0, sample_rate // 2, n_fft // 2 + 1)
    # each filter rises from edges[i] to edges[i+1] and falls to edges[i+2]
    slopes = edges[None, :] - bins[:, None]
    widths = np.diff(edges)
    falling = -slopes[:, :-2] / widths[:-1]
    rising = slopes[:, 2:] / widths[1:]
    filters = np.maximum(0.0, np.minimum(falling, rising))
    if slaney_norm:  # constant energy per band: divide by the triangle's width in Hz
        filters *= 2.0 / (edges[2:] - edges[:-2])[None, :]
    return filters


def hann_window(length: int) -> np.ndarray:
    """The periodic Hann window (``scipy.signal.get_window('hann', length)``, torch's ``hann_window``)."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def dft_kernels(n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """Windowed one-sided DFT kernels ``(real, imag)``, each ``(n_fft // 2 + 1, n_fft)``: a frame's spectrum is
    ``kernel @ frame`` (the layout of torchlibrosa's STFT convolutions, which open_clip's HTSAT stores)."""
    k = np.arange(n_fft // 2 + 1)[:, None]
    n = np.arange(n_fft)[None, :]
    angle = -2.0 * np.pi * k * n / n_fft
    window = hann_window(n_fft)[None, :]
    return np.cos(angle) * window, np.sin(angle) * window
