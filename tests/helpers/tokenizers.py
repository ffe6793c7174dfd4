"""Tiny tokenizer models trained in a test's folder (sentencepiece unigram with T5's special ids)."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = "a photo of the cat dog sitting on red blue mat with tree house car running fast big small".split()


def sentences(words: list[str], count: int, longest: int, seed: int = 0) -> list[str]:
    """``count`` sentences of 3 to ``longest`` words drawn from ``words`` (seeded)."""
    rng = random.Random(seed)
    return [" ".join(rng.choices(words, k=rng.randint(3, longest))) for _ in range(count)]


def train_spiece(
    folder: Path, corpus: list[str] | None = None, vocab_size: int = 40, add_dummy_prefix: bool = True
) -> Path:
    """A unigram ``folder/spiece.model`` with T5's special ids (pad 0, eos 1, unk 2, no bos); the default corpus
    is 300 sentences of WORDS."""
    import sentencepiece as spm

    corpus = sentences(WORDS, 300, 12) if corpus is None else corpus

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_prefix=str(folder / "spiece"),
        vocab_size=vocab_size,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        add_dummy_prefix=add_dummy_prefix,
        character_coverage=1.0,
        minloglevel=2,
    )
    return folder / "spiece.model"


def build_wordpiece_dir(folder):
    """A tiny BERT-style tokenizer.json ([CLS] ... [SEP], [PAD]=0) plus its tokenizer_config.json."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    rng = random.Random(0)
    corpus = [" ".join(rng.choices(WORDS, k=8)) for _ in range(200)]
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=120, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tok.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]",
        "bos_token": "[CLS]",
        "eos_token": "[SEP]",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def gemma_like_dir(folder: Path, corpus: list[str], config_extra: dict) -> Path:
    """A byte-level BPE ``tokenizer.json`` (400 tokens, no post-processor) and a GemmaTokenizer config with
    ``config_extra``: transformers builds the bos/eos template and the padding side from the config."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    names = {"pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>", "unk_token": "<unk>"}
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=list(names.values()), initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus, trainer)
    tok.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "GemmaTokenizer", **names, **config_extra}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder
