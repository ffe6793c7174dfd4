"""A torch-free runtime for clipzoo's ONNX folders (the ``onnx`` extra: ``uv pip install 'clipzoo[onnx]'``).

The folders are written by :mod:`clipzoo.export.onnx`, an export format (needs torch, onnx, onnxscript,
onnxruntime)::

    clipzoo.export_model("ViT-B-32", "openai", to="vit-b-32-onnx", format="onnx",
                         format_options={"quantize": "int8"})   # or: clipzoo export ... --format onnx

Run (onnxruntime, numpy, PIL and clipzoo's tokenizers; torch is never imported)::

    from clipzoo.onnx import OnnxModel
    model = OnnxModel("vit-b-32-onnx")
    model.encode_image(["cat.jpg"]), model.encode_text(["a cat"]), model.classify(["cat.jpg"], ["cat", "dog"])

The folder: ``image_encoder.onnx``, ``text_encoder.onnx``, ``preprocess_config.json``, ``tokenizer/`` and
``clipzoo_onnx.json`` (see :mod:`clipzoo.onnx.manifest`). This package imports nothing heavy until used.
"""

from __future__ import annotations

from typing import Any

from ..errors import OnnxExportError, OnnxFolderError, OnnxInputError, OnnxRuntimeMissingError
from .manifest import MANIFEST_NAME, is_onnx_folder, read_manifest

__all__ = [
    "MANIFEST_NAME",
    "OnnxExportError",
    "OnnxFolderError",
    "OnnxInputError",
    "OnnxModel",
    "OnnxRuntimeMissingError",
    "is_onnx_folder",
    "read_manifest",
]


def __getattr__(name: str) -> Any:
    if name != "OnnxModel":  # the runtime imports numpy and PIL: only when it is used
        raise AttributeError(f"module 'clipzoo.onnx' has no attribute {name!r}")
    from .runtime import OnnxModel

    return OnnxModel
