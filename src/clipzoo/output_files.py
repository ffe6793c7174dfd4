"""Checks on a file a command is about to write, made before the work (stdlib only).

A plot or a demo picture is written at the end of its work; a folder that does not exist, a path through a file,
or a format nothing can write would otherwise fail only then, with an error about a temporary file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .errors import InputError

__all__ = ["OutputPathError", "check_output_file"]


class OutputPathError(InputError, ValueError):
    """A file cannot be written where asked: a missing folder, a file in the way, or an unsupported format."""


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_output_file(
    path: str | os.PathLike,
    formats: Iterable[str] | None = None,
    *,
    create_parents: bool = False,
    what: str = "output file",
) -> Path:
    """Check that ``path`` can be written as a file of one of ``formats`` (suffixes without the dot).

    Args:
        path: The file to write.
        formats: The suffixes the writer supports (lowercase, without the dot); None accepts any.
        create_parents: The writer creates missing folders; then only an existing ancestor has to be a
            writable folder.
        what: What the file is, for the message (e.g. ``"--plot file"``).

    Returns:
        ``path`` as a Path, ``~`` expanded.

    Raises:
        OutputPathError: the path is a folder, a folder on the way is a file or is missing (without
            ``create_parents``) or not writable, or the suffix is not one of ``formats``.
    """
    path = Path(path).expanduser()
    if formats is not None:
        formats = sorted(set(formats))
        suffix = path.suffix.lower().lstrip(".")
        if suffix not in formats:
            got = f"'.{suffix}'" if suffix else "no suffix"
            raise OutputPathError(f"{what} {str(path)!r}: {got} is not a format it can write; use one of "
                                  f"{', '.join('.' + f for f in formats)}")  # fmt: skip
    if path.is_dir():
        raise OutputPathError(f"{what} {str(path)!r} is a folder; give a file name inside it")
    parent = path.absolute().parent
    existing = _nearest_existing(parent)
    if not existing.is_dir():
        raise OutputPathError(f"{what} {str(path)!r}: {str(existing)!r} is a file, not a folder")
    if existing != parent and not create_parents:
        raise OutputPathError(
            f"{what} {str(path)!r}: the folder {str(parent)!r} does not exist; create it first"
        )
    if not os.access(existing, os.W_OK):
        raise OutputPathError(f"{what} {str(path)!r}: no permission to write in {str(existing)!r}")
    return path
