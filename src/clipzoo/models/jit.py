"""TorchScript for open_clip compatibility: ``create_model(..., jit=True)`` and ``trace_model``.

torch.jit is deprecated upstream in favour of ``torch.compile``/``torch.export``, but code written for open_clip
passes ``jit=True`` and calls ``trace_model``; both keep working. Scripting is attempted the way open_clip does it
(``torch.jit.script`` on the whole model); an architecture TorchScript cannot compile (e.g. a Hugging Face text
tower) comes back as the eager model with one :class:`JitFallbackWarning` that says why.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..errors import JitFallbackWarning


def _reason(error: BaseException) -> str:
    """The first line of a TorchScript error, and the source location it points at when it names one."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    where = next((line for line in lines if line.startswith('File "')), None)
    return f"{lines[0].rstrip(':')} at {where}" if where else lines[0]


def script_model(model: nn.Module) -> nn.Module:
    """``torch.jit.script(model)`` when TorchScript can compile the architecture, else ``model`` unchanged.

    Args:
        model: An eval- or train-mode clipzoo model (CLIP, CustomTextCLIP, CoCa).

    Returns:
        A ``torch.jit.ScriptModule`` whose ``forward``, ``encode_image`` and ``encode_text`` match the eager
        model, or the eager model itself when scripting fails (after one ``JitFallbackWarning``).
    """
    try:
        with warnings.catch_warnings():
            # the caller asked for TorchScript: torch's own deprecation notice would be a second, unasked warning
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.script(model)
    except Exception as error:  # noqa: BLE001 - TorchScript raises many types; the caller gets the eager model
        warnings.warn(
            f"jit=True: TorchScript cannot compile {type(model).__name__} ({_reason(error)}); "
            "returning the eager model (torch.compile(model) compiles every architecture)",
            JitFallbackWarning,
            stacklevel=3,
        )
        return model


def _example_image_size(model: nn.Module) -> tuple[int, int]:
    size = getattr(model.visual, "image_size", None)
    if size is None:
        raise ValueError(
            f"{type(model).__name__}.visual has no image_size: cannot build example images to trace"
        )
    if isinstance(size, (tuple, list)):
        return int(size[0]), int(size[1])
    return int(size), int(size)


def trace_model(model: nn.Module, batch_size: int = 256, device: torch.device = torch.device("cpu")):  # noqa: B008
    """Trace ``forward``, ``encode_text`` and ``encode_image`` with ``torch.jit.trace_module`` (open_clip's helper).

    The model is put in eval mode and traced on all-ones images and all-zero token ids of ``batch_size`` rows;
    the traced module keeps ``visual.image_size``. Unlike open_clip's, a (height, width) ``image_size`` (ViT
    towers) works too.

    Args:
        model: A CLIP-like model with ``visual.image_size`` and ``context_length``.
        batch_size: Rows of the example inputs (traced modules accept other batch sizes).
        device: Device of the example inputs (the model's device).

    Returns:
        The traced ``torch.jit.TopLevelTracedModule``.

    Raises:
        ValueError: the image tower has no ``image_size`` (or the model no ``context_length``) to build example inputs from.
    """
    model.eval()
    image_size = getattr(model.visual, "image_size", None)
    height, width = _example_image_size(model)
    context_length = getattr(model, "context_length", None)
    if not isinstance(context_length, int):
        raise ValueError(f"{type(model).__name__} has no context_length: cannot build example text to trace")
    images = torch.ones((batch_size, 3, height, width), device=device)
    text = torch.zeros((batch_size, context_length), dtype=torch.int, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace_module(
            model,
            inputs={"forward": (images, text), "encode_text": (text,), "encode_image": (images,)},
        )
    traced.visual.image_size = image_size
    return traced
