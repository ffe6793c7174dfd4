"""Weights download and cache-hit time: clipzoo.hub vs open_clip 3.3.0, against one local HTTP server.

A random file is served at an OpenAI-style URL (``.../openaipublic/clip/models/<sha256>/RN50.pt``), so both sides
verify its SHA-256. "cold" fetches into an empty cache (best of `repeats`); "hit" asks again for the cached file
(open_clip re-reads and hashes the whole file on every call; clipzoo checks a stamp of size and mtime).

Run: python scripts/bench_hub.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer


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


def best_time(fn: Callable[[], object], repeats: int, before: Callable[[], object] = lambda: None) -> float:
    """Fastest of ``repeats`` timed calls, each after an untimed ``before()``."""
    times = []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def run(quick: bool = False) -> list[dict]:
    """Cold download and cache hit, clipzoo vs open_clip, on one served file."""
    from open_clip.pretrained import download_pretrained_from_url as peer_download

    from clipzoo.hub import download_pretrained_from_url

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
                best_time(fetch, repeats, before=lambda d=d: shutil.rmtree(d, ignore_errors=True))
                for fetch, d in ((fetch_ours, ours), (fetch_theirs, theirs))
            ]
            fetch_ours(), fetch_theirs()
            hit = [best_time(fetch, repeats) for fetch in (fetch_ours, fetch_theirs)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    note = f"{size_mb} MiB file, local HTTP server, SHA-256 verified on both sides"
    return [
        _row("download, cold cache", cold, note + "; clipzoo also fsyncs before the rename"),
        _row("cache hit", hit, note + "; open_clip re-hashes the file on every call"),
    ]


def _row(name: str, seconds: list[float], note: str) -> dict:
    ours, theirs = seconds
    return {
        "name": name,
        "clipzoo": ours,
        "peer": theirs,
        "peer_name": "open_clip 3.3.0",
        "unit": "s",
        "ratio": theirs / ours,
        "note": note,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller file, fewer repeats")
    rows = run(quick=parser.parse_args().quick)
    print(f"{'benchmark':<24}{'clipzoo':>12}{'open_clip':>12}{'ratio':>9}  note")
    for row in rows:
        print(
            f"{row['name']:<24}{row['clipzoo']:>11.6f}s{row['peer']:>11.6f}s{row['ratio']:>8.1f}x  {row['note']}"
        )


if __name__ == "__main__":
    main()
