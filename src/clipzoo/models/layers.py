"""Small building blocks shared by the towers: norms, activations, layer scale, patch dropout."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Protocol, TypeGuard

import torch
import torch.nn.functional as F
from torch import nn


class BufferOwner(Protocol):
    """A module that recomputes its non-persistent buffers (masks, tables) on its parameters' device, e.g. after a
    meta-device build whose weights were then loaded."""

    def init_non_persistent_buffers(self) -> None: ...


def owns_buffers(module: object) -> TypeGuard[BufferOwner]:
    """Whether ``module`` has ``init_non_persistent_buffers`` (a duck-typed check, as hasattr)."""
    return hasattr(module, "init_non_persistent_buffers")


class LayerNorm(nn.LayerNorm):
    """LayerNorm in the input's dtype; the result is cast back to the input dtype."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize ``x`` over the last dimension."""
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps).to(x.dtype)


class LayerNormFp32(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input dtype (used when weights are cast to bf16/fp16)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalize ``x`` in float32 and return it in the input dtype."""
        out = F.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps)
        return out.to(x.dtype)


class QuickGELU(nn.Module):
    """The sigmoid approximation of GELU that the OpenAI CLIP weights were trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply ``x * sigmoid(1.702 x)``."""
        return x * torch.sigmoid(1.702 * x)


class LayerScale(nn.Module):
    """Per-channel learnable residual scale (CaiT); parameter name ``gamma``."""

    def __init__(self, dim: int, init_value: float = 1e-5, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace
        self.gamma = nn.Parameter(torch.full((dim,), float(init_value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale ``x`` channel-wise."""
        return x.mul_(self.gamma) if self.inplace else x * self.gamma


class PatchDropout(nn.Module):
    """Keeps a random subset of patch tokens while training (https://arxiv.org/abs/2212.00794); no-op in eval."""

    def __init__(self, prob: float, exclude_first_token: bool = True) -> None:
        super().__init__()
        if not 0.0 <= prob < 1.0:
            raise ValueError(f"patch dropout probability must be in [0, 1), got {prob}")
        self.prob = prob
        self.exclude_first_token = exclude_first_token

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Drop patches (training only); the class token, when excluded, always survives."""
        if not self.training or self.prob == 0.0:
            return x
        head = x[:, :1] if self.exclude_first_token else None
        patches = x[:, 1:] if self.exclude_first_token else x
        batch, num_tokens = patches.shape[:2]
        keep = max(1, int(num_tokens * (1.0 - self.prob)))
        # random scores on the CPU generator, like the reference implementation, then moved to x's device
        order = torch.randn(batch, num_tokens).topk(keep, dim=-1).indices.to(x.device)
        patches = torch.gather(patches, 1, order.unsqueeze(-1).expand(-1, -1, patches.shape[-1]))
        return patches if head is None else torch.cat((head, patches), dim=1)


def norm_factory(
    cast_dtype: torch.dtype | None, norm_kwargs: dict | None = None
) -> Callable[[int], nn.Module]:
    """The norm constructor a tower uses: float32-computing LayerNorm when weights will be cast to bf16/fp16."""
    low_precision = cast_dtype in (torch.float16, torch.bfloat16)
    cls = LayerNormFp32 if low_precision else LayerNorm
    return partial(cls, **norm_kwargs) if norm_kwargs else cls


# Activations a config names (open_clip main's ``text_cfg.act_layer``); None keeps the quick_gelu switch.
ACT_LAYERS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "quick_gelu": QuickGELU}


def act_factory(
    quick_gelu: bool, act_kwargs: dict | None = None, act_layer: str | None = None
) -> Callable[[], nn.Module]:
    """The activation constructor: the one ``act_layer`` names, else QuickGELU for OpenAI-trained weights, else
    exact (or tanh) GELU."""
    if act_layer is not None and act_layer not in ACT_LAYERS:
        raise ValueError(f"unknown act_layer {act_layer!r}; expected one of {', '.join(ACT_LAYERS)}")
    cls = ACT_LAYERS[act_layer] if act_layer is not None else QuickGELU if quick_gelu else nn.GELU
    return partial(cls, **act_kwargs) if act_kwargs is not None else cls
