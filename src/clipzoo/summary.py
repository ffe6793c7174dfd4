"""Parameter counts per tower, computed on the meta device (no weights allocated).

Counts for the built-in architectures are also kept in ``model_params.json`` (regenerated with
``python -m clipzoo.summary``, checked against a fresh meta-device count by the tests) so that
``clipzoo info`` answers without importing torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from .registry import get_config_source, get_model_cfg, list_models

_COUNTS_FILE = Path(__file__).resolve().parent / "model_params.json"


def count_on_meta(model_name: str) -> dict[str, int]:
    """Build the architecture on the meta device and count its parameters per tower."""
    import torch

    from .models import build_model, count_parameters

    with torch.device("meta"):
        model = build_model(get_model_cfg(model_name))
    return count_parameters(model)


def _stored_counts() -> dict[str, dict[str, int]]:
    return json.loads(_COUNTS_FILE.read_text()) if _COUNTS_FILE.is_file() else {}


def parameter_summary(model_name: str) -> dict[str, int]:
    """Per-tower parameter counts: the stored ones for unchanged built-in configs, else counted on meta."""
    source = get_config_source(model_name)
    builtin = (
        source is not None
        and source.parent.name == "model_configs"
        and source.parent.parent in (Path(__file__).resolve().parent, Path(__file__).resolve().parents[2])
    )
    stored = _stored_counts().get(model_name) if builtin else None
    return stored if stored is not None else count_on_meta(model_name)


def buildable_offline(model_name: str) -> bool:
    """False for configs whose text tower is a remote Hugging Face model (needs the Hub to build)."""
    return not get_model_cfg(model_name).uses_hf_text


def main() -> None:
    """Regenerate ``model_params.json`` for every built-in architecture buildable offline."""
    counts = {name: count_on_meta(name) for name in list_models() if buildable_offline(name)}
    rows = [f"{json.dumps(name)}: {json.dumps(counts[name], sort_keys=True)}" for name in sorted(counts)]
    _COUNTS_FILE.write_text("{\n" + ",\n".join(rows) + "\n}\n")
    print(f"wrote {len(counts)} entries to {_COUNTS_FILE}")


if __name__ == "__main__":
    main()
