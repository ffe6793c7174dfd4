"""open_clip's URL download as open_clip programs and tests drive it: through ``open_clip.pretrained.urllib``.

open_clip's own tests replace ``open_clip.pretrained.urllib`` (``unittest.mock.patch``) to serve a download from
memory; this wrapper opens URLs with whatever that attribute holds at call time, and says a checksum mismatch in
open_clip's words (a ``RuntimeError`` that is also clipzoo's ``ChecksumError``).
"""

from __future__ import annotations

import os
import sys
import urllib.request
from typing import Any

from ...errors import ChecksumError, OpenClipChecksumError
from ...hub import url as hub_url

__all__ = ["OpenClipChecksumError", "download_pretrained_from_url", "urllib"]


def download_pretrained_from_url(
    url: str, cache_dir: str | os.PathLike | None = None, expected_sha256: str | None = None, **kwargs: Any
) -> str:
    """clipzoo's :func:`~clipzoo.hub.url.download_pretrained_from_url`, opening the URL as open_clip does.

    Args:
        url: The file's URL.
        cache_dir: The folder it is stored in (None: clipzoo's cache).
        expected_sha256: Its SHA-256 (None: the one the URL encodes).
        **kwargs: clipzoo's further options (``offline``, ``progress``, ``timeout``, ``retries``, ...).

    Returns:
        The path of the verified local file.

    Raises:
        OpenClipChecksumError: the downloaded bytes do not match the expected SHA-256.
    """
    opener = getattr(sys.modules.get("open_clip.pretrained"), "urllib", urllib).request.urlopen
    # open_clip's URL downloads ignore HF_HUB_OFFLINE (a Hugging Face variable): so does its name here, unless asked
    kwargs.setdefault("offline", False)
    try:
        return hub_url.download_pretrained_from_url(url, cache_dir, expected_sha256, urlopen=opener, **kwargs)
    except ChecksumError as e:
        raise OpenClipChecksumError(
            f"Model has been downloaded but the SHA256 checksum does not not match ({e})"
        ) from e
