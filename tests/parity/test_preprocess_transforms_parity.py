"""Parity of clipzoo.preprocess.transforms with open_clip 3.3.0 (peer: open_clip.image_transform).

Tolerance: none. Eval tensors must be bit-identical (torch.equal) for every resize mode x interpolation x
target size x image kind; seeded training transforms must be bit-identical too. 'nearest' is not accepted by
open_clip, so its reference is open_clip's pipeline with the resize steps switched to NEAREST.
"""

from __future__ import annotations

import functools
import io
import random
import warnings
from dataclasses import asdict, fields

import numpy as np
import open_clip
import open_clip.transform as oc_transform
import pytest
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode

from clipzoo.constants import IMAGENET_MEAN, IMAGENET_STD, INCEPTION_MEAN, INCEPTION_STD
from clipzoo.preprocess.transforms import (
    AugmentationCfg,
    PreprocessCfg,
    image_transform,
    image_transform_v2,
    merge_preprocess_dict,
)

RESIZE_MODES = ["shortest", "longest", "squash"]
INTERPOLATIONS = ["bicubic", "bilinear", "nearest"]
SMALL_SIZES = [64, (48, 80), (80, 48)]
EXTREME = {"wide_1000x3", "tall_3x1000"}


@functools.cache
def _array(name: str) -> np.ndarray:
    import skimage.data

    return getattr(skimage.data, name)()


def _rgb(name: str) -> Image.Image:
    return Image.fromarray(_array(name)).convert("RGB")


def _encoded(img: Image.Image, fmt: str, **save_kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save_kwargs)
    return buf.getvalue()


def _with_alpha(img: Image.Image, mode: str) -> Image.Image:
    """A real photo with a diagonal alpha ramp, so premultiplied resampling matters."""
    w, h = img.size
    ramp = (np.add.outer(np.arange(h), np.arange(w)) * 255 // (h + w - 2)).astype(np.uint8)
    out = img.convert(mode[:-1])
    out.putalpha(Image.fromarray(ramp))
    return out


def _exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 CW on display; open_clip ignores it and so must we
    return _encoded(_rgb("chelsea"), "JPEG", quality=92, exif=exif)


def _p_with_transparency() -> bytes:
    img = _rgb("coffee").quantize(colors=64)
    return _encoded(img, "PNG", transparency=0)


# Each kind is a factory returning PNG/JPEG/GIF bytes (decoded by Image.open, as users do) or a PIL image.
KINDS = {
    "rgb_astronaut": lambda: _rgb("astronaut"),
    "rgb_chelsea_jpeg": lambda: _encoded(_rgb("chelsea"), "JPEG", quality=90),
    "rgb_coffee_progressive_jpeg": lambda: _encoded(_rgb("coffee"), "JPEG", quality=85, progressive=True),
    "L_camera": lambda: Image.fromarray(_array("camera")),
    "LA_chelsea": lambda: _with_alpha(_rgb("chelsea"), "LA"),
    "RGBA_coffee": lambda: _with_alpha(_rgb("coffee"), "RGBA"),
    "RGBA_logo_png": lambda: _encoded(Image.fromarray(_array("logo")), "PNG"),
    "P_astronaut_png": lambda: _encoded(_rgb("astronaut").quantize(colors=128), "PNG"),
    "P_transparency_png": _p_with_transparency,
    "P_gif": lambda: _encoded(_rgb("chelsea"), "GIF"),
    "CMYK_jpeg": lambda: _encoded(_rgb("astronaut").convert("CMYK"), "JPEG", quality=90),
    "I16_png": lambda: _encoded(Image.fromarray(_array("camera").astype(np.uint16) * 257), "PNG"),
    "I_camera": lambda: Image.fromarray(_array("camera").astype(np.int32) * 100),
    "F_camera": lambda: Image.fromarray(_array("camera").astype(np.float32) / 3.0),
    "1_page_png": lambda: _encoded(Image.fromarray(_array("page") > 128), "PNG"),
    "exif_rotated_jpeg": _exif_rotated_jpeg,
    "tiny_1x1": lambda: Image.new("RGB", (1, 1), (12, 200, 31)),
    "wide_1000x3": lambda: _rgb("coffee").resize((1000, 3), Image.Resampling.BICUBIC),
    "tall_3x1000": lambda: _rgb("chelsea").resize((3, 1000), Image.Resampling.BICUBIC),
}


@functools.cache
def _made(kind: str) -> bytes | Image.Image:
    return KINDS[kind]()


def _image(kind: str) -> Image.Image:
    """A fresh image of the given kind (files are opened lazily, as Image.open gives them to users)."""
    made = _made(kind)
    return Image.open(io.BytesIO(made)) if isinstance(made, bytes) else made.copy()


def test_kinds_cover_the_modes_users_meet():
    modes = {_image(k).mode for k in KINDS}
    assert {"RGB", "L", "LA", "RGBA", "P", "CMYK", "1", "I", "I;16", "F"} <= modes


def _peer_eval(size, resize_mode: str, interpolation: str, **kwargs):
    peer_interp = "bilinear" if interpolation == "nearest" else interpolation
    tf = open_clip.image_transform(
        size, is_train=False, resize_mode=resize_mode, interpolation=peer_interp, **kwargs
    )
    if interpolation == "nearest":
        for step in tf.transforms:  # Resize / ResizeKeepRatio
            if hasattr(step, "interpolation"):
                step.interpolation = InterpolationMode.NEAREST
    return tf


def _check_eval(kind: str, size, resize_mode: str, interpolation: str, **kwargs) -> None:
    ours = image_transform(size, False, resize_mode=resize_mode, interpolation=interpolation, **kwargs)
    peer = _peer_eval(size, resize_mode, interpolation, **kwargs)
    got = ours(_image(kind))
    try:
        expected = peer(_image(kind))
    except ValueError as e:
        # open_clip rounds a side to 0 px ("height and width must be > 0"); clipzoo keeps 1 px.
        assert kind in EXTREME and resize_mode == "longest", e
        assert got.shape == (3, *oc_transform.to_2tuple(size))
        return
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert torch.equal(got, expected)


@pytest.mark.parametrize("size", SMALL_SIZES, ids=str)
@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
@pytest.mark.parametrize("resize_mode", RESIZE_MODES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_eval_bit_identical(kind, resize_mode, interpolation, size):
    _check_eval(kind, size, resize_mode, interpolation, fill_color=37)


@pytest.mark.parametrize("resize_mode", RESIZE_MODES)
@pytest.mark.parametrize(
    "kind", ["rgb_astronaut", "rgb_chelsea_jpeg", "P_transparency_png", "exif_rotated_jpeg", "wide_1000x3"]
)
def test_eval_bit_identical_224(kind, resize_mode):
    _check_eval(kind, 224, resize_mode, "bicubic")
    _check_eval(kind, (224, 224), resize_mode, "bilinear")


@pytest.mark.parametrize(
    "mean, std", [(IMAGENET_MEAN, IMAGENET_STD), (INCEPTION_MEAN, INCEPTION_STD), (0.5, 0.25), (None, None)]
)
def test_eval_bit_identical_mean_std(mean, std):
    _check_eval(
        "rgb_coffee_progressive_jpeg", (64, 96), "longest", "bicubic", mean=mean, std=std, fill_color=255
    )


def test_exif_orientation_is_applied_on_paths_only(tmp_path):
    """Files go through clipzoo.preprocess.images (EXIF orientation applied); PIL images stay exactly open_clip's input."""
    from PIL import ImageOps

    path = tmp_path / "rotated.jpg"
    path.write_bytes(_exif_rotated_jpeg())
    peer = open_clip.image_transform((48, 80), False)
    ours = image_transform((48, 80), False)
    assert torch.equal(ours(str(path)), peer(ImageOps.exif_transpose(Image.open(path))))
    assert torch.equal(ours(Image.open(path)), peer(Image.open(path)))


def test_image_transform_v2_bit_identical():
    cfg = dict(size=(56, 72), resize_mode="longest", interpolation="bilinear", fill_color=128)
    ours = image_transform_v2(PreprocessCfg(**cfg), False)(_image("rgb_astronaut"))
    peer = oc_transform.image_transform_v2(oc_transform.PreprocessCfg(**cfg), False)(_image("rgb_astronaut"))
    assert torch.equal(ours, peer)


# --- configs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ours, peer",
    [(PreprocessCfg, oc_transform.PreprocessCfg), (AugmentationCfg, oc_transform.AugmentationCfg)],
)
def test_cfg_fields_and_defaults_match(ours, peer):
    assert [f.name for f in fields(ours)] == [f.name for f in fields(peer)]
    assert asdict(ours()) == asdict(peer())
    if ours is PreprocessCfg:
        assert ours().num_channels == peer().num_channels and ours().input_size == peer().input_size


def test_merge_preprocess_dict_matches():
    base = {"size": 384, "mean": IMAGENET_MEAN, "hf_hub_id": "x", "interpolation": "bilinear"}
    overlay = {"size": None, "resize_mode": "squash", "quality": 3}
    assert merge_preprocess_dict(base, overlay) == oc_transform.merge_preprocess_dict(base, overlay)
    assert merge_preprocess_dict(PreprocessCfg(), overlay) == oc_transform.merge_preprocess_dict(
        oc_transform.PreprocessCfg(), overlay
    )


# --- training -------------------------------------------------------------------------------------------


def _seeded(tf, img, seed: int) -> torch.Tensor:
    random.seed(seed)
    torch.manual_seed(seed)
    return tf(img)


@pytest.mark.parametrize(
    "aug",
    [
        None,
        {"scale": (0.3, 1.0)},
        {"color_jitter": (0.4, 0.4, 0.4, 0.1), "color_jitter_prob": 0.8, "gray_scale_prob": 0.2},
    ],
    ids=["default", "scale", "jitter_gray"],
)
@pytest.mark.parametrize("size", [64, (48, 80)], ids=str)
def test_train_seeded_bit_identical(aug, size):
    img = _image("rgb_astronaut")
    ours = image_transform(size, True, aug_cfg=aug)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # open_clip warns that the jitter keys it uses are "unused"
        peer = open_clip.image_transform(size, True, aug_cfg=aug)
    for seed in range(6):
        assert torch.equal(_seeded(ours, img, seed), _seeded(peer, img, seed)), seed


@pytest.mark.slow
def test_train_timm_seeded_bit_identical():
    aug = {"scale": (0.5, 1.0), "use_timm": True, "re_prob": 0.3, "color_jitter": 0.2}
    img = _image("rgb_chelsea_jpeg")
    ours, peer = image_transform(64, True, aug_cfg=aug), open_clip.image_transform(64, True, aug_cfg=aug)
    for seed in range(3):
        assert torch.equal(_seeded(ours, img, seed), _seeded(peer, img, seed)), seed


@pytest.mark.parametrize("resize_mode", RESIZE_MODES)
@pytest.mark.parametrize("size", SMALL_SIZES)
def test_eval_transform_lists_open_clips_compose_steps(resize_mode: str, size) -> None:
    """`.transforms` is open_clip's Compose list: same step types and settings, same pixels, editable."""
    ours = image_transform(size, False, resize_mode=resize_mode, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    peer = open_clip.image_transform(
        size, False, resize_mode=resize_mode, mean=IMAGENET_MEAN, std=IMAGENET_STD
    )
    assert [type(s).__name__ for s in ours.transforms] == [type(s).__name__ for s in peer.transforms]
    for a, b in zip(ours.transforms, peer.transforms):  # settings (reprs differ: open_clip's has a stray ')')
        for attr in ("size", "interpolation", "longest", "fill"):
            assert getattr(a, attr, None) == getattr(b, attr, None), (type(a).__name__, attr)
    assert tuple(ours.transforms[-1].mean) == IMAGENET_MEAN and tuple(ours.transforms[-1].std) == IMAGENET_STD
    image = _image("rgb_chelsea_jpeg")
    assert torch.equal(ours(image), peer(image))
    flip = Image.Transpose.FLIP_LEFT_RIGHT
    ours.transforms.insert(0, lambda im: im.transpose(flip))  # research code inserts steps
    peer.transforms.insert(0, lambda im: im.transpose(flip))
    assert torch.equal(ours(_image("rgb_chelsea_jpeg")), peer(_image("rgb_chelsea_jpeg")))
