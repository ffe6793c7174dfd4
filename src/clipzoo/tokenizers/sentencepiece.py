"""SigLIP's sentencepiece tokenizer without transformers: open_clip's HFTokenizer(clean='canonicalize') over
a T5-style `spiece.model`, reproducing transformers' slow SiglipTokenizer (legacy=False) id for id."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .clean import DROP_PUNCTUATION, TensorCall, as_text_list, check_context_length, get_clean_fn

if TYPE_CHECKING:  # torch is imported only where a tensor is made: the numpy path works without it
    pass

SPIECE_UNDERLINE = "\u2581"
SIGLIP_CONTEXT_LENGTH = 64
# Serialized protobuf that, appended to a ModelProto, merges `normalizer_spec { add_dummy_prefix: false }`
# into it (field 3 of ModelProto, field 3 of NormalizerSpec): what transformers does with the protobuf
# package, without needing it.
_NO_DUMMY_PREFIX = b"\x1a\x02\x18\x00"
_WHITESPACE_RUN = re.compile(r"\s+")
# Tokenizer classes (tokenizer_config.json) whose files this module reads, and their model file names.
SENTENCEPIECE_CLASSES = {"T5Tokenizer": "spiece.model", "SiglipTokenizer": "spiece.model"}


def _load_processor(model_file: str | Path):
    """A SentencePieceProcessor for `model_file` with the dummy prefix turned off."""
    import sentencepiece

    proto = Path(model_file).read_bytes() + _NO_DUMMY_PREFIX
    return sentencepiece.SentencePieceProcessor(model_proto=proto)


class SigLipTokenizer(TensorCall):
    """SigLIP text tokenizer: clean, lowercase, sentencepiece, end token, pad to context_length (64).

    Gives the ids of transformers' slow ``SiglipTokenizer`` (as open_clip's HFTokenizer uses it) without
    transformers; :meth:`from_dir` builds one from a Hub-style folder.

    Args:
        model_file: A sentencepiece model (T5-style ``spiece.model``).
        context_length: Tokens per row, end token included (default 64); None makes every call pass one.
        clean: Cleaning before encoding: ``'canonicalize'`` (the default, what SigLIP configs ask for: lower
            case, punctuation dropped), ``'whitespace'`` or ``'lower'``.
        eos_token: The piece that ends every text.
        pad_token: The piece that fills rows after the end token (SigLIP's is the end token itself).
        unk_token: The model's unknown piece (also used, as transformers does, to keep a leading word marker).
        do_lower_case: Lower-case texts before encoding.
        strip_sep_token: Accepted for parity with open_clip's tokenizer options; SigLIP has no separator token,
            so it changes nothing.

    Raises:
        ValueError: ``eos_token`` or ``pad_token`` is not a piece of the model, or ``clean`` is unknown.
        FileNotFoundError: ``model_file`` does not exist.
        ImportError: the ``sentencepiece`` package is not installed.
    """

    def __init__(
        self,
        model_file: str | Path,
        context_length: int | None = SIGLIP_CONTEXT_LENGTH,
        clean: str = "canonicalize",
        eos_token: str = "</s>",
        pad_token: str = "</s>",
        unk_token: str = "<unk>",
        do_lower_case: bool = True,
        strip_sep_token: bool = False,
    ):
        self.model_file = str(model_file)
        self.sp = _load_processor(model_file)
        self.context_length = context_length
        self.clean = clean  # the mode's name: what exporters test (a function's identity is no type)
        self.clean_fn = get_clean_fn(clean)
        self.do_lower_case = do_lower_case
        self.unk_token = unk_token
        self.eos_token_id = self._piece_id(eos_token, "eos_token")
        self.pad_token_id = self._piece_id(pad_token, "pad_token")
        self.sep_token_id = None  # SigLIP has no separator; strip_sep_token is accepted for config parity.
        self.strip_sep_token = strip_sep_token
        # transformers encodes '<unk>' + text and drops the pieces of '<unk>' so that the leading
        # SPIECE_UNDERLINE survives sentencepiece's whitespace handling; we do the same.
        self._unk_pieces = len(self.sp.encode(unk_token))
        self.vocab_size = self.sp.get_piece_size()

    @classmethod
    def from_dir(cls, directory: str | Path, **kwargs) -> SigLipTokenizer:
        """Build from a Hub-style folder: spiece.model plus optional tokenizer_config.json / special tokens."""
        directory = Path(directory)
        config = _read_json(directory / "tokenizer_config.json")
        tokens = {
            **_special_tokens(config),
            **_special_tokens(_read_json(directory / "special_tokens_map.json")),
        }
        options: dict[str, str | bool] = {k: tokens[k] for k in ("eos_token", "pad_token", "unk_token") if k in tokens}
        if "do_lower_case" in config:
            options["do_lower_case"] = bool(config["do_lower_case"])
        model_file = directory / SENTENCEPIECE_CLASSES.get(config.get("tokenizer_class", ""), "spiece.model")
        if not model_file.is_file():
            raise FileNotFoundError(f"no sentencepiece model at {model_file}")
        return cls(model_file, **{**options, **kwargs})

    def _piece_id(self, piece: str, role: str) -> int:
        index = self.sp.piece_to_id(piece)
        if self.sp.id_to_piece(index) != piece:
            raise ValueError(f"{role} {piece!r} is not a piece of {self.model_file}")
        return index

    def _prepare(self, text: str) -> str:
        """transformers' SiglipTokenizer text path: prefix '▁', lowercase, drop punctuation, collapse spaces."""
        text = SPIECE_UNDERLINE + text.replace(SPIECE_UNDERLINE, " ")
        if self.do_lower_case:
            text = text.lower()
        return _WHITESPACE_RUN.sub(" ", text.translate(DROP_PUNCTUATION)).strip()

    def encode(self, text: str) -> list[int]:
        """Sentencepiece ids of one cleaned text, without the end token.

        Args:
            text: The text; the tokenizer's ``clean`` step is not applied here (``__call__`` applies it), the
                lower-casing and punctuation removal of transformers' SiglipTokenizer are.

        Returns:
            The ids, as many as the text needs (no truncation).
        """
        ids = self.sp.encode(self.unk_token + self._prepare(text))
        return ids[self._unk_pieces :] if len(ids) >= self._unk_pieces else ids

    def tokenize_numpy(self, texts: str | Sequence[str], context_length: int | None = None) -> np.ndarray:
        """The ids as an int64 numpy array [batch, context_length], without importing torch.

        Args:
            texts: One string or a sequence of strings.
            context_length: Tokens per row for this call, end token included; None uses the tokenizer's.

        Returns:
            int64 array [len(texts), context_length]: the ids cut to ``context_length - 1``, the end token,
            then the pad token.

        Raises:
            TypeError: ``texts`` is neither a string nor a sequence of strings.
            ValueError: no context length is set, or it is below 2.
        """
        texts = as_text_list(texts)
        context_length = check_context_length(context_length, self.context_length)
        out = np.full((len(texts), context_length), self.pad_token_id, dtype=np.int64)
        for row, text in enumerate(texts):
            ids = self.encode(self.clean_fn(text))[: context_length - 1]
            # Like transformers, an id list that already ends with the end token does not get a second one.
            if not ids or ids[-1] != self.eos_token_id:
                ids.append(self.eos_token_id)
            out[row, : len(ids)] = ids
        return out

    def save_pretrained(self, dest: str | Path) -> None:
        """Write spiece.model and a tokenizer_config.json that `from_dir` reads back into folder `dest`."""
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        (dest / "spiece.model").write_bytes(Path(self.model_file).read_bytes())
        config = {
            "tokenizer_class": "SiglipTokenizer",
            "eos_token": self.sp.id_to_piece(self.eos_token_id),
            "pad_token": self.sp.id_to_piece(self.pad_token_id),
            "unk_token": self.unk_token,
            "do_lower_case": self.do_lower_case,
            "model_max_length": self.context_length,
        }
        (dest / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")

    def decode_ids(self, ids: list[int]) -> str:
        """The text of ``ids`` without end and padding tokens."""
        return self.sp.decode([i for i in ids if i not in (self.eos_token_id, self.pad_token_id)])


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _special_tokens(config: dict) -> dict[str, str]:
    """Special token strings of a tokenizer config; transformers stores them as str or {'content': str}."""
    found = {}
    for key in ("eos_token", "pad_token", "unk_token"):
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("content")
        if isinstance(value, str):
            found[key] = value
    return found
