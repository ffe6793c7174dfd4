"""What the CPU can do, read at run time: the instruction-set flags that decide the inference path.

The flags come from ``/proc/cpuinfo`` (Linux names them the same on Intel and AMD: ``avx2``, ``avx512_bf16``,
``amx_bf16``, ...). torch's own view (``torch.backends.cpu.get_cpu_capability()``: ``DEFAULT``, ``AVX2``,
``AVX512``) is added when torch is already imported, so this module never imports it. Machines of this project's
kind change between sessions (AMD EPYC with AVX2 only, AMD EPYC with AVX512-BF16, Intel Xeon with AMX), hence no
flag is ever assumed.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")

#: The flags that matter for inference, in the order the log line lists them (strongest bf16/int8 units first).
RELEVANT_FLAGS = (
    "amx_bf16",
    "amx_int8",
    "amx_tile",
    "avx512_bf16",
    "avx512_vnni",
    "avx_vnni",
    "avx512f",
    "avx2",
    "fma",
)


@dataclass(frozen=True)
class CpuFeatures:
    """The CPU's name and instruction-set flags, and torch's dispatch level when known.

    Attributes:
        model_name: The CPU as the OS names it (``/proc/cpuinfo``'s "model name"), or the platform's guess.
        flags: Every flag the OS reports, lower case.
        torch_capability: ``torch.backends.cpu.get_cpu_capability()`` (e.g. ``"AVX512"``), None when unknown.
    """

    model_name: str = "unknown CPU"
    flags: frozenset[str] = field(default_factory=frozenset)
    torch_capability: str | None = None

    @property
    def amx_bf16(self) -> bool:
        """AMX tiles with bf16 (Intel Sapphire Rapids and later): oneDNN's fastest bf16 GEMMs."""
        return {"amx_bf16", "amx_tile"} <= self.flags

    @property
    def avx512_bf16(self) -> bool:
        """AVX512-BF16 dot products (Intel Cooper Lake / Sapphire Rapids, AMD Zen 4 and later)."""
        return "avx512_bf16" in self.flags

    @property
    def int8_dot(self) -> bool:
        """An int8 dot-product instruction (AVX512-VNNI, AVX-VNNI or AMX-INT8) that int8 GEMMs use."""
        return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & self.flags)

    @property
    def avx2(self) -> bool:
        """AVX2 and FMA: the baseline of fbgemm's int8 kernels and of torch's vectorized CPU kernels."""
        return "avx2" in self.flags

    def summary(self) -> str:
        """The relevant flags found and missing, e.g. ``"avx512_bf16 avx512_vnni avx2; no amx_bf16"``."""
        found = [f for f in RELEVANT_FLAGS if f in self.flags]
        missing = [f for f in ("amx_bf16", "avx512_bf16", "avx2") if f not in self.flags]
        text = " ".join(found) or "none of " + " ".join(RELEVANT_FLAGS)
        if missing:
            text += "; no " + ", ".join(missing)
        if self.torch_capability:
            text += f"; torch dispatch {self.torch_capability}"
        return text


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """(model name, flags) of the first processor in ``/proc/cpuinfo``-formatted text.

    Args:
        text: The file's content (``flags`` on x86, ``Features`` on ARM).

    Returns:
        The model name ("unknown CPU" when absent) and the flags, lower case (empty when absent).
    """
    name, flags = "unknown CPU", frozenset[str]()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip().lower()
        if key == "model name" and name == "unknown CPU":
            name = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = frozenset(value.lower().split())
        if flags and name != "unknown CPU":
            break
    return name, flags


def torch_capability() -> str | None:
    """torch's CPU dispatch level when torch is already imported (this never imports it), else None."""
    torch = sys.modules.get("torch")
    getter = getattr(getattr(getattr(torch, "backends", None), "cpu", None), "get_cpu_capability", None)
    return str(getter()) if callable(getter) else None


def detect_cpu_features(cpuinfo: str | Path = CPUINFO) -> CpuFeatures:
    """Read this machine's CPU name and flags (``/proc/cpuinfo``) and torch's dispatch level if torch is loaded.

    Args:
        cpuinfo: The file to read (a test passes a copy from another machine).

    Returns:
        The features found; on a system without that file, no flags and the platform's processor name.
    """
    try:
        name, flags = parse_cpuinfo(Path(cpuinfo).read_text(errors="replace"))
    except OSError:  # not Linux: no flags known, so only the paths that need none (fp32) are chosen
        name, flags = platform.processor() or "unknown CPU", frozenset()
    return CpuFeatures(model_name=name, flags=flags, torch_capability=torch_capability())
