"""Fixtures of the transformers 5.x tests (run in .venv-hf5 by `make test`; the main suite ignores this folder).

Everything is built here, offline: tokenizers trained on a small corpus (a T5-style sentencepiece model for SigLIP,
a Gemma-style byte-level BPE ``tokenizer.json`` for SigLIP 2; the CLIP BPE ships with clipzoo) and "twins" of
registry architectures: the registry config with its widths and depths shrunk, every other field (activation,
pooling, norms, eps, tokenizer options, image size, patch size) kept.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers.tokenizers import gemma_like_dir, train_spiece
from tests.hf5.hf5_twins import TAGS, corpus, twin_config


@pytest.fixture(scope="session")
def spiece_dir(tmp_path_factory):
    """A SigLIP (v1) style tokenizer folder: T5 sentencepiece model, pad = eos = '</s>'."""
    folder = tmp_path_factory.mktemp("spiece")
    train_spiece(folder, corpus(), vocab_size=36)
    config = {"tokenizer_class": "T5Tokenizer", "eos_token": "</s>", "pad_token": "</s>", "unk_token": "<unk>"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="session")
def gemma_dir(tmp_path_factory):
    """A SigLIP 2 style tokenizer folder: byte-level BPE tokenizer.json + GemmaTokenizer config (eos, no bos)."""
    config = {"add_bos_token": False, "add_eos_token": True, "padding_side": "right"}
    return gemma_like_dir(tmp_path_factory.mktemp("gemma"), corpus(), config)


@pytest.fixture
def twins(tmp_path, spiece_dir, gemma_dir):
    """Register twin-<name> for the four architectures of the issue; yields {name: twin name}."""
    from clipzoo.registry import architectures as registry

    tokenizers = {"ViT-B-16-SigLIP": spiece_dir, "ViT-B-16-SigLIP2": gemma_dir}
    folder = tmp_path / "configs"
    folder.mkdir()
    for name in TAGS:
        (folder / f"twin-{name}.json").write_text(json.dumps(twin_config(name, tokenizers.get(name))))
    registry.reset_registry()
    registry.add_model_config(folder)
    yield {name: f"twin-{name}" for name in TAGS}
    registry.reset_registry()
