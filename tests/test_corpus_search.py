"""clipzoo.search: the README demo, exact chunked top-k, a faiss index, image queries (the command: test_cli_search.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import clipzoo
from clipzoo.corpus import search as search_module
from tests.helpers.corpus import read_output


@pytest.mark.slow
def test_readme_demo_finds_mostly_threes(readme_corpus):
    _, stdout = readme_corpus
    lines = stdout.splitlines()
    assert lines[0] == "360 images embedded"
    hits = lines[1:]
    assert len(hits) == 10
    assert sum(line.endswith("_3.png") for line in hits) >= 8, stdout


def _all_embeddings(out: Path) -> np.ndarray:
    return read_output(out)[0].astype(np.float32)


@pytest.mark.slow
def test_exact_search_in_chunks_equals_brute_force(readme_corpus, monkeypatch):
    folder, _ = readme_corpus
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


@pytest.mark.slow
def test_a_faiss_index_in_dir_index_is_used(readme_corpus, tmp_path):
    import faiss

    folder, _ = readme_corpus
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


@pytest.mark.slow
def test_image_query_finds_the_image_itself(readme_corpus):
    folder, _ = readme_corpus
    query = sorted((folder / "digits").glob("*.png"))[42]
    hits = clipzoo.search(folder / "digits-emb", [str(query)], top=1, image=True)[0]
    assert hits[0].index == 42 and hits[0].score > 0.99
