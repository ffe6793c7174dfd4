"""clipzoo.embed on the local engine: clip-retrieval's layout, failures listed, checks before work, resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import clipzoo
from clipzoo.corpus.encoder import MissingWeightsError
from clipzoo.corpus.layout import ForeignOutputError
from clipzoo.corpus.sources import SourceError
from clipzoo.errors import InputError, LockBusyError
from clipzoo.files import AtomicTarget
from tests.helpers.corpus import BROKEN, MODEL, digit_folder, digit_shard, read_output

COUNT = 60
RUN = {**MODEL, "part_size": 6, "batch_size": 4, "workers": 1, "progress": False}  # 64 items -> 11 parts


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return digit_folder(tmp_path_factory.mktemp("corpus") / "digits", COUNT)


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    return out, clipzoo.embed(corpus, out=out, **RUN)


def test_layout_is_clip_retrievals(reference):
    out, summary = reference
    assert summary.parts == 11 and summary.items == COUNT + len(BROKEN)
    # k zero-padded to int(log10(parts)) + 1 digits, as clip-retrieval's writer pads it
    assert sorted(p.name for p in (out / "img_emb").iterdir()) == [f"img_emb_{k:02d}.npy" for k in range(11)]
    assert sorted(p.name for p in (out / "metadata").iterdir()) == [
        f"metadata_{k:02d}.parquet" for k in range(11)
    ]
    assert not (out / "text_emb").exists()  # no captions in this corpus
    assert (out / "clipzoo_embed.json").is_file() and (out / "failures.parquet").is_file()


def test_summary_times_the_stream(reference):
    _, summary = reference
    assert 0 < summary.first_result_seconds <= summary.stream_seconds <= summary.seconds
    # the items after the first chunk (of 4), over the time from its results to the last chunk's (the stream
    # goes on to write the last part)
    after_first = summary.embedded + summary.failed - 4
    assert summary.steady_items_per_second >= after_first / (summary.stream_seconds - summary.first_result_seconds)


def test_embeddings_are_float16_normalized_in_metadata_order(reference, corpus):
    out, _ = reference
    embs, rows = read_output(out)
    assert embs.dtype == np.float16 and embs.shape == (COUNT, 64)
    np.testing.assert_allclose(np.linalg.norm(embs.astype(np.float32), axis=1), 1.0, atol=2e-3)
    assert [r["image_path"] for r in rows] == sorted(str(p) for p in corpus.glob("0*.png"))
    for k in range(11):  # every part: as many metadata rows as embeddings
        assert len(np.load(out / f"img_emb/img_emb_{k:02d}.npy")) == pq.read_metadata(
            out / f"metadata/metadata_{k:02d}.parquet").num_rows  # fmt: skip


def test_broken_images_are_listed_and_skipped(reference, corpus):
    out, summary = reference
    assert summary.embedded == COUNT and summary.failed == len(BROKEN)
    table = pq.read_table(out / "failures.parquet").to_pylist()
    manifest = json.loads((out / "clipzoo_embed.json").read_text())
    assert [f["image_path"] for f in table] == [f["image_path"] for f in manifest["failures"]]
    for failure in table:
        assert BROKEN[Path(failure["image_path"]).name] in failure["reason"].lower(), failure


def test_embeddings_equal_the_model_on_the_same_files(reference, corpus):
    import torch

    out, _ = reference
    embs, rows = read_output(out)
    model, _, preprocess = clipzoo.create_model_and_transforms(MODEL["model"], pretrained=MODEL["pretrained"])
    with torch.no_grad():
        direct = model.encode_image(
            torch.stack([preprocess(rows[i]["image_path"]) for i in (0, 7, 33)]), normalize=True
        )
    # the run's path is chosen by the CPU (int8 on AVX2): close to fp32, not bit-equal
    cosine = (direct.numpy() * embs[[0, 7, 33]].astype(np.float32)).sum(1)
    assert (cosine > 0.99).all(), cosine


def test_a_finished_run_started_again_writes_nothing(reference, corpus):
    out, _ = reference
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")}
    again = clipzoo.embed(corpus, out=out, **RUN)
    assert again.parts_written == 0 and again.embedded == COUNT
    assert again.first_result_seconds == again.steady_items_per_second == 0.0  # nothing streamed
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")} == before


def test_missing_source_is_refused_before_any_work(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        clipzoo.embed([tmp_path / "nope"], out=tmp_path / "out", **RUN)
    assert not (tmp_path / "out").exists()


def test_model_without_weights_is_refused_unless_allowed(corpus, tmp_path):
    with pytest.raises(MissingWeightsError, match="random_weights=True"):
        clipzoo.embed(corpus, "tiny-digits", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_another_runs_output_is_refused_and_overwrite_replaces_it(reference, corpus, tmp_path):
    out, _ = reference
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(out), str(copy)], check=True)
    with pytest.raises(ForeignOutputError, match="dtype: 'float16' -> 'float32'"):
        clipzoo.embed(corpus, out=copy, **{**RUN, "dtype": "float32"})
    summary = clipzoo.embed(corpus, out=copy, overwrite=True, **{**RUN, "dtype": "float32", "part_size": 64})
    assert summary.parts == 1 and sorted(p.name for p in (copy / "img_emb").iterdir()) == ["img_emb_0.npy"]
    assert np.load(copy / "img_emb/img_emb_0.npy").dtype == np.float32


def test_a_folder_clipzoo_did_not_write_is_refused(corpus, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(InputError, match="did not write"):
        clipzoo.embed(corpus, out=tmp_path, overwrite=True, **RUN)
    assert sorted(os.listdir(tmp_path)) == ["mine.txt"]


def test_shards_and_lists_carry_captions_and_extra_columns(tmp_path):
    digit_shard(tmp_path / "00000.tar", 5)
    digit_shard(tmp_path / "00001.tar", 4, start=5)
    folder = digit_folder(tmp_path / "imgs", 3, broken=False)
    (tmp_path / "list.csv").write_text(
        "image_path,caption,source\n" + "".join(f"imgs/{p.name},the digit {p.stem[-1]},csv\n" for p in sorted(folder.iterdir()))
    )  # fmt: skip
    summary = clipzoo.embed(
        [str(tmp_path / "{00000..00001}.tar"), tmp_path / "list.csv"], out=tmp_path / "out", **RUN
    )
    assert summary.embedded == 12 and summary.failed == 0
    rows = [r for p in sorted((tmp_path / "out/metadata").glob("*")) for r in pq.read_table(p).to_pylist()]
    assert rows[0]["image_path"].endswith("00000.tar/00000.png") and rows[0]["caption"].startswith("digit")
    assert rows[0]["label"] is not None and rows[-1]["source"] == "csv"
    texts = np.concatenate([np.load(p) for p in sorted((tmp_path / "out/text_emb").glob("*.npy"))])
    assert texts.shape == (12, 64)


def test_caption_only_list_gives_text_embeddings(tmp_path):
    (tmp_path / "captions.csv").write_text("caption,id\n" + "".join(f"the digit {i},{i}\n" for i in range(9)))
    summary = clipzoo.embed(tmp_path / "captions.csv", out=tmp_path / "out", **RUN)
    assert summary.embedded == 9 and not (tmp_path / "out/img_emb").exists()
    assert np.load(tmp_path / "out/text_emb/text_emb_0.npy").shape == (6, 64)


def test_a_resumed_run_removes_what_killed_writes_left(reference, corpus, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference[0], out)
    leftovers = [out / "img_emb" / ".img_emb_03.npy.write-k1ll3d.part", out / ".clipzoo_embed.json.write-x.part"]
    for path in leftovers:  # a run killed inside write_file_atomically leaves these
        path.write_bytes(b"half")
    clipzoo.embed(corpus, out=out, **RUN)
    assert not any(path.exists() for path in leftovers)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == sorted(
        p.relative_to(reference[0]) for p in reference[0].rglob("*")
    )


def test_a_second_run_into_a_folder_being_written_is_refused(corpus, tmp_path):
    out = tmp_path / "out"
    with AtomicTarget(out, timeout=0), pytest.raises(LockBusyError, match="being written by another process"):
        clipzoo.embed(corpus, out=out, **RUN)  # the lock is held here as a running embed holds it
    assert not out.exists()


def _default_sigint() -> None:
    # a shell running this suite in the background without job control starts it with SIGINT ignored; every
    # process started under it inherits that, and Python installs no KeyboardInterrupt for an ignored SIGINT (the
    # run would go on to its last part)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt_after_first_part(corpus: Path, out: Path, sig: int) -> tuple[int, dict]:
    """Start `clipzoo embed` in a subprocess, send ``sig`` once the manifest lists a part; (status, manifest).

    The run is frozen (SIGSTOP) the moment its first part is seen, signalled, then let go (SIGCONT), so that the
    signal lands before the next part (the whole corpus takes a fraction of a second). Its worker processes must be
    gone a few seconds later, whatever the signal (none is left orphaned).
    """
    import psutil

    args = [sys.executable, "-m", "clipzoo", "embed", str(corpus), "--model", MODEL["model"], "--pretrained",
            MODEL["pretrained"], "--out", str(out), "--part-size", "6", "--batch-size", "4", "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_default_sigint)
    manifest = out / "clipzoo_embed.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.is_file() and json.loads(manifest.read_text())["parts"]:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGSTOP)
    children = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, sig)
    os.kill(proc.pid, signal.SIGCONT)
    status = proc.wait(timeout=120)
    assert children, "the run had no worker processes"
    _, alive = psutil.wait_procs(children, timeout=20)
    assert not alive, f"worker processes outlived the run: {alive}"
    data = json.loads(manifest.read_text())
    assert 0 < len(data["parts"]) < 11, (
        f"the signal came too late to test resume: {len(data['parts'])} parts done"
    )
    return status, data


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(reference, corpus, tmp_path):
    ref_out, _ = reference
    out = tmp_path / "killed"
    done = _interrupt_after_first_part(corpus, out, signal.SIGKILL)[1]["parts"]
    summary = clipzoo.embed(corpus, out=out, **RUN)
    assert summary.parts_written == 11 - len(done)
    for name in ("img_emb", "metadata"):
        assert sorted(p.name for p in (out / name).iterdir()) == sorted(
            p.name for p in (ref_out / name).iterdir()
        )
    embs, rows = read_output(out)
    ref_embs, ref_rows = read_output(ref_out)
    np.testing.assert_array_equal(embs, ref_embs)
    assert rows == ref_rows
    assert pq.read_table(out / "failures.parquet").equals(pq.read_table(ref_out / "failures.parquet"))


@pytest.mark.slow
def test_ctrl_c_leaves_finished_parts_and_the_manifest_consistent(reference, corpus, tmp_path):
    out = tmp_path / "interrupted"
    status, manifest = _interrupt_after_first_part(corpus, out, signal.SIGINT)
    assert status == 130
    ref_out, _ = reference
    for k, part in manifest["parts"].items():  # every part listed is complete and equal to the reference's
        name = f"img_emb/img_emb_{int(k):02d}.npy"
        assert len(np.load(out / name)) == part["rows"]
        np.testing.assert_array_equal(np.load(out / name), np.load(ref_out / name))
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]  # no half-written file left


@pytest.mark.slow
def test_an_onnx_folder_embeds_like_the_torch_model(reference, corpus, tmp_path, digits_int8):
    """The run's shared int8 export of the same model (conftest): an export of its own cost ~20 s of CPU."""
    pytest.importorskip("onnxruntime")
    run = {k: v for k, v in RUN.items() if k not in MODEL}
    summary = clipzoo.embed(corpus, onnx=str(digits_int8), out=tmp_path / "out", **run)
    assert summary.inference_path == "onnx" and summary.failed == len(BROKEN)
    embs, rows = read_output(tmp_path / "out")
    ref_embs, ref_rows = read_output(reference[0])
    assert rows == ref_rows
    cosine = (embs.astype(np.float32) * ref_embs.astype(np.float32)).sum(1)
    assert cosine.min() > 0.99  # onnxruntime int8 vs the CPU's torch path (int8 on AVX2): 0.998 here
