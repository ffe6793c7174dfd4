"""The shared cut of the stream into parts and chunks, and the workers' preprocessing (exact and fast)."""

from __future__ import annotations

import numpy as np

from clipzoo.corpus.chunks import chunk_stream, preprocess_chunk
from clipzoo.corpus.sources import Item
from tests.helpers.corpus import digit_images

CFG = {"size": 224, "mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
       "interpolation": "bicubic", "resize_mode": "shortest", "fill_color": 0}  # fmt: skip


def _cut(n: int, part: int, batch: int, done: set[int]) -> list[tuple[int, list[int], bool]]:
    items = (Item(image_path=str(i)) for i in range(n))
    return [(c.part, [p for p, _ in c.items], c.last) for c in chunk_stream(items, n, part, batch, done)]


def test_chunks_never_cross_parts_and_the_last_chunk_of_each_part_is_marked():
    assert _cut(8, 3, 2, set()) == [(0, [0, 1], False), (0, [2], True), (1, [3, 4], False), (1, [5], True),
                                    (2, [6, 7], True)]  # fmt: skip


def test_a_stream_ending_on_a_full_batch_ends_its_part():
    assert _cut(4, 3, 2, set())[-1] == (1, [3], True)
    assert _cut(6, 3, 3, set()) == [(0, [0, 1, 2], True), (1, [3, 4, 5], True)]


def test_done_parts_are_read_past_not_cut():
    assert _cut(8, 3, 2, {0, 2}) == [(1, [3, 4], False), (1, [5], True)]


def test_fast_decode_stays_close_to_the_exact_pixels(tmp_path):
    paths = []
    for i, (image, _) in enumerate(digit_images(3)):
        paths.append(tmp_path / f"{i}.jpg")
        image.resize((1200, 900)).save(paths[-1], quality=95)
    specs = [(i, str(p), None, None) for i, p in enumerate(paths)]
    exact, ok, failures = preprocess_chunk(CFG, specs)
    fast, ok_fast, _ = preprocess_chunk(CFG, specs, fast=True)
    assert ok == ok_fast == [0, 1, 2] and failures == [] and exact.shape == fast.shape == (3, 3, 224, 224)
    assert 0 < np.abs(exact - fast).max() < 0.2  # drafted, yet within a few grey levels (normalized units)
