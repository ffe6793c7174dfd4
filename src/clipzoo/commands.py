"""Parsers of the CLI commands that need torch; each runs from its own module, imported only when it runs.

Keeping the parsers here (stdlib only) lets ``clipzoo models`` and friends answer without importing torch.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

TEMPLATE_SET_NAMES = ("openai", "simple", "siglip")
GENERATION_TYPE_NAMES = ("beam_search", "top_k", "top_p")  # clipzoo.generation.GENERATION_TYPES (needs torch)


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


def add_caption_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``clipzoo caption IMAGE... --model M --pretrained T`` (CoCa models)."""
    p = subparsers.add_parser("caption", help="write a caption for each image with a captioning (CoCa) model")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--model", required=True, help="captioning architecture name, e.g. coca_ViT-B-32")
    p.add_argument(
        "--pretrained", default=None, help="pretrained tag or weights file (random weights if omitted)"
    )
    p.add_argument(
        "--generation-type",
        choices=GENERATION_TYPE_NAMES,
        default="beam_search",
        help="decoding strategy (default beam_search; top_k with its default k=1 is greedy)",
    )
    p.add_argument("--seq-len", type=int, default=30, help="maximum caption length in tokens (default 30)")
    p.add_argument("--seed", type=int, default=None, help="random seed for top_k/top_p sampling")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--batch-size", type=int, default=8, help="images per generate call")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=lazy("clipzoo.generation:run_caption"))
    return p


def add_export_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``clipzoo export MODEL [TAG] --to DIR`` (export.py itself imports torch lazily)."""
    from .export import add_export_parser as add

    return add(subparsers)


def add_demo_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``clipzoo demo``: the offline tour with the embedded tiny-digits model."""
    p = subparsers.add_parser(
        "demo", help="offline tour: registry, embedded tiny-digits model, zero-shot accuracy, a PNG grid"
    )
    p.add_argument(
        "--out", default="clipzoo-demo.png", help="where to write the PNG grid (default ./clipzoo-demo.png)"
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="classify only the first N digits")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--json", action="store_true", help="machine-readable summary instead of text")
    p.set_defaults(func=lazy("clipzoo.demo:run_demo"))
    return p


PARSERS: tuple[Callable[[argparse._SubParsersAction], argparse.ArgumentParser], ...] = (
    add_classify_parser,
    add_caption_parser,
    add_export_parser,
    add_demo_parser,
)
