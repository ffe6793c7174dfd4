"""Third-party checkpoints against their peers.

- transformers 4.56.2 ``CLIPModel``/``SiglipModel`` (tiny random configs, ``save_pretrained``): clipzoo's
  ``encode_image``/``encode_text`` vs ``get_image_features``/``get_text_features``, atol 1e-5; preprocessing
  from the saved image processor; ``hf-hub:`` with a mocked download; ``force_image_size`` vs open_clip 3.3.0's
  ``resize_pos_embed`` (exact).
- big_vision ``.npz``: clipzoo's loaded state dict vs open_clip 3.3.0's ``load_big_vision_weights`` on the same
  file (exact), per-block and stacked (scan) layouts.
- export: open_clip 3.3.0 loads a clipzoo-exported folder and gives identical outputs (atol 1e-6) and
  preprocess cfg.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import clipzoo
from clipzoo.registry import architectures as registry
from tests.helpers.hub_server import fake_hf_download
from tests.helpers.transformers import HF_TEXT, HF_VISION, save_clip

TIMM_TINY = "vit_zootest_patch8_siglip_32"
TINY_TEXT = HF_TEXT
TINY_VISION = HF_VISION


@pytest.fixture
def tiny_siglip_timm():
    """A tiny timm SigLIP ViT registered by name (once per process): open_clip 3.3.0 builds timm towers by name
    only, so the big_vision comparison needs one."""
    import timm
    from timm.models import register_model
    from timm.models.vision_transformer import _create_vision_transformer

    if not timm.is_model(TIMM_TINY):

        def vit_zootest_patch8_siglip_32(pretrained=False, **kwargs):
            args = dict(
                patch_size=8,
                embed_dim=32,
                depth=2,
                num_heads=2,
                mlp_ratio=2.0,
                class_token=False,
                global_pool="map",
                act_layer="gelu_tanh",
                img_size=32,
            )
            return _create_vision_transformer(TIMM_TINY, pretrained=pretrained, **dict(args, **kwargs))

        register_model(vit_zootest_patch8_siglip_32)
    return TIMM_TINY


def _inputs(eos: int | None = None):
    gen = torch.Generator().manual_seed(3)
    image = torch.randn(3, 3, 32, 32, generator=gen)
    text = torch.randint(1, 90, (3, 16), generator=gen)
    if eos is not None:  # end-of-text tokens at different positions, padding after them
        for row, pos in enumerate((4, 9, 15)):
            text[row, pos] = eos
            text[row, pos + 1 :] = 0
    return image, text


def _pair(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else tuple(size)


def _save_hf_clip(folder: Path, **vision_overrides):
    processor = {"size": 32, "image_mean": [0.4, 0.5, 0.6], "image_std": [0.2, 0.3, 0.25]}
    return save_clip(folder, dict(TINY_TEXT, eos_token_id=99), dict(TINY_VISION, **vision_overrides), 24, processor)



def _save_hf_siglip(folder: Path):
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    torch.manual_seed(0)
    model = SiglipModel(SiglipConfig(text_config=TINY_TEXT, vision_config=TINY_VISION)).eval()
    with torch.no_grad():
        model.logit_scale.fill_(2.25)
        model.logit_bias.fill_(-4.0)
    model.save_pretrained(folder)
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return model


def _assert_features_match(model, reference, image, text, atol=1e-5):
    with torch.no_grad():
        torch.testing.assert_close(
            model.encode_image(image), reference.get_image_features(pixel_values=image), atol=atol, rtol=0
        )
        torch.testing.assert_close(
            model.encode_text(text), reference.get_text_features(input_ids=text), atol=atol, rtol=0
        )


# ---------------------------------------------------------------------------------------------------- transformers


def test_transformers_clip_local_dir(tmp_path):
    reference = _save_hf_clip(tmp_path)
    model = clipzoo.create_model(f"local-dir:{tmp_path}").eval()
    image, text = _inputs(eos=99)
    _assert_features_match(model, reference, image, text)
    assert model.logit_scale.item() == 2.5
    pp = clipzoo.get_model_preprocess_cfg(model)
    assert (pp["mean"], pp["std"]) == ((0.4, 0.5, 0.6), (0.2, 0.3, 0.25))
    assert (pp["size"], pp["interpolation"], pp["resize_mode"]) == (32, "bilinear", "shortest")


@pytest.mark.parametrize(("text_act", "vision_act"), [("quick_gelu", "gelu"), ("gelu", "quick_gelu")])
def test_transformers_clip_with_a_different_activation_per_tower(tmp_path, text_act, vision_act):
    """Each tower is built with its own activation, as transformers builds it; an export keeps both."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(TINY_TEXT, eos_token_id=99, hidden_act=text_act),
        vision_config=dict(TINY_VISION, hidden_act=vision_act),
        projection_dim=24,
    )
    reference = CLIPModel(config).eval()
    reference.save_pretrained(tmp_path / "hf")
    model = clipzoo.create_model(f"local-dir:{tmp_path / 'hf'}").eval()
    image, text = _inputs(eos=99)
    _assert_features_match(model, reference, image, text)
    clipzoo.export_model(
        f"local-dir:{tmp_path / 'hf'}", to=tmp_path / "out", format="transformers", include_tokenizer=False
    )
    exported = json.loads((tmp_path / "out" / "config.json").read_text())
    assert (exported["text_config"]["hidden_act"], exported["vision_config"]["hidden_act"]) == (
        text_act,
        vision_act,
    )


def test_transformers_siglip_local_dir(tmp_path):
    reference = _save_hf_siglip(tmp_path)
    model = clipzoo.create_model(f"local-dir:{tmp_path}").eval()
    image, text = _inputs()
    _assert_features_match(model, reference, image, text)
    assert (model.logit_scale.item(), model.logit_bias.item()) == (2.25, -4.0)
    pp = clipzoo.get_model_preprocess_cfg(model)
    assert (pp["mean"], pp["std"], pp["resize_mode"], pp["size"]) == ((0.5,) * 3, (0.5,) * 3, "squash", 32)


def test_transformers_clip_hf_hub_mocked(tmp_path, monkeypatch):
    reference = _save_hf_clip(tmp_path)
    asked = fake_hf_download(monkeypatch, tmp_path, "org/tiny-clip")
    model = clipzoo.create_model("hf-hub:org/tiny-clip").eval()
    image, text = _inputs(eos=99)
    _assert_features_match(model, reference, image, text)
    assert asked[0] == "open_clip_config.json" and "config.json" in asked and "model.safetensors" in asked
    assert clipzoo.get_model_preprocess_cfg(model)["interpolation"] == "bilinear"


def test_force_image_size_resizes_converted_position_embeddings(tmp_path):
    from open_clip.model import resize_pos_embed as open_clip_resize

    reference = _save_hf_clip(tmp_path)
    model = clipzoo.create_model(f"local-dir:{tmp_path}", force_image_size=48).eval()
    assert model.visual.positional_embedding.shape == (1 + 6 * 6, 32)
    original = {
        "visual.positional_embedding": reference.vision_model.embeddings.position_embedding.weight.detach()
    }
    open_clip_resize(original, model)
    assert torch.equal(model.visual.positional_embedding, original["visual.positional_embedding"])
    with torch.no_grad():
        assert model.encode_image(torch.randn(1, 3, 48, 48)).shape == (1, 24)
    assert clipzoo.get_model_preprocess_cfg(model)["size"] == 48


# ---------------------------------------------------------------------------------------------------- big_vision


def _bv_attention(prefix: str, q, k, v, out_w, out_b, heads: int) -> dict[str, np.ndarray]:
    width = q[0].shape[1]
    arrays = {}
    for name, (w, b) in (("query", q), ("key", k), ("value", v)):
        arrays[f"{prefix}{name}/kernel"] = w.T.reshape(width, heads, -1)
        arrays[f"{prefix}{name}/bias"] = b.reshape(heads, -1)
    arrays[f"{prefix}out/kernel"] = out_w.T.reshape(heads, -1, out_w.shape[0])
    arrays[f"{prefix}out/bias"] = out_b
    return arrays


def _bv_block(sd: dict, p: str, names: dict, heads: int) -> dict[str, np.ndarray]:
    """One encoder block in big_vision's layout, from an open_clip/timm block (test-only inverse mapping)."""
    qkv_w, qkv_b = sd[p + names["qkv_w"]], sd[p + names["qkv_b"]]
    d = qkv_w.shape[1]
    q, k, v = [(qkv_w[i * d : (i + 1) * d], qkv_b[i * d : (i + 1) * d]) for i in range(3)]
    out = _bv_attention(
        "MultiHeadDotProductAttention_0/",
        q,
        k,
        v,
        sd[p + names["out"] + ".weight"],
        sd[p + names["out"] + ".bias"],
        heads,
    )
    for ln, src in (("LayerNorm_0", names["ln1"]), ("LayerNorm_1", names["ln2"])):
        out[f"{ln}/scale"], out[f"{ln}/bias"] = sd[p + src + ".weight"], sd[p + src + ".bias"]
    for dense, src in (("Dense_0", names["fc1"]), ("Dense_1", names["fc2"])):
        out[f"MlpBlock_0/{dense}/kernel"], out[f"MlpBlock_0/{dense}/bias"] = (
            sd[p + src + ".weight"].T,
            sd[p + src + ".bias"],
        )
    return out


_TIMM_NAMES = {
    "qkv_w": "attn.qkv.weight",
    "qkv_b": "attn.qkv.bias",
    "out": "attn.proj",
    "ln1": "norm1",
    "ln2": "norm2",
    "fc1": "mlp.fc1",
    "fc2": "mlp.fc2",
}
_NATIVE_NAMES = {
    "qkv_w": "attn.in_proj_weight",
    "qkv_b": "attn.in_proj_bias",
    "out": "attn.out_proj",
    "ln1": "ln_1",
    "ln2": "ln_2",
    "fc1": "mlp.c_fc",
    "fc2": "mlp.c_proj",
}


def _bv_blocks(sd, src: str, dst: str, names: dict, layers: int, stacked: bool) -> dict[str, np.ndarray]:
    blocks = [_bv_block(sd, f"{src}{i}.", names, heads=2) for i in range(layers)]
    if stacked:
        return {f"{dst}encoderblock/{k}": np.stack([b[k] for b in blocks]) for k in blocks[0]}
    return {f"{dst}encoderblock_{i}/{k}": v for i, b in enumerate(blocks) for k, v in b.items()}


def _to_big_vision(model, stacked: bool) -> dict[str, np.ndarray]:
    sd = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    t, img, txt = "visual.trunk.", "params/img/", "params/txt/"
    w = {
        f"{img}embedding/kernel": sd[f"{t}patch_embed.proj.weight"].transpose(2, 3, 1, 0),
        f"{img}embedding/bias": sd[f"{t}patch_embed.proj.bias"],
        f"{img}pos_embedding": sd[f"{t}pos_embed"],
        f"{img}Transformer/encoder_norm/scale": sd[f"{t}norm.weight"],
        f"{img}Transformer/encoder_norm/bias": sd[f"{t}norm.bias"],
    }
    w.update(_bv_blocks(sd, f"{t}blocks.", f"{img}Transformer/", _TIMM_NAMES, 2, stacked))
    a, head = f"{t}attn_pool.", f"{img}MAPHead_0/"
    kv_w, kv_b, d = sd[f"{a}kv.weight"], sd[f"{a}kv.bias"], sd[f"{a}q.weight"].shape[0]
    w.update(
        {
            f"{head}{k}": v
            for k, v in _bv_attention(
                "MultiHeadDotProductAttention_0/",
                (sd[f"{a}q.weight"], sd[f"{a}q.bias"]),
                (kv_w[:d], kv_b[:d]),
                (kv_w[d:], kv_b[d:]),
                sd[f"{a}proj.weight"],
                sd[f"{a}proj.bias"],
                heads=2,
            ).items()
        }
    )
    w.update(
        {
            f"{head}probe": sd[f"{a}latent"],
            f"{head}LayerNorm_0/scale": sd[f"{a}norm.weight"],
            f"{head}LayerNorm_0/bias": sd[f"{a}norm.bias"],
        }
    )
    for r in range(2):
        w[f"{head}MlpBlock_0/Dense_{r}/kernel"] = sd[f"{a}mlp.fc{r + 1}.weight"].T
        w[f"{head}MlpBlock_0/Dense_{r}/bias"] = sd[f"{a}mlp.fc{r + 1}.bias"]
    w.update(
        {
            f"{txt}Embed_0/embedding": sd["text.token_embedding.weight"],
            f"{txt}pos_embedding": sd["text.positional_embedding"][None],
            f"{txt}Encoder_0/encoder_norm/scale": sd["text.ln_final.weight"],
            f"{txt}Encoder_0/encoder_norm/bias": sd["text.ln_final.bias"],
            f"{txt}head/kernel": sd["text.text_projection.weight"].T,
            f"{txt}head/bias": sd["text.text_projection.bias"],
            "params/t": sd["logit_scale"].reshape(1),
            "params/b": sd["logit_bias"].reshape(1),
        }
    )
    w.update(_bv_blocks(sd, "text.transformer.resblocks.", f"{txt}Encoder_0/", _NATIVE_NAMES, 2, stacked))
    return w


TINY_BV_CFG = {
    "embed_dim": 32,
    "init_logit_bias": -10,
    "custom_text": True,
    "vision_cfg": {
        "image_size": 32,
        "timm_model_name": TIMM_TINY,
        "timm_model_pretrained": False,
        "timm_pool": "map",
        "timm_proj": "none",
    },
    "text_cfg": {
        "context_length": 16,
        "vocab_size": 100,
        "width": 32,
        "heads": 2,
        "layers": 2,
        "mlp_ratio": 2.0,
        "no_causal_mask": True,
        "proj_bias": True,
        "pool_type": "last",
        "norm_kwargs": {"eps": 1e-6},
    },
}


@pytest.fixture
def tiny_bv(tmp_path, tiny_siglip_timm):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "tiny-bv.json").write_text(json.dumps(TINY_BV_CFG))
    registry.reset_registry()
    registry.add_model_config(tmp_path / "cfg")
    yield "tiny-bv"
    registry.reset_registry()


@pytest.mark.parametrize("stacked", [False, True], ids=["per-block", "stacked"])
def test_big_vision_npz_matches_open_clip(tmp_path, tiny_bv, stacked):
    import open_clip
    from open_clip.convert import load_big_vision_weights

    def open_clip_model():
        cfg = json.loads(json.dumps(TINY_BV_CFG))
        return open_clip.CustomTextCLIP(
            cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"], init_logit_bias=cfg["init_logit_bias"]
        )

    torch.manual_seed(0)
    source = open_clip_model()
    path = tmp_path / "siglip.bin"  # named like a pickle on purpose: the format is read from the content
    with open(path, "wb") as f:
        np.savez(f, **_to_big_vision(source, stacked))
    target = open_clip_model()
    load_big_vision_weights(target, str(path))
    model = clipzoo.create_model(tiny_bv, pretrained=str(path))
    expected = target.state_dict()
    state = model.state_dict()
    assert sorted(state) == sorted(expected)
    for key, value in expected.items():
        assert torch.equal(state[key], value.reshape(state[key].shape)), key
    image, text = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(
            model.eval().encode_image(image), target.eval().encode_image(image), atol=1e-5, rtol=0
        )
        torch.testing.assert_close(model.encode_text(text), target.encode_text(text), atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------------------------- export


def test_open_clip_loads_clipzoo_export(tmp_path, tiny_configs):
    import open_clip

    from clipzoo.export.writers import export_model

    torch.manual_seed(0)
    source = clipzoo.create_model("tiny-vit")
    ckpt = tmp_path / "tiny.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(ckpt))
    folder = export_model(
        "tiny-vit",
        str(ckpt),
        to=tmp_path / "export",
        force_preprocess_cfg={
            "mean": (0.1, 0.2, 0.3),
            "std": (0.3, 0.2, 0.1),
            "interpolation": "bilinear",
            "resize_mode": "squash",
        },
    )
    ours = clipzoo.create_model(f"local-dir:{folder}").eval()
    theirs, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    theirs.eval()
    image, text = _inputs()
    theirs_state = theirs.state_dict()
    for key, value in ours.state_dict().items():  # the folder round-trips the weights bit for bit
        assert torch.equal(value, theirs_state[key]), key
    with torch.no_grad():
        torch.testing.assert_close(ours.encode_image(image), theirs.encode_image(image), atol=1e-6, rtol=0)
        # text: up to ~1.1e-6 apart on identical weights (clipzoo's causal text tower skips the positions after
        # the pooled token, which changes the matmul shapes), so 1e-5 here
        torch.testing.assert_close(ours.encode_text(text), theirs.encode_text(text), atol=1e-5, rtol=0)
    theirs_pp = open_clip.get_model_preprocess_cfg(theirs)
    ours_pp = clipzoo.get_model_preprocess_cfg(ours)
    for key in ("mode", "interpolation", "resize_mode", "fill_color"):
        assert ours_pp[key] == theirs_pp[key], key
    # open_clip reports the size as the tower's (h, w) pair; clipzoo keeps the config's int
    assert _pair(ours_pp["size"]) == _pair(theirs_pp["size"]) == (32, 32)
    for key in ("mean", "std"):
        assert (
            tuple(ours_pp[key])
            == tuple(theirs_pp[key])
            == ((0.1, 0.2, 0.3) if key == "mean" else (0.3, 0.2, 0.1))
        )


def test_transformers_clip_exported_for_open_clip(tmp_path):
    """transformers folder -> clipzoo export -> open_clip 3.3.0 reproduces transformers' features (atol 1e-5)."""
    import open_clip

    from clipzoo.export.writers import export_model

    reference = _save_hf_clip(tmp_path / "hf")
    # the tiny vocabulary makes the folder its own (absent) HF tokenizer: export the model only
    folder = export_model(f"local-dir:{tmp_path / 'hf'}", to=tmp_path / "exported", include_tokenizer=False)
    theirs = open_clip.create_model(f"local-dir:{folder}").eval()
    image, text = _inputs(eos=99)
    _assert_features_match(theirs, reference, image, text)
    pp = open_clip.get_model_preprocess_cfg(theirs)
    assert (tuple(pp["mean"]), pp["interpolation"]) == ((0.4, 0.5, 0.6), "bilinear")
