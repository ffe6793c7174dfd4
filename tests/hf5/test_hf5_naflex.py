"""transformers 5.x ``Siglip2Model`` (NaFlex) both ways, and ``MetaClip2Model`` in.

- A random odd-sized ``Siglip2Model`` folder (``Siglip2ImageProcessor`` with a small ``max_num_patches``) loads with
  ``local-dir:`` and a mocked ``hf-hub:``; ``encode_image`` of the processor's inputs and ``encode_text`` equal
  ``get_image_features``/``get_text_features`` (atol 1e-4); clipzoo's NaFlex eval transform gives the processor's
  patches; exporting it back gives the same transformers model.
- A twin of ``ViT-B-16-SigLIP2-naflex`` (registry config, small widths, a byte-level BPE tokenizer) exports to a
  folder that ``AutoModel``/``AutoProcessor`` load with clipzoo's features and patch layout, and that loads back.
- A random ``MetaClip2Model`` folder whose end token is id 2 (XLM-V's) loads with CLIP's layout and pools at it.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import default_collate

import clipzoo
from clipzoo.models.naflex import naflex_batch_from_hf
from tests.helpers.hub_server import fake_hf_download

TEXT = dict(hidden_size=40, intermediate_size=83, num_hidden_layers=2, num_attention_heads=5, vocab_size=97,
            max_position_embeddings=13, layer_norm_eps=2e-6)  # fmt: skip
VISION = dict(hidden_size=40, intermediate_size=83, num_hidden_layers=3, num_attention_heads=5, patch_size=14,
              num_patches=16, layer_norm_eps=3e-6)  # fmt: skip
SIZES = ((64, 48), (100, 30), (20, 20), (7, 300), (333, 250))


def _photos() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for h, w in SIZES]


def _pooled(output):
    return getattr(output, "pooler_output", output)


def _siglip2(folder, act: str = "gelu_pytorch_tanh", budget: int = 24):
    from transformers import Siglip2Config, Siglip2Model
    from transformers.models.siglip2.image_processing_pil_siglip2 import Siglip2ImageProcessorPil

    torch.manual_seed(0)
    config = Siglip2Config(text_config={**TEXT, "hidden_act": act}, vision_config={**VISION, "hidden_act": act})
    model = Siglip2Model(config).eval()
    with torch.no_grad():
        model.logit_scale.fill_(2.25)
        model.logit_bias.fill_(-4.0)
    model.save_pretrained(folder)
    processor = Siglip2ImageProcessorPil(patch_size=14, max_num_patches=budget)
    processor.save_pretrained(folder)
    return model, processor


def _ids() -> torch.Tensor:
    return torch.randint(0, 97, (3, 13), generator=torch.Generator().manual_seed(4))


def _assert_same(model, reference, processor) -> float:
    inputs = processor(images=_photos(), return_tensors="pt")
    with torch.no_grad():
        theirs = _pooled(reference.get_image_features(**inputs))
        batch = naflex_batch_from_hf(inputs["pixel_values"], inputs["pixel_attention_mask"], inputs["spatial_shapes"])
        ours = model.encode_image(batch)
        torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)
        text_theirs = _pooled(reference.get_text_features(input_ids=_ids()))
        text_ours = model.encode_text(_ids())
        torch.testing.assert_close(text_ours, text_theirs, atol=1e-4, rtol=0)
    return max((ours - theirs).abs().max().item(), (text_ours - text_theirs).abs().max().item())


@pytest.mark.parametrize("act", ["gelu_pytorch_tanh", "gelu"])
def test_siglip2_folder_from_local_dir_and_back(tmp_path, act):
    from transformers import AutoModel

    from clipzoo.export.writers import export_model

    reference, processor = _siglip2(tmp_path, act)
    model, _, transform = clipzoo.create_model_and_transforms(f"local-dir:{tmp_path}")
    model.eval()
    assert model.visual.image_seq_len == 24 and (model.logit_scale.item(), model.logit_bias.item()) == (2.25, -4.0)
    worst = _assert_same(model, reference, processor)
    print(f"\nSiglip2 ({act}) -> clipzoo: max |difference| {worst:.2e}")
    # the NaFlex eval transform is the image processor: same sizes, same patches
    inputs = processor(images=_photos(), return_tensors="pt")
    ours = default_collate([transform(p) for p in _photos()])
    torch.testing.assert_close(ours["patches"], inputs["pixel_values"], atol=1e-6, rtol=0)
    assert torch.equal(ours["patch_valid"], inputs["pixel_attention_mask"].bool())
    with torch.no_grad():
        torch.testing.assert_close(model.encode_image(ours), _pooled(reference.get_image_features(**inputs)),
                                   atol=1e-4, rtol=0)  # fmt: skip

    again = export_model(f"local-dir:{tmp_path}", to=tmp_path / "again", format="transformers", include_tokenizer=False)
    exported = AutoModel.from_pretrained(again).eval()
    assert type(exported).__name__ == "Siglip2Model"
    assert json.loads((again / "preprocessor_config.json").read_text())["max_num_patches"] == 24
    with torch.no_grad():
        torch.testing.assert_close(_pooled(exported.get_image_features(**inputs)),
                                   _pooled(reference.get_image_features(**inputs)), atol=1e-5, rtol=0)  # fmt: skip
        torch.testing.assert_close(_pooled(exported.get_text_features(input_ids=_ids())),
                                   _pooled(reference.get_text_features(input_ids=_ids())), atol=1e-5, rtol=0)  # fmt: skip


def test_siglip2_from_hf_hub(tmp_path, monkeypatch):
    reference, processor = _siglip2(tmp_path)

    fake_hf_download(monkeypatch, tmp_path, "org/odd-siglip2")
    model = clipzoo.create_model("hf-hub:org/odd-siglip2").eval()
    _assert_same(model, reference, processor)


def _naflex_twin(gemma_dir) -> dict:
    cfg = copy.deepcopy(clipzoo.get_model_config("ViT-B-16-SigLIP2-naflex"))
    cfg["vision_cfg"]["timm_model_kwargs"] = {"embed_dim": 48, "depth": 2, "num_heads": 3, "mlp_ratio": 2.0}
    cfg["vision_cfg"]["image_seq_len"] = 64
    cfg["text_cfg"].update(width=48, heads=3, layers=2, mlp_ratio=2.0, vocab_size=400,
                           hf_tokenizer_name=str(gemma_dir))  # fmt: skip
    cfg["embed_dim"] = 48
    return cfg


@pytest.fixture
def naflex_twin(tmp_path, gemma_dir):
    from clipzoo.registry import architectures as registry

    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "twin-naflex.json").write_text(json.dumps(_naflex_twin(gemma_dir)))
    registry.reset_registry()
    registry.add_model_config(folder)
    yield "twin-naflex"
    registry.reset_registry()


def test_naflex_export_loads_in_transformers_with_the_same_features(naflex_twin, tmp_path):
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoProcessor

    from clipzoo.export.writers import export_model

    preprocess = {k: v for k, v in clipzoo.get_pretrained_cfg("ViT-B-16-SigLIP2-naflex", "webli").items()
                  if k in ("mean", "std", "interpolation", "resize_mode")}  # fmt: skip
    torch.manual_seed(0)
    source = clipzoo.create_model(naflex_twin)
    with torch.no_grad():
        source.logit_scale.fill_(3.1)
        source.logit_bias.fill_(-2.7)
    weights = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(weights))
    folder = export_model(naflex_twin, str(weights), to=tmp_path / "hf", format="transformers",
                          force_preprocess_cfg=preprocess)  # fmt: skip
    image_kwargs = {f"image_{k}": v for k, v in preprocess.items()}
    model, _, transform = clipzoo.create_model_and_transforms(naflex_twin, str(weights), **image_kwargs)
    model.eval()
    tokenizer = clipzoo.get_tokenizer(naflex_twin)

    hf = AutoModel.from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder)
    assert type(hf).__name__ == "Siglip2Model" and type(processor).__name__ == "Siglip2Processor"
    # transformers 5 loads every siglip2 folder's tokenizer as its Siglip2Tokenizer (Gemma's rules, whatever the
    # folder's tokenizer_class says), which this byte-level test vocabulary is not: the images are compared here,
    # the text through clipzoo's ids
    ids = tokenizer(["a photo of a cat.", "big red house, small green tree"])
    # Siglip2Processor's own defaults (max_num_patches 256) override its image processor's: pass the budget
    encoded = processor(images=_photos(), max_num_patches=64, return_tensors="pt")
    ours = default_collate([transform(p) for p in _photos()])
    assert ours["patches"].shape == encoded["pixel_values"].shape == (len(SIZES), 64, 16 * 16 * 3)
    assert torch.equal(ours["patch_valid"], encoded["pixel_attention_mask"].bool())
    image_inputs = {k: encoded[k] for k in ("pixel_values", "pixel_attention_mask", "spatial_shapes")}
    with torch.no_grad():
        theirs = _pooled(hf.get_image_features(**image_inputs))
        batch = naflex_batch_from_hf(*image_inputs.values())
        torch.testing.assert_close(model.encode_image(batch), theirs, atol=1e-4, rtol=0)
        torch.testing.assert_close(model.encode_text(ids), _pooled(hf.get_text_features(input_ids=ids)),
                                   atol=1e-4, rtol=0)  # fmt: skip
        # clipzoo's own transform: the same sizes; pixels within the resampling difference of the two backends
        worst = (model.encode_image(ours) - theirs).abs().max().item()
    assert worst < 0.05, worst
    print(f"\nclipzoo's NaFlex transform vs AutoProcessor's pixels: features differ by {worst:.2e}")
    back = clipzoo.create_model(f"local-dir:{folder}").eval()
    with torch.no_grad():
        torch.testing.assert_close(back.encode_image(batch), model.encode_image(batch), atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(back.encode_text(ids), model.encode_text(ids), atol=1e-6, rtol=1e-5)


def test_metaclip2_folder_pools_at_its_end_token(tmp_path):
    from transformers import CLIPImageProcessor, MetaClip2Config, MetaClip2Model

    torch.manual_seed(0)
    text = {**TEXT, "hidden_act": "gelu", "eos_token_id": 2, "bos_token_id": 0, "pad_token_id": 1}
    vision = {k: v for k, v in VISION.items() if k != "num_patches"}
    config = MetaClip2Config(text_config=text, vision_config={**vision, "image_size": 42, "hidden_act": "gelu"},
                             projection_dim=19)  # fmt: skip
    reference = MetaClip2Model(config).eval()
    reference.save_pretrained(tmp_path)
    CLIPImageProcessor(size={"shortest_edge": 42}, crop_size={"height": 42, "width": 42}).save_pretrained(tmp_path)
    model = clipzoo.create_model(f"local-dir:{tmp_path}").eval()
    ids = torch.randint(3, 97, (3, 13), generator=torch.Generator().manual_seed(2))
    for row, pos in enumerate((4, 9, 12)):  # the end token (2) is never the largest id: argmax pooling would miss it
        ids[row, pos] = 2
        ids[row, pos + 1 :] = 1
    pixels = torch.randn(2, 3, 42, 42, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(model.encode_text(ids), _pooled(reference.get_text_features(input_ids=ids)),
                                   atol=1e-5, rtol=0)  # fmt: skip
        torch.testing.assert_close(model.encode_image(pixels),
                                   _pooled(reference.get_image_features(pixel_values=pixels)), atol=1e-5, rtol=0)  # fmt: skip
