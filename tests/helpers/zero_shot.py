"""Stand-ins for zero-shot classification: a tiny duck-typed model, a recording tokenizer, a 2x2 transform, images."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

EMBED = 6


class TinyModel(nn.Module):
    """encode_image: linear on 3x2x2 pixels; encode_text: mean of token embeddings."""

    def __init__(self, logit_bias: float | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.image_proj = nn.Linear(12, EMBED)
        self.token_embedding = nn.Embedding(101, EMBED)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.logit_bias = None if logit_bias is None else nn.Parameter(torch.tensor(logit_bias))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_proj(images.flatten(1))

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.token_embedding(tokens).mean(dim=1)


class RecordingTokenizer:
    """Deterministic word hashing into 8 tokens; remembers every prompt it saw."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def __call__(self, texts: list[str]) -> torch.Tensor:
        self.prompts += texts
        rows = [[1 + sum(w.encode()) % 100 for w in t.split()][:8] for t in texts]
        return torch.tensor([row + [0] * (8 - len(row)) for row in rows])


def to_tensor(img: Image.Image) -> torch.Tensor:
    """A stand-in eval transform: 2x2 RGB floats."""
    data = torch.from_numpy(np.asarray(img.resize((2, 2)), dtype=np.float32)) / 255
    return data.permute(2, 0, 1)


LABELS = ["cat", "dog", "red car", "tree"]


def write_images(tmp_path) -> list[str]:
    """Three small one-colour PNG files in ``tmp_path``: their paths."""
    paths = []
    for i, color in enumerate([(255, 0, 0), (0, 0, 255), (10, 200, 30)]):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", (5, 4), color).save(path)
        paths.append(str(path))
    return paths
