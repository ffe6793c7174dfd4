"""push_to_hf_hub / push_pretrained_to_hf_hub through huggingface_hub's real upload API, to a fake Hub on 127.0.0.1.

The fake Hub answers the four endpoints an upload uses (create repo, file metadata, preupload, commit) and
keeps the committed files; the test then loads the uploaded repository with clipzoo and with open_clip 3.3.0
(``local-dir:``) and compares their outputs with the source model's (atol 1e-6, same float32 weights).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch


class FakeHub:
    """Just enough of the Hub's HTTP API for ``create_repo`` + ``file_exists`` + ``upload_folder`` (with its
    README metadata check)."""

    def __init__(self) -> None:
        self.files: dict[str, dict[str, bytes]] = {}  # repo id -> path -> content
        self.commits: list[dict] = []
        self.readmes_validated = 0
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
                # /{owner}/{name}/resolve/{revision}/{path}
                parts = self.path.split("?")[0].strip("/").split("/")
                repo, path = "/".join(parts[:2]), "/".join(parts[4:])
                if path in hub.files.get(repo, {}):
                    self.send_response(200)
                    self.send_header("ETag", '"abc"')
                    self.send_header("X-Repo-Commit", "0" * 40)
                    self.send_header("Content-Length", str(len(hub.files[repo][path])))
                    self.end_headers()
                else:
                    self._json(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})

            do_GET = do_HEAD  # noqa: N815

            def do_POST(self) -> None:  # noqa: N802
                path = self.path.split("?")[0]
                body = self._body()
                if path == "/api/validate-yaml":
                    hub.readmes_validated += 1
                    self._json(200, {"errors": [], "warnings": []})
                elif path == "/api/repos/create":
                    req = json.loads(body)
                    repo = f"{req['organization']}/{req['name']}"
                    hub.files.setdefault(repo, {})
                    self._json(200, {"url": f"http://{self.headers['Host']}/{repo}", "name": repo})
                elif "/preupload/" in path:
                    files = json.loads(body)["files"]
                    entries = [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                    ]
                    self._json(200, {"files": entries, "commitOid": "0" * 40})
                elif "/commit/" in path:
                    repo = "/".join(path.split("/")[3:5])
                    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                    header = next(item["value"] for item in lines if item["key"] == "header")
                    for item in lines:
                        if item["key"] == "file":
                            hub.files[repo][item["value"]["path"]] = base64.b64decode(
                                item["value"]["content"]
                            )
                    paths = sorted(item["value"]["path"] for item in lines if item["key"] == "file")
                    hub.commits.append({"repo": repo, "paths": paths, **header})
                    self._json(
                        200, {"commitUrl": f"/{repo}/commit/1", "commitOid": "1" * 40, "pullRequestUrl": None}
                    )
                else:
                    self._json(404, {"error": f"no route {path}"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def write_repo(self, repo: str, folder: Path) -> Path:
        folder.mkdir(parents=True)
        for name, data in self.files[repo].items():
            (folder / name).write_bytes(data)
        return folder


@pytest.fixture
def hub():
    server = FakeHub()
    yield server
    server.server.shutdown()


PUSH = """
import sys, clipzoo
from clipzoo.compat.open_clip.push_to_hf_hub import push_pretrained_to_hf_hub, push_to_hf_hub
card = {"description": "tiny digits", "details": {"Dataset": "sklearn-digits"}}
info = push_pretrained_to_hf_hub("tiny-digits", "sklearn-digits", "me/tiny", commit_message="first", model_card=card)
print(info.oid)
model = clipzoo.create_model("tiny-digits", pretrained="sklearn-digits")
push_to_hf_hub(model, clipzoo.get_tokenizer("tiny-digits"), clipzoo.get_model_config("tiny-digits"), "me/tiny",
               commit_message="second", safe_serialization=True)
"""


@pytest.mark.slow
def test_push_to_fake_hub_and_load_back(hub: FakeHub, tmp_path: Path) -> None:
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": "hf_fake", "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    out = subprocess.run([sys.executable, "-c", PUSH], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["1" * 40]
    assert [c["summary"] for c in hub.commits] == ["first", "second"]
    assert hub.readmes_validated >= 1
    assert "README.md" in hub.commits[0]["paths"] and "README.md" not in hub.commits[1]["paths"]
    assert "open_clip_pytorch_model.bin" not in hub.commits[1]["paths"]  # safe_serialization=True
    files = hub.files["me/tiny"]
    assert {
        "open_clip_config.json",
        "open_clip_model.safetensors",
        "open_clip_pytorch_model.bin",
        "README.md",
    } <= set(files)
    readme = files["README.md"].decode()
    assert "library_name: open_clip" in readme and "- sklearn-digits" in readme and "tiny digits" in readme
    config = json.loads(files["open_clip_config.json"])
    assert config["model_cfg"]["embed_dim"] == 64 and "mean" in config["preprocess_cfg"]

    import open_clip

    import clipzoo

    folder = hub.write_repo("me/tiny", tmp_path / "repo")
    source = clipzoo.create_model("tiny-digits", pretrained="sklearn-digits").eval()
    ours = clipzoo.create_model(f"local-dir:{folder}").eval()
    peer = open_clip.create_model(f"local-dir:{folder}").eval()
    images = torch.randn(3, 3, 32, 32)
    text = clipzoo.get_tokenizer("tiny-digits")(["a photo of the digit one.", "the number 7."])
    with torch.no_grad():
        expected = source.encode_image(images)
        for model in (ours, peer):
            torch.testing.assert_close(model.encode_image(images), expected, atol=1e-6, rtol=0)
            torch.testing.assert_close(model.encode_text(text), source.encode_text(text), atol=1e-6, rtol=0)


def test_save_for_hf_rejects_an_unknown_serialization(tmp_path: Path) -> None:
    from clipzoo.compat.open_clip.push_to_hf_hub import save_for_hf

    with pytest.raises(ValueError, match="safe_serialization"):
        save_for_hf(None, None, {}, str(tmp_path), safe_serialization="yes")
