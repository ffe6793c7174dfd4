"""Caption cleaning shared by every clipzoo tokenizer (open_clip's 'lower', 'whitespace', 'canonicalize')."""

from __future__ import annotations

import html
import string
import sys
import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

import ftfy
import ftfy.badness

if TYPE_CHECKING:  # torch is imported only where a tensor is made
    import numpy as np
    import torch

CLEAN_MODES = ("lower", "whitespace", "canonicalize")

# Translation table that deletes ASCII punctuation (str.translate), the default of `canonicalize_text`.
DROP_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _ftfy_rewritten_chars() -> frozenset[str]:
    """Printable characters that one of ftfy's default fixers rewrites on sight (its own tables)."""
    from ftfy import chardata

    quotes = {chr(c) for c in (0x02BC, *range(0x2018, 0x2020))}  # chardata.SINGLE/DOUBLE_QUOTE_RE
    tables = (chardata.LIGATURES, chardata.WIDTH_MAP, chardata.CONTROL_CHARS)
    return frozenset(quotes | {chr(c) for table in tables for c in table})


_FTFY_REWRITES = _ftfy_rewritten_chars()


def is_ftfy_stable(text: str) -> bool:
    """True when ftfy.fix_text and html.unescape provably return `text` unchanged.

    ftfy's default fixers touch only: HTML entities (need '&'), mojibake (only where ftfy.badness.is_bad
    matches; never in ASCII), control, C1, line-break, surrogate and terminal-escape characters (none is
    printable), ligatures, full/half-width forms, curly quotes and U+FFFC (_FTFY_REWRITES), and text that is
    not NFC. Printable text free of all of these is returned as is.
    """
    if "&" in text or not text.isprintable():
        return False
    if text.isascii():
        return True
    return (
        _FTFY_REWRITES.isdisjoint(text)
        and unicodedata.is_normalized("NFC", text)
        and not ftfy.badness.is_bad(text)
    )


def basic_clean(text: str) -> str:
    """Repair mojibake (ftfy), unescape HTML twice, strip the ends: the first step of every clean mode."""
    if is_ftfy_stable(text):
        return text.strip()
    text = ftfy.fix_text(text)
    # Twice, because scraped captions are often escaped twice ('&amp;amp;').
    return html.unescape(html.unescape(text)).strip()


def whitespace_clean(text: str) -> str:
    """Collapse every run of whitespace to one space."""
    return " ".join(text.split())


def canonicalize_text(
    text: str,
    *,
    keep_punctuation_exact_string: str | None = None,
    trans_punctuation: dict = DROP_PUNCTUATION,
) -> str:
    """Lowercase, drop punctuation ('_' becomes a space) and collapse whitespace (big_vision's rule).

    Args:
        text: The text.
        keep_punctuation_exact_string: Occurrences of this exact string are kept intact (e.g. '{}' keeps '{}'
            but drops a lone '{').
        trans_punctuation: The ``str.translate`` table that drops punctuation (open_clip's parameter);
            default: every ASCII punctuation character.

    Returns:
        The canonical text.
    """
    text = text.replace("_", " ")
    if keep_punctuation_exact_string:
        parts = text.split(keep_punctuation_exact_string)
        text = keep_punctuation_exact_string.join(part.translate(trans_punctuation) for part in parts)
    else:
        text = text.translate(trans_punctuation)
    return " ".join(text.lower().split())


def _clean_lower(text: str) -> str:
    return whitespace_clean(basic_clean(text)).lower()


def _clean_whitespace(text: str) -> str:
    return whitespace_clean(basic_clean(text))


def _clean_canonicalize(text: str) -> str:
    return canonicalize_text(basic_clean(text))


_CLEANERS: dict[str, Callable[[str], str]] = {
    "lower": _clean_lower,
    "whitespace": _clean_whitespace,
    "canonicalize": _clean_canonicalize,
}


def get_clean_fn(mode: str) -> Callable[[str], str]:
    """Return the cleaning function for an open_clip clean mode name."""
    try:
        return _CLEANERS[mode]
    except KeyError:
        raise ValueError(f"unknown clean mode {mode!r}; expected one of {', '.join(CLEAN_MODES)}") from None


def as_text_list(texts: str | Sequence[str]) -> list[str]:
    """Accept one string or a sequence of strings; name the index of the first item that is not a str."""
    if isinstance(texts, str):
        return [texts]
    if not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a str or a sequence of str, got {type(texts).__name__}")
    texts = list(texts)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{index}] must be a str, got {type(text).__name__}: {text!r:.60}")
    return texts


def is_tensor(value: object) -> TypeGuard[torch.Tensor]:
    """Whether `value` is a torch.Tensor, without importing torch (no tensor exists before torch is imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


def from_numpy(array: Any) -> Any:
    """`torch.from_numpy(array)`: torch is imported here, only by the callers that return tensors."""
    import torch

    return torch.from_numpy(array)


def check_context_length(context_length: int | None, default: int | None) -> int:
    """Resolve a call's context length against the tokenizer default; it must leave room for two tokens."""
    value = default if context_length is None else context_length
    if value is None:
        raise ValueError("context_length is not set: pass context_length=... to the constructor or the call")
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        raise ValueError(f"context_length must be an int >= 2 (room for start and end tokens), got {value!r}")
    return value


class TensorCall:
    """Mixin for tokenizers whose ``tokenize_numpy`` makes the ids: calling one returns them as a tensor."""

    def tokenize_numpy(self, texts: str | Sequence[str], context_length: int | None = None) -> np.ndarray:
        """The ids as an int64 numpy array [batch, context_length]; each tokenizer defines it."""
        raise NotImplementedError

    def __call__(self, texts: str | Sequence[str], context_length: int | None = None) -> torch.Tensor:
        """Tokenize one text or a list of texts into a LongTensor [batch, context_length].

        Args:
            texts: One string or a sequence of strings.
            context_length: Tokens per row for this call, special tokens included; None uses the tokenizer's.

        Returns:
            int64 tensor [len(texts), context_length]: the ids of ``tokenize_numpy`` (whose docstring says
            what a row holds).

        Raises:
            TypeError: ``texts`` is neither a string nor a sequence of strings.
            ValueError: as ``tokenize_numpy`` (no context length is set, or it is below 2, ...).
        """
        return from_numpy(self.tokenize_numpy(texts, context_length))

    def decode_ids(self, ids: list[int]) -> str:
        """The text of a list of ids, special tokens left out; each tokenizer defines it."""
        raise NotImplementedError

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Text of ids, without the special tokens (start, end, padding) the tokenizer adds.

        Args:
            ids: Ids as a list or 1-D tensor.

        Returns:
            The decoded text.
        """
        return self.decode_ids(ids.tolist() if is_tensor(ids) else list(ids))
