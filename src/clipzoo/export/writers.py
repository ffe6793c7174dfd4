"""``export_model``: create a model, then write it in the chosen format (a table of writers), atomically.

The writers: ``open_clip`` (:mod:`clipzoo.export.folder`, the folder ``local-dir:`` loads), ``onnx``
(:mod:`clipzoo.export.onnx`) and ``transformers`` (:mod:`clipzoo.export.transformers`). The target is locked and
checked before the model is built (:class:`clipzoo.export.folder.LockedTarget`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .folder import LOCK_TIMEOUT, LockedTarget, write_open_clip_folder
from .onnx import write_onnx_folder
from .transformers import write_transformers_folder

# format name -> the writer that writes that format into a (temporary) folder, called as
# ``writer(folder, model, spec, include_tokenizer=..., **format_options)``.
EXPORT_FORMATS: dict[str, Callable[..., None]] = {
    "open_clip": write_open_clip_folder,
    "onnx": write_onnx_folder,
    "transformers": write_transformers_folder,
}


def format_writer(format: str) -> Callable[..., None]:
    """The writer of an export format; ValueError naming the known formats for an unknown one."""
    writer = EXPORT_FORMATS.get(format)
    if writer is None:
        raise ValueError(f"unknown export format {format!r}; known formats: {', '.join(EXPORT_FORMATS)}")
    return writer


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
    """Create ``model_name`` (+ ``pretrained``) with clipzoo and export it to the folder ``to``.

    The target is checked and locked before the model is built, so an unusable target fails at once; the
    folder is written under a temporary name and renamed into place (a failure leaves nothing at ``to``).

    Args:
        model_name: Any name ``create_model`` accepts: an architecture, ``'hf-hub:org/repo'`` or
            ``'local-dir:PATH'``.
        pretrained: A pretrained tag of the architecture or a checkpoint path; None exports random weights.
        to: The target folder (required; the default None only keeps open_clip's argument order).
        format: One of :data:`EXPORT_FORMATS`: ``'open_clip'`` (the default: a folder clipzoo and open_clip
            load with ``local-dir:``), ``'onnx'`` or ``'transformers'`` (a CLIPModel/SiglipModel folder).
        include_tokenizer: Copy the tokenizer files into the folder (Hugging Face tokenizers; the CLIP BPE
            tokenizer needs none).
        overwrite: Replace a folder an earlier export wrote (see
            :func:`~clipzoo.export.folder.check_export_target`).
        cache_dir: Where downloaded weights are cached (as in ``create_model``).
        format_options: Options for the format's writer, e.g. ``{'quantize': 'int8', 'opset': 21}`` for ONNX.
        **create_kwargs: ``create_model`` options that change the architecture or preprocessing
            (``force_image_size``, ``force_quick_gelu``, ``force_preprocess_cfg``, ...), baked into the folder;
            plus ``lock_timeout``, the seconds to wait for another export into the same target (default
            :data:`LOCK_TIMEOUT`).

    Returns:
        The path of the written folder (absolute, ``~`` expanded).

    Raises:
        ValueError: ``to`` is None, ``format`` is unknown, or ``precision`` is not ``'fp32'`` (exports hold fp32
            weights; choose the precision when loading the folder).
        ExportTargetError: the target may not be written (:func:`~clipzoo.export.folder.check_export_target`)
            or cannot be; checked before the model is built.
        ExportBusyError: another export into the target held its lock past ``lock_timeout``, or wrote the
            target while this one waited.
        ExportError: the format cannot hold this architecture (for transformers checked before building; ONNX
            raises its subclass ``OnnxExportError``), or the tokenizer files cannot be found.
        UnknownModelError, UnknownTagError, CheckpointError, DownloadError: as raised by ``create_model``.
    """
    from ..factory.create import create_model
    from ..factory.resolve import resolve

    if to is None:
        raise ValueError("export_model needs a target folder: to=DIR")
    writer = format_writer(format)
    if create_kwargs.get("precision", "fp32") != "fp32":
        raise ValueError("export writes fp32 weights; load the folder with precision=... instead")
    create_kwargs.pop("precision", None)
    lock_timeout = create_kwargs.pop("lock_timeout", LOCK_TIMEOUT)
    resolve_kwargs = {k: v for k, v in create_kwargs.items() if k != "device"}
    # The target is checked and locked before the model is built: a folder that cannot be written, or that
    # another export is writing, fails in a moment instead of after minutes of loading.
    with LockedTarget(to, overwrite, lock_timeout) as target:
        spec = resolve(model_name, pretrained, cache_dir=cache_dir, **resolve_kwargs)
        if hasattr(writer, "check_spec"):  # a format that cannot hold this architecture says why, unbuilt
            writer.check_spec(spec)
        model = create_model(model_name, pretrained, cache_dir=cache_dir, **create_kwargs)
        options = dict(format_options or {})
        return target.write(
            lambda tmp: writer(tmp, model, spec, include_tokenizer=include_tokenizer, **options)
        )
