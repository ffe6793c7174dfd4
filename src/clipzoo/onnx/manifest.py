"""``clipzoo_onnx.json``: what an ONNX folder holds, read and checked without onnxruntime, numpy or torch.

Keys (format version 1)::

    format, format_version          "clipzoo-onnx", 1
    model, tag                      what was exported (tag: the pretrained tag, file name or null)
    embed_dim, context_length       feature size; token ids per text
    logit_scale, logit_bias         log temperature (as in the torch model) and the SigLIP bias or null
    scoring                         "softmax" (CLIP) or "sigmoid" (models with a logit_bias)
    normalization                   image mean/std of the preprocessing, and how features are normalized
    image / text                    file, input name and shape, output name, and for text the pooling facts
                                    the runtime uses to drop padding it cannot see (``prefix_pooling``)
    tokenizer                       {"type": "clip_bpe" | "hf", "files": [...], "kwargs": {...}, ...}
    preprocess_file                 the eval preprocessing config (open_clip PreprocessCfg keys)
    files                           every file of the folder the manifest describes
    opset, quantization             ONNX opset; null or {"method", "weight_type", "op_types", "per_channel", "reduce_range"}
    exporter                        torch version and exporter used
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import OnnxFolderError

MANIFEST_NAME = "clipzoo_onnx.json"
PREPROCESS_NAME = "preprocess_config.json"
IMAGE_FILE = "image_encoder.onnx"
TEXT_FILE = "text_encoder.onnx"
TOKENIZER_DIR = "tokenizer"
FORMAT = "clipzoo-onnx"
FORMAT_VERSION = 1
REQUIRED_KEYS = (
    "format",
    "format_version",
    "model",
    "embed_dim",
    "context_length",
    "logit_scale",
    "logit_bias",
    "image",
    "text",
    "tokenizer",
    "preprocess_file",
    "files",
    "opset",
    "quantization",
)


def is_onnx_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a folder holding a ``clipzoo_onnx.json`` (the file is not validated)."""
    return (Path(path).expanduser() / MANIFEST_NAME).is_file()


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The validated manifest of an ONNX folder written by ``export_model(..., format="onnx")``.

    Args:
        folder: the exported folder.

    Returns:
        The manifest as a dict (see the module docstring for its keys).

    Raises:
        OnnxFolderError: no manifest, not JSON, another format or version, a missing key, or a file it lists
            that is not in the folder.
    """
    folder = Path(folder).expanduser()
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise OnnxFolderError(f"{folder}: no such folder (expected an ONNX export with {MANIFEST_NAME})")
    if not path.is_file():
        raise OnnxFolderError(
            f"{folder} has no {MANIFEST_NAME}: it is not an ONNX export "
            "(write one with `clipzoo export MODEL TAG --format onnx --to DIR`)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise OnnxFolderError(f"{path}: cannot read it as JSON: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise OnnxFolderError(f"{path}: 'format' must be {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise OnnxFolderError(
            f"{path}: format_version {manifest.get('format_version')!r} is not supported "
            f"(this clipzoo reads version {FORMAT_VERSION}; re-export the model)"
        )
    missing = [key for key in REQUIRED_KEYS if key not in manifest]
    if missing:
        raise OnnxFolderError(f"{path}: missing keys {missing}")
    absent = [name for name in manifest["files"] if not (folder / name).is_file()]
    if absent:
        raise OnnxFolderError(f"{path} lists files that are not in the folder: {absent}")
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest`` as ``clipzoo_onnx.json`` into ``folder``."""
    text = json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, **manifest}, indent=2)
    (folder / MANIFEST_NAME).write_text(text + "\n", encoding="utf-8")
