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

pytestmark = pytest.mark.parity  # compared with a peer (open_clip): in make test, not in make test-fast

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


# ------------------------------------------------------------- open_clip's helper methods on clipzoo's classes


def _text_towers() -> tuple[torch.nn.Module, torch.nn.Module]:
    """open_clip's and clipzoo's TextTransformer built from the same seed."""
    from clipzoo.models.text import TextTransformer

    towers = []
    for cls in (open_clip.transformer.TextTransformer, TextTransformer):
        torch.manual_seed(0)
        towers.append(cls(**TEXT, output_dim=24))
    return towers[0], towers[1]


def test_text_tower_build_causal_mask_and_init_parameters_are_open_clips() -> None:
    reference, tower = _text_towers()
    assert torch.equal(tower.build_causal_mask(), reference.build_causal_mask())
    for model in (reference, tower):
        torch.manual_seed(1)
        model.init_parameters()
    ours, theirs = tower.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_block_attention_and_weight_dtype_are_open_clips(one_thread) -> None:
    reference, tower = _text_towers()
    ours, theirs = tower.transformer.resblocks[0], reference.transformer.resblocks[0]
    x, memory = torch.randn(2, 5, TEXT["width"]), torch.randn(2, 7, TEXT["width"])
    mask = reference.build_causal_mask()[:5, :5]
    with torch.no_grad():
        assert torch.equal(ours.attention(x, attn_mask=mask), theirs.attention(x, attn_mask=mask))
        assert torch.equal(ours.attention(x, memory, memory), theirs.attention(x, memory, memory))
    with pytest.raises(ValueError, match="same tensor"):
        ours.attention(x, memory, x)
    assert ours.get_weight_dtype() == theirs.get_weight_dtype() == torch.float32
    assert ours.to(torch.bfloat16).get_weight_dtype() == torch.bfloat16


def test_coca_decoder_mask_and_init_and_vit_init() -> None:
    from clipzoo.models.coca import MultimodalDecoder
    from clipzoo.models.vit import VisionTransformer

    decoder = MultimodalDecoder(width=32, layers=2, heads=2, context_length=6, output_dim=10)
    reference = open_clip.transformer.MultimodalTransformer(width=32, layers=2, heads=2, context_length=6)
    assert torch.equal(decoder.build_attention_mask(), reference.build_attention_mask())
    before = {k: v.clone() for k, v in decoder.state_dict().items()}
    decoder.init_parameters()  # open_clip's own reads a missing attribute; the stds it means are these
    after = decoder.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {
        f"{stack}.{i}.{name}"
        for stack in ("resblocks", "cross_attn")
        for i in range(2)
        for name in ("attn.in_proj_weight", "attn.out_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
    } | {"text_projection"}
    assert float(after["resblocks.0.mlp.c_fc.weight"].std()) == pytest.approx(64**-0.5, rel=0.2)
    vit = VisionTransformer(image_size=32, patch_size=8, width=32, layers=2, heads=2, mlp_ratio=4.0, output_dim=24)
    before = {k: v.clone() for k, v in vit.state_dict().items()}
    vit.init_parameters()  # open_clip 3.3.0's is empty: the weights stay
    assert all(torch.equal(before[k], v) for k, v in vit.state_dict().items())
