"""Loss forward + backward time: clipzoo.training.loss vs open_clip 3.3.0's open_clip.loss (single process, fp32, CPU).

Each case times ``loss(...).backward()`` on fresh leaf features of shape [N, D] (best of `repeats`, after one
warm-up). The zero-shot classifier build is timed too (tiny random CLIP, same model and tokenizer on both sides).

Run: python scripts/bench_loss.py [--quick]
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

import benchlib

PEER = "open_clip 3.3.0"


def _step(loss_fn, inputs: dict[str, torch.Tensor]) -> Callable[[], None]:
    """One forward + backward on fresh leaves."""

    def step() -> None:
        leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
        loss_fn(**leaves).backward()

    return step


def _inputs(n: int, d: int, bias: bool) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    inputs = {
        "image_features": F.normalize(torch.randn(n, d, generator=gen), dim=-1),
        "text_features": F.normalize(torch.randn(n, d, generator=gen), dim=-1),
        "logit_scale": torch.tensor(10.0),
    }
    if bias:
        inputs["logit_bias"] = torch.tensor(-10.0)
    return inputs


def _zero_shot_rows(repeats: int) -> list[dict]:
    import open_clip
    from open_clip.model import CLIP

    from clipzoo.zero_shot.classifier import OPENAI_IMAGENET_TEMPLATES, build_zero_shot_classifier

    torch.manual_seed(0)
    model = CLIP(
        embed_dim=64,
        vision_cfg={"layers": 1, "width": 64, "head_width": 32, "patch_size": 16, "image_size": 32},
        text_cfg={"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    ).eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    names = [f"class {i}" for i in range(20)]
    ours, peer = benchlib.best_pair(
        lambda: build_zero_shot_classifier(model, tokenizer, names, OPENAI_IMAGENET_TEMPLATES),
        lambda: open_clip.build_zero_shot_classifier(model, tokenizer, names, OPENAI_IMAGENET_TEMPLATES),
        repeats,
    )
    return [
        benchlib.time_row(
            "zero-shot classifier, 20 classes x 80 prompts",
            ours,
            peer,
            PEER,
            "tiny random CLIP, same tokenizer",
        )
    ]


def run(quick: bool = False) -> list[dict]:
    """Time every loss on both sides; ratio = open_clip time / clipzoo time (>1: clipzoo faster)."""
    import open_clip.loss as peer

    from clipzoo.training import loss as ours

    repeats = 3 if quick else 10
    sizes = [(512, 512)] if quick else [(512, 512), (2048, 768)]
    rows = []
    for n, d in sizes:
        cases = [
            ("ClipLoss", ours.ClipLoss(), peer.ClipLoss(), False),
            ("SigLipLoss", ours.SigLipLoss(), peer.SigLipLoss(), True),
        ]
        for name, mine, theirs, bias in cases:
            inputs = _inputs(n, d, bias)
            t_ours, t_peer = benchlib.best_pair(_step(mine, inputs), _step(theirs, inputs), repeats)
            rows.append(
                benchlib.time_row(
                    f"{name} fwd+bwd N={n} D={d}", t_ours, t_peer, PEER, f"{torch.get_num_threads()} threads"
                )
            )
    rows += _zero_shot_rows(2 if quick else 5)
    return rows


if __name__ == "__main__":
    benchlib.main(run)
