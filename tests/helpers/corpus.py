"""Corpora for the corpus tests: held-out digits written as image files, broken files, tar shards, lists."""

from __future__ import annotations

import io
import struct
import tarfile
import zlib
from pathlib import Path

MODEL = {"model": "tiny-digits", "pretrained": "sklearn_digits"}
# the broken files every corpus folder gets, and the reason words clipzoo must report for each
BROKEN = {
    "broken.jpg": "identify",
    "empty.png": "identify",
    "truncated.jpg": "truncated",
    "huge.png": "pixels",
}


def digit_images(count: int, start: int = 0) -> list[tuple[object, int]]:
    """``count`` held-out digits (PIL images, labels) shipped with clipzoo."""
    from clipzoo.demo.digits import load_heldout

    images, labels = load_heldout()
    return list(zip(images, labels))[start : start + count]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png_header() -> bytes:
    """A PNG whose header claims 100000 x 100000 pixels (over PIL's decompression-bomb limit), 60 bytes long."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", b"x")
        + _png_chunk(b"IEND", b"")
    )


def write_broken(folder: Path, images: list) -> None:
    """The files of ``BROKEN`` in ``folder``."""
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    (folder / "empty.png").write_bytes(b"")
    buffer = io.BytesIO()
    images[0][0].resize((256, 256)).save(buffer, format="JPEG")
    (folder / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (folder / "huge.png").write_bytes(huge_png_header())


def digit_folder(folder: Path, count: int, broken: bool = True, captions: bool = False) -> Path:
    """``count`` digits as ``NNN_label.png`` (sorted = written order), the broken files, optional captions."""
    folder.mkdir(parents=True, exist_ok=True)
    images = digit_images(count)
    for i, (image, label) in enumerate(images):
        image.save(folder / f"{i:04d}_{label}.png")
        if captions:
            (folder / f"{i:04d}_{label}.txt").write_text(f"a photo of the digit {label}.")
    if broken:
        write_broken(folder, images)
    return folder


def digit_shard(path: Path, count: int, start: int = 0) -> Path:
    """A WebDataset shard: ``KEY.png`` + ``KEY.txt`` + ``KEY.json`` per sample."""
    with tarfile.open(path, "w") as tar:
        for i, (image, label) in enumerate(digit_images(count, start)):
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            for ext, data in (("png", buffer.getvalue()), ("txt", f"digit {label}".encode()),
                              ("json", f'{{"label": {label}, "key": "{i:05d}"}}'.encode())):  # fmt: skip
                info = tarfile.TarInfo(f"{start + i:05d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def read_output(out: Path):
    """All image embeddings (as written) and metadata rows of an embedded folder, in part order."""
    import numpy as np
    import pyarrow.parquet as pq

    embs = [np.load(p) for p in sorted((out / "img_emb").glob("*.npy"))]
    rows = [r for p in sorted((out / "metadata").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]
    return np.concatenate(embs), rows
