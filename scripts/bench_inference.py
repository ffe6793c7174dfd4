"""CPU inference paths against the machine's own limit: throughput, MFU, first-call cost and accuracy per path.

For ViT-B-32 (32 images, 64 texts), SigLIP ViT-B-16 (8 images, 32 texts) and ViT-L-14 (4 images, 16 texts; skipped
with --quick; texts are full-context rows) with seeded random weights (nothing is downloaded; speed does not depend on the values):
``encode_image`` and ``encode_text`` for open_clip 3.3.0 fp32 (the peer, same weights) and each clipzoo path
(``fp32``; ``bf16`` and ``int8`` from ``clipzoo.optimize_for_inference``; ``auto`` is whichever of them this CPU
gets). The paths are timed round-robin (one call of each per round, best of the rounds) so that load on the
shared machine hits all of them. The same run measures the GEMM peak per dtype (2048x2048x2048: fp32 matmul,
bf16 oneDNN-packed linear, int8 dynamic linear; at the start and at the end, the better kept, since load on a shared
machine changes within a run) and MFU = profile GFLOPs per item x items/s / that dtype's peak
(profiles: src/clipzoo/registry/model_profiles.json). First-call cost = the rewrite (cast, quantize, prepack) + the first
call's extra time over a warm one (oneDNN primitive creation). Accuracy: min cosine to clipzoo fp32 of ViT-B-32's
image features on scikit-image's photos, and tiny-digits' held-out zero-shot accuracy (embedded trained weights).

Run: python scripts/bench_inference.py [--quick]
"""

from __future__ import annotations

import copy
import json
import logging
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

import benchlib

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "src" / "clipzoo" / "registry" / "model_profiles.json"
# (model, images per call, prompts per call, in quick mode)
MODELS = (("ViT-B-32", 32, 64, True), ("ViT-B-16-SigLIP", 8, 32, True), ("ViT-L-14", 4, 16, False))
PATHS = ("fp32", "bf16", "int8")
GEMM = 2048


def gemm_peaks(repeats: int) -> dict[str, float]:
    """GFLOPS of one 2048^3 GEMM per dtype (best of ``repeats``): what this machine's kernels reach right now."""
    from clipzoo.inference.convert import Int8Linear, PackedLinear
    from clipzoo.inference.optimize import available_kernels

    kernels = available_kernels()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(GEMM, GEMM, generator=gen)
    linear = torch.nn.Linear(GEMM, GEMM, bias=False)
    cases = {"fp32": lambda: x @ x}
    if kernels.bf16:
        packed, xb = PackedLinear(linear), x.bfloat16()
        cases["bf16"] = lambda: packed(xb)
    if kernels.int8:
        int8 = Int8Linear(linear, reduce_range=False)
        cases["int8"] = lambda: int8(x)
    flops = 2 * GEMM**3
    return {k: flops / benchlib.best_of(fn, repeats).seconds / 1e9 for k, fn in cases.items()}


def _models(name: str):
    """(open_clip fp32, clipzoo fp32) with identical seeded random weights."""
    import open_clip

    from clipzoo.models import build_model
    from clipzoo.registry.config import parse_model_config

    torch.manual_seed(0)
    peer = open_clip.create_model(name).eval()
    raw = json.loads((ROOT / "model_configs" / f"{name}.json").read_text())
    with torch.device("meta"):
        ours = build_model(parse_model_config(raw, name)).eval()
    ours.load_state_dict(peer.state_dict(), strict=True, assign=True)
    return peer, ours


def _tokens(name: str, count: int) -> torch.Tensor:
    """``count`` full-context token rows (seeded ids, no tokenizer download), end-of-text id last.

    Full rows, because the profile counts every position: clipzoo drops the padding after the longest prompt
    (open_clip does not), so padded prompts would measure that, not the kernels.
    """
    import clipzoo

    cfg = clipzoo.get_model_config(name)["text_cfg"]
    vocab, context = cfg.get("vocab_size", 49408), cfg.get("context_length", 77)
    ids = torch.randint(1, vocab - 1, (count, context), generator=torch.Generator().manual_seed(0))
    ids[:, -1] = vocab - 1  # the largest id, where CLIP's argmax pooling looks for the end of text
    return ids


def _variants(ours, peer) -> dict:
    """name -> (model, first-call seconds of the rewrite); each CPU path on its own copy of the fp32 model."""
    import clipzoo
    from clipzoo.inference.optimize import available_kernels

    kernels = available_kernels()
    out = {"open_clip fp32": (peer, 0.0), "fp32": (ours, 0.0)}
    for path in ("bf16", "int8"):
        if getattr(kernels, path):
            model = clipzoo.optimize_for_inference(copy.deepcopy(ours), path)
            out[path] = (model, model.inference_report.seconds)
    return out


def _throughputs(variants: dict, call, count: int, repeats: int) -> dict[str, tuple[float, float]]:
    """name -> (items/s, first-call extra seconds), timed round-robin over the variants."""
    first = {}
    for name, (model, _) in variants.items():
        first[name] = benchlib.best_of(lambda m=model: call(m), 1).seconds
    best = {name: float("inf") for name in variants}
    for _ in range(repeats):
        for name, (model, _) in variants.items():
            best[name] = min(best[name], benchlib.best_of(lambda m=model: call(m), 1).seconds)
    return {name: (count / best[name], max(0.0, first[name] - best[name])) for name in variants}


def _model_rows(name: str, images: int, prompts: int, repeats: int, auto: str) -> list[dict]:
    entry = json.loads(PROFILES.read_text())["models"][name]
    profile, size = entry["computed"]["flops"], entry["image_size"]
    peer, ours = _models(name)
    variants = _variants(ours, peer)
    pixels = torch.randn(images, 3, *size, generator=torch.Generator().manual_seed(0))
    tokens = _tokens(name, prompts)
    rows = []
    with torch.inference_mode():
        for tower, call, count, unit in (
            ("image", lambda m: m.encode_image(pixels), images, "images/s"),
            ("text", lambda m: m.encode_text(tokens), prompts, "texts/s"),
        ):
            speed = _throughputs(variants, call, count, repeats)
            gflops = profile[tower] / 1e9
            base = speed["open_clip fp32"][0]
            for path, (rate, first_call) in speed.items():
                prep = variants[path][1]
                label = f"{path}{' = auto' if path == auto else ''}"
                note = f"first call +{prep + first_call:.1f} s (rewrite {prep:.1f} s); {torch.get_num_threads()} threads"
                row = benchlib.throughput_row(
                    f"{name} encode_{tower} x{count}: {label}", rate, base, "open_clip 3.3.0 fp32", unit, note
                )
                row["gflops_per_item"], row["dtype"] = gflops, path.split()[-1]
                rows.append(row)
    return rows


def _add_mfu(rows: list[dict], peaks: dict[str, float]) -> None:
    """Prefix each throughput row's note with its MFU against the peak of the dtype it computes in."""
    for row in rows:
        dtype, gflops = row.pop("dtype", None), row.pop("gflops_per_item", None)
        if dtype is None:
            continue
        peak = peaks.get(dtype, float("nan"))
        row["note"] = (
            f"MFU {gflops * row['clipzoo'] / peak:.2f} of {dtype} peak {peak:.0f} GFLOPS; " + row["note"]
        )


def _cosine_rows(auto: str) -> list[dict]:
    """Min cosine to clipzoo fp32 of ViT-B-32 image features on scikit-image's photos, per path."""
    import clipzoo

    torch.manual_seed(0)
    model, _, preprocess = clipzoo.create_model_and_transforms("ViT-B-32")
    pixels = torch.stack([preprocess(p) for p in benchlib.skimage_photos()])
    rows = []
    with torch.inference_mode():
        reference = model.encode_image(pixels)
        for path, (variant, _) in _variants(model, model).items():
            if path in ("fp32", "open_clip fp32"):
                continue
            cos = F.cosine_similarity(variant.encode_image(pixels), reference)
            rows.append(
                benchlib.throughput_row(
                    f"ViT-B-32 image features, {len(pixels)} skimage photos: {path} min cosine to fp32",
                    float(cos.min()),
                    1.0,
                    "clipzoo fp32 features",
                    "cosine",
                    f"mean {float(cos.mean()):.5f}; random weights{'; auto' if path == auto else ''}",
                )
            )
    return rows


def _digits_rows(auto: str) -> list[dict]:
    """tiny-digits held-out zero-shot accuracy per path (the embedded trained model), against fp32."""
    import clipzoo
    from clipzoo.demo import tour as demo
    from clipzoo.demo.digits import load_heldout
    from clipzoo.inference.optimize import available_kernels

    images, labels = load_heldout()
    kernels = available_kernels()
    accuracy = {}
    for path in PATHS:
        if path != "fp32" and not getattr(kernels, path):
            continue
        model, preprocess, tokenizer, _ = demo.load_embedded("cpu")
        if path != "fp32":
            clipzoo.optimize_for_inference(model, path)
        preds = demo.classify(model, preprocess, tokenizer, images)
        accuracy[path] = 100.0 * sum(p == y for (p, _), y in zip(preds, labels)) / len(labels)
    return [
        benchlib.throughput_row(
            f"tiny-digits held-out zero-shot accuracy ({len(labels)} digits): {path}",
            acc,
            accuracy["fp32"],
            "clipzoo fp32",
            "%",
            f"{acc - accuracy['fp32']:+.2f} points{'; auto' if path == auto else ''}",
        )
        for path, acc in accuracy.items()
    ]


def run(quick: bool = False) -> list[dict]:
    """Rows: GEMM peaks, per-path image/text throughput with MFU and first-call cost, cosine and accuracy."""
    import clipzoo
    from clipzoo.inference.optimize import available_kernels
    from clipzoo.inference.paths import choose_path

    logging.getLogger("clipzoo").setLevel(
        logging.ERROR
    )  # the random-weights warnings; the paths are in the rows
    features = clipzoo.detect_cpu_features()
    auto = choose_path("auto", features, available_kernels()).path
    print(
        f"[inference] CPU: {features.model_name} [{features.summary()}]; auto path: {auto}", file=sys.stderr
    )
    start_peaks = gemm_peaks(2 if quick else 3)
    model_rows = []
    for name, images, prompts, in_quick in MODELS:
        if quick and not in_quick:
            continue
        model_rows += _model_rows(name, images // 2 if quick else images, prompts, 1 if quick else 2, auto)
    end_peaks = gemm_peaks(2 if quick else 3)
    peaks = {dtype: max(start_peaks[dtype], end_peaks[dtype]) for dtype in start_peaks}
    _add_mfu(model_rows, peaks)
    rows = [
        benchlib.throughput_row(
            f"GEMM peak {dtype} ({GEMM}^3, {torch.get_num_threads()} threads)",
            gflops,
            peaks["fp32"],
            "fp32 GEMM peak",
            "GFLOPS",
            f"start {start_peaks[dtype]:.0f}, end {end_peaks[dtype]:.0f}; CPU {features.model_name}: "
            f"{features.summary()}",
        )
        for dtype, gflops in peaks.items()
    ] + model_rows
    return rows + _cosine_rows(auto) + _digits_rows(auto)


if __name__ == "__main__":
    benchlib.main(run)
