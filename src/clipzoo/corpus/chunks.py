"""The work both engines share: the item stream cut into parts and batches, and the preprocessing of one batch.

A part is ``part_size`` consecutive items; a chunk is up to ``batch_size`` consecutive items of one part (never
across parts), and is what a worker preprocesses and the model encodes in one call. The cut depends only on the
arguments, so every run, engine and resume gives the model the same batches, and a model whose numbers depend on
the batch (dynamic int8 quantization scales activations per batch) still writes the same embeddings.

:func:`preprocess_chunk` runs in the workers (local worker processes, Ray tasks): it reads each image's bytes
(a file, or an offset inside a tar), decodes and preprocesses it with the torch-free preprocessor (bit-identical
to clipzoo's eval transform), and turns any error of an item into a failure ``(position, reason)``; it never
raises for a bad image.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..sizes import to_hw
from .sources import Item

__all__ = ["Chunk", "ChunkResult", "chunk_stream", "encode_chunk", "preprocess_chunk"]


@dataclass
class Chunk:
    """Up to ``batch_size`` consecutive items of part ``part``: ``(position in the stream, item)`` each.

    ``last`` marks the part's final chunk (the driver then writes the part).
    """

    part: int
    items: list[tuple[int, Item]]
    last: bool = False

    def image_specs(self) -> list[tuple[int, str | None, int | None, int | None]]:
        """What a worker needs to read each image: ``(position, file, offset, size)`` (small and picklable)."""
        return [(pos, item.file, item.offset, item.size) for pos, item in self.items]


@dataclass
class ChunkResult:
    """A chunk encoded: embeddings of the items that worked (in order), and the items that failed."""

    chunk: Chunk
    ok: list[int]
    image: np.ndarray | None
    text: np.ndarray | None
    failures: list[tuple[int, str]] = field(default_factory=list)


def chunk_stream(
    items: Iterator[Item], n_items: int, part_size: int, batch_size: int, done: set[int]
) -> Iterator[Chunk]:
    """Cut the stream of ``n_items`` items into chunks, skipping the parts in ``done`` (read past, not decoded)."""
    current: list[tuple[int, Item]] = []
    for position, item in enumerate(items):
        part = position // part_size
        if part not in done:
            current.append((position, item))
        end_of_part = (position + 1) % part_size == 0 or position + 1 == n_items
        if current and (len(current) == batch_size or end_of_part):
            yield Chunk(part, current, last=end_of_part)
            current = []


def _read_bytes(file: str, offset: int | None, size: int | None) -> Any:
    if offset is None:
        return file
    with open(file, "rb") as handle:
        handle.seek(offset)
        data = handle.read(size)
    if len(data) != size:
        raise OSError(f"the tar member ends early ({len(data)} of {size} bytes)")
    return io.BytesIO(data)


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


@functools.lru_cache(maxsize=4)
def _preprocessor(cfg_json: str, fast: bool) -> Any:
    """The worker's preprocessor, built once per process: exact (PIL + numpy, no torch) or fast (drafted JPEGs)."""
    cfg = json.loads(cfg_json)
    if not fast:
        from ..onnx.preprocess import ImagePreprocessor  # PIL + numpy only: exact workers never import torch

        return ImagePreprocessor(cfg)
    from ..preprocess.config import PreprocessCfg
    from ..preprocess.transforms import image_transform_v2

    names = {f.name for f in dataclasses.fields(PreprocessCfg)}
    transform = image_transform_v2(
        PreprocessCfg(**{k: v for k, v in cfg.items() if k in names}), False, fast=True
    )
    return lambda src: transform(src).numpy()


def preprocess_chunk(
    cfg: dict[str, Any], specs: list[tuple[int, str | None, int | None, int | None]], fast: bool = False
) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
    """Preprocess a chunk's images: ``(pixels [n_ok, 3, H, W] float32, positions that worked, failures)``.

    Args:
        cfg: The model's preprocess config (size, mean, std, interpolation, resize_mode, fill_color).
        specs: ``(position, file, offset, size)`` per item (:meth:`Chunk.image_specs`); ``file`` None means
            the item has no image (a failure in an image corpus).
        fast: Decode JPEGs at a reduced scale (``Image.draft``: clipzoo's fast eval transform; at most 5/255
            from the exact pixels on camera photos, several times faster on large JPEGs); exact otherwise.
    """
    preprocess = _preprocessor(json.dumps(cfg, sort_keys=True), fast)
    rows, ok, failures = [], [], []
    for position, file, offset, size in specs:
        if file is None:
            failures.append((position, "no image in this item"))
            continue
        try:
            rows.append(preprocess(_read_bytes(file, offset, size)))
        except Exception as err:  # noqa: BLE001 - any broken image is listed and skipped, never stops the run
            failures.append((position, _reason(err)))
        else:
            ok.append(position)
    height, width = to_hw(cfg.get("size", 224))
    pixels = np.stack(rows) if rows else np.zeros((0, 3, height, width), dtype=np.float32)
    return pixels, ok, failures


def encode_chunk(
    encoder: Any,
    chunk: Chunk,
    prepared: tuple[np.ndarray, list[int], list[tuple[int, str]]] | None,
    with_text: bool,
) -> ChunkResult:
    """Encode a preprocessed chunk (``prepared`` from :func:`preprocess_chunk`; None for a caption-only corpus)."""
    failures: list[tuple[int, str]]
    if prepared is None:
        ok, failures, image = [pos for pos, _ in chunk.items], [], None
    else:
        pixels, ok, failures = prepared
        image = encoder.encode_images(pixels) if len(ok) else np.zeros((0, encoder.embed_dim), np.float32)
    text = None
    if with_text:
        captions = dict(chunk.items)
        texts = [captions[pos].caption or "" for pos in ok]
        text = encoder.encode_texts(texts) if texts else np.zeros((0, encoder.embed_dim), np.float32)
    return ChunkResult(chunk, ok, image, text, failures)
