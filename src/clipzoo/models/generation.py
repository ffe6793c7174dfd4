"""Caption generation for CoCa: top-k / top-p sampling and (grouped) beam search in plain torch.

``generate`` reproduces open_clip 3.3.0's ``CoCa.generate`` token for token (same arguments, same defaults, same
random-number consumption when sampling) without needing ``transformers`` at run time. It drives a model through
two hooks: ``model._encode_image(images) -> (latent, image_tokens)`` and
``model._decode_step(token_ids, image_tokens) -> next-token logits``.

Semantics kept from open_clip (they are surprising, so they are written down here):
- scores are raw decoder logits, not log-probabilities: beam scores add up logits;
- ``temperature`` divides the logits after the top-k/top-p filter and is ignored by beam search;
- ``num_beam_groups`` splits the beams into groups that search independently: open_clip applies no diversity
  penalty between groups (transformers' ``LogitsProcessorList`` passes the group arguments only to processors
  that take them, and MinLength/RepetitionPenalty do not), and every group starts from the same state, so all
  groups find the same hypotheses and the result equals a search with ``num_beams // num_beam_groups`` beams;
- a sampled sequence ends at the end token *or* at the pad token (id 0, a real word piece in the CLIP vocab);
- the token at position ``seq_len - 1`` of a sampled sequence is forced to be the end token.

Differences: the image is encoded once per image instead of once per beam, and a grouped search decodes one
group instead of ``num_beam_groups`` identical copies (same ids, a fraction of the work); a ``text``
prompt with beam search is an error (open_clip ignores it); beam search runs the model in eval mode too (open_clip
leaves the mode as it is); arguments are validated with messages up front.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeGuard

import torch
import torch.nn.functional as F

from ..errors import CaptioningUnsupportedError, GenerationArgumentError, unknown_choice_message
from .beam_search import beam_search
from .decoding import (
    Captioner,
    MaxLength,
    MinLength,
    RepetitionPenalty,
    StoppingCriterion,
    TokenIds,
    TopK,
    TopP,
    apply_processors,
    max_length_of,
    should_stop,
)

SOT_TOKEN_ID = 49406  # CLIP BPE <start_of_text>, open_clip's default
EOS_TOKEN_ID = 49407  # CLIP BPE <end_of_text>
GENERATION_TYPES = ("beam_search", "top_k", "top_p")


# -- model checks -------------------------------------------------------------------------------------------------


def captioning_models() -> list[str]:
    """Registered architectures that can write captions: those whose config has a ``multimodal_cfg``."""
    from clipzoo.registry import architectures as registry

    return [
        name
        for name in registry.list_models()
        if (registry.get_model_config(name) or {}).get("multimodal_cfg")
    ]


def can_caption(model: object) -> TypeGuard[Captioner]:
    """Whether ``model`` has the CoCa decoding hooks (``_encode_image``, ``_decode_step``)."""
    return callable(getattr(model, "_decode_step", None)) and callable(getattr(model, "_encode_image", None))


def check_can_caption(model: torch.nn.Module) -> Captioner:
    """``model`` as the decoding strategies use it; CaptioningUnsupportedError unless it has CoCa's hooks."""
    if can_caption(model):
        return model
    names = ", ".join(captioning_models()) or "none registered"
    raise CaptioningUnsupportedError(
        f"{type(model).__name__} cannot generate captions: it has no multimodal text decoder. "
        f"Models that can caption (configs with a multimodal_cfg): {names}"
    )


# -- argument checks ----------------------------------------------------------------------------------------------


def _as_ids(
    value: int | Sequence[int] | torch.Tensor | None, default: int, device: torch.device
) -> torch.Tensor:
    if value is None:
        value = default
    ids = torch.as_tensor([value] if isinstance(value, int) else value, dtype=torch.long, device=device)
    return ids.reshape(-1)


def _token_ids(model: torch.nn.Module, sot: Any, eos: Any, pad: int | None, device: torch.device) -> TokenIds:
    sot_ids = _as_ids(sot, SOT_TOKEN_ID, device)
    if sot_ids.numel() != 1:
        raise GenerationArgumentError(f"sot_token_id must be a single token id, got {sot_ids.tolist()}")
    pad = getattr(model, "pad_id", 0) if pad is None else pad
    return TokenIds(sot_ids, _as_ids(eos, EOS_TOKEN_ID, device), int(pad))


def _check_generation_type(generation_type: str) -> None:
    if generation_type not in GENERATION_TYPES:
        raise GenerationArgumentError(unknown_choice_message("generation_type", generation_type, GENERATION_TYPES))


def _check_lengths(seq_len: int, min_seq_len: int, max_seq_len: int) -> None:
    if not isinstance(min_seq_len, int) or min_seq_len < 0:
        raise GenerationArgumentError(f"min_seq_len must be a non-negative integer, got {min_seq_len!r}")
    if seq_len <= min_seq_len:
        raise GenerationArgumentError(f"seq_len ({seq_len}) must be larger than min_seq_len ({min_seq_len})")
    if max_seq_len < 1:
        raise GenerationArgumentError(f"max_seq_len must be at least 1, got {max_seq_len}")


def _check_beams(num_beams: int, num_beam_groups: int) -> None:
    if not isinstance(num_beams, int) or num_beams < 2:
        raise GenerationArgumentError(f"num_beams must be an integer >= 2 for beam search, got {num_beams!r}")
    if not isinstance(num_beam_groups, int) or num_beam_groups < 1 or num_beams % num_beam_groups:
        raise GenerationArgumentError(
            f"num_beam_groups must be a positive integer that divides num_beams ({num_beams}), got {num_beam_groups!r}"
        )


def _sampling_filter(generation_type: str, top_k: int, top_p: float, temperature: float) -> TopK | TopP:
    if not temperature > 0:
        raise GenerationArgumentError(f"temperature must be > 0 for sampling, got {temperature}")
    if generation_type == "top_k":
        if not isinstance(top_k, int) or top_k < 1:
            raise GenerationArgumentError(f"top_k must be a positive integer, got {top_k!r}")
        return TopK(top_k)
    if not 0 <= top_p <= 1:
        raise GenerationArgumentError(f"top_p must be within [0, 1], got {top_p}")
    return TopP(float(top_p))


def longest_seq_len(model: torch.nn.Module, max_seq_len: int | None = None) -> int | None:
    """The largest ``seq_len`` whose decoding fits the text tower's position table (None when unknown).

    The last step feeds ``seq_len - 1`` tokens (at most ``max_seq_len`` when sampling), plus CoCa's class token.
    """
    text = getattr(model, "text", None)
    table = getattr(text, "positional_embedding", None)
    if table is None:
        return None
    fed = table.shape[0] - (1 if getattr(text, "cls_emb", None) is not None else 0)
    return None if max_seq_len is not None and max_seq_len <= fed else fed + 1


def _check_fits_context(model: torch.nn.Module, seq_len: int, max_seq_len: int | None) -> None:
    limit = longest_seq_len(model, max_seq_len)
    if limit is not None and seq_len > limit:
        raise GenerationArgumentError(
            f"seq_len {seq_len} is longer than this model's text context allows: at most {limit} tokens "
            "(start token included)"
        )


def _base_processors(min_seq_len: int, repetition_penalty: float, eos: torch.Tensor) -> list[Callable]:
    if not repetition_penalty > 0:
        raise GenerationArgumentError(f"repetition_penalty must be > 0, got {repetition_penalty}")
    processors: list[Callable] = [MinLength(min_seq_len, eos)]
    if repetition_penalty != 1.0:  # a penalty of exactly 1 changes nothing: skip the gather/scatter
        processors.append(RepetitionPenalty(float(repetition_penalty)))
    return processors


# -- sampling -----------------------------------------------------------------------------------------------------


def _sample(
    model: Captioner,
    image: torch.Tensor,
    prompt: torch.Tensor,
    ids: TokenIds,
    processors: list[Callable],
    criteria: Sequence[StoppingCriterion],
    seq_len: int,
    max_seq_len: int,
    temperature: float,
    fixed_output_length: bool,
) -> torch.Tensor:
    """Extend ``prompt`` one sampled token at a time until every row ends or a criterion stops it."""
    _, image_embs = model._encode_image(image)
    out = prompt
    while True:
        window = out[:, -max_seq_len:]
        last = out[:, -1]
        ended = torch.isin(last, ids.eos) | (last == ids.pad)
        next_tokens = torch.full((out.shape[0], 1), ids.pad, dtype=torch.long, device=out.device)
        if ended.all():
            # a length criterion must be able to end a padded batch; without one, padding would never stop
            if not fixed_output_length or max_length_of(criteria) is None:
                break
        else:
            live = ~ended
            logits = model._decode_step(window, image_embs)[live]
            scores = apply_processors(processors, window[live], logits)
            probs = F.softmax(scores / temperature, dim=-1)
            if window.shape[1] + 1 == seq_len:
                next_tokens[live] = ids.eos[0]
            else:
                next_tokens[live] = torch.multinomial(probs, 1)
        out = torch.cat((out, next_tokens), dim=-1)
        if should_stop(criteria, out):
            break
    return out


def _prompt(text: torch.Tensor | None, batch_size: int, sot: torch.Tensor) -> torch.Tensor:
    if text is None:
        return sot.expand(batch_size, 1).clone()
    return text[None, :] if text.ndim == 1 else text


# -- public entry point -------------------------------------------------------------------------------------------


def generate(
    model: torch.nn.Module,
    image: torch.Tensor,
    text: torch.Tensor | None = None,
    seq_len: int = 30,
    max_seq_len: int = 77,
    temperature: float = 1.0,
    generation_type: str = "beam_search",
    top_p: float = 0.1,
    top_k: int = 1,
    pad_token_id: int | None = None,
    eos_token_id: int | Sequence[int] | torch.Tensor | None = None,
    sot_token_id: int | torch.Tensor | None = None,
    num_beams: int = 6,
    num_beam_groups: int = 3,
    min_seq_len: int = 5,
    stopping_criteria: Sequence[StoppingCriterion] | None = None,
    repetition_penalty: float = 1.0,
    fixed_output_length: bool = False,
) -> torch.Tensor:
    """Caption token ids [B, L] (start token first) for preprocessed images [B, C, H, W]; open_clip's CoCa.generate.

    ``generation_type``: "beam_search" (``num_beams``, ``num_beam_groups``), "top_k" (``top_k=1`` is greedy)
    or "top_p" (keeps the tokens holding the top ``top_p`` of the probability mass). Sequences hold at most
    ``seq_len`` tokens, and at least ``min_seq_len`` before the end token; sampling looks at the last
    ``max_seq_len`` tokens. ``text`` ([L] or [B, L] ids) is a prompt to continue (sampling only).
    ``fixed_output_length`` pads every sequence with ``pad_token_id`` to ``seq_len``.

    Args:
        model: A CoCa model (anything with its ``_encode_image``/``_decode_step`` hooks); called as
            ``model.generate(image, ...)`` it is passed for you.
        image: Preprocessed images [B, C, H, W].
        text: Prompt ids [L] or [B, L] to continue (sampling only); None starts from the start token.
        seq_len: Most tokens per sequence, start token included.
        max_seq_len: How many of the last tokens sampling feeds the decoder (its context length).
        temperature: Divides the logits after the top-k/top-p filter when sampling; beam search ignores it.
        generation_type: ``'beam_search'`` (the default), ``'top_k'`` or ``'top_p'``.
        top_p: For ``'top_p'``: keep the most likely tokens that hold this share of the probability mass.
        top_k: For ``'top_k'``: keep the ``top_k`` most likely tokens (1 is greedy).
        pad_token_id: Fills sequences that ended early; None uses ``model.pad_id`` (else 0).
        eos_token_id: End token id, or several (any ends a sequence; the first is written); None is CLIP's
            ``<end_of_text>`` (49407).
        sot_token_id: Start token id; None is CLIP's ``<start_of_text>`` (49406).
        num_beams: Beams of beam search (at least 2).
        num_beam_groups: Groups the beams are split into; it must divide ``num_beams``.
        min_seq_len: The end token is forbidden until a sequence has this many tokens (start included).
        stopping_criteria: Callables ``(token_ids, scores) -> finished per row`` that replace the default
            length limit (``seq_len``).
        repetition_penalty: Above 1 makes tokens already in the sequence less likely (1.0: no penalty).
        fixed_output_length: Pad every sequence with ``pad_token_id`` to exactly ``seq_len`` tokens.

    Returns:
        int64 token ids [B, L], start token first, ``L <= seq_len``; [L] for a 1-D ``text`` prompt. Turn them
        into text with :func:`decode_captions` (or the tokenizer's ``decode``).

    Raises:
        CaptioningUnsupportedError: ``model`` has no multimodal text decoder (the message lists the
            architectures that have one).
        GenerationArgumentError: an unknown ``generation_type``, lengths out of range (``seq_len`` must exceed
            ``min_seq_len`` and fit the model's text context), invalid beam, sampling or penalty settings, a
            ``text`` prompt with beam search, or more than one start token id.
    """
    captioner = check_can_caption(model)
    _check_generation_type(generation_type)
    _check_lengths(seq_len, min_seq_len, max_seq_len)
    _check_fits_context(model, seq_len, None if generation_type == "beam_search" else max_seq_len)
    ids = _token_ids(model, sot_token_id, eos_token_id, pad_token_id, image.device)
    processors = _base_processors(min_seq_len, repetition_penalty, ids.eos)
    criteria = list(stopping_criteria) if stopping_criteria is not None else [MaxLength(seq_len)]
    if generation_type == "beam_search":
        if text is not None:
            raise GenerationArgumentError(
                "a text prompt is only supported by top_k/top_p sampling, not beam_search"
            )
        _check_beams(num_beams, num_beam_groups)
        with _eval_mode(model), torch.no_grad():
            # Groups never interact (see the module notes), so every group repeats the same search: run one.
            out = beam_search(captioner, image, ids, processors, criteria, num_beams // num_beam_groups, 1)
        return _pad_to(out, seq_len, ids.pad) if fixed_output_length else out
    processors.append(_sampling_filter(generation_type, top_k, top_p, temperature))
    prompt = _prompt(text, image.shape[0], ids.sot)
    with _eval_mode(model), torch.no_grad():
        out = _sample(
            captioner,
            image,
            prompt,
            ids,
            processors,
            criteria,
            seq_len,
            max_seq_len,
            temperature,
            fixed_output_length,
        )
    return out.squeeze(0) if text is not None and text.ndim == 1 else out


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Run in eval mode (no dropout) and restore the caller's mode afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _pad_to(out: torch.Tensor, length: int, pad: int) -> torch.Tensor:
    if out.shape[1] >= length:
        return out
    return F.pad(out, (0, length - out.shape[1]), value=pad)


# -- decoding -----------------------------------------------------------------------------------------------------


def caption_token_ids(
    row: Sequence[int] | torch.Tensor, sot_token_id: int, eos_token_ids: Sequence[int], pad_token_id: int
) -> list[int]:
    """The word-piece ids of one generated row: start tokens removed, cut at the first end token, trailing pads
    (fill after a sampled row ended) dropped."""
    tokens = row.tolist() if isinstance(row, torch.Tensor) else list(row)
    tokens = [t for t in tokens if t != sot_token_id]
    ends = [i for i, t in enumerate(tokens) if t in eos_token_ids]
    if ends:
        tokens = tokens[: ends[0]]
    while tokens and tokens[-1] == pad_token_id:
        tokens.pop()
    return tokens


def decode_captions(
    token_ids: torch.Tensor,
    tokenizer: Any,
    sot_token_id: int | None = None,
    eos_token_id: int | None = None,
    pad_token_id: int = 0,
) -> list[str]:
    """Caption strings for generated ids [B, L] (or [L]), using ``tokenizer.decode``; start/end ids default to the
    tokenizer's ``sot_token_id`` / ``eot_token_id``, else CLIP's."""
    sot = sot_token_id if sot_token_id is not None else getattr(tokenizer, "sot_token_id", SOT_TOKEN_ID)
    eos = eos_token_id if eos_token_id is not None else getattr(tokenizer, "eot_token_id", EOS_TOKEN_ID)
    rows = token_ids[None] if token_ids.ndim == 1 else token_ids
    return [tokenizer.decode(caption_token_ids(row, sot, [eos], pad_token_id)).strip() for row in rows]
