"""NaFlex towers (timm's NaFlexVit): registry, patch-dict batches, eval transform, force_naflex_vision.

Tiny random models only (timm's NaFlexVit with two blocks of width 48); parity with transformers' SigLIP 2 lives in
tests/hf5/test_hf5_naflex.py.
"""

from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import default_collate

import clipzoo
from clipzoo.models.naflex import NaFlexInputError
from clipzoo.registry.naflex import NaFlexConfigError, apply_force_naflex_vision, size_for_patch_budget
from tests.helpers.checkpoints import seeded_checkpoint
from tests.helpers.configs import TINY_VIT_KWARGS, deep

pytestmark = pytest.mark.skipif(importlib.util.find_spec("timm") is None, reason="NaFlex towers are timm's NaFlexVit")

NAFLEX_MODELS = ("naflex_ViT-B-16", "naflex_ViT-B-32", "ViT-B-16-SigLIP2-naflex", "ViT-SO400M-16-SigLIP2-naflex")


def _tiny(name: str = "ViT-B-16-SigLIP2-naflex", budget: int | None = 12) -> dict:
    """The registry config of ``name`` with a two-block width-48 trunk and a small text tower."""
    cfg = copy.deepcopy(clipzoo.get_model_config(name))
    vision, text = cfg["vision_cfg"], cfg["text_cfg"]
    vision["timm_model_kwargs"] = {
        **(vision.get("timm_model_kwargs") or {}),
        "embed_dim": 48,
        "depth": 2,
        "num_heads": 3,
        "mlp_ratio": 2.0,
    }
    if budget is not None:
        vision["image_seq_len"] = budget
    text.update(width=48, heads=3, layers=2, mlp_ratio=2.0, vocab_size=400)
    text.pop("hf_tokenizer_name", None)
    cfg["embed_dim"] = 48
    return {k: cfg[k] for k in ("embed_dim", "vision_cfg", "text_cfg")}


def _photos() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    sizes = ((64, 48), (100, 30), (20, 20), (7, 300))
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in sizes]


@pytest.fixture(scope="module")
def tiny():
    """(model, eval transform) of a random tiny ViT-B-16-SigLIP2-naflex with a budget of 12 patches."""
    torch.manual_seed(0)
    model, _, transform = clipzoo.create_model_and_transforms("ViT-B-16-SigLIP2-naflex", **_tiny())
    return model.eval(), transform


def test_registry_has_the_naflex_architectures_and_tags():
    assert set(NAFLEX_MODELS) <= set(clipzoo.list_models())
    pairs = [p for p in clipzoo.list_pretrained() if "naflex" in p[0]]
    assert pairs == [("ViT-B-16-SigLIP2-naflex", "webli"), ("ViT-SO400M-16-SigLIP2-naflex", "webli")]
    record = clipzoo.get_pretrained_cfg("ViT-SO400M-16-SigLIP2-naflex", "webli")
    assert record["hf_hub"] == "timm/ViT-SO400M-16-SigLIP2-naflex/"
    assert record["mean"] == record["std"] == (0.5, 0.5, 0.5)
    assert clipzoo.get_model_config("ViT-B-16-SigLIP2-naflex")["vision_cfg"]["image_seq_len"] == 576


@pytest.mark.parametrize("name", NAFLEX_MODELS)
def test_each_naflex_config_builds_and_honours_image_seq_len(name):
    model = clipzoo.create_model(name, **_tiny(name, budget=None)).eval()
    assert type(model.visual.trunk).__name__ == "NaFlexVit"
    expected = clipzoo.get_model_config(name)["vision_cfg"].get("image_seq_len")
    assert getattr(model.visual, "image_seq_len", None) == expected
    transform = clipzoo.create_model_and_transforms(name, **_tiny(name, budget=None))[2]
    patch = 32 if name == "naflex_ViT-B-32" else 16
    assert transform.patch_size == patch
    assert transform.max_num_patches == (expected or (224 // patch) ** 2)
    batch = default_collate([transform(p) for p in _photos()[:2]])
    assert model.encode_image(batch).shape == (2, 48)


def test_transform_keeps_aspect_and_fits_the_budget(tiny):
    _, transform = tiny
    for photo in _photos():
        out = transform(photo)
        assert set(out) == {"patches", "patch_coord", "patch_valid"}
        assert out["patches"].shape == (12, 16 * 16 * 3) and out["patch_valid"].dtype == torch.bool
        count = int(out["patch_valid"].sum())
        rows, cols = (int(v) + 1 for v in out["patch_coord"][:count].max(dim=0).values)
        assert rows * cols == count <= 12
        assert not out["patches"][count:].any() and not out["patch_coord"][count:].any()
        w, h = photo.size
        assert (rows * 16, cols * 16) == size_for_patch_budget(h, w, 16, 12)


def test_size_for_patch_budget_is_the_largest_fitting_size():
    assert size_for_patch_budget(64, 48, 16, 12) == (64, 48)  # exactly 4 x 3 patches
    assert size_for_patch_budget(20, 20, 16, 12) == (48, 48)  # 3 x 3; 4 x 4 would not fit
    assert size_for_patch_budget(10, 1000, 16, 256) == (32, 2048)  # 2 x 128: rounding up the short side
    assert size_for_patch_budget(1, 1000, 16, 8) == (16, 128)  # at least one patch per side
    h, w = size_for_patch_budget(480, 640, 16, 256)
    assert (h // 16) * (w // 16) <= 256 < (h // 16 + 1) * (w // 16 + 1)
    with pytest.raises(ValueError, match="must all be positive"):
        size_for_patch_budget(0, 5, 16, 256)


def test_patch_dict_equals_the_dense_image_and_padding_changes_nothing(tiny):
    model, transform = tiny
    photo = _photos()[0]  # 48 x 64: 3 x 4 patches, exactly the budget, so no resize
    batch = default_collate([transform(photo)])
    dense = (np.asarray(photo, dtype=np.float32) / 255 - transform.mean) / transform.std
    dense = torch.from_numpy(dense.transpose(2, 0, 1)).unsqueeze(0)
    with torch.no_grad():
        torch.testing.assert_close(model.encode_image(batch), model.encode_image(dense), atol=1e-5, rtol=0)
        padded = {k: torch.cat([v, torch.zeros_like(v)], dim=1) for k, v in batch.items()}
        torch.testing.assert_close(model.encode_image(padded), model.encode_image(batch), atol=1e-5, rtol=0)
        # an image alone or in a batch of other sizes gives the same features
        many = default_collate([transform(p) for p in _photos()])
        torch.testing.assert_close(model.encode_image(many)[:1], model.encode_image(batch), atol=1e-5, rtol=0)
        features = model(many, None)[0]
    assert features.shape == (4, 48)


def test_batches_that_do_not_fit_the_model_are_refused_before_any_work(tiny, monkeypatch):
    model, transform = tiny
    monkeypatch.setattr(model.visual.trunk, "forward", lambda *a, **k: pytest.fail("the trunk ran"))
    good = default_collate([transform(_photos()[0])])  # 3 x 4 patches of 16 px: the budget of 12
    far, negative = good["patch_coord"].clone(), good["patch_coord"].clone()
    far[0, 0] = torch.tensor([10000, 10000])  # timm would resize its position grid to 10001 x 10001
    negative[0, 1, 1] = -1
    cases = [
        ({"patches": good["patches"][..., :700]}, r"NaFlex patches are 700 values wide, this model's are 768 "
                                                   r"\(16x16 px x 3 channels\); make them with the model's own"),
        ({"patch_coord": far}, r"NaFlex image 0: its patch_coord spans a 10001x10001 grid, more than the token "
                               r"budget of 12 patches"),
        ({"patch_coord": negative}, "negative coordinates"),
        ({"patch_coord": far.float()}, "patch_coord must hold integers"),
        ({"patch_valid": torch.zeros_like(good["patch_valid"])}, r"NaFlex images \[0\] have no valid patch"),
    ]  # fmt: skip
    for change, message in cases:
        with pytest.raises(NaFlexInputError, match=message):
            model.encode_image({**good, **change})


def test_budget_is_settable(tiny):
    from clipzoo.factory.transforms import naflex_transform_for_model

    model, _ = tiny
    transform = naflex_transform_for_model(model, max_num_patches=40)
    out = transform(_photos()[1])
    assert out["patches"].shape[0] == 40 and 12 < int(out["patch_valid"].sum()) <= 40


def test_malformed_batches_and_non_naflex_models_say_what_is_wrong():
    from clipzoo.factory.transforms import naflex_transform_for_model
    from clipzoo.models.naflex import NaFlexInputError, check_naflex_batch

    with pytest.raises(NaFlexInputError, match="missing patch_valid"):
        check_naflex_batch({"patches": torch.zeros(1, 2, 3), "patch_coord": torch.zeros(1, 2, 2)})
    with pytest.raises(NaFlexInputError, match="shapes"):
        check_naflex_batch(
            {"patches": torch.zeros(1, 2, 3), "patch_coord": torch.zeros(1, 3, 2), "patch_valid": torch.ones(1, 2)}
        )
    plain = clipzoo.create_model("ViT-B-32", **deep(TINY_VIT_KWARGS))
    with pytest.raises(ValueError, match="no NaFlex image tower"):
        naflex_transform_for_model(plain)


def _tiny_timm_siglip() -> dict:
    trunk = dict(embed_dim=48, depth=2, num_heads=3, mlp_ratio=2.0, img_size=32, patch_size=8)
    return dict(
        embed_dim=48,
        custom_text=True,
        init_logit_bias=-10,
        vision_cfg=dict(image_size=32, timm_model_name="vit_base_patch16_siglip_224", timm_pool="map",
                        timm_proj="none", timm_model_kwargs=trunk),  # fmt: skip
        text_cfg=dict(context_length=16, vocab_size=400, width=48, heads=3, layers=1, no_causal_mask=True,
                      proj_bias=True, pool_type="last"),  # fmt: skip
    )


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("ViT-B-32", deep(TINY_VIT_KWARGS)),
        ("ViT-B-32-quickgelu", {**deep(TINY_VIT_KWARGS), "quick_gelu": True}),
        ("ViT-B-16-SigLIP", _tiny_timm_siglip()),
    ],
)
def test_force_naflex_vision_converts_the_tower_and_its_checkpoint(name, kwargs, tmp_path):
    source, path = seeded_checkpoint(name, tmp_path / "weights.safetensors", **kwargs)
    source.eval()
    model, _, transform = clipzoo.create_model_and_transforms(name, str(path), force_naflex_vision=True, **kwargs)
    model.eval()
    assert type(model.visual.trunk).__name__ == "NaFlexVit"
    assert model.visual.image_seq_len == 16  # the trained 32 px image: 4 x 4 patches of 8
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(model.encode_image(images), source.encode_image(images), atol=1e-5, rtol=0)
    batch = default_collate([transform(p) for p in _photos()])
    assert batch["patches"].shape == (4, 16, 8 * 8 * 3)
    assert model.encode_image(batch).shape[0] == 4


def test_force_naflex_vision_refuses_towers_it_cannot_convert():
    raw = copy.deepcopy(clipzoo.get_model_config("RN50"))
    with pytest.raises(NaFlexConfigError, match="plain ViT"):
        apply_force_naflex_vision(raw)
    raw = copy.deepcopy(clipzoo.get_model_config("coca_ViT-B-32"))
    with pytest.raises(NaFlexConfigError, match="attentional_pool"):
        apply_force_naflex_vision(raw)
    raw = copy.deepcopy(clipzoo.get_model_config("convnext_base"))
    with pytest.raises(NaFlexConfigError, match="not a ViT"):
        apply_force_naflex_vision(raw)


@pytest.mark.slow
def test_onnx_export_refuses_naflex_with_the_reason(tiny):
    pytest.importorskip("onnx")
    from clipzoo.export.onnx import OnnxExportError, check_exportable

    with pytest.raises(OnnxExportError, match="NaFlex image tower.*format='transformers'"):
        check_exportable(tiny[0])


def test_naflex_architectures_export_to_siglip2():
    from clipzoo.export.transformers import transformers_export_support

    for name in ("ViT-B-16-SigLIP2-naflex", "ViT-SO400M-16-SigLIP2-naflex"):
        assert transformers_export_support(clipzoo.get_model_config(name)).hf_class == "Siglip2Model"
    refused = transformers_export_support(clipzoo.get_model_config("naflex_ViT-B-16"))
    assert not refused.ok and "naflexvit_base_patch16_gap" in refused.reason
