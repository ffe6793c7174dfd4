"""The error categories every clipzoo error belongs to (stdlib only: the CLI maps them to exit statuses),
and the one close-match helper every "unknown name" message uses.

Library modules raise their own typed errors (``UnknownModelError``, ``CheckpointError``, ``ChecksumError``,
...), each a subclass of one category here; callers can catch a category without importing the module that
raised it, and ``clipzoo.cli`` turns a category into an exit status in one table.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class ClipzooError(Exception):
    """Base of every error clipzoo raises on purpose (status 1 on the command line)."""


class UnknownNameError(ClipzooError):
    """An unknown model, pretrained tag, Hub repository or other name (status 2)."""


class InputError(ClipzooError):
    """A file or value given by the caller that cannot be used: config, checkpoint, image, labels (status 2)."""


class NetworkError(ClipzooError):
    """A download failed, timed out, or was not allowed (offline) (status 3)."""


class IntegrityError(NetworkError):
    """Downloaded bytes do not match their published checksum (status 4)."""


class CheckpointError(InputError, ValueError):
    """A file that cannot be read as a checkpoint, or whose weights do not fit the model.

    It lives here, not in :mod:`clipzoo.checkpoint`, because the format converters (:mod:`clipzoo.formats`),
    which the checkpoint loader uses, raise it too.
    """


# ---------------------------------------------------------------------------------------------------- close matches

CLOSE_MATCH_CUTOFF = 0.5  # difflib similarity below which a known name is not offered as a correction


def close_matches(name: object, choices: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``choices`` closest to ``name`` (case-insensitive, one cutoff for all of clipzoo).

    Args:
        name: what the caller gave (any value; compared as text).
        choices: the known names.
        n: how many matches at most.

    Returns:
        The close matches, closest first, spelled as in ``choices``.
    """
    lowered: dict[str, str] = {}
    for choice in choices:
        lowered.setdefault(str(choice).lower(), str(choice))
    found = difflib.get_close_matches(str(name).lower(), list(lowered), n=n, cutoff=CLOSE_MATCH_CUTOFF)
    return [lowered[f] for f in found]


def did_you_mean(name: object, choices: Iterable[str], n: int = 3) -> str:
    """``"did you mean 'a', 'b'?"`` for the close matches of ``name`` among ``choices``, or ``""`` when none.

    Args:
        name: what the caller gave.
        choices: the known names.
        n: how many matches at most.

    Returns:
        The hint, to be joined into an error message (``f"unknown x {v!r}; {hint}"``).
    """
    close = close_matches(name, choices, n)
    return f"did you mean {', '.join(map(repr, close))}?" if close else ""


def unknown_choice_message(what: str, value: object, choices: Sequence[str], listed: int = 12) -> str:
    """``unknown {what} {value!r}; did you mean ...? known: a, b, c (and N more)``: clipzoo's one wording.

    Args:
        what: the kind of name (``"precision"``, ``"model"``, ...).
        value: what the caller gave.
        choices: the known names.
        listed: how many known names to list at most.

    Returns:
        The message.
    """
    hint = did_you_mean(value, choices)
    known = ", ".join(map(str, choices[:listed])) + (f" (and {len(choices) - listed} more)" if len(choices) > listed else "")
    return f"unknown {what} {value!r}; " + (f"{hint} " if hint else "") + f"known: {known}"


def choice_error(what: str, value: object, choices: Sequence[str]) -> ValueError:
    """The ValueError for ``value`` outside ``choices``, in :func:`unknown_choice_message`'s wording.

    Args:
        what: the kind of name.
        value: what the caller gave.
        choices: the known names.

    Returns:
        The error, to be raised by the caller.
    """
    return ValueError(unknown_choice_message(what, value, list(choices)))
