"""``clipzoo run``: run a program written for open_clip on clipzoo (``import open_clip`` resolves to clipzoo)."""

from __future__ import annotations

import argparse
import traceback

from .common import CliError


def cmd_run(args: argparse.Namespace) -> int:
    """Run ``PROGRAM ARGS...`` (a console script) or ``-m MODULE ARGS...`` with the alias installed."""
    from ..compat.open_clip.alias import (
        NotAPythonProgramError,
        OpenClipConflictError,
        ProgramNotFoundError,
        run_program,
    )

    argv = list(args.argv)
    if argv[:1] in (["-h"], ["--help"]):
        args.run_parser.print_help()
        return 0
    # -m is read here, not by argparse, so that options after MODULE belong to the module
    module = len(argv) >= 2 and argv[0] == "-m"
    if module:
        argv = argv[1:]
    if not argv or argv[0].startswith("-"):
        raise CliError("clipzoo run needs a PROGRAM (a console script such as clip_benchmark) or -m MODULE")
    try:
        return run_program(argv[0], argv[1:], module=module)
    except (ProgramNotFoundError, NotAPythonProgramError, OpenClipConflictError):
        raise
    except Exception:  # the program's own failure: show it as Python would, with its status 1
        traceback.print_exc()
        return 1


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``run``."""
    # Everything after `run` belongs to the program: no option of our own ('+' is a prefix nobody types),
    # so -m and the program's options reach cmd_run untouched; -h/--help is answered there.
    p = sub.add_parser(
        "run",
        prefix_chars="+",
        add_help=False,
        help="run a program written for open_clip with clipzoo serving `import open_clip`",
        description="Run a console script (found on PATH or in this environment) or `-m MODULE` in this "
        "process after clipzoo.install_as_open_clip(); the program's exit status is passed through.",
    )
    p.add_argument(
        "argv",
        nargs=argparse.REMAINDER,
        metavar="PROGRAM [ARGS...] | -m MODULE [ARGS...]",
        help="the program (or -m and a module) and its arguments",
    )
    p.set_defaults(func=cmd_run, run_parser=p)
