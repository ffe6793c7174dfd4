"""One command for every benchmark: clipzoo side by side with its peers (open_clip 3.3.0, transformers).

Runs each ``scripts/bench_<area>.py`` module's ``run(quick)`` in this process order, prints one table of
ratios (>1 means clipzoo is better) with the absolute numbers beside them, and with ``--json PATH`` writes
the rows, the date and the machine to a file.

    python scripts/bench.py [--quick] [--only factory,models,...] [--json results.json]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
AREAS = ("import", "factory", "models", "transforms", "tokenizers", "hub", "gpu")


def _load(area: str):
    path = HERE / f"bench_{area}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"bench_{area}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def machine() -> dict:
    """Where the numbers were measured."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "date": datetime.date.today().isoformat(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": gpu,
    }


def print_table(rows: list[dict]) -> None:
    """Aligned table: benchmark, clipzoo, peer, unit, ratio, note."""
    print(f"{'benchmark':<62} {'clipzoo':>11} {'peer':>11} {'unit':>9} {'ratio':>8}  peer / note")
    for r in rows:
        print(
            f"{r['name']:<62} {r['clipzoo']:>11.4g} {r['peer']:>11.4g} {r['unit']:>9} {r['ratio']:>7.2f}x  "
            f"{r['peer_name']}{'; ' + r['note'] if r.get('note') else ''}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmark areas and print (and optionally save) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer models")
    parser.add_argument("--only", help=f"comma-separated areas among: {', '.join(AREAS)}")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    areas = args.only.split(",") if args.only else list(AREAS)
    rows, failed = [], []
    for area in areas:
        module = _load(area)
        if module is None:
            continue
        print(f"[bench] {area} ...", file=sys.stderr, flush=True)
        try:
            rows += module.run(quick=args.quick)
        except (
            Exception
        ):  # one broken area must not hide the others' numbers; it is reported and fails the run
            failed.append(area)
            traceback.print_exc()
    print_table(rows)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": machine(), "rows": rows, "failed": failed}, indent=2)
        )
        print(f"results written to {args.json}")
    if failed:
        print(f"failed areas: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
