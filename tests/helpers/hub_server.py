"""A local HTTP server for the hub tests: the Hub's ``resolve`` endpoint and plain release URLs, with faults.

Faults are queued per path and consumed one per request (HEAD or GET); ``times=None`` makes one permanent.
  "500"       answer HTTP 500
  "404"       answer HTTP 404
  "truncate"  promise the full Content-Length, send half the body, close the connection
  "die"       send half the body, then stop answering: every later connection is closed at once
  "slow"      sleep ``slow_seconds`` before answering (a client with a shorter timeout gives up)
  "corrupt"   send a body of the right length with its bytes changed
  "drip"      send the body in small pieces with pauses (so two clients overlap)
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
BODY = bytes(range(256)) * 64  # a 16 KiB weights file the tests serve
SHA = hashlib.sha256(BODY).hexdigest()
OPENAI_PATH = f"/clip/models/{SHA}/RN50.pt"  # an OpenAI-style URL path: the file's SHA-256 in it
REPO = "org/tiny-clip"
# a model whose tokenizer comes from another Hub repo than its weights
SIGLIP, SIGLIP_TOKENIZER_REPO = "ViT-SO400M-14-SigLIP-384", "timm/ViT-B-16-SigLIP"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that give up (timeouts) break the pipe; that is the test's point, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeServer:
    """Serves registered files on 127.0.0.1 and records every request as (method, path)."""

    def __init__(self, slow_seconds: float = 2.0):
        self.files: dict[str, bytes] = {}
        self.hub_repos: set[str] = set()
        self.faults: dict[str, list[list]] = {}
        self.requests: list[tuple[str, str]] = []
        self.slow_seconds = slow_seconds
        self.dead = False
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def add_file(self, path: str, body: bytes) -> str:
        """Serve ``body`` at ``path``; return its URL."""
        self.files[path] = body
        return self.url(path)

    def add_hub_file(self, repo: str, filename: str, body: bytes, revision: str = "main") -> str:
        """Serve ``body`` as ``filename`` of Hub repo ``repo``; return its resolve path."""
        self.hub_repos.add(repo)
        path = f"/{repo}/resolve/{revision}/{filename}"
        self.files[path] = body
        return path

    def add_fault(self, path: str, kind: str, times: int | None = 1) -> None:
        self.faults.setdefault(path, []).append([kind, times])

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """Requests seen, optionally only those with this method and/or path."""
        with self._lock:
            return sum(1 for m, p in self.requests if method in (None, m) and path in (None, p))

    def take_fault(self, path: str) -> str | None:
        with self._lock:
            queue = self.faults.get(path, [])
            if not queue:
                return None
            kind, times = queue[0]
            if times is not None:
                queue[0][1] -= 1
                if queue[0][1] <= 0:
                    queue.pop(0)
            return kind

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def _make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def handle(self) -> None:
            if server.dead:
                self.connection.close()
                return
            super().handle()

        def do_HEAD(self) -> None:
            self._answer(send_body=False)

        def do_GET(self) -> None:
            self._answer(send_body=True)

        def _answer(self, send_body: bool) -> None:
            # The Hub resolves a file at the commit it reported (X-Repo-Commit) as at the branch name.
            path = self.path.split("?", 1)[0].replace(f"/resolve/{COMMIT}/", "/resolve/main/")
            server.record(self.command, path)
            fault = server.take_fault(path)
            if fault == "slow":
                time.sleep(server.slow_seconds)
            if fault in ("500", "404"):
                return self._status(int(fault), {})
            if path not in server.files:
                return self._missing(path)
            body = server.files[path]
            status, headers, body = self._range(body)
            headers.update(_hub_headers(path, server.files[path]) if "/resolve/" in path else {})
            self._send(status, headers, body, send_body, fault)

        def _range(self, body: bytes) -> tuple[int, dict, bytes]:
            """Honour 'Range: bytes=N-' as huggingface_hub sends when it resumes a download."""
            wanted = self.headers.get("Range", "")
            if not wanted.startswith("bytes=") or not wanted.endswith("-"):
                return 200, {}, body
            start = int(wanted[len("bytes=") : -1])
            headers = {"Content-Range": f"bytes {start}-{len(body) - 1}/{len(body)}"}
            return 206, headers, body[start:]

        def _send(self, status: int, headers: dict, body: bytes, send_body: bool, fault: str | None) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not send_body:
                return
            if fault == "corrupt":
                body = bytes(b ^ 0xFF for b in body)
            if fault in ("truncate", "die"):
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                server.dead = server.dead or fault == "die"
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault == "drip":
                for i in range(0, len(body), max(1, len(body) // 10)):
                    self.wfile.write(body[i : i + max(1, len(body) // 10)])
                    self.wfile.flush()
                    time.sleep(0.05)
                return
            self.wfile.write(body)

        def _missing(self, path: str) -> None:
            """404 as the Hub answers it: EntryNotFound in a known repo, RepoNotFound otherwise."""
            repo = path.split("/resolve/")[0].lstrip("/") if "/resolve/" in path else None
            if repo is None:
                return self._status(404, {})
            if repo in server.hub_repos:
                return self._status(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT})
            return self._status(401, {"X-Error-Code": "RepoNotFound"})

        def _status(self, status: int, headers: dict) -> None:
            body = f"status {status}".encode()
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


def _hub_headers(path: str, body: bytes) -> dict:
    """What the Hub adds to a resolve answer for an LFS file (no Xet headers: plain HTTP download)."""
    digest = hashlib.sha256(body).hexdigest()
    return {
        "X-Repo-Commit": COMMIT,
        "X-Linked-Etag": f'"{digest}"',
        "ETag": f'"{digest}"',
        "X-Linked-Size": str(len(body)),
    }


def hub_env(monkeypatch, tmp_path) -> None:
    """Caches in tmp_path, no telemetry or progress bars, fast retries, no proxy for 127.0.0.1, no token or
    offline switch from the caller's environment."""
    import functools

    import huggingface_hub.file_download as hf_file_download

    monkeypatch.setenv("CLIPZOO_CACHE", str(tmp_path / "clipzoo"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("CLIPZOO_DOWNLOAD_BACKOFF", "0.01")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in (
        "HF_HUB_OFFLINE",
        "HF_HUB_CACHE",
        "HF_TOKEN",
        "CLIPZOO_DOWNLOAD_TIMEOUT",
        "CLIPZOO_DOWNLOAD_RETRIES",
    ):
        monkeypatch.delenv(name, raising=False)
    # huggingface_hub retries Hub requests itself with waits of 1-8 s: keep its waits short here
    fast = functools.partial(hf_file_download.http_backoff, base_wait_time=0.01, max_wait_time=0.01)
    monkeypatch.setattr(hf_file_download, "http_backoff", fast)


def cached_files(root: Path) -> list[str]:
    """The files under ``root`` (relative, sorted), lock files left out."""
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")
    )


def fake_hf_download(monkeypatch, folder, repo: str) -> list:
    """clipzoo's Hub download answered from ``folder`` for ``repo`` only (any other repo or a missing file is
    NotFoundError); returns the list that records the file names asked for."""
    from pathlib import Path

    from clipzoo.hub import hf as hub_hf
    from clipzoo.hub.errors import NotFoundError

    asked = []

    def fake_download(model_id, filename=None, revision=None, cache_dir=None, offline=None, **kwargs):
        asked.append(filename)
        path = Path(folder) / (filename or "open_clip_pytorch_model.bin")
        if model_id != repo or not path.is_file():
            raise NotFoundError(f"hf-hub:{model_id} has no file {filename}")
        return str(path)

    monkeypatch.setattr(hub_hf, "download_pretrained_from_hf", fake_download)
    return asked
