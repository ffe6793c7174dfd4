"""Keyword options all three download functions take beside ``offline``: timeout, retries, names for messages.

Declared and documented once here; ``download_pretrained`` passes them on to the download that runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from ..errors import did_you_mean

__all__ = ["FetchOptions", "check_fetch_options"]


class FetchOptions(TypedDict, total=False):
    """Keyword options of ``download_pretrained``, ``download_pretrained_from_url`` and ``..._from_hf``.

    Attributes:
        timeout: Seconds a socket may wait; None reads ``CLIPZOO_DOWNLOAD_TIMEOUT`` (default 30). For Hub files
            it bounds the connect probe and the metadata request; the body follows ``HF_HUB_DOWNLOAD_TIMEOUT``.
        retries: Extra attempts after a failure a retry can fix; None reads ``CLIPZOO_DOWNLOAD_RETRIES``
            (default 2). URLs: a 5xx/429 answer, a dropped connection, a timeout or a short body (a host that
            cannot be resolved or connected to fails at once). Hub files: a body cut short (huggingface_hub
            retries the other failures itself).
        model_name: Only names the weights in messages (with ``tag``, in the ``clipzoo download`` hint).
        tag: Only names the weights in messages.
    """

    timeout: float | None
    retries: int | None
    model_name: str | None
    tag: str | None


def check_fetch_options(function: str, options: Mapping[str, Any]) -> None:
    """Raise TypeError (with the closest option) when ``options`` holds a keyword that is not a fetch option."""
    known = FetchOptions.__annotations__
    for name in options:
        if name not in known:
            hint = did_you_mean(name, known)
            raise TypeError(
                f"{function}() got an unexpected keyword argument {name!r} ({hint + ' ' if hint else ''}"
                f"the download options are {', '.join(known)})"
            )
