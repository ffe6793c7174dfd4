"""What a whole test run builds once: the pytest-xdist workers share one folder instead of one each."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def built_once_per_run(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """A folder ``build(folder)`` fills, once per run (every worker gets the same path); the others wait for it.

    The first worker to take the lock builds into an empty staging folder, renamed into place once ``build``
    returns: the rest find the path complete or not at all. After a failed build the next worker tries again,
    and fails the same way. The folder's contents must not depend on its path (it moves).
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above each worker's own (popen-gw0, popen-gw1)
    target = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not target.exists():
            staging = root / f"{name}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            build(staging)
            staging.rename(target)
    return target
