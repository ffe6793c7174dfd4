"""Worker processes: a test module run as ``python -m`` once per rank (a real process group)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_ranks(module: str, argv_of_rank, ranks: int, timeout: float) -> None:
    """Run ``python -m module *argv_of_rank(rank)`` for each rank at once (one intra-op thread each, from the
    repository root so that workers import tests.helpers); fails the test with the log of a failed rank."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", module, *map(str, argv_of_rank(rank))],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for rank in range(ranks)
    ]
    logs = [p.communicate(timeout=timeout)[0].decode() for p in procs]
    failed = [(rank, log) for rank, (p, log) in enumerate(zip(procs, logs)) if p.returncode != 0]
    assert not failed, f"worker rank {failed[0][0]} failed:\n{failed[0][1][-3000:]}"
