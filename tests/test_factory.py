"""The factory: resolve -> build -> load -> finish, on tiny architectures and local files."""

from __future__ import annotations

import pytest
import torch

import clipzoo
from clipzoo.checkpoint.load import CheckpointError
from clipzoo.factory import create as factory
from clipzoo.factory.resolve import PretrainedNotFoundError
from clipzoo.models.layers import LayerNormFp32, QuickGELU
from clipzoo.registry.architectures import UnknownModelError
from tests.helpers.checkpoints import save_weights, seeded_checkpoint

IMG = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
TXT = torch.randint(1, 49000, (2, 16), generator=torch.Generator().manual_seed(1))
# Outputs of equal weights at different addresses (memory-mapped reload vs. the in-memory model) may differ in
# the last bits (SIMD alignment picks different kernels on some CPUs: 7.45e-8 seen). Parameters stay exact.
OUT_TOL = {"rtol": 1e-5, "atol": 1e-6}


def _close(a, b):
    torch.testing.assert_close(a, b, **OUT_TOL)


def _save(model, path):
    return str(save_weights(model, path))


@pytest.fixture
def tiny_file(tiny_configs, tmp_path):
    model, path = seeded_checkpoint("tiny-vit", tmp_path / "tiny.safetensors")
    return model, str(path)


def _same_outputs(a, b):
    with torch.no_grad():
        _close(a.encode_image(IMG), b.encode_image(IMG))
        _close(a.encode_text(TXT), b.encode_text(TXT))


def test_random_model_has_preprocess_cfg(tiny_configs):
    model = clipzoo.create_model("tiny-vit")
    cfg = clipzoo.get_model_preprocess_cfg(model)
    assert (
        cfg["size"] == 32 and cfg["mean"] == clipzoo.OPENAI_DATASET_MEAN and cfg["resize_mode"] == "shortest"
    )
    assert clipzoo.get_model_tokenize_cfg(model)["context_length"] == 16


def test_load_safetensors_assigns_exact_weights_without_touching_rng(tiny_file):
    model, path = tiny_file
    state = torch.random.get_rng_state()
    loaded = clipzoo.create_model("tiny-vit", pretrained=path)
    assert torch.equal(state, torch.random.get_rng_state()), (
        "meta build must not init (nor draw random numbers)"
    )
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert not any(p.is_meta for p in loaded.parameters()) and not any(b.is_meta for b in loaded.buffers())
    _same_outputs(model, loaded)


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "module_prefix"])
def test_load_pickle_variants(tiny_file, tmp_path, wrap):
    model, _ = tiny_file
    state = model.state_dict()
    obj = {
        "plain": state,
        "state_dict": {"state_dict": state, "epoch": 3},
        "module_prefix": {f"module.{k}": v for k, v in state.items()},
    }[wrap]
    torch.save(obj, tmp_path / "w.pt")
    _same_outputs(model, clipzoo.create_model("tiny-vit", pretrained=str(tmp_path / "w.pt")))


def test_tag_with_local_url_and_quick_gelu_from_tag(tiny_file, fresh_tags, tmp_path):
    model, path = tiny_file
    clipzoo.add_pretrained_cfg(
        "tiny-vit",
        "Local-Run",
        {"url": path, "quick_gelu": True, "mean": [0.5] * 3, "std": [0.5] * 3, "resize_mode": "squash"},
    )
    loaded = clipzoo.create_model("tiny-vit", pretrained="local_run", cache_dir=str(tmp_path / "cache"))
    assert any(isinstance(m, QuickGELU) for m in loaded.modules()), "the tag's quick_gelu must be applied"
    pp = clipzoo.get_model_preprocess_cfg(loaded)
    assert pp["mean"] == (0.5, 0.5, 0.5) and pp["resize_mode"] == "squash"


def test_quick_gelu_resolution_without_download():
    spec = factory.resolve("ViT-B-32", "openai")
    assert spec.model_cfg.quick_gelu is True and spec.weights.record.tag == "openai"
    assert factory.resolve("ViT-B-32", "laion2b_s34b_b79k").model_cfg.quick_gelu is False
    assert (
        factory.resolve("ViT-B-32", "laion2b_s34b_b79k", force_quick_gelu=True).model_cfg.quick_gelu is True
    )
    # model kwargs have the last word, as in open_clip
    assert factory.resolve("ViT-B-32", "openai", quick_gelu=False).model_cfg.quick_gelu is False


def test_tag_preprocessing_resolved():
    spec = factory.resolve("ViT-B-16-SigLIP", "webli")
    assert spec.preprocess_cfg["mean"] == (0.5, 0.5, 0.5) and spec.preprocess_cfg["resize_mode"] == "squash"
    spec = factory.resolve(
        "ViT-B-32", "openai", force_image_size=256, force_preprocess_cfg={"interpolation": "bilinear"}
    )
    assert spec.preprocess_cfg["size"] == 256 and spec.preprocess_cfg["interpolation"] == "bilinear"


def test_create_model_and_transforms(tiny_configs):
    from PIL import Image

    model, train, val = clipzoo.create_model_and_transforms("tiny-vit", image_mean=(0.1, 0.2, 0.3))
    image = Image.new("RGB", (50, 40), (200, 100, 50))
    assert val(image).shape == (3, 32, 32) and train(image).shape == (3, 32, 32)
    assert clipzoo.get_model_preprocess_cfg(model)["mean"] == (0.1, 0.2, 0.3)


def test_create_model_from_pretrained_requires_weights(tiny_file):
    _, path = tiny_file
    model, val = clipzoo.create_model_from_pretrained("tiny-vit", pretrained=path)
    assert callable(val)
    with pytest.raises(ValueError, match="require_pretrained=True but no weights"):
        clipzoo.create_model_from_pretrained("tiny-vit")


def test_unknown_model_and_tag_errors(tiny_configs):
    with pytest.raises(UnknownModelError, match="unknown model 'tiny-vitt'; did you mean 'tiny-vit'"):
        clipzoo.create_model("tiny-vitt")
    with pytest.raises(
        PretrainedNotFoundError,
        match="unknown pretrained tag 'laion2b' for ViT-B-32; known tags: laion2b_e16.*not an existing file",
    ):
        clipzoo.create_model("ViT-B-32", pretrained="laion2b")


def test_mismatched_checkpoint_lists_keys(tiny_configs, tmp_path):
    torch.manual_seed(0)
    state = clipzoo.create_model("tiny-vit").state_dict()
    state.pop("ln_final.weight")
    state["extra.key"] = torch.zeros(1)
    state["text_projection"] = torch.zeros(3, 3)
    path = tmp_path / "bad.safetensors"
    save_weights(state, path)
    with pytest.raises(CheckpointError) as info:
        clipzoo.create_model("tiny-vit", pretrained=str(path))
    text = str(info.value)
    assert "1 missing key(s): ln_final.weight" in text
    assert "1 unexpected key(s): extra.key" in text
    assert "1 mis-shaped key(s): text_projection: checkpoint (3, 3) vs model (32, 32)" in text


@pytest.mark.parametrize("legacy", [False, True])
def test_truncated_pytorch_checkpoint_is_called_truncated(tiny_configs, tmp_path, legacy):
    """A .pt cut short (zip or legacy pickle) is reported as truncated, not as 'not a checkpoint'."""
    import torch

    whole = tmp_path / "whole.pt"
    torch.save(
        clipzoo.create_model("tiny-vit").state_dict(), whole, _use_new_zipfile_serialization=not legacy
    )
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated") as info:
        clipzoo.create_model("tiny-vit", pretrained=str(cut))
    assert "not a checkpoint" not in str(info.value) and "again" in str(info.value)


def test_file_that_is_not_a_checkpoint(tiny_configs, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(CheckpointError, match="not a checkpoint"):
        clipzoo.create_model("tiny-vit", pretrained=str(path))
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        clipzoo.create_model("tiny-vit", pretrained=str(bad))


class Payload:
    """A class a weights-only unpickler must refuse to rebuild."""


def test_pickle_needing_code_is_refused(tiny_configs, tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        clipzoo.create_model("tiny-vit", pretrained=str(path))


def test_bad_image_size_and_precision(tiny_configs):
    with pytest.raises(ValueError, match=r"image size \(36, 36\) is not divisible by the patch size 8"):
        clipzoo.create_model("tiny-vit", force_image_size=36)
    with pytest.raises(ValueError, match="unknown precision 'bf61'; did you mean 'bf16'"):
        clipzoo.create_model("tiny-vit", precision="bf61")
    # jit=True: TorchScript where the architecture compiles (tested with the jit support, not here)


def test_precisions(tiny_file):
    _, path = tiny_file
    mixed = clipzoo.create_model("tiny-vit", pretrained=path, precision="bf16")
    assert mixed.visual.conv1.weight.dtype == torch.bfloat16
    assert mixed.text_projection.dtype == torch.bfloat16
    assert mixed.ln_final.weight.dtype == torch.float32 and isinstance(mixed.ln_final, LayerNormFp32)
    assert mixed.logit_scale.dtype == torch.float32
    pure = clipzoo.create_model("tiny-vit", pretrained=path, precision="pure_fp16")
    assert {p.dtype for p in pure.parameters()} == {torch.float16}


def test_fp16_checkpoint_becomes_fp32_master(tiny_file, tmp_path):
    model, _ = tiny_file
    path = tmp_path / "half.safetensors"
    save_weights({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, path)
    loaded = clipzoo.create_model("tiny-vit", pretrained=str(path))
    assert {p.dtype for p in loaded.parameters()} == {torch.float32}


def test_force_image_size_resizes_position_embedding(tiny_file):
    _, path = tiny_file
    model = clipzoo.create_model("tiny-vit", pretrained=path, force_image_size=48)
    assert model.visual.positional_embedding.shape[0] == 36 + 1
    assert model.encode_image(torch.randn(1, 3, 48, 48)).shape == (1, 32)
    assert clipzoo.get_model_preprocess_cfg(model)["size"] == 48


def test_resnet_and_custom_text_round_trip(tiny_configs, tmp_path):
    for name in ("tiny-rn", "tiny-siglip"):
        torch.manual_seed(0)
        model = clipzoo.create_model(name)
        loaded = clipzoo.create_model(name, pretrained=_save(model, tmp_path / f"{name}.safetensors"))
        size = clipzoo.get_model_preprocess_cfg(model)["size"]
        img = torch.randn(1, 3, size, size)
        txt = torch.randint(1, 999, (1, 16))
        with torch.no_grad():
            reloaded = loaded.state_dict()
            assert all(torch.equal(reloaded[k], v) for k, v in model.state_dict().items())
            _close(model(img, txt)[0], loaded(img, txt)[0])
    assert loaded.logit_bias is not None


def test_output_dict(tiny_configs):
    model = clipzoo.create_model("tiny-vit", output_dict=True)
    out = model(IMG, TXT)
    assert set(out) >= {"image_features", "text_features", "logit_scale"}


def test_tower_weights(tiny_file, tmp_path):
    model, _ = tiny_file
    visual = tmp_path / "visual.safetensors"
    save_weights(model.visual, visual)
    fresh = clipzoo.create_model("tiny-vit", pretrained_image_path=str(visual))
    with torch.no_grad():
        _close(fresh.encode_image(IMG), model.encode_image(IMG))
    with pytest.raises(CheckpointError, match="unexpected key"):
        clipzoo.create_model("tiny-vit", pretrained_text_path=str(visual))
    text_only = tmp_path / "text.safetensors"
    save_weights({k: v for k, v in model.state_dict().items() if not k.startswith("visual.")}, text_only)
    fresh = clipzoo.create_model("tiny-vit", pretrained_text_path=str(text_only))
    with torch.no_grad():
        _close(fresh.encode_text(TXT), model.encode_text(TXT))


def test_tag_registered_without_mean_std_keeps_the_default_preprocessing(tmp_path, fresh_tags):
    from clipzoo.factory.resolve import resolve
    from clipzoo.preprocess.config import default_preprocess_dict

    weights = tmp_path / "w.pt"
    weights.write_bytes(b"not read by resolve")
    clipzoo.add_pretrained_cfg("ViT-B-32", "my-own", {"file": str(weights)})
    assert resolve("ViT-B-32", "my-own").preprocess_cfg == default_preprocess_dict()


def test_a_folder_given_as_a_model_name_points_at_local_dir(tmp_path, monkeypatch):
    (tmp_path / "exp_tiny").mkdir()
    monkeypatch.chdir(tmp_path / "exp_tiny")
    with pytest.raises(UnknownModelError) as info:
        clipzoo.create_model("../exp_tiny")
    assert str(info.value) == "unknown model '../exp_tiny'; it is a folder: load it with 'local-dir:../exp_tiny'"


def test_the_random_weights_hint_fits_the_source(tiny_configs, tmp_path, caplog):
    import json
    import logging

    caplog.set_level(logging.WARNING, logger="clipzoo")
    folder = tmp_path / "no-weights"
    folder.mkdir()
    config = {"model_cfg": clipzoo.get_model_config("tiny-vit"), "preprocess_cfg": {}}
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    hints = {}
    for name, kwargs in (("tiny-vit", {}), (f"local-dir:{folder}", {}), ("tiny-rn", {"load_weights": False})):
        caplog.clear()
        clipzoo.create_model(name, **kwargs)
        hints[name] = caplog.records[-1].getMessage().split("initialized randomly. ")[1]
    assert hints == {
        "tiny-vit": "Pass pretrained=<tag or file> for trained weights (clipzoo.list_pretrained_tags_by_model("
        "'tiny-vit') lists the tags).",
        f"local-dir:{folder}": f"The folder {folder} holds no weights file: put the model's weights in it "
        "(open_clip_model.safetensors, or a transformers folder's model.safetensors), e.g. with `clipzoo export`.",
        "tiny-rn": "Drop load_weights=False to load its weights.",
    }
