"""Text tower around a Hugging Face transformers encoder: the encoder, a token pooler, and a projection.

Module names (``transformer.*``, ``proj.*``) and numerics follow open_clip's ``HFTextEncoder`` so its
checkpoints load with ``strict=True``. transformers is an optional dependency (``uv pip install 'clipzoo[hf]'``),
imported only when a config names ``hf_model_name``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from clipzoo.constants import EXTRA_INSTALL_HINT
from clipzoo.registry.config import TextCfg

from ..errors import choice_error

if TYPE_CHECKING:  # transformers is optional: imported only to build a tower
    from transformers import PreTrainedModel

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HFArch:
    """Where a transformers architecture keeps what the tower needs (config attribute and module names)."""

    width_attr: str  # config attribute holding the hidden size
    layers_attr: str  # attribute of the encoder holding its list of layers
    embeddings_attr: str  # attribute of the model holding the token embeddings
    default_pooler: str  # pooler used when the config does not name one


# Keyed by ``config.model_type``; the values mirror open_clip's hf_configs.arch_dict, plus the layer names
# it lacks for bert and m2m_100 (so partial locking works there too).
HF_ARCHS: dict[str, HFArch] = {
    "roberta": HFArch("hidden_size", "layer", "embeddings", "mean_pooler"),
    "xlm-roberta": HFArch("hidden_size", "layer", "embeddings", "mean_pooler"),
    "mt5": HFArch("d_model", "block", "embed_tokens", "mean_pooler"),
    "bert": HFArch("hidden_size", "layer", "embeddings", "cls_pooler"),
    "m2m_100": HFArch("d_model", "layers", "embed_tokens", "cls_pooler"),
}


def _mean_pool(out: Any, mask: torch.Tensor) -> torch.Tensor:
    """Average of the non-padding token states."""
    masked = out.last_hidden_state * mask.unsqueeze(-1)
    return masked.sum(dim=1) / mask.sum(-1, keepdim=True)


def _max_pool(out: Any, mask: torch.Tensor) -> torch.Tensor:
    """Element-wise max over the non-padding token states."""
    # open_clip 3.3.0 passes the integer mask itself to masked_fill, which torch rejects; this masks the padding.
    padding = (mask == 0).unsqueeze(-1)
    return out.last_hidden_state.masked_fill(padding, -torch.inf).max(dim=1).values


def _cls_pool(out: Any, mask: torch.Tensor) -> torch.Tensor:
    """The model's own pooler output when it has one, else the first token's state."""
    pooled = getattr(out, "pooler_output", None)
    return pooled if pooled is not None else out.last_hidden_state[:, 0, :]


def _first_token(out: Any, mask: torch.Tensor) -> torch.Tensor:
    """The first token's last hidden state."""
    return out.last_hidden_state[:, 0, :]


POOLERS: dict[str, Callable[[Any, torch.Tensor], torch.Tensor]] = {
    "mean_pooler": _mean_pool,
    "max_pooler": _max_pool,
    "cls_pooler": _cls_pool,
    "cls_last_hidden_state_pooler": _first_token,
}


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            "this config has a Hugging Face text tower (text_cfg.hf_model_name), which needs transformers: "
            + EXTRA_INSTALL_HINT.format(extra="hf")
        ) from exc
    return transformers


def _building_on_meta() -> bool:
    return torch.get_default_device().type == "meta"


@contextlib.contextmanager
def _params_only_on_meta() -> Iterator[None]:
    """Under a meta default device, keep buffers real: computed ones (position ids) are not in checkpoints."""
    if not _building_on_meta():
        yield
        return
    from transformers.integrations.accelerate import init_empty_weights

    with torch.device("cpu"), init_empty_weights(include_buffers=False):
        yield


def _build_transformer(name: str, config: Any, pretrained: bool, add_pooling_layer: bool) -> PreTrainedModel:
    """The encoder: pretrained from ``name`` or randomly initialised from ``config``; encoder half of seq2seq."""
    from transformers import AutoModel

    # Encoder-decoder models (mT5, NLLB) keep only their encoder, which has no pooling layer to configure.
    kwargs = {} if config.is_encoder_decoder else {"add_pooling_layer": add_pooling_layer}
    if pretrained:
        # The weights come from files, so they must be real even when the caller builds on the meta device.
        with torch.device("cpu") if _building_on_meta() else contextlib.nullcontext():
            model = AutoModel.from_pretrained(name, **kwargs)
    else:
        with _params_only_on_meta():
            model = AutoModel.from_config(config, **kwargs)
    return model.encoder if config.is_encoder_decoder else model


def _build_proj(proj_type: str | None, width: int, embed_dim: int) -> nn.Module:
    if proj_type is None:
        if width != embed_dim:
            raise ValueError(
                f"hf_proj_type is None but the text width {width} differs from embed_dim {embed_dim}; "
                "use 'linear' or 'mlp'"
            )
        return nn.Identity()
    if proj_type == "linear":
        return nn.Linear(width, embed_dim, bias=False)
    if proj_type == "clap_mlp":  # transformers' ClapProjectionLayer: biased, ReLU, width -> embed -> embed
        return nn.Sequential(nn.Linear(width, embed_dim), nn.ReLU(), nn.Linear(embed_dim, embed_dim))
    if proj_type == "mlp":
        hidden = (width + embed_dim) // 2
        return nn.Sequential(
            nn.Linear(width, hidden, bias=False), nn.GELU(), nn.Linear(hidden, embed_dim, bias=False)
        )
    raise choice_error("hf_proj_type", proj_type, ["linear", "mlp", "clap_mlp"])


class HFTextTower(nn.Module):
    """A transformers encoder as a CLIP text tower: ``transformer`` -> pooler -> ``proj``."""

    def __init__(self, text_cfg: TextCfg, embed_dim: int, *, output_tokens: bool | None = None) -> None:
        """Build from ``text_cfg.hf_model_name`` (Hub id or local dir); weights only if ``hf_model_pretrained``.

        ``output_tokens`` defaults to ``text_cfg.output_tokens`` (CoCa needs the token states).
        """
        super().__init__()
        name = text_cfg.hf_model_name
        if not name:
            raise ValueError(
                "HFTextTower needs text_cfg.hf_model_name (a Hub id or a local directory), got none"
            )
        _require_transformers()
        from transformers import AutoConfig

        if text_cfg.hf_model_config:  # a transformers folder's own text config (ClapModel's text_config)
            self.config = AutoConfig.for_model(**text_cfg.hf_model_config)
        else:
            self.config = AutoConfig.from_pretrained(name)
        arch = HF_ARCHS.get(self.config.model_type)
        if arch is None:
            raise choice_error("transformers model_type", self.config.model_type, sorted(HF_ARCHS))
        self.arch = arch
        self.pooler_type = text_cfg.hf_pooler_type or arch.default_pooler
        if self.pooler_type not in POOLERS:
            raise choice_error("hf_pooler_type", self.pooler_type, sorted(POOLERS))
        self.output_tokens = text_cfg.output_tokens if output_tokens is None else output_tokens
        self.output_dim = embed_dim
        self.vocab_size = getattr(self.config, "vocab_size", 0)
        self.context_length = getattr(self.config, "max_position_embeddings", 0)
        # Only the CLS pooler reads the model's own pooling layer. As in open_clip, the layer exists only when
        # the config names cls_pooler explicitly (an architecture's default pooler does not add it).
        use_model_pooler = text_cfg.hf_pooler_type == "cls_pooler"
        self.transformer = _build_transformer(
            name, self.config, text_cfg.hf_model_pretrained, use_model_pooler
        )
        self.proj = _build_proj(text_cfg.hf_proj_type, getattr(self.config, arch.width_attr), embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Projected text features (and token states when ``output_tokens``) for token ids ``x`` (open_clip's
        HFTextEncoder names them ``x``)."""
        pad_id = self.config.pad_token_id
        mask = x.ne(pad_id).long() if pad_id is not None else torch.ones_like(x)
        out = self.transformer(input_ids=x, attention_mask=mask)
        features = self.proj(POOLERS[self.pooler_type](out, mask))
        if not self.output_tokens:
            return features
        tokens = out.last_hidden_state
        if self.pooler_type == "cls_pooler":
            # The CLS state stands for the sequence; the token states handed on are the others.
            tokens = tokens[:, 1:, :]
        return features, tokens

    def lock(self, unlocked_layers: int = 0, freeze_layer_norm: bool = True) -> None:
        """Freeze the embeddings and all but the last ``unlocked_layers`` layers (LayerNorms unless asked)."""
        if not unlocked_layers:
            _freeze(self.transformer, freeze_layer_norm)
            return
        encoder = getattr(self.transformer, "encoder", self.transformer)
        layers = list(getattr(encoder, self.arch.layers_attr))
        embeddings = getattr(self.transformer, self.arch.embeddings_attr)
        _log.info("unlocking %d/%d layers of the HF text model", unlocked_layers, len(layers) + 1)
        for module in [embeddings, *layers][:-unlocked_layers]:
            _freeze(module, freeze_layer_norm)

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Turn activation checkpointing in the transformers encoder on or off."""
        if enable:
            self.transformer.gradient_checkpointing_enable()
        else:
            self.transformer.gradient_checkpointing_disable()

    def init_parameters(self) -> None:
        """Nothing to do: transformers initialises (or loads) the encoder, torch the projection."""


def _freeze(module: nn.Module, freeze_layer_norm: bool) -> None:
    """Stop gradients for ``module``; parameters under a ``LayerNorm`` submodule stay trainable unless asked."""
    for name, param in module.named_parameters():
        is_layer_norm = "LayerNorm" in name.split(".")
        param.requires_grad = not freeze_layer_norm if is_layer_norm else False
