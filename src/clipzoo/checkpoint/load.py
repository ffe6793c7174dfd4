"""Checkpoints: read a file (safetensors by memory map, pickles with ``weights_only``), detect its format,
convert it to open_clip's key layout, adapt it to the model (position embeddings, logit shapes) and load it
strictly, with one error that lists what does not fit.
"""

from __future__ import annotations

import math
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from ..formats import big_vision, torchscript, transformers_config
from ..models.pos_interp import resize_position_grid
from ..sizes import to_hw
from . import detect

StateDict = dict[str, torch.Tensor]


# ---------------------------------------------------------------------------------------------------- reading


def _read_safetensors(path: Path) -> StateDict:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")  # memory-mapped: pages are read when touched
    except SafetensorError as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err


def _read_pickle(path: Path, weights_only: bool) -> object:
    try:
        return torch.load(str(path), map_location="cpu", weights_only=weights_only, mmap=_is_zip(path))
    except pickle.UnpicklingError as err:
        if weights_only:
            raise CheckpointError(
                f"{path}: refused to load: the pickle needs to run arbitrary code, which `weights_only=True` forbids "
                f"(only tensors and plain containers are allowed). If you trust this file, convert it once with "
                f"torch.load(..., weights_only=False) and save its state_dict as .safetensors. Detail: {err}"
            ) from err
        raise CheckpointError(f"{path}: not a PyTorch checkpoint ({err})") from err
    except (EOFError, RuntimeError, ValueError) as err:
        if isinstance(err, EOFError) or "EOF" in str(
            err
        ):  # legacy pickles: RuntimeError("unexpected EOF ...")
            raise CheckpointError(
                f"{path}: truncated: the PyTorch checkpoint ends before its data does ({path.stat().st_size:,} "
                "bytes); download or copy it again"
            ) from err
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({err})") from err


def _is_zip(path: Path) -> bool:
    return zipfile.is_zipfile(path)


def _zip_names(path: Path) -> list[str]:
    if not _is_zip(path):
        return []
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def _is_torchscript(path: Path) -> bool:
    return any(name.endswith("constants.pkl") for name in _zip_names(path))


def _is_npz(path: Path) -> bool:
    names = _zip_names(path)
    return bool(names) and all(name.endswith(".npy") for name in names)


def _read_torchscript(path: Path, weights_only: bool = True) -> StateDict:
    # OpenAI's original releases are TorchScript archives; their weights are plain tensors inside. With
    # weights_only (the default) they are read without running the archive's code; torch.jit.load is the
    # fallback for trusted files only.
    if weights_only:
        return torchscript.read_torchscript(path)
    return torchscript.read_torchscript_with_jit(path)


def _unwrap(obj: object, path: Path) -> StateDict:
    """Find the state dict inside common training-checkpoint wrappers."""
    for key in ("state_dict", "model", "module", "model_state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path}: no state dict found (got {type(obj).__name__})")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: entries that are not tensors: {', '.join(map(str, bad[:10]))}")
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def _read_hf_pair(folder: Path, weights_only: bool) -> StateDict:
    """A CLIPVisionModelWithProjection + CLIPTextModelWithProjection pair folder, merged into one CLIPModel state
    dict. The pair has no logit scale: transformers' CLIPModel default (ln(1/0.07) = 2.6592) is used."""
    pair = transformers_config.hf_pair_folders(folder)
    if pair is None:
        raise CheckpointError(f"{folder}: a folder, not a checkpoint file (nor a CLIP vision + text pair)")
    state: StateDict = {}
    for sub in pair:
        files = [sub / name for name in transformers_config.HF_WEIGHT_FILES if (sub / name).is_file()]
        if not files:
            raise CheckpointError(f"{sub}: no weights file ({', '.join(transformers_config.HF_WEIGHT_FILES)})")
        state.update(read_state_dict(files[0], weights_only=weights_only))
    state.setdefault("logit_scale", torch.tensor(2.6592))
    return state


def read_state_dict(path: str | Path, weights_only: bool = True) -> StateDict:
    """Read a checkpoint file into a flat {key: tensor} dict, whatever its container format."""
    path = Path(path)
    if path.is_dir():
        return _read_hf_pair(path, weights_only)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {str(path)!r} does not exist")
    reader = _READERS.get(path.suffix.lower())
    if reader is not None:
        return reader(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) >= 9 and head[8:9] == b"{":  # safetensors: 8-byte header length, then JSON
        return _read_safetensors(path)
    if _is_torchscript(path):
        return _read_torchscript(path, weights_only)
    if _is_npz(path):
        return big_vision.read_npz(path)
    if head[:4] == b"PK\x03\x04" and not _is_zip(path):
        raise CheckpointError(
            f"{path}: truncated or corrupt: it starts like a PyTorch (zip) checkpoint but its end, the zip "
            f"directory, is missing ({path.stat().st_size:,} bytes); download or copy it again"
        )
    if not (_is_zip(path) or head[:1] == b"\x80"):
        raise CheckpointError(
            f"{path}: not a checkpoint (expected .safetensors, a PyTorch .pt/.pth/.bin, or .npz)"
        )
    return _unwrap(_read_pickle(path, weights_only), path)


# Readers chosen by extension where the extension is unambiguous: open_clip's own plus the third-party table.
def _read_shard_index(path: Path, weights_only: bool = True) -> StateDict:
    """A sharded checkpoint: the index's ``weight_map`` names the shard file (next to it) of every key."""
    import json

    try:
        weight_map = json.loads(path.read_text(encoding="utf-8"))["weight_map"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{path}: not a shard index (a JSON object with a 'weight_map')") from err
    state: StateDict = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = path.parent / shard
        if not shard_path.is_file():
            raise CheckpointError(f"{path}: shard {shard!r} listed in the index is missing")
        state.update(read_state_dict(shard_path, weights_only=weights_only))
    missing = sorted(set(weight_map) - set(state))
    if missing:
        raise CheckpointError(f"{path}: keys the index lists but no shard holds: {', '.join(missing[:10])}")
    return state


_READERS: dict[str, Callable[[Path], StateDict]] = {
    ".safetensors": _read_safetensors,
    ".json": _read_shard_index,
    **detect.READERS,
}


# ---------------------------------------------------------------------------------------------------- converting


def convert_state_dict(state: StateDict, model: nn.Module) -> StateDict:
    """Convert a third-party layout (detected from its keys, see :mod:`clipzoo.checkpoint.detect`) to
    open_clip's; open_clip's own layout passes unchanged."""
    converter = detect.find_converter(state)
    return converter.convert(state, model) if converter is not None else state


# ---------------------------------------------------------------------------------------------------- adapting


def _to_custom_text_layout(state: StateDict, model: nn.Module) -> StateDict:
    # Old checkpoints keep the text tower at the top level; CustomTextCLIP nests it under `text.`.
    if (
        "positional_embedding" not in state
        or hasattr(model, "positional_embedding")
        or not hasattr(model, "text")
    ):
        return state
    top = (
        "text_projection",
        "positional_embedding",
        "token_embedding",
        "transformer",
        "ln_final",
        "logit_scale",
    )
    out = {}
    for key, value in state.items():
        if key.startswith(top[:-1]):
            key = "text." + key
        out[key] = value
    return out


def _fix_logit_shapes(state: StateDict, model: nn.Module) -> StateDict:
    for name in ("logit_scale", "logit_bias"):
        target = getattr(model, name, None)
        if name in state and isinstance(target, torch.Tensor) and state[name].ndim != target.ndim:
            state[name] = state[name].reshape(target.shape)
    # A CLIP checkpoint loaded into a SigLIP-style model (open_clip issue 712): start the bias at zero.
    if (
        "logit_bias" not in state
        and getattr(model, "logit_bias", None) is not None
        and "logit_scale" in state
    ):
        state["logit_bias"] = torch.zeros_like(state["logit_scale"])
    return state


def _drop_stale_keys(state: StateDict, model: nn.Module) -> StateDict:
    # transformers >= 4.31 no longer keeps position_ids as a persistent buffer.
    key = "text.transformer.embeddings.position_ids"
    if key in state and key not in model.state_dict(keep_vars=True):
        del state[key]
    return state


def resize_pos_embed(
    state: StateDict, model: nn.Module, interpolation: str = "bicubic", antialias: bool = True
) -> StateDict:
    """Interpolate the image position-embedding grid to the model's grid (e.g. after ``force_image_size``).

    The rules of both position-embedding resizers (this one, :func:`resize_text_pos_embed`, and open_clip's
    names in :mod:`clipzoo.compat.open_clip.pos_embed`, which call them):

    - Positions are interpolated, widths never. The image grid is resized as a square grid after its leading
      token rows (class token), which are kept as they are; the text positions are resized along their length.
      A text width that differs from the model's is left for :func:`check_compatible` to report with the
      other mis-shaped keys, or raises ``ValueError`` with ``check_width=True`` (open_clip's rule).
    - Interpolation runs in float32 and the result takes the checkpoint's dtype back. Defaults are open_clip's:
      the image grid ``bicubic`` with ``antialias=True`` (it matters only when shrinking the grid), the text
      positions ``linear`` without antialiasing.
    - Nothing changes when the sizes already agree, or the model has nothing to resize to.

    Args:
        state: A state dict in clipzoo's (open_clip's) layout; changed in place.
        model: The model it will be loaded into (``model.visual.grid_size``).
        interpolation: ``torch.nn.functional.interpolate`` mode.
        antialias: Antialias (when shrinking).

    Returns:
        ``state``.

    Raises:
        CheckpointError: the checkpoint's positions do not form a square grid plus the model's token rows.
    """
    key = "visual.positional_embedding"
    old = state.get(key)
    visual = getattr(model, "visual", None)
    if old is None or visual is None or not hasattr(visual, "grid_size") or old.ndim != 2:
        return state
    target = getattr(visual, "positional_embedding", None)
    grid = to_hw(visual.grid_size)
    new_len = target.shape[0] if target is not None else grid[0] * grid[1] + 1
    if old.shape[0] == new_len:
        return state
    extra = new_len - grid[0] * grid[1]
    side = math.isqrt(old.shape[0] - extra)
    if side * side != old.shape[0] - extra:
        raise CheckpointError(
            f"{key}: {old.shape[0]} positions do not form a square grid plus {extra} token(s)"
        )
    state[key] = resize_position_grid(old, (side, side), grid, extra, mode=interpolation, antialias=antialias)
    return state


def resize_text_pos_embed(
    state: StateDict,
    model: nn.Module,
    interpolation: str = "linear",
    antialias: bool = False,
    *,
    check_width: bool = False,
) -> StateDict:
    """Interpolate the text position embeddings to the model's context length (``force_context_length``).

    The rules (widths, dtype, antialias, defaults) are :func:`resize_pos_embed`'s.

    Args:
        state: A state dict (``positional_embedding`` or ``text.positional_embedding``); changed in place.
        model: The model, or its text tower, whose ``positional_embedding`` gives the length.
        interpolation: ``torch.nn.functional.interpolate`` mode along the positions.
        antialias: Antialias (when shortening).
        check_width: Raise on a width mismatch instead of leaving it to the strict key check.

    Returns:
        ``state``.

    Raises:
        CheckpointError: ``check_width`` and the checkpoint's width differs from the model's.
    """
    key = "positional_embedding" if "positional_embedding" in state else "text.positional_embedding"
    old = state.get(key)
    owner = model if hasattr(model, "positional_embedding") else getattr(model, "text", None)
    target = getattr(owner, "positional_embedding", None)
    if old is None or target is None or old.ndim != 2:
        return state
    if old.shape[1] != target.shape[1]:
        if check_width:
            raise CheckpointError(
                f"{key}: the checkpoint's width {old.shape[1]} differs from the model's {target.shape[1]}; "
                "a width cannot be interpolated"
            )
        return state  # a width mismatch is reported by the strict key check
    if old.shape[0] == target.shape[0]:
        return state
    resized = F.interpolate(
        old.T.unsqueeze(0).float(),
        size=target.shape[0],
        mode=interpolation,
        antialias=antialias,
        align_corners=False,
    )
    state[key] = resized.squeeze(0).T.contiguous().to(old.dtype)
    return state


def _to_naflex_layout(state: StateDict, model: nn.Module) -> StateDict:
    # force_naflex_vision: a plain ViT checkpoint into a NaFlexVit
    from ..models.naflex import to_naflex_layout

    return to_naflex_layout(state, model)


ADAPTERS: list[Callable[[StateDict, nn.Module], StateDict]] = [
    _to_custom_text_layout,
    _to_naflex_layout,
    _fix_logit_shapes,
    _drop_stale_keys,
    resize_pos_embed,
    resize_text_pos_embed,
]


def adapt_state_dict(state: StateDict, model: nn.Module) -> StateDict:
    """Apply every layout/shape adapter (custom-text nesting, logit shapes, position-embedding sizes)."""
    state = dict(state)
    for adapter in ADAPTERS:
        state = adapter(state, model)
    return state


# ---------------------------------------------------------------------------------------------------- loading


def check_compatible(
    state: StateDict, model: nn.Module, source: str = "checkpoint", allow_missing: bool = False
) -> None:
    """Raise one CheckpointError listing missing, unexpected and mis-shaped keys (the first ten of each)."""
    expected = {k: v.shape for k, v in model.state_dict(keep_vars=True).items()}
    missing = [] if allow_missing else [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k])}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k])
    ]
    if not (missing or unexpected or mis_shaped):
        return
    parts = [f"{source} does not fit {type(model).__name__}:"]
    for label, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mis_shaped)):
        if items:
            more = f" (+{len(items) - 10} more)" if len(items) > 10 else ""
            parts.append(f"  {len(items)} {label} key(s): {', '.join(items[:10])}{more}")
    raise CheckpointError("\n".join(parts))


def load_checkpoint(
    model: nn.Module,
    checkpoint_path: str | Path,
    strict: bool = True,
    weights_only: bool = True,
    device: str | torch.device = "cpu",
    assign: bool = False,
):
    """Read, convert, adapt and load a checkpoint into ``model`` (the one load path of clipzoo).

    Args:
        model: the module to fill; with ``assign=True`` it may have been built with meta-device parameters.
        checkpoint_path: any file :func:`read_state_dict` reads (open_clip, OpenAI, big_vision, transformers).
        strict: every model key must be in the checkpoint and every checkpoint key in the model.
        weights_only: refuse pickles that need to run code (TorchScript archives are read without running).
        device: where the tensors are moved before loading.
        assign: use the checkpoint tensors as the parameters (no copy; needed for meta-device models).

    Returns:
        ``load_state_dict``'s report of missing and unexpected keys (empty when ``strict``).

    Raises:
        CheckpointError: the file is not a readable checkpoint, or (strict) its weights do not fit ``model``,
            or parameters were left on the meta device.
        FileNotFoundError: ``checkpoint_path`` does not exist.
    """
    state = read_state_dict(checkpoint_path, weights_only=weights_only)
    state = adapt_state_dict(convert_state_dict(state, model), model)
    if strict:
        check_compatible(state, model, source=str(checkpoint_path))
    if device is not None and str(device) != "cpu":
        state = {k: v.to(device) for k, v in state.items()}
    report = model.load_state_dict(state, strict=strict, assign=assign)
    left = [name for name, p in model.named_parameters() if p.device.type == "meta"]
    if strict and left:
        raise CheckpointError(f"{checkpoint_path}: parameters left without weights: {', '.join(left[:10])}")
    return report


def load_state_dict(checkpoint_path: str | Path, device: str = "cpu", weights_only: bool = True) -> StateDict:
    """Read a checkpoint file into a flat ``{key: tensor}`` dict, as stored (open_clip's function of that name).

    Keys are not converted to open_clip's layout (that needs the model: see :func:`load_checkpoint`); training
    wrappers (``state_dict``, ``model``, ``module``, ``model_state_dict``) and a ``module.`` prefix on every key
    are removed.

    Args:
        checkpoint_path: A ``.safetensors`` file (memory-mapped), a PyTorch pickle (``.pt``/``.pth``/``.bin``),
            an OpenAI TorchScript archive (its tensors are read without running it) or a big_vision ``.npz``.
        device: Where the tensors are put (``'cpu'``, the default, leaves them as read, memory-mapped where
            the format allows).
        weights_only: Read pickles with ``torch.load(weights_only=True)``, which refuses pickles that need to
            run code; False only for files you trust (it also loads TorchScript archives with ``torch.jit``).

    Returns:
        The state dict.

    Raises:
        FileNotFoundError: ``checkpoint_path`` is not a file.
        CheckpointError: the file is not a readable checkpoint, holds no state dict or non-tensor entries, or
            (``weights_only``) is a pickle that would run code.
    """
    state = read_state_dict(checkpoint_path, weights_only=weights_only)
    return state if device == "cpu" else {k: v.to(device) for k, v in state.items()}
