"""Third-party checkpoint formats: detect them from their content and convert them to open_clip's layout.

Formats (besides open_clip's own ``.pt/.bin/.pth/.safetensors``, read by :mod:`clipzoo.checkpoint`):

- OpenAI's original TorchScript archives: the weights are read from the zip **without running its code**: a
  restricted unpickler rebuilds the tensors from ``data/`` and turns every ``__torch__.*`` object into a
  placeholder; which attributes are parameters or buffers is read from the ``__parameters__``/``__buffers__``
  lines of the archive's class definitions (text, never executed). ``torch.jit.load`` is used only when the
  caller passes ``weights_only=False`` (the documented fallback for archives the reader cannot parse).
- big_vision ``.npz`` SigLIP checkpoints (image tower laid out as a timm ViT, text tower native).
- Hugging Face transformers ``CLIPModel`` and ``SiglipModel`` checkpoints: weights (here), and architecture +
  preprocessing from ``config.json``/``preprocessor_config.json`` (:func:`model_cfg_from_hf_config`,
  :func:`preprocess_cfg_from_hf`), used by ``local-dir:`` and ``hf-hub:`` folders without an
  ``open_clip_config.json``; also a ``CLIPVisionModelWithProjection`` + ``CLIPTextModelWithProjection`` pair in
  two subfolders of a ``local-dir:`` folder (:func:`hf_pair_folders`; the checkpoint reader merges their weights).
  The reverse direction is :mod:`clipzoo.export_hf`.

Towers are built from the config's numbers, any size: a CLIP image tower is clipzoo's native ViT; a SigLIP image
tower (patch bias, no class token, MAP attention-pool head) is timm's SigLIP ViT family with ``timm_model_kwargs``
(width, depth, heads, MLP ratio, patch and image size, activation) and ``norm_kwargs`` (eps), so its activation
is transformers' own (tanh-approximate GELU for SigLIP) and features match transformers'. Such a config is
clipzoo's: open_clip 3.3.0 has no ``timm_model_kwargs`` and cannot load it.

This module imports no torch at import time: the config half is used while resolving a model name.
"""

from __future__ import annotations

import json
import mmap
import pickle
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .checkpoint_errors import CheckpointError

if TYPE_CHECKING:
    import torch
    from torch import nn

    StateDict = dict[str, torch.Tensor]

HF_CONFIG_FILE = "config.json"
HF_PREPROCESSOR_FILE = "preprocessor_config.json"
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Large transformers checkpoints are saved in shards listed by an index (its "weight_map": key -> shard file)
HF_SHARD_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def _error(message: str) -> Exception:
    return CheckpointError(message)


# ---------------------------------------------------------------------------------------------------- TorchScript

_STORAGE_DTYPES = {
    "FloatStorage": "float32",
    "DoubleStorage": "float64",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}
# Helpers TorchScript's pickler emits around plain values; they only tag or wrap their argument.
_IDENTITY_HELPERS = {
    "restore_type_tag",
    "build_intlist",
    "build_tensorlist",
    "build_doublelist",
    "build_boollist",
}
_CLASS_RE = re.compile(r"^class (\w+)\(Module\):\n((?:  .*\n)*)", re.MULTILINE)
_NAMES_RE = re.compile(r"^  __(parameters|buffers)__ = \[(.*)\]", re.MULTILINE)


class _ScriptObject:
    """Stand-in for a pickled ``__torch__.*`` module: keeps its qualified class name and attribute dict."""

    qualname = ""

    def __setstate__(self, state: dict) -> None:
        self.state = state


def _placeholder(qualname: str) -> type:
    return type("ScriptObject", (_ScriptObject,), {"qualname": qualname})


class _WeightsUnpickler(pickle.Unpickler):
    """Unpickles a TorchScript ``data.pkl``: tensors and placeholders only; any other global is refused."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str, mapped: Any = None) -> None:
        super().__init__(file)
        self.archive, self.prefix, self.mapped = archive, prefix, mapped
        self.storages: dict[str, Any] = {}

    def find_class(self, module: str, name: str) -> Any:
        import collections

        import torch

        if module.startswith("__torch__"):
            return _placeholder(f"{module}.{name}")
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in _STORAGE_DTYPES:
            return getattr(torch, _STORAGE_DTYPES[name])
        if module == "torch.jit._pickle" and name in _IDENTITY_HELPERS:
            return lambda value, *_: value
        if (module, name) == ("torch", "device"):
            return torch.device
        raise pickle.UnpicklingError(
            f"global {module}.{name} is not allowed in a weights-only TorchScript read"
        )

    def persistent_load(self, pid: Any) -> Any:
        import torch

        kind, dtype, key, _location, numel = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id kind {kind!r}")
        if key not in self.storages:
            entry = f"{self.prefix}data/{key}"
            self.storages[key] = self._storage(entry, dtype, numel) if numel else torch.empty(0, dtype=dtype)
        return self.storages[key]

    def _storage(self, entry: str, dtype: Any, numel: int) -> Any:
        import torch

        info = self.archive.getinfo(entry)
        if info.compress_type != zipfile.ZIP_STORED or self.mapped is None:
            return torch.frombuffer(bytearray(self.archive.read(entry)), dtype=dtype)[:numel]
        # TorchScript stores tensor data uncompressed: map it in place (copy-on-write) instead of reading it
        header = self.mapped[info.header_offset : info.header_offset + 30]
        name_len, extra_len = int.from_bytes(header[26:28], "little"), int.from_bytes(header[28:30], "little")
        start = info.header_offset + 30 + name_len + extra_len
        if start % 64:  # torch's writer aligns tensor data to 64 bytes; anything else is read, not mapped
            return torch.frombuffer(bytearray(self.archive.read(entry)), dtype=dtype)[:numel]
        return torch.frombuffer(self.mapped, dtype=dtype, count=numel, offset=start)


def _rebuild_tensor(storage, offset: int, size, stride, requires_grad=False, *_unused) -> Any:
    return storage.as_strided(tuple(size), tuple(stride), offset)


def _class_tensor_names(archive: zipfile.ZipFile, prefix: str) -> dict[str, set[str]]:
    """{qualified class name: names of its parameters and buffers}, read from the archive's code text."""
    names: dict[str, set[str]] = {}
    code_root = f"{prefix}code/"
    for entry in archive.namelist():
        if not (entry.startswith(code_root) and entry.endswith(".py")):
            continue
        module = entry[len(code_root) : -len(".py")].replace("/", ".")
        text = archive.read(entry).decode("utf-8")
        for match in _CLASS_RE.finditer(text):
            found: set[str] = set()
            for _kind, listed in _NAMES_RE.findall(match.group(2)):
                found |= {item.strip().strip('"') for item in listed.split(",") if item.strip()}
            names[f"{module}.{match.group(1)}"] = found
    return names


def _flatten(obj: _ScriptObject, classes: dict[str, set[str]], prefix: str, out: dict) -> None:
    import torch

    if obj.qualname not in classes:
        raise _error(f"TorchScript class {obj.qualname} has no definition in the archive's code/ folder")
    tensor_names = classes[obj.qualname]
    for key, value in obj.state.items():
        if isinstance(value, _ScriptObject):
            _flatten(value, classes, f"{prefix}{key}.", out)
        elif key in tensor_names and isinstance(value, torch.Tensor):
            out[f"{prefix}{key}"] = value


def _archive_prefix(archive: zipfile.ZipFile) -> str:
    for entry in archive.namelist():
        if entry.endswith("data.pkl") and entry.count("/") <= 1:
            return entry[: -len("data.pkl")]
    raise _error(f"{archive.filename}: TorchScript archive without data.pkl")


def read_torchscript(path: str | Path) -> StateDict:
    """The parameters and buffers of a TorchScript archive, read without executing any of its code."""
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        prefix = _archive_prefix(archive)
        byteorder = f"{prefix}byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise _error(f"{path}: big-endian TorchScript archives are not supported")
        classes = _class_tensor_names(archive, prefix)
        with open(path, "rb") as raw, archive.open(f"{prefix}data.pkl") as file:
            mapped = mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_COPY)
            try:
                root = _WeightsUnpickler(file, archive, prefix, mapped).load()
            except pickle.UnpicklingError as err:
                raise _error(
                    f"{path}: cannot read this TorchScript archive without running code ({err}); if you trust "
                    f"the file, load it with weights_only=False (uses torch.jit.load)"
                ) from err
    if not isinstance(root, _ScriptObject):
        raise _error(f"{path}: data.pkl holds a {type(root).__name__}, not a TorchScript module")
    state: dict = {}
    _flatten(root, classes, "", state)
    return state


def read_torchscript_with_jit(path: str | Path) -> StateDict:
    """Fallback for trusted archives the restricted reader cannot parse: ``torch.jit.load`` (runs its code)."""
    import torch

    return dict(torch.jit.load(str(path), map_location="cpu").state_dict())


# ---------------------------------------------------------------------------------------------------- npz


def read_npz(path: str | Path) -> StateDict:
    """All arrays of a ``.npz`` file as tensors, keyed as stored (big_vision keys use ``/``)."""
    import numpy as np
    import torch

    try:
        with np.load(str(path), allow_pickle=False) as data:
            return {key: torch.from_numpy(np.ascontiguousarray(data[key])) for key in data.files}
    except (ValueError, OSError, zipfile.BadZipFile) as err:
        raise _error(f"{path}: not a readable .npz file ({err})") from err


# ---------------------------------------------------------------------------------------------------- OpenAI

_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")


def is_openai_state(state: StateDict) -> bool:
    """OpenAI's archives carry their config as extra 0-d entries next to open_clip-layout weights."""
    return any(key in state for key in _OPENAI_EXTRA_KEYS) and "logit_scale" in state


def convert_openai(state: StateDict, model: nn.Module) -> StateDict:
    """Drop the config entries (and buffers a traced model saved that ours does not persist, e.g. masks);
    the weights already use open_clip's (= OpenAI's) names."""
    persistent = set(model.state_dict(keep_vars=True))
    computed = {name for name, _ in model.named_buffers()} - persistent
    return {k: v for k, v in state.items() if k not in _OPENAI_EXTRA_KEYS and k not in computed}


# ---------------------------------------------------------------------------------------------------- shared


class _KeyMapper:
    """Moves tensors from a source dict to an output dict and reports source keys nobody consumed."""

    def __init__(self, state: StateDict, ignore: tuple[str, ...] = ()) -> None:
        self.state, self.out = state, {}
        self.left = {k for k in state if not k.endswith(ignore)} if ignore else set(state)

    def take(self, key: str):
        if key not in self.state:
            raise _error(f"checkpoint is missing {key!r}")
        self.left.discard(key)
        return self.state[key]

    def has(self, key: str) -> bool:
        return key in self.state

    def put(self, key: str, value) -> None:
        self.out[key] = value

    def move(self, src: str, dst: str, fn: Callable | None = None) -> None:
        value = self.take(src)
        self.out[dst] = fn(value) if fn is not None else value

    def finish(self, what: str) -> StateDict:
        if self.left:
            left = sorted(self.left)
            raise _error(f"{what}: {len(left)} checkpoint key(s) not understood: {', '.join(left[:10])}")
        return self.out


def _count_layers(state: StateDict, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return len({int(m.group(1)) for key in state for m in [pattern.match(key)] if m})


# Transformer-block parameter names: transformers' encoder layer -> open_clip native block / timm ViT block.
_NATIVE_BLOCK = {
    "ln1": "ln_1",
    "ln2": "ln_2",
    "fc1": "mlp.c_fc",
    "fc2": "mlp.c_proj",
    "out": "attn.out_proj",
    "qkv": "attn.in_proj_{}",
}
_TIMM_BLOCK = {
    "ln1": "norm1",
    "ln2": "norm2",
    "fc1": "mlp.fc1",
    "fc2": "mlp.fc2",
    "out": "attn.proj",
    "qkv": "attn.qkv.{}",
}
_HF_BLOCK = {
    "ln1": "layer_norm1",
    "ln2": "layer_norm2",
    "fc1": "mlp.fc1",
    "fc2": "mlp.fc2",
    "out": "self_attn.out_proj",
}


def _hf_blocks(m: _KeyMapper, src: str, dst: str, names: dict[str, str]) -> None:
    import torch

    for i in range(_count_layers(m.state, src)):
        s, d = f"{src}{i}.", f"{dst}{i}."
        for part in ("ln1", "ln2", "fc1", "fc2", "out"):
            for p in ("weight", "bias"):
                m.move(f"{s}{_HF_BLOCK[part]}.{p}", f"{d}{names[part]}.{p}")
        for p in ("weight", "bias"):
            qkv = [m.take(f"{s}self_attn.{n}_proj.{p}") for n in ("q", "k", "v")]
            m.put(d + names["qkv"].format(p), torch.cat(qkv, dim=0))


# ---------------------------------------------------------------------------------------------------- HF CLIP

_HF_IGNORED = ("position_ids",)  # non-persistent in transformers >= 4.31, present in older files


def is_hf_clip_state(state: StateDict) -> bool:
    """transformers ``CLIPModel``: a class embedding in the vision embeddings and a text model."""
    return (
        "vision_model.embeddings.class_embedding" in state
        and "text_model.embeddings.token_embedding.weight" in state
    )


def convert_hf_clip(state: StateDict, model: nn.Module) -> StateDict:
    """transformers CLIPModel -> open_clip CLIP (text modules at the top level; adapters nest them if needed)."""
    m = _KeyMapper(state, _HF_IGNORED)
    v, t = "vision_model.", "text_model."
    m.move(f"{v}embeddings.class_embedding", "visual.class_embedding")
    m.move(f"{v}embeddings.patch_embedding.weight", "visual.conv1.weight")
    m.move(f"{v}embeddings.position_embedding.weight", "visual.positional_embedding")
    for src, dst in (
        (f"{v}pre_layrnorm", "visual.ln_pre"),
        (f"{v}post_layernorm", "visual.ln_post"),
        (f"{t}final_layer_norm", "ln_final"),
    ):
        m.move(f"{src}.weight", f"{dst}.weight")
        m.move(f"{src}.bias", f"{dst}.bias")
    _hf_blocks(m, f"{v}encoder.layers.", "visual.transformer.resblocks.", _NATIVE_BLOCK)
    _hf_blocks(m, f"{t}encoder.layers.", "transformer.resblocks.", _NATIVE_BLOCK)
    m.move("visual_projection.weight", "visual.proj", lambda w: w.T.contiguous())
    m.move("text_projection.weight", "text_projection", lambda w: w.T.contiguous())
    m.move(f"{t}embeddings.token_embedding.weight", "token_embedding.weight")
    m.move(f"{t}embeddings.position_embedding.weight", "positional_embedding")
    m.move("logit_scale", "logit_scale")
    return m.finish("transformers CLIP checkpoint")


# ---------------------------------------------------------------------------------------------------- HF SigLIP


def is_hf_siglip_state(state: StateDict) -> bool:
    """transformers ``SiglipModel``: no class embedding, a patch-embedding bias, and a text model."""
    return (
        "vision_model.embeddings.patch_embedding.bias" in state
        and "vision_model.embeddings.class_embedding" not in state
        and "text_model.embeddings.token_embedding.weight" in state
    )


def _hf_siglip_map_head(m: _KeyMapper, src: str, dst: str) -> None:
    width = m.state[f"{src}probe"].shape[-1]
    m.move(f"{src}probe", f"{dst}latent")
    for p in ("weight", "bias"):
        packed = m.take(f"{src}attention.in_proj_{p}")
        m.put(f"{dst}q.{p}", packed[:width])
        m.put(f"{dst}kv.{p}", packed[width:])
        for s, d in (
            ("attention.out_proj", "proj"),
            ("layernorm", "norm"),
            ("mlp.fc1", "mlp.fc1"),
            ("mlp.fc2", "mlp.fc2"),
        ):
            m.move(f"{src}{s}.{p}", f"{dst}{d}.{p}")


def convert_hf_siglip(state: StateDict, model: nn.Module) -> StateDict:
    """transformers SiglipModel -> open_clip CustomTextCLIP with a timm SigLIP image trunk."""
    m = _KeyMapper(state, _HF_IGNORED)
    v, t, trunk = "vision_model.", "text_model.", "visual.trunk."
    for p in ("weight", "bias"):
        m.move(f"{v}embeddings.patch_embedding.{p}", f"{trunk}patch_embed.proj.{p}")
        m.move(f"{v}post_layernorm.{p}", f"{trunk}norm.{p}")
        m.move(f"{t}final_layer_norm.{p}", f"text.ln_final.{p}")
        m.move(f"{t}head.{p}", f"text.text_projection.{p}")
    m.move(f"{v}embeddings.position_embedding.weight", f"{trunk}pos_embed", lambda w: w.unsqueeze(0))
    _hf_blocks(m, f"{v}encoder.layers.", f"{trunk}blocks.", _TIMM_BLOCK)
    if m.has(f"{v}head.probe"):
        _hf_siglip_map_head(m, f"{v}head.", f"{trunk}attn_pool.")
    _hf_blocks(m, f"{t}encoder.layers.", "text.transformer.resblocks.", _NATIVE_BLOCK)
    m.move(f"{t}embeddings.token_embedding.weight", "text.token_embedding.weight")
    m.move(f"{t}embeddings.position_embedding.weight", "text.positional_embedding")
    m.move("logit_scale", "logit_scale")
    m.move("logit_bias", "logit_bias")
    return m.finish("transformers SigLIP checkpoint")


# ---------------------------------------------------------------------------------------------------- big_vision


def _bv_root(state: StateDict) -> str:
    return "params/" if "params/img/embedding/kernel" in state else ""


def is_big_vision_state(state: StateDict) -> bool:
    """big_vision two-tower checkpoints (``.npz``): ``img/`` and ``txt/`` trees, optionally under ``params/``."""
    return "params/img/embedding/kernel" in state or "img/embedding/kernel" in state


def _flax_to_torch(w, transpose: bool = True):
    """Flax kernels are (in, out) / (h, w, in, out); torch wants (out, in) / (out, in, h, w)."""
    if w.ndim == 4 and w.shape[0] == w.shape[1] == w.shape[2] == 1:
        w = w.flatten()
    if not transpose:
        return w
    if w.ndim == 4:
        return w.permute(3, 2, 0, 1)
    if w.ndim == 3:
        return w.permute(2, 0, 1)
    return w.T if w.ndim == 2 else w


class _BigVisionBlocks:
    """Per-layer views of big_vision encoder blocks, stored either one tree per block or stacked (scan)."""

    def __init__(self, m: _KeyMapper, prefix: str) -> None:
        self.m = m
        self.stacked = f"{prefix}encoderblock/LayerNorm_0/scale" in m.state
        if self.stacked:
            self.count = m.state[f"{prefix}encoderblock/LayerNorm_0/scale"].shape[0]
        else:
            pattern = re.compile(re.escape(prefix) + r"encoderblock_(\d+)/")
            self.count = len({int(g.group(1)) for k in m.state for g in [pattern.match(k)] if g})
        self.prefix = prefix

    def get(self, i: int, name: str, transpose: bool = True):
        if self.stacked:
            key = f"{self.prefix}encoderblock/{name}"
            value = self.m.take(key)[i]
        else:
            value = self.m.take(f"{self.prefix}encoderblock_{i}/{name}")
        return _flax_to_torch(value, transpose)


def _bv_attention(get: Callable, mha: str) -> dict[str, Any]:
    import torch

    def proj(n: str):
        return get(f"{mha}{n}/kernel", False).flatten(1).T, get(f"{mha}{n}/bias", False).reshape(-1)

    q, k, v = proj("query"), proj("key"), proj("value")
    return {
        "qkv.weight": torch.cat([q[0], k[0], v[0]]),
        "qkv.bias": torch.cat([q[1], k[1], v[1]]),
        "q.weight": q[0],
        "q.bias": q[1],
        "kv.weight": torch.cat([k[0], v[0]]),
        "kv.bias": torch.cat([k[1], v[1]]),
        "out.weight": get(f"{mha}out/kernel").flatten(1),
        "out.bias": get(f"{mha}out/bias"),
    }


def _bv_blocks(m: _KeyMapper, src: str, dst: str, names: dict[str, str]) -> None:
    blocks = _BigVisionBlocks(m, src)
    for i in range(blocks.count):

        def get(name: str, transpose: bool = True, i: int = i):
            return blocks.get(i, name, transpose)

        d = f"{dst}{i}."
        attn = _bv_attention(get, "MultiHeadDotProductAttention_0/")
        for p in ("weight", "bias"):
            m.put(d + names["qkv"].format(p), attn[f"qkv.{p}"])
            m.put(f"{d}{names['out']}.{p}", attn[f"out.{p}"])
        for part, src_name in (("ln1", "LayerNorm_0"), ("ln2", "LayerNorm_1")):
            m.put(f"{d}{names[part]}.weight", get(f"{src_name}/scale"))
            m.put(f"{d}{names[part]}.bias", get(f"{src_name}/bias"))
        for part, src_name in (("fc1", "MlpBlock_0/Dense_0"), ("fc2", "MlpBlock_0/Dense_1")):
            m.put(f"{d}{names[part]}.weight", get(f"{src_name}/kernel"))
            m.put(f"{d}{names[part]}.bias", get(f"{src_name}/bias"))


def _bv_map_head(m: _KeyMapper, src: str, dst: str) -> None:
    def get(name: str, transpose: bool = True):
        return _flax_to_torch(m.take(f"{src}{name}"), transpose)

    m.put(f"{dst}latent", get("probe", False))
    attn = _bv_attention(get, "MultiHeadDotProductAttention_0/")
    for p in ("weight", "bias"):
        m.put(f"{dst}q.{p}", attn[f"q.{p}"])
        m.put(f"{dst}kv.{p}", attn[f"kv.{p}"])
        m.put(f"{dst}proj.{p}", attn[f"out.{p}"])
    m.put(f"{dst}norm.weight", get("LayerNorm_0/scale"))
    m.put(f"{dst}norm.bias", get("LayerNorm_0/bias"))
    for r in range(2):
        m.put(f"{dst}mlp.fc{r + 1}.weight", get(f"MlpBlock_0/Dense_{r}/kernel"))
        m.put(f"{dst}mlp.fc{r + 1}.bias", get(f"MlpBlock_0/Dense_{r}/bias"))


def convert_big_vision(state: StateDict, model: nn.Module) -> StateDict:
    """big_vision SigLIP ``.npz`` -> open_clip CustomTextCLIP with a timm ViT image trunk (its SigLIP configs)."""
    m = _KeyMapper(state)
    root = _bv_root(state)
    img, txt, trunk = f"{root}img/", f"{root}txt/", "visual.trunk."
    m.put(f"{trunk}patch_embed.proj.weight", _flax_to_torch(m.take(f"{img}embedding/kernel")))
    m.put(f"{trunk}patch_embed.proj.bias", m.take(f"{img}embedding/bias"))
    if m.has(f"{img}cls"):
        m.put(f"{trunk}cls_token", m.take(f"{img}cls"))
    m.put(f"{trunk}pos_embed", m.take(f"{img}pos_embedding"))
    _bv_blocks(m, f"{img}Transformer/", f"{trunk}blocks.", _TIMM_BLOCK)
    m.put(f"{trunk}norm.weight", m.take(f"{img}Transformer/encoder_norm/scale"))
    m.put(f"{trunk}norm.bias", m.take(f"{img}Transformer/encoder_norm/bias"))
    if m.has(f"{img}MAPHead_0/probe"):
        _bv_map_head(m, f"{img}MAPHead_0/", f"{trunk}attn_pool.")
    m.put("text.token_embedding.weight", m.take(f"{txt}Embed_0/embedding"))
    m.put("text.positional_embedding", m.take(f"{txt}pos_embedding").squeeze(0))
    _bv_blocks(m, f"{txt}Encoder_0/", "text.transformer.resblocks.", _NATIVE_BLOCK)
    m.put("text.ln_final.weight", m.take(f"{txt}Encoder_0/encoder_norm/scale"))
    m.put("text.ln_final.bias", m.take(f"{txt}Encoder_0/encoder_norm/bias"))
    if m.has(f"{txt}head/kernel"):
        m.put("text.text_projection.weight", _flax_to_torch(m.take(f"{txt}head/kernel")))
        m.put("text.text_projection.bias", m.take(f"{txt}head/bias"))
    m.put("logit_scale", m.take(f"{root}t").reshape(-1)[:1].reshape(()))
    m.put("logit_bias", m.take(f"{root}b").reshape(-1)[:1].reshape(()))
    return m.finish("big_vision checkpoint")


# ---------------------------------------------------------------------------------------------------- HF configs


def _section(config: dict, name: str) -> dict:
    section = config.get(name)
    if not isinstance(section, dict):
        raise ValueError(
            f"transformers config has no {name!r} section (model_type {config.get('model_type')!r})"
        )
    return section


def _merged(section: dict, defaults: dict) -> dict:
    # save_pretrained writes only values that differ from the class defaults: put the defaults back.
    return {**defaults, **{k: v for k, v in section.items() if v is not None}}


# transformers 4.56 class defaults (CLIPTextConfig, CLIPVisionConfig, SiglipTextConfig, SiglipVisionConfig).
_CLIP_TEXT = {
    "vocab_size": 49408,
    "hidden_size": 512,
    "intermediate_size": 2048,
    "num_hidden_layers": 12,
    "num_attention_heads": 8,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
    "eos_token_id": 49407,
}
_CLIP_VISION = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 32,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}
_SIGLIP_TEXT = {
    "vocab_size": 32000,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 64,
    "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
    "projection_size": None,
}
_SIGLIP_VISION = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 16,
    "hidden_act": "gelu_pytorch_tanh",
    "layer_norm_eps": 1e-6,
    "vision_use_head": True,
}
# transformers activation name -> (quick_gelu flag, act_kwargs of nn.GELU)
_ACTIVATIONS: dict[str, tuple[bool, dict | None]] = {
    "quick_gelu": (True, None),
    "gelu": (False, None),
    "gelu_pytorch_tanh": (False, {"approximate": "tanh"}),
    "gelu_new": (False, {"approximate": "tanh"}),
}
# transformers activation name -> timm activation name (timm's SigLIP ViT takes ``act_layer`` by name)
_TIMM_ACTIVATIONS = {
    "quick_gelu": "quick_gelu",
    "gelu": "gelu",
    "gelu_pytorch_tanh": "gelu_tanh",
    "gelu_new": "gelu_tanh",
}
# The timm model whose family (ViT without class token, MAP attention-pool head, patch bias) every transformers
# SigLIP image tower is built from; its size comes from the config's numbers (``timm_model_kwargs``).
SIGLIP_TIMM_FAMILY = "vit_base_patch16_siglip_224"
_TIMM_VIT_EPS = 1e-6  # timm's ViT LayerNorm eps


def _activation(section: dict, where: str) -> tuple[bool, dict | None]:
    act = section["hidden_act"]
    if act not in _ACTIVATIONS:
        raise ValueError(
            f"{where}: hidden_act {act!r} has no clipzoo equivalent; supported: {', '.join(_ACTIVATIONS)}"
        )
    return _ACTIVATIONS[act]


def _mlp_ratio(section: dict) -> float:
    width, hidden = section["hidden_size"], section["intermediate_size"]
    ratio = hidden / width
    if int(width * ratio) != hidden:  # the towers compute int(width * mlp_ratio)
        ratio = (hidden + 0.5) / width
    return ratio


def _tower_common(section: dict, default_eps: float) -> dict[str, Any]:
    out: dict[str, Any] = {"width": section["hidden_size"], "layers": section["num_hidden_layers"]}
    ratio = _mlp_ratio(section)
    if ratio != 4.0:
        out["mlp_ratio"] = ratio
    if section["layer_norm_eps"] != default_eps:
        out["norm_kwargs"] = {"eps": section["layer_norm_eps"]}
    return out


def _clip_text_pool(text: dict) -> dict[str, Any]:
    # transformers: eos_token_id == 2 (old configs) pools at argmax(ids); otherwise at the first eos token.
    eos = text["eos_token_id"]
    return {"pool_type": "argmax"} if eos in (2, None) else {"pool_type": "eos", "eos_id": eos}


def hf_clip_model_cfg(config: dict, tokenizer_source: str | None = None) -> dict[str, Any]:
    """transformers CLIPConfig (as a dict) -> open_clip model_cfg."""
    text = _merged(_section(config, "text_config"), _CLIP_TEXT)
    vision = _merged(_section(config, "vision_config"), _CLIP_VISION)
    (tq, t_act), (vq, v_act) = _activation(text, "text_config"), _activation(vision, "vision_config")
    _check_square_rgb(vision, "vision_config")
    heads = vision["num_attention_heads"]
    vision_cfg = {
        "image_size": vision["image_size"],
        "patch_size": vision["patch_size"],
        **_tower_common(vision, 1e-5),
        "head_width": vision["hidden_size"] // heads,
    }
    text_cfg = {
        "context_length": text["max_position_embeddings"],
        "vocab_size": text["vocab_size"],
        **_tower_common(text, 1e-5),
        "heads": text["num_attention_heads"],
        **_clip_text_pool(text),
    }
    for cfg, act in ((vision_cfg, v_act), (text_cfg, t_act)):
        if act:
            cfg["act_kwargs"] = act
    if vq != tq:  # the model-level flag follows the text tower; the image tower says its own
        vision_cfg["quick_gelu"] = vq
    if tokenizer_source and text["vocab_size"] != _CLIP_TEXT["vocab_size"]:
        text_cfg["hf_tokenizer_name"] = tokenizer_source
    out = {"embed_dim": config.get("projection_dim", 512), "vision_cfg": vision_cfg, "text_cfg": text_cfg}
    if tq:
        out["quick_gelu"] = True
    return out


def _check_square_rgb(vision: dict, where: str) -> None:
    if vision["num_channels"] != 3:
        raise ValueError(
            f"{where}: num_channels={vision['num_channels']}; clipzoo's image towers take RGB (3)"
        )
    heads = vision["num_attention_heads"]
    if vision["hidden_size"] % heads:
        raise ValueError(f"{where}: hidden_size {vision['hidden_size']} is not divisible by {heads} heads")


def siglip_vision_cfg(vision: dict) -> dict[str, Any]:
    """A merged transformers SiglipVisionConfig -> clipzoo vision_cfg: a timm SigLIP ViT of exactly these numbers."""
    _check_square_rgb(vision, "vision_config")
    act = vision["hidden_act"]
    if act not in _TIMM_ACTIVATIONS:
        raise ValueError(
            f"vision_config: hidden_act {act!r} has no timm equivalent; supported: {', '.join(_TIMM_ACTIVATIONS)}"
        )
    if not vision["vision_use_head"]:
        raise ValueError(
            "vision_config: vision_use_head=false (no attention-pool head): the image features would be the "
            "un-pooled tokens, which a CLIP-style image tower cannot return"
        )
    cfg: dict[str, Any] = {
        "image_size": vision["image_size"],
        "timm_model_name": SIGLIP_TIMM_FAMILY,
        "timm_model_pretrained": False,
        "timm_pool": "map",
        "timm_proj": "none",
        "timm_model_kwargs": {
            "embed_dim": vision["hidden_size"],
            "depth": vision["num_hidden_layers"],
            "num_heads": vision["num_attention_heads"],
            "mlp_ratio": _mlp_ratio(vision),
            "patch_size": vision["patch_size"],
            "img_size": vision["image_size"],
            "act_layer": _TIMM_ACTIVATIONS[act],
        },
    }
    if vision["layer_norm_eps"] != _TIMM_VIT_EPS:
        cfg["norm_kwargs"] = {"eps": vision["layer_norm_eps"]}
    return cfg


def hf_siglip_model_cfg(config: dict, tokenizer_source: str | None = None) -> dict[str, Any]:
    """transformers SiglipConfig (as a dict) -> open_clip model_cfg (timm image trunk, native text tower)."""
    text = _merged(_section(config, "text_config"), _SIGLIP_TEXT)
    vision = _merged(_section(config, "vision_config"), _SIGLIP_VISION)
    t_quick, t_act = _activation(text, "text_config")
    embed_dim = vision["hidden_size"]
    projection = text["projection_size"] or text["hidden_size"]
    if projection != embed_dim:
        raise ValueError(f"SigLIP text projection_size {projection} differs from the image width {embed_dim}")
    vision_cfg = siglip_vision_cfg(vision)
    text_cfg = {
        "context_length": text["max_position_embeddings"],
        "vocab_size": text["vocab_size"],
        **_tower_common(text, 1e-5),
        "heads": text["num_attention_heads"],
        "no_causal_mask": True,
        "proj_bias": True,
        "pool_type": "last",
    }
    if t_act:
        text_cfg["act_kwargs"] = t_act
    if tokenizer_source:
        text_cfg["hf_tokenizer_name"] = tokenizer_source
        # transformers' own SigLIP text path: SiglipTokenizer canonicalizes itself (clipzoo's SigLipTokenizer does
        # the same steps), Gemma (SigLIP 2) and other tokenizer.json tokenizers take the text as given
        text_cfg["tokenizer_kwargs"] = {"clean": "whitespace"}
    out: dict[str, Any] = {
        "embed_dim": embed_dim,
        "init_logit_bias": -10.0,
        "custom_text": True,
        "vision_cfg": vision_cfg,
        "text_cfg": text_cfg,
    }
    if (
        t_quick
    ):  # the model-level flag reaches the native text tower only; the timm tower has its own act_layer
        out["quick_gelu"] = True
    return out


HF_MODEL_TYPES: dict[str, Callable[[dict, str | None], dict]] = {
    "clip": hf_clip_model_cfg,
    "siglip": hf_siglip_model_cfg,
}


def model_cfg_from_hf_config(config: dict, tokenizer_source: str | None = None) -> dict[str, Any]:
    """open_clip model_cfg for a transformers ``config.json`` (CLIP or SigLIP)."""
    model_type = config.get("model_type")
    if model_type not in HF_MODEL_TYPES:
        raise ValueError(
            f"transformers model_type {model_type!r} is not supported; supported: {', '.join(HF_MODEL_TYPES)}"
        )
    return HF_MODEL_TYPES[model_type](config, tokenizer_source)


# PIL resampling numbers as transformers stores them.
_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}


def _hf_size(size: Any) -> int | tuple[int, int]:
    if isinstance(size, int):
        return size
    if "height" in size and "width" in size:
        h, w = int(size["height"]), int(size["width"])
        return h if h == w else (h, w)
    if "shortest_edge" in size:
        return int(size["shortest_edge"])
    raise ValueError(
        f"image processor size {size!r} is not understood (expected height/width or shortest_edge)"
    )


def preprocess_cfg_from_hf(processor: dict) -> dict[str, Any]:
    """open_clip preprocess_cfg from a transformers ``preprocessor_config.json`` (CLIP/SigLIP image processor)."""
    out: dict[str, Any] = {}
    if processor.get("do_normalize", True):
        out["mean"] = tuple(processor.get("image_mean", (0.48145466, 0.4578275, 0.40821073)))
        out["std"] = tuple(processor.get("image_std", (0.26862954, 0.26130258, 0.27577711)))
    else:
        out["mean"], out["std"] = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if processor.get("do_rescale", True) and abs(processor.get("rescale_factor", 1 / 255) - 1 / 255) > 1e-9:
        raise ValueError(
            f"rescale_factor {processor['rescale_factor']} is not 1/255; clipzoo always scales by 1/255"
        )
    resample = processor.get("resample", 3)
    if resample not in _RESAMPLE:
        raise ValueError(f"resample={resample} has no clipzoo interpolation; supported: {_RESAMPLE}")
    out["interpolation"] = _RESAMPLE[resample]
    if processor.get("do_center_crop", False):
        out["resize_mode"] = "shortest"
        out["size"] = _hf_size(processor.get("crop_size", processor.get("size", 224)))
    else:
        size = processor.get("size", 224)
        out["resize_mode"] = "shortest" if isinstance(size, dict) and "shortest_edge" in size else "squash"
        out["size"] = _hf_size(size)
    return out


def _model_type(folder: Path) -> str | None:
    path = Path(folder) / HF_CONFIG_FILE
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return config.get("model_type") if isinstance(config, dict) else None


# A CLIPVisionModelWithProjection + CLIPTextModelWithProjection pair: two transformers folders side by side
HF_PAIR_TYPES = ("clip_vision_model", "clip_text_model")


def hf_pair_folders(folder: Path) -> tuple[Path, Path] | None:
    """(vision folder, text folder) when ``folder``'s subfolders hold a CLIPVisionModelWithProjection and a
    CLIPTextModelWithProjection (one each, e.g. ``image_encoder/`` + ``text_encoder/``), else None."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found: dict[str, list[Path]] = {kind: [] for kind in HF_PAIR_TYPES}
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        kind = _model_type(sub)
        if kind in found:
            found[kind].append(sub)
    vision, text = found[HF_PAIR_TYPES[0]], found[HF_PAIR_TYPES[1]]
    if len(vision) == 1 and len(text) == 1:
        return vision[0], text[0]
    if vision or text:
        raise ValueError(
            f"{folder}: expected one CLIP vision and one CLIP text subfolder, found {len(vision)} vision "
            f"({', '.join(p.name for p in vision) or '-'}) and {len(text)} text ({', '.join(p.name for p in text) or '-'})"
        )
    return None


def is_hf_folder(folder: Path) -> bool:
    """True when ``folder`` holds a transformers model (``config.json`` with a ``model_type``) or a CLIP
    vision + text pair (:func:`hf_pair_folders`)."""
    if _model_type(folder) is not None:
        return True
    try:
        return hf_pair_folders(folder) is not None
    except ValueError:
        return True  # a broken pair: reading it reports what is wrong


def _pair_config(vision_dir: Path, text_dir: Path) -> dict:
    """The CLIPConfig (as a dict) that the pair's two tower configs make together."""
    vision = json.loads((vision_dir / HF_CONFIG_FILE).read_text(encoding="utf-8"))
    text = json.loads((text_dir / HF_CONFIG_FILE).read_text(encoding="utf-8"))
    dims = {vision.get("projection_dim", 512), text.get("projection_dim", 512)}
    if len(dims) != 1:
        raise ValueError(f"the vision and text towers project to different sizes {sorted(dims)}")
    return {"model_type": "clip", "projection_dim": dims.pop(), "vision_config": vision, "text_config": text}


def read_hf_folder_config(folder: Path, tokenizer_source: str | None = None) -> tuple[dict, dict]:
    """(model_cfg, preprocess_cfg) of a transformers CLIP/SigLIP folder (``config.json`` + image processor)."""
    folder = Path(folder)
    config_path = folder / HF_CONFIG_FILE
    pair = None if config_path.is_file() else hf_pair_folders(folder)
    try:
        config = _pair_config(*pair) if pair else json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{config_path}: not valid JSON ({err.msg} at line {err.lineno})") from err
    try:
        model_cfg = model_cfg_from_hf_config(config, tokenizer_source)
    except ValueError as err:
        raise ValueError(f"{folder if pair else config_path}: {err}") from err
    if pair and tokenizer_source == str(folder) and not (folder / "tokenizer_config.json").is_file():
        text_cfg = model_cfg["text_cfg"]  # a pair keeps its tokenizer with the text tower
        if text_cfg.get("hf_tokenizer_name") and (pair[1] / "tokenizer_config.json").is_file():
            text_cfg["hf_tokenizer_name"] = str(pair[1])
    if pair and not (folder / HF_PREPROCESSOR_FILE).is_file():
        folder = pair[0]  # the image processor saved with the vision tower
    processor_path = folder / HF_PREPROCESSOR_FILE
    preprocess: dict = {}
    if processor_path.is_file():
        preprocess = preprocess_cfg_from_hf(json.loads(processor_path.read_text(encoding="utf-8")))
    elif config.get("model_type") == "siglip":  # SigLIP's processor defaults: squash, 0.5 mean/std
        preprocess = {
            "mean": (0.5, 0.5, 0.5),
            "std": (0.5, 0.5, 0.5),
            "resize_mode": "squash",
            "interpolation": "bicubic",
        }
    return model_cfg, preprocess
