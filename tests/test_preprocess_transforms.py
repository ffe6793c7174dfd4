"""Unit tests for clipzoo.preprocess.transforms and clipzoo.preprocess.batch (no peer needed; parity lives in tests/parity)."""

from __future__ import annotations

import io
import random
from dataclasses import fields

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from clipzoo.constants import IMAGENET_MEAN, IMAGENET_STD, OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from clipzoo.preprocess.batch import BatchItemError, preprocess_batch
from clipzoo.preprocess.images import load_image
from clipzoo.preprocess.transforms import (
    FAST_MAX_DIFF_255,
    FAST_MEAN_DIFF_255,
    AugmentationCfg,
    EvalTransform,
    ImageReadError,
    PreprocessCfg,
    image_transform,
    image_transform_v2,
    merge_preprocess_dict,
    merge_preprocess_kwargs,
)

STD = torch.tensor(OPENAI_DATASET_STD).view(3, 1, 1)


def _photo(name: str) -> Image.Image:
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)()).convert("RGB")


@pytest.fixture(scope="module")
def photo_paths(tmp_path_factory) -> list[str]:
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for name in ("astronaut", "chelsea", "coffee"):
        path = folder / f"{name}.jpg"
        _photo(name).save(path, quality=95)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def camera_jpegs(tmp_path_factory) -> list[str]:
    """Camera-sized JPEGs: photos upsampled to 3000x2000 / 2000x3000, and a 3000x2000 mosaic of sharp tiles."""
    folder = tmp_path_factory.mktemp("camera")
    paths = []
    for name, size in (("astronaut", (3000, 2000)), ("coffee", (2000, 3000))):
        path = folder / f"{name}.jpg"
        _photo(name).resize(size, Image.Resampling.BICUBIC).save(path, quality=90)
        paths.append(str(path))
    tiles = [np.asarray(_photo(n).resize((500, 500))) for n in ("astronaut", "coffee", "chelsea")]
    row = np.concatenate(tiles * 2, axis=1)
    mosaic = folder / "mosaic.jpg"
    Image.fromarray(np.concatenate([row, row[:, ::-1], row, row[::-1]], axis=0)).save(mosaic, quality=92)
    return [*paths, str(mosaic)]


# --- configs --------------------------------------------------------------------------------------------


def test_preprocess_cfg_defaults_and_properties():
    cfg = PreprocessCfg()
    assert (cfg.size, cfg.mode, cfg.interpolation, cfg.resize_mode, cfg.fill_color) == (
        224,
        "RGB",
        "bicubic",
        "shortest",
        0,
    )
    assert cfg.mean == OPENAI_DATASET_MEAN and cfg.std == OPENAI_DATASET_STD
    assert cfg.num_channels == 3
    assert PreprocessCfg(size=(192, 256)).input_size == (3, 192, 256)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"mode": "L"}, "mode"),
        ({"interpolation": "bicubik"}, "interpolation"),
        ({"resize_mode": "crop"}, "resize"),
    ],
)
def test_preprocess_cfg_rejects_unknown_values(kwargs, word):
    with pytest.raises(ValueError, match=word):
        PreprocessCfg(**kwargs)


def test_augmentation_cfg_fields():
    names = [f.name for f in fields(AugmentationCfg)]
    assert names == [
        "scale",
        "ratio",
        "color_jitter",
        "re_prob",
        "re_count",
        "use_timm",
        "color_jitter_prob",
        "gray_scale_prob",
    ]
    assert AugmentationCfg().scale == (0.9, 1.0)


def test_merge_preprocess_dict_filters_and_skips_none():
    merged = merge_preprocess_dict(
        {"size": 384, "url": "x", "mean": IMAGENET_MEAN}, {"std": IMAGENET_STD, "size": None, "foo": 1}
    )
    assert merged == {"size": 384, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    from_cfg = merge_preprocess_kwargs(PreprocessCfg(), resize_mode="squash", interpolation=None)
    assert from_cfg["resize_mode"] == "squash" and from_cfg["interpolation"] == "bicubic"
    assert set(from_cfg) == {f.name for f in fields(PreprocessCfg)}


# --- eval transform -------------------------------------------------------------------------------------


@pytest.mark.parametrize("resize_mode", ["shortest", "longest", "squash"])
@pytest.mark.parametrize("size, hw", [(64, (64, 64)), ((48, 80), (48, 80)), ((80, 48), (80, 48))])
def test_eval_output_shape_dtype(resize_mode, size, hw):
    out = image_transform(size, False, resize_mode=resize_mode)(_photo("coffee"))
    assert out.shape == (3, *hw) and out.dtype == torch.float32 and out.is_contiguous()


def test_eval_matches_torch_tensor_ops():
    """The lookup-table tensor step equals ToTensor + Normalize done with torch ops."""
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
    tf = image_transform(40, False, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1).contiguous().float().div(255)
    ref = x.sub_(torch.tensor(IMAGENET_MEAN).view(3, 1, 1)).div_(torch.tensor(IMAGENET_STD).view(3, 1, 1))
    assert torch.equal(tf(img), ref)


def test_path_file_and_image_inputs_agree(photo_paths):
    tf = image_transform(64, False)
    path = photo_paths[0]
    with open(path, "rb") as f:
        from_file = tf(f)
    assert torch.equal(tf(path), from_file)
    assert torch.equal(tf(path), tf(Image.open(path)))


def test_longest_pads_with_fill_color():
    img = Image.new("RGB", (100, 50), (255, 255, 255))
    out = image_transform(64, False, resize_mode="longest", fill_color=0, mean=0.0, std=1.0)(img)
    assert torch.all(out[:, :16] == 0) and torch.all(out[:, 16:48] == 1) and torch.all(out[:, 48:] == 0)


def test_longest_extreme_aspect_keeps_one_pixel():
    out = image_transform(64, False, resize_mode="longest")(Image.new("RGB", (1000, 3), (200, 10, 10)))
    assert out.shape == (3, 64, 64)


def test_nearest_interpolation_keeps_values():
    img = Image.fromarray(np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8))
    out = image_transform((2, 8), False, resize_mode="squash", interpolation="nearest", mean=0.0, std=1.0)(
        img
    )
    assert set(out.unique().tolist()) == {0.0, 1.0}


def test_eval_rejects_bad_arguments():
    with pytest.raises(ValueError, match="interpolation"):
        image_transform(64, False, interpolation="lanczos3")
    with pytest.raises(ValueError, match="resize_mode"):
        image_transform(64, False, resize_mode="crop")
    with pytest.raises(ValueError, match="zeros"):
        image_transform(64, False, std=(0.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="eval"):
        image_transform(64, True, fast=True)


def test_image_transform_v2_uses_cfg():
    tf = image_transform_v2(PreprocessCfg(size=(48, 80), resize_mode="squash", fill_color=3), False)
    assert isinstance(tf, EvalTransform)
    assert (tf.size, tf.resize_mode, tf.fill_color) == ((48, 80), "squash", 3)


# --- bad input ------------------------------------------------------------------------------------------


def test_none_image_is_a_type_error():
    with pytest.raises(TypeError, match="image is None"):
        image_transform(64, False)(None)


def test_tensor_image_is_a_type_error():
    with pytest.raises(TypeError, match="unsupported image type Tensor"):
        image_transform(64, False)(torch.zeros(3, 8, 8))


def test_truncated_jpeg_names_the_file(photo_paths, tmp_path):
    data = open(photo_paths[0], "rb").read()
    path = tmp_path / "truncated.jpg"
    path.write_bytes(data[: len(data) // 2])
    for fast in (False, True):
        with pytest.raises(ImageReadError, match="truncated.jpg"):
            image_transform(64, False, fast=fast)(str(path))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_corrupt_file_names_the_file(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(b"\x89PNG not really an image")
    with pytest.raises(ImageReadError, match="noise.png"):
        image_transform(64, False)(path)


def test_decompression_bomb_names_file_and_limit(tmp_path, monkeypatch):
    path = tmp_path / "bomb.png"
    Image.new("L", (200, 200)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 40000 px > 2x the limit: PIL raises
    with pytest.raises(Image.DecompressionBombError, match=r"bomb\.png.*MAX_IMAGE_PIXELS"):
        image_transform(64, False)(str(path))


def test_load_image_decodes_now(photo_paths):
    img = load_image(photo_paths[1])
    assert img.size == (451, 300) and img.mode == "RGB"
    with pytest.raises(TypeError):
        load_image(None)


# --- fast path ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("resize_mode", ["shortest", "longest", "squash"])
@pytest.mark.parametrize("size", [224, (192, 256)])
def test_fast_jpeg_within_documented_bounds(camera_jpegs, resize_mode, size):
    exact = image_transform(size, False, resize_mode=resize_mode)
    fast = image_transform(size, False, resize_mode=resize_mode, fast=True)
    for path in camera_jpegs:
        a, b = exact(path), fast(path)
        assert a.shape == b.shape
        diff_255 = (a - b).abs() * STD * 255
        assert not torch.equal(a, b)  # the draft path really ran
        assert diff_255.max() <= FAST_MAX_DIFF_255 and diff_255.mean() <= FAST_MEAN_DIFF_255
        assert (a - b).abs().max() <= 0.18  # normalized units, as documented


def test_fast_falls_back_to_exact_for_decoded_images_and_png(camera_jpegs, tmp_path):
    exact, fast = image_transform(224, False), image_transform(224, False, fast=True)
    img = Image.open(camera_jpegs[0])
    assert torch.equal(fast(img), exact(Image.open(camera_jpegs[0])))
    png = tmp_path / "small.png"
    _photo("chelsea").save(png)
    assert torch.equal(fast(str(png)), exact(str(png)))


# --- batch ----------------------------------------------------------------------------------------------


def test_preprocess_batch_equals_sequential(photo_paths):
    tf = image_transform(64, False)
    items = photo_paths * 3
    expected = torch.stack([tf(p) for p in items])
    for workers in (None, 1, 3):
        assert torch.equal(preprocess_batch(items, tf, num_workers=workers), expected)
    assert torch.equal(preprocess_batch(items, tf, progress=True), expected)


def test_preprocess_batch_opens_paths_for_plain_callables(photo_paths):
    tf = image_transform(64, False)
    batch = preprocess_batch(photo_paths, lambda img: tf(img))  # a lambda only takes PIL images
    assert torch.equal(batch, torch.stack([tf(p) for p in photo_paths]))


def test_preprocess_batch_error_names_the_file(photo_paths, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(BatchItemError, match=r"item 2 \(.*broken\.jpg\)") as info:
        preprocess_batch([*photo_paths[:2], str(bad), photo_paths[2]], image_transform(64, False))
    assert isinstance(info.value.__cause__, ImageReadError)
    with pytest.raises(BatchItemError, match="item 0 \\(None\\).*TypeError"):
        preprocess_batch([None], image_transform(64, False))
    with pytest.raises(ValueError, match="at least one"):
        preprocess_batch([], image_transform(64, False))


def test_preprocess_batch_rejects_mixed_shapes(photo_paths):
    tf = image_transform(64, False)
    with pytest.raises(BatchItemError, match="shape"):
        preprocess_batch(photo_paths[:2], lambda img: tf(img)[:, : img.size[1] % 7 + 1])


# --- train transform ------------------------------------------------------------------------------------


def _seeded(tf, img, seed: int) -> torch.Tensor:
    random.seed(seed)
    torch.manual_seed(seed)
    return tf(img)


def test_train_shapes_and_seed_determinism():
    img = _photo("astronaut")
    tf = image_transform((48, 80), True, aug_cfg={"scale": (0.5, 1.0), "ratio": (0.5, 2.0)})
    out = _seeded(tf, img, 0)
    assert out.shape == (3, 48, 80)
    assert torch.equal(out, _seeded(tf, img, 0))
    assert not torch.equal(out, _seeded(tf, img, 1))


def test_train_gray_scale_prob_one_gives_equal_channels():
    tf = image_transform(32, True, aug_cfg=AugmentationCfg(gray_scale_prob=1.0), mean=0.5, std=0.5)
    out = tf(_photo("coffee"))
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])


def test_train_color_jitter_needs_four_values():
    with pytest.raises(ValueError, match="brightness, contrast, saturation, hue"):
        image_transform(32, True, aug_cfg={"color_jitter": 0.4, "color_jitter_prob": 0.8})


def test_train_warns_about_timm_only_items():
    with pytest.warns(UserWarning, match="re_prob"):
        image_transform(32, True, aug_cfg={"re_prob": 0.25})


def test_train_accepts_bytes_io_images():
    buf = io.BytesIO()
    _photo("chelsea").save(buf, format="PNG")
    buf.seek(0)
    out = image_transform(32, True)(Image.open(buf))
    assert out.shape == (3, 32, 32)


def test_transforms_pickle_for_dataloader_workers(photo_paths):
    import pickle

    eval_tf = image_transform(64, False, fast=True)
    assert torch.equal(pickle.loads(pickle.dumps(eval_tf))(photo_paths[0]), eval_tf(photo_paths[0]))
    train_tf = image_transform(32, True, aug_cfg={"color_jitter": (0.4,) * 4, "color_jitter_prob": 0.5})
    img = _photo("chelsea")
    assert torch.equal(_seeded(pickle.loads(pickle.dumps(train_tf)), img, 3), _seeded(train_tf, img, 3))


def test_eval_transform_is_a_compose_and_keeps_the_fast_path():
    from torchvision.transforms import Compose

    tf = image_transform(32, False)
    assert isinstance(tf, Compose), "open_clip's eval transform is a torchvision Compose"
    img = Image.new("RGB", (40, 30), (200, 10, 60))
    out = tf(img)
    assert vars(tf)["_steps"] is None, "calling it runs clipzoo's PIL/numpy path, not the torchvision steps"
    steps = tf.transforms
    assert [type(s).__name__ for s in steps] == [
        "Resize",
        "CenterCrop",
        "MaybeConvertMode",
        "MaybeToTensor",
        "Normalize",
    ]
    composed = img
    for step in steps:
        composed = step(composed)
    assert torch.equal(out, composed)


def test_train_honours_ratio_and_interpolation():
    tf = image_transform(32, True, interpolation="bilinear", aug_cfg={"ratio": (0.5, 2.0), "scale": (0.4, 1)})
    crop = tf.transforms[0]
    assert crop.ratio == (0.5, 2.0) and crop.scale == (0.4, 1) and crop.interpolation.value == "bilinear"


def test_eval_transform_has_compose_steps_and_runs_an_edited_list(photo_paths):
    """`preprocess.transforms[-1]` is the Normalize (mean/std); an inserted step is run, as in a Compose."""
    t = image_transform(64, False, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    before = t(photo_paths[0])
    normalize = t.transforms[-1]
    assert type(normalize).__name__ == "Normalize" and tuple(normalize.mean) == IMAGENET_MEAN
    assert torch.equal(t(photo_paths[0]), before)  # reading the list changes nothing
    seen = []
    t.transforms.insert(0, lambda im: seen.append(im.size) or im)
    assert torch.equal(t(photo_paths[0]), before) and seen == [load_image(photo_paths[0]).size]
    t.transforms = t.transforms[:-1]  # without Normalize: values in [0, 1]
    assert float(t(photo_paths[0]).min()) >= 0.0
