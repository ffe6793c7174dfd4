"""Parameter counts per tower, computed on the meta device (no weights allocated).

Exact counts for the built-in architectures are kept in ``model_profiles.json`` with their FLOPs (written by
``scripts/profile_models.py``, checked against a fresh meta-device count by the tests) so that ``clipzoo info``
answers without importing torch.
"""

from __future__ import annotations

from typing import Any

from ..registry.architectures import builtin_config_dir, get_config_source, get_typed_model_cfg


def count_on_meta(model_name: str) -> dict[str, int]:
    """Build the architecture on the meta device and count its parameters per tower."""
    import torch

    from ..models import build_model, count_parameters

    with torch.device("meta"):
        model = build_model(get_typed_model_cfg(model_name))
    return count_parameters(model)


def _stored_counts() -> dict[str, dict[str, int]]:
    """Whole-model counts per tower of the built-in architectures that were built and counted (not HF-text ones)."""
    from ..registry.results import stored_profiles  # the registry's one reader of model_profiles.json

    return {name: e["computed"]["params"] for name, e in stored_profiles().items() if "total" in e["computed"]["params"]}


def parameter_summary(model_name: str) -> dict[str, int]:
    """Per-tower parameter counts: the stored ones for unchanged built-in configs, else counted on meta."""
    source = get_config_source(model_name)
    builtin = source is not None and source.parent == builtin_config_dir()
    stored = _stored_counts().get(model_name) if builtin else None
    return stored if stored is not None else count_on_meta(model_name)


def buildable_offline(model_name: str) -> bool:
    """False for configs whose text tower is a remote Hugging Face model (needs the Hub to build)."""
    return not get_typed_model_cfg(model_name).uses_hf_text


def ordered_counts(counts: dict[str, int]) -> dict[str, int]:
    """Per-tower counts in reading order: total, image (``visual``), text, then the rest."""
    first = [key for key in ("total", "visual", "text") if key in counts]
    return {**{key: counts[key] for key in first}, **{k: v for k, v in counts.items() if k not in first}}


def registry_twin(model_cfg: Any) -> str | None:
    """The registered architecture whose parsed config equals ``model_cfg`` (an exported folder's source)."""
    from ..registry.architectures import get_typed_model_cfg, list_models

    for name in list_models():
        if get_typed_model_cfg(name) == model_cfg:
            return name
    return None


def cfg_profile(model_cfg: Any) -> dict[str, Any]:
    """Parameters per tower and GFLOPs of one image and one text for a config, counted on the meta device.

    FLOPs are torch's FlopCounterMode count of clipzoo's forward (a multiply-add is 2 FLOPs): one image at the
    config's size, one text of ``context_length`` tokens. For the built-in architectures ``model_profiles.json``
    holds open_clip's way of counting (every token through every layer), which can be slightly higher.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..models import build_model, count_parameters
    from ..models.clip import ContrastiveHeadMixin
    from ..models.text import TextEncoderMixin

    size = model_cfg.vision_cfg.image_size
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    flops: dict[str, int] = {}
    with torch.device("meta"):
        model = build_model(model_cfg).eval()
        if not isinstance(model, ContrastiveHeadMixin):  # CLAP: an audio tower, no image tower to profile
            raise ValueError(f"{type(model).__name__} has no image tower: only image-text models are profiled")
        model.requires_grad_(False)
        image = torch.ones(1, 3, height, width)
        text = torch.ones(1, model_cfg.text_cfg.context_length, dtype=torch.long)
        tower = getattr(model, "text", model)
        # every text position, as open_clip's text tower computes them (clipzoo stops at the pooled token)
        encode_text = (
            (lambda: tower.encode_text_tokens(text, need_tokens=True))
            if isinstance(tower, TextEncoderMixin)
            else (lambda: tower(text))
        )
        for tower_name, run in (("image", lambda: model.encode_image(image)), ("text", encode_text)):
            counter = FlopCounterMode(display=False)
            with counter:
                run()
            flops[tower_name] = int(counter.get_total_flops())
    params = ordered_counts(count_parameters(model))
    return {
        "image_size": [height, width],
        "context_length": model_cfg.text_cfg.context_length,
        "image_params_m": params.get("visual", 0) / 1e6,
        "text_params_m": params.get("text", 0) / 1e6,
        "params_m": params["total"] / 1e6,
        "image_gflops": flops["image"] / 1e9,
        "text_gflops": flops["text"] / 1e9,
        "gflops": (flops["image"] + flops["text"]) / 1e9,
        "source": dict.fromkeys(
            ("image_params_m", "text_params_m", "params_m", "image_gflops", "text_gflops", "gflops"),
            "computed",
        ),  # fmt: skip
        "params": params,
        "note": "counted on this folder's config (clipzoo's forward, meta device)",
    }
