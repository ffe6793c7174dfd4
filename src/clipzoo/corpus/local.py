"""The local engine: decoding and preprocessing in worker processes, overlapped with encoding in this process.

The workers are spawned (never forked from a process holding torch's threads) and import no torch: they run
:func:`clipzoo.corpus.chunks.preprocess_chunk` (PIL + numpy). At most ``2 * workers + 1`` chunks are in flight,
so memory stays flat whatever the corpus size, and the model encodes chunk ``i`` while the workers decode the
next ones. Results come back in chunk order.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from .chunks import Chunk, ChunkResult, encode_chunk, preprocess_chunk

__all__ = ["default_workers", "prepare", "run_chunks"]

PARENT_CHECK_SECONDS = 0.5


def default_workers(device: str) -> int:
    """Worker processes when none are given: on a GPU all cores but one decode; on a CPU the model needs most
    of them, so a quarter of the cores (at least one) decode."""
    cores = os.cpu_count() or 1
    return max(1, cores - 1) if not str(device).startswith("cpu") else max(1, cores // 4)


def prepare(address: str | None) -> None:
    """Nothing to start: the worker processes start with the first chunk (``address`` is for other engines)."""


def _watch_parent(parent: int) -> None:
    # a driver killed with SIGKILL cannot shut its pool down, and a worker waiting on the task queue never sees it
    # end (it holds that pipe's other end itself): leave as soon as the driver is gone
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _start_worker(parent: int) -> None:
    # Ctrl-C reaches the whole process group: the driver handles it (finished parts stay consistent) and shuts
    # the pool down; workers that also raised would only print tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="clipzoo-parent-watch").start()


def run_chunks(chunks: Iterator[Chunk], encoder: Any, context: dict[str, Any]) -> Iterator[ChunkResult]:
    """Encode every chunk with ``encoder`` in this process, its images preprocessed by worker processes.

    Args:
        chunks: The chunks to do, in order.
        encoder: The model (``encode_images``, ``encode_texts``, ``preprocess_cfg``).
        context: ``workers``, ``fast_decode``, ``with_images``, ``with_text`` (see :func:`clipzoo.corpus.run.embed`).

    Yields:
        One result per chunk, in chunk order.
    """
    if not context["with_images"]:
        for chunk in chunks:
            yield encode_chunk(encoder, chunk, None, context["with_text"])
        return
    workers, cfg = context["workers"], encoder.preprocess_cfg
    spawn = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=spawn, initializer=_start_worker, initargs=(os.getpid(),))
    window: deque[tuple[Chunk, Future]] = deque()
    try:
        for chunk in chunks:
            job = pool.submit(preprocess_chunk, cfg, chunk.image_specs(), context["fast_decode"])
            window.append((chunk, job))
            while len(window) > 2 * workers + 1:
                done, future = window.popleft()
                yield encode_chunk(encoder, done, future.result(), context["with_text"])
        while window:
            done, future = window.popleft()
            yield encode_chunk(encoder, done, future.result(), context["with_text"])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
