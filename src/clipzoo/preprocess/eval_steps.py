"""The eval transform: open_clip 3.3.0's eval preprocessing with PIL and numpy, and its torchvision steps.

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
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image

from ..errors import choice_error
from ..sizes import to_hw as _to_hw
from .config import INTERPOLATIONS, RESIZE_MODES
from .geometry import RESAMPLE as _RESAMPLE
from .geometry import RESIZE_SIZE as _RESIZE_SIZE
from .geometry import center_crop_or_pad as _center_crop_or_pad
from .images import check_source, decode, finish_image, load_image, open_image, orientation, source_name

__all__ = ["EvalTransform", "ImageSource"]

ImageSource = Image.Image | str | os.PathLike | BinaryIO


FAST_DRAFT_FACTOR = 2
FAST_REDUCING_GAP = 3.0
# Documented (and tested) worst-case difference of the fast path to the exact one, 0-255 units.
FAST_MAX_DIFF_255 = 12.0
FAST_MEAN_DIFF_255 = 1.0


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
            out: Any = load_image(src)
            for step in self.transforms:  # the edited steps
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
