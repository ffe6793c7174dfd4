"""clipzoo.hub against real local HTTP servers (never the internet): sources, cache, offline, faults. (`clipzoo
download`: test_cli_download.py.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clipzoo.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME
from clipzoo.hub import cache as hub_cache
from clipzoo.hub.cache import default_cache_dir
from clipzoo.hub.errors import ChecksumError, DownloadError, DownloadTimeoutError, NotFoundError, OfflineError
from clipzoo.hub.hf import download_pretrained_from_hf
from clipzoo.hub.pretrained import download_pretrained
from clipzoo.hub.url import download_pretrained_from_url, expected_sha256_from_url
from tests.helpers import hub_server
from tests.helpers.hub_server import BODY, OPENAI_PATH, REPO, SHA, SIGLIP, SIGLIP_TOKENIZER_REPO

RELEASE_PATH = f"/mlfoundations/open_clip/releases/download/v0.2-weights/rn50-yfcc15m-{SHA[:8]}.pt"


@pytest.fixture
def server():
    with hub_server.FakeServer(slow_seconds=1.0) as srv:
        yield srv


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch, request):
    """Caches in tmp_path, fast retries, Hub pointed at the local server when the test uses one."""
    hub_server.hub_env(monkeypatch, tmp_path)
    if "server" in request.fixturenames:
        monkeypatch.setenv("HF_ENDPOINT", request.getfixturevalue("server").base)


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "clipzoo"


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files under ``folder`` (lock files and verified stamps are expected)."""
    if not folder.exists():
        return []
    return sorted(str(p) for p in folder.rglob("*") if p.name.endswith((".part", ".incomplete", ".tmp")))


# ---------------------------------------------------------------------------------------------------------------
# URL downloads


def test_openai_url_is_verified_cached_and_not_fetched_twice(server, cache):
    url = server.add_file(OPENAI_PATH, BODY)
    path = download_pretrained_from_url(url, progress=False)
    assert Path(path) == cache / "RN50.pt"
    assert Path(path).read_bytes() == BODY
    assert download_pretrained_from_url(url, progress=False) == path
    assert server.count("GET") == 1
    assert leftovers(cache) == []


def test_release_url_prefix_checksum(server, tmp_path):
    url = server.add_file(RELEASE_PATH, BODY)
    path = download_pretrained_from_url(url, cache_dir=tmp_path / "elsewhere", progress=False)
    assert Path(path) == tmp_path / "elsewhere" / f"rn50-yfcc15m-{SHA[:8]}.pt"
    assert Path(path).read_bytes() == BODY


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://openaipublic.azureedge.net/clip/models/{'ab' * 32}/RN50.pt", "ab" * 32),
        (
            "https://github.com/mlfoundations/open_clip/releases/download/v0.2-weights/rn50-cc12m-f000538c.pt",
            "f000538c",
        ),
        ("https://github.com/mlfoundations/open_clip/releases/download/v0.2-weights/no-hash-here.pt", ""),
        ("https://dl.fbaipublicfiles.com/MMPT/metaclip/b32_400m.pt", ""),
        ("https://example.com/weights/model-deadbeef.pt", ""),
    ],
)
def test_expected_sha256_from_url(url, expected):
    assert expected_sha256_from_url(url) == expected


def test_explicit_sha256_is_checked(server, cache):
    url = server.add_file("/weights/plain.pt", BODY)
    with pytest.raises(ChecksumError, match="expected 0000"):
        download_pretrained_from_url(url, expected_sha256="0" * 64, progress=False)
    assert not (cache / "plain.pt").exists()
    assert leftovers(cache) == []


def test_corrupted_transfer_is_a_checksum_error_and_leaves_nothing(server, cache):
    url = server.add_file(OPENAI_PATH, BODY)
    server.add_fault(OPENAI_PATH, "corrupt")
    with pytest.raises(ChecksumError, match=SHA):
        download_pretrained_from_url(url, progress=False)
    assert server.count("GET") == 1  # a wrong file is not fetched again and again
    assert not (cache / "RN50.pt").exists()
    assert leftovers(cache) == []
    assert Path(download_pretrained_from_url(url, progress=False)).read_bytes() == BODY


def test_404_is_final(server, cache):
    with pytest.raises(NotFoundError, match="HTTP 404"):
        download_pretrained_from_url(server.url("/nope/RN50.pt"), progress=False)
    assert server.count() == 1
    assert leftovers(cache) == []


def test_500_is_retried_then_succeeds(server):
    url = server.add_file(OPENAI_PATH, BODY)
    server.add_fault(OPENAI_PATH, "500", times=2)
    assert Path(download_pretrained_from_url(url, progress=False)).read_bytes() == BODY
    assert server.count("GET") == 3


def test_persistent_500_gives_up_after_bounded_attempts(server, cache):
    url = server.add_file(OPENAI_PATH, BODY)
    server.add_fault(OPENAI_PATH, "500", times=None)
    with pytest.raises(DownloadError, match=r"3 attempts\): HTTP 500") as info:
        download_pretrained_from_url(url, progress=False)
    assert type(info.value) is DownloadError
    assert server.count("GET") == 3
    assert not (cache / "RN50.pt").exists()
    assert leftovers(cache) == []


def test_truncated_body_is_retried_then_succeeds(server, cache):
    url = server.add_file(OPENAI_PATH, BODY)
    server.add_fault(OPENAI_PATH, "truncate")
    assert Path(download_pretrained_from_url(url, progress=False)).read_bytes() == BODY
    assert server.count("GET") == 2
    assert leftovers(cache) == []


def test_persistently_truncated_body_is_an_error(server, cache):
    url = server.add_file("/weights/plain.pt", BODY)  # no checksum known: only the length can catch it
    server.add_fault("/weights/plain.pt", "truncate", times=None)
    with pytest.raises(DownloadError, match="attempts"):
        download_pretrained_from_url(url, progress=False, retries=1)
    assert server.count("GET") == 2
    assert not (cache / "plain.pt").exists()
    assert leftovers(cache) == []


def test_slow_server_times_out_with_a_clear_error(server, cache):
    url = server.add_file(OPENAI_PATH, BODY)
    server.add_fault(OPENAI_PATH, "slow", times=None)
    with pytest.raises(DownloadTimeoutError, match="2 attempts"):
        download_pretrained_from_url(url, progress=False, timeout=0.2, retries=1)
    assert not (cache / "RN50.pt").exists()
    assert leftovers(cache) == []


def test_timeout_from_environment(server, monkeypatch):
    url = server.add_file(OPENAI_PATH, BODY)
    server.add_fault(OPENAI_PATH, "slow", times=None)
    monkeypatch.setenv("CLIPZOO_DOWNLOAD_TIMEOUT", "0.2")
    monkeypatch.setenv("CLIPZOO_DOWNLOAD_RETRIES", "0")
    with pytest.raises(DownloadTimeoutError, match="1 attempts"):
        download_pretrained_from_url(url, progress=False)


def test_server_dying_mid_file_is_an_error_and_leaves_nothing(server, cache):
    url = server.add_file(OPENAI_PATH, BODY)
    server.add_fault(OPENAI_PATH, "die")
    with pytest.raises(DownloadError, match="3 attempts"):
        download_pretrained_from_url(url, progress=False)
    assert server.count("GET") == 1  # later attempts found the server gone
    assert not (cache / "RN50.pt").exists()
    assert leftovers(cache) == []


def test_damaged_cache_file_is_fetched_again(server, cache):
    url = server.add_file(OPENAI_PATH, BODY)
    path = Path(download_pretrained_from_url(url, progress=False))
    path.write_bytes(b"bit rot" * 10)
    with pytest.warns(UserWarning, match="damaged"):
        assert download_pretrained_from_url(url, progress=False) == str(path)
    assert path.read_bytes() == BODY
    assert server.count("GET") == 2


def test_cache_hit_uses_the_verified_stamp_instead_of_hashing(server, monkeypatch):
    url = server.add_file(OPENAI_PATH, BODY)
    path = download_pretrained_from_url(url, progress=False)

    def no_hashing(*args):
        raise AssertionError("cache hit hashed the file again")

    monkeypatch.setattr(hub_cache.hashlib, "sha256", no_hashing)
    assert download_pretrained_from_url(url, progress=False) == path


def test_local_paths(tmp_path):
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    assert download_pretrained_from_url(str(weights)) == str(weights)
    assert download_pretrained_from_url(weights.as_uri()) == str(weights)
    assert download_pretrained({"file": str(weights)}) == str(weights)
    with pytest.raises(NotFoundError, match="does not exist"):
        download_pretrained_from_url(str(tmp_path / "missing.pt"))


def test_default_cache_dir(monkeypatch, tmp_path):
    assert default_cache_dir() == str(tmp_path / "clipzoo")
    monkeypatch.delenv("CLIPZOO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == str(tmp_path / "xdg" / "clipzoo")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == str(tmp_path / "home" / ".cache" / "clipzoo")


# ---------------------------------------------------------------------------------------------------------------
# Offline


def test_offline_url_hit_makes_no_request(server, monkeypatch):
    url = server.add_file(OPENAI_PATH, BODY)
    path = download_pretrained_from_url(url, progress=False)
    before = server.count()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read at call time
    assert download_pretrained_from_url(url, progress=False) == path
    assert server.count() == before


def test_offline_url_miss_names_the_command(server):
    url = server.add_file(OPENAI_PATH, BODY)
    with pytest.raises(OfflineError, match="clipzoo download RN50 openai"):
        download_pretrained_from_url(url, offline=True, model_name="RN50", tag="openai")
    assert server.count() == 0


@pytest.mark.parametrize("kind", ["url", "hf", "pretrained"])
def test_a_misspelt_download_option_is_refused_before_any_request(server, kind):
    url = server.add_file(OPENAI_PATH, BODY)
    download, first = {
        "url": (download_pretrained_from_url, url),
        "hf": (download_pretrained_from_hf, REPO),
        "pretrained": (download_pretrained, {"url": url}),
    }[kind]
    with pytest.raises(TypeError, match=r"'retires' \(did you mean 'retries'\?") as info:
        download(first, retires=3)
    assert f"{download.__name__}() got an unexpected keyword argument" in str(info.value)
    assert server.count() == 0


def test_offline_hub_hit_makes_no_request(server, monkeypatch):
    server.add_hub_file(REPO, HF_SAFE_WEIGHTS_NAME, BODY)
    path = download_pretrained_from_hf(REPO)
    before = server.count()
    assert download_pretrained_from_hf(REPO, offline=True) == path
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert download_pretrained({"hf_hub": f"{REPO}/"}) == path
    assert server.count() == before


@pytest.mark.slow
def test_offline_set_before_import_makes_no_request(server, tmp_path):
    """HF_HUB_OFFLINE=1 already set when huggingface_hub is imported (a fresh process), with a cached file."""
    server.add_hub_file(REPO, HF_SAFE_WEIGHTS_NAME, BODY)
    path = download_pretrained_from_hf(REPO)
    before = server.count()
    code = "import sys; from clipzoo.hub.hf import download_pretrained_from_hf as d; print(d(sys.argv[1]))"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code, REPO], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{path}\n"
    missing = subprocess.run(
        [sys.executable, "-c", code, "org/other"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "OfflineError" in missing.stderr and "clipzoo download" in missing.stderr
    assert server.count() == before


def test_offline_hub_uses_a_cached_bin_when_no_safetensors_is_cached(server):
    server.add_hub_file(REPO, HF_WEIGHTS_NAME, BODY)
    path = download_pretrained_from_hf(REPO)
    before = server.count()
    assert download_pretrained_from_hf(REPO, offline=True) == path
    assert server.count() == before


def test_offline_hub_miss_names_model_tag_and_command(server):
    server.add_hub_file(REPO, HF_SAFE_WEIGHTS_NAME, BODY)
    cfg = {"hf_hub": f"{REPO}/", "url": server.url(OPENAI_PATH)}
    with pytest.raises(
        OfflineError, match=r"ViT-B-32 \(pretrained tag 'laion2b'\).*clipzoo download ViT-B-32 laion2b"
    ):
        download_pretrained(cfg, offline=True, model_name="ViT-B-32", tag="laion2b")
    assert server.count() == 0


# ---------------------------------------------------------------------------------------------------------------
# Hugging Face Hub


def test_hub_prefers_safetensors_and_uses_the_hf_cache_layout(server, tmp_path):
    server.add_hub_file(REPO, HF_SAFE_WEIGHTS_NAME, BODY)
    server.add_hub_file(REPO, HF_WEIGHTS_NAME, b"pickle")
    path = Path(download_pretrained_from_hf(REPO))
    assert path.name == HF_SAFE_WEIGHTS_NAME
    assert path.read_bytes() == BODY
    assert path.is_relative_to(tmp_path / "hf" / "hub" / "models--org--tiny-clip" / "snapshots")
    assert server.count(path=f"/{REPO}/resolve/main/{HF_WEIGHTS_NAME}") == 0


def test_hub_falls_back_to_bin_when_no_safetensors(server):
    server.add_hub_file(REPO, HF_WEIGHTS_NAME, BODY)
    path = Path(download_pretrained_from_hf(REPO, cache_dir=server_cache(server)))
    assert path.name == HF_WEIGHTS_NAME
    assert path.read_bytes() == BODY


def server_cache(server) -> str:
    """A cache folder passed explicitly, to check that ``cache_dir=`` wins over HF_HOME."""
    return os.path.join(os.environ["HF_HOME"], "..", "explicit-hf-cache")


def test_hub_named_file_tries_its_safetensors_sibling(server):
    server.add_hub_file(REPO, "pytorch_model.bin", BODY)
    path = Path(download_pretrained({"hf_hub": f"{REPO}/pytorch_model.bin"}))
    assert path.name == "pytorch_model.bin"
    assert server.count("HEAD", f"/{REPO}/resolve/main/pytorch_model.safetensors") == 1


def test_hub_is_preferred_over_url(server):
    server.add_hub_file(REPO, HF_SAFE_WEIGHTS_NAME, BODY)
    cfg = {"hf_hub": f"{REPO}/", "url": server.add_file(OPENAI_PATH, BODY)}
    assert Path(download_pretrained(cfg)).name == HF_SAFE_WEIGHTS_NAME
    assert server.count(path=OPENAI_PATH) == 0
    assert Path(download_pretrained(cfg, prefer_hf_hub=False, progress=False)).name == "RN50.pt"


def test_hub_missing_file_and_repo(server):
    server.add_hub_file(REPO, "other.txt", b"x")
    with pytest.raises(
        NotFoundError, match="has no file open_clip_model.safetensors or open_clip_pytorch_model"
    ):
        download_pretrained_from_hf(REPO)
    with pytest.raises(NotFoundError, match="RepositoryNotFoundError"):
        download_pretrained_from_hf("org/no-such-repo")


def test_hub_500_is_retried_then_succeeds(server):
    path = server.add_hub_file(REPO, HF_SAFE_WEIGHTS_NAME, BODY)
    server.add_fault(path, "500", times=2)
    assert Path(download_pretrained_from_hf(REPO)).read_bytes() == BODY


def test_hub_persistent_500_is_an_error(server, tmp_path):
    path = server.add_hub_file(REPO, HF_SAFE_WEIGHTS_NAME, BODY)
    server.add_fault(path, "500", times=None)
    with pytest.raises(DownloadError, match="could not reach hf-hub:org/tiny-clip") as info:
        download_pretrained_from_hf(REPO)
    assert type(info.value) is DownloadError
    assert server.count(path=path) > 1  # retried (by huggingface_hub), but a bounded number of times
    assert not list((tmp_path / "hf").rglob(HF_SAFE_WEIGHTS_NAME))


def test_hub_truncated_body_is_retried_and_resumed(server, tmp_path):
    path = server.add_hub_file(REPO, HF_SAFE_WEIGHTS_NAME, BODY)
    server.add_fault(path, "ok", times=2)  # clipzoo's metadata HEAD, then the staging download's HEAD
    server.add_fault(path, "truncate")  # the GET
    assert Path(download_pretrained_from_hf(REPO)).read_bytes() == BODY
    assert server.count("GET", path) == 2
    assert leftovers(tmp_path / "hf") == []


def test_hub_slow_server_times_out(server):
    path = server.add_hub_file(REPO, HF_SAFE_WEIGHTS_NAME, BODY)
    server.add_fault(path, "slow", times=None)
    with pytest.raises(DownloadTimeoutError, match="could not reach hf-hub:org/tiny-clip"):
        download_pretrained_from_hf(REPO, timeout=0.2)


def test_bad_cfgs():
    with pytest.raises(ValueError, match="empty pretrained cfg"):
        download_pretrained({}, model_name="RN50", tag="x")
    with pytest.raises(ValueError, match="names no source"):
        download_pretrained({"mean": (0.5,)})
    with pytest.raises(ValueError, match="not 'org/repo/'"):
        download_pretrained({"hf_hub": "just-a-name"})


# ---------------------------------------------------------------------------------------------------------------
# Processes: two at once, and one killed mid-download


def _spawn_download(url: str, cache: Path) -> subprocess.Popen:
    code = "import sys; from clipzoo.hub.url import download_pretrained_from_url as d; print(d(sys.argv[1], sys.argv[2], progress=False))"
    return subprocess.Popen(
        [sys.executable, "-c", code, url, str(cache)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the server to see the request"
        time.sleep(0.01)


def test_two_processes_fetch_one_file_once(server, cache):
    url = server.add_file(OPENAI_PATH, BODY)
    server.add_fault(OPENAI_PATH, "drip", times=None)
    first, second = _spawn_download(url, cache), _spawn_download(url, cache)
    outputs = [p.communicate(timeout=60) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    assert outputs[0][0] == outputs[1][0] == f"{cache / 'RN50.pt'}\n"
    assert (cache / "RN50.pt").read_bytes() == BODY
    assert server.count("GET") == 1
    assert leftovers(cache) == []


def test_killed_download_leaves_no_loadable_file(server, cache):
    url = server.add_file(OPENAI_PATH, BODY)
    server.add_fault(OPENAI_PATH, "drip", times=None)
    process = _spawn_download(url, cache)
    _wait_for(lambda: server.count("GET") == 1)
    time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert not (cache / "RN50.pt").exists()
    server.faults.clear()
    assert Path(download_pretrained_from_url(url, progress=False)).read_bytes() == BODY
    assert leftovers(cache) == []  # the dead process's partial file was cleared


def test_hub_download_that_fails_for_good_leaves_no_staging_files(server, tmp_path):
    """Fewer bytes than announced on every attempt: an error, and nothing but lock files left behind."""
    path = server.add_hub_file(REPO, HF_SAFE_WEIGHTS_NAME, BODY)
    server.add_fault(path, "truncate", times=None)
    with pytest.raises(DownloadError, match="attempts"):
        download_pretrained_from_hf(REPO, retries=2)
    files = [p for p in (tmp_path / "hf").rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert [str(p) for p in files if ".clipzoo-staging" in str(p)] == []
    assert leftovers(tmp_path / "hf") == []


def test_missing_shared_tokenizer_names_the_model_and_why(monkeypatch):
    """Offline without the files: the error names the model asked for, the repo its tokenizer comes from, the fix."""
    import clipzoo

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(clipzoo.errors.OfflineError) as info:  # a NetworkError (status 3), not a bare FileNotFoundError
        clipzoo.get_tokenizer(SIGLIP)
    text = str(info.value)
    assert text.startswith(f"{SIGLIP}'s tokenizer is the one of hf-hub:{SIGLIP_TOKENIZER_REPO}")
    assert f"clipzoo download {SIGLIP} TAG" in text
