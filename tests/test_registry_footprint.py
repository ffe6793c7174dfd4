"""Parameters counted from a config alone: a lower bound of every registry profile, and a model too large for this
machine refused, with its size, before anything is allocated, whatever its source."""

from __future__ import annotations

import json

import pytest

import clipzoo
from clipzoo.registry import architectures as registry
from clipzoo.registry.config import parse_model_config
from clipzoo.registry.footprint import ModelTooLargeError, check_model_fits, estimate_parameters

SMALL_TEXT = {"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 1}
HUGE_VISION = {"image_size": 32, "patch_size": 8, "width": 200000, "head_width": 100000, "layers": 1}


def test_the_estimate_is_a_lower_bound_of_every_profile():
    from clipzoo.registry.results import stored_profiles

    ratios = {}
    for name in stored_profiles():
        profile = clipzoo.get_model_profile(name)
        if not profile.params.get("total"):
            continue
        cfg = parse_model_config(registry.get_model_config(name), source=name)
        ratios[name] = estimate_parameters(cfg) / profile.params["total"]
    assert len(ratios) > 130 and max(ratios.values()) <= 1.0
    assert ratios["ViT-B-32"] > 0.99 and ratios["RN50"] > 0.5  # close where the config says every number


@pytest.fixture
def no_build(monkeypatch):
    """Building fails the test: the refusal must come first."""
    from clipzoo.factory import create

    monkeypatch.setattr(create, "build", lambda *a, **k: pytest.fail("built the model"))


def _transformers_clip(folder, vision_width: int):
    folder.mkdir()
    config = {
        "architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 32,
        "text_config": {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
                        "num_hidden_layers": 1, "vocab_size": 1000, "max_position_embeddings": 16},
        "vision_config": {"hidden_size": vision_width, "intermediate_size": 4 * vision_width,
                          "num_attention_heads": 2, "num_hidden_layers": 1, "image_size": 32, "patch_size": 8},
    }  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_too_large_is_refused_before_allocation_whatever_the_source(tmp_path, no_build, caplog, monkeypatch):
    from clipzoo.registry import footprint

    monkeypatch.setattr(footprint, "physical_memory", lambda: 8 * 2**30)  # the same answer on any machine
    folder = _transformers_clip(tmp_path / "hf", 200000)
    with pytest.raises(ModelTooLargeError, match=rf"local-dir:{folder}: its config makes at least 480\.0 billion "
                       r"parameters, 1,788\.3 GiB in float32, more than this machine's 8\.0 GiB of memory"):  # fmt: skip
        clipzoo.create_model(f"local-dir:{folder}")
    assert not caplog.records  # not even the random-weights warning: nothing was started
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "huge.json").write_text(json.dumps({"embed_dim": 16, "vision_cfg": HUGE_VISION,
                                                            "text_cfg": SMALL_TEXT}))  # fmt: skip
    registry.reset_registry()
    try:
        registry.add_model_config(tmp_path / "cfg")
        with pytest.raises(ModelTooLargeError, match="huge: its config makes at least 480.[0-9] billion parameters"):
            clipzoo.create_model("huge")
    finally:
        registry.reset_registry()
    with pytest.raises(ModelTooLargeError, match=r"ViT-B-32: its config makes at least 2\.5 billion"):
        clipzoo.create_model("ViT-B-32", vision_cfg={**clipzoo.get_model_config("ViT-B-32")["vision_cfg"],
                                                    "width": 4096})  # fmt: skip


def test_the_limit_is_this_machines_memory():
    cfg = parse_model_config(clipzoo.get_model_config("ViT-B-32"), source="ViT-B-32")
    check_model_fits(cfg, "ViT-B-32", memory=2**30)  # 151 M parameters: 0.6 GiB
    with pytest.raises(ModelTooLargeError, match=r"more than this machine's 0\.5 GiB"):
        check_model_fits(cfg, "ViT-B-32", memory=2**29)
