"""Tiny model configs (seconds to build and run), shared by the tests; copy before changing one."""

from __future__ import annotations

import copy

TINY_VISION = {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8}
TINY_TEXT = {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2}

TINY_RN_VISION = {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "patch_size": None}

TINY_VIT = {"embed_dim": 32, "vision_cfg": TINY_VISION, "text_cfg": TINY_TEXT}
TINY_RN = {"embed_dim": 32, "vision_cfg": TINY_RN_VISION, "text_cfg": {**TINY_TEXT, "layers": 1}}
TINY_SIGLIP_TEXT = {
    "embed_dim": 32,
    "init_logit_bias": -10,
    "custom_text": True,
    "vision_cfg": TINY_VISION,
    "text_cfg": {
        **TINY_TEXT,
        "vocab_size": 1000,
        "no_causal_mask": True,
        "pool_type": "last",
        "proj_bias": True,
    },
}
# The names the `tiny_configs` fixture registers.
TINY_CONFIGS = {"tiny-vit": TINY_VIT, "tiny-rn": TINY_RN, "tiny-siglip": TINY_SIGLIP_TEXT}

# The smallest config the validation tests register (one block a tower).
TINY_ONE_BLOCK = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}

# Keyword overrides for create_model("ViT-B-32", **TINY_VIT_KWARGS): a native ViT with trained size 32.
TINY_VIT_KWARGS = {
    "embed_dim": 24,
    "vision_cfg": {
        "image_size": 32,
        "patch_size": 8,
        "width": 64,
        "head_width": 32,
        "layers": 2,
        "mlp_ratio": 2.0,
    },
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def tiny_families(text: dict, multimodal_layers: int = 2) -> dict[str, dict]:
    """One tiny config of each model kind (clip, resnet, siglip, coca), embed_dim 24, around one text tower."""
    return {
        "clip": {"embed_dim": 24, "vision_cfg": TINY_VISION, "text_cfg": text},
        "resnet": {"embed_dim": 24, "vision_cfg": TINY_RN_VISION, "text_cfg": text},
        "siglip": {
            "embed_dim": 24,
            "init_logit_bias": -10,
            "custom_text": True,
            "vision_cfg": {**TINY_VISION, "pool_type": "avg", "no_ln_pre": True, "final_ln_after_pool": True},
            "text_cfg": {**text, "no_causal_mask": True, "pool_type": "last", "proj_bias": True},
        },
        "coca": {
            "embed_dim": 24,
            "custom_text": True,
            "vision_cfg": {**TINY_VISION, "attentional_pool": True, "attn_pooler_queries": 6, "output_tokens": True},
            "text_cfg": {**text, "width": 24, "embed_cls": True, "output_tokens": True},
            "multimodal_cfg": {"context_length": 16, "width": 24, "heads": 2, "layers": multimodal_layers},
        },
    }


TINY_CLAP = {  # a one-block-per-stage HTSAT audio tower and a one-layer text tower
    "embed_dim": 16,
    "audio_cfg": {"model_type": "HTSAT", "model_name": "tiny", "proj_act": "relu",
                  "htsat_cfg": {"embed_dim": 8, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 2, 2]}},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}  # fmt: skip

TINY_COCA_VOCAB = 64  # tiny-coca-gen's vocabulary (conftest's coca_names): a few ids, so captions end early


def tiny_coca(vocab_size: int = 49408) -> dict:
    """A one-block CoCa (attentional pool, 76-token context) with the given vocabulary."""
    return {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 8,
            "attentional_pool": True, "attn_pooler_queries": 9, "attn_pooler_heads": 2, "output_tokens": True,
        },
        "text_cfg": {
            "context_length": 76, "vocab_size": vocab_size, "width": 32, "heads": 2, "layers": 1,
            "embed_cls": True, "output_tokens": True,
        },
        "multimodal_cfg": {"context_length": 76, "vocab_size": vocab_size, "width": 32, "heads": 2, "layers": 1},
        "custom_text": True,
    }  # fmt: skip


def deep(cfg: dict) -> dict:
    """A deep copy, so that a test may change a shared config."""
    return copy.deepcopy(cfg)
