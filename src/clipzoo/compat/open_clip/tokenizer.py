"""open_clip 3.3.0's tokenizer classes and helpers, where clipzoo's own differ (``open_clip.tokenizer``).

The tokenizer classes are thin subclasses of clipzoo's with open_clip's constructors (see
:mod:`clipzoo.compat.open_clip.modules` for the ``isinstance`` rule). open_clip's ``SigLipTokenizer``, its
importer of T5-style sentencepiece vocabularies (which clipzoo's model tokenizers do not need), is
``BigVisionVocabTokenizer`` here: clipzoo's own ``SigLipTokenizer`` (:mod:`clipzoo.tokenizers.sentencepiece`) has
another constructor, and one name means one class in the package; ``canonicalize_text`` is clipzoo's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ...tokenizers import HFTokenizer as _HF
from ...tokenizers import bpe as _bpe
from ...tokenizers import clean
from ...tokenizers.clean import basic_clean, canonicalize_text
from .modules import AliasMeta, UnsupportedOptionError

__all__ = [
    "SIGLIP_VOCAB_FILES",
    "HFTokenizer",
    "BigVisionVocabTokenizer",
    "SimpleTokenizer",
    "canonicalize_text",
    "get_clean_fn",
    "get_pairs",
    "get_reduction_mask_fn",
]


class SimpleTokenizer(_bpe.SimpleTokenizer, metaclass=AliasMeta):
    """CLIP's BPE tokenizer; ``bpe_path`` defaults to the merges file shipped with clipzoo (open_clip's own)."""

    __alias_of__ = _bpe.SimpleTokenizer

    def __init__(
        self,
        bpe_path: str = _bpe.default_bpe(),
        additional_special_tokens: list[str] | None = None,
        context_length: int | None = 77,
        clean: str = "lower",
        reduction_mask: str = "",
    ) -> None:
        super().__init__(bpe_path, additional_special_tokens, context_length, clean, reduction_mask)


class HFTokenizer(_HF, metaclass=AliasMeta):
    """A Hugging Face tokenizer (Hub id or folder); extra keyword arguments as in open_clip are refused."""

    __alias_of__ = _HF

    def __init__(
        self,
        tokenizer_name: str,
        context_length: int | None = 77,
        clean: str = "whitespace",
        strip_sep_token: bool = False,
        language: str | None = None,
        cache_dir: str | None = None,
        tokenizer_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise UnsupportedOptionError(
                f"HFTokenizer got keyword arguments clipzoo does not pass on to transformers: {sorted(kwargs)}; "
                "put tokenizer options in the tokenizer folder's tokenizer_config.json"
            )
        super().__init__(
            tokenizer_name, context_length, clean, strip_sep_token, language, cache_dir, tokenizer_mode
        )


# open_clip's SigLipTokenizer names -> sentencepiece model URLs (big_vision's public vocabularies)
SIGLIP_VOCAB_FILES = {
    "c4-en": "http://storage.googleapis.com/t5-data/vocabs/cc_en.32000/sentencepiece.model",
    "mc4": "http://storage.googleapis.com/t5-data/vocabs/mc4.250000.100extra/sentencepiece.model",
    "gemma": "http://storage.googleapis.com/big_vision/gemma_tokenizer.model",
}


class BigVisionVocabTokenizer:
    """open_clip's ``SigLipTokenizer`` (the alias table gives it that name): its tool for importing T5-style
    sentencepiece vocabularies: transformers' ``T5TokenizerFast``
    (``legacy=False``; ``GemmaTokenizerFast`` for Gemma vocabularies) after open_clip's cleaning.

    ``tokenizer_name`` is ``c4-en``/``mc4``/``gemma`` (big_vision's public vocabularies, downloaded through
    clipzoo's verified cache) or a sentencepiece ``.model`` file. Needs transformers (``clipzoo[hf]``).
    clipzoo's own SigLIP tokenizer for model configs is :class:`clipzoo.tokenizers.SigLipTokenizer`.
    """

    def __init__(self, tokenizer_name: str, context_length: int | None = 64) -> None:
        import os
        from functools import partial

        if tokenizer_name in SIGLIP_VOCAB_FILES:
            from ...hub.url import download_pretrained_from_url

            vocab_file = download_pretrained_from_url(SIGLIP_VOCAB_FILES[tokenizer_name])
        elif os.path.isfile(tokenizer_name):
            vocab_file = tokenizer_name
        else:
            raise UnsupportedOptionError(
                f"SigLipTokenizer({tokenizer_name!r}): give one of {', '.join(SIGLIP_VOCAB_FILES)} or the path "
                "of a sentencepiece .model file"
            )
        gemma = "gemma" in tokenizer_name
        make: Callable[..., Any]
        if gemma:
            from transformers import GemmaTokenizerFast

            make = partial(GemmaTokenizerFast, padding_side="right", add_bos_token=False, add_eos_token=True)
        else:
            from transformers import T5TokenizerFast

            make = partial(T5TokenizerFast, extra_ids=0)
        self.tokenizer = make(vocab_file, legacy=False)
        self.tokenizer.pad_token_id = 0 if gemma else 1
        self.tokenizer.eos_token_id = 1
        self.context_length = context_length

    def save_pretrained(self, dest: str) -> None:
        """Write the transformers tokenizer files to ``dest``."""
        self.tokenizer.save_pretrained(dest)

    def __call__(self, texts: str | list[str], context_length: int | None = None) -> torch.Tensor:
        """Token ids ``[len(texts), context_length]``: cleaned, truncated, padded.

        Raises:
            ValueError: no context length was given here or at construction.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        context_length = context_length or self.context_length
        if not context_length:
            raise ValueError("SigLipTokenizer needs a context_length (at construction or in the call)")
        cleaned = [canonicalize_text(basic_clean(text)) for text in texts]
        out = self.tokenizer(
            cleaned, return_tensors="pt", max_length=context_length, padding="max_length", truncation=True
        )
        return out.input_ids


def get_pairs(word: tuple[str, ...]) -> set[tuple[str, str]]:
    """The set of adjacent symbol pairs of a word (a tuple of symbols)."""
    return set(zip(word, word[1:]))


def get_clean_fn(type: str) -> Callable[[str], str]:  # noqa: A002 - open_clip's parameter name
    """The text cleaning function for ``type`` ('lower', 'whitespace' or 'canonicalize')."""
    return clean.get_clean_fn(type)


def get_reduction_mask_fn(type: str) -> Callable[..., torch.Tensor]:  # noqa: A002 - open_clip's parameter name
    """The token-reduction strategy for ``type`` ('simple', 'random', 'shuffle' or 'syntax')."""
    return _bpe.get_reduction_mask_fn(type)
