"""Every error a clipzoo caller catches, in one place (stdlib only: the CLI maps them to exit statuses), and the
one close-match helper every "unknown name" message uses.

Each error belongs to one category (:class:`UnknownNameError`, :class:`InputError`, :class:`NetworkError` with its
:class:`IntegrityError`, or the root :class:`ClipzooError`), which ``clipzoo.cli`` turns into an exit status in one
table; the stdlib bases beside it (``ValueError``, ``KeyError``, ``FileNotFoundError``, ...) keep the errors that
open_clip raises catchable as open_clip's callers catch them. The modules that raise an error import it from here
(and keep its name importable where it used to live). Errors that meant the same are one class here, with their
former names kept as aliases (see the end of this module).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Sequence
from typing import Any


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


# ---------------------------------------------------------------------------------------------------- unknown names


def _is_folder(name: object) -> bool:
    try:
        return isinstance(name, str) and bool(name) and os.path.isdir(os.path.expanduser(name))
    except (OSError, ValueError):  # a name no file system accepts (NUL characters, too long)
        return False


class UnknownModelError(UnknownNameError, KeyError, ValueError):
    """An architecture name that is not registered; the message lists close matches among ``known``."""

    def __init__(self, model_name: str, known: Iterable[str] = ()) -> None:
        self.model_name = model_name
        if _is_folder(model_name):  # a path given where a name goes: say how to load a folder
            hint = f"; it is a folder: load it with 'local-dir:{model_name}'"
        else:
            hint = "; " + (did_you_mean(model_name, known, n=5) or "see `clipzoo models` for the list")
        self.message = f"unknown model {model_name!r}{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class UnknownTagError(UnknownNameError, KeyError, ValueError):
    """A tag the model does not have; the message lists close matches among that model's ``tags``."""

    def __init__(self, model: str, tag: str, tags: Sequence[str] = ()) -> None:
        self.model, self.tag = model, tag
        tags = list(tags)
        if not tags:
            self.message = f"no pretrained weights are registered for model {model!r} (asked for tag {tag!r})"
        else:
            close = close_matches(tag, tags) or tags[:5]
            more = f" (and {len(tags) - len(close)} more)" if len(tags) > len(close) else ""
            self.message = f"unknown pretrained tag {tag!r} for {model}; known tags: {', '.join(close)}{more}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class UnknownMetricError(UnknownNameError, KeyError, ValueError):
    """A metric id that has no published results; the message lists close matches."""

    def __init__(self, metric: str, known: list[str]) -> None:
        self.metric = metric
        self.message = unknown_choice_message("metric", metric, known, listed=5) + " (see clipzoo.list_metrics())"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class ProfileNotFoundError(UnknownNameError, KeyError, ValueError):
    """An architecture without a stored profile (a config registered at run time, or one changed on disk)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.message = (
            f"no stored profile for architecture {model!r}: profiles cover clipzoo's built-in configs; "
            "compute one with `python scripts/profile_models.py --models NAME`"
        )
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class PretrainedNotFoundError(UnknownNameError, ValueError):
    """``pretrained`` is neither a tag of the model nor an existing file."""


class UnknownRepoError(UnknownNameError, LookupError):
    """An ``hf-hub:`` repository that is neither an open_clip nor a transformers CLIP/SigLIP repo."""


class OpenAIModelNotFoundError(UnknownNameError, RuntimeError):
    """Neither a model with the ``openai`` tag nor an existing checkpoint file."""


class ProgramNotFoundError(UnknownNameError, FileNotFoundError):
    """``clipzoo run`` was given a program that is neither a file nor on PATH / in this environment's bin."""


# ---------------------------------------------------------------------------------------------------- input


class ConfigError(InputError, ValueError):
    """An invalid model config (a file, an override, a model folder's, a NaFlex tower's); the message says why.

    Covers an architecture file, a ``model_kwargs`` override, a model folder's config file, and a tower that
    cannot be (or be used as) a NaFlex tower.
    """


class MissingFolderConfigError(ConfigError, FileNotFoundError):
    """A model folder without any config file clipzoo can read."""


class CheckpointError(InputError, ValueError):
    """A file that cannot be read as a checkpoint, or whose weights do not fit the model."""


class ArgumentError(InputError, ValueError):
    """A public function got a value it cannot use; the message names it and says what would be right.

    Covers arguments and options, labels, templates and token ids, and malformed NaFlex batches.
    """


class ArgumentTypeError(ArgumentError, TypeError):
    """A public function got an argument of the wrong type."""


class UnknownArgumentError(ArgumentTypeError):
    """A keyword argument that the function does not take (the message suggests the closest known ones)."""


class UnsupportedOptionError(ArgumentError):
    """An open_clip option that clipzoo's implementation does not have (the message says what to use)."""


class IntermediatesError(InputError, ValueError):
    """Intermediate features were asked for with indices, a format or inputs the model cannot serve."""


class CaptioningUnsupportedError(InputError, TypeError):
    """The model has no multimodal text decoder, so it cannot write captions."""


class InferencePathError(InputError, ValueError):
    """The requested inference path is unknown or cannot run here (the message says why and what would)."""


class MissingWeightsError(InputError, ValueError):
    """The model would get random weights and the caller did not allow it (``random_weights=True``)."""


class AudioError(InputError, ValueError):
    """Audio that cannot be used: unreadable, empty, corrupt, the wrong type, non-finite or absurdly long."""


class AudioNotFoundError(AudioError, FileNotFoundError):
    """An audio path that does not exist."""


class AudioInputError(InputError, TypeError):
    """``encode_audio`` got an input its tower cannot take (the message says what it takes)."""


class ImageSizeError(InputError, ValueError):
    """Images of a size the image tower does not take; the message says which it takes and how to run others."""


class ModelTooLargeError(InputError, ValueError):
    """An architecture whose parameters alone need more memory than this machine has (refused before building)."""


class ImageReadError(InputError, OSError):
    """An image file could not be opened or decoded; the message names the file."""


class ImageNotFoundError(ImageReadError, FileNotFoundError):
    """The image file does not exist."""


class PixelLimitError(InputError, ValueError):
    """``CLIPZOO_MAX_IMAGE_PIXELS`` is not a number of pixels (nor ``none``)."""


class BatchItemError(InputError, RuntimeError):
    """Preprocessing one item of a batch failed; names the item and chains the original error."""

    def __init__(self, index: int, source: str, error: BaseException) -> None:
        super().__init__(f"failed to preprocess item {index} ({source}): {type(error).__name__}: {error}")
        self.index, self.source = index, source


class SourceError(InputError, FileNotFoundError):
    """A source that does not exist, matches nothing, or cannot be read as a list (status 2, before any work)."""


class OnnxFolderError(InputError, ValueError):
    """A folder that is not a readable clipzoo ONNX export; the message names the file and the key."""


class OnnxRuntimeMissingError(OnnxFolderError, ImportError):
    """onnxruntime is not installed (it comes with the ``onnx`` extra)."""


class UnsafeTargetError(InputError, ValueError):
    """A target that clipzoo will not write or replace; the message says why and what to give instead.

    Such as a folder clipzoo did not write, or another run's output (other model or options).
    """


class OutputPathError(InputError, ValueError):
    """A file cannot be written where asked: a missing folder, a file in the way, or an unsupported format."""


class NotAPythonProgramError(InputError, ValueError):
    """``clipzoo run`` was given a program that is not Python source (a binary or a shell script)."""


# ---------------------------------------------------------------------------------------------------- network


class DownloadError(NetworkError, RuntimeError):
    """A file could not be fetched; the message says which file and what to do."""


class OfflineError(DownloadError):
    """Offline mode is on and the file is not in the cache."""


class NotFoundError(DownloadError, FileNotFoundError):
    """The server or Hub repo has no such file (or the local path does not exist): retrying will not help."""


class ChecksumError(DownloadError, IntegrityError):
    """A downloaded file's SHA-256 does not match the one its source publishes."""


class OpenClipChecksumError(ChecksumError, RuntimeError):
    """The downloaded file's SHA-256 does not match (open_clip raises a ``RuntimeError`` with this text)."""


class DownloadTimeoutError(DownloadError, TimeoutError):
    """The server did not answer within the timeout on any attempt."""


# ---------------------------------------------------------------------------------------------------- export and the rest


class ExportError(ClipzooError, RuntimeError):
    """The export could not be completed (nothing was written at the target)."""


class ExportTargetError(ExportError, UnsafeTargetError):
    """The target cannot be used: one overwrite may not replace, or not writable, or the disk is full."""


class ExportBusyError(ExportError):
    """Another export into the same target holds its lock (or wrote the target while this one waited)."""


class UnsupportedArchitectureError(ExportError, InputError):
    """The model (architecture, preprocessing or tokenizer) has no transformers equivalent; nothing was written."""


class OnnxExportError(ExportError):
    """A model (or a tower of it) that cannot be exported to ONNX; the message says which and why."""


class PlotDependencyError(ClipzooError, ImportError):
    """matplotlib is not installed; the message names the extra that provides it."""


class OpenClipConflictError(ClipzooError, ImportError):
    """The real open_clip is already imported in this process, so it cannot be aliased to clipzoo."""


class DemoError(ClipzooError, RuntimeError):
    """The demo cannot run (e.g. the packaged weights are missing); the message says how to fix it."""


class LockBusyError(ClipzooError, TimeoutError):
    """Another process held the lock beside a target until the timeout ran out.

    Args:
        target: The locked target.
        lock_path: The lock file.
        holder: ``'pid N'`` of the process holding it, or ``''`` when it did not say.
        timeout: The seconds waited.
    """

    def __init__(
        self, target: os.PathLike[str], lock_path: os.PathLike[str], holder: str, timeout: float
    ) -> None:
        self.target, self.lock_path, self.holder, self.timeout = target, lock_path, holder, timeout
        who = f"{holder}, " if holder else ""
        super().__init__(
            f"{target} is being written by another process ({who}lock {lock_path}; waited {timeout:g} s)"
        )


class JitFallbackWarning(UserWarning):
    """``jit=True`` was asked for but the model could not be scripted; the eager model is returned."""


# Former names of errors that meant the same, merged into one class each (callers still catch them by these names).
ZeroShotInputError = OnnxInputError = GenerationArgumentError = EmbedOptionError = NaFlexInputError = ArgumentError
FolderConfigError = NaFlexConfigError = ConfigError
ForeignOutputError = UnsafeTargetError


def __getattr__(name: str) -> Any:
    """``ImageTooLargeError`` is made on first use: its second base is PIL's ``DecompressionBombError``, and
    importing this module stays stdlib-only."""
    if name != "ImageTooLargeError":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from PIL.Image import DecompressionBombError

    cls = type(
        "ImageTooLargeError",
        (ImageReadError, DecompressionBombError),
        {"__doc__": "The image has more pixels than PIL's decompression-bomb limit; the message says how to "
         "raise it.", "__module__": __name__},
    )  # fmt: skip
    globals()[name] = cls
    return cls


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
