"""Precision: the casting that applies a ``precision`` after loading (the name is checked at the door, by
:func:`clipzoo.factory.arguments.check_factory_args`)."""

from __future__ import annotations

from typing import Any

from ..constants import PRECISION_DTYPES


def set_precision(model: Any, precision: str, device: Any, uses_timm: bool) -> Any:
    """Move ``model`` to ``device`` in ``precision``'s dtypes (fp32 master weights, low-precision casts)."""
    import torch

    from ..models import convert_weights_to_lp
    from ..models.layers import LayerNormFp32

    base, low = (getattr(torch, name) if name else None for name in PRECISION_DTYPES[precision])
    model.to(device=device, dtype=base)  # also lifts an fp16 checkpoint to the fp32 master copy
    if low is not None and uses_timm:  # timm towers: cast everything, then put the fp32 norms back
        model.to(dtype=low)
        for module in model.modules():
            if isinstance(module, LayerNormFp32):
                module.float()
    elif low is not None:
        convert_weights_to_lp(model, low)
    return model
