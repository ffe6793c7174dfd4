"""Image preprocessing: preprocess configs to eval and train transforms.

Eval transforms are :class:`~clipzoo.preprocess.eval_steps.EvalTransform` (open_clip 3.3.0's eval pipeline in PIL
and numpy, bit-identical tensors; the notes on its exactness, quirks and fast path are in :mod:`.eval_steps`), made
by :func:`image_transform` as an :class:`~clipzoo.preprocess.eval_compose.EvalCompose` (also a torchvision ``Compose``).

Training transforms follow open_clip's: RandomResizedCrop, RGB, optional colour jitter and grayscale with
probabilities, tensor, normalize (torchvision, imported lazily), or timm's ``create_transform`` with
``use_timm``. With a seed they draw the same random numbers as open_clip. Differences: ``aug_cfg.ratio`` and
``interpolation`` are honoured by RandomResizedCrop (open_clip ignores them: default ratio, bicubic);
only keys that are really unused trigger the "unused" warning.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import torch
from PIL import Image

from ..constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from ..errors import choice_error
from ..sizes import to_hw as _to_hw
from .config import (
    INTERPOLATIONS,
    RESIZE_MODES,
    PreprocessCfg,
    merge_preprocess_dict,
    merge_preprocess_kwargs,
)
from .eval_steps import (  # re-exported: the eval transform's names stay importable from here
    FAST_DRAFT_FACTOR,
    FAST_MAX_DIFF_255,
    FAST_MEAN_DIFF_255,
    FAST_REDUCING_GAP,
    EvalTransform,
    ImageSource,
)
from .geometry import RESAMPLE as _RESAMPLE
from .geometry import RESIZE_SIZE as _RESIZE_SIZE
from .geometry import Size2
from .images import ImageReadError

__all__ = [
    "FAST_DRAFT_FACTOR",
    "FAST_MAX_DIFF_255",
    "FAST_MEAN_DIFF_255",
    "FAST_REDUCING_GAP",
    "AugmentationCfg",
    "EvalTransform",
    "ImageReadError",
    "ImageSource",
    "PreprocessCfg",
    "image_transform",
    "image_transform_v2",
    "merge_preprocess_dict",
    "merge_preprocess_kwargs",
]


@dataclass
class AugmentationCfg:
    """Training augmentation settings (open_clip's AugmentationCfg fields).

    Attributes:
        scale: Range of the crop's area, as a fraction of the image, for RandomResizedCrop.
        ratio: Range of the crop's aspect ratio; None means (3/4, 4/3).
        color_jitter: ColorJitter's (brightness, contrast, saturation, hue), applied with probability
            ``color_jitter_prob``; with ``use_timm``, timm's ``color_jitter``.
        re_prob: Random-erasing probability (timm only).
        re_count: Random-erasing count (timm only).
        use_timm: Build the pipeline with timm's ``create_transform`` (no flips, per-pixel random erasing).
        color_jitter_prob: Probability of applying ``color_jitter`` (torchvision pipeline).
        gray_scale_prob: Probability of converting to grayscale (torchvision pipeline).
    """

    scale: tuple[float, float] = (0.9, 1.0)
    ratio: tuple[float, float] | None = None
    color_jitter: float | tuple[float, ...] | None = None
    re_prob: float | None = None
    re_count: int | None = None
    use_timm: bool = False
    color_jitter_prob: float | None = None
    gray_scale_prob: float | None = None


# --- train transform ------------------------------------------------------------------------------------


class _RandomApply:
    """Apply `transform` with probability p, drawing from Python's `random` as open_clip does."""

    def __init__(self, transform: Callable, p: float) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {p}")
        self.transform, self.p = transform, p

    def __call__(self, img: Any) -> Any:
        return self.transform(img) if random.random() < self.p else img

    def __repr__(self) -> str:
        return f"RandomApply(p={self.p}, {self.transform!r})"


class _ToRGB:
    """Convert PIL images to RGB; pass tensors and arrays through."""

    def __call__(self, img: Any) -> Any:
        return img.convert("RGB") if isinstance(img, Image.Image) else img

    def __repr__(self) -> str:
        return "ToRGB()"


class _ToTensor:
    """torchvision's to_tensor for PIL images and arrays; tensors pass through."""

    def __call__(self, img: Any) -> torch.Tensor:
        from torchvision.transforms import functional as TF

        return img if isinstance(img, torch.Tensor) else TF.to_tensor(img)

    def __repr__(self) -> str:
        return "ToTensor()"


def _timm_train_transform(size: Size2, mean, std, interpolation: str, aug: dict) -> Callable:
    from timm.data import create_transform

    aug.setdefault("color_jitter", None)  # timm enables jitter by default; open_clip turns it off
    aug.pop("color_jitter_prob", None)
    aug.pop("gray_scale_prob", None)
    return create_transform(
        input_size=(3, *size),
        is_training=True,
        hflip=0.0,
        mean=mean,
        std=std,
        re_mode="pixel",
        interpolation=interpolation,
        **aug,
    )


class _Deferred:
    """A transform built on first use: importing torchvision costs seconds, and eval-only users never pay it."""

    def __init__(self, build: Callable[[], Callable], description: str) -> None:
        self._build = build
        self._transform: Callable | None = None
        self._description = description

    def _built(self) -> Callable:
        if self._transform is None:
            self._transform = self._build()
        return self._transform

    def __call__(self, image: Any) -> Any:
        return self._built()(image)

    def __getattr__(self, name: str) -> Any:  # e.g. `.transforms` of the torchvision Compose inside
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._built(), name)

    def __repr__(self) -> str:
        return (
            repr(self._transform)
            if self._transform is not None
            else f"<{self._description}, built on first use>"
        )


def _check_train_cfg(aug_cfg: AugmentationCfg, aug: dict) -> None:
    if aug_cfg.color_jitter_prob:
        jitter = aug_cfg.color_jitter
        if not isinstance(jitter, (list, tuple)) or len(jitter) != 4:
            raise ValueError(
                "color_jitter_prob needs color_jitter = (brightness, contrast, saturation, hue), "
                f"got {jitter!r}"
            )
    unused = [k for k in ("re_prob", "re_count") if k in aug]
    if "color_jitter" in aug and not aug_cfg.color_jitter_prob:
        unused.append("color_jitter")
    if unused:
        warnings.warn(
            f"unused augmentation cfg items {unused}: they need use_timm=True (or color_jitter_prob)",
            stacklevel=4,
        )


def _torchvision_train_transform(
    size: Size2, mean, std, interpolation: str, aug_cfg: AugmentationCfg
) -> Callable:
    from torchvision import transforms as T

    ratio = aug_cfg.ratio if aug_cfg.ratio is not None else (3.0 / 4.0, 4.0 / 3.0)
    resample = T.InterpolationMode(interpolation if interpolation != "random" else "bicubic")
    steps: list[Callable] = [
        T.RandomResizedCrop(size, scale=aug_cfg.scale, ratio=ratio, interpolation=resample)
    ]
    steps.append(_ToRGB())
    if aug_cfg.color_jitter_prob:
        steps.append(_RandomApply(T.ColorJitter(*aug_cfg.color_jitter), aug_cfg.color_jitter_prob))
    if aug_cfg.gray_scale_prob:
        steps.append(_RandomApply(T.Grayscale(num_output_channels=3), aug_cfg.gray_scale_prob))
    steps += [_ToTensor(), T.Normalize(mean=mean, std=std)]
    return T.Compose(steps)


def _train_transform(size: Size2, mean, std, interpolation: str, aug_cfg: AugmentationCfg) -> Callable:
    aug = {k: v for k, v in asdict(aug_cfg).items() if v is not None}
    if aug.pop("use_timm", False):
        return _Deferred(
            partial(_timm_train_transform, size, mean, std, interpolation, aug), "timm train transform"
        )
    _check_train_cfg(aug_cfg, aug)
    return _Deferred(
        partial(_torchvision_train_transform, size, mean, std, interpolation, aug_cfg), "train transform"
    )


def _triple(value: Any, default: tuple[float, ...]) -> tuple[float, ...]:
    # `is None` rather than open_clip's `value or default`, so an explicit 0.0 mean is kept.
    value = default if value is None else value
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * 3


def image_transform(
    image_size: int | tuple[int, int],
    is_train: bool,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
    resize_mode: str | None = None,
    interpolation: str | None = None,
    fill_color: int = 0,
    aug_cfg: dict[str, Any] | AugmentationCfg | None = None,
    fast: bool = False,
) -> Callable:
    """open_clip's image_transform: eval (EvalTransform) or train preprocessing; `fast` is eval-only.

    Args:
        image_size: Output size: an int for a square, or ``(height, width)``.
        is_train: Build the training pipeline (random resized crop, RGB, optional augmentation, normalize)
            instead of the eval one (resize, crop or pad, normalize: open_clip's tensors bit for bit).
        mean: Per-channel normalization mean (one number applies to all three); None uses OpenAI's.
        std: Per-channel normalization std (one number applies to all three); None uses OpenAI's.
        resize_mode: Eval only: ``'shortest'`` (None means it: short side to the size, center crop),
            ``'longest'`` (long side to the size, pad with ``fill_color``) or ``'squash'`` (exact size).
        interpolation: ``'bicubic'`` (None means it), ``'bilinear'``, ``'nearest'`` or ``'random'`` (bicubic
            at eval).
        fill_color: Eval only: the pad value (0-255) of ``'longest'``.
        aug_cfg: Training augmentation (train only): an :class:`AugmentationCfg` or a dict of its fields; None
            uses its defaults. Fields the chosen pipeline does not use are named in a warning.
        fast: Eval only: let the JPEG decoder scale paths and file objects down while decoding (faster, not
            bit-identical; bounds in the module notes).

    Returns:
        For eval, an :class:`~clipzoo.preprocess.eval_compose.EvalCompose` (an :class:`EvalTransform` that is a
        ``torchvision.transforms.Compose``, as open_clip's): image (PIL image, path or binary file object) ->
        normalized float tensor [3, H, W]. For training, a callable on PIL images (torchvision or timm ops, imported on first use).

    Raises:
        ValueError: an unknown ``interpolation`` or ``resize_mode``, ``fast`` with ``is_train``, a bad size, a zero
            in ``std``, or ``color_jitter_prob`` without a 4-tuple ``color_jitter``.
        TypeError: ``aug_cfg`` is a dict with keys that are not AugmentationCfg fields.
    """
    mean = _triple(mean, OPENAI_DATASET_MEAN)
    std = _triple(std, OPENAI_DATASET_STD)
    interpolation = interpolation or "bicubic"
    resize_mode = resize_mode or "shortest"
    if interpolation not in _RESAMPLE:
        raise choice_error("interpolation", interpolation, INTERPOLATIONS)
    if resize_mode not in _RESIZE_SIZE:
        raise choice_error("resize_mode", resize_mode, RESIZE_MODES)
    if not is_train:
        from .eval_compose import EvalCompose  # a torchvision Compose, as open_clip's: imports torchvision

        return EvalCompose(image_size, mean, std, resize_mode, interpolation, fill_color, fast=fast)
    if fast:
        raise ValueError("fast=True only applies to eval transforms (is_train=False)")
    if isinstance(aug_cfg, dict):
        aug_cfg = AugmentationCfg(**aug_cfg)
    return _train_transform(_to_hw(image_size), mean, std, interpolation, aug_cfg or AugmentationCfg())


def image_transform_v2(
    cfg: PreprocessCfg,
    is_train: bool,
    aug_cfg: dict[str, Any] | AugmentationCfg | None = None,
    fast: bool = False,
) -> Callable:
    """image_transform driven by a PreprocessCfg.

    Args:
        cfg: The preprocessing settings (size, mean, std, interpolation, resize_mode, fill_color), e.g.
            ``PreprocessCfg(**get_model_preprocess_cfg(model))``.
        is_train: Build the training pipeline instead of the eval one.
        aug_cfg: Training augmentation, as in :func:`image_transform`.
        fast: Eval only, as in :func:`image_transform`.

    Returns:
        What :func:`image_transform` returns for these settings.

    Raises:
        ValueError: as :func:`image_transform` (bad interpolation, resize mode, size, std or augmentation).
        TypeError: ``aug_cfg`` is a dict with keys that are not AugmentationCfg fields.
    """
    return image_transform(
        image_size=cfg.size,
        is_train=is_train,
        mean=cfg.mean,
        std=cfg.std,
        interpolation=cfg.interpolation,
        resize_mode=cfg.resize_mode,
        fill_color=cfg.fill_color,
        aug_cfg=aug_cfg,
        fast=fast,
    )
