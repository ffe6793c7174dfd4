"""Distributed ClipLoss / SigLipLoss on real gloo process groups vs the single-process loss on the global batch.

Each test reads the results of a gloo group of ``world_size`` worker processes (``worker`` below, run by
:func:`tests.helpers.processes.run_worlds`, once per run for every group the suite needs). Every worker draws the
same global batch from a fixed seed, takes its slice of B rows as leaf tensors, and for every loss configuration records its loss and the gradients w.r.t. its
image/text features, logit_scale and logit_bias. The parent then checks these against clipzoo's
single-process loss (world_size=1) over the global batch of N = world_size * B rows, and against open_clip
3.3.0's own distributed losses run by the same workers on the same inputs. Tolerance: atol 1e-6, rtol 1e-6,
fp32.

Relations checked (L = single-process loss on the global batch, L_r = rank r's loss, F_r = rank r's slice):

* ClipLoss, not local_loss: L_r == L on every rank.
* ClipLoss, local_loss: mean_r L_r == L.
* ClipLoss, gather_with_grad: dL_r/dF_r as computed by backward == W * dL/dF_r, i.e. the gradient of the sum
  of all ranks' losses (every rank's loss backpropagates into every rank's features).
* ClipLoss, no gather_with_grad, not local_loss: dL_r/dF_r == dL/dF_r (only the own slice is live).
* ClipLoss, no gather_with_grad, local_loss: the gradient flows only through the own rows; it equals the
  gradient of the local-rows loss with every gathered column detached.
* SigLipLoss, every dist_impl: mean_r L_r == L and feature gradients == W * dL/dF_r.
* logit_scale / logit_bias (replicated on every rank, so DDP would average them): mean_r grad == dL/d(param).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.helpers.peers import open_clip_loss_module
from tests.helpers.processes import world_results

B, D = 3, 8  # rows per rank (odd on purpose), feature width
SCALE, BIAS = 10.0, -2.0
CLIP_CASES = {
    f"clip_local{int(local)}_grad{int(grad)}": {"local_loss": local, "gather_with_grad": grad}
    for local in (False, True)
    for grad in (False, True)
}
SIGLIP_CASES = {f"siglip_{impl}": {"dist_impl": impl} for impl in ("bidir", "shift", "reduce", "gather")}
TOL = {"atol": 1e-6, "rtol": 1e-6}


def global_batch(world_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Same normalized features in every process (fixed seed)."""
    gen = torch.Generator().manual_seed(1234 + world_size)
    image = torch.nn.functional.normalize(torch.randn(world_size * B, D, generator=gen), dim=-1)
    text = torch.nn.functional.normalize(torch.randn(world_size * B, D, generator=gen), dim=-1)
    return image, text


def make_loss(case: str, rank: int, world_size: int, module=None):
    """Build the loss for one case name from clipzoo.training.loss, or from ``module`` (open_clip's loss.py)."""
    if module is None:
        from clipzoo.training import loss as module

    if case in CLIP_CASES:
        return module.ClipLoss(rank=rank, world_size=world_size, cache_labels=True, **CLIP_CASES[case])
    return module.SigLipLoss(rank=rank, world_size=world_size, **SIGLIP_CASES[case])


def run_case(loss_fn, image: torch.Tensor, text: torch.Tensor, use_bias: bool) -> dict[str, torch.Tensor]:
    """Forward + backward on leaf copies; returns the loss and every gradient."""
    image = image.clone().requires_grad_(True)
    text = text.clone().requires_grad_(True)
    scale = torch.tensor(SCALE, requires_grad=True)
    bias = torch.tensor(BIAS, requires_grad=True)
    loss = loss_fn(image, text, scale, bias if use_bias else None)
    loss.backward()
    out = {"loss": loss.detach(), "image": image.grad, "text": text.grad, "scale": scale.grad}
    if use_bias:
        out["bias"] = bias.grad
    return out


def worker(rank: int, world_size: int, store: str, out_dir: str) -> None:
    """Entry point of one rank: run every case and save the results."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    image, text = global_batch(world_size)
    rows = slice(rank * B, (rank + 1) * B)
    results: dict = {"open_clip": {}}
    peer = open_clip_loss_module()
    for case in [*CLIP_CASES, *SIGLIP_CASES]:
        for module, store in [(None, results), (peer, results["open_clip"])]:
            loss_fn = make_loss(case, rank, world_size, module)
            store[case] = run_case(loss_fn, image[rows], text[rows], use_bias=case in SIGLIP_CASES)
    # Same loss twice: the cached labels must not change the result.
    results["clip_cached_again"] = run_case(
        make_loss("clip_local1_grad1", rank, world_size), image[rows], text[rows], use_bias=False
    )
    torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


def group_results(world_size: int, tmp_path_factory) -> list[dict]:
    """Every rank's results from the group of ``world_size`` workers."""
    folder = world_results(tmp_path_factory, __name__, world_size)
    return [torch.load(folder / f"rank{r}.pt") for r in range(world_size)]


def single_process(case: str, image: torch.Tensor, text: torch.Tensor, use_bias: bool) -> dict:
    """The reference: the same loss with world_size=1 over the global batch."""
    return run_case(make_loss(case, 0, 1), image, text, use_bias)


def rows_only_clip_grads(image: torch.Tensor, text: torch.Tensor, rank: int) -> tuple[torch.Tensor, ...]:
    """Gradient of rank ``rank``'s local_loss when all gathered columns are detached (no gather_with_grad)."""
    rows = slice(rank * B, (rank + 1) * B)
    img, txt = image[rows].clone().requires_grad_(True), text[rows].clone().requires_grad_(True)
    labels = torch.arange(B) + rank * B
    loss = (
        torch.nn.functional.cross_entropy(SCALE * img @ text.T, labels)
        + torch.nn.functional.cross_entropy(SCALE * txt @ image.T, labels)
    ) / 2
    loss.backward()
    return img.grad, txt.grad


def check_clip(results: list[dict], case: str, image: torch.Tensor, text: torch.Tensor) -> None:
    """Assert the ClipLoss relations from the module docstring for one case."""
    world_size, opts = len(results), CLIP_CASES[case]
    ref = single_process(case, image, text, use_bias=False)
    losses = torch.stack([r[case]["loss"] for r in results])
    if opts["local_loss"]:
        torch.testing.assert_close(losses.mean(), ref["loss"], **TOL)
    else:
        torch.testing.assert_close(losses, ref["loss"].expand(world_size), **TOL)
    for rank, res in enumerate(results):
        rows = slice(rank * B, (rank + 1) * B)
        if opts["gather_with_grad"]:
            expected = (world_size * ref["image"][rows], world_size * ref["text"][rows])
        elif opts["local_loss"]:
            expected = rows_only_clip_grads(image, text, rank)
        else:
            expected = (ref["image"][rows], ref["text"][rows])
        torch.testing.assert_close(
            res[case]["image"], expected[0], **TOL, msg=f"{case} rank {rank} image grad"
        )
        torch.testing.assert_close(res[case]["text"], expected[1], **TOL, msg=f"{case} rank {rank} text grad")
    scale_grads = torch.stack([r[case]["scale"] for r in results])
    torch.testing.assert_close(scale_grads.mean(), ref["scale"], **TOL)


def check_siglip(results: list[dict], case: str, image: torch.Tensor, text: torch.Tensor) -> None:
    """Assert the SigLipLoss relations from the module docstring for one dist_impl."""
    world_size = len(results)
    ref = single_process(case, image, text, use_bias=True)
    losses = torch.stack([r[case]["loss"] for r in results])
    torch.testing.assert_close(losses.mean(), ref["loss"], **TOL, msg=f"{case} mean loss")
    for name in ("image", "text"):
        grads = torch.cat([r[case][name] for r in results])
        torch.testing.assert_close(grads, world_size * ref[name], **TOL, msg=f"{case} {name} grad")
    for name in ("scale", "bias"):
        grads = torch.stack([r[case][name] for r in results])
        torch.testing.assert_close(grads.mean(), ref[name], **TOL, msg=f"{case} {name} grad")


def check_all(world_size: int, tmp_path_factory) -> None:
    """Check every case on the group's results."""
    results = group_results(world_size, tmp_path_factory)
    image, text = global_batch(world_size)
    for case in CLIP_CASES:
        check_clip(results, case, image, text)
    for case in SIGLIP_CASES:
        check_siglip(results, case, image, text)
        # Every strategy moves the same texts: per-rank values agree across dist_impl, not only on average.
        for res in results:
            torch.testing.assert_close(res[case]["loss"], res["siglip_bidir"]["loss"], **TOL)
    for rank, res in enumerate(results):
        torch.testing.assert_close(res["clip_cached_again"]["loss"], res["clip_local1_grad1"]["loss"], **TOL)
        # Parity with open_clip 3.3.0's distributed losses, run in the same group on the same inputs.
        for case, peer in res["open_clip"].items():
            for name, value in peer.items():
                torch.testing.assert_close(
                    res[case][name], value, **TOL, msg=f"{case} rank {rank} {name} vs open_clip"
                )


@pytest.mark.slow
def test_distributed_losses_match_global_batch_2_ranks(tmp_path_factory) -> None:
    check_all(2, tmp_path_factory)


@pytest.mark.slow
def test_distributed_losses_match_global_batch_4_ranks(tmp_path_factory) -> None:
    # 4 ranks exercise both the bidirectional ring steps and the final one-way step of dist_impl='bidir'.
    check_all(4, tmp_path_factory)
