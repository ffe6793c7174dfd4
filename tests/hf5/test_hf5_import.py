"""transformers 5.x checkpoints of odd sizes -> clipzoo (``local-dir:`` and a mocked ``hf-hub:``).

Random ``CLIPModel``/``SiglipModel`` built by transformers itself with sizes no registry architecture has, each
activation transformers uses for them, and a non-default layer-norm eps: clipzoo builds the towers from the
config's numbers and its ``encode_image``/``encode_text`` equal ``get_image_features``/``get_text_features``
(atol 1e-5); preprocessing comes from the saved image processor.
"""

from __future__ import annotations

import pytest
import torch

import clipzoo
from tests.helpers.hub_server import fake_hf_download
from tests.helpers.transformers import save_clip

ACTIVATIONS = ["quick_gelu", "gelu", "gelu_pytorch_tanh"]


def _text(act: str, **extra) -> dict:
    return dict(hidden_size=36, intermediate_size=75, num_hidden_layers=2, num_attention_heads=3, vocab_size=97,
                max_position_embeddings=13, hidden_act=act, layer_norm_eps=2e-6, **extra)  # fmt: skip


def _vision(act: str, **extra) -> dict:
    return dict(hidden_size=40, intermediate_size=83, num_hidden_layers=3, num_attention_heads=5, image_size=42,
                patch_size=14, hidden_act=act, layer_norm_eps=3e-6, **extra)  # fmt: skip


def _clip(folder, act: str):
    processor = {"size": 42, "image_mean": [0.4, 0.5, 0.6]}
    return save_clip(folder, _text(act, eos_token_id=96), _vision(act), 19, processor)



def _siglip(folder, act: str):
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel

    torch.manual_seed(0)
    config = SiglipConfig(text_config=_text(act, projection_size=40), vision_config=_vision(act))
    model = SiglipModel(config).eval()
    with torch.no_grad():
        model.logit_scale.fill_(2.25)
        model.logit_bias.fill_(-4.0)
    model.save_pretrained(folder)
    SiglipImageProcessor(size={"height": 42, "width": 42}, image_mean=[0.3, 0.3, 0.3]).save_pretrained(folder)
    return model


def _inputs():
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 95, (3, 13), generator=gen)
    for row, pos in enumerate((4, 9, 12)):  # end tokens at different places, padding after them
        ids[row, pos] = 96
        ids[row, pos + 1 :] = 0
    return torch.randn(3, 3, 42, 42, generator=gen), ids


def _assert_exports_back(folder, reference) -> None:
    """clipzoo's export of the loaded folder is the same transformers model again (both ways, any size)."""
    from transformers import AutoModel

    from clipzoo.export.writers import export_model

    again = export_model(
        f"local-dir:{folder}", to=folder / "again", format="transformers", include_tokenizer=False
    )
    exported = AutoModel.from_pretrained(again).eval()
    assert exported.config.vision_config.hidden_act == reference.config.vision_config.hidden_act
    pixels, ids = _inputs()
    with torch.no_grad():
        for ours, theirs in (
            (
                exported.get_image_features(pixel_values=pixels),
                reference.get_image_features(pixel_values=pixels),
            ),
            (exported.get_text_features(input_ids=ids), reference.get_text_features(input_ids=ids)),
        ):
            torch.testing.assert_close(
                getattr(ours, "pooler_output", ours),
                getattr(theirs, "pooler_output", theirs),
                atol=1e-5,
                rtol=0,
            )


def _assert_same(model, reference) -> None:
    pixels, ids = _inputs()
    with torch.no_grad():
        image = reference.get_image_features(pixel_values=pixels)
        text = reference.get_text_features(input_ids=ids)
        torch.testing.assert_close(
            model.encode_image(pixels), getattr(image, "pooler_output", image), atol=1e-5, rtol=0
        )
        torch.testing.assert_close(
            model.encode_text(ids), getattr(text, "pooler_output", text), atol=1e-5, rtol=0
        )


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_odd_clip_from_local_dir(tmp_path, act):
    reference = _clip(tmp_path, act)
    model = clipzoo.create_model(f"local-dir:{tmp_path}").eval()
    _assert_same(model, reference)
    assert model.logit_scale.item() == 2.5
    pp = clipzoo.get_model_preprocess_cfg(model)
    assert (pp["size"], pp["interpolation"], pp["resize_mode"], pp["mean"]) == (
        42,
        "bilinear",
        "shortest",
        (0.4, 0.5, 0.6),
    )
    _assert_exports_back(tmp_path, reference)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_odd_siglip_from_local_dir(tmp_path, act):
    reference = _siglip(tmp_path, act)
    model = clipzoo.create_model(f"local-dir:{tmp_path}").eval()
    _assert_same(model, reference)
    assert (model.logit_scale.item(), model.logit_bias.item()) == (2.25, -4.0)
    pp = clipzoo.get_model_preprocess_cfg(model)
    assert (pp["size"], pp["resize_mode"], pp["mean"]) == (42, "squash", (0.3, 0.3, 0.3))
    _assert_exports_back(tmp_path, reference)


def test_odd_siglip_from_hf_hub(tmp_path, monkeypatch):
    reference = _siglip(tmp_path, "gelu_pytorch_tanh")

    fake_hf_download(monkeypatch, tmp_path, "org/odd-siglip")
    _assert_same(clipzoo.create_model("hf-hub:org/odd-siglip").eval(), reference)


def test_clip_vision_and_text_with_projection_pair(tmp_path):
    from transformers import (
        CLIPImageProcessor,
        CLIPTextConfig,
        CLIPTextModelWithProjection,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    torch.manual_seed(0)
    vision = CLIPVisionModelWithProjection(CLIPVisionConfig(**_vision("gelu"), projection_dim=19)).eval()
    text = CLIPTextModelWithProjection(
        CLIPTextConfig(**_text("gelu", eos_token_id=96), projection_dim=19)
    ).eval()
    vision.save_pretrained(tmp_path / "image_encoder")
    text.save_pretrained(tmp_path / "text_encoder")
    CLIPImageProcessor(size={"shortest_edge": 42}, crop_size={"height": 42, "width": 42}).save_pretrained(
        tmp_path / "image_encoder"
    )
    model = clipzoo.create_model(f"local-dir:{tmp_path}").eval()
    pixels, ids = _inputs()
    with torch.no_grad():
        torch.testing.assert_close(
            model.encode_image(pixels), vision(pixel_values=pixels).image_embeds, atol=1e-5, rtol=0
        )
        torch.testing.assert_close(model.encode_text(ids), text(input_ids=ids).text_embeds, atol=1e-5, rtol=0)
    assert model.logit_scale.item() == pytest.approx(2.6592)  # the pair has none: transformers' default
    assert clipzoo.get_model_preprocess_cfg(model)["size"] == 42


def test_sharded_checkpoint(tmp_path):
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=_text("gelu", eos_token_id=96), vision_config=_vision("gelu"), projection_dim=19
    )
    reference = CLIPModel(config).eval()
    reference.save_pretrained(tmp_path, max_shard_size="100KB")
    assert (tmp_path / "model.safetensors.index.json").is_file() and not (
        tmp_path / "model.safetensors"
    ).exists()
    _assert_same(clipzoo.create_model(f"local-dir:{tmp_path}").eval(), reference)
