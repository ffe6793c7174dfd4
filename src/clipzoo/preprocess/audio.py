"""Audio for CLAP models: decode a file (libsndfile through ``soundfile``: WAV, FLAC, OGG/Vorbis/Opus, MP3), mix to
mono, resample to the model's rate (libsoxr through ``soxr``), then the model's input.

For HTSAT towers the input is transformers' ``ClapFeatureExtractor``'s: log-mel features (dB) of the clip
repeat-padded to the model's length; a longer clip is cut to it (unfused: one crop, Slaney filters) or kept whole
for fusion (HTK filters: the whole clip squeezed to the model's length, then three crops from its front, middle
and back). The extractor draws those crops at random; this transform takes the first, the middle and the last
position (open_clip main's eval positions) unless ``random_crop=True``, which draws them from numpy's global
generator exactly as transformers does (seeding numpy reproduces its output). Whisper towers take the
repeat-padded waveform and compute their own log-mel.

Bad audio is an :class:`AudioError` (an :class:`~clipzoo.errors.InputError`: status 2 on the command line):
a missing, empty, corrupt or undecodable file, a value of the wrong type, non-finite samples, or a clip longer
than :data:`MAX_AUDIO_SECONDS`.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import melscale
from ..constants import EXTRA_INSTALL_HINT
from ..errors import AudioError, AudioNotFoundError

MAX_AUDIO_SECONDS = 3600.0  # longer inputs are refused: an hour is far beyond any CLAP model's clip
_LOG_FLOOR = 1e-10  # power floor before the dB conversion (transformers' and librosa's)


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise ImportError(f"reading audio needs {module}: " + EXTRA_INSTALL_HINT.format(extra="audio")) from exc


def _check_exists(path: str | os.PathLike) -> None:
    """An audio path names a file that is not empty (AudioNotFoundError, AudioError)."""
    file = Path(path)
    if not file.is_file():
        raise AudioNotFoundError(f"{path}: no such audio file")
    if file.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty")


def load_audio(src: str | os.PathLike | bytes) -> tuple[np.ndarray, int]:
    """Decode an audio file (a path or its bytes) -> (samples float32 (frames, channels), sample rate).

    Raises:
        AudioNotFoundError: the path does not exist.
        AudioError: the file is empty, corrupt or in a format libsndfile cannot decode.
    """
    soundfile = _require("soundfile")
    name = "<bytes>" if isinstance(src, (bytes, bytearray)) else str(src)
    if not isinstance(src, (bytes, bytearray)):
        _check_exists(src)
    try:
        data, rate = soundfile.read(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else name,
                                    dtype="float32", always_2d=True)  # fmt: skip
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        formats = ", ".join(sorted(soundfile.available_formats()))
        raise AudioError(f"{name}: not a readable audio file ({err}); libsndfile reads {formats}") from err
    return data, int(rate)


def check_audio_file(path: str | os.PathLike) -> None:
    """Read only the header of an audio file: it exists, is not empty and libsndfile knows its format.

    Raises:
        AudioNotFoundError: the path does not exist.
        AudioError: empty, or not a format libsndfile reads.
    """
    soundfile = _require("soundfile")
    _check_exists(path)
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise AudioError(f"{path}: not a readable audio file ({err})") from err
    if info.frames == 0:
        raise AudioError(f"{path}: the file holds no samples")


def to_mono(samples: np.ndarray) -> np.ndarray:
    """(frames, channels) or (frames,) -> (frames,): the mean of the channels."""
    return samples if samples.ndim == 1 else samples.mean(axis=1)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Mono samples from ``rate`` to ``target`` Hz (libsoxr, high quality); unchanged when the rates agree."""
    if rate == target:
        return samples
    soxr = _require("soxr")
    return soxr.resample(samples.astype(np.float64), rate, target, quality="HQ")


def _as_waveform(audio: Any, target_rate: int) -> np.ndarray:
    """Any accepted input -> mono float64 samples at ``target_rate``."""
    import torch

    rate = target_rate
    if isinstance(audio, (str, os.PathLike, bytes, bytearray)):
        samples, rate = load_audio(audio)
    elif isinstance(audio, tuple) and len(audio) == 2 and isinstance(audio[1], (int, np.integer)):
        samples, rate = audio  # (waveform, sample rate), open_clip main's input
    else:
        samples = audio
    if isinstance(samples, torch.Tensor):
        samples = samples.detach().cpu().double().numpy()
    if not isinstance(samples, np.ndarray) or samples.dtype.kind not in "fiu" or samples.ndim not in (1, 2):
        raise AudioError(
            "audio must be a file path, file bytes, a waveform (numpy array or tensor, (samples,) or "
            f"(channels, samples)) or (waveform, sample_rate); got {_describe(samples)}"
        )
    if rate <= 0:
        raise AudioError(f"sample rate must be positive, got {rate}")
    if samples.ndim == 2 and samples.shape[0] < samples.shape[1]:
        samples = samples.T  # (channels, samples) as torch and open_clip hold it
    samples = to_mono(np.asarray(samples, dtype=np.float64))
    if samples.size == 0:
        raise AudioError("the audio is empty (no samples)")
    if samples.size > MAX_AUDIO_SECONDS * rate:
        raise AudioError(f"the audio is {samples.size / rate:.0f} s long; at most {MAX_AUDIO_SECONDS:.0f} s is accepted")
    if not np.isfinite(samples).all():
        raise AudioError("the audio has non-finite samples (NaN or infinity)")
    return resample(samples, int(rate), target_rate)


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return f"{type(value).__name__} of shape {tuple(shape)}" if shape is not None else type(value).__name__


def repeat_pad(samples: np.ndarray, length: int) -> np.ndarray:
    """Repeat a short clip as many whole times as fit in ``length``, then pad with silence (``repeatpad``)."""
    if samples.size >= length:
        return samples[:length]
    return np.pad(np.tile(samples, length // samples.size), (0, length % samples.size))


@dataclass(frozen=True)
class MelFrontEnd:
    """A log-mel spectrogram: Hann-windowed centred STFT, power, mel filters, dB (``ClapFeatureExtractor``'s)."""

    n_fft: int
    hop: int
    filters: np.ndarray  # (n_fft // 2 + 1, n_mels)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Mono samples -> (frames, n_mels) in dB, computed in float64."""
        import torch

        wave = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float64))
        window = torch.from_numpy(melscale.hann_window(self.n_fft))
        spec = torch.stft(wave, self.n_fft, self.hop, window=window, center=True, pad_mode="reflect",
                          return_complex=True)  # fmt: skip
        mel = torch.from_numpy(self.filters).T @ spec.abs() ** 2
        return (10.0 * torch.log10(torch.clamp(mel, min=_LOG_FLOOR))).T.numpy()


class AudioTransform:
    """Audio (path, bytes, waveform or (waveform, rate)) -> the CLAP model's input dict for one clip.

    HTSAT: ``{"input_features": (1 or 4, frames, mel_bins) float32, "is_longer": bool tensor}``; Whisper:
    ``{"waveform": (clip_samples,) float32}``. Batch clips with ``torch.utils.data.default_collate``.
    """

    def __init__(self, audio_cfg: Any, random_crop: bool = False) -> None:
        self.cfg = audio_cfg
        self.random_crop = random_crop
        self.rate = audio_cfg.sample_rate
        self.length = audio_cfg.clip_samples
        self.fusion = bool(audio_cfg.enable_fusion)
        self.whisper = audio_cfg.model_type == "whisper"
        scale, norm = ("htk", False) if self.fusion else ("slaney", True)
        filters = melscale.mel_filters(audio_cfg.window_size, audio_cfg.mel_bins, self.rate, audio_cfg.fmin,
                                       audio_cfg.fmax, scale, norm)  # fmt: skip
        self.mel = MelFrontEnd(audio_cfg.window_size, audio_cfg.hop_size, filters)

    def __repr__(self) -> str:
        kind = "whisper" if self.whisper else ("fused" if self.fusion else "unfused")
        return f"AudioTransform({kind}, {self.rate} Hz, {self.length / self.rate:g} s, random_crop={self.random_crop})"

    def __call__(self, audio: Any) -> dict:
        """One clip -> the model's input (see the class docstring).

        Raises:
            AudioError: the audio cannot be used (see the module docstring).
        """
        import torch

        samples = _as_waveform(audio, self.rate)
        if self.whisper:
            return {"waveform": torch.from_numpy(repeat_pad(samples, self.length).astype(np.float32))}
        if self.fusion:
            mel, longer = self._fused(samples)
        else:
            mel, longer = self._unfused(samples)
        return {"input_features": torch.from_numpy(mel.astype(np.float32)), "is_longer": torch.tensor(longer)}

    def _unfused(self, samples: np.ndarray) -> tuple[np.ndarray, bool]:
        longer = samples.size > self.length
        if longer:
            start = np.random.randint(0, samples.size - self.length + 1) if self.random_crop else 0
            samples = samples[start : start + self.length]
        return self.mel(repeat_pad(samples, self.length))[None], longer

    def _fused(self, samples: np.ndarray) -> tuple[np.ndarray, bool]:
        if samples.size <= self.length:
            mel = self.mel(repeat_pad(samples, self.length))
            return np.stack([mel] * 4), False
        mel = self.mel(samples)
        chunk = self.length // self.cfg.hop_size + 1
        total = mel.shape[0]
        if chunk == total:
            return np.stack([mel] * 4), False
        starts = self._crop_starts(total - chunk + 1)
        crops = [mel[s : s + chunk] for s in starts]
        return np.stack([self._squeeze(mel, chunk), *crops]), True

    def _crop_starts(self, positions: int) -> list[int]:
        """Front, middle and back crop positions: drawn from thirds of the range (random) or their ends/middle."""
        if not self.random_crop:
            last = positions - 1
            return [0, last // 2, last]
        thirds = [list(part) or [0] for part in np.array_split(list(range(positions)), 3)]
        return [int(np.random.choice(part)) for part in thirds]

    @staticmethod
    def _squeeze(mel: np.ndarray, frames: int) -> np.ndarray:
        """The whole clip's mel resized to ``frames`` (bilinear), the fused input's global view."""
        import torch
        import torch.nn.functional as F

        # in float32, as transformers resizes it: torch places float32 sample points in float32 arithmetic, and
        # where the spectrogram is steep those positions alone move the result by ~1e-3 dB
        whole = torch.from_numpy(mel.astype(np.float32))[None, None]
        return F.interpolate(whole, size=[frames, mel.shape[1]], mode="bilinear", align_corners=False)[0, 0].numpy()


def audio_transform(audio_cfg: Any, is_train: bool = False) -> AudioTransform:
    """The audio transform of a CLAP model's ``audio_cfg`` (training draws its crops at random)."""
    return AudioTransform(audio_cfg, random_crop=is_train)
