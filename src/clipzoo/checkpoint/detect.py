"""The checkpoint formats clipzoo reads besides open_clip's own, as plain tables (no registration, no side effects).

:mod:`clipzoo.checkpoint.load` reads these tables; :mod:`clipzoo.formats` holds the functions they name. A new format is
one row here: a reader for an unambiguous file extension, and/or a ``(name, detect, convert)`` converter that turns
a detected third-party key layout into open_clip's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..formats import big_vision, clap, tipsv2, torchscript, transformers

if TYPE_CHECKING:
    import torch
    from torch import nn

    StateDict = dict[str, torch.Tensor]


class Converter(NamedTuple):
    """A third-party checkpoint layout: its name, how to recognise it from the keys, how to convert it."""

    name: str
    detect: Callable[[StateDict], bool]
    convert: Callable[[StateDict, nn.Module], StateDict]


# Readers chosen by file extension where the extension is unambiguous (content sniffing covers the rest).
READERS: dict[str, Callable[[Path], StateDict]] = {".npz": big_vision.read_npz}

# Detectors are tried in order; the first that matches converts. A state dict none matches is open_clip's.
CONVERTERS: tuple[Converter, ...] = (
    Converter("openai", torchscript.is_openai_state, torchscript.convert_openai),
    Converter("transformers-clap", clap.is_hf_clap_state, clap.convert_hf_clap),
    Converter("transformers-clip", transformers.is_hf_clip_state, transformers.convert_hf_clip),
    # before SigLIP's: a Siglip2 checkpoint also has a patch bias and no class embedding
    Converter("transformers-siglip2", transformers.is_hf_siglip2_state, transformers.siglip2_to_clipzoo),
    Converter("transformers-siglip", transformers.is_hf_siglip_state, transformers.convert_hf_siglip),
    Converter("big_vision", big_vision.is_big_vision_state, big_vision.convert_big_vision),
    Converter("transformers-tipsv2", tipsv2.is_tipsv2_state, tipsv2.tipsv2_to_clipzoo),
    Converter("transformers-tipsv2-modules", tipsv2.is_tipsv2_module_state, tipsv2.tipsv2_modules_to_clipzoo),
)
OPEN_CLIP = "open_clip"


def find_converter(state: StateDict) -> Converter | None:
    """The converter whose detector recognises ``state``, or None for open_clip's own layout."""
    for converter in CONVERTERS:
        if converter.detect(state):
            return converter
    return None


def detect_format(state: StateDict) -> str:
    """Name of the checkpoint layout: one of the converter names, or ``'open_clip'``."""
    converter = find_converter(state)
    return converter.name if converter is not None else OPEN_CLIP
