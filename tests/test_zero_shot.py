"""clipzoo.zero_shot.classifier with a tiny duck-typed model: probabilities, templates, input errors, the classify CLI."""

from __future__ import annotations

import argparse
import json
import math
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from clipzoo.cli.classify import add_parsers as add_classify_parsers
from clipzoo.cli.classify import cmd_classify as run_classify
from clipzoo.errors import InputError
from clipzoo.preprocess.images import ImageNotFoundError, ImageReadError
from clipzoo.zero_shot.classifier import (
    OPENAI_IMAGENET_TEMPLATES,
    SIMPLE_IMAGENET_TEMPLATES,
    ZeroShotInputError,
    build_zero_shot_classifier,
    zero_shot_classify,
)
from clipzoo.zero_shot.imagenet import IMAGENET_CLASSNAMES

EMBED = 6


class TinyModel(nn.Module):
    """encode_image: linear on 3x2x2 pixels; encode_text: mean of token embeddings."""

    def __init__(self, logit_bias: float | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.image_proj = nn.Linear(12, EMBED)
        self.token_embedding = nn.Embedding(101, EMBED)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.logit_bias = None if logit_bias is None else nn.Parameter(torch.tensor(logit_bias))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_proj(images.flatten(1))

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.token_embedding(tokens).mean(dim=1)


class RecordingTokenizer:
    """Deterministic word hashing into 8 tokens; remembers every prompt it saw."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def __call__(self, texts: list[str]) -> torch.Tensor:
        self.prompts += texts
        rows = [[1 + sum(w.encode()) % 100 for w in t.split()][:8] for t in texts]
        return torch.tensor([row + [0] * (8 - len(row)) for row in rows])


def to_tensor(img: Image.Image) -> torch.Tensor:
    """A stand-in eval transform: 2x2 RGB floats."""
    data = torch.from_numpy(np.asarray(img.resize((2, 2)), dtype=np.float32)) / 255
    return data.permute(2, 0, 1)


def pixels(seed: int, n: int = 4) -> torch.Tensor:
    return torch.rand(n, 3, 2, 2, generator=torch.Generator().manual_seed(seed))


LABELS = ["cat", "dog", "red car", "tree"]


def assert_same_predictions(got: list, want: list) -> None:
    """Same labels in the same order; probabilities equal up to fp32 batching noise (atol 1e-6)."""
    assert [[lb for lb, _ in row] for row in got] == [[lb for lb, _ in row] for row in want]
    for row_got, row_want in zip(got, want):
        assert [p for _, p in row_got] == pytest.approx([p for _, p in row_want], abs=1e-6)


def test_classifier_is_normalized_mean_of_prompt_embeddings() -> None:
    model, tok = TinyModel(), RecordingTokenizer()
    templates = ["a {}.", "the {} here."]
    weights = build_zero_shot_classifier(model, tok, LABELS, templates)
    assert weights.shape == (EMBED, len(LABELS))
    torch.testing.assert_close(weights.norm(dim=0), torch.ones(len(LABELS)))
    for i, label in enumerate(LABELS):
        emb = F.normalize(
            model.encode_text(RecordingTokenizer()([t.format(label) for t in templates])), dim=-1
        )
        torch.testing.assert_close(weights[:, i], F.normalize(emb.mean(0), dim=0), atol=1e-6, rtol=1e-6)


def test_classifier_batching_and_callable_templates_agree() -> None:
    model = TinyModel()
    names = list(IMAGENET_CLASSNAMES[:7])
    strings = list(SIMPLE_IMAGENET_TEMPLATES)
    callables = [lambda c, t=t: t.format(c) for t in strings]
    ref = build_zero_shot_classifier(model, RecordingTokenizer(), names, strings, num_classes_per_batch=None)
    for per_batch, templates in [(1, strings), (3, callables), (10, strings)]:
        got = build_zero_shot_classifier(
            model, RecordingTokenizer(), names, templates, num_classes_per_batch=per_batch
        )
        torch.testing.assert_close(got, ref, atol=1e-6, rtol=1e-6)
    with_bar = build_zero_shot_classifier(model, RecordingTokenizer(), names, strings, 3, use_tqdm=True)
    torch.testing.assert_close(with_bar, ref, atol=1e-6, rtol=1e-6)


def test_classifier_rejects_empty_inputs() -> None:
    with pytest.raises(ValueError, match="classnames is empty"):
        build_zero_shot_classifier(TinyModel(), RecordingTokenizer(), [], ["{}"])
    with pytest.raises(ValueError, match="templates is empty"):
        build_zero_shot_classifier(TinyModel(), RecordingTokenizer(), ["a"], [])
    with pytest.raises(ValueError, match="num_classes_per_batch"):
        build_zero_shot_classifier(TinyModel(), RecordingTokenizer(), ["a"], ["{}"], num_classes_per_batch=0)


def test_clip_style_probabilities_are_softmax_and_default_to_openai_prompts() -> None:
    model, tok = TinyModel(), RecordingTokenizer()
    images = pixels(0)
    results = zero_shot_classify(model, images, LABELS, tokenizer=tok, top_k=len(LABELS))
    assert len(tok.prompts) == len(OPENAI_IMAGENET_TEMPLATES) * len(LABELS)
    classifier = build_zero_shot_classifier(model, RecordingTokenizer(), LABELS, OPENAI_IMAGENET_TEMPLATES)
    expected = (10.0 * F.normalize(model.encode_image(images), dim=-1) @ classifier).softmax(dim=-1)
    for row, preds in zip(expected, results):
        assert [p for _, p in preds] == sorted((p for _, p in preds), reverse=True)
        got = dict(preds)
        torch.testing.assert_close(torch.tensor([got[lb] for lb in LABELS]), row, atol=1e-6, rtol=1e-6)
        assert math.isclose(sum(got.values()), 1.0, rel_tol=1e-5)


def test_siglip_style_probabilities_are_sigmoid_with_bias_and_siglip_prompt() -> None:
    model, tok = TinyModel(logit_bias=-3.0), RecordingTokenizer()
    images = pixels(1, n=2)
    results = zero_shot_classify(model, images, LABELS, tokenizer=tok, top_k=2)
    assert tok.prompts == [f"This is a photo of {label}." for label in LABELS]
    classifier = build_zero_shot_classifier(model, RecordingTokenizer(), LABELS, ["This is a photo of {}."])
    probs = torch.sigmoid(10.0 * F.normalize(model.encode_image(images), dim=-1) @ classifier - 3.0)
    for row, preds in zip(probs, results):
        values, indices = row.topk(2)
        assert [lb for lb, _ in preds] == [LABELS[i] for i in indices]
        torch.testing.assert_close(torch.tensor([p for _, p in preds]), values, atol=1e-6, rtol=1e-6)


def test_templates_by_name_and_by_list() -> None:
    tok = RecordingTokenizer()
    zero_shot_classify(TinyModel(), pixels(0, 1), ["cat"], tokenizer=tok, templates="simple")
    assert tok.prompts == [t.format("cat") for t in SIMPLE_IMAGENET_TEMPLATES]
    tok = RecordingTokenizer()
    zero_shot_classify(TinyModel(logit_bias=0.0), pixels(0, 1), ["cat"], tokenizer=tok, templates=["x {} y"])
    assert tok.prompts == ["x cat y"]
    with pytest.raises(ZeroShotInputError, match="did you mean 'simple'"):
        zero_shot_classify(TinyModel(), pixels(0, 1), ["cat"], tokenizer=tok, templates="simpel")
    with pytest.raises(ZeroShotInputError, match="exactly one '{}'"):
        zero_shot_classify(TinyModel(), pixels(0, 1), ["cat"], tokenizer=tok, templates=["a photo"])


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([], "labels is empty"),
        (["cat", "dog", "cat"], r"duplicate labels \['cat'\]"),
        ("cat", "must be a list"),
        (["cat", "  "], "positions \\[1\\]"),
    ],
)
def test_bad_labels_are_rejected(labels, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        zero_shot_classify(TinyModel(), pixels(0, 1), labels, tokenizer=RecordingTokenizer())


def test_top_k_is_capped_and_validated() -> None:
    results = zero_shot_classify(
        TinyModel(), pixels(0, 3), ["a", "b"], tokenizer=RecordingTokenizer(), top_k=5
    )
    assert [len(r) for r in results] == [2, 2, 2]
    with pytest.raises(ValueError, match="top_k"):
        zero_shot_classify(TinyModel(), pixels(0, 1), ["a"], tokenizer=RecordingTokenizer(), top_k=0)


def test_precomputed_classifier_and_missing_tokenizer() -> None:
    model = TinyModel()
    classifier = build_zero_shot_classifier(model, RecordingTokenizer(), LABELS, ["{}"])
    got = zero_shot_classify(model, pixels(0, 2), LABELS, classifier=classifier, top_k=1)
    want = zero_shot_classify(
        model, pixels(0, 2), LABELS, tokenizer=RecordingTokenizer(), templates=["{}"], top_k=1
    )
    assert_same_predictions(got, want)
    with pytest.raises(ValueError, match="tokenizer is required"):
        zero_shot_classify(model, pixels(0, 1), LABELS)
    with pytest.raises(ValueError, match=r"classifier must be \[embed_dim, 3\]"):
        zero_shot_classify(model, pixels(0, 1), LABELS[:3], classifier=classifier)


def write_images(tmp_path) -> list[str]:
    paths = []
    for i, color in enumerate([(255, 0, 0), (0, 0, 255), (10, 200, 30)]):
        path = tmp_path / f"img{i}.png"
        Image.new("RGB", (5, 4), color).save(path)
        paths.append(str(path))
    return paths


def test_paths_and_pil_images_match_preprocessed_tensor(tmp_path) -> None:
    paths = write_images(tmp_path)
    batch = torch.stack([to_tensor(Image.open(p).convert("RGB")) for p in paths])
    kwargs = {"tokenizer": RecordingTokenizer(), "templates": ["{}"], "top_k": 2}
    want = zero_shot_classify(TinyModel(), batch, LABELS, **kwargs)
    assert_same_predictions(
        zero_shot_classify(TinyModel(), paths, LABELS, preprocess=to_tensor, batch_size=2, **kwargs), want
    )
    pil = [Image.open(p).convert("RGB") for p in paths]
    assert_same_predictions(
        zero_shot_classify(TinyModel(), pil, LABELS, preprocess=to_tensor, **kwargs), want
    )
    single = zero_shot_classify(TinyModel(), paths[0], LABELS, preprocess=to_tensor, **kwargs)
    assert_same_predictions(single, want[:1])
    with pytest.raises(ValueError, match="preprocess is required"):
        zero_shot_classify(TinyModel(), paths, LABELS, **kwargs)


def test_unreadable_and_missing_images_are_named(tmp_path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    kwargs = {"tokenizer": RecordingTokenizer(), "preprocess": to_tensor}
    # one loader, one error family (clipzoo.preprocess.images), whatever path reads the file
    with pytest.raises(ImageReadError, match="cannot open image .*notes.jpg"):
        zero_shot_classify(TinyModel(), [str(bad)], LABELS, **kwargs)
    with pytest.raises(ImageNotFoundError, match="missing.png.* does not exist"):
        zero_shot_classify(TinyModel(), [str(tmp_path / "missing.png")], LABELS, **kwargs)


# ----------------------------------------------------------------------------- CLI


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
