"""Hugging Face transformers ``CLIPModel`` and ``SiglipModel`` weights, as one table per model read both ways.

:func:`clip_rules` and :func:`siglip_rules` name every tensor in transformers' layout and in clipzoo's
(open_clip's); the checkpoint loader reads them towards clipzoo (:func:`convert_hf_clip`,
:func:`convert_hf_siglip`) and the transformers export towards transformers (:func:`clip_to_hf`,
:func:`siglip_to_hf`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError
from .keys import NATIVE_BLOCK, TIMM_BLOCK, Blocks, Packed, Param, Rule, convert_by_rules

if TYPE_CHECKING:
    import torch
    from torch import nn

    StateDict = dict[str, torch.Tensor]

# transformers' encoder layer, by role (see clipzoo.formats.keys for clipzoo's two block layouts)
HF_BLOCK: dict[str, Any] = {
    "ln1": "layer_norm1",
    "ln2": "layer_norm2",
    "fc1": "mlp.fc1",
    "fc2": "mlp.fc2",
    "out": "self_attn.out_proj",
    "qkv": ("self_attn.q_proj.{}", "self_attn.k_proj.{}", "self_attn.v_proj.{}"),
}
HF_IGNORED = ("position_ids",)  # non-persistent in transformers >= 4.31, present in older files


def _text_rules(text: str) -> list[Rule]:
    """clipzoo's native text tower (``text`` = '' for CLIP, 'text.' for custom text) <-> ``text_model.*``."""
    t = "text_model."
    return [
        Param(f"{t}embeddings.token_embedding.weight", f"{text}token_embedding.weight"),
        Param(f"{t}embeddings.position_embedding.weight", f"{text}positional_embedding"),
        Blocks(f"{t}encoder.layers.", f"{text}transformer.resblocks.", HF_BLOCK, NATIVE_BLOCK),
        Param(f"{t}final_layer_norm", f"{text}ln_final", pair=True),
    ]


def clip_rules(text: str = "") -> list[Rule]:
    """transformers CLIPModel <-> clipzoo CLIP (native ViT + CLIP text tower, under ``text`` if custom)."""
    v = "vision_model."
    return [
        Param(f"{v}embeddings.class_embedding", "visual.class_embedding"),
        Param(f"{v}embeddings.patch_embedding.weight", "visual.conv1.weight"),
        Param(f"{v}embeddings.position_embedding.weight", "visual.positional_embedding"),
        Param(f"{v}pre_layrnorm", "visual.ln_pre", pair=True),
        Param(f"{v}post_layernorm", "visual.ln_post", pair=True),
        Blocks(f"{v}encoder.layers.", "visual.transformer.resblocks.", HF_BLOCK, NATIVE_BLOCK),
        Param("visual_projection.weight", "visual.proj", value="transpose"),
        *_text_rules(text),
        Param("text_projection.weight", f"{text}text_projection", value="transpose"),
        Param("logit_scale", "logit_scale", value="scalar"),
    ]


def _siglip_rules(embeddings: list[Rule], optional_head: bool) -> list[Rule]:
    """The SigLIP layout around an image-embedding table: encoder, MAP head, text tower, logit scale and bias."""
    v, head, trunk, pool = "vision_model.", "vision_model.head.", "visual.trunk.", "visual.trunk.attn_pool."
    opt = optional_head
    return [
        *embeddings,
        Blocks(f"{v}encoder.layers.", f"{trunk}blocks.", HF_BLOCK, TIMM_BLOCK),
        Param(f"{v}post_layernorm", f"{trunk}norm", pair=True),
        Param(f"{head}probe", f"{pool}latent", optional=opt),
        Packed((f"{head}attention.in_proj_{{}}",), (f"{pool}q.{{}}", f"{pool}kv.{{}}"), (1, 2), optional=opt),
        Param(f"{head}attention.out_proj", f"{pool}proj", pair=True, optional=opt),
        Param(f"{head}layernorm", f"{pool}norm", pair=True, optional=opt),
        Param(f"{head}mlp.fc1", f"{pool}mlp.fc1", pair=True, optional=opt),
        Param(f"{head}mlp.fc2", f"{pool}mlp.fc2", pair=True, optional=opt),
        *_text_rules("text."),
        Param("text_model.head", "text.text_projection", pair=True),
        Param("logit_scale", "logit_scale", value="vector1"),
        Param("logit_bias", "logit_bias", value="vector1"),
    ]


def siglip_rules(naflex: bool = False) -> list[Rule]:
    """transformers SiglipModel <-> clipzoo CustomTextCLIP with a timm SigLIP trunk (MAP head optional), or with
    ``naflex`` Siglip2Model <-> clipzoo's NaFlexVit SigLIP tower (linear patch embedding, (N, D) grid, MAP head)."""
    v = "vision_model.embeddings."
    trunk, proj, grid = ("visual.trunk.embeds.", "proj", "grid") if naflex else ("visual.trunk.", "patch_embed.proj", "batch1")
    embeddings: list[Rule] = [
        Param(f"{v}patch_embedding", f"{trunk}{proj}", pair=True),
        Param(f"{v}position_embedding.weight", f"{trunk}pos_embed", value=grid),
    ]
    return _siglip_rules(embeddings, optional_head=not naflex)


# ---------------------------------------------------------------------------------------------------- import


def _missing(key: str) -> CheckpointError:
    return CheckpointError(f"checkpoint is missing {key!r}")


def _not_understood(what: str) -> Callable[[list[str]], CheckpointError]:
    return lambda left: CheckpointError(
        f"{what}: {len(left)} checkpoint key(s) not understood: {', '.join(left[:10])}"
    )


def is_hf_clip_state(state: StateDict) -> bool:
    """transformers ``CLIPModel``: a class embedding in the vision embeddings and a text model."""
    return (
        "vision_model.embeddings.class_embedding" in state
        and "text_model.embeddings.token_embedding.weight" in state
    )


def convert_hf_clip(state: StateDict, model: nn.Module) -> StateDict:
    """transformers CLIPModel -> open_clip CLIP (text modules at the top level; adapters nest them if needed)."""
    what = "transformers CLIP checkpoint"
    return convert_by_rules(state, clip_rules(), "clipzoo", _missing, _not_understood(what), HF_IGNORED)


def is_hf_siglip_state(state: StateDict) -> bool:
    """transformers ``SiglipModel``: no class embedding, a patch-embedding bias, and a text model."""
    return (
        "vision_model.embeddings.patch_embedding.bias" in state
        and "vision_model.embeddings.class_embedding" not in state
        and "text_model.embeddings.token_embedding.weight" in state
    )


def convert_hf_siglip(state: StateDict, model: nn.Module) -> StateDict:
    """transformers SiglipModel -> open_clip CustomTextCLIP with a timm SigLIP image trunk."""
    what = "transformers SigLIP checkpoint"
    return convert_by_rules(state, siglip_rules(), "clipzoo", _missing, _not_understood(what), HF_IGNORED)


# ---------------------------------------------------------------------------------------------------- export


def _to_hf(state: StateDict, rules: list[Rule], error: type[Exception]) -> StateDict:
    def missing(key: str) -> Exception:
        return error(f"the model has no weight {key!r} (not the architecture the config describes)")

    def leftover(left: list[str]) -> Exception:
        return error(f"{len(left)} weight(s) transformers has no place for: {', '.join(left[:10])}")

    out = convert_by_rules(state, rules, "foreign", missing, leftover)
    return {k: v.contiguous() for k, v in out.items()}


def clip_to_hf(state: StateDict, error: type[Exception] = ValueError) -> StateDict:
    """clipzoo CLIP (native ViT + CLIP text) state dict -> transformers CLIPModel state dict.

    Args:
        state: the model's state dict (text modules at the top level, or under ``text.``).
        error: the error type to raise (the export passes its own).

    Returns:
        transformers' state dict.

    Raises:
        Exception: ``error`` when a weight is missing or has no place in transformers' layout.
    """
    text = "text." if "text.token_embedding.weight" in state else ""
    return _to_hf(state, clip_rules(text), error)


def siglip_to_hf(state: StateDict, error: type[Exception] = ValueError) -> StateDict:
    """clipzoo SigLIP (timm SigLIP ViT + SigLIP text) state dict -> transformers SiglipModel state dict.

    Args:
        state: the model's state dict.
        error: the error type to raise (the export passes its own).

    Returns:
        transformers' state dict.

    Raises:
        Exception: ``error`` when a weight is missing or has no place in transformers' layout.
    """
    return _to_hf(state, siglip_rules(), error)


# ---------------------------------------------------------------------------------------------------- SigLIP 2

def is_hf_siglip2_state(state: StateDict) -> bool:
    """transformers ``Siglip2Model``: a linear (already patchified) patch embedding and a text model."""
    patch = state.get("vision_model.embeddings.patch_embedding.weight")
    return patch is not None and patch.ndim == 2 and "text_model.embeddings.token_embedding.weight" in state


def siglip2_to_clipzoo(state: StateDict, model: Any = None) -> StateDict:
    """transformers Siglip2Model weights -> clipzoo's (NaFlexVit SigLIP tower, SigLIP text tower).

    Args:
        state: The transformers state dict.
        model: The model being loaded (unused: the layout alone decides).

    Returns:
        The state dict in clipzoo's layout.

    Raises:
        CheckpointError: a key is missing or not understood.
    """
    what = "transformers SigLIP 2 checkpoint"
    return convert_by_rules(state, siglip_rules(naflex=True), "clipzoo", _missing, _not_understood(what), HF_IGNORED)


def clipzoo_to_siglip2(state: StateDict) -> StateDict:
    """clipzoo NaFlex SigLIP weights -> transformers Siglip2Model's (the same table, read backwards).

    Args:
        state: The clipzoo state dict.

    Returns:
        The transformers state dict.

    Raises:
        CheckpointError: a key is missing or not understood.
    """
    return _to_hf(state, siglip_rules(naflex=True), CheckpointError)
