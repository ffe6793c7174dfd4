"""The ``clipzoo`` command line: every parser and command lives in this package, and only here.

Layout: one module per command group (``registry_cmds``, ``download``, ``export``, ``classify``, ``caption``,
``demo``, ...). Each module defines ``add_parsers(subparsers)`` and command functions ``cmd_*(args) -> int``.
Module level imports are stdlib and torch-free clipzoo modules only; a command imports what it needs (torch,
the factory, ...) when it runs, so the registry commands answer without importing torch.

Library code never prints, exits or imports this package: it returns values and raises typed errors
(:mod:`clipzoo.errors`). :func:`main` turns any error into one line on stderr and an exit status, in one table:

====== ==============================================================================
status meaning
====== ==============================================================================
0      success
1      anything else (one line; ``--debug`` prints the traceback)
2      unknown model, tag or repo; bad input file or value; bad usage
3      network failure, timeout, or offline without a cached file
4      checksum mismatch (nothing was cached)
====== ==============================================================================

To add a command: write ``add_parsers(sub)`` in a module here and list the module in ``COMMAND_MODULES``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from ..errors import InputError, IntegrityError, NetworkError, UnknownNameError
from .common import EXIT_FAILURE, EXIT_USAGE, CliError

# Each module registers its subcommands, in this order in `clipzoo --help`.
COMMAND_MODULES = ("registry_cmds", "download", "cache", "export", "classify", "caption", "corpus", "demo", "run")

# Most specific first: an error is mapped by the first category it belongs to.
EXIT_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (CliError, -1),  # carries its own status
    (IntegrityError, 4),
    (UnknownNameError, EXIT_USAGE),
    (InputError, EXIT_USAGE),
    (NetworkError, 3),
    (FileNotFoundError, EXIT_USAGE),  # a path given by the caller that does not exist
    (IsADirectoryError, EXIT_USAGE),
    (NotADirectoryError, EXIT_USAGE),
)


def exit_status(error: BaseException) -> int:
    """The exit status for ``error`` (see the table in this module's docstring)."""
    for kind, status in EXIT_STATUS:
        if isinstance(error, kind):
            return error.status if isinstance(error, CliError) else status
    return EXIT_FAILURE


def error_line(error: BaseException) -> str:
    """``clipzoo: error: <message>`` on one line, whatever the error."""
    message = (
        error.args[0] if isinstance(error, KeyError) and type(error).__str__ is KeyError.__str__ else error
    )
    text = " ".join(str(message).split()) or type(error).__name__
    if exit_status(error) == EXIT_FAILURE and not isinstance(error, CliError):
        text = f"{type(error).__name__}: {text}"
    return f"clipzoo: error: {text}"


def _version() -> str:
    from .. import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="clipzoo", description="CLIP-family models, open_clip-compatible.")
    parser.add_argument("--version", action="version", version=f"clipzoo {_version()}")
    parser.add_argument("--debug", action="store_true", help="print the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").add_parsers(sub)
    for command in dict.fromkeys(sub.choices.values()):
        _add_global_flags(command)
    return parser


def _add_global_flags(command: argparse.ArgumentParser) -> None:
    """Accept the global flags after the command too (``clipzoo classify --debug ...``).

    Not for ``run``, whose arguments after the program belong to the program (it takes no ``-`` options).
    """
    if "-" not in command.prefix_chars:
        return
    known = {option for action in command._actions for option in action.option_strings}
    if "--debug" not in known:
        # SUPPRESS: given before the command, the value set there is kept
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    if "--version" not in known:
        command.add_argument("--version", action="version", version=f"clipzoo {_version()}", help=argparse.SUPPRESS)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``clipzoo`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("clipzoo: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # every error ends as one line and a status; --debug shows where it came from
        if args.debug:
            traceback.print_exc()
        print(error_line(err), file=sys.stderr)
        return exit_status(err)


__all__ = ["CliError", "build_parser", "error_line", "exit_status", "main"]
