"""Factory arguments checked at the door, and no silent random weights (hostile input, exact outcomes)."""

from __future__ import annotations

import logging

import pytest
import torch

import clipzoo
from clipzoo.factory.arguments import ArgumentError, ArgumentTypeError, UnknownArgumentError
from tests.helpers.checkpoints import save_weights

# --- factory arguments checked at the door ---------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"model_name": None}, ArgumentTypeError, "model_name must be a non-empty string: an architecture name"),
        ({"model_name": 32}, ArgumentTypeError, "got 32 (int)"),
        ({"precision": torch.float16}, ArgumentTypeError,
         "precision takes a string, not the dtype torch.float16; use precision='fp16'"),
        ({"precision": "fp61"}, ArgumentError, "unknown precision 'fp61'; did you mean 'fp16'"),
        ({"force_image_size": "224"}, ArgumentTypeError,
         "force_image_size must be an int or a (height, width) pair of ints, got '224' (str); use "
         "force_image_size=224"),
        ({"force_image_size": -32}, ArgumentError, "force_image_size must be a positive number of pixels"),
        ({"force_image_size": 0}, ArgumentError, "force_image_size must be a positive number of pixels"),
        ({"force_image_size": (16, 16, 3)}, ArgumentError, "force_image_size must be an int or a (height, width)"),
        ({"force_context_length": 0}, ArgumentError, "force_context_length must be >= 2"),
        ({"force_patch_dropout": 1.0}, ArgumentError, "force_patch_dropout must be in [0, 1)"),
        ({"force_quickgelu": True}, UnknownArgumentError,
         "create_model() got an unexpected keyword argument 'force_quickgelu'; did you mean 'force_quick_gelu'?"),
        ({"pretrained": 7}, ArgumentTypeError, "pretrained must be a pretrained tag such as 'openai'"),
        ({"device": "cdua"}, ArgumentError, "device 'cdua' is not a torch device"),
        ({"jit": "no"}, ArgumentTypeError, "jit must be True or False, got 'no' (str)"),
        ({"force_preprocess_cfg": {"means": (0.5,)}}, ArgumentError,
         "unknown force_preprocess_cfg key 'means'; did you mean 'mean'?"),
    ],
)  # fmt: skip
def test_create_model_arguments(tiny_folder, monkeypatch, kwargs, error, message):
    from clipzoo.factory import create as factory

    monkeypatch.setattr(factory, "resolve", lambda *a, **k: pytest.fail("resolved despite a bad argument"))
    kwargs = {"model_name": "hostile-a", **kwargs}
    with pytest.raises(error) as info:
        clipzoo.create_model(**kwargs)
    assert message in str(info.value)


def test_wrapper_arguments_and_tokenizer(tiny_folder):
    with pytest.raises(
        ArgumentError, match=r"unknown image_resize_mode 'shortest_'; did you mean 'shortest'"
    ):
        clipzoo.create_model_and_transforms("hostile-a", image_resize_mode="shortest_")
    with pytest.raises(ArgumentError, match=r"image_std must hold numbers > 0"):
        clipzoo.create_model_and_transforms("hostile-a", image_std=(0.5, 0.0, 0.5))
    with pytest.raises(UnknownArgumentError, match=r"create_model_from_pretrained\(\) got an unexpected keyword "
                       r"argument 'force_quickgelu'; did you mean 'force_quick_gelu'\?"):  # fmt: skip
        clipzoo.create_model_from_pretrained("hostile-a", force_quickgelu=True)
    with pytest.raises(ArgumentTypeError, match=r"model_name must be a string"):
        clipzoo.get_tokenizer(32)
    with pytest.raises(ArgumentError, match=r"context_length must be >= 2"):
        clipzoo.get_tokenizer("hostile-a", context_length=1)


# --- no silent random weights ----------------------------------------------------------------------------


def test_random_weights_are_logged(tiny_folder, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="clipzoo")
    for pretrained in (None, ""):
        caplog.clear()
        clipzoo.create_model("hostile-a", pretrained=pretrained)
        [record] = [r for r in caplog.records if r.name == "clipzoo"]
        assert record.levelno == logging.WARNING
        assert record.getMessage().startswith(
            "No pretrained weights loaded for model 'hostile-a' (pretrained=None): the model is initialized randomly."
        )
    caplog.clear()
    clipzoo.create_model_and_transforms("hostile-a", load_weights=False)
    assert "(load_weights=False)" in caplog.records[0].getMessage()
    model = clipzoo.create_model("hostile-a")
    weights = tmp_path / "w.safetensors"
    save_weights(model, weights)
    caplog.clear()
    clipzoo.create_model("hostile-a", pretrained=str(weights))
    assert not [r for r in caplog.records if r.name == "clipzoo" and r.levelno >= logging.WARNING]
    visual = tmp_path / "visual.safetensors"
    save_weights(model.visual, visual)
    clipzoo.create_model("hostile-a", pretrained_image_path=str(visual))
    assert caplog.records[-1].getMessage() == (
        "Model 'hostile-a' initialized partially: image tower weights loaded, the text tower is random "
        "(pretrained=None)."
    )
