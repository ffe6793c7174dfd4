"""Tokenizer files for a transformers export, written so that transformers reproduces clipzoo's ids.

The CLIP BPE becomes ``vocab.json`` + ``merges.txt`` for ``CLIPTokenizer`` (padding with id 0, as clipzoo pads), a
SigLIP sentencepiece model stays a ``spiece.model`` for ``SiglipTokenizer`` (which canonicalizes text as clipzoo
does), and a ``tokenizer.json`` tokenizer gets clipzoo's text cleaning in its normalizer (and clipzoo's
special-token template) for ``PreTrainedTokenizerFast``. :func:`write_model_files` writes the rest of every
transformers folder (config, weights, image or audio processor: a :class:`ModelFiles` each exporter computes).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .folder import ExportError

# clean modes whose text transformers' SiglipTokenizer reproduces: clipzoo's SigLipTokenizer then applies
# SiglipTokenizer's own steps (lower-casing, punctuation removal, space collapsing), which subsume both
SIGLIP_CLEAN_MODES = ("canonicalize", "whitespace")


def json_dump(path: Path, data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON with a final newline."""
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _tokenizer_config(
    tokenizer_class: str, context_length: int, siglip: bool, **tokens: Any
) -> dict[str, Any]:
    config = {
        "tokenizer_class": tokenizer_class,
        "processor_class": "SiglipProcessor" if siglip else "CLIPProcessor",
        "model_max_length": context_length,
        **tokens,
    }
    if siglip:  # SigLIP's text tower was trained attending to padding: no attention mask
        config["model_input_names"] = ["input_ids"]
    return config


def _write_clip_bpe(tokenizer: Any, folder: Path, siglip: bool) -> None:
    """CLIPTokenizer files from clipzoo's CLIP BPE tokenizer (vocab order and merges are the same)."""
    if tokenizer.reduction_mask or tokenizer.clean != "lower" or len(tokenizer.special_tokens) != 2:
        raise ExportError(
            "the CLIP tokenizer uses options CLIPTokenizer has not (reduction_mask, a clean mode other than "
            "'lower', or extra special tokens)"
        )
    # clipzoo (as open_clip) names the specials <start_of_text>/<end_of_text>; CLIPTokenizer's pre-tokenizer
    # knows OpenAI's names
    names = dict(zip(tokenizer.special_tokens, ("<|startoftext|>", "<|endoftext|>"), strict=True))
    vocab = {names.get(k, k): v for k, v in sorted(tokenizer.encoder.items(), key=lambda item: item[1])}
    json_dump(folder / "vocab.json", vocab)
    merges = sorted(tokenizer.bpe_ranks, key=tokenizer.bpe_ranks.get)
    (folder / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )
    pad = tokenizer.decoder[0]  # clipzoo pads with id 0 ("!"), as open_clip does
    tokens = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
              "pad_token": pad}  # fmt: skip
    json_dump(folder / "special_tokens_map.json", tokens)
    # The pad token "!" is also ordinary text: split_special_tokens keeps "dog!" tokenized as BPE ("!</w>")
    config = _tokenizer_config(
        "CLIPTokenizer",
        tokenizer.context_length,
        siglip,
        do_lower_case=True,
        split_special_tokens=True,
        **tokens,
    )
    json_dump(folder / "tokenizer_config.json", config)


def _write_sentencepiece(tokenizer: Any, folder: Path, siglip: bool) -> None:
    """SiglipTokenizer files: transformers' SiglipTokenizer canonicalizes and pads as clipzoo's does."""
    if tokenizer.clean not in SIGLIP_CLEAN_MODES:
        raise ExportError(
            f"a SigLIP sentencepiece tokenizer with clean={tokenizer.clean!r}: transformers' SiglipTokenizer "
            f"reproduces only {' or '.join(map(repr, SIGLIP_CLEAN_MODES))} (its own lower-casing, punctuation "
            "removal and space collapsing follow)"
        )
    shutil.copyfile(tokenizer.model_file, folder / "spiece.model")
    sp = tokenizer.sp
    tokens = {"eos_token": sp.id_to_piece(tokenizer.eos_token_id), "pad_token": sp.id_to_piece(tokenizer.pad_token_id),
              "unk_token": tokenizer.unk_token}  # fmt: skip
    json_dump(folder / "special_tokens_map.json", tokens)
    config = _tokenizer_config(
        "SiglipTokenizer", tokenizer.context_length, siglip, do_lower_case=tokenizer.do_lower_case, **tokens
    )
    json_dump(folder / "tokenizer_config.json", config)


def _clean_normalizers(clean: str) -> list:
    """tokenizers normalizers doing what clipzoo's clean mode ``clean`` does (ftfy/html fixes aside)."""
    import string

    from tokenizers import Regex, normalizers

    collapse = [normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
    punctuation = Regex("[" + re.escape(string.punctuation) + "]")
    steps = {
        "whitespace": collapse,
        "lower": [*collapse, normalizers.Lowercase()],
        "canonicalize": [normalizers.Replace("_", " "), normalizers.Replace(punctuation, ""),
                         normalizers.Lowercase(), *collapse],
    }  # fmt: skip
    if clean not in steps:
        raise ExportError(f"the tokenizer's clean mode {clean!r} has no tokenizer.json equivalent")
    return steps[clean]


def _write_tokenizer_json(tokenizer: Any, folder: Path, siglip: bool) -> None:
    """A tokenizer.json with clipzoo's cleaning and special-token template, for PreTrainedTokenizerFast."""
    from tokenizers import normalizers

    from ..tokenizers.hf import read_special_tokens

    if tokenizer.tokenizer_mode or tokenizer.strip_sep_token:
        raise ExportError("tokenizer_mode / strip_sep_token have no transformers tokenizer equivalent")
    fast = tokenizer.tokenizer
    steps = _clean_normalizers(tokenizer.clean)
    if fast.normalizer is not None:
        steps.append(fast.normalizer)
    data = json.loads(fast.to_str())
    data["normalizer"] = json.loads(normalizers.Sequence(steps).__getstate__())
    data["padding"] = data["truncation"] = None
    json_dump(folder / "tokenizer.json", data)
    tokens = read_special_tokens(tokenizer.directory)
    if "pad_token" not in tokens:
        tokens["pad_token"] = fast.id_to_token(tokenizer.special_ids["pad_token"])
    json_dump(folder / "special_tokens_map.json", tokens)
    config = _tokenizer_config(
        "PreTrainedTokenizerFast",
        tokenizer.context_length,
        siglip,
        padding_side=tokenizer.padding_side,
        **tokens,
    )
    json_dump(folder / "tokenizer_config.json", config)


def write_tokenizer(tokenizer: Any, folder: Path, siglip: bool) -> None:
    """Write transformers tokenizer files reproducing clipzoo ``tokenizer``'s ids into ``folder``."""
    from ..tokenizers import HFTokenizer, SigLipTokenizer, SimpleTokenizer

    writers = ((SimpleTokenizer, _write_clip_bpe), (SigLipTokenizer, _write_sentencepiece),
               (HFTokenizer, _write_tokenizer_json))  # fmt: skip
    for cls, writer in writers:
        if isinstance(tokenizer, cls):
            return writer(tokenizer, folder, siglip)
    raise ExportError(f"no transformers tokenizer for clipzoo's {type(tokenizer).__name__}")


def retarget_processor_class(folder: Path, processor_class: str) -> None:
    """Name ``processor_class`` in the written tokenizer config, so AutoProcessor pairs it with the image
    processor."""
    path = folder / "tokenizer_config.json"
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        data["processor_class"] = processor_class
        json_dump(path, data)


@dataclass
class ModelFiles:
    """What a transformers folder holds besides the tokenizer, as one exporter computed it.

    Attributes:
        config: The model's ``config.json``.
        weights: The transformers state dict (tensors on the CPU).
        processor: The image processor's or feature extractor's ``preprocessor_config.json``.
        processor_class: The processor that pairs the tokenizer with ``processor`` (named in the tokenizer config),
            or None for the tokenizer class's default.
        siglip: The tokenizer is written for a SigLIP tokenizer class (see :func:`write_tokenizer`).
    """

    config: dict[str, Any]
    weights: dict[str, Any]
    processor: dict[str, Any]
    processor_class: str | None = None
    siglip: bool = False


def float32_state(model: Any) -> dict[str, Any]:
    """``model``'s state dict on the CPU in float32: what the transformers weight tables convert."""
    return {k: v.detach().to("cpu").float() for k, v in model.state_dict().items()}


def refuse_problems(problems: list[str], name: str, target: str) -> None:
    """Raise ExportError listing ``problems`` (why model ``name`` has no ``target`` equivalent), if there are any."""
    if problems:
        raise ExportError(f"{name} cannot be exported to {target}: {'; '.join(problems)}")


def write_model_files(folder: Path, files: ModelFiles, tokenizer: Any = None) -> None:
    """Write ``config.json``, ``model.safetensors``, ``preprocessor_config.json`` and (given one) the tokenizer."""
    from safetensors.torch import save_file

    json_dump(folder / "config.json", files.config)
    save_file(files.weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    json_dump(folder / "preprocessor_config.json", files.processor)
    if tokenizer is not None:
        write_tokenizer(tokenizer, folder, files.siglip)
        if files.processor_class is not None:
            retarget_processor_class(folder, files.processor_class)
