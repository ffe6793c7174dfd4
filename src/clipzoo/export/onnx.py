"""The ``onnx`` export format: ``image_encoder.onnx`` + ``text_encoder.onnx`` + preprocessing + tokenizer.

``export_model(name, tag, to=DIR, format="onnx", format_options={"quantize": "int8"})`` calls
:func:`write_onnx_folder` inside a temporary folder that is renamed into place only when everything is
written (``clipzoo.export.folder``), so a failure leaves nothing at the target.

How the graphs are made: ``torch.onnx.export(..., dynamo=True)`` (the torch.export-based exporter; the
TorchScript one is deprecated) at opset :data:`DEFAULT_OPSET`, one graph per tower with a dynamic batch
dimension. The graphs output the *unnormalized* projected features, as ``model.encode_image`` /
``encode_text`` do with ``normalize=False``; the runtime normalizes. A causal text tower that pools one
position (``argmax`` / ``eos`` / ``first``) also gets a dynamic sequence length: nothing after the pooled
token can change it, so the runtime drops the padding columns, as clipzoo's torch text tower does.

Each graph is checked against torch on the example batch before it is kept (max difference
:data:`VERIFY_ATOL` plus :data:`VERIFY_RTOL` times the largest feature); a tower that cannot be exported
raises :class:`OnnxExportError` saying which tower and why.

``quantize="int8"``: onnxruntime's dynamic quantization (``quantize_dynamic``): int8 weights for
MatMul/Gemm (per-tensor, symmetric), activations quantized on the fly; the fp32 graphs are replaced.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from clipzoo.constants import EXTRA_INSTALL_HINT
from clipzoo.onnx.manifest import IMAGE_FILE, PREPROCESS_NAME, TEXT_FILE, TOKENIZER_DIR, write_manifest

from ..errors import OnnxExportError
from .torchlib_registry import torchlib_registry_built_once

DEFAULT_OPSET = 21
IMAGE_INPUT, IMAGE_OUTPUT = "pixel_values", "image_features"
TEXT_INPUT, TEXT_OUTPUT = "input_ids", "text_features"
QUANTIZE_MODES = ("int8",)
# Which ops get int8 weights: the matrix products hold ~all the weights of every supported tower. Convolutions
# stay fp32 (ConvInteger is slow in onnxruntime's CPU provider and the patch/stem convs are small).
QUANT_OP_TYPES = ("MatMul", "Gemm")
VERIFY_ATOL, VERIFY_RTOL = 1e-5, 1e-4  # relative: random-weight towers give tiny features
PREFIX_POOL_TYPES = ("argmax", "eos", "first")
_EXTRA_HINT = EXTRA_INSTALL_HINT.format(extra="onnx")
_VERIFY_TEXTS = ("a photo of a dog.", "", "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich!")


def _require_export_deps() -> None:
    missing = []
    for module in ("onnx", "onnxruntime", "onnxscript"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise OnnxExportError(f"ONNX export needs {', '.join(missing)}: {_EXTRA_HINT}")


# ------------------------------------------------------------------------------------------ what to export


def _text_owner(model: Any) -> Any:
    """The module holding the native text tower's ``encode_text_tokens`` (the model or ``model.text``), else None."""
    from clipzoo.models.text import TextEncoderMixin

    if isinstance(model, TextEncoderMixin):
        return model
    text = getattr(model, "text", None)
    return text if isinstance(text, TextEncoderMixin) else None


def _prefix_pooling(model: Any) -> dict[str, Any] | None:
    """How the runtime may cut padding off: the pool type and end id, or None when every position counts."""
    owner = _text_owner(model)
    if owner is None or getattr(owner, "cls_emb", None) is not None:
        return None
    options = owner.text_options
    if not options.causal or options.pool_type not in PREFIX_POOL_TYPES:
        return None
    return {"pool_type": options.pool_type, "eos_id": int(options.eos_id)}


def check_exportable(model: Any, quantize: str | None = None) -> None:
    """Raise before anything is written when ``model`` cannot become an ONNX folder.

    Args:
        model: a clipzoo CLIP, CustomTextCLIP or CoCa model.
        quantize: None or one of :data:`QUANTIZE_MODES`.

    Raises:
        OnnxExportError: missing ONNX packages, an unknown quantization, a model without both encoders, a NaFlex
            image tower, a text tower that pools per token, or weights that are not fp32.
    """
    _require_export_deps()
    if quantize is not None and quantize not in QUANTIZE_MODES:
        raise OnnxExportError(
            f"unknown quantize={quantize!r}; expected None or one of {list(QUANTIZE_MODES)}"
        )
    name = type(model).__name__
    for method in ("encode_image", "encode_text"):
        if not callable(getattr(model, method, None)):
            raise OnnxExportError(
                f"{name} has no {method}: only image-text models (CLIP, SigLIP, CoCa) export"
            )
    from ..models.naflex import naflex_trunk

    if naflex_trunk(model) is not None:
        raise OnnxExportError(
            f"{name} has a NaFlex image tower (variable resolution: patch dicts, per-image position resizing); the "
            "ONNX folder's fixed-size image graph and its runtime preprocessing cannot represent it. Export to "
            "transformers instead (format='transformers' gives a Siglip2Model), or build a fixed-size model"
        )
    owner = _text_owner(model)
    if owner is not None and owner.text_options.pool_type == "none":
        raise OnnxExportError(
            f"{name}: text pool_type 'none' gives one feature per token, not one per text; the ONNX runtime "
            "needs pooled text features (use a config with pool_type argmax/eos/first/last)"
        )
    import torch

    dtypes = {p.dtype for p in model.parameters()}
    if dtypes - {torch.float32}:
        raise OnnxExportError(f"{name} has {sorted(map(str, dtypes))} weights; export writes fp32 graphs")
    if any(p.is_meta for p in model.parameters()):
        raise OnnxExportError(f"{name} still has parameters on the meta device (create it with weights)")


def _image_module(model: Any) -> Any:
    from torch import nn

    class ImageEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixel_values):
            return self.model.encode_image(pixel_values, normalize=False)

    return ImageEncoder().eval()


def _text_module(model: Any) -> Any:
    from torch import nn

    owner = _text_owner(model)
    # A native tower's full-length path (need_tokens=True): its default path cuts the sequence at the longest
    # text of the batch, a data-dependent shape the exporter refuses. The runtime does that cut instead.
    full_length = owner is not None and getattr(owner, "cls_emb", None) is None

    class TextEncoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids):
            if full_length:
                return owner.encode_text_tokens(input_ids, need_tokens=True)[0]
            return self.model.encode_text(input_ids, normalize=False)

    return TextEncoder().eval()


# -------------------------------------------------------------------------------------------- the graphs


def _example_ids(tokenizer: Any, context_length: int, vocab_size: int) -> Any:
    """Two rows of token ids to trace and verify with: real prompts, or seeded random ids without a tokenizer."""
    import numpy as np
    import torch

    if tokenizer is None:
        return torch.randint(1, vocab_size, (2, context_length), generator=torch.Generator().manual_seed(0))
    ids = tokenizer.tokenize_numpy(["a photo of a cat.", "a diagram"], context_length)
    return torch.from_numpy(np.minimum(ids, vocab_size - 1))


def _export_graph(
    module: Any,
    example: Any,
    path: Path,
    names: tuple[str, str],
    dynamic: dict[int, Any],
    opset: int,
    what: str,
) -> None:
    import torch

    try:
        with warnings.catch_warnings(), torch.no_grad(), torchlib_registry_built_once():
            warnings.simplefilter("ignore")  # exporter chatter; failures raise
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                input_names=[names[0]],
                output_names=[names[1]],
                dynamic_shapes=(dynamic,),
                opset_version=opset,
                verbose=False,
            )
    except Exception as err:  # the exporter raises many types; name the tower and keep the cause
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise OnnxExportError(
            f"the {what} ({type(module.model).__name__}) does not export with torch.onnx (dynamo): "
            f"{type(err).__name__}: {first[:500]}"
        ) from err
    assert program is not None  # dynamo=True always returns the program
    program.save(str(path))  # outside: a full disk is the target's fault, not the tower's (ExportTargetError)


def _verify(module: Any, example: Any, path: Path, input_name: str, what: str) -> float:
    """Max |onnxruntime - torch| on ``example``; raises when above tolerance or not [batch, dim]."""
    import numpy as np
    import onnxruntime
    import torch

    with torch.no_grad():
        expected = module(example).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {input_name: example.numpy()})[0]
    if got.shape != expected.shape or expected.ndim != 2:
        raise OnnxExportError(f"the exported {what} returns shape {got.shape}; torch gives {expected.shape}")
    diff = float(np.abs(got - expected).max())
    if diff > VERIFY_ATOL + VERIFY_RTOL * float(np.abs(expected).max()):
        raise OnnxExportError(
            f"the exported {what} disagrees with torch by {diff:.3g} (tolerance {VERIFY_ATOL} + "
            f"{VERIFY_RTOL} x |features|): an op the exporter translated differently"
        )
    return diff


class _QuietRoot(logging.Filter):
    """Drops onnxruntime's "consider pre-processing" hint, which it logs on the root logger (a library must not
    print); a NullHandler keeps ``logging.warning`` from configuring the root logger as a side effect."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()

    def __enter__(self) -> None:
        self._handler = logging.NullHandler()
        logging.getLogger().addHandler(self._handler)
        logging.getLogger().addFilter(self)

    def __exit__(self, *exc: Any) -> None:
        logging.getLogger().removeFilter(self)
        logging.getLogger().removeHandler(self._handler)


def _quantize(path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = path.with_name(path.stem + ".int8.onnx")
    with warnings.catch_warnings(), _QuietRoot():
        warnings.simplefilter("ignore")
        quantize_dynamic(
            str(path),
            str(quantized),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=list(QUANT_OP_TYPES),
            per_channel=False,
            # 7-bit weights: CPUs without VNNI multiply u8 x s8 with a saturating 16-bit add (vpmaddubsw), which
            # overflows on full-range weights; the folder must give the same features on every x86 CPU
            reduce_range=True,
        )
    for stale in path.parent.glob(path.name + "*"):  # the fp32 graph and any external data of it
        stale.unlink()
    quantized.rename(path)


def _quantization_entry(mode: str) -> dict[str, Any]:
    return {
        "method": "onnxruntime.quantization.quantize_dynamic",
        "weight_type": mode,
        "op_types": list(QUANT_OP_TYPES),
        "per_channel": False,
        "reduce_range": True,
    }


# ---------------------------------------------------------------------------------------------- tokenizer


def _write_tokenizer(folder: Path, tokenizer: Any, text_cfg: Any) -> dict[str, Any]:
    """Copy what rebuilds ``tokenizer`` without torch into ``folder/tokenizer``; returns the manifest entry."""
    from clipzoo.tokenizers import SimpleTokenizer, default_bpe

    target = folder / TOKENIZER_DIR
    target.mkdir()
    if isinstance(tokenizer, SimpleTokenizer):
        bpe = Path(default_bpe())
        shutil.copyfile(bpe, target / bpe.name)
        kwargs: dict[str, str | list[str] | None] = {
            "clean": tokenizer.clean,
            "reduction_mask": tokenizer.reduction_mask,
        }
        extra = tokenizer.special_tokens[2:]
        if extra:
            kwargs["additional_special_tokens"] = list(extra)
        return {"type": "clip_bpe", "bpe_file": f"{TOKENIZER_DIR}/{bpe.name}", "kwargs": kwargs}
    tokenizer.save_pretrained(target)  # SigLIP sentencepiece or Hugging Face tokenizer files
    return {
        "type": "hf",
        "dir": TOKENIZER_DIR,
        "mode": text_cfg.tokenizer_mode,
        "kwargs": dict(text_cfg.tokenizer_kwargs or {}),
    }


def _check_tokenizer(folder: Path, entry: dict[str, Any], tokenizer: Any, context_length: int) -> None:
    from clipzoo.onnx.runtime import build_tokenizer

    rebuilt = build_tokenizer(folder, entry, context_length)
    texts = list(_VERIFY_TEXTS)
    if (rebuilt.tokenize_numpy(texts) != tokenizer.tokenize_numpy(texts, context_length)).any():
        raise OnnxExportError(
            "the tokenizer rebuilt from the exported files gives other ids than the model's"
        )


# ----------------------------------------------------------------------------------------------- writer


def _tag(spec: Any) -> str | None:
    weights = spec.weights
    if weights is None:
        return None
    if weights.kind == "tag" and weights.record is not None:
        return weights.record.tag
    return Path(weights.path).name if weights.path else weights.repo or None


def _scalar(param: Any) -> float | None:
    return None if param is None else float(param.detach().reshape(-1)[0])


def write_onnx_folder(
    folder: Path,
    model: Any,
    spec: Any,
    *,
    include_tokenizer: bool = True,
    quantize: str | None = None,
    opset: int = DEFAULT_OPSET,
) -> None:
    """Write ``model`` (built from ``spec``, a factory ModelSpec) as an ONNX folder into ``folder``.

    Args:
        folder: an empty folder (export_model passes a temporary one and renames it into place).
        model: the created model (fp32, weights loaded).
        spec: its resolved ModelSpec (config, weights source, preprocess config).
        include_tokenizer: copy the tokenizer files (without them the runtime needs token ids).
        quantize: None (fp32 graphs) or "int8" (dynamic quantization of the weights).
        opset: ONNX opset of the graphs.

    Raises:
        OnnxExportError: the model or one of its towers cannot be exported (see :func:`check_exportable`).
    """
    import torch

    from clipzoo.factory.tokenizer import get_tokenizer
    from clipzoo.preprocess.config import PREPROCESS_KEYS

    from ..sizes import to_hw as _to_hw

    model = model.eval()
    check_exportable(model, quantize)
    cfg = spec.model_cfg
    context_length = cfg.text_cfg.context_length
    # Without tokenizer files nothing needs the tokenizer (which may be a Hub download): trace random ids.
    tokenizer = get_tokenizer(spec.name, context_length=context_length) if include_tokenizer else None
    preprocess = {k: spec.preprocess_cfg[k] for k in PREPROCESS_KEYS if k in spec.preprocess_cfg}
    preprocess = json.loads(json.dumps(preprocess))  # tuples -> lists
    height, width = _to_hw(preprocess["size"])

    batch = torch.export.Dim("batch")
    images = torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(0))
    ids = _example_ids(tokenizer, context_length, cfg.text_cfg.vocab_size)
    prefix = _prefix_pooling(model)
    text_dims = {0: batch, 1: torch.export.Dim("sequence", max=context_length)} if prefix else {0: batch}
    towers = (
        ("image tower", _image_module(model), images, IMAGE_FILE, (IMAGE_INPUT, IMAGE_OUTPUT), {0: batch}),
        ("text tower", _text_module(model), ids, TEXT_FILE, (TEXT_INPUT, TEXT_OUTPUT), text_dims),
    )
    max_diff = {}
    for what, module, example, filename, names, dims in towers:
        _export_graph(module, example, folder / filename, names, dims, opset, what)
        max_diff[what] = _verify(module, example, folder / filename, names[0], what)
        if quantize:
            _quantize(folder / filename)

    (folder / PREPROCESS_NAME).write_text(json.dumps(preprocess, indent=2) + "\n", encoding="utf-8")
    token_entry = None
    if include_tokenizer:
        token_entry = _write_tokenizer(folder, tokenizer, cfg.text_cfg)
        _check_tokenizer(folder, token_entry, tokenizer, context_length)
    logit_bias = _scalar(getattr(model, "logit_bias", None))
    manifest = {
        "model": spec.name,
        "tag": _tag(spec),
        "embed_dim": int(cfg.embed_dim),
        "context_length": int(context_length),
        "logit_scale": _scalar(model.logit_scale),
        "logit_bias": logit_bias,
        "scoring": "softmax" if logit_bias is None else "sigmoid",
        "normalization": {
            "image_mean": preprocess.get("mean"),
            "image_std": preprocess.get("std"),
            "features": "the graphs output unnormalized features; the runtime L2-normalizes them",
        },
        "image": {
            "file": IMAGE_FILE,
            "input": IMAGE_INPUT,
            "input_shape": ["batch", 3, height, width],
            "output": IMAGE_OUTPUT,
        },
        "text": {
            "file": TEXT_FILE,
            "input": TEXT_INPUT,
            "input_shape": ["batch", "sequence" if prefix else context_length],
            "output": TEXT_OUTPUT,
            "prefix_pooling": prefix,
        },
        "tokenizer": token_entry,
        "preprocess_file": PREPROCESS_NAME,
        "opset": opset,
        "quantization": None if quantize is None else _quantization_entry(quantize),
        "exporter": {"torch": torch.__version__, "api": "torch.onnx.export(dynamo=True)"},
        "fp32_max_abs_diff_vs_torch": max_diff,
    }
    manifest["files"] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    write_manifest(folder, manifest)


def quantize_folder(source: str | os.PathLike, to: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write an int8 copy of an fp32 ONNX folder to ``to`` (onnxruntime only: no torch, no re-export).

    Args:
        source: an ONNX folder written with ``quantize=None``.
        to: the target folder (written under a temporary name and renamed into place).
        overwrite: replace an existing target.

    Returns:
        The target folder.

    Raises:
        OnnxExportError: the source is already quantized.
        OnnxFolderError: the source is not a valid ONNX folder.
    """
    from clipzoo.onnx.manifest import MANIFEST_NAME, read_manifest

    from .folder import write_folder_atomically

    source = Path(source).expanduser()
    manifest = read_manifest(source)
    if manifest["quantization"] is not None:
        raise OnnxExportError(f"{source} is already quantized ({manifest['quantization']['weight_type']})")

    def write(folder: Path) -> None:
        shutil.copytree(source, folder, dirs_exist_ok=True)
        for tower in ("image", "text"):
            _quantize(folder / manifest[tower]["file"])
        manifest["quantization"] = _quantization_entry("int8")
        (folder / MANIFEST_NAME).unlink()
        manifest["files"] = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        manifest.pop("format"), manifest.pop("format_version")
        write_manifest(folder, manifest)

    return write_folder_atomically(Path(to), overwrite, write)
