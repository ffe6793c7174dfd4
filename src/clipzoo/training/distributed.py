"""Collectives for contrastive losses on plain ``torch.distributed`` (gloo on CPU, nccl on GPU).

Every function takes an optional process ``group`` (the default group when None) and assumes the caller
already ran ``torch.distributed.init_process_group``. The ``*_with_grad`` variants are autograd-aware: the
backward pass sends each gradient back to the rank that owns the tensor, so a loss computed from gathered
or exchanged features trains the features of every rank.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist

# Backends whose reduce_scatter works; elsewhere (gloo) backward falls back to all_reduce + slice.
_REDUCE_SCATTER_BACKENDS = ("nccl", "xccl")
_Exchange = TypeVar("_Exchange", bound=Callable[..., object])


def require_initialized(world_size: int) -> None:
    """Raise a clear error when a loss is configured for world_size > 1 without a process group."""
    if not dist.is_available():
        raise RuntimeError("world_size > 1 needs torch.distributed, which this torch build does not provide")
    if not dist.is_initialized():
        raise RuntimeError(
            f"loss configured with world_size={world_size} but torch.distributed is not initialized; "
            "call torch.distributed.init_process_group(...) first, or use world_size=1"
        )


def all_gather_no_grad(tensor: torch.Tensor, group: dist.ProcessGroup | None = None) -> list[torch.Tensor]:
    """All-gather ``tensor`` from every rank without autograd; returns one tensor per rank."""
    tensor = tensor.contiguous()
    chunks = [torch.empty_like(tensor) for _ in range(dist.get_world_size(group))]
    dist.all_gather(chunks, tensor.detach(), group=group)
    return chunks


class _AllGatherWithGrad(torch.autograd.Function):
    """Concatenate every rank's tensor along dim 0; backward sums the gradients for our slice over ranks."""

    @staticmethod
    def forward(ctx, group, tensor):  # noqa: D102
        ctx.group = group
        ctx.rows = tensor.shape[0]
        return torch.cat(all_gather_no_grad(tensor, group), dim=0)

    @staticmethod
    def backward(ctx, grad_output):  # noqa: D102
        # clone: all_reduce writes in place and autograd may hold other references to grad_output.
        grad_output = grad_output.contiguous().clone()
        rank = dist.get_rank(ctx.group)
        if dist.get_backend(ctx.group) in _REDUCE_SCATTER_BACKENDS:
            grad = grad_output.new_empty((ctx.rows, *grad_output.shape[1:]))
            dist.reduce_scatter_tensor(grad, grad_output, op=dist.ReduceOp.SUM, group=ctx.group)
            return None, grad
        dist.all_reduce(grad_output, op=dist.ReduceOp.SUM, group=ctx.group)
        return None, grad_output[rank * ctx.rows : (rank + 1) * ctx.rows]


def all_gather_with_grad(tensor: torch.Tensor, group: dist.ProcessGroup | None = None) -> torch.Tensor:
    """All-gather along dim 0 (equal sizes on every rank) with gradients flowing back to each owner."""
    return _AllGatherWithGrad.apply(group, tensor)


class _AllReduceSumWithGrad(torch.autograd.Function):
    """Sum over ranks; the gradient of a sum is the sum of the gradients, so backward is the same op."""

    @staticmethod
    def forward(ctx, group, tensor):  # noqa: D102
        ctx.group = group
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out, op=dist.ReduceOp.SUM, group=group)
        return out

    @staticmethod
    def backward(ctx, grad_output):  # noqa: D102
        return None, _AllReduceSumWithGrad.apply(ctx.group, grad_output)


def all_reduce_sum_with_grad(tensor: torch.Tensor, group: dist.ProcessGroup | None = None) -> torch.Tensor:
    """All-reduce (sum) with autograd."""
    return _AllReduceSumWithGrad.apply(group, tensor)


def _exchange(sends: list[tuple[torch.Tensor, int]], sources: list[int], group) -> list[torch.Tensor]:
    """Post every send and receive at once (avoids deadlock), wait, and return the received tensors."""
    received = [torch.empty_like(tensor) for tensor, _ in sends]
    ops = [dist.P2POp(dist.isend, tensor.contiguous(), peer, group=group) for tensor, peer in sends]
    ops += [dist.P2POp(dist.irecv, buf, peer, group=group) for buf, peer in zip(received, sources)]
    for request in dist.batch_isend_irecv(ops):
        request.wait()
    return received


class _ShiftWithGrad(torch.autograd.Function):
    """Send ``tensor`` to ``to_rank`` and receive one of the same shape from ``from_rank``.

    The gradient of what we received belongs to ``from_rank``: backward runs the same shift reversed.
    """

    @staticmethod
    def forward(ctx, from_rank, to_rank, group, tensor):  # noqa: D102
        ctx.ranks, ctx.group = (from_rank, to_rank), group
        return _exchange([(tensor, to_rank)], [from_rank], group)[0]

    @staticmethod
    def backward(ctx, grad_output):  # noqa: D102
        from_rank, to_rank = ctx.ranks
        return None, None, None, _ShiftWithGrad.apply(to_rank, from_rank, ctx.group, grad_output)


class _BidirWithGrad(torch.autograd.Function):
    """Send one tensor left and one right; return (received from right, received from left)."""

    @staticmethod
    def forward(ctx, left_rank, right_rank, group, tensor_to_left, tensor_to_right):  # noqa: D102
        ctx.ranks, ctx.group = (left_rank, right_rank), group
        from_right, from_left = _exchange(
            [(tensor_to_left, left_rank), (tensor_to_right, right_rank)], [right_rank, left_rank], group
        )
        return from_right, from_left

    @staticmethod
    def backward(ctx, *grad_outputs):  # noqa: D102 - open_clip's parameter names
        # What came from the right goes back right, and vice versa: swap the roles of the neighbours.
        left_rank, right_rank = ctx.ranks
        grads = _BidirWithGrad.apply(right_rank, left_rank, ctx.group, *grad_outputs)
        return (None, None, None, *grads)


# -- open_clip.loss's names for the ring exchanges (same argument order) ----------------------------------

NeighbourExchange = _ShiftWithGrad  # .apply(from_rank, to_rank, group, tensor)
NeighbourExchangeBidir = _BidirWithGrad  # .apply(left_rank, right_rank, group, tensor_to_left, tensor_to_right)


def neighbour_exchange_with_grad(
    from_rank: int, to_rank: int, tensor: torch.Tensor, group: dist.ProcessGroup | None = None
) -> torch.Tensor:
    """Send ``tensor`` to ``to_rank`` and return the one received from ``from_rank``; backward sends the gradient
    back to ``from_rank``."""
    return _ShiftWithGrad.apply(from_rank, to_rank, group, tensor)


def neighbour_exchange_bidir_with_grad(
    left_rank: int,
    right_rank: int,
    tensor_to_left: torch.Tensor,
    tensor_to_right: torch.Tensor,
    group: dist.ProcessGroup | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exchange with both ring neighbours at once; returns (from_right, from_left); backward returns each
    gradient to the rank it came from."""
    return _BidirWithGrad.apply(left_rank, right_rank, group, tensor_to_left, tensor_to_right)


def _without_grad(exchange: _Exchange, name: str) -> _Exchange:
    """open_clip's plain exchange ``name``: ``exchange`` run with autograd off (same arguments, same values)."""
    plain = torch.no_grad()(exchange)
    plain.__name__ = plain.__qualname__ = name
    plain.__doc__ = f":func:`{exchange.__name__}` without autograd."
    return plain


neighbour_exchange = _without_grad(neighbour_exchange_with_grad, "neighbour_exchange")
neighbour_exchange_bidir = _without_grad(neighbour_exchange_bidir_with_grad, "neighbour_exchange_bidir")
