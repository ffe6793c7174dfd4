"""The PIL side of eval preprocessing, torch-free: interpolation names, resize sizes, pad-then-center-crop.

One implementation for :mod:`clipzoo.preprocess.transforms` (which then makes torch tensors) and the torch-free ONNX
runtime (:mod:`clipzoo.onnx.preprocess`, numpy arrays), so both resize and crop every image identically; the
arithmetic is torchvision's/open_clip's, which keeps the transforms bit-identical to open_clip's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PIL import Image, ImageOps

Size2 = tuple[int, int]  # (height, width)

RESAMPLE = {  # keys: preprocess_cfg.INTERPOLATIONS; 'random' is bicubic at eval, as in open_clip
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "nearest": Image.Resampling.NEAREST,
    "random": Image.Resampling.BICUBIC,
}


# --- (source width, height) + target -> resize size (width, height) ---------------------------------------


def _size_shortest_square(w: int, h: int, target: Size2) -> tuple[int, int]:
    # torchvision Resize(int): the short side becomes `side`, the long side int(side * long / short).
    side = target[0]
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(side * long / short)
    return (side, new_long) if w <= h else (new_long, side)


def _size_keep_ratio(w: int, h: int, target: Size2, longest: bool) -> tuple[int, int]:
    # open_clip's ResizeKeepRatio with longest in {0, 1}: divide by the max (or min) side ratio, round.
    ratio_h, ratio_w = h / target[0], w / target[1]
    ratio = max(ratio_h, ratio_w) if longest else min(ratio_h, ratio_w)
    new_h, new_w = round(h / ratio), round(w / ratio)
    return max(new_w, 1), max(new_h, 1)


def _size_shortest(w: int, h: int, target: Size2) -> tuple[int, int]:
    if target[0] == target[1]:
        return _size_shortest_square(w, h, target)
    return _size_keep_ratio(w, h, target, longest=False)


def _size_longest(w: int, h: int, target: Size2) -> tuple[int, int]:
    return _size_keep_ratio(w, h, target, longest=True)


def _size_squash(w: int, h: int, target: Size2) -> tuple[int, int]:
    return target[1], target[0]


RESIZE_SIZE: dict[str, Callable[[int, int, Size2], tuple[int, int]]] = {
    "shortest": _size_shortest,
    "longest": _size_longest,
    "squash": _size_squash,
}


def pad_fill(img: Image.Image, fill: float | Sequence[float]) -> float | tuple[float, ...]:
    """Fill value in the form torchvision's PIL pad passes to ImageOps.expand (ints but for mode 'F').

    Raises:
        ValueError: a fill tuple whose length is not the image's band count.
    """
    bands = len(img.getbands())
    values = fill if isinstance(fill, (int, float)) else tuple(fill)
    if isinstance(values, (int, float)) and bands > 1:
        values = (values,) * bands
    if isinstance(values, tuple):
        values = values * bands if len(values) == 1 else values
        if len(values) != bands:
            raise ValueError(f"fill_color has {len(values)} values but the image has {bands} bands")
    if img.mode == "F":
        return values
    return tuple(int(x) for x in values) if isinstance(values, tuple) else int(values)


def center_crop_or_pad(img: Image.Image, target: Size2, fill: float | Sequence[float]) -> Image.Image:
    """Pad (left/top get the smaller half) then center-crop to target, as torchvision/open_clip do."""
    crop_h, crop_w = target
    w, h = img.size
    if crop_w > w or crop_h > h:
        pad_w, pad_h = max(crop_w - w, 0), max(crop_h - h, 0)
        border = (pad_w // 2, pad_h // 2, (pad_w + 1) // 2, (pad_h + 1) // 2)
        palette = img.getpalette() if img.mode == "P" else None
        # PIL's stubs type fill as ints; a mode 'F' image takes (and needs) a float
        img = ImageOps.expand(img, border=border, fill=pad_fill(img, fill))  # type: ignore[arg-type]
        if palette is not None:
            img.putpalette(palette)
        w, h = img.size
        if (w, h) == (crop_w, crop_h):
            return img
    top = int(round((h - crop_h) / 2.0))
    left = int(round((w - crop_w) / 2.0))
    return img.crop((left, top, left + crop_w, top + crop_h))
