"""The typed public API: ``py.typed`` ships, the ``TYPE_CHECKING`` imports of ``clipzoo/__init__.py`` equal its
lazy ``_EXPORTS`` table, and the type checker of ``make lint`` (mypy) checks a user program whose public calls have real
types (tests/typing_user_program.py, asserted with ``assert_type``)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

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


USER_PROGRAM = ROOT / "tests" / "typing_user_program.py"
PUBLIC_CALLS = (
    "create_model_and_transforms",
    "create_model",
    "get_tokenizer",
    "encode_image",
    "list_pretrained",
)


def test_the_lint_type_checks_a_user_program_with_assert_type():
    """mypy in `make lint` checks tests/typing_user_program.py (it shares the lint's load of torch's annotations,
    ~15 s of CPU when run on its own): each public call there sits in an ``assert_type``, which fails on ``Any``."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'files = ["src/clipzoo", "tests/typing_user_program.py"]' in pyproject
    assert "warn_unused_ignores = true" in pyproject
    text = USER_PROGRAM.read_text()
    asserted = [
        ast.unparse(node.args[1])
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "assert_type"
    ]
    assert len(asserted) >= len(PUBLIC_CALLS) and "Any" not in asserted, asserted
    assert all(f"{call}(" in text for call in PUBLIC_CALLS)
