"""TimmTower behaviour on timm's tiny test models (no open_clip; parity lives in tests/parity/)."""

from __future__ import annotations

import pytest
import torch

timm = pytest.importorskip("timm")

from clipzoo.models.timm_tower import TimmTower  # noqa: E402
from clipzoo.registry.config import VisionCfg  # noqa: E402


def _cfg(name: str = "test_resnet", **overrides) -> VisionCfg:
    return VisionCfg(timm_model_name=name, image_size=160, **overrides)


def _images(batch: int = 2, size: int = 160) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))


HEAD_LAYOUTS = {
    # (timm_pool, timm_proj) -> head state-dict keys, and whether timm's classifier is the projection
    ("avg", "linear"): (["head.proj.weight"], False),
    ("", "mlp"): (["head.mlp.fc1.weight", "head.mlp.fc1.bias", "head.mlp.fc2.weight"], False),
    ("avg", "none"): ([], False),
    ("avg", None): ([], True),
    ("abs_attn", ""): (["head.pool.pos_embed", "head.pool.qkv.weight", "head.pool.qkv.bias"], False),
}


@pytest.mark.parametrize(("pool", "proj"), list(HEAD_LAYOUTS))
def test_head_layout(pool, proj):
    expected_head, classifier_is_proj = HEAD_LAYOUTS[(pool, proj)]
    tower = TimmTower(_cfg("test_efficientnet", timm_pool=pool, timm_proj=proj), embed_dim=64)
    keys = list(tower.state_dict())
    head_keys = [k for k in keys if k.startswith("head.")]
    assert head_keys[: len(expected_head)] == expected_head
    assert all(k.startswith(("trunk.", "head.")) for k in keys)
    assert (tower.trunk.num_classes == 64) == classifier_is_proj
    out = tower.eval()(_images())
    expected_width = tower.trunk.num_features if proj == "none" else 64
    assert out.shape == (2, expected_width)


def test_proj_bias_only_on_output_layer():
    tower = TimmTower(_cfg(timm_pool="avg", timm_proj="mlp", timm_proj_bias=True), embed_dim=16)
    assert tower.head.mlp.fc1.bias is not None and tower.head.mlp.fc2.bias is not None
    tower = TimmTower(_cfg(timm_pool="avg", timm_proj="linear", timm_proj_bias=True), embed_dim=16)
    assert tower.head.proj.bias is not None


def test_unknown_proj_is_rejected_with_choices():
    with pytest.raises(ValueError, match="timm_proj='lin'.*'linear', 'mlp', 'none'"):
        TimmTower(_cfg(timm_proj="lin"), embed_dim=16)


def test_missing_model_name_is_rejected():
    with pytest.raises(ValueError, match="timm_model_name"):
        TimmTower(VisionCfg(), embed_dim=16)


def test_attention_pool_needs_a_feature_map():
    with pytest.raises(ValueError, match="needs a trunk with a 2D feature map"):
        TimmTower(_cfg("test_vit", timm_pool="rot_attn", timm_proj=""), embed_dim=64)


def test_trunk_options_reach_timm(monkeypatch):
    seen = {}
    real_create = timm.create_model

    def spy(name, **kwargs):
        seen.update(kwargs)
        return real_create(name, **{**kwargs, "pretrained": False})

    monkeypatch.setattr(timm, "create_model", spy)
    TimmTower(_cfg("test_vit", timm_drop_path=0.1, patch_dropout=0.25), embed_dim=16)
    assert seen["pretrained"] is False and seen["drop_path_rate"] == 0.1 and seen["patch_drop_rate"] == 0.25
    seen.clear()
    TimmTower(_cfg("test_vit", timm_model_pretrained=True), embed_dim=16, pretrained=False)
    assert seen["pretrained"] is False and "drop_path_rate" not in seen and "patch_drop_rate" not in seen
    TimmTower(_cfg("test_vit"), embed_dim=16, pretrained=True)
    assert seen["pretrained"] is True


@pytest.mark.parametrize(("name", "pool"), [("test_vit_relpos", "avg"), ("test_byobnet", "rot_attn")])
def test_meta_build_then_load_matches_real_build(name, pool):
    cfg = VisionCfg(timm_model_name=name, timm_pool=pool, timm_proj="linear")
    torch.manual_seed(0)
    real = TimmTower(cfg, embed_dim=16).eval()
    with torch.device("meta"):
        lazy = TimmTower(cfg, embed_dim=16)
    assert all(p.is_meta for p in lazy.parameters())
    lazy.load_state_dict(real.state_dict(), strict=True, assign=True)
    # Computed buffers (RoPE tables, relative-position indices) are not in checkpoints: loading rebuilt them.
    assert not any(b.is_meta for _, b in lazy.named_buffers())
    size = real.trunk.default_cfg["input_size"][1]
    images = _images(size=size)
    with torch.no_grad():
        torch.testing.assert_close(lazy.eval()(images), real(images), atol=0, rtol=0)


def test_meta_build_refuses_buffers_it_cannot_rebuild(monkeypatch):
    from timm.layers.pos_embed_rel import RelPosMlp

    monkeypatch.delattr(RelPosMlp, "init_non_persistent_buffers")
    with pytest.raises(NotImplementedError, match="RelPosMlp.*build this model on a real device"):
        with torch.device("meta"):
            TimmTower(VisionCfg(timm_model_name="test_vit_relpos", timm_pool="avg"), embed_dim=16)


def test_lock_freezes_trunk_only():
    tower = TimmTower(_cfg(timm_pool="avg", timm_proj="linear"), embed_dim=16)
    tower.lock()
    assert not any(p.requires_grad for p in tower.trunk.parameters())
    assert all(p.requires_grad for p in tower.head.parameters())


def test_lock_leaves_last_groups_trainable_and_freezes_bn():
    tower = TimmTower(_cfg(timm_pool="avg", timm_proj="linear"), embed_dim=16)
    tower.lock(unlocked_groups=1, freeze_bn_stats=True)
    frozen = {n for n, p in tower.trunk.named_parameters() if not p.requires_grad}
    assert any(n.startswith("conv1.") for n in frozen)  # the stem group
    assert not any(n.startswith("layer4.") for n in frozen)  # the last group stays trainable
    assert type(tower.trunk.conv1[1]).__name__ == "FrozenBatchNorm2d"
    assert type(tower.trunk.layer4[0].bn1) is torch.nn.BatchNorm2d


def test_full_lock_freezes_all_batch_norm_stats():
    tower = TimmTower(_cfg(timm_pool="avg", timm_proj="linear"), embed_dim=16)
    tower.lock(freeze_bn_stats=True)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in tower.trunk.modules())
    before = {k: v.clone() for k, v in tower.trunk.state_dict().items() if "running" in k}
    tower.train()(_images())
    after = tower.trunk.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())


def test_grad_checkpointing_reaches_trunk():
    tower = TimmTower(_cfg("test_vit"), embed_dim=16)
    tower.set_grad_checkpointing(True)
    assert tower.trunk.grad_checkpointing
    tower.set_grad_checkpointing(False)
    assert not tower.trunk.grad_checkpointing


def test_image_size_is_recorded_and_changeable():
    tower = TimmTower(_cfg("test_vit"), embed_dim=16)
    assert tower.image_size == (160, 160)
    assert TimmTower(_cfg("test_vit"), embed_dim=16, image_size=(128, 96)).image_size == (128, 96)
    tower.set_input_size(128)
    assert tower.image_size == (128, 128)
    assert tower.eval()(_images(size=128)).shape == (2, 16)


def test_forward_intermediates_shapes():
    tower = TimmTower(_cfg("test_vit", timm_pool="token", timm_proj="linear"), embed_dim=16).eval()
    out = tower.forward_intermediates(_images(), indices=2, output_extra_tokens=True)
    assert set(out) == {"image_intermediates", "image_intermediates_prefix", "image_features"}
    assert len(out["image_intermediates"]) == 2 and out["image_intermediates"][0].dim() == 4
    torch.testing.assert_close(out["image_features"], tower(_images()), atol=1e-6, rtol=0)
    only = tower.forward_intermediates(_images(), indices=1, intermediates_only=True)
    assert set(only) == {"image_intermediates"}


def test_prune_intermediate_layers_keeps_the_selected_outputs():
    tower = TimmTower(_cfg("test_vit", timm_pool="token", timm_proj="linear"), embed_dim=16).eval()
    images = _images()
    with torch.no_grad():
        before = tower.forward_intermediates(images, indices=[0], intermediates_only=True)
        assert tower.prune_intermediate_layers([0]) == [0]
        after = tower.forward_intermediates(images, indices=[0], intermediates_only=True)
    assert not any(k.startswith("head.") for k in tower.state_dict())
    torch.testing.assert_close(
        after["image_intermediates"][0], before["image_intermediates"][0], rtol=0, atol=0
    )
