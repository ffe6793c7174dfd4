"""``clipzoo cache [DIR ...] [--clear]``: report (and clear) what killed downloads and exports left behind.

A download or export killed mid-write (SIGKILL, a crash, power loss) leaves its staging copy beside its target:
``.NAME.tmp-*`` or ``.NAME.old-*`` (:mod:`clipzoo.files`). The next writer into the same folder removes them;
this command finds them without writing anything: in both caches (the clipzoo URL cache and the Hugging Face
cache, searched below their roots) and in the folders given (exports: the parent folders of their targets).
A copy whose lock a live process holds is in use and never listed or removed (torch-free).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from .common import add_json, emit


def cache_roots() -> list[Path]:
    """The clipzoo URL cache and the Hugging Face cache (as set in the environment now)."""
    from ..hub.cache import default_cache_dir, hub_cache_dir

    hub = hub_cache_dir(None) or os.path.join(os.path.expanduser("~"), ".cache", "huggingface", "hub")
    return [Path(default_cache_dir()), Path(hub)]


def _folders(roots: list[Path], folders: list[Path]) -> list[Path]:
    """Every folder below the cache ``roots`` (links not followed), then the ``folders`` themselves."""
    found: list[Path] = []
    for root in roots:
        found.extend(Path(folder) for folder, _, _ in os.walk(root))
    return list(dict.fromkeys([*found, *folders]))


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum((Path(f) / n).lstat().st_size for f, _, names in os.walk(path) for n in names)


def cmd_cache(args: argparse.Namespace) -> int:
    """List the stale staging copies (with ``--clear``: remove them) and print their total size."""
    from ..files import remove_stale_staging, stale_staging

    roots = cache_roots()
    stale = [(p, _size(p)) for f in _folders(roots, [Path(d).expanduser() for d in args.dirs]) for p in stale_staging(f)]
    if args.clear:
        for folder in dict.fromkeys(p.parent for p, _ in stale):
            remove_stale_staging(folder)
        stale = [(p, size) for p, size in stale if not os.path.lexists(p)]
    total = sum(size for _, size in stale)
    data = {
        "caches": [str(r) for r in roots],
        "stale": [{"path": str(p), "bytes": size} for p, size in stale],
        "bytes": total,
        "removed": bool(args.clear),
    }

    def text() -> str:
        lines = [f"caches: {', '.join(map(str, roots))}"]
        lines += [f"{size / 1e6:10.1f} MB  {p}" for p, size in stale]
        verb = "removed" if args.clear else "left by killed runs"
        hint = "" if args.clear or not stale else " (clear them with `clipzoo cache --clear`)"
        lines.append(f"{len(stale)} staging copies {verb}, {total / 1e6:.1f} MB{hint}")
        return "\n".join(lines)

    return emit(args, data, text)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register ``cache``."""
    parser = sub.add_parser(
        "cache",
        help="report (--clear: remove) staging copies killed downloads and exports left behind",
        description="List the staging copies (.NAME.tmp-*, .NAME.old-*) that killed downloads and exports left in "
        "the caches and in the folders given, with their sizes; copies a running process holds are never "
        "listed. --clear removes them.",
    )
    parser.add_argument("dirs", nargs="*", metavar="DIR", help="also look in these folders (an export's parent)")
    parser.add_argument("--clear", action="store_true", help="remove them")
    add_json(parser)
    parser.set_defaults(func=cmd_cache)
