"""Where downloads are cached, offline mode, and the verified-stamp that spares a cache hit re-hashing its file.

Where files go
  - Hugging Face Hub files use the standard HF cache, shared with other tools: ``cache_dir`` when given, else
    ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else huggingface_hub's default (``~/.cache/huggingface/hub``).
  - Files fetched from plain URLs go to the clipzoo cache: ``cache_dir`` when given, else ``$CLIPZOO_CACHE``,
    else ``$XDG_CACHE_HOME/clipzoo``, else ``~/.cache/clipzoo``.

Offline
  ``offline=True``, or ``HF_HUB_OFFLINE=1`` in the environment when the call is made, uses cached files only and
  makes no network call; a file that is not cached raises :class:`~clipzoo.hub.errors.OfflineError` naming the
  command that fetches it.

Verified stamps
  ``<name>.verified`` beside a URL file records its SHA-256 with the file's size and mtime, so that a cache hit
  does not hash the whole file again, while a file changed since then is hashed again (and, if wrong, fetched
  again by the caller).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from typing import BinaryIO

from ..files import write_file_atomically
from .errors import DownloadError

__all__ = [
    "cache_state",
    "default_cache_dir",
    "file_sha256",
    "forget_cached",
    "hub_cache_dir",
    "is_hex",
    "is_offline",
    "record_digest",
]

_CHUNK = 1 << 20
_TRUE = {"1", "true", "yes", "on"}


def is_offline(offline: bool | None = None) -> bool:
    """Whether to stay off the network: the explicit argument, else ``HF_HUB_OFFLINE`` as set right now."""
    if offline is not None:
        return bool(offline)
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def default_cache_dir() -> str:
    """Folder for URL downloads: ``$CLIPZOO_CACHE``, else ``$XDG_CACHE_HOME/clipzoo``, else ``~/.cache/clipzoo``."""
    explicit = os.environ.get("CLIPZOO_CACHE")
    if explicit:
        return os.path.expanduser(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "clipzoo")


def hub_cache_dir(cache_dir: str | os.PathLike | None) -> str | None:
    """HF cache folder honouring HF_HUB_CACHE / HF_HOME as set now (huggingface_hub reads them at import).

    Args:
        cache_dir: An explicit folder, which wins.

    Returns:
        The folder, or None for huggingface_hub's own default.
    """
    if cache_dir:
        return os.fspath(cache_dir)
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    return None


def is_hex(text: str, length: int) -> bool:
    """Whether ``text`` is exactly ``length`` hexadecimal digits (64 for a SHA-256)."""
    return len(text) == length and all(c in "0123456789abcdefABCDEF" for c in text)


def _sha256(file: BinaryIO) -> str:
    hasher = hashlib.sha256()
    for block in iter(lambda: file.read(_CHUNK), b""):
        hasher.update(block)
    return hasher.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 hex digest of the file at ``path``, read in 1 MiB blocks."""
    with open(path, "rb") as f:
        return _sha256(f)


def _stamp_path(target: str) -> str:
    return target + ".verified"


def _read_stamp(target: str) -> str | None:
    """Digest recorded for ``target`` if the file is unchanged (size, mtime) since it was hashed."""
    try:
        stat = os.stat(target)
        with open(_stamp_path(target)) as f:
            record = json.load(f)
    except FileNotFoundError:
        return None
    except json.JSONDecodeError:
        return None  # a torn stamp only costs a re-hash; the file itself is checked next
    if record.get("size") == stat.st_size and record.get("mtime_ns") == stat.st_mtime_ns:
        return record.get("sha256")
    return None


def record_digest(target: str, digest: str, stat: os.stat_result) -> None:
    """Write the verified stamp of ``target``: its SHA-256 with the size and mtime it had when hashed.

    Args:
        target: The cached file.
        digest: Its SHA-256 hex digest.
        stat: Its stat, taken on the descriptor that was hashed (a later change then invalidates the stamp).
    """
    record = {"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    write_file_atomically(_stamp_path(target), json.dumps(record).encode())


def _cached_digest(target: str) -> str:
    """SHA-256 of a cached file, read from its stamp when the file has not changed since it was hashed."""
    digest = _read_stamp(target)
    if digest is not None:
        return digest
    with open(target, "rb") as f:
        digest = _sha256(f)
        stat = os.fstat(f.fileno())
    if os.access(os.path.dirname(target) or ".", os.W_OK):  # a read-only shared cache is hashed on each hit
        record_digest(target, digest, stat)
    return digest


def cache_state(target: str, expected: str) -> str:
    """Whether a cached file can be used.

    Args:
        target: The cached file's path.
        expected: Its SHA-256 or leading hex digits; '' skips the check.

    Returns:
        'ok', 'missing' or 'corrupt' (it exists but its SHA-256 does not start with ``expected``).

    Raises:
        DownloadError: ``target`` exists but is not a regular file.
    """
    if not os.path.isfile(target):
        if os.path.lexists(target):
            raise DownloadError(f"{target} exists but is not a regular file; remove it and try again")
        return "missing"
    if expected and not _cached_digest(target).startswith(expected):
        return "corrupt"
    return "ok"


def forget_cached(target: str) -> None:
    """Remove a cached file and its verified stamp (either may be missing)."""
    for path in (target, _stamp_path(target)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
