"""``clipzoo.embed(...)``: check everything, then stream the corpus through an engine into parts on disk.

Before any work (status 2 on the command line): the sources exist and can be read, the model and tag resolve and
have weights (or ``random_weights``), and ``out`` is new, empty, this same run's (then it resumes) or, with
``overwrite``, a folder clipzoo wrote. Then the items are counted (a pass that keeps nothing), the model is
built once here, and the engine, chosen by name from ``ENGINES``, turns chunks into embeddings; this module
assembles them into parts and writes each part and the manifest as soon as the part is complete.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..files import AtomicTarget, check_replaceable, unfinished_writes
from .chunks import ChunkResult, chunk_stream
from .encoder import (
    EmbedOptionError,
    EncoderRequest,
    auto_batch_size,
    build_encoder,
    check_choice,
    check_request,
)
from .layout import MANIFEST_FILE, OUTPUT_DTYPES, Manifest, PartResult, open_output, write_part
from .sources import SourceError, SourceOptions, check_sources, count_items, iter_items

__all__ = ["ENGINES", "EmbedSummary", "embed"]

logger = logging.getLogger("clipzoo")

# engine name -> its module in this package, imported only when chosen (Ray is an optional extra); each has
# prepare(address) (start or join what it runs on), run_chunks(chunks, encoder, context) yielding results in chunk
# order, and default_workers(device)
ENGINES = {"local": "local", "ray": "ray_engine"}
# engine -> (the package it needs, how to install it)
ENGINE_PACKAGES = {"ray": ("ray", "uv pip install 'clipzoo[ray]' (the ray extra: ray[data])")}
DEFAULT_PART_SIZE = 10_000


@dataclass
class EmbedSummary:
    """What a run of :func:`embed` did.

    Attributes:
        out: The output folder.
        items: Items in the corpus (all parts).
        embedded: Items with embeddings in the output (all parts).
        failed: Items skipped (all parts); ``failures`` lists them.
        parts: Parts in the output.
        parts_written: Parts this call wrote (the others were done by an earlier, interrupted run).
        seconds: Wall time of this call.
        items_per_second: Items this call processed per second (counting, model load and writing included).
        stream_seconds: Wall time from the first chunk to the last part written (the pipeline's work: model
            load and counting excluded; an engine's own start inside the stream, such as Ray's actors loading the
            model, included).
        inference_path: The model's path (``bf16``, ``int8``, ``fp32``, ``bfloat16``, ``onnx``, ...).
        engine: ``local`` or ``ray``.
        failures: ``{"part", "position", "image_path", "reason"}`` for every skipped item.
        first_result_seconds: Wall time from the stream's start to the first chunk's embeddings (the pipeline
            filling up: the first decode and encode, and Ray's actors starting).
        steady_items_per_second: Items per second after the first chunk's embeddings (every stage running),
            counting the items of the chunks that followed it; the stream's rate when there was only one chunk.
    """

    out: str
    items: int
    embedded: int
    failed: int
    parts: int
    parts_written: int
    seconds: float
    items_per_second: float
    stream_seconds: float
    inference_path: str
    engine: str
    failures: list[dict[str, Any]] = field(default_factory=list)
    first_result_seconds: float = 0.0
    steady_items_per_second: float = 0.0


def _check_options(
    engine: str, dtype: str, part_size: int, batch_size: int | None, workers: int | None
) -> None:
    check_choice("engine", engine, tuple(ENGINES))
    needed = ENGINE_PACKAGES.get(engine)
    if needed and importlib.util.find_spec(needed[0]) is None:
        raise InputError(f"engine={engine!r} needs {needed[0]}, which is not installed: {needed[1]}")
    check_choice("dtype", dtype, tuple(OUTPUT_DTYPES))
    for name, value in (("part_size", part_size), ("batch_size", batch_size), ("workers", workers)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise EmbedOptionError(f"{name} must be a positive integer, got {value!r}")


def _columns(with_images: bool, with_text: bool) -> list[str]:
    return (["image_path"] if with_images else []) + (["caption"] if with_text else [])


class _Progress:
    """A tqdm bar (items/s, ETA) on a terminal, else one log line per part written; the stream's clock."""

    def __init__(self, total: int, done: int, bar: bool | None) -> None:
        self.start, self.total, self.done, self.count = time.perf_counter(), total, done, 0
        self.first: tuple[float, int] | None = None  # when the first chunk's results came, and its items
        self.last = self.start
        self.bar = None
        if bar if bar is not None else sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, unit="img", desc="embed", smoothing=0.1)

    def items(self, n: int) -> None:
        self.last = time.perf_counter()
        if self.first is None:
            self.first = (self.last, n)
        self.count += n
        if self.bar is not None:
            self.bar.update(n)

    def part(self, part: PartResult, n_parts: int) -> None:
        if self.bar is not None:
            return
        rate = self.count / max(time.perf_counter() - self.start, 1e-9)
        left = self.total - self.done - self.count
        logger.info(
            "clipzoo embed: part %d/%d written (%d rows, %d failed); %.1f items/s, %d items left, ETA %.0f s",
            part.k + 1, n_parts, len(part.rows), len(part.failures), rate, left, left / max(rate, 1e-9),
        )  # fmt: skip

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def timings(self) -> tuple[float, float]:
        """``(seconds to the first chunk's results, items per second after them)``."""
        if self.first is None:
            return 0.0, 0.0
        at, n = self.first
        if self.count == n:  # one chunk: no rate after it
            return at - self.start, n / max(at - self.start, 1e-9)
        return at - self.start, (self.count - n) / max(self.last - at, 1e-9)


class _PartBuilder:
    """Collects a part's chunk results (rows, embeddings, failures) until its last chunk arrives."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.rows: list[dict[str, Any]] = []
        self.images: list[np.ndarray] = []
        self.texts: list[np.ndarray] = []
        self.failures: list[dict[str, Any]] = []

    def add(self, result: ChunkResult, columns: list[str]) -> None:
        items = dict(result.chunk.items)
        for pos in result.ok:
            item = items[pos]
            row = {"image_path": item.image_path, "caption": item.caption}
            self.rows.append({**{c: row[c] for c in columns}, **item.extra})
        for pos, reason in result.failures:
            self.failures.append({"part": self.k, "position": pos, "image_path": items[pos].image_path,
                                  "reason": reason})  # fmt: skip
        for store, array in ((self.images, result.image), (self.texts, result.text)):
            if array is not None:
                store.append(array)

    def finish(self) -> PartResult:
        join = lambda arrays: np.concatenate(arrays) if arrays else None  # noqa: E731
        return PartResult(self.k, self.rows, join(self.images), join(self.texts), self.failures)


def _identity(sources: Sequence[str | os.PathLike[str]], request: EncoderRequest, **options: Any) -> dict[str, Any]:
    paths = [os.path.abspath(os.path.expanduser(os.fspath(s))) for s in sources]
    return {"sources": paths, "model": request.model, "pretrained": request.pretrained, "onnx": request.onnx,
            "precision": request.precision, **options}  # fmt: skip


def embed(
    sources: str | os.PathLike | list[str | os.PathLike],
    model: str | None = None,
    pretrained: str | None = None,
    *,
    out: str | os.PathLike,
    onnx: str | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    image_column: str = "image_path",
    caption_column: str = "caption",
    text_only: bool = False,
    dtype: str = "float16",
    part_size: int = DEFAULT_PART_SIZE,
    batch_size: int | None = None,
    workers: int | None = None,
    precision: str = "auto",
    fast_decode: bool = False,
    device: str = "cpu",
    random_weights: bool = False,
    overwrite: bool = False,
    cache_dir: str | None = None,
    progress: bool | None = None,
) -> EmbedSummary:
    """Embed a corpus into clip-retrieval's layout in ``out`` (resuming an interrupted run with the same arguments).

    Args:
        sources: Folders, image files, globs, brace ranges, lists (.txt/.csv/.tsv/.parquet) or tar shards
            (see :mod:`clipzoo.corpus.sources`).
        model: A registry name, ``hf-hub:org/repo`` or ``local-dir:PATH`` (or give ``onnx``).
        pretrained: The pretrained tag or weights file of a registry model.
        out: The output folder (new, empty, or this same run's to resume it).
        onnx: An ONNX export folder to encode with instead of ``model``.
        engine: ``local`` (worker processes) or ``ray`` (Ray Data; the ``ray`` extra).
        ray_address: The Ray cluster to join (``ray://host:10001`` or ``host:6379``); None starts a local Ray.
        image_column: The image path column of csv/parquet lists.
        caption_column: The caption column of csv/parquet lists.
        text_only: Read list files as captions only (text embeddings, no images).
        dtype: ``float16`` (clip-retrieval's default) or ``float32`` embeddings on disk.
        part_size: Items per output part.
        batch_size: Items per model call; None picks by device (32 on a CPU, 256 on a GPU).
        workers: Decoding processes (local engine) or concurrent actors (Ray); None picks from the cores.
        precision: ``auto``, ``fp32``, ``bf16``, ``int8`` (CPU) or ``fp16`` (GPU).
        fast_decode: Decode JPEGs at a reduced scale (clipzoo's fast eval transform: several times faster on
            large photos, at most a few grey levels from the exact pixels); exact (open_clip's pixels) otherwise.
        device: ``cpu`` or a CUDA device.
        random_weights: Allow a model without pretrained weights.
        overwrite: Replace ``out`` when it holds another run's embeddings (only a folder clipzoo wrote).
        cache_dir: Where downloaded weights are cached.
        progress: A progress bar (True), log lines per part (False), or the bar on a terminal only (None).

    Returns:
        An :class:`EmbedSummary` (counts, failures, throughput).

    Raises:
        SourceError: a source does not exist, matches nothing, cannot be read, or holds no items.
        MissingWeightsError: no weights without ``random_weights``.
        ForeignOutputError: ``out`` holds another run's embeddings (without ``overwrite``).
        InputError: a bad option, or an ``out`` clipzoo may not write.
        LockBusyError: another run is writing ``out`` (one run per output folder).
    """
    start = time.perf_counter()
    sources = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    _check_options(engine, dtype, part_size, batch_size, workers)
    options = SourceOptions(image_column, caption_column, text_only)
    found = check_sources(sources, options)
    request = EncoderRequest(model, pretrained, onnx, precision, device, cache_dir)
    check_request(request, random_weights)
    batch = batch_size or auto_batch_size(request)
    identity = _identity(sources, request, dtype=dtype, part_size=part_size, batch_size=min(batch, part_size),
                         image_column=image_column, caption_column=caption_column, text_only=text_only,
                         fast_decode=fast_decode)  # fmt: skip
    # the house's rule for folders (never the current or home folder, an ancestor, a file, a link, an empty path,
    # a foreign folder); whether this run may resume or replace what is there is open_output's question
    out = check_replaceable(out, [MANIFEST_FILE], overwrite=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    # one run per output folder (a second one is refused at once: LockBusyError, exit status 1 on the command line,
    # as for a busy export); what a killed run was writing is then nobody's and goes, so a resumed folder equals an
    # uninterrupted run's
    with AtomicTarget(out, timeout=0):
        manifest = open_output(out, identity, overwrite)
        for leftover in unfinished_writes(out):
            leftover.unlink()
        n_items, with_images, with_text = count_items(found, options)
        if n_items == 0:
            raise SourceError(f"the sources hold no items to embed: {', '.join(map(str, sources))}")
        if manifest is not None and manifest.n_items != n_items:
            raise SourceError(f"the sources changed since the run in {out} started: {n_items} items now, "
                              f"{manifest.n_items} then; give another --out or --overwrite")  # fmt: skip
        encoder = build_encoder(request)
        if manifest is None:
            manifest = Manifest(identity, n_items, -(-n_items // part_size))
        manifest.info = {"preprocess": encoder.preprocess_cfg, "embed_dim": encoder.embed_dim,
                         "images": with_images, "text": with_text, "inference_path": encoder.path,
                         "engine": engine}  # fmt: skip
        manifest.save(out)
        _engine(engine).prepare(ray_address)  # start or join the engine's machinery before the timed stream
        streaming = time.perf_counter()
        written, stream = _run_parts(found, options, manifest, encoder, out, engine=engine, ray_address=ray_address,
                             request=request, fast_decode=fast_decode, with_images=with_images,
                             with_text=with_text, progress=progress,
                             workers=workers or _engine(engine).default_workers(device))  # fmt: skip
    end = time.perf_counter()
    seconds = end - start
    done = sum(p["rows"] for p in manifest.parts.values())
    processed = sum(manifest.parts[k]["rows"] + manifest.parts[k]["failures"] for k in written)
    return EmbedSummary(str(out), n_items, done, len(manifest.failures), manifest.n_parts, len(written), seconds,
                        processed / max(seconds, 1e-9), end - streaming, encoder.path, engine, list(manifest.failures),
                        *stream.timings())  # fmt: skip


def _engine(name: str) -> Any:
    return importlib.import_module(f".{ENGINES[name]}", __package__)


def _run_parts(
    found, options, manifest: Manifest, encoder, out: Path, **context: Any
) -> tuple[list[int], _Progress]:
    """Stream the parts not yet done through the engine; write each part and the manifest when it completes.

    Returns:
        The parts written, and the stream's clock (:meth:`_Progress.timings`)."""
    identity = manifest.identity
    chunks = chunk_stream(iter_items(found, options), manifest.n_items, identity["part_size"], identity["batch_size"],
                          set(manifest.parts))  # fmt: skip
    run = _engine(context["engine"]).run_chunks
    columns = _columns(context["with_images"], context["with_text"])
    done = sum(p["rows"] + p["failures"] for p in manifest.parts.values())
    progress = _Progress(manifest.n_items, done, context["progress"])
    builders: dict[int, _PartBuilder] = {}
    written: list[int] = []
    try:
        for result in run(chunks, encoder, context):
            builder = builders.setdefault(result.chunk.part, _PartBuilder(result.chunk.part))
            builder.add(result, columns)
            progress.items(len(result.chunk.items))
            if result.chunk.last:
                part = builders.pop(result.chunk.part).finish()
                write_part(out, part, manifest.n_parts, identity["dtype"], columns)
                manifest.record(out, part)
                written.append(part.k)
                progress.part(part, manifest.n_parts)
    finally:
        progress.close()
    return written, progress
