"""``download_pretrained``: a pretrained tag's record in, the local path of its weights out.

The record (:func:`clipzoo.get_pretrained_cfg`) names a local ``file``, a Hub file (``hf_hub``) and/or a release
``url``; this module picks one and hands it to :mod:`clipzoo.hub.hf` or :mod:`clipzoo.hub.url`.
"""

from __future__ import annotations

import os

from .errors import weights_label
from .hf import download_pretrained_from_hf
from .url import download_pretrained_from_url, existing_file

__all__ = ["download_pretrained"]


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
            f"{weights_label(model_name, tag, 'pretrained weights')}: empty pretrained cfg, nothing to fetch"
        )
    if cfg.get("file"):
        return existing_file(os.fspath(cfg["file"]))
    hub, url = cfg.get("hf_hub", ""), cfg.get("url", "")
    fetch = {"offline": offline, "timeout": timeout, "retries": retries, "model_name": model_name, "tag": tag}
    if hub and (prefer_hf_hub or not url):
        repo_id, filename = _split_hub_spec(hub)
        return download_pretrained_from_hf(repo_id, filename, cache_dir=cache_dir, **fetch)
    if url:
        sha256 = cfg.get("sha256") or None
        return download_pretrained_from_url(url, cache_dir, sha256, progress=progress, **fetch)
    raise ValueError(
        f"{weights_label(model_name, tag, 'pretrained weights')}: the pretrained cfg names no source; "
        f"expected 'hf_hub', 'url' or 'file', got keys {sorted(cfg)}"
    )
