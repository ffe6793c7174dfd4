"""What a whole test run builds once: the pytest-xdist workers share one folder instead of one each."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path


def built_once_per_run(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """``build(path)`` once per run (every worker gets the same ``path``); the others wait for it.

    The first worker to take the lock builds; the rest find ``path`` and read it. ``build`` must make ``path``
    appear complete or not at all (clipzoo's exports rename a finished folder into place); after a failed build
    the next worker tries again, and fails the same way.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own (popen-gw0, popen-gw1)
    target = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not target.exists():
            build(target)
    return target
