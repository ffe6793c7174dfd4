"""Model forward throughput: clipzoo.models vs open_clip 3.3.0 with identical weights (fp32, CPU, inference_mode).

ViT-B-32 (random weights, copied from open_clip into clipzoo with ``strict=True``): ``encode_image`` on 32 random
224x224 images, ``encode_text`` on 64 and on 4 prompts ("a photo of a {word}." style, tokenized by open_clip's
tokenizer, so both sides see the same ids). Three sides: open_clip's default forward, clipzoo's default forward
(which must compute open_clip's numbers bit for bit: checked with ``torch.equal`` before timing) and clipzoo after
``optimize_for_inference(model, "fp32")`` (SDPA on clipzoo's own projection, the pooled rows only in the last
block, text positions after the last pooled one dropped; checked against open_clip with atol 1e-4). The sides are
timed round-robin (one call of each per round, best of the rounds, after a warm-up) so that load on the shared
machine hits all three; with one thread (``OMP_NUM_THREADS=1``) the clock is the process's CPU time, which other
processes on a loaded machine do not stretch as they stretch wall time. The ``clipzoo`` column is clipzoo's default
forward, then its optimized one.

Run: python scripts/bench_models.py [--quick]
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import torch

import benchlib

CONFIG_DIR = Path(__file__).resolve().parents[1] / "model_configs"
WORDS = [
    "cat",
    "dog",
    "golden retriever",
    "tabby cat sitting on a sofa",
    "car",
    "airplane",
    "ship",
    "truck",
    "red fox in the snow",
    "bird",
    "horse",
    "frog",
    "deer",
    "tiny house",
    "mountain bike",
    "fire truck",
]
TEMPLATES = [
    "a photo of a {}.",
    "a blurry photo of the {}.",
    "a close-up photo of a {} in the wild.",
    "an origami {}.",
]
SIDES = ("clipzoo default", "open_clip", "clipzoo optimized")


def _models(name: str) -> dict[str, torch.nn.Module]:
    """The three sides with identical seeded weights: clipzoo default, open_clip, clipzoo optimized (fp32)."""
    import open_clip

    import clipzoo
    from clipzoo.models import build_model
    from clipzoo.registry.config import parse_model_config

    torch.manual_seed(0)
    peer = open_clip.create_model(name).eval()
    raw = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    with torch.device("meta"):
        ours = build_model(parse_model_config(raw, name)).eval()
    ours.load_state_dict(peer.state_dict(), strict=True, assign=True)
    optimized = clipzoo.optimize_for_inference(copy.deepcopy(ours), "fp32")
    return dict(zip(SIDES, (ours, peer, optimized)))


def _prompts(count: int) -> list[str]:
    return [TEMPLATES[i % len(TEMPLATES)].format(WORDS[i % len(WORDS)]) for i in range(count)]


def _check(models: dict[str, torch.nn.Module], call) -> None:
    """clipzoo's default forward equals open_clip's bit for bit; the optimized one within atol 1e-4."""
    want = call(models["open_clip"])
    got = call(models["clipzoo default"])
    if not torch.equal(got, want):
        raise AssertionError(f"clipzoo's default forward differs from open_clip's by {(got - want).abs().max():.3g}")
    torch.testing.assert_close(call(models["clipzoo optimized"]), want, rtol=0, atol=1e-4)


def run(quick: bool = False) -> list[dict]:
    """Throughput rows (clipzoo default and optimized vs open_clip) for encode_image and encode_text of ViT-B-32."""
    import open_clip

    logging.getLogger("clipzoo").setLevel(logging.ERROR)  # random weights, on purpose
    repeats = 3 if quick else 10
    models = _models("ViT-B-32")
    images = torch.randn(32, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    cases = [("encode_image fp32, 32 images", images, "images/s")]
    for count in (64, 4):
        cases.append((f"encode_text fp32, {count} prompts", open_clip.tokenize(_prompts(count)), "texts/s"))
    rows = []
    with torch.inference_mode():
        for label, batch, unit in cases:
            method = label.split()[0]

            def call(model, method=method, batch=batch):
                return getattr(model, method)(batch)

            _check(models, call)
            clock = benchlib.cpu_clock if torch.get_num_threads() == 1 else benchlib.wall_clock
            sides = {side: (lambda m=model: call(m)) for side, model in models.items()}
            seconds = benchlib.best_round_robin(sides, repeats, clock=clock)
            peer = len(batch) / seconds["open_clip"]
            clock = "CPU time" if torch.get_num_threads() == 1 else "wall time"
            note = f"best {clock} of {repeats}, {torch.get_num_threads()} threads"
            if unit == "texts/s":
                note += "; prompts of 6-16 tokens in a 77-token context"
            for side in ("clipzoo default", "clipzoo optimized"):
                rows.append(
                    benchlib.throughput_row(
                        f"ViT-B-32 {label}: {side}",
                        len(batch) / seconds[side],
                        peer,
                        "open_clip 3.3.0 default",
                        unit,
                        f"{seconds[side] * 1e3:.1f} ms vs {seconds['open_clip'] * 1e3:.1f} ms; {note}",
                    )
                )
    return rows


if __name__ == "__main__":
    benchlib.main(run)
