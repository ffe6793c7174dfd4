"""`clipzoo embed` on the command line: status 2 before any work, the summary line, --json."""

from __future__ import annotations

import json

import pytest

from clipzoo.cli import main
from tests.helpers.corpus import MODEL, digit_folder

MODEL_ARGS = ["--model", MODEL["model"], "--pretrained", MODEL["pretrained"]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return digit_folder(tmp_path_factory.mktemp("cli") / "digits", 10)


def test_embed_prints_a_summary_and_lists_skipped_files(corpus, tmp_path, capsys):
    assert main(["embed", str(corpus), *MODEL_ARGS, "--out", str(tmp_path / "out"), "--part-size", "8"]) == 0
    captured = capsys.readouterr()
    assert "10 of 14 items embedded in 2 parts (2 written now), 4 skipped" in captured.out
    assert "skipped " in captured.err and "empty.png" in captured.err
    assert "part 2/2 written" in captured.err  # no terminal: one log line per part


def test_embed_json_summary(corpus, tmp_path, capsys):
    assert (
        main(
            [
                "embed",
                str(corpus),
                *MODEL_ARGS,
                "--out",
                str(tmp_path / "out"),
                "--json",
                "--dtype",
                "float32",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["embedded"] == 10 and summary["failed"] == 4 and len(summary["failures"]) == 4


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope/", *MODEL_ARGS], "source 'nope/' does not exist"),
        (["{corpus}", "--model", "tiny-digits"], "--random-weights"),
        (["{corpus}", "--model", "tiny-digitz", "--random-weights"], "tiny-digits"),
        (["{corpus}", *MODEL_ARGS, "--precision", "fp8"], "unknown precision 'fp8'"),
        (["{corpus}", *MODEL_ARGS, "--engine", "spark"], "unknown engine 'spark'"),
        (["{corpus}", *MODEL_ARGS, "--part-size", "0"], "part_size must be a positive integer"),
    ],
)
def test_bad_input_is_status_2_before_any_work(corpus, tmp_path, capsys, args, message):
    args = [a.format(corpus=corpus) for a in args]
    assert main(["embed", *args, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_foreign_out_is_status_2(corpus, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["embed", str(corpus), *MODEL_ARGS, "--out", str(tmp_path), "--overwrite"]) == 2
    assert "clipzoo did not write it" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
