"""``clipzoo.search(DIR, queries)``: top-k cosine search of a folder written by :func:`clipzoo.embed`.

The queries are embedded with the model the manifest names (text by default, image files with ``image=True``)
and scored against the image embeddings (the text embeddings of a caption-only corpus). Exact search reads the
parts memory-mapped, ``CHUNK_ROWS`` rows at a time, and keeps a running top-k: any corpus that fits on disk,
in memory bounded by the chunk. When ``DIR/index/`` holds a faiss index as clip-retrieval's ``index`` step
writes it (``image.index``, ``text.index``: autofaiss, inner product over the parts in file order), it is used
instead (memory-mapped; the ``faiss`` extra).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from .encoder import EncoderRequest, build_encoder, check_request
from .layout import PART_FILES, Manifest

__all__ = ["CHUNK_ROWS", "SearchHit", "search"]

CHUNK_ROWS = 65_536
INDEX_FOLDER = "index"
# which embeddings a query is scored against -> (part kind, clip-retrieval's index file name)
TARGETS = {"image": ("image", "image.index"), "text": ("text", "text.index")}


@dataclass(frozen=True)
class SearchHit:
    """One result of :func:`search`.

    Attributes:
        score: Cosine similarity to the query (inner product of normalized embeddings).
        part: The part it is in (``k`` of ``img_emb_{k}.npy``).
        row: Its row in that part.
        index: Its row in the whole corpus (parts in order): the row of a faiss index built over the folder.
        image_path: The metadata's ``image_path`` (None in a caption-only corpus).
        caption: The metadata's ``caption`` (None when the corpus has none).
    """

    score: float
    part: int
    row: int
    index: int
    image_path: str | None
    caption: str | None


def _parts(folder: Path, kind: str) -> list[Path]:
    """The part files of ``kind``, in part order (their zero-padded names sort in it)."""
    sub, pattern = PART_FILES[kind]
    return sorted((folder / sub).glob(pattern.format(k="*")))


def _exact(parts: list[Path], queries: np.ndarray, top: int) -> list[list[tuple[float, int]]]:
    """Running top-k over every part, CHUNK_ROWS rows at a time: per query ``(score, corpus row)``, best first."""
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    offset = 0
    for path in parts:
        emb = np.load(path, mmap_mode="r")
        for start in range(0, len(emb), CHUNK_ROWS):
            block = np.asarray(emb[start : start + CHUNK_ROWS], dtype=np.float32)
            scores = queries @ block.T
            rows = np.broadcast_to(np.arange(offset + start, offset + start + len(block)), scores.shape)
            best_scores = np.concatenate([best_scores, scores], axis=1)
            best_rows = np.concatenate([best_rows, rows], axis=1)
            if best_scores.shape[1] > top:
                keep = np.argpartition(-best_scores, top - 1, axis=1)[:, :top]
                best_scores = np.take_along_axis(best_scores, keep, 1)
                best_rows = np.take_along_axis(best_rows, keep, 1)
        offset += len(emb)
    order = np.argsort(-best_scores, axis=1, kind="stable")
    return [[(float(best_scores[q, i]), int(best_rows[q, i])) for i in order[q]] for q in range(len(queries))]


def _faiss(index_file: Path, queries: np.ndarray, top: int) -> list[list[tuple[float, int]]]:
    import faiss

    index = faiss.read_index(str(index_file), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    scores, rows = index.search(np.ascontiguousarray(queries, dtype=np.float32), top)
    return [[(float(s), int(r)) for s, r in zip(sq, rq) if r >= 0] for sq, rq in zip(scores, rows)]


def _hits(folder: Path, parts: list[Path], found: list[tuple[float, int]]) -> list[SearchHit]:
    """Attach each hit's part, row and metadata (reading only the metadata files hit)."""
    import pyarrow.parquet as pq

    sizes = np.cumsum([0, *(np.load(p, mmap_mode="r").shape[0] for p in parts)])
    tables: dict[int, Any] = {}
    hits = []
    for score, index in found:
        part = int(np.searchsorted(sizes, index, side="right") - 1)
        row = index - int(sizes[part])
        number = parts[part].stem.rsplit("_", 1)[1]
        if part not in tables:
            sub, pattern = PART_FILES["metadata"]
            tables[part] = pq.read_table(folder / sub / pattern.format(k=number)).to_pylist()
        meta = tables[part][row]
        hits.append(SearchHit(score, int(number), row, index, meta.get("image_path"), meta.get("caption")))
    return hits


def _embed_queries(encoder: Any, queries: Sequence[str], image: bool) -> np.ndarray:
    if not image:
        return encoder.encode_texts(list(queries))
    from ..onnx.preprocess import ImagePreprocessor

    preprocess = ImagePreprocessor(encoder.preprocess_cfg)
    return encoder.encode_images(np.stack([preprocess(path) for path in queries]))


def search(
    folder: str | os.PathLike,
    queries: str | Sequence[str],
    top: int = 10,
    *,
    image: bool = False,
    random_weights: bool = False,
    cache_dir: str | None = None,
) -> list[list[SearchHit]]:
    """Top-``top`` corpus items for each query, best first, by cosine similarity.

    Args:
        folder: A folder written by :func:`clipzoo.embed`.
        queries: Texts, or image files with ``image=True``.
        top: Results per query.
        image: The queries are image files.
        random_weights: Allow searching a corpus embedded with random weights (the same seeded model is built).
        cache_dir: Where downloaded weights are cached.

    Returns:
        One list of :class:`SearchHit` per query.

    Raises:
        InputError: ``folder`` holds no clipzoo_embed manifest or no embeddings, or ``top`` is below 1.
    """
    folder = Path(os.path.expanduser(os.fspath(folder)))
    queries = [queries] if isinstance(queries, str) else list(queries)
    if not isinstance(top, int) or top < 1:
        raise InputError(f"top must be a positive integer, got {top!r}")
    manifest = Manifest.read(folder) if folder.is_dir() else None
    if manifest is None:
        raise InputError(f"{folder} holds no clipzoo_embed.json: embed a corpus there first (clipzoo embed)")
    identity = manifest.identity
    request = EncoderRequest(identity["model"], identity["pretrained"], identity["onnx"], identity["precision"],
                             "cpu", cache_dir)  # fmt: skip
    check_request(request, random_weights)
    target = "image" if manifest.info.get("images", True) else "text"
    kind, index_name = TARGETS[target]
    parts = _parts(folder, kind)
    if not parts:
        raise InputError(f"{folder} holds no {kind} embeddings yet")
    encoder = build_encoder(request)
    embedded = _embed_queries(encoder, queries, image).astype(np.float32)
    index_file = folder / INDEX_FOLDER / index_name
    found = _faiss(index_file, embedded, top) if index_file.is_file() else _exact(parts, embedded, top)
    return [_hits(folder, parts, per_query) for per_query in found]
