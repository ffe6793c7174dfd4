"""Build: a :class:`~clipzoo.factory.resolve.ModelSpec` to a module, on the meta device when weights will be
loaded (no random initialization, no second copy).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

from .resolve import ModelSpec

logger = logging.getLogger("clipzoo")



@contextlib.contextmanager
def empty_parameters() -> Iterator[None]:
    """Create parameters on the meta device (no memory, no init) while buffers stay real."""
    from unittest import mock

    import torch
    from torch import nn

    original = nn.Module.register_parameter

    def register_on_meta(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        original(self, name, param)

    # Init code must neither consume the caller's RNG stream nor run meta kernels: torch implements the
    # meta versions of in-place initializers in Python, and importing them costs seconds.
    with (
        mock.patch.object(nn.Module, "register_parameter", register_on_meta),
        torch.random.fork_rng(devices=[]),
        _SkipMetaInPlace(),
    ):
        yield


@functools.cache
def _skip_meta_in_place_class():
    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils._pytree import tree_flatten, tree_map

    def to_meta(value):
        return value.to("meta") if isinstance(value, torch.Tensor) and not value.is_meta else value

    class SkipMetaInPlace(TorchFunctionMode):
        """In-place tensor ops on meta tensors return the tensor untouched (there is nothing to fill).

        Towers that compute while they are built (timm's hybrid ViTs run a probe forward to learn their feature
        size) mix empty parameters with real inputs: such ops run on the meta device, where only shapes exist.
        """

        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            kwargs = kwargs or {}
            target = args[0] if args else kwargs.get("tensor")  # torch.nn.init passes `tensor=` by keyword
            if name.endswith("_") and not name.startswith("_") and getattr(target, "is_meta", False):
                return target
            tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
            if any(t.is_meta for t in tensors) and not all(t.is_meta for t in tensors):
                if name.endswith("_") or "out" in kwargs:  # a real tensor would silently keep its old values
                    raise RuntimeError(
                        f"{name}: a tower writes empty (meta) parameter values into a real tensor while it is "
                        "built; this architecture must be built without the meta-device fast path"
                    )
                args, kwargs = tree_map(to_meta, (args, kwargs))
            return func(*args, **kwargs)

    return SkipMetaInPlace


def _SkipMetaInPlace():  # noqa: N802 - a context-manager factory, named like the class it builds
    return _skip_meta_in_place_class()()


def _cast_dtype(precision: str):
    from ..models import get_cast_dtype

    return get_cast_dtype(precision)


def build(spec: ModelSpec, precision: str = "fp32", output_dict: bool | None = None, empty: bool = False):
    """Instantiate the module for ``spec``; ``empty=True`` leaves parameters on the meta device for loading."""
    from ..models import build_model

    context = empty_parameters() if empty else contextlib.nullcontext()
    with context:
        model = build_model(spec.model_cfg, cast_dtype=_cast_dtype(precision), output_dict=bool(output_dict))
    return model


