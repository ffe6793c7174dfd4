"""open_clip 3.3.0's model layouts, recorded once: the peer side of the layout sweeps.

The layout of an architecture (state-dict keys in order, shapes, dtypes, buffer names) is a fact of the pinned peer
and its shipped configs, like the published tables beside it: building all ~150 of open_clip's models on meta took
about half of the sweep's time in every run. ``tests/data/open_clip-3.3.0/layouts.json`` holds one SHA-256
fingerprint per architecture (the whole model; the image tower alone where the text tower is a Hugging Face model
that needs the Hub); the sweeps compare clipzoo's fingerprint with it and, on a mismatch, build the live peer to
show which keys differ. tests/parity/test_models_parity.py rebuilds a sample live in every run, so a stale record
fails there.

Rewrite the record (after a peer upgrade): ``.venv/bin/python -m tests.helpers.peer_layouts``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from tests.helpers.peers import layout_only, open_clip_dir

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "model_configs"
RECORD = ROOT / "tests" / "data" / "open_clip-3.3.0" / "layouts.json"
PEER_VERSION = "3.3.0"

Signature = list[list[Any]]


def raw_config(name: str) -> dict:
    """clipzoo's JSON config of a shipped architecture."""
    return json.loads((CONFIG_DIR / f"{name}.json").read_text())


def has_hf_text(name: str) -> bool:
    """Whether the architecture's text tower is a Hugging Face model (its peer model needs the Hub)."""
    return "hf_model_name" in raw_config(name)["text_cfg"]


def model_signature(model) -> Signature:
    """State-dict (key, shape, dtype) rows in order, then the sorted buffer names (non-persistent included)."""
    rows: Signature = [[k, list(v.shape), str(v.dtype)] for k, v in model.state_dict().items()]
    return rows + [["buffer", k] for k in sorted(k for k, _ in model.named_buffers())]


def tower_signature(tower) -> Signature:
    """An image tower's state-dict (key, shape) rows in order."""
    return [[k, list(v.shape)] for k, v in tower.state_dict().items()]


def fingerprint(signature: Signature) -> str:
    """SHA-256 of a signature's canonical JSON."""
    return hashlib.sha256(json.dumps(signature, separators=(",", ":")).encode()).hexdigest()


def peer_signature(name: str) -> Signature:
    """open_clip's layout of ``name``, built live on meta: the whole model, or its image tower alone (HF text)."""
    import open_clip

    with layout_only():
        if not has_hf_text(name):
            return model_signature(open_clip.create_model(name, device="meta"))
        from open_clip.model import _build_vision_tower

        raw = raw_config(name)
        return tower_signature(_build_vision_tower(raw["embed_dim"], raw["vision_cfg"]))


def peer_names() -> list[str]:
    """The architectures open_clip ships that clipzoo's model_configs/ also holds (it may hold more)."""
    peer_dir = open_clip_dir() / "model_configs"
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json") if (peer_dir / p.name).exists())


def recordable(name: str) -> bool:
    """Whether the peer builds ``name`` offline: any text tower but a HF one, or a timm image tower alone."""
    return not has_hf_text(name) or "timm_model_name" in raw_config(name)["vision_cfg"]


@functools.cache
def recorded() -> dict[str, str]:
    """The recorded fingerprints by architecture name."""
    data = json.loads(RECORD.read_text())
    assert data["open_clip"] == PEER_VERSION, f"{RECORD} was recorded from open_clip {data['open_clip']}"
    return data["fingerprints"]


def assert_matches_peer(name: str, signature: Signature) -> None:
    """Assert clipzoo's layout of ``name`` is open_clip's: by fingerprint, and on a mismatch row by row against the
    live peer (a readable difference; a stale record when the live peer agrees)."""
    if fingerprint(signature) != recorded()[name]:
        assert signature == peer_signature(name)
        raise AssertionError(f"the record of {name} is stale: run python -m tests.helpers.peer_layouts")


def write_record() -> None:
    """Build every recordable peer architecture on meta and write their fingerprints."""
    import open_clip

    assert open_clip.__version__ == PEER_VERSION, f"open_clip {open_clip.__version__} is not {PEER_VERSION}"
    prints = {name: fingerprint(peer_signature(name)) for name in peer_names() if recordable(name)}
    data = {
        "open_clip": PEER_VERSION,
        "about": "SHA-256 of each architecture's layout on open_clip (tests/helpers/peer_layouts.py)",
        "fingerprints": prints,
    }
    tmp = RECORD.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    tmp.replace(RECORD)
    print(f"{len(prints)} layouts -> {RECORD}")


if __name__ == "__main__":
    write_record()
