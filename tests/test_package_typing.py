"""The typed public API: ``py.typed`` ships, the ``TYPE_CHECKING`` imports of ``clipzoo/__init__.py`` equal its
lazy ``_EXPORTS`` table, and a type checker (mypy, as ``make lint`` runs it) sees real types in a user program."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INIT = ROOT / "src" / "clipzoo" / "__init__.py"
MYPY_CACHE = ROOT / ".cache" / "mypy"


def _lazy_table(tree: ast.Module) -> dict[str, str]:
    """``_EXPORTS``: public name -> module, read from the source (the table is a literal)."""
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == "_EXPORTS":
            return ast.literal_eval(node.value)
    raise AssertionError("clipzoo/__init__.py has no _EXPORTS table")


def _type_checking_imports(tree: ast.Module) -> dict[str, str]:
    """The names the ``if TYPE_CHECKING:`` block imports (``name as name``) -> their module."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.level == 1, ast.unparse(stmt)
                for alias in stmt.names:
                    assert alias.asname == alias.name, f"{alias.name}: import it as itself (a re-export)"
                    found[alias.name] = stmt.module or ""
    return found


def _block(table: dict[str, str]) -> str:
    by_module: dict[str, list[str]] = defaultdict(list)
    for name, module in table.items():
        by_module[module].append(name)
    lines = [f"    from .{m} import {n} as {n}" for m in sorted(by_module) for n in sorted(by_module[m])]
    return "if TYPE_CHECKING:\n" + "\n".join(lines)


def test_type_checking_block_equals_the_lazy_table():
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    table = _lazy_table(tree)
    assert _type_checking_imports(tree) == table, (
        "clipzoo/__init__.py: the TYPE_CHECKING imports differ from _EXPORTS; paste this block (then `make format`):\n"
        + _block(table)
    )


def test_py_typed_marks_the_package():
    assert (ROOT / "src" / "clipzoo" / "py.typed").is_file()


USER_PROGRAM = """
from PIL.Image import Image
import clipzoo

image: Image
model, _, preprocess = clipzoo.create_model_and_transforms("ViT-B-32", pretrained="openai")
tokenizer = clipzoo.get_tokenizer("ViT-B-32")
features = model.encode_image(preprocess(image))
tags = clipzoo.list_pretrained()
reveal_type(clipzoo.create_model_and_transforms)
reveal_type(model)
reveal_type(preprocess)
reveal_type(tokenizer)
reveal_type(features)
reveal_type(tags)
"""


def _revealed(tmp_path: Path) -> dict[str, str]:
    """mypy (the lint's checker and config) on USER_PROGRAM: the revealed type of each ``reveal_type`` argument."""
    program = tmp_path / "user.py"
    program.write_text(USER_PROGRAM)
    proc = subprocess.run(
        # the lint's options and cache (the Makefile's MYPY_CACHE): after `make lint` only the program is checked
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(MYPY_CACHE),
         "--no-error-summary", str(program)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert "error:" not in proc.stdout, proc.stdout + proc.stderr
    lines = USER_PROGRAM.splitlines()
    found = re.findall(r"user\.py:(\d+): note: Revealed type is \"(.*)\"", proc.stdout)
    return {lines[int(n) - 1][len("reveal_type(") : -1]: revealed for n, revealed in found}


@pytest.mark.slow  # a cold mypy cache (no `make lint` before): torch's annotations, 1-2 minutes of CPU
def test_a_user_program_type_checks_with_real_types(tmp_path):
    types = _revealed(tmp_path)
    assert len(types) == 6, types
    create = types["clipzoo.create_model_and_transforms"]
    assert create.startswith("def (model_name: builtins.str, pretrained: builtins.str | None =") and (
        "-> tuple[clipzoo.models.clip.CLIP | clipzoo.models.clip.CustomTextCLIP | clipzoo.models.coca.CoCa," in create
    ), create
    assert types["model"] == "clipzoo.models.clip.CLIP | clipzoo.models.clip.CustomTextCLIP | clipzoo.models.coca.CoCa"
    assert types["preprocess"].startswith("def ")  # the transform (train and eval transforms take any image)
    assert types["tokenizer"] == (
        "clipzoo.tokenizers.bpe.SimpleTokenizer | clipzoo.tokenizers.sentencepiece.SigLipTokenizer | "
        "clipzoo.tokenizers.hf.HFTokenizer"
    ), types["tokenizer"]
    assert types["features"] == "torch._tensor.Tensor"
    assert types["tags"] == "builtins.list[tuple[builtins.str, builtins.str]]"
