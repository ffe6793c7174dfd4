"""Parity of clipzoo's models with open_clip 3.3.0 (peer: open_clip).

(a) Layout: for every shipped architecture that builds offline (configs with an ``hf_model_name`` text tower need
    the Hub and are skipped; timm configs need ``clipzoo.models.timm_tower``), the state dict has the same keys in
    the same order with the same shapes and dtypes, and the same (non-persistent included) buffer names; built on
    the meta device and compared with open_clip's layouts recorded in tests/data/open_clip-3.3.0/layouts.json
    (tests/helpers/peer_layouts.py; a sample is rebuilt from the live peer in every run).
(b) Numerics: open_clip's model, with every weight randomized (so zero-initialised parts cannot hide a bug), is
    loaded into clipzoo's with ``strict=True``; ``encode_image``, ``encode_text`` and ``forward`` must agree within
    ``FP32_ATOL`` = 1e-5 in float32, and within ``BF16_RTOL`` = 3e-2 of the output's largest magnitude in open_clip's
    'bf16' mixed precision (bf16 has an 8-bit mantissa and the two sides use different attention kernels).
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest
import torch

open_clip = pytest.importorskip("open_clip")

from clipzoo.factory import summary  # noqa: E402
from clipzoo.models import build_model, convert_weights_to_lp, count_parameters  # noqa: E402
from clipzoo.registry.config import parse_model_config  # noqa: E402
from tests.helpers import peer_layouts  # noqa: E402
from tests.helpers.checkpoints import randomize_  # noqa: E402
from tests.helpers.peers import layout_only  # noqa: E402
from tests.helpers.registry import write_configs  # noqa: E402

CONFIG_DIR = Path(__file__).resolve().parents[2] / "model_configs"
FP32_ATOL = 1e-5
BF16_RTOL = 3e-2
SOT, EOT = 49406, 49407
HAS_TIMM_TOWER = importlib.util.find_spec("clipzoo.models.timm_tower") is not None


def _raw(name: str) -> dict:
    return json.loads((CONFIG_DIR / f"{name}.json").read_text())


# the architectures open_clip ships (model_configs/ may also hold clipzoo-only additions)
ALL_CONFIGS = peer_layouts.peer_names()
# Rebuilt live from the peer in every run (one per family and tower kind), to keep the record honest.
LIVE_SAMPLE = ["RN50", "ViT-B-32", "coca_ViT-B-32", "ViT-H-14-378-quickgelu", "convnext_tiny", "ViT-B-16-SigLIP"]


def _layout_param(name: str):
    if peer_layouts.has_hf_text(name):
        return pytest.param(name, marks=pytest.mark.skip(reason="text tower is a remote Hugging Face model"))
    if "timm_model_name" in _raw(name)["vision_cfg"] and not HAS_TIMM_TOWER:
        return pytest.param(
            name, marks=pytest.mark.skip(reason="clipzoo.models.timm_tower not available yet")
        )
    return name


@pytest.mark.parametrize("name", [_layout_param(n) for n in ALL_CONFIGS])
def test_state_dict_layout_matches_open_clip(name: str) -> None:
    with layout_only():
        model = build_model(parse_model_config(_raw(name), name))
    peer_layouts.assert_matches_peer(name, peer_layouts.model_signature(model))
    # the per-tower counts `clipzoo info` reads from model_profiles.json are this model's (test_summary checks
    # the configs open_clip does not ship)
    assert count_parameters(model) == summary._stored_counts()[name]


@pytest.mark.parametrize("name", LIVE_SAMPLE)
def test_recorded_layout_is_open_clips(name: str) -> None:
    assert peer_layouts.fingerprint(peer_layouts.peer_signature(name)) == peer_layouts.recorded()[name]


def test_record_covers_every_peer_architecture() -> None:
    expected = {n for n in ALL_CONFIGS if peer_layouts.recordable(n)}
    assert set(peer_layouts.recorded()) == expected


# ----- numerics -----


def _shrink(raw: dict, layers: int = 2, grid: int = 4) -> dict:
    """Same architecture options with fewer blocks and a grid x grid patch grid, to keep CPU tests fast."""
    raw = copy.deepcopy(raw)
    for section in ("vision_cfg", "text_cfg", "multimodal_cfg"):
        if section in raw and isinstance(raw[section].get("layers"), int):
            raw[section]["layers"] = min(raw[section]["layers"], layers)
    vision = raw["vision_cfg"]
    vision["image_size"] = grid * (vision.get("patch_size") or 32)
    raw["text_cfg"]["vocab_size"] = 1000  # end token = largest id, so argmax pooling still finds it
    return raw


CUSTOM_CONFIGS = {
    # ViT-B-32 towers, SigLIP-style text (bidirectional, last-token pool, biased projection, tanh GELU, eps 1e-6)
    "parity-siglip-text": {
        "embed_dim": 512,
        "init_logit_bias": -10,
        "custom_text": True,
        "vision_cfg": {"image_size": 224, "layers": 2, "width": 768, "patch_size": 32},
        "text_cfg": {
            "context_length": 64,
            "vocab_size": 32000,
            "width": 512,
            "heads": 8,
            "layers": 2,
            "no_causal_mask": True,
            "pool_type": "last",
            "proj_bias": True,
            "act_kwargs": {"approximate": "tanh"},
            "norm_kwargs": {"eps": 1e-6},
        },
    },
    "parity-nonsquare": {
        "embed_dim": 256,
        "vision_cfg": {
            "image_size": [224, 160],
            "layers": 2,
            "width": 384,
            "patch_size": 32,
            "head_width": 64,
        },
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 256, "heads": 4, "layers": 2},
    },
    "parity-custom-block": {
        "embed_dim": 256,
        "vision_cfg": {
            "image_size": 64,
            "layers": 2,
            "width": 256,
            "patch_size": 16,
            "qk_norm": True,
            "scale_heads": True,
            "scale_attn_inner": True,
            "scale_attn": True,
            "scale_fc": True,
            "pos_embed_type": "sin_cos_2d",
        },
        "text_cfg": {
            "context_length": 32,
            "vocab_size": 49408,
            "width": 256,
            "heads": 4,
            "layers": 2,
            "block_type": "custom",
            "scale_fc": True,
        },
    },
}


def _shrunk_resnet(raw: dict) -> dict:
    raw = _shrink(raw, grid=2)  # 64 px: bf16 convolutions on CPUs without bf16 units are slow (20 s at 128 px)
    raw["vision_cfg"]["layers"] = [1, 2, 1, 1]
    return raw


# Fast cases keep every architecture option but use 2 blocks per tower; FULL_CASES run the real depth (slow).
NUMERIC_CASES = {
    "RN50": _shrunk_resnet(_raw("RN50")),  # attention-pooled ResNet, anti-aliased downsampling
    "ViT-B-32": _shrink(_raw("ViT-B-32")),
    "ViT-B-32-quickgelu": _shrink(_raw("ViT-B-32-quickgelu")),
    "ViT-M-16-alt": _shrink(_raw("ViT-M-16-alt")),  # layer scale
    "ViT-H-14-CLIPA": _shrink(
        _raw("ViT-H-14-CLIPA")
    ),  # no ln_pre, avg pool, final LN after pool, 'last' text pool
    "ViT-H-14-worldwide": {  # 'eos' text pool (vocabulary shrunk: the real one has 900k rows)
        **_shrink(_raw("ViT-H-14-worldwide")),
        "text_cfg": {**_raw("ViT-H-14-worldwide")["text_cfg"], "layers": 2, "vocab_size": 1000},
    },
    "coca_ViT-B-32": _shrink(_raw("coca_ViT-B-32")),  # attentional pooler, embed_cls, multimodal decoder
    "coca_base": _shrink(_raw("coca_base")),  # CoCa without attentional pooler
    **CUSTOM_CONFIGS,
    # full depth: ViT-B-32 here; RN50 and coca_ViT-B-32 (their families' members) run at full size, created from
    # a weights file, in test_family_sweep with the same tolerance
    "full-ViT-B-32": _raw("ViT-B-32"),
}
FULL_CASES = [c for c in NUMERIC_CASES if c.startswith("full-")]


@pytest.fixture(scope="module")
def peer_registry(tmp_path_factory) -> Path:
    """Register every numeric case in open_clip under a 'parity-' name."""
    configs = {f"parity-case-{name}": raw for name, raw in NUMERIC_CASES.items()}
    folder = write_configs(tmp_path_factory.mktemp("peer_configs"), configs)
    open_clip.add_model_config(folder)
    return folder


def _texts(batch: int, length: int, vocab: int, eos: int | None) -> torch.Tensor:
    """Token rows of different lengths: start token, random ids, end token, zero padding."""
    gen = torch.Generator().manual_seed(1)
    end = EOT if eos is None else eos
    rows = torch.zeros(batch, length, dtype=torch.long)
    for i, n in enumerate([3, length - 2, 9, 1, 5, 12][:batch]):
        rows[i, 0] = SOT if vocab > SOT else 3
        rows[i, 1 : n + 1] = torch.randint(3, min(vocab, SOT), (n,), generator=gen)
        rows[i, n + 1] = end if vocab > end else vocab - 1
    return rows


def _inputs(raw: dict, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    size = raw["vision_cfg"]["image_size"]
    height, width = (size, size) if isinstance(size, int) else size
    images = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(2))
    text_cfg = raw["text_cfg"]
    eos = text_cfg.get("eos_id") if text_cfg.get("pool_type") == "eos" else None
    return images, _texts(batch, text_cfg["context_length"], text_cfg["vocab_size"], eos)


def _pair(case: str, precision: str = "fp32"):
    """(open_clip model with random weights, clipzoo model holding the same weights), both in eval mode."""
    raw = NUMERIC_CASES[case]
    peer = open_clip.create_model(f"parity-case-{case}", precision=precision).eval()
    randomize_(peer, seed=0)
    cast = {"fp32": None, "bf16": torch.bfloat16}[precision]
    with torch.device("meta"):  # the factory's path: no random init, weights assigned from the checkpoint
        ours = build_model(parse_model_config(raw, case), cast_dtype=cast).eval()
    if cast is not None:
        convert_weights_to_lp(ours, cast)
    peer_state = peer.state_dict()
    assert {k: v.dtype for k, v in ours.state_dict().items()} == {k: v.dtype for k, v in peer_state.items()}
    ours.load_state_dict(peer_state, strict=True, assign=True)
    return raw, peer, ours


def _assert_close(ours: torch.Tensor, peer: torch.Tensor, atol: float = FP32_ATOL) -> None:
    assert ours.shape == peer.shape and ours.dtype == peer.dtype
    torch.testing.assert_close(ours, peer, rtol=0, atol=atol)


def _cases(coca: bool) -> list:
    cases = [c for c in NUMERIC_CASES if ("multimodal_cfg" in NUMERIC_CASES[c]) == coca]
    return [pytest.param(c, marks=pytest.mark.slow) if c in FULL_CASES else c for c in cases]


CLIP_CASES = _cases(coca=False)
COCA_CASES = _cases(coca=True)


@pytest.mark.parametrize("case", CLIP_CASES)
def test_fp32_outputs_match_open_clip(case: str, peer_registry: Path) -> None:
    raw, peer, ours = _pair(case)
    images, texts = _inputs(raw, batch=4)
    with torch.inference_mode():
        _assert_close(ours.encode_image(images), peer.encode_image(images))
        _assert_close(ours.encode_text(texts), peer.encode_text(texts))
        outputs, peer_outputs = ours(images, texts), peer(images, texts)
        assert len(outputs) == len(peer_outputs)
        for mine, theirs in zip(outputs, peer_outputs):
            _assert_close(mine, theirs)
        # logits are unit features scaled by exp(logit_scale) (up to 100): the same relative error, scaled
        for mine, theirs in zip(ours.get_logits(images, texts), peer.get_logits(images, texts)):
            _assert_close(mine, theirs, atol=FP32_ATOL * 100)


@pytest.mark.parametrize("case", COCA_CASES)
def test_coca_fp32_outputs_match_open_clip(case: str, peer_registry: Path) -> None:
    raw, peer, ours = _pair(case)
    images, texts = _inputs(raw, batch=3)
    texts[:, -1] = 0  # the appended class token must see padding masked exactly as open_clip masks it
    with torch.inference_mode():
        outputs, peer_outputs = ours(images, texts), peer(images, texts)
        assert list(outputs) == list(peer_outputs)
        for key in peer_outputs:
            _assert_close(outputs[key], peer_outputs[key])
        _assert_close(ours.encode_image(images), peer.encode_image(images))
        _assert_close(ours.encode_text(texts, normalize=False), peer.encode_text(texts, normalize=False))
        no_labels = ours(images, texts[:, :7], output_labels=False)
        peer_no_labels = peer(images, texts[:, :7], output_labels=False)
        _assert_close(no_labels["logits"], peer_no_labels["logits"])
        _, image_embs = ours._encode_image(images)
        _assert_close(ours._decode_step(texts[:, :7], image_embs), peer_no_labels["logits"][:, -1])


BF16_CASES = ["RN50", "ViT-B-32", "ViT-B-32-quickgelu", "ViT-H-14-CLIPA", "parity-nonsquare"]
# measured worst case: 1.4% of the largest output magnitude (full-depth ViT-B-32 text tower)


# (the full-depth ViT-B-32 case, which set BF16_RTOL, is left out: 20 s of the suite for what the fp32 full-depth
# case and the 2-block bf16 cases already cover)
@pytest.mark.parametrize("case", BF16_CASES)
def test_bf16_mixed_precision_matches_open_clip(case: str, peer_registry: Path) -> None:
    raw, peer, ours = _pair(case, precision="bf16")
    images, texts = _inputs(raw, batch=4)
    images = images.bfloat16()
    with torch.inference_mode():
        for mine, theirs in [
            (ours.encode_image(images), peer.encode_image(images)),
            (ours.encode_text(texts), peer.encode_text(texts)),
        ]:
            assert mine.dtype == theirs.dtype == torch.bfloat16
            scale = theirs.float().abs().max().item()
            torch.testing.assert_close(mine.float(), theirs.float(), rtol=0, atol=BF16_RTOL * scale)


def test_sincos_position_table_matches_open_clip() -> None:
    from open_clip.pos_embed import get_2d_sincos_pos_embed

    from clipzoo.models.vit import sincos_2d_position_embedding

    expected = torch.from_numpy(get_2d_sincos_pos_embed(64, 7, cls_token=True)).float()
    torch.testing.assert_close(sincos_2d_position_embedding(64, 7), expected, rtol=0, atol=1e-6)
