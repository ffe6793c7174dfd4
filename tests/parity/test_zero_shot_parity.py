"""Parity of clipzoo.zero_shot.classifier with open_clip 3.3.0 (zero_shot_classifier.py, zero_shot_metadata.py).

The class-embedding matrix is compared on the SAME tiny random open_clip CLIP model and the same open_clip
tokenizer passed to both functions: atol 1e-6, rtol 1e-6, fp32. Metadata must be identical.
"""

from __future__ import annotations

import open_clip
import pytest
import torch
from open_clip import zero_shot_metadata as oc_meta
from open_clip.model import CLIP

from clipzoo.zero_shot import classifier as zero_shot
from clipzoo.zero_shot import imagenet as zero_shot_metadata

TOL = {"atol": 1e-6, "rtol": 1e-6}


@pytest.fixture(scope="module")
def tiny_clip() -> CLIP:
    torch.manual_seed(0)
    model = CLIP(
        embed_dim=16,
        vision_cfg={"layers": 1, "width": 32, "head_width": 16, "patch_size": 16, "image_size": 32},
        text_cfg={"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    )
    return model.eval()


@pytest.fixture(scope="module")
def tokenizer():
    return open_clip.get_tokenizer("ViT-B-32")


def test_metadata_matches_open_clip() -> None:
    assert zero_shot_metadata.IMAGENET_CLASSNAMES == tuple(oc_meta.IMAGENET_CLASSNAMES)
    for ours, theirs in [
        (zero_shot_metadata.OPENAI_IMAGENET_TEMPLATES, oc_meta.OPENAI_IMAGENET_TEMPLATES),
        (zero_shot_metadata.SIMPLE_IMAGENET_TEMPLATES, oc_meta.SIMPLE_IMAGENET_TEMPLATES),
    ]:
        assert [t.format("golden retriever") for t in ours] == [t("golden retriever") for t in theirs]


@pytest.mark.parametrize("num_classes_per_batch", [None, 4, 10])
def test_classifier_matches_open_clip(tiny_clip, tokenizer, num_classes_per_batch) -> None:
    names = list(zero_shot_metadata.IMAGENET_CLASSNAMES[:13])
    ours = zero_shot.build_zero_shot_classifier(
        tiny_clip,
        tokenizer,
        names,
        zero_shot_metadata.OPENAI_IMAGENET_TEMPLATES,
        num_classes_per_batch=num_classes_per_batch,
    )
    theirs = open_clip.build_zero_shot_classifier(
        tiny_clip,
        tokenizer,
        names,
        oc_meta.OPENAI_IMAGENET_TEMPLATES,
        num_classes_per_batch=num_classes_per_batch,
    )
    assert ours.shape == theirs.shape == (16, 13)
    torch.testing.assert_close(ours, theirs, **TOL)


def test_zero_shot_classify_matches_open_clip_recipe(tiny_clip, tokenizer) -> None:
    """Probabilities equal open_clip's README recipe: softmax(exp(logit_scale) * img_n @ classifier)."""
    labels = ["a diagram", "a dog", "a cat"]
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    classifier = open_clip.build_zero_shot_classifier(
        tiny_clip, tokenizer, labels, oc_meta.SIMPLE_IMAGENET_TEMPLATES
    )
    with torch.no_grad():
        feats = tiny_clip.encode_image(images, normalize=True)
        expected = (tiny_clip.logit_scale.exp() * feats @ classifier).softmax(dim=-1)
    results = zero_shot.zero_shot_classify(
        tiny_clip, images, labels, tokenizer=tokenizer, templates="simple", top_k=3
    )
    for row, preds in zip(expected, results):
        got = dict(preds)
        torch.testing.assert_close(torch.tensor([got[lb] for lb in labels]), row, **TOL)
