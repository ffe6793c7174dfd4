"""The one image loader (clipzoo.preprocess.images) on hostile files: EXIF orientation, 16-bit and float images,
decompression bombs, missing and broken files."""

from __future__ import annotations

import pytest
import torch

from clipzoo.cli import main
from tests.helpers.cli import one_line

# --- image files: one loader ----------------------------------------------------------------------------


def _png16(array) -> bytes:
    """A 16-bit RGB PNG (Pillow cannot write one), from a uint16 array [H, W, 3]."""
    import struct
    import zlib

    height, width, _ = array.shape
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_exif_orientation_is_applied_to_files_only(tmp_path):
    import numpy as np
    from PIL import Image, ImageOps

    from clipzoo.preprocess import images
    from clipzoo.preprocess.transforms import image_transform

    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :20] = (255, 0, 0)  # left half red: after a 90 degree turn it is the top (or bottom) half
    stored = Image.fromarray(pixels)
    exif = stored.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    path = tmp_path / "phone.png"
    stored.save(path, exif=exif)
    loaded = images.load_image(path)
    assert loaded.size == (20, 40)
    upright = ImageOps.exif_transpose(Image.open(path))
    assert np.array_equal(np.asarray(loaded), np.asarray(upright))
    transform = image_transform(16, False)
    assert torch.equal(transform(str(path)), transform(upright))  # a path: the upright pixels
    assert torch.equal(transform(Image.open(path)), transform(stored))  # a PIL image: untouched (open_clip)
    from clipzoo.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
    from clipzoo.onnx.preprocess import ImagePreprocessor

    onnx_pre = ImagePreprocessor({"size": 16, "mean": OPENAI_DATASET_MEAN, "std": OPENAI_DATASET_STD})
    # the torch-free ONNX runtime reads files the same way
    assert np.array_equal(onnx_pre(str(path)), transform(str(path)).numpy())


def test_sixteen_bit_and_float_images_are_scaled_not_saturated(tmp_path):
    import numpy as np
    from PIL import Image

    from clipzoo.preprocess import images

    ramp = np.linspace(0, 65535, 64 * 4).round().astype(np.uint16).reshape(4, 64)
    expected = (ramp.astype(np.int64) * 255 + 32767) // 65535
    gray16 = tmp_path / "gray16.png"
    Image.fromarray(ramp).save(gray16)
    assert Image.open(gray16).mode == "I;16"
    assert (
        np.asarray(Image.open(gray16).convert("L")).min() == 0
        and (np.asarray(Image.open(gray16).convert("L")) == 255).mean() > 0.9
    )  # what PIL alone gives: saturated
    loaded = images.load_image(gray16)
    assert loaded.mode == "L" and np.array_equal(np.asarray(loaded), expected)
    tiff_i = tmp_path / "gray32.tif"
    Image.fromarray(ramp.astype(np.int32), mode="I").save(tiff_i)
    assert np.array_equal(np.asarray(images.load_image(tiff_i)), expected)
    tiff_f = tmp_path / "float.tif"
    Image.fromarray((ramp / 65535).astype(np.float32), mode="F").save(tiff_f)
    got_f = np.asarray(images.load_image(tiff_f)).astype(int)
    assert np.abs(got_f - np.rint(ramp / 65535 * 255)).max() == 0
    rgb16 = tmp_path / "rgb16.png"
    rgb = np.stack([ramp, 65535 - ramp, np.full_like(ramp, 40000)], axis=-1)
    rgb16.write_bytes(_png16(rgb))
    got = np.asarray(images.load_image(rgb16)).astype(int)
    assert np.abs(got - np.rint(rgb / 257)).max() <= 1 and got[..., 2].min() == got[..., 2].max() == 156


def test_decompression_bomb_is_one_line_with_how_to_raise_it(tmp_path, monkeypatch, tiny_folder, capsys):
    from PIL import Image

    from clipzoo.preprocess import images

    path = tmp_path / "big.png"
    Image.new("L", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    monkeypatch.delenv(images.MAX_PIXELS_ENV, raising=False)
    with pytest.raises(images.ImageTooLargeError) as info:
        images.load_image(path)
    message = str(info.value)
    assert isinstance(info.value, Image.DecompressionBombError) and "\n" not in message
    assert message.startswith(f"{path}: Image size (10000 pixels) exceeds limit of 2000 pixels")
    assert (
        "PIL.Image.MAX_IMAGE_PIXELS = <pixels>" in message and "CLIPZOO_MAX_IMAGE_PIXELS=<pixels>" in message
    )
    argv = ["classify", str(path), "--model", "hostile-a", "--random-weights", "--labels", "a", "b"]
    assert main(argv) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("clipzoo: error: ") and "exceeds limit of 2000 pixels" in line
    assert "CLIPZOO_MAX_IMAGE_PIXELS" in line
    monkeypatch.setenv(images.MAX_PIXELS_ENV, "none")
    assert images.load_image(path).size == (100, 100)
    monkeypatch.setenv(images.MAX_PIXELS_ENV, "lots")
    with pytest.raises(images.PixelLimitError, match=r"CLIPZOO_MAX_IMAGE_PIXELS='lots' is not a number"):
        images.load_image(path)


def test_missing_and_broken_image_files(tmp_path):
    from clipzoo.preprocess import images
    from clipzoo.preprocess.transforms import image_transform

    with pytest.raises(images.ImageNotFoundError, match=r"image file '.*nope.png' does not exist"):
        images.load_image(tmp_path / "nope.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(images.ImageReadError, match=r"cannot open image .*broken.png"):
        image_transform(16, False)(str(broken))
