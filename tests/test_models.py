"""clipzoo.models on tiny architectures: construction, init rules, meta-device loading, options, training helpers."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from clipzoo.models import (
    CLIP,
    CoCa,
    CustomTextCLIP,
    build_model,
    convert_weights_to_lp,
    count_parameters,
    get_model_tokenize_cfg,
    model_kind,
)
from clipzoo.models.layers import LayerNormFp32, QuickGELU
from clipzoo.models.transformer import Attention, AttnOptions
from clipzoo.models.vit import sincos_2d_position_embedding
from clipzoo.registry.config import parse_model_config
from tests.helpers.configs import TINY_TEXT, TINY_VISION, tiny_families

VISION = TINY_VISION
TEXT = {**TINY_TEXT, "vocab_size": 500}
TINY = tiny_families(TEXT)


def tiny(kind: str, **overrides) -> torch.nn.Module:
    raw = copy.deepcopy(TINY[kind])
    return build_model(parse_model_config(raw, kind), **overrides).eval()


def tokens(batch: int = 3, length: int = 16, vocab: int = 500) -> torch.Tensor:
    """Rows of different lengths ending with the largest id (the end token for argmax pooling), zero padded."""
    gen = torch.Generator().manual_seed(0)
    rows = torch.zeros(batch, length, dtype=torch.long)
    for i in range(batch):
        n = 2 + 4 * i
        rows[i, :n] = torch.randint(1, vocab - 1, (n,), generator=gen)
        rows[i, n] = vocab - 1
    return rows


@pytest.mark.parametrize(
    ("kind", "cls"), [("clip", CLIP), ("resnet", CLIP), ("siglip", CustomTextCLIP), ("coca", CoCa)]
)
def test_builder_picks_the_class_from_config_fields(kind: str, cls: type) -> None:
    cfg = parse_model_config(copy.deepcopy(TINY[kind]))
    assert isinstance(build_model(cfg), cls)
    assert model_kind(cfg) == {CLIP: "clip", CustomTextCLIP: "custom_text", CoCa: "coca"}[cls]


def test_forward_outputs_and_output_dict() -> None:
    images, texts = torch.randn(2, 3, 32, 32), tokens(2)
    model = tiny("clip")
    image_features, text_features, scale = model(images, texts)
    assert image_features.shape == text_features.shape == (2, 24)
    torch.testing.assert_close(image_features.norm(dim=-1), torch.ones(2))
    assert scale.item() == pytest.approx(1 / 0.07, rel=1e-6)
    out = tiny("siglip", output_dict=True)(images, texts)
    assert list(out) == ["image_features", "text_features", "logit_scale", "logit_bias"]
    assert out["logit_bias"].item() == -10


def test_quick_gelu_and_cast_dtype_pick_layers() -> None:
    raw = {**copy.deepcopy(TINY["clip"]), "quick_gelu": True}
    model = build_model(parse_model_config(raw), cast_dtype=torch.bfloat16)
    acts = {type(m) for m in model.modules() if isinstance(m, (QuickGELU, nn.GELU))}
    assert acts == {QuickGELU}
    assert isinstance(model.ln_final, LayerNormFp32) and isinstance(model.visual.ln_post, LayerNormFp32)


def test_random_init_follows_open_clip_rules() -> None:
    torch.manual_seed(0)
    raw = {
        "embed_dim": 64,
        "vision_cfg": {**VISION, "width": 256},
        "text_cfg": {**TEXT, "width": 256, "vocab_size": 4000},
    }
    model = build_model(parse_model_config(raw))
    assert model.token_embedding.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert model.positional_embedding.std().item() == pytest.approx(0.01, rel=0.2)
    assert model.text_projection.std().item() == pytest.approx(256**-0.5, rel=0.1)
    assert model.transformer.resblocks[0].attn.in_proj_weight.std().item() == pytest.approx(
        256**-0.5, rel=0.1
    )
    assert model.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    assert model.visual.class_embedding.std().item() == pytest.approx(256**-0.5, rel=0.3)
    assert model.visual.transformer.resblocks[0].attn.in_proj_bias.abs().max().item() == 0.0
    resnet = tiny("resnet")
    assert all(
        block.bn3.weight.abs().max().item() == 0 for stage in resnet.visual.stages() for block in stage
    )
    c_proj = resnet.visual.attnpool.c_proj
    assert c_proj.weight.std().item() == pytest.approx(c_proj.in_features**-0.5, rel=0.1)


@pytest.mark.parametrize("kind", list(TINY))
def test_meta_build_then_assign_load_gives_the_same_outputs(kind: str) -> None:
    reference = tiny(kind)
    with torch.device("meta"):
        model = build_model(parse_model_config(copy.deepcopy(TINY[kind]), kind)).eval()
    assert all(p.is_meta for p in model.parameters())
    model.load_state_dict(reference.state_dict(), strict=True, assign=True)
    assert not any(b.is_meta for b in model.buffers())  # the causal masks are rebuilt by a load hook
    assert all(torch.equal(a, b) for a, b in zip(model.buffers(), reference.buffers()))
    size = TINY[kind]["vision_cfg"]["image_size"]
    images, texts = torch.randn(2, 3, size, size), tokens(2)
    with torch.inference_mode():
        torch.testing.assert_close(model.encode_image(images), reference.encode_image(images), rtol=0, atol=0)
        torch.testing.assert_close(model.encode_text(texts), reference.encode_text(texts), rtol=0, atol=0)


def test_clip_keeps_a_non_persistent_causal_mask() -> None:
    model = tiny("clip")
    assert "attn_mask" not in model.state_dict() and "attn_mask" in dict(model.named_buffers())
    assert torch.equal(model.attn_mask, torch.full((16, 16), float("-inf")).triu(1))
    assert tiny("siglip").text.attn_mask is None


def test_pooled_text_shortcuts_equal_the_full_computation() -> None:
    """Truncating after the end token and computing only pooled rows in the last block change nothing."""
    model = tiny("clip")
    texts = tokens(3)
    with torch.inference_mode():
        fast, _ = model.encode_text_tokens(texts)
        full, all_tokens = model.encode_text_tokens(texts, need_tokens=True)
        direct = model.ln_final(model.transformer(model._text_embed(texts), is_causal=True))
    torch.testing.assert_close(fast, full, rtol=0, atol=1e-5)
    torch.testing.assert_close(all_tokens, direct)
    rows = direct[torch.arange(3), texts.argmax(-1)] @ model.text_projection
    torch.testing.assert_close(fast, rows, rtol=0, atol=1e-5)


def test_vision_class_token_shortcut_equals_the_full_computation() -> None:
    visual = tiny("clip").visual
    images = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        full = visual.ln_post(visual.transformer(visual.embed(images)))[:, 0] @ visual.proj
        torch.testing.assert_close(visual(images), full, rtol=0, atol=1e-5)


def test_non_square_images_and_sincos_positions() -> None:
    raw = copy.deepcopy(TINY["clip"])
    raw["vision_cfg"].update(image_size=[32, 48])
    model = build_model(parse_model_config(raw)).eval()
    assert model.visual.grid_size == (4, 6)
    assert model.encode_image(torch.randn(1, 3, 32, 48)).shape == (1, 24)
    table = sincos_2d_position_embedding(8, 3)
    assert table.shape == (10, 8) and table[0].abs().sum() == 0
    # token 2 is grid cell (row 0, column 1): the first half encodes the column, the second half the row
    expected = [math.sin(1), math.sin(0.01), math.cos(1), math.cos(0.01), 0.0, 0.0, 1.0, 1.0]
    torch.testing.assert_close(table[2], torch.tensor(expected))
    raw["vision_cfg"].update(image_size=32, pos_embed_type="sin_cos_2d")
    fixed = build_model(parse_model_config(raw)).visual.positional_embedding
    assert not fixed.requires_grad and torch.equal(fixed, sincos_2d_position_embedding(64, 4))


def test_patch_dropout_is_a_no_op_in_eval_and_drops_in_training() -> None:
    raw = copy.deepcopy(TINY["clip"])
    raw["vision_cfg"]["patch_dropout"] = 0.5
    dropped = build_model(parse_model_config(raw)).eval()
    plain = build_model(parse_model_config(TINY["clip"])).eval()
    # assign: the same tensors (same addresses), so the two computations are identical and compare exactly
    plain.load_state_dict(dropped.state_dict(), strict=True, assign=True)
    images = torch.randn(2, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(dropped.encode_image(images), plain.encode_image(images), rtol=0, atol=0)
    dropped.visual.patch_dropout.train()
    assert dropped.visual.patch_dropout(torch.randn(2, 17, 8)).shape == (2, 1 + 8, 8)


def test_coca_outputs_and_decode_step() -> None:
    model = tiny("coca")
    images, texts = torch.randn(2, 3, 32, 32), tokens(2)
    with torch.inference_mode():
        out = model(images, texts)
        assert list(out) == ["image_features", "text_features", "logits", "logit_scale", "labels"]
        assert out["logits"].shape == (2, 15, 500) and torch.equal(out["labels"], texts[:, 1:])
        _, image_embs = model._encode_image(images)
        assert image_embs.shape == (2, 5, 24)  # 6 queries, the first is the pooled one
        step = model._decode_step(texts[:, :5], image_embs)
        torch.testing.assert_close(step, model(images, texts[:, :5], output_labels=False)["logits"][:, -1])
        assert model(images)["image_embs"].shape == (2, 5, 24)


@pytest.mark.parametrize("kind", list(TINY))
def test_bf16_mixed_precision_runs_and_keeps_norms_in_fp32(kind: str) -> None:
    model = tiny(kind, cast_dtype=torch.bfloat16)
    convert_weights_to_lp(model, torch.bfloat16)
    dtypes = {name: p.dtype for name, p in model.named_parameters()}
    assert dtypes["logit_scale"] == torch.float32
    assert any(d == torch.bfloat16 for d in dtypes.values())
    assert all(d == torch.float32 for n, d in dtypes.items() if ".ln_" in n or n.startswith("ln_"))
    size = TINY[kind]["vision_cfg"]["image_size"]
    with torch.inference_mode():
        assert model.encode_image(torch.randn(2, 3, size, size).bfloat16()).dtype == torch.bfloat16
        assert model.encode_text(tokens(2)).dtype == torch.bfloat16


def test_lock_towers_leave_the_requested_groups_trainable() -> None:
    model = tiny("clip")
    model.lock_image_tower(unlocked_groups=1)
    assert [n for n, p in model.visual.named_parameters() if p.requires_grad] == ["proj"]
    model.lock_text_tower(unlocked_layers=2)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad and not n.startswith("visual")}
    assert trainable == {"text_projection", "logit_scale"} | {
        n for n, _ in model.named_parameters() if n.startswith(("transformer.resblocks.1.", "ln_final."))
    }
    resnet = tiny("resnet")
    with pytest.raises(ValueError, match="partial locking"):
        resnet.lock_image_tower(unlocked_groups=1)
    resnet.lock_image_tower(freeze_bn_stats=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in resnet.visual.modules())


def test_grad_checkpointing_gives_the_same_gradients() -> None:
    images, texts = torch.randn(2, 3, 32, 32), tokens(2)

    def grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
        model.zero_grad()
        image_features, text_features, scale = model(images, texts)
        (scale * image_features @ text_features.T).sum().backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    model = tiny("clip").train()
    plain = grads(model)
    model.set_grad_checkpointing(True)
    assert model.transformer.grad_checkpointing and model.visual.transformer.grad_checkpointing
    checkpointed = grads(model)
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], msg=name)


def test_count_parameters_splits_by_tower() -> None:
    model = tiny("clip")
    counts = count_parameters(model)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["visual"] == sum(p.numel() for p in model.visual.parameters())
    assert counts["other"] == 1 and "text_decoder" not in counts  # logit_scale
    coca = count_parameters(tiny("coca"))
    assert coca["text_decoder"] > 0 and coca["total"] == sum(v for k, v in coca.items() if k != "total")


def test_attention_matches_nn_multihead_attention() -> None:
    torch.manual_seed(0)
    reference = nn.MultiheadAttention(32, 4, kdim=20, vdim=20, batch_first=True).eval()
    ours = Attention(32, 4, kv_dim=20)
    ours.load_state_dict(reference.state_dict(), strict=True)
    query, memory = torch.randn(2, 5, 32), torch.randn(2, 7, 20)
    expected = reference(query, memory, memory, need_weights=False)[0]
    torch.testing.assert_close(ours(query, memory), expected, rtol=0, atol=1e-5)


def test_bad_options_are_rejected_with_the_offending_value() -> None:
    raw = copy.deepcopy(TINY["clip"])
    raw["vision_cfg"]["pool_type"] = "max"
    with pytest.raises(ValueError, match="'max'"):
        build_model(parse_model_config(raw))
    raw = copy.deepcopy(TINY["clip"])
    raw["text_cfg"]["pool_type"] = "max"  # ('mean' is open_clip main's TIPSv2 pooling)
    with pytest.raises(ValueError, match="'max'"):
        build_model(parse_model_config(raw))
    with pytest.raises(ValueError, match="at most 16"):
        tiny("clip").encode_text(torch.zeros(1, 17, dtype=torch.long))


def test_scaled_cosine_attention_is_a_temperature_scaled_cosine_softmax() -> None:
    """open_clip's own scaled-cosine path cannot run (torch.bmm on 4-D tensors), so check the formula directly."""
    torch.manual_seed(0)
    attn = Attention(32, 4, custom=True, options=AttnOptions(scaled_cosine=True))
    x = torch.randn(2, 5, 32)
    q, k, v = (
        t.unflatten(-1, (4, 8)).transpose(1, 2)
        for t in F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, -1)
    )
    scores = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-1, -2) * 10.0  # init: exp(log 10)
    expected = attn.out_proj((scores.softmax(-1) @ v).transpose(1, 2).flatten(2))
    torch.testing.assert_close(attn(x), expected)
    causal = attn(x, is_causal=True)
    torch.testing.assert_close(causal[:, 0], attn(x[:, :1])[:, 0])  # the first position sees only itself


def test_tokenize_cfg_reports_the_text_tower_limits() -> None:
    assert get_model_tokenize_cfg(tiny("clip")) == {"context_length": 16, "vocab_size": 500}
    assert get_model_tokenize_cfg(tiny("siglip")) == {"context_length": 16, "vocab_size": 500}


# ----- forward_intermediates / prune_intermediate_layers (parity with open_clip lives in tests/parity/) -----


def test_resnet_intermediates_are_the_stem_and_stage_maps() -> None:
    model = tiny("resnet")
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    out = model.visual.forward_intermediates(images)
    shapes = [tuple(x.shape) for x in out["image_intermediates"]]
    assert shapes == [(2, 16, 16, 16), (2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4), (2, 512, 2, 2)]
    with torch.no_grad():
        torch.testing.assert_close(out["image_features"], model.visual(images), rtol=0, atol=1e-6)
    # the pooled features need every stage: an early index does not cut them short (open_clip fails there)
    early = model.visual.forward_intermediates(images, indices=[1])
    torch.testing.assert_close(early["image_features"], out["image_features"], rtol=0, atol=1e-6)
    torch.testing.assert_close(early["image_intermediates"][0], out["image_intermediates"][1], rtol=0, atol=0)
    only = model.visual.forward_intermediates(images, indices=[-4], intermediates_only=True)
    assert list(only) == ["image_intermediates"] and only["image_intermediates"][0].shape == (2, 64, 16, 16)


def test_resnet_pruning_drops_later_stages_and_the_pool() -> None:
    from clipzoo.models.intermediates import IntermediatesError

    model = tiny("resnet")
    images = torch.randn(2, 3, 64, 64)
    full = model.visual.forward_intermediates(images, indices=[2], intermediates_only=True)
    assert model.visual.prune_intermediate_layers([2]) == [2]
    keys = list(model.visual.state_dict())
    assert not any(k.startswith(("layer3.", "layer4.", "attnpool.")) for k in keys)
    assert any(k.startswith("layer2.") for k in keys)
    with torch.no_grad():
        torch.testing.assert_close(model.visual(images), full["image_intermediates"][0], rtol=0, atol=0)
    with pytest.raises(IntermediatesError, match="NCHW"):
        model.visual.forward_intermediates(images, output_fmt="NLC")


def test_vit_intermediates_layout_and_pruning() -> None:
    model = tiny("clip")
    images = torch.randn(2, 3, 32, 32)
    out = model.visual.forward_intermediates(images, indices=[0, -1], output_extra_tokens=True)
    assert list(out) == ["image_intermediates", "image_intermediates_prefix", "image_features"]
    assert [tuple(x.shape) for x in out["image_intermediates"]] == [(2, 64, 4, 4)] * 2
    assert [tuple(x.shape) for x in out["image_intermediates_prefix"]] == [(2, 1, 64)] * 2
    nlc = model.visual.forward_intermediates(images, indices=1, output_fmt="NLC", intermediates_only=True)
    torch.testing.assert_close(
        nlc["image_intermediates"][0],
        out["image_intermediates"][1].flatten(2).transpose(1, 2),
        rtol=0,
        atol=0,
    )
    with torch.no_grad():
        torch.testing.assert_close(out["image_features"], model.visual(images), rtol=0, atol=1e-6)
    assert model.visual.prune_intermediate_layers([0], prune_norm=True) == [0]
    assert len(model.visual.transformer.resblocks) == 1 and model.visual.proj is None
    assert "visual.proj" not in model.state_dict() and "visual.ln_post.weight" not in model.state_dict()
    with torch.no_grad():
        assert model.visual(images).shape == (2, 64)  # class token of block 0, unprojected


def test_model_intermediates_features_equal_the_encoders() -> None:
    images, texts = torch.randn(2, 3, 32, 32), tokens(2)
    for kind in ("clip", "siglip", "coca"):
        model = tiny(kind)
        with torch.no_grad():
            out = model.forward_intermediates(images, texts, output_logits=True, output_logit_scale_bias=True)
            torch.testing.assert_close(out["image_features"], model.encode_image(images, normalize=True))
            torch.testing.assert_close(out["text_features"], model.encode_text(texts, normalize=True))
            torch.testing.assert_close(out["image_logits"], model.get_logits(images, texts)[0])
        assert len(out["text_intermediates"]) == 2 and out["text_intermediates"][0].shape[:2] == (2, 16)
        assert ("logit_bias" in out) == (model.logit_bias is not None)


def test_intermediates_requests_that_cannot_be_served_say_why() -> None:
    from clipzoo.models.intermediates import IntermediatesError, feature_take_indices

    model = tiny("clip")
    images, texts = torch.randn(1, 3, 32, 32), tokens(1)
    with pytest.raises(IntermediatesError, match="both image and text"):
        model.forward_intermediates(images, output_logits=True)
    with pytest.raises(IntermediatesError, match="out of range for a tower of 2 blocks"):
        model.forward_intermediates(images, image_indices=[2])
    with pytest.raises(IntermediatesError, match="last-n indices=3"):
        model.forward_intermediates(text=texts, text_indices=3)
    with pytest.raises(IntermediatesError, match="NCHW or NLC"):
        model.forward_intermediates(images, image_output_fmt="NHWC")
    with pytest.raises(IntermediatesError, match="attention pooler"):
        tiny("coca").visual.forward_intermediates(images, normalize_intermediates=True)
    assert feature_take_indices(5, [-1, 0]) == ([4, 0], 4)


def test_meta_build_runs_construction_time_computation_on_meta() -> None:
    """A tower that runs a forward pass while it is built (timm's hybrid ViTs probe their feature size) builds
    under the factory's empty-parameter mode: the probe mixes meta weights with a real input."""
    from clipzoo.factory.meta_build import empty_parameters

    class Probing(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, stride=2)
            with torch.no_grad():
                self.feature_size = tuple(self.stem(torch.zeros(1, 3, 32, 32)).shape[-2:])
            self.register_buffer("table", torch.arange(4.0))  # real buffers stay real

    with empty_parameters():
        module = Probing()
    assert module.feature_size == (15, 15)
    assert module.stem.weight.is_meta and not module.table.is_meta


def test_meta_build_refuses_writing_empty_weights_into_real_tensors() -> None:
    """Copying a meta parameter into a real buffer cannot give it values: an error, not a silent no-op."""
    from clipzoo.factory.meta_build import empty_parameters

    class CopiesWeights(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(3, 3)
            self.register_buffer("snapshot", torch.zeros(3, 3), persistent=False)
            self.snapshot.copy_(self.proj.weight.detach())

    with pytest.raises(RuntimeError, match="empty \\(meta\\) parameter values into a real tensor"):
        with empty_parameters():
            CopiesWeights()


def test_attn_switches_set_every_attention_option():
    """ATTN_SWITCHES (derived from the config's block switches) names every AttnOptions field once."""
    from dataclasses import fields

    from clipzoo.models.transformer import ATTN_SWITCHES, AttnOptions

    assert sorted(ATTN_SWITCHES.values()) == sorted(f.name for f in fields(AttnOptions))
