"""The retry policy of downloads, and the sorting of failures into final and worth another attempt.

Tuning, from the environment at call time (arguments win)
  ``CLIPZOO_DOWNLOAD_TIMEOUT``: seconds a socket may wait (default 30; for Hub files it bounds the metadata request,
  the body follows ``HF_HUB_DOWNLOAD_TIMEOUT``); ``CLIPZOO_DOWNLOAD_RETRIES``: extra attempts after a 5xx, dropped
  connection, timeout or short body (default 2); ``CLIPZOO_DOWNLOAD_BACKOFF``: seconds before the first retry,
  doubled each time (default 0.5). Hub requests are already retried by huggingface_hub (5xx, connection errors,
  timeouts: 5 retries, backoff up to 8 s); clipzoo adds its retries there only for bodies cut short, which
  huggingface_hub leaves to the next call to resume.

A host whose name does not resolve, or that refuses or cannot be routed to, is never retried: no retry fixes it.
"""

from __future__ import annotations

import errno
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import OFFLINE_HINT, DownloadError, DownloadTimeoutError

__all__ = [
    "RetryPolicy",
    "TransientError",
    "causes",
    "is_timeout",
    "is_transport_error",
    "is_unreachable",
    "retry_policy",
    "root_cause",
    "unreachable_message",
    "with_retries",
]

T = TypeVar("T")

# Failures no retry can fix: the name does not resolve, the host refuses or cannot be routed to.
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL}


class TransientError(Exception):
    """A failure worth another attempt: 5xx, dropped connection, timeout, short body.

    Args:
        reason: What went wrong, for the final message.
        timed_out: The failure was a timeout (the final error is then a :class:`DownloadTimeoutError`).
    """

    def __init__(self, reason: str, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


@dataclass(frozen=True)
class RetryPolicy:
    """How long a socket may wait, how many extra attempts follow a transient failure, and the first backoff.

    Attributes:
        timeout: Seconds a socket may wait.
        retries: Extra attempts after a transient failure.
        backoff: Seconds before the first retry, doubled for each one after.
    """

    timeout: float
    retries: int
    backoff: float

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        return self.backoff * 2**attempt


def _env_number(name: str, default: float, kind: type) -> Any:
    """A number from the environment, or ``default`` when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(
            f"{name}={raw!r} is not a valid {kind.__name__}; unset it or set e.g. {default}"
        ) from None


def retry_policy(timeout: float | None, retries: int | None) -> RetryPolicy:
    """Timeout, retry count and backoff: explicit arguments, else the environment, else the defaults.

    Args:
        timeout: Seconds a socket may wait; None reads ``CLIPZOO_DOWNLOAD_TIMEOUT`` (default 30).
        retries: Extra attempts; None reads ``CLIPZOO_DOWNLOAD_RETRIES`` (default 2).

    Returns:
        The policy; the backoff always comes from ``CLIPZOO_DOWNLOAD_BACKOFF`` (default 0.5).

    Raises:
        ValueError: a setting is not a number, or out of range.
    """
    policy = RetryPolicy(
        timeout=float(timeout)
        if timeout is not None
        else _env_number("CLIPZOO_DOWNLOAD_TIMEOUT", 30.0, float),
        retries=int(retries) if retries is not None else _env_number("CLIPZOO_DOWNLOAD_RETRIES", 2, int),
        backoff=_env_number("CLIPZOO_DOWNLOAD_BACKOFF", 0.5, float),
    )
    if policy.retries < 0 or policy.timeout <= 0 or policy.backoff < 0:
        raise ValueError(
            f"download settings out of range: {policy}; need retries >= 0, timeout > 0, backoff >= 0"
        )
    return policy


def with_retries(attempt: Callable[[], T], policy: RetryPolicy, failure: str) -> T:
    """``attempt()``'s result, calling it again after each :class:`TransientError`, with exponential backoff.

    Args:
        attempt: One try; raises :class:`TransientError` when another try may succeed.
        policy: How many tries and how long to wait between them.
        failure: The start of the final message, e.g. ``"RN50: could not fetch URL"``.

    Returns:
        What the first successful attempt returned.

    Raises:
        DownloadTimeoutError: every attempt failed and the last one timed out.
        DownloadError: every attempt failed.
    """
    for number in range(policy.retries + 1):
        try:
            return attempt()
        except TransientError as failed:
            last = failed
            if number < policy.retries:
                time.sleep(policy.delay(number))
    error = DownloadTimeoutError if last.timed_out else DownloadError
    raise error(f"{failure} ({policy.retries + 1} attempts): {last}") from last.__cause__


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and the chain of exceptions behind it (``__cause__``, else ``__context__``)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def root_cause(error: BaseException) -> str:
    """The message of the innermost exception behind ``error`` (its class name when it has none)."""
    return str(list(causes(error))[-1]) or error.__class__.__name__


def is_timeout(error: BaseException) -> bool:
    """Whether ``error`` or an exception behind it is a timeout (built-in, or named ``*Timeout*``)."""
    return any(isinstance(e, TimeoutError) or "Timeout" in type(e).__name__ for e in causes(error))


def is_transport_error(error: BaseException) -> bool:
    """Whether ``error`` is a network-level failure of the HTTP client huggingface_hub uses (requests or httpx)."""
    transport = ("requests.exceptions", "httpx", "urllib3.exceptions")
    return isinstance(error, (ConnectionError, TimeoutError)) or type(error).__module__.startswith(transport)


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` (or a cause) says the host cannot be resolved or connected to."""
    for cause in causes(error):
        reason = getattr(cause, "reason", None)
        for e in (cause, reason):
            if isinstance(e, socket.gaierror | ConnectionRefusedError):
                return True
            if isinstance(e, OSError) and e.errno in _UNREACHABLE_ERRNOS:
                return True
        if type(cause).__name__ in ("NameResolutionError", "NewConnectionError"):
            return True
    return False


def unreachable_message(where: str, error: BaseException) -> str:
    """``"cannot reach WHERE (cause); set HF_HUB_OFFLINE=1 to use the cache only"``."""
    return f"cannot reach {where} ({root_cause(error)}); {OFFLINE_HINT}"
