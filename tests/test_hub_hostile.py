"""Hub files verified like URL files: a corrupted download is a checksum error and nothing is cached; cache
files follow the umask."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from clipzoo.cli import main
from tests.helpers.cli import one_line
from tests.helpers.configs import TINY_ONE_BLOCK
from tests.helpers.hub_server import FakeServer

HUB_REPO = "org/hostile"


def _cached_files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")
    )


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
    assert _cached_files(tmp_path / "hf") == []
    local_hub.faults.clear()
    old = os.umask(0o022)
    try:
        good = Path(download_pretrained_from_hf(HUB_REPO))
    finally:
        os.umask(old)
    assert good.read_bytes() == body and good.resolve().name == expected
    assert stat.S_IMODE(good.resolve().stat().st_mode) == 0o644
    assert not [p for p in _cached_files(tmp_path / "hf") if ".clipzoo-staging" in p]


def test_cli_download_of_a_corrupted_hub_file_is_status_4(local_hub, tmp_path, capsys):
    config = {"model_cfg": TINY_ONE_BLOCK, "preprocess_cfg": {}}
    local_hub.add_hub_file(HUB_REPO, "open_clip_config.json", json.dumps(config).encode())
    path = local_hub.add_hub_file(HUB_REPO, "open_clip_model.safetensors", os.urandom(2048))
    local_hub.add_fault(path, "corrupt", times=None)
    assert main(["download", f"hf-hub:{HUB_REPO}", "--no-progress"]) == 4
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"clipzoo: error: hf-hub:{HUB_REPO}: open_clip_model.safetensors from hf-hub:")
    assert "nothing was cached" in line
    assert [p for p in _cached_files(tmp_path / "hf") if "blobs" in p] != []  # the config is cached
    assert not [p for p in _cached_files(tmp_path / "hf") if p.endswith("open_clip_model.safetensors")]


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
