"""``interpolate_pos_encoding=True`` without transformers: which towers take it, and the trained size unchanged.

Parity with transformers' ``interpolate_pos_encoding`` (CLIP native ViT, SigLIP timm ViT) is in
tests/hf5/test_hf5_resolution.py.
"""

from __future__ import annotations

import pytest
import torch

import clipzoo
from clipzoo.models.pos_interp import ImageSizeError, resize_position_grid
from tests.helpers.configs import TINY_VIT_KWARGS

VIT = TINY_VIT_KWARGS


def _images(height: int, width: int) -> torch.Tensor:
    return torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(0))


def test_native_vit_runs_other_sizes_and_keeps_the_trained_one():
    model = clipzoo.create_model("ViT-B-32", **VIT).eval()
    with torch.no_grad():
        trained = _images(32, 32)
        assert torch.equal(model.encode_image(trained, interpolate_pos_encoding=True), model.encode_image(trained))
        for size in ((48, 48), (16, 40)):
            assert model.encode_image(_images(*size), interpolate_pos_encoding=True).shape == (2, 24)
    assert model.visual.positional_embedding.shape == (17, 64)  # the stored weights are not resized


def test_coca_encode_image_takes_the_flag():
    cfg = clipzoo.get_model_config("coca_ViT-B-32")
    kwargs = dict(
        embed_dim=24,
        vision_cfg={**cfg["vision_cfg"], "image_size": 32, "patch_size": 8, "width": 64, "head_width": 32,
                    "layers": 1, "attn_pooler_heads": 2},
        text_cfg={**cfg["text_cfg"], "width": 32, "heads": 2, "layers": 1},
        multimodal_cfg={**cfg["multimodal_cfg"], "width": 32, "heads": 2, "layers": 1, "attn_pooler_heads": 2},
    )  # fmt: skip
    model = clipzoo.create_model("coca_ViT-B-32", **kwargs).eval()
    with torch.no_grad():
        assert model.encode_image(_images(48, 40), interpolate_pos_encoding=True).shape == (2, 24)


def test_resnet_says_it_has_no_grid():
    model = clipzoo.create_model(
        "RN50", embed_dim=16, vision_cfg=dict(layers=[1, 1, 1, 1], width=8, head_width=8, image_size=64),
        text_cfg=dict(width=16, heads=2, layers=1),
    )  # fmt: skip
    with pytest.raises(ValueError, match="for ViT image towers"):
        model.encode_image(_images(64, 64), interpolate_pos_encoding=True)


def test_resize_position_grid_keeps_prefix_and_is_identity_at_the_same_grid():
    table = torch.randn(1 + 6, 4)
    assert resize_position_grid(table, (2, 3), (2, 3), 1) is table
    bigger = resize_position_grid(table, (2, 3), (4, 5), 1)
    assert bigger.shape == (21, 4) and torch.equal(bigger[0], table[0])


def _timm_vit():
    pytest.importorskip("timm")
    from clipzoo.models.timm_tower import TimmTower
    from clipzoo.registry.config import VisionCfg

    # timm's test_vit sizes itself per call; registry ViTs (and this one) are built for one size
    cfg = VisionCfg(timm_model_name="test_vit", image_size=160, timm_model_kwargs={"dynamic_img_size": False})
    return TimmTower(cfg, embed_dim=16).eval()


def test_a_wrong_size_says_which_sizes_the_tower_takes():
    model = clipzoo.create_model("ViT-B-32", **VIT).eval()
    with pytest.raises(ImageSizeError) as info:
        model.encode_image(_images(48, 48))
    assert str(info.value) == (
        "images of 48x48 px do not fit this image tower: it takes 32x32 px (resize them to it, as the model's eval "
        "transform does); or pass interpolate_pos_encoding=True to encode_image/forward to run other sizes (sides "
        "in whole 8 px patches; a remainder is cut off, as in transformers)"
    )
    with pytest.raises(ImageSizeError, match="images of 4x40 px are smaller than one 8 px patch"):
        model.encode_image(_images(4, 40), interpolate_pos_encoding=True)
    with pytest.raises(ImageSizeError, match="images of 224x224 px do not fit this image tower: it takes 160x160 px"):
        _timm_vit()(_images(224, 224))
    resnet = clipzoo.create_model(
        "RN50", embed_dim=16, vision_cfg=dict(layers=[1, 1, 1, 1], width=8, head_width=8, image_size=64),
        text_cfg=dict(width=16, heads=2, layers=1),
    )  # fmt: skip
    with pytest.raises(ImageSizeError, match=r"it takes 64x64 px .*no patch grid to resize: build the model at that "
                       r"size with force_image_size=\.\.\."):  # fmt: skip
        resnet.encode_image(_images(96, 96))


def test_sizes_not_in_whole_patches_drop_the_remainder_as_transformers():
    """The grid is (H // patch, W // patch) and the right and bottom remainder is not seen (transformers' conv)."""
    model = clipzoo.create_model("ViT-B-32", **VIT).eval()
    timm_vit = _timm_vit()
    with torch.no_grad():
        odd = _images(44, 47)
        cut = model.encode_image(odd[..., :40, :40], interpolate_pos_encoding=True)
        assert torch.equal(model.encode_image(odd, interpolate_pos_encoding=True), cut)
        odd = _images(180, 170)
        torch.testing.assert_close(
            timm_vit(odd, interpolate_pos_encoding=True), timm_vit(odd[..., :176, :160], interpolate_pos_encoding=True)
        )
