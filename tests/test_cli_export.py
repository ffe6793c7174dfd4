"""`clipzoo export`: the clipzoo folder format and the transformers format from the command line; an unknown tag
or an architecture transformers cannot hold is status 2 and nothing is written. What --overwrite may replace
(clipzoo.files' rule: never a folder clipzoo did not write, the current folder or an ancestor), unwritable targets
and full disks (one line, nothing left; for --format onnx too), and the staging copy of a killed export swept
by the next one."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from clipzoo.cli import main
from clipzoo.export import folder as export
from tests.helpers.checkpoints import tiny_clip_checkpoint
from tests.helpers.cli import cache_report, one_line

REPO = Path(__file__).resolve().parents[1]
EXPORT = ["export", "tiny-digits", "sklearn_digits"]  # packaged weights: no download, no registration


@pytest.fixture
def no_work(monkeypatch):
    """Any resolve or build fails the test: a refusal must come before any work."""
    from clipzoo.factory import create, resolve

    monkeypatch.setattr(resolve, "resolve", lambda *a, **k: pytest.fail("resolved the model first"))
    monkeypatch.setattr(create, "create_model", lambda *a, **k: pytest.fail("built the model first"))


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A current folder (inside a fake home folder) holding a file and a subfolder of the user's."""
    home = tmp_path / "home"
    work = home / "work"
    (work / "sub").mkdir(parents=True)
    (work / "notes.txt").write_text("mine")
    (work / "sub" / "data.txt").write_text("mine too")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    return work


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize(
    "target,reason",
    [
        ("", r"the target folder is an empty path \(''\: an unset shell variable\?\); name the folder to write"),
        (".", r"refusing to write \. \(.*/home/work\): it is the current folder; name a new folder below it"),
        ("sub/..", r"refusing to write sub/\.\. \(.*/work\): it is the current folder"),
        ("..", r"refusing to write \.\. \(.*/home\): it is an ancestor of the current folder .*/home/work"),
        ("~", r"refusing to write ~ \(.*/home\): it is an ancestor of the current folder"),
        ("/", r"refusing to write /: it is the root folder"),
        ("notes.txt", r".*/work/notes.txt is a file, not a folder clipzoo wrote; not replacing it"),
        ("sub", r".*/work/sub is not empty and holds no clipzoo_export.json: clipzoo did not write it, so it is "
                r"never replaced; name a new or empty folder, or remove it yourself"),  # fmt: skip
    ],
)
def test_overwrite_refuses_what_clipzoo_did_not_write(workdir, no_work, capsys, target, reason):
    before = _tree(workdir.parent)
    assert main([*EXPORT, "--to", target, "--overwrite"]) == 2
    line = one_line(capsys.readouterr().err)
    assert re.fullmatch(f"clipzoo: error: {reason}.*", line), line
    assert _tree(workdir.parent) == before


def test_cli_export(tmp_path, tiny_checkpoint, capsys):
    _, path = tiny_checkpoint
    from clipzoo.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["export", "tiny-vit", str(path), "--to", str(tmp_path / "cli")])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str((tmp_path / "cli").resolve())
    from clipzoo.cli import main

    assert main(["export", "tiny-vit", "no-such-tag", "--to", str(tmp_path / "bad")]) == 2
    assert "no-such-tag" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_cli_export_transformers(tmp_path, tiny_configs, capsys):
    from clipzoo.cli import main

    _, weights = tiny_clip_checkpoint(tmp_path)
    target = tmp_path / "hf"
    assert main(["export", "tiny-vit", str(weights), "--format", "transformers", "--to", str(target)]) == 0
    assert capsys.readouterr().out.strip() == str(target.resolve())
    assert json.loads((target / "config.json").read_text())["model_type"] == "clip"
    assert main(["export", "tiny-vit", str(weights), "--format", "transformers", "--to", str(target)]) != 0
    capsys.readouterr()
    assert (
        main(["export", "RN50", "--random-weights", "--format", "transformers", "--to", str(tmp_path / "rn")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ModifiedResNet" in err and not (tmp_path / "rn").exists()


def test_overwrite_replaces_a_folder_an_export_wrote(tmp_path, capsys):
    target = tmp_path / "out"
    assert main([*EXPORT, "--to", str(target)]) == 0
    record = json.loads((target / export.EXPORT_MANIFEST).read_text())
    assert record["written_by"] == "clipzoo"
    (target / "extra.txt").write_text("from before")
    assert main([*EXPORT, "--to", str(target)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"clipzoo: error: {target} already exists (written by clipzoo); pass overwrite=True / --overwrite to "
        "replace it"
    )
    assert main([*EXPORT, "--to", str(target), "--overwrite"]) == 0
    assert not (target / "extra.txt").exists() and (target / "open_clip_model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_read_only_target_is_typed_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    target = tmp_path / "out"
    assert main([*EXPORT, "--to", str(target)]) == 0
    real_replace = os.replace

    def refuse_moving_the_target(src, dst):
        if Path(src) == target:  # what a read-only folder (or a non-root user's) does on rename
            raise PermissionError(errno.EACCES, "Permission denied", str(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", refuse_moving_the_target)
    assert main([*EXPORT, "--to", str(target), "--overwrite"]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"clipzoo: error: cannot write {target}: Permission denied ({target}); name a target folder you can "
        "write to (nothing was written)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no .out.old-*, no .out.tmp-*, no lock
    assert (target / export.EXPORT_MANIFEST).is_file()


def test_disk_full_is_typed_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    import safetensors.torch

    def full(*args, **kwargs):  # what safetensors raises on a full disk (seen on a 1 MiB tmpfs)
        raise safetensors.SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    target = tmp_path / "out"
    assert main([*EXPORT, "--to", str(target)]) == 2
    assert one_line(capsys.readouterr().err) == (
        f"clipzoo: error: cannot write {target}: No space left on device; free space on that disk or name a target "
        "on another one (nothing was written)"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_target_folder_is_refused_before_any_work(tmp_path, capsys):
    target = tmp_path / "out"
    assert main([*EXPORT, "--to", str(target)]) == 0
    target.chmod(0o555)
    try:
        assert main([*EXPORT, "--to", str(target), "--overwrite"]) == 2
    finally:
        target.chmod(0o755)
    assert "permission denied" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_proc_target_fails_at_once_with_its_cause(capsys):
    t0 = time.monotonic()
    assert main([*EXPORT, "--to", "/proc/clipzoo-x"]) == 2
    assert time.monotonic() - t0 < 10  # not the 30 s lock wait
    assert one_line(capsys.readouterr().err) == (
        "clipzoo: error: cannot write into /proc: No such file or directory; choose a target folder you can "
        "write to"
    )


# --- staging copies of killed runs ---------------------------------------------------------------------

KILLED_EXPORT = """
import pathlib, sys, time
from clipzoo.cli import main
from clipzoo.export import folder

ready = pathlib.Path(sys.argv[1])
save = folder._save_weights

def slow_save(model, path):
    save(model, path)
    ready.write_text("ready")
    time.sleep(600)  # killed here: the weights written, the folder not yet renamed

folder._save_weights = slow_save
sys.exit(main(["export", "tiny-digits", "sklearn_digits", "--to", sys.argv[2]]))
"""


@pytest.mark.slow
def test_sigkilled_export_is_swept_by_the_next_export_into_the_same_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CLIPZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    parent, ready = tmp_path / "exports", tmp_path / "ready"
    parent.mkdir()
    script = tmp_path / "killed.py"
    script.write_text(KILLED_EXPORT)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(ready), str(parent / "a")], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the export did not start writing"
            time.sleep(0.05)
        staged = [p for p in parent.iterdir() if p.name.startswith(".a.tmp-")]
        assert len(staged) == 1 and (staged[0] / "open_clip_model.safetensors").is_file()
        # alive: its copy is in use, neither reported nor swept by an export next to it
        assert cache_report(str(parent), capsys=capsys)["stale"] == []
        assert main([*EXPORT, "--to", str(parent / "b")]) == 0
        assert staged[0].is_dir()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    report = cache_report(str(parent), capsys=capsys)
    assert [s["path"] for s in report["stale"]] == [str(staged[0])]
    assert report["bytes"] > 10_000 and not report["removed"]
    assert main([*EXPORT, "--to", str(parent / "c")]) == 0  # another name, same folder
    assert sorted(p.name for p in parent.iterdir()) == ["b", "c"]  # no .a.tmp-*, no .a.lock
    assert cache_report(str(parent), capsys=capsys)["stale"] == []


def test_disk_full_is_the_targets_fault_not_the_towers(tmp_path, monkeypatch, capsys):
    """ENOSPC while a graph file is written: the target's error, not the tower's, and the half-written file goes
    with the staging folder. The exporter is a stand-in whose program fills the disk on save: what is tested is
    what clipzoo does around ``ONNXProgram.save``; a real export here cost ~18 s of CPU."""

    class FullDiskProgram:
        def save(self, destination, *args, **kwargs):
            Path(destination).write_bytes(b"\x08\x07 half a graph")
            raise OSError(errno.ENOSPC, "No space left on device", str(destination))

    monkeypatch.setattr(torch.onnx, "export", lambda *args, **kwargs: FullDiskProgram())
    target = tmp_path / "full"
    assert main(["export", "tiny-digits", "sklearn_digits", "--format", "onnx", "--to", str(target)]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"clipzoo: error: cannot write {target}: No space left on device (")
    assert "image_encoder.onnx); free space on that disk or name a target on another one (nothing was written)" in line
    assert "does not export" not in line and list(tmp_path.iterdir()) == []
