"""Real readers of ``clipzoo embed``'s folder: clip-retrieval 2.45's ``index`` (autofaiss) and embedding-reader.

clip-retrieval pins open_clip < 3 and numpy < 2, so it lives in its own environment, ``.venv-retrieval``
(``make retrieval-env``, pinned in tests/envs/retrieval-requirements.txt; ``make test`` builds it). A corpus of
held-out digits with captions and broken files is embedded by clipzoo in several parts; the programs of that
environment then read the folder as their own, unmodified: ``clip-retrieval index`` builds its faiss indices
(which ``clipzoo search`` then uses), and embedding-reader's ``parquet_npy`` reader returns clipzoo's rows, in
order, with their metadata.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import clipzoo
from tests.helpers.corpus import MODEL, digit_folder, read_output

ROOT = Path(__file__).resolve().parents[1]
RETRIEVAL_BIN = ROOT / ".venv-retrieval" / "bin"

pytestmark = [
    pytest.mark.parity,
    pytest.mark.skipif(
        not (RETRIEVAL_BIN / "clip-retrieval").exists(),
        reason="clip-retrieval's environment .venv-retrieval is absent: `make retrieval-env` (make test does) builds it",
    ),
]

IMAGES, PART = 40, 16  # three parts: 16 + 16 + 8 rows
QUERIES = ["a photo of the digit 3.", "a photo of the digit 7."]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("retrieval")
    folder = digit_folder(work / "digits", IMAGES, captions=True)
    out = work / "emb"
    summary = clipzoo.embed(folder, **MODEL, out=out, part_size=PART, workers=1, progress=False)
    assert (
        summary.embedded == IMAGES and summary.failed == len(summary.failures) == 4
    )  # the broken files, listed, not embedded
    return out


READERS = """
import importlib.util, json, sys
from pathlib import Path
import autofaiss.external.scores as scores
from embedding_reader import EmbeddingReader

# autofaiss times searches for 10 s per index after building it (reported, not used): 0.1 s here
timed = scores.search_speed_test
scores.search_speed_test = lambda index, queries, ksearch, timout_s: timed(index, queries, ksearch, timout_s=0.1)

out, index = sys.argv[1], sys.argv[1] + "/index"
# `clip-retrieval index` is clip_index(); its module is loaded from its file because the package's __init__ imports
# torch and the inference stack (30 s of CPU) that indexing does not use
package = importlib.util.find_spec("clip_retrieval").submodule_search_locations[0]  # found, not imported
spec = importlib.util.spec_from_file_location("clip_index", Path(package) / "clip_index.py")
clip_index = importlib.util.module_from_spec(spec)
spec.loader.exec_module(clip_index)
clip_index.clip_index(out, index)
reader = EmbeddingReader(out + "/img_emb", file_format="parquet_npy", meta_columns=["image_path", "caption"],
                         metadata_folder=out + "/metadata")
rows = []
for embeddings, meta in reader(batch_size=7, show_progress=False):
    rows += [{"path": p, "caption": c, "embedding": e.tolist()}
             for p, c, e in zip(meta["image_path"], meta["caption"], embeddings)]
print(json.dumps({"count": int(reader.count), "dimension": int(reader.dimension), "rows": rows}))
"""


@pytest.fixture(scope="module")
def read(embedded) -> dict:
    """clip-retrieval's ``index`` run on the folder, then embedding-reader's rows of it, in the peer environment."""
    proc = subprocess.run(
        [str(RETRIEVAL_BIN / "python"), "-c", READERS, str(embedded)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def test_clip_retrieval_index_builds_from_the_folder_and_clipzoo_search_uses_it(embedded, read, tmp_path):
    assert {"image.index", "text.index", "metadata"} <= {p.name for p in (embedded / "index").iterdir()}
    exact_folder = tmp_path / "emb"
    shutil.copytree(embedded, exact_folder, ignore=shutil.ignore_patterns("index"))
    exact = clipzoo.search(exact_folder, QUERIES, top=5)  # no index: exact search over the parts
    indexed = clipzoo.search(embedded, QUERIES, top=5)  # through the autofaiss index in DIR/index/
    for ours, theirs in zip(indexed, exact):  # a corpus this small gets an exact (flat) faiss index
        assert [h.image_path for h in ours] == [h.image_path for h in theirs]
        np.testing.assert_allclose([h.score for h in ours], [h.score for h in theirs], rtol=0, atol=2e-3)


def test_embedding_reader_reads_clipzoos_rows_in_order_with_metadata(embedded, read):
    assert len(list((embedded / "img_emb").glob("img_emb_*.npy"))) == 3
    embeddings, rows = read_output(embedded)  # clipzoo's own view, in part order
    embeddings, paths = embeddings.astype(np.float32), [row["image_path"] for row in rows]
    assert read["count"] == IMAGES and read["dimension"] == embeddings.shape[1]
    assert [r["path"] for r in read["rows"]] == paths
    assert all(r["caption"].startswith("a photo of the digit") for r in read["rows"])
    np.testing.assert_allclose(
        np.array([r["embedding"] for r in read["rows"]]), embeddings, rtol=0, atol=1e-6
    )
