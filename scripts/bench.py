"""One command for every benchmark: clipzoo side by side with its peers (open_clip 3.3.0, transformers).

Finds every ``scripts/bench_<area>.py`` module (the known areas first, in a stable order, then any others
sorted by name), runs each one's ``run(quick)`` in this process, prints one table of ratios (>1 means clipzoo
is better) with the absolute numbers beside them, and with ``--json PATH`` writes the rows, the failed areas,
the date and the machine to a file. A failing area is reported (traceback on stderr) and makes the exit
status 1, but the other areas still run and print.

    python scripts/bench.py [--quick] [--only factory,models,...] [--json results.json] [--list]
"""

from __future__ import annotations

import argparse
import difflib
import importlib.util
import json
import sys
import traceback
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # bench modules import benchlib

import benchlib  # noqa: E402

# Known areas run in this order (cheap and most-quoted first); areas found later are appended by name.
PREFERRED = (
    "import",
    "factory",
    "models",
    "transforms",
    "tokenizers",
    "hub",
    "convert",
    "generation",
    "loss",
)


def discover(folder: Path = HERE) -> list[str]:
    """The areas of every ``bench_<area>.py`` in ``folder``: the preferred ones in order, then the rest sorted."""
    found = sorted(p.stem.removeprefix("bench_") for p in folder.glob("bench_*.py") if p.is_file())
    return [a for a in PREFERRED if a in found] + [a for a in found if a not in PREFERRED]


def load(area: str, folder: Path = HERE) -> ModuleType:
    """Import ``bench_<area>.py`` from ``folder`` without running it.

    Raises:
        AttributeError: The module has no callable ``run``.
    """
    path = folder / f"bench_{area}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{area}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not callable(getattr(module, "run", None)):
        raise AttributeError(f"{path} defines no run(quick=False) function")
    return module


def select(only: str | None, areas: list[str]) -> list[str]:
    """The areas named in ``--only`` (comma-separated), checked against the discovered ones.

    Raises:
        ValueError: A name is not a discovered area (the message lists close matches and all areas).
    """
    if not only:
        return list(areas)
    chosen = [a.strip() for a in only.split(",") if a.strip()]
    if not chosen:
        raise ValueError(f"--only names no area; choose among: {', '.join(areas)}")
    for name in chosen:
        if name not in areas:
            close = difflib.get_close_matches(name.lower(), areas, n=3, cutoff=0.5)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            raise ValueError(f"unknown bench area {name!r}{hint}; areas: {', '.join(areas)}")
    return list(dict.fromkeys(chosen))


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmark areas and print (and optionally save) the table."""
    areas = discover()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer models")
    parser.add_argument("--only", help=f"comma-separated areas among: {', '.join(areas)}")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--list", action="store_true", help="print the areas found, one a line, and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(areas))
        return 0
    try:
        chosen = select(args.only, areas)
    except ValueError as exc:
        parser.error(str(exc))
    rows, failed = [], []
    for area in chosen:
        print(f"[bench] {area} ...", file=sys.stderr, flush=True)
        try:
            rows += load(area).run(quick=args.quick)
        except (
            Exception
        ):  # one broken area must not hide the others' numbers; it is reported and fails the run
            failed.append(area)
            traceback.print_exc()
    benchlib.print_table(rows)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"machine": benchlib.machine(), "rows": rows, "failed": failed}, indent=2)
        )
        print(f"results written to {args.json}")
    if failed:
        print(f"failed areas: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
