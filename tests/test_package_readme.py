"""The README as a newcomer uses it: the quickstart runs as written, commands work in this environment."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import clipzoo

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def test_quickstart_runs_as_written(tmp_path):
    """The first Python block of the quickstart, run as is from an empty folder (no file it does not make)."""
    code = re.search(r"```python\n(.*?)```", _section("Quickstart"), re.S).group(1)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("predicted ")


def test_setup_lines_work_without_pip_and_off_path():
    """.venv has no pip and is not on PATH: the README says how to reach clipzoo and installs with uv."""
    assert "source .venv/bin/activate" in README and ".venv/bin/clipzoo" in README
    bare_pip = [line for line in README.splitlines() if re.search(r"(?<!uv )\bpip install", line)]
    assert bare_pip == []


def test_one_spelling_of_the_packaged_tag():
    assert "sklearn-digits" not in README and "sklearn_digits" in README
    assert clipzoo.list_pretrained_tags_by_model("tiny-digits") == ["sklearn_digits"]


def test_functions_said_to_take_offline_take_it():
    """The offline paragraph names functions that really accept ``offline=``, and not the create functions."""
    paragraph = README[README.index("`HF_HUB_OFFLINE=1` with cached files") :].split("\n- ")[0]
    named = re.findall(r"`(download_pretrained\w*)`", paragraph)
    assert len(named) == 3
    for name in named:
        assert "offline" in inspect.signature(getattr(clipzoo, name)).parameters, name
    assert "offline" not in inspect.signature(clipzoo.create_model).parameters
