"""clipzoo.models.generation: logits processors, beam bookkeeping, generate() on a tiny CoCa, caption decoding.

`clipzoo caption` is tested in tests/test_cli_caption.py.

Parity with open_clip's CoCa.generate is in tests/parity/test_models_generation_parity.py.
"""

from __future__ import annotations

import copy
import functools

import pytest
import torch

from clipzoo.models import generation
from clipzoo.models.beam_search import FinishedHypotheses, beam_search
from clipzoo.models.decoding import MaxLength, MinLength, RepetitionPenalty, TopK, TopP
from clipzoo.models.generation import caption_token_ids, decode_captions, generate
from tests.helpers.configs import TINY_COCA_VOCAB

VOCAB = TINY_COCA_VOCAB
SOT, EOS = VOCAB - 2, VOCAB - 1  # the tiny vocabulary's start/end ids
TOKEN_IDS = {"sot_token_id": SOT, "eos_token_id": EOS}


# The tiny models' ops are too small to split across threads (conftest's single_thread).
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def coca(coca_names):
    """The tiny CoCa with seeded random weights; the end token's logit is scaled up so that captions end early."""
    from clipzoo import create_model

    torch.manual_seed(0)
    model = create_model("tiny-coca-gen").eval()
    with torch.no_grad():
        model.text_decoder.text_projection[:, EOS] *= 3
    return model


def images(n: int = 3, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


# -- processors and bookkeeping -----------------------------------------------------------------------------------


def test_min_length_forbids_end_tokens_only_while_short():
    scores = torch.zeros(2, 5)
    eos = torch.tensor([3, 4])
    short = MinLength(3, eos)(torch.zeros(2, 2, dtype=torch.long), scores)
    assert torch.isinf(short[:, 3:]).all() and (short[:, :3] == 0).all()
    assert (MinLength(3, eos)(torch.zeros(2, 3, dtype=torch.long), scores) == 0).all()
    assert (scores == 0).all()  # the input is left untouched


def test_repetition_penalty_divides_positive_and_multiplies_negative_seen_logits():
    scores = torch.tensor([[2.0, -2.0, 2.0, -2.0]])
    out = RepetitionPenalty(2.0)(torch.tensor([[0, 1, 1]]), scores)
    assert out.tolist() == [[1.0, -4.0, 2.0, -2.0]]


def test_top_k_keeps_the_k_largest_and_ties():
    scores = torch.tensor([[1.0, 3.0, 2.0, 3.0, 0.0]])
    assert torch.isfinite(TopK(2)(None, scores)).tolist() == [[False, True, False, True, False]]
    assert torch.isfinite(TopK(3)(None, scores)).tolist() == [[False, True, True, True, False]]
    assert torch.isfinite(TopK(99)(None, scores)).all()


def test_top_p_keeps_the_nucleus_and_at_least_one_token():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    scores = probs.log()
    # drops the least likely tokens whose mass stays <= 1 - top_p
    assert torch.isfinite(TopP(0.8)(None, scores)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(TopP(0.9)(None, scores)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(TopP(0.0)(None, scores)).tolist() == [[True, False, False, False]]


def test_max_length_is_per_row():
    assert MaxLength(3)(torch.zeros(2, 3, dtype=torch.long)).tolist() == [True, True]
    assert MaxLength(3)(torch.zeros(2, 2, dtype=torch.long)).tolist() == [False, False]


def test_finished_hypotheses_keep_the_best_and_know_when_done():
    hyps = FinishedHypotheses(capacity=2)
    hyps.add(torch.tensor([1]), 2.0, 2)  # score 1.0
    hyps.add(torch.tensor([2]), 9.0, 3)  # score 3.0
    hyps.add(torch.tensor([3]), 4.0, 2)  # score 2.0: evicts 1.0
    assert sorted(s for s, _ in hyps.entries) == [2.0, 3.0] and hyps.worst_score == 2.0
    hyps.add(torch.tensor([4]), 1.0, 1)  # worse than the worst kept: ignored
    assert len(hyps.entries) == 2
    assert hyps.is_done(best_running_sum=8.0, cur_len=4)  # 8 / 4 cannot beat 2
    assert not hyps.is_done(best_running_sum=9.0, cur_len=4)


# -- generate on a tiny CoCa --------------------------------------------------------------------------------------


def greedy_reference(model, image, seq_len: int, min_seq_len: int) -> list[list[int]]:
    """Argmax decoding written out step by step: the meaning of open_clip's top_k=1."""
    _, tokens = model._encode_image(image)
    rows = []
    for i in range(image.shape[0]):
        ids = [SOT]
        while len(ids) < seq_len and ids[-1] not in (EOS, 0):
            logits = model._decode_step(torch.tensor([ids]), tokens[i : i + 1])[0]
            if len(ids) < min_seq_len:
                logits[EOS] = -float("inf")
            ids.append(EOS if len(ids) + 1 == seq_len else int(logits.argmax()))
        rows.append(ids)
    return rows


@pytest.mark.parametrize("seq_len,min_seq_len", [(16, 5), (8, 0), (12, 10)])
def test_greedy_is_argmax_decoding(coca, seq_len, min_seq_len):
    with torch.no_grad():
        out = generate(
            coca, images(4), generation_type="top_k", seq_len=seq_len, min_seq_len=min_seq_len, **TOKEN_IDS
        )
        expected = greedy_reference(coca, images(4), seq_len, min_seq_len)
    for row, ref in zip(out.tolist(), expected):
        assert row[: len(ref)] == ref and all(t == 0 for t in row[len(ref) :])


def test_beam_search_output_starts_ends_and_respects_lengths(coca):
    out = generate(coca, images(4), seq_len=12, min_seq_len=4, num_beams=4, num_beam_groups=2, **TOKEN_IDS)
    assert out.dtype == torch.long and out.shape[0] == 4 and out.shape[1] <= 12
    assert (out[:, 0] == SOT).all()
    for row in out.tolist():
        if EOS not in row:  # ran to the length limit: no room for the end token
            assert len(row) == 12
            continue
        assert row.index(EOS) >= 4  # min_seq_len counts the start token
        assert all(t == 0 for t in row[row.index(EOS) + 1 :])
    fixed = generate(coca, images(4), seq_len=12, min_seq_len=4, num_beams=4, num_beam_groups=2,
                     fixed_output_length=True, **TOKEN_IDS)  # fmt: skip
    assert fixed.shape == (4, 12) and torch.equal(fixed[:, : out.shape[1]], out)


def test_beam_search_is_independent_of_batch_composition(coca):
    # Batches of 2 and 1 run matmuls of different shapes, whose fp32 rounding differs by CPU; in float64 those
    # differences (~1e-16) cannot flip a choice between beams, so equal tokens are what row independence means.
    model, batch = copy.deepcopy(coca).double(), images(2).double()
    both = generate(model, batch, seq_len=10, num_beams=3, num_beam_groups=1, **TOKEN_IDS)
    second = generate(model, batch[1:], seq_len=10, num_beams=3, num_beam_groups=1, **TOKEN_IDS)
    assert second[0].tolist() == both[1, : second.shape[1]].tolist()


def test_sampling_continues_a_prompt_and_keeps_its_shape(coca):
    prompt = torch.tensor([SOT, 5, 7])
    torch.manual_seed(0)
    out = generate(coca, images(1), text=prompt, generation_type="top_p", top_p=0.9, seq_len=10, **TOKEN_IDS)
    assert out.ndim == 1 and out[:3].tolist() == prompt.tolist() and len(out) <= 10
    torch.manual_seed(0)
    again = generate(
        coca, images(1), text=prompt, generation_type="top_p", top_p=0.9, seq_len=10, **TOKEN_IDS
    )
    assert torch.equal(out, again)


def test_sampling_fixed_output_length_pads_to_seq_len(coca):
    torch.manual_seed(0)
    out = generate(coca, images(3), generation_type="top_k", top_k=3, seq_len=9, fixed_output_length=True,
                   **TOKEN_IDS)  # fmt: skip
    assert out.shape == (3, 9) and (out[:, 0] == SOT).all()


def test_custom_stopping_criteria_end_generation(coca):
    out = generate(coca, images(2), seq_len=20, min_seq_len=19, stopping_criteria=[MaxLength(6)], num_beams=2,
                   num_beam_groups=1, **TOKEN_IDS)  # fmt: skip
    assert out.shape == (2, 6)  # stopped at 6 tokens, before the end token was allowed


def test_generate_restores_training_mode(coca):
    coca.train()
    generate(coca, images(1), seq_len=7, num_beams=2, num_beam_groups=1, **TOKEN_IDS)
    assert coca.training
    coca.eval()
    generate(coca, images(1), generation_type="top_k", seq_len=7, **TOKEN_IDS)
    assert not coca.training


def test_models_without_a_decoder_cannot_caption_and_the_error_lists_those_that_can(coca_names):
    from clipzoo import create_model
    from clipzoo.registry import architectures as registry

    clip = create_model("tiny-vit")
    with pytest.raises(generation.CaptioningUnsupportedError) as info:
        generate(clip, images(1))
    captioners = [
        n for n in registry.list_models() if (registry.get_model_config(n) or {}).get("multimodal_cfg")
    ]
    assert generation.captioning_models() == captioners
    assert {"coca_ViT-B-32", "tiny-coca-gen"} <= set(captioners) and "ViT-B-32" not in captioners
    listed = str(info.value).split(": ")[-1].split(", ")
    assert listed == captioners and "CLIP" in str(info.value)


@pytest.mark.parametrize(
    "kwargs,needle",
    [
        ({"generation_type": "beamsearch"}, "did you mean 'beam_search'"),
        ({"seq_len": 5, "min_seq_len": 5}, "must be larger than min_seq_len"),
        ({"num_beams": 1}, "num_beams must be an integer >= 2"),
        ({"num_beams": 6, "num_beam_groups": 4}, "divides num_beams"),
        ({"generation_type": "top_k", "temperature": 0.0}, "temperature must be > 0"),
        ({"generation_type": "top_k", "top_k": 0}, "top_k must be a positive integer"),
        ({"generation_type": "top_p", "top_p": 1.5}, "top_p must be within"),
        ({"repetition_penalty": 0.0}, "repetition_penalty must be > 0"),
        ({"text": torch.tensor([SOT])}, "only supported by top_k/top_p"),
        ({"sot_token_id": [1, 2]}, "sot_token_id must be a single token id"),
    ],
)
def test_bad_arguments_raise_with_the_fix(coca, kwargs, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        generate(coca, images(1), **{**TOKEN_IDS, **kwargs})


# -- decoding -----------------------------------------------------------------------------------------------------


def test_caption_token_ids_strip_start_end_and_fill():
    assert caption_token_ids([SOT, 5, 6, EOS, 0, 0], SOT, [EOS], 0) == [5, 6]
    assert caption_token_ids(torch.tensor([SOT, 5, 6, 0, 0]), SOT, [EOS], 0) == [
        5,
        6,
    ]  # ended by the pad token
    assert caption_token_ids([SOT, 5, 0, 6, EOS], SOT, [EOS], 0) == [
        5,
        0,
        6,
    ]  # id 0 inside a caption is a word


def test_decode_captions_with_the_clip_tokenizer():
    from clipzoo.tokenizers.bpe import SimpleTokenizer

    tok = SimpleTokenizer()
    words = tok.encode("a photo of a cat")
    rows = torch.tensor(
        [[tok.sot_token_id, *words, tok.eot_token_id, 0], [tok.sot_token_id, *words[:2], 0, 0, 0, 0, 0]]
    )
    assert decode_captions(rows, tok) == ["a photo of a cat", "a photo"]
    assert decode_captions(rows[0], tok) == ["a photo of a cat"]


@pytest.mark.parametrize("num_beams,num_beam_groups", [(6, 3), (4, 2), (3, 3)])
def test_beam_groups_repeat_one_search(coca, num_beams, num_beam_groups):
    """Why generate() decodes a single group: without a diversity penalty every group finds the same beams."""
    ids = generation._token_ids(coca, SOT, EOS, None, torch.device("cpu"))
    processors = generation._base_processors(3, 1.0, ids.eos)
    search = functools.partial(beam_search, coca, images(3), ids, processors, [MaxLength(14)])
    with torch.no_grad():
        grouped = search(num_beams, num_beam_groups)
        single = search(num_beams // num_beam_groups, 1)
    assert grouped.tolist() == single.tolist()
