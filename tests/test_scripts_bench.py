"""scripts/bench.py finds every bench module, and every bench module times with scripts/benchlib.py only.

Nothing here runs a benchmark (they take minutes): modules are imported, never run.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
BENCH_FILES = sorted(SCRIPTS.glob("bench_*.py"))
KNOWN = ("import", "factory", "models", "transforms", "tokenizers", "hub", "convert", "generation", "loss")
# Reading a clock outside benchlib means a private timing helper (string literals, e.g. a child process's code,
# are another process and may time themselves).
CLOCKS = {"perf_counter", "perf_counter_ns", "process_time", "process_time_ns", "monotonic", "monotonic_ns"}
# The names of the private copies the modules used to carry.
PRIVATE_HELPERS = {
    "_best",
    "_best_of",
    "_best_seconds",
    "_best_time",
    "best_time",
    "best_times",
    "_row",
    "_throughput_row",
    "_wall",
    "_cli_wall",
    "print_table",
    "machine",
}


def _load(name: str, path: Path):
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("bench_cli_under_test", SCRIPTS / "bench.py")


@pytest.fixture(scope="module")
def benchlib():
    return _load("benchlib", SCRIPTS / "benchlib.py")


def test_discovers_every_bench_file_known_areas_first(bench):
    areas = bench.discover()
    assert sorted(areas) == sorted(p.stem.removeprefix("bench_") for p in BENCH_FILES)
    known = [a for a in KNOWN if a in areas]
    assert areas[: len(known)] == known, "the known areas come first, in their fixed order"
    assert areas[len(known) :] == sorted(areas[len(known) :]), "the others follow sorted by name"
    assert set(KNOWN) <= set(areas), "a known bench module is missing"
    assert "gpu" not in areas


def test_discovery_follows_the_folder(bench, tmp_path):
    for area in ("zeta", "loss", "alpha", "import"):
        (tmp_path / f"bench_{area}.py").write_text("def run(quick=False):\n    return []\n")
    (tmp_path / "benchlib.py").write_text("")
    (tmp_path / "not_bench_x.py").write_text("")
    assert bench.discover(tmp_path) == ["import", "loss", "alpha", "zeta"]
    (tmp_path / "bench_norun.py").write_text("X = 1\n")
    with pytest.raises(AttributeError, match="no run"):
        bench.load("norun", tmp_path)


@pytest.mark.parametrize("path", BENCH_FILES, ids=lambda p: p.stem)
def test_module_imports_without_running_and_has_run(path):
    module = _load(f"{path.stem}_under_test", path)
    assert callable(module.run)
    assert "quick" in module.run.__code__.co_varnames[: module.run.__code__.co_argcount]


@pytest.mark.parametrize("path", BENCH_FILES, ids=lambda p: p.stem)
def test_module_has_no_private_timing_helper(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    clocks, defined = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in CLOCKS:
            clocks.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in CLOCKS:
            clocks.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.alias) and node.name.split(".")[-1] in CLOCKS:
            clocks.append(f"line {node.lineno}: import {node.name}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in PRIVATE_HELPERS:
            defined.append(f"line {node.lineno}: def {node.name}")
    assert not clocks, f"{path.name} reads a clock itself (use benchlib): {clocks}"
    assert not defined, f"{path.name} defines its own helper (use benchlib): {defined}"
    assert "benchlib" in path.read_text()


def test_the_grep_sees_a_private_clock(tmp_path):
    """The check above fails on a module that times itself (so it can fail)."""
    bad = tmp_path / "bench_bad.py"
    bad.write_text(
        "import time\nfrom time import perf_counter\ndef _best(fn):\n    t = time.perf_counter()\n"
        "    fn()\n    return time.perf_counter() - t\n"
        "CHILD = 'import time; time.perf_counter()'  # another process: allowed\n"
    )
    with pytest.raises(AssertionError, match=r"line 2: import perf_counter.*line 4: \.perf_counter"):
        test_module_has_no_private_timing_helper(bad)


def _bench(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPTS / "bench.py"), *argv], capture_output=True, text=True, timeout=60)


def test_only_unknown_area_fails_with_close_matches():
    proc = _bench("--only", "import,nosuch")
    assert proc.returncode == 2
    assert "unknown bench area 'nosuch'" in proc.stderr
    assert "loss" in proc.stderr  # the areas are listed
    assert "[bench]" not in proc.stderr, "nothing runs when a name is wrong"
    proc = _bench("--only", "tokenizer")
    assert proc.returncode == 2
    assert "did you mean 'tokenizers'" in proc.stderr


def test_list_prints_the_discovered_areas(bench):
    proc = subprocess.run(
        [sys.executable, str(SCRIPTS / "bench.py"), "--list"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == bench.discover()


def test_one_failing_area_fails_the_run_but_not_the_others(bench, monkeypatch, capsys, tmp_path):
    good = type("M", (), {"run": staticmethod(lambda quick: [_row("good", quick)])})
    broken = type("M", (), {"run": staticmethod(lambda quick: 1 / 0)})
    later = type("M", (), {"run": staticmethod(lambda quick: [_row("later", quick)])})
    modules = {"a": good, "b": broken, "c": later}
    monkeypatch.setattr(bench, "discover", lambda: list(modules))
    monkeypatch.setattr(bench, "load", modules.__getitem__)
    monkeypatch.setattr(bench.benchlib, "machine", lambda: {"date": "today"})
    out = tmp_path / "results.json"
    assert bench.main(["--quick", "--json", str(out)]) == 1
    captured = capsys.readouterr()
    assert "ZeroDivisionError" in captured.err and "failed areas: b" in captured.err
    assert "good" in captured.out and "later" in captured.out
    saved = json.loads(out.read_text())
    assert saved["failed"] == ["b"] and [r["name"] for r in saved["rows"]] == ["good", "later"]
    assert saved["rows"][0]["note"] == "quick=True"
    assert bench.main(["--only", "c,a"]) == 0  # the broken area is not run: status 0
    captured = capsys.readouterr()
    assert captured.out.index("later") < captured.out.index("good"), "--only keeps the order given"
    assert "[bench] b" not in captured.err


def _row(name: str, quick: bool) -> dict:
    return {
        "name": name,
        "clipzoo": 1.0,
        "peer": 2.0,
        "peer_name": "peer",
        "unit": "s",
        "ratio": 2.0,
        "note": f"quick={quick}",
    }


def test_best_of_before_make_and_output(benchlib):
    ticks = iter(range(0, 1000))
    clock = lambda: float(next(ticks))  # noqa: E731  (each read advances one "second")
    calls = []
    best = benchlib.best_of(
        lambda: calls.append("fn") or len(calls), 3, before=lambda: calls.append("before"), clock=clock
    )
    assert calls == ["before", "fn"] * 3
    assert best.seconds == 1.0 and best.output == 6
    made = iter(["x", "y"])
    best = benchlib.best_of(lambda arg: arg * 2, 2, make=lambda: next(made), clock=clock)
    assert best.output == "yy"
    with pytest.raises(ValueError, match="repeats"):
        benchlib.best_of(lambda: None, 0)
    slow = benchlib.best_of(lambda: time.sleep(0.02), 2).seconds
    assert 0.015 < slow < 1.0


def test_best_pair_warms_up_and_alternates(benchlib):
    order = []
    ours, peer = benchlib.best_pair(lambda: order.append("o"), lambda: order.append("p"), 2)
    assert order == ["o", "p"] * 3  # one warm-up pair, then alternating
    assert ours >= 0 and peer >= 0
    order.clear()
    benchlib.best_pair(lambda: order.append("o"), lambda: order.append("p"), 2, warmup=False)
    assert order == ["o", "p"] * 2


def test_median_wall_and_rows(benchlib):
    seconds = benchlib.median_wall([sys.executable, "-c", "pass"], 1)
    assert 0 < seconds < 30
    with pytest.raises(subprocess.CalledProcessError):
        benchlib.median_wall([sys.executable, "-c", "raise SystemExit(3)"], 1)
    row = benchlib.time_row("t", 2.0, 6.0, "peer", "n")
    assert list(row) == list(benchlib.ROW_FIELDS)
    assert row["ratio"] == pytest.approx(3.0) and row["unit"] == "s"
    row = benchlib.throughput_row("r", 30.0, 10.0, "peer", "images/s")
    assert row["ratio"] == pytest.approx(3.0) and row["unit"] == "images/s" and row["note"] == ""
    assert math.isinf(benchlib.time_row("z", 0.0, 1.0, "peer", unit="MiB")["ratio"])


def test_standalone_main_prints_the_table(benchlib, capsys):
    seen = []

    def run(quick: bool = False) -> list[dict]:
        seen.append(quick)
        return [benchlib.time_row("case one", 0.5, 1.0, "open_clip 3.3.0", "note here")]

    assert benchlib.main(run, ["--quick"]) == 0
    out = capsys.readouterr().out
    assert seen == [True]
    assert out.splitlines()[0].startswith("benchmark")
    assert "case one" in out and "2.00x" in out and "open_clip 3.3.0; note here" in out
