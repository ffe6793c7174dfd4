"""Registering configs for a test: write them as JSON files and add the folder to clipzoo's registry."""

from __future__ import annotations

import json
from pathlib import Path


def write_configs(folder: Path, configs: dict[str, dict]) -> Path:
    """Write each config as ``folder/<name>.json``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, cfg in configs.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
    return folder


def register_configs(folder: Path, configs: dict[str, dict]) -> list[str]:
    """Write the configs into ``folder`` and register them; returns their names."""
    from clipzoo.registry import architectures as registry

    for name in configs:
        registry.add_model_config(write_configs(folder, {name: configs[name]}) / f"{name}.json")
    return list(configs)
