"""Maintainer tool: regenerate model_configs/ and the tag registry from an installed open_clip.

The facts (hyperparameters, tag names, URLs, normalization values) come from the peer; the file layout and
the preset scheme are clipzoo's. Run with the dev environment: `python scripts/sync_from_open_clip.py`.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TAGS_FILE = ROOT / "src" / "clipzoo" / "registry" / "pretrained_tags.json"

# Presets: the preprocessing families that most tags share; a tag names one and overrides what differs.
PRESETS = {
    "openai": {
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
        "interpolation": "bicubic",
        "resize_mode": "shortest",
    },
    "siglip": {
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "interpolation": "bicubic",
        "resize_mode": "squash",
    },
    "clipa": {
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "interpolation": "bilinear",
        "resize_mode": "squash",
    },
    "mobileclip": {
        "mean": [0.0, 0.0, 0.0],
        "std": [1.0, 1.0, 1.0],
        "interpolation": "bilinear",
        "resize_mode": "shortest",
    },
    "mobileclip2": {
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
        "interpolation": "bilinear",
        "resize_mode": "shortest",
    },
    "pe": {
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "interpolation": "bilinear",
        "resize_mode": "squash",
    },
}
PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode")


def _best_preset(cfg: dict) -> str:
    """The preset that leaves the fewest overrides for this tag."""

    def cost(name: str) -> int:
        return sum(PRESETS[name][k] != _plain(cfg[k]) for k in PREPROCESS_KEYS)

    return min(PRESETS, key=cost)


def _plain(value):
    return [float(v) for v in value] if isinstance(value, (tuple, list)) else value


def build_tags(pretrained: dict) -> dict:
    """Turn open_clip's {model: {tag: cfg}} into the preset-based data layout (derived -quickgelu models skipped)."""
    derived = {m for m in pretrained if m.endswith("-quickgelu") and m[: -len("-quickgelu")] in pretrained}
    models = {}
    for model, tags in pretrained.items():
        if (
            model in derived
            and all(t.get("quick_gelu") for t in tags.values())
            and set(tags) <= set(pretrained[model[: -len("-quickgelu")]])
        ):
            continue
        entries = {}
        for tag, cfg in tags.items():
            preset = _best_preset(cfg)
            entry = {"preset": preset}
            for key in ("url", "hf_hub"):
                if cfg.get(key):
                    entry[key] = cfg[key]
            for key in PREPROCESS_KEYS:
                if PRESETS[preset][key] != _plain(cfg[key]):
                    entry[key] = _plain(cfg[key])
            if "quick_gelu" in cfg:
                entry["quick_gelu"] = cfg["quick_gelu"]
            entries[tag] = entry
        models[model] = entries
    return {"presets": PRESETS, "models": models}


def dump_tags(data: dict) -> str:
    """JSON with one line per preset and per tag, so diffs of the registry stay readable."""

    def block(mapping: dict, indent: str, inner) -> str:
        rows = [f"{indent} {json.dumps(k)}: {inner(v)}" for k, v in mapping.items()]
        return "{\n" + ",\n".join(rows) + f"\n{indent}}}"

    presets = block(data["presets"], " ", json.dumps)
    models = block(data["models"], " ", lambda tags: block(tags, "  ", json.dumps))
    return f'{{\n "presets": {presets},\n "models": {models}\n}}\n'


def main() -> None:
    """Regenerate both data sets."""
    import open_clip
    import open_clip.pretrained as op

    src = Path(open_clip.__file__).parent / "model_configs"
    out = ROOT / "model_configs"
    out.mkdir(exist_ok=True)
    for f in sorted(src.glob("*.json")):
        cfg = json.loads(f.read_text())
        (out / f.name).write_text(json.dumps(cfg, indent=2) + "\n")
    data = build_tags(op._PRETRAINED)
    if TAGS_FILE.exists():  # keep clipzoo's own entries (e.g. the embedded tiny-digits model)
        ours = json.loads(TAGS_FILE.read_text())["models"]
        data["models"].update({m: tags for m, tags in ours.items() if m not in op._PRETRAINED})
    TAGS_FILE.write_text(dump_tags(data))
    print(f"wrote {len(list(out.glob('*.json')))} configs and {TAGS_FILE}")


if __name__ == "__main__":
    main()
