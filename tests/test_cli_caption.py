"""`clipzoo caption` on the command line: JSON and table output, the same captions as generate(), bad images,
models that cannot caption, --generation-type choices, --seq-len."""

from __future__ import annotations

import json

import pytest

from clipzoo.models import generation
from clipzoo.models.generation import decode_captions, generate
from tests.helpers.checkpoints import seeded_checkpoint
from tests.helpers.images import solid_png

# The tiny models' ops are too small to split across threads (conftest's single_thread).
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def caption_files(coca_names, tmp_path):
    """Weights of the CLIP-vocabulary tiny CoCa in a safetensors file, and two small PNG images."""
    _, weights = seeded_checkpoint("tiny-coca-clipvocab", tmp_path / "tiny-coca.safetensors")
    paths = [solid_png(tmp_path / f"img{i}.png", (40, 30), color) for i, color in enumerate(["red", "navy"])]
    return str(weights), [str(p) for p in paths]


def test_caption_cli_prints_json_and_a_table(caption_files, capsys):
    from clipzoo.cli import main

    weights, paths = caption_files
    base = ["caption", *paths, "--model", "tiny-coca-clipvocab", "--pretrained", weights, "--seq-len", "8"]
    assert main([*base, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [p["image"] for p in payload] == paths
    assert all(isinstance(p["caption"], str) and p["caption"] for p in payload)
    assert main([*base, "--generation-type", "top_k", "--batch-size", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["IMAGE", "CAPTION"] and [ln.split()[0] for ln in lines[1:]] == paths


@pytest.mark.slow
def test_caption_cli_matches_generate_and_decode(caption_files, capsys):
    from PIL import Image

    from clipzoo import create_model_and_transforms
    from clipzoo.cli import main
    from clipzoo.tokenizers.bpe import SimpleTokenizer

    weights, paths = caption_files
    assert (
        main(["caption", paths[0], "--model", "tiny-coca-clipvocab", "--pretrained", weights, "--json"]) == 0
    )
    caption = json.loads(capsys.readouterr().out)[0]["caption"]
    model, _, preprocess = create_model_and_transforms("tiny-coca-clipvocab", pretrained=weights)
    out = generate(model, preprocess(Image.open(paths[0]).convert("RGB"))[None])
    assert caption == decode_captions(out, SimpleTokenizer())[0]


@pytest.mark.parametrize("problem", ["missing", "not_an_image"])
def test_caption_cli_names_an_unreadable_image(caption_files, tmp_path, capsys, problem):
    from clipzoo.cli import main

    weights, paths = caption_files
    bad = tmp_path / "bad.png"
    if problem == "not_an_image":
        bad.write_text("hello")
    status = main(["caption", paths[0], str(bad), "--model", "tiny-coca-clipvocab", "--pretrained", weights])
    err = capsys.readouterr().err
    assert status == 2 and str(bad) in err and err.startswith("clipzoo: error:")


def test_caption_cli_rejects_a_model_that_cannot_caption(caption_files, capsys):
    from clipzoo.cli import main

    _, paths = caption_files
    assert main(["caption", paths[0], "--model", "tiny-vit", "--random-weights"]) == 2
    err = capsys.readouterr().err
    assert "cannot generate captions" in err and "tiny-coca-gen" in err


def test_cli_choices_match_the_generation_types():
    from clipzoo.cli.caption import GENERATION_TYPE_NAMES

    assert GENERATION_TYPE_NAMES == generation.GENERATION_TYPES


def test_caption_cli_reports_a_too_short_seq_len(caption_files, capsys):
    from clipzoo.cli import main

    weights, paths = caption_files
    argv = ["caption", paths[0], "--model", "tiny-coca-clipvocab", "--pretrained", weights, "--seq-len", "3"]
    assert main(argv) == 2
    assert "seq_len (3) must be larger than min_seq_len (5)" in capsys.readouterr().err
