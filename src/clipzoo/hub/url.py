"""Weights at plain URLs (OpenAI's and open_clip's releases), fetched once into the clipzoo cache and verified.

Integrity
  A download streams into a staging file ``.<name>.tmp-*.part`` beside the target, is checked against the
  Content-Length and the SHA-256 the URL encodes (OpenAI: ``.../<sha256>/<name>.pt``; open_clip releases:
  ``.../mlfoundations/...-<leading hex of sha256>.pt``), and only then renamed onto the target, so an interrupted or
  corrupt transfer never leaves a file that a later run loads. The lock ``.<name>.lock`` serializes processes
  fetching the same file (:class:`clipzoo.files.AtomicTarget`, which also removes staging files of killed runs);
  the verified stamp (:mod:`clipzoo.hub.cache`) spares a cache hit hashing the file again.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from ..files import AtomicTarget
from .cache import cache_state, default_cache_dir, forget_cached, is_hex, is_offline, record_digest
from .errors import ChecksumError, DownloadError, NotFoundError, OfflineError, download_hint, weights_label
from .options import FetchOptions, check_fetch_options
from .retry import TransientError, is_unreachable, retry_policy, unreachable_message, with_retries

if TYPE_CHECKING:  # typing.Unpack is Python 3.11+
    from typing_extensions import Unpack

__all__ = ["download_pretrained_from_url", "existing_file", "expected_sha256_from_url"]

_CHUNK = 1 << 20


def expected_sha256_from_url(url: str) -> str:
    """The SHA-256 (or its leading hex digits) that a release URL encodes; '' when it encodes none."""
    parts = urllib.parse.urlparse(url).path.split("/")
    # OpenAI publishes .../clip/models/<sha256>/<name>.pt
    if len(parts) >= 2 and is_hex(parts[-2], 64):
        return parts[-2].lower()
    # open_clip's GitHub releases name files <stem>-<first 8 hex of sha256>.<ext>
    if "mlfoundations" in parts:
        stem = os.path.splitext(parts[-1])[0]
        suffix = stem.rsplit("-", 1)[-1] if "-" in stem else ""
        if 8 <= len(suffix) <= 64 and is_hex(suffix, len(suffix)):
            return suffix.lower()
    return ""


def download_pretrained_from_url(
    url: str,
    cache_dir: str | os.PathLike | None = None,
    expected_sha256: str | None = None,
    *,
    offline: bool | None = None,
    progress: bool = True,
    urlopen: Callable[..., Any] | None = None,
    **options: Unpack[FetchOptions],
) -> str:
    """Local path of the file at ``url``, fetched once into the clipzoo cache and verified by SHA-256 when known.

    A cached file whose SHA-256 no longer matches is fetched again (with a warning); a download is renamed
    into place only after its size and checksum are checked, so the cache never holds a partial file.

    Args:
        url: An ``https://``/``http://`` URL, or a ``file://`` URL or local path (returned as is once it is
            known to exist; nothing is copied).
        cache_dir: Folder the file is stored in under its URL's file name; None uses
            :func:`~clipzoo.hub.cache.default_cache_dir` (``$CLIPZOO_CACHE``, else ``$XDG_CACHE_HOME/clipzoo``,
            else ``~/.cache/clipzoo``).
        expected_sha256: The file's SHA-256, whole or its leading hex digits; None uses the one the URL encodes
            (:func:`expected_sha256_from_url`), and when neither gives one the file is not checked.
        offline: True uses the cache only; None reads ``HF_HUB_OFFLINE`` at call time.
        progress: Show a progress bar on stderr.
        urlopen: Opens the request (``urllib.request.urlopen`` when None; the open_clip alias passes the one
            ``open_clip.pretrained.urllib`` holds, which open_clip's tests replace).
        **options: ``timeout``, ``retries``, ``model_name``, ``tag``
            (:class:`~clipzoo.hub.options.FetchOptions`).

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
        TypeError: an option that is not a :class:`~clipzoo.hub.options.FetchOptions` key.
    """
    check_fetch_options("download_pretrained_from_url", options)
    model_name, tag = options.get("model_name"), options.get("tag")
    local = _local_path(url)
    if local is not None:
        return local
    folder = os.fspath(cache_dir) if cache_dir else default_cache_dir()
    target = os.path.join(folder, _url_file_name(url))
    expected = (expected_sha256 or expected_sha256_from_url(url)).lower()
    label = weights_label(model_name, tag, os.path.basename(target))
    state = cache_state(target, expected)
    if state == "ok":
        return target
    if is_offline(offline):
        why = "does not match its SHA-256" if state == "corrupt" else "is not in the cache"
        raise OfflineError(
            f"{label}: {target} {why} and offline mode is on (offline=True or HF_HUB_OFFLINE=1); "
            f"{download_hint(model_name, tag)}"
        )
    os.makedirs(folder, exist_ok=True)
    with AtomicTarget(target) as locked:
        state = cache_state(target, expected)  # another process may have finished it while we waited
        if state == "ok":
            return target
        if state == "corrupt":
            warnings.warn(
                f"{target}: SHA-256 does not match {expected}; the cached file is damaged, fetching it again",
                stacklevel=2,
            )
            forget_cached(target)
        policy = retry_policy(options.get("timeout"), options.get("retries"))

        def attempt() -> None:
            with _classified(url, label):
                _fetch_once(url, locked, expected, policy.timeout, progress, label, urlopen)

        with_retries(attempt, policy, f"{label}: could not fetch {url}")
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
    return existing_file(urllib.request.url2pathname(parsed.path) if parsed.scheme == "file" else url)


def existing_file(path: str) -> str:
    """``path`` with ``~`` expanded, once it is known to be a file.

    Args:
        path: A local weights file.

    Returns:
        The expanded path.

    Raises:
        NotFoundError: there is no file at ``path``.
    """
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise NotFoundError(f"weights file {path} does not exist")
    return path


def _url_file_name(url: str) -> str:
    name = os.path.basename(urllib.parse.unquote(urllib.parse.urlparse(url).path))
    if not name:
        raise ValueError(f"URL {url!r} does not end in a file name")
    return name


@contextlib.contextmanager
def _classified(url: str, label: str) -> Iterator[None]:
    """Translate urllib/socket failures into final errors or ``TransientError`` ones."""
    try:
        yield
    except urllib.error.HTTPError as e:  # before URLError, its base class
        e.close()
        if e.code in (404, 410):
            raise NotFoundError(f"{label}: {url} answered HTTP {e.code}: no such file; check the URL") from e
        if e.code >= 500 or e.code == 429:
            raise TransientError(f"HTTP {e.code} {e.reason}") from e
        raise DownloadError(f"{label}: {url} answered HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        if is_unreachable(e):  # a retry cannot fix a name that does not resolve or a host that refuses
            raise DownloadError(f"{label}: {unreachable_message(url, e)}") from e
        raise TransientError(str(e.reason), timed_out=isinstance(e.reason, TimeoutError)) from e
    except TimeoutError as e:
        raise TransientError("timed out waiting for the server", timed_out=True) from e
    except (ConnectionError, http.client.HTTPException) as e:
        # a dropped connection, a body cut short (IncompleteRead), a garbled status line
        raise TransientError(f"connection failed: {e!r}") from e


def _user_agent() -> str:
    from clipzoo import __version__

    return f"clipzoo/{__version__} python/{sys.version_info.major}.{sys.version_info.minor}"


def _fetch_once(
    url: str,
    target: AtomicTarget,
    expected: str,
    timeout: float,
    progress: bool,
    label: str,
    urlopen: Callable[..., Any] | None = None,
) -> None:
    """One GET of ``url`` into a staging file, renamed onto the (locked) target only once size and checksum agree."""
    request = urllib.request.Request(
        url, headers={"User-Agent": _user_agent(), "Accept-Encoding": "identity"}
    )
    with (urlopen or urllib.request.urlopen)(request, timeout=timeout) as response:
        size = _content_length(response)
        with target.staging() as part:
            with open(part, "wb") as out:
                digest, received = _copy_hashing(response, out, size, progress, target.path.name)
                out.flush()
                os.fsync(out.fileno())  # the rename must not publish data still in flight to the disk
                stat = os.fstat(out.fileno())
            _check_body(received, size, digest, expected, label, url)
    record_digest(os.fspath(target.path), digest, stat)


def _content_length(response: http.client.HTTPResponse) -> int | None:
    raw = response.headers.get("Content-Length")
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise TransientError(f"bad Content-Length header {raw!r}")
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
        raise TransientError(f"connection closed after {received} of {size} bytes")
    if expected and not digest.startswith(expected):
        raise ChecksumError(
            f"{label}: the file from {url} has SHA-256 {digest}, expected {expected}"
            f"{'... (prefix)' if len(expected) < 64 else ''}; it was discarded. The server sent a different "
            "or damaged file: try again later, or report it if it persists"
        )
