"""``get_tokenizer``: the tokenizer a model's config names, for a registry name, ``hf-hub:`` or ``local-dir:``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .arguments import check_factory_args
from .sources import folder_model, parse_model_name

if TYPE_CHECKING:
    from ..tokenizers import HFTokenizer, SigLipTokenizer, SimpleTokenizer


def get_tokenizer(
    model_name: str = "", context_length: int | None = None, cache_dir: str | None = None, **kwargs: Any
) -> SimpleTokenizer | SigLipTokenizer | HFTokenizer:
    """The tokenizer a model's config names: CLIP BPE, SigLIP sentencepiece or a Hugging Face tokenizer.

    The choice comes from the config (``text_cfg.hf_tokenizer_name``, ``tokenizer_kwargs``), never from the name.

    Args:
        model_name: Architecture name, ``'hf-hub:org/repo'`` or ``'local-dir:PATH'`` (its own tokenizer files);
            ``''`` gives the default CLIP BPE tokenizer.
        context_length: Tokens per text (default: the config's ``text_cfg.context_length``, 77 for CLIP).
        cache_dir: Where Hub tokenizer and config files are cached.
        **kwargs: Tokenizer options that override the config's ``tokenizer_kwargs`` (e.g. ``clean``).

    Returns:
        A callable ``tokenizer(texts) -> LongTensor[len(texts), context_length]`` (``SimpleTokenizer``,
        ``SigLipTokenizer`` or ``HFTokenizer``).

    Raises:
        UnknownModelError: ``model_name`` is not a known architecture (close matches in the message).
        clipzoo.factory.arguments.ArgumentError: an argument has the wrong type or is out of range.
    """
    check_factory_args("get_tokenizer", locals(), extra="kwargs")
    from ..tokenizers import tokenizer_from_config

    if not model_name:
        return tokenizer_from_config(None, context_length, **kwargs)
    config, local_source = _tokenizer_source(model_name, cache_dir)
    return tokenizer_from_config(config, context_length, cache_dir, local_source, model_name, **kwargs)


def _tokenizer_source(model_name: str, cache_dir: str | None) -> tuple[dict, str | None]:
    """(model config, folder that replaces the config's HF tokenizer name) for a model name of any schema."""
    from ..registry import architectures as registry

    schema, identifier = parse_model_name(model_name)
    if schema is not None:
        found = folder_model(schema, identifier, cache_dir)
        # Like open_clip, an exported folder carries its own tokenizer files; a Hub repo names its own.
        return found.model_cfg, (found.tokenizer_source if schema == "local-dir" else None)
    config = registry.get_model_config(identifier)
    if config is None:
        raise registry.unknown_model(identifier)
    return config, None

