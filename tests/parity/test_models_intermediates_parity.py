"""Parity of ``forward_intermediates`` / ``prune_intermediate_layers`` with open_clip 3.3.0 (peer: open_clip).

open_clip's model gets random weights (every tensor, so zero-initialised parts such as ResNet's last BN scales
cannot hide a bug) and its state dict is loaded into clipzoo's meta-built model with ``strict=True``; both then
run the same images and token ids. Intermediates and features must agree within ``ATOL`` = 1e-5 (fp32); logits,
which are unit features scaled by ``exp(logit_scale)``, within ``ATOL * exp(logit_scale)``.

Architectures: RN50 (ModifiedResNet), ViT-B-32, ViT-M-16-alt (layer scale), coca_ViT-B-32 (attentional pooler,
appended text class token), ViT-B-32-SigLIP2-256 (timm trunk, CustomTextCLIP) and a native-ViT CustomTextCLIP with
a SigLIP-style text tower. Native towers are shrunk to 2 blocks and a 3x3 patch grid (identically for both
libraries); the timm trunk keeps its full depth (timm fixes it by name) with a 2-block, 1000-token text tower.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import pytest
import torch

open_clip = pytest.importorskip("open_clip")

from clipzoo.models import build_model  # noqa: E402
from clipzoo.models.intermediates import IntermediatesError, feature_take_indices  # noqa: E402
from clipzoo.registry.config import parse_model_config  # noqa: E402
from tests.helpers.checkpoints import randomize_  # noqa: E402
from tests.helpers.registry import write_configs  # noqa: E402

CONFIG_DIR = Path(__file__).resolve().parents[2] / "model_configs"
ATOL = 1e-5
VOCAB = 1000


def _raw(name: str) -> dict:
    return json.loads((CONFIG_DIR / f"{name}.json").read_text())


def _shrink(raw: dict, grid: int = 3) -> dict:
    raw = copy.deepcopy(raw)
    for section in ("vision_cfg", "text_cfg", "multimodal_cfg"):
        if section in raw and isinstance(raw[section].get("layers"), int):
            raw[section]["layers"] = min(raw[section]["layers"], 2)
    vision = raw["vision_cfg"]
    if "timm_model_name" not in vision:
        vision["image_size"] = grid * (vision.get("patch_size") or 32)
    for section in ("text_cfg", "multimodal_cfg"):
        if section in raw:
            raw[section]["vocab_size"] = VOCAB
    return raw


def _resnet(raw: dict) -> dict:
    raw = _shrink(raw)
    raw["vision_cfg"].update(layers=[1, 1, 1, 1], image_size=64)
    return raw


CASES = {
    "RN50": _resnet(_raw("RN50")),
    "ViT-B-32": _shrink(_raw("ViT-B-32")),
    "ViT-M-16-alt": _shrink(_raw("ViT-M-16-alt")),
    "coca_ViT-B-32": _shrink(_raw("coca_ViT-B-32")),
    "ViT-B-32-SigLIP2-256": _shrink(_raw("ViT-B-32-SigLIP2-256")),
    "native-siglip-text": {
        **_shrink(_raw("ViT-B-32")),
        "custom_text": True,
        "init_logit_bias": -10,
        "text_cfg": {**_shrink(_raw("ViT-B-16-SigLIP"))["text_cfg"], "width": 256, "heads": 4},
    },
}


@pytest.fixture(scope="module", autouse=True)
def peer_registry(tmp_path_factory) -> Path:
    configs = {f"fi-case-{name}": raw for name, raw in CASES.items()}
    folder = write_configs(tmp_path_factory.mktemp("intermediates_configs"), configs)
    open_clip.add_model_config(folder)
    return folder


@functools.cache
def _models(case: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(open_clip model with random weights, clipzoo model holding the same weights), eval mode; built once."""
    peer = open_clip.create_model(f"fi-case-{case}").eval()
    randomize_(peer, 0)
    with torch.device("meta"):
        ours = build_model(parse_model_config(CASES[case], case)).eval()
    ours.load_state_dict(peer.state_dict(), strict=True, assign=True)
    return peer, ours


def _pair(case: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    peer, ours = _models(case)
    return copy.deepcopy(peer), copy.deepcopy(ours)


def _inputs(case: str, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (one for the full-depth timm trunk, else ``batch``) and ``batch`` token rows."""
    raw = CASES[case]
    size = raw["vision_cfg"]["image_size"]
    images = torch.randn(
        1 if "timm_model_name" in raw["vision_cfg"] else batch,
        3,
        size,
        size,
        generator=torch.Generator().manual_seed(2),
    )
    length = raw["text_cfg"]["context_length"]
    gen = torch.Generator().manual_seed(3)
    texts = torch.zeros(batch, length, dtype=torch.long)  # zero padding after the end token (masked by CoCa)
    for row, used in enumerate([5, length - 2][:batch]):
        texts[row, :used] = torch.randint(1, VOCAB - 1, (used,), generator=gen)
        texts[row, used] = VOCAB - 1  # end token: the largest id, so argmax pooling finds it
    return images, texts


def _assert_same(ours: dict, peer: dict, atol: dict[str, float] | None = None) -> None:
    assert list(ours) == list(peer)
    for key, expected in peer.items():
        actual, tol = ours[key], (atol or {}).get(key, ATOL)
        if isinstance(expected, list):
            assert isinstance(actual, list) and len(actual) == len(expected), key
            for mine, theirs in zip(actual, expected):
                assert mine.shape == theirs.shape, key
                torch.testing.assert_close(mine, theirs, rtol=0, atol=tol)
        else:
            assert actual.shape == expected.shape, key
            torch.testing.assert_close(actual, expected, rtol=0, atol=tol)


OPTIONS = {
    "defaults": {},
    "int-indices": {"image_indices": 1, "text_indices": 2},
    "list-negative-indices": {"image_indices": [0, -1], "text_indices": [-2]},
    "stop-early": {"stop_early": True, "image_indices": [0], "text_indices": [0]},
    "normalize-intermediates": {"normalize_intermediates": True, "normalize": False},
    "intermediates-only": {"intermediates_only": True, "image_indices": [1], "text_indices": [0]},
    "nlc-extra-tokens": {
        "image_output_fmt": "NLC",
        "image_output_extra_tokens": True,
        "text_output_extra_tokens": True,
    },
    "nchw-extra-tokens": {"image_output_extra_tokens": True, "text_output_extra_tokens": True},
    "logits-scale-bias": {"output_logits": True, "output_logit_scale_bias": True},
    "scale-bias": {"output_logit_scale_bias": True},
}


# (case, option) -> (what open_clip raises, what clipzoo raises or None where clipzoo computes a result)
PEER_FAILURES = {
    # a ResNet has no token layout: both refuse
    ("RN50", "nlc-extra-tokens"): (AssertionError, IntermediatesError),
    # CoCa's ln_post normalizes the attention pooler's 512-d output, not the 768-d blocks
    ("coca_ViT-B-32", "normalize-intermediates"): (RuntimeError, IntermediatesError),
    # open_clip's CoCa: 'FIXME, needs implementing'; clipzoo computes the contrastive logits like CLIP's
    ("coca_ViT-B-32", "logits-scale-bias"): (AssertionError, None),
}


# the full-depth timm trunk costs ~10x a shrunk native tower: it runs the options that reach the trunk differently
TIMM_CASE = "ViT-B-32-SigLIP2-256"
TIMM_OPTIONS = (
    "defaults",
    "int-indices",
    "list-negative-indices",
    "stop-early",
    "normalize-intermediates",
    "intermediates-only",
    "nlc-extra-tokens",
    "logits-scale-bias",
)
MODEL_CASES = [(c, o) for c in CASES for o in OPTIONS if c != TIMM_CASE or o in TIMM_OPTIONS]


@pytest.mark.parametrize(("case", "option"), MODEL_CASES)
def test_model_forward_intermediates_matches_open_clip(case: str, option: str) -> None:
    peer, ours = _models(case)
    images, texts = _inputs(case)
    kwargs = OPTIONS[option]
    with torch.inference_mode():
        if (case, option) in PEER_FAILURES:
            peer_error, our_error = PEER_FAILURES[case, option]
            with pytest.raises(peer_error):
                peer.forward_intermediates(images, texts, **kwargs)
            if our_error is not None:
                with pytest.raises(our_error):
                    ours.forward_intermediates(images, texts, **kwargs)
            else:
                out = ours.forward_intermediates(images, texts, **kwargs)
                expected, _ = ours.get_logits(images, texts)
                torch.testing.assert_close(out["image_logits"], expected, rtol=0, atol=1e-4)
                torch.testing.assert_close(out["text_logits"], expected.T, rtol=0, atol=1e-4)
            return
        out = ours.forward_intermediates(images, texts, **kwargs)
        expected = peer.forward_intermediates(images, texts, **kwargs)
    scale = peer.logit_scale.exp().item()
    _assert_same(out, expected, atol={"image_logits": ATOL * scale, "text_logits": ATOL * scale})
    if not kwargs:  # the full forward's features are the default call's final features
        with torch.inference_mode():
            torch.testing.assert_close(
                out["image_features"], ours.encode_image(images, normalize=True), atol=ATOL, rtol=0
            )


@pytest.mark.parametrize("case", CASES)
def test_single_tower_calls_match_open_clip(case: str) -> None:
    peer, ours = _models(case)
    images, _ = _inputs(case)
    with torch.inference_mode():
        _assert_same(
            ours.forward_intermediates(image=images, image_indices=[-1]),
            peer.forward_intermediates(image=images, image_indices=[-1]),
        )
        _assert_same(ours.visual.forward_intermediates(images), peer.visual.forward_intermediates(images))


@pytest.mark.parametrize("case", [c for c in CASES if "custom_text" in CASES[c]])
def test_text_tower_forward_intermediates_matches_open_clip(case: str) -> None:
    peer, ours = _models(case)
    _, texts = _inputs(case)
    with torch.inference_mode():
        for kwargs in (
            {},
            {"indices": [-1], "stop_early": True, "normalize_intermediates": True},
            {"indices": 1, "output_extra_tokens": True, "intermediates_only": True},
        ):
            _assert_same(
                ours.text.forward_intermediates(texts, output_fmt="NLC", **kwargs),
                peer.text.forward_intermediates(texts, output_fmt="NLC", **kwargs),
            )
        # open_clip's text signature defaults to output_fmt='NCHW' and refuses it; so does clipzoo's
        with pytest.raises(AssertionError):
            peer.text.forward_intermediates(texts)
        with pytest.raises(IntermediatesError, match="NLC"):
            ours.text.forward_intermediates(texts)


@pytest.mark.parametrize("indices", [5, [7], [-9], []])
def test_out_of_range_indices_are_refused_like_open_clip(indices) -> None:
    peer, ours = _models("ViT-B-32")  # 2 image blocks
    images, _ = _inputs("ViT-B-32")
    if indices != []:  # open_clip's max() of an empty list is a ValueError, not its range assertion
        with pytest.raises(AssertionError):
            peer.visual.forward_intermediates(images, indices=indices)
    with pytest.raises(IntermediatesError, match="out of range|empty"):
        ours.visual.forward_intermediates(images, indices=indices)


def test_feature_take_indices_matches_open_clip() -> None:
    from open_clip.utils import feature_take_indices as peer_take

    for indices in (None, 1, 3, [0], [0, -1], [-3, 1], (2, 0)):
        assert feature_take_indices(4, indices) == peer_take(4, indices)
        assert feature_take_indices(4, indices, as_set=True) == peer_take(4, indices, as_set=True)


# ----- pruning -----

PRUNES = [
    {},
    {"indices": [0]},
    {"indices": 2, "prune_norm": True, "prune_head": False},
    {"indices": [-2], "prune_norm": True},
]


def _keys(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


@pytest.mark.parametrize("prune", PRUNES, ids=str)
@pytest.mark.parametrize("case", ["ViT-B-32", "ViT-M-16-alt", "coca_ViT-B-32"])
def test_vit_pruning_matches_open_clip(case: str, prune: dict) -> None:
    peer, ours = _pair(case)
    images, _ = _inputs(case)
    assert ours.visual.prune_intermediate_layers(**prune) == peer.visual.prune_intermediate_layers(**prune)
    assert _keys(ours) == _keys(peer)
    with torch.inference_mode():
        _assert_same(ours.visual.forward_intermediates(images), peer.visual.forward_intermediates(images))
        mine, theirs = ours.visual(images), peer.visual(images)
        for a, b in zip(mine, theirs) if isinstance(theirs, tuple) else [(mine, theirs)]:
            torch.testing.assert_close(a, b, rtol=0, atol=ATOL)


@pytest.mark.parametrize("prune", PRUNES, ids=str)
@pytest.mark.parametrize("case", ["native-siglip-text", "coca_ViT-B-32"])
def test_text_tower_pruning_matches_open_clip(case: str, prune: dict) -> None:
    peer, ours = _pair(case)
    _, texts = _inputs(case)
    assert ours.text.prune_intermediate_layers(**prune) == peer.text.prune_intermediate_layers(**prune)
    assert _keys(ours) == _keys(peer)
    with torch.inference_mode():
        _assert_same(
            ours.text.forward_intermediates(texts, output_fmt="NLC"),
            peer.text.forward_intermediates(texts, output_fmt="NLC"),
        )
        mine, theirs = ours.text(texts), peer.text(texts)
        for a, b in zip(mine, theirs) if isinstance(theirs, tuple) else [(mine, theirs)]:
            torch.testing.assert_close(a, b, rtol=0, atol=ATOL)


@pytest.mark.parametrize("case", ["RN50", "ViT-B-32"])
def test_clip_layout_text_transformer_pruning_matches_open_clip(case: str) -> None:
    peer, ours = _pair(case)
    _, texts = _inputs(case)
    assert ours.transformer.prune_intermediate_layers([0]) == peer.transformer.prune_intermediate_layers([0])
    assert _keys(ours) == _keys(peer)
    with torch.inference_mode():
        torch.testing.assert_close(ours.encode_text(texts), peer.encode_text(texts), rtol=0, atol=ATOL)
        _assert_same(
            ours.forward_intermediates(text=texts, text_indices=1),
            peer.forward_intermediates(text=texts, text_indices=1),
        )


def _peer_prune_text(peer: torch.nn.Module, indices, prune_norm: bool) -> list[int]:
    """open_clip's text-tower pruning; for the CLIP layout spelled out on the top-level modules."""
    if hasattr(peer, "text"):
        return peer.text.prune_intermediate_layers(indices, prune_norm=prune_norm)
    take = peer.transformer.prune_intermediate_layers(indices)
    if prune_norm:
        peer.ln_final = torch.nn.Identity()
    peer.text_projection = None
    return take


@pytest.mark.parametrize("case", ["ViT-B-32", "RN50", "native-siglip-text", "coca_ViT-B-32"])
def test_model_level_pruning_equals_open_clip_tower_pruning(case: str) -> None:
    """clipzoo's model-level prune_intermediate_layers (not in open_clip 3.3.0) prunes as open_clip's towers do."""
    peer, ours = _pair(case)
    images, texts = _inputs(case)
    image_indices = None if case == "RN50" else [0]  # open_clip's ModifiedResNet cannot prune
    prune_norm = case != "coca_ViT-B-32"  # CoCa's ln_post belongs to its attention pooler
    taken = ours.prune_intermediate_layers(image_indices, [-2], prune_norm=prune_norm)
    expected = {"text": _peer_prune_text(peer, [-2], prune_norm)}
    if image_indices is not None:
        expected = {
            "image": peer.visual.prune_intermediate_layers(image_indices, prune_norm=prune_norm),
            **expected,
        }
    assert taken == expected
    assert _keys(ours) == _keys(peer)
    with torch.inference_mode():
        _assert_same(ours.forward_intermediates(images, texts), peer.forward_intermediates(images, texts))
