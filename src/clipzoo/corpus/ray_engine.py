"""The Ray engine: Ray Data reads the chunks, preprocesses them in Ray tasks and encodes them in an actor pool.

Ray Data's batch-inference pattern: ``ds.map_batches(fn)`` for the preprocessing (stateless tasks, PIL + numpy,
the same :func:`clipzoo.corpus.chunks.preprocess_chunk` the local workers run) and
``ds.map_batches(EncodeActor, concurrency=N, num_gpus=...)`` for the encoding (one model per actor, built once).
Each dataset row is one chunk of the shared cut, so the model sees the same batches as on the local engine and
writes the same embeddings; the driver (:mod:`clipzoo.corpus.run`) assembles and writes the parts as on the local
engine, so the layout, the manifest and resume are the same. Rows keep their order (``preserve_order``), chunks go
through in windows of ``WINDOW_CHUNKS`` (memory stays flat over any corpus size).

``ray_address=None`` starts a local Ray on this machine (all its cores); an address (``ray://head:10001`` or
``head:6379``) joins that cluster, whose nodes need clipzoo installed and the corpus at the same paths. Arrays
travel between the stages as ``.npy`` bytes (plain binary columns, whatever the chunk's shape).
"""

from __future__ import annotations

import io
import itertools
import json
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from .chunks import Chunk, ChunkResult, encode_chunk, preprocess_chunk
from .encoder import build_encoder
from .sources import Item

__all__ = ["EncodeActor", "default_workers", "prepare", "run_chunks"]

WINDOW_CHUNKS = 512
LOCAL_START_ATTEMPTS = 2
# CPUs a preprocessing task reserves: decoding a chunk is lighter than encoding it, and a reservation other than
# the actors' keeps Ray from fusing the two stages into the actor (which would decode and encode in turn there)
PREPROCESS_CPUS = 0.5


def _npy(array: np.ndarray | None) -> bytes:
    if array is None:
        return b""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _unnpy(data: bytes) -> np.ndarray | None:
    return np.load(io.BytesIO(data)) if data else None


def prepare(address: str | None) -> None:
    """Join the Ray cluster at ``address``, or start a local Ray (all cores) when None; reuse a running one.

    A local start is tried twice: Ray waits a fixed 30 s for its raylet to register, which a loaded machine can
    miss once.
    """
    import ray

    for attempt in range(LOCAL_START_ATTEMPTS if address is None else 1):
        if ray.is_initialized():
            return
        try:
            ray.init(
                address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING
            )
        except Exception:  # ray raises a bare Exception for the raylet's start timeout
            ray.shutdown()
            if attempt + 1 >= (LOCAL_START_ATTEMPTS if address is None else 1):
                raise


def _preprocess_rows(batch: dict[str, Any], cfg: dict[str, Any], fast: bool) -> dict[str, Any]:
    """Ray task: decode and preprocess each row's chunk (failures kept, never raised)."""
    pixels, ok, failures = [], [], []
    for specs in batch["specs"]:
        arrays, good, bad = preprocess_chunk(cfg, [tuple(s) for s in json.loads(specs)], fast)
        pixels.append(_npy(arrays))
        ok.append(json.dumps(good))
        failures.append(json.dumps(bad))
    return {"i": batch["i"], "pixels": pixels, "ok": ok, "failures": failures, "captions": batch["captions"]}


class EncodeActor:
    """Ray actor: one encoder (model) built once, encoding one chunk per row."""

    def __init__(self, request: Any, with_text: bool) -> None:
        self.encoder = build_encoder(request)
        self.with_text = with_text

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Encode each row's chunk (preprocessed pixels, or captions only): embeddings as ``.npy`` bytes."""
        images, texts, oks = [], [], []
        for row in range(len(batch["i"])):
            captions = {int(k): v for k, v in json.loads(batch["captions"][row]).items()}
            prepared = None
            if "pixels" in batch:
                prepared = (_unnpy(batch["pixels"][row]), json.loads(batch["ok"][row]), [])
            # the one field of an item the encoder reads (its caption), rebuilt on the actor's side
            chunk = Chunk(-1, [(pos, Item(image_path=None, caption=caption)) for pos, caption in captions.items()])
            result = encode_chunk(self.encoder, chunk, prepared, self.with_text)
            images.append(_npy(result.image))
            texts.append(_npy(result.text))
            oks.append(json.dumps(result.ok))
        failures = batch["failures"] if "failures" in batch else ["[]"] * len(oks)
        return {"i": batch["i"], "image": images, "text": texts, "ok": oks, "failures": failures}


def default_workers(device: str) -> int:
    """Actors when none are given: one per GPU on a GPU machine (this node's), else one (a CPU model uses every
    core of its node; the preprocessing tasks take the rest)."""
    import torch

    if str(device).startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.device_count()
    return 1


def _rows(chunks: list[Chunk], with_images: bool) -> list[dict[str, Any]]:
    return [
        {
            "i": i,
            "specs": json.dumps(chunk.image_specs() if with_images else []),
            "captions": json.dumps({pos: item.caption for pos, item in chunk.items}),
        }
        for i, chunk in enumerate(chunks)
    ]


def _window(rows: list[dict[str, Any]], encoder: Any, context: dict[str, Any]) -> Any:
    """The Ray Dataset of one window: preprocessing tasks, then the actor pool."""
    import ray

    dataset: ray.data.Dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
    if context["with_images"]:
        dataset = dataset.map_batches(
            # ray's annotation of fn ignores fn_kwargs: a function of the batch alone
            _preprocess_rows,  # type: ignore[arg-type]
            batch_size=1,
            num_cpus=PREPROCESS_CPUS,
            fn_kwargs={"cfg": encoder.preprocess_cfg, "fast": context["fast_decode"]},
        )
    request = context["request"]
    return dataset.map_batches(
        EncodeActor,
        fn_constructor_kwargs={"request": request, "with_text": context["with_text"]},
        compute=ray.data.ActorPoolStrategy(size=context["workers"]),
        batch_size=1,
        num_gpus=1 if str(request.device).startswith("cuda") else 0,
    )


def run_chunks(chunks: Iterator[Chunk], encoder: Any, context: dict[str, Any]) -> Iterator[ChunkResult]:
    """Encode every chunk on Ray (see the module docstring); results in chunk order.

    Args:
        chunks: The chunks to do, in order.
        encoder: The driver's encoder (its preprocessing config and embedding width; the actors build their own).
        context: ``request``, ``workers`` (actors), ``ray_address``, ``with_images``, ``with_text``, ``progress``.

    Yields:
        One result per chunk, in chunk order.
    """
    import ray

    prepare(context["ray_address"])
    data_context = ray.data.DataContext.get_current()
    data_context.execution_options.preserve_order = True
    data_context.enable_progress_bars = bool(context.get("progress"))
    while True:
        window = list(itertools.islice(chunks, WINDOW_CHUNKS))
        if not window:
            return
        dataset = _window(_rows(window, context["with_images"]), encoder, context)
        for row in dataset.iter_rows():
            chunk = window[int(row["i"])]
            failures = [(int(p), str(r)) for p, r in json.loads(row["failures"])]
            yield ChunkResult(
                chunk, json.loads(row["ok"]), _unnpy(row["image"]), _unnpy(row["text"]), failures
            )
