"""Parsers of the CLI commands that need torch; each runs from its own module, imported only when it runs.

Keeping the parsers here (stdlib only) lets ``clipzoo models`` and friends answer without importing torch.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

TEMPLATE_SET_NAMES = ("openai", "simple", "siglip")


def lazy(target: str) -> Callable[[argparse.Namespace], int]:
    """A command function ``module:function`` imported when it is called."""

    def run(args: argparse.Namespace) -> int:
        module, func = target.split(":")
        return getattr(importlib.import_module(module), func)(args)

    run.__qualname__ = run.__name__ = target.split(":")[1]
    return run


def add_classify_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``clipzoo classify IMAGE... --model M --pretrained T --labels a b c``."""
    p = subparsers.add_parser("classify", help="zero-shot classify images against free-text labels")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--model", required=True, help="architecture name, e.g. ViT-B-32")
    p.add_argument(
        "--pretrained", default=None, help="pretrained tag or weights file (random weights if omitted)"
    )
    p.add_argument(
        "--labels", nargs="+", required=True, help="candidate labels, e.g. --labels cat dog 'a car'"
    )
    p.add_argument(
        "--templates",
        default=None,
        help=f"prompt set ({'|'.join(TEMPLATE_SET_NAMES)}) or a file with one '{{}}' template per line; "
        "default: openai for CLIP-style models, siglip for SigLIP-style models",
    )
    p.add_argument("--top-k", type=int, default=5, help="predictions per image (default 5)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=lazy("clipzoo.zero_shot:run_classify"))
    return p


PARSERS: tuple[Callable[[argparse._SubParsersAction], argparse.ArgumentParser], ...] = (add_classify_parser,)
