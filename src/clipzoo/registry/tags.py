"""Pretrained-tag registry: ``pretrained_tags.json`` (presets + per-tag overrides), with one tag normalizer.

Tags are case- and separator-insensitive: ``laion-400m-e32``, ``LAION400M_E32`` and ``laion400m_e32`` are one
tag. Every function here goes through :func:`normalize_tag`.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

from ..errors import UnknownTagError

_TAGS_FILE = Path(__file__).resolve().parent / "pretrained_tags.json"
_QUICKGELU_SUFFIX = "-quickgelu"
_SEPARATORS = re.compile(r"[\s_\-.]+")


def normalize_tag(tag: str) -> str:
    """Canonical form of a tag: lower case with separators (``-``, ``_``, ``.``, spaces) removed.

    Args:
        tag: A pretrained tag in any spelling (``'LAION400M-E32'``, ``'laion400m_e32'``, ...).

    Returns:
        The key every tag lookup uses (``'laion400me32'``); two spellings name one tag when their keys match.

    Raises:
        TypeError: ``tag`` is not a string.
    """
    if not isinstance(tag, str):
        raise TypeError(f"a pretrained tag must be a string, got {type(tag).__name__}")
    return _SEPARATORS.sub("", tag.strip().lower())


@dataclass(frozen=True)
class PretrainedCfg:
    """One (model, tag) record: where the weights live and how images must be preprocessed."""

    model: str
    tag: str
    url: str = ""
    hf_hub: str = ""
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    interpolation: str = "bicubic"
    resize_mode: str = "shortest"
    quick_gelu: bool | None = None
    file: str = ""  # a weights file shipped inside the package (relative to it)
    extra: tuple[tuple[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The open_clip-shaped dict (``quick_gelu`` only when the tag sets it)."""
        out: dict[str, Any] = {
            "url": self.url,
            "hf_hub": self.hf_hub,
            "mean": self.mean,
            "std": self.std,
            "interpolation": self.interpolation,
            "resize_mode": self.resize_mode,
        }
        if self.quick_gelu is not None:
            out["quick_gelu"] = self.quick_gelu
        if self.file:
            out["file"] = str(Path(__file__).resolve().parents[1] / self.file)
        out.update(copy.deepcopy(dict(self.extra)))
        return out


_RECORD_KEYS = {"url", "hf_hub", "mean", "std", "interpolation", "resize_mode", "quick_gelu", "file"}


def _make_record(model: str, tag: str, entry: dict, presets: dict, source: str) -> PretrainedCfg:
    entry = dict(entry)
    preset_name = entry.pop("preset", None)
    if preset_name is not None and preset_name not in presets:
        raise ValueError(
            f"{source}: {model}:{tag} names unknown preset {preset_name!r}; known: {sorted(presets)}"
        )
    merged = {**presets.get(preset_name, {}), **entry}
    extra = tuple(sorted((k, v) for k, v in merged.items() if k not in _RECORD_KEYS))
    fields = {k: v for k, v in merged.items() if k in _RECORD_KEYS}
    for key in ("mean", "std"):
        if key in fields:
            fields[key] = tuple(float(v) for v in fields[key])
    return PretrainedCfg(model=model, tag=tag, extra=extra, **fields)


class TagRegistry:
    """(model, tag) records, looked up by exact model name and normalized tag."""

    def __init__(self, path: Path = _TAGS_FILE) -> None:
        self._path = path
        self._models: dict[str, dict[str, PretrainedCfg]] | None = None

    def _load(self) -> dict[str, dict[str, PretrainedCfg]]:
        if self._models is None:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            models: dict[str, dict[str, PretrainedCfg]] = {}
            for model, tags in data["models"].items():
                models[model] = {
                    normalize_tag(tag): _make_record(model, tag, entry, data["presets"], str(self._path))
                    for tag, entry in tags.items()
                }
            self._models = _with_quickgelu_variants(models)
        return self._models

    def models(self) -> dict[str, dict[str, PretrainedCfg]]:
        """All records, by model then normalized tag."""
        return self._load()

    def add(self, model: str, tag: str, entry: dict) -> PretrainedCfg:
        """Register (or replace) one record at run time; ``entry`` uses the data file's keys."""
        models = self._load()
        record = _make_record(model, tag, entry, {}, "add_pretrained_cfg")
        models.setdefault(model, {})[normalize_tag(tag)] = record
        return record

    def get(self, model: str, tag: str) -> PretrainedCfg | None:
        """The record for (model, tag), or None."""
        return self._load().get(model, {}).get(normalize_tag(tag))


def _with_quickgelu_variants(
    models: dict[str, dict[str, PretrainedCfg]],
) -> dict[str, dict[str, PretrainedCfg]]:
    # As open_clip does, every tag trained with QuickGELU is also listed under "<model>-quickgelu".
    derived = {}
    for model, tags in models.items():
        quick = {key: rec for key, rec in tags.items() if rec.quick_gelu}
        if quick:
            name = model + _QUICKGELU_SUFFIX
            derived[name] = {
                key: PretrainedCfg(**{**rec.__dict__, "model": name}) for key, rec in quick.items()
            }
    return {**models, **derived}


_TAGS = TagRegistry()


def reset_tags(path: Path = _TAGS_FILE) -> TagRegistry:
    """Start over with a fresh tag registry (for tests); returns it."""
    global _TAGS
    _TAGS = TagRegistry(path)
    return _TAGS


# The return type follows ``as_str`` (pairs or strings), so a caller's type checker knows which it got.
@overload
def list_pretrained(as_str: Literal[False] = False) -> list[tuple[str, str]]: ...
@overload
def list_pretrained(as_str: Literal[True]) -> list[str]: ...
@overload
def list_pretrained(as_str: bool) -> list[tuple[str, str]] | list[str]: ...


def list_pretrained(as_str: bool = False) -> list[tuple[str, str]] | list[str]:
    """All published (architecture, pretrained tag) pairs.

    Args:
        as_str: Return ``'model:tag'`` strings instead of ``(model, tag)`` tuples.

    Returns:
        One entry per pair, tags in their canonical spelling; QuickGELU tags are listed under both ``MODEL``
        and ``MODEL-quickgelu`` (as open_clip does).
    """
    pairs = [(model, rec.tag) for model, tags in _TAGS.models().items() for rec in tags.values()]
    return [f"{m}:{t}" for m, t in pairs] if as_str else pairs


def list_pretrained_models_by_tag(tag: str) -> list[str]:
    """Architectures that have weights published under ``tag``.

    Args:
        tag: A pretrained tag in any spelling (compared after :func:`normalize_tag`).

    Returns:
        The architecture names, ``[]`` when no model has that tag.

    Raises:
        TypeError: ``tag`` is not a string.
    """
    key = normalize_tag(tag)
    return [model for model, tags in _TAGS.models().items() if key in tags]


def list_pretrained_tags_by_model(model: str) -> list[str]:
    """The pretrained tags published for one architecture.

    Args:
        model: An architecture name, exactly as :func:`clipzoo.list_models` spells it.

    Returns:
        The tags in their canonical spellings, ``[]`` for an unknown architecture or one without weights.
    """
    return [rec.tag for rec in _TAGS.models().get(model, {}).values()]


def is_pretrained_cfg(model: str, tag: str) -> bool:
    """Whether weights are published for ``model`` under ``tag``.

    Args:
        model: An architecture name, exactly as :func:`clipzoo.list_models` spells it.
        tag: A pretrained tag in any spelling (compared after :func:`normalize_tag`).

    Returns:
        True when the pair is registered.

    Raises:
        TypeError: ``tag`` is not a string.
    """
    return _TAGS.get(model, tag) is not None


def get_pretrained_cfg(model: str, tag: str) -> dict[str, Any]:
    """Where the weights of (model, tag) live and how its images are preprocessed, as open_clip's dict.

    Args:
        model: An architecture name, exactly as :func:`clipzoo.list_models` spells it.
        tag: A pretrained tag in any spelling (compared after :func:`normalize_tag`).

    Returns:
        A new dict with ``url``, ``hf_hub``, ``mean``, ``std``, ``interpolation``, ``resize_mode``, plus
        ``quick_gelu`` when the tag sets it, ``file`` (an absolute path) for weights shipped inside clipzoo,
        and any extra keys of the record (``sha256``, ...). ``{}`` when the pair is unknown (as open_clip
        does; the factory raises :class:`UnknownTagError` instead).

    Raises:
        TypeError: ``tag`` is not a string.
    """
    record = _TAGS.get(model, tag)
    return record.to_dict() if record is not None else {}


def get_typed_pretrained_cfg(model: str, tag: str) -> PretrainedCfg:
    """The :class:`PretrainedCfg` of (model, tag) (the dict: ``get_pretrained_cfg``); UnknownTagError if unknown."""
    record = _TAGS.get(model, tag)
    if record is None:
        raise unknown_tag(model, tag)
    return record


def unknown_tag(model: str, tag: str) -> UnknownTagError:
    """The :class:`UnknownTagError` for (model, tag), its message with close matches among the model's tags."""
    return UnknownTagError(model, tag, list_pretrained_tags_by_model(model))


def get_pretrained_url(model: str, tag: str) -> str:
    """The release URL of the weights of (model, tag).

    Args:
        model: An architecture name, exactly as :func:`clipzoo.list_models` spells it.
        tag: A pretrained tag in any spelling (compared after :func:`normalize_tag`).

    Returns:
        The URL, or ``''`` when the pair is unknown or its weights are published on the Hugging Face Hub only.

    Raises:
        TypeError: ``tag`` is not a string.
    """
    return get_pretrained_cfg(model, tag).get("url", "")


def add_pretrained_cfg(model: str, tag: str, cfg: dict[str, Any]) -> None:
    """Register (or replace) the weights record of (model, tag) for this process.

    Args:
        model: The architecture the weights are for (it need not be registered yet).
        tag: The tag to register; lookups find it in any spelling (see :func:`normalize_tag`).
        cfg: The record, with the keys of :func:`get_pretrained_cfg`'s result: a weights source (``hf_hub``
            ``'org/repo/'`` or ``'org/repo/file'``, ``url``, or ``file``, a path), optionally ``mean``, ``std``,
            ``interpolation``, ``resize_mode``, ``quick_gelu``; other keys (``sha256``, ...) are kept as is.
            ``interpolation`` and ``resize_mode`` default to bicubic and shortest; give ``mean`` and ``std``
            too (left out, they are recorded as empty tuples, not as OpenAI's defaults).

    Raises:
        TypeError: ``tag`` is not a string, or ``mean``/``std`` are not sequences of numbers.
        ValueError: ``cfg`` names a ``preset`` (presets exist only in the shipped tag file), or ``mean``/``std``
            hold values that are not numbers.
    """
    _TAGS.add(model, tag, cfg)

