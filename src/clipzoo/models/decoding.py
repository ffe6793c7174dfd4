"""The pieces every CoCa decoding strategy shares: logits processors, stopping criteria, special token ids.

A logits processor maps (token ids [N, L], scores [N, V]) to new scores [N, V]; a stopping criterion answers, for
every row of (token ids, scores), whether that row is finished. Sampling (:mod:`clipzoo.models.generation`) and
beam search (:mod:`clipzoo.models.beam_search`) run the same ones, as transformers' ``generate`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch


class Captioner(Protocol):
    """What the decoding strategies call on a model: CoCa's two hooks."""

    def _encode_image(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...

    def _decode_step(self, text: torch.Tensor, image_embs: torch.Tensor) -> torch.Tensor: ...

# A stopping criterion answers, for every row of (token ids, scores), whether that row is finished.
StoppingCriterion = Callable[[torch.Tensor, torch.Tensor | None], Any]


@dataclass(frozen=True)
class TokenIds:
    """Special token ids on the generation device; ``eos`` may hold several ids, the first one is written."""

    sot: torch.Tensor
    eos: torch.Tensor
    pad: int


# -- logits processors: (token ids [N, L], scores [N, V]) -> new scores [N, V] ---------------------------------


@dataclass(frozen=True)
class MinLength:
    """Forbid the end token(s) while sequences are shorter than ``min_length`` tokens (start token included)."""

    min_length: int
    eos_token_ids: torch.Tensor

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.clone()
        if input_ids.shape[-1] < self.min_length:
            scores[:, self.eos_token_ids.to(scores.device)] = -float("inf")
        return scores


@dataclass(frozen=True)
class RepetitionPenalty:
    """Make every token already in the sequence less likely: positive logits / penalty, negative ones * penalty."""

    penalty: float

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        seen = scores.gather(1, input_ids)
        penalized = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        return scores.scatter(1, input_ids, penalized)


@dataclass(frozen=True)
class TopK:
    """Keep the ``k`` largest logits (and any tied with the k-th), set the rest to -inf."""

    k: int

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        kth_largest = scores.topk(min(self.k, scores.shape[-1])).values[..., -1:]
        return scores.masked_fill(scores < kth_largest, -float("inf"))


@dataclass(frozen=True)
class TopP:
    """Nucleus filter: drop the least likely tokens whose probabilities sum to at most ``1 - p``; keep at least one."""

    p: float

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        # Ascending order, softmax then cumsum over the sorted logits: the exact float path open_clip's warper takes.
        ascending, order = scores.sort(descending=False)
        drop_sorted = ascending.softmax(dim=-1).cumsum(dim=-1) <= (1 - self.p)
        drop_sorted[..., -1] = False
        drop = drop_sorted.scatter(1, order, drop_sorted)
        return scores.masked_fill(drop, -float("inf"))


def apply_processors(
    processors: Sequence[Callable], input_ids: torch.Tensor, scores: torch.Tensor
) -> torch.Tensor:
    """Run logits processors in order."""
    for process in processors:
        scores = process(input_ids, scores)
    return scores


# -- stopping criteria --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaxLength:
    """Stop once sequences have ``max_length`` tokens (start token included)."""

    max_length: int

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor | None = None) -> torch.Tensor:
        return torch.full(
            (input_ids.shape[0],), input_ids.shape[-1] >= self.max_length, device=input_ids.device
        )


def should_stop(criteria: Sequence[StoppingCriterion], input_ids: torch.Tensor) -> bool:
    """True when every row is finished according to at least one criterion.

    Args:
        criteria: The stopping criteria to ask.
        input_ids: Token ids [N, L] generated so far.

    Returns:
        Whether generation can stop.
    """
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    for criterion in criteria:
        finished = finished | torch.as_tensor(
            criterion(input_ids, None), dtype=torch.bool, device=finished.device
        )
    return bool(finished.all())


def max_length_of(criteria: Sequence[StoppingCriterion]) -> int | None:
    """The length limit of the first criterion that has one (ours or transformers' ``MaxLengthCriteria``).

    Args:
        criteria: The stopping criteria to look through.

    Returns:
        That ``max_length``, or None when no criterion limits the length.
    """
    for criterion in criteria:
        limit = getattr(criterion, "max_length", None)
        if isinstance(limit, int):
            return limit
    return None
