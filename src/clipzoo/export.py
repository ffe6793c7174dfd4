"""Export a model to a self-contained folder that ``create_model('local-dir:DIR')`` (clipzoo or open_clip) loads
offline with the same architecture, weights, preprocessing and tokenizer.

Layout (open_clip's Hub layout): ``open_clip_config.json`` = ``{"model_cfg": ..., "preprocess_cfg": ...}``
(the tokenizer is described inside ``model_cfg.text_cfg``: ``hf_tokenizer_name``, ``tokenizer_kwargs``,
``context_length``), ``open_clip_model.safetensors``, and for Hugging Face tokenizers their files. The folder is
written under a temporary name next to the target and renamed into place: a failure leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .constants import HF_CONFIG_NAME, HF_SAFE_WEIGHTS_NAME
from .errors import ClipzooError
from .preprocess_cfg import PREPROCESS_KEYS as _PREPROCESS_KEYS

# Files a Hugging Face tokenizer may consist of (transformers' save_pretrained names).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "vocab.json",
    "merges.txt",
    "vocab.txt",
)


class ExportError(ClipzooError, RuntimeError):
    """The export could not be completed (nothing was written at the target)."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _export_model_cfg(model_cfg: Any) -> dict[str, Any]:
    """The open_clip-format dict to write; tower-pretrained flags are off (the weights are in the folder)."""
    raw = model_cfg.to_dict() if hasattr(model_cfg, "to_dict") else dict(model_cfg)
    raw = json.loads(json.dumps(_jsonable(raw)))  # a deep, JSON-safe copy
    raw.get("vision_cfg", {}).pop("timm_model_pretrained", None)
    if raw.get("text_cfg", {}).get("hf_model_name"):
        raw["text_cfg"]["hf_model_pretrained"] = False
    for key in ("cast_dtype", "output_dict"):  # call-time options, not architecture
        raw.pop(key, None)
    return raw


def _export_preprocess_cfg(preprocess_cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: _jsonable(preprocess_cfg[k]) for k in _PREPROCESS_KEYS if k in preprocess_cfg}


def _tokenizer_folder(name: str) -> Path | None:
    """A local folder holding the tokenizer files of ``name``: the path itself or its HF-cache snapshot."""
    if Path(name).is_dir():
        return Path(name)
    from huggingface_hub import try_to_load_from_cache

    for filename in TOKENIZER_FILES:
        cached = try_to_load_from_cache(name, filename)
        if isinstance(cached, str):
            return Path(cached).parent
    return None


def _copy_tokenizer(name: str, folder: Path) -> list[str]:
    source = _tokenizer_folder(name)
    copied = []
    if source is not None:
        for filename in TOKENIZER_FILES:
            if (source / filename).is_file():
                shutil.copyfile(source / filename, folder / filename)
                copied.append(filename)
    if not copied:
        where = "in that folder" if Path(name).is_dir() else "in the Hugging Face cache"
        fetch = "" if Path(name).is_dir() else f"download them first (`huggingface-cli download {name}`) or "
        raise ExportError(
            f"tokenizer {name!r}: no tokenizer files ({', '.join(TOKENIZER_FILES[:5])}, ...) found {where}; "
            f"{fetch}pass include_tokenizer=False (CLI: --no-tokenizer)"
        )
    return copied


def _save_weights(model: Any, path: Path) -> None:
    from safetensors.torch import save_file

    tensors, seen = {}, set()
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu")
        ptr = (value.untyped_storage().data_ptr(), value.storage_offset()) if value.numel() else None
        # safetensors refuses tensors that share memory: give repeats their own copy
        tensors[key] = value.clone() if ptr in seen else value.contiguous()
        if ptr is not None:
            seen.add(ptr)
    save_file(tensors, str(path), metadata={"format": "pt"})


def _write_folder(
    folder: Path, model: Any, model_cfg: dict, preprocess_cfg: dict, include_tokenizer: bool
) -> None:
    _save_weights(model, folder / HF_SAFE_WEIGHTS_NAME)
    tokenizer_name = model_cfg.get("text_cfg", {}).get("hf_tokenizer_name")
    if tokenizer_name and include_tokenizer:
        _copy_tokenizer(tokenizer_name, folder)
    config = {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}
    (folder / HF_CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def _atomic_folder(target: Path, overwrite: bool, write) -> Path:
    """Run ``write(tmp_folder)`` then move the folder to ``target`` in one rename."""
    target = target.expanduser().resolve()
    if target.exists() and not (overwrite or (target.is_dir() and not any(target.iterdir()))):
        raise ExportError(f"{target} already exists and is not empty (pass overwrite=True / --overwrite)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        write(tmp)
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "previous")
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def save_model_folder(
    model: Any,
    to: str | os.PathLike,
    model_cfg: Any,
    preprocess_cfg: dict[str, Any] | None = None,
    *,
    include_tokenizer: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write an already created ``model`` with its ``model_cfg`` (a ModelCfg or open_clip dict, which also names
    the tokenizer) and ``preprocess_cfg`` (default: the one the model carries) to a loadable folder."""
    from .factory import get_model_preprocess_cfg

    cfg = _export_model_cfg(model_cfg)
    preprocess = _export_preprocess_cfg(
        preprocess_cfg if preprocess_cfg is not None else get_model_preprocess_cfg(model)
    )
    return _atomic_folder(
        Path(to), overwrite, lambda tmp: _write_folder(tmp, model, cfg, preprocess, include_tokenizer)
    )


# format name -> "module:function" writing that format into a (temporary) folder; imported only when used.
# A writer is called as ``writer(folder, model, spec, include_tokenizer=..., **format_options)``.
EXPORT_FORMATS: dict[str, str] = {
    "open_clip": "clipzoo.export:write_open_clip_folder",
    "onnx": "clipzoo.onnx.export:write_onnx_folder",
}


def write_open_clip_folder(folder: Path, model: Any, spec: Any, *, include_tokenizer: bool = True) -> None:
    """Write ``model`` (built from ``spec``, a factory ModelSpec) in open_clip's folder layout into ``folder``."""
    cfg = _export_model_cfg(spec.model_cfg)
    _write_folder(folder, model, cfg, _export_preprocess_cfg(spec.preprocess_cfg), include_tokenizer)


def _format_writer(format: str):
    import importlib

    target = EXPORT_FORMATS.get(format)
    if target is None:
        raise ValueError(f"unknown export format {format!r}; known formats: {', '.join(EXPORT_FORMATS)}")
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def export_model(
    model_name: str,
    pretrained: str | None = None,
    to: str | os.PathLike | None = None,
    *,
    format: str = "open_clip",
    include_tokenizer: bool = True,
    overwrite: bool = False,
    cache_dir: str | None = None,
    format_options: dict[str, Any] | None = None,
    **create_kwargs: Any,
) -> Path:
    """Create ``model_name`` (+ ``pretrained``) with clipzoo and export it to the folder ``to``; returns its path.

    ``format`` is one of :data:`EXPORT_FORMATS` (``open_clip`` by default); ``format_options`` go to that
    format's writer. ``create_kwargs`` are ``create_model`` options that change the architecture or
    preprocessing (``force_image_size``, ``force_quick_gelu``, ``force_preprocess_cfg``, ...); they are baked
    into the folder.
    """
    from .factory import create_model, resolve

    if to is None:
        raise ValueError("export_model needs a target folder: to=DIR")
    writer = _format_writer(format)
    if create_kwargs.get("precision", "fp32") != "fp32":
        raise ValueError("export writes fp32 weights; load the folder with precision=... instead")
    create_kwargs.pop("precision", None)
    resolve_kwargs = {k: v for k, v in create_kwargs.items() if k != "device"}
    spec = resolve(model_name, pretrained, cache_dir=cache_dir, **resolve_kwargs)
    model = create_model(model_name, pretrained, cache_dir=cache_dir, **create_kwargs)
    options = dict(format_options or {})
    return _atomic_folder(
        Path(to),
        overwrite,
        lambda tmp: writer(tmp, model, spec, include_tokenizer=include_tokenizer, **options),
    )
