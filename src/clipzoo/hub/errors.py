"""The errors of clipzoo's downloads, and how their messages name the weights and the fix.

Every failure of :mod:`clipzoo.hub` is a :class:`DownloadError` (a network error in :mod:`clipzoo.errors`' terms)
or one of its subclasses, each also the built-in error a caller would catch without clipzoo's names.
"""

from __future__ import annotations

from ..errors import (
    ChecksumError,
    DownloadError,
    DownloadTimeoutError,
    NotFoundError,
    OfflineError,
)

__all__ = [
    "OFFLINE_HINT",
    "ChecksumError",
    "DownloadError",
    "DownloadTimeoutError",
    "NotFoundError",
    "OfflineError",
    "download_hint",
    "weights_label",
]

OFFLINE_HINT = "set HF_HUB_OFFLINE=1 to use the cache only"


def weights_label(model_name: str | None, tag: str | None, source: str) -> str:
    """How messages name the weights: model and tag when known, else the source.

    Args:
        model_name: The architecture (or ``hf-hub:`` name) the weights are for, when known.
        tag: The pretrained tag, when known.
        source: What names the weights otherwise (a file name, ``hf-hub:org/repo``).

    Returns:
        ``"MODEL (pretrained tag 'TAG')"``, else the model name, else ``source``.
    """
    if model_name and tag:
        return f"{model_name} (pretrained tag '{tag}')"
    return model_name or source


def download_hint(model_name: str | None, tag: str | None) -> str:
    """The advice an :class:`OfflineError` ends with: the command that fills the cache for these weights.

    Args:
        model_name: The architecture or ``hf-hub:`` name; None writes ``MODEL``.
        tag: The pretrained tag; None writes ``TAG`` (nothing for an ``hf-hub:`` name).

    Returns:
        ``"run `clipzoo download MODEL TAG` while online, or unset HF_HUB_OFFLINE"``.
    """
    command = " ".join(part for part in ("clipzoo download", model_name or "MODEL", tag or "TAG") if part)
    if model_name and model_name.startswith("hf-hub:") and not tag:
        command = f"clipzoo download {model_name}"
    return f"run `{command}` while online, or unset HF_HUB_OFFLINE"
