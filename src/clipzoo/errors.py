"""The error categories every clipzoo error belongs to (stdlib only: the CLI maps them to exit statuses).

Library modules raise their own typed errors (``UnknownModelError``, ``CheckpointError``, ``ChecksumError``,
...), each a subclass of one category here; callers can catch a category without importing the module that
raised it, and ``clipzoo.cli`` turns a category into an exit status in one table.
"""

from __future__ import annotations


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
