"""clipzoo.errors holds every error a caller catches: one category each, all of them top-level names too."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import clipzoo
from clipzoo import errors

SRC = Path(clipzoo.__file__).parent
CATEGORIES = (errors.UnknownNameError, errors.InputError, errors.NetworkError)
# Exceptions that never reach a caller: the CLI's own usage error, the hub's retry signal.
INTERNAL = {"CliError", "TransientError"}


def _errors() -> dict[str, type]:
    found = {n: v for n, v in vars(errors).items() if inspect.isclass(v) and issubclass(v, (Exception, Warning))}
    return {**found, "ImageTooLargeError": errors.ImageTooLargeError}  # made on first use (a PIL base)


def test_every_error_has_one_category():
    for name, cls in _errors().items():
        if issubclass(cls, Warning):
            continue
        found = [c.__name__ for c in CATEGORIES if issubclass(cls, c)]
        assert issubclass(cls, errors.ClipzooError) and len(found) <= 1, (name, found)


def test_every_error_is_a_top_level_name():
    for name, cls in _errors().items():
        assert name in clipzoo.__all__ and getattr(clipzoo, name) is cls, name


def test_no_error_class_is_defined_outside_errors():
    defined = []
    for path in SRC.rglob("*.py"):
        if path.name == "errors.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Warning")):
                defined.append(node.name)
    assert set(defined) <= INTERNAL, sorted(set(defined) - INTERNAL)


def test_errors_imports_no_third_party_module():
    code = "import sys, clipzoo.errors; print(sorted(m for m in ('torch', 'PIL', 'numpy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
