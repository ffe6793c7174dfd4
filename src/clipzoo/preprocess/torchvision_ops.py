"""Single image operations that open_clip's transform pipelines are built from, as torchvision transforms.

``ResizeKeepRatio`` (resize so a chosen mix of the shortest/longest edge fits, optional random scale and
aspect jitter), ``center_crop_or_pad``/``CenterCropOrPad`` (crop to a size, padding with ``fill`` where the
image is smaller), ``MaybeConvertMode``/``MaybeToTensor`` (pass tensors through), and the random
``color_jitter``/``gray_scale`` training augmentations. clipzoo's own eval transform
(:mod:`clipzoo.preprocess.transforms`) does the same arithmetic in one step; these are for code composing its own.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch
from torchvision.transforms import ColorJitter, Grayscale, InterpolationMode, ToTensor
from torchvision.transforms import functional as F

from ..sizes import to_hw

__all__ = [
    "CenterCropOrPad",
    "MaybeConvertMode",
    "MaybeToTensor",
    "ResizeKeepRatio",
    "center_crop_or_pad",
    "color_jitter",
    "gray_scale",
]


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p is a probability in [0, 1], got {p}")


class ResizeKeepRatio:
    """Resize keeping the aspect ratio; ``longest`` in [0, 1] blends fitting the shortest (0) and longest (1) edge.

    With ``random_scale_prob``/``random_aspect_prob`` > 0 the scale and the aspect ratio are jittered within
    their ranges (training augmentation).
    """

    def __init__(
        self,
        size: int | Sequence[int],
        longest: float = 0.0,
        interpolation: InterpolationMode = InterpolationMode.BICUBIC,
        random_scale_prob: float = 0.0,
        random_scale_range: tuple[float, float] = (0.85, 1.05),
        random_aspect_prob: float = 0.0,
        random_aspect_range: tuple[float, float] = (0.9, 1.11),
    ) -> None:
        self.size = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        self.interpolation = interpolation
        self.longest = float(longest)
        self.random_scale_prob = random_scale_prob
        self.random_scale_range = random_scale_range
        self.random_aspect_prob = random_aspect_prob
        self.random_aspect_range = random_aspect_range

    @staticmethod
    def get_params(
        img: Any,
        target_size: Sequence[int],
        longest: float,
        random_scale_prob: float = 0.0,
        random_scale_range: tuple[float, float] = (0.85, 1.05),
        random_aspect_prob: float = 0.0,
        random_aspect_range: tuple[float, float] = (0.9, 1.11),
    ) -> list[int]:
        """The ``[height, width]`` to resize ``img`` (a PIL image) to."""
        h, w = img.size[::-1]
        ratio_h, ratio_w = h / target_size[0], w / target_size[1]
        ratio = max(ratio_h, ratio_w) * longest + min(ratio_h, ratio_w) * (1.0 - longest)
        factor_h = factor_w = 1.0
        if random_scale_prob > 0 and random.random() < random_scale_prob:
            factor_h = factor_w = random.uniform(*random_scale_range)
        if random_aspect_prob > 0 and random.random() < random_aspect_prob:
            aspect = random.uniform(*random_aspect_range)
            factor_h, factor_w = factor_h / aspect, factor_w * aspect
        return [round(h * factor_h / ratio), round(w * factor_w / ratio)]

    def __call__(self, img: Any) -> Any:
        """The resized image."""
        size = self.get_params(
            img,
            self.size,
            self.longest,
            self.random_scale_prob,
            self.random_scale_range,
            self.random_aspect_prob,
            self.random_aspect_range,
        )
        return F.resize(img, size, self.interpolation)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(size={self.size}, interpolation={self.interpolation}, "
            f"longest={self.longest:.3f})"
        )


def center_crop_or_pad(
    img: torch.Tensor, output_size: Sequence[int], fill: float | Sequence[float] = 0
) -> torch.Tensor:
    """Center-crop ``img`` (PIL image or ``[..., H, W]`` tensor) to ``output_size``, padding first with ``fill``
    (split evenly, the odd pixel after) along any edge that is shorter than the crop."""
    crop_h, crop_w = to_hw(output_size)
    _, height, width = F.get_dimensions(img)
    if crop_w > width or crop_h > height:
        pad_w, pad_h = max(crop_w - width, 0), max(crop_h - height, 0)
        img = F.pad(img, [pad_w // 2, pad_h // 2, (pad_w + 1) // 2, (pad_h + 1) // 2], fill=fill)
        _, height, width = F.get_dimensions(img)
        if (crop_h, crop_w) == (height, width):
            return img
    top = int(round((height - crop_h) / 2.0))
    left = int(round((width - crop_w) / 2.0))
    return F.crop(img, top, left, crop_h, crop_w)


class CenterCropOrPad(torch.nn.Module):
    """:func:`center_crop_or_pad` as a transform; ``size`` is an int, ``(size,)`` or ``(h, w)``."""

    def __init__(self, size: int | Sequence[int], fill: float | Sequence[float] = 0) -> None:
        super().__init__()
        self.size = to_hw(size)
        self.fill = fill

    def forward(self, img: Any) -> Any:
        """The cropped (and padded) image."""
        return center_crop_or_pad(img, self.size, fill=self.fill)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class MaybeConvertMode:
    """``img.convert(mode)`` for PIL images; numpy arrays and tensors pass through unchanged."""

    def __init__(self, mode: str = "RGB") -> None:
        self.mode = mode

    def __call__(self, pic: Any) -> Any:
        """The converted image (or ``pic`` itself when it is an array or a tensor)."""
        import numpy as np

        if isinstance(pic, (np.ndarray, torch.Tensor)):
            return pic
        return pic.convert(self.mode)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MaybeToTensor(ToTensor):
    """``ToTensor`` that returns tensors unchanged."""

    def __init__(self) -> None:
        super().__init__()

    def __call__(self, pic: Any) -> torch.Tensor:
        """``pic`` as a float tensor in [0, 1] (PIL image or ndarray), or ``pic`` itself if it is one."""
        if isinstance(pic, torch.Tensor):
            return pic
        return F.to_tensor(pic)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class color_jitter:  # noqa: N801 - open_clip's name
    """torchvision's ``ColorJitter``, applied with probability ``p``."""

    def __init__(
        self,
        brightness: float = 0.0,
        contrast: float = 0.0,
        saturation: float = 0.0,
        hue: float = 0.0,
        p: float = 0.8,
    ) -> None:
        _check_probability(p)
        self.p = p
        self.transf = ColorJitter(brightness=brightness, contrast=contrast, saturation=saturation, hue=hue)

    def __call__(self, img: Any) -> Any:
        """The jittered image, or ``img`` unchanged."""
        return self.transf(img) if random.random() < self.p else img


class gray_scale:  # noqa: N801 - open_clip's name
    """Three-channel grayscale, applied with probability ``p``."""

    def __init__(self, p: float = 0.2) -> None:
        _check_probability(p)
        self.p = p
        self.transf = Grayscale(num_output_channels=3)

    def __call__(self, img: Any) -> Any:
        """The grayscale image, or ``img`` unchanged."""
        return self.transf(img) if random.random() < self.p else img
