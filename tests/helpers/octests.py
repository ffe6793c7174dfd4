"""open_clip 3.3.0's own test suite (its sdist's ``tests/``, fetched by ``make octests-env``), run offline.

open_clip's side of the comparison depends only on ``.venv-octests`` and the fetched files, not on clipzoo, so it is
recorded once per environment: ``python -m tests.helpers.octests`` (run by ``make octests-env``) generates the
regression tests' reference outputs with open_clip's ``util_test.py`` and writes, per test file, the ids that pass
on open_clip to ``open_clip-passed.json`` beside the suite. The test then runs only clipzoo's side.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv-octests" / "bin"
SUITE = ROOT / ".cache" / "open_clip-3.3.0" / "tests"
RECORD = SUITE.parent / "open_clip-passed.json"
# open_clip's test files. On clipzoo they run in one process (starting one costs about 10 s of CPU: torch, the alias,
# open_clip_train).
FILES = ("test_inference.py", "test_download_pretrained.py", "test_hf_model.py", "test_num_shards.py",
         "test_inference_simple.py", "test_wds.py")  # fmt: skip
LEFT_OUT = {"test_training_simple.py": "trains full-size RN50/CoCa/ViT-B-32 on a CPU: minutes per test"}
# Files whose tests call no code of open_clip's (checked by :func:`open_clip_calls`): on clipzoo they are imported
# (their imports go through ``import open_clip``) and their tests deselected, as their outcome cannot depend on which
# package serves ``open_clip``.
IMPORT_ONLY = {
    "test_wds.py": "samples WebDataset shards through open_clip_train.data (10,000 samples, four times, ~45 s of CPU); "
    "open_clip_train.data and .params import nothing from open_clip and main.random_seed only seeds torch/numpy/random"
}
# Regression tests: seeded random init, then outputs compared with open_clip's by exact equality.
REGRESSION_MODELS = ("RN50", "ViT-B-32")


def available() -> bool:
    """Whether ``make octests-env`` has built the environment and fetched the suite."""
    return (VENV_BIN / "python").exists() and (SUITE / "util_test.py").exists()


def suite_env(scratch: Path) -> dict[str, str]:
    """The environment open_clip's tests run in: offline, one thread, the regression models listed in ``scratch``."""
    models = scratch / "models.txt"
    models.write_text("\n".join(REGRESSION_MODELS) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CLIPZOO_OPEN_CLIP"))}
    env.update(OPEN_CLIP_TEST_REG_MODELS=str(models), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    env.pop("PYTHONPATH", None)
    return env


def passed_ids(junit: Path) -> set[str]:
    """Test ids (``file::name``) that passed, from a junit XML report."""
    passed = set()
    for case in ET.parse(junit).getroot().iter("testcase"):
        if any(child.tag in ("failure", "error", "skipped") for child in case):
            continue
        # classname is "<dotted path to the file>.<module>[.<class>]": the module is the test_* part
        parts = case.get("classname", "").split(".")
        at = next((i for i, part in enumerate(parts) if part.startswith("test_")), None)
        if at is None:  # a collection error is reported as a case without a test module
            continue
        passed.add(f"{parts[at]}.py::{'::'.join([*parts[at + 1 :], case.get('name', '')])}")
    return passed


def run_files(
    scratch: Path, test_files: tuple[str, ...], through_clipzoo: bool, deselect: tuple[str, ...] = ()
) -> set[str]:
    """Run some of open_clip's test files in one process with open_clip itself or, through ``clipzoo run``, with
    clipzoo serving ``import open_clip``; the ids that passed. ``deselect``: test ids collected (their module
    imported) but not run; a collection error fails the whole run."""
    junit = scratch / f"{test_files[0]}-{'clipzoo' if through_clipzoo else 'open_clip'}.xml"
    # open_clip's suite has no pytest configuration of its own: none of clipzoo's (found above .cache/) applies, and
    # test ids are relative to the suite's folder
    pytest_args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull, "--rootdir", str(SUITE)]
    pytest_args += [f"--junitxml={junit}", *test_files]
    pytest_args += [f"--deselect={test_id}" for test_id in deselect]
    runner = [str(VENV_BIN / "clipzoo"), "run"] if through_clipzoo else [str(VENV_BIN / "python")]
    out = subprocess.run(
        [*runner, *pytest_args],
        cwd=SUITE,
        env=suite_env(scratch),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert junit.exists(), out.stdout[-3000:] + out.stderr[-3000:]
    assert out.returncode != 2, "open_clip's tests could not be collected:\n" + out.stdout[-3000:]
    return passed_ids(junit)


def _open_clip_names(tree: ast.Module) -> set[str]:
    """The names a module binds by importing from ``open_clip`` (not from ``open_clip_train``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "open_clip":
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {
                (a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] == "open_clip"
            }
    return names


def open_clip_calls(test_file: str) -> list[str]:
    """The names that open_clip's ``test_file`` imports and that can reach open_clip's code: anything imported from
    ``open_clip``, and each function or class imported from an open_clip_train module whose body uses a name that
    module imports from open_clip (a module importing nothing from open_clip reaches none)."""
    site = next(VENV_BIN.parent.glob("lib/python*/site-packages"))
    test = ast.parse((SUITE / test_file).read_text())
    reached = sorted(_open_clip_names(test))
    for node in ast.walk(test):
        if not (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "open_clip_train"):
            continue
        module = ast.parse((site / (node.module.replace(".", "/") + ".py")).read_text())
        from_open_clip = _open_clip_names(module)
        for alias in node.names:
            defined = [d for d in module.body if getattr(d, "name", None) == alias.name]
            used = (
                {n.id for d in defined for n in ast.walk(d) if isinstance(n, ast.Name)}
                if defined
                else from_open_clip
            )
            if used & from_open_clip:
                reached.append(f"{node.module}.{alias.name}")
    return reached


def make_reference_outputs(scratch: Path) -> None:
    """open_clip's outputs for :data:`REGRESSION_MODELS`, made by its own util_test.py (once per fetched suite)."""
    made = SUITE / "data" / "output"
    if all((made / f"{m}_False_fp32_random_text.pt").exists() for m in REGRESSION_MODELS):
        return
    command = [str(VENV_BIN / "python"), "util_test.py", "--model", *REGRESSION_MODELS]
    subprocess.run(command, cwd=SUITE, env=suite_env(scratch), check=True, capture_output=True, timeout=1800)


def open_clip_passed(scratch: Path) -> dict[str, list[str]]:
    """Per test file, the ids that pass on open_clip itself: read from :data:`RECORD`, recorded first if absent."""
    if RECORD.exists():
        return json.loads(RECORD.read_text())
    make_reference_outputs(scratch)
    record = {name: sorted(run_files(scratch, (name,), through_clipzoo=False)) for name in FILES}
    partial = RECORD.with_suffix(f".tmp-{os.getpid()}")
    partial.write_text(json.dumps(record, indent=1))
    partial.replace(RECORD)  # atomic: a killed recording leaves no half-written record
    return record


if __name__ == "__main__":
    import tempfile

    if not available():
        sys.exit("open_clip's suite or .venv-octests is absent: run `make octests-env`")
    with tempfile.TemporaryDirectory() as scratch:
        counts = {name: len(ids) for name, ids in open_clip_passed(Path(scratch)).items()}
    print(f"open_clip 3.3.0's tests passing on open_clip, recorded in {RECORD}: {counts}")
