"""Which inference path a model gets, and why: one table of rules over the CPU's flags and torch's kernels.

Paths:

- ``bf16``: weights and activations in bfloat16 through oneDNN's prepacked GEMMs (AMX tiles where present, else
  AVX512-BF16 dot products; asked for explicitly on a CPU where oneDNN's bf16 kernels cannot run, unpacked bf16
  GEMMs with the same numbers, emulated and slower); LayerNorm statistics and the softmax inside attention accumulate in float32, and
  the features come back in float32.
- ``int8``: int8 weights (per output channel) and int8 activations quantized per call (dynamic), through
  torch's x86 quantized engine (fbgemm/oneDNN: VNNI where present, else AVX2); everything else float32.
- ``fp32``: the model as built (what ``create_model`` returns).
- ``unchanged``: a model not on the CPU; its precision is chosen by ``create_model(precision=...)``.

``auto`` takes the first row of :data:`AUTO_RULES` whose test passes. The accuracy gate: a path is only an
``auto`` choice when it costs at most 0.5 (bf16) or 1 (int8) points of tiny-digits' held-out zero-shot accuracy
(``scripts/bench_inference.py`` measures it; the numbers are in the README's performance section): bf16 and
int8 both pass (0 points lost on the 360 held-out digits), so ``auto`` is bf16 on bf16 hardware, int8 on other
AVX2 CPUs, fp32 elsewhere. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..errors import InferencePathError
from .cpu_features import CpuFeatures

PATHS = ("bf16", "int8", "fp32")
REQUESTS = ("auto", *PATHS)


@dataclass(frozen=True)
class Kernels:
    """What the installed torch can run on this CPU.

    Attributes:
        bf16: oneDNN bf16 kernels usable (``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` and the linear op).
        int8: a quantized engine for int8 dynamic linears (``x86`` or ``fbgemm`` in
            ``torch.backends.quantized.supported_engines``).
        bf16_unpacked: torch runs bfloat16 matrix products on this CPU at all (emulated where the CPU lacks
            bf16 instructions): an explicit ``bf16`` request runs unpacked when ``bf16`` is False.
    """

    bf16: bool = True
    int8: bool = True
    bf16_unpacked: bool = True


@dataclass(frozen=True)
class PathChoice:
    """The path taken and the reason, in words (the log line prints both).

    Attributes:
        path: ``bf16``, ``int8``, ``fp32`` or ``unchanged``.
        reason: Why: the hardware found (or not), or that the caller asked for it.
    """

    path: str
    reason: str


Rule = tuple[str, Callable[[CpuFeatures, Kernels], bool], str]

#: ``auto``'s rules, first match wins: (path, test, reason).
AUTO_RULES: tuple[Rule, ...] = (
    ("bf16", lambda f, k: f.amx_bf16 and k.bf16, "AMX-BF16 tiles found: oneDNN bf16 GEMMs on the tile units"),
    (
        "bf16",
        lambda f, k: f.avx512_bf16 and k.bf16,
        "AVX512-BF16 found (no AMX): oneDNN bf16 GEMMs on AVX512-BF16 dot products",
    ),
    (
        "int8",
        lambda f, k: f.avx2 and k.int8,
        "no bf16 hardware (AMX-BF16/AVX512-BF16); int8 GEMMs on {int8_unit}, within 1 point of fp32's accuracy",
    ),
    ("fp32", lambda f, k: True, "neither bf16 hardware nor AVX2 with torch's x86 quantized engine found"),
)


def _explicit(request: str, features: CpuFeatures, kernels: Kernels) -> PathChoice:
    if request == "bf16":
        if not kernels.bf16 and not kernels.bf16_unpacked:
            raise InferencePathError(
                "path='bf16' needs bfloat16 matrix products, which this torch build cannot run on this CPU; "
                "use path='int8' or 'fp32'"
            )
        if not kernels.bf16:
            return PathChoice(
                "bf16",
                "requested; torch's oneDNN bf16 kernels need AVX512BW/VL/DQ or AVX-NE-CONVERT, absent here: "
                "unpacked bf16 GEMMs, emulated, expect it slower than fp32",
            )
        if features.amx_bf16 or features.avx512_bf16:
            return PathChoice("bf16", "requested; bf16 hardware found")
        return PathChoice("bf16", "requested; no bf16 hardware found: emulated, expect it slower than fp32")
    if request == "int8":
        if not kernels.int8:
            raise InferencePathError(
                "path='int8' needs torch's x86 or fbgemm quantized engine, which this torch build lacks; "
                "use path='bf16' or 'fp32' (or the ONNX runtime's int8: "
                "`clipzoo export MODEL TAG --format onnx --quantize int8 --to DIR`)"
            )
        return PathChoice("int8", f"requested; int8 GEMMs on {int8_unit(features)}")
    return PathChoice("fp32", "requested")


def choose_path(
    request: str, features: CpuFeatures, kernels: Kernels = Kernels(), device_type: str = "cpu"
) -> PathChoice:
    """The path a model on ``device_type`` gets for ``request``, and why.

    Args:
        request: ``auto`` (the hardware decides, see :data:`AUTO_RULES`) or a path of :data:`PATHS`.
        features: The CPU's flags (:func:`clipzoo.inference.cpu_features.detect_cpu_features`).
        kernels: What the installed torch can run.
        device_type: The model's device type (``cpu``, ``cuda``, ...).

    Returns:
        The path and the reason.

    Raises:
        InferencePathError: ``request`` is unknown, names a CPU path for a model on another device, or names a
            path whose kernels are missing.
    """
    if request not in REQUESTS:
        raise InferencePathError(f"unknown inference path {request!r}; use one of: {', '.join(REQUESTS)}")
    if device_type != "cpu":
        if request != "auto":
            raise InferencePathError(
                f"path={request!r} is a CPU path but the model is on {device_type!r}; on a GPU choose the "
                f"precision when creating the model (create_model(..., precision='fp16' or 'bf16'))"
            )
        return PathChoice(
            "unchanged", f"model on {device_type}: precision stays as create_model(precision=...) set it"
        )
    if request != "auto":
        return _explicit(request, features, kernels)
    path, reason = next((path, reason) for path, test, reason in AUTO_RULES if test(features, kernels))
    return PathChoice(path, reason.format(int8_unit=int8_unit(features)))


def int8_unit(features: CpuFeatures) -> str:
    """The instructions int8 GEMMs run on here: ``AVX512-VNNI``, ``AVX-VNNI``, ``AMX-INT8`` or ``AVX2``."""
    for flag, name in (("amx_int8", "AMX-INT8"), ("avx512_vnni", "AVX512-VNNI"), ("avx_vnni", "AVX-VNNI")):
        if flag in features.flags:
            return name
    return "AVX2" if features.avx2 else "no int8 dot-product unit"
