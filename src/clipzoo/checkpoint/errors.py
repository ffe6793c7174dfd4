"""The checkpoint error type, in a module of its own at the bottom of the import graph (stdlib only).

Both the loader (:mod:`clipzoo.checkpoint.load`) and the format converters (:mod:`clipzoo.formats.convert`) raise it; keeping
it here lets neither import the other for it.
"""

from __future__ import annotations

from ..errors import InputError


class CheckpointError(InputError, ValueError):
    """A file that cannot be read as a checkpoint, or whose weights do not fit the model."""
