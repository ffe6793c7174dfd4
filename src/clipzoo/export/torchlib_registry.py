"""torch.onnx.export's op registry, built once per process instead of once per graph.

``torch.onnx.export(..., dynamo=True)`` rebuilds its ``ONNXRegistry`` from onnxscript's torchlib on every call:
about 1 s of CPU per graph (onnxscript re-reads and re-parses the source of ~1000 torchlib functions), the same
work each time. An ONNX folder is two graphs and a process (a test run, a script exporting several models) may
write many. The registry is a function of the opset alone, so inside :func:`torchlib_registry_built_once`
``ONNXRegistry.from_torchlib`` returns a copy of the registry it built the first time for that opset: the
exporter writes the same bytes (checked on tiny-digits, ViT-B-32 and the test families: identical files).

The class lives in torch's private exporter package; when a torch release moves it, the scope changes nothing
(every export builds its own registry, as before) and ``tests/test_onnx.py`` fails to say so.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

_GUARD = threading.Lock()
_BUILT: dict[tuple[Any, ...], Any] = {}  # (class, arguments) -> the registry from_torchlib built for them
_scopes = 0  # scopes open in this process (threads may export at once); the last to close restores torch
_original: Any = None  # torch's from_torchlib (the classmethod object) while a scope is open


def registry_class() -> Any:
    """torch's ``ONNXRegistry`` class, or None where this torch has no such private class."""
    try:
        from torch.onnx._internal.exporter._registration import ONNXRegistry
    except ImportError:
        return None
    return ONNXRegistry if isinstance(ONNXRegistry.__dict__.get("from_torchlib"), classmethod) else None


def _copy(registry: Any) -> Any:
    """A registry whose op table can change (torch.onnx.export registers custom ops into it) without touching
    the cached one; the entries themselves are shared read-only, as within one export."""
    clone = object.__new__(type(registry))
    clone.__dict__.update(registry.__dict__)
    clone.functions = {target: list(entries) for target, entries in registry.functions.items()}
    return clone


def _built_once(cls: Any, *args: Any, **kwargs: Any) -> Any:
    key = (cls, args, tuple(sorted(kwargs.items())))
    with _GUARD:
        registry, build = _BUILT.get(key), _original
    if build is None:  # called through a lookup made just before the last scope closed: torch's own again
        return cls.from_torchlib(*args, **kwargs)
    if registry is None:  # two threads may both build the first one: the same result, one kept
        registry = build.__func__(cls, *args, **kwargs)
        with _GUARD:
            registry = _BUILT.setdefault(key, registry)
    return _copy(registry)


@contextlib.contextmanager
def torchlib_registry_built_once() -> Iterator[None]:
    """Within this block every ``torch.onnx.export`` gets a copy of the registry built once per opset."""
    global _scopes, _original
    cls = registry_class()
    if cls is None:
        yield
        return
    with _GUARD:
        if _scopes == 0:
            _original = cls.__dict__["from_torchlib"]
            cls.from_torchlib = classmethod(_built_once)
        _scopes += 1
    try:
        yield
    finally:
        with _GUARD:
            _scopes -= 1
            if _scopes == 0:
                cls.from_torchlib = _original
                _original = None
