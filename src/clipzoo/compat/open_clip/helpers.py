"""open_clip 3.3.0's helper functions with no clipzoo counterpart of the same signature.

Text pooling and locking, state-dict conversion (CustomTextCLIP layout, foreign checkpoints, Apple MobileCLIP),
CoCa's generation-step inputs, and the optional-dependency flags (``has_distributed``, ``hvd``, ``has_hf_hub``,
``hf_hub_download``) that open_clip's modules export.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ...models import text as _text

__all__ = [
    "convert_mobile_clip_state_dict",
    "convert_state_dict",
    "convert_to_custom_text_state_dict",
    "has_distributed",
    "has_hf_hub",
    "hvd",
    "load_big_vision_weights",
    "lock_text_tower",
    "prepare_inputs_for_generation",
    "text_global_pool",
]

has_distributed: bool = torch.distributed.is_available()
hvd = None  # Horovod is not supported (clipzoo's losses run on torch.distributed)


# -- text pooling, locking, state-dict conversion -------------------------------------------------------


def text_global_pool(
    x: torch.Tensor,
    text: torch.Tensor | None = None,
    pool_type: str = "argmax",
    eos_token_id: int | None = None,
) -> torch.Tensor:
    """Pool token states [B, L, D] into one vector per sequence.

    Args:
        x: Token states ``[batch, tokens, width]``.
        text: Token ids ``[batch, tokens]`` (needed by 'argmax' and 'eos').
        pool_type: 'first', 'last', 'argmax' (the position of the highest id: CLIP's end token), 'eos' (the
            first ``eos_token_id``); any other value returns ``x`` unchanged.
        eos_token_id: The end token id for 'eos'.

    Returns:
        ``[batch, width]`` (or ``x`` for an unknown ``pool_type``).

    Raises:
        ValueError: 'argmax'/'eos' without ``text``, or 'eos' without ``eos_token_id``.
    """
    if pool_type == "first":
        return x[:, 0]
    if pool_type == "last":
        return x[:, -1]
    if pool_type in ("argmax", "eos"):
        if text is None:
            raise ValueError(f"text_global_pool(pool_type={pool_type!r}) needs the token ids (text=...)")
        if pool_type == "argmax":
            index = text.argmax(dim=-1)
        elif eos_token_id is None:
            raise ValueError("text_global_pool(pool_type='eos') needs eos_token_id")
        else:
            index = (text == eos_token_id).int().argmax(dim=-1)
        return x[torch.arange(x.shape[0], device=x.device), index]
    return x


def lock_text_tower(model: nn.Module, unlocked_layers: int = 0) -> None:
    """Freeze a text tower (a CLIP's top-level text modules, ``model.text``, or a TextTransformer) except
    its last ``unlocked_layers`` groups (embeddings, blocks, final norm, projection)."""
    _text.lock_text_modules(getattr(model, "text", model), unlocked_layers)


_CLIP_TEXT_PREFIXES = (
    "text_projection",
    "positional_embedding",
    "token_embedding",
    "transformer",
    "ln_final",
)


def convert_to_custom_text_state_dict(state_dict: dict) -> dict:
    """Move a CLIP-layout text tower (top-level ``transformer.*`` ...) under ``text.`` (CustomTextCLIP)."""
    if "text_projection" not in state_dict:
        return state_dict
    return {(f"text.{k}" if k.startswith(_CLIP_TEXT_PREFIXES) else k): v for k, v in state_dict.items()}


def convert_state_dict(model: nn.Module, state_dict: dict) -> dict:
    """Convert a foreign checkpoint (OpenAI, transformers CLIP/SigLIP, big_vision, MobileCLIP) to ``model``'s keys.

    Args:
        model: The model the state dict will be loaded into (open_clip's argument order: model first).
        state_dict: The checkpoint; one already in open_clip's layout is returned as is.

    Returns:
        The state dict in ``model``'s layout.
    """
    from ...checkpoint.load import convert_state_dict as convert

    if _is_mobile_clip(state_dict):
        return convert_mobile_clip_state_dict(model, state_dict, fastvit=_MOBILECLIP_S_KEY in state_dict)
    return convert(state_dict, model)


def load_big_vision_weights(model: nn.Module, checkpoint_path: str) -> None:
    """Load a big_vision SigLIP ``.npz`` checkpoint into a CustomTextCLIP with a timm image tower (in place).

    Args:
        model: The SigLIP model (``CustomTextCLIP`` with a timm ``visual.trunk``).
        checkpoint_path: The ``.npz`` file.
    """
    from ...formats.big_vision import convert_big_vision, read_npz

    state = convert_big_vision(read_npz(checkpoint_path), model)
    model.load_state_dict(state)


_MOBILECLIP_S_KEY = "image_encoder.model.patch_embed.0.rbr_conv.0.conv.weight"
_MOBILECLIP_B_KEY = "image_encoder.model.patch_emb.0.block.conv.weight"
_MOBILECLIP_TEXT_RENAMES = (
    ("projection_layer", "text_projection"),
    ("embedding_layer", "token_embedding"),
    ("final_layer_norm", "ln_final"),
    ("pre_norm_mha.0", "ln_1"),
    ("pre_norm_mha.1", "attn"),
    ("pre_norm_ffn.0", "ln_2"),
    ("pre_norm_ffn.1", "mlp.c_fc"),
    ("pre_norm_ffn.4", "mlp.c_proj"),
    ("qkv_proj.weight", "in_proj_weight"),
    ("qkv_proj.bias", "in_proj_bias"),
    ("transformer.", "transformer.resblocks."),
)


def _is_mobile_clip(state_dict: dict) -> bool:
    return _MOBILECLIP_S_KEY in state_dict or _MOBILECLIP_B_KEY in state_dict


def convert_mobile_clip_state_dict(model: nn.Module, state_dict: dict, fastvit: bool = True) -> dict:
    """Apple MobileCLIP checkpoints (S1/S2 with ``fastvit``, B without) to a CustomTextCLIP's keys.

    The image encoder goes through timm's checkpoint filter for the tower's trunk; the text encoder's
    module names are renamed to open_clip's.

    Args:
        model: The MobileCLIP model (its ``visual.trunk`` is the timm FastViT / hybrid ViT).
        state_dict: Apple's checkpoint (``image_encoder.*``, ``text_encoder.*``, ``logit_scale``).
        fastvit: The image encoder is a FastViT (S1/S2); False for the hybrid ViT of MobileCLIP-B.

    Returns:
        The state dict in ``model``'s layout.
    """
    if fastvit:
        from timm.models.fastvit import checkpoint_filter_fn
    else:
        from timm.models.vision_transformer_hybrid import checkpoint_filter_fn
    out = {f"visual.trunk.{k}": v for k, v in checkpoint_filter_fn(state_dict, model.get_submodule("visual.trunk")).items()}
    prefix = "text_encoder."
    for key, value in state_dict.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix) :]
        if key.startswith("positional_embedding.pos_embed.pos_embed"):
            key, value = "positional_embedding", value.squeeze()
        for old, new in _MOBILECLIP_TEXT_RENAMES:
            key = key.replace(old, new)
        out[f"text.{key}"] = value
    out["logit_scale"] = state_dict["logit_scale"]
    return out


# -- CoCa generation, hub -------------------------------------------------------------------------------


def prepare_inputs_for_generation(
    input_ids: torch.Tensor, image_inputs: torch.Tensor, past: Any = None, **kwargs: Any
) -> dict[str, Any]:
    """The keyword arguments of one decoding step (transformers' generation protocol, as open_clip's CoCa).

    With ``past`` only the last token is fed; with an ``attention_mask`` and no ``position_ids``, positions
    are counted along the mask (padding positions get 1).
    """
    if past:
        input_ids = input_ids[:, -1].unsqueeze(-1)
    attention_mask = kwargs.get("attention_mask")
    position_ids = None
    if attention_mask is not None and kwargs.get("position_ids") is None:
        position_ids = attention_mask.long().cumsum(-1) - 1
        position_ids.masked_fill_(attention_mask == 0, 1)
    return {
        "text": input_ids,
        "images": image_inputs,
        "past_key_values": past,
        "position_ids": position_ids,
        "attention_mask": attention_mask,
    }


def has_hf_hub(necessary: bool = False) -> bool:
    """Whether ``huggingface_hub`` is installed (a clipzoo dependency, so True).

    Raises:
        RuntimeError: ``necessary`` and it is not installed.
    """
    import importlib.util

    present = importlib.util.find_spec("huggingface_hub") is not None
    if necessary and not present:
        raise RuntimeError("a Hugging Face Hub model was asked for but huggingface_hub is not installed")
    return present


def _make_hf_hub_download() -> Callable[..., str]:
    """huggingface_hub's ``hf_hub_download`` identifying clipzoo in the user agent (open_clip's partial)."""
    import functools

    from huggingface_hub import hf_hub_download

    from ... import __version__

    return functools.partial(hf_hub_download, library_name="clipzoo", library_version=__version__)


def __getattr__(name: str) -> Any:
    # huggingface_hub is imported when the name is first asked for
    if name != "hf_hub_download":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = _make_hf_hub_download()
    globals()[name] = value
    return value
