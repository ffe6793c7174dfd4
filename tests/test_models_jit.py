"""TorchScript: ``create_model(..., jit=True)`` and ``trace_model`` (open_clip's behaviour; tolerance atol 1e-5 fp32).

Scripted and traced models must give the eager model's outputs on inputs other than the tracing examples (texts of
different lengths, another batch size); an architecture TorchScript cannot compile comes back eager with one
warning that names the reason.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import clipzoo
from clipzoo.models import build_model
from clipzoo.models.jit import JitFallbackWarning, script_model, trace_model
from clipzoo.registry.config import parse_model_config

# TorchScript compiles (seconds each, full-size traces compared with open_clip): in make test, not make test-fast
pytestmark = pytest.mark.slow

CONFIG_DIR = Path(__file__).resolve().parents[1] / "model_configs"
ATOL = 1e-5
VOCAB = 1000  # small embedding tables; the end token is the largest id, as argmax pooling needs


def _shrunk(name: str) -> dict:
    """The shipped architecture with 2 blocks per tower (1 per ResNet stage) and a 2x2 grid: same code, fast."""
    raw = json.loads((CONFIG_DIR / f"{name}.json").read_text())
    for section in ("vision_cfg", "text_cfg", "multimodal_cfg"):
        if section in raw:
            layers = raw[section].get("layers")
            raw[section]["layers"] = [1, 1, 1, 1] if isinstance(layers, list) else 2
            if section != "vision_cfg":
                raw[section]["vocab_size"] = VOCAB
    raw["vision_cfg"]["image_size"] = 2 * (raw["vision_cfg"].get("patch_size") or 32)
    return raw


def _siglip_text() -> dict:
    """CustomTextCLIP: native ViT-B-32 image tower, ViT-B-16-SigLIP's text tower (bidirectional, last-token pool,
    biased projection), both shrunk."""
    raw = _shrunk("ViT-B-32")
    siglip = json.loads((CONFIG_DIR / "ViT-B-16-SigLIP.json").read_text())
    text = {k: v for k, v in siglip["text_cfg"].items() if k not in ("hf_tokenizer_name", "tokenizer_kwargs")}
    return {**raw, "custom_text": True, "init_logit_bias": -10, "text_cfg": {**text, "layers": 2}}


def _texts(context_length: int, vocab: int = VOCAB) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    rows = torch.zeros(3, context_length, dtype=torch.long)
    for row, length in enumerate((3, context_length - 2, 7)):
        rows[row, : length + 1] = torch.randint(1, vocab - 1, (length + 1,), generator=gen)
        rows[row, length + 1] = vocab - 1
    return rows


def _model(name: str) -> nn.Module:
    torch.manual_seed(0)
    raw = _siglip_text() if name == "siglip-text" else _shrunk(name)
    return build_model(parse_model_config(raw, name)).eval()


def _images(model: nn.Module, batch: int = 3) -> torch.Tensor:
    size = model.visual.image_size
    height, width = size if isinstance(size, tuple) else (size, size)
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(1))


def _assert_outputs_equal(compiled, eager, images: torch.Tensor, texts: torch.Tensor) -> None:
    with torch.no_grad():
        torch.testing.assert_close(
            compiled.encode_image(images), eager.encode_image(images), rtol=0, atol=ATOL
        )
        torch.testing.assert_close(compiled.encode_text(texts), eager.encode_text(texts), rtol=0, atol=ATOL)
        outputs, expected = compiled(images, texts), eager(images, texts)
        assert len(outputs) == len(expected)
        for mine, theirs in zip(outputs, expected):
            torch.testing.assert_close(mine, theirs, rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", ["ViT-B-32", "RN50", "siglip-text"])
def test_script_model_matches_eager(name: str) -> None:
    eager = _model(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither a fallback warning nor torch's deprecation notice
        scripted = script_model(eager)
    assert isinstance(scripted, torch.jit.ScriptModule)
    _assert_outputs_equal(scripted, eager, _images(eager), _texts(eager.context_length))


def test_script_model_output_dict_and_coca() -> None:
    eager = _model("ViT-B-32")
    eager.output_dict = True
    scripted = script_model(eager)
    images, texts = _images(eager), _texts(eager.context_length)
    with torch.no_grad():
        out, expected = scripted(images, texts), eager(images, texts)
    assert list(out) == list(expected)
    for key in expected:
        torch.testing.assert_close(out[key], expected[key], rtol=0, atol=ATOL)

    coca = _model("coca_ViT-B-32")
    scripted_coca = script_model(coca)
    texts = _texts(coca.context_length)
    texts[:, -1] = 0
    with torch.no_grad():
        out, expected = scripted_coca(_images(coca), texts), coca(_images(coca), texts)
        for method, inputs in (("encode_image", _images(coca)), ("encode_text", texts)):
            torch.testing.assert_close(
                getattr(scripted_coca, method)(inputs), getattr(coca, method)(inputs), rtol=0, atol=ATOL
            )
    assert list(out) == list(expected)
    for key in expected:
        torch.testing.assert_close(out[key], expected[key], rtol=0, atol=ATOL)


class _KwargsTower(nn.Module):
    """An image tower TorchScript cannot compile (``**kwargs`` in forward)."""

    def __init__(self, tower: nn.Module) -> None:
        super().__init__()
        self.inner = tower
        self.image_size = tower.image_size

    def forward(self, image, **kwargs):
        return self.inner(image)


def test_unscriptable_model_comes_back_eager_with_one_warning() -> None:
    model = _model("ViT-B-32")
    model.visual = _KwargsTower(model.visual)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = script_model(model)
    assert result is model
    assert [w.category for w in caught] == [JitFallbackWarning]
    message = str(caught[0].message)
    assert "CLIP" in message and "variable number of arguments" in message and "eager" in message
    assert Path(__file__).name in message  # where: the forward that cannot compile


def test_create_model_jit_true_returns_scripted_model(tiny_configs, tmp_path) -> None:
    eager = clipzoo.create_model("tiny-vit").eval()
    path = tmp_path / "tiny.pt"
    torch.save(eager.state_dict(), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", JitFallbackWarning)
        scripted = clipzoo.create_model("tiny-vit", pretrained=str(path), jit=True)
    assert isinstance(scripted, torch.jit.ScriptModule)
    # the preprocess config is attached where open_clip attaches it, on the scripted model
    assert (
        clipzoo.get_model_preprocess_cfg(scripted)["size"] == clipzoo.get_model_preprocess_cfg(eager)["size"]
    )
    _assert_outputs_equal(scripted, eager, _images(eager), _texts(eager.context_length))
    model, _, preprocess = clipzoo.create_model_and_transforms("tiny-vit", pretrained=str(path), jit=True)
    assert isinstance(model, torch.jit.ScriptModule) and preprocess is not None


@pytest.mark.parametrize("name", ["ViT-B-32", "RN50"])
def test_trace_model_matches_eager_on_other_inputs(name: str) -> None:
    eager = _model(name)
    reference = copy.deepcopy(eager)
    traced = trace_model(eager, batch_size=2)
    assert isinstance(traced, torch.jit.TopLevelTracedModule)
    assert traced.visual.image_size == eager.visual.image_size
    # tracing saw all-zero token ids: other lengths and another batch size must still match
    _assert_outputs_equal(traced, reference, _images(reference, 3), _texts(reference.context_length))


def test_trace_model_matches_open_clip_trace() -> None:
    open_clip = pytest.importorskip("open_clip")
    raw = _shrunk("RN50")  # open_clip's trace_model needs an int image_size: its ViTs keep a pair and fail
    torch.manual_seed(0)
    peer = open_clip.model.CLIP(**{k: v for k, v in raw.items() if k != "custom_text"}).eval()
    with torch.device("meta"):
        ours = build_model(parse_model_config(raw, "RN50")).eval()
    ours.load_state_dict(peer.state_dict(), strict=True, assign=True)
    peer_traced = open_clip.trace_model(peer, batch_size=2)
    traced = trace_model(ours, batch_size=2)
    images, texts = _images(ours, 2), _texts(ours.context_length)
    with torch.no_grad():
        for method in ("encode_image", "encode_text"):
            inputs = images if method == "encode_image" else texts
            torch.testing.assert_close(
                getattr(traced, method)(inputs), getattr(peer_traced, method)(inputs), rtol=0, atol=ATOL
            )
