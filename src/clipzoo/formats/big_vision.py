"""big_vision ``.npz`` SigLIP checkpoints: image tower laid out as a timm ViT, text tower as clipzoo's native one.

Flax kernels are transposed to torch's layout; blocks are stored one tree per block or stacked (``scan``).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError

if TYPE_CHECKING:
    import torch
    from torch import nn

    StateDict = dict[str, torch.Tensor]

from .keys import NATIVE_BLOCK, TIMM_BLOCK, KeyMapper


def _mapper(state: StateDict) -> KeyMapper:
    return KeyMapper(
        state,
        lambda key: CheckpointError(f"checkpoint is missing {key!r}"),
        lambda left: CheckpointError(
            f"big_vision checkpoint: {len(left)} checkpoint key(s) not understood: {', '.join(left[:10])}"
        ),
    )


def read_npz(path: str | Path) -> StateDict:
    """All arrays of a ``.npz`` file as tensors, keyed as stored (big_vision keys use ``/``)."""
    import numpy as np
    import torch

    try:
        with np.load(str(path), allow_pickle=False) as data:
            return {key: torch.from_numpy(np.ascontiguousarray(data[key])) for key in data.files}
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"{path}: not a readable .npz file ({err})") from err



def _bv_root(state: StateDict) -> str:
    return "params/" if "params/img/embedding/kernel" in state else ""


def is_big_vision_state(state: StateDict) -> bool:
    """big_vision two-tower checkpoints (``.npz``): ``img/`` and ``txt/`` trees, optionally under ``params/``."""
    return "params/img/embedding/kernel" in state or "img/embedding/kernel" in state


def _flax_to_torch(w, transpose: bool = True):
    """Flax kernels are (in, out) / (h, w, in, out); torch wants (out, in) / (out, in, h, w)."""
    if w.ndim == 4 and w.shape[0] == w.shape[1] == w.shape[2] == 1:
        w = w.flatten()
    if not transpose:
        return w
    if w.ndim == 4:
        return w.permute(3, 2, 0, 1)
    if w.ndim == 3:
        return w.permute(2, 0, 1)
    return w.T if w.ndim == 2 else w


class _BigVisionBlocks:
    """Per-layer views of big_vision encoder blocks, stored either one tree per block or stacked (scan)."""

    def __init__(self, m: KeyMapper, prefix: str) -> None:
        self.m = m
        self.stacked = f"{prefix}encoderblock/LayerNorm_0/scale" in m.state
        if self.stacked:
            self.count = m.state[f"{prefix}encoderblock/LayerNorm_0/scale"].shape[0]
        else:
            pattern = re.compile(re.escape(prefix) + r"encoderblock_(\d+)/")
            self.count = len({int(g.group(1)) for k in m.state for g in [pattern.match(k)] if g})
        self.prefix = prefix

    def get(self, i: int, name: str, transpose: bool = True):
        if self.stacked:
            key = f"{self.prefix}encoderblock/{name}"
            value = self.m.take(key)[i]
        else:
            value = self.m.take(f"{self.prefix}encoderblock_{i}/{name}")
        return _flax_to_torch(value, transpose)


def _bv_attention(get: Callable, mha: str) -> dict[str, Any]:
    import torch

    def proj(n: str):
        return get(f"{mha}{n}/kernel", False).flatten(1).T, get(f"{mha}{n}/bias", False).reshape(-1)

    q, k, v = proj("query"), proj("key"), proj("value")
    return {
        "qkv.weight": torch.cat([q[0], k[0], v[0]]),
        "qkv.bias": torch.cat([q[1], k[1], v[1]]),
        "q.weight": q[0],
        "q.bias": q[1],
        "kv.weight": torch.cat([k[0], v[0]]),
        "kv.bias": torch.cat([k[1], v[1]]),
        "out.weight": get(f"{mha}out/kernel").flatten(1),
        "out.bias": get(f"{mha}out/bias"),
    }


def _bv_blocks(m: KeyMapper, src: str, dst: str, names: dict[str, str]) -> None:
    blocks = _BigVisionBlocks(m, src)
    for i in range(blocks.count):

        def get(name: str, transpose: bool = True, i: int = i):
            return blocks.get(i, name, transpose)

        d = f"{dst}{i}."
        attn = _bv_attention(get, "MultiHeadDotProductAttention_0/")
        for p in ("weight", "bias"):
            m.put(d + names["qkv"].format(p), attn[f"qkv.{p}"])
            m.put(f"{d}{names['out']}.{p}", attn[f"out.{p}"])
        for part, src_name in (("ln1", "LayerNorm_0"), ("ln2", "LayerNorm_1")):
            m.put(f"{d}{names[part]}.weight", get(f"{src_name}/scale"))
            m.put(f"{d}{names[part]}.bias", get(f"{src_name}/bias"))
        for part, src_name in (("fc1", "MlpBlock_0/Dense_0"), ("fc2", "MlpBlock_0/Dense_1")):
            m.put(f"{d}{names[part]}.weight", get(f"{src_name}/kernel"))
            m.put(f"{d}{names[part]}.bias", get(f"{src_name}/bias"))


def _bv_map_head(m: KeyMapper, src: str, dst: str) -> None:
    def get(name: str, transpose: bool = True):
        return _flax_to_torch(m.take(f"{src}{name}"), transpose)

    m.put(f"{dst}latent", get("probe", False))
    attn = _bv_attention(get, "MultiHeadDotProductAttention_0/")
    for p in ("weight", "bias"):
        m.put(f"{dst}q.{p}", attn[f"q.{p}"])
        m.put(f"{dst}kv.{p}", attn[f"kv.{p}"])
        m.put(f"{dst}proj.{p}", attn[f"out.{p}"])
    m.put(f"{dst}norm.weight", get("LayerNorm_0/scale"))
    m.put(f"{dst}norm.bias", get("LayerNorm_0/bias"))
    for r in range(2):
        m.put(f"{dst}mlp.fc{r + 1}.weight", get(f"MlpBlock_0/Dense_{r}/kernel"))
        m.put(f"{dst}mlp.fc{r + 1}.bias", get(f"MlpBlock_0/Dense_{r}/bias"))


def convert_big_vision(state: StateDict, model: nn.Module) -> StateDict:
    """big_vision SigLIP ``.npz`` -> open_clip CustomTextCLIP with a timm ViT image trunk (its SigLIP configs)."""
    m = _mapper(state)
    root = _bv_root(state)
    img, txt, trunk = f"{root}img/", f"{root}txt/", "visual.trunk."
    m.put(f"{trunk}patch_embed.proj.weight", _flax_to_torch(m.take(f"{img}embedding/kernel")))
    m.put(f"{trunk}patch_embed.proj.bias", m.take(f"{img}embedding/bias"))
    if m.has(f"{img}cls"):
        m.put(f"{trunk}cls_token", m.take(f"{img}cls"))
    m.put(f"{trunk}pos_embed", m.take(f"{img}pos_embedding"))
    _bv_blocks(m, f"{img}Transformer/", f"{trunk}blocks.", TIMM_BLOCK)
    m.put(f"{trunk}norm.weight", m.take(f"{img}Transformer/encoder_norm/scale"))
    m.put(f"{trunk}norm.bias", m.take(f"{img}Transformer/encoder_norm/bias"))
    if m.has(f"{img}MAPHead_0/probe"):
        _bv_map_head(m, f"{img}MAPHead_0/", f"{trunk}attn_pool.")
    m.put("text.token_embedding.weight", m.take(f"{txt}Embed_0/embedding"))
    m.put("text.positional_embedding", m.take(f"{txt}pos_embedding").squeeze(0))
    _bv_blocks(m, f"{txt}Encoder_0/", "text.transformer.resblocks.", NATIVE_BLOCK)
    m.put("text.ln_final.weight", m.take(f"{txt}Encoder_0/encoder_norm/scale"))
    m.put("text.ln_final.bias", m.take(f"{txt}Encoder_0/encoder_norm/bias"))
    if m.has(f"{txt}head/kernel"):
        m.put("text.text_projection.weight", _flax_to_torch(m.take(f"{txt}head/kernel")))
        m.put("text.text_projection.bias", m.take(f"{txt}head/bias"))
    m.put("logit_scale", m.take(f"{root}t").reshape(-1)[:1].reshape(()))
    m.put("logit_bias", m.take(f"{root}b").reshape(-1)[:1].reshape(()))
    return m.finish()


# ---------------------------------------------------------------------------------------------------- HF configs
