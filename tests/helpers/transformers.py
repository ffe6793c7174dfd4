"""Tiny random transformers models saved to a folder (transformers 4.x in the main env, 5.x in .venv-hf5)."""

from __future__ import annotations

from pathlib import Path

# A tiny CLIP/SigLIP text and vision config for transformers (keyword arguments of CLIPTextConfig & co.).
HF_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, vocab_size=100,
               max_position_embeddings=16)  # fmt: skip
HF_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32,
                 patch_size=8)  # fmt: skip


def tiny_roberta(max_position_embeddings: int = 40):
    """A two-layer RoBERTa config of width 32 and a 64-token vocabulary (an HF text tower's config)."""
    import transformers

    return transformers.RobertaConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                      intermediate_size=48, max_position_embeddings=max_position_embeddings,
                                      pad_token_id=1)  # fmt: skip


def save_pretrained(config, folder: Path, seed: int = 0) -> str:
    """A random ``AutoModel`` of ``config`` (seeded) and the config, saved into ``folder``; returns the folder."""
    import torch
    import transformers

    torch.manual_seed(seed)
    transformers.AutoModel.from_config(config).save_pretrained(folder)
    config.save_pretrained(folder)
    return str(folder)


def save_clip(folder: Path, text: dict, vision: dict, projection_dim: int, processor: dict):
    """A seeded random ``CLIPModel`` (logit scale 2.5) and its ``CLIPImageProcessor`` (bicubic, square crop of
    ``processor["size"]``, other processor keywords as given) saved into ``folder``; returns the model."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)
    model = CLIPModel(config).eval()
    with torch.no_grad():
        model.logit_scale.fill_(2.5)
    model.save_pretrained(folder)
    size = processor.pop("size")
    CLIPImageProcessor(
        size={"shortest_edge": size}, crop_size={"height": size, "width": size}, resample=2, **processor
    ).save_pretrained(folder)
    return model
