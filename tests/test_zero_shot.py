"""clipzoo.zero_shot.classifier with a tiny duck-typed model: probabilities, templates, input errors.

The classify command (with the same stand-ins) is tested in test_cli_classify.py."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from clipzoo.preprocess.images import ImageNotFoundError, ImageReadError
from clipzoo.zero_shot.classifier import (
    OPENAI_IMAGENET_TEMPLATES,
    SIMPLE_IMAGENET_TEMPLATES,
    ZeroShotInputError,
    build_zero_shot_classifier,
    zero_shot_classify,
)
from clipzoo.zero_shot.imagenet import IMAGENET_CLASSNAMES
from tests.helpers.zero_shot import EMBED, LABELS, RecordingTokenizer, TinyModel, to_tensor, write_images


def pixels(seed: int, n: int = 4) -> torch.Tensor:
    return torch.rand(n, 3, 2, 2, generator=torch.Generator().manual_seed(seed))


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
