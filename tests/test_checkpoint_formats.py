"""Checkpoint formats: open_clip pickles/safetensors, OpenAI-style TorchScript archives (read without running
their code), transformers config conversion, and the refusal of pickles that need code."""

from __future__ import annotations

import json
import pickle
import warnings
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import clipzoo
import clipzoo.registry.config
from clipzoo.checkpoint import detect
from clipzoo.checkpoint import load as checkpoint
from clipzoo.formats import transformers, transformers_config


class NotATensor:
    """A custom class: unpickling it needs code, which weights_only forbids."""

    def __init__(self) -> None:
        self.value = 3


@pytest.fixture
def tiny_model(tiny_configs):
    torch.manual_seed(0)
    return clipzoo.create_model("tiny-vit").eval()


def _inputs():
    torch.manual_seed(1)
    return torch.randn(2, 3, 32, 32), torch.randint(1, 1000, (2, 16))


def _assert_same_state(state: dict, model: nn.Module) -> None:
    ref = model.state_dict()
    assert sorted(state) == sorted(ref)
    for key, value in ref.items():
        assert torch.equal(state[key], value), key


# ---------------------------------------------------------------------------------------------------- open_clip files


@pytest.mark.parametrize(
    ("suffix", "wrap"),
    [
        (".pt", lambda sd: sd),
        (".pth", lambda sd: {"state_dict": sd, "epoch": 3}),
        (".bin", lambda sd: {f"module.{k}": v for k, v in sd.items()}),
        (".pt", lambda sd: {"state_dict": {f"module.{k}": v for k, v in sd.items()}}),
    ],
)
def test_open_clip_pickles_load(tmp_path, tiny_model, suffix, wrap):
    path = tmp_path / f"ckpt{suffix}"
    torch.save(wrap(tiny_model.state_dict()), path)
    loaded = clipzoo.create_model("tiny-vit", pretrained=str(path))
    _assert_same_state(loaded.state_dict(), tiny_model)


def test_safetensors_detected_by_content(tmp_path, tiny_model):
    path = tmp_path / "weights.unknownext"
    save_file({k: v.contiguous() for k, v in tiny_model.state_dict().items()}, str(path))
    _assert_same_state(checkpoint.read_state_dict(path), tiny_model)
    assert detect.detect_format(checkpoint.read_state_dict(path)) == "open_clip"


def test_pickle_needing_code_is_refused(tmp_path, tiny_model):
    path = tmp_path / "unsafe.pt"
    torch.save({"state_dict": tiny_model.state_dict(), "extra": NotATensor()}, path)
    with pytest.raises(checkpoint.CheckpointError, match="arbitrary code"):
        clipzoo.create_model("tiny-vit", pretrained=str(path))


# ---------------------------------------------------------------------------------------------------- TorchScript


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(8)
        self.attn = nn.MultiheadAttention(8, 2)
        self.register_buffer("running", torch.arange(3.0))
        self.plain = torch.ones(2)  # a plain tensor attribute: not part of the state dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        return x + self.attn(y, y, y, need_weights=False)[0] + self.plain.sum() + self.running.sum()


class _ClipLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.positional_embedding = nn.Parameter(torch.randn(4, 8))
        self.transformer = nn.Sequential(_Block(), _Block())
        self.text_projection = nn.Parameter(torch.randn(8, 4).half())
        self.logit_scale = nn.Parameter(torch.ones([]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transformer(x + self.positional_embedding) @ self.text_projection.float()


def _jit_save(module: nn.Module, path, example=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = (
            torch.jit.script(module)
            if example is None
            else torch.jit.trace(module, example, check_trace=False)
        )
        torch.jit.save(scripted, str(path))
        return torch.jit.load(str(path)).state_dict()


def _recompress(path) -> None:
    """Rewrite an archive with deflated entries (tensor data can then not be memory-mapped)."""
    with zipfile.ZipFile(path) as src:
        entries = [(name, src.read(name)) for name in src.namelist()]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name, data in entries:
            dst.writestr(name, data)


@pytest.mark.slow
@pytest.mark.parametrize("compressed", [False, True], ids=["mapped", "deflated"])
def test_torchscript_read_without_running_code(tmp_path, monkeypatch, compressed):
    torch.manual_seed(0)
    path = tmp_path / "scripted.pt"
    expected = _jit_save(_ClipLike(), path)
    if compressed:
        _recompress(path)

    def forbidden(*args, **kwargs):
        raise AssertionError("torch.jit.load must not be used with weights_only=True")

    monkeypatch.setattr(torch.jit, "load", forbidden)
    state = checkpoint.read_state_dict(path)
    assert sorted(state) == sorted(expected)
    assert "transformer.0.plain" not in state
    for key, value in expected.items():
        assert state[key].dtype == value.dtype and torch.equal(state[key], value), key


def test_torchscript_jit_fallback_with_weights_only_false(tmp_path):
    path = tmp_path / "scripted.pt"
    expected = _jit_save(_ClipLike(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated
        state = checkpoint.read_state_dict(path, weights_only=False)
    assert all(torch.equal(state[k], v) for k, v in expected.items()) and sorted(state) == sorted(expected)


class _Touch:
    """Unpickling this would create a file: the TorchScript reader must refuse it instead."""

    def __init__(self, path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_torchscript_with_code_in_its_pickle_is_refused(tmp_path):
    good, bad, marker = tmp_path / "scripted.pt", tmp_path / "evil.pt", tmp_path / "marker"
    _jit_save(_ClipLike(), good)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for entry in src.namelist():
            data = pickle.dumps(_Touch(marker)) if entry.endswith("/data.pkl") else src.read(entry)
            dst.writestr(entry, data)
    with pytest.raises(checkpoint.CheckpointError, match="without running code .* not allowed"):
        checkpoint.read_state_dict(bad)
    assert not marker.exists()


def test_openai_style_archive_loads_into_clip(tmp_path, tiny_model):
    # OpenAI's archives are traced CLIP models with their config stored as extra 0-d entries.
    for name in ("input_resolution", "context_length", "vocab_size"):
        tiny_model.__dict__.pop(name, None)
        tiny_model.register_buffer(name, torch.tensor(7))
    image, text = _inputs()
    path = tmp_path / "ViT-tiny.pt"
    _jit_save(tiny_model, path, example=(image, text))
    state = checkpoint.read_state_dict(path)
    assert detect.detect_format(state) == "openai"
    loaded = clipzoo.create_model("tiny-vit", pretrained=str(path)).eval()
    with torch.no_grad():
        # equal weights at other addresses: float32 rounding may differ in the last bits on some CPUs
        tol = {"rtol": 1e-5, "atol": 1e-6}
        torch.testing.assert_close(loaded.encode_image(image), tiny_model.encode_image(image), **tol)
        torch.testing.assert_close(loaded.encode_text(text), tiny_model.encode_text(text), **tol)


# ---------------------------------------------------------------------------------------------------- configs


def test_hf_clip_config_conversion():
    config = {
        "model_type": "clip",
        "projection_dim": 24,
        "text_config": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "vocab_size": 49408,
            "max_position_embeddings": 16,
            "eos_token_id": 2,
        },
        "vision_config": {
            "hidden_size": 48,
            "intermediate_size": 96,
            "num_hidden_layers": 3,
            "num_attention_heads": 3,
            "image_size": 32,
            "patch_size": 8,
            "hidden_act": "quick_gelu",
        },
    }
    cfg = transformers_config.model_cfg_from_hf_config(config)
    assert cfg["embed_dim"] == 24 and cfg["quick_gelu"] is True
    assert cfg["vision_cfg"] == {
        "image_size": 32,
        "patch_size": 8,
        "width": 48,
        "layers": 3,
        "mlp_ratio": 2.0,
        "head_width": 16,
    }
    assert cfg["text_cfg"]["pool_type"] == "argmax" and cfg["text_cfg"]["context_length"] == 16
    assert "hf_tokenizer_name" not in cfg["text_cfg"]  # the standard CLIP vocabulary: clipzoo's own BPE
    clipzoo.registry.config.parse_model_config(cfg)  # valid for clipzoo's schema


def test_hf_clip_config_with_one_quick_gelu_tower_sets_it_on_the_image_tower():
    mixed = {
        "model_type": "clip",
        "text_config": {"hidden_act": "gelu"},
        "vision_config": {},
    }  # vision: quick
    cfg = transformers_config.model_cfg_from_hf_config(mixed)
    assert cfg.get("quick_gelu", False) is False and cfg["vision_cfg"]["quick_gelu"] is True
    clipzoo.registry.config.parse_model_config(cfg)


def test_hf_config_errors_name_the_problem():
    with pytest.raises(ValueError, match="model_type 'bert' is not supported; supported: clip, siglip"):
        transformers_config.model_cfg_from_hf_config({"model_type": "bert"})
    no_head = {"model_type": "siglip", "text_config": {}, "vision_config": {"vision_use_head": False}}
    with pytest.raises(ValueError, match="vision_use_head=false"):
        transformers_config.model_cfg_from_hf_config(no_head)
    gray = {"model_type": "clip", "text_config": {}, "vision_config": {"num_channels": 1}}
    with pytest.raises(ValueError, match="num_channels=1"):
        transformers_config.model_cfg_from_hf_config(gray)
    act = {"model_type": "siglip", "text_config": {}, "vision_config": {"hidden_act": "relu"}}
    with pytest.raises(ValueError, match="hidden_act 'relu' has no timm equivalent"):
        transformers_config.model_cfg_from_hf_config(act)


def test_siglip_config_builds_the_timm_trunk_from_its_numbers():
    vision = {"hidden_size": 40, "num_hidden_layers": 3, "num_attention_heads": 5, "intermediate_size": 97,
              "image_size": 60, "patch_size": 12, "layer_norm_eps": 3e-6}  # fmt: skip
    config = {"model_type": "siglip", "text_config": {"projection_size": 40}, "vision_config": vision}
    cfg = transformers_config.model_cfg_from_hf_config(config, tokenizer_source="org/repo")
    v = cfg["vision_cfg"]
    assert v["timm_model_name"] == transformers_config.SIGLIP_TIMM_FAMILY and v["timm_pool"] == "map"
    kwargs = v["timm_model_kwargs"]
    assert (kwargs["embed_dim"], kwargs["depth"], kwargs["num_heads"], kwargs["patch_size"]) == (40, 3, 5, 12)
    assert int(40 * kwargs["mlp_ratio"]) == 97 and kwargs["img_size"] == v["image_size"] == 60
    assert kwargs["act_layer"] == "gelu_tanh" and v["norm_kwargs"] == {"eps": 3e-6}
    assert cfg["embed_dim"] == 40
    assert cfg["text_cfg"]["hf_tokenizer_name"] == "org/repo"
    assert cfg["text_cfg"]["no_causal_mask"] and cfg["text_cfg"]["pool_type"] == "last"
    assert cfg["text_cfg"]["norm_kwargs"] == {"eps": 1e-6}
    assert cfg["text_cfg"]["act_kwargs"] == {"approximate": "tanh"}


@pytest.mark.parametrize(
    ("processor", "expected"),
    [
        (
            {
                "size": {"shortest_edge": 224},
                "do_center_crop": True,
                "crop_size": {"height": 224, "width": 224},
                "resample": 3,
                "image_mean": [0.1, 0.2, 0.3],
                "image_std": [0.4, 0.5, 0.6],
            },
            {
                "size": 224,
                "resize_mode": "shortest",
                "interpolation": "bicubic",
                "mean": (0.1, 0.2, 0.3),
                "std": (0.4, 0.5, 0.6),
            },
        ),
        (
            {
                "size": {"height": 256, "width": 192},
                "resample": 2,
                "image_mean": [0.5] * 3,
                "image_std": [0.5] * 3,
            },
            {
                "size": (256, 192),
                "resize_mode": "squash",
                "interpolation": "bilinear",
                "mean": (0.5,) * 3,
                "std": (0.5,) * 3,
            },
        ),
    ],
)
def test_preprocess_from_image_processor(processor, expected):
    assert transformers_config.preprocess_cfg_from_hf(processor) == expected


def test_preprocess_rejects_what_it_cannot_reproduce():
    with pytest.raises(ValueError, match="resample=1"):
        transformers_config.preprocess_cfg_from_hf({"resample": 1})
    with pytest.raises(ValueError, match="rescale_factor"):
        transformers_config.preprocess_cfg_from_hf({"rescale_factor": 0.5})


def test_local_dir_without_any_config_says_what_it_expected(tmp_path):
    with pytest.raises(
        FileNotFoundError, match="no open_clip_config.json .* and no transformers config.json"
    ):
        clipzoo.create_model(f"local-dir:{tmp_path}")


def test_unconsumed_keys_are_reported():
    state = {
        "vision_model.embeddings.class_embedding": torch.zeros(4),
        "text_model.embeddings.token_embedding.weight": torch.zeros(3, 4),
    }
    assert detect.detect_format(state) == "transformers-clip"
    with pytest.raises(
        checkpoint.CheckpointError, match="missing 'vision_model.embeddings.patch_embedding.weight'"
    ):
        transformers.convert_hf_clip(state, nn.Module())


def _tower_config(folder: Path, model_type: str, **extra) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, **extra}))


def test_clip_vision_text_pair_folder_is_recognised(tmp_path):
    _tower_config(
        tmp_path / "image_encoder",
        "clip_vision_model",
        projection_dim=16,
        hidden_size=32,
        num_attention_heads=2,
    )
    _tower_config(tmp_path / "text_encoder", "clip_text_model", projection_dim=16, vocab_size=49408)
    assert transformers_config.hf_pair_folders(tmp_path) == (tmp_path / "image_encoder", tmp_path / "text_encoder")
    assert transformers_config.is_hf_folder(tmp_path)
    model_cfg, _ = transformers_config.read_hf_folder_config(tmp_path, str(tmp_path))
    assert model_cfg["embed_dim"] == 16 and model_cfg["vision_cfg"]["width"] == 32
    with pytest.raises(checkpoint.CheckpointError, match="no weights file"):
        checkpoint.read_state_dict(tmp_path)


def test_clip_pair_folder_errors(tmp_path):
    _tower_config(tmp_path / "a", "clip_vision_model")
    _tower_config(tmp_path / "b", "clip_vision_model")
    with pytest.raises(ValueError, match="one CLIP vision and one CLIP text subfolder, found 2 vision"):
        transformers_config.hf_pair_folders(tmp_path)
    _tower_config(tmp_path / "other" / "x", "clip_text_model", projection_dim=8)
    _tower_config(tmp_path / "other" / "y", "clip_vision_model", projection_dim=16)
    with pytest.raises(ValueError, match=r"different sizes \[8, 16\]"):
        transformers_config.read_hf_folder_config(tmp_path / "other")
    (tmp_path / "empty").mkdir()
    with pytest.raises(checkpoint.CheckpointError, match="a folder, not a checkpoint file"):
        checkpoint.read_state_dict(tmp_path / "empty")


def test_shard_index(tmp_path):
    save_file({"a": torch.zeros(2)}, str(tmp_path / "s1.safetensors"))
    save_file({"b": torch.ones(3)}, str(tmp_path / "s2.safetensors"))
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}}))
    state = checkpoint.read_state_dict(index)
    assert sorted(state) == ["a", "b"] and state["b"].shape == (3,)
    index.write_text(json.dumps({"weight_map": {"a": "s1.safetensors", "c": "s3.safetensors"}}))
    with pytest.raises(
        checkpoint.CheckpointError, match="shard 's3.safetensors' listed in the index is missing"
    ):
        checkpoint.read_state_dict(index)
    index.write_text(json.dumps({"weight_map": {"a": "s1.safetensors", "c": "s1.safetensors"}}))
    with pytest.raises(checkpoint.CheckpointError, match="no shard holds: c"):
        checkpoint.read_state_dict(index)
    index.write_text("[]")
    with pytest.raises(checkpoint.CheckpointError, match="not a shard index"):
        checkpoint.read_state_dict(index)
