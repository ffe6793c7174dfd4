"""Every error names a real way forward: each CLI flag a message or help text names is one the parser has
(for the command it names), and the global flags work after the command too."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

from clipzoo.cli import build_parser, main

SRC = Path(__file__).resolve().parents[1] / "src" / "clipzoo"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _options() -> tuple[set[str], dict[str, set[str]]]:
    """The global options, and each command's own options (globals included)."""
    parser = build_parser()
    top = {o for action in parser._actions for o in action.option_strings}
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return top, {
        name: top | {o for action in command._actions for o in action.option_strings}
        for name, command in sub.choices.items()
    }


def _named_flags(text: str) -> list[tuple[str | None, str]]:
    """(command, flag) for each flag in ``text``: the command when it is inside a ``clipzoo COMMAND ...`` line,
    None elsewhere; flags inside a backquoted line of another program (`python ...`, `uv ...`) are not ours."""
    found = []
    for quoted in re.findall(r"`([^`]*)`", text):
        words = quoted.split()
        if words[:1] == ["clipzoo"]:
            found += [(words[1] if len(words) > 1 else None, f) for f in FLAG.findall(quoted)]
    rest = re.sub(r"`[^`]*`", " ", text)
    for command, line in re.findall(r"\bclipzoo ([a-z][a-z-]*)([^;()\n]*)", rest):
        found += [(command, f) for f in FLAG.findall(line)]
    rest = re.sub(r"\bclipzoo [a-z][a-z-]*[^;()\n]*", " ", rest)
    return found + [(None, f) for f in FLAG.findall(rest)]


def _source_strings() -> list[tuple[str, str]]:
    """Every string literal of the package; an f-string whole, its fields written as ``X``."""
    strings = []
    for path in sorted(SRC.rglob("*.py")):
        nodes = list(ast.walk(ast.parse(path.read_text(encoding="utf-8"))))
        parts = {id(v) for n in nodes if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in nodes:
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in parts:
                text = node.value
            else:
                continue
            strings.append((str(path.relative_to(SRC)), text))
    return strings


@pytest.mark.slow
def test_every_flag_named_in_the_source_exists_for_its_command():
    top, commands = _options()
    anywhere = set().union(*commands.values())
    wrong = []
    for where, text in _source_strings():
        for command, flag in _named_flags(text):
            known = commands.get(command, top) if command else anywhere
            if flag not in known:
                wrong.append(f"{where}: {flag!r} ({'clipzoo ' + command if command else 'any command'})")
    assert wrong == []


def test_the_walk_finds_a_flag_the_command_lacks():
    assert _named_flags("(int8: clipzoo export --onnx --quantize int8)") == [
        ("export", "--onnx"), ("export", "--quantize")
    ]  # fmt: skip
    assert _named_flags("see `uv pip install --python X`; or --json") == [(None, "--json")]


def _refusals(tmp_path: Path) -> dict[str, list[str]]:
    """Command lines refused before any model is built, each hint-bearing."""
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    return {
        "export": ["export", "ViT-B-32", "--to", str(tmp_path / "d")],
        "export-quantize": ["export", "tiny-digits", "sklearn_digits", "--to", str(tmp_path / "q"), "--quantize", "int8"],
        "export-existing": ["export", "tiny-digits", "sklearn_digits", "--to", str(tmp_path / "made")],
        "classify": ["classify", str(image), "--model", "ViT-B-32", "--labels", "a", "b"],
        "classify-both": ["classify", str(image), "--model", "ViT-B-32", "--onnx", str(tmp_path), "--labels", "a"],
        "classify-none": ["classify", str(image), "--labels", "a"],
        "caption": ["caption", str(image), "--model", "coca_ViT-B-32"],
        "pretrained": ["pretrained", "--top", "3"],
        "pretrained-metric": ["pretrained", "--metric", "imagenet1k"],
        "demo": ["demo", "--limit", "0"],
        "download": ["download", "ViT-B-32"],
    }  # fmt: skip


def test_every_refusal_names_flags_of_its_own_command(tmp_path, capsys):
    top, commands = _options()
    (tmp_path / "made").mkdir()
    (tmp_path / "made" / "clipzoo_export.json").write_text("{}")
    (tmp_path / "made" / "w").write_text("x")
    named = 0
    for case, argv in _refusals(tmp_path).items():
        assert main(argv) == 2, case
        message = capsys.readouterr().err
        flags = FLAG.findall(message)
        named += len(flags)
        for flag in flags:
            assert flag in commands[argv[0]], f"{case}: {message}"
    assert named >= 10


def test_export_says_the_tag_is_positional(tmp_path, capsys):
    assert main(["export", "ViT-B-32", "--to", str(tmp_path / "d")]) == 2
    assert capsys.readouterr().err.strip() == (
        "clipzoo: error: ViT-B-32: no pretrained weights given; pass a pretrained TAG after the model name "
        "(`clipzoo export ViT-B-32 TAG --to DIR`) or a weights file (see `clipzoo pretrained ViT-B-32`), or "
        "--random-weights to use random weights"
    )


@pytest.mark.parametrize("where", ["before", "after"])
def test_global_flags_after_the_command(capsys, where):
    argv = ["models", "no-such-arch*"]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.strip().splitlines()[-1].startswith("clipzoo: error: no architecture")
    with pytest.raises(SystemExit) as info:
        main(["classify", "--version"])
    assert info.value.code == 0 and capsys.readouterr().out.startswith("clipzoo ")
    assert build_parser().parse_args(["models"]).debug is False
