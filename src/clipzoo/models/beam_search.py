"""Grouped beam search over CoCa's raw decoder logits, as open_clip 3.3.0 runs it through transformers.

See :mod:`clipzoo.models.generation` for the semantics kept from open_clip (scores add up raw logits; groups
never interact, so ``generate`` runs one group).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .decoding import Captioner, StoppingCriterion, TokenIds, apply_processors, max_length_of, should_stop


@dataclass
class FinishedHypotheses:
    """The ``capacity`` best finished sequences of one (image, beam group), scored by sum / length**penalty."""

    capacity: int
    length_penalty: float = 1.0
    entries: list[tuple[float, torch.Tensor]] = field(default_factory=list)
    worst_score: float = 1e9

    def add(self, tokens: torch.Tensor, score_sum: float, length: int) -> None:
        """Keep ``tokens`` if the list has room or it beats the worst kept; evict the worst (earliest on ties)."""
        score = score_sum / length**self.length_penalty
        if len(self.entries) < self.capacity or score > self.worst_score:
            self.entries.append((score, tokens))
            if len(self.entries) > self.capacity:
                ranked = sorted((s, i) for i, (s, _) in enumerate(self.entries))
                del self.entries[ranked[0][1]]
                self.worst_score = ranked[1][0]
            else:
                self.worst_score = min(score, self.worst_score)

    def is_done(self, best_running_sum: float, cur_len: int) -> bool:
        """Full, and the best running beam cannot beat the worst kept one (transformers' early_stopping=False)."""
        if len(self.entries) < self.capacity:
            return False
        return self.worst_score >= best_running_sum / cur_len**self.length_penalty


@dataclass
class BeamStep:
    """What one group keeps for the next step: per-row score, token, and source row in the group's ids."""

    scores: torch.Tensor
    tokens: torch.Tensor
    sources: torch.Tensor


def _select_beams(
    top_scores: torch.Tensor,
    top_tokens: torch.Tensor,
    top_sources: torch.Tensor,
    group_ids: torch.Tensor,
    finished: list[FinishedHypotheses],
    done: list[bool],
    ids: TokenIds,
) -> BeamStep:
    """Walk each image's 2*G best candidates in order: end tokens among the first G finish a hypothesis, the
    first G other candidates become the next beams."""
    batch_size, group_size = len(finished), group_ids.shape[0] // len(finished)
    scores = torch.zeros(batch_size, group_size, dtype=top_scores.dtype)
    tokens = torch.full((batch_size, group_size), ids.pad, dtype=torch.long)
    sources = torch.zeros(batch_size, group_size, dtype=torch.long)
    cur_len = group_ids.shape[-1] + 1
    eos = set(ids.eos.tolist())
    for b in range(batch_size):
        if done[b]:
            continue  # keep padding a finished image: score 0, pad token, source row 0
        kept = 0
        for rank, (score, token, source) in enumerate(
            zip(top_scores[b].tolist(), top_tokens[b].tolist(), top_sources[b].tolist())
        ):
            row = b * group_size + source
            if token in eos:
                if rank < group_size:
                    finished[b].add(group_ids[row].clone(), score, cur_len)
            else:
                scores[b, kept], tokens[b, kept], sources[b, kept] = score, token, row
                kept += 1
            if kept == group_size:
                break
        done[b] = finished[b].is_done(top_scores[b].max().item(), cur_len)
    device = group_ids.device
    return BeamStep(scores.view(-1).to(device), tokens.view(-1).to(device), sources.view(-1).to(device))


def _group_rows(
    batch_size: int, num_beams: int, group: int, group_size: int, device: torch.device
) -> torch.Tensor:
    """Row indices (image-major) of one beam group's beams for every image."""
    starts = torch.arange(batch_size, device=device)[:, None] * num_beams + group * group_size
    return (starts + torch.arange(group_size, device=device)).reshape(-1)


def _best_entry(candidates: list[tuple[float, torch.Tensor]]) -> torch.Tensor:
    """The tokens of the highest-scoring candidate; among equal scores the last one (a stable sort's last)."""
    top = max(score for score, _ in candidates)
    return [tokens for score, tokens in candidates if score == top][-1]


def _best_sequences(
    input_ids: torch.Tensor,
    beam_scores: torch.Tensor,
    finished: list[list[FinishedHypotheses]],
    done: list[list[bool]],
    ids: TokenIds,
    max_length: int | None,
) -> torch.Tensor:
    """Add the still-running beams to the finished lists (``[group][image]``), pick each image's best, end it
    with the end token where it fits and pad the batch."""
    batch_size = len(finished[0])
    num_beams = input_ids.shape[0] // batch_size
    for g, group in enumerate(finished):
        for b, hyps in enumerate(group):
            if done[g][b]:
                continue
            for k in range(hyps.capacity):
                row = b * num_beams + g * hyps.capacity + k
                hyps.add(input_ids[row], beam_scores[row].item(), input_ids.shape[-1])
    best = [
        _best_entry([entry for group in finished for entry in group[b].entries]) for b in range(batch_size)
    ]
    longest = max(len(tokens) for tokens in best) + 1
    width = min(longest, max_length) if max_length is not None else longest
    out = torch.full((len(best), width), ids.pad, dtype=input_ids.dtype, device=input_ids.device)
    for i, tokens in enumerate(best):
        out[i, : len(tokens)] = tokens
        if len(tokens) < width:
            out[i, len(tokens)] = ids.eos[0]
    return out


def beam_search(
    model: Captioner,
    image: torch.Tensor,
    ids: TokenIds,
    processors: list[Callable],
    criteria: Sequence[StoppingCriterion],
    num_beams: int,
    num_beam_groups: int,
    length_penalty: float = 1.0,
) -> torch.Tensor:
    """Grouped beam search over raw logits; returns the best sequence per image, ended by the end token.

    Args:
        model: A CoCa model (its ``_encode_image``/``_decode_step`` hooks), in eval mode, under ``no_grad``.
        image: Preprocessed images [B, C, H, W].
        ids: The start, end and pad token ids.
        processors: Logits processors applied to each group's scores before the beam scores are added.
        criteria: Stopping criteria; the first length limit among them also caps the output width.
        num_beams: Beams per image.
        num_beam_groups: Groups the beams are split into (each ``num_beams // num_beam_groups`` beams).
        length_penalty: Finished hypotheses are ranked by score sum / length**length_penalty.

    Returns:
        Token ids [B, L], start token first, padded with ``ids.pad``.
    """
    batch_size, device = image.shape[0], image.device
    group_size = num_beams // num_beam_groups
    _, image_embs = model._encode_image(image)
    image_embs = image_embs.repeat_interleave(num_beams, dim=0)
    input_ids = ids.sot.expand(batch_size * num_beams, 1).clone()
    # Only the first beam of each group starts live, so a group's beams do not all pick the same token.
    beam_scores = torch.full((batch_size, num_beams), -1e9, dtype=torch.float, device=device)
    beam_scores[:, ::group_size] = 0
    beam_scores = beam_scores.view(-1)
    # finished[g][b] and done[g][b]: beam group g of image b
    finished = [
        [FinishedHypotheses(group_size, length_penalty) for _ in range(batch_size)]
        for _ in range(num_beam_groups)
    ]
    done = [[False] * batch_size for _ in range(num_beam_groups)]
    groups = [_group_rows(batch_size, num_beams, g, group_size, device) for g in range(num_beam_groups)]
    while True:
        logits = model._decode_step(input_ids, image_embs)
        chosen = torch.zeros(batch_size * num_beams, dtype=torch.long, device=device)
        for g, rows in enumerate(groups):
            group_ids = input_ids[rows]
            scores = apply_processors(processors, group_ids, logits[rows]) + beam_scores[rows, None]
            vocab = scores.shape[-1]
            top_scores, flat = scores.view(batch_size, group_size * vocab).topk(2 * group_size, dim=1)
            step = _select_beams(
                top_scores.cpu(),
                (flat % vocab).cpu(),
                torch.div(flat, vocab, rounding_mode="floor").cpu(),
                group_ids,
                finished[g],
                done[g],
                ids,
            )
            beam_scores[rows] = step.scores.to(beam_scores.dtype)  # float32, as open_clip keeps them
            input_ids[rows] = group_ids[step.sources]
            chosen[rows] = step.tokens
        input_ids = torch.cat((input_ids, chosen[:, None]), dim=-1)
        if all(all(group) for group in done) or should_stop(criteria, input_ids):
            break
    return _best_sequences(input_ids, beam_scores, finished, done, ids, max_length_of(criteria))
