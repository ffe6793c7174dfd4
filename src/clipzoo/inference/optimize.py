"""``optimize_for_inference(model)``: the one switch to the fastest CPU path this machine allows, with a log line.

The path is chosen by :func:`clipzoo.inference.paths.choose_path` from the CPU's flags (read now, never assumed)
and what the installed torch can run; the model is rewritten in place (``clipzoo.inference.convert``), once, and
the choice, its reason, the flags and the seconds it took are logged (logger ``clipzoo``, INFO) and kept on the
model as ``model.inference_report``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .cpu_features import CpuFeatures, detect_cpu_features
from .paths import InferencePathError, Kernels, choose_path

logger = logging.getLogger("clipzoo")


@dataclass(frozen=True)
class InferenceReport:
    """What ``optimize_for_inference`` did to a model.

    Attributes:
        path: ``bf16``, ``int8``, ``fp32`` or ``unchanged``.
        reason: Why this path (the hardware found, or the caller's request).
        features: The CPU's name and flags as read at the call.
        layers: How many linear layers were rewritten (prepacked bf16 or int8).
        seconds: The one-time cost of the rewrite (casting, quantizing, prepacking), in seconds.
    """

    path: str
    reason: str
    features: CpuFeatures
    layers: int
    seconds: float

    def line(self) -> str:
        """The log line: path, reason, one-time cost, CPU and flags."""
        done = (
            f"{self.layers} linear layers rewritten in {self.seconds:.2f} s" if self.layers else "no rewrite"
        )
        return (
            f"clipzoo inference path: {self.path} ({self.reason}); {done}; "
            f"CPU: {self.features.model_name} [{self.features.summary()}]"
        )


def available_kernels() -> Kernels:
    """What the installed torch can run on this CPU: oneDNN bf16 kernels, an x86 quantized engine."""
    import torch

    mkldnn = getattr(torch.ops, "mkldnn", None)
    bf16 = (
        torch.backends.mkldnn.is_available()
        and hasattr(mkldnn, "_linear_pointwise")
        and hasattr(mkldnn, "_reorder_linear_weight")
        and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    )
    engines = set(torch.backends.quantized.supported_engines)
    return Kernels(bf16=bf16, int8=bool({"x86", "fbgemm"} & engines), bf16_unpacked=_runs_bf16_matmul())


def _runs_bf16_matmul() -> bool:
    """Whether torch computes a bfloat16 matrix product on this CPU (a 2x2 probe)."""
    import torch

    try:
        torch.ones(2, 2, dtype=torch.bfloat16) @ torch.ones(2, 2, dtype=torch.bfloat16)
    except RuntimeError:
        return False
    return True


def _device_type(model) -> str:
    first = next(iter(model.parameters()), None)
    return first.device.type if first is not None else "cpu"


def _int8_engine(features: CpuFeatures) -> bool:
    """Select the x86 quantized engine (fbgemm or oneDNN per shape); True when activations need 7 bits."""
    import torch

    engines = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = "x86" if "x86" in engines else "fbgemm"
    return not features.int8_dot


def optimize_for_inference(model, path: str = "auto", *, features: CpuFeatures | None = None):
    """Rewrite a model in place for the fastest CPU inference this machine allows, and log which path and why.

    ``auto`` picks bf16 on CPUs with AMX-BF16 or AVX512-BF16 (oneDNN prepacked GEMMs, GELU fused, LayerNorm and
    softmax accumulating in float32, float32 features out), int8 on other AVX2 CPUs (dynamic activations, weights
    per output channel) and fp32 elsewhere. Models not on the CPU are returned unchanged. The model is put in eval mode without gradients, and is for inference only: its
    ``state_dict`` no longer holds the rewritten weights. Its ``inference_report`` says what was done.

    Args:
        model: A clipzoo model (``CLIP``, ``CustomTextCLIP``, ``CoCa``) from ``create_model``, any precision.
        path: ``auto``, ``bf16``, ``int8`` or ``fp32``.
        features: The CPU's flags; detected from this machine when None (tests pass others).

    Returns:
        The same model object, rewritten.

    Raises:
        InferencePathError: ``path`` is unknown or cannot run here, or the model was already optimized for
            another path.
    """
    import torch

    from . import convert

    previous = getattr(model, "inference_report", None)
    if previous is not None:
        if path in ("auto", previous.path):
            return model
        raise InferencePathError(
            f"this model was already optimized for the {previous.path!r} path; create a new model for {path!r}"
        )
    features = features if features is not None else detect_cpu_features()
    kernels = available_kernels()
    choice = choose_path(path, features, kernels, _device_type(model))
    start = time.perf_counter()
    layers = 0
    model.eval().requires_grad_(False)
    convert.enable_fast_paths(model)
    if choice.path in ("bf16", "int8"):
        model.float()  # a half-precision model gets its float32 master copy before either rewrite
        with torch.no_grad():
            if choice.path == "bf16":
                layers = convert.to_bf16(model, packed=kernels.bf16)
            else:
                layers = convert.to_int8(model, reduce_range=_int8_engine(features))
    report = InferenceReport(choice.path, choice.reason, features, layers, time.perf_counter() - start)
    model.inference_report = report
    logger.info(report.line())
    return model
