"""``clipzoo demo``: run end to end on stand-in weights registered by fixtures (no training, no network)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

import clipzoo
from clipzoo.cli import build_parser, main
from clipzoo.demo import digits
from clipzoo.demo import tour as demo
from tests.helpers.checkpoints import save_weights

HELDOUT = 60  # synthetic held-out digits; the first half is labelled as the model predicts, the rest not
ACCURACY_LINE = re.compile(r"^held-out zero-shot accuracy: (\d+\.\d)% \((\d+)/(\d+)\) in \d+\.\d\d s$", re.M)
SUMMARY_KEYS = {
    "model", "pretrained", "weights", "heldout", "registry", "parameters", "import_seconds", "build_seconds",
    "classify_seconds", "accuracy", "correct", "total", "png", "predictions",
}  # fmt: skip


def _oracle_predictions(model, preprocess, images: np.ndarray) -> tuple[np.ndarray, float]:
    """Zero-shot predictions computed here without clipzoo.zero_shot.classifier, and the smallest top-1/top-2 gap."""
    import torch
    import torch.nn.functional as F

    tokenizer = clipzoo.get_tokenizer("tiny-digits")
    with torch.no_grad():
        classes = []
        for label in range(10):
            prompts = [digits.render_prompt(t, label) for t in digits.DIGIT_TEMPLATES]
            classes.append(F.normalize(model.encode_text(tokenizer(prompts)), dim=-1).mean(dim=0))
        classifier = F.normalize(torch.stack(classes), dim=-1)
        pixels = torch.stack([preprocess(digits.digit_image(img)) for img in images])
        scores = F.normalize(model.encode_image(pixels), dim=-1) @ classifier.T
    top2 = scores.topk(2, dim=-1).values
    return scores.argmax(dim=-1).numpy(), float((top2[:, 0] - top2[:, 1]).min())


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """Random-init tiny-digits weights and synthetic held-out digits, expected accuracy exactly 50%."""
    import torch

    folder = tmp_path_factory.mktemp("tiny_digits")
    torch.manual_seed(0)
    model, _, preprocess = clipzoo.create_model_and_transforms("tiny-digits")
    model.eval()
    images = np.random.default_rng(0).integers(0, 17, (HELDOUT, 8, 8)).astype(np.uint8)
    preds, margin = _oracle_predictions(model, preprocess, images)
    assert margin > 1e-5, f"stand-in predictions too close to a tie to compare ({margin})"
    labels = np.where(np.arange(HELDOUT) < HELDOUT // 2, preds, (preds + 1) % 10).astype(np.uint8)
    save_weights(model, folder / "weights.safetensors")
    np.savez_compressed(folder / "heldout.npz", images=images, labels=labels)
    return folder


def _register(monkeypatch, weights, heldout) -> None:
    entry = {"file": str(weights), "mean": clipzoo.OPENAI_DATASET_MEAN, "std": clipzoo.OPENAI_DATASET_STD}
    clipzoo.add_pretrained_cfg(digits.MODEL_NAME, digits.TAG, entry)
    monkeypatch.setattr(digits, "HELDOUT_FILE", heldout)


@pytest.fixture
def embedded(standin, fresh_tags, monkeypatch):
    """The stand-in registered as the packaged tiny-digits / sklearn_digits weights and held-out digits."""
    _register(monkeypatch, standin / "weights.safetensors", standin / "heldout.npz")
    return standin


def _run_json(capsys, *argv: str) -> dict:
    assert main(["demo", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)  # the whole stdout is one JSON document


def test_cli_parser_wires_demo():
    args = build_parser().parse_args(["demo", "--out", "x.png", "--limit", "7", "--device", "cpu", "--json"])
    assert args.func.__name__ == "cmd_demo"
    assert (args.out, args.limit, args.device, args.json) == ("x.png", 7, "cpu", True)
    defaults = build_parser().parse_args(["demo"])
    assert (defaults.out, defaults.limit, defaults.json) == ("clipzoo-demo.png", None, False)


def test_text_run_reports_accuracy_and_writes_png(embedded, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["demo", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    match = ACCURACY_LINE.search(text)
    assert match, text
    assert match.groups() == ("50.0", str(HELDOUT // 2), str(HELDOUT))
    assert f"registry: {len(clipzoo.list_models())} architectures, {len(clipzoo.list_pretrained())} " in text
    assert "get_pretrained_cfg('ViT-B-32', 'LAION-400M-E32') finds 'laion400m_e32'" in text
    assert re.search(r"^model: tiny-digits / sklearn_digits, [\d,]+ parameters", text, re.M)
    assert re.search(r"^  #0 +\d -> \d  [01]\.\d\d  (ok|WRONG)$", text, re.M)
    assert text.rstrip().endswith(f"wrote 48 digits to {out}")
    with Image.open(out) as img:
        img.verify()
    with Image.open(out) as img:
        assert (img.format, img.mode, img.size) == ("PNG", "RGB", (608, 592))
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temporary file left behind


def test_json_summary_matches_oracle_and_png_marks_mistakes_in_red(embedded, tmp_path, capsys):
    summary = _run_json(capsys, "--out", str(tmp_path / "g.png"))
    assert set(summary) == SUMMARY_KEYS
    assert (summary["correct"], summary["total"], summary["accuracy"]) == (HELDOUT // 2, HELDOUT, 0.5)
    preds = summary["predictions"]
    labels = np.load(embedded / "heldout.npz")["labels"].tolist()
    assert [p["true"] for p in preds] == labels
    # The first half was labelled with the oracle's predictions, the second half with something else.
    assert all((p["true"] == p["pred"]) == (p["index"] < HELDOUT // 2) for p in preds)
    assert all(0.0 < p["prob"] <= 1.0 for p in preds)
    assert summary["registry"]["architectures"] == len(clipzoo.list_models())
    with Image.open(summary["png"]) as img:
        for p in preds[: demo.GRID_ROWS * demo.GRID_COLS]:
            left, top, _, bottom = demo.cell_box(p["index"])
            frame = img.getpixel((left - 2, (top + bottom) // 2))
            assert (frame == demo.MISTAKE) == (p["true"] != p["pred"]), p


def test_limit_classifies_only_the_first_digits(embedded, tmp_path, capsys):
    summary = _run_json(capsys, "--limit", "5", "--out", str(tmp_path / "small.png"))
    assert summary["total"] == len(summary["predictions"]) == 5
    assert summary["correct"] == 5  # the first half of the stand-in digits are labelled as predicted
    with Image.open(summary["png"]) as img:
        assert img.size == demo.grid_size(5) == (608, demo.TITLE_H + demo.CELL_H)


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_limit_must_be_positive(embedded, tmp_path, capsys, limit):
    assert main(["demo", "--limit", limit, "--out", str(tmp_path / "x.png")]) == 2
    assert f"--limit must be at least 1, got {limit}" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("missing", ["weights", "heldout"])
def test_missing_packaged_files_fail_clearly(standin, fresh_tags, monkeypatch, tmp_path, capsys, missing):
    weights, heldout = standin / "weights.safetensors", standin / "heldout.npz"
    gone = tmp_path / "gone.bin"
    _register(
        monkeypatch, gone if missing == "weights" else weights, gone if missing == "heldout" else heldout
    )
    assert main(["demo", "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert str(gone) in err and "missing" in err and "python scripts/train_digits.py" in err
    assert not (tmp_path / "x.png").exists()


def test_unregistered_weights_fail_clearly(fresh_tags, tmp_path, capsys):
    from clipzoo.registry import tags as pretrained

    empty = tmp_path / "tags.json"
    empty.write_text(json.dumps({"presets": {}, "models": {}}))
    pretrained.reset_tags(empty)  # the fresh_tags fixture restores the real registry afterwards
    assert main(["demo", "--out", str(tmp_path / "x.png")]) == 1
    captured = capsys.readouterr()
    assert "registry: " in captured.out and "LAION-400M-E32" not in captured.out  # no such tag to show
    assert "no packaged weights are registered for tiny-digits/sklearn_digits" in captured.err
    assert "python scripts/train_digits.py" in captured.err


@pytest.mark.skipif(
    not digits.HELDOUT_FILE.is_file() or not clipzoo.get_pretrained_cfg("tiny-digits", "sklearn_digits"),
    reason="the packaged tiny-digits weights are not built yet (python scripts/train_digits.py)",
)
def test_packaged_model_is_accurate(tmp_path, capsys):
    summary = _run_json(capsys, "--out", str(tmp_path / "real.png"))
    assert summary["total"] == 360
    assert summary["accuracy"] >= 0.9, summary["accuracy"]
