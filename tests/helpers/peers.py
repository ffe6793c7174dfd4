"""The peer (open_clip 3.3.0) pieces that tests load on their own."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from collections.abc import Iterator
from pathlib import Path


def open_clip_dir() -> Path | None:
    """The installed open_clip package's folder, found without importing it (its import costs ~11 s of CPU:
    torchvision, transformers); None when open_clip is not installed."""
    spec = importlib.util.find_spec("open_clip")
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else None


def open_clip_loss_module():
    """open_clip's loss.py loaded on its own: it only needs torch, and skipping open_clip's package import
    keeps worker processes fast."""
    spec = importlib.util.spec_from_file_location("open_clip_peer_loss", open_clip_dir() / "loss.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# In-place ops that change a tensor's shape, strides or flags: everything else ending in "_" (the ops nn.init and
# the models' init code call: uniform_, normal_, kaiming_uniform_, xavier_normal_, copy_, mul_, ...) only writes
# values, which a layout does not have.
_NOT_VALUE_ONLY = frozenset(
    "resize_ resize_as_ set_ squeeze_ unsqueeze_ t_ transpose_ swapdims_ swapaxes_ as_strided_ requires_grad_ "
    "share_memory_".split()
)


@functools.cache
def _skip_meta_init_mode() -> type:
    """A TorchFunctionMode skipping value-only in-place ops on meta tensors (built on first use: torch is imported
    lazily here). It sees the outermost call only (a mode is off inside its own handler), so nn.init's functions
    are skipped whole."""
    import torch
    from torch.overrides import TorchFunctionMode

    class SkipMetaInit(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            kwargs = kwargs or {}
            value_only = name.endswith("_") and not name.startswith("_") and name not in _NOT_VALUE_ONLY
            # nn.init's functions pass their tensor as the keyword ``tensor``, tensor methods as ``self``
            target = args[0] if args else kwargs.get("tensor")
            if value_only and isinstance(target, torch.Tensor) and target.is_meta:
                return target
            return func(*args, **kwargs)

    return SkipMetaInit


@contextlib.contextmanager
def layout_only() -> Iterator[None]:
    """A context for building models on the meta device when only their layout (keys, shapes, dtypes, buffers)
    matters: parameter initialisation (value-only in-place ops on meta tensors) is skipped, a third of the time on
    either side (open_clip's or clipzoo's); shapes still come from every out-of-place op."""
    import torch

    with torch.device("meta"), _skip_meta_init_mode()():
        yield
