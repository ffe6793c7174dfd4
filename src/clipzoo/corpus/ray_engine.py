"""The Ray engine: Ray Data reads the chunks, preprocesses them in Ray tasks and encodes them in an actor pool.

Ray Data's batch-inference pattern: ``ds.map_batches(fn, compute=TaskPoolStrategy(...))`` for the preprocessing
(stateless tasks, PIL + numpy, the same :func:`clipzoo.corpus.chunks.preprocess_chunk` the local workers run) and
``ds.map_batches(EncodeActor, compute=ActorPoolStrategy(size=N), num_gpus=...)`` for the encoding (one model per
actor). Each dataset row is one chunk of the shared cut, so the model sees the same batches as on the local engine
and writes the same embeddings; the driver (:mod:`clipzoo.corpus.run`) assembles and writes the parts as on the
local engine, so the layout, the manifest and resume are the same. Rows keep their order (``preserve_order``),
chunks go through in windows of ``WINDOW_CHUNKS`` (memory stays flat over any corpus size).

How the stages share the CPUs follows the local engine, derived from the CPUs Ray reports per node
(:func:`plan`): a quarter of a node's CPUs decode, and a CPU actor encodes with all its node's cores (torch's
threads; Ray alone would give it one thread per CPU it reserves). When the cluster is this one machine the
actors take the driver's encoder from Ray's object store instead of building their own (nothing is loaded or
optimized twice, and the encoder is the one the local engine would encode with); on a cluster each actor builds
it from the request, its node's CPU choosing the inference path.

``ray_address=None`` starts a local Ray on this machine (all its cores); an address (``ray://head:10001`` or
``head:6379``) joins that cluster, whose nodes need clipzoo installed and the corpus at the same paths. Arrays
travel between the stages as ``.npy`` bytes (plain binary columns, whatever the chunk's shape).
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from .chunks import Chunk, ChunkResult, encode_chunk, preprocess_chunk
from .encoder import build_encoder
from .sources import Item

__all__ = ["EncodeActor", "default_workers", "prepare", "run_chunks"]

WINDOW_CHUNKS = 512
LOCAL_START_ATTEMPTS = 2
# CPUs a preprocessing task reserves: a reservation other than the actors' keeps Ray from fusing the two stages
# into the actor (which would decode and encode in turn there); how many run at once is plan()'s "decoders"
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
    miss once. Ray Data (pyarrow, pandas) is imported here too: part of the start-up, not of the stream.
    """
    import ray

    if ray.is_initialized():
        return
    attempts = LOCAL_START_ATTEMPTS if address is None else 1
    for attempt in range(attempts):
        try:
            ray.init(
                address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING
            )
            break
        except Exception:  # ray raises a bare Exception for the raylet's start timeout
            ray.shutdown()
            if attempt + 1 >= attempts:
                raise
    import ray.data

    context = ray.data.DataContext.get_current()
    # not the plan and log folder of every window on the driver's stderr
    context.print_on_execution_start = False
    # Ray Data's first execution in a process sets up its own machinery (seconds here, more than the first task
    # takes): done once now, with the start-up, rather than inside the timed stream
    context.enable_progress_bars = False
    ray.data.range(1).map_batches(_same, batch_size=1).materialize()


def _same(batch: dict[str, Any]) -> dict[str, Any]:
    return batch


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
    """Ray actor: one encoder (model), encoding one chunk per row.

    ``source`` is the driver's encoder in Ray's object store (a cluster that is this one machine: nothing is built
    twice, and the CPU that chose its inference path is the one it runs on), or the request to build one from
    (another node's CPU flags choose its path there). ``threads``: torch's intra-op threads (on a CPU the encoder
    uses its node's cores, as on the local engine; Ray would give it only the CPUs it reserves).
    """

    def __init__(self, source: Any, with_text: bool, threads: int | None) -> None:
        import ray
        import torch

        if threads:
            torch.set_num_threads(threads)
        if isinstance(source, ray.ObjectRef):
            # torch's own unpickling of quantized weights warns of its internals
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.encoder = ray.get(source)
        else:
            self.encoder = build_encoder(source)
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
    """Actors when none are given: one per GPU of the cluster on a GPU run, else one per node (a CPU model uses
    every core of its node; the preprocessing tasks overlap with it)."""
    import ray

    if str(device).startswith("cuda"):
        return max(1, int(ray.cluster_resources().get("GPU", 0)))
    return len(_cpu_nodes())


def _cpu_nodes() -> list[dict[str, Any]]:
    import ray

    return [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1] or [{}]


def plan(workers: int, device: str, driver_threads: int | None = None) -> dict[str, int]:
    """How the stages share each node's CPUs, from what Ray reports (as the local engine shares the machine's).

    On a CPU run a quarter of a node's CPUs (at least one) decode, as the local engine's worker processes, and the
    actors reserve the rest; each actor encodes with all its node's cores (split among its node's actors), so the
    two stages overlap as on the local engine; ``driver_threads`` (the cluster is this machine) are the threads
    the local engine encodes with here, shared by the actors, so both engines compute alike. On a GPU run each
    actor reserves one CPU and the rest decode.

    Returns:
        ``decoders`` (preprocessing tasks at once, the whole cluster), ``actor_cpus`` (each actor's
        reservation), ``threads`` (torch's intra-op threads in a CPU actor; 0: Ray's choice).
    """
    nodes = _cpu_nodes()
    cpus = min(int(n.get("Resources", {}).get("CPU", 1)) for n in nodes)
    per_node = math.ceil(workers / len(nodes))
    if str(device).startswith("cuda"):
        return {"decoders": max(1, cpus - per_node) * len(nodes), "actor_cpus": 1, "threads": 0}
    decoders = max(1, cpus // 4)
    return {"decoders": decoders * len(nodes), "actor_cpus": max(1, (cpus - decoders) // per_node),
            "threads": max(1, (driver_threads or cpus) // per_node)}  # fmt: skip


def _one_machine() -> bool:
    """Whether the whole cluster is this machine (one node, the driver's own; not a Ray Client connection)."""
    import ray

    if ray.util.client.ray.is_connected():
        return False
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return len(nodes) == 1 and nodes[0]["NodeID"] == ray.get_runtime_context().get_node_id()


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _rows(chunks: list[Chunk], with_images: bool) -> list[dict[str, Any]]:
    return [
        {
            "i": i,
            "specs": json.dumps(chunk.image_specs() if with_images else []),
            "captions": json.dumps({pos: item.caption for pos, item in chunk.items}),
        }
        for i, chunk in enumerate(chunks)
    ]


def _window(rows: list[dict[str, Any]], encoder: Any, stages: dict[str, Any], context: dict[str, Any]) -> Any:
    """The Ray Dataset of one window: preprocessing tasks, then the actor pool (``stages``: the encoder's source
    and :func:`plan`'s shares)."""
    import ray

    request, shares = context["request"], stages["shares"]
    dataset: ray.data.Dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
    if context["with_images"]:
        dataset = dataset.map_batches(
            # ray's annotation of fn ignores fn_kwargs: a function of the batch alone
            _preprocess_rows,  # type: ignore[arg-type]
            batch_size=1,
            num_cpus=PREPROCESS_CPUS,
            compute=ray.data.TaskPoolStrategy(size=shares["decoders"]),
            fn_kwargs={"cfg": encoder.preprocess_cfg, "fast": context["fast_decode"]},
        )
    cuda = str(request.device).startswith("cuda")
    return dataset.map_batches(
        EncodeActor,
        fn_constructor_kwargs={"source": stages["source"], "with_text": context["with_text"],
                               "threads": shares["threads"]},  # fmt: skip
        compute=ray.data.ActorPoolStrategy(size=context["workers"]),
        batch_size=1,
        num_cpus=shares["actor_cpus"],
        num_gpus=1 if cuda else 0,
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
    request = context["request"]
    ship = request.onnx is None and not str(request.device).startswith("cuda") and _one_machine()
    stages = {"source": ray.put(encoder) if ship else request,  # put once, for every window's actors
              "shares": plan(context["workers"], request.device, _torch_threads() if ship else None)}  # fmt: skip
    while True:
        window = list(itertools.islice(chunks, WINDOW_CHUNKS))
        if not window:
            return
        dataset = _window(_rows(window, context["with_images"]), encoder, stages, context)
        # one block per chunk, taken as soon as the actor has it (iter_rows prefetches: a chunk reached the driver
        # only once the next one was encoded, a chunk's time late)
        for block in dataset.iter_batches(batch_size=None, prefetch_batches=0, batch_format="numpy"):
            for row in range(len(block["i"])):
                chunk = window[int(block["i"][row])]
                failures = [(int(p), str(r)) for p, r in json.loads(block["failures"][row])]
                image, text = _unnpy(block["image"][row]), _unnpy(block["text"][row])
                yield ChunkResult(chunk, json.loads(block["ok"][row]), image, text, failures)
