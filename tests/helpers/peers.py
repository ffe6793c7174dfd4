"""The peer (open_clip 3.3.0) pieces that tests load on their own."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from collections.abc import Iterator
from pathlib import Path


def open_clip_loss_module():
    """open_clip's loss.py loaded on its own: it only needs torch, and skipping open_clip's package import
    (~11 s: torchvision, transformers) keeps worker processes fast."""
    package_dir = importlib.util.find_spec("open_clip").submodule_search_locations[0]
    spec = importlib.util.spec_from_file_location("open_clip_peer_loss", Path(package_dir) / "loss.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Value-only in-place ops (what nn.init and the models' init code call); none of them changes a shape or dtype.
_VALUE_ONLY = frozenset(
    "uniform_ normal_ trunc_normal_ fill_ zero_ erfinv_ mul_ add_ sub_ div_ clamp_ copy_ exponential_ "
    "bernoulli_ random_ addcmul_ abs_ sqrt_ neg_ log_ exp_".split()
)


@functools.cache
def _skip_meta_init_mode() -> type:
    """A TorchFunctionMode skipping value-only in-place ops on meta tensors (built on first use: torch is imported
    lazily here)."""
    import torch
    from torch.overrides import TorchFunctionMode

    class SkipMetaInit(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if name in _VALUE_ONLY and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
                return args[0]
            return func(*args, **(kwargs or {}))

    return SkipMetaInit


@contextlib.contextmanager
def layout_only() -> Iterator[None]:
    """A context for building models on the meta device when only their layout (keys, shapes, dtypes, buffers)
    matters: parameter initialisation (value-only in-place ops on meta tensors) is skipped, a third of the time on
    either side (open_clip's or clipzoo's); shapes still come from every out-of-place op."""
    import torch

    with torch.device("meta"), _skip_meta_init_mode()():
        yield
