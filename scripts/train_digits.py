"""Train the embedded default model, tiny-digits, on scikit-learn's handwritten digits (CPU, a few minutes).

Everything goes through clipzoo itself: the architecture from ``model_configs/tiny-digits.json``, the CLIP BPE
tokenizer, the eval image transform, and ``ClipLoss``. Captions come from templates ("a photo of the digit
seven.", "the number 7.", ...). A stratified 20% of the digits is held out and never trained on; it ships
with the package so the demo can measure zero-shot accuracy offline.

    python scripts/train_digits.py [--epochs 60] [--out src/clipzoo/weights]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

import clipzoo
from clipzoo.demo.digits import DIGIT_TEMPLATES, MODEL_NAME, TAG, digit_image, render_prompt
from clipzoo.training.loss import ClipLoss

ROOT = Path(__file__).resolve().parents[1]
SEED = 0
GROUPS_PER_STEP = 4  # 4 groups of ten digits per optimizer step
MAX_SHIFT = 0.25  # of the half-width: up to one pixel of the original 8x8 digit
MAX_ROTATION = 0.2  # radians, about 11 degrees
MAX_SCALE = 0.1


def split_digits(seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train_images, train_labels, heldout_images, heldout_labels): a stratified 80/20 split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    return tuple(
        train_test_split(
            digits.images, digits.target, test_size=0.2, stratify=digits.target, random_state=seed
        )
    )  # type: ignore[return-value]


def to_tensors(images: np.ndarray, transform) -> torch.Tensor:
    """Digits through the model's own eval transform, stacked."""
    return torch.stack([transform(digit_image(img)) for img in images])


def prompt_tokens(tokenizer) -> torch.Tensor:
    """Token ids for every (class, template) caption: [10, templates, context]."""
    texts = [[render_prompt(t, label) for t in DIGIT_TEMPLATES] for label in range(10)]
    return torch.stack([tokenizer(row) for row in texts])


def balanced_batches(labels: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
    """Groups of ten images, one per digit, so no caption in a group is another image's true caption.

    ClipLoss treats every other pair as a negative; with one image per class that is exactly the ten-way
    choice zero-shot classification asks for later.
    """
    per_class = [torch.nonzero(labels == c).flatten() for c in range(10)]
    per_class = [idx[torch.randperm(len(idx), generator=generator)] for idx in per_class]
    rounds = min(len(idx) for idx in per_class)
    batches = torch.stack([idx[:rounds] for idx in per_class], dim=1)  # [rounds, 10]
    return list(batches[torch.randperm(rounds, generator=generator)])


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random small rotation, scale and translation of each image: a hand writes no digit twice the same."""
    n = batch.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * MAX_ROTATION
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * MAX_SCALE
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * MAX_SHIFT
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    background = batch.amin(dim=(2, 3), keepdim=True)  # the normalized value of a black pixel, per channel
    return (
        F.grid_sample(batch - background, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        + background
    )


@torch.no_grad()
def zero_shot_accuracy(model, images: torch.Tensor, labels: torch.Tensor, tokens: torch.Tensor) -> float:
    """Accuracy of classifying ``images`` by the mean prompt embedding of each class."""
    model.eval()
    text = model.encode_text(tokens.flatten(0, 1), normalize=True).view(10, tokens.shape[1], -1)
    classifier = F.normalize(text.mean(dim=1), dim=-1)
    preds = (model.encode_image(images, normalize=True) @ classifier.T).argmax(dim=-1)
    model.train()
    return float((preds == labels).float().mean())


def train(epochs: int, lr: float) -> tuple[torch.nn.Module, dict]:
    """Train from scratch with a fixed seed; returns the model and a small report."""
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    x_train, x_test, y_train, y_test = split_digits()
    model, _, preprocess = clipzoo.create_model_and_transforms(MODEL_NAME)
    tokenizer = clipzoo.get_tokenizer(MODEL_NAME)
    train_images, test_images = to_tensors(x_train, preprocess), to_tensors(x_test, preprocess)
    train_labels, test_labels = torch.as_tensor(y_train), torch.as_tensor(y_test)
    tokens = prompt_tokens(tokenizer)
    loss_fn = ClipLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.2)
    group_count = len(balanced_batches(train_labels, torch.Generator().manual_seed(SEED)))
    steps = epochs * ((group_count + GROUPS_PER_STEP - 1) // GROUPS_PER_STEP)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    start = time.perf_counter()
    for epoch in range(epochs):
        groups = balanced_batches(train_labels, generator)
        for first in range(0, len(groups), GROUPS_PER_STEP):
            index = torch.stack(groups[first : first + GROUPS_PER_STEP])  # [groups, 10]
            images = augment(train_images[index.flatten()], generator)
            labels = train_labels[index.flatten()]
            texts = tokens[labels, torch.randint(0, tokens.shape[1], (len(labels),), generator=generator)]
            image_features, text_features, logit_scale = model(images, texts)
            # One ClipLoss per group of ten (one image per digit): no false negatives inside a group.
            loss = torch.stack(
                [
                    loss_fn(img, txt, logit_scale)
                    for img, txt in zip(image_features.split(10), text_features.split(10))
                ]
            ).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if epoch % 10 == 9 or epoch == epochs - 1:
            acc = zero_shot_accuracy(model, test_images, test_labels, tokens)
            print(
                f"epoch {epoch + 1:3d}  loss {loss.item():.3f}  held-out zero-shot accuracy {acc:.3f}  "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    report = {
        "heldout_accuracy": zero_shot_accuracy(model, test_images, test_labels, tokens),
        "train_seconds": time.perf_counter() - start,
        "heldout_size": len(test_labels),
    }
    return model.eval(), {**report, "x_test": x_test, "y_test": y_test}


def save(model, x_test: np.ndarray, y_test: np.ndarray, out: Path) -> Path:
    """Write fp16 weights and the held-out digits atomically into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"{MODEL_NAME}-{TAG}.safetensors"
    tmp = weights.with_suffix(".tmp")
    save_file(
        {
            k: v.detach().half().contiguous() if v.is_floating_point() else v.contiguous()
            for k, v in model.state_dict().items()
        },
        str(tmp),
    )
    os.replace(tmp, weights)
    heldout = out / "digits_heldout.npz"
    tmp = out / "digits_heldout.tmp.npz"
    np.savez_compressed(tmp, images=x_test.astype(np.uint8), labels=y_test.astype(np.uint8))
    os.replace(tmp, heldout)
    return weights


def main() -> None:
    """Train, report held-out zero-shot accuracy, and write the package files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--out", type=Path, default=ROOT / "src" / "clipzoo" / "weights")
    args = parser.parse_args()
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    model, report = train(args.epochs, args.lr)
    weights = save(model, report["x_test"], report["y_test"], args.out)
    print(
        f"held-out zero-shot accuracy {report['heldout_accuracy']:.4f} on {report['heldout_size']} digits; "
        f"trained in {report['train_seconds']:.0f} s; weights {weights} ({weights.stat().st_size / 2**20:.2f} MiB)"
    )


if __name__ == "__main__":
    main()
