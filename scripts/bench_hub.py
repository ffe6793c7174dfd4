"""Weights download and cache-hit time: clipzoo.hub.url vs open_clip 3.3.0, against one local HTTP server.

A random file is served at an OpenAI-style URL (``.../openaipublic/clip/models/<sha256>/RN50.pt``), so both sides
verify its SHA-256. "cold" fetches into an empty cache (best of `repeats`); "hit" asks again for the cached file
(open_clip re-reads and hashes the whole file on every call; clipzoo checks a stamp of size and mtime).

Run: python scripts/bench_hub.py [--quick]
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import benchlib


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(folder: str) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1; yield the base URL."""
    handler = functools.partial(_QuietHandler, directory=folder)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def run(quick: bool = False) -> list[dict]:
    """Cold download and cache hit, clipzoo vs open_clip, on one served file."""
    from open_clip.pretrained import download_pretrained_from_url as peer_download

    from clipzoo.hub.url import download_pretrained_from_url

    size_mb = 16 if quick else 128
    repeats = 2 if quick else 3
    body = os.urandom(size_mb << 20)
    sha = hashlib.sha256(body).hexdigest()
    root = tempfile.mkdtemp(prefix="bench_hub_")
    try:
        served = os.path.join(root, "www", "openaipublic", "clip", "models", sha)
        os.makedirs(served)
        with open(os.path.join(served, "RN50.pt"), "wb") as f:
            f.write(body)
        ours, theirs = os.path.join(root, "clipzoo"), os.path.join(root, "open_clip")
        with serve(os.path.join(root, "www")) as base:
            url = f"{base}/openaipublic/clip/models/{sha}/RN50.pt"

            def fetch_ours() -> str:
                return download_pretrained_from_url(url, cache_dir=ours, progress=False)

            def fetch_theirs() -> str:
                with contextlib.redirect_stderr(open(os.devnull, "w")):
                    return peer_download(url, cache_dir=theirs)

            cold = [
                benchlib.best_of(
                    fetch, repeats, before=lambda d=d: shutil.rmtree(d, ignore_errors=True)
                ).seconds
                for fetch, d in ((fetch_ours, ours), (fetch_theirs, theirs))
            ]
            fetch_ours(), fetch_theirs()
            hit = [benchlib.best_of(fetch, repeats).seconds for fetch in (fetch_ours, fetch_theirs)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    note = f"{size_mb} MiB file, local HTTP server, SHA-256 verified on both sides"
    return [
        benchlib.time_row(
            "download, cold cache", *cold, "open_clip 3.3.0", note + "; clipzoo also fsyncs before the rename"
        ),
        benchlib.time_row(
            "cache hit", *hit, "open_clip 3.3.0", note + "; open_clip re-hashes the file on every call"
        ),
    ]


if __name__ == "__main__":
    benchlib.main(run)
