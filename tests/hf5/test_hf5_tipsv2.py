"""transformers 5.x ``Tipsv2Model`` folders <-> clipzoo: features, patch features, tokens, and the round trip.

Tiny random Tipsv2Model folders are built by transformers itself (a plain GELU MLP with one register, and a
SwiGLU MLP with two registers, as TIPSv2-g), with every parameter randomized (layer scale, class/register tokens
and positions included, which transformers initializes to constants). clipzoo loads them through ``local-dir:``;
its ``encode_image``/``encode_text`` equal ``get_image_features``/``get_text_features`` (pooler outputs) and its
``forward_intermediates`` patch tokens equal the last hidden state's patch tokens, within 1e-4.
"""

from __future__ import annotations

import json

import pytest
import torch

import clipzoo

TOL = 1e-4
TEXTS = ["A photo of a cat", "two dogs  on the red car", "zebra", "a big green tree with a bird in it"]
SIZE, CONTEXT = 56, 16
VARIANTS = {
    "gelu": dict(mlp_ratio=2.5, num_register_tokens=1, hidden_act="gelu", layer_norm_eps=2e-6),
    "swiglu": dict(mlp_ratio=4, num_register_tokens=2, use_swiglu_ffn=True, qkv_bias=False),
}


def _tokenizer():
    """A Tipsv2Tokenizer over a small vocabulary (words and letters, '<pad>' = 0 as in TIPSv2's)."""
    from transformers import Tipsv2Tokenizer

    from tests.hf5.hf5_twins import WORDS

    vocab = {"<pad>": 0, "<unk>": 1}
    for piece in [f"▁{w}" for w in WORDS] + [c for c in "abcdefghijklmnopqrstuvwxyz"]:
        vocab.setdefault(piece, len(vocab))
    for c in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(f"▁{c}", len(vocab))
    return Tipsv2Tokenizer(vocab=vocab, merges=[], model_max_length=CONTEXT)


def _build(folder, variant: str, temperature: bool = True):
    from transformers import Tipsv2Config, Tipsv2ImageProcessor, Tipsv2Model, Tipsv2Processor

    torch.manual_seed(0)
    tokenizer = _tokenizer()
    config = Tipsv2Config(
        text_config=dict(vocab_size=len(tokenizer.get_vocab()), hidden_size=32, intermediate_size=72,
                         num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=CONTEXT),
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, image_size=SIZE,
                           patch_size=14, **VARIANTS[variant]),
        temperature_init_value=0.03,
    )  # fmt: skip
    model = Tipsv2Model(config).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.normal_(0.0, 0.3)
        model.temperature.fill_(0.02)
    model.save_pretrained(folder)
    processor = Tipsv2Processor(Tipsv2ImageProcessor(size={"height": SIZE, "width": SIZE}), tokenizer)
    processor.save_pretrained(folder)
    if not temperature:  # as the published google/tipsv2-* files: no temperature tensor
        from safetensors.torch import load_file, save_file

        weights = load_file(folder / "model.safetensors")
        del weights["temperature"]
        save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
        model = Tipsv2Model.from_pretrained(folder).eval()
    return model, processor


@pytest.fixture(scope="module", params=list(VARIANTS))
def tips(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"tipsv2-{request.param}")
    model, processor = _build(folder, request.param)
    return folder, model, processor


def _inputs(processor):
    gen = torch.Generator().manual_seed(1)
    pixels = torch.rand(3, 3, SIZE, SIZE, generator=gen)
    text = processor(
        text=TEXTS, padding="max_length", max_length=CONTEXT, truncation=True, return_tensors="pt"
    )
    return pixels, text


def _hf(model, pixels, text):
    with torch.no_grad():
        vision = model.get_image_features(pixel_values=pixels)
        words = model.get_text_features(**text)
    return vision.pooler_output, vision.last_hidden_state, words.pooler_output


def _clipzoo(model, pixels, ids):
    with torch.no_grad():
        image, text = model.encode_image(pixels), model.encode_text(ids)
        out = model.forward_intermediates(
            image=pixels, text=ids, image_indices=1, normalize_intermediates=True, image_output_fmt="NLC"
        )
    return image, text, out


def test_tipsv2_folder_features_match_transformers(tips):
    folder, hf, processor = tips
    model = clipzoo.create_model(f"local-dir:{folder}").eval()
    pixels, text = _inputs(processor)
    ids = clipzoo.get_tokenizer(f"local-dir:{folder}")(TEXTS)
    assert torch.equal(ids, text["input_ids"])
    image, words, out = _clipzoo(model, pixels, ids)
    hf_image, hf_tokens, hf_words = _hf(hf, pixels, text)
    registers = hf.config.vision_config.num_register_tokens
    hf_patches = hf_tokens[:, 1 + registers :]
    diffs = {
        "image": (image - hf_image).abs().max().item(),
        "text": (words - hf_words).abs().max().item(),
        "patches": (out["image_intermediates"][-1] - hf_patches).abs().max().item(),
        "intermediates image_features": (out["image_features"] - torch.nn.functional.normalize(hf_image)).abs().max().item(),
        "intermediates text_features": (out["text_features"] - torch.nn.functional.normalize(hf_words)).abs().max().item(),
    }  # fmt: skip
    print(f"TIPSv2 {folder.name}: max |clipzoo - transformers| {diffs}")
    assert max(diffs.values()) < TOL, diffs
    assert model.logit_scale.exp().item() == pytest.approx(1 / hf.temperature.item(), rel=1e-5)


def test_tipsv2_folder_preprocessing_matches_processor(tips):
    from PIL import Image

    folder, _, processor = tips
    _, _, preprocess = clipzoo.create_model_and_transforms(f"local-dir:{folder}")
    gen = torch.Generator().manual_seed(2)
    photo = Image.fromarray((torch.rand(70, 90, 3, generator=gen) * 255).to(torch.uint8).numpy())
    theirs = processor(images=photo, return_tensors="pt")["pixel_values"][0]
    ours = preprocess(photo)
    assert ours.shape == theirs.shape
    # transformers' torchvision resize differs from PIL's by up to one grey level (DESIGN.md)
    assert (ours - theirs).abs().max().item() <= 1.5 / 255


def test_tipsv2_folder_round_trips(tips, tmp_path):
    """local-dir -> clipzoo -> export -> transformers loads it -> the same features, ids and pixels."""
    from transformers import AutoModel, AutoProcessor

    folder, hf, processor = tips
    out = tmp_path / "exported"
    clipzoo.export_model(f"local-dir:{folder}", to=out, format="transformers")
    again = AutoModel.from_pretrained(out).eval()
    again_processor = AutoProcessor.from_pretrained(out)
    assert type(again).__name__ == "Tipsv2Model"
    pixels, text = _inputs(processor)
    text_again = again_processor(
        text=TEXTS, padding="max_length", max_length=CONTEXT, truncation=True, return_tensors="pt"
    )
    assert torch.equal(text_again["input_ids"], text["input_ids"])
    assert torch.equal(text_again["attention_mask"], text["attention_mask"])
    theirs, ours = _hf(hf, pixels, text), _hf(again, pixels, text_again)
    diffs = [(a - b).abs().max().item() for a, b in zip(theirs, ours, strict=True)]
    print(f"TIPSv2 {folder.name} round trip: max |before - after| image, tokens, text {diffs}")
    assert max(diffs) < 1e-5
    assert again.temperature.item() == pytest.approx(hf.temperature.item(), rel=1e-5)
    config = json.loads((out / "config.json").read_text())
    assert config["vision_config"]["use_swiglu_ffn"] == hf.config.vision_config.use_swiglu_ffn


def test_tipsv2_without_temperature_uses_transformers_default(tmp_path):
    """The published files carry no temperature; transformers then uses the config's, and so does clipzoo."""
    hf, _ = _build(tmp_path, "gelu", temperature=False)
    model = clipzoo.create_model(f"local-dir:{tmp_path}")
    assert model.logit_scale.exp().item() == pytest.approx(1 / hf.temperature.item(), rel=1e-5)


def test_tipsv2_module_names_state_dict_loads(tips, tmp_path):
    """A file holding Tipsv2Model.state_dict() under transformers' module names (no save-time renaming)."""
    import shutil

    from safetensors.torch import save_file

    folder, hf, processor = tips
    for name in ("config.json", "processor_config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(folder / name, tmp_path / name)
    save_file({k: v.contiguous() for k, v in hf.state_dict().items()}, str(tmp_path / "model.safetensors"))
    model = clipzoo.create_model(f"local-dir:{tmp_path}").eval()
    pixels, text = _inputs(processor)
    image, words, _ = _clipzoo(model, pixels, text["input_ids"])
    hf_image, _, hf_words = _hf(hf, pixels, text)
    assert (image - hf_image).abs().max().item() < TOL
    assert (words - hf_words).abs().max().item() < TOL
