"""The one loader for image files (PIL + numpy, no torch): every clipzoo helper and command that opens a path or
a file object goes through :func:`load_image` (or :func:`open_image` + :func:`finish_image`).

What it does beyond ``PIL.Image.open``, and why (open_clip does none of it; a PIL image passed in by the caller is
never changed, so transforms of PIL images stay bit-identical to open_clip):

- **EXIF orientation** is applied (``ImageOps.exif_transpose``): phone photos are stored sideways with an
  orientation tag, and a model shown the stored pixels sees them rotated.
- **16-bit and float pixels are scaled to 8 bits** instead of being clipped by PIL's mode conversion (which turns
  every 16-bit value above 255 into white): ``I;16*`` and ``I`` (16-bit PNG/TIFF grey) map 0..65535 to 0..255
  rounding to nearest (``I`` values outside 0..65535 are clipped first); ``F`` (float TIFF) is taken as 0..1 when
  its maximum is <= 1, else as 0..255, clipped and rounded (NaN -> 0). 16-bit RGB(A) PNGs arrive as 8-bit RGB(A)
  from Pillow itself (the high byte of each sample: within one level of exact rounding).
- **Errors are typed and name the file**: :class:`ImageNotFoundError` (also a ``FileNotFoundError``),
  :class:`ImageReadError` (not an image, truncated, corrupt) and :class:`ImageTooLargeError` for images over PIL's
  decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``), in one line that says how to raise the limit: in
  Python set ``PIL.Image.MAX_IMAGE_PIXELS`` (None turns the check off); on the command line set the environment
  variable ``CLIPZOO_MAX_IMAGE_PIXELS`` (a number of pixels, or ``none``), which the loader applies to PIL.
"""

from __future__ import annotations

import os
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps

from ..errors import ImageNotFoundError, ImageReadError, ImageTooLargeError, PixelLimitError

__all__ = [
    "ImageNotFoundError",
    "ImageReadError",
    "ImageTooLargeError",
    "MAX_PIXELS_ENV",
    "PixelLimitError",
    "finish_image",
    "load_image",
    "open_image",
    "orientation",
    "to_8bit",
]

MAX_PIXELS_ENV = "CLIPZOO_MAX_IMAGE_PIXELS"
_ORIENTATION_TAG = 0x0112
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


def source_name(src: Any) -> str:
    """The path of a path or file source, else a short description (for messages)."""
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    name = getattr(src, "filename", None) or getattr(src, "name", None)
    return str(name) if name else f"<{type(src).__name__}>"


def _apply_pixel_limit_from_env() -> None:
    value = os.environ.get(MAX_PIXELS_ENV)
    if value is None or not value.strip():
        return
    text = value.strip().lower()
    if text in ("none", "off", "0"):
        Image.MAX_IMAGE_PIXELS = None
    elif text.isdigit():
        Image.MAX_IMAGE_PIXELS = int(text)
    else:
        raise PixelLimitError(
            f"{MAX_PIXELS_ENV}={value!r} is not a number of pixels (or 'none' to turn the check off)"
        )


def _too_large(name: str, err: Exception) -> ImageTooLargeError:
    limit = Image.MAX_IMAGE_PIXELS
    text = " ".join(str(err).split()).rstrip(".")
    return ImageTooLargeError(
        f"{name}: {text} (PIL refuses images over twice PIL.Image.MAX_IMAGE_PIXELS = {limit}); if you trust "
        f"the file, raise the limit: PIL.Image.MAX_IMAGE_PIXELS = <pixels> (None: no limit) in Python, "
        f"{MAX_PIXELS_ENV}=<pixels> (or none) on the command line"
    )


def open_image(src: str | os.PathLike | BinaryIO) -> Image.Image:
    """``PIL.Image.open`` (header only, pixels not decoded yet) with typed errors that name the file.

    Raises:
        ImageNotFoundError: the path does not exist.
        ImageTooLargeError: over the decompression-bomb limit.
        ImageReadError: not an image PIL can identify, or unreadable.
    """
    name = source_name(src)
    _apply_pixel_limit_from_env()
    try:
        return Image.open(src)
    except Image.DecompressionBombError as err:
        raise _too_large(name, err) from err
    except FileNotFoundError as err:
        raise ImageNotFoundError(f"image file {name!r} does not exist") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"cannot open image {name}: {err}") from err


def orientation(img: Image.Image) -> int:
    """The EXIF orientation (1..8; 1 = stored upright) of an opened image."""
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not stop the image from loading
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def to_8bit(img: Image.Image) -> Image.Image:
    """16-bit (``I;16*``, ``I``) and float (``F``) images scaled to 8-bit ``L``; other modes as they are."""
    if img.mode in _SIXTEEN_BIT or img.mode == "I":
        data = np.asarray(img).astype(np.int64)
        data = np.clip(data, 0, 65535)
        scaled = (data * 255 + 32767) // 65535  # round to nearest
        return Image.fromarray(scaled.astype(np.uint8), mode="L")
    if img.mode == "F":
        floats = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if floats.size and floats.max() <= 1.0:
            floats = floats * 255.0
        return Image.fromarray(np.clip(np.rint(floats), 0, 255).astype(np.uint8), mode="L")
    return img


def check_source(src: Any) -> None:
    """Raise TypeError unless ``src`` is a PIL image, a path or a binary file object (what the loader takes)."""
    if src is None:
        raise TypeError("image is None; expected a PIL.Image.Image, a path or a binary file object")
    if not isinstance(src, (Image.Image, str, os.PathLike)) and not hasattr(src, "read"):
        raise TypeError(
            f"unsupported image type {type(src).__name__}; expected a PIL.Image.Image, a path "
            "or a binary file object (tensors and arrays are not accepted)"
        )


def decode(img: Image.Image, name: str | None = None) -> Image.Image:
    """Decode an image's pixels now (in place), so a truncated or corrupt file fails here, naming the file.

    Raises:
        ImageTooLargeError: over the decompression-bomb limit.
        ImageReadError: truncated or corrupt pixel data.
    """
    name = name or source_name(img)
    try:
        img.load()
    except Image.DecompressionBombError as err:
        raise _too_large(name, err) from err
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"cannot decode image {name}: {err}") from err
    return img


def check_image_file(path: str | os.PathLike) -> None:
    """Fail early, naming the file, when it is missing or not an image (reads only the header).

    Raises:
        ImageNotFoundError: the file does not exist.
        ImageReadError: PIL cannot identify it.
    """
    with open_image(path):
        pass


def finish_image(img: Image.Image, name: str | None = None) -> Image.Image:
    """Decode an opened file image now (errors name the file), apply its EXIF orientation, scale it to 8 bits.

    Returns ``img`` itself when nothing had to change, else a new image.

    Raises:
        ImageTooLargeError: over the decompression-bomb limit (checked again when a frame is decoded).
        ImageReadError: truncated or corrupt pixel data.
    """
    decode(img, name)
    if orientation(img) != 1:
        img = ImageOps.exif_transpose(img)
    return to_8bit(img)


def load_image(src: Image.Image | str | os.PathLike | BinaryIO) -> Image.Image:
    """Open, decode, orient and scale an image file to 8 bits (see the module docstring).

    A ``PIL.Image.Image`` is only decoded (in place) and returned as it is: the caller already chose its pixels.

    Args:
        src: a path, a binary file object, or a PIL image.

    Returns:
        The decoded image (mode as stored, except 16-bit/float modes, which become ``L``).

    Raises:
        TypeError: ``src`` is none of the above.
        ImageNotFoundError, ImageTooLargeError, ImageReadError: see :func:`open_image` and :func:`finish_image`.
    """
    check_source(src)
    if isinstance(src, Image.Image):
        return decode(src)
    img = open_image(src)
    try:
        out = finish_image(img, source_name(src))
    except BaseException:
        img.close()
        raise
    if out is not img:
        img.close()
    return out
