"""Architecture registry: JSON configs in ``model_configs/`` read lazily, validated, listed in natural order."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from ..errors import UnknownModelError
from .config import ConfigError, ModelCfg, parse_model_config

_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # the clipzoo package folder


def builtin_config_dir() -> Path:
    """Where the shipped configs live: inside the package when installed, at the repo top when editable."""
    for candidate in (_PACKAGE_DIR / "model_configs", _PACKAGE_DIR.parents[1] / "model_configs"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"clipzoo's model_configs/ folder is missing next to {_PACKAGE_DIR}")


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name.lower())]


class ModelRegistry:
    """Architecture configs by name; reads the built-in folder on first use, extra folders on request."""

    def __init__(self, builtin: bool = True) -> None:
        self._raw: dict[str, dict] = {}
        self._parsed: dict[str, ModelCfg] = {}
        self._sources: dict[str, Path] = {}
        self._pending: list[Path] = []
        if builtin:
            self._pending.append(builtin_config_dir())

    def _load_pending(self) -> None:
        while self._pending:
            self._read(self._pending.pop(0))

    def _read(self, path: Path) -> None:
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        for file in files:
            self.add_file(file)

    @staticmethod
    def _read_file(file: Path) -> tuple[dict, ModelCfg]:
        """Read and validate one JSON file (nothing is registered)."""
        try:
            raw = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ConfigError(
                f"{file}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})"
            ) from err
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{file}: cannot read the config file ({err})") from err
        return raw, parse_model_config(raw, str(file))

    def add_file(self, file: Path) -> str:
        """Validate one JSON file and register it under its file stem; returns the name."""
        raw, parsed = self._read_file(file)
        self._raw[file.stem] = raw
        self._parsed[file.stem] = parsed
        self._sources[file.stem] = file
        return file.stem

    def add(self, path: str | Path, overwrite: bool = False) -> list[str]:
        """Register a config file or every ``*.json`` in a folder, all or nothing; returns the names added.

        Every file is read and validated before any is registered, so one bad file registers none. A name that
        is already registered from another file (a built-in architecture, say) is replaced only with
        ``overwrite=True``.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"model config path {str(path)!r} does not exist")
        self._load_pending()
        files = [path] if path.is_file() else sorted(path.glob("*.json"))
        staged = [(file, *self._read_file(file)) for file in files]
        if not overwrite:
            for file, _, _ in staged:
                known = self._sources.get(file.stem)
                if known is not None and known.resolve() != file.resolve():
                    raise ConfigError(
                        f"{file}: the name {file.stem!r} is already registered from {known}; pass "
                        f"overwrite=True to replace it (nothing from {path} was registered)"
                    )
        for file, raw, parsed in staged:
            self._raw[file.stem], self._parsed[file.stem], self._sources[file.stem] = raw, parsed, file
        return [file.stem for file, _, _ in staged]

    def names(self) -> list[str]:
        """All registered architecture names, natural-sorted."""
        self._load_pending()
        return sorted(self._raw, key=_natural_key)

    def raw(self, name: str) -> dict | None:
        """A deep copy of the open_clip-format dict, or None when unknown."""
        self._load_pending()
        raw = self._raw.get(name)
        return copy.deepcopy(raw) if raw is not None else None

    def parsed(self, name: str) -> ModelCfg | None:
        """The typed config (a deep copy), or None when unknown."""
        self._load_pending()
        cfg = self._parsed.get(name)
        return copy.deepcopy(cfg) if cfg is not None else None

    def source(self, name: str) -> Path | None:
        """The file a config was read from."""
        self._load_pending()
        return self._sources.get(name)


_REGISTRY = ModelRegistry()


def reset_registry(builtin: bool = True) -> ModelRegistry:
    """Start over with a fresh registry (for tests); returns it."""
    global _REGISTRY
    _REGISTRY = ModelRegistry(builtin=builtin)
    return _REGISTRY


def list_models() -> list[str]:
    """Names of all known architectures, in natural sort order.

    Returns:
        The built-in architectures (read from ``model_configs/`` on first use) and those added with
        :func:`add_model_config`, numbers compared as numbers (``RN50`` before ``RN101``). Image-text and
        audio-text (CLAP) architectures are listed together, as open_clip's main branch does; keep one kind with
        ``[n for n in list_models() if model_modality(n) == "image-text"]`` (open_clip 3.3.0's answer, plus
        clipzoo's own image-text configs).

    Raises:
        ConfigError: a built-in config file is malformed (it is read and validated on first use).
    """
    return _REGISTRY.names()


def get_model_config(model_name: str) -> dict | None:
    """The architecture's config as open_clip's JSON dict (``embed_dim``, ``vision_cfg``, ``text_cfg``, ...).

    Args:
        model_name: A registered architecture name, exactly as :func:`list_models` spells it (no
            ``hf-hub:``/``local-dir:`` prefixes, no pretrained tag).

    Returns:
        A deep copy of the config (changing it changes nothing registered), or None when the name is unknown
        (as open_clip does; :class:`UnknownModelError` is raised by the factory functions instead).

    Raises:
        ConfigError: a built-in config file is malformed (they are read and validated on first use).
    """
    return _REGISTRY.raw(model_name)


def get_typed_model_cfg(model_name: str) -> ModelCfg:
    """The validated :class:`ModelCfg` (the dict: ``get_model_config``); UnknownModelError when unknown."""
    cfg = _REGISTRY.parsed(model_name)
    if cfg is None:
        raise unknown_model(model_name)
    return cfg


def unknown_model(model_name: str) -> UnknownModelError:
    """The :class:`UnknownModelError` for ``model_name``, its message with close matches among the architectures."""
    return UnknownModelError(model_name, list_models())


MODALITIES = ("image-text", "audio-text")


def model_modality(model_name: str) -> str:
    """``'image-text'`` or ``'audio-text'``: what the architecture pairs with text (from its config's towers).

    Raises:
        UnknownModelError: ``model_name`` is not registered.
    """
    return get_typed_model_cfg(model_name).modality


def get_config_source(model_name: str) -> Path | None:
    """The JSON file an architecture was read from, or None when unknown."""
    return _REGISTRY.source(model_name)


def add_model_config(path: str | Path, overwrite: bool = False) -> None:
    """Register a config file, or every ``*.json`` file in a folder (errors name the file and the problem).

    Args:
        path: a JSON config file (registered under its file stem) or a folder of them.
        overwrite: replace architectures of the same name registered from other files (built-ins included).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigError: a file is not valid JSON or not a valid config, or a name is taken and ``overwrite`` is
            False; then nothing from ``path`` is registered.
    """
    _REGISTRY.add(path, overwrite=overwrite)

