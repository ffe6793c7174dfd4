"""Parity of clipzoo.training.loss with open_clip 3.3.0's open_clip.loss (single process, fp32).

Same inputs into both; losses and gradients (features, logit_scale, logit_bias) must agree to atol 1e-6,
rtol 1e-6. Distributed behaviour is covered in tests/test_training_loss_distributed.py.
"""

from __future__ import annotations

import inspect
from argparse import Namespace

import open_clip.loss as oc_loss
import pytest
import torch
import torch.nn.functional as F
from open_clip.factory import create_loss as oc_create_loss

from clipzoo.training import loss as cz_loss

TOL = {"atol": 1e-6, "rtol": 1e-6}


def leaves(seed: int = 0, n: int = 6, d: int = 16) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "image_features": F.normalize(torch.randn(n, d, generator=gen), dim=-1),
        "text_features": F.normalize(torch.randn(n, d, generator=gen), dim=-1),
        "logit_scale": torch.tensor(12.5),
        "logit_bias": torch.tensor(-4.0),
    }


def run(loss_fn, inputs: dict[str, torch.Tensor], **kwargs):
    """Forward on fresh leaf copies; returns (outputs, grads of every input) with the summed outputs' backward."""
    copies = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    out = loss_fn(**copies, **kwargs)
    values = list(out.values()) if isinstance(out, dict) else list(out) if isinstance(out, tuple) else [out]
    sum(v for v in values if v.requires_grad).backward()
    return out, {k: v.grad for k, v in copies.items()}


def assert_same(ours, theirs) -> None:
    out_a, grads_a = ours
    out_b, grads_b = theirs
    if isinstance(out_b, dict):
        assert list(out_a) == list(out_b)
        out_a, out_b = list(out_a.values()), list(out_b.values())
    torch.testing.assert_close(out_a, out_b, **TOL, check_dtype=False)
    for name, grad in grads_b.items():
        if grad is None:
            assert grads_a[name] is None or not grads_a[name].any(), name
        else:
            torch.testing.assert_close(grads_a[name], grad, **TOL, msg=f"gradient of {name}")


@pytest.mark.parametrize("output_dict", [False, True])
@pytest.mark.parametrize("with_bias", [False, True])
def test_clip_loss_parity(output_dict: bool, with_bias: bool) -> None:
    inputs = leaves()
    if not with_bias:
        inputs.pop("logit_bias")
    assert_same(
        run(cz_loss.ClipLoss(), inputs, output_dict=output_dict),
        run(oc_loss.ClipLoss(), inputs, output_dict=output_dict),
    )


@pytest.mark.parametrize("output_dict", [False, True])
def test_siglip_loss_parity(output_dict: bool) -> None:
    for seed in range(3):
        inputs = leaves(seed)
        assert_same(
            run(cz_loss.SigLipLoss(), inputs, output_dict=output_dict),
            run(oc_loss.SigLipLoss(), inputs, output_dict=output_dict),
        )


@pytest.mark.parametrize(("clip_weight", "pad_id"), [(1.0, 0), (0.5, 3), (0.0, 0)])
@pytest.mark.parametrize("output_dict", [False, True])
def test_coca_loss_parity(clip_weight: float, pad_id: int, output_dict: bool) -> None:
    inputs = leaves()
    inputs.pop("logit_bias")
    gen = torch.Generator().manual_seed(5)
    inputs["logits"] = torch.randn(6, 7, 13, generator=gen)
    labels = torch.randint(0, 13, (6, 7), generator=gen)
    labels[:, -2:] = pad_id
    kwargs = {"labels": labels, "output_dict": output_dict}
    make = {"caption_loss_weight": 2.0, "clip_loss_weight": clip_weight, "pad_id": pad_id}
    assert_same(
        run(cz_loss.CoCaLoss(**make), inputs, **kwargs), run(oc_loss.CoCaLoss(**make), inputs, **kwargs)
    )


@pytest.mark.parametrize("output_dict", [False, True])
def test_distill_loss_parity(output_dict: bool) -> None:
    student, teacher = leaves(0), leaves(1)
    inputs = {
        "image_features": student["image_features"],
        "text_features": student["text_features"],
        "logit_scale": student["logit_scale"],
        "dist_image_features": teacher["image_features"],
        "dist_text_features": teacher["text_features"],
        "dist_logit_scale": torch.tensor(30.0),
    }
    assert_same(
        run(cz_loss.DistillClipLoss(), inputs, output_dict=output_dict),
        run(oc_loss.DistillClipLoss(), inputs, output_dict=output_dict),
    )


@pytest.mark.parametrize("name", ["ClipLoss", "SigLipLoss", "CoCaLoss", "DistillClipLoss"])
def test_signatures_match_open_clip(name: str) -> None:
    ours, theirs = getattr(cz_loss, name), getattr(oc_loss, name)
    for method in ("__init__", "forward"):
        a = inspect.signature(getattr(ours, method)).parameters
        b = inspect.signature(getattr(theirs, method)).parameters
        extra = ["logit_bias"] if (name, method) == ("CoCaLoss", "forward") else []  # additive, at the end
        assert list(a) == list(b) + extra, (name, method)
        assert [p.default for p in b.values()] == [a[k].default for k in b], (name, method)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"siglip": True, "loss_dist_impl": "gather"},
        {"model": "coca_ViT-B-32"},
        {"distill": True},
        {"local_loss": True, "gather_with_grad": True, "rank": 1, "world_size": 2},
    ],
)
def test_create_loss_matches_open_clip(overrides: dict) -> None:
    # every field create_loss reads, at open_clip_train's defaults (the table create_loss falls back to)
    args = Namespace(**{"model": "ViT-B-32", **cz_loss.LOSS_ARG_DEFAULTS, **overrides})
    ours, theirs = cz_loss.create_loss(args), oc_create_loss(args)
    assert type(ours).__name__ == type(theirs).__name__
    public = {k: v for k, v in vars(theirs).items() if not k.startswith("_") and k != "training"}
    assert {k: vars(ours)[k] for k in public} == public
