"""Model forward throughput: clipzoo.models vs open_clip 3.3.0 with identical weights (fp32, CPU, inference_mode).

ViT-B-32 (random weights, copied from open_clip into clipzoo with ``strict=True``): ``encode_image`` on 32 random
224x224 images and ``encode_text`` on 64 prompts ("a photo of a {word}." style, tokenized by open_clip's
tokenizer, so both sides see the same ids). Outputs are checked to agree (atol 1e-4) before timing. Each side is
timed alternately (best wall time of ``repeats``, after a warm-up) so that load on the shared machine hits both.

Run: python scripts/bench_models.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch

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


def best_times(ours: Callable[[], object], peer: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Fastest of ``repeats`` calls each, alternating the two sides."""
    ours(), peer()  # warm-up
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for side, fn in enumerate((ours, peer)):
            start = time.perf_counter()
            fn()
            best[side] = min(best[side], time.perf_counter() - start)
    return best[0], best[1]


def _models(name: str):
    import open_clip

    from clipzoo.config import parse_model_config
    from clipzoo.models import build_model

    torch.manual_seed(0)
    peer = open_clip.create_model(name).eval()
    raw = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    with torch.device("meta"):
        ours = build_model(parse_model_config(raw, name)).eval()
    ours.load_state_dict(peer.state_dict(), strict=True, assign=True)
    return ours, peer


def _prompts(count: int) -> list[str]:
    return [TEMPLATES[i % len(TEMPLATES)].format(WORDS[i % len(WORDS)]) for i in range(count)]


def _throughput_row(name: str, count: int, unit: str, times: tuple[float, float], note: str) -> dict:
    ours, peer = count / times[0], count / times[1]
    return {
        "name": name,
        "clipzoo": ours,
        "peer": peer,
        "peer_name": "open_clip 3.3.0",
        "unit": unit,
        "ratio": ours / peer,
        "note": note,
    }


def run(quick: bool = False) -> list[dict]:
    """Throughput rows for encode_image (32 images) and encode_text (64 prompts) of ViT-B-32."""
    import open_clip

    repeats = 3 if quick else 10
    ours, peer = _models("ViT-B-32")
    images = torch.randn(32, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    texts = open_clip.tokenize(_prompts(64))
    rows = []
    with torch.inference_mode():
        torch.testing.assert_close(ours.encode_image(images), peer.encode_image(images), rtol=0, atol=1e-4)
        torch.testing.assert_close(ours.encode_text(texts), peer.encode_text(texts), rtol=0, atol=1e-4)
        times = best_times(lambda: ours.encode_image(images), lambda: peer.encode_image(images), repeats)
        rows.append(
            _throughput_row(
                "ViT-B-32 encode_image fp32, 32 images",
                32,
                "images/s",
                times,
                f"best of {repeats}, {torch.get_num_threads()} threads",
            )
        )
        times = best_times(lambda: ours.encode_text(texts), lambda: peer.encode_text(texts), repeats)
        rows.append(
            _throughput_row(
                "ViT-B-32 encode_text fp32, 64 prompts",
                64,
                "texts/s",
                times,
                f"best of {repeats}; prompts of 6-16 tokens in a 77-token context",
            )
        )
    return rows


def main() -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    print(f"{'case':<45} {'clipzoo':>12} {'peer':>12} {'unit':>9} {'ratio':>7}")
    for r in run(quick=args.quick):
        print(
            f"{r['name']:<45} {r['clipzoo']:>12.1f} {r['peer']:>12.1f} {r['unit']:>9} {r['ratio']:>7.2f}  {r['note']}"
        )


if __name__ == "__main__":
    main()
