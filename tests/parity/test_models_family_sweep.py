"""Every tower family creates with weights and computes what open_clip 3.3.0 computes (peer: open_clip; atol 1e-5).

Families are derived from the registry, not listed by hand: an image tower's family is its kind (native ViT,
ModifiedResNet) or, for timm towers, the timm module that defines the trunk (``vitamin``, ``convnext``, ``eva``,
``fastvit``, ...); a text tower's kind is the layout it is built in (CLIP's top-level modules, a native tower under
``text.``, CoCa's text tower + decoder, a Hugging Face model). For each family the smallest member (fewest
parameters in clipzoo's stored model profiles) is created by open_clip with its random init, its state dict is
written to a file, and ``clipzoo.create_model(name, pretrained=<file>)`` must build (on the meta device), load
strictly and give the same ``forward`` outputs (normalized image and text features, logit scale and bias, CoCa's
logits) and ``encode_text`` outputs in float32 within 1e-5 (unnormalized image features: the other parity tests).

Hugging Face text models need the Hub for their config; their family member gets a tiny local RoBERTa instead
(for both libraries alike), so the HF tower kind is still built, loaded and compared offline.
"""

from __future__ import annotations

import copy
import functools
import gc
import json
from pathlib import Path

import pytest
import torch

open_clip = pytest.importorskip("open_clip")

import clipzoo  # noqa: E402
from clipzoo.models.towers import vision_tower_kind  # noqa: E402
from clipzoo.registry import architectures as registry  # noqa: E402
from clipzoo.registry.config import parse_model_config  # noqa: E402
from clipzoo.registry.results import get_model_profile  # noqa: E402
from tests.helpers.shared import scratch_file  # noqa: E402
from tests.helpers.transformers import save_pretrained, tiny_roberta  # noqa: E402

ATOL = 1e-5
HF_NAME = "sweep-hf-text"


@functools.cache
def _timm_modules() -> dict[str, str]:
    """timm model name -> the timm module (architecture family) defining it."""
    import timm

    return {model: module for module in timm.list_modules() for model in timm.list_models(module=module)}


def _families(name: str, raw: dict) -> list[str]:
    cfg = parse_model_config(raw, name)
    kind = vision_tower_kind(cfg.vision_cfg)
    vision = f"timm:{_timm_modules()[cfg.vision_cfg.timm_model_name]}" if kind == "timm" else f"native:{kind}"
    if cfg.text_cfg.hf_model_name:
        text = "text:hf"
    elif cfg.is_coca:
        text = "text:coca"
    else:
        text = "text:custom" if cfg.custom_text else "text:clip"
    return [vision, text] + (["text:coca"] if cfg.is_coca and text == "text:hf" else [])


def _size(name: str) -> tuple[float, float, str]:
    profile = get_model_profile(name)
    return (profile.params_m, profile.gflops, name)


@functools.cache
def sweep() -> dict[str, list[str]]:
    """{config name: the families it is the smallest member of}, over the architectures both libraries ship."""
    names = sorted(set(registry.list_models()) & set(open_clip.list_models()))
    members: dict[str, list[str]] = {}
    for name in names:
        for family in _families(name, registry.get_model_config(name)):
            members.setdefault(family, []).append(name)
    chosen: dict[str, list[str]] = {}
    for family, candidates in sorted(members.items()):
        chosen.setdefault(min(candidates, key=_size), []).append(family)
    return chosen


def test_families_cover_the_registry() -> None:
    families = {f for fams in sweep().values() for f in fams}
    timm_families = {f for f in families if f.startswith("timm:")}
    # what the registry holds today; a new family joins the sweep without editing this test
    assert {
        "timm:vitamin",
        "timm:convnext",
        "timm:eva",
        "timm:fastvit",
        "timm:vision_transformer",
    } <= timm_families
    assert {"native:vit", "native:resnet", "text:clip", "text:custom", "text:coca", "text:hf"} <= families
    assert any("ViTamin" in name for name in sweep())


@pytest.fixture(scope="module")
def hf_text_dir(tmp_path_factory) -> Path:
    """A tiny random RoBERTa saved locally (what an HF text tower loads its config from)."""
    pytest.importorskip("transformers")
    folder = tmp_path_factory.mktemp("tiny_roberta")
    save_pretrained(tiny_roberta(max_position_embeddings=80), folder)  # open_clip loads HF weights by default
    return folder


@pytest.fixture(scope="module")
def local_hf_config(hf_text_dir, tmp_path_factory) -> str:
    """The HF family's member with its text model made local, registered in both libraries as ``HF_NAME``."""
    hf_member = next(name for name, families in sweep().items() if "text:hf" in families)
    raw = copy.deepcopy(registry.get_model_config(hf_member))
    raw["text_cfg"].update(hf_model_name=str(hf_text_dir), hf_tokenizer_name=str(hf_text_dir))
    folder = tmp_path_factory.mktemp("sweep_configs")
    (folder / f"{HF_NAME}.json").write_text(json.dumps(raw))
    open_clip.add_model_config(folder)
    registry.add_model_config(folder, overwrite=True)
    yield hf_member
    registry.reset_registry()


def _texts(model: torch.nn.Module, raw: dict) -> torch.Tensor:
    text_cfg = raw["text_cfg"]
    length = getattr(model, "context_length", None) or text_cfg.get("context_length", 77)
    if text_cfg.get("hf_model_name"):  # the tokenizer's length (an HF tower reports its position table size)
        length, vocab, end = text_cfg.get("context_length", 77), 64, 2
    else:
        vocab = text_cfg.get("vocab_size", 49408)
        end = text_cfg.get("eos_id", 2) if text_cfg.get("pool_type") == "eos" else vocab - 1
    gen = torch.Generator().manual_seed(0)
    rows = torch.zeros(2, length, dtype=torch.long)
    for row, used in enumerate((4, length - 2)):
        rows[row, :used] = torch.randint(3, vocab - 1, (used,), generator=gen)
        rows[row, used] = end
    return rows


def _images(model: torch.nn.Module, batch: int) -> torch.Tensor:
    size = model.visual.image_size
    height, width = size if isinstance(size, (tuple, list)) else (size, size)
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(1))


def _close(ours, peer) -> None:
    if isinstance(peer, dict):
        assert list(ours) == list(peer)
        for key in peer:
            _close(ours[key], peer[key])
    elif isinstance(peer, (tuple, list)):
        assert len(ours) == len(peer)
        for mine, theirs in zip(ours, peer):
            _close(mine, theirs)
    else:
        assert ours.shape == peer.shape and ours.dtype == peer.dtype
        torch.testing.assert_close(ours, peer, rtol=0, atol=ATOL)


def _case(name: str, families: list[str]):
    return pytest.param(name, id=f"{name}[{','.join(families)}]")


@pytest.mark.slow  # 12 full-size models: ~40 s of CPU on this machine
@pytest.mark.parametrize("name", [_case(n, f) for n, f in sweep().items()])
def test_family_creates_with_weights_like_open_clip(name: str, local_hf_config: str, tmp_path: Path) -> None:
    model_name = HF_NAME if name == local_hf_config else name
    raw = registry.get_model_config(model_name)
    torch.manual_seed(0)
    peer = open_clip.create_model(model_name).eval()
    with scratch_file(tmp_path, "open_clip_random_init.pt") as path:
        torch.save(peer.state_dict(), path)
        ours = clipzoo.create_model(model_name, pretrained=str(path)).eval()
    meta = [n for n, t in [*ours.named_parameters(), *ours.named_buffers()] if t.is_meta]
    assert not meta, f"left on the meta device: {meta[:5]}"
    assert list(ours.state_dict()) == list(peer.state_dict())
    coca = "multimodal_cfg" in raw  # CoCa's forward decodes each text against its own image: equal batches
    images, texts = _images(ours, 2 if coca else 1), _texts(ours, raw)
    if coca:
        texts[:, -1] = 0
    with torch.inference_mode():
        # forward encodes the images (their normalized features), the texts and the logit scale; a separate
        # encode_image would run the full-size image tower twice more per model (a third of the sweep's time)
        _close(ours(images, texts), peer(images, texts))
        _close(ours.encode_text(texts), peer.encode_text(texts))
    del peer, ours
    gc.collect()
