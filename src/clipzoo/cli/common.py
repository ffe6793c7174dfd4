"""Pieces every command uses: the usage error, exit codes, output, and name checks (stdlib + registry only)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

EXIT_FAILURE, EXIT_USAGE = 1, 2


class CliError(Exception):
    """A usage error found by a command itself: one line on stderr and an exit status (default 2)."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


MODEL_HELP = "architecture name, hf-hub:org/repo or local-dir:PATH"


def add_model_command(
    sub: argparse._SubParsersAction,
    name: str,
    tag_help: str | None,
    model_help: str = MODEL_HELP,
    **kwargs: Any,  # argparse's add_parser keywords
) -> argparse.ArgumentParser:
    """A subcommand that takes a MODEL and an optional TAG (``kwargs``: ``help``, ``description``)."""
    parser = sub.add_parser(name, **kwargs)
    parser.add_argument("model", help=model_help)
    parser.add_argument("tag", nargs="?", default=None, help=tag_help)
    return parser


def emit(args: argparse.Namespace, data: object, text: Callable[[], str]) -> int:
    """Print ``data`` as JSON with ``--json``, else ``text()``; exit status 0."""
    print(json.dumps(data, indent=2) if getattr(args, "json", False) else text())
    return 0


def check_model(name: str) -> None:
    """Raise UnknownModelError (close matches in its message) unless ``name`` is a registered architecture."""
    from ..registry import architectures as registry
    from ..registry import tags as pretrained

    if registry.get_model_config(name) is None and not pretrained.list_pretrained_tags_by_model(name):
        raise registry.unknown_model(name)


def is_glob(text: str) -> bool:
    """True when ``text`` holds a glob character (``*``, ``?`` or ``[``)."""
    return any(c in text for c in "*?[")


def match_models(pattern: str, what: str = "architecture") -> list[str]:
    """Registered architectures matching the glob ``pattern`` (case-insensitive, the whole name).

    Raises CliError (status 2) when none does, with the hint that names are matched whole.
    """
    import fnmatch

    from ..registry import architectures as registry
    from ..registry import tags as pretrained

    names = list(dict.fromkeys([*registry.list_models(), *(m for m, _ in pretrained.list_pretrained())]))
    found = [n for n in names if fnmatch.fnmatch(n.lower(), pattern.lower())]
    if not found:
        hint = "*" + pattern.strip("*") + "*"
        raise CliError(
            f"no {what} matches {pattern!r}; patterns match whole names, case-insensitive "
            f"(e.g. '{hint}' for names containing it; `clipzoo models` lists them all)"
        )
    return found


def check_tag(model: str, tag: str) -> None:
    """Raise UnknownTagError (close matches in its message) unless ``tag`` is a pretrained tag of ``model``."""
    from ..registry import tags as pretrained

    if not pretrained.is_pretrained_cfg(model, tag):
        raise pretrained.unknown_tag(model, tag)


def add_json(parser: argparse.ArgumentParser) -> None:
    """The ``--json`` flag every listing command has."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def add_weights_args(parser: argparse.ArgumentParser, what: str) -> None:
    """``--pretrained`` (tag or file) for commands that load a model."""
    parser.add_argument("--pretrained", default=None, help=f"pretrained tag or weights file of the {what}")


def add_cache_dir(parser: argparse.ArgumentParser) -> None:
    """``--cache-dir`` of every command that fetches weights (the factories' ``cache_dir``)."""
    parser.add_argument(
        "--cache-dir", default=None, help="cache folder (default: the HF cache for Hub files, clipzoo's cache for URLs)"
    )


def add_random_weights(parser: argparse.ArgumentParser) -> None:
    """``--random-weights``: the explicit opt-in to a model without pretrained weights."""
    parser.add_argument(
        "--random-weights",
        action="store_true",
        help="allow a model without pretrained weights (random init); refused otherwise",
    )


def require_weights(model: str, pretrained: str | None, random_weights: bool, **options: Any) -> None:
    """:func:`clipzoo.factory.resolve.require_weights` (its ``options``: ``cache_dir``, ``tag_usage``) in the CLI's
    words: MissingWeightsError, status 2.

    Imported when called: the resolver is not loaded for every ``clipzoo`` invocation.
    """
    from ..factory.resolve import require_weights as refuse_random_weights

    refuse_random_weights(model, pretrained, random_weights, **options)
