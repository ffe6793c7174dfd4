"""How many parameters an architecture holds, counted from its config alone (no torch, nothing built).

A lower bound, exact enough to refuse a config no machine of this kind can hold (a 200000-wide tower from a
``config.json``, a typo adding three zeros) before the allocator is asked for hundreds of GB: the transformer
blocks (attention and MLP weights), token and patch embeddings, position tables and projections. Biases, norms and
the parts a timm name implies without saying its numbers are left out (measured against every registry profile:
never above, within 1% for native ViTs).
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import ModelTooLargeError
from .config import ModelCfg, TextCfg, VisionCfg


def _blocks(layers: int, width: int, mlp_ratio: float) -> int:
    """Attention (q, k, v, out: 4 w^2) and MLP (2 mlp_ratio w^2) weights of ``layers`` transformer blocks."""
    return int(layers * (4 + 2 * mlp_ratio) * width * width)


def _hw(size: Any) -> tuple[int, int]:
    return (int(size[0]), int(size[1])) if isinstance(size, (list, tuple)) else (int(size), int(size))


def _vision(cfg: VisionCfg, embed_dim: int) -> int:
    kwargs = cfg.timm_model_kwargs or {}
    if cfg.timm_model_name:  # only the numbers the config gives (transformers towers give them all)
        width, depth = int(kwargs.get("embed_dim", 0)), int(kwargs.get("depth", 0))
        patch = int(kwargs.get("patch_size", 0) or 0)
        height, wide = _hw(kwargs.get("img_size", cfg.image_size))
        grid = (height // patch) * (wide // patch) if patch else 0
        return _blocks(depth, width, float(kwargs.get("mlp_ratio", 4.0))) + width * (3 * patch * patch + grid)
    if isinstance(cfg.layers, (list, tuple)):  # ModifiedResNet: bottlenecks of ~17 planes^2, planes doubling
        return sum(17 * n * (cfg.width * 2**i) ** 2 for i, n in enumerate(cfg.layers))
    patch = int(cfg.patch_size or 0)
    height, wide = _hw(cfg.image_size)
    grid = (height // patch) * (wide // patch) if patch else 0
    embed = cfg.width * (3 * patch * patch + grid + 1)
    return _blocks(int(cfg.layers), cfg.width, cfg.mlp_ratio) + embed + cfg.width * embed_dim


def _text(cfg: TextCfg, embed_dim: int) -> int:
    if cfg.hf_model_name:  # its numbers live in the Hub config, not here
        return 0
    tables = cfg.width * (cfg.vocab_size + cfg.context_length)
    return _blocks(cfg.layers, cfg.width, cfg.mlp_ratio) + tables + cfg.width * embed_dim


def estimate_parameters(cfg: ModelCfg) -> int:
    """A lower bound of the number of parameters ``cfg`` builds (see the module notes)."""
    # an audio-text (CLAP) config's vision_cfg is a placeholder it never builds; its audio tower is not counted
    vision = 0 if getattr(cfg, "audio_cfg", None) is not None else _vision(cfg.vision_cfg, cfg.embed_dim)
    total = vision + _text(cfg.text_cfg, cfg.embed_dim)
    if cfg.multimodal_cfg is not None:  # CoCa's decoder: self- and cross-attention blocks, and the vocabulary head
        decoder = cfg.multimodal_cfg
        total += _blocks(decoder.layers, decoder.width, decoder.mlp_ratio + 2) + decoder.width * decoder.vocab_size
    return total


def physical_memory() -> int | None:
    """Bytes of RAM on this machine (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_model_fits(cfg: ModelCfg, source: str, memory: int | None = None, bytes_per_param: int = 4) -> None:
    """Refuse, before anything is built, an architecture whose parameters alone exceed this machine's memory.

    Args:
        cfg: The architecture (from the registry, a ``local-dir:``/``hf-hub:`` config, or model keywords).
        source: The model's name, for the message.
        memory: Bytes available; None reads the machine's RAM.
        bytes_per_param: 4: the model is built in float32.

    Raises:
        ModelTooLargeError: the message gives the parameter count, the bytes they need and the memory there is.
    """
    memory = memory if memory is not None else physical_memory()
    params = estimate_parameters(cfg)
    need = params * bytes_per_param
    if memory is None or need <= memory:
        return
    raise ModelTooLargeError(
        f"{source}: its config makes at least {params / 1e9:,.1f} billion parameters, {need / 2**30:,.1f} GiB in "
        f"float32, more than this machine's {memory / 2**30:.1f} GiB of memory; check the config's sizes (width, "
        "layers, vocabulary) or use a machine with more memory"
    )
