"""Run-time resolution against transformers 5.x: ``interpolate_pos_encoding=True``.

Odd-sized random ``CLIPModel`` (clipzoo's native ViT) and ``SiglipModel`` (a timm ViT tower) folders, trained at
42 px with 14 px patches: clipzoo's ``encode_image``/``forward`` on larger, smaller and non-square images, and on
sizes that are not whole patches (the remainder is cut off), equal transformers' ``get_image_features(...,
interpolate_pos_encoding=True)`` (atol 1e-4); at the trained size the flag changes nothing.
"""

from __future__ import annotations

import pytest
import torch

import clipzoo
from tests.hf5.test_hf5_import import _clip, _siglip

SIZES = [(70, 70), (28, 28), (56, 84), (42, 98), (75, 50), (30, 44)]  # the last two: not whole patches


def _pooled(output):
    return getattr(output, "pooler_output", output)


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_interpolate_pos_encoding_matches_transformers(tmp_path, kind):
    reference = (_clip if kind == "clip" else _siglip)(tmp_path, "gelu")
    model = clipzoo.create_model(f"local-dir:{tmp_path}").eval()
    gen = torch.Generator().manual_seed(5)
    worst = 0.0
    with torch.no_grad():
        for height, width in SIZES:
            pixels = torch.randn(2, 3, height, width, generator=gen)
            theirs = _pooled(reference.get_image_features(pixel_values=pixels, interpolate_pos_encoding=True))
            ours = model.encode_image(pixels, interpolate_pos_encoding=True)
            torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)
            worst = max(worst, (ours - theirs).abs().max().item())
            features = model(pixels, None, interpolate_pos_encoding=True)[0]
            torch.testing.assert_close(features, torch.nn.functional.normalize(theirs, dim=-1), atol=1e-4, rtol=0)
        trained = torch.randn(2, 3, 42, 42, generator=gen)
        assert torch.equal(model.encode_image(trained, interpolate_pos_encoding=True), model.encode_image(trained))
    print(f"\n{kind}: interpolate_pos_encoding max |clipzoo - transformers| = {worst:.2e}")
