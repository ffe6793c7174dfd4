"""Tokenizer throughput: clipzoo vs open_clip 3.3.0, measured side by side in one process.

CLIP BPE: 20k distinct caption-length texts (Zipf-distributed English words taken from the CLIP merges, a
few capitalised, 4% of words turned into out-of-vocabulary compounds or typos, with punctuation, numbers
and ~5% non-ASCII captions), a fresh tokenizer on each side for
every repeat (so both pay for their cold caches), best of `repeats`. Ids are checked to be identical.
Times are CPU time of this process (benchlib.cpu_clock, time.process_time): the benchmark machine is shared.

Run: python scripts/bench_tokenizers.py [--quick]
"""

from __future__ import annotations

import gzip
import random
import tempfile
from pathlib import Path

import benchlib

CPU = benchlib.cpu_clock  # CPU time of this process: the benchmark machine is shared

NON_ASCII_WORDS = ["café", "naïve", "jalapeño", "Zürich", "São Paulo", "crème brûlée", "façade", "日本", "😀"]
# Per-word suffixes (commas, possessives) are rare in captions; end-of-caption punctuation is common.
WORD_SUFFIXES = {",": 0.06, "'s": 0.02, " -": 0.01}
CAPTION_ENDINGS = ["", "", ".", ".", "!", "?", "..."]
OOV_RATE = 0.04


def caption_words(limit: int = 20000) -> list[str]:
    """English-looking words in CLIP merge order (earlier merge = more frequent word)."""
    from clipzoo.tokenizers.bpe import default_bpe

    with gzip.open(default_bpe(), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")[1:]
    words: list[str] = []
    seen: set[str] = set()
    for line in lines:
        first, _, second = line.partition(" ")
        word = first + second.removesuffix("</w>")
        if second.endswith("</w>") and word.isascii() and word.isalpha() and word not in seen:
            seen.add(word)
            words.append(word)
            if len(words) == limit:
                break
    return words


def _rare_variant(word: str, other: str, rng: random.Random) -> str:
    """A word outside the vocabulary: a compound or a typo, so that the full BPE merge loop runs."""
    if rng.random() < 0.5 or len(word) < 3:
        return word + other
    i = rng.randrange(len(word) - 1)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _suffix(rng: random.Random) -> str:
    draw = rng.random()
    for suffix, p in WORD_SUFFIXES.items():
        if draw < p:
            return suffix
        draw -= p
    return ""


def make_captions(n: int, seed: int = 0) -> list[str]:
    """`n` distinct caption-length texts with a Zipf word distribution."""
    rng = random.Random(seed)
    words = caption_words()
    weights = [1.0 / (rank + 10) ** 1.05 for rank in range(len(words))]
    captions: list[str] = []
    seen: set[str] = set()
    while len(captions) < n:
        picked = rng.choices(words, weights, k=rng.randint(5, 22))
        picked = [_rare_variant(w, rng.choice(words), rng) if rng.random() < OOV_RATE else w for w in picked]
        if rng.random() < 0.05:
            picked[rng.randrange(len(picked))] = rng.choice(NON_ASCII_WORDS)
        if rng.random() < 0.2:
            picked.insert(rng.randrange(len(picked)), str(rng.randint(0, 2030)))
        text = " ".join(w + _suffix(rng) for w in picked) + rng.choice(CAPTION_ENDINGS)
        text = text[0].upper() + text[1:] if rng.random() < 0.6 else text
        if text not in seen:
            seen.add(text)
            captions.append(text)
    return captions


def bench_clip_bpe(captions: list[str], repeats: int) -> dict:
    """Texts per second of SimpleTokenizer()(texts) on a fresh tokenizer (cold caches), both sides."""
    import open_clip.tokenizer as oc_tok
    import torch

    from clipzoo.tokenizers.bpe import SimpleTokenizer

    ours_s, ours = benchlib.best_of(lambda tok: tok(captions), repeats, make=SimpleTokenizer, clock=CPU)
    peer_s, peer = benchlib.best_of(
        lambda tok: tok(captions), repeats, make=oc_tok.SimpleTokenizer, clock=CPU
    )
    if not torch.equal(ours, peer):
        raise AssertionError("clipzoo and open_clip produced different ids")
    n = len(captions)
    return benchlib.throughput_row(
        f"clip_bpe_{n}_captions_cold",
        n / ours_s,
        n / peer_s,
        "open_clip 3.3.0 SimpleTokenizer",
        "texts/s",
        f"fresh tokenizer per repeat (construction not timed), best of {repeats}, ids identical",
    )


def bench_clip_bpe_first_use(captions: list[str], repeats: int) -> dict:
    """Texts per second counting construction too: a new process's first batch, both sides."""
    import open_clip.tokenizer as oc_tok

    from clipzoo.tokenizers import bpe

    ours_s, _ = benchlib.best_of(
        lambda: bpe.SimpleTokenizer()(captions), repeats, before=bpe._read_merges.cache_clear, clock=CPU
    )
    peer_s, _ = benchlib.best_of(lambda: oc_tok.SimpleTokenizer()(captions), repeats, clock=CPU)
    n = len(captions)
    return benchlib.throughput_row(
        f"clip_bpe_{n}_captions_first_use",
        n / ours_s,
        n / peer_s,
        "open_clip 3.3.0 SimpleTokenizer",
        "texts/s",
        f"SimpleTokenizer()(texts) with construction timed (merges re-read), best of {repeats}",
    )


def bench_clip_bpe_construct(repeats: int) -> dict:
    """Seconds to construct SimpleTokenizer() (reading and indexing the merges), both sides."""
    import open_clip.tokenizer as oc_tok

    from clipzoo.tokenizers import bpe
    from clipzoo.tokenizers.bpe import SimpleTokenizer

    # Forget the parsed merges each time: this is the first construction in a process.
    ours_s, _ = benchlib.best_of(SimpleTokenizer, repeats, before=bpe._read_merges.cache_clear, clock=CPU)
    peer_s, _ = benchlib.best_of(oc_tok.SimpleTokenizer, repeats, clock=CPU)
    return benchlib.time_row(
        "clip_bpe_construct",
        ours_s,
        peer_s,
        "open_clip 3.3.0 SimpleTokenizer",
        f"best of {repeats}, first construction in a process (later ones reuse the parsed merges)",
    )


def bench_clip_bpe_warm(captions: list[str], repeats: int) -> dict:
    """Texts per second of a tokenizer that has already seen the texts (steady state of a training loop)."""
    import open_clip.tokenizer as oc_tok

    from clipzoo.tokenizers.bpe import SimpleTokenizer

    ours_tok, peer_tok = SimpleTokenizer(), oc_tok.SimpleTokenizer()
    ours_tok(captions), peer_tok(captions)
    ours_s, _ = benchlib.best_of(lambda: ours_tok(captions), repeats, clock=CPU)
    peer_s, _ = benchlib.best_of(lambda: peer_tok(captions), repeats, clock=CPU)
    n = len(captions)
    return benchlib.throughput_row(
        f"clip_bpe_{n}_captions_warm",
        n / ours_s,
        n / peer_s,
        "open_clip 3.3.0 SimpleTokenizer",
        "texts/s",
        f"same tokenizer, second pass over the same texts, best of {repeats}",
    )


def _train_siglip_spiece(folder: Path, captions: list[str]) -> Path:
    """A small T5-style unigram sentencepiece model (pad 0, eos 1, unk 2) trained on the captions."""
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(captions[:5000]),
        model_prefix=str(folder / "spiece"),
        vocab_size=4000,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        add_dummy_prefix=False,  # transformers turns it off via protobuf, which is not installed here
        minloglevel=2,
    )
    return folder / "spiece.model"


def _open_clip_hf_tokenizer(hf_tokenizer, context_length: int, clean: str):
    """open_clip's HFTokenizer around an already-built transformers tokenizer (no Hub access here)."""
    import open_clip.tokenizer as oc_tok

    wrapper = oc_tok.HFTokenizer.__new__(oc_tok.HFTokenizer)
    wrapper.tokenizer, wrapper.tokenizer_mode, wrapper.context_length = hf_tokenizer, "", context_length
    wrapper.clean_fn, wrapper.strip_sep_token = oc_tok.get_clean_fn(clean), False
    return wrapper


def bench_siglip(captions: list[str], repeats: int) -> dict:
    """Texts per second of the SigLIP tokenizer: clipzoo's sentencepiece one vs open_clip's HFTokenizer
    (clean='canonicalize') around transformers' SiglipTokenizer, on the same model file."""
    import sentencepiece as spm
    import torch
    import transformers.models.siglip.tokenization_siglip as hf_siglip

    from clipzoo.tokenizers import SigLipTokenizer

    class SiglipNoProtobuf(hf_siglip.SiglipTokenizer):
        def get_spm_processor(self):
            return spm.SentencePieceProcessor(model_file=self.vocab_file)

    with tempfile.TemporaryDirectory() as tmp:
        model_file = _train_siglip_spiece(Path(tmp), captions)
        hf_siglip.requires_backends = lambda *a, **k: None  # protobuf is only needed for add_dummy_prefix
        peer_tok = _open_clip_hf_tokenizer(SiglipNoProtobuf(str(model_file)), 64, "canonicalize")
        ours_s, ours = benchlib.best_of(
            lambda tok: tok(captions), repeats, make=lambda: SigLipTokenizer(model_file), clock=CPU
        )
        peer_s, peer = benchlib.best_of(lambda: peer_tok(captions), repeats, clock=CPU)
    if not torch.equal(ours, peer):
        raise AssertionError("clipzoo and open_clip/transformers produced different SigLIP ids")
    n = len(captions)
    return benchlib.throughput_row(
        f"siglip_sentencepiece_{n}_captions",
        n / ours_s,
        n / peer_s,
        "open_clip 3.3.0 HFTokenizer + transformers 4.56 SiglipTokenizer",
        "texts/s",
        f"4k-piece unigram model trained here, context 64, best of {repeats}, ids identical",
    )


def run(quick: bool = False) -> list[dict]:
    """Benchmark rows in the shared clipzoo format (ratio > 1: clipzoo is faster)."""
    captions = make_captions(2000 if quick else 20000)
    repeats = 2 if quick else 3
    return [
        bench_clip_bpe(captions, repeats),
        bench_clip_bpe_warm(captions, repeats),
        bench_clip_bpe_first_use(captions, repeats),
        bench_clip_bpe_construct(repeats),
        bench_siglip(captions[:5000], repeats),
    ]


if __name__ == "__main__":
    benchlib.main(run)
