"""Text tokenizers of clipzoo: CLIP BPE (`SimpleTokenizer`), SigLIP sentencepiece (`SigLipTokenizer`) and
Hugging Face `tokenizer.json` files (`HFTokenizer`), chosen by `tokenizer_from_config` from a model's config
fields (`clipzoo.get_tokenizer` resolves a model name to that config).

Every tokenizer maps `str | list[str]` to a LongTensor [batch, context_length] with open_clip's ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clipzoo.constants import DEFAULT_CONTEXT_LENGTH
from clipzoo.errors import OfflineError

from .bpe import SimpleTokenizer, decode, default_bpe, tokenize
from .clean import basic_clean, canonicalize_text, whitespace_clean
from .hf import HFTokenizer, resolve_tokenizer_dir
from .sentencepiece import SENTENCEPIECE_CLASSES, SigLipTokenizer

__all__ = [
    "HFTokenizer",
    "SigLipTokenizer",
    "SimpleTokenizer",
    "basic_clean",
    "build_hf_tokenizer",
    "canonicalize_text",
    "decode",
    "default_bpe",
    "tokenizer_from_config",
    "tokenize",
    "whitespace_clean",
]

# The kwargs open_clip passes to its HFTokenizer that a sentencepiece SigLIP tokenizer understands too.
_SIGLIP_KWARGS = ("clean", "strip_sep_token")


def _uses_sentencepiece(directory: Path, clean: str) -> bool:
    """Whether clipzoo's sentencepiece tokenizer reproduces what transformers loads from this folder.

    transformers' SiglipTokenizer is sentencepiece-only and is emulated exactly. A T5Tokenizer folder
    (transformers loads its fast, tokenizer.json twin) gives the same ids on canonicalized text, which is
    what SigLIP configs ask for (clean='canonicalize'); other T5 uses (mT5) go through tokenizer.json.
    """
    import json

    config_path = directory / "tokenizer_config.json"
    if not config_path.is_file():
        return False
    tokenizer_class = json.loads(config_path.read_text(encoding="utf-8")).get("tokenizer_class", "")
    model_file = SENTENCEPIECE_CLASSES.get(tokenizer_class)
    if model_file is None or not (directory / model_file).is_file():
        return False
    return tokenizer_class == "SiglipTokenizer" or clean == "canonicalize"


def build_hf_tokenizer(
    source: str | Path,
    context_length: int = DEFAULT_CONTEXT_LENGTH,
    cache_dir: str | None = None,
    tokenizer_mode: str | None = None,
    **kwargs: Any,
) -> SigLipTokenizer | HFTokenizer:
    """The tokenizer in a local folder or Hub repo: sentencepiece for T5/SigLIP vocabularies, else tokenizer.json."""
    directory = resolve_tokenizer_dir(source, cache_dir)
    kwargs.setdefault("clean", "whitespace")  # open_clip's HFTokenizer default
    if _uses_sentencepiece(directory, kwargs["clean"]) and not tokenizer_mode:
        unknown = sorted(set(kwargs) - set(_SIGLIP_KWARGS))
        if unknown:
            raise TypeError(f"SigLIP sentencepiece tokenizer got unsupported tokenizer kwargs {unknown}")
        return SigLipTokenizer.from_dir(directory, context_length=context_length, **kwargs)
    return HFTokenizer(directory, context_length=context_length, tokenizer_mode=tokenizer_mode, **kwargs)


def tokenizer_from_config(
    config: dict[str, Any] | None,
    context_length: int | None = None,
    cache_dir: str | None = None,
    local_source: str | None = None,
    model_name: str = "",
    **kwargs: Any,
) -> SimpleTokenizer | SigLipTokenizer | HFTokenizer:
    """The tokenizer a model config names: `text_cfg.hf_tokenizer_name` -> HF/SigLIP, else CLIP BPE.

    Args:
        config: The model config (a dict with `text_cfg`); None gives the default CLIP tokenizer.
        context_length: Tokens per text; default `text_cfg.context_length`.
        cache_dir: Where Hub tokenizer files are cached.
        local_source: A folder holding the tokenizer files, replacing the config's `hf_tokenizer_name`.
        model_name: The model the config is of (named in errors).
        **kwargs: Options that override the config's `text_cfg.tokenizer_kwargs`.

    Returns:
        The tokenizer (`SimpleTokenizer`, `SigLipTokenizer` or `HFTokenizer`).

    Raises:
        FileNotFoundError: the Hub tokenizer files are neither cached nor reachable (the message names the model
            and the repo its tokenizer comes from).
    """
    if config is None:
        return SimpleTokenizer(context_length=context_length or DEFAULT_CONTEXT_LENGTH, **kwargs)
    text_cfg = config.get("text_cfg") or {}
    if context_length is None:
        context_length = text_cfg.get("context_length", DEFAULT_CONTEXT_LENGTH)
    tokenizer_kwargs = {**(text_cfg.get("tokenizer_kwargs") or {}), **kwargs}
    hf_name = text_cfg.get("hf_tokenizer_name")
    if hf_name:
        try:
            return build_hf_tokenizer(
                local_source or hf_name,
                context_length=context_length,
                cache_dir=cache_dir,
                tokenizer_mode=text_cfg.get("tokenizer_mode"),
                **tokenizer_kwargs,
            )
        except (FileNotFoundError, OfflineError) as err:
            if local_source or Path(str(hf_name)).expanduser().is_dir():
                raise
            # say whose files these are: several models share one tokenizer repo (every SigLIP: timm/ViT-B-16-SigLIP);
            # the error keeps its type (offline: a NetworkError, status 3; a missing file: FileNotFoundError)
            raise type(err)(
                f"{model_name or 'the model'}'s tokenizer is the one of hf-hub:{hf_name} (its config's text_cfg.hf_tokenizer_name), "
                f"fetched from the Hub on first use; `clipzoo download {model_name} TAG` caches it with the weights. "
                f"{err}"
            ) from err
    return SimpleTokenizer(context_length=context_length, **tokenizer_kwargs)
