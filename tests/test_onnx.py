"""clipzoo.onnx: export every tower family to ONNX, run it on onnxruntime without torch, int8 quantization.

Parity: onnxruntime fp32 features equal clipzoo's torch features within ATOL (1e-4) for the smallest config of
each family (native ViT + CLIP text: ViT-B-32 once; ModifiedResNet; timm ViT with SigLIP's map pooling +
SigLIP-style text; timm ConvNeXt; CoCa) with random weights. The runtime's preprocessing is bit-identical to
the eval transform, its token ids identical to get_tokenizer's. int8: tiny-digits held-out accuracy within one
point of torch fp32.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import clipzoo
from clipzoo.export.onnx import OnnxExportError, check_exportable
from clipzoo.export.writers import export_model
from clipzoo.onnx import (
    MANIFEST_NAME,
    OnnxFolderError,
    OnnxInputError,
    OnnxModel,
    OnnxRuntimeMissingError,
    is_onnx_folder,
    read_manifest,
)
from clipzoo.onnx.preprocess import ImagePreprocessor
from clipzoo.preprocess.transforms import image_transform
from clipzoo.registry import architectures as registry
from tests.helpers.configs import TINY_TEXT, TINY_VISION, tiny_families
from tests.helpers.registry import write_configs
from tests.helpers.tokenizers import sentences, train_spiece

ATOL = 1e-4
TEXTS = ["a photo of a cat.", "", "a much longer caption about a dog that runs along the beach at dawn"]
# One block a tower (and one a stage in the timm ones): every kind of block is in each graph; more copies of
# it only multiplied the export time (the exporter traces, decomposes and optimizes op by op).
TEXT = {**TINY_TEXT, "layers": 1}
VIT = {**TINY_VISION, "layers": 1}
WORDS = ["photo", "cat", "dog", "beach", "caption", "runs", "long", "a", "of", "the", "at", "dawn", "along"]


def _spiece_folder(folder: Path) -> Path:
    """A T5-style tokenizer folder (tiny unigram spiece.model) as SigLIP configs name them."""
    train_spiece(folder, sentences(WORDS, 200, 10), vocab_size=30)
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer"}))
    return folder


def _configs(tokenizer_dir: Path) -> dict[str, dict]:
    families = tiny_families(TEXT, multimodal_layers=1)
    families["coca"]["vision_cfg"] = {**families["coca"]["vision_cfg"], "layers": 1}
    return {
        "onnx-rn": families["resnet"],
        "onnx-siglip": {  # SigLIP's layout: timm ViT with map pooling, bidirectional text pooled at the end
            "embed_dim": 64,
            "init_logit_bias": -10,
            "custom_text": True,
            "vision_cfg": {
                "image_size": 160,
                "timm_model_name": "test_vit",
                "timm_model_kwargs": {"depth": 1},
                "timm_model_pretrained": False,
                "timm_pool": "map",
                "timm_proj": "none",
            },
            "text_cfg": {
                **TEXT,
                "vocab_size": 30,
                "hf_tokenizer_name": str(tokenizer_dir),
                "tokenizer_kwargs": {"clean": "canonicalize"},
                "no_causal_mask": True,
                "proj_bias": True,
                "pool_type": "last",
            },
        },
        "onnx-convnext": {
            "embed_dim": 24,
            "vision_cfg": {
                "image_size": 160,
                "timm_model_name": "test_convnext",
                "timm_model_kwargs": {"depths": [1, 1, 1, 1]},
                "timm_model_pretrained": False,
                "timm_pool": "",
                "timm_proj": "linear",
            },
            "text_cfg": TEXT,
        },
        "onnx-coca": families["coca"],
        "onnx-vit-options": {  # the native ViT/text options other configs use, and eos pooling (prefix cut)
            "embed_dim": 24,
            "vision_cfg": {
                **VIT,
                "ls_init_value": 0.1,
                "pos_embed_type": "sin_cos_2d",
                "no_ln_pre": True,
                "final_ln_after_pool": True,
                "pool_type": "avg",
            },
            "text_cfg": {
                **TEXT,
                "ls_init_value": 0.1,
                "pool_type": "eos",
                "eos_id": 49407,
                "proj_bias": True,
            },
        },
        "onnx-tokens": {"embed_dim": 24, "vision_cfg": VIT, "text_cfg": {**TEXT, "pool_type": "none"}},
    }


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Register the tiny architectures of this module; yields their names."""
    configs = _configs(_spiece_folder(tmp_path_factory.mktemp("onnx-spiece")))
    folder = write_configs(tmp_path_factory.mktemp("onnx-configs"), configs)
    registry.reset_registry()
    registry.add_model_config(folder)
    yield list(configs)
    registry.reset_registry()


def _photos() -> list[Image.Image]:
    """Noise images of several sizes and aspect ratios (RGB and grey)."""
    rng = np.random.default_rng(0)
    sizes = [(50, 37), (64, 64), (90, 200)]
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]
    return [*images, images[0].convert("L")]


def _export_random(name: str, folder: Path, **options) -> torch.nn.Module:
    """Export ``name`` with random weights (seeded) and return the same model built in torch."""
    torch.manual_seed(0)
    export_model(name, None, to=folder, format="onnx", format_options=options or None)
    torch.manual_seed(0)
    return clipzoo.create_model(name).eval()


def _assert_matches_torch(folder: Path, model: torch.nn.Module, name: str) -> None:
    onnx = OnnxModel(folder)
    tokenizer = clipzoo.get_tokenizer(name)
    preprocess = image_transform(
        onnx.preprocess_cfg["size"],
        is_train=False,
        **{k: onnx.preprocess_cfg[k] for k in ("mean", "std", "resize_mode", "interpolation", "fill_color")},
    )
    images = _photos()
    ids = tokenizer(TEXTS)
    assert np.array_equal(onnx.tokenize(TEXTS), ids.numpy())
    with torch.no_grad():
        want_image = model.encode_image(
            torch.stack([preprocess(im) for im in images]), normalize=False
        ).numpy()
        want_text = model.encode_text(ids, normalize=False).numpy()
    np.testing.assert_allclose(onnx.encode_image(images, normalize=False), want_image, rtol=0, atol=ATOL)
    np.testing.assert_allclose(onnx.encode_text(TEXTS, normalize=False), want_text, rtol=0, atol=ATOL)
    np.testing.assert_allclose(
        onnx.encode_image(images[:1], normalize=False), want_image[:1], rtol=0, atol=ATOL
    )
    np.testing.assert_allclose(onnx.encode_text(TEXTS[2:], normalize=False), want_text[2:], rtol=0, atol=ATOL)
    normalized = onnx.encode_image(images)
    np.testing.assert_allclose(np.linalg.norm(normalized, axis=1), 1.0, atol=1e-5)
    labels, templates = ["cat", "dog", "car"], ["a photo of a {}.", "a {} again"]
    with torch.no_grad():
        want = clipzoo.zero_shot_classify(
            model, images, labels, tokenizer=tokenizer, preprocess=preprocess, templates=templates, top_k=3
        )
    got = onnx.classify(images, labels, templates=templates, top_k=3)
    for ours, theirs in zip(got, want):  # the same probability per label (softmax or sigmoid, as the family)
        assert dict(ours).keys() == dict(theirs).keys()
        for label, prob in theirs:
            assert dict(ours)[label] == pytest.approx(prob, abs=ATOL)


# ------------------------------------------------------------------------------------------ coverage


@pytest.mark.slow
def test_vit_b_32_round_trips_within_tolerance(tmp_path):
    """Native ViT image tower and CLIP text tower at ViT-B-32's full width, image size and context (random
    weights), once. One block a tower instead of 12: the blocks are identical, so the others only multiplied
    the build, export and session times (12 blocks cost 38 s of the suite's CPU, 2 blocks 31 s)."""
    from clipzoo.export.onnx import write_onnx_folder
    from clipzoo.factory.resolve import resolve

    folder = tmp_path / "b32"
    folder.mkdir()
    model = clipzoo.create_model("ViT-B-32", vision_cfg={"layers": 1}, text_cfg={"layers": 1}).eval()
    assert model.visual.transformer.width == 768 and model.transformer.width == 512  # the overrides merge
    write_onnx_folder(folder, model, resolve("ViT-B-32"))  # the writer export_model runs, on this model
    _assert_matches_torch(folder, model, "ViT-B-32")
    manifest = read_manifest(folder)
    assert manifest["model"] == "ViT-B-32" and manifest["tag"] is None and manifest["embed_dim"] == 512
    assert manifest["context_length"] == 77 and manifest["opset"] >= 21 and manifest["quantization"] is None
    assert manifest["text"]["prefix_pooling"] == {"pool_type": "argmax", "eos_id": 2}
    assert (
        manifest["logit_scale"] == pytest.approx(model.logit_scale.item()) and manifest["logit_bias"] is None
    )
    assert manifest["scoring"] == "softmax"
    assert set(manifest["files"]) >= {"image_encoder.onnx", "text_encoder.onnx", "preprocess_config.json"}


@pytest.mark.slow  # ~8 s of CPU each (two graph exports); test_folder_errors_are_typed & co. stay in test-fast
@pytest.mark.parametrize("name", ["onnx-rn", "onnx-siglip", "onnx-convnext", "onnx-coca", "onnx-vit-options"])
def test_tower_families_round_trip_within_tolerance(tmp_path, tiny_models, name):
    """ModifiedResNet, timm ViT (SigLIP map pool) + SigLIP text, timm ConvNeXt, CoCa's two encoders, ViT options."""
    folder = tmp_path / name
    model = _export_random(name, folder)
    _assert_matches_torch(folder, model, name)
    manifest = read_manifest(folder)
    if name == "onnx-siglip":  # sigmoid scoring, fixed-length bidirectional text, sentencepiece files
        assert manifest["scoring"] == "sigmoid" and manifest["logit_bias"] == pytest.approx(-10)
        assert manifest["text"]["prefix_pooling"] is None and manifest["tokenizer"]["type"] == "hf"
        assert "tokenizer/spiece.model" in manifest["files"]
        probs = OnnxModel(folder).classify(_photos()[:2], ["cat", "dog"], top_k=2)
        assert all(0 < p < 1 for preds in probs for _, p in preds)  # independent sigmoids
    if name == "onnx-coca":  # the class token is the pooled one: every position counts
        assert manifest["text"]["prefix_pooling"] is None
    if name == "onnx-vit-options":
        assert manifest["text"]["prefix_pooling"] == {"pool_type": "eos", "eos_id": 49407}
        _check_quantize_folder(folder, tmp_path / "int8")


def _check_quantize_folder(folder: Path, target: Path) -> None:
    """quantize_folder: an int8 copy (torch-free) whose features stay close; a quantized folder is refused."""
    from clipzoo.export.onnx import quantize_folder

    assert quantize_folder(folder, target) == target.resolve()
    manifest = read_manifest(target)
    assert manifest["quantization"]["weight_type"] == "int8" and MANIFEST_NAME not in manifest["files"]
    fp32, int8 = OnnxModel(folder), OnnxModel(target)
    images = _photos()
    assert ((fp32.encode_image(images) * int8.encode_image(images)).sum(axis=1) > 0.99).all()
    assert ((fp32.encode_text(TEXTS) * int8.encode_text(TEXTS)).sum(axis=1) > 0.99).all()
    with pytest.raises(OnnxExportError, match="already quantized"):
        quantize_folder(target, target.parent / "again")


def test_architecture_that_cannot_export_says_why_and_writes_nothing(tmp_path, tiny_models):
    target = tmp_path / "tokens"
    with pytest.raises(OnnxExportError, match="pool_type 'none'.*per token"):
        export_model("onnx-tokens", None, to=target, format="onnx")
    with pytest.raises(OnnxExportError, match="unknown quantize='int4'"):
        export_model(
            "tiny-digits", "sklearn_digits", to=target, format="onnx", format_options={"quantize": "int4"}
        )
    assert not target.exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith((".tokens.tmp", ".tokens.old"))]


def test_exporter_failure_names_the_tower(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("Unsupported op aten::frobnicate")

    monkeypatch.setattr(torch.onnx, "export", broken)
    target = tmp_path / "broken"
    with pytest.raises(OnnxExportError, match=r"image tower .*does not export.*aten::frobnicate"):
        export_model("tiny-digits", "sklearn_digits", to=target, format="onnx")
    assert not target.exists()


def test_the_exporters_registry_is_built_once_per_opset():
    """Inside the scope (nested too: threads export at once) torch.onnx.export's ONNXRegistry.from_torchlib hands
    out copies of one registry per opset; torch's own method is back after it. Fails when a torch release moves
    the private class (every graph would rebuild it again, ~1 s each). That the copies export the same bytes as
    fresh registries was checked once by hand; the family round trips below run through them."""
    from clipzoo.export.torchlib_registry import registry_class, torchlib_registry_built_once

    cls = registry_class()
    assert cls is not None, "torch.onnx's ONNXRegistry moved: clipzoo's exports build it once per graph again"
    torchs = cls.__dict__["from_torchlib"]
    with torchlib_registry_built_once():
        first = cls.from_torchlib(opset_version=21)
        with torchlib_registry_built_once():
            second = cls().from_torchlib(opset_version=21)  # torch.onnx.export calls it on an instance
    assert cls.__dict__["from_torchlib"] is torchs
    assert first is not second and first.functions.keys() == second.functions.keys()
    assert len(first.functions) > 100 and first.opset_version == second.opset_version == 21
    first.functions.clear()  # torch.onnx.export registers custom ops into the registry it gets: copies
    assert second.functions


@pytest.mark.slow
def test_missing_packages_name_the_extra(monkeypatch, digits_int8):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(OnnxRuntimeMissingError, match=r"uv pip install 'clipzoo\[onnx\]'"):
        OnnxModel(digits_int8)
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    with pytest.raises(OnnxExportError, match=r"onnxruntime, onnxscript: uv pip install 'clipzoo\[onnx\]'"):
        check_exportable(clipzoo.create_model("tiny-digits", pretrained="sklearn_digits"))


# --------------------------------------------------------------------------------------- int8, runtime


@pytest.mark.slow
def test_int8_keeps_digits_accuracy_within_one_point(digits_int8):
    from clipzoo.demo.digits import DIGIT_CLASSNAMES, load_heldout
    from clipzoo.demo.tour import classify, digit_templates

    images, labels = load_heldout()
    model, _, preprocess = clipzoo.create_model_and_transforms("tiny-digits", pretrained="sklearn_digits")
    torch_preds = [
        p for p, _ in classify(model.eval(), preprocess, clipzoo.get_tokenizer("tiny-digits"), images)
    ]
    onnx = OnnxModel(digits_int8)
    results = onnx.classify(
        images, list(DIGIT_CLASSNAMES), templates=digit_templates(), top_k=1, batch_size=128
    )
    int8_preds = [DIGIT_CLASSNAMES.index(preds[0][0]) for preds in results]
    acc_fp32 = np.mean(np.array(torch_preds) == labels)
    acc_int8 = np.mean(np.array(int8_preds) == labels)
    assert acc_fp32 > 0.9 and abs(acc_int8 - acc_fp32) <= 0.01, (acc_fp32, acc_int8)
    manifest = read_manifest(digits_int8)
    assert manifest["quantization"]["weight_type"] == "int8" and manifest["quantization"]["op_types"]


@pytest.mark.slow
def test_runtime_never_imports_torch(digits_int8, digit_pngs):
    paths, labels = digit_pngs
    code = f"""
import sys
from clipzoo.onnx import OnnxModel
model = OnnxModel({str(digits_int8)!r})
top = model.classify({[str(p) for p in paths]!r}, ["zero", "one", "two", "three", "four", "five", "six",
    "seven", "eight", "nine"], templates=["a photo of the digit {{}}."], top_k=1)
assert model.encode_text(["a photo"]).shape == (1, 64)
print("TOP", [preds[0][0] for preds in top])
print("HEAVY", sorted(m for m in ("torch", "torchvision", "timm", "transformers") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout
    assert "TOP [" in out.stdout


@pytest.mark.slow
def test_folder_errors_are_typed(tmp_path, digits_int8):
    assert is_onnx_folder(digits_int8) and not is_onnx_folder(tmp_path)
    with pytest.raises(OnnxFolderError, match="no clipzoo_onnx.json.*--format onnx"):
        OnnxModel(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"format": "clipzoo-onnx", "format_version": 99}))
    with pytest.raises(OnnxFolderError, match="format_version 99 is not supported"):
        OnnxModel(tmp_path)
    from clipzoo.onnx.runtime import build_tokenizer

    with pytest.raises(OnnxFolderError, match="exported without tokenizer files; pass token ids"):
        build_tokenizer(digits_int8, None, 16)  # the manifest entry of an export with include_tokenizer=False
    model = OnnxModel(digits_int8)
    with pytest.raises(OnnxInputError, match="duplicate labels"):
        model.classify([Image.new("RGB", (8, 8))], ["a", "a"])
    with pytest.raises(OnnxInputError, match=r"token ids must be \[N, 16\]"):
        model.encode_tokens(np.zeros((1, 5), dtype=np.int64))


# ----------------------------------------------------------------------------- preprocessing, tokenizer


def _mode_images() -> list[Image.Image]:
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (37, 50, 3), dtype=np.uint8))
    tall = Image.fromarray(rng.integers(0, 256, (64, 20, 3), dtype=np.uint8))
    return [
        rgb,
        tall.convert("L"),
        rgb.convert("RGBA"),
        rgb.convert("P"),
        tall.convert("LA"),
        rgb.convert("CMYK"),
        rgb.convert("I;16"),
        rgb.convert("F"),
        tall.convert("1"),
        Image.fromarray(rng.integers(0, 256, (5, 300, 3), dtype=np.uint8)),  # extreme aspect ratio
    ]


@pytest.mark.parametrize("resize_mode", ["shortest", "longest", "squash"])
@pytest.mark.parametrize("size", [32, (24, 40)])
def test_preprocessing_is_bit_identical_to_the_eval_transform(resize_mode, size, tmp_path):
    images = _mode_images()
    for interpolation in ("bicubic", "bilinear", "nearest"):
        cfg = {
            "size": size,
            "mean": (0.5, 0.25, 0.1),
            "std": (0.2, 0.3, 0.7),
            "resize_mode": resize_mode,
            "interpolation": interpolation,
            "fill_color": 128,
        }
        ours = ImagePreprocessor(cfg)
        theirs = image_transform(size, is_train=False, **{k: v for k, v in cfg.items() if k != "size"})
        for image in images:
            got, want = ours(image), theirs(image).numpy()
            assert got.dtype == np.float32 and np.array_equal(got, want), (image.mode, interpolation)
    path = tmp_path / "photo.png"
    images[0].save(path)
    assert np.array_equal(ours(path), theirs(path).numpy())
    assert np.array_equal(ours.batch([path, images[0]])[1], theirs(images[0]).numpy())


@pytest.mark.slow
def test_tokenizer_ids_equal_get_tokenizer(digits_int8):
    texts = [*TEXTS, "Café &amp; crème brûlée!", "日本語のテキスト", " ".join(["word"] * 40)]
    onnx = OnnxModel(digits_int8)
    assert np.array_equal(onnx.tokenize(texts), clipzoo.get_tokenizer("tiny-digits")(texts).numpy())
