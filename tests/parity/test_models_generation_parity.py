"""Parity of clipzoo.models.generation.generate with open_clip 3.3.0's CoCa.generate (peer: open_clip, whose beam search
runs on transformers 4.56's BeamSearchScorer).

A shrunk coca_ViT-B-32 (1 layer per tower, width 32/64, 32x32 images) is built by open_clip with every weight
randomized, then loaded into clipzoo's CoCa with ``strict=True``. Tolerance: none, the generated token ids must be
identical — beam search for several beam/group/length/penalty settings, and top-k (``top_k=1`` is greedy) and
top-p sampling after seeding the global RNG identically before each call (clipzoo draws from it exactly as open_clip
does: one ``torch.multinomial`` per step over the unfinished rows).
"""

from __future__ import annotations

import copy
import json

import pytest
import torch

open_clip = pytest.importorskip("open_clip")
transformers = pytest.importorskip("transformers")

from clipzoo.factory.create import create_model  # noqa: E402
from clipzoo.models.generation import generate  # noqa: E402
from clipzoo.registry import architectures as registry  # noqa: E402

VOCAB = 64  # a small vocabulary keeps the decoder's projection cheap; ids below are explicit
SOT, EOS = VOCAB - 2, VOCAB - 1
IDS = {"sot_token_id": SOT, "eos_token_id": EOS}


# The tiny models' ops are too small to split across threads (conftest's single_thread).
pytestmark = pytest.mark.usefixtures("single_thread")


def shrunk_coca_config(vocab_size: int) -> dict:
    """coca_ViT-B-32's config with every tower reduced to one small layer."""
    cfg = copy.deepcopy(registry.get_model_config("coca_ViT-B-32"))
    cfg["embed_dim"] = 32
    cfg["vision_cfg"].update(image_size=32, patch_size=8, layers=1, width=64, head_width=32,
                             attn_pooler_queries=9, attn_pooler_heads=2)  # fmt: skip
    for tower in ("text_cfg", "multimodal_cfg"):
        cfg[tower].update(width=32, heads=2, layers=1, vocab_size=vocab_size)
    cfg["multimodal_cfg"]["attn_pooler_heads"] = 2
    return cfg


def _randomize_(model: torch.nn.Module, seed: int, eos: int) -> None:
    """Fan-in-scaled noise in every weight (open_clip leaves the decoder projection uninitialized), with the end
    token's logit made larger so that some captions end before the length limit."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or name.endswith("logit_scale"):
                continue
            noise = torch.randn(tensor.shape, generator=gen)
            if tensor.ndim >= 2:
                tensor.copy_(noise * tensor[0].numel() ** -0.5)
            else:
                tensor.copy_(1.0 + 0.1 * noise if name.endswith("weight") else 0.1 * noise)
        model.text_decoder.text_projection[:, eos] *= 3


def _pair(tmp_path_factory, name: str, vocab_size: int):
    folder = tmp_path_factory.mktemp(name)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(shrunk_coca_config(vocab_size)))
    open_clip.add_model_config(path)
    registry.add_model_config(path)
    torch.manual_seed(0)
    peer = open_clip.create_model(name).eval()
    _randomize_(peer, seed=0, eos=vocab_size - 1)
    ours = create_model(name).eval()
    ours.load_state_dict(peer.state_dict(), strict=True)
    return peer, ours


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(open_clip CoCa, clipzoo CoCa) with the same random weights and a 64-token vocabulary."""
    registry.reset_registry()
    yield _pair(tmp_path_factory, "coca-gen-parity", VOCAB)
    registry.reset_registry()


def _images(n: int = 4, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def _assert_same(peer_out: torch.Tensor, our_out: torch.Tensor) -> None:
    assert our_out.dtype == peer_out.dtype and our_out.shape == peer_out.shape
    assert our_out.tolist() == peer_out.tolist()


BEAM_SETTINGS = [
    {},  # open_clip's defaults: 6 beams in 3 groups, min_seq_len 5, seq_len 30
    {"num_beams": 3, "num_beam_groups": 1, "seq_len": 20},
    {"num_beams": 6, "num_beam_groups": 1, "min_seq_len": 0, "seq_len": 12},
    {"num_beams": 6, "num_beam_groups": 3, "min_seq_len": 10, "repetition_penalty": 1.3, "seq_len": 16},
    {"num_beams": 4, "num_beam_groups": 2, "min_seq_len": 2, "seq_len": 8},
    {"num_beams": 3, "num_beam_groups": 3, "repetition_penalty": 2.0, "seq_len": 14},
    {"num_beams": 3, "num_beam_groups": 1, "seq_len": 12, "fixed_output_length": True},
]


@pytest.mark.parametrize(
    "settings", BEAM_SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "defaults"
)
def test_beam_search_ids_equal_open_clip(models, settings):
    peer, ours = models
    images = _images()
    _assert_same(peer.generate(images, **IDS, **settings), generate(ours, images, **IDS, **settings))


SAMPLING_SETTINGS = [
    {"generation_type": "top_k"},  # top_k=1: greedy
    {"generation_type": "top_k", "top_k": 1, "min_seq_len": 12, "seq_len": 16},
    {"generation_type": "top_k", "top_k": 5, "temperature": 0.7},
    {"generation_type": "top_k", "top_k": 3, "repetition_penalty": 1.5, "fixed_output_length": True},
    {"generation_type": "top_p", "top_p": 0.9},
    {"generation_type": "top_p", "top_p": 0.1, "temperature": 1.5, "repetition_penalty": 1.2},
    {"generation_type": "top_p", "top_p": 0.7, "max_seq_len": 4, "seq_len": 12},
]


@pytest.mark.parametrize(
    "settings", SAMPLING_SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items())
)
@pytest.mark.parametrize("seed", [0, 7])
def test_seeded_sampling_ids_equal_open_clip(models, settings, seed):
    peer, ours = models
    images = _images(seed=seed + 1)
    torch.manual_seed(seed)
    expected = peer.generate(images, **IDS, **settings)
    torch.manual_seed(seed)
    _assert_same(expected, generate(ours, images, **IDS, **settings))


@pytest.mark.parametrize("prompt_shape", ["1d", "2d"])
def test_sampling_from_a_text_prompt_equals_open_clip(models, prompt_shape):
    peer, ours = models
    prompt = torch.tensor([SOT, 5, 9]) if prompt_shape == "1d" else torch.tensor([[SOT, 5, 9], [SOT, 3, 3]])
    images = _images(1 if prompt_shape == "1d" else 2)
    torch.manual_seed(3)
    expected = peer.generate(images, text=prompt, generation_type="top_p", top_p=0.8, **IDS)
    torch.manual_seed(3)
    _assert_same(expected, generate(ours, images, text=prompt, generation_type="top_p", top_p=0.8, **IDS))


@pytest.mark.parametrize("generation_type", ["beam_search", "top_k"])
def test_transformers_stopping_criteria_are_accepted(models, generation_type):
    peer, ours = models
    criteria = [transformers.MaxLengthCriteria(max_length=9)]
    images = _images(3)
    torch.manual_seed(0)
    expected = peer.generate(images, generation_type=generation_type, stopping_criteria=criteria, **IDS)
    torch.manual_seed(0)
    _assert_same(
        expected, generate(ours, images, generation_type=generation_type, stopping_criteria=criteria, **IDS)
    )


def test_default_token_ids_with_the_clip_vocabulary_equal_open_clip(tmp_path_factory):
    """open_clip's defaults end to end: CLIP's start/end ids 49406/49407, the model's pad id, beam search and greedy."""
    registry.reset_registry()
    try:
        peer, ours = _pair(tmp_path_factory, "coca-gen-parity-clipvocab", 49408)
        images = _images(2)
        _assert_same(peer.generate(images, seq_len=12), generate(ours, images, seq_len=12))
        torch.manual_seed(0)
        expected = peer.generate(images, generation_type="top_k", seq_len=12)
        torch.manual_seed(0)
        _assert_same(expected, generate(ours, images, generation_type="top_k", seq_len=12))
    finally:
        registry.reset_registry()
