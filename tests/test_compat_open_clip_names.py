"""Behaviour of the names clipzoo adds for open_clip compatibility, against open_clip 3.3.0 on the same inputs.

Tolerances: the same float computation is compared exactly (``torch.equal``/``np.array_equal``); module
outputs of equal weights built by the two libraries with atol 1e-5 (float32; 1.0e-6 seen for the ViT tower).
"""

from __future__ import annotations

import importlib
import random

import numpy as np
import pytest
import torch
from torch import nn

pytestmark = pytest.mark.parity  # compared with a peer (open_clip): in make test, not in make test-fast

oc = pytest.importorskip("open_clip")
import open_clip.coca_model as oc_coca  # noqa: E402
import open_clip.hf_model as oc_hf  # noqa: E402
import open_clip.model as oc_model  # noqa: E402
import open_clip.pos_embed as oc_pos  # noqa: E402
import open_clip.tokenizer as oc_tok  # noqa: E402
import open_clip.transform as oc_tf  # noqa: E402
import open_clip.transformer as oc_tr  # noqa: E402
import open_clip.utils as oc_utils  # noqa: E402
import open_clip.zero_shot_classifier as oc_zs  # noqa: E402
from PIL import Image  # noqa: E402

# `import open_clip.push_to_hf_hub as m` gives open_clip's function of that name (its __init__ rebinds it)
oc_push = importlib.import_module("open_clip.push_to_hf_hub")

from clipzoo.compat.open_clip import cfg as open_clip_cfg  # noqa: E402
from clipzoo.compat.open_clip import helpers as oc_helpers  # noqa: E402
from clipzoo.compat.open_clip import hf_poolers, openai, pos_embed, push_to_hf_hub, utils, zero_shot_legacy  # noqa: E402
from clipzoo.compat.open_clip import modules as oc_modules  # noqa: E402
from clipzoo.compat.open_clip import tokenizer as oc_tokenizer  # noqa: E402
from clipzoo.preprocess import torchvision_ops as transform_ops  # noqa: E402
from tests.helpers.transformers import HF_TEXT  # noqa: E402

ATOL = 1e-5


def _copy_weights(src: nn.Module, dst: nn.Module) -> None:
    missing, unexpected = dst.load_state_dict(src.state_dict(), strict=True)
    assert not missing and not unexpected


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


# -- pos_embed -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls_token", [False, True])
def test_sincos_tables_equal_open_clip(cls_token: bool) -> None:
    ours = pos_embed.get_2d_sincos_pos_embed(32, 5, cls_token=cls_token)
    peer = oc_pos.get_2d_sincos_pos_embed(32, 5, cls_token=cls_token)
    assert ours.shape == peer.shape == ((26 if cls_token else 25), 32) and ours.dtype == peer.dtype
    assert np.array_equal(ours, peer)
    pos = np.arange(7, dtype=np.float32)
    assert np.array_equal(
        pos_embed.get_1d_sincos_pos_embed_from_grid(8, pos), oc_pos.get_1d_sincos_pos_embed_from_grid(8, pos)
    )
    with pytest.raises(ValueError, match="even width"):
        pos_embed.get_2d_sincos_pos_embed(7, 3)


def _tiny_clip(image_size: int = 32, context_length: int = 8):
    vision = {"image_size": image_size, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8}
    text = {"context_length": context_length, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1}
    return vision, text


def test_resize_pos_embeds_equal_open_clip() -> None:
    torch.manual_seed(0)
    vision, text = _tiny_clip(image_size=48, context_length=12)
    model = oc_model.CLIP(16, vision, text)
    state = {"visual.positional_embedding": torch.randn(17, 32), "positional_embedding": torch.randn(8, 32)}
    ours, peer = dict(state), dict(state)
    assert pos_embed.resize_pos_embed(ours, model) is None  # in place, as open_clip
    oc_model.resize_pos_embed(peer, model)
    pos_embed.resize_text_pos_embed(ours, model)
    oc_model.resize_text_pos_embed(peer, model)
    assert ours["visual.positional_embedding"].shape == (37, 32) and ours["positional_embedding"].shape == (
        12,
        32,
    )
    for key in state:
        _close(ours[key], peer[key])


def test_interpolate_pos_embed_equals_open_clip() -> None:
    class Fake(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch_embed = type("P", (), {"num_patches": 36})()
            self.pos_embed = nn.Parameter(torch.zeros(1, 37, 8))

    torch.manual_seed(1)
    ckpt = {"pos_embed": torch.randn(1, 17, 8)}
    ours, peer = dict(ckpt), dict(ckpt)
    pos_embed.interpolate_pos_embed(Fake(), ours)
    oc_pos.interpolate_pos_embed(Fake(), peer)
    assert ours["pos_embed"].shape == (1, 37, 8)
    _close(ours["pos_embed"], peer["pos_embed"])


# -- utils -----------------------------------------------------------------------------------------------


def _bn_net() -> nn.Module:
    torch.manual_seed(2)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))
    )
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
    return net.eval()


@pytest.mark.parametrize("match", [{}, {"2.1"}])
def test_freeze_batch_norm_2d_equals_open_clip(match) -> None:
    x = torch.randn(2, 3, 8, 8)
    ours, peer = utils.freeze_batch_norm_2d(_bn_net(), match), oc_utils.freeze_batch_norm_2d(_bn_net(), match)
    kinds = [type(m).__name__ for m in ours.modules()]
    assert kinds == [type(m).__name__ for m in peer.modules()]
    assert kinds.count("FrozenBatchNorm2d") == (2 if not match else 1)
    _close(ours(x), peer(x))
    single = nn.BatchNorm2d(3)
    assert type(utils.freeze_batch_norm_2d(single)).__name__ == "FrozenBatchNorm2d"


def test_tuple_helpers_and_replace_linear() -> None:
    for n, fn in ((1, utils.to_1tuple), (2, utils.to_2tuple), (3, utils.to_3tuple), (4, utils.to_4tuple)):
        assert fn(5) == (5,) * n == getattr(oc_utils, f"to_{n}tuple")(5)
    assert utils.to_2tuple((3, 4)) == (3, 4) and utils.to_ntuple(3, 1) == oc_utils.to_ntuple(3, 1)

    class Marked(nn.Linear):
        pass

    torch.manual_seed(3)
    model = nn.Sequential(nn.Module(), nn.Linear(4, 4))
    model[0].c_fc, model[0].other = nn.Linear(4, 8), nn.Linear(4, 4)
    before = model[0].c_fc.weight.clone()
    utils.replace_linear(model, Marked)
    assert type(model[0].c_fc) is Marked and type(model[0].other) is nn.Linear
    assert torch.equal(model[0].c_fc.weight, before)

    class Int8(nn.Linear):
        def prepare_for_eval(self) -> None:
            self.weight.data = self.weight.data.half()

    layer = Int8(2, 2)
    utils.convert_int8_model_to_inference_mode(nn.Sequential(layer))
    assert layer.int8_original_dtype == torch.float32 and layer.weight.dtype == torch.float16


# -- transform ops ----------------------------------------------------------------------------------------


def _photo(w: int = 37, h: int = 23) -> Image.Image:
    rng = np.random.default_rng(4)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_transform_ops_equal_open_clip() -> None:
    img = _photo()
    for kwargs in ({}, {"longest": 1.0}, {"random_scale_prob": 1.0, "random_aspect_prob": 1.0}):
        random.seed(5)
        ours = transform_ops.ResizeKeepRatio(16, **kwargs)(img)
        random.seed(5)
        peer = oc_tf.ResizeKeepRatio(16, **kwargs)(img)
        assert ours.size == peer.size and np.array_equal(np.asarray(ours), np.asarray(peer))
    tensor = torch.rand(3, 23, 37)
    for size in (16, (30, 40), [50]):
        assert torch.equal(
            transform_ops.center_crop_or_pad(tensor, size, fill=1),
            oc_tf.center_crop_or_pad(tensor, size, fill=1),
        )
        a, b = transform_ops.CenterCropOrPad(size)(img), oc_tf.CenterCropOrPad(size)(img)
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert (
        transform_ops.MaybeConvertMode("L")(img).mode == "L"
        and transform_ops.MaybeConvertMode()(tensor) is tensor
    )
    assert torch.equal(transform_ops.MaybeToTensor()(img), oc_tf.MaybeToTensor()(img))
    assert transform_ops.MaybeToTensor()(tensor) is tensor
    for ours_t, peer_t in (
        (
            transform_ops.color_jitter(0.4, 0.4, 0.4, 0.1, p=0.5),
            oc_tf.color_jitter(0.4, 0.4, 0.4, 0.1, p=0.5),
        ),
        (transform_ops.gray_scale(p=0.5), oc_tf.gray_scale(p=0.5)),
    ):
        for seed in range(4):
            random.seed(seed), torch.manual_seed(seed)
            a = ours_t(img)
            random.seed(seed), torch.manual_seed(seed)
            assert np.array_equal(np.asarray(a), np.asarray(peer_t(img)))
    with pytest.raises(ValueError, match="probability"):
        transform_ops.gray_scale(p=1.5)


# -- configs, blocks, towers ------------------------------------------------------------------------------


def test_open_clip_cfgs_are_clipzoo_sections() -> None:
    vcfg = open_clip_cfg.CLIPVisionCfg(2, 32, 16, 4.0, 8, 32)  # positional, in open_clip's order
    assert (vcfg.layers, vcfg.width, vcfg.head_width, vcfg.patch_size, vcfg.image_size) == (2, 32, 16, 8, 32)
    tcfg = open_clip_cfg.CLIPTextCfg(8, 100, width=32, heads=2, layers=1)
    import clipzoo.models as models

    torch.manual_seed(6)
    peer = oc_model.CLIP(
        16,
        oc_model.CLIPVisionCfg(2, 32, 16, 4.0, 8, 32),
        oc_model.CLIPTextCfg(8, 100, width=32, heads=2, layers=1),
    )
    model = models.CLIP(16, vcfg, tcfg)
    _copy_weights(peer, model)
    image, text = torch.randn(2, 3, 32, 32), torch.randint(0, 100, (2, 8))
    _close(model.encode_image(image), peer.encode_image(image))
    _close(model.encode_text(text), peer.encode_text(text))
    mm = open_clip_cfg.MultimodalCfg(width=32, heads=2)
    assert isinstance(mm, open_clip_cfg.CLIPTextCfg) and mm.dim_head == oc_coca.MultimodalCfg().dim_head


BLOCK_CASES = [
    ("Transformer", (32, 2, 4), {}, (2, 5, 32)),
    ("Transformer", (32, 2, 4), {"qk_norm": True, "scale_fc": True, "ls_init_value": 0.1}, (2, 5, 32)),
    ("CustomTransformer", (32, 1, 4), {}, (2, 5, 32)),
    ("ResidualAttentionBlock", (32, 4), {"ls_init_value": 0.5}, (2, 5, 32)),
    ("CustomResidualAttentionBlock", (32, 4), {"scale_heads": True, "scale_attn_inner": True}, (2, 5, 32)),
    ("LayerScale", (32,), {"init_values": 0.3}, (2, 5, 32)),
]


@pytest.mark.parametrize(("name", "args", "kwargs", "shape"), BLOCK_CASES)
def test_blocks_equal_open_clip(name: str, args: tuple, kwargs: dict, shape: tuple) -> None:
    torch.manual_seed(7)
    peer = getattr(oc_tr, name)(*args, **kwargs).eval()
    ours = getattr(oc_modules, name)(*args, **kwargs).eval()
    _copy_weights(peer, ours)
    x = torch.randn(*shape)
    _close(ours(x), peer(x))
    assert isinstance(ours, getattr(oc_modules, name))


def test_attention_equals_open_clip() -> None:
    torch.manual_seed(8)
    kwargs = {"qk_norm": True, "scale_heads": True, "inner_norm": True}
    peer, ours = oc_tr.Attention(32, 4, **kwargs).eval(), oc_modules.Attention(32, 4, **kwargs).eval()
    _copy_weights(peer, ours)
    x = torch.randn(2, 6, 32)
    _close(ours(x), peer(x))
    with pytest.raises(oc_modules.UnsupportedOptionError, match="dropout"):
        oc_modules.Attention(32, 4, attn_drop=0.1)


def test_towers_equal_open_clip() -> None:
    torch.manual_seed(9)
    vit_args = (32, 8, 32, 2, 2, 4.0)
    peer, ours = (
        oc_tr.VisionTransformer(*vit_args, output_dim=16).eval(),
        oc_modules.VisionTransformer(*vit_args, output_dim=16).eval(),
    )
    _copy_weights(peer, ours)
    image = torch.randn(2, 3, 32, 32)
    _close(ours(image), peer(image))
    peer_t = oc_tr.TextTransformer(
        context_length=8, vocab_size=100, width=32, heads=2, layers=2, output_dim=16
    ).eval()
    ours_t = oc_modules.TextTransformer(
        context_length=8, vocab_size=100, width=32, heads=2, layers=2, output_dim=16
    ).eval()
    _copy_weights(peer_t, ours_t)
    text = torch.randint(1, 100, (2, 8))
    _close(ours_t(text), peer_t(text))
    import clipzoo.models.text as ztext

    assert isinstance(
        ztext.TextTransformer(context_length=8, vocab_size=100, width=32, heads=2, layers=1),
        oc_modules.TextTransformer,
    )
    with pytest.raises(oc_modules.UnsupportedOptionError, match="batch_first"):
        oc_modules.Transformer(32, 1, 4, batch_first=False)


def test_multimodal_transformer_equals_open_clip() -> None:
    torch.manual_seed(10)
    peer = oc_tr.MultimodalTransformer(32, 2, 4, context_length=6, output_dim=16).eval()
    with torch.no_grad():  # open_clip leaves some of this module's parameters uninitialised (torch.empty)
        for param in peer.parameters():
            param.normal_(0, 0.05)
    ours = oc_modules.MultimodalTransformer(32, 2, 4, context_length=6, output_dim=16).eval()
    _copy_weights(peer, ours)
    image_embs, text_embs = torch.randn(2, 5, 32), torch.randn(2, 6, 32)
    _close(ours(image_embs, text_embs), peer(image_embs, text_embs))


def test_text_pool_lock_and_custom_state_dict_equal_open_clip() -> None:
    x, text = torch.randn(3, 5, 4), torch.tensor([[1, 9, 2, 0, 0], [1, 2, 9, 2, 0], [1, 2, 3, 4, 9]])
    for pool, eos in (("first", None), ("last", None), ("argmax", None), ("eos", 2), ("none", None)):
        assert torch.equal(
            oc_helpers.text_global_pool(x, text, pool, eos), oc_tr.text_global_pool(x, text, pool, eos)
        )
    with pytest.raises(ValueError, match="eos_token_id"):
        oc_helpers.text_global_pool(x, text, "eos")
    vision, textcfg = _tiny_clip()
    textcfg["layers"] = 3
    torch.manual_seed(11)
    peer = oc_model.CLIP(16, vision, textcfg)
    import clipzoo.models as models

    ours = models.CLIP(16, vision, textcfg)
    for unlocked in (0, 2):
        for m in (peer, ours):
            for p in m.parameters():
                p.requires_grad = True
        oc_tr.lock_text_tower(peer, unlocked)
        oc_helpers.lock_text_tower(ours, unlocked)
        frozen = lambda m: sorted(n for n, p in m.named_parameters() if not p.requires_grad)  # noqa: E731
        assert frozen(ours) == frozen(peer) and frozen(ours)
    state = peer.state_dict()
    assert (
        oc_helpers.convert_to_custom_text_state_dict(state).keys()
        == oc_model.convert_to_custom_text_state_dict(state).keys()
    )


def test_tokenizer_helpers_equal_open_clip() -> None:
    assert oc_tokenizer.get_pairs(("a", "b", "c", "b")) == oc_tok.get_pairs(("a", "b", "c", "b"))
    text = "Hello_World!  It's {a} TEST."
    assert oc_tokenizer.canonicalize_text(text) == oc_tok.canonicalize_text(text)
    kept = {"keep_punctuation_exact_string": "{a}"}
    assert oc_tokenizer.canonicalize_text(text, **kept) == oc_tok.canonicalize_text(text, **kept)
    for mode in ("lower", "whitespace", "canonicalize"):
        assert oc_tokenizer.get_clean_fn(mode)(text) == oc_tok.get_clean_fn(mode)(text)
    captions = ["a photo of a cat", "Deux chats, sous la pluie!"]
    assert torch.equal(oc_tokenizer.SimpleTokenizer()(captions), oc_tok.SimpleTokenizer()(captions))
    long = ["one two three four five six seven eight nine ten"]
    for mode in ("simple", "random", "shuffle"):
        random.seed(0), torch.manual_seed(0), np.random.seed(0)
        a = oc_tokenizer.get_reduction_mask_fn(mode)(long, 6, 49406, 49407, oc_tok._tokenizer.encode)
        random.seed(0), torch.manual_seed(0), np.random.seed(0)
        assert torch.equal(
            a, oc_tok.get_reduction_mask_fn(mode)(long, 6, 49406, 49407, oc_tok._tokenizer.encode)
        )


# -- HF poolers ---------------------------------------------------------------------------------------------


def test_hf_poolers_equal_open_clip() -> None:
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    torch.manual_seed(12)
    out = BaseModelOutputWithPooling(last_hidden_state=torch.randn(2, 4, 3), pooler_output=torch.randn(2, 3))
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    for name in ("MeanPooler", "ClsPooler", "ClsLastHiddenStatePooler"):
        _close(getattr(hf_poolers, name)()(out, mask), getattr(oc_hf, name)()(out, mask))
    _close(
        hf_poolers.ClsPooler(use_pooler_output=False)(out, mask),
        oc_hf.ClsPooler(use_pooler_output=False)(out, mask),
    )
    expected = torch.stack(
        [out.last_hidden_state[0, :3].max(0).values, out.last_hidden_state[1, :2].max(0).values]
    )
    _close(hf_poolers.MaxPooler()(out, mask), expected)
    assert set(hf_poolers.POOLER_CLASSES) == set(oc_hf._POOLERS)


# -- zero-shot, openai, hub card ----------------------------------------------------------------------------


def test_legacy_zero_shot_classifier_equals_open_clip() -> None:
    import clipzoo

    model = clipzoo.create_model("tiny-digits", pretrained="sklearn-digits").eval()
    tokenizer = clipzoo.get_tokenizer("tiny-digits")
    names, templates = ["zero", "one", "two"], ["a photo of the digit {}.", "a handwritten {}."]
    ours = zero_shot_legacy.build_zero_shot_classifier_legacy(model, tokenizer, names, templates)
    peer = oc_zs.build_zero_shot_classifier_legacy(model, tokenizer, names, templates)
    assert ours.shape == (64, 3)
    _close(ours, peer)
    assert list(zero_shot_legacy.batched(range(5), 2)) == list(oc_zs.batched(range(5), 2))
    with pytest.raises(ValueError, match="templates"):
        zero_shot_legacy.build_zero_shot_classifier_legacy(model, tokenizer, names, [])


def test_openai_state_dict_builds_like_open_clip(tmp_path) -> None:
    vision, text = _tiny_clip()
    vision["head_width"] = 64
    vision["width"] = 64
    text.update(width=64, heads=1)
    torch.manual_seed(13)
    source = oc_model.CLIP(16, vision, text, quick_gelu=True)
    state = {
        **source.state_dict(),
        "input_resolution": torch.tensor(32),
        "context_length": torch.tensor(8),
        "vocab_size": torch.tensor(100),
    }
    peer = oc_model.build_model_from_openai_state_dict(dict(state))
    ours = openai.build_model_from_openai_state_dict(dict(state))
    assert next(ours.parameters()).dtype == torch.float16 or any(
        p.dtype == torch.float16 for p in ours.parameters()
    )
    path = tmp_path / "openai-tiny.pt"
    torch.save({k: v for k, v in state.items()}, path)
    ours = openai.load_openai_model(str(path), precision="fp32", device="cpu")
    image = torch.randn(2, 3, 32, 32)
    peer.float()
    _close(ours.encode_image(image), peer.encode_image(image))
    assert ours.visual.image_mean == oc.OPENAI_DATASET_MEAN
    with pytest.raises(openai.OpenAIModelNotFoundError, match="neither"):
        openai.load_openai_model("ViT-B-33")
    assert openai.list_openai_models() == oc.list_openai_models()


def test_generate_readme_equals_open_clip() -> None:
    card = {
        "tags": ["clip", "digits"],
        "license": "apache-2.0",
        "description": "A tiny model.",
        "details": {"Dataset": "Digits", "Papers": ["a", "b"], "Sizes": {"embed": 64}},
        "usage": "use it",
        "comparison": "none",
        "citation": "@misc{x}",
    }
    assert push_to_hf_hub.generate_readme(dict(card), "tiny") == oc_push.generate_readme(dict(card), "tiny")
    assert push_to_hf_hub.generate_readme({}, "tiny") == oc_push.generate_readme({}, "tiny")


def test_prepare_inputs_for_generation_equals_open_clip() -> None:
    ids, images, mask = torch.tensor([[1, 2, 3]]), torch.zeros(1, 3, 4, 4), torch.tensor([[0, 1, 1]])
    ours = oc_helpers.prepare_inputs_for_generation(ids, images, past=None, attention_mask=mask)
    peer = oc_coca.prepare_inputs_for_generation(ids, images, past=None, attention_mask=mask)
    assert ours.keys() == peer.keys() and torch.equal(ours["position_ids"], peer["position_ids"])


def test_timm_model_and_hf_text_encoder_equal_open_clip() -> None:
    """open_clip's constructors of the timm image tower and the transformers text tower build clipzoo's."""
    import open_clip.timm_model as oc_timm
    from transformers import BertConfig

    torch.manual_seed(14)
    peer = oc_timm.TimmModel("test_vit", 16, image_size=160).eval()
    ours = oc_modules.TimmModel("test_vit", 16, image_size=160).eval()
    _copy_weights(peer, ours)
    images = torch.randn(2, 3, 160, 160)
    _close(ours(images), peer(images))
    from clipzoo.models.timm_tower import TimmTower

    assert isinstance(ours, TimmTower) and isinstance(ours, oc_modules.TimmModel)
    config = BertConfig(**{**HF_TEXT, "vocab_size": 99, "intermediate_size": 37})
    kwargs = {"config": config, "pooler_type": "cls_pooler", "proj_type": "linear"}
    peer_text = oc_hf.HFTextEncoder("unused", 16, **kwargs).eval()
    ours_text = oc_modules.HFTextEncoder("unused", 16, **kwargs).eval()
    _copy_weights(peer_text, ours_text)
    text = torch.randint(1, 99, (2, 10))
    text[0, 7:] = 0  # padding
    _close(ours_text(text), peer_text(text))


def test_siglip_tokenizer_from_a_model_file_equals_open_clip(tmp_path) -> None:
    from tests.helpers.tokenizers import WORDS, train_spiece

    model_file = str(train_spiece(tmp_path))
    texts = [" ".join(WORDS[:5]), " ".join(WORDS[3:20]), WORDS[7].upper() + "!"]
    ours, peer = oc_tokenizer.BigVisionVocabTokenizer(model_file, 12), oc_tok.SigLipTokenizer(model_file, 12)
    assert torch.equal(ours(texts), peer(texts))
    assert torch.equal(ours(texts[0], context_length=5), peer(texts[0], context_length=5))
    with pytest.raises(oc_modules.UnsupportedOptionError, match="c4-en"):
        oc_tokenizer.BigVisionVocabTokenizer("gemma-7b")


def test_convert_state_dict_takes_open_clip_argument_order() -> None:
    vision, text = _tiny_clip()
    torch.manual_seed(15)
    import clipzoo.models as models

    model = models.CLIP(16, vision, text)
    state = model.state_dict()
    assert oc_helpers.convert_state_dict(model, state).keys() == state.keys()
    openai_layout = {
        **state,
        "input_resolution": torch.tensor(32),
        "context_length": torch.tensor(8),
        "vocab_size": torch.tensor(100),
    }
    assert oc_helpers.convert_state_dict(model, openai_layout).keys() == state.keys()


def test_private_tower_builders_build_open_clip_modules() -> None:
    """``open_clip.model._build_vision_tower``/``_build_text_tower`` (used by research code) map to clipzoo's."""
    from clipzoo.compat.open_clip import alias as open_clip_compat

    vision, text = _tiny_clip()
    for builder, cfg in (("_build_vision_tower", vision), ("_build_text_tower", text)):
        ours = open_clip_compat.resolve("model", builder)(16, cfg)
        peer = getattr(oc_model, builder)(16, cfg)
        assert {k: v.shape for k, v in ours.state_dict().items()} == {
            k: v.shape for k, v in peer.state_dict().items()
        }
