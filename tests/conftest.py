"""Shared fixtures: tiny architectures registered for the duration of a test."""

from __future__ import annotations

import json
from importlib import metadata

import pytest

# tests/hf5/ needs transformers 5.x: it runs in .venv-hf5 (`make test` runs it after this suite), not in the main
# environment, whose lock keeps transformers 4.x for open_clip's CoCa parity.
collect_ignore = [] if int(metadata.version("transformers").split(".")[0]) >= 5 else ["hf5"]

TINY_VIT = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
TINY_RN = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "patch_size": None},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY_SIGLIP_TEXT = {
    "embed_dim": 32,
    "init_logit_bias": -10,
    "custom_text": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {
        "context_length": 16,
        "vocab_size": 1000,
        "width": 32,
        "heads": 2,
        "layers": 2,
        "no_causal_mask": True,
        "pool_type": "last",
        "proj_bias": True,
    },
}
TINY_CONFIGS = {"tiny-vit": TINY_VIT, "tiny-rn": TINY_RN, "tiny-siglip": TINY_SIGLIP_TEXT}


@pytest.fixture
def tiny_configs(tmp_path_factory):
    """Register tiny architectures (tiny-vit, tiny-rn, tiny-siglip) in clipzoo; returns the folder."""
    from clipzoo.registry import architectures as registry

    folder = tmp_path_factory.mktemp("configs")
    for name, cfg in TINY_CONFIGS.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
    registry.reset_registry()
    registry.add_model_config(folder)
    yield folder
    registry.reset_registry()


@pytest.fixture
def fresh_tags():
    """A tag registry that tests may extend; restored afterwards."""
    from clipzoo.registry import tags as pretrained

    yield pretrained.reset_tags()
    pretrained.reset_tags()
