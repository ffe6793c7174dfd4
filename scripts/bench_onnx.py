"""ONNX runtime throughput: clipzoo.onnx (onnxruntime fp32 and int8) vs clipzoo's torch eager fp32, one run.

ViT-B-32 with random weights (seeded), exported with ``clipzoo.onnx`` (fp32) and quantized with
``clipzoo.export.onnx.quantize_folder`` (int8 dynamic quantization of MatMul/Gemm weights). ``encode_image`` on
32 random 224x224 images (already preprocessed: the model alone is timed) and ``encode_text`` on 64 prompts
(6-16 tokens in a 77-token context; both sides drop the padding after the longest prompt). Each ONNX side is
timed alternately with torch (``benchlib.best_pair``: warm-up, then best wall time of ``repeats``), so load on
the shared machine hits both. Two settings: torch's thread count, wall time (what a user sees), and one
thread, CPU time (steadier on a shared machine); onnxruntime sessions use the same thread count
(``intra_op_num_threads``) and full graph optimization (the default level). Session options tried on the 2-core VM
(``--sessions``; ViT-B-32 encode_image): the basic/extended optimization levels were no faster than ``all``
(int8: 0.7-0.95x); ``session.intra_op.allow_spinning=0`` gained 1.1-1.25x at 2 threads while other jobs ran (idle
threads stop spinning on a shared CPU); 2 threads did not beat 1 under that load.

Also: the cosine similarity of int8 to fp32 image features on the scikit-image sample photos (random weights:
trained weights have other value ranges, so this bounds the quantization error of this graph, not of a
trained checkpoint), and the fp32 ONNX vs torch max difference.

Run: python scripts/bench_onnx.py [--quick] [--sessions]   (--sessions: also compare session options)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import benchlib

WORDS = [
    "cat",
    "dog",
    "golden retriever",
    "tabby cat sitting on a sofa",
    "car",
    "airplane",
    "red fox in the snow",
]
TEMPLATES = [
    "a photo of a {}.",
    "a blurry photo of the {}.",
    "a close-up photo of a {} in the wild.",
    "an origami {}.",
]


def _prompts(count: int) -> list[str]:
    return [TEMPLATES[i % len(TEMPLATES)].format(WORDS[i % len(WORDS)]) for i in range(count)]


def export_folders(root: Path) -> tuple[torch.nn.Module, Path, Path]:
    """(torch model, fp32 folder, int8 folder) of ViT-B-32 with seeded random weights."""
    import clipzoo
    from clipzoo.export.onnx import quantize_folder, write_onnx_folder
    from clipzoo.factory.resolve import resolve

    torch.manual_seed(0)
    model = clipzoo.create_model("ViT-B-32").eval()
    fp32 = root / "fp32"
    fp32.mkdir()
    write_onnx_folder(fp32, model, resolve("ViT-B-32"))
    return model, fp32, quantize_folder(fp32, root / "int8")


def _pairs(torch_fn, fp32_fn, int8_fn, count: int, repeats: int, clock) -> tuple[float, float, float, float]:
    """Throughputs (fp32, torch, int8, torch): each ONNX side timed alternately with torch (benchlib.best_pair)."""
    fp32, torch_a = benchlib.best_pair(fp32_fn, torch_fn, repeats, clock=clock)
    int8, torch_b = benchlib.best_pair(int8_fn, torch_fn, repeats, clock=clock)
    return count / fp32, count / torch_a, count / int8, count / torch_b


def _throughput_rows(
    model, fp32_dir: Path, int8_dir: Path, threads: int, repeats: int, clock, label: str
) -> list:
    """fp32 and int8 onnxruntime rows against torch eager, image and text, at ``threads`` threads."""
    from clipzoo.onnx import OnnxModel

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        fp32 = OnnxModel(fp32_dir, intra_op_num_threads=threads)
        int8 = OnnxModel(int8_dir, intra_op_num_threads=threads)
        pixels = np.random.default_rng(0).standard_normal((32, 3, 224, 224), dtype=np.float32)
        ids = fp32.tokenize(_prompts(64))
        images_t, ids_t = torch.from_numpy(pixels), torch.from_numpy(ids)
        peer = f"clipzoo torch eager fp32, {threads} thread{'s' if threads > 1 else ''}"
        rows = []
        with torch.inference_mode():
            diff = max(
                float(
                    np.abs(
                        fp32.encode_image(pixels, normalize=False) - model.encode_image(images_t).numpy()
                    ).max()
                ),
                float(
                    np.abs(fp32.encode_tokens(ids, normalize=False) - model.encode_text(ids_t).numpy()).max()
                ),
            )
            cases = (
                (
                    "encode_image, 32 images",
                    "images/s",
                    32,
                    lambda: model.encode_image(images_t),
                    pixels,
                    "image",
                ),
                ("encode_text, 64 prompts", "texts/s", 64, lambda: model.encode_text(ids_t), ids, "text"),
            )
            for what, unit, count, torch_fn, inputs, tower in cases:
                encode = "encode_image" if tower == "image" else "encode_tokens"
                f32, t_a, i8, t_b = _pairs(
                    torch_fn,
                    lambda m=fp32, e=encode, x=inputs: getattr(m, e)(x, normalize=False),
                    lambda m=int8, e=encode, x=inputs: getattr(m, e)(x, normalize=False),
                    count,
                    repeats,
                    clock,
                )
                note = f"{label}, best of {repeats}"
                if tower == "image":
                    note += f"; fp32 graphs vs torch max |diff| {diff:.1e}"
                name = f"ViT-B-32 {what} ({label}): onnxruntime"
                rows.append(benchlib.throughput_row(f"{name} fp32", f32, t_a, peer, unit, note))
                rows.append(benchlib.throughput_row(f"{name} int8", i8, t_b, peer, unit, note))
        return rows
    finally:
        torch.set_num_threads(previous)


def run(quick: bool = False, sessions: bool = False) -> list[dict]:
    """Rows: image and text throughput of onnxruntime fp32 / int8 vs torch eager fp32, int8 cosine.

    Two settings: torch's thread count with wall time (what a user sees), and one thread with CPU time (steady
    on a shared machine, where other processes take cores away from a multi-threaded run).
    """
    from clipzoo.onnx import OnnxModel

    repeats = 3 if quick else 6
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        model, fp32_dir, int8_dir = export_folders(Path(tmp))
        rows = _throughput_rows(
            model, fp32_dir, int8_dir, threads, repeats, benchlib.wall_clock, f"{threads} threads, wall time"
        )
        if not quick:
            rows += _throughput_rows(
                model, fp32_dir, int8_dir, 1, repeats, benchlib.cpu_clock, "1 thread, CPU time"
            )
        photos = benchlib.skimage_photos()
        cosine = (OnnxModel(fp32_dir).encode_image(photos) * OnnxModel(int8_dir).encode_image(photos)).sum(
            axis=1
        )
        rows.append(
            benchlib.throughput_row(
                f"ViT-B-32 int8 vs fp32 image features, {len(photos)} skimage photos: min cosine",
                float(cosine.min()),
                1.0,
                "fp32 ONNX features",
                "cosine",
                f"mean {cosine.mean():.5f}; random weights (trained weights have other value ranges)",
            )
        )
        if sessions:
            _compare_sessions(
                fp32_dir,
                int8_dir,
                np.random.default_rng(0).standard_normal((32, 3, 224, 224), dtype=np.float32),
                repeats,
            )
    return rows


def _compare_sessions(fp32_dir: Path, int8_dir: Path, pixels: np.ndarray, repeats: int) -> None:
    """Print encode_image throughput for a few onnxruntime session settings (exploration, not table rows)."""
    import onnxruntime as ort

    from clipzoo.onnx import OnnxModel

    levels = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    }
    for folder in (fp32_dir, int8_dir):
        for threads in (1, 2):
            for level_name, level in levels.items():
                options = ort.SessionOptions()
                options.intra_op_num_threads, options.graph_optimization_level = threads, level
                model = OnnxModel(folder, session_options=options)
                model.encode_image(pixels[:2])  # warm-up
                best = benchlib.best_of(lambda m=model: m.encode_image(pixels, normalize=False), repeats)
                print(
                    f"{folder.name:>5} intra_op={threads} opt={level_name:<8} {32 / best.seconds:7.1f} images/s"
                )


if __name__ == "__main__":
    if "--sessions" in sys.argv:
        benchlib.print_table(run(quick="--quick" in sys.argv, sessions=True))
    else:
        benchlib.main(run)
