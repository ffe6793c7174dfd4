"""open_clip's Hugging Face text-tower poolers as modules, their registry, and its ``arch_dict``.

clipzoo's own tower (:class:`clipzoo.models.hf_text.HFTextTower`) pools with the functions in
``clipzoo.models.hf_text.POOLERS``; these modules wrap the same functions under open_clip's class names, so
``_POOLERS[name]()`` style code (``POOLER_CLASSES`` here) and ``register_pooler`` work.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from ...models.hf_text import POOLERS

__all__ = [
    "POOLER_CLASSES",
    "ClsLastHiddenStatePooler",
    "ClsPooler",
    "MaxPooler",
    "MeanPooler",
    "arch_dict",
    "register_pooler",
]

# transformers config attribute names per model_type (open_clip's hf_configs.arch_dict)
_ENCODER_NAMES = {
    "context_length": "max_position_embeddings",
    "vocab_size": "vocab_size",
    "width": "hidden_size",
    "heads": "num_attention_heads",
    "layers": "num_hidden_layers",
}
arch_dict: dict[str, dict[str, Any]] = {
    "roberta": {
        "config_names": {**_ENCODER_NAMES, "layer_attr": "layer", "token_embeddings_attr": "embeddings"},
        "pooler": "mean_pooler",
    },
    "xlm-roberta": {
        "config_names": {**_ENCODER_NAMES, "layer_attr": "layer", "token_embeddings_attr": "embeddings"},
        "pooler": "mean_pooler",
    },
    "mt5": {
        "config_names": {
            "context_length": "",  # mT5 has no maximum sequence length
            "vocab_size": "vocab_size",
            "width": "d_model",
            "heads": "num_heads",
            "layers": "num_layers",
            "layer_attr": "block",
            "token_embeddings_attr": "embed_tokens",
        },
        "pooler": "mean_pooler",
    },
    "bert": {"config_names": dict(_ENCODER_NAMES), "pooler": "cls_pooler"},
    "m2m_100": {
        "config_names": {
            "context_length": "max_position_embeddings",
            "vocab_size": "vocab_size",
            "width": "d_model",
            "heads": "encoder_attention_heads",
            "layers": "encoder_layers",
        },
        "pooler": "cls_pooler",
    },
}

# name -> pooler class (open_clip's ``hf_model._POOLERS``, which the alias serves under that name)
POOLER_CLASSES: dict[str, type[nn.Module]] = {}


def register_pooler(cls: type[nn.Module]) -> type[nn.Module]:
    """Class decorator: register a pooler under its snake_case name (``MeanPooler`` -> ``mean_pooler``)."""
    POOLER_CLASSES[re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()] = cls
    return cls


@register_pooler
class MeanPooler(nn.Module):
    """Average of the non-padding token states."""

    def forward(self, x: Any, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pool ``x.last_hidden_state`` [B, L, D] with ``attention_mask`` [B, L] (1 = token)."""
        return POOLERS["mean_pooler"](x, attention_mask)


@register_pooler
class MaxPooler(nn.Module):
    """Element-wise maximum over the non-padding token states.

    open_clip 3.3.0 passes the integer mask itself to ``masked_fill``, which torch refuses; this masks the
    padding positions (``attention_mask == 0``), which is what the pooler is for.
    """

    def forward(self, x: Any, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pool ``x.last_hidden_state`` [B, L, D] with ``attention_mask`` [B, L] (1 = token)."""
        return POOLERS["max_pooler"](x, attention_mask)


@register_pooler
class ClsPooler(nn.Module):
    """The model's pooled output when it has one (and ``use_pooler_output``), else the first token's state."""

    def __init__(self, use_pooler_output: bool = True) -> None:
        super().__init__()
        self.cls_token_position = 0
        self.use_pooler_output = use_pooler_output

    def forward(self, x: Any, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pool a transformers model output."""
        if self.use_pooler_output:
            return POOLERS["cls_pooler"](x, attention_mask)
        return x.last_hidden_state[:, self.cls_token_position, :]


@register_pooler
class ClsLastHiddenStatePooler(nn.Module):
    """The first token's last hidden state (``ClsPooler(use_pooler_output=False)``)."""

    def __init__(self) -> None:
        super().__init__()
        self.cls_token_position = 0

    def forward(self, x: Any, attention_mask: torch.Tensor) -> torch.Tensor:
        """Pool a transformers model output."""
        return x.last_hidden_state[:, self.cls_token_position, :]
