"""Real process groups: one worker process per rank, for every group the distributed tests need, started once.

Starting a rank costs seconds of CPU (a Python process importing torch), so the groups of :data:`WORLDS` are run
once per test run (the pytest-xdist workers share the results) by one process that imports torch, clipzoo and the
test modules once and then forks every rank of every group (a fresh process state per rank: torch.distributed
keeps per-process state, such as ``torch.distributed.nn``'s default group, that one process cannot reuse for a
second group). Each rank joins its group through a fresh ``file://`` store and calls the module's
``worker(rank, world_size, store, out_dir)``, which saves that rank's results in ``out_dir``.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# (test module defining worker(), ranks): every process group the suite starts
WORLDS = (
    # 4 ranks: both the bidirectional ring steps and bidir's final one-way step
    ("tests.test_training_loss_distributed", 4),
    ("tests.test_training_loss_distributed", 2),
    ("tests.test_training_neighbour_exchange", 3),  # three ranks: the left and right neighbours differ
)


def world_dir(root: Path, module: str, world_size: int) -> Path:
    """Where the ranks of one group save their results."""
    return root / f"{module.rsplit('.', 1)[-1]}-{world_size}"


def run_worlds(out: Path, timeout: float = 300) -> None:
    """Run every group of :data:`WORLDS` (one intra-op thread per rank, from the repository root so that the
    ranks import tests.helpers); fails the test with the log of a failed rank."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", __name__, str(out)], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=timeout)  # fmt: skip
    assert run.returncode == 0, f"a rank failed:\n{(run.stdout + run.stderr)[-4000:]}"


def _fork_ranks(out: Path) -> int:
    """Fork every rank of every group from this process (imports done once, no threads started yet); the
    number of ranks that failed."""
    modules = {module: importlib.import_module(module) for module, _ in WORLDS}
    children = set()
    for module, world_size in WORLDS:
        folder = world_dir(out, module, world_size)
        folder.mkdir(parents=True, exist_ok=True)
        for rank in range(world_size):
            pid = os.fork()
            if pid == 0:
                status = 1
                try:
                    modules[module].worker(rank, world_size, str(out / f"{folder.name}.store"), str(folder))
                    status = 0
                except BaseException:
                    print(f"{folder.name} rank {rank}:", file=sys.stderr)
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(status)
            children.add(pid)
    failed = 0
    while children:
        pid, status = os.wait()
        children.remove(pid)
        if status != 0:  # the failed rank's group would wait for it until gloo's timeout: end every rank left
            failed += 1
            for other in children:
                os.kill(other, signal.SIGKILL)
    return failed


def world_results(tmp_path_factory, module: str, world_size: int) -> Path:
    """The folder of one group's results (every group run once per test run, by the first test to ask)."""
    from tests.helpers.shared import built_once_per_run

    return world_dir(built_once_per_run(tmp_path_factory, "process-groups", run_worlds), module, world_size)


if __name__ == "__main__":
    sys.exit(1 if _fork_ranks(Path(sys.argv[1])) else 0)
