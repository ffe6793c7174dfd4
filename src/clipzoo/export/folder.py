"""Export a model to a self-contained folder that ``create_model('local-dir:DIR')`` (clipzoo or open_clip) loads
offline with the same architecture, weights, preprocessing and tokenizer.

Layout (open_clip's Hub layout): ``open_clip_config.json`` = ``{"model_cfg": ..., "preprocess_cfg": ...}``
(the tokenizer is described inside ``model_cfg.text_cfg``: ``hf_tokenizer_name``, ``tokenizer_kwargs``,
``context_length``), ``open_clip_model.safetensors``, and for Hugging Face tokenizers their files. The folder is
written under a temporary name next to the target and renamed into place: a failure leaves nothing behind.

Concurrent and killed exports (:class:`clipzoo.files.AtomicTarget`): an export holds the lock ``.NAME.lock`` next
to the target (removed when it is released) from before the model is built until the folder is in place.
A second export into the same target waits up to ``lock_timeout`` seconds (:data:`LOCK_TIMEOUT`), then fails
with :class:`ExportBusyError`; it also fails, without replacing anything, when the target was written while it
waited, so two concurrent exports never both succeed. Temporary folders of killed exports (``.NAME.tmp-*``,
``.NAME.old-*``) are removed by the next export into the same parent folder, whatever its target's name, when no
live process holds their lock (``clipzoo cache`` reports and clears them too). Files and folders get the modes of
the process umask.

What an export may replace (:func:`check_export_target`, the rule of :func:`clipzoo.files.check_replaceable`):
every folder an export writes holds :data:`EXPORT_MANIFEST`; ``overwrite`` replaces only a folder holding it.
A missing target or an empty folder is written; anything else (an empty path, the current or home folder or an
ancestor of either, a file, a link, a folder clipzoo did not write) is refused before any work. Writing errors of
the file system (disk full, permission denied, read-only) are an :class:`ExportTargetError` naming the target
and the cause, and leave nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..constants import HF_CONFIG_NAME, HF_SAFE_WEIGHTS_NAME
from ..errors import ExportBusyError, ExportError, ExportTargetError
from ..files import AtomicTarget, LockBusyError, UnsafeTargetError, check_replaceable
from ..preprocess.config import PREPROCESS_KEYS as _PREPROCESS_KEYS

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


# How long an export waits for another export into the same target to finish before it gives up.
LOCK_TIMEOUT = 30.0

# Written into every exported folder: the proof that clipzoo wrote it, so that overwrite may replace it.
EXPORT_MANIFEST = "clipzoo_export.json"

# File-system errors of a write, and what the user can do about each (status 2: the target, not a bug).
WRITE_ERRORS = {
    errno.ENOSPC: "free space on that disk or name a target on another one",
    errno.EDQUOT: "free space within your quota or name a target on another disk",
    errno.EFBIG: "name a target on a file system that takes larger files",
    errno.EROFS: "name a target on a writable file system",
    errno.EACCES: "name a target folder you can write to",
    errno.EPERM: "name a target folder you can write to",
}


def check_export_target(target: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse, before any work, a target an export must not write (see the module notes); returns it absolute.

    Args:
        target: The target folder as the user gave it.
        overwrite: Replace a folder an earlier export wrote (one holding :data:`EXPORT_MANIFEST`).

    Returns:
        The absolute target path (``~`` expanded).

    Raises:
        ExportTargetError: the reason, e.g. the current folder, a file, or a folder clipzoo did not write.
    """
    try:
        return check_replaceable(target, (EXPORT_MANIFEST,), overwrite=overwrite)
    except UnsafeTargetError as err:
        raise ExportTargetError(str(err)) from None


def _write_error(error: BaseException | None) -> tuple[int, str, str] | None:
    """(errno, cause, file) of the file-system error behind ``error`` (also as Rust's "os error N" text)."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        code = error.errno if isinstance(error, OSError) else None
        found = re.search(r"os error (\d+)", str(error)) if code is None else None
        code = int(found.group(1)) if found else code
        if code in WRITE_ERRORS:
            filename = getattr(error, "filename", None) or ""
            return code, os.strerror(code), str(filename)
        error = error.__cause__ or error.__context__
    return None


def _write_manifest(folder: Path) -> None:
    from .. import __version__

    record = {"written_by": "clipzoo", "clipzoo_version": __version__}
    (folder / EXPORT_MANIFEST).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


class LockedTarget:
    """The target folder of an export, locked for the whole export (check, build, write, rename).

    Creating it refuses a target the export must not write (:func:`check_export_target`). Entering it checks,
    before anything is built, that the parent folder can be written (creating it if needed), takes the target's
    lock (:class:`~clipzoo.files.AtomicTarget`: waiting up to ``timeout`` seconds for another export into it,
    removing what killed exports left in the parent folder), and checks the target again under the lock.
    :meth:`write` then writes a staging folder next to the target and renames it into place.
    """

    def __init__(self, target: str | os.PathLike, overwrite: bool, timeout: float = LOCK_TIMEOUT) -> None:
        self.target = check_export_target(target, overwrite)
        self.overwrite, self.timeout = overwrite, timeout
        self._atomic: AtomicTarget | None = None
        self._created: list[Path] = []

    def _make_parent(self) -> None:
        missing = []
        folder = self.target.parent
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self._created.append(folder)
        except OSError as err:
            raise ExportTargetError(
                f"cannot create the folder {folder} for {self.target}: {err.strerror or err}; "
                "choose a target folder you can write to"
            ) from err

    def __enter__(self) -> LockedTarget:
        self._make_parent()
        atomic = AtomicTarget(self.target, self.timeout, sweep_parent=True)
        try:
            atomic.__enter__()
        except LockBusyError as err:
            self._remove_created()
            raise ExportBusyError(
                f"another export into {self.target} is still running ({err.holder + ', ' if err.holder else ''}"
                f"lock {err.lock_path}; waited {self.timeout:g} s); wait for it to finish, or export to another "
                "folder"
            ) from err
        except OSError as err:  # the lock file is the first thing written: the folder is not writable
            self._remove_created()
            raise ExportTargetError(
                f"cannot write into {self.target.parent}: {err.strerror or err}; choose a target folder you "
                "can write to"
            ) from err
        self._atomic = atomic
        try:
            self._check(atomic.changed_while_waiting)
        except BaseException:
            self._release()
            raise
        return self

    def _check(self, changed_while_waiting: bool) -> None:
        """Under the lock: the target is free (or may be replaced), and nobody wrote it while this export waited."""
        if changed_while_waiting:
            raise ExportBusyError(
                f"another export wrote {self.target} while this one waited for it; not replacing it "
                "(run the export again to replace it)"
            )
        check_export_target(self.target, self.overwrite)
        if not os.access(self.target.parent, os.W_OK | os.X_OK):
            raise ExportTargetError(
                f"cannot write into {self.target.parent} (permission denied); choose a target folder you can "
                "write to"
            )

    def write(self, write: Callable[[Path], Any]) -> Path:
        """Run ``write(staging_folder)`` and move the folder to the target in one rename; returns the target."""
        if self._atomic is None:
            raise RuntimeError(f"{self.target}: write inside `with LockedTarget(...)`, which holds its lock")
        try:
            with self._atomic.staging(folder=True) as staging:
                write(staging)
                _write_manifest(staging)
        except Exception as err:
            found = _write_error(err)
            if found is None:
                raise
            code, cause, filename = found
            where = f" ({filename})" if filename else ""
            raise ExportTargetError(
                f"cannot write {self.target}: {cause}{where}; {WRITE_ERRORS[code]} (nothing was written)"
            ) from err
        self._created.clear()  # the parent folders now hold the result
        return self.target

    def _remove_created(self) -> None:
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when still empty
        self._created.clear()

    def _release(self) -> None:
        if self._atomic is not None:
            self._atomic.release()
            self._atomic = None
        self._remove_created()  # folders made only for this export go when it failed

    def __exit__(self, *exc: Any) -> None:
        self._release()


def write_folder_atomically(
    target: str | os.PathLike,
    overwrite: bool,
    write: Callable[[Path], Any],
    *,
    timeout: float = LOCK_TIMEOUT,
) -> Path:
    """Run ``write(staging_folder)``, then move the folder to ``target`` in one rename, under the target's lock.

    The export rules apply: parent folders are created (and removed again on failure), a non-empty target is
    replaced only with ``overwrite``, and what killed writers left beside the target is removed first.

    Args:
        target: The folder to write.
        overwrite: Replace a folder an earlier export wrote (see :func:`check_export_target`).
        write: Fills the staging folder it is given (an empty folder next to ``target``).
        timeout: Seconds to wait for another writer of ``target``.

    Returns:
        The target path (absolute, ``~`` expanded).

    Raises:
        ExportTargetError: the target may not be written (:func:`check_export_target`), or writing it failed
            (disk full, permission denied).
        ExportBusyError: another writer held the target's lock for ``timeout`` seconds, or wrote the target while
            this one waited.
    """
    with LockedTarget(target, overwrite, timeout) as locked:
        return locked.write(write)


def save_model_folder(
    model: Any,
    to: str | os.PathLike,
    model_cfg: Any,
    preprocess_cfg: dict[str, Any] | None = None,
    *,
    include_tokenizer: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write an already created model to a folder that ``create_model('local-dir:DIR')`` loads.

    The folder is written under a temporary name next to ``to`` and renamed into place under the target's lock
    (see the module notes): a failure leaves nothing at ``to``.

    Args:
        model: The model whose current weights are saved (``open_clip_model.safetensors``).
        to: The target folder; its parent folders are created.
        model_cfg: The architecture the model was built from: a ``ModelCfg`` or open_clip's config dict. Its
            ``text_cfg`` also names the tokenizer (``hf_tokenizer_name``, ``tokenizer_kwargs``).
        preprocess_cfg: Preprocessing fields (``size``, ``mean``, ``std``, ``interpolation``, ``resize_mode``,
            ...); None uses the ones the model carries (``get_model_preprocess_cfg(model)``).
        include_tokenizer: Copy a Hugging Face tokenizer's files into the folder (from the local folder or the
            Hugging Face cache); the CLIP BPE tokenizer needs none.
        overwrite: Replace a folder an earlier export wrote (see :func:`check_export_target`).

    Returns:
        The path of the written folder.

    Raises:
        ExportTargetError: ``to`` may not be written (:func:`check_export_target`), its parent cannot be
            created or written, or writing failed (disk full, permission denied).
        ExportBusyError: another export into ``to`` held its lock for ``LOCK_TIMEOUT`` seconds, or wrote the
            target while this one waited.
        ExportError: ``include_tokenizer`` is set but the tokenizer's files are neither a local folder nor in
            the Hugging Face cache.
    """
    from ..factory.preprocess_cfg import get_model_preprocess_cfg

    cfg = _export_model_cfg(model_cfg)
    preprocess = _export_preprocess_cfg(
        preprocess_cfg if preprocess_cfg is not None else get_model_preprocess_cfg(model)
    )
    return write_folder_atomically(
        Path(to), overwrite, lambda tmp: _write_folder(tmp, model, cfg, preprocess, include_tokenizer)
    )


def write_open_clip_folder(folder: Path, model: Any, spec: Any, *, include_tokenizer: bool = True) -> None:
    """Write ``model`` (built from ``spec``, a factory ModelSpec) in open_clip's folder layout into ``folder``."""
    cfg = _export_model_cfg(spec.model_cfg)
    _write_folder(folder, model, cfg, _export_preprocess_cfg(spec.preprocess_cfg), include_tokenizer)
