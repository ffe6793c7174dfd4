"""Benchmark clipzoo.models.generation.generate against open_clip 3.3.0's CoCa.generate, side by side in one run.

Both libraries get the same random weights (open_clip's state dict loaded into clipzoo's CoCa) and the same images;
each row also checks that the generated ids are identical. Rows: beam search (open_clip's defaults: 6 beams in 3
groups) and greedy (top_k=1) decoding of ``seq_len`` tokens. Full mode uses coca_ViT-B-32 (224 px, CLIP vocab);
quick mode a shrunk copy of it.

Run: python scripts/bench_generation.py [--quick]
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import benchlib


def _models(quick: bool):
    """(open_clip CoCa, clipzoo CoCa, image size) with identical random weights."""
    import open_clip
    import torch

    from clipzoo import create_model
    from clipzoo.registry import architectures as registry

    name = "coca_ViT-B-32"
    if quick:
        cfg = copy.deepcopy(registry.get_model_config(name))
        cfg["embed_dim"] = 64  # the decoder cross-attends to image tokens of this width
        cfg["vision_cfg"].update(layers=2, width=128, head_width=64, image_size=64)
        for tower in ("text_cfg", "multimodal_cfg"):
            cfg[tower].update(width=64, heads=2, layers=2)
        path = Path(tempfile.mkdtemp()) / "coca-bench-quick.json"
        path.write_text(json.dumps(cfg))
        open_clip.add_model_config(path)
        registry.add_model_config(path)
        name = path.stem
    torch.manual_seed(0)
    peer = open_clip.create_model(name).eval()
    with torch.no_grad():  # open_clip leaves the decoder projection uninitialized
        torch.nn.init.normal_(peer.text_decoder.text_projection, std=peer.text_decoder.width**-0.5)
    ours = create_model(name).eval()
    ours.load_state_dict(peer.state_dict(), strict=True)
    return peer, ours, registry.get_model_config(name)["vision_cfg"]["image_size"]


def run(quick: bool = False) -> list[dict]:
    """Rows of seconds per generate call (best of a few), clipzoo vs open_clip, same weights and images."""
    import torch

    from clipzoo.models.generation import generate

    peer, ours, size = _models(quick)
    images = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    seq_len, repeats = (20, 3) if quick else (20, 2)
    cases = {
        "beam search (6 beams, 3 groups)": {},
        "greedy (top_k=1)": {"generation_type": "top_k"},
    }
    rows = []
    for label, kwargs in cases.items():

        def run_peer(kwargs: dict = kwargs) -> torch.Tensor:
            torch.manual_seed(0)
            return peer.generate(images, seq_len=seq_len, **kwargs)

        def run_ours(kwargs: dict = kwargs) -> torch.Tensor:
            torch.manual_seed(0)
            return generate(ours, images, seq_len=seq_len, **kwargs)

        peer_s, peer_out = benchlib.best_of(run_peer, repeats)
        ours_s, ours_out = benchlib.best_of(run_ours, repeats)
        same = peer_out.shape == ours_out.shape and bool((peer_out == ours_out).all())
        rows.append(
            benchlib.time_row(
                f"{label}, 2 images, seq_len {seq_len}",
                ours_s,
                peer_s,
                "open_clip CoCa.generate",
                f"{'shrunk ' if quick else ''}coca_ViT-B-32 random weights; ids identical: {same}; "
                f"torch threads={torch.get_num_threads()}",
            )
        )
    return rows


if __name__ == "__main__":
    benchlib.main(run)
