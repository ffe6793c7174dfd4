"""Exports that cannot lie (hostile input, each case with its exact outcome): killed and concurrent exports,
replacements rolled back, targets that cannot be written, file modes from the umask."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from clipzoo.export import folder as export
from clipzoo.export import writers

REPO = Path(__file__).resolve().parents[1]


# --- exports that cannot lie ----------------------------------------------------------------------------

HOLDER = """
import pathlib, sys, time
from clipzoo.export import folder as export
from clipzoo.export import writers

target, ready, mode = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]

def write(tmp):
    (tmp / "weights.bin").write_bytes(b"A" * 1_000_000)
    ready.write_text("ready")
    time.sleep(600 if mode == "hang" else 2.0)
    (tmp / "who.txt").write_text("A")

export.write_folder_atomically(target, mode == "overwrite", write)
print("done")
"""


def _start_holder(tmp_path: Path, target: Path, mode: str) -> subprocess.Popen:
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    ready = tmp_path / f"ready-{mode}"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, str(script), str(target), str(ready), mode], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the holder process did not start writing"
        time.sleep(0.05)
    return proc


def _write_b(tmp: Path) -> None:
    (tmp / "who.txt").write_text("B")


def test_killed_export_is_cleaned_up_and_a_held_lock_refuses(tmp_path):
    target = tmp_path / "out"
    holder = _start_holder(tmp_path, target, "hang")
    try:
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")]
        assert len(leftovers) == 1
        t0 = time.monotonic()
        with pytest.raises(export.ExportBusyError) as info:
            export.write_folder_atomically(target, False, _write_b, timeout=0.3)
        assert time.monotonic() - t0 < 5
        assert str(info.value).startswith(
            f"another export into {target} is still running (pid {holder.pid}, lock "
        )
    finally:
        holder.send_signal(signal.SIGKILL)  # mid-write: 1 MB written, the folder not yet renamed
        holder.wait()
    assert (tmp_path / leftovers[0] / "weights.bin").stat().st_size == 1_000_000  # the dead run's folder
    export.write_folder_atomically(target, False, _write_b, timeout=5)
    assert (target / "who.txt").read_text() == "B"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["holder.py", "out", "ready-hang"]  # no tmp, no lock


def test_replacement_killed_between_its_renames_is_rolled_back(tmp_path):
    target = tmp_path / "out"
    (tmp_path / ".out.old-k1ll3d_x" / "previous").mkdir(parents=True)  # the old folder, moved aside
    (tmp_path / ".out.old-k1ll3d_x" / "previous" / "who.txt").write_text("old")
    (tmp_path / ".out.old-k1ll3d_x" / "previous" / export.EXPORT_MANIFEST).write_text("{}")
    (tmp_path / ".out.tmp-k1ll3d_y").mkdir()  # the new one, not yet renamed
    (tmp_path / ".other.tmp-12345678").mkdir()  # another target's, killed too (its lock is free): removed
    with pytest.raises(export.ExportTargetError, match=r"already exists \(written by clipzoo\)"):
        export.write_folder_atomically(target, False, _write_b)
    assert (target / "who.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_target_written_while_waiting_is_not_replaced(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "who.txt").write_text("old")
    (target / export.EXPORT_MANIFEST).write_text("{}")
    holder = _start_holder(tmp_path, target, "overwrite")
    with pytest.raises(export.ExportBusyError, match=r"another export wrote .*out while this one waited for it; "
                       r"not replacing it"):  # fmt: skip
        export.write_folder_atomically(target, True, _write_b, timeout=60)
    assert holder.wait(timeout=60) == 0
    assert (target / "who.txt").read_text() == "A"


EXPORTER = """
import sys
from clipzoo.export import writers
from clipzoo.registry import architectures as registry
registry.add_model_config(sys.argv[1])
writers.export_model(sys.argv[2], to=sys.argv[3], lock_timeout=120)
print("exported", sys.argv[2])
"""


@pytest.mark.slow
def test_two_concurrent_exports_never_both_succeed(tiny_folder, tmp_path):
    script = tmp_path / "exporter.py"
    script.write_text(EXPORTER)
    target = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tiny_folder), name, str(target)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("hostile-a", "hostile-b")
    ]  # fmt: skip
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    winners = [i for i, (rc, _, _) in enumerate(results) if rc == 0]
    assert len(winners) == 1, results
    loser = results[1 - winners[0]][2]
    assert "ExportBusyError: another export wrote" in loser or "already exists and is not empty" in loser
    embed = json.loads((target / "open_clip_config.json").read_text())["model_cfg"]["embed_dim"]
    assert embed == (16, 24)[winners[0]]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_unwritable_target_fails_before_the_model_is_built(tiny_folder, tmp_path, monkeypatch):
    from clipzoo.factory import create as factory

    monkeypatch.setattr(factory, "create_model", lambda *a, **k: pytest.fail("built a model first"))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(
        export.ExportError, match=r"cannot write into .*a-file: Not a directory; choose a target"
    ):
        writers.export_model("hostile-a", to=blocker / "out")
    for fmt in writers.EXPORT_FORMATS:
        with pytest.raises(export.ExportError, match="Not a directory"):
            writers.export_model("hostile-a", to=blocker / "sub" / "out", format=fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "cfg"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_parent_fails_before_the_model_is_built(tiny_folder, tmp_path, monkeypatch):
    from clipzoo.factory import create as factory

    monkeypatch.setattr(factory, "create_model", lambda *a, **k: pytest.fail("built a model first"))
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        with pytest.raises(export.ExportError, match=r"cannot write into .*ro: Permission denied"):
            writers.export_model("hostile-a", to=parent / "out")
    finally:
        parent.chmod(0o755)


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_export_modes_follow_the_umask(tiny_folder, tmp_path, mask):
    old = os.umask(mask)
    try:
        folder = writers.export_model("hostile-a", to=tmp_path / f"out-{mask:o}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path
