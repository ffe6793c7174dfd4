"""``clipzoo demo``: the offline tour with the embedded tiny-digits model (what ``make demo`` runs)."""

from __future__ import annotations

import argparse
import json

from .common import CliError, add_json


def cmd_demo(args: argparse.Namespace) -> int:
    """Run the demo: text as it goes, or one JSON summary with ``--json``."""
    from ..demo import tour as demo

    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit must be at least 1, got {args.limit}")
    summary = demo.run(args.out, args.limit, args.device, echo=(lambda _line: None) if args.json else print)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``demo``."""
    p = sub.add_parser(
        "demo", help="offline tour: registry, embedded tiny-digits model, zero-shot accuracy, a PNG grid"
    )
    p.add_argument(
        "--out", default="clipzoo-demo.png", help="where to write the PNG grid (default ./clipzoo-demo.png)"
    )
    p.add_argument("--limit", type=int, default=None, metavar="N", help="classify only the first N digits")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    add_json(p)
    p.set_defaults(func=cmd_demo)
