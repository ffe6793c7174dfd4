"""Tokenizers named by `text_cfg.hf_tokenizer_name` (BERT, RoBERTa, XLM-R, ...): open_clip's HFTokenizer
output from a `tokenizer.json` through the `tokenizers` library, without transformers."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clipzoo.constants import DEFAULT_CONTEXT_LENGTH, EXTRA_INSTALL_HINT

from .clean import TensorCall, as_text_list, check_context_length, get_clean_fn

if TYPE_CHECKING:  # torch is imported only where a tensor is made: the numpy path works without it
    pass

TOKENIZER_FILES = ("tokenizer_config.json", "special_tokens_map.json", "tokenizer.json", "spiece.model")
SPECIAL_ROLES = ("bos_token", "eos_token", "pad_token", "sep_token", "cls_token", "unk_token")
TOKENIZER_MODES = ("", "clips")
# transformers classes that rebuild the post-processor from add_bos_token / add_eos_token (their defaults
# here) and pad on the left unless the config says otherwise.
BOS_EOS_CLASSES = {"GemmaTokenizer": (True, False), "LlamaTokenizer": (True, False)}
LEFT_PADDING_CLASSES = frozenset(BOS_EOS_CLASSES)


def _import_tokenizers():
    try:
        import tokenizers
    except ImportError as e:
        raise ImportError(
            "this model's text tower uses a Hugging Face tokenizer (tokenizer.json), which needs the "
            "'tokenizers' package: " + EXTRA_INSTALL_HINT.format(extra="hf")
        ) from e
    return tokenizers


def resolve_tokenizer_dir(name: str | os.PathLike, cache_dir: str | None = None) -> Path:
    """A folder holding a tokenizer's files: `name` itself if it is a local folder, else the Hugging Face
    cache's snapshot of Hub repo `name` (fetched through clipzoo.hub.hf, so HF_HUB_OFFLINE=1 reads the cache only)."""
    from clipzoo.hub.errors import NotFoundError, OfflineError
    from clipzoo.hub.hf import download_pretrained_from_hf

    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if str(name).count("/") != 1 or path.suffix in (".json", ".model"):
        raise FileNotFoundError(
            f"tokenizer {str(name)!r} is neither a local folder nor a Hub repo id 'org/name'"
        )
    found, missing = [], []
    for filename in TOKENIZER_FILES:
        try:
            found.append(Path(download_pretrained_from_hf(str(name), filename=filename, cache_dir=cache_dir)))
        except (NotFoundError, OfflineError) as err:  # most repos lack some of these files
            missing.append(err)
    offline = [err for err in missing if isinstance(err, OfflineError)]
    if not found and offline:  # not a missing file: the cache lacks it and the network may not be used
        raise OfflineError(
            f"the tokenizer files of {str(name)!r} are not in the cache and downloads are off (HF_HUB_OFFLINE=1): "
            "fetch them once online (`clipzoo download MODEL TAG` caches a model's tokenizer files too), or unset "
            "HF_HUB_OFFLINE"
        ) from offline[0]
    if not found:
        raise FileNotFoundError(
            f"no tokenizer files ({', '.join(TOKENIZER_FILES)}) for {name!r}: {missing[0]}"
        ) from missing[0]
    return found[0].parent


def copy_tokenizer_files(source: Path, dest: Path) -> list[Path]:
    """Copy the tokenizer files present in `source` into `dest` (created if needed); returns the copies."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    return [
        Path(shutil.copy(source / name, dest / name)) for name in TOKENIZER_FILES if (source / name).is_file()
    ]


def read_tokenizer_config(directory: Path) -> dict:
    """tokenizer_config.json of a tokenizer folder ({} when absent)."""
    path = directory / "tokenizer_config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_special_tokens(directory: Path) -> dict[str, str]:
    """Special token strings by role, from tokenizer_config.json and special_tokens_map.json (the latter wins)."""
    found: dict[str, str] = {}
    for filename in ("tokenizer_config.json", "special_tokens_map.json"):
        path = directory / filename
        if not path.is_file():
            continue
        config = json.loads(path.read_text(encoding="utf-8"))
        for role in SPECIAL_ROLES:
            value = config.get(role)
            value = value.get("content") if isinstance(value, dict) else value
            if isinstance(value, str):
                found[role] = value
    return found


class HFTokenizer(TensorCall):
    """open_clip's HFTokenizer on the `tokenizers` library: clean, encode with special tokens, truncate, pad.

    Gives the ids open_clip's HFTokenizer gives for the same folder, from its ``tokenizer.json``, without
    importing transformers.

    Args:
        tokenizer_name: A local folder holding ``tokenizer.json`` (and optionally ``tokenizer_config.json``,
            ``special_tokens_map.json``), or a Hub repo id ``'org/name'`` whose files are fetched into the
            Hugging Face cache (``HF_HUB_OFFLINE=1`` reads the cache only).
        context_length: Tokens per row, special tokens included (default 77); None makes every call pass one.
        clean: Cleaning before encoding: ``'whitespace'`` (the default), ``'lower'`` or ``'canonicalize'``.
        strip_sep_token: Replace the separator token's id with 0 in the output (open_clip's option).
        language: Must be None: language-code tokenizers (NLLB, ...) are not emulated.
        cache_dir: Hugging Face cache folder for Hub files.
        tokenizer_mode: None, or ``'clips'`` for open_clip's CLIPS layout (start token, ids, end token,
            padding, the class token in the last position).

    Raises:
        ValueError: ``language`` is set, ``tokenizer_mode`` or ``clean`` is unknown, or the tokenizer lacks a
            special token its class needs.
        FileNotFoundError: ``tokenizer_name`` is neither a folder nor a Hub repo id, or has no ``tokenizer.json``.
        ImportError: the ``tokenizers`` package is not installed.
        DownloadError: the Hub files could not be fetched (network errors other than a missing file).
    """

    def __init__(
        self,
        tokenizer_name: str | os.PathLike,
        context_length: int | None = DEFAULT_CONTEXT_LENGTH,
        clean: str = "whitespace",
        strip_sep_token: bool = False,
        language: str | None = None,
        cache_dir: str | None = None,
        tokenizer_mode: str | None = None,
    ):
        if language is not None:
            self.set_language(language)
        self.tokenizer_mode = tokenizer_mode or ""
        if self.tokenizer_mode not in TOKENIZER_MODES:
            raise ValueError(f"unknown tokenizer_mode {tokenizer_mode!r}; expected None or 'clips'")
        directory = resolve_tokenizer_dir(tokenizer_name, cache_dir)
        self.directory = directory
        if not (directory / "tokenizer.json").is_file():
            raise FileNotFoundError(f"no tokenizer.json in {directory}")
        self.tokenizer = _import_tokenizers().Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.special_ids = self._special_ids(directory)
        config = read_tokenizer_config(directory)
        tokenizer_class = str(config.get("tokenizer_class", "")).removesuffix("Fast")
        default_side = "left" if tokenizer_class in LEFT_PADDING_CLASSES else "right"
        self.padding_side = config.get("padding_side", default_side)
        if tokenizer_class in BOS_EOS_CLASSES:
            self._set_bos_eos_template(config, *BOS_EOS_CLASSES[tokenizer_class])
        self.context_length = context_length
        self.clean = clean  # the mode's name: what exporters test (a function's identity is no type)
        self.clean_fn = get_clean_fn(clean)
        self.strip_sep_token = strip_sep_token

    def set_language(self, src_lang: str) -> None:
        """open_clip's switch of a language-code tokenizer's source language: refused (none is emulated).

        Raises:
            ValueError: always; clipzoo's HFTokenizer has no language-code tokenizers (NLLB, ...).
        """
        raise ValueError(
            f"language={src_lang!r} needs transformers' language-code tokenizers (e.g. NLLB), which "
            "clipzoo's HFTokenizer does not emulate; use language=None"
        )

    def _special_ids(self, directory: Path) -> dict[str, int]:
        """Ids of the special tokens named in the folder's configs (roles whose token is in the vocabulary)."""
        ids = {}
        for role, token in read_special_tokens(directory).items():
            index = self.tokenizer.token_to_id(token)
            if index is not None:
                ids[role] = index
        padding = self.tokenizer.padding
        if "pad_token" not in ids and padding is not None:
            ids["pad_token"] = padding["pad_id"]
        return ids

    def _set_bos_eos_template(self, config: dict, add_bos: bool, add_eos: bool) -> None:
        """What transformers' Llama/Gemma fast tokenizers do on load: bos/eos around the text, per the config."""
        from tokenizers import processors

        add_bos, add_eos = config.get("add_bos_token", add_bos), config.get("add_eos_token", add_eos)
        tokens = read_special_tokens(self.directory)
        parts, specials = ["$A:0"], []
        if add_bos:
            bos_id = self._special("bos_token")
            parts.insert(0, tokens["bos_token"] + ":0")
            specials.append((tokens["bos_token"], bos_id))
        if add_eos:
            eos_id = self._special("eos_token")
            parts.append(tokens["eos_token"] + ":0")
            specials.append((tokens["eos_token"], eos_id))
        self.tokenizer.post_processor = processors.TemplateProcessing(
            single=" ".join(parts), special_tokens=specials
        )

    def _special(self, role: str) -> int:
        try:
            return self.special_ids[role]
        except KeyError:
            raise ValueError(
                f"this tokenizer has no {role} (its config names none), but it is needed here"
            ) from None

    def tokenize_numpy(self, texts: str | Sequence[str], context_length: int | None = None) -> np.ndarray:
        """The ids as an int64 numpy array [batch, context_length], without importing torch.

        Args:
            texts: One string or a sequence of strings.
            context_length: Tokens per row for this call, special tokens included; None uses the tokenizer's.

        Returns:
            int64 array [len(texts), context_length]: the ids with the tokenizer's special tokens, cut to fit,
            filled with the pad token (on the right, or on the side the tokenizer's config says).

        Raises:
            TypeError: ``texts`` is neither a string nor a sequence of strings.
            ValueError: no context length is set or it is below 2, or the tokenizer has no pad token.
        """
        texts = [self.clean_fn(t) for t in as_text_list(texts)]
        context_length = check_context_length(context_length, self.context_length)
        if self.tokenizer_mode == "clips":
            return self._clips(texts, context_length)
        out = np.full((len(texts), context_length), self._special("pad_token"), dtype=np.int64)
        # Truncation inside the library keeps room for the special tokens its post-processor adds.
        self.tokenizer.enable_truncation(context_length)
        try:
            encodings = self.tokenizer.encode_batch(texts)
        finally:
            self.tokenizer.no_truncation()
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            if self.padding_side == "left":
                out[row, context_length - n :] = encoding.ids
            else:
                out[row, :n] = encoding.ids
        if self.strip_sep_token:
            out[out == self._special("sep_token")] = 0
        return out

    def _clips(self, texts: list[str], context_length: int) -> np.ndarray:
        """open_clip's 'clips' mode: bos, ids, eos, padding, and the class token in the last position."""
        bos, eos = self._special("bos_token"), self._special("eos_token")
        out = np.full((len(texts), context_length), self._special("pad_token"), dtype=np.int64)
        out[:, -1] = self._special("cls_token")
        for row, encoding in enumerate(self.tokenizer.encode_batch(texts, add_special_tokens=False)):
            ids = [bos, *encoding.ids[: context_length - 3], eos][: context_length - 1]
            out[row, : len(ids)] = ids
        return out

    def save_pretrained(self, dest: str | os.PathLike) -> None:
        """Copy the tokenizer's files (tokenizer.json and its configs) into folder `dest`."""
        copy_tokenizer_files(self.directory, Path(dest))

    def decode_ids(self, ids: list[int]) -> str:
        """The text of ``ids``, skipping the tokenizer's special tokens (padding included)."""
        return self.tokenizer.decode(ids, skip_special_tokens=True)
