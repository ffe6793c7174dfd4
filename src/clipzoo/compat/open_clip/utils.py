"""Small model utilities with open_clip's names: tuple helpers, BatchNorm freezing, Linear replacement (int8).

These are ``open_clip.utils``'s functions with its parameter names and defaults (reached through
``clipzoo.install_as_open_clip()`` as ``open_clip.utils.*``; its ``feature_take_indices`` is
``clipzoo.models.intermediates.feature_take_indices``). torch is imported only when a function needs it.
"""

from __future__ import annotations

import collections.abc
from collections.abc import Callable, Iterable
from itertools import repeat
from typing import Any

__all__ = [
    "convert_int8_model_to_inference_mode",
    "freeze_batch_norm_2d",
    "replace_linear",
    "to_1tuple",
    "to_2tuple",
    "to_3tuple",
    "to_4tuple",
    "to_ntuple",
]


def to_ntuple(n: int, x: Any) -> Any:
    """``x`` repeated ``n`` times as a tuple; an iterable (a string too, as in open_clip) is returned as is."""
    if isinstance(x, collections.abc.Iterable):
        return x
    return tuple(repeat(x, n))


def to_1tuple(x: Any) -> Any:
    """``to_ntuple(1, x)``."""
    return to_ntuple(1, x)


def to_2tuple(x: Any) -> Any:
    """``to_ntuple(2, x)``: ``224 -> (224, 224)``; ``(224, 192)`` passes through unchanged."""
    return to_ntuple(2, x)


def to_3tuple(x: Any) -> Any:
    """``to_ntuple(3, x)``."""
    return to_ntuple(3, x)


def to_4tuple(x: Any) -> Any:
    """``to_ntuple(4, x)``."""
    return to_ntuple(4, x)


def _frozen_copy(module: Any) -> Any:
    """A torchvision ``FrozenBatchNorm2d`` holding ``module``'s statistics and (cloned) affine parameters."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps)
    frozen.num_features = module.num_features
    frozen.affine = module.affine
    if module.affine:
        frozen.weight.data = module.weight.data.clone().detach()
        frozen.bias.data = module.bias.data.clone().detach()
    # the running statistics are shared with the original module, as open_clip does
    frozen.running_mean.data = module.running_mean.data
    frozen.running_var.data = module.running_var.data
    return frozen


def freeze_batch_norm_2d(module: Any, module_match: dict | Iterable[str] = {}, name: str = "") -> Any:  # noqa: B006
    """Replace ``BatchNorm2d``/``SyncBatchNorm`` layers by torchvision's ``FrozenBatchNorm2d``.

    Args:
        module: Any module. A batch-norm module itself is returned converted; otherwise its submodules are
            converted in place and ``module`` is returned.
        module_match: Full names (dotted, relative to ``module``) of the layers to freeze; all when empty.
            (The mutable default is open_clip's; it is never modified.)
        name: The full name of ``module`` itself (prefix of its children's names).

    Returns:
        The converted module (``module`` itself unless it is a batch-norm layer).
    """
    from torch import nn

    is_match = name in module_match if module_match else True
    if is_match and isinstance(module, (nn.BatchNorm2d, nn.SyncBatchNorm)):
        return _frozen_copy(module)
    for child_name, child in module.named_children():
        full_name = f"{name}.{child_name}" if name else child_name
        replacement = freeze_batch_norm_2d(child, module_match, full_name)
        if replacement is not child:
            module.add_module(child_name, replacement)
    return module


def replace_linear(
    model: Any,
    linear_replacement: Callable[[int, int, bool], Any],
    include_modules: list[str] = ["c_fc", "c_proj"],  # noqa: B006 - open_clip's default, never modified
    copy_weights: bool = True,
) -> Any:
    """Replace the ``nn.Linear`` children named in ``include_modules`` (at any depth) by ``linear_replacement``.

    Args:
        model: The module to edit in place.
        linear_replacement: Called as ``linear_replacement(in_features, out_features, bias)``, e.g.
            ``bitsandbytes.nn.Linear8bitLt`` or ``triton``-based int8 layers.
        include_modules: Attribute names of the Linear layers to replace (the MLP layers by default).
        copy_weights: Copy the old weight and bias into the new layer.

    Returns:
        ``model``.
    """
    from torch import nn

    for child_name, child in model.named_children():
        if len(list(child.children())) > 0:
            replace_linear(child, linear_replacement, include_modules, copy_weights)
        if isinstance(child, nn.Linear) and child_name in include_modules:
            new = linear_replacement(child.in_features, child.out_features, child.bias is not None)
            if copy_weights:
                new.weight.data.copy_(child.weight.data)
                if new.bias is not None:
                    new.bias.data.copy_(child.bias.data)
            model._modules[child_name] = new
    return model


def convert_int8_model_to_inference_mode(model: Any) -> None:
    """Call ``prepare_for_eval()`` on every module that has it (int8 layers), remembering the weight dtype
    it had before in ``int8_original_dtype``."""
    for module in model.modules():
        if hasattr(module, "prepare_for_eval"):
            original_dtype = module.weight.dtype
            module.prepare_for_eval()
            module.int8_original_dtype = original_dtype
