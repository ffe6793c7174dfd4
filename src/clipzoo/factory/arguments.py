"""Checks of the public factory arguments at the door, with messages that say what would be right.

``create_model``, ``create_model_and_transforms``, ``create_model_from_pretrained`` and ``get_tokenizer`` call
:func:`check_factory_args` first, so a wrong type or an out-of-range value fails before anything is resolved,
built or downloaded, instead of as a traceback from deep inside torch. Stdlib only (torch is imported only to
check a device string).
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ..constants import PRECISIONS as _PRECISIONS
from ..errors import (
    ArgumentError,
    ArgumentTypeError,
    UnknownArgumentError,
    close_matches,
    unknown_choice_message,
)
from ..preprocess.config import INTERPOLATIONS as _INTERPOLATIONS
from ..preprocess.config import PREPROCESS_KEYS as _PREPROCESS_KEYS
from ..preprocess.config import RESIZE_MODES as _RESIZE_MODES

__all__ = [
    "RENAMED_KEYWORDS",
    "ArgumentError",
    "ArgumentTypeError",
    "UnknownArgumentError",
    "check_factory_args",
    "take_renamed_keywords",
]

_DTYPE_TO_PRECISION = {"torch.float32": "fp32", "torch.float16": "fp16", "torch.bfloat16": "bf16"}
# Top-level model config keys a caller may pass as extra keywords (open_clip: model kwargs override the config).
_MODEL_KWARGS = (
    "embed_dim", "vision_cfg", "text_cfg", "multimodal_cfg", "quick_gelu", "custom_text", "init_logit_scale",
    "init_logit_bias", "nonscalar_logit_scale", "cast_dtype", "output_dict",
)  # fmt: skip


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _got(value: Any) -> str:
    return f"got {value!r} ({type(value).__name__})"


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be True or False, {_got(value)}")


def _optional_bool(name: str, value: Any) -> None:
    if value is not None:
        _bool(name, value)


def _model_name(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ArgumentTypeError(
            f"{name} must be a non-empty string: an architecture name such as 'ViT-B-32' (see "
            f"clipzoo.list_models()), 'hf-hub:org/repo' or 'local-dir:PATH'; {_got(value)}"
        )


def _tokenizer_model_name(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ArgumentTypeError(
            f"{name} must be a string: a model name such as 'ViT-B-32', 'hf-hub:org/repo', 'local-dir:PATH', "
            f"or '' for the default CLIP tokenizer; {_got(value)}"
        )


def _pretrained(name: str, value: Any) -> None:
    if value is None or isinstance(value, str):
        return
    if isinstance(value, os.PathLike):
        raise ArgumentTypeError(f"{name} must be a tag or a file path as a string; pass str({value!r})")
    raise ArgumentTypeError(
        f"{name} must be a pretrained tag such as 'openai' (see clipzoo.list_pretrained()), a checkpoint "
        f"path as a string, or None for random weights; {_got(value)}"
    )


def _optional_path(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise ArgumentTypeError(f"{name} must be a path (str or os.PathLike) or None, {_got(value)}")


def _precision(name: str, value: Any) -> None:
    if isinstance(value, str):
        if value not in _PRECISIONS:
            raise ArgumentError(unknown_choice_message(name, value, list(_PRECISIONS)))
        return
    as_text = str(value)
    if type(value).__name__ == "dtype" and as_text.startswith("torch."):
        fix = _DTYPE_TO_PRECISION.get(as_text)
        hint = f"use {name}={fix!r}" if fix else f"use one of: {', '.join(map(repr, _PRECISIONS))}"
        raise ArgumentTypeError(f"{name} takes a string, not the dtype {as_text}; {hint}")
    raise ArgumentTypeError(f"{name} must be one of {', '.join(map(repr, _PRECISIONS))}; {_got(value)}")


def _device(name: str, value: Any) -> None:
    if value is None:
        return  # the model stays where it was built (CPU)
    if _is_int(value):
        if value < 0:
            raise ArgumentError(f"{name} index must be >= 0, got {value}")
    elif not (
        type(value).__name__ == "device" and type(value).__module__ == "torch" or isinstance(value, str)
    ):
        raise ArgumentTypeError(
            f"{name} must be a string such as 'cpu' or 'cuda:0', a torch.device or a CUDA index; {_got(value)}"
        )
    import torch

    try:
        device = torch.device("cuda", value) if _is_int(value) else torch.device(value)
    except RuntimeError as err:
        raise ArgumentError(
            f"{name} {value!r} is not a torch device; use e.g. 'cpu', 'cuda', 'cuda:0' or 'mps'"
        ) from err
    _check_available(name, value, device)


def _check_available(name: str, value: Any, device: Any) -> None:
    """Refuse an accelerator this machine does not have, before a model is built for it."""
    import torch

    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ArgumentError(
                f"{name} {value!r}: no CUDA device is available here (torch.cuda.is_available() is False); "
                "use 'cpu'"
            )
        if device.index is not None and device.index >= count:
            raise ArgumentError(f"{name} {value!r}: this machine has {count} CUDA device(s), 0..{count - 1}")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ArgumentError(f"{name} {value!r}: MPS is not available here; use 'cpu'")


def _fraction(name: str, value: Any) -> None:
    if value is None:
        return
    if not _is_number(value):
        raise ArgumentTypeError(f"{name} must be a number in [0, 1) or None, {_got(value)}")
    if not 0.0 <= value < 1.0:
        raise ArgumentError(f"{name} must be in [0, 1) (a probability), got {value!r}")


def _image_size(name: str, value: Any) -> None:
    if value is None:
        return
    sizes = list(value) if isinstance(value, (list, tuple)) else [value]
    if isinstance(value, (list, tuple)) and len(sizes) != 2:
        raise ArgumentError(
            f"{name} must be an int or a (height, width) pair, got {len(sizes)} values: {value!r}"
        )
    for size in sizes:
        if not _is_int(size):
            fix = f"; use {name}={int(size)}" if isinstance(size, str) and size.strip().isdigit() else ""
            raise ArgumentTypeError(
                f"{name} must be an int or a (height, width) pair of ints, {_got(value)}{fix}"
            )
        if size <= 0:
            raise ArgumentError(f"{name} must be a positive number of pixels (e.g. 224), got {value!r}")


def _context_length(name: str, value: Any) -> None:
    if value is None:
        return
    if not _is_int(value):
        fix = f"; use {name}={int(value)}" if isinstance(value, str) and value.strip().isdigit() else ""
        raise ArgumentTypeError(f"{name} must be an int or None, {_got(value)}{fix}")
    if value < 2:
        raise ArgumentError(
            f"{name} must be >= 2 (room for the start and end tokens; CLIP uses 77), got {value}"
        )


def _numbers(name: str, value: Any, positive: bool) -> None:
    if value is None:
        return
    items = list(value) if isinstance(value, (list, tuple)) else None
    if items is None or len(items) not in (1, 3) or not all(_is_number(v) for v in items):
        raise ArgumentTypeError(f"{name} must be a tuple of 3 numbers (one per RGB channel), {_got(value)}")
    if any(math.isnan(v) or math.isinf(v) for v in items):
        raise ArgumentError(f"{name} must hold finite numbers, got {value!r}")
    if positive and any(v <= 0 for v in items):
        raise ArgumentError(f"{name} must hold numbers > 0 (they divide the pixels), got {value!r}")


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, str) or value not in choices:
            raise ArgumentError(unknown_choice_message(name, value, choices))

    return check


def _preprocess_cfg(name: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"{name} must be a dict of preprocessing settings or None, {_got(value)}")
    for key in value:
        if key not in _PREPROCESS_KEYS:
            raise ArgumentError(unknown_choice_message(f"{name} key", key, _PREPROCESS_KEYS))
    checks = {"size": _image_size, "mean": lambda n, v: _numbers(n, v, False),
              "std": lambda n, v: _numbers(n, v, True), "interpolation": _choice(_INTERPOLATIONS),
              "resize_mode": _choice(_RESIZE_MODES)}  # fmt: skip
    for key, check in checks.items():
        if key in value:
            check(f"{name}[{key!r}]", value[key])


def _aug_cfg(name: str, value: Any) -> None:
    if value is None or isinstance(value, Mapping) or dataclasses.is_dataclass(value):
        return
    raise ArgumentTypeError(f"{name} must be a dict, an AugmentationCfg or None, {_got(value)}")


_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "model_name": _model_name,
    "pretrained": _pretrained,
    "precision": _precision,
    "device": _device,
    "force_patch_dropout": _fraction,
    "force_image_size": _image_size,
    "force_context_length": _context_length,
    "context_length": _context_length,
    "force_preprocess_cfg": _preprocess_cfg,
    "image_mean": lambda n, v: _numbers(n, v, False),
    "image_std": lambda n, v: _numbers(n, v, True),
    "image_interpolation": _choice(_INTERPOLATIONS),
    "image_resize_mode": _choice(_RESIZE_MODES),
    "aug_cfg": _aug_cfg,
    "output_dict": _optional_bool,
    "pretrained_image_path": _optional_path,
    "pretrained_text_path": _optional_path,
    "cache_dir": _optional_path,
}
_BOOLS = (
    "load_weights", "jit", "force_quick_gelu", "force_custom_text", "pretrained_image", "pretrained_text",
    "require_pretrained", "weights_only", "return_transform", "force_naflex_vision",
)  # fmt: skip


def _normalized(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def suggest_keywords(key: str, known: list[str]) -> list[str]:
    """The known keyword names closest to ``key``: an exact match ignoring ``_``/case first, else close ones."""
    same = [k for k in known if _normalized(k) == _normalized(key)]
    if same:
        return same
    return close_matches(key, known)


# open_clip's deprecated keywords -> the create_model parameter each became; accepted with a FutureWarning, as
# open_clip 3.3.0 accepts them (its own tests still pass pretrained_hf=).
RENAMED_KEYWORDS = {"pretrained_hf": "pretrained_text"}


def take_renamed_keywords(func: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Remove open_clip's deprecated keywords from ``extra``, warning for each; returns ``{new name: value}``."""
    renamed = {}
    for old, new in RENAMED_KEYWORDS.items():
        if old in extra:
            warnings.warn(
                f"{func}(): {old}= is deprecated (open_clip's old name); use {new}=", FutureWarning, 3
            )
            renamed[new] = extra.pop(old)
    return renamed


def _check_extra_keywords(
    func: str, extra: Mapping[str, Any], params: list[str], forwarded: Collection[str]
) -> None:
    # the wrappers pass create_model's parameters (``forwarded``, and their old names) on to it
    allowed = set(_MODEL_KWARGS) | set(forwarded) | (set(RENAMED_KEYWORDS) if forwarded else set())
    known = sorted(set(params) | allowed)
    for key in extra:
        if key in allowed:
            continue
        close = suggest_keywords(key, known)
        hint = f"did you mean {', '.join(map(repr, close))}?" if close else (
            f"it takes {', '.join(params)}, and the model config keys {', '.join(_MODEL_KWARGS)}"
        )  # fmt: skip
        raise UnknownArgumentError(f"{func}() got an unexpected keyword argument {key!r}; {hint}")


def check_factory_args(
    func: str, args: Mapping[str, Any], extra: str = "model_kwargs", forwarded: Collection[str] = ()
) -> None:
    """Check every argument a factory function received (its ``locals()`` at entry).

    Args:
        func: the function's name, for messages.
        args: argument name -> value; ``args[extra]`` (if present) holds the extra keyword arguments.
        extra: the name of the ``**kwargs`` parameter whose keys must be model config keys.
        forwarded: parameters of the function the extra keywords are passed on to (the wrappers pass
            ``create_model``'s), which they may name too.

    Raises:
        ArgumentTypeError: an argument has the wrong type (``UnknownArgumentError`` for an unknown keyword;
            the message names the closest known keywords, ``force_`` ones included).
        ArgumentError: an argument's value is out of range or not one of the choices.
    """
    params = [name for name in args if name != extra]
    for name in params:
        value = args[name]
        if name in _BOOLS:
            _bool(name, value)
        elif func == "get_tokenizer" and name == "model_name":
            _tokenizer_model_name(name, value)
        elif name in _CHECKS:
            _CHECKS[name](name, value)
    if extra in args and func != "get_tokenizer":
        _check_extra_keywords(func, args[extra], params, forwarded)
