"""What a whole test run builds once (the pytest-xdist workers share one folder instead of one each), and scratch
files kept in RAM."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
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


RAM_DIR = Path("/dev/shm")
RAM_HEADROOM = 8 * 2**30  # free bytes a RAM folder must have left to be used for a scratch file


@contextlib.contextmanager
def scratch_file(fallback: Path, name: str) -> Iterator[Path]:
    """A path for a large file that lives only inside the ``with`` block: in RAM (``/dev/shm``, a tmpfs) when it has
    room, else in ``fallback``; removed on leaving. Writing a full-size state dict to disk costs seconds (~1.7 s/GB
    here) that a test comparing two models' outputs does not need to spend."""
    in_ram = RAM_DIR.is_dir() and os.access(RAM_DIR, os.W_OK) and shutil.disk_usage(RAM_DIR).free > RAM_HEADROOM
    folder = Path(tempfile.mkdtemp(prefix="clipzoo-test-", dir=RAM_DIR if in_ram else fallback))
    try:
        yield folder / name
    finally:
        shutil.rmtree(folder, ignore_errors=True)
