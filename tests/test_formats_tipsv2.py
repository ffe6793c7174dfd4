"""TIPSv2 in clipzoo without transformers: registry entries, the text tower's TIPSv2 switches, and the
Tipsv2Model folder table read both ways (clipzoo -> export -> local-dir -> the same features, info, zero-shot).

Parity with transformers itself is in tests/hf5/test_hf5_tipsv2.py.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

import clipzoo
from clipzoo.registry import architectures as registry
from clipzoo.registry.tags import reset_tags

SIZES = {"TIPSv2-B-14": "b14", "TIPSv2-L-14": "l14", "TIPSv2-SO400M-14": "so400m14", "TIPSv2-g-14": "g14"}
WORDS = "a photo of the cat dog red car tree bird".split()


def test_tipsv2_architectures_and_webli_tags():
    from clipzoo.export.transformers import transformers_export_support

    for name, repo in SIZES.items():
        assert clipzoo.list_pretrained_tags_by_model(name) == ["webli"]
        cfg = clipzoo.get_pretrained_cfg(name, "webli")
        assert cfg["hf_hub"] == f"google/tipsv2-{repo}/model.safetensors"
        assert (cfg["mean"], cfg["std"], cfg["resize_mode"]) == ((0.0,) * 3, (1.0,) * 3, "squash")
        model_cfg = clipzoo.get_model_config(name)
        assert model_cfg["vision_cfg"]["timm_model_name"].endswith("_patch14_reg1_tipsv2")
        assert transformers_export_support(model_cfg).hf_class == "Tipsv2Model"


def _tiny_config(tokenizer_dir) -> dict:
    cfg = clipzoo.get_model_config("TIPSv2-B-14")
    cfg["embed_dim"] = 32
    cfg["vision_cfg"].update(image_size=28, timm_model_kwargs={"embed_dim": 32, "depth": 2, "num_heads": 4,
                                                               "mlp_ratio": 2.0, "img_size": 28})  # fmt: skip
    cfg["text_cfg"].update(width=32, heads=4, layers=2, mlp_ratio=2.0, context_length=12, vocab_size=len(WORDS) + 2,
                           hf_tokenizer_name=str(tokenizer_dir))  # fmt: skip
    return cfg


@pytest.fixture
def tiny_tips(tmp_path):
    """A registered 'tiny-tips' (TIPSv2-B-14 shrunk) with a word-level tokenizer.json ('<pad>' = 0)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    tok_dir = tmp_path / "tokenizer"
    tok_dir.mkdir()
    vocab = {"<pad>": 0, "<unk>": 1, **{w: i + 2 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer, tok.pre_tokenizer = normalizers.Lowercase(), pre_tokenizers.WhitespaceSplit()
    tok.save(str(tok_dir / "tokenizer.json"))
    (tok_dir / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<pad>", "unk_token": "<unk>"}))
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "tiny-tips.json").write_text(json.dumps(_tiny_config(tok_dir)))
    registry.reset_registry()
    registry.add_model_config(configs)
    torch.manual_seed(0)
    model = clipzoo.create_model("tiny-tips").eval()
    with torch.no_grad():  # class token, register and layer scale away from their constant inits
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
    yield model
    registry.reset_registry()
    reset_tags()  # the test's 'tiny' tag


def test_tipsv2_layout(tiny_tips):
    """open_clip PR 1166's layout: timm trunk under visual.trunk, text tower under text, no text positions."""
    keys = tiny_tips.state_dict().keys()
    assert "visual.trunk.reg_token" in keys and "visual.trunk.blocks.1.ls2.gamma" in keys
    assert "text.transformer.resblocks.1.mlp.c_fc.weight" in keys
    assert not any("positional_embedding" in k or "text_projection" in k for k in keys)
    assert isinstance(tiny_tips.text.transformer.resblocks[0].mlp.gelu, torch.nn.ReLU)
    assert tiny_tips.init_logit_scale == pytest.approx(-math.log(0.005065968260169029))


def test_text_features_ignore_padding(tiny_tips):
    """Padding keys are masked and pooling averages real tokens only: more padding, same features."""
    tokenizer = clipzoo.get_tokenizer("tiny-tips")
    ids = tokenizer(["a red car", "the cat"], context_length=6)
    longer = torch.cat((ids, torch.zeros(2, 6, dtype=torch.long)), dim=1)
    with torch.no_grad():
        short, padded = tiny_tips.encode_text(ids), tiny_tips.encode_text(longer)
    assert (short - padded).abs().max().item() < 1e-5
    with pytest.raises(ValueError, match="at most 12"):
        tiny_tips.encode_text(torch.ones(1, 13, dtype=torch.long))


def test_sinusoidal_positions_are_tensor2tensor_table():
    from clipzoo.models.text import sinusoidal_positions

    table = sinusoidal_positions(5, 8)
    half = 4
    rates = [10000 ** (-i / (half - 1)) for i in range(half)]
    expected = [[math.sin(p * r) for r in rates] + [math.cos(p * r) for r in rates] for p in range(5)]
    assert torch.allclose(table, torch.tensor(expected), atol=1e-6)
    assert sinusoidal_positions(3, 7)[:, -1].abs().sum() == 0  # odd width: a zero column


TIPS_PREPROCESS = {
    "mean": (0.0,) * 3,
    "std": (1.0,) * 3,
    "resize_mode": "squash",
    "interpolation": "bilinear",
}


@pytest.fixture
def tips_folder(tiny_tips, tmp_path):
    """The tiny model exported as a transformers Tipsv2Model folder."""
    from safetensors.torch import save_file

    weights, out = tmp_path / "tiny.safetensors", tmp_path / "tips-folder"
    save_file(tiny_tips.state_dict(), str(weights))
    clipzoo.add_pretrained_cfg("tiny-tips", "tiny", {"file": str(weights), **TIPS_PREPROCESS})
    clipzoo.export_model("tiny-tips", "tiny", to=out, format="transformers")
    return out


def _assert_same_model(loaded, reference) -> None:
    pixels = torch.rand(2, 3, 28, 28)
    ids = clipzoo.get_tokenizer("tiny-tips")(["a photo of a cat", "red tree"])
    with torch.no_grad():
        assert (loaded.encode_image(pixels) - reference.encode_image(pixels)).abs().max().item() < 1e-6
        assert (loaded.encode_text(ids) - reference.encode_text(ids)).abs().max().item() < 1e-6


def test_tipsv2_export_reads_back_with_the_same_features(tiny_tips, tips_folder, capsys):
    """clipzoo -> Tipsv2Model folder (TIPS layout, temperature) -> local-dir: the same features, ids and
    logit scale; info and zero-shot work on the folder."""
    from PIL import Image
    from safetensors import safe_open

    from clipzoo.cli import main as cli_main

    out = tips_folder
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "tipsv2" and config["vision_config"]["num_register_tokens"] == 1
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        assert (
            f.get_tensor("vision_encoder.pos_embed").shape[1] == 1 + 4
        )  # the class position, written as zero
    assert {"temperature", "vision_encoder.mask_token", "text_encoder.ln_final.weight"} <= keys
    loaded = clipzoo.create_model(f"local-dir:{out}").eval()
    _assert_same_model(loaded, tiny_tips)
    texts = ["a photo of a cat", "red tree"]
    assert torch.equal(
        clipzoo.get_tokenizer(f"local-dir:{out}")(texts), clipzoo.get_tokenizer("tiny-tips")(texts)
    )
    assert loaded.logit_scale.item() == pytest.approx(tiny_tips.logit_scale.item(), rel=1e-6)
    assert cli_main(["info", f"local-dir:{out}"]) == 0
    assert "tipsv2" in capsys.readouterr().out.lower()
    photo = Image.fromarray((torch.rand(40, 30, 3) * 255).to(torch.uint8).numpy())
    _, _, preprocess = clipzoo.create_model_and_transforms(f"local-dir:{out}")
    top = clipzoo.zero_shot_classify(
        loaded, [photo], ["cat", "dog", "car"], clipzoo.get_tokenizer(f"local-dir:{out}"), preprocess
    )
    assert sorted(label for label, _ in top[0]) == ["car", "cat", "dog"]
    assert sum(p for _, p in top[0]) == pytest.approx(1.0, abs=1e-4)


@pytest.fixture
def fake_hub(tips_folder, monkeypatch):
    """Hub repo 'org/tiny-tipsv2' served from the exported folder (nothing touches the network)."""
    from clipzoo.hub import hf as hub_hf
    from clipzoo.hub.errors import NotFoundError

    def fake_download(model_id, filename=None, revision=None, cache_dir=None, offline=None, **kwargs):
        path = tips_folder / (filename or "open_clip_pytorch_model.bin")
        if model_id != "org/tiny-tipsv2" or not path.is_file():
            raise NotFoundError(f"hf-hub:{model_id} has no file {filename}")
        return str(path)

    # hub.pretrained (tags) binds the function at its import: import it before patching, then patch both
    from clipzoo.hub import pretrained as hub_pretrained

    monkeypatch.setattr(hub_hf, "download_pretrained_from_hf", fake_download)
    monkeypatch.setattr(hub_pretrained, "download_pretrained_from_hf", fake_download)
    return tips_folder


def test_tipsv2_from_hf_hub(tiny_tips, fake_hub):
    _assert_same_model(clipzoo.create_model("hf-hub:org/tiny-tipsv2").eval(), tiny_tips)
    texts = ["a photo of a cat"]
    assert torch.equal(
        clipzoo.get_tokenizer("hf-hub:org/tiny-tipsv2")(texts), clipzoo.get_tokenizer("tiny-tips")(texts)
    )


def test_tipsv2_tag_on_a_hub_file_without_temperature(tiny_tips, fake_hub):
    """A tag naming a Hub file in the TIPS layout (as webli's google/tipsv2-*/model.safetensors, which carry no
    temperature): the weights convert, and the logit scale is the config's (transformers' default)."""
    from safetensors.torch import load_file, save_file

    weights = load_file(fake_hub / "model.safetensors")
    del weights["temperature"]
    save_file(weights, str(fake_hub / "published.safetensors"))
    clipzoo.add_pretrained_cfg(
        "tiny-tips", "webli", {"hf_hub": "org/tiny-tipsv2/published.safetensors", **TIPS_PREPROCESS}
    )
    model = clipzoo.create_model("tiny-tips", "webli").eval()
    _assert_same_model(model, tiny_tips)
    assert model.logit_scale.item() == pytest.approx(-math.log(0.005065968260169029), rel=1e-6)
