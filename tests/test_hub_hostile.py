"""Hub files verified like URL files: a corrupted download is a checksum error and nothing is cached; cache
files follow the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.helpers.hub_server import FakeServer, cached_files

HUB_REPO = "org/hostile"


def test_corrupted_hub_file_is_a_checksum_error_and_nothing_is_cached(local_hub, tmp_path):
    from clipzoo.hub import errors as hub_errors
    from clipzoo.hub.hf import download_pretrained_from_hf

    body = os.urandom(4096)
    path = local_hub.add_hub_file(HUB_REPO, "open_clip_model.safetensors", body)
    local_hub.add_fault(path, "corrupt", times=None)  # right length, wrong bytes, on every GET
    with pytest.raises(hub_errors.ChecksumError) as info:
        download_pretrained_from_hf(HUB_REPO)
    import hashlib

    expected = hashlib.sha256(body).hexdigest()
    got = hashlib.sha256(bytes(b ^ 0xFF for b in body)).hexdigest()
    assert str(info.value) == (
        f"hf-hub:{HUB_REPO}: open_clip_model.safetensors from hf-hub:{HUB_REPO} has SHA-256 {got}, but the Hub "
        f"lists {expected}; it was discarded and nothing was cached. The server sent a different or damaged "
        "file: try again later, or report it if it persists"
    )
    assert cached_files(tmp_path / "hf") == []
    local_hub.faults.clear()
    old = os.umask(0o022)
    try:
        good = Path(download_pretrained_from_hf(HUB_REPO))
    finally:
        os.umask(old)
    assert good.read_bytes() == body and good.resolve().name == expected
    assert stat.S_IMODE(good.resolve().stat().st_mode) == 0o644
    assert not [p for p in cached_files(tmp_path / "hf") if ".clipzoo-staging" in p]


def test_url_cache_files_follow_the_umask(tmp_path, monkeypatch):
    import hashlib

    from clipzoo.hub.url import download_pretrained_from_url

    body = b"weights" * 100
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeServer() as server:
        url = server.add_file(f"/models/{hashlib.sha256(body).hexdigest()}/w.pt", body)
        old = os.umask(0o002)
        try:
            path = Path(download_pretrained_from_url(url, cache_dir=tmp_path / "c", progress=False))
        finally:
            os.umask(old)
    assert path.read_bytes() == body and stat.S_IMODE(path.stat().st_mode) == 0o664
