"""Weights on the Hugging Face Hub, fetched into the standard HF cache and verified by the SHA-256 the Hub lists.

Integrity
  A Hub LFS file (the weights) is downloaded into ``<HF cache>/.clipzoo-staging/`` (resumable), its SHA-256
  compared with the one the Hub sends (``X-Linked-Etag``), and only then renamed into the cache as
  ``blobs/<sha256>`` under that blob's lock (:class:`clipzoo.files.AtomicTarget`); a mismatch is a
  :class:`~clipzoo.hub.errors.ChecksumError` and nothing is cached. Cached files get the umask's modes (not
  mkstemp's 0600).

Reachability
  huggingface_hub retries connection errors for ~20 s; one TCP connect to the endpoint first tells at once whether
  the Hub can be reached at all, and when it cannot, a cached copy is used or the call fails now.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
from ..files import AtomicTarget
from .cache import file_sha256, hub_cache_dir, is_hex, is_offline
from .errors import (
    OFFLINE_HINT,
    ChecksumError,
    DownloadError,
    DownloadTimeoutError,
    NotFoundError,
    OfflineError,
    download_hint,
    weights_label,
)
from .options import FetchOptions, check_fetch_options
from .retry import (
    RetryPolicy,
    TransientError,
    is_timeout,
    is_transport_error,
    is_unreachable,
    retry_policy,
    root_cause,
    unreachable_message,
    with_retries,
)

if TYPE_CHECKING:  # typing.Unpack is Python 3.11+
    from typing_extensions import Unpack

__all__ = ["download_pretrained_from_hf"]


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
    **options: Unpack[FetchOptions],
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
        **options: ``timeout``, ``retries``, ``model_name``, ``tag``
            (:class:`~clipzoo.hub.options.FetchOptions`).

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
        TypeError: an option that is not a :class:`~clipzoo.hub.options.FetchOptions` key.
    """
    check_fetch_options("download_pretrained_from_hf", options)
    model_name, tag = options.get("model_name"), options.get("tag")
    filename = filename or HF_WEIGHTS_NAME
    candidates = [*_safe_alternatives(filename), filename]
    offline = is_offline(offline) or _hf_offline_at_import()
    policy = retry_policy(options.get("timeout"), options.get("retries"))
    label = weights_label(model_name, tag, f"hf-hub:{model_id}")
    for candidate in candidates:
        path = _HubFile(model_id, candidate, revision, cache_dir, label, policy).fetch(offline)
        if path is not None:
            return path
    tried = " or ".join(candidates)
    at = f"@{revision}" if revision else ""
    if offline:
        raise OfflineError(
            f"{label}: {tried} of hf-hub:{model_id}{at} is not in the Hugging Face cache "
            f"({hub_cache_dir(cache_dir) or 'default location'}) and offline mode is on "
            f"(offline=True or HF_HUB_OFFLINE=1); {download_hint(model_name or f'hf-hub:{model_id}', tag)}"
        )
    raise NotFoundError(
        f"{label}: hf-hub:{model_id}{at} has no file {tried}; check the repo id and file name"
    )


def _hf_offline_at_import() -> bool:
    """huggingface_hub refuses the network for good when HF_HUB_OFFLINE was set as it was imported."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


_PROBE_TTL = 30.0  # seconds a reachability answer is reused within one process
_probes: dict[tuple[str, int], tuple[float, BaseException | None]] = {}


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
        result = err if is_unreachable(err) or isinstance(err, TimeoutError) else None
    _probes[(host, port)] = (now, result)
    return result


def _hf_endpoint() -> str:
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT") or constants.ENDPOINT


@dataclass
class _HubFile:
    """One file of a Hub repo being fetched: repo, revision, cache, retry policy and its name in messages."""

    repo_id: str
    filename: str
    revision: str | None
    cache_dir: str | os.PathLike | None
    label: str
    policy: RetryPolicy
    staged: list[tuple[str, str]] = field(default_factory=list)  # (blob, staging folder) attempts resume from

    def fetch(self, offline: bool) -> str | None:
        """Path of the file, or None when the repo (or, offline, the cache) has no such file."""
        if not offline:
            endpoint = _hf_endpoint()
            unreachable = _probe(endpoint, self.policy.timeout)
            if unreachable is not None:
                # As huggingface_hub does when the network fails: a cached copy is used; else fail now, not in 20 s.
                cached = self.fetch_once(offline=True)
                if cached is not None:
                    return cached
                raise DownloadError(
                    f"{self.label}: {self.filename} of hf-hub:{self.repo_id}: "
                    f"{unreachable_message(endpoint, unreachable)}"
                )
        try:
            return with_retries(
                lambda: self.fetch_once(offline),
                self.policy,
                f"{self.label}: could not fetch {self.filename} from hf-hub:{self.repo_id}",
            )
        except DownloadError:
            _discard_staging(self.staged)  # failed for good: a partial file left to resume from is only litter
            raise

    def fetch_once(self, offline: bool) -> str | None:
        """One ``hf_hub_download`` call with its errors sorted into final, transient and 'no such file'."""
        from huggingface_hub import errors as hf_errors
        from huggingface_hub import hf_hub_download

        try:
            verified = offline or self.verified_prefetch()
            path = hf_hub_download(
                self.repo_id,
                self.filename,
                revision=self.revision,
                cache_dir=hub_cache_dir(self.cache_dir),
                local_files_only=offline,
                etag_timeout=self.policy.timeout,
                endpoint=os.environ.get("HF_ENDPOINT") or None,  # read now: huggingface_hub reads it at import
            )
            if not verified:
                self.check_cached(path)
            return path
        except hf_errors.LocalEntryNotFoundError as e:  # before EntryNotFoundError, its base class
            if offline:
                return None
            # huggingface_hub already retried the metadata request (5xx, connection, timeout) with its own backoff
            error = DownloadTimeoutError if is_timeout(e) else DownloadError
            raise error(
                f"{self.label}: could not reach hf-hub:{self.repo_id} for {self.filename}: {root_cause(e)}; "
                f"{OFFLINE_HINT}"
            ) from e
        except hf_errors.EntryNotFoundError:
            return None
        except hf_errors.GatedRepoError as e:  # before RepositoryNotFoundError, its base class
            raise DownloadError(
                f"{self.label}: hf-hub:{self.repo_id} is gated; accept its terms on the Hub and log in (HF_TOKEN)"
            ) from e
        except (hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError) as e:
            raise NotFoundError(
                f"{self.label}: {e.__class__.__name__} for hf-hub:{self.repo_id}@{self.revision or 'main'}"
            ) from e
        except hf_errors.HfHubHTTPError as e:  # raised after huggingface_hub's own retries
            status = e.response.status_code if e.response is not None else None
            raise DownloadError(
                f"{self.label}: hf-hub:{self.repo_id}/{self.filename} answered HTTP {status}"
            ) from e
        except Exception as e:
            # a body cut short is not retried inside huggingface_hub; another call resumes the .incomplete file
            if is_transport_error(e):
                raise TransientError(root_cause(e), timed_out=is_timeout(e)) from e
            raise

    def verified_prefetch(self) -> bool:
        """Put an LFS file into the HF cache only once its SHA-256 matches the one the Hub sent.

        The Hub sends an LFS file's SHA-256 as its ``X-Linked-Etag``/``ETag``; huggingface_hub names the cached
        blob by it but never checks the bytes. Here the file is downloaded into a staging folder beside the cache
        (``.clipzoo-staging/``, resumable), hashed, and only then moved to ``blobs/<sha256>``, where the
        ``hf_hub_download`` call that follows finds it and links it into the snapshot. A mismatch raises
        :class:`ChecksumError` and caches nothing. Files that are not in LFS (their ETag is a git blob id) are
        left to ``hf_hub_download``. Returns False when the metadata request failed (the download that follows
        then reports the failure, or the file it caches is hashed afterwards by :meth:`check_cached`).
        """
        from huggingface_hub import constants, get_hf_file_metadata, hf_hub_download, hf_hub_url
        from huggingface_hub import errors as hf_errors

        endpoint = os.environ.get("HF_ENDPOINT") or None
        url = hf_hub_url(self.repo_id, self.filename, revision=self.revision, endpoint=endpoint)
        try:
            metadata = get_hf_file_metadata(url, timeout=self.policy.timeout)
        except (hf_errors.EntryNotFoundError, hf_errors.RepositoryNotFoundError, hf_errors.RevisionNotFoundError):
            raise  # final answers, sorted by the caller as for hf_hub_download
        except Exception:  # noqa: BLE001 - the download that follows reports (and classifies) the failure
            return False
        expected = (metadata.etag or "").strip('"').lower()
        if not is_hex(expected, 64):
            return True
        cache = hub_cache_dir(self.cache_dir) or constants.HF_HUB_CACHE
        repo_folder = "models--" + self.repo_id.replace("/", "--")
        blob = os.path.join(cache, repo_folder, "blobs", expected)
        if os.path.exists(blob):
            return True  # verified when it entered the cache (or put there by another tool, trusted as the Hub's)
        staging = os.path.join(cache, ".clipzoo-staging", repo_folder, expected)
        if (blob, staging) not in self.staged:
            self.staged.append((blob, staging))
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        with AtomicTarget(blob) as target:
            if os.path.exists(blob):
                return True  # another process verified it while we waited
            path = hf_hub_download(
                self.repo_id,
                self.filename,
                revision=metadata.commit_hash or self.revision,
                local_dir=staging,  # a fixed folder, not a fresh staging one: a killed download resumes there
                etag_timeout=self.policy.timeout,
                endpoint=endpoint,
            )
            digest = file_sha256(path)
            if digest != expected:
                shutil.rmtree(staging, ignore_errors=True)
                raise ChecksumError(
                    f"{self.label}: {self.filename} from hf-hub:{self.repo_id} has SHA-256 {digest}, but the Hub "
                    f"lists {expected}; it was discarded and nothing was cached. The server sent a different or "
                    "damaged file: try again later, or report it if it persists"
                )
            target.publish(path)
            shutil.rmtree(staging, ignore_errors=True)
        return True

    def check_cached(self, path: str) -> None:
        """Hash the cached file when its metadata could not be read first; remove it if it is not its blob name."""
        blob = os.path.realpath(path)
        expected = os.path.basename(blob)
        if not is_hex(expected, 64):
            return  # a git blob id names it (not an LFS file)
        digest = file_sha256(blob)
        if digest != expected:
            for name in (path, blob):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
            raise ChecksumError(
                f"{self.label}: {self.filename} from hf-hub:{self.repo_id} has SHA-256 {digest}, but the Hub lists "
                f"{expected}; it was removed from the cache. The server sent a different or damaged file: try "
                "again later"
            )


def _discard_staging(staged: list[tuple[str, str]]) -> None:
    """Remove the staging folders of a download that failed for good (partial file, huggingface_hub's ``.cache``),
    each under its blob's lock so that a process downloading the same file is not disturbed."""
    for blob, staging in staged:
        with AtomicTarget(blob):
            shutil.rmtree(staging, ignore_errors=True)
            with contextlib.suppress(OSError):  # the per-repo folder, when nothing else is staged there
                os.rmdir(os.path.dirname(staging))
