"""clipzoo.search and `clipzoo search`: the README demo, exact chunked top-k, a faiss index, image queries."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import clipzoo
from clipzoo.cli import main
from clipzoo.corpus import search as search_module

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    """The README's corpus demo, run as written from an empty folder: (folder, its stdout)."""
    section = README[README.index("\n## Embed and search a corpus") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    folder = tmp_path_factory.mktemp("readme")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return folder, proc.stdout


def test_readme_demo_finds_mostly_threes(demo):
    _, stdout = demo
    lines = stdout.splitlines()
    assert lines[0] == "360 images embedded"
    hits = lines[1:]
    assert len(hits) == 10
    assert sum(line.endswith("_3.png") for line in hits) >= 8, stdout


def _all_embeddings(out: Path) -> np.ndarray:
    return np.concatenate([np.load(p) for p in sorted((out / "img_emb").glob("*.npy"))]).astype(np.float32)


def test_exact_search_in_chunks_equals_brute_force(demo, monkeypatch):
    folder, _ = demo
    out = folder / "digits-emb"
    monkeypatch.setattr(search_module, "CHUNK_ROWS", 7)  # many chunks per part: the running top-k must hold
    hits = clipzoo.search(out, ["the digit 0.", "a handwritten seven."], top=5)
    queries = search_module.build_encoder(
        search_module.EncoderRequest("tiny-digits", "sklearn_digits")
    ).encode_texts(["the digit 0.", "a handwritten seven."])
    scores = queries @ _all_embeddings(out).T
    for q, per_query in enumerate(hits):
        assert [h.index for h in per_query] == list(np.argsort(-scores[q], kind="stable")[:5])
        np.testing.assert_allclose([h.score for h in per_query], np.sort(scores[q])[::-1][:5], rtol=1e-5)


def test_a_faiss_index_in_dir_index_is_used(demo, tmp_path):
    import faiss

    folder, _ = demo
    out = tmp_path / "with-index"
    subprocess.run(["cp", "-r", str(folder / "digits-emb"), str(out)], check=True)
    embs = _all_embeddings(out)
    index = faiss.IndexFlatIP(embs.shape[1])
    index.add(embs[:100])  # an index over fewer rows than the parts: only it can return these
    (out / "index").mkdir()
    faiss.write_index(index, str(out / "index" / "image.index"))
    hits = clipzoo.search(out, "a photo of the digit three", top=10)[0]
    assert all(h.index < 100 for h in hits)
    assert all(h.image_path.endswith(f"{h.index:03d}_{h.image_path[-5]}.png") for h in hits)


def test_image_query_finds_the_image_itself(demo):
    folder, _ = demo
    query = sorted((folder / "digits").glob("*.png"))[42]
    hits = clipzoo.search(folder / "digits-emb", [str(query)], top=1, image=True)[0]
    assert hits[0].index == 42 and hits[0].score > 0.99


def test_cli_search_prints_rank_score_path(demo, capsys):
    folder, _ = demo
    assert main(["search", str(folder / "digits-emb"), "a photo of the digit three", "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "query: a photo of the digit three" and len(lines) == 4
    assert re.fullmatch(r"\s+1  0\.\d{4}  .*digits/\d{3}_\d\.png", lines[1])


def test_cli_search_of_a_folder_without_manifest_is_status_2(tmp_path, capsys):
    assert main(["search", str(tmp_path), "a cat"]) == 2
    assert "holds no clipzoo_embed.json" in capsys.readouterr().err
