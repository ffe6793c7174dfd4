"""Parameter counts per tower, computed on the meta device (no weights allocated).

Exact counts for the built-in architectures are kept in ``model_profiles.json`` with their FLOPs (written by
``scripts/profile_models.py``, checked against a fresh meta-device count by the tests) so that ``clipzoo info``
answers without importing torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..registry.architectures import builtin_config_dir, get_config_source, get_model_cfg

_PROFILES_FILE = Path(__file__).resolve().parents[1] / "registry" / "model_profiles.json"


def count_on_meta(model_name: str) -> dict[str, int]:
    """Build the architecture on the meta device and count its parameters per tower."""
    import torch

    from ..models import build_model, count_parameters

    with torch.device("meta"):
        model = build_model(get_model_cfg(model_name))
    return count_parameters(model)


def _stored_counts() -> dict[str, dict[str, int]]:
    """Whole-model counts per tower of the built-in architectures that were built and counted (not HF-text ones)."""
    if not _PROFILES_FILE.is_file():
        return {}
    profiles = json.loads(_PROFILES_FILE.read_text(encoding="utf-8"))["models"]
    return {
        name: e["computed"]["params"] for name, e in profiles.items() if "total" in e["computed"]["params"]
    }


def parameter_summary(model_name: str) -> dict[str, int]:
    """Per-tower parameter counts: the stored ones for unchanged built-in configs, else counted on meta."""
    source = get_config_source(model_name)
    builtin = source is not None and source.parent == builtin_config_dir()
    stored = _stored_counts().get(model_name) if builtin else None
    return stored if stored is not None else count_on_meta(model_name)


def buildable_offline(model_name: str) -> bool:
    """False for configs whose text tower is a remote Hugging Face model (needs the Hub to build)."""
    return not get_model_cfg(model_name).uses_hf_text
