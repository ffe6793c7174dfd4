"""Model forward throughput: clipzoo.models vs open_clip 3.3.0 with identical weights (fp32, CPU, inference_mode).

ViT-B-32 (random weights, copied from open_clip into clipzoo with ``strict=True``): ``encode_image`` on 32 random
224x224 images and ``encode_text`` on 64 prompts ("a photo of a {word}." style, tokenized by open_clip's
tokenizer, so both sides see the same ids). Outputs are checked to agree (atol 1e-4) before timing. Each side is
timed alternately (best wall time of ``repeats``, after a warm-up) so that load on the shared machine hits both.

Run: python scripts/bench_models.py [--quick]
"""

from __future__ import annotations

import json
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


def _models(name: str):
    import open_clip

    from clipzoo.models import build_model
    from clipzoo.registry.config import parse_model_config

    torch.manual_seed(0)
    peer = open_clip.create_model(name).eval()
    raw = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    with torch.device("meta"):
        ours = build_model(parse_model_config(raw, name)).eval()
    ours.load_state_dict(peer.state_dict(), strict=True, assign=True)
    return ours, peer


def _prompts(count: int) -> list[str]:
    return [TEMPLATES[i % len(TEMPLATES)].format(WORDS[i % len(WORDS)]) for i in range(count)]


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
        times = benchlib.best_pair(
            lambda: ours.encode_image(images), lambda: peer.encode_image(images), repeats
        )
        rows.append(
            benchlib.throughput_row(
                "ViT-B-32 encode_image fp32, 32 images",
                32 / times[0],
                32 / times[1],
                "open_clip 3.3.0",
                "images/s",
                f"best of {repeats}, {torch.get_num_threads()} threads",
            )
        )
        times = benchlib.best_pair(lambda: ours.encode_text(texts), lambda: peer.encode_text(texts), repeats)
        rows.append(
            benchlib.throughput_row(
                "ViT-B-32 encode_text fp32, 64 prompts",
                64 / times[0],
                64 / times[1],
                "open_clip 3.3.0",
                "texts/s",
                f"best of {repeats}; prompts of 6-16 tokens in a 77-token context",
            )
        )
    return rows


if __name__ == "__main__":
    benchlib.main(run)
