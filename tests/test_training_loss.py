"""Single-process behaviour of clipzoo.training.loss: values from first principles, outputs, errors, create_loss."""

from __future__ import annotations

import math
from argparse import Namespace

import pytest
import torch
import torch.nn.functional as F

from clipzoo.training.loss import ClipLoss, CoCaLoss, DistillClipLoss, SigLipLoss, create_loss


def features(n: int = 5, d: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (
        F.normalize(torch.randn(n, d, generator=gen), dim=-1),
        F.normalize(torch.randn(n, d, generator=gen), dim=-1),
    )


def test_clip_loss_is_mean_of_both_cross_entropies() -> None:
    img, txt = features()
    scale = torch.tensor(7.0)
    expected = 0
    for logits in (scale * img @ txt.T, scale * txt @ img.T):
        # -log softmax of the diagonal, averaged over rows
        expected = expected + (-(logits.diagonal() - logits.logsumexp(dim=1))).mean() / 2
    torch.testing.assert_close(ClipLoss()(img, txt, scale), expected, atol=1e-6, rtol=1e-6)


def test_clip_loss_output_dict_and_bias_invariance() -> None:
    img, txt = features()
    scale = torch.tensor(5.0)
    out = ClipLoss()(img, txt, scale, logit_bias=torch.tensor(-3.0), output_dict=True)
    assert list(out) == ["contrastive_loss"]
    # A scalar bias shifts every logit of a row equally: softmax cross-entropy is unchanged.
    torch.testing.assert_close(out["contrastive_loss"], ClipLoss()(img, txt, scale), atol=1e-6, rtol=1e-6)


def test_clip_loss_label_cache_follows_batch_size() -> None:
    loss = ClipLoss(cache_labels=True)
    first = loss.get_ground_truth(torch.device("cpu"), 4)
    assert loss.get_ground_truth(torch.device("cpu"), 4) is first
    assert loss.get_ground_truth(torch.device("cpu"), 6).tolist() == list(range(6))


def test_clip_loss_local_loss_labels_are_offset_by_rank() -> None:
    loss = ClipLoss(local_loss=True, rank=2, world_size=4)
    assert loss.get_ground_truth(torch.device("cpu"), 3).tolist() == [6, 7, 8]


@pytest.mark.parametrize("cls", [ClipLoss, DistillClipLoss])
def test_horovod_is_rejected_with_a_hint(cls) -> None:
    with pytest.raises(ValueError, match="torch.distributed"):
        cls(use_horovod=True)


def test_coca_loss_rejects_horovod() -> None:
    with pytest.raises(ValueError, match="use_horovod"):
        CoCaLoss(caption_loss_weight=1.0, clip_loss_weight=1.0, use_horovod=True)


def test_distributed_loss_without_process_group_explains() -> None:
    img, txt = features()
    with pytest.raises(RuntimeError, match="init_process_group"):
        ClipLoss(world_size=2)(img, txt, torch.tensor(1.0))
    with pytest.raises(RuntimeError, match="init_process_group"):
        SigLipLoss(world_size=2)(img, txt, torch.tensor(1.0), torch.tensor(0.0))


def test_siglip_loss_matches_pairwise_formula() -> None:
    img, txt = features(n=4)
    scale, bias = torch.tensor(10.0), torch.tensor(-5.0)
    logits = scale * img @ txt.T + bias
    signs = 2 * torch.eye(4) - 1
    expected = -F.logsigmoid(signs * logits).sum() / 4
    torch.testing.assert_close(SigLipLoss()(img, txt, scale, bias), expected, atol=1e-6, rtol=1e-6)
    out = SigLipLoss()(img, txt, scale, bias, output_dict=True)
    assert list(out) == ["contrastive_loss"]


def test_siglip_dist_impl_default_and_validation() -> None:
    assert SigLipLoss().dist_impl == "bidir"
    for impl in ("bidir", "shift", "reduce", "gather"):
        assert SigLipLoss(dist_impl=impl).dist_impl == impl
    with pytest.raises(ValueError, match="did you mean 'gather'"):
        SigLipLoss(dist_impl="gathr")


def test_siglip_loss_without_bias() -> None:
    img, txt = features(n=3)
    scale = torch.tensor(2.0)
    expected = -F.logsigmoid((2 * torch.eye(3) - 1) * (scale * img @ txt.T)).sum() / 3
    torch.testing.assert_close(SigLipLoss()(img, txt, scale, None), expected, atol=1e-6, rtol=1e-6)


def test_coca_loss_weights_and_padding() -> None:
    img, txt = features(n=2)
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 11, generator=gen)
    labels = torch.tensor([[5, 3, 0, 0], [1, 2, 9, 0]])  # 0 = padding, ignored
    loss = CoCaLoss(caption_loss_weight=2.0, clip_loss_weight=0.5)
    clip, caption = loss(img, txt, logits, labels, torch.tensor(3.0))
    keep = labels != 0
    expected_caption = 2.0 * F.cross_entropy(logits[keep], labels[keep])
    torch.testing.assert_close(caption, expected_caption, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(clip, 0.5 * ClipLoss()(img, txt, torch.tensor(3.0)), atol=1e-6, rtol=1e-6)
    out = loss(img, txt, logits, labels, torch.tensor(3.0), output_dict=True)
    assert list(out) == ["contrastive_loss", "caption_loss"]


def test_coca_loss_without_contrastive_weight_is_zero() -> None:
    img, txt = features(n=2)
    logits = torch.zeros(2, 3, 7)
    clip, caption = CoCaLoss(caption_loss_weight=1.0, clip_loss_weight=0.0)(
        img, txt, logits, torch.ones(2, 3, dtype=torch.long), torch.tensor(1.0)
    )
    assert clip.item() == 0.0
    torch.testing.assert_close(caption, torch.tensor(math.log(7)), atol=1e-6, rtol=1e-6)


def test_distill_loss_is_cross_entropy_to_teacher() -> None:
    img, txt = features()
    t_img, t_txt = features(seed=3)
    loss = DistillClipLoss()
    contrastive, distill = loss(img, txt, torch.tensor(4.0), t_img, t_txt, torch.tensor(6.0))
    torch.testing.assert_close(contrastive, ClipLoss()(img, txt, torch.tensor(4.0)))
    student, teacher = 4.0 * img @ txt.T, 6.0 * t_img @ t_txt.T
    per_image = -(teacher.softmax(1) * student.log_softmax(1)).sum(1).mean()
    per_text = -(teacher.T.softmax(1) * student.T.log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(distill, (per_image + per_text) / 2, atol=1e-6, rtol=1e-6)
    out = loss(img, txt, torch.tensor(4.0), t_img, t_txt, torch.tensor(6.0), output_dict=True)
    assert list(out) == ["contrastive_loss", "distill_loss"]


def training_args(**overrides) -> Namespace:
    """The loss-related fields of open_clip_train's arguments, at their defaults."""
    base = dict(
        model="ViT-B-32",
        distill=False,
        siglip=False,
        local_loss=False,
        gather_with_grad=False,
        rank=0,
        world_size=1,
        horovod=False,
        loss_dist_impl=None,
        coca_caption_loss_weight=2.0,
        coca_contrastive_loss_weight=1.0,
    )
    return Namespace(**{**base, **overrides})


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, ClipLoss),
        ({"siglip": True}, SigLipLoss),
        ({"model": "coca_ViT-B-32"}, CoCaLoss),
        ({"model": "coca_ViT-B-32", "siglip": True}, CoCaLoss),  # CoCa wins over --siglip, as in open_clip
        ({"distill": True, "model": "coca_ViT-B-32"}, DistillClipLoss),
    ],
)
def test_create_loss_picks_by_fields_and_config(overrides, expected) -> None:
    assert type(create_loss(training_args(**overrides))) is expected


def test_create_loss_passes_options_through() -> None:
    loss = create_loss(training_args(local_loss=True, gather_with_grad=True, rank=3, world_size=8))
    assert (loss.local_loss, loss.gather_with_grad, loss.rank, loss.world_size, loss.cache_labels) == (
        True,
        True,
        3,
        8,
        True,
    )
    siglip = create_loss(training_args(siglip=True, loss_dist_impl="shift", world_size=4, rank=1))
    assert (siglip.dist_impl, siglip.world_size, siglip.rank) == ("shift", 4, 1)
    coca = create_loss(training_args(model="coca_ViT-B-32", coca_caption_loss_weight=3.0))
    assert (coca.caption_loss_weight, coca.clip_loss_weight) == (3.0, 1.0)


def test_create_loss_does_not_guess_from_the_name() -> None:
    from clipzoo.registry.architectures import UnknownModelError

    # A name containing "coca" that is not a registered CoCa config is an error, not a guess.
    with pytest.raises(UnknownModelError, match="coca_ViT-B-32"):
        create_loss(training_args(model="coca_ViT-B-3"))


def test_create_loss_rejects_horovod_for_siglip() -> None:
    with pytest.raises(ValueError, match="use_horovod"):
        create_loss(training_args(siglip=True, horovod=True))


def test_create_loss_fills_missing_fields_with_defaults() -> None:
    loss = create_loss(Namespace(model="ViT-B-32"))
    assert type(loss) is ClipLoss and loss.world_size == 1
