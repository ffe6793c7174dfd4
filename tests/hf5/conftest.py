"""Fixtures of the transformers 5.x tests (run in .venv-hf5 by `make test`; the main suite ignores this folder).

Everything is built here, offline: tokenizers trained on a small corpus (a T5-style sentencepiece model for SigLIP,
a Gemma-style byte-level BPE ``tokenizer.json`` for SigLIP 2; the CLIP BPE ships with clipzoo) and "twins" of
registry architectures: the registry config with its widths and depths shrunk, every other field (activation,
pooling, norms, eps, tokenizer options, image size, patch size) kept.
"""

from __future__ import annotations

import json

import pytest
from hf5_twins import TAGS, corpus, twin_config


@pytest.fixture(scope="session")
def spiece_dir(tmp_path_factory):
    """A SigLIP (v1) style tokenizer folder: T5 sentencepiece model, pad = eos = '</s>'."""
    import sentencepiece as spm

    folder = tmp_path_factory.mktemp("spiece")
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_prefix=str(folder / "spiece"),
        vocab_size=36,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        minloglevel=2,
    )
    config = {
        "tokenizer_class": "T5Tokenizer",
        "eos_token": "</s>",
        "pad_token": "</s>",
        "unk_token": "<unk>",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture(scope="session")
def gemma_dir(tmp_path_factory):
    """A SigLIP 2 style tokenizer folder: byte-level BPE tokenizer.json + GemmaTokenizer config (eos, no bos)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    folder = tmp_path_factory.mktemp("gemma")
    names = {"pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>", "unk_token": "<unk>"}
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=list(names.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus(), trainer)
    tok.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "GemmaTokenizer", "add_bos_token": False, "add_eos_token": True,
              "padding_side": "right", **names}  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


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
