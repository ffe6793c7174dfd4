"""transformers ``ClapModel`` (LAION CLAP: HTSAT audio tower, RoBERTa text tower) as one table read both ways.

:func:`clap_rules` names every tensor in transformers' layout and in open_clip main's (clipzoo's): the loader reads
it towards clipzoo (:func:`convert_hf_clap`), the export towards transformers (:func:`clap_to_hf`).
:func:`hf_clap_model_cfg` and :func:`clap_config_from_cfg` translate the configs both ways, and
:func:`apply_clap_feature_extractor` / :func:`feature_extractor_from_cfg` the ``ClapFeatureExtractor`` settings.

Tensors only one side has: open_clip keeps its STFT kernels, mel filters, shifted-window masks and an unused
sound-event head (``tscam_conv``, ``head``) in the state dict; transformers computes the first three and has no
head. On import they come from the model being loaded (computed when it was built; the head zero-filled), on
export they are left out. transformers keeps a second logit scale (``logit_scale_t``, text to audio): clipzoo's
one scale is its audio-to-text ``logit_scale_a``, as open_clip main's converter maps it, and the export writes
it to both.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError
from .keys import Packed, Param, Rule, convert_by_rules

if TYPE_CHECKING:
    import torch
    from torch import nn

    StateDict = dict[str, torch.Tensor]

_HF_AUDIO = "audio_model.audio_encoder."
_OC_AUDIO = "audio.encoder."
# One Swin block, by role: transformers' name -> open_clip's (q, k, v are packed into qkv on open_clip's side).
_SWIN_BLOCK = {
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.output.dense": "attn.proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
}
_SWIN_TABLES = ("relative_position_bias_table", "relative_position_index")
# Tensors open_clip's layout has and transformers' does not (see the module docstring).
CLIPZOO_ONLY = re.compile(
    r"audio\.encoder\.(spectrogram_extractor\.|logmel_extractor\.|tscam_conv\.|head\.|layers\.\d+\.blocks\.\d+\.attn_mask$)"
)
HF_TEXT_BUFFERS = ("position_ids", "token_type_ids")  # ClapTextEmbeddings' buffers (computed, not learned)


def _swin_rules(blocks: dict[int, int]) -> list[Rule]:
    rules: list[Rule] = []
    for layer, count in sorted(blocks.items()):
        for b in range(count):
            f, c = f"{_HF_AUDIO}layers.{layer}.blocks.{b}.", f"{_OC_AUDIO}layers.{layer}.blocks.{b}."
            rules += [Param(f + hf, c + oc, pair=True) for hf, oc in _SWIN_BLOCK.items()]
            rules += [Param(f"{f}attention.self.{t}", f"{c}attn.{t}") for t in _SWIN_TABLES]
            qkv = tuple(f"{f}attention.self.{n}.{{}}" for n in ("query", "key", "value"))
            rules.append(Packed(qkv, (f"{c}attn.qkv.{{}}",), (1, 1, 1)))
    return rules


def _count_blocks(state: dict[str, Any], prefix: str) -> dict[int, int]:
    """{stage: blocks} from keys ``{prefix}layers.S.blocks.B.``."""
    pattern = re.compile(re.escape(prefix) + r"layers\.(\d+)\.blocks\.(\d+)\.")
    found: dict[int, int] = {}
    for key in state:
        m = pattern.match(key)
        if m:
            found[int(m.group(1))] = max(found.get(int(m.group(1)), 0), int(m.group(2)) + 1)
    return found


def _renamed(state: dict[str, Any], hf: str, oc: str, to: str, skip: tuple[str, ...] = ()) -> list[Rule]:
    """One Param per source key under a prefix whose inner names both layouts share."""
    src = hf if to == "clipzoo" else oc
    return [
        Param(key, oc + key[len(src) :]) if to == "clipzoo" else Param(hf + key[len(src) :], key)
        for key in state
        if key.startswith(src) and not key.endswith(skip)
    ]


def clap_rules(state: dict[str, Any], to: str) -> list[Rule]:
    """transformers ClapModel <-> clipzoo CLAP for the blocks and text layers ``state`` (the source) has."""
    src_audio = _HF_AUDIO if to == "clipzoo" else _OC_AUDIO
    stages = sorted(_count_blocks(state, src_audio))
    return [
        Param(f"{_HF_AUDIO}batch_norm", f"{_OC_AUDIO}bn0", pair=True),
        *(Param(f"{_HF_AUDIO}batch_norm.{n}", f"{_OC_AUDIO}bn0.{n}") for n in ("running_mean", "running_var", "num_batches_tracked")),
        *_renamed(state, f"{_HF_AUDIO}patch_embed.", f"{_OC_AUDIO}patch_embed.", to),
        *_swin_rules(_count_blocks(state, src_audio)),
        *(Param(f"{_HF_AUDIO}layers.{s}.downsample.{n}", f"{_OC_AUDIO}layers.{s}.downsample.{n}", optional=True)
          for s in stages for n in ("reduction.weight", "norm.weight", "norm.bias")),  # fmt: skip
        Param(f"{_HF_AUDIO}norm", f"{_OC_AUDIO}norm", pair=True),
        Param("audio_projection.linear1", "audio.proj.0", pair=True),
        Param("audio_projection.linear2", "audio.proj.2", pair=True),
        *_renamed(state, "text_model.", "text.transformer.", to, skip=HF_TEXT_BUFFERS),
        Param("text_projection.linear1", "text.proj.0", pair=True),
        Param("text_projection.linear2", "text.proj.2", pair=True),
        Param("logit_scale_a", "logit_scale", value="scalar"),
    ]


def is_hf_clap_state(state: StateDict) -> bool:
    """transformers ``ClapModel``: an HTSAT audio encoder under ``audio_model.audio_encoder``."""
    return f"{_HF_AUDIO}patch_embed.proj.weight" in state and "logit_scale_a" in state


def _missing(key: str) -> CheckpointError:
    return CheckpointError(f"transformers CLAP checkpoint is missing {key!r}")


def _not_understood(left: list[str]) -> CheckpointError:
    return CheckpointError(
        f"transformers CLAP checkpoint: {len(left)} key(s) not understood: {', '.join(left[:10])}"
    )


def convert_hf_clap(state: StateDict, model: nn.Module) -> StateDict:
    """transformers ClapModel -> clipzoo CLAP; the tensors only clipzoo has come from ``model`` (module docstring)."""
    import torch

    out = convert_by_rules(
        state, clap_rules(state, "clipzoo"), "clipzoo", _missing, _not_understood,
        ignore=("logit_scale_t", *HF_TEXT_BUFFERS),
    )  # fmt: skip
    own = model.state_dict()
    for key, value in own.items():
        if key not in out and CLIPZOO_ONLY.match(key):
            out[key] = value if value.device.type != "meta" else torch.zeros(value.shape, dtype=value.dtype)
    return out


def clap_to_hf(state: StateDict, error: type[Exception] = ValueError) -> StateDict:
    """clipzoo CLAP (HTSAT + RoBERTa text) state dict -> transformers ClapModel state dict.

    Raises:
        Exception: ``error`` when a weight is missing or has no place in transformers' layout.
    """
    import torch

    state = {k: v for k, v in state.items() if not CLIPZOO_ONLY.match(k)}

    def missing(key: str) -> Exception:
        return error(f"the model has no weight {key!r} (not the architecture the config describes)")

    def leftover(left: list[str]) -> Exception:
        return error(f"{len(left)} weight(s) transformers' ClapModel has no place for: {', '.join(left[:10])}")

    out = convert_by_rules(state, clap_rules(state, "foreign"), "foreign", missing, leftover)
    out["logit_scale_t"] = out["logit_scale_a"].clone()
    positions = out["text_model.embeddings.position_embeddings.weight"].shape[0]
    out["text_model.embeddings.position_ids"] = torch.arange(positions).unsqueeze(0)
    out["text_model.embeddings.token_type_ids"] = torch.zeros(1, positions, dtype=torch.long)
    return {k: v.contiguous() for k, v in out.items()}
