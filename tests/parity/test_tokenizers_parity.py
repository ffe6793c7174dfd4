"""Token ids of clipzoo's tokenizers vs the peers, compared exactly (tolerance: none, ids must be equal).

Peers: open_clip 3.3.0 (SimpleTokenizer, tokenize/decode, reduction masks, HFTokenizer) and transformers
4.56 (SiglipTokenizer, PreTrainedTokenizerFast) loaded from the same vocabulary files.
"""

from __future__ import annotations

import json
import random
import sys
import types

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clipzoo
import clipzoo.tokenizers as cz
from tests.helpers.tokenizers import gemma_like_dir, sentences, train_spiece

oc_tok = pytest.importorskip("open_clip.tokenizer")

# Captions of the kind found in COCO / LAION alt-text.
CAPTIONS = [
    "A man riding a wave on top of a surfboard.",
    "Two dogs playing with a frisbee in the park",
    "a close up of a plate of food with broccoli",
    "Kitchen with stainless steel appliances & granite countertops",
    "The Eiffel Tower at night, Paris (France) - 2019",
    "Vintage 1960's Mid-Century Modern Teak Sideboard #4521",
    "Women's Running Shoes Size 8.5 US / 39 EU",
    "photo of a cat sitting on a laptop keyboard :)",
    "I'm not sure what they're doing, but we'll see; it's fun!",
    "HOW TO MAKE THE BEST CHOCOLATE CHIP COOKIES!!!",
    "a diagram of the water cycle: evaporation -> condensation -> precipitation",
    "Stock Photo - Young businesswoman using a smartphone in the office",
    "https://example.com/images/img_0042.jpg?size=large&v=2",
    "email me at someone@example.org for prices $19.99 (20% off)",
    "",
    "   ",
    "a",
]
# Text that exercises cleaning: emoji, CJK, RTL, combining marks, controls, entities, mojibake, widths.
AWKWARD = [
    "😀😃😄 party time 🎉🎉",
    "family: 👨\u200d👩\u200d👧\u200d👦 and flags 🇫🇷🇯🇵 and skin 👍🏽",
    "日本語のキャプション、東京タワーの写真",
    "中文标题：长城的照片",
    "한국어 캡션 서울의 야경",
    "مرحبا بالعالم صورة لقطة",
    "שלום עולם תמונה של חתול",
    "mixed RTL: hello مرحبا world",
    "cafe\u0301 vs café, Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇",
    "control\x00chars\x07here\x1b[31mred\x1b[0m and \x7f del",
    "tab\tnew\nline\rreturn\u2028sep\u2029para\x85nel",
    "&amp; &lt;b&gt;bold&lt;/b&gt; &#39;quoted&#39; &quot;x&quot; &amp;amp; &nbsp;nbsp &eacute;",
    "<b>html tags</b> & ampersand &amp; entity",
    "Ã©tÃ© Ã  la plage â€™quotesâ€\x9d Ã¼ber",
    "The Mona Lisa doesnâ€™t have eyebrows.",
    "ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ ＡＢＣ１２３",
    "ligatures: ﬁne ﬂow ﬀ",
    "“curly quotes” and ‘single’ and „low“",
    "non\u00a0breaking\u3000ideographic\u2009thin spaces",
    "zero\u200bwidth\u200cjoiners\u200d\ufeffbom",
    "math: ∑ x² ≤ ∞, √2 ≈ 1.414, π",
    "Ελληνικά κείμενο, Кириллица текст, ქართული",
    "हिन्दी शीर्षक और ไทย ภาษา",
    "İstanbul ǅemal ß straße ΣΑΣ",
    "numbers 1234567890 ١٢٣ ߁߂ ⅷ ②",
    "_underscores_ and __dunder__ and snake_case_name",
    "<start_of_text> injected <end_of_text> tokens",
    "<START_OF_TEXT> upper special",
    "it's I'VE you'RE we'Ll she'D 'm",
    "\ud83d\ude00 surrogate pair written as two code points",
]
LONG = [
    " ".join(["panorama"] * 300),
    "supercalifragilisticexpialidocious" * 20,
    "word " * 1000,
    "🙂" * 500,
]
FIXED_CORPUS = CAPTIONS + AWKWARD + LONG


def generated_corpus(n: int, seed: int = 0) -> list[str]:
    """`n` strings stitched from corpus fragments, random unicode and case changes."""
    rng = random.Random(seed)
    fragments = [w for text in CAPTIONS + AWKWARD for w in text.split(" ")]
    out = []
    for _ in range(n):
        words = rng.choices(fragments, k=rng.randint(1, 25))
        if rng.random() < 0.3:
            words.insert(
                rng.randrange(len(words) + 1), "".join(chr(rng.randint(0x20, 0x2FFF)) for _ in range(5))
            )
        text = " ".join(words)
        out.append(text.upper() if rng.random() < 0.1 else text)
    return out


@pytest.fixture(scope="module")
def pair():
    return cz.SimpleTokenizer(), oc_tok.SimpleTokenizer()


def _same_batch(ours, peer, texts, **kwargs):
    a, b = ours(texts, **kwargs), peer(texts, **kwargs)
    assert a.dtype == b.dtype == torch.long
    if not torch.equal(a, b):
        bad = [i for i in range(len(texts)) if not torch.equal(a[i], b[i])]
        pytest.fail(f"{len(bad)} texts differ, first: {texts[bad[0]]!r}")


def test_fixed_and_generated_corpus_10k(pair):
    # 10,051 strings; fresh tokenizers so cold-cache paths are compared too. (A second 25k corpus from the same
    # generator with another seed added a minute of the suite and no new kind of text.)
    texts = FIXED_CORPUS + generated_corpus(10_000)
    _same_batch(cz.SimpleTokenizer(), oc_tok.SimpleTokenizer(), texts)


@pytest.mark.parametrize("context_length", [2, 3, 5, 16, 77, 300])
def test_context_lengths(pair, context_length):
    _same_batch(*pair, FIXED_CORPUS, context_length=context_length)


@pytest.mark.parametrize("clean", ["whitespace", "canonicalize", "lower"])
def test_clean_modes(clean):
    texts = FIXED_CORPUS + generated_corpus(300, seed=1)
    _same_batch(cz.SimpleTokenizer(clean=clean), oc_tok.SimpleTokenizer(clean=clean), texts)


def test_additional_special_tokens():
    extra = ["<mask>", "<sep_x>"]
    texts = ["a <mask> cat", "<sep_x> begins", "no special", "<MASK> upper"]
    _same_batch(
        cz.SimpleTokenizer(additional_special_tokens=extra),
        oc_tok.SimpleTokenizer(additional_special_tokens=extra),
        texts,
    )


def test_module_level_tokenize_and_decode():
    texts = CAPTIONS + AWKWARD
    ours, peer = cz.tokenize(texts), oc_tok.tokenize(texts)
    assert torch.equal(ours, peer)
    for row in peer:
        assert cz.decode(row) == oc_tok.decode(row)


def test_encode_and_decode_methods(pair):
    ours, peer = pair
    for text in FIXED_CORPUS:
        ids = peer.encode(text)
        assert ours.encode(text) == ids
        assert ours.decode(ids) == peer.decode(ids)


UNICODE_TEXT = st.lists(
    st.one_of(st.text(max_size=12), st.sampled_from([w for t in AWKWARD for w in t.split(" ")])), max_size=12
).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(UNICODE_TEXT, min_size=1, max_size=8))
def test_hypothesis_unicode(pair, texts):
    _same_batch(*pair, texts)


@pytest.mark.slow
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(UNICODE_TEXT | st.text(), min_size=1, max_size=8), st.integers(2, 80))
def test_hypothesis_unicode_many(pair, texts, context_length):
    _same_batch(*pair, texts, context_length=context_length)


# -- reduction masks (same RNG draws in the same order) --------------------------------------------------


@pytest.mark.parametrize("mode", ["simple", "random", "shuffle"])
def test_reduction_masks_with_seeded_rng(mode):
    texts = LONG + CAPTIONS
    random.seed(3)
    torch.manual_seed(3)
    peer = oc_tok.SimpleTokenizer(reduction_mask=mode)(texts, context_length=16)
    random.seed(3)
    torch.manual_seed(3)
    ours = cz.SimpleTokenizer(reduction_mask=mode)(texts, context_length=16)
    assert torch.equal(ours, peer)


def test_syntax_mask_with_stub_nltk(monkeypatch):
    # nltk is not installed here: both sides get the same deterministic stand-in tagger.
    tags = ["NN", "JJ", "VB", "DT", "NNS", "IN"]
    fake = types.ModuleType("nltk")
    fake.download = lambda *a, **k: True
    fake.tokenize = types.SimpleNamespace(word_tokenize=str.split)
    fake.pos_tag = lambda words: [(w, tags[len(w) % len(tags)]) for w in words]
    monkeypatch.setitem(sys.modules, "nltk", fake)
    texts = LONG[:1] + CAPTIONS + [" ".join(f"w{i}x" * (i % 4 + 1) for i in range(60))]
    for context_length in (8, 20, 77):
        ours = cz.SimpleTokenizer(reduction_mask="syntax")(texts, context_length=context_length)
        peer = oc_tok.SimpleTokenizer(reduction_mask="syntax")(texts, context_length=context_length)
        assert torch.equal(ours, peer)


# -- SigLIP sentencepiece vs transformers' SiglipTokenizer inside open_clip's HFTokenizer ----------------


def _train_spiece(folder):
    words = [w.lower().strip(".,!") for t in CAPTIONS for w in t.split()] + ["日本", "café", "straße"]
    # add_dummy_prefix=False: transformers switches it off through protobuf (not installed here), so a model
    # trained without it loads identically on both sides.
    return train_spiece(folder, sentences(words, 400, 12), vocab_size=200, add_dummy_prefix=False)


@pytest.fixture(scope="module")
def siglip_pair(tmp_path_factory):
    import sentencepiece as spm
    import transformers.models.siglip.tokenization_siglip as hf_siglip

    model_file = _train_spiece(tmp_path_factory.mktemp("siglip"))

    class SiglipNoProtobuf(hf_siglip.SiglipTokenizer):
        def get_spm_processor(self):  # the model already has add_dummy_prefix=False
            return spm.SentencePieceProcessor(model_file=self.vocab_file)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hf_siglip, "requires_backends", lambda *a, **k: None)
        hf = SiglipNoProtobuf(str(model_file))
    # open_clip's HFTokenizer around that tokenizer, as get_tokenizer builds it for SigLIP configs.
    peer = oc_tok.HFTokenizer.__new__(oc_tok.HFTokenizer)
    peer.tokenizer, peer.tokenizer_mode, peer.context_length = hf, "", 64
    peer.clean_fn, peer.strip_sep_token = oc_tok.get_clean_fn("canonicalize"), False
    return cz.SigLipTokenizer(model_file, clean="canonicalize"), peer


def test_siglip_corpus(siglip_pair):
    texts = FIXED_CORPUS + generated_corpus(500, seed=2)
    for context_length in (4, 16, 64):
        _same_batch(*siglip_pair, texts, context_length=context_length)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(UNICODE_TEXT, min_size=1, max_size=6))
def test_siglip_hypothesis(siglip_pair, texts):
    _same_batch(*siglip_pair, texts)


# -- HF tokenizer.json vs open_clip's HFTokenizer (transformers PreTrainedTokenizerFast) -------------------


def _write_hf_dir(folder, kind: str):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    rng = random.Random(0)
    corpus = [" ".join(rng.choices([w for t in CAPTIONS for w in t.split()], k=10)) for _ in range(300)]
    if kind == "wordpiece":  # BERT-like
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        names = {
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "bos_token": "[CLS]",
            "eos_token": "[SEP]",
        }
        trainer = trainers.WordPieceTrainer(
            vocab_size=300, special_tokens=list(dict.fromkeys(names.values()))
        )
        first, last = "[CLS]", "[SEP]"
    else:  # RoBERTa-like byte-level BPE
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        names = {
            "bos_token": "<s>",
            "pad_token": "<pad>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "cls_token": "<s>",
            "sep_token": "</s>",
        }
        trainer = trainers.BpeTrainer(
            vocab_size=400,
            special_tokens=list(dict.fromkeys(names.values())),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
        first, last = "<s>", "</s>"
    tok.train_from_iterator(corpus, trainer)
    specials = [(first, tok.token_to_id(first)), (last, tok.token_to_id(last))]
    tok.post_processor = processors.TemplateProcessing(single=f"{first} $A {last}", special_tokens=specials)
    tok.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512, **names}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("kind", ["wordpiece", "bpe"])
@pytest.mark.parametrize(
    "options", [{}, {"strip_sep_token": True}, {"clean": "canonicalize"}, {"tokenizer_mode": "clips"}]
)
def test_hf_tokenizer_json(tmp_path, kind, options):
    pytest.importorskip("tokenizers")
    folder = _write_hf_dir(tmp_path, kind)
    texts = FIXED_CORPUS + generated_corpus(200, seed=4)
    ours = cz.HFTokenizer(folder, context_length=24, **options)
    peer = oc_tok.HFTokenizer(str(folder), context_length=24, **options)
    _same_batch(ours, peer, texts)
    _same_batch(ours, peer, texts, context_length=5)


def test_hf_hypothesis_ids(tmp_path_factory):
    pytest.importorskip("tokenizers")
    folder = _write_hf_dir(tmp_path_factory.mktemp("hfbpe"), "bpe")
    ours, peer = cz.HFTokenizer(folder, context_length=16), oc_tok.HFTokenizer(str(folder), context_length=16)

    @settings(max_examples=100, deadline=None)
    @given(st.lists(UNICODE_TEXT, min_size=1, max_size=6))
    def check(texts):
        _same_batch(ours, peer, texts)

    check()


def test_decode_accepts_numpy(pair):
    ids = pair[1].encode("a photo of a cat")
    assert pair[0].decode(np.array(ids)) == pair[1].decode(np.array(ids))


def test_bpe_method(pair):
    ours, peer = pair
    for word in ["photo", "zxqvwords", "unbelievable", "a", "ab", "<end_of_text>"]:
        assert ours.bpe(word) == peer.bpe(word)


def test_tokenizer_choice_matches_open_clip_for_every_registered_model(monkeypatch):
    """For each architecture both registries know, the same tokenizer kind, source, context length and
    kwargs (constructors replaced by recorders on both sides: no Hub access needed)."""
    import open_clip.factory as oc_factory

    from clipzoo.registry import architectures as registry

    def record_hf(source, context_length, cache_dir=None, tokenizer_mode=None, **kwargs):
        return ("hf", str(source), context_length, tokenizer_mode, kwargs)

    def record_bpe(context_length=None, **kwargs):
        return ("bpe", context_length, kwargs)

    monkeypatch.setattr(oc_factory, "HFTokenizer", record_hf)
    monkeypatch.setattr(oc_factory, "SimpleTokenizer", record_bpe)
    monkeypatch.setattr(cz, "build_hf_tokenizer", record_hf)
    monkeypatch.setattr(cz, "SimpleTokenizer", record_bpe)
    compared = 0
    for name in registry.list_models():
        if oc_factory.get_model_config(name) is None:
            continue  # a clipzoo-only architecture
        assert clipzoo.get_tokenizer(name) == oc_factory.get_tokenizer(name), name
        assert clipzoo.get_tokenizer(name, context_length=9) == oc_factory.get_tokenizer(name, context_length=9), (
            name
        )
        compared += 1
    assert compared > 100


def _write_gemma_like_dir(folder, config_extra: dict):
    rng = random.Random(0)
    corpus = [" ".join(rng.choices([w for t in CAPTIONS for w in t.split()], k=10)) for _ in range(300)]
    return gemma_like_dir(folder, corpus, config_extra)


@pytest.mark.parametrize(
    "config_extra",
    [
        {},  # class defaults: bos only, left padding
        {"add_bos_token": False, "add_eos_token": True, "padding_side": "right"},  # SigLIP 2 style
        {"add_bos_token": True, "add_eos_token": True},
    ],
)
def test_hf_gemma_style_config(tmp_path, config_extra):
    pytest.importorskip("tokenizers")
    folder = _write_gemma_like_dir(tmp_path, config_extra)
    texts = FIXED_CORPUS + generated_corpus(100, seed=5)
    ours = cz.HFTokenizer(folder, context_length=16, clean="canonicalize")
    peer = oc_tok.HFTokenizer(str(folder), context_length=16, clean="canonicalize")
    _same_batch(ours, peer, texts)
