"""Image preprocessing: preprocess configs to eval and train transforms.

Eval transforms are a direct PIL + torch implementation of open_clip 3.3.0's eval pipeline and give
bit-identical tensors (``torch.equal``) for every resize mode, interpolation, square or ``(h, w)`` target and
PIL mode (RGB, L, LA, RGBA, P, CMYK, I, I;16, F, 1). They do not import torchvision. The pipeline, in the
order open_clip applies it (the order matters: resampling happens in the image's own mode):

1. resize: ``shortest`` scales the short side to the target (torchvision ``Resize(int)`` arithmetic for a
   square target, ``round(side / min_ratio)`` for a non-square one); ``longest`` scales the long side to fit
   (``round(side / max_ratio)``); ``squash`` resizes to exactly ``(h, w)``.
2. center crop (``shortest``) or center crop-or-pad with ``fill_color`` (``longest``).
3. convert to RGB, scale to [0, 1] and normalize with ``mean``/``std`` in float32.

Quirks kept for parity (open_clip 3.3.0 behaviour):

- ``shortest`` with a non-square target resamples **bicubic** whatever ``interpolation`` says.
- ``P`` and ``1`` images are resampled nearest (PIL forces it), ``LA``/``RGBA`` with premultiplied alpha.
- EXIF orientation is **not** applied to PIL images (call ``PIL.ImageOps.exif_transpose`` yourself if you want
  it). Paths and file objects go through :mod:`clipzoo.preprocess.images` (EXIF orientation applied, 16-bit and float
  images scaled to 8 bits): that is where a file's tensor may differ from open_clip's on ``Image.open(path)``.

Additions over open_clip (all opt-in or where open_clip has no answer):

- ``interpolation='nearest'`` (open_clip rejects it); it is honoured by every resize mode.
- ``longest`` on extreme aspect ratios: a side that would round to 0 pixels becomes 1 (open_clip raises
  inside PIL).
- Eval transforms also accept a path or a binary file object, and errors name the file (``ImageReadError``
  for unreadable files, ``ImageTooLargeError`` -- also a ``DecompressionBombError`` -- with the pixel-limit hint). They
  do not accept tensors or arrays (open_clip passes those through to torchvision): a TypeError says so.
- ``mean=0.0``/``std`` given explicitly are kept (open_clip's ``mean or default`` replaces a 0.0 mean).
- The tensor step is a per-channel 256-entry lookup table computed once with the same torch ops as
  ToTensor + Normalize (so the values are the same bits), which keeps it single-threaded and cheap.
- ``fast=True``: for JPEG *paths or file objects* the decoder scales the image down while decoding
  (``Image.draft`` at 1/2, 1/4 or 1/8, keeping the decoded image at least ``FAST_DRAFT_FACTOR`` = 2 times the
  resize size in both sides), then resamples with ``reducing_gap=FAST_REDUCING_GAP`` (3.0). Geometry is the
  same as the exact path (same resize size, crop and pad); only the low-pass filter differs. Every other
  input (a decoded ``PIL.Image``, PNG, ...) gets the exact result, as the draft must happen before decoding.

  Measured difference to the exact path (targets 224, 336 and (192, 256); every resize mode; bicubic and
  bilinear), in 0-255 units and in normalized tensor units (OpenAI mean/std):

  ======================================================  ================  ====================
  source                                                  max |diff|        mean |diff|
  ======================================================  ================  ====================
  skimage photos upsampled to 3000x2000 .. 4500x3000      5 (0.075 norm.)   0.35 (0.0051 norm.)
  3000x2000 mosaic of unscaled photos (sharp detail)      8 (0.120 norm.)   0.55 (0.0080 norm.)
  ======================================================  ================  ====================

  Bounds asserted by the tests: max <= FAST_MAX_DIFF_255 (12) in 0-255 units, i.e. <= 0.18 normalized, and
  mean <= FAST_MEAN_DIFF_255 (1.0).

Training transforms follow open_clip's: RandomResizedCrop, RGB, optional colour jitter and grayscale with
probabilities, tensor, normalize (torchvision, imported lazily), or timm's ``create_transform`` with
``use_timm``. With a seed they draw the same random numbers as open_clip. Differences: ``aug_cfg.ratio`` and
``interpolation`` are honoured by RandomResizedCrop (open_clip ignores them: default ratio, bicubic);
only keys that are really unused trigger the "unused" warning.
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, BinaryIO

import numpy as np
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
from .geometry import RESAMPLE as _RESAMPLE
from .geometry import RESIZE_SIZE as _RESIZE_SIZE
from .geometry import Size2
from .geometry import center_crop_or_pad as _center_crop_or_pad
from .images import (
    ImageReadError,
    check_source,
    decode,
    finish_image,
    load_image,
    open_image,
    orientation,
    source_name,
)

__all__ = [
    "AugmentationCfg",
    "EvalTransform",
    "ImageReadError",
    "PreprocessCfg",
    "image_transform",
    "image_transform_v2",
    "merge_preprocess_dict",
    "merge_preprocess_kwargs",
]

ImageSource = Image.Image | str | os.PathLike | BinaryIO


FAST_DRAFT_FACTOR = 2
FAST_REDUCING_GAP = 3.0
# Documented (and tested) worst-case difference of the fast path to the exact one, 0-255 units.
FAST_MAX_DIFF_255 = 12.0
FAST_MEAN_DIFF_255 = 1.0


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


# --- loading --------------------------------------------------------------------------------------------




# --- eval transform -------------------------------------------------------------------------------------


class EvalTransform:
    """Exact (open_clip-identical) or fast eval preprocessing: image/path/file -> float tensor [3, H, W]."""

    accepts_sources = True  # preprocess_batch passes paths straight through, so fast mode can draft

    def __init__(
        self,
        size: int | Sequence[int],
        mean: Sequence[float],
        std: Sequence[float],
        resize_mode: str = "shortest",
        interpolation: str = "bicubic",
        fill_color: float | Sequence[float] = 0,
        fast: bool = False,
    ) -> None:
        if resize_mode not in _RESIZE_SIZE:
            raise choice_error("resize_mode", resize_mode, RESIZE_MODES)
        if interpolation not in _RESAMPLE:
            raise choice_error("interpolation", interpolation, INTERPOLATIONS)
        if any(s == 0 for s in std):
            raise ValueError(f"std must not contain zeros, got {tuple(std)}")
        self.size = _to_hw(size)
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self.resize_mode, self.interpolation = resize_mode, interpolation
        self.fill_color, self.fast = fill_color, fast
        self._steps: list[Callable] | None = None  # built on first read of .transforms
        self._built_steps: tuple[Callable, ...] = ()
        self._luts: dict[torch.dtype, np.ndarray] = {}
        self._lut(torch.get_default_dtype())  # built now, not lazily inside worker threads
        self._mean32 = np.asarray(self.mean, dtype=np.float32).reshape(-1, 1, 1)
        self._std32 = np.asarray(self.std, dtype=np.float32).reshape(-1, 1, 1)
        # numpy ufuncs release the GIL (np.take does not), so worker threads scale with them; they are used
        # only when they give the lookup table's values for all 256 levels, i.e. for every possible pixel.
        levels = np.broadcast_to(np.arange(256, dtype=np.uint8), (3, 1, 256))
        self._ufunc_exact = np.array_equal(
            self._normalize32(levels).reshape(3, 256), self._lut(torch.float32)
        )

    def __repr__(self) -> str:
        return (
            f"EvalTransform(size={self.size}, resize_mode={self.resize_mode!r}, "
            f"interpolation={self.interpolation!r}, fill_color={self.fill_color}, fast={self.fast}, "
            f"mean={self.mean}, std={self.std})"
        )

    @property
    def transforms(self) -> list[Callable]:
        """open_clip's eval steps as torchvision transforms, as in its ``Compose``: resize, crop or pad, RGB,
        tensor, ``Normalize`` (``transforms[-1]``, with ``.mean``/``.std``).

        Edit the list as you would ``Compose.transforms`` (insert, replace, remove a step): once it differs from
        the steps built here, calling the transform runs the list's steps in order, as a ``Compose`` does. The
        first read imports torchvision.

        Returns:
            The list of steps (the same list object on every read).
        """
        if self._steps is None:
            self._steps = _torchvision_eval_steps(self)
            self._built_steps = tuple(self._steps)
        return self._steps

    @transforms.setter
    def transforms(self, steps: Sequence[Callable]) -> None:
        self._steps = list(steps)

    def _steps_edited(self) -> bool:
        built = self._built_steps
        return self._steps is not None and (
            len(self._steps) != len(built) or any(a is not b for a, b in zip(self._steps, built))
        )

    def _resample(self) -> Image.Resampling:
        # open_clip's non-square 'shortest' path builds ResizeKeepRatio without passing the interpolation.
        non_square_shortest = self.resize_mode == "shortest" and self.size[0] != self.size[1]
        if non_square_shortest and self.interpolation != "nearest":
            return Image.Resampling.BICUBIC
        return _RESAMPLE[self.interpolation]

    def resize_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) an image of the given size is resized to before crop/pad."""
        return _RESIZE_SIZE[self.resize_mode](width, height, self.size)

    def _geometry(self, img: Image.Image, size: tuple[int, int], box: Any = None, gap: Any = None):
        if img.size != size or box is not None:
            img = img.resize(size, self._resample(), box=box, reducing_gap=gap)
        if self.resize_mode == "squash":
            return img
        fill = self.fill_color if self.resize_mode == "longest" else 0
        return _center_crop_or_pad(img, self.size, fill)

    def _lut(self, dtype: torch.dtype) -> np.ndarray:
        """Per-channel table of the normalized value of each 8-bit level, shape [3, 256]."""
        lut = self._luts.get(dtype)
        if lut is None:
            # Same torch ops, dtype and order as ToTensor + Normalize on the 256 possible inputs, so a lookup
            # gives bit-identical values while staying single-threaded (torch's intra-op threads cost more
            # than they save on 224 px images and fight worker threads).
            levels = torch.arange(256).to(torch.uint8).repeat(3, 1).view(3, 1, 256)
            x = levels.to(dtype=dtype).div(255)
            mean = torch.as_tensor(self.mean, dtype=dtype).view(-1, 1, 1)
            std = torch.as_tensor(self.std, dtype=dtype).view(-1, 1, 1)
            lut = self._luts[dtype] = x.sub_(mean).div_(std).view(3, 256).numpy()
        return lut

    def _normalize32(self, chw: np.ndarray) -> np.ndarray:
        """(x / 255 - mean) / std in float32 with numpy ufuncs: ToTensor + Normalize's ops, in their order."""
        out = np.empty(chw.shape, dtype=np.float32)
        np.true_divide(chw, np.float32(255), out=out, dtype=np.float32)
        np.subtract(out, self._mean32, out=out)
        np.divide(out, self._std32, out=out)
        return out

    def _tensor(self, img: Image.Image) -> torch.Tensor:
        rgb = np.asarray(img if img.mode == "RGB" else img.convert("RGB"))
        if self._ufunc_exact and torch.get_default_dtype() == torch.float32:
            return torch.from_numpy(self._normalize32(rgb.transpose(2, 0, 1)))
        lut = self._lut(torch.get_default_dtype())
        out = np.empty((3, *rgb.shape[:2]), dtype=lut.dtype)
        for c in range(3):
            np.take(lut[c], rgb[:, :, c], out=out[c])
        return torch.from_numpy(out)

    def _exact(self, img: Image.Image, name: str) -> torch.Tensor:
        decode(img, name)
        return self._tensor(self._geometry(img, self.resize_size(*img.size)))

    def _drafted(self, img: Image.Image, name: str) -> torch.Tensor:
        size = self.resize_size(*img.size)
        wanted = (size[0] * FAST_DRAFT_FACTOR, size[1] * FAST_DRAFT_FACTOR)
        drafted = img.draft(None, wanted)
        box = drafted[1] if drafted is not None else None
        decode(img, name)
        return self._tensor(self._geometry(img, size, box=box, gap=FAST_REDUCING_GAP))

    def __call__(self, src: ImageSource) -> torch.Tensor:
        """Preprocess one image (PIL image, path or binary file object) to a normalized [3, H, W] tensor."""
        check_source(src)
        if self._steps_edited():
            out = load_image(src)
            for step in self._steps:
                out = step(out)
            return out
        if isinstance(src, Image.Image):
            return self._exact(src, source_name(src))
        name = source_name(src)
        with open_image(src) as img:
            # A JPEG stored upright can be scaled while it is decoded; a rotated one needs its pixels first.
            if self.fast and img.format == "JPEG" and orientation(img) == 1:
                return self._drafted(img, name)
            return self._exact(finish_image(img, name), name)


def _torchvision_eval_steps(t: EvalTransform) -> list[Callable]:
    """The torchvision steps of open_clip 3.3.0's eval ``Compose`` for ``t``'s settings (same pixels as ``t``)."""
    from torchvision.transforms import CenterCrop, InterpolationMode, Normalize, Resize

    from .torchvision_ops import CenterCropOrPad, MaybeConvertMode, MaybeToTensor, ResizeKeepRatio

    mode = InterpolationMode(t._resample().name.lower())
    height, width = t.size
    if t.resize_mode == "longest":
        steps = [
            ResizeKeepRatio(t.size, interpolation=mode, longest=1),
            CenterCropOrPad(t.size, fill=t.fill_color),
        ]
    elif t.resize_mode == "squash":
        steps = [Resize(t.size, interpolation=mode)]
    else:  # shortest: a square target is torchvision's Resize(int); a non-square one keeps the ratio
        resize = (
            Resize(height, interpolation=mode)
            if height == width
            else ResizeKeepRatio(t.size, interpolation=mode)
        )
        steps = [resize, CenterCrop(t.size)]
    return [*steps, MaybeConvertMode(), MaybeToTensor(), Normalize(mean=t.mean, std=t.std)]


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
