"""OpenAI CLIP checkpoints the way ``open_clip.openai`` loads them: the architecture read off the weights.

``load_openai_model(name)`` takes a model with the ``openai`` tag (downloaded and verified through
clipzoo's hub) or the path of an OpenAI-format checkpoint (TorchScript archive, read without running its
code, or a state dict) and builds the CLIP it describes, in OpenAI's fp16 layout unless asked otherwise.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import torch

from ...errors import OpenAIModelNotFoundError, did_you_mean

if TYPE_CHECKING:
    from ...models import CLIP

__all__ = ["build_model_from_openai_state_dict", "list_openai_models", "load_openai_model"]

_CONFIG_ENTRIES = ("input_resolution", "context_length", "vocab_size")  # 0-d config values in the archives


def list_openai_models() -> list[str]:
    """The architectures that have OpenAI's weights (the ``openai`` tag).

    Returns:
        The architecture names, in the registry's order.
    """
    from ...registry.tags import list_pretrained_models_by_tag

    return list_pretrained_models_by_tag("openai")


def _layer_count(state: dict, prefix: str, position: int) -> int:
    return len({k.split(".")[position] for k in state if k.startswith(prefix)})


def _vision_cfg(state: dict) -> dict[str, Any]:
    """The image tower an OpenAI state dict describes: a ViT when it has ``visual.proj``, else a ResNet."""
    if "visual.proj" in state:
        patch = state["visual.conv1.weight"].shape[-1]
        grid = round((state["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        layers = len([k for k in state if k.startswith("visual.") and k.endswith(".attn.in_proj_weight")])
        return {
            "layers": layers,
            "width": state["visual.conv1.weight"].shape[0],
            "patch_size": patch,
            "image_size": patch * grid,
        }
    positions = state["visual.attnpool.positional_embedding"].shape[0]
    side = round((positions - 1) ** 0.5)
    if side * side + 1 != positions:
        raise ValueError(f"visual.attnpool.positional_embedding has {positions} rows: not a square grid + 1")
    return {
        "layers": tuple(_layer_count(state, f"visual.layer{b}", 2) for b in (1, 2, 3, 4)),
        "width": state["visual.layer1.0.conv1.weight"].shape[0],
        "patch_size": None,
        "image_size": side * 32,
    }


def build_model_from_openai_state_dict(
    state_dict: dict, quick_gelu: bool = True, cast_dtype: torch.dtype | None = torch.float16
) -> CLIP:
    """Build the CLIP an OpenAI-layout state dict describes and load it (in eval mode, fp16 weights).

    Args:
        state_dict: OpenAI's keys (``visual.*``, ``transformer.*``, ``token_embedding.weight``, ...); the
            archives' config entries (``input_resolution`` ...) are removed from it, as open_clip does.
        quick_gelu: Build QuickGELU activations (how OpenAI trained its models).
        cast_dtype: The dtype the model computes its text/image inputs in (open_clip's ``cast_dtype``).

    Returns:
        A :class:`clipzoo.models.CLIP` with the weights loaded, matmul/conv weights in float16.

    Raises:
        KeyError: a key the architecture is read from is missing (not an OpenAI state dict).
    """
    from ...models import CLIP, convert_weights_to_fp16

    width = state_dict["ln_final.weight"].shape[0]
    text_cfg = {
        "context_length": state_dict["positional_embedding"].shape[0],
        "vocab_size": state_dict["token_embedding.weight"].shape[0],
        "width": width,
        "heads": width // 64,
        "layers": _layer_count(state_dict, "transformer.resblocks", 2),
    }
    model = CLIP(
        state_dict["text_projection"].shape[1],
        vision_cfg=_vision_cfg(state_dict),
        text_cfg=text_cfg,
        quick_gelu=quick_gelu,
        cast_dtype=cast_dtype,
    )
    for key in _CONFIG_ENTRIES:
        state_dict.pop(key, None)
    convert_weights_to_fp16(model)  # OpenAI's state dicts are partly float16
    model.load_state_dict(state_dict)
    return model.eval()


def _checkpoint_path(name: str, cache_dir: str | None) -> str:
    from ...hub.url import download_pretrained_from_url
    from ...registry.tags import get_pretrained_url, is_pretrained_cfg

    if is_pretrained_cfg(name, "openai"):
        return download_pretrained_from_url(get_pretrained_url(name, "openai"), cache_dir=cache_dir)
    if os.path.isfile(name):
        return name
    known = list_openai_models()
    hint = "; " + (did_you_mean(name, known) or f"models with OpenAI weights: {', '.join(known)}")
    raise OpenAIModelNotFoundError(f"{name!r} is neither a model with the 'openai' tag nor a file{hint}")


def load_openai_model(
    name: str,
    precision: str | None = None,
    device: str | torch.device | None = None,
    cache_dir: str | None = None,
) -> torch.nn.Module:
    """Load an OpenAI CLIP by model name (``openai`` tag) or from an OpenAI-format checkpoint file.

    Args:
        name: A name from :func:`list_openai_models` or the path of a checkpoint (TorchScript archive or a
            state dict, optionally under a ``state_dict`` key with a ``module.`` prefix).
        precision: ``fp32``, ``fp16`` or ``bf16``; ``fp32`` on CPU and ``fp16`` elsewhere when None.
        device: Where to put the model; CUDA when available, else CPU, when None.
        cache_dir: Download cache for named models.

    Returns:
        The model in eval mode, with ``visual.image_mean``/``image_std`` set to OpenAI's constants.

    Raises:
        OpenAIModelNotFoundError: ``name`` is neither an OpenAI model nor a file.
    """
    from ...checkpoint.load import read_state_dict
    from ...constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
    from ...models import convert_weights_to_lp, get_cast_dtype

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if precision is None:
        precision = "fp32" if str(device) == "cpu" else "fp16"
    state = dict(read_state_dict(_checkpoint_path(name, cache_dir)))  # unwraps state_dict / module. itself
    model = build_model_from_openai_state_dict(state, cast_dtype=get_cast_dtype(precision)).to(device)
    if precision != "fp16":
        model.float()
        if precision == "bf16":
            convert_weights_to_lp(model, dtype=torch.bfloat16)
    model.visual.image_mean = OPENAI_DATASET_MEAN
    model.visual.image_std = OPENAI_DATASET_STD
    return model
