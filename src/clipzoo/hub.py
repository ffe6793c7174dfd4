"""All network access of clipzoo: Hub files, release URLs verified by SHA-256, the cache, offline mode.

Where files go
  - Hugging Face Hub files use the standard HF cache, shared with other tools: ``cache_dir`` when given, else
    ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else huggingface_hub's default (``~/.cache/huggingface/hub``).
  - Files fetched from plain URLs go to the clipzoo cache: ``cache_dir`` when given, else ``$CLIPZOO_CACHE``,
    else ``$XDG_CACHE_HOME/clipzoo``, else ``~/.cache/clipzoo``.

Offline
  ``offline=True``, or ``HF_HUB_OFFLINE=1`` in the environment when the call is made, uses cached files only and
  makes no network call; a file that is not cached raises :class:`OfflineError` naming the command that fetches it.

Integrity of URL files
  A download streams into a temporary ``.<name>.*.part`` file beside the target, is checked against the
  Content-Length and the SHA-256 the URL encodes (OpenAI: ``.../<sha256>/<name>.pt``; open_clip releases:
  ``.../mlfoundations/...-<leading hex of sha256>.pt``), and only then renamed onto the target, so an interrupted or
  corrupt transfer never leaves a file that a later run loads. ``<name>.lock`` serializes processes fetching the
  same file; ``<name>.verified`` records the verified digest with the file's size and mtime so that a cache hit
  does not hash the whole file again, while a file changed since then is hashed and, if wrong, fetched again.

Integrity of Hub files
  A Hub LFS file (the weights) is downloaded into ``<HF cache>/.clipzoo-staging/``, its SHA-256 compared with the
  one the Hub sends (``X-Linked-Etag``), and only then moved into the cache as ``blobs/<sha256>``; a mismatch is a
  :class:`ChecksumError` and nothing is cached. Cached files get the umask's modes (not mkstemp's 0600).

Tuning, from the environment at call time (arguments win)
  ``CLIPZOO_DOWNLOAD_TIMEOUT``: seconds a socket may wait (default 30; for Hub files it bounds the metadata request,
  the body follows ``HF_HUB_DOWNLOAD_TIMEOUT``); ``CLIPZOO_DOWNLOAD_RETRIES``: extra attempts after a 5xx, dropped
  connection, timeout or short body (default 2); ``CLIPZOO_DOWNLOAD_BACKOFF``: seconds before the first retry,
  doubled each time (default 0.5). Hub requests are already retried by huggingface_hub (5xx, connection errors,
  timeouts: 5 retries, backoff up to 8 s); clipzoo adds its retries there only for bodies cut short, which
  huggingface_hub leaves to the next call to resume.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from clipzoo.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

from .errors import IntegrityError, NetworkError
from .filemodes import file_mode

__all__ = [
    "ChecksumError",
    "DownloadError",
    "DownloadTimeoutError",
    "NotFoundError",
    "OfflineError",
    "default_cache_dir",
    "download_pretrained",
    "download_pretrained_from_hf",
    "download_pretrained_from_url",
    "expected_sha256_from_url",
    "is_offline",
]

_CHUNK = 1 << 20
_TRUE = {"1", "true", "yes", "on"}


class DownloadError(NetworkError, RuntimeError):
    """A file could not be fetched; the message says which file and what to do."""


class OfflineError(DownloadError):
    """Offline mode is on and the file is not in the cache."""


class NotFoundError(DownloadError, FileNotFoundError):
    """The server or Hub repo has no such file (or the local path does not exist): retrying will not help."""


class ChecksumError(DownloadError, IntegrityError):
    """A downloaded file's SHA-256 does not match the one its source publishes."""


class DownloadTimeoutError(DownloadError, TimeoutError):
    """The server did not answer within the timeout on any attempt."""


class _Transient(Exception):
    """A failure worth another attempt: 5xx, dropped connection, timeout, short body."""

    def __init__(self, reason: str, timed_out: bool = False):
        super().__init__(reason)
        self.timed_out = timed_out


# ---------------------------------------------------------------------------------------------------------------
# Settings read at call time


@dataclass(frozen=True)
class _Policy:
    timeout: float
    retries: int
    backoff: float

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        return self.backoff * 2**attempt


def _env_number(name: str, default: float, kind: type) -> Any:
    """A number from the environment, or ``default`` when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(
            f"{name}={raw!r} is not a valid {kind.__name__}; unset it or set e.g. {default}"
        ) from None


def _policy(timeout: float | None, retries: int | None) -> _Policy:
    """Timeout, retry count and backoff: explicit arguments, else environment, else defaults."""
    policy = _Policy(
        timeout=float(timeout)
        if timeout is not None
        else _env_number("CLIPZOO_DOWNLOAD_TIMEOUT", 30.0, float),
        retries=int(retries) if retries is not None else _env_number("CLIPZOO_DOWNLOAD_RETRIES", 2, int),
        backoff=_env_number("CLIPZOO_DOWNLOAD_BACKOFF", 0.5, float),
    )
    if policy.retries < 0 or policy.timeout <= 0 or policy.backoff < 0:
        raise ValueError(
            f"download settings out of range: {policy}; need retries >= 0, timeout > 0, backoff >= 0"
        )
    return policy


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


def _hub_cache_dir(cache_dir: str | os.PathLike | None) -> str | None:
    """HF cache folder honouring HF_HUB_CACHE / HF_HOME as set now (huggingface_hub reads them at import)."""
    if cache_dir:
        return os.fspath(cache_dir)
    if os.environ.get("HF_HUB_CACHE"):
        return os.path.expanduser(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return os.path.join(os.path.expanduser(os.environ["HF_HOME"]), "hub")
    return None


def _user_agent() -> str:
    from clipzoo import __version__

    return f"clipzoo/{__version__} python/{sys.version_info.major}.{sys.version_info.minor}"


# ---------------------------------------------------------------------------------------------------------------
# Messages


def _label(model_name: str | None, tag: str | None, source: str) -> str:
    """How messages name the weights: model and tag when known, else the source."""
    if model_name and tag:
        return f"{model_name} (pretrained tag '{tag}')"
    return model_name or source


def _download_hint(model_name: str | None, tag: str | None) -> str:
    """The command that fills the cache for these weights."""
    command = " ".join(part for part in ("clipzoo download", model_name or "MODEL", tag or "TAG") if part)
    if model_name and model_name.startswith("hf-hub:") and not tag:
        command = f"clipzoo download {model_name}"
    return f"run `{command}` while online, or unset HF_HUB_OFFLINE"


# ---------------------------------------------------------------------------------------------------------------
# Checksums and the verified-stamp beside each URL file


def expected_sha256_from_url(url: str) -> str:
    """The SHA-256 (or its leading hex digits) that a release URL encodes; '' when it encodes none."""
    parts = urllib.parse.urlparse(url).path.split("/")
    # OpenAI publishes .../clip/models/<sha256>/<name>.pt
    if len(parts) >= 2 and _is_hex(parts[-2], 64):
        return parts[-2].lower()
    # open_clip's GitHub releases name files <stem>-<first 8 hex of sha256>.<ext>
    if "mlfoundations" in parts:
        stem = os.path.splitext(parts[-1])[0]
        suffix = stem.rsplit("-", 1)[-1] if "-" in stem else ""
        if 8 <= len(suffix) <= 64 and _is_hex(suffix, len(suffix)):
            return suffix.lower()
    return ""


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(c in "0123456789abcdefABCDEF" for c in text)


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


def _write_stamp(target: str, digest: str, stat: os.stat_result) -> None:
    """Record ``digest`` for the file whose stat (taken on the hashed descriptor) is ``stat``."""
    record = {"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".stamp.", suffix=".part")
    os.fchmod(fd, file_mode())  # mkstemp makes 0600; cached files follow the umask like any other file
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.replace(tmp, _stamp_path(target))


def _cached_digest(target: str) -> str:
    """SHA-256 of a cached file, read from its stamp when the file has not changed since it was hashed."""
    digest = _read_stamp(target)
    if digest is not None:
        return digest
    hasher = hashlib.sha256()
    with open(target, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(block)
        stat = os.fstat(f.fileno())
    digest = hasher.hexdigest()
    if os.access(os.path.dirname(target) or ".", os.W_OK):  # a read-only shared cache is hashed on each hit
        _write_stamp(target, digest, stat)
    return digest


def _cache_state(target: str, expected: str) -> str:
    """'ok', 'missing' or 'corrupt' (exists but its SHA-256 does not match ``expected``)."""
    if not os.path.isfile(target):
        if os.path.lexists(target):
            raise DownloadError(f"{target} exists but is not a regular file; remove it and try again")
        return "missing"
    if expected and not _cached_digest(target).startswith(expected):
        return "corrupt"
    return "ok"


# ---------------------------------------------------------------------------------------------------------------
# Plain URLs


def download_pretrained_from_url(
    url: str,
    cache_dir: str | os.PathLike | None = None,
    expected_sha256: str | None = None,
    *,
    offline: bool | None = None,
    progress: bool = True,
    timeout: float | None = None,
    retries: int | None = None,
    model_name: str | None = None,
    tag: str | None = None,
) -> str:
    """Local path of the file at ``url``, fetched once into the clipzoo cache and verified by SHA-256 when known.

    A cached file whose SHA-256 no longer matches is fetched again (with a warning); a download is renamed
    into place only after its size and checksum are checked, so the cache never holds a partial file.

    Args:
        url: An ``https://``/``http://`` URL, or a ``file://`` URL or local path (returned as is once it is
            known to exist; nothing is copied).
        cache_dir: Folder the file is stored in under its URL's file name; None uses :func:`default_cache_dir`
            (``$CLIPZOO_CACHE``, else ``$XDG_CACHE_HOME/clipzoo``, else ``~/.cache/clipzoo``).
        expected_sha256: The file's SHA-256, whole or its leading hex digits; None uses the one the URL encodes
            (:func:`expected_sha256_from_url`), and when neither gives one the file is not checked.
        offline: True uses the cache only; None reads ``HF_HUB_OFFLINE`` at call time.
        progress: Show a progress bar on stderr.
        timeout: Seconds a socket may wait; None reads ``CLIPZOO_DOWNLOAD_TIMEOUT`` (default 30).
        retries: Extra attempts after a 5xx/429 answer, a dropped connection, a timeout or a short body; None
            reads ``CLIPZOO_DOWNLOAD_RETRIES`` (default 2). A host that cannot be resolved or connected to fails
            at once, without retries.
        model_name: Only names the weights in messages (with ``tag``, in the ``clipzoo download`` hint).
        tag: Only names the weights in messages.

    Returns:
        The path of the verified local file.

    Raises:
        OfflineError: offline and the file is not cached (or the cached copy fails its checksum).
        NotFoundError: a local path does not exist, or the server answers 404/410.
        ChecksumError: the downloaded bytes do not match the expected SHA-256 (they are discarded).
        DownloadTimeoutError: every attempt timed out.
        DownloadError: the host cannot be reached (the message says to set ``HF_HUB_OFFLINE=1``), another HTTP
            error, every attempt failed, or the cache path exists but is not a regular file.
        ValueError: an unsupported URL scheme, a URL without a file name, or download settings out of range.
    """
    local = _local_path(url)
    if local is not None:
        return local
    folder = os.fspath(cache_dir) if cache_dir else default_cache_dir()
    target = os.path.join(folder, _url_file_name(url))
    expected = (expected_sha256 or expected_sha256_from_url(url)).lower()
    label = _label(model_name, tag, os.path.basename(target))
    state = _cache_state(target, expected)
    if state == "ok":
        return target
    if is_offline(offline):
        why = "does not match its SHA-256" if state == "corrupt" else "is not in the cache"
        raise OfflineError(
            f"{label}: {target} {why} and offline mode is on (offline=True or HF_HUB_OFFLINE=1); "
            f"{_download_hint(model_name, tag)}"
        )
    os.makedirs(folder, exist_ok=True)
    from filelock import FileLock  # imported here so the CLI's parser needs no third-party package

    with FileLock(target + ".lock"):
        state = _cache_state(target, expected)  # another process may have finished it while we waited
        if state == "ok":
            return target
        _clear_target(target, state, expected)
        _fetch_url(url, target, expected, _policy(timeout, retries), progress, label)
    return target


def _local_path(url: str) -> str | None:
    """The path a ``file://`` URL or bare path names (it must exist); None for network URLs."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("http", "https"):
        return None
    if parsed.scheme not in ("", "file") and len(parsed.scheme) > 1:  # one letter: a Windows drive
        raise ValueError(
            f"unsupported URL scheme {parsed.scheme!r} in {url!r}; use https://, file:// or a path"
        )
    return _existing_file(urllib.request.url2pathname(parsed.path) if parsed.scheme == "file" else url)


def _existing_file(path: str) -> str:
    """``path`` (with ~ expanded) if it is a file, else NotFoundError."""
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise NotFoundError(f"weights file {path} does not exist")
    return path


def _url_file_name(url: str) -> str:
    name = os.path.basename(urllib.parse.unquote(urllib.parse.urlparse(url).path))
    if not name:
        raise ValueError(f"URL {url!r} does not end in a file name")
    return name


def _clear_target(target: str, state: str, expected: str) -> None:
    """Remove leftovers of dead downloads and, with a warning, a cached file whose checksum is wrong."""
    folder, name = os.path.split(target)
    for entry in os.listdir(folder):
        if entry.startswith(f".{name}.") and entry.endswith(".part"):
            os.unlink(os.path.join(folder, entry))  # we hold the lock, so no live writer owns it
    if state == "corrupt":
        warnings.warn(
            f"{target}: SHA-256 does not match {expected}; the cached file is damaged, fetching it again",
            stacklevel=3,
        )
        os.unlink(target)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_stamp_path(target))


def _fetch_url(url: str, target: str, expected: str, policy: _Policy, progress: bool, label: str) -> None:
    """Fetch ``url`` onto ``target``, retrying transient failures with exponential backoff."""
    for attempt in range(policy.retries + 1):
        try:
            with _classified(url, label):
                _fetch_once(url, target, expected, policy.timeout, progress, label)
            return
        except _Transient as failure:
            last = failure
            if attempt < policy.retries:
                time.sleep(policy.delay(attempt))
    error = DownloadTimeoutError if last.timed_out else DownloadError
    attempts = policy.retries + 1
    raise error(f"{label}: could not fetch {url} ({attempts} attempts): {last}") from last.__cause__


@contextlib.contextmanager
def _classified(url: str, label: str) -> Iterator[None]:
    """Translate urllib/socket failures into final errors or ``_Transient`` ones."""
    try:
        yield
    except urllib.error.HTTPError as e:  # before URLError, its base class
        e.close()
        if e.code in (404, 410):
            raise NotFoundError(f"{label}: {url} answered HTTP {e.code}: no such file; check the URL") from e
        if e.code >= 500 or e.code == 429:
            raise _Transient(f"HTTP {e.code} {e.reason}") from e
        raise DownloadError(f"{label}: {url} answered HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        if _is_unreachable(e):  # a retry cannot fix a name that does not resolve or a host that refuses
            raise DownloadError(f"{label}: {_unreachable_message(url, e)}") from e
        raise _Transient(str(e.reason), timed_out=isinstance(e.reason, TimeoutError)) from e
    except TimeoutError as e:
        raise _Transient("timed out waiting for the server", timed_out=True) from e
    except (ConnectionError, http.client.HTTPException) as e:
        # a dropped connection, a body cut short (IncompleteRead), a garbled status line
        raise _Transient(f"connection failed: {e!r}") from e


def _fetch_once(url: str, target: str, expected: str, timeout: float, progress: bool, label: str) -> None:
    """One GET of ``url`` into a temporary file, renamed onto ``target`` only once size and checksum agree."""
    request = urllib.request.Request(
        url, headers={"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        size = _content_length(response)
        folder, name = os.path.split(target)
        fd, part = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
        os.fchmod(fd, file_mode())  # mkstemp makes 0600; the cached file follows the umask
        try:
            with os.fdopen(fd, "wb") as out:
                digest, received = _copy_hashing(response, out, size, progress, name)
                out.flush()
                os.fsync(out.fileno())  # the rename below must not publish data still in flight to the disk
                stat = os.fstat(out.fileno())
            _check_body(received, size, digest, expected, label, url)
            os.replace(part, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
            raise
    _write_stamp(target, digest, stat)


def _content_length(response: http.client.HTTPResponse) -> int | None:
    raw = response.headers.get("Content-Length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise _Transient(f"bad Content-Length header {raw!r}")
    return int(raw)


def _copy_hashing(
    source: BinaryIO, out: BinaryIO, size: int | None, progress: bool, name: str
) -> tuple[str, int]:
    """Copy ``source`` to ``out``; return the SHA-256 hex digest and the byte count."""
    hasher = hashlib.sha256()
    received = 0
    from tqdm import tqdm

    with tqdm(
        total=size,
        desc=name,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not progress,
    ) as bar:
        while block := source.read(_CHUNK):
            hasher.update(block)
            out.write(block)
            received += len(block)
            bar.update(len(block))
    return hasher.hexdigest(), received


def _check_body(received: int, size: int | None, digest: str, expected: str, label: str, url: str) -> None:
    """Raise unless the body is complete and matches the expected digest."""
    if size is not None and received != size:
        raise _Transient(f"connection closed after {received} of {size} bytes")
    if expected and not digest.startswith(expected):
        raise ChecksumError(
            f"{label}: the file from {url} has SHA-256 {digest}, expected {expected}"
            f"{'... (prefix)' if len(expected) < 64 else ''}; it was discarded. The server sent a different "
            "or damaged file: try again later, or report it if it persists"
        )


# ---------------------------------------------------------------------------------------------------------------
# Hugging Face Hub


def _safe_alternatives(filename: str) -> list[str]:
    """The .safetensors names to try before ``filename`` (the same rule open_clip follows)."""
    if filename == HF_WEIGHTS_NAME:
        return [HF_SAFE_WEIGHTS_NAME]
    stem, ext = os.path.splitext(filename)
    return [stem + ".safetensors"] if ext in (".bin", ".pth") else []


def download_pretrained_from_hf(
    model_id: str,
    filename: str | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    offline: bool | None = None,
    *,
    timeout: float | None = None,
    retries: int | None = None,
    model_name: str | None = None,
    tag: str | None = None,
) -> str:
    """Local path of a Hub file in the HF cache, preferring its .safetensors sibling when the repo has one.

    An LFS file (weights) enters the cache only after its SHA-256 matches the one the Hub sends. When the Hub
    cannot be reached, a cached copy is used; else the call fails at once instead of after huggingface_hub's
    retries.

    Args:
        model_id: The Hub repo id, ``'org/name'``.
        filename: The file in the repo; None means ``open_clip_pytorch_model.bin``. For a ``.bin``/``.pth``
            name the ``.safetensors`` file of the same stem (``open_clip_model.safetensors`` for the default)
            is tried first.
        revision: A branch, tag or commit of the repo; None means the default branch.
        cache_dir: The Hugging Face cache folder; None uses ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
            huggingface_hub's default (``~/.cache/huggingface/hub``).
        offline: True uses the cache only; None reads ``HF_HUB_OFFLINE`` at call time (and is offline too when
            it was set as huggingface_hub was imported).
        timeout: Seconds for the connect probe and the metadata request; None reads
            ``CLIPZOO_DOWNLOAD_TIMEOUT`` (default 30). The body follows ``HF_HUB_DOWNLOAD_TIMEOUT``.
        retries: Extra attempts after a body cut short (huggingface_hub retries other failures itself); None
            reads ``CLIPZOO_DOWNLOAD_RETRIES`` (default 2).
        model_name: Only names the weights in messages (with ``tag``, in the ``clipzoo download`` hint).
        tag: Only names the weights in messages.

    Returns:
        The path of the file in the cache's snapshot folder.

    Raises:
        OfflineError: offline and none of the candidate files is cached.
        NotFoundError: the repo or revision does not exist, or it has none of the candidate files.
        ChecksumError: the downloaded bytes do not match the SHA-256 the Hub lists (nothing is cached).
        DownloadTimeoutError: the Hub did not answer in time.
        DownloadError: the Hub cannot be reached and the file is not cached (the message says to set
            ``HF_HUB_OFFLINE=1``), the repo is gated, or another HTTP error.
        ValueError: download settings out of range.
    """
    filename = filename or HF_WEIGHTS_NAME
    candidates = [*_safe_alternatives(filename), filename]
    offline = is_offline(offline) or _hf_offline_at_import()
    policy = _policy(timeout, retries)
    label = _label(model_name, tag, f"hf-hub:{model_id}")
    for candidate in candidates:
        path = _hf_fetch(model_id, candidate, revision, cache_dir, offline, policy, label)
        if path is not None:
            return path
    tried = " or ".join(candidates)
    at = f"@{revision}" if revision else ""
    if offline:
        raise OfflineError(
            f"{label}: {tried} of hf-hub:{model_id}{at} is not in the Hugging Face cache "
            f"({_hub_cache_dir(cache_dir) or 'default location'}) and offline mode is on "
            f"(offline=True or HF_HUB_OFFLINE=1); {_download_hint(model_name or f'hf-hub:{model_id}', tag)}"
        )
    raise NotFoundError(
        f"{label}: hf-hub:{model_id}{at} has no file {tried}; check the repo id and file name"
    )


def _hf_offline_at_import() -> bool:
    """huggingface_hub refuses the network for good when HF_HUB_OFFLINE was set as it was imported."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


# Failures no retry can fix: the name does not resolve, the host refuses or cannot be routed to.
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL}
OFFLINE_HINT = "set HF_HUB_OFFLINE=1 to use the cache only"
_PROBE_TTL = 30.0  # seconds a reachability answer is reused within one process
_probes: dict[tuple[str, int], tuple[float, BaseException | None]] = {}


def _is_unreachable(error: BaseException) -> bool:
    """True when ``error`` (or a cause) says the host cannot be resolved or connected to."""
    for cause in _causes(error):
        reason = getattr(cause, "reason", None)
        for e in (cause, reason):
            if isinstance(e, socket.gaierror | ConnectionRefusedError):
                return True
            if isinstance(e, OSError) and e.errno in _UNREACHABLE_ERRNOS:
                return True
        if type(cause).__name__ in ("NameResolutionError", "NewConnectionError"):
            return True
    return False


def _unreachable_message(where: str, error: BaseException) -> str:
    return f"cannot reach {where} ({_root_cause(error)}); {OFFLINE_HINT}"


def _probe(endpoint: str, timeout: float) -> BaseException | None:
    """None when ``endpoint``'s host accepts a TCP connection; else the error (answers are cached briefly).

    huggingface_hub retries connection errors for ~20 s before giving up; one connect attempt tells at once
    whether the host can be reached at all.
    """
    parsed = urllib.parse.urlsplit(endpoint)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    now = time.monotonic()
    cached = _probes.get((host, port))
    if cached is not None and now - cached[0] < _PROBE_TTL:
        return cached[1]
    result: BaseException | None = None
    try:
        socket.create_connection((host, port), timeout=min(timeout, 5.0)).close()
    except OSError as err:
        result = err if _is_unreachable(err) or isinstance(err, TimeoutError) else None
    _probes[(host, port)] = (now, result)
    return result


def _hf_endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


def _hf_fetch(
    repo_id: str,
    filename: str,
    revision: str | None,
    cache_dir: str | os.PathLike | None,
    offline: bool,
    policy: _Policy,
    label: str,
) -> str | None:
    """Path of one Hub file, or None when the repo (or, offline, the cache) has no such file."""
    if not offline:
        endpoint = _hf_endpoint()
        unreachable = _probe(endpoint, policy.timeout)
        if unreachable is not None:
            # As huggingface_hub does when the network fails: a cached copy is used; else fail now, not in 20 s.
            cached = _hf_fetch_once(repo_id, filename, revision, cache_dir, True, policy.timeout, label)
            if cached is not None:
                return cached
            raise DownloadError(
                f"{label}: {filename} of hf-hub:{repo_id}: {_unreachable_message(endpoint, unreachable)}"
            )
    staged: list[str] = []  # staging folders the attempts resume from; discarded when all attempts fail
    for attempt in range(policy.retries + 1):
        try:
            return _hf_fetch_once(repo_id, filename, revision, cache_dir, offline, policy.timeout, label, staged)
        except _Transient as failure:
            last = failure
            if attempt < policy.retries:
                time.sleep(policy.delay(attempt))
    _discard_staging(staged)
    error = DownloadTimeoutError if last.timed_out else DownloadError
    attempts = policy.retries + 1
    message = f"{label}: could not fetch {filename} from hf-hub:{repo_id} ({attempts} attempts): {last}"
    raise error(message) from last.__cause__


def _hf_fetch_once(
    repo_id: str,
    filename: str,
    revision: str | None,
    cache_dir: str | os.PathLike | None,
    offline: bool,
    timeout: float,
    label: str,
    staged: list[str] | None = None,
) -> str | None:
    """One ``hf_hub_download`` call with its errors sorted into final, transient and 'no such file'."""
    from huggingface_hub import errors as hf_errors
    from huggingface_hub import hf_hub_download

    try:
        verified = offline or _hf_verified_prefetch(
            repo_id, filename, revision, cache_dir, timeout, label, staged
        )
        path = hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=_hub_cache_dir(cache_dir),
            local_files_only=offline,
            etag_timeout=timeout,
            endpoint=os.environ.get("HF_ENDPOINT") or None,  # read now: huggingface_hub reads it at import
        )
        if not verified:
            _hf_check_cached(path, filename, repo_id, label)
        return path
    except hf_errors.LocalEntryNotFoundError as e:  # before EntryNotFoundError, its base class
        if offline:
            return None
        # huggingface_hub already retried the metadata request (5xx, connection, timeout) with its own backoff
        error = DownloadTimeoutError if _is_timeout(e) else DownloadError
        raise error(
            f"{label}: could not reach hf-hub:{repo_id} for {filename}: {_root_cause(e)}; {OFFLINE_HINT}"
        ) from e
    except hf_errors.EntryNotFoundError:
        return None
    except hf_errors.GatedRepoError as e:  # before RepositoryNotFoundError, its base class
        raise DownloadError(
            f"{label}: hf-hub:{repo_id} is gated; accept its terms on the Hub and log in (HF_TOKEN)"
        ) from e
    except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError) as e:
        raise NotFoundError(
            f"{label}: {e.__class__.__name__} for hf-hub:{repo_id}@{revision or 'main'}"
        ) from e
    except hf_errors.HfHubHTTPError as e:  # raised after huggingface_hub's own retries
        status = e.response.status_code if e.response is not None else None
        raise DownloadError(f"{label}: hf-hub:{repo_id}/{filename} answered HTTP {status}") from e
    except Exception as e:
        # a body cut short is not retried inside huggingface_hub; another call resumes the .incomplete file
        if _is_transport_error(e):
            raise _Transient(_root_cause(e), timed_out=_is_timeout(e)) from e
        raise


def _hf_verified_prefetch(
    repo_id: str,
    filename: str,
    revision: str | None,
    cache_dir: str | os.PathLike | None,
    timeout: float,
    label: str,
    staged: list[str] | None = None,
) -> bool:
    """Put a Hub LFS file into the HF cache only once its SHA-256 matches the one the Hub sent.

    The Hub sends an LFS file's SHA-256 as its ``X-Linked-Etag``/``ETag``; huggingface_hub names the cached blob
    by it but never checks the bytes. Here the file is downloaded into a staging folder beside the cache
    (``.clipzoo-staging/``, resumable), hashed, and only then moved to ``blobs/<sha256>``, where the
    ``hf_hub_download`` call that follows finds it and links it into the snapshot. A mismatch raises
    :class:`ChecksumError` and caches nothing. Files that are not in LFS (their ETag is a git blob id) are left
    to ``hf_hub_download``. Returns False when the metadata request failed (the download that follows then
    reports the failure, or the file it caches is hashed afterwards by :func:`_hf_check_cached`).
    """
    from filelock import FileLock
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
    from huggingface_hub import errors as hf_errors

    endpoint = os.environ.get("HF_ENDPOINT") or None
    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
    try:
        metadata = get_hf_file_metadata(url, timeout=timeout)
    except (hf_errors.EntryNotFoundError, hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError):
        raise  # final answers, sorted by the caller as for hf_hub_download
    except Exception:  # noqa: BLE001 - the download that follows reports (and classifies) the failure
        return False
    expected = (metadata.etag or "").strip('"').lower()
    if not _is_hex(expected, 64):
        return True
    cache = _hub_cache_dir(cache_dir) or constants.HF_HUB_CACHE
    repo_folder = "models--" + repo_id.replace("/", "--")
    blob = os.path.join(cache, repo_folder, "blobs", expected)
    if os.path.exists(blob):
        return True  # verified when it entered the cache (or put there by another tool, trusted as the Hub's)
    staging = os.path.join(cache, ".clipzoo-staging", repo_folder, expected)
    os.makedirs(os.path.dirname(staging), exist_ok=True)
    if staged is not None and staging not in staged:
        staged.append(staging)
    with FileLock(staging + ".lock"):
        if os.path.exists(blob):
            return True  # another process verified it while we waited
        path = hf_hub_download(
            repo_id,
            filename,
            revision=metadata.commit_hash or revision,
            local_dir=staging,
            etag_timeout=timeout,
            endpoint=endpoint,
        )
        digest = _file_sha256(path)
        if digest != expected:
            shutil.rmtree(staging, ignore_errors=True)
            raise ChecksumError(
                f"{label}: {filename} from hf-hub:{repo_id} has SHA-256 {digest}, but the Hub lists {expected}; "
                "it was discarded and nothing was cached. The server sent a different or damaged file: try "
                "again later, or report it if it persists"
            )
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        os.chmod(path, file_mode())
        os.replace(path, blob)
        shutil.rmtree(staging, ignore_errors=True)
    return True


def _discard_staging(staged: list[str]) -> None:
    """Remove the staging folders of a download that failed for good (partial file, huggingface_hub's .cache).

    Taken under the folder's lock, so a process downloading the same file is not disturbed; the lock file
    stays, as after a successful download.
    """
    from filelock import FileLock

    for staging in staged:
        with FileLock(staging + ".lock"):
            shutil.rmtree(staging, ignore_errors=True)


def _hf_check_cached(path: str, filename: str, repo_id: str, label: str) -> None:
    """Hash a cached Hub file whose metadata could not be read beforehand; remove it when it is not its blob name."""
    blob = os.path.realpath(path)
    expected = os.path.basename(blob)
    if not _is_hex(expected, 64):
        return  # a git blob id names it (not an LFS file)
    digest = _file_sha256(blob)
    if digest != expected:
        for name in (path, blob):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
        raise ChecksumError(
            f"{label}: {filename} from hf-hub:{repo_id} has SHA-256 {digest}, but the Hub lists {expected}; it "
            "was removed from the cache. The server sent a different or damaged file: try again later"
        )


def _file_sha256(path: str) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            hasher.update(block)
    return hasher.hexdigest()


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the chain of exceptions behind it."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _root_cause(error: BaseException) -> str:
    return str(list(_causes(error))[-1]) or error.__class__.__name__


def _is_timeout(error: BaseException) -> bool:
    return any(isinstance(e, TimeoutError) or "Timeout" in type(e).__name__ for e in _causes(error))


def _is_transport_error(error: BaseException) -> bool:
    """A network-level failure from the HTTP client huggingface_hub uses (requests or httpx)."""
    transport = ("requests.exceptions", "httpx", "urllib3.exceptions")
    return isinstance(error, (ConnectionError, TimeoutError)) or type(error).__module__.startswith(transport)


# ---------------------------------------------------------------------------------------------------------------
# A pretrained tag record


def _split_hub_spec(spec: str) -> tuple[str, str | None]:
    """'org/repo/' -> ('org/repo', None); 'org/repo/dir/file.bin' -> ('org/repo', 'dir/file.bin')."""
    spec = spec.removeprefix("hf-hub:")
    parts = spec.split("/", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"hf_hub entry {spec!r} is not 'org/repo/' or 'org/repo/file'")
    return f"{parts[0]}/{parts[1]}", (parts[2] if len(parts) == 3 and parts[2] else None)


def download_pretrained(
    cfg: dict,
    prefer_hf_hub: bool = True,
    cache_dir: str | os.PathLike | None = None,
    *,
    offline: bool | None = None,
    progress: bool = True,
    timeout: float | None = None,
    retries: int | None = None,
    model_name: str | None = None,
    tag: str | None = None,
) -> str:
    """Local path of a pretrained tag's weights: its ``file``, else its Hub file (preferred), else its URL.

    Args:
        cfg: The tag's record as :func:`clipzoo.get_pretrained_cfg` returns it: ``file`` (a local path),
            ``hf_hub`` (``'org/repo/'`` or ``'org/repo/file'``) and/or ``url`` (with an optional ``sha256``).
        prefer_hf_hub: With both ``hf_hub`` and ``url``, fetch from the Hub; False uses the URL.
        cache_dir: The cache folder of whichever download runs (see :func:`download_pretrained_from_hf` and
            :func:`download_pretrained_from_url`).
        offline: True uses the cache only; None reads ``HF_HUB_OFFLINE`` at call time.
        progress: Show a progress bar for URL downloads (Hub downloads show huggingface_hub's own).
        timeout: Seconds a socket may wait (as the download that runs uses it); None reads
            ``CLIPZOO_DOWNLOAD_TIMEOUT`` (default 30).
        retries: Extra attempts after failures a retry can fix (as the download that runs counts them); None
            reads ``CLIPZOO_DOWNLOAD_RETRIES`` (default 2).
        model_name: Only names the weights in messages (with ``tag``, in the ``clipzoo download`` hint).
        tag: Only names the weights in messages.

    Returns:
        The path of the local weights file.

    Raises:
        ValueError: ``cfg`` is empty, names no source, or its ``hf_hub`` is not ``'org/repo/[file]'``.
        NotFoundError: the ``file`` does not exist, or the source has no such file.
        OfflineError, ChecksumError, DownloadTimeoutError, DownloadError: as raised by
            :func:`download_pretrained_from_hf` and :func:`download_pretrained_from_url`.
    """
    if not cfg:
        raise ValueError(
            f"{_label(model_name, tag, 'pretrained weights')}: empty pretrained cfg, nothing to fetch"
        )
    if cfg.get("file"):
        return _existing_file(os.fspath(cfg["file"]))
    hub, url = cfg.get("hf_hub", ""), cfg.get("url", "")
    fetch = {"offline": offline, "timeout": timeout, "retries": retries, "model_name": model_name, "tag": tag}
    if hub and (prefer_hf_hub or not url):
        repo_id, filename = _split_hub_spec(hub)
        return download_pretrained_from_hf(repo_id, filename, cache_dir=cache_dir, **fetch)
    if url:
        sha256 = cfg.get("sha256") or None
        return download_pretrained_from_url(url, cache_dir, sha256, progress=progress, **fetch)
    raise ValueError(
        f"{_label(model_name, tag, 'pretrained weights')}: the pretrained cfg names no source; "
        f"expected 'hf_hub', 'url' or 'file', got keys {sorted(cfg)}"
    )
