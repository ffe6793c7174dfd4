"""`clipzoo run` in fresh processes: arguments, exit statuses and messages pass through; the programs it starts
get the open_clip alias too; scripts and ``-m`` modules are found as ``python`` finds them. (The alias itself:
test_compat_open_clip_api.py.)"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# as in test_compat_open_clip_api.py: these compare with the real open_clip (a dev extra), skipped without it
pytestmark = pytest.mark.skipif(importlib.util.find_spec("open_clip") is None, reason="open_clip is not installed")


RUN_CASES = [
    # (program source, args, expected status, text expected in stdout+stderr)
    (
        "import sys, open_clip\nprint(sys.argv[1:], open_clip.__version__)\n",
        ["--x", "y"],
        0,
        "['--x', 'y'] 3.3.0",
    ),
    ("import sys\nsys.exit(6)\n", [], 6, ""),
    ("import sys\nsys.exit('stopped: bad input')\n", [], 1, "stopped: bad input"),
    ("raise RuntimeError('boom')\n", [], 1, "RuntimeError: boom"),
]


@pytest.mark.slow
def test_clipzoo_run_passes_status_and_arguments(tmp_path: Path) -> None:
    """`clipzoo run` (console script and -m) in a fresh process: argv, exit codes, messages, tracebacks."""
    import os

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    for i, (source, args, status, text) in enumerate(RUN_CASES):
        (tmp_path / f"prog{i}.py").write_text(source)
        for target in ([str(tmp_path / f"prog{i}.py")], ["-m", f"prog{i}"]):
            out = subprocess.run(
                [sys.executable, "-m", "clipzoo", "run", *target, *args],
                capture_output=True,
                text=True,
                timeout=60,
                env=env,
            )
            assert out.returncode == status, (target, out.stderr[-2000:])
            assert text in out.stdout + out.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "clipzoo", "run", "no-such-program-xyz"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2 and "no-such-program-xyz" in missing.stderr
    assert (
        "usage: clipzoo run"
        in subprocess.run(
            [sys.executable, "-m", "clipzoo", "run", "--help"], capture_output=True, text=True, timeout=60
        ).stdout
    )


SPAWN_PROGRAM = """
import multiprocessing as mp, os, subprocess, sys

def child(queue):
    import open_clip
    queue.put(type(open_clip).__name__)

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=child, args=(queue,))
    proc.start()
    print(queue.get())
    proc.join()
    code = "import open_clip; print(type(open_clip).__name__)"
    print(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip())
"""


def test_clipzoo_run_reaches_the_processes_the_program_starts(tmp_path: Path) -> None:
    """multiprocessing's spawn children and Python subprocesses get the alias too (sitecustomize bootstrap)."""
    (tmp_path / "spawner.py").write_text(SPAWN_PROGRAM)
    out = subprocess.run(
        [sys.executable, "-m", "clipzoo", "run", str(tmp_path / "spawner.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["_AliasModule", "_AliasModule"]


REPORT = (
    "import json, os, sys\n"
    "print(json.dumps({'argv': sys.argv, 'path0': os.path.realpath(sys.path[0]), 'name': __name__,\n"
    "                  'spec': getattr(__spec__, 'name', None), 'helper': HELPER}))\n"
)


def _run_both(
    python_args: list[str], cwd: Path
) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """The same program under ``python`` and under the ``clipzoo`` console script, from ``cwd``."""
    clipzoo_bin = Path(sys.executable).parent / "clipzoo"

    def run(cmd: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)

    return run([sys.executable, *python_args]), run([str(clipzoo_bin), "run", *python_args])


def test_clipzoo_run_a_script_by_relative_path_with_a_sibling_import(tmp_path: Path) -> None:
    """`clipzoo run main.py` and `clipzoo run proj/main.py` find the file and its sibling module as python does."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "helper.py").write_text("VALUE = 'sibling'\n")
    (proj / "main.py").write_text("from helper import VALUE as HELPER\n" + REPORT)
    for cwd, target in ((proj, "main.py"), (tmp_path, "proj/main.py")):
        python, clipzoo_run = _run_both([target, "--flag", "x"], cwd)
        assert python.returncode == 0, python.stderr[-2000:]
        assert clipzoo_run.returncode == 0, clipzoo_run.stderr[-2000:]
        assert clipzoo_run.stdout == python.stdout
        assert json.loads(python.stdout)["path0"] == os.path.realpath(proj)


@pytest.mark.slow
def test_clipzoo_run_m_a_package_module_from_the_folder_holding_it(tmp_path: Path) -> None:
    """`clipzoo run -m pkg.train` from the folder holding pkg/ runs it as `python -m pkg.train` does."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "util.py").write_text("VALUE = 'package'\n")
    # under clipzoo run the package imports open_clip (the alias); plain python skips it (the real open_clip's
    # import, transformers and torchvision, cost ~8 s of CPU and the report does not depend on it)
    program = "import sys\nfrom .util import VALUE as HELPER\nif 'clipzoo' in sys.modules:\n    import open_clip\n"
    (pkg / "train.py").write_text(program + REPORT)
    python, clipzoo_run = _run_both(["-m", "pkg.train", "--epochs", "1"], tmp_path)
    assert python.returncode == 0, python.stderr[-2000:]
    assert clipzoo_run.returncode == 0, clipzoo_run.stderr[-2000:]
    assert clipzoo_run.stdout == python.stdout
    assert json.loads(python.stdout)["path0"] == os.path.realpath(tmp_path)
