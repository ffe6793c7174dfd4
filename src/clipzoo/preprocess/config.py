"""The eval preprocessing settings as one typed, validated record (stdlib only, so resolving a model needs no
torch): open_clip's ``PreprocessCfg`` fields and defaults, the one place those defaults live.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from ..errors import choice_error

RESIZE_MODES = ("shortest", "longest", "squash")
# 'random' only means something for timm training transforms; eval uses bicubic for it, as open_clip does.
INTERPOLATIONS = ("bicubic", "bilinear", "nearest", "random")


@dataclass
class PreprocessCfg:
    """Eval preprocessing settings (open_clip's PreprocessCfg fields).

    Attributes:
        size: Model input size: an int for a square, or ``(height, width)``.
        mode: Image mode; only ``'RGB'``.
        mean: Per-channel normalization mean (default OpenAI's).
        std: Per-channel normalization std (default OpenAI's).
        interpolation: Resize filter: ``'bicubic'`` (the default), ``'bilinear'``, ``'nearest'``, or ``'random'``
            (a training-only choice of timm; eval uses bicubic for it).
        resize_mode: ``'shortest'`` (the default: short side to ``size``, then center crop), ``'longest'`` (long
            side to ``size``, then pad with ``fill_color``) or ``'squash'`` (resize to exactly ``size``).
        fill_color: Pad value (0-255) of ``'longest'``.

    Raises:
        ValueError: ``mode``, ``interpolation`` or ``resize_mode`` is not one of the values above.
    """

    size: int | tuple[int, int] = 224
    mode: str = "RGB"
    mean: tuple[float, ...] = OPENAI_DATASET_MEAN
    std: tuple[float, ...] = OPENAI_DATASET_STD
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"
    fill_color: int = 0

    def __post_init__(self) -> None:
        if self.mode != "RGB":
            raise choice_error("PreprocessCfg.mode", self.mode, ("RGB",))
        if self.interpolation not in INTERPOLATIONS:
            raise choice_error("PreprocessCfg.interpolation", self.interpolation, INTERPOLATIONS)
        if self.resize_mode not in RESIZE_MODES:
            raise choice_error("PreprocessCfg.resize_mode", self.resize_mode, RESIZE_MODES)

    @property
    def num_channels(self) -> int:
        """Number of image channels (always 3: RGB)."""
        return 3

    @property
    def input_size(self) -> tuple[int, int, int]:
        """(channels, height, width) of the model input."""
        size = self.size
        height, width = (size, size) if isinstance(size, int) else size
        return (self.num_channels, height, width)


PREPROCESS_KEYS = tuple(f.name for f in fields(PreprocessCfg))


def default_preprocess_dict() -> dict[str, Any]:
    """A fresh dict of PreprocessCfg's defaults (what a model without a pretrained tag gets)."""
    return asdict(PreprocessCfg())


def normalize_preprocess_dict(cfg: dict[str, Any], source: str = "preprocess cfg") -> dict[str, Any]:
    """Validate ``cfg`` as a PreprocessCfg and return its fields as a dict (JSON lists become tuples).

    Raises:
        ValueError: a field has an unknown value (the message names the choices).
    """
    values: dict[str, Any] = {
        k: (tuple(v) if isinstance(v, list) else v) for k, v in cfg.items() if k in PREPROCESS_KEYS
    }
    try:
        return asdict(PreprocessCfg(**values))
    except ValueError as err:
        raise ValueError(f"{source}: {err}") from err


def merge_preprocess_dict(base: PreprocessCfg | dict[str, Any], overlay: dict[str, Any] | None) -> dict:
    """Overlay non-None PreprocessCfg keys of `overlay` on `base`; other keys of both are dropped.

    Args:
        base: The starting settings: a :class:`PreprocessCfg` or a dict of its fields.
        overlay: Fields that replace ``base``'s; None values are skipped. None overlays nothing.

    Returns:
        A new dict of the PreprocessCfg fields present in either (not validated: build a
        :class:`PreprocessCfg` from it to check the values).
    """
    merged = asdict(base) if isinstance(base, PreprocessCfg) else dict(base)
    merged = {k: v for k, v in merged.items() if k in PREPROCESS_KEYS}
    merged.update({k: v for k, v in (overlay or {}).items() if k in PREPROCESS_KEYS and v is not None})
    return merged


def merge_preprocess_kwargs(base: PreprocessCfg, **kwargs: Any) -> dict:
    """Keyword form of merge_preprocess_dict.

    Args:
        base: The starting settings: a :class:`PreprocessCfg` or a dict of its fields.
        **kwargs: Fields that replace ``base``'s; None values are skipped, keys that are not fields dropped.

    Returns:
        A new dict of the PreprocessCfg fields (see :func:`merge_preprocess_dict`).
    """
    return merge_preprocess_dict(base, kwargs)
