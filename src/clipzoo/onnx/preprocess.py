"""Eval preprocessing with PIL and numpy only, bit-identical to ``clipzoo.preprocess.eval_steps.EvalTransform`` (exact path).

``clipzoo.preprocess.eval_steps`` builds its tensors with torch; this module is the same pipeline for the torch-free ONNX
runtime: the same PIL resize (size arithmetic of torchvision ``Resize(int)`` for square ``shortest`` targets,
``round(side / ratio)`` otherwise), the same centre crop or crop-or-pad with ``fill_color``, RGB conversion,
then ``(x / 255 - mean) / std`` in float32 in that order. tests/test_onnx.py checks ``np.array_equal`` against
EvalTransform for every resize mode, interpolation and several PIL modes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, BinaryIO

import numpy as np
from PIL import Image

from clipzoo.preprocess.config import RESIZE_MODES
from clipzoo.preprocess.geometry import RESAMPLE as _RESAMPLE
from clipzoo.preprocess.geometry import RESIZE_SIZE as _RESIZE_SIZE
from clipzoo.preprocess.geometry import center_crop_or_pad as _crop_or_pad
from clipzoo.preprocess.images import load_image
from clipzoo.sizes import to_hw as _to_hw

ImageSource = Image.Image | str | os.PathLike | BinaryIO


class ImagePreprocessor:
    """A preprocess config (size, mean, std, interpolation, resize_mode, fill_color) -> float32 arrays."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        """Build from an open_clip-style preprocess dict (``preprocess_config.json`` of an ONNX folder).

        Raises:
            ValueError: an unknown resize mode or interpolation, a zero std, or a mode other than RGB.
        """
        self.size = _to_hw(cfg.get("size", 224))
        self.resize_mode = cfg.get("resize_mode") or "shortest"
        self.interpolation = cfg.get("interpolation") or "bicubic"
        self.fill_color = cfg.get("fill_color", 0)
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"unknown resize_mode {self.resize_mode!r}; expected one of {RESIZE_MODES}")
        if self.interpolation not in _RESAMPLE:
            raise ValueError(
                f"unknown interpolation {self.interpolation!r}; expected one of {tuple(_RESAMPLE)}"
            )
        if cfg.get("mode", "RGB") != "RGB":
            raise ValueError(f"preprocess mode must be 'RGB', got {cfg.get('mode')!r}")
        mean, std = cfg.get("mean"), cfg.get("std")
        if mean is None or std is None or any(s == 0 for s in std):
            raise ValueError(f"preprocess config needs a mean and a std without zeros, got {mean}, {std}")
        self._mean = np.asarray([float(m) for m in mean], dtype=np.float32).reshape(-1, 1, 1)
        self._std = np.asarray([float(s) for s in std], dtype=np.float32).reshape(-1, 1, 1)

    def _resample(self) -> Image.Resampling:
        # open_clip's non-square 'shortest' path resamples bicubic whatever the interpolation says.
        if (
            self.resize_mode == "shortest"
            and self.size[0] != self.size[1]
            and self.interpolation != "nearest"
        ):
            return Image.Resampling.BICUBIC
        return _RESAMPLE[self.interpolation]

    def _geometry(self, img: Image.Image) -> Image.Image:
        size = _RESIZE_SIZE[self.resize_mode](*img.size, self.size)
        if img.size != size:
            img = img.resize(size, self._resample())
        if self.resize_mode == "squash":
            return img
        return _crop_or_pad(img, self.size, self.fill_color if self.resize_mode == "longest" else 0)

    def _normalize(self, img: Image.Image) -> np.ndarray:
        chw = np.asarray(img if img.mode == "RGB" else img.convert("RGB")).transpose(2, 0, 1)
        out = np.empty(chw.shape, dtype=np.float32)
        np.true_divide(chw, np.float32(255), out=out, dtype=np.float32)
        np.subtract(out, self._mean, out=out)
        np.divide(out, self._std, out=out)
        return out

    def __call__(self, src: ImageSource) -> np.ndarray:
        """One image (PIL image, path or binary file object) -> normalized float32 array [3, H, W].

        Raises:
            TypeError: an unsupported type.
            clipzoo.preprocess.images.ImageReadError: a file that cannot be opened or decoded (the message names it).
        """
        # files as the torch transforms read them (one loader): EXIF orientation, 16-bit/float to 8 bits
        return self._normalize(self._geometry(load_image(src)))

    def batch(self, images: Sequence[ImageSource]) -> np.ndarray:
        """Several images -> float32 array [N, 3, H, W]."""
        out = np.empty((len(images), 3, *self.size), dtype=np.float32)
        for row, image in enumerate(images):
            out[row] = self(image)
        return out
