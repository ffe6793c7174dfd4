"""Benchmark third-party checkpoint loading: clipzoo vs the peers that read the same files.

- TorchScript archive (OpenAI format): clipzoo's code-free reader vs ``torch.jit.load(...).state_dict()``.
- transformers CLIP folder (ViT-B/32-sized, random): ``clipzoo.create_model('local-dir:...')`` vs
  ``transformers.CLIPModel.from_pretrained``.

Run standalone: ``python scripts/bench_convert.py [--quick]``.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import benchlib


def _torchscript(folder: Path, quick: bool) -> dict:
    import torch

    import clipzoo
    from clipzoo.formats import torchscript

    name = "ViT-S-32" if quick else "ViT-B-32"
    model = clipzoo.create_model(name).eval()
    image, text = torch.randn(1, 3, 224, 224), torch.randint(1, 1000, (1, 77))
    path = folder / "archive.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(model, (image, text), check_trace=False), str(path))

        def peer() -> object:
            return torch.jit.load(str(path), map_location="cpu").state_dict()

        repeat = 2 if quick else 5
        ours = benchlib.best_of(lambda: torchscript.read_torchscript(path), repeat).seconds
        theirs = benchlib.best_of(peer, repeat).seconds
    return benchlib.time_row(
        f"read TorchScript {name}", ours, theirs, "torch.jit.load", "weights only, best of runs"
    )


def _transformers_folder(folder: Path, quick: bool) -> dict:
    import torch
    from transformers import CLIPConfig, CLIPModel

    import clipzoo

    config = CLIPConfig()  # ViT-B/32 sized
    if quick:
        config = CLIPConfig(text_config={"num_hidden_layers": 2}, vision_config={"num_hidden_layers": 2})
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder / "hf")
    repeat = 2 if quick else 3
    ours = benchlib.best_of(lambda: clipzoo.create_model(f"local-dir:{folder / 'hf'}"), repeat).seconds
    theirs = benchlib.best_of(lambda: CLIPModel.from_pretrained(folder / "hf"), repeat).seconds
    label = "2-layer CLIP" if quick else "ViT-B/32 CLIP"
    return benchlib.time_row(
        f"load transformers {label}",
        ours,
        theirs,
        "transformers 4.56 from_pretrained",
        "folder with config.json + model.safetensors",
    )


def run(quick: bool = False) -> list[dict]:
    """Measure clipzoo and the peers on the same files in this process."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        return [_torchscript(folder, quick), _transformers_folder(folder, quick)]


if __name__ == "__main__":
    benchlib.main(run)
