"""open_clip 3.3.0's own test suite (its sdist's ``tests/``, fetched by ``make octests-env``), run offline.

open_clip's side of the comparison depends only on ``.venv-octests`` and the fetched files, not on clipzoo, so it is
recorded once per environment: ``python -m tests.helpers.octests`` (run by ``make octests-env``) generates the
regression tests' reference outputs with open_clip's ``util_test.py`` and writes, per test file, the ids that pass
on open_clip to ``open_clip-passed.json`` beside the suite. The test then runs only clipzoo's side.
"""

from __future__ import annotations

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
# open_clip's test files, run on clipzoo one process per group: starting a process (torch, the alias,
# open_clip_train) costs about 10 s of CPU, so there are two, of about a minute each (xdist gives each worker one):
# test_wds (it iterates 10,000 samples four times) and the others.
GROUPS = (("test_wds.py",), ("test_inference.py", "test_download_pretrained.py", "test_hf_model.py",
          "test_num_shards.py", "test_inference_simple.py"))  # fmt: skip
FILES = tuple(name for group in GROUPS for name in group)
LEFT_OUT = {"test_training_simple.py": "trains full-size RN50/CoCa/ViT-B-32 on a CPU: minutes per test"}
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
        at = next(i for i, part in enumerate(parts) if part.startswith("test_"))
        passed.add(f"{parts[at]}.py::{'::'.join([*parts[at + 1 :], case.get('name', '')])}")
    return passed


def run_files(scratch: Path, test_files: tuple[str, ...], through_clipzoo: bool) -> set[str]:
    """Run some of open_clip's test files in one process with open_clip itself or, through ``clipzoo run``, with
    clipzoo serving ``import open_clip``; the ids that passed."""
    junit = scratch / f"{test_files[0]}-{'clipzoo' if through_clipzoo else 'open_clip'}.xml"
    pytest_args = ["-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}", *test_files]
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
    return passed_ids(junit)


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
