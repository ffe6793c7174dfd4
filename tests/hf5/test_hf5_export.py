"""clipzoo -> transformers 5.x folder, checked with transformers alone, and back into clipzoo.

For twins of ViT-B-32-quickgelu (OpenAI style), ViT-B-16 (GELU), ViT-B-16-SigLIP and ViT-B-16-SigLIP2 (registry
configs with small widths, their published preprocessing), ``export_model(..., format="transformers")`` gives:
- ``AutoModel`` features equal to clipzoo's ``encode_image``/``encode_text`` (atol 1e-5);
- ``AutoProcessor`` input ids equal to clipzoo's tokenizer, pixel values within 1/255 of clipzoo's eval transform
  on scikit-image's photos;
- ``pipeline("zero-shot-image-classification")`` ranking labels as ``zero_shot_classify`` does;
- ``local-dir:`` back into clipzoo: the same features (atol 1e-6), preprocessing and token ids.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import clipzoo
from clipzoo.export.writers import export_model
from tests.hf5.hf5_twins import TAGS

TEXTS = [
    "a photo of a cat.",
    "A PHOTO of the Dog!",
    "big red house, small green tree",
    " ".join(["zebra"] * 120),  # longer than any context: truncated, keeping the end token
]
LABELS = ["cat", "dog", "house", "zebra", "red car"]
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry")


def _tag_preprocess(name: str) -> dict:
    record = clipzoo.get_pretrained_cfg(name, TAGS[name])
    return {k: record[k] for k in ("mean", "std", "interpolation", "resize_mode")}


@pytest.fixture(scope="module")
def photos():
    import skimage.data

    return {name: Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in PHOTOS}


def _export(twin: str, name: str, tmp_path):
    """(clipzoo model, its eval transform, tokenizer, exported folder) of a seeded random twin."""
    from safetensors.torch import save_file

    preprocess_cfg = _tag_preprocess(name)
    torch.manual_seed(0)
    source = clipzoo.create_model(twin)
    with torch.no_grad():  # not the init values: a wrong logit scale/bias mapping must show
        source.logit_scale.fill_(3.1)
        if source.logit_bias is not None:
            source.logit_bias.fill_(-2.7)
    weights = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(weights))
    quick = (
        {"force_quick_gelu": True} if clipzoo.get_pretrained_cfg(name, TAGS[name]).get("quick_gelu") else {}
    )
    folder = export_model(
        twin,
        str(weights),
        to=tmp_path / "hf",
        format="transformers",
        force_preprocess_cfg=preprocess_cfg,
        **quick,
    )
    image_kwargs = {f"image_{k}": v for k, v in preprocess_cfg.items()}
    model, _, transform = clipzoo.create_model_and_transforms(twin, str(weights), **image_kwargs, **quick)
    return model.eval(), transform, clipzoo.get_tokenizer(twin), folder


def _features(model, pixels, ids):
    with torch.no_grad():
        return model.encode_image(pixels), model.encode_text(ids)


def _hf_features(model, pixels, ids):
    with torch.no_grad():
        image = model.get_image_features(pixel_values=pixels)
        text = model.get_text_features(input_ids=ids)
    return getattr(image, "pooler_output", image), getattr(text, "pooler_output", text)


def _expected_pixels(photo: Image.Image, transform, preprocess: dict, size: int) -> torch.Tensor:
    """clipzoo's eval transform; for a shortest-side resize whose centre crop transformers places one pixel
    earlier (it floors the offset, torchvision rounds it), the same steps with transformers' offset."""
    ours = transform(photo)
    if preprocess["resize_mode"] != "shortest":
        return ours
    w, h = photo.size
    scale = size / min(w, h)
    new = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    floor = ((new[0] - size) // 2, (new[1] - size) // 2)
    rounded = (int(round((new[0] - size) / 2.0)), int(round((new[1] - size) / 2.0)))
    if floor == rounded:
        return ours
    assert scale > 0
    resized = photo.resize(new, Image.BICUBIC)
    crop = resized.crop((floor[0], floor[1], floor[0] + size, floor[1] + size))
    mean = torch.tensor(preprocess["mean"]).view(3, 1, 1)
    std = torch.tensor(preprocess["std"]).view(3, 1, 1)
    return (torch.from_numpy(np.asarray(crop, dtype=np.float32) / 255).permute(2, 0, 1) - mean) / std


def _ranking_agrees(ours: list[tuple[str, float]], theirs: list[dict], tol: float = 2e-3) -> None:
    """Same order of labels, except between labels whose scores are closer than ``tol`` (a 1/255 pixel
    difference may swap near-ties)."""
    ours_score = dict(ours)
    their_order = [row["label"] for row in theirs]
    for i, a in enumerate(their_order):
        for b in their_order[i + 1 :]:
            assert ours_score[a] >= ours_score[b] - tol, (a, b, ours, theirs)
    for row in theirs:
        assert row["score"] == pytest.approx(ours_score[row["label"]], abs=tol)


@pytest.mark.parametrize("name", list(TAGS))
def test_export_transformers_matches_clipzoo(name, twins, tmp_path, photos):
    from transformers import AutoModel, AutoProcessor, pipeline

    model, transform, tokenizer, folder = _export(twins[name], name, tmp_path)
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "tokenizer_config.json"} <= {
        p.name for p in folder.iterdir()
    }
    hf = AutoModel.from_pretrained(folder).eval()
    assert type(hf).__name__ == ("SiglipModel" if "SigLIP" in name else "CLIPModel")
    size = clipzoo.get_model_preprocess_cfg(model)["size"]
    pixels = torch.stack([transform(photos[p]) for p in PHOTOS[:3]])
    ids = tokenizer(TEXTS)
    for ours, theirs in zip(_features(model, pixels, ids), _hf_features(hf, pixels, ids), strict=True):
        torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=0)

    processor = AutoProcessor.from_pretrained(folder)
    context = tokenizer.context_length
    encoded = processor(
        text=TEXTS, padding="max_length", max_length=context, truncation=True, return_tensors="pt"
    )
    assert torch.equal(encoded["input_ids"], ids)
    preprocess = _tag_preprocess(name)
    for photo_name, photo in photos.items():
        theirs = processor(images=photo, return_tensors="pt")["pixel_values"][0]
        expected = _expected_pixels(photo, transform, preprocess, size)
        std = torch.tensor(preprocess["std"]).view(3, 1, 1)
        worst = ((theirs - expected).abs() * std).max().item() * 255
        assert worst <= 1.0 + 1e-4, (photo_name, worst)

    classify = pipeline("zero-shot-image-classification", model=str(folder))
    for photo_name in PHOTOS[:2]:
        theirs = classify(photos[photo_name], candidate_labels=LABELS)
        ours = clipzoo.zero_shot_classify(
            model, [photos[photo_name]], LABELS, tokenizer, transform, templates=["This is a photo of {}."],
            top_k=len(LABELS),
        )[0]  # fmt: skip
        _ranking_agrees(ours, theirs)

    back, _, back_transform = clipzoo.create_model_and_transforms(f"local-dir:{folder}")
    for ours, again in zip(_features(model, pixels, ids), _features(back.eval(), pixels, ids), strict=True):
        torch.testing.assert_close(again, ours, atol=1e-6, rtol=1e-5)
    ours_pp, back_pp = clipzoo.get_model_preprocess_cfg(model), clipzoo.get_model_preprocess_cfg(back)
    for key in ("size", "mean", "std", "interpolation", "resize_mode"):
        assert tuple(np.atleast_1d(back_pp[key])) == pytest.approx(tuple(np.atleast_1d(ours_pp[key]))), key
    assert torch.equal(back_transform(photos["coffee"]), transform(photos["coffee"]))
    back_tokenizer = clipzoo.get_tokenizer(f"local-dir:{folder}")
    assert torch.equal(back_tokenizer(TEXTS), ids)
    # read back, the folder tokenizes as transformers does, on any text (open_clip's SigLIP cleaning turns "_"
    # into a space where transformers' SiglipTokenizer deletes it: the one place they differ)
    odd = ["snake_case and  spaces", "UPPER, lower; and 'quotes'", "tab\tnew\nline"]
    theirs = processor(
        text=odd, padding="max_length", max_length=context, truncation=True, return_tensors="pt"
    )
    assert torch.equal(back_tokenizer(odd), theirs["input_ids"])
