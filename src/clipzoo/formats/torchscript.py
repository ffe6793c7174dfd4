"""OpenAI's original CLIP checkpoints: TorchScript archives read without running their code.

A restricted unpickler rebuilds the tensors from the archive's ``data/`` and turns every ``__torch__.*`` object into
a placeholder; which attributes are parameters or buffers is read from the ``__parameters__``/``__buffers__``
lines of the archive's class definitions (text, never executed). ``torch.jit.load`` is used only when the caller
passes ``weights_only=False`` (the documented fallback for archives the reader cannot parse). The weights already
use open_clip's (= OpenAI's) names; :func:`convert_openai` drops the config entries stored beside them.
"""

from __future__ import annotations

import mmap
import pickle
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointError

if TYPE_CHECKING:
    import torch
    from torch import nn

    StateDict = dict[str, torch.Tensor]



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
        raise CheckpointError(f"TorchScript class {obj.qualname} has no definition in the archive's code/ folder")
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
    raise CheckpointError(f"{archive.filename}: TorchScript archive without data.pkl")


def read_torchscript(path: str | Path) -> StateDict:
    """The parameters and buffers of a TorchScript archive, read without executing any of its code."""
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        prefix = _archive_prefix(archive)
        byteorder = f"{prefix}byteorder"
        if byteorder in archive.namelist() and archive.read(byteorder).strip() != b"little":
            raise CheckpointError(f"{path}: big-endian TorchScript archives are not supported")
        classes = _class_tensor_names(archive, prefix)
        with open(path, "rb") as raw, archive.open(f"{prefix}data.pkl") as file:
            mapped = mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_COPY)
            try:
                root = _WeightsUnpickler(file, archive, prefix, mapped).load()
            except pickle.UnpicklingError as err:
                raise CheckpointError(
                    f"{path}: cannot read this TorchScript archive without running code ({err}); if you trust "
                    f"the file, load it with weights_only=False (uses torch.jit.load)"
                ) from err
    if not isinstance(root, _ScriptObject):
        raise CheckpointError(f"{path}: data.pkl holds a {type(root).__name__}, not a TorchScript module")
    state: dict = {}
    _flatten(root, classes, "", state)
    return state


def read_torchscript_with_jit(path: str | Path) -> StateDict:
    """Fallback for trusted archives the restricted reader cannot parse: ``torch.jit.load`` (runs its code)."""
    import torch

    return dict(torch.jit.load(str(path), map_location="cpu").state_dict())


# ---------------------------------------------------------------------------------------------------- npz



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

