"""The registry commands of the ``clipzoo`` CLI: output, --json and exit codes."""

import json
import subprocess
import sys

import pytest

from clipzoo.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_models_glob(capsys):
    status, out, _ = run(capsys, "models", "vit-b-32*")
    assert status == 0
    assert out.split()[::2] == [
        "ViT-B-32",
        "ViT-B-32-256",
        "ViT-B-32-plus-256",
        "ViT-B-32-quickgelu",
        "ViT-B-32-SigLIP2-256",
    ]
    assert set(out.split()[1::2]) == {"image-text"}


def test_models_modality_column_and_filter(capsys):
    status, out, _ = run(capsys, "models", "CLAP-*")
    rows = [line.split() for line in out.splitlines()]
    assert status == 0 and len(rows) == 9 and {row[1] for row in rows} == {"audio-text"}
    status, out, _ = run(capsys, "models", "--modality", "image-text", "--json")
    assert status == 0 and "ViT-B-32" in json.loads(out) and not any("CLAP" in n for n in json.loads(out))


def test_models_json(capsys):
    status, out, _ = run(capsys, "models", "--json")
    names = json.loads(out)
    assert status == 0 and "RN50" in names and len(names) >= 144


def test_pretrained_all_and_filtered(capsys):
    status, out, _ = run(capsys, "pretrained", "--json")
    assert status == 0 and len(json.loads(out)) >= 196
    status, out, _ = run(capsys, "pretrained", "ViT-B-32", "--tag", "LAION-400M-E32")
    assert status == 0 and out.split() == ["ViT-B-32", "laion400m_e32", "image-text"]
    status, out, _ = run(capsys, "pretrained", "--tag", "OPENAI", "--json")
    assert {"model": "RN50", "tag": "openai", "modality": "image-text"} in json.loads(out)


def test_info(capsys):
    status, out, _ = run(capsys, "info", "ViT-B-32", "laion2b-s34b-b79k", "--json", "--no-params")
    data = json.loads(out)
    assert status == 0
    assert data["config"]["embed_dim"] == 512
    assert data["tag"] == "laion2b_s34b_b79k"
    assert data["pretrained_cfg"]["hf_hub"] == "laion/CLIP-ViT-B-32-laion2B-s34B-b79K/"
    status, out, _ = run(capsys, "info", "RN50", "--no-params")
    assert status == 0 and "pretrained tags: openai, yfcc15m, cc12m" in out


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["info", "ViT-B-33"], "unknown model 'ViT-B-33'; did you mean 'ViT-B-32'"),
        (["pretrained", "ViT-B-33"], "unknown model 'ViT-B-33'; did you mean 'ViT-B-32'"),
        (
            ["info", "ViT-B-32", "laion2b"],
            "unknown pretrained tag 'laion2b' for ViT-B-32; known tags: laion2b_e16",
        ),
        (["pretrained", "ViT-B-32", "--tag", "webli"], "unknown pretrained tag 'webli' for ViT-B-32"),
        (["pretrained", "--tag", "nonexistent"], "no model has pretrained tag 'nonexistent'"),
    ],
)
def test_unknown_names_exit_2_with_one_line(capsys, argv, needle):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and needle in err


def test_console_entry_points():
    for cmd in (
        [sys.executable, "-m", "clipzoo"],
        [str(__import__("pathlib").Path(sys.executable).parent / "clipzoo")],
    ):
        proc = subprocess.run([*cmd, "pretrained", "RN50"], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split() == ["RN50", "openai", "image-text", "RN50", "yfcc15m", "image-text", "RN50", "cc12m", "image-text"]
    proc = subprocess.run([sys.executable, "-m", "clipzoo", "info", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("clipzoo: error: unknown model 'nope'")


def test_usage_error_exits_2():
    proc = subprocess.run([sys.executable, "-m", "clipzoo", "bogus"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_every_command_is_wired():
    from clipzoo.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == {
        "models",
        "pretrained",
        "info",
        "download",
        "cache",
        "export",
        "classify",
        "caption",
        "demo",
        "run",
        "embed",
        "search",
    }


def test_pretrained_takes_a_glob_without_sort(capsys):
    status, out, _ = run(capsys, "pretrained", "ViT-B-3*", "--json")
    models = {row["model"] for row in json.loads(out)}
    assert status == 0 and "ViT-B-32" in models and all(m.lower().startswith("vit-b-3") for m in models)


@pytest.mark.parametrize(
    "argv",
    [("models", "SigLIP"), ("pretrained", "SigLIP*"), ("pretrained", "nothing*", "--sort", "imagenet1k")],
)
def test_a_glob_that_matches_nothing_says_so(capsys, argv):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert "no architecture matches" in err and "whole names" in err and "'*" in err


def test_ranking_counts_and_lists_missing_pairs_within_the_glob(capsys):
    from clipzoo.registry import tags as pretrained
    from clipzoo.registry.results import get_pretrained_results

    expected = [
        {"model": m, "tag": t}
        for m, t in pretrained.list_pretrained()
        if m == "ViT-L-14" and "imagenet1k" not in get_pretrained_results(m, t)
    ]
    status, out, _ = run(capsys, "pretrained", "ViT-L-14", "--sort", "imagenet1k", "--json")
    data = json.loads(out)
    assert status == 0 and data["missing"] == len(expected) and data["missing_pairs"] == expected
    assert 0 < len(expected) < 10
    status, out, _ = run(capsys, "pretrained", "ViT-L-14", "--sort", "imagenet1k", "--show-missing")
    assert f"({len(expected)} pairs have no published imagenet1k result)" in out
    assert all(f"ViT-L-14  {row['tag']}" in out for row in expected)
    assert run(capsys, "pretrained", "--show-missing")[0] == 2  # only with --sort/--plot
