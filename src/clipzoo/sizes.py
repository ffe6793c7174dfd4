"""The one "int or (height, width)" rule for image, patch and crop sizes (pure Python, no imports of its own).

A neighbour of :mod:`clipzoo.constants`: the models (image and patch sizes), the preprocessing (resize and crop
sizes, torch-free for the ONNX runtime) and the open_clip compatibility transforms all read sizes with it,
and none of those packages may import another for it.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence


def to_hw(size: int | Sequence[int]) -> tuple[int, int]:
    """Normalize an int, ``(side,)`` or ``(height, width)`` size to an ``(height, width)`` tuple of ints.

    Args:
        size: An integer (numpy integers included), or a sequence of one or two numbers.

    Returns:
        ``(height, width)`` as Python ints.

    Raises:
        ValueError: neither an int nor a sequence of one or two numbers.
    """
    if isinstance(size, numbers.Integral):
        return int(size), int(size)
    if isinstance(size, Sequence) and len(size) == 1:
        return int(size[0]), int(size[0])
    if isinstance(size, Sequence) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"a size must be an int or an (height, width) pair, got {size!r}")
