"""Architectures and tokenizer corpus of the transformers 5.x tests (shared by conftest.py and the tests)."""

from __future__ import annotations

import copy
import random

WORDS = "a photo of the cat dog house tree big red small green zebra car bird on in with two".split()
TAGS = {  # the preprocessing of each architecture's published weights
    "ViT-B-32-quickgelu": "openai",
    "ViT-B-16": "laion2b_s34b_b88k",
    "ViT-B-16-SigLIP": "webli",
    "ViT-B-16-SigLIP2": "webli",
}


def corpus(n: int = 300) -> list[str]:
    rng = random.Random(0)
    return [" ".join(rng.choices(WORDS, k=rng.randint(3, 12))) for _ in range(n)]


def twin_config(name: str, tokenizer_dir=None) -> dict:
    """The registry config of ``name`` with small widths and depths (and a local tokenizer)."""
    from clipzoo import get_model_config

    cfg = copy.deepcopy(get_model_config(name))
    vision, text = cfg["vision_cfg"], cfg["text_cfg"]
    if vision.get("timm_model_name"):  # SigLIP: the trunk's numbers through timm_model_kwargs
        vision["timm_model_kwargs"] = {"embed_dim": 48, "depth": 2, "num_heads": 3, "mlp_ratio": 2.0}
        cfg["embed_dim"] = 48
        text.update(width=48, heads=3, layers=2, mlp_ratio=2.0)
    else:
        vision.update(width=64, head_width=32, layers=2, mlp_ratio=2.5)
        text.update(width=32, heads=2, layers=2)
        cfg["embed_dim"] = 24
    if tokenizer_dir is not None:
        text["hf_tokenizer_name"] = str(tokenizer_dir)
    if text["vocab_size"] > 50000:  # SigLIP 2's Gemma vocabulary (256k) would dominate the test's time
        text["vocab_size"] = 400
    return cfg
