"""The eval transform as open_clip's type: a ``torchvision.transforms.Compose`` that keeps clipzoo's fast path.

Programs written for open_clip check ``isinstance(preprocess, Compose)`` and read or edit ``preprocess.transforms``.
:class:`EvalCompose` is clipzoo's :class:`~clipzoo.preprocess.eval_steps.EvalTransform` and a ``Compose``:
``transforms`` lists open_clip's torchvision steps, while calling it runs clipzoo's PIL/numpy pipeline (the same
pixels, bit for bit) until the list is edited, then the edited steps as a ``Compose`` would. Importing this module
imports torchvision; ``image_transform`` imports it when it makes an eval transform.
"""

from __future__ import annotations

from torchvision.transforms import Compose

from .eval_steps import EvalTransform

__all__ = ["EvalCompose"]


class EvalCompose(EvalTransform, Compose):
    """:class:`EvalTransform` that is also a ``torchvision.transforms.Compose`` (open_clip's eval transform type).

    ``EvalTransform`` comes first in the method order: its ``__init__``, ``__call__`` (the fast path), ``__repr__``
    and ``transforms`` (open_clip's steps, editable) are the ones used; ``Compose`` adds its type.
    """
