"""Resolve: the caller's words (model name, tag, overrides) to a :class:`ModelSpec`, without touching torch.

The spec says what will be built, from which weights, with which preprocessing; ``clipzoo info`` prints it.
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MissingWeightsError, PretrainedNotFoundError
from ..preprocess.config import default_preprocess_dict, normalize_preprocess_dict
from ..registry.architectures import get_model_config, unknown_model
from ..registry.config import ModelCfg, parse_model_config
from ..registry.tags import PretrainedCfg, get_typed_pretrained_cfg, is_pretrained_cfg, unknown_tag
from .memory import check_image_size_fits
from .sources import folder_model, parse_model_name

logger = logging.getLogger("clipzoo")


_PREPROCESS_FROM_TAG = ("mean", "std", "interpolation", "resize_mode")


@dataclass
class WeightsSource:
    """Where a model's weights come from: a local file, a registered tag, or a Hub repo file."""

    kind: str  # "file" | "tag" | "hf-hub"
    path: str = ""
    record: PretrainedCfg | None = None
    repo: str = ""
    files: tuple[str, ...] = ()  # hf-hub: the repo files to try in order (empty: open_clip's weights names)

    def describe(self) -> str:
        """One line for messages and ``clipzoo info``."""
        if self.kind == "tag" and self.record is not None:
            return f"tag {self.record.model}:{self.record.tag}"
        return f"{self.kind} {self.path or self.repo}"


@dataclass
class ModelSpec:
    """Everything that decides what ``create_model`` builds; inspect it before building anything."""

    name: str
    model_cfg: ModelCfg
    weights: WeightsSource | None = None
    preprocess_cfg: dict[str, Any] = field(default_factory=default_preprocess_dict)


# ---------------------------------------------------------------------------------------------------- resolve


def _unknown_pretrained(model_name: str, pretrained: str) -> PretrainedNotFoundError:
    tag_msg = str(unknown_tag(model_name, pretrained))
    return PretrainedNotFoundError(f"{tag_msg}; {pretrained!r} is not an existing file either")


def _spec_from_registry(model_name: str, pretrained: str | None) -> tuple[dict, WeightsSource | None]:
    raw = get_model_config(model_name)
    if raw is None:
        raise unknown_model(model_name)
    if not pretrained:
        return raw, None
    if is_pretrained_cfg(model_name, pretrained):
        return raw, WeightsSource("tag", record=get_typed_pretrained_cfg(model_name, pretrained))
    if Path(pretrained).is_file():
        return raw, WeightsSource("file", path=str(pretrained))
    raise _unknown_pretrained(model_name, pretrained)


def _spec_from_folder(
    schema: str, identifier: str, cache_dir: str | None
) -> tuple[dict, WeightsSource | None, dict]:
    # Only the configs are read (fetched, for the Hub) here; the weights file is fetched by `load`.
    found = folder_model(schema, identifier, cache_dir)
    if found.weights_path is not None:
        weights = WeightsSource("file", path=found.weights_path)
    elif schema == "hf-hub":
        weights = WeightsSource("hf-hub", repo=identifier, files=found.weights_files)
    else:
        weights = None
    return found.model_cfg, weights, found.preprocess_cfg


def _apply_quick_gelu(raw: dict, weights: WeightsSource | None, force_quick_gelu: bool) -> None:
    # The tag knows which activation its weights were trained with; open_clip only warns about a mismatch.
    tag_value = weights.record.quick_gelu if weights is not None and weights.record is not None else None
    if force_quick_gelu:
        raw["quick_gelu"] = True
    elif tag_value is not None and bool(raw.get("quick_gelu", False)) != tag_value:
        raw["quick_gelu"] = tag_value
        logger.info("quick_gelu=%s taken from the pretrained tag %s", tag_value, weights and weights.describe())


def _apply_overrides(raw: dict, overrides: dict[str, Any]) -> None:
    for section, key, value in (
        ("vision_cfg", "patch_dropout", overrides.get("force_patch_dropout")),
        ("vision_cfg", "image_size", overrides.get("force_image_size")),
        ("text_cfg", "context_length", overrides.get("force_context_length")),
    ):
        if value is not None:
            raw[section][key] = value
    if overrides.get("force_custom_text"):
        raw["custom_text"] = True


def _preprocess_for(
    model_cfg: ModelCfg, weights: WeightsSource | None, base: dict, force: dict | None, source: str
) -> dict:
    pp = default_preprocess_dict()
    pp.update({k: v for k, v in base.items() if v is not None})
    if weights is not None and weights.record is not None:
        tag = weights.record
        # a tag registered without mean/std (add_pretrained_cfg) keeps the config's or default values
        pp.update({k: getattr(tag, k) for k in _PREPROCESS_FROM_TAG if getattr(tag, k) not in (None, (), "")})
    size = model_cfg.vision_cfg.image_size
    pp["size"] = tuple(size) if isinstance(size, (list, tuple)) else size
    pp.update({k: v for k, v in (force or {}).items() if v is not None})
    return normalize_preprocess_dict(pp, source=f"{source}: preprocess cfg")


def _check_image_size(cfg: ModelCfg, source: str) -> None:
    vision = cfg.vision_cfg
    if vision.timm_model_name or isinstance(vision.layers, (list, tuple)):
        check_image_size_fits(vision, source)
        return  # timm towers validate themselves; ResNets take any multiple of 32 handled below
    size = vision.image_size if isinstance(vision.image_size, (list, tuple)) else (vision.image_size,) * 2
    patch = vision.patch_size
    assert patch is not None, "a native ViT config has a patch size"
    bad = [s for s in size if s % patch]
    if bad:
        valid = patch * max(1, round(size[0] / patch))
        raise ValueError(
            f"{source}: image size {tuple(size)} is not divisible by the patch size {vision.patch_size} "
            f"(try {valid})"
        )
    check_image_size_fits(vision, source)


# create_model's force_* options, all applied here: to the model config, its preprocessing, its image tower.
FORCE_OPTIONS = (
    "force_quick_gelu", "force_custom_text", "force_patch_dropout", "force_image_size", "force_context_length",
    "force_preprocess_cfg", "force_naflex_vision",
)  # fmt: skip


def resolve(
    model_name: str,
    pretrained: str | None = None,
    *,
    load_weights: bool = True,
    cache_dir: str | None = None,
    **options: Any,
) -> ModelSpec:
    """Decide architecture, weights source and preprocessing without importing torch or downloading.

    ``options`` are create_model's ``force_*`` options (:data:`FORCE_OPTIONS`, as :func:`create_model` takes them;
    one not given is not forced), then model config keys, which have the last word (open_clip's
    ``model_kwargs``).
    """
    force = {name: options.pop(name) for name in FORCE_OPTIONS if name in options}
    schema, identifier = parse_model_name(model_name)
    base_preprocess: dict = {}
    if schema is None:
        raw, weights = _spec_from_registry(model_name, pretrained)
    else:
        raw, weights, base_preprocess = _spec_from_folder(schema, identifier, cache_dir)
        if pretrained:
            warnings.warn(
                f"pretrained={pretrained!r} is ignored: {model_name} names its own weights", stacklevel=3
            )
    raw = copy.deepcopy(raw)
    _apply_quick_gelu(raw, weights, bool(force.get("force_quick_gelu")))
    _apply_overrides(raw, force)
    raw.update(options)  # open_clip: model kwargs have the last word
    if force.get("force_naflex_vision"):  # open_clip main: the image tower becomes a NaFlexVit (weights converted)
        from ..registry.naflex import apply_force_naflex_vision

        apply_force_naflex_vision(raw)
    cfg = parse_model_config(raw, source=model_name)
    _check_image_size(cfg, model_name)
    if not load_weights:
        weights = None
    preprocess = _preprocess_for(cfg, weights, base_preprocess, force.get("force_preprocess_cfg"), model_name)
    return ModelSpec(model_name, cfg, weights, preprocess)


def require_weights(
    model_name: str,
    pretrained: str | None,
    random_weights: bool,
    cache_dir: str | None = None,
    tag_usage: str = "--pretrained TAG",
    random_usage: str = "--random-weights",
) -> None:
    """Refuse a model that would get random weights unless the caller allowed them (torch-free, builds nothing).

    A registry architecture has weights when ``pretrained`` names a tag or a file; a ``local-dir:`` or ``hf-hub:``
    model when its folder holds a checkpoint (its configs are read, fetched for the Hub). The CLI and the corpus
    embedder both apply this one rule; ``tag_usage`` and ``random_usage`` say how the caller takes the tag and the
    permission (the defaults are the CLI's flags).

    Raises:
        MissingWeightsError: no weights and not ``random_weights``.
        UnknownNameError: an unknown model or tag (close matches in the message).
        InputError: what :func:`resolve` refuses in the model's configs (e.g. a model too large for this machine).
    """
    schema, _ = parse_model_name(model_name)
    if schema is None and not pretrained and not random_weights:
        _spec_from_registry(model_name, None)  # an unknown name fails here, with close matches
        raise MissingWeightsError(
            f"{model_name}: no pretrained weights given; pass {tag_usage} or a weights file "
            f"(see `clipzoo pretrained {model_name}`), or {random_usage} to use random weights"
        )
    # an unknown name or tag, a missing file or a config too large for this machine fails here, before any
    # build; a folder names its own weights
    spec = resolve(model_name, pretrained if schema is None else None, cache_dir=cache_dir)
    if spec.weights is None and not random_weights:
        raise MissingWeightsError(f"{model_name} holds no weights file; add {random_usage} to use random weights")


# ---------------------------------------------------------------------------------------------------- build
