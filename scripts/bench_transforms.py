"""Benchmark clipzoo's image preprocessing against open_clip 3.3.0, side by side in one run.

Rows:
- exact eval transform vs open_clip's on ~512 px photos (file -> tensor, images/s);
- fast (JPEG draft) eval transform vs open_clip's on camera-sized JPEGs (3000x2000 and larger);
- preprocess_batch (threads) vs a sequential loop of the same transform.

Run: python scripts/bench_transforms.py [--quick]
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence

from PIL import Image

import benchlib

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera", "colorwheel")
CAMERA_SIZES = ((3000, 2000), (4000, 3000), (4500, 3000), (2000, 3000))


def _photo(name: str) -> Image.Image:
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


def _write_photos(folder: str, names: Sequence[str]) -> list[str]:
    """The photos at their own size (~300-1400 px, most ~512), as quality-95 JPEGs."""
    paths = []
    for name in names:
        path = os.path.join(folder, f"{name}.jpg")
        _photo(name).save(path, quality=95)
        paths.append(path)
    return paths


def _write_camera_jpegs(folder: str, names: Sequence[str], sizes: Sequence[tuple[int, int]]) -> list[str]:
    """Photos upsampled to camera resolutions, as quality-90 JPEGs."""
    paths = []
    for name, size in zip(names, sizes):
        path = os.path.join(folder, f"{name}_{size[0]}x{size[1]}.jpg")
        _photo(name).resize(size, Image.Resampling.BICUBIC).save(path, quality=90)
        paths.append(path)
    return paths


def _images_per_s(fn: Callable[[str], object], paths: Sequence[str], repeats: int) -> float:
    """Best-of-`repeats` throughput of fn over all paths."""

    def over_all() -> None:
        for path in paths:
            fn(path)

    return len(paths) / benchlib.best_of(over_all, repeats).seconds


def _bench_eval(open_clip, paths: list[str], camera: list[str], repeats: int) -> list[dict]:
    import torch

    from clipzoo.preprocess.transforms import image_transform

    peer_tf = open_clip.image_transform(224, is_train=False)

    def peer(path: str) -> object:
        return peer_tf(Image.open(path))

    exact, fast = image_transform(224, False), image_transform(224, False, fast=True)
    rows = []
    threads = torch.get_num_threads()
    for n_threads in sorted({threads, 1}, reverse=True):
        # open_clip's ToTensor/Normalize run on torch's intra-op threads; clipzoo's tensor step does not.
        torch.set_num_threads(n_threads)
        note = f"torch threads={n_threads}"
        rows.append(
            benchlib.throughput_row(
                "eval exact 224 (~512px photos)",
                _images_per_s(exact, paths, repeats),
                _images_per_s(peer, paths, repeats),
                "open_clip.image_transform",
                "images/s",
                f"{len(paths)} skimage photos, decode included, bit-identical output; {note}",
            )
        )
        rows.append(
            benchlib.throughput_row(
                "eval fast 224 (camera JPEGs)",
                _images_per_s(fast, camera, repeats),
                _images_per_s(peer, camera, repeats),
                "open_clip.image_transform",
                "images/s",
                f"{len(camera)} JPEGs 3000x2000..4500x3000, Image.draft + reducing_gap; {note}",
            )
        )
    torch.set_num_threads(threads)
    return rows


def _parallel_capacity(workers: int) -> float:
    """Speedup of GIL-free work (sha256) in `workers` threads: what the machine can give right now."""
    import hashlib
    from concurrent.futures import ThreadPoolExecutor

    data = b"x" * (16 << 20)
    jobs = range(4 * workers)

    def digest(_: int) -> bytes:
        return hashlib.sha256(data).digest()

    def in_threads() -> None:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(digest, jobs))

    sequential = benchlib.best_of(lambda: [digest(job) for job in jobs], 1).seconds
    return sequential / benchlib.best_of(in_threads, 1).seconds


def _bench_batch(paths: list[str], repeats: int) -> list[dict]:
    import torch

    from clipzoo.preprocess.batch import preprocess_batch
    from clipzoo.preprocess.transforms import image_transform

    exact = image_transform(224, False)

    def sequential(items: list[str]) -> torch.Tensor:
        return torch.stack([exact(p) for p in items])

    # Alternating, sequential first in each repeat, no warm-up (the eval rows above already warmed the files).
    best_seq, best_par = benchlib.best_pair(
        lambda: sequential(paths), lambda: preprocess_batch(paths, exact), repeats, warmup=False
    )
    return [
        benchlib.throughput_row(
            "preprocess_batch vs loop (exact 224)",
            len(paths) / best_par,
            len(paths) / best_seq,
            "clipzoo sequential loop",
            "images/s",
            f"{len(paths)} photos, {os.cpu_count()} cores, default workers; GIL-free control "
            f"(sha256 threads) reaches {_parallel_capacity(os.cpu_count() or 1):.2f}x on this machine now",
        )
    ]


def run(quick: bool = False) -> list[dict]:
    """Run every benchmark and return one row dict per measurement."""
    import open_clip

    repeats = 2 if quick else 3
    with tempfile.TemporaryDirectory() as folder:
        paths = _write_photos(folder, PHOTOS[:3] if quick else PHOTOS)
        camera = _write_camera_jpegs(folder, PHOTOS[:4], CAMERA_SIZES[:2] if quick else CAMERA_SIZES)
        batch_paths = paths * (4 if quick else 8)
        return _bench_eval(open_clip, paths, camera, repeats) + _bench_batch(batch_paths, repeats)


if __name__ == "__main__":
    benchlib.main(run)
