"""clipzoo.optimize_for_inference: the path chosen from (mocked) CPU flags, the log line, and each path's accuracy.

Accuracy, not speed (speed lives in scripts/bench_inference.py): features of the tiny architectures against their
own fp32 output (cosine), and tiny-digits' held-out zero-shot accuracy against fp32 (the gate that decides which
paths ``auto`` may pick: at most 0.5 points lost for bf16, 1 point for int8). The bf16 tests need oneDNN's bf16
kernels (AVX512 CPUs): skipped, with the reason, elsewhere.
"""

from __future__ import annotations

import copy
import logging
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import clipzoo
from clipzoo.inference import convert
from clipzoo.inference.cpu_features import CpuFeatures, detect_cpu_features, parse_cpuinfo
from clipzoo.inference.optimize import available_kernels
from clipzoo.inference.paths import InferencePathError, Kernels, choose_path

XEON_AMX = "model name\t: Intel(R) Xeon(R) Platinum 8480+\nflags\t\t: fpu sse avx2 fma avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8\n"
EPYC_ZEN4 = (
    "model name\t: AMD EPYC 9R14\nflags\t\t: fpu sse avx2 fma avx512f avx512_vnni avx512_bf16 avx_vnni\n"
)
EPYC_AVX2 = "model name\t: AMD EPYC 7R32\nflags\t\t: fpu sse avx avx2 fma\n"
OLD_X86 = "model name\t: Some CPU\nflags\t\t: fpu sse sse2\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n"

BF16_KERNELS = available_kernels().bf16
needs_bf16 = pytest.mark.skipif(not BF16_KERNELS, reason="no oneDNN bf16 kernels on this CPU (needs AVX512)")


def features(text: str) -> CpuFeatures:
    name, flags = parse_cpuinfo(text)
    return CpuFeatures(name, flags)


# ----------------------------------------------------------------------------------------------- flags and rules


def test_parse_cpuinfo_reads_name_and_flags():
    name, flags = parse_cpuinfo(XEON_AMX + "\nmodel name\t: second socket\nflags\t\t: other\n")
    assert name == "Intel(R) Xeon(R) Platinum 8480+"
    assert {"amx_bf16", "amx_tile", "avx512_bf16", "avx2"} <= flags and "other" not in flags
    assert parse_cpuinfo(ARM)[1] >= {"asimd", "fp"} and parse_cpuinfo(ARM)[0] == "unknown CPU"
    assert parse_cpuinfo("") == ("unknown CPU", frozenset())


def test_feature_properties_and_summary():
    xeon, zen4, avx2 = features(XEON_AMX), features(EPYC_ZEN4), features(EPYC_AVX2)
    assert xeon.amx_bf16 and xeon.avx512_bf16 and xeon.int8_dot
    assert not zen4.amx_bf16 and zen4.avx512_bf16 and zen4.int8_dot
    assert not avx2.avx512_bf16 and not avx2.int8_dot and avx2.avx2
    assert zen4.summary().startswith("avx512_bf16 avx512_vnni avx_vnni avx512f avx2 fma; no amx_bf16")
    assert "torch dispatch AVX2" in CpuFeatures("x", frozenset({"avx2"}), "AVX2").summary()


def test_detect_reads_the_given_file_and_survives_its_absence(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(EPYC_AVX2)
    found = detect_cpu_features(path)
    assert found.model_name == "AMD EPYC 7R32" and found.avx2 and not found.avx512_bf16
    assert found.torch_capability == torch.backends.cpu.get_cpu_capability()  # torch is imported here
    assert detect_cpu_features(tmp_path / "missing").flags == frozenset()


@pytest.mark.parametrize(
    ("cpu", "kernels", "path", "reason"),
    [
        (XEON_AMX, Kernels(), "bf16", "AMX-BF16 tiles"),
        (EPYC_ZEN4, Kernels(), "bf16", "AVX512-BF16 found (no AMX)"),
        (EPYC_AVX2, Kernels(), "int8", "int8 GEMMs on AVX2"),
        (EPYC_ZEN4, Kernels(bf16=False), "int8", "int8 GEMMs on AVX512-VNNI"),
        (EPYC_AVX2, Kernels(int8=False), "fp32", "neither bf16 hardware nor AVX2"),
        (OLD_X86, Kernels(), "fp32", "neither"),
        (ARM, Kernels(), "fp32", "neither"),
    ],
)
def test_auto_follows_the_hardware(cpu, kernels, path, reason):
    choice = choose_path("auto", features(cpu), kernels)
    assert choice.path == path and reason in choice.reason


def test_explicit_requests_and_their_errors():
    assert choose_path("fp32", features(XEON_AMX)).path == "fp32"
    assert choose_path("int8", features(XEON_AMX)).reason == "requested; int8 GEMMs on AMX-INT8"
    assert "emulated" in choose_path("bf16", features(EPYC_AVX2)).reason
    assert "unpacked bf16 GEMMs" in choose_path("bf16", features(EPYC_AVX2), Kernels(bf16=False)).reason
    with pytest.raises(InferencePathError, match="bfloat16 matrix products"):
        choose_path("bf16", features(EPYC_AVX2), Kernels(bf16=False, bf16_unpacked=False))
    with pytest.raises(InferencePathError, match="quantized engine"):
        choose_path("int8", features(EPYC_AVX2), Kernels(int8=False))
    with pytest.raises(InferencePathError, match="use one of: auto, bf16, int8, fp32"):
        choose_path("fp16", features(XEON_AMX))


def test_models_off_the_cpu_are_left_alone():
    choice = choose_path("auto", features(XEON_AMX), device_type="cuda")
    assert choice.path == "unchanged" and "create_model(precision=...)" in choice.reason
    with pytest.raises(InferencePathError, match="precision='fp16'"):
        choose_path("bf16", features(XEON_AMX), device_type="cuda")


def test_import_and_detection_stay_torch_free():
    code = (
        "import sys, clipzoo; f = clipzoo.detect_cpu_features(); "
        "assert 'torch' not in sys.modules, 'torch imported'; print(f.summary())"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


@pytest.mark.slow
def test_create_model_does_not_load_the_inference_code():
    code = (
        "import sys, logging, clipzoo; logging.disable(logging.WARNING); clipzoo.create_model('tiny-digits'); "
        "assert not any(m.startswith('clipzoo.inference') for m in sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)


# ----------------------------------------------------------------------------------------------- the rewrites


def _inputs(model, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    size = model.visual.image_size if hasattr(model.visual, "image_size") else (64, 64)
    size = size if isinstance(size, (tuple, list)) else (size, size)
    images = torch.randn(3, 3, *size, generator=torch.Generator().manual_seed(0))
    text = (
        clipzoo.get_tokenizer(name)(["a photo of a cat", "a dog", "two"]) if name != "tiny-siglip" else None
    )
    if text is None:
        text = torch.randint(1, 999, (3, 16), generator=torch.Generator().manual_seed(0))
    return images, text


def _cosines(reference, model, images, text) -> tuple[float, float]:
    with torch.inference_mode():
        image, words = model.encode_image(images), model.encode_text(text)
    assert image.dtype == words.dtype == torch.float32, "the features come back in float32"
    image_ref, words_ref = reference
    return (
        F.cosine_similarity(image, image_ref).min().item(),
        F.cosine_similarity(words, words_ref).min().item(),
    )


@pytest.mark.parametrize("name", ["tiny-vit", "tiny-siglip", "tiny-rn"])
@pytest.mark.parametrize(
    ("path", "tolerance"),
    [pytest.param("bf16", 0.995, marks=needs_bf16), ("int8", 0.99), ("fp32", 1.0 - 1e-6)],
)
def test_every_path_matches_fp32(tiny_configs, name, path, tolerance, caplog):
    torch.manual_seed(0)
    model = clipzoo.create_model(name).eval()
    images, text = _inputs(model, name)
    with torch.inference_mode():
        reference = model.encode_image(images), model.encode_text(text)
    with caplog.at_level(logging.INFO, logger="clipzoo"):
        out = clipzoo.optimize_for_inference(copy.deepcopy(model), path)
    lines = [r.getMessage() for r in caplog.records if "inference path" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith(f"clipzoo inference path: {path} (requested")
    assert "CPU: " in lines[0] and out.inference_report.path == path and not out.training
    image_cos, text_cos = _cosines(reference, out, images, text)
    assert image_cos >= tolerance and text_cos >= tolerance, (image_cos, text_cos)
    with torch.inference_mode():
        logits = out(images, text)
    assert all(
        v.dtype in (torch.float32, torch.int64)
        for v in (logits.values() if isinstance(logits, dict) else logits)
    )


@needs_bf16
def test_bf16_layout(tiny_configs):
    model = clipzoo.optimize_for_inference(clipzoo.create_model("tiny-vit"), "bf16")
    block = model.visual.transformer.resblocks[0]
    assert isinstance(block.attn, convert.QKVSelfAttention) and isinstance(
        block.attn.qkv, convert.PackedLinear
    )
    assert block.mlp.c_fc.attr == "gelu" and isinstance(block.mlp.gelu, torch.nn.Identity)
    assert block.ln_1.weight.dtype == torch.float32, "LayerNorm weights stay float32"
    assert model.logit_scale.dtype == torch.float32 and model.text_projection.dtype == torch.float32
    assert model.transformer.get_cast_dtype() == torch.bfloat16
    assert model.inference_report.layers == sum(isinstance(m, convert.PackedLinear) for m in model.modules())


def test_int8_layout_and_attention_pool_left_alone(tiny_configs):
    model = clipzoo.optimize_for_inference(clipzoo.create_model("tiny-rn"), "int8")
    assert isinstance(model.transformer.resblocks[0].mlp.c_fc, convert.Int8Linear)
    assert type(model.visual.attnpool.q_proj) is torch.nn.Linear, "AttentionPool2d reads its weights directly"
    assert model.transformer.get_cast_dtype() == torch.float32


def test_auto_with_mocked_flags_and_the_log_line(tiny_configs, caplog):
    avx2 = features(EPYC_AVX2)
    with caplog.at_level(logging.INFO, logger="clipzoo"):
        model = clipzoo.optimize_for_inference(clipzoo.create_model("tiny-vit"), features=avx2)
    assert model.inference_report.path == "int8"
    line = model.inference_report.line()
    assert line in caplog.text
    assert "int8 GEMMs on AVX2" in line and "AMD EPYC 7R32" in line and "no amx_bf16, avx512_bf16" in line
    assert "rewritten in" in line
    plain = clipzoo.optimize_for_inference(clipzoo.create_model("tiny-vit"), features=features(OLD_X86))
    assert plain.inference_report.path == "fp32" and plain.inference_report.layers == 0
    assert "no rewrite" in plain.inference_report.line()


def test_second_call_keeps_or_refuses(tiny_configs):
    model = clipzoo.optimize_for_inference(clipzoo.create_model("tiny-vit"), "int8")
    assert clipzoo.optimize_for_inference(model, "int8") is model
    assert clipzoo.optimize_for_inference(model) is model
    with pytest.raises(InferencePathError, match="already optimized for the 'int8' path"):
        clipzoo.optimize_for_inference(model, "fp32")


def test_a_model_off_the_cpu_is_returned_unchanged(tiny_configs):
    model = clipzoo.create_model("tiny-vit", device="meta")  # stands in for a GPU: no CPU path applies
    out = clipzoo.optimize_for_inference(model)
    assert out is model and out.inference_report.path == "unchanged"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert type(model.visual.transformer.resblocks[0].mlp.c_fc) is torch.nn.Linear
    with pytest.raises(InferencePathError, match="CPU path"):
        clipzoo.optimize_for_inference(clipzoo.create_model("tiny-vit", device="meta"), "int8")


def test_half_precision_model_is_lifted_first(tiny_configs):
    torch.manual_seed(0)
    model = clipzoo.create_model("tiny-vit", precision="pure_bf16")
    out = clipzoo.optimize_for_inference(model, "int8")
    with torch.inference_mode():
        assert out.encode_image(torch.randn(2, 3, 32, 32)).dtype == torch.float32


# ----------------------------------------------------------------------------------------------- the accuracy gate


def _digits_accuracy(path: str) -> float:
    from clipzoo.demo import tour as demo
    from clipzoo.demo.digits import load_heldout

    images, labels = load_heldout()
    model, preprocess, tokenizer, _ = demo.load_embedded("cpu")
    if path != "fp32":
        clipzoo.optimize_for_inference(model, path)
    preds = demo.classify(model, preprocess, tokenizer, images)
    return 100.0 * sum(p == y for (p, _), y in zip(preds, labels)) / len(labels)


@pytest.mark.parametrize(("path", "max_loss"), [pytest.param("bf16", 0.5, marks=needs_bf16), ("int8", 1.0)])
def test_tiny_digits_accuracy_gate(path, max_loss):
    fp32 = _digits_accuracy("fp32")
    assert fp32 > 90
    assert _digits_accuracy(path) >= fp32 - max_loss
