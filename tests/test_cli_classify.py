"""`clipzoo classify`: JSON and table output, template files, bad inputs refused before the model loads (with
stand-ins for the factory); on the ONNX runtime and on the torch model; a damaged ONNX graph; --skip-bad;
sound files (CLAP)."""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import pytest

from clipzoo.cli import main
from clipzoo.cli.classify import add_parsers as add_classify_parsers
from clipzoo.cli.classify import cmd_classify as run_classify
from clipzoo.errors import InputError
from clipzoo.onnx import OnnxInputError, OnnxModel
from clipzoo.zero_shot.classifier import OPENAI_IMAGENET_TEMPLATES
from tests.helpers.audio import RATE, tone
from tests.helpers.zero_shot import LABELS, RecordingTokenizer, TinyModel, to_tensor, write_images


@pytest.fixture
def fake_factory(monkeypatch):
    """Stand-ins for clipzoo.factory.create and .tokenizer (model and tokenizer), recording how they were called."""
    calls: dict = {}

    def create_model_and_transforms(model_name, pretrained=None, device="cpu"):
        calls["create"] = (model_name, pretrained, device)
        model = TinyModel(logit_bias=-1.0 if model_name.startswith("sig") else None)
        return model, None, to_tensor

    def get_tokenizer(model_name):
        calls["tokenizer"] = model_name
        return calls.setdefault("tok", RecordingTokenizer())

    monkeypatch.setitem(
        sys.modules, "clipzoo.factory.create", types.SimpleNamespace(create_model_and_transforms=create_model_and_transforms)
    )
    monkeypatch.setitem(sys.modules, "clipzoo.factory.tokenizer", types.SimpleNamespace(get_tokenizer=get_tokenizer))
    # The fake names are not in the registry: the weights check before loading is tested in test_cli_errors.py.
    monkeypatch.setattr("clipzoo.cli.classify.require_weights", lambda *args, **kwargs: None)
    return calls


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_classify_parsers(parser.add_subparsers(dest="command"))
    return parser.parse_args(["classify", *argv])


def test_cli_json_output(tmp_path, capsys, fake_factory) -> None:
    paths = write_images(tmp_path)
    args = parse([*paths, "--model", "M", "--pretrained", "T", "--labels", *LABELS, "--top-k", "3", "--json"])
    assert args.func(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert fake_factory["create"] == ("M", "T", "cpu") and fake_factory["tokenizer"] == "M"
    assert [entry["image"] for entry in payload] == paths
    assert all(entry["activation"] == "softmax" and len(entry["predictions"]) == 3 for entry in payload)
    assert len(fake_factory["tok"].prompts) == len(OPENAI_IMAGENET_TEMPLATES) * len(LABELS)


def test_cli_table_and_templates_file(tmp_path, capsys, fake_factory) -> None:
    paths = write_images(tmp_path)[:1]
    templates = tmp_path / "prompts.txt"
    templates.write_text("# my prompts\na {} photo\n\nart of {}\n", encoding="utf-8")
    args = parse(
        [
            *paths,
            "--model",
            "sig",
            "--labels",
            "cat",
            "dog",
            "--templates",
            str(templates),
            "--random-weights",
        ]
    )
    assert run_classify(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["image", "rank", "label", "sigmoid"]
    assert len(lines) == 3 and lines[1].startswith(paths[0])
    assert fake_factory["tok"].prompts == ["a cat photo", "art of cat", "a dog photo", "art of dog"]


def test_cli_reports_bad_inputs_before_loading_the_model(tmp_path, fake_factory) -> None:
    good = write_images(tmp_path)[0]
    for argv, message in [
        ([good, str(tmp_path / "nope.png"), "--labels", "a"], "nope.png"),
        ([good, "--labels", "a", "a"], "duplicate labels"),
        ([good, "--labels", "a", "--templates", "opnai"], "neither a template set"),
    ]:
        with pytest.raises(InputError, match=message):  # images: the loader's error; labels, templates: ours
            run_classify(parse([*argv, "--model", "M"]))
    assert "create" not in fake_factory


@pytest.mark.slow
def test_cli_classify_runs_on_the_onnx_runtime(digits_int8, digit_pngs, capsys):
    paths, labels = digit_pngs
    from clipzoo.demo.digits import DIGIT_CLASSNAMES

    argv = [
        "classify",
        *map(str, paths),
        "--labels",
        *DIGIT_CLASSNAMES,
        "--templates",
        "simple",
        "--top-k",
        "1",
    ]
    assert main([*argv, "--onnx", str(digits_int8), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [row["activation"] for row in payload] == ["softmax"] * 3
    assert main([*argv, "--model", f"local-dir:{digits_int8}"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[-1] == "softmax" and str(paths[0]) in table
    assert main(["classify", str(paths[0]), "--labels", "a", "b"]) == 2  # neither --model nor --onnx


@pytest.mark.parametrize(
    ("line", "message"),
    [("a photo of a digit", "found 0"), ("a {} next to a {}", "found 2"), ("a {name}", "slot '{name}'")],
)
@pytest.mark.slow
def test_cli_template_lines_get_one_check_on_both_paths(
    digits_int8, digit_pngs, tmp_path, capsys, line, message
):
    """A template file line without exactly one '{}': the same message and status 2 on --onnx and --model."""
    from clipzoo.demo.digits import DIGIT_CLASSNAMES

    prompts = tmp_path / "prompts.txt"
    prompts.write_text(f"a photo of the digit {{}}.\n{line}\n")
    argv = ["classify", str(digit_pngs[0][0]), "--labels", *DIGIT_CLASSNAMES, "--templates", str(prompts)]
    errors = []
    for backend in (
        ["--onnx", str(digits_int8)],
        ["--model", "tiny-digits", "--pretrained", "sklearn-digits"],
    ):
        assert main([*argv, *backend]) == 2
        errors.append(capsys.readouterr().err)
    assert errors[0] == errors[1]
    assert f"template 2 {line!r}" in errors[0] and message in errors[0]
    with pytest.raises(OnnxInputError, match="found 2"):
        OnnxModel(digits_int8).zero_shot_classifier(["a"], ["{} {}"])


@pytest.mark.slow
def test_corrupt_graph_file_is_status_2(tmp_path, digits_int8, digit_pngs, capsys):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(digits_int8, folder)
    (folder / "image_encoder.onnx").write_bytes(b"\x08\x07 not a protobuf" * 10)
    argv = ["classify", str(digit_pngs[0][0]), "--onnx", str(folder), "--labels", "zero", "one"]
    assert main(argv) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"clipzoo: error: {folder / 'image_encoder.onnx'}: onnxruntime cannot load this image graph (")
    assert line.endswith("the file is damaged or not an ONNX model: export the folder again")


@pytest.mark.slow
def test_cli_classify_skip_bad_reports_and_classifies_the_rest(digits_int8, digit_pngs, tmp_path, capsys):
    """One unreadable image: by default status 2 and no results; --skip-bad names it and classifies the rest."""
    from clipzoo.demo.digits import DIGIT_CLASSNAMES

    good = [str(p) for p in digit_pngs[0]]
    broken = tmp_path / "broken.png"
    broken.write_bytes(Path(good[0]).read_bytes()[:60])  # a PNG header, then nothing: fails when decoded
    argv = [
        "classify",
        good[0],
        str(broken),
        good[1],
        "--labels",
        *DIGIT_CLASSNAMES,
        "--top-k",
        "1",
        "--json",
    ]
    for backend in (
        ["--onnx", str(digits_int8)],
        ["--model", "tiny-digits", "--pretrained", "sklearn-digits"],
    ):
        capsys.readouterr()
        assert main([*argv[:-1], *backend]) == 2  # default: fail (before the model loads), no results
        assert capsys.readouterr().out == ""
        assert main([*argv, *backend, "--skip-bad"]) == 2
        out, err = capsys.readouterr()
        assert [row["image"] for row in json.loads(out)] == [good[0], good[1]]
        assert f"skipped {broken}" in err
        assert main(["classify", *good, "--labels", "a", "b", *backend, "--skip-bad"]) == 0


def test_cli_classifies_sound_files_and_refuses_bad_audio(tiny_clap, tmp_path, capsys):
    import soundfile

    from clipzoo.cli import main

    sound = tmp_path / "sound.wav"
    soundfile.write(sound, tone(1.0), RATE)
    argv = ["classify", str(sound), "--model", "tiny-clap", "--random-weights", "--labels", "dog", "rain", "siren"]
    assert main([*argv, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and {p["label"] for p in rows[0]["predictions"]} == {"dog", "rain", "siren"}
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    assert main(["classify", str(tmp_path / "bad.wav"), *argv[2:]]) == 2
    assert "not a readable audio file" in capsys.readouterr().err
