"""Every inference path on every family: ``optimize_for_inference`` keeps each tower's features (issue 25, item 2).

One tiny model per family (native ViT, ModifiedResNet, timm ViT with an attention pool, NaFlex, ConvNeXt, CoCa,
a Hugging Face text tower), each path (``fp32``, ``bf16``, ``int8``, ``auto``) against the unoptimized model:
cosine >= 0.999 (int8 >= 0.99) on image and text features. bf16 runs on every CPU where torch computes bfloat16
products (unpacked, emulated where oneDNN's bf16 kernels cannot run); it is skipped, with the reason, where
torch cannot. An optimized model deep-copies and round-trips through ``torch.save``/``torch.load``.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import json

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import default_collate

import clipzoo
from clipzoo.inference.optimize import available_kernels
from clipzoo.registry import architectures as registry

# timm and transformers build the timm and HF families: checked, not imported, at collection (imports cost seconds)
pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ("timm", "transformers")),
    reason="needs timm and transformers",
)

TEXT = {"context_length": 16, "vocab_size": 64, "width": 48, "heads": 3, "layers": 2}
VIT = {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8}
TIMM_TRUNK = {"embed_dim": 48, "depth": 2, "num_heads": 3, "mlp_ratio": 2.0}

FAMILIES = {
    "native-vit": {"embed_dim": 48, "vision_cfg": VIT, "text_cfg": TEXT},
    "modified-resnet": {
        "embed_dim": 48,
        "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "patch_size": None},
        "text_cfg": TEXT,
    },
    "timm-vit-attention-pool": {
        "embed_dim": 48,
        "init_logit_bias": -10,
        "custom_text": True,
        "vision_cfg": {
            "image_size": 32,
            "timm_model_name": "vit_base_patch16_siglip_224",
            "timm_model_kwargs": {**TIMM_TRUNK, "img_size": 32, "patch_size": 8},
            "timm_pool": "map",
            "timm_proj": "none",
        },
        "text_cfg": {**TEXT, "no_causal_mask": True, "pool_type": "last", "proj_bias": True},
    },
    "convnext": {
        "embed_dim": 48,
        "vision_cfg": {
            "image_size": 32,
            "timm_model_name": "test_convnext",
            "timm_pool": "",
            "timm_proj": "linear",
        },
        "text_cfg": TEXT,
    },
    "coca": {
        "embed_dim": 48,
        "custom_text": True,
        "vision_cfg": {
            **VIT,
            "attentional_pool": True,
            "attn_pooler_queries": 9,
            "attn_pooler_heads": 2,
            "output_tokens": True,
        },
        "text_cfg": {**TEXT, "embed_cls": True, "output_tokens": True},
        "multimodal_cfg": {"context_length": 16, "vocab_size": 64, "width": 48, "heads": 3, "layers": 1},
    },  # fmt: skip
}
NAFLEX_BASE = "ViT-B-16-SigLIP2-naflex"
PATHS = {"fp32": 0.999, "bf16": 0.999, "int8": 0.99}


def _naflex_config() -> dict:
    """The registry's ViT-B-16-SigLIP2-naflex with a two-block width-48 trunk, 12 patches and a small text tower."""
    cfg = copy.deepcopy(clipzoo.get_model_config(NAFLEX_BASE))
    cfg["vision_cfg"]["timm_model_kwargs"] = {
        **(cfg["vision_cfg"].get("timm_model_kwargs") or {}),
        **TIMM_TRUNK,
    }
    cfg["vision_cfg"]["image_seq_len"] = 12
    cfg["text_cfg"].update(TEXT)
    cfg["text_cfg"].pop("hf_tokenizer_name", None)
    return {"embed_dim": 48, "vision_cfg": cfg["vision_cfg"], "text_cfg": cfg["text_cfg"]}


def _hf_text_config(folder) -> dict:
    """A native ViT with a tiny random RoBERTa text tower saved in ``folder`` (no Hub access)."""
    import transformers

    config = transformers.RobertaConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
        max_position_embeddings=40, pad_token_id=1,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    config.save_pretrained(folder)
    text = {"hf_model_name": str(folder), "hf_model_pretrained": False, "hf_pooler_type": "mean_pooler",
            "hf_proj_type": "mlp", "context_length": 16, "vocab_size": 64}  # fmt: skip
    return {"embed_dim": 48, "vision_cfg": VIT, "text_cfg": text}


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    """Register one tiny architecture per family; yields their names."""
    folder = tmp_path_factory.mktemp("family-configs")
    configs = {**FAMILIES, "naflex": _naflex_config(), "hf-text": _hf_text_config(folder / "roberta")}
    for name, cfg in configs.items():
        (folder / f"tiny-{name}.json").write_text(json.dumps(cfg))
    registry.reset_registry()
    registry.add_model_config(folder)
    yield sorted(configs)
    registry.reset_registry()


def _inputs(family: str) -> tuple[object, torch.Tensor]:
    """Images (for NaFlex, the patch dict its eval transform makes from photos) and token ids, padded rows too."""
    gen = torch.Generator().manual_seed(0)
    text = torch.randint(3, 60, (3, 16), generator=gen)
    text[0, 10:] = 1  # a padded row: exercises masks and poolers
    if family == "naflex":
        _, _, transform = clipzoo.create_model_and_transforms(f"tiny-{family}", device="meta")
        photos = [
            torch.randint(0, 255, (h, w, 3), generator=gen, dtype=torch.uint8)
            for h, w in ((40, 24), (20, 50))
        ]
        return default_collate([transform(Image.fromarray(p.numpy())) for p in photos]), text
    size = 64 if family == "modified-resnet" else 32
    return torch.randn(3, 3, size, size, generator=gen), text


def _features(model, images, text) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.inference_mode():
        return model.encode_image(images), model.encode_text(text)


def _skip_unless_runs(path: str) -> None:
    if path == "bf16" and not available_kernels().bf16_unpacked:
        pytest.skip("this torch build cannot compute bfloat16 matrix products on this CPU")


def _expected_floor(model, path: str) -> float:
    return PATHS[model.inference_report.path] if path == "auto" else PATHS[path]


@pytest.mark.parametrize("path", [*PATHS, "auto"])
@pytest.mark.parametrize(
    "family",
    ["native-vit", "modified-resnet", "timm-vit-attention-pool", "naflex", "convnext", "coca", "hf-text"],
)
def test_every_path_keeps_the_features(families, family, path):
    _skip_unless_runs(path)
    torch.manual_seed(0)
    model = clipzoo.create_model(f"tiny-{family}").eval()
    images, text = _inputs(family)
    reference = _features(model, images, text)
    optimized = clipzoo.optimize_for_inference(copy.deepcopy(model), path)
    floor = _expected_floor(optimized, path)
    for got, want in zip(_features(optimized, images, text), reference):
        assert got.dtype == torch.float32, "the features come back in float32"
        cosine = F.cosine_similarity(got.flatten(1), want.flatten(1)).min().item()
        assert cosine >= floor, (family, optimized.inference_report.path, cosine)


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("family", ["native-vit", "naflex", "coca"])
def test_an_optimized_model_deep_copies_and_pickles(families, family, path):
    _skip_unless_runs(path)
    torch.manual_seed(0)
    model = clipzoo.optimize_for_inference(clipzoo.create_model(f"tiny-{family}"), path)
    images, text = _inputs(family)
    expected = _features(model, images, text)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    for twin in (copy.deepcopy(model), torch.load(buffer, weights_only=False)):
        assert twin.inference_report == model.inference_report
        for got, want in zip(_features(twin, images, text), expected):
            torch.testing.assert_close(got, want, rtol=0, atol=0)
