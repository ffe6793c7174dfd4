"""Preprocess many images into one batch tensor with worker threads.

PIL releases the GIL while it decodes and resamples, and clipzoo's eval transform does its tensor step with
a single-threaded numpy lookup, so threads scale with cores without the cost of worker processes. The
result is identical to a sequential loop (same transform, same order).
"""

from __future__ import annotations

import functools
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import torch
from PIL import Image

from ..errors import BatchItemError
from .eval_steps import ImageSource
from .images import load_image, source_name

__all__ = ["BatchItemError", "preprocess_batch"]


def _apply(transform: Callable[[Any], torch.Tensor], item: ImageSource) -> torch.Tensor:
    """Run `transform` on one item; open paths first for transforms that only take PIL images."""
    if isinstance(item, Image.Image) or getattr(transform, "accepts_sources", False):
        return transform(item)
    img = load_image(item)
    try:
        return transform(img)
    finally:
        img.close()


def _apply_named(transform: Callable, item: ImageSource, index: int) -> torch.Tensor:
    try:
        out = _apply(transform, item)
    except Exception as e:
        raise BatchItemError(index, _describe(item), e) from e
    if not isinstance(out, torch.Tensor):
        raise BatchItemError(index, _describe(item), TypeError(f"transform returned {type(out).__name__}"))
    return out


def _apply_into(
    transform: Callable, batch: torch.Tensor, items: list, item: ImageSource, offset: int
) -> None:
    """Transform item ``offset + 1`` (the first one made the batch) and write it into its row."""
    index = offset + 1
    tensor = _apply_named(transform, item, index)
    if tensor.shape != batch.shape[1:]:
        raise BatchItemError(
            index,
            _describe(items[index]),
            ValueError(f"shape {tuple(tensor.shape)} != {tuple(batch.shape[1:])}"),
        )
    _copy_into(batch, index, tensor)


def _describe(item: Any) -> str:
    return "None" if item is None else source_name(item)


def _default_workers(n_items: int) -> int:
    return max(1, min(n_items, os.cpu_count() or 1, 32))


def _ordered_map(pool: ThreadPoolExecutor, fn: Callable, items: list, window: int) -> Iterator[Future]:
    """Futures of fn(item, index) in input order, at most `window` in flight (bounds memory on big lists)."""
    pending: deque[Future] = deque()
    jobs = iter(enumerate(items))
    for index, item in itertools.islice(jobs, window):
        pending.append(pool.submit(fn, item, index))
    while pending:
        yield pending.popleft()
        for index, item in itertools.islice(jobs, 1):
            pending.append(pool.submit(fn, item, index))


def _copy_into(batch: torch.Tensor, index: int, tensor: torch.Tensor) -> None:
    # A numpy copy is single-threaded: torch's intra-op threads would fight the worker threads (measured:
    # 1.13x over a loop with torch's copy and 2 intra-op threads, 1.7x with this copy).
    if tensor.device.type == "cpu" and not tensor.requires_grad and tensor.dtype != torch.bfloat16:
        batch.numpy()[index] = tensor.numpy()
    else:
        batch[index] = tensor


def _collect(results: Iterable[Future | torch.Tensor], n: int, items: list, bar: Any) -> torch.Tensor:
    """Write results in order into one preallocated [N, ...] tensor."""
    batch: torch.Tensor | None = None
    for i, result in enumerate(results):
        tensor = result.result() if isinstance(result, Future) else result
        if batch is None:
            batch = torch.empty((n, *tensor.shape), dtype=tensor.dtype)
        if tensor.shape != batch.shape[1:]:
            raise BatchItemError(
                i, _describe(items[i]), ValueError(f"shape {tuple(tensor.shape)} != {tuple(batch.shape[1:])}")
            )
        _copy_into(batch, i, tensor)
        bar.update(1)
    assert batch is not None
    return batch


def preprocess_batch(
    paths: Iterable[ImageSource],
    transform: Callable[[Any], torch.Tensor],
    num_workers: int | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """Apply `transform` to every image (path, file object or PIL image) in threads -> [N, C, H, W].

    The result equals a sequential loop over ``paths`` (same transform, same order); the first failure stops
    the batch.

    Args:
        paths: Images: file paths, binary file objects or PIL images, in any mix.
        transform: A callable image -> tensor, e.g. the eval transform of ``create_model_and_transforms``.
            clipzoo's eval transforms get paths as they are (so ``fast=True`` can decode JPEGs at a reduced
            size); other transforms get the opened image (EXIF orientation applied).
        num_workers: Worker threads; None uses one per CPU core (at most 32 and at most one per image), 1 runs
            in the calling thread.
        progress: Show a progress bar.

    Returns:
        One tensor [N, C, H, W] (the transform's dtype) with the images in input order.

    Raises:
        ValueError: ``paths`` is empty, or ``num_workers`` is below 1.
        BatchItemError: an image could not be read or transformed, or its tensor's shape differs from the
            first one's; the message names the item and its index, the original error is chained.
    """
    from tqdm.auto import tqdm

    items = list(paths)
    if not items:
        raise ValueError("preprocess_batch needs at least one image, got an empty sequence")
    if num_workers is not None and num_workers < 1:
        raise ValueError(f"num_workers must be >= 1 (or None for one per CPU core), got {num_workers}")
    workers = num_workers or _default_workers(len(items))
    with tqdm(total=len(items), disable=not progress, desc="preprocess", unit="img") as bar:
        if workers == 1:
            lazy = (_apply_named(transform, item, i) for i, item in enumerate(items))
            return _collect(lazy, len(items), items, bar)
        # The first item fixes the output shape; the workers then write straight into the batch, so the
        # main thread only waits (on two cores a third busy thread costs more than the copy it would save).
        first = _apply_named(transform, items[0], 0)
        batch = torch.empty((len(items), *first.shape), dtype=first.dtype)
        _copy_into(batch, 0, first)
        bar.update(1)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clipzoo-preprocess")
        try:
            run_one = functools.partial(_apply_into, transform, batch, items)
            for future in _ordered_map(pool, run_one, items[1:], window=4 * workers):
                future.result()
                bar.update(1)
            return batch
        finally:
            # On error, drop queued work instead of decoding the rest of the batch.
            pool.shutdown(wait=True, cancel_futures=True)
