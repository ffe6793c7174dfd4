"""transformers ``Tipsv2Model`` weights (Google's TIPSv2), as one table read both ways.

transformers 5.x saves a Tipsv2Model in the original TIPS layout, the one of the ``google/tipsv2-*`` Hub files:
``vision_encoder.*`` (a DINOv2-style ViT: class token, one register token, layer scale) and ``text_encoder.*``
(open_clip's text block layout), plus ``temperature`` (absent from the published files). clipzoo's TIPSv2 is a
CustomTextCLIP: timm's ``vit_*_patch14_reg1_tipsv2`` trunk under ``visual.trunk.`` and the native text tower
under ``text.``. :func:`tipsv2_rules` names every tensor in both layouts; :func:`tipsv2_to_clipzoo` reads it
towards clipzoo (the checkpoint loader), :func:`clipzoo_to_tipsv2` towards transformers (the export).
A Tipsv2Model ``state_dict()`` under transformers' own module names (``vision_model.*``, ``text_model.*``, what a
file saved without transformers' save-time renaming holds) is read too (:func:`tipsv2_modules_to_clipzoo`).

Two tensors are not a renaming. TIPS adds a position to its class token, timm (``no_embed_class``) does not:
the class position is folded into the class token on import, and written back as a zero position on export
(the same features; the split between the two is not recoverable). ``temperature`` is 1 / exp(logit_scale).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError
from .keys import NATIVE_BLOCK, Blocks, Param, Rule, convert_by_rules, count_layers
from .transformers import HF_BLOCK

if TYPE_CHECKING:
    import torch

    StateDict = dict[str, torch.Tensor]

VISION, TEXT = "vision_encoder.", "text_encoder."
TRUNK = "visual.trunk."
# A Tipsv2Model's own module names (its ``state_dict()``, what a file holds when saved without transformers'
# save-time renaming); read towards clipzoo only: transformers itself writes the TIPS layout.
NATIVE_VISION, NATIVE_TEXT = "vision_model.", "text_model."
_PAIR = {"pair": True}
# The tensors outside the blocks: their names in the save layout, under the module names and in clipzoo, and how
# they are read (a weight/bias pair; the temperature as 1 / exp(logit_scale), optional on import).
_TOP_LEVEL: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    (f"{VISION}cls_token", f"{NATIVE_VISION}embeddings.cls_token", f"{TRUNK}cls_token", {}),
    (f"{VISION}register_tokens", f"{NATIVE_VISION}embeddings.register_tokens", f"{TRUNK}reg_token", {}),
    (f"{VISION}pos_embed", f"{NATIVE_VISION}embeddings.position_embeddings", f"{TRUNK}pos_embed", {}),
    (f"{VISION}patch_embed.proj", f"{NATIVE_VISION}embeddings.patch_embeddings.projection",
     f"{TRUNK}patch_embed.proj", _PAIR),
    (f"{VISION}norm", f"{NATIVE_VISION}layernorm", f"{TRUNK}norm", _PAIR),
    (f"{TEXT}token_embedding.weight", f"{NATIVE_TEXT}embeddings.token_embedding.weight",
     "text.token_embedding.weight", {}),
    (f"{TEXT}ln_final", f"{NATIVE_TEXT}final_layer_norm", "text.ln_final", _PAIR),
    ("temperature", "temperature", "logit_scale", {"value": "inverse_log", "optional": True}),
)  # fmt: skip
# transformers' Tipsv2Config default, what it uses for checkpoints without a temperature (the published ones)
DEFAULT_TEMPERATURE = 0.005065968260169029
# The MLP names of a vision block: (transformers' save names, older TIPS names, timm's names), plain and SwiGLU.
_VISION_MLP = {
    False: (("mlp.c_fc", "mlp.c_proj"), ("mlp.fc1", "mlp.fc2")),
    True: (("mlp.w12", "mlp.w3"), ("mlp.w12", "mlp.w3")),
}
_TIMM_MLP = ("mlp.fc1", "mlp.fc2")
_TEXT_BLOCK_PAIRS = ("ln_1", "ln_2", "attn.out_proj", "mlp.c_fc", "mlp.c_proj")
_TEXT_BLOCK_SINGLES = ("attn.in_proj_weight", "attn.in_proj_bias")


def is_tipsv2_state(state: StateDict) -> bool:
    """A TIPS / TIPSv2 checkpoint (transformers' save layout): a vision encoder mask token or a text encoder."""
    return f"{VISION}mask_token" in state or f"{TEXT}token_embedding.weight" in state


def _vision_block_rules(i: int, mlp_names: tuple[str, str]) -> list[Rule]:
    f, c = f"{VISION}blocks.{i}.", f"{TRUNK}blocks.{i}."
    rules: list[Rule] = [Param(f + n, c + n, pair=True) for n in ("norm1", "attn.proj", "norm2")]
    rules += [Param(f + n, c + n) for n in ("ls1.gamma", "ls2.gamma", "attn.qkv.weight")]
    rules.append(Param(f + "attn.qkv.bias", c + "attn.qkv.bias", optional=True))  # qkv_bias=False has none
    rules += [Param(f + src, c + dst, pair=True) for src, dst in zip(mlp_names, _TIMM_MLP, strict=True)]
    return rules


def _text_block_rules(i: int) -> list[Rule]:
    f, c = f"{TEXT}transformer.resblocks.{i}.", f"text.transformer.resblocks.{i}."
    rules: list[Rule] = [Param(f + n, c + n, pair=True) for n in _TEXT_BLOCK_PAIRS]
    return rules + [
        Param(f + n, c + n) for n in _TEXT_BLOCK_SINGLES
    ]


def _top_level_rules(module_names: bool) -> list[Rule]:
    """The rules of the tensors outside the blocks, under the save layout's or (``module_names``) the module names."""
    return [Param(modules if module_names else saved, ours, **how) for saved, modules, ours, how in _TOP_LEVEL]


def tipsv2_rules(vision_depth: int, text_depth: int, mlp_names: tuple[str, str]) -> list[Rule]:
    """transformers Tipsv2Model (save layout) <-> clipzoo TIPSv2 (timm reg1 trunk, native text tower).

    Args:
        vision_depth: The image tower's block count.
        text_depth: The text tower's block count.
        mlp_names: The foreign names of a vision block's two MLP layers (see ``_VISION_MLP``).

    Returns:
        The rules; ``temperature`` is optional on import (the published files lack it).
    """
    rules = _top_level_rules(module_names=False)
    for i in range(vision_depth):
        rules += _vision_block_rules(i, mlp_names)
    for i in range(text_depth):
        rules += _text_block_rules(i)
    return rules


# ---------------------------------------------------------------------------------------------------- module names


def is_tipsv2_module_state(state: StateDict) -> bool:
    """A Tipsv2Model ``state_dict()`` under transformers' module names (register tokens in the embeddings)."""
    return (
        f"{NATIVE_VISION}embeddings.register_tokens" in state
        and f"{NATIVE_TEXT}final_layer_norm.weight" in state
    )


def _native_vision_block(i: int) -> list[Rule]:
    """One vision layer under transformers' module names, its q/k/v (and SwiGLU gate/up) packed beforehand."""
    f, c = f"{NATIVE_VISION}encoder.layer.{i}.", f"{TRUNK}blocks.{i}."
    return [
        Param(f + "norm1", c + "norm1", pair=True),
        Param(f + "norm2", c + "norm2", pair=True),
        Param(f + "attention.qkv.weight", c + "attn.qkv.weight"),
        Param(f + "attention.qkv.bias", c + "attn.qkv.bias", optional=True),
        Param(f + "attention.o_proj", c + "attn.proj", pair=True),
        Param(f + "layer_scale1.lambda1", c + "ls1.gamma"),
        Param(f + "layer_scale2.lambda1", c + "ls2.gamma"),
        Param(f + "mlp.fc1", c + "mlp.fc1", pair=True),
        Param(f + "mlp.fc2", c + "mlp.fc2", pair=True),
    ]


def _pack_native_layers(state: StateDict) -> None:
    """In place: each vision layer's q/k/v projections as one ``attention.qkv``, and a SwiGLU's gate and value
    as one ``mlp.fc1`` (gate first, DINOv2's w12) with ``down_proj`` as ``mlp.fc2``, as timm packs them."""
    import torch

    packs = (
        (("attention.q_proj", "attention.k_proj", "attention.v_proj"), "attention.qkv"),
        (("mlp.gate_proj", "mlp.up_proj"), "mlp.fc1"),
        (("mlp.down_proj",), "mlp.fc2"),
    )
    for i in range(count_layers(state, f"{NATIVE_VISION}encoder.layer.")):
        f = f"{NATIVE_VISION}encoder.layer.{i}."
        for parts, packed in packs:
            for p in ("weight", "bias"):
                keys = [f"{f}{n}.{p}" for n in parts]
                if all(k in state for k in keys):
                    state[f"{f}{packed}.{p}"] = torch.cat([state.pop(k) for k in keys], dim=0)


def tipsv2_module_rules(state: StateDict) -> list[Rule]:
    """transformers Tipsv2Model (module names) -> clipzoo TIPSv2, sized from ``state``."""
    rules = _top_level_rules(module_names=True)
    rules.append(Blocks(f"{NATIVE_TEXT}encoder.layers.", "text.transformer.resblocks.", HF_BLOCK, NATIVE_BLOCK))
    for i in range(count_layers(state, f"{NATIVE_VISION}encoder.layer.")):
        rules += _native_vision_block(i)
    return rules


def tipsv2_modules_to_clipzoo(state: StateDict, model: Any = None) -> StateDict:
    """A Tipsv2Model ``state_dict()`` (transformers' module names) -> clipzoo's TIPSv2.

    Args:
        state: The state dict.
        model: The model being loaded (its initial logit scale stands in for a missing temperature).

    Returns:
        The state dict in clipzoo's layout.

    Raises:
        CheckpointError: a key is missing or not understood.
    """
    state = dict(state)
    state.pop(f"{NATIVE_VISION}embeddings.mask_token", None)
    _fold_class_position(
        state, f"{NATIVE_VISION}embeddings.cls_token", f"{NATIVE_VISION}embeddings.position_embeddings"
    )
    _pack_native_layers(state)
    ignored = ("position_ids", "position_embedding.weights")  # non-persistent in transformers
    out = convert_by_rules(state, tipsv2_module_rules(state), "clipzoo", _missing, _not_understood, ignored)
    return _with_logit_scale(out, model)


def _missing(key: str) -> CheckpointError:
    return CheckpointError(f"TIPSv2 checkpoint is missing {key!r}")


def _not_understood(left: list[str]) -> CheckpointError:
    return CheckpointError(f"TIPSv2 checkpoint: {len(left)} key(s) not understood: {', '.join(left[:10])}")


def _foreign_mlp_names(state: StateDict) -> tuple[str, str]:
    """Which of the MLP namings a TIPS vision block uses (transformers writes c_fc/c_proj, TIPS fc1/fc2)."""
    first = f"{VISION}blocks.0."
    for candidates in _VISION_MLP.values():
        for names in candidates:
            if f"{first}{names[0]}.weight" in state:
                return names
    return _VISION_MLP[False][0]  # no block: the rules name nothing anyway


def tipsv2_to_clipzoo(state: StateDict, model: Any = None) -> StateDict:
    """transformers Tipsv2Model weights -> clipzoo's TIPSv2 (class position folded into the class token).

    Args:
        state: The transformers (TIPS layout) state dict.
        model: The model being loaded (unused: the layout alone decides).

    Returns:
        The state dict in clipzoo's layout, with ``logit_scale`` from ``temperature``; without one (the
        published files) the model's initial logit scale, which a Tipsv2Model folder's config sets from its
        ``temperature_init_value`` as transformers does (transformers' default when there is no model).

    Raises:
        CheckpointError: a key is missing or not understood.
    """

    state = dict(state)
    state.pop(f"{VISION}mask_token", None)  # masked-image pretraining only; timm's trunk has none
    _fold_class_position(state, f"{VISION}cls_token", f"{VISION}pos_embed")
    rules = tipsv2_rules(
        count_layers(state, f"{VISION}blocks."),
        count_layers(state, f"{TEXT}transformer.resblocks."),
        _foreign_mlp_names(state),
    )
    return _with_logit_scale(convert_by_rules(state, rules, "clipzoo", _missing, _not_understood), model)


def _fold_class_position(state: StateDict, cls_key: str, pos_key: str) -> None:
    """In place: the class token's position added to the class token and dropped from the table (timm's
    ``no_embed_class`` layout gives the same sum)."""
    if pos_key in state and cls_key in state:
        pos = state[pos_key]
        state[cls_key] = state[cls_key] + pos[:, :1].to(state[cls_key].dtype)
        state[pos_key] = pos[:, 1:]


def _with_logit_scale(out: StateDict, model: Any) -> StateDict:
    """``out`` with a ``logit_scale``: a checkpoint without temperature starts, as in transformers, from the
    config's (the model's initial logit scale), else from transformers' default."""
    import torch

    if "logit_scale" not in out:
        scale = getattr(model, "init_logit_scale", None)
        out["logit_scale"] = torch.tensor(-math.log(DEFAULT_TEMPERATURE) if scale is None else scale)
    return out


def clipzoo_to_tipsv2(state: StateDict, swiglu: bool, error: type[Exception] = CheckpointError) -> StateDict:
    """clipzoo TIPSv2 weights -> transformers Tipsv2Model's save layout (the same table, read backwards).

    Args:
        state: The clipzoo state dict.
        swiglu: The image tower's MLP is SwiGLU (TIPSv2-g).
        error: The error type to raise (the export passes its own).

    Returns:
        The transformers state dict: a zero class position and a zero mask token added.

    Raises:
        Exception: ``error`` when a weight is missing or has no place in transformers' layout.
    """
    import torch

    def missing(key: str) -> Exception:
        return error(f"the model has no weight {key!r} (not a TIPSv2 architecture)")

    def leftover(left: list[str]) -> Exception:
        return error(f"{len(left)} weight(s) Tipsv2Model has no place for: {', '.join(left[:10])}")

    rules = tipsv2_rules(
        count_layers(state, f"{TRUNK}blocks."),
        count_layers(state, "text.transformer.resblocks."),
        _VISION_MLP[swiglu][0],
    )
    out = convert_by_rules(state, rules, "foreign", missing, leftover)
    pos = out[f"{VISION}pos_embed"]
    out[f"{VISION}pos_embed"] = torch.cat((torch.zeros_like(pos[:, :1]), pos), dim=1)
    out[f"{VISION}mask_token"] = torch.zeros(1, pos.shape[-1], dtype=pos.dtype)
    return {k: v.contiguous() for k, v in out.items()}
