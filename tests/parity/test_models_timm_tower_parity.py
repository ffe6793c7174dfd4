"""Parity of clipzoo's TimmTower with open_clip 3.3.0's TimmModel (peer: open_clip; tolerance: atol 1e-5, fp32).

Layout: every timm config with a Hugging Face text tower (the whole-model sweep skips those) has the same image-tower
state-dict keys, order and shapes as open_clip's ``model.visual`` (built on the meta device; open_clip's side recorded
in tests/data/open_clip-3.3.0/layouts.json, one rebuilt live). Numerics: open_clip's randomly initialised tower is copied into a
meta-built TimmTower with ``strict=True, assign=True`` and both run on the same random images.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

open_clip = pytest.importorskip("open_clip")
from open_clip.model import _build_vision_tower  # noqa: E402

from clipzoo.models.timm_tower import TimmTower  # noqa: E402
from clipzoo.registry.config import parse_model_config  # noqa: E402
from tests.helpers import peer_layouts  # noqa: E402
from tests.helpers.peers import layout_only  # noqa: E402

CONFIG_DIR = Path(__file__).resolve().parents[2] / "model_configs"
ATOL = 1e-5


def _raw_config(name: str) -> dict:
    return json.loads((CONFIG_DIR / f"{name}.json").read_text())


# The NaFlex configs (open_clip main's, image_seq_len) are in no released open_clip: 3.3.0 cannot build them.
# (Audio configs such as CLAP have no vision_cfg.)
TIMM_CONFIGS = sorted(
    p.stem
    for p in CONFIG_DIR.glob("*.json")
    if "timm_model_name" in (vision := json.loads(p.read_text()).get("vision_cfg", {}))
    and "naflex" not in vision["timm_model_name"]
    and "tipsv2" not in vision["timm_model_name"]  # clipzoo-only (open_clip 3.3.0 has no TIPSv2): no peer to compare
)


def _our_signature(name: str) -> list:
    cfg = parse_model_config(_raw_config(name), name)
    with layout_only():
        return peer_layouts.tower_signature(TimmTower(cfg.vision_cfg, cfg.embed_dim))


def test_timm_config_count():
    assert len(TIMM_CONFIGS) == 78


# The whole-model layout sweep (test_models_parity.test_state_dict_layout_matches_open_clip) already compares the
# image tower's keys and shapes of every timm config that builds offline; here the ones it skips (a Hugging Face
# text tower), whose image tower is built alone, against open_clip's recorded tower layouts.
HF_TEXT_TIMM_CONFIGS = sorted(n for n in TIMM_CONFIGS if peer_layouts.has_hf_text(n))


@pytest.mark.parametrize("name", HF_TEXT_TIMM_CONFIGS)
def test_state_dict_layout_matches_open_clip(name):
    peer_layouts.assert_matches_peer(name, _our_signature(name))


def test_recorded_tower_layout_is_open_clips():
    name = "nllb-clip-base-siglip"
    assert peer_layouts.fingerprint(peer_layouts.peer_signature(name)) == peer_layouts.recorded()[name]


def _variant(vision_cfg: dict, embed_dim: int) -> dict:
    return {"embed_dim": embed_dim, "vision_cfg": vision_cfg, "text_cfg": {}}


# Real configs plus copied configs on timm's tiny test models, for head layouts no shipped config uses.
NUMERIC_CASES = {
    # SigLIP's head layout (MAP pool, no projection) and EVA02's (token pool, timm classifier, RoPE buffers)
    # on small trunks; the full-size configs run in the slow set.
    "siglip-like": _variant({"timm_model_name": "test_vit", "timm_pool": "map", "timm_proj": "none"}, 64),
    "eva02-like": _variant(
        {"timm_model_name": "eva02_tiny_patch14_224", "timm_pool": "token", "timm_proj": None}, 40
    ),
    "abs_attn": _variant(
        {"timm_model_name": "test_efficientnet", "timm_pool": "abs_attn", "timm_proj": ""}, 48
    ),
    "rot_attn+linear": _variant(
        {
            "timm_model_name": "test_byobnet",
            "timm_pool": "rot_attn",
            "timm_proj": "linear",
            "timm_proj_bias": True,
        },
        40,
    ),
    "mlp+bias": _variant(
        {"timm_model_name": "test_convnext", "timm_pool": "", "timm_proj": "mlp", "timm_proj_bias": True}, 32
    ),
    "relpos-avg-classifier": _variant(
        {"timm_model_name": "test_vit_relpos", "timm_pool": "avg", "timm_proj": None}, 24
    ),
}
SLOW_NUMERIC_CASES = {
    name: _raw_config(name)
    for name in (
        "ViT-B-16-SigLIP",
        "EVA02-B-16",
        "convnext_base",
    )  # swin_base_patch4_window7_224 runs at full size in test_family_sweep (the swin family's member)
}


def _peer_and_ours(raw: dict, name: str) -> tuple[torch.nn.Module, TimmTower]:
    torch.manual_seed(0)
    peer = _build_vision_tower(raw["embed_dim"], copy.deepcopy(raw["vision_cfg"])).eval()
    cfg = parse_model_config(raw, name)
    with torch.device("meta"):
        ours = TimmTower(cfg.vision_cfg, cfg.embed_dim)
    ours.load_state_dict(peer.state_dict(), strict=True, assign=True)
    return peer, ours.eval()


def _images(tower: TimmTower, batch: int = 2) -> torch.Tensor:
    size = tower.trunk.default_cfg["input_size"][1:]
    return torch.randn(batch, 3, *size, generator=torch.Generator().manual_seed(1))


def _check_outputs(raw: dict, name: str) -> None:
    peer, ours = _peer_and_ours(raw, name)
    images = _images(ours)
    with torch.no_grad():
        expected, actual = peer(images), ours(images)
    assert actual.shape == expected.shape == (2, raw["embed_dim"])
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0)


@pytest.mark.parametrize("name", list(NUMERIC_CASES))
def test_outputs_match_open_clip(name):
    _check_outputs(NUMERIC_CASES[name], name)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SLOW_NUMERIC_CASES))
def test_outputs_match_open_clip_slow(name):
    _check_outputs(SLOW_NUMERIC_CASES[name], name)


@pytest.mark.parametrize("extra_tokens", [False, True])
def test_forward_intermediates_match_open_clip(extra_tokens):
    raw = NUMERIC_CASES["siglip-like"]
    peer, ours = _peer_and_ours(raw, "siglip-like")
    images = _images(ours)
    kwargs = dict(indices=2, output_extra_tokens=extra_tokens)
    with torch.no_grad():
        expected = peer.forward_intermediates(images, **kwargs)
        actual = ours.forward_intermediates(images, **kwargs)
    assert sorted(actual) == sorted(expected)
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=0)


def test_input_size_change_matches_open_clip():
    raw = NUMERIC_CASES["siglip-like"]
    peer, ours = _peer_and_ours(raw, "siglip-like")
    peer.set_input_size(128)
    ours.set_input_size(128)
    assert ours.image_size == peer.image_size == (128, 128)
    images = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(ours(images), peer(images), atol=ATOL, rtol=0)


def _frozen_state(tower: torch.nn.Module) -> tuple[dict[str, bool], dict[str, str]]:
    grads = {n: p.requires_grad for n, p in tower.named_parameters()}
    norms = {n: type(m).__name__ for n, m in tower.named_modules() if "BatchNorm" in type(m).__name__}
    return grads, norms


@pytest.mark.parametrize("unlocked_groups", [0, 1, 3])
def test_lock_matches_open_clip(unlocked_groups):
    raw = _variant({"timm_model_name": "test_resnet", "timm_pool": "avg", "timm_proj": "linear"}, 16)
    peer, ours = _peer_and_ours(raw, "resnet")
    peer.lock(unlocked_groups=unlocked_groups, freeze_bn_stats=True)
    ours.lock(unlocked_groups=unlocked_groups, freeze_bn_stats=True)
    assert _frozen_state(ours) == _frozen_state(peer)
    images = _images(ours)
    with torch.no_grad():
        torch.testing.assert_close(ours.train()(images), peer.train()(images), atol=ATOL, rtol=0)
