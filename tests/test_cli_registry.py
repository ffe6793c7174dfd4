"""The registry listing commands of the ``clipzoo`` CLI (``models``, ``pretrained`` with --sort and --plot): output,
--json and exit codes; that every command is wired. (``info``: test_cli_info.py.)"""

import json
import subprocess
import sys

import pytest

import clipzoo
from clipzoo.cli import main
from tests.helpers.cli import run_main


def test_models_glob(capsys):
    status, out, _ = run_main(capsys, "models", "vit-b-32*")
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
    status, out, _ = run_main(capsys, "models", "CLAP-*")
    rows = [line.split() for line in out.splitlines()]
    assert status == 0 and len(rows) == 9 and {row[1] for row in rows} == {"audio-text"}
    status, out, _ = run_main(capsys, "models", "--modality", "image-text", "--json")
    assert status == 0 and "ViT-B-32" in json.loads(out) and not any("CLAP" in n for n in json.loads(out))


def test_models_json(capsys):
    status, out, _ = run_main(capsys, "models", "--json")
    names = json.loads(out)
    assert status == 0 and "RN50" in names and len(names) >= 144


def test_pretrained_all_and_filtered(capsys):
    status, out, _ = run_main(capsys, "pretrained", "--json")
    assert status == 0 and len(json.loads(out)) >= 196
    status, out, _ = run_main(capsys, "pretrained", "ViT-B-32", "--tag", "LAION-400M-E32")
    assert status == 0 and out.split() == ["ViT-B-32", "laion400m_e32", "image-text"]
    status, out, _ = run_main(capsys, "pretrained", "--tag", "OPENAI", "--json")
    assert {"model": "RN50", "tag": "openai", "modality": "image-text"} in json.loads(out)


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
    status, out, err = run_main(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and needle in err


@pytest.mark.slow
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
    status, out, _ = run_main(capsys, "pretrained", "ViT-B-3*", "--json")
    models = {row["model"] for row in json.loads(out)}
    assert status == 0 and "ViT-B-32" in models and all(m.lower().startswith("vit-b-3") for m in models)


@pytest.mark.parametrize(
    "argv",
    [("models", "SigLIP"), ("pretrained", "SigLIP*"), ("pretrained", "nothing*", "--sort", "imagenet1k")],
)
def test_a_glob_that_matches_nothing_says_so(capsys, argv):
    status, out, err = run_main(capsys, *argv)
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
    status, out, _ = run_main(capsys, "pretrained", "ViT-L-14", "--sort", "imagenet1k", "--json")
    data = json.loads(out)
    assert status == 0 and data["missing"] == len(expected) and data["missing_pairs"] == expected
    assert 0 < len(expected) < 10
    status, out, _ = run_main(capsys, "pretrained", "ViT-L-14", "--sort", "imagenet1k", "--show-missing")
    assert f"({len(expected)} pairs have no published imagenet1k result)" in out
    assert all(f"ViT-L-14  {row['tag']}" in out for row in expected)
    assert run_main(capsys, "pretrained", "--show-missing")[0] == 2  # only with --sort/--plot


def test_cli_sort_table_and_json(capsys):
    assert main(["pretrained", "--sort", "imagenet1k", "--max-gflops", "20", "--top", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    top = clipzoo.rank_pretrained(max_gflops=20, top=5)
    assert len(lines) == 1 + 5 + 1 and "imagenet1k" in lines[0] and "GFLOPs" in lines[0]
    assert [line.split()[1:3] for line in lines[1:6]] == [[r.model, r.tag] for r in top]
    assert f"{top.missing} pairs have no published imagenet1k result" in lines[-1]

    assert main(["pretrained", "ViT-B-*", "--sort", "average", "--max-params", "160", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["metric"] == "average" and data["missing"] > 0
    assert data["results"] and all(
        r["model"].startswith("ViT-B-") and r["params_m"] <= 160 for r in data["results"]
    )


def test_cli_usage_errors(capsys):
    assert main(["pretrained", "--sort", "imagenet"]) == 2
    assert "did you mean 'imagenet" in capsys.readouterr().err
    assert main(["pretrained", "--top", "3"]) == 2
    assert "--top only apply with --sort" in capsys.readouterr().err
    assert main(["pretrained", "ViT-Q-32", "--sort", "imagenet1k"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main(["pretrained", "--sort", "imagenet1k", "--metric", "average"]) == 2
    assert "--metric chooses what --plot draws" in capsys.readouterr().err
    assert main(["pretrained", "--plot", "x.png", "--top", "3"]) == 2
    assert "--top applies to --sort" in capsys.readouterr().err
    assert main(["pretrained", "--sort", "imagenet1k", "--tag", "openai"]) == 2
    assert "not --tag" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_plot(tmp_path, capsys):
    out = tmp_path / "avg.png"
    assert main(["pretrained", "--plot", str(out), "--metric", "average", "--max-gflops", "100"]) == 0
    assert out.stat().st_size > 10_000
    assert f"wrote {out}" in capsys.readouterr().out
