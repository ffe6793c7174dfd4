"""``download_pretrained``: a pretrained tag's record in, the local path of its weights out.

The record (:func:`clipzoo.get_pretrained_cfg`) names a local ``file``, a Hub file (``hf_hub``) and/or a release
``url``; this module picks one and hands it to :mod:`clipzoo.hub.hf` or :mod:`clipzoo.hub.url`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .errors import weights_label
from .hf import download_pretrained_from_hf
from .options import FetchOptions, check_fetch_options
from .url import download_pretrained_from_url, existing_file

if TYPE_CHECKING:  # typing.Unpack is Python 3.11+
    from typing_extensions import Unpack

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
    **options: Unpack[FetchOptions],
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
        **options: ``timeout``, ``retries``, ``model_name``, ``tag``
            (:class:`~clipzoo.hub.options.FetchOptions`), passed to the download that runs.

    Returns:
        The path of the local weights file.

    Raises:
        ValueError: ``cfg`` is empty, names no source, or its ``hf_hub`` is not ``'org/repo/[file]'``.
        TypeError: an option that is not a :class:`~clipzoo.hub.options.FetchOptions` key.
        NotFoundError: the ``file`` does not exist, or the source has no such file.
        OfflineError, ChecksumError, DownloadTimeoutError, DownloadError: as raised by
            :func:`download_pretrained_from_hf` and :func:`download_pretrained_from_url`.
    """
    check_fetch_options("download_pretrained", options)
    model_name, tag = options.get("model_name"), options.get("tag")
    if not cfg:
        raise ValueError(
            f"{weights_label(model_name, tag, 'pretrained weights')}: empty pretrained cfg, nothing to fetch"
        )
    if cfg.get("file"):
        return existing_file(os.fspath(cfg["file"]))
    hub, url = cfg.get("hf_hub", ""), cfg.get("url", "")
    if hub and (prefer_hf_hub or not url):
        repo_id, filename = _split_hub_spec(hub)
        return download_pretrained_from_hf(repo_id, filename, cache_dir=cache_dir, offline=offline, **options)
    if url:
        sha256 = cfg.get("sha256") or None
        return download_pretrained_from_url(url, cache_dir, sha256, offline=offline, progress=progress, **options)
    raise ValueError(
        f"{weights_label(model_name, tag, 'pretrained weights')}: the pretrained cfg names no source; "
        f"expected 'hf_hub', 'url' or 'file', got keys {sorted(cfg)}"
    )
