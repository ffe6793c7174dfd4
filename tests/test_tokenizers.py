"""Behaviour of clipzoo.tokenizers (no peers here; parity with open_clip/transformers is in tests/parity)."""

from __future__ import annotations

import copy
import gzip
import hashlib
import html
import json
import random
import sys

import ftfy
import huggingface_hub.constants  # noqa: F401 - before a test sets HF_HUB_OFFLINE: it is read at this import
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from clipzoo.factory.tokenizer import get_tokenizer
from clipzoo.tokenizers import (
    HFTokenizer,
    SigLipTokenizer,
    SimpleTokenizer,
    bpe,
    decode,
    default_bpe,
    tokenize,
)
from clipzoo.tokenizers.clean import basic_clean, is_ftfy_stable
from tests.helpers.tokenizers import WORDS, build_wordpiece_dir, train_spiece


@pytest.fixture(scope="module")
def clip() -> SimpleTokenizer:
    return SimpleTokenizer()


# -- the ftfy fast path ----------------------------------------------------------------------------------

ASCII_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


@settings(max_examples=400, deadline=None)
@given(ASCII_PRINTABLE)
def test_ftfy_leaves_printable_ascii_without_ampersand_alone(text):
    if is_ftfy_stable(text):
        assert ftfy.fix_text(text) == text
        assert html.unescape(html.unescape(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_fast_path_only_claims_what_ftfy_keeps(text):
    if is_ftfy_stable(text):
        assert ftfy.fix_text(text) == text
    assert basic_clean(text) == html.unescape(html.unescape(ftfy.fix_text(text))).strip()


# Characters ftfy rewrites, and letters it reads as mojibake when they meet.
FTFY_BAIT = [
    "Ã",
    "©",
    "â",
    "€",
    "™",
    "Â",
    "\xa0",
    "ﬁ",
    "ＡＢ",
    "\u3000",
    "“",
    "”",
    "‘",
    "’",
    "ʼ",
    "\ufffc",
    "é",
    "e\u0301",
]


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(FTFY_BAIT) | st.text(max_size=3), max_size=10).map("".join))
def test_fast_path_on_mojibake_bait(text):
    if is_ftfy_stable(text):
        assert ftfy.fix_text(text) == text


@pytest.mark.parametrize(
    "text",
    ["a\tb", "x\ny", "&amp;", "\x1b[31mred", "\x7f", "Ã©tÃ©", "ﬁne", "ＡＢＣ", "“q”", "e\u0301", "\ufffc"],
)
def test_fast_path_refuses_text_ftfy_may_change(text):
    assert not is_ftfy_stable(text)


@pytest.mark.parametrize("text", ["café naïve", "日本語のキャプション", "مرحبا", "Ελληνικά", "😀 party"])
def test_fast_path_takes_clean_unicode(text):
    assert is_ftfy_stable(text) and ftfy.fix_text(text) == text


# -- BPE -------------------------------------------------------------------------------------------------


def _reference_bpe(symbols: list[str], ranks: dict) -> list[str]:
    """Textbook BPE: merge all occurrences of the best pair in one left-to-right pass, repeat."""
    word = list(symbols)
    while len(word) > 1:
        pairs = set(zip(word, word[1:]))
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        merged, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                merged.append(word[i] + word[i + 1])
                i += 2
            else:
                merged.append(word[i])
                i += 1
        word = merged
    return word


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aabbenrstlo", min_size=1, max_size=24) | st.text(min_size=1, max_size=12))
def test_merge_word_matches_textbook_bpe(clip, word):
    chars = clip._byte_chars(word)
    symbols = [*chars[:-1], chars[-1] + "</w>"]
    assert bpe._merge_word(list(symbols), clip.bpe_ranks) == _reference_bpe(symbols, clip.bpe_ranks)


def test_shipped_vocab_digest_and_whole_word_tokens_merge_to_themselves(clip):
    # The whole-word shortcut (SELF_MERGING_VOCAB_SHA256) rests on exactly this property of this file.
    with open(default_bpe(), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == bpe.SELF_MERGING_VOCAB_SHA256
    assert clip._num_bpe_tokens == clip.sot_token_id == 49406
    whole = [
        t for t, i in clip.encoder.items() if i < clip._num_bpe_tokens and t.endswith("</w>") and len(t) > 4
    ]
    assert len(whole) > 30000
    for token in whole:
        chars = token[:-4]
        assert bpe._merge_word([*chars[:-1], chars[-1] + "</w>"], clip.bpe_ranks) == [token]
        assert clip._bpe_ids(chars) == (clip.encoder[token],)


def test_vocab_is_package_data():
    from importlib import resources

    assert resources.files("clipzoo.tokenizers").joinpath(bpe.VOCAB_FILE).is_file()
    assert SimpleTokenizer().vocab_size == 49408


def test_other_merges_file_skips_the_shortcut_and_gives_the_same_ids(tmp_path, clip):
    copy = tmp_path / "vocab.txt.gz"
    with gzip.open(default_bpe(), "rb") as f:
        copy.write_bytes(gzip.compress(f.read(), compresslevel=1))  # same merges, different bytes
    other = SimpleTokenizer(bpe_path=copy)
    assert other._num_bpe_tokens == 0  # the whole-word shortcut is off
    texts = ["a photo of a diagram", "unbelievably weird compoundword"]
    assert torch.equal(other(texts), clip(texts))


# -- SimpleTokenizer behaviour ---------------------------------------------------------------------------


def test_layout_start_ids_end_padding(clip):
    out = clip(["a photo of a cat", ""], context_length=10)
    assert out.dtype == torch.long and out.shape == (2, 10)
    assert out[0, 0] == clip.sot_token_id and out[0, 6] == clip.eot_token_id and (out[0, 7:] == 0).all()
    assert out[1, :2].tolist() == [clip.sot_token_id, clip.eot_token_id] and (out[1, 2:] == 0).all()
    assert out[0, 1:6].tolist() == clip.encode("a photo of a cat")


def test_truncation_keeps_end_token(clip):
    out = clip(" ".join(["dog"] * 100))
    assert out.shape == (1, 77) and out[0, -1] == clip.eot_token_id and (out[0, 1:-1] != 0).all()
    for n in (2, 3, 5):
        short = clip(["a photo of a cat", "x"], context_length=n)
        assert short[0, 0] == clip.sot_token_id and short[0, n - 1] == clip.eot_token_id


def test_tokenize_and_decode_module_functions():
    ids = tokenize(["A Photo of a CAT."])
    assert ids.shape == (1, 77)
    assert decode(ids[0][1 : (ids[0] != 0).sum() - 1]) == "a photo of a cat . "


def test_decode_inverts_encode_up_to_cleaning(clip):
    text = "naïve café — 日本 😀"
    assert clip.decode(clip.encode(text)).split() == text.split()


def test_special_tokens_in_text(clip):
    assert clip.encode("<start_of_text>") == [clip.sot_token_id]
    extra = SimpleTokenizer(additional_special_tokens=["<mask>", "<|x|>"])
    ids = extra.encode("a <mask> and <|x|>")
    assert extra.encoder["<mask>"] in ids and extra.encoder["<|x|>"] in ids and extra.vocab_size == 49410


def test_clean_modes(clip):
    assert clip.encode("  A   Dog  ") == clip.encode("a dog")
    keep_case = SimpleTokenizer(clean="whitespace")
    assert keep_case.encode("Dog") != keep_case.encode("dog")
    canon = SimpleTokenizer(clean="canonicalize")
    assert canon.encode("A dog, running_fast!") == clip.encode("a dog running fast")


def test_chunk_cache_is_bounded_and_exact(monkeypatch, clip):
    monkeypatch.setattr(bpe, "MAX_CACHED_CHUNKS", 3)
    small = SimpleTokenizer()
    texts = [" ".join(random.Random(i).choices(WORDS, k=8)) for i in range(20)]
    assert torch.equal(small(texts), clip(texts)) and len(small._chunk_cache) <= 3


# -- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("factory", [SimpleTokenizer, lambda: SimpleTokenizer(reduction_mask="simple")])
def test_non_string_item_names_its_index(factory):
    with pytest.raises(TypeError, match=r"texts\[2\].*int"):
        factory()(["a", "b", 3])
    with pytest.raises(TypeError, match="sequence of str"):
        factory()(123)


@pytest.mark.parametrize("bad", [0, 1, -5, 2.5, True])
def test_context_length_below_two_is_rejected(clip, bad):
    with pytest.raises(ValueError, match="context_length"):
        clip("a cat", context_length=bad)
    with pytest.raises(ValueError, match="context_length"):
        SimpleTokenizer(context_length=bad)("a cat")


def test_unknown_modes_are_rejected():
    with pytest.raises(ValueError, match="clean mode 'upper'.*lower"):
        SimpleTokenizer(clean="upper")
    with pytest.raises(ValueError, match="reduction_mask 'smart'.*simple"):
        SimpleTokenizer(reduction_mask="smart")


def test_syntax_mask_without_nltk_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "nltk", None)
    with pytest.raises(ImportError, match="nltk"):
        SimpleTokenizer(reduction_mask="syntax")("a photo of a cat")


@pytest.mark.parametrize("mode", ["simple", "random", "shuffle"])
def test_reduction_masks_keep_start_end_and_a_subset(clip, mode):
    text = " ".join(f"w{i}" for i in range(40))
    full = clip.encode(text)
    out = SimpleTokenizer(reduction_mask=mode)(text, context_length=12)[0].tolist()
    assert out[0] == clip.sot_token_id and out[11] == clip.eot_token_id
    assert set(out[1:11]) <= set(full)
    if mode == "simple":  # one contiguous block
        assert any(full[s : s + 10] == out[1:11] for s in range(len(full) - 9))


# -- SigLIP sentencepiece --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spiece(tmp_path_factory):
    return train_spiece(tmp_path_factory.mktemp("spiece"))


def test_siglip_layout_eos_and_padding(spiece):
    tok = SigLipTokenizer(spiece)
    out = tok(["a photo of a cat", ""])
    assert out.shape == (2, 64) and out.dtype == torch.long
    n = len(tok.encode("a photo of a cat"))
    assert out[0, n] == tok.eos_token_id == 1
    assert (out[0, n + 1 :] == tok.pad_token_id).all() and tok.pad_token_id == 1  # SigLIP pads with </s>
    assert out[1, 0] == 1


def test_siglip_canonicalizes_and_truncates_keeping_eos(spiece):
    tok = SigLipTokenizer(spiece)
    assert torch.equal(tok("A  Photo, of a CAT!"), tok("a photo of a cat"))
    long = tok(" ".join(["house"] * 200), context_length=16)
    assert long.shape == (1, 16) and long[0, -1] == tok.eos_token_id and (long[0, :-1] != 1).all()


def test_siglip_ids_equal_plain_sentencepiece_on_clean_text(spiece):
    import sentencepiece as spm

    plain = spm.SentencePieceProcessor(model_file=str(spiece))
    tok = SigLipTokenizer(spiece)
    for text in ["a photo of the cat", "big red house with tree", "zebra"]:
        assert tok.encode(text) == plain.encode(text)


def test_siglip_from_dir_reads_special_tokens(tmp_path, spiece):
    (tmp_path / "spiece.model").write_bytes(spiece.read_bytes())
    config = {"tokenizer_class": "T5Tokenizer", "pad_token": "<pad>", "eos_token": {"content": "</s>"}}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    tok = SigLipTokenizer.from_dir(tmp_path, context_length=8)
    assert tok.pad_token_id == 0 and tok("a cat")[0, -1] == 0
    with pytest.raises(ValueError, match="pad_token '<nope>'"):
        SigLipTokenizer(spiece, pad_token="<nope>")


def test_siglip_bad_input(spiece):
    tok = SigLipTokenizer(spiece)
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        tok(["a", None])
    with pytest.raises(ValueError, match="context_length"):
        tok("a", context_length=1)


# -- HF tokenizer.json -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wordpiece_dir(tmp_path_factory):
    pytest.importorskip("tokenizers")
    return build_wordpiece_dir(tmp_path_factory.mktemp("wordpiece"))


def test_hf_layout_padding_truncation_and_sep_strip(wordpiece_dir):
    tok = HFTokenizer(wordpiece_dir, context_length=12)
    cls, sep = tok.special_ids["cls_token"], tok.special_ids["sep_token"]
    out = tok(["a photo of a cat", " ".join(["house"] * 50)])
    assert out.shape == (2, 12) and out[0, 0] == cls and out[1, 0] == cls
    assert out[1, -1] == sep and sep in out[0].tolist() and out[0, -1] == tok.special_ids["pad_token"]
    stripped = HFTokenizer(wordpiece_dir, context_length=12, strip_sep_token=True)("a photo of a cat")
    assert sep not in stripped[0].tolist()


def test_hf_clips_mode_puts_class_token_last(wordpiece_dir):
    tok = HFTokenizer(wordpiece_dir, context_length=10, tokenizer_mode="clips")
    out = tok(" ".join(["house"] * 50))[0].tolist()
    assert out[-1] == tok.special_ids["cls_token"] and out[0] == tok.special_ids["bos_token"]
    assert out[-2] == tok.special_ids["eos_token"]


def test_hf_errors(wordpiece_dir, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="language"):
        HFTokenizer(wordpiece_dir, language="fra_Latn")
    with pytest.raises(ValueError, match="language='fra_Latn'"):  # open_clip's later switch: refused alike
        HFTokenizer(wordpiece_dir).set_language("fra_Latn")
    with pytest.raises(ValueError, match="tokenizer_mode"):
        HFTokenizer(wordpiece_dir, tokenizer_mode="fancy")
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        HFTokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ImportError, match=r"clipzoo\[hf\]"):
        HFTokenizer(tmp_path)


# -- get_tokenizer ---------------------------------------------------------------------------------------


@pytest.fixture
def configs(monkeypatch):
    """A fake registry: get_tokenizer reads `clipzoo.registry.architectures.get_model_config`."""
    from clipzoo.registry import architectures as registry

    table: dict[str, dict] = {}
    monkeypatch.setattr(registry, "get_model_config", lambda name: json.loads(json.dumps(table.get(name))))
    monkeypatch.setattr(registry, "list_models", lambda: sorted(table))
    return table


def test_get_tokenizer_clip_from_config(configs):
    configs["My-CLIP"] = {"text_cfg": {"context_length": 32}}
    tok = get_tokenizer("My-CLIP")
    assert isinstance(tok, SimpleTokenizer) and tok("a cat").shape == (1, 32)
    assert get_tokenizer("My-CLIP", context_length=8)("a cat").shape == (1, 8)
    configs["Canon"] = {"text_cfg": {"tokenizer_kwargs": {"clean": "canonicalize"}}}
    assert (
        get_tokenizer("Canon").clean == "canonicalize"
        and get_tokenizer("Canon", clean="lower").clean == "lower"
    )
    assert isinstance(get_tokenizer(), SimpleTokenizer)


def test_get_tokenizer_never_reads_the_name(configs):
    configs["ViT-B-16-SigLIP-lookalike"] = {"text_cfg": {"context_length": 64}}
    assert isinstance(get_tokenizer("ViT-B-16-SigLIP-lookalike"), SimpleTokenizer)


def test_get_tokenizer_unknown_model_lists_close_matches(configs):
    configs["ViT-B-32"] = {"text_cfg": {}}
    with pytest.raises(ValueError, match="ViT-B-32"):
        get_tokenizer("ViT-B-23")


def test_get_tokenizer_siglip_from_local_sentencepiece(configs, tmp_path, spiece):
    (tmp_path / "spiece.model").write_bytes(spiece.read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer"}))
    configs["Sig"] = {
        "text_cfg": {
            "context_length": 64,
            "hf_tokenizer_name": str(tmp_path),
            "tokenizer_kwargs": {"clean": "canonicalize"},
        }
    }
    tok = get_tokenizer("Sig")
    assert isinstance(tok, SigLipTokenizer) and tok("A cat!").shape == (1, 64)


def test_get_tokenizer_hf_and_local_dir(configs, tmp_path, wordpiece_dir):
    configs["Bert"] = {"text_cfg": {"context_length": 20, "hf_tokenizer_name": str(wordpiece_dir)}}
    tok = get_tokenizer("Bert")
    assert isinstance(tok, HFTokenizer) and tok("a cat").shape == (1, 20)
    folder = build_wordpiece_dir(tmp_path)
    model_cfg = {
        "text_cfg": {"context_length": 9, "hf_tokenizer_name": "org/not-used", "tokenizer_kwargs": {}}
    }
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg}))
    local = get_tokenizer(f"local-dir:{folder}")
    assert isinstance(local, HFTokenizer) and local("a cat").shape == (1, 9)


def test_get_tokenizer_hub_repo_offline_without_cache(configs, tmp_path, monkeypatch):
    """Not a missing file but a network refusal: a NetworkError (status 3) saying how to fetch the files."""
    from clipzoo.errors import NetworkError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    configs["Hubbed"] = {"text_cfg": {"hf_tokenizer_name": "org/missing-tokenizer"}}
    with pytest.raises(NetworkError, match="'org/missing-tokenizer' are not in the cache"):
        get_tokenizer("Hubbed", cache_dir=str(tmp_path))


def test_registry_model_offline_without_cached_tokenizer(tmp_path, monkeypatch):
    from clipzoo.errors import NetworkError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(NetworkError, match=r"tokenizer files of 'timm/ViT-B-16-SigLIP' are not in the cache and "
                       r"downloads are off \(HF_HUB_OFFLINE=1\): fetch them once online"):  # fmt: skip
        get_tokenizer("ViT-B-16-SigLIP", cache_dir=str(tmp_path))


def test_save_pretrained_round_trips(tmp_path, spiece, wordpiece_dir):
    siglip = SigLipTokenizer(spiece, pad_token="<pad>", context_length=12)
    siglip.save_pretrained(tmp_path / "sig")
    again = SigLipTokenizer.from_dir(tmp_path / "sig", context_length=12)
    assert torch.equal(again(["a red car", "big tree"]), siglip(["a red car", "big tree"]))
    hf = HFTokenizer(wordpiece_dir, context_length=12)
    hf.save_pretrained(tmp_path / "hf")
    assert torch.equal(HFTokenizer(tmp_path / "hf", context_length=12)("a red car"), hf("a red car"))


def test_bpe_method_matches_pieces(clip):
    assert clip.bpe("photo") == "photo</w>"
    assert clip.bpe("zxqv").endswith("</w>") and "".join(clip.bpe("zxqv").split()) == "zxqv</w>"


def test_get_tokenizer_hf_hub_repo_then_offline_from_cache(local_hub, monkeypatch, spiece):
    """'hf-hub:org/repo' reads open_clip_config.json and the tokenizer files through the Hub cache."""
    repo = "org/tiny-siglip"
    model_cfg = {
        "text_cfg": {
            "context_length": 16,
            "hf_tokenizer_name": repo,
            "tokenizer_kwargs": {"clean": "canonicalize"},
        }
    }
    local_hub.add_hub_file(repo, "open_clip_config.json", json.dumps({"model_cfg": model_cfg}).encode())
    local_hub.add_hub_file(repo, "tokenizer_config.json", json.dumps({"tokenizer_class": "T5Tokenizer"}).encode())
    local_hub.add_hub_file(repo, "spiece.model", spiece.read_bytes())
    online = get_tokenizer(f"hf-hub:{repo}")
    assert isinstance(online, SigLipTokenizer) and online("a cat").shape == (1, 16)
    local_hub.dead = True  # from here on the server closes every connection: the cache alone must do
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = get_tokenizer(f"hf-hub:{repo}")
    assert torch.equal(offline(["A cat!", "red car"]), online(["a cat", "red car"]))


def test_t5_folder_without_canonicalize_is_not_treated_as_siglip(configs, tmp_path, spiece):
    # mT5-style configs (clean='whitespace') need transformers' fast T5 behaviour, i.e. the tokenizer.json.
    (tmp_path / "spiece.model").write_bytes(spiece.read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer"}))
    configs["mT5-like"] = {"text_cfg": {"hf_tokenizer_name": str(tmp_path)}}
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        get_tokenizer("mT5-like")
    configs["SigLIP-like"] = {
        "text_cfg": {"hf_tokenizer_name": str(tmp_path), "tokenizer_kwargs": {"clean": "canonicalize"}}
    }
    assert isinstance(get_tokenizer("SigLIP-like"), SigLipTokenizer)


# --- tokenizers: an empty list --------------------------------------------------------------------------


def test_empty_text_list_gives_an_empty_long_tensor(tmp_path):
    from clipzoo.tokenizers import HFTokenizer, SigLipTokenizer, SimpleTokenizer
    from clipzoo.tokenizers.bpe import get_reduction_mask_fn

    (tmp_path / "sp").mkdir()
    (tmp_path / "wp").mkdir()
    wordpiece = str(build_wordpiece_dir(tmp_path / "wp"))
    clip = SimpleTokenizer()
    masked = []
    for mode in ("simple", "random", "shuffle"):  # one vocabulary, three reduction strategies
        tok = copy.copy(clip)
        tok.reduction_mask, tok.reduction_fn = mode, get_reduction_mask_fn(mode)
        masked.append(tok)
    tokenizers = [
        clip,
        *masked,
        SigLipTokenizer(train_spiece(tmp_path / "sp"), context_length=12),
        HFTokenizer(wordpiece, context_length=10),
        HFTokenizer(wordpiece, context_length=10, tokenizer_mode="clips"),
    ]
    for tok in tokenizers:
        out = tok([])
        assert out.shape == (0, tok.context_length) and out.dtype == torch.long, tok
        assert tok([], context_length=5).shape == (0, 5), tok
        assert tok.tokenize_numpy([]).shape == (0, tok.context_length), tok

