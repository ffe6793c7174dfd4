"""The default fp32 forward computes open_clip's very ops: bit-identical outputs (``torch.equal``) to open_clip 3.3.0
on the same seeded tiny models, in the same process and thread count, for the ViT, text and ModifiedResNet towers,
with gradients on (``F.multi_head_attention_forward``) and off (torch's fused MHA kernel where open_clip gets it).

The shortcuts (SDPA attention, the class token only in the ViT's last block, the pooled text row only, the ResNet
pool's single query) run only after ``optimize_for_inference``.
"""

from __future__ import annotations

import pytest
import torch

import clipzoo

open_clip = pytest.importorskip("open_clip")

TEXT = {"context_length": 12, "vocab_size": 64, "width": 32, "heads": 2, "layers": 2}
# (vision config, heads note): even heads reach torch's fused kernel under no_grad, odd heads never do
TOWERS = {
    "vit": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 2, "head_width": 16},
    "vit-odd-heads": {"image_size": 32, "patch_size": 8, "width": 48, "layers": 2, "head_width": 16},
    "resnet": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "head_width": 16},
}


def _pair(vision: dict) -> tuple[torch.nn.Module, torch.nn.Module]:
    """open_clip's and clipzoo's CLIP built from the same seed (their inits draw the same numbers)."""
    models = []
    for library in (open_clip, clipzoo):
        torch.manual_seed(0)
        models.append(library.CLIP(embed_dim=24, vision_cfg=dict(vision), text_cfg=dict(TEXT)).eval())
    return models[0], models[1]


@pytest.fixture
def one_thread():
    """Bit-exactness holds for one thread count: pin it for the test."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("grad", [False, True], ids=["no_grad", "grad"])
@pytest.mark.parametrize("tower", list(TOWERS))
def test_default_forward_is_open_clips_bit_for_bit(tower: str, grad: bool, one_thread) -> None:
    reference, model = _pair(TOWERS[tower])
    image = torch.randn(3, 3, TOWERS[tower]["image_size"], TOWERS[tower]["image_size"])
    text = torch.randint(1, 60, (3, TEXT["context_length"]))
    text[:, 5] = 63  # argmax pooling reads the end token (the largest id) at position 5
    with torch.set_grad_enabled(grad):
        assert torch.equal(model.encode_image(image), reference.encode_image(image))
        assert torch.equal(model.encode_text(text), reference.encode_text(text))


def test_optimize_for_inference_turns_the_shortcuts_on(one_thread) -> None:
    _, model = _pair(TOWERS["vit"])
    flags = lambda: [m.fast_inference for m in model.modules() if hasattr(m, "fast_inference")]  # noqa: E731
    assert flags() and not any(flags())
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        exact = model.encode_image(image)
        clipzoo.optimize_for_inference(model, "fp32")
        assert all(flags())
        fast = model.encode_image(image)
    assert torch.nn.functional.cosine_similarity(exact, fast).min() > 0.999
