"""open_clip's ring-exchange helpers (clipzoo.training.distributed.neighbour_exchange*) on a real 3-rank gloo group.

Three worker processes (``worker`` below, run by :func:`tests.helpers.processes.run_worlds` with the suite's other
groups) join one group; each runs
clipzoo's and open_clip 3.3.0's functions (open_clip's loss.py loaded on its own) on the same tensors and
saves the results: received tensors and the gradients of a loss of them. Three ranks make the left and the
right neighbour different. Exact equality is expected (the same values are moved, not computed).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.peers import open_clip_loss_module
from tests.helpers.processes import world_results

WORLD = 3


def _run(module, rank: int) -> dict[str, torch.Tensor]:
    left, right = (rank - 1) % WORLD, (rank + 1) % WORLD
    base = torch.arange(6, dtype=torch.float32).reshape(2, 3) + 10 * rank
    out = {"shift": module.neighbour_exchange(left, right, base)}
    out["from_right"], out["from_left"] = module.neighbour_exchange_bidir(left, right, base, base * 2)
    x = base.clone().requires_grad_(True)
    received = module.neighbour_exchange_with_grad(left, right, x)
    (received * (rank + 1)).sum().backward()
    out["shift_grad"] = x.grad
    a, b = base.clone().requires_grad_(True), (base + 1).clone().requires_grad_(True)
    from_right, from_left = module.neighbour_exchange_bidir_with_grad(left, right, a, b)
    (from_right * 3 + from_left * (rank + 2)).sum().backward()
    out["bidir_grad_a"], out["bidir_grad_b"] = a.grad, b.grad
    return out


def worker(rank: int, world_size: int, store: str, out_dir: str) -> None:
    import torch.distributed as dist

    from clipzoo.training import distributed

    assert world_size == WORLD
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    results = {"clipzoo": _run(distributed, rank), "open_clip": _run(open_clip_loss_module(), rank)}
    torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.slow
def test_neighbour_exchanges_equal_open_clip(tmp_path_factory) -> None:
    folder = world_results(tmp_path_factory, __name__, WORLD)
    for rank in range(WORLD):
        results = torch.load(folder / f"rank{rank}.pt")
        ours, peer = results["clipzoo"], results["open_clip"]
        assert ours.keys() == peer.keys()
        for key in ours:
            assert torch.equal(ours[key], peer[key]), (rank, key)
        left = (rank - 1) % WORLD
        assert torch.equal(
            ours["shift"], torch.arange(6.0).reshape(2, 3) + 10 * left
        )  # sent right by the left rank
        # our right neighbour scaled what it received from us by its rank + 1: that is our gradient
        assert torch.equal(ours["shift_grad"], torch.full((2, 3), float((rank + 1) % WORLD + 1)))
