"""Hostile input, each case with its exact outcome: configs, factory arguments, random weights, concurrent and
killed exports, image files, empty token lists, corrupted Hub files, and the command line's exit statuses."""

from __future__ import annotations

import copy
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import huggingface_hub.constants  # noqa: F401 - before any test sets HF_HUB_OFFLINE: it is read at this import
import pytest
import torch

import clipzoo
from clipzoo.cli import main
from clipzoo.export import folder as export
from clipzoo.export import writers
from clipzoo.factory.arguments import ArgumentError, ArgumentTypeError, UnknownArgumentError
from clipzoo.registry import architectures as registry
from clipzoo.registry.config import ConfigError, parse_model_config

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 16, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}


@pytest.fixture
def fresh_registry():
    yield registry.reset_registry()
    registry.reset_registry()


@pytest.fixture
def tiny_folder(tmp_path, fresh_registry):
    """Two tiny architectures (different embedding sizes) registered from a folder."""
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "hostile-a.json").write_text(json.dumps(TINY))
    (folder / "hostile-b.json").write_text(json.dumps({**TINY, "embed_dim": 24}))
    clipzoo.add_model_config(folder)
    return folder


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# --- configs: every numeric field checked, with the file and the key ------------------------------------


@pytest.mark.parametrize(
    "section,key,value,message",
    [
        ("vision_cfg", "width", -32, "vision_cfg.width must be > 0, got -32"),
        ("vision_cfg", "width", "32", "vision_cfg.width must be an integer, got '32'"),
        ("vision_cfg", "layers", 0, "vision_cfg.layers must be >= 1, got 0"),
        (
            "vision_cfg",
            "layers",
            [1, 1],
            "vision_cfg.layers must be an integer (ViT) or a list of 4 stage depths",
        ),
        (
            "vision_cfg",
            "head_width",
            12,
            "vision_cfg.width (32) must be divisible by vision_cfg.head_width (12)",
        ),
        ("vision_cfg", "patch_size", 0, "vision_cfg.patch_size must be > 0, got 0"),
        (
            "vision_cfg",
            "patch_size",
            None,
            "vision_cfg.patch_size must be a positive integer for a ViT, got null",
        ),
        ("vision_cfg", "image_size", [16, 0], "vision_cfg.image_size must be > 0, got [16, 0]"),
        (
            "vision_cfg",
            "image_size",
            16.0,
            "vision_cfg.image_size must be an integer or a list of 2 integers",
        ),
        ("vision_cfg", "mlp_ratio", 0, "vision_cfg.mlp_ratio must be > 0, got 0"),
        ("vision_cfg", "patch_dropout", 1.5, "vision_cfg.patch_dropout must be in [0, 1), got 1.5"),
        ("text_cfg", "heads", 3, "text_cfg.width (16) must be divisible by text_cfg.heads (3)"),
        ("text_cfg", "heads", 0, "text_cfg.heads must be > 0, got 0"),
        ("text_cfg", "context_length", 1, "text_cfg.context_length must be >= 2, got 1"),
        ("text_cfg", "vocab_size", True, "text_cfg.vocab_size must be an integer, got True"),
        ("text_cfg", "mlp_ratio", -1.0, "text_cfg.mlp_ratio must be > 0, got -1.0"),
    ],
)
def test_bad_config_value_names_file_and_key(tmp_path, fresh_registry, section, key, value, message):
    raw = copy.deepcopy(TINY)
    raw[section][key] = value
    path = tmp_path / "bad-model.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError) as info:
        clipzoo.add_model_config(path)
    assert str(info.value).startswith(f"{path}: {message}")
    assert clipzoo.get_model_config("bad-model") is None


def test_top_level_types_and_nan_are_refused():
    with pytest.raises(ConfigError, match=r"^x.json: model.quick_gelu must be true or false, got 'yes'$"):
        parse_model_config({**TINY, "quick_gelu": "yes"}, "x.json")
    with pytest.raises(ConfigError, match=r"^x.json: model.init_logit_scale must be a number, got NaN$"):
        parse_model_config({**TINY, "init_logit_scale": float("nan")}, "x.json")


def test_every_builtin_config_validates(fresh_registry):
    names = clipzoo.list_models()
    assert len(names) == len(list(registry.builtin_config_dir().glob("*.json"))) >= 145
    for name in names:
        registry.get_typed_model_cfg(name)


def test_folder_with_one_bad_file_registers_none(tmp_path, fresh_registry):
    for name in ("aa-good", "mm-bad", "zz-good"):  # the bad file sorts between two good ones
        raw = copy.deepcopy(TINY)
        if name == "mm-bad":
            raw["vision_cfg"]["layers"] = 0
        (tmp_path / f"{name}.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match=r"mm-bad.json: vision_cfg.layers must be >= 1"):
        clipzoo.add_model_config(tmp_path)
    assert not {"aa-good", "mm-bad", "zz-good"} & set(clipzoo.list_models())


def test_builtin_name_is_replaced_only_with_overwrite(tmp_path, fresh_registry):
    (tmp_path / "ViT-B-32.json").write_text(json.dumps(TINY))
    (tmp_path / "fine.json").write_text(json.dumps(TINY))
    with pytest.raises(ConfigError, match=r"the name 'ViT-B-32' is already registered from .*ViT-B-32.json; "
                       r"pass overwrite=True to replace it \(nothing from .* was registered\)"):  # fmt: skip
        clipzoo.add_model_config(tmp_path)
    assert clipzoo.get_model_config("ViT-B-32")["embed_dim"] == 512 and "fine" not in clipzoo.list_models()
    clipzoo.add_model_config(tmp_path, overwrite=True)
    assert clipzoo.get_model_config("ViT-B-32")["embed_dim"] == 16
    clipzoo.add_model_config(tmp_path / "fine.json")  # the same file again is not a clash


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
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
    caplog.clear()
    clipzoo.create_model("hostile-a", pretrained=str(weights))
    assert not [r for r in caplog.records if r.name == "clipzoo" and r.levelno >= logging.WARNING]
    visual = tmp_path / "visual.safetensors"
    save_file({k: v.contiguous() for k, v in model.visual.state_dict().items()}, str(visual))
    clipzoo.create_model("hostile-a", pretrained_image_path=str(visual))
    assert caplog.records[-1].getMessage() == (
        "Model 'hostile-a' initialized partially: image tower weights loaded, the text tower is random "
        "(pretrained=None)."
    )


@pytest.mark.parametrize("command", ["classify", "caption", "export"])
def test_cli_refuses_random_weights(tiny_folder, tmp_path, capsys, command):
    from PIL import Image

    image = str(tmp_path / "x.png")
    Image.new("RGB", (16, 16), (200, 10, 10)).save(image)
    argv = {
        "classify": ["classify", image, "--model", "hostile-a", "--labels", "a", "b"],
        "caption": ["caption", image, "--model", "hostile-a"],
        "export": ["export", "hostile-a", "--to", str(tmp_path / "out")],
    }[command]
    assert main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    how = {"export": "a pretrained TAG after the model name (`clipzoo export hostile-a TAG --to DIR`)"}
    assert line.startswith(f"clipzoo: error: hostile-a: no pretrained weights given; pass {how.get(command, '--pretrained TAG')}")
    assert "--random-weights" in line and not (tmp_path / "out").exists()


# --- exports that cannot lie ----------------------------------------------------------------------------

HOLDER = """
import pathlib, sys, time
from clipzoo.export import folder as export

target, ready, mode = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]

def write(tmp):
    (tmp / "weights.bin").write_bytes(b"A" * 1_000_000)
    ready.write_text("ready")
    time.sleep(600 if mode == "hang" else 2.0)
    (tmp / "who.txt").write_text("A")

export.write_folder_atomically(target, mode == "overwrite", write)
print("done")
"""


def _start_holder(tmp_path: Path, target: Path, mode: str) -> subprocess.Popen:
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    ready = tmp_path / f"ready-{mode}"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    proc = subprocess.Popen([sys.executable, str(script), str(target), str(ready), mode], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the holder process did not start writing"
        time.sleep(0.05)
    return proc


def _write_b(tmp: Path) -> None:
    (tmp / "who.txt").write_text("B")


def test_killed_export_is_cleaned_up_and_a_held_lock_refuses(tmp_path):
    target = tmp_path / "out"
    holder = _start_holder(tmp_path, target, "hang")
    try:
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.tmp-")]
        assert len(leftovers) == 1
        t0 = time.monotonic()
        with pytest.raises(export.ExportBusyError) as info:
            export.write_folder_atomically(target, False, _write_b, timeout=0.3)
        assert time.monotonic() - t0 < 5
        assert str(info.value).startswith(
            f"another export into {target} is still running (pid {holder.pid}, lock "
        )
    finally:
        holder.send_signal(signal.SIGKILL)  # mid-write: 1 MB written, the folder not yet renamed
        holder.wait()
    assert (tmp_path / leftovers[0] / "weights.bin").stat().st_size == 1_000_000  # the dead run's folder
    export.write_folder_atomically(target, False, _write_b, timeout=5)
    assert (target / "who.txt").read_text() == "B"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["holder.py", "out", "ready-hang"]  # no tmp, no lock


def test_replacement_killed_between_its_renames_is_rolled_back(tmp_path):
    target = tmp_path / "out"
    (tmp_path / ".out.old-k1ll3d_x" / "previous").mkdir(parents=True)  # the old folder, moved aside
    (tmp_path / ".out.old-k1ll3d_x" / "previous" / "who.txt").write_text("old")
    (tmp_path / ".out.old-k1ll3d_x" / "previous" / export.EXPORT_MANIFEST).write_text("{}")
    (tmp_path / ".out.tmp-k1ll3d_y").mkdir()  # the new one, not yet renamed
    (tmp_path / ".other.tmp-12345678").mkdir()  # another target's, killed too (its lock is free): removed
    with pytest.raises(export.ExportTargetError, match=r"already exists \(written by clipzoo\)"):
        export.write_folder_atomically(target, False, _write_b)
    assert (target / "who.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_target_written_while_waiting_is_not_replaced(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "who.txt").write_text("old")
    (target / export.EXPORT_MANIFEST).write_text("{}")
    holder = _start_holder(tmp_path, target, "overwrite")
    with pytest.raises(export.ExportBusyError, match=r"another export wrote .*out while this one waited for it; "
                       r"not replacing it"):  # fmt: skip
        export.write_folder_atomically(target, True, _write_b, timeout=60)
    assert holder.wait(timeout=60) == 0
    assert (target / "who.txt").read_text() == "A"


EXPORTER = """
import sys
from clipzoo.export import writers
from clipzoo.registry import architectures as registry
registry.add_model_config(sys.argv[1])
writers.export_model(sys.argv[2], to=sys.argv[3], lock_timeout=120)
print("exported", sys.argv[2])
"""


def test_two_concurrent_exports_never_both_succeed(tiny_folder, tmp_path):
    script = tmp_path / "exporter.py"
    script.write_text(EXPORTER)
    target = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tiny_folder), name, str(target)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("hostile-a", "hostile-b")
    ]  # fmt: skip
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    winners = [i for i, (rc, _, _) in enumerate(results) if rc == 0]
    assert len(winners) == 1, results
    loser = results[1 - winners[0]][2]
    assert "ExportBusyError: another export wrote" in loser or "already exists and is not empty" in loser
    embed = json.loads((target / "open_clip_config.json").read_text())["model_cfg"]["embed_dim"]
    assert embed == (16, 24)[winners[0]]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_unwritable_target_fails_before_the_model_is_built(tiny_folder, tmp_path, monkeypatch):
    from clipzoo.factory import create as factory

    monkeypatch.setattr(factory, "create_model", lambda *a, **k: pytest.fail("built a model first"))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(
        export.ExportError, match=r"cannot write into .*a-file: Not a directory; choose a target"
    ):
        writers.export_model("hostile-a", to=blocker / "out")
    for fmt in writers.EXPORT_FORMATS:
        with pytest.raises(export.ExportError, match="Not a directory"):
            writers.export_model("hostile-a", to=blocker / "sub" / "out", format=fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "cfg"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_parent_fails_before_the_model_is_built(tiny_folder, tmp_path, monkeypatch):
    from clipzoo.factory import create as factory

    monkeypatch.setattr(factory, "create_model", lambda *a, **k: pytest.fail("built a model first"))
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        with pytest.raises(export.ExportError, match=r"cannot write into .*ro: Permission denied"):
            writers.export_model("hostile-a", to=parent / "out")
    finally:
        parent.chmod(0o755)


def test_non_empty_target_is_kept_without_overwrite(tiny_folder, tmp_path, capsys):
    target = tmp_path / "out"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    argv = ["export", "hostile-a", "--random-weights", "--to", str(target)]
    for extra in ([], ["--overwrite"]):
        assert main([*argv, *extra]) == 2
        assert _one_line(capsys.readouterr().err) == (
            f"clipzoo: error: {target} is not empty and holds no clipzoo_export.json: clipzoo did not write it, "
            "so it is never replaced; name a new or empty folder, or remove it yourself"
        )
    assert sorted(p.name for p in target.iterdir()) == ["mine.txt"]


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_export_modes_follow_the_umask(tiny_folder, tmp_path, mask):
    old = os.umask(mask)
    try:
        folder = writers.export_model("hostile-a", to=tmp_path / f"out-{mask:o}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~mask
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path


def test_cli_export_status_and_one_line(tiny_folder, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["export", "hostile-a", "--random-weights", "--to", str(blocker / "out")]) == 2
    assert _one_line(capsys.readouterr().err).startswith(f"clipzoo: error: cannot write into {blocker}: ")


# --- image files: one loader ----------------------------------------------------------------------------


def _png16(array) -> bytes:
    """A 16-bit RGB PNG (Pillow cannot write one), from a uint16 array [H, W, 3]."""
    import struct
    import zlib

    height, width, _ = array.shape
    raw = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def test_exif_orientation_is_applied_to_files_only(tmp_path):
    import numpy as np
    from PIL import Image, ImageOps

    from clipzoo.preprocess import images
    from clipzoo.preprocess.transforms import image_transform

    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :20] = (255, 0, 0)  # left half red: after a 90 degree turn it is the top (or bottom) half
    stored = Image.fromarray(pixels)
    exif = stored.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    path = tmp_path / "phone.png"
    stored.save(path, exif=exif)
    loaded = images.load_image(path)
    assert loaded.size == (20, 40)
    upright = ImageOps.exif_transpose(Image.open(path))
    assert np.array_equal(np.asarray(loaded), np.asarray(upright))
    transform = image_transform(16, False)
    assert torch.equal(transform(str(path)), transform(upright))  # a path: the upright pixels
    assert torch.equal(transform(Image.open(path)), transform(stored))  # a PIL image: untouched (open_clip)
    from clipzoo.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
    from clipzoo.onnx.preprocess import ImagePreprocessor

    onnx_pre = ImagePreprocessor({"size": 16, "mean": OPENAI_DATASET_MEAN, "std": OPENAI_DATASET_STD})
    # the torch-free ONNX runtime reads files the same way
    assert np.array_equal(onnx_pre(str(path)), transform(str(path)).numpy())


def test_sixteen_bit_and_float_images_are_scaled_not_saturated(tmp_path):
    import numpy as np
    from PIL import Image

    from clipzoo.preprocess import images

    ramp = np.linspace(0, 65535, 64 * 4).round().astype(np.uint16).reshape(4, 64)
    expected = (ramp.astype(np.int64) * 255 + 32767) // 65535
    gray16 = tmp_path / "gray16.png"
    Image.fromarray(ramp).save(gray16)
    assert Image.open(gray16).mode == "I;16"
    assert (
        np.asarray(Image.open(gray16).convert("L")).min() == 0
        and (np.asarray(Image.open(gray16).convert("L")) == 255).mean() > 0.9
    )  # what PIL alone gives: saturated
    loaded = images.load_image(gray16)
    assert loaded.mode == "L" and np.array_equal(np.asarray(loaded), expected)
    tiff_i = tmp_path / "gray32.tif"
    Image.fromarray(ramp.astype(np.int32), mode="I").save(tiff_i)
    assert np.array_equal(np.asarray(images.load_image(tiff_i)), expected)
    tiff_f = tmp_path / "float.tif"
    Image.fromarray((ramp / 65535).astype(np.float32), mode="F").save(tiff_f)
    got_f = np.asarray(images.load_image(tiff_f)).astype(int)
    assert np.abs(got_f - np.rint(ramp / 65535 * 255)).max() == 0
    rgb16 = tmp_path / "rgb16.png"
    rgb = np.stack([ramp, 65535 - ramp, np.full_like(ramp, 40000)], axis=-1)
    rgb16.write_bytes(_png16(rgb))
    got = np.asarray(images.load_image(rgb16)).astype(int)
    assert np.abs(got - np.rint(rgb / 257)).max() <= 1 and got[..., 2].min() == got[..., 2].max() == 156


def test_decompression_bomb_is_one_line_with_how_to_raise_it(tmp_path, monkeypatch, tiny_folder, capsys):
    from PIL import Image

    from clipzoo.preprocess import images

    path = tmp_path / "big.png"
    Image.new("L", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    monkeypatch.delenv(images.MAX_PIXELS_ENV, raising=False)
    with pytest.raises(images.ImageTooLargeError) as info:
        images.load_image(path)
    message = str(info.value)
    assert isinstance(info.value, Image.DecompressionBombError) and "\n" not in message
    assert message.startswith(f"{path}: Image size (10000 pixels) exceeds limit of 2000 pixels")
    assert (
        "PIL.Image.MAX_IMAGE_PIXELS = <pixels>" in message and "CLIPZOO_MAX_IMAGE_PIXELS=<pixels>" in message
    )
    argv = ["classify", str(path), "--model", "hostile-a", "--random-weights", "--labels", "a", "b"]
    assert main(argv) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("clipzoo: error: ") and "exceeds limit of 2000 pixels" in line
    assert "CLIPZOO_MAX_IMAGE_PIXELS" in line
    monkeypatch.setenv(images.MAX_PIXELS_ENV, "none")
    assert images.load_image(path).size == (100, 100)
    monkeypatch.setenv(images.MAX_PIXELS_ENV, "lots")
    with pytest.raises(images.PixelLimitError, match=r"CLIPZOO_MAX_IMAGE_PIXELS='lots' is not a number"):
        images.load_image(path)


def test_missing_and_broken_image_files(tmp_path):
    from clipzoo.preprocess import images
    from clipzoo.preprocess.transforms import image_transform

    with pytest.raises(images.ImageNotFoundError, match=r"image file '.*nope.png' does not exist"):
        images.load_image(tmp_path / "nope.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image at all")
    with pytest.raises(images.ImageReadError, match=r"cannot open image .*broken.png"):
        image_transform(16, False)(str(broken))


# --- tokenizers: an empty list --------------------------------------------------------------------------


def test_empty_text_list_gives_an_empty_long_tensor(tmp_path):
    from clipzoo.tokenizers import HFTokenizer, SigLipTokenizer, SimpleTokenizer
    from clipzoo.tokenizers.bpe import get_reduction_mask_fn
    from test_tokenizers import build_wordpiece_dir, train_spiece

    (tmp_path / "sp").mkdir()
    (tmp_path / "wp").mkdir()
    wordpiece = str(build_wordpiece_dir(tmp_path / "wp"))
    clip = SimpleTokenizer()
    masked = []
    for mode in ("simple", "random", "shuffle"):  # one vocabulary, three reduction strategies
        tok = copy.copy(clip)
        tok.reduction_mask, tok.reduction_fn = mode, get_reduction_mask_fn(mode)
        masked.append(tok)
    tokenizers = [
        clip,
        *masked,
        SigLipTokenizer(train_spiece(tmp_path / "sp"), context_length=12),
        HFTokenizer(wordpiece, context_length=10),
        HFTokenizer(wordpiece, context_length=10, tokenizer_mode="clips"),
    ]
    for tok in tokenizers:
        out = tok([])
        assert out.shape == (0, tok.context_length) and out.dtype == torch.long, tok
        assert tok([], context_length=5).shape == (0, 5), tok
        assert tok.tokenize_numpy([]).shape == (0, tok.context_length), tok


# --- Hub files verified like URL files --------------------------------------------------------------------

HUB_REPO = "org/hostile"


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """The local imitation of the Hub (tests/hub_server.py), with the HF cache in tmp_path."""
    import functools

    import huggingface_hub.file_download as hf_file_download

    from hub_server import FakeServer

    for name in ("HF_HUB_OFFLINE", "HF_HUB_CACHE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("CLIPZOO_DOWNLOAD_BACKOFF", "0.01")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fast = functools.partial(hf_file_download.http_backoff, base_wait_time=0.01, max_wait_time=0.01)
    monkeypatch.setattr(hf_file_download, "http_backoff", fast)
    with FakeServer() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.base)
        yield server


def _cached_files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")
    )


def test_corrupted_hub_file_is_a_checksum_error_and_nothing_is_cached(hub, tmp_path):
    from clipzoo.hub import errors as hub_errors
    from clipzoo.hub.hf import download_pretrained_from_hf

    body = os.urandom(4096)
    path = hub.add_hub_file(HUB_REPO, "open_clip_model.safetensors", body)
    hub.add_fault(path, "corrupt", times=None)  # right length, wrong bytes, on every GET
    with pytest.raises(hub_errors.ChecksumError) as info:
        download_pretrained_from_hf(HUB_REPO)
    import hashlib

    expected = hashlib.sha256(body).hexdigest()
    got = hashlib.sha256(bytes(b ^ 0xFF for b in body)).hexdigest()
    assert str(info.value) == (
        f"hf-hub:{HUB_REPO}: open_clip_model.safetensors from hf-hub:{HUB_REPO} has SHA-256 {got}, but the Hub "
        f"lists {expected}; it was discarded and nothing was cached. The server sent a different or damaged "
        "file: try again later, or report it if it persists"
    )
    assert _cached_files(tmp_path / "hf") == []
    hub.faults.clear()
    old = os.umask(0o022)
    try:
        good = Path(download_pretrained_from_hf(HUB_REPO))
    finally:
        os.umask(old)
    assert good.read_bytes() == body and good.resolve().name == expected
    assert stat.S_IMODE(good.resolve().stat().st_mode) == 0o644
    assert not [p for p in _cached_files(tmp_path / "hf") if ".clipzoo-staging" in p]


def test_cli_download_of_a_corrupted_hub_file_is_status_4(hub, tmp_path, capsys):
    config = {"model_cfg": TINY, "preprocess_cfg": {}}
    hub.add_hub_file(HUB_REPO, "open_clip_config.json", json.dumps(config).encode())
    path = hub.add_hub_file(HUB_REPO, "open_clip_model.safetensors", os.urandom(2048))
    hub.add_fault(path, "corrupt", times=None)
    assert main(["download", f"hf-hub:{HUB_REPO}", "--no-progress"]) == 4
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"clipzoo: error: hf-hub:{HUB_REPO}: open_clip_model.safetensors from hf-hub:")
    assert "nothing was cached" in line
    assert [p for p in _cached_files(tmp_path / "hf") if "blobs" in p] != []  # the config is cached
    assert not [p for p in _cached_files(tmp_path / "hf") if p.endswith("open_clip_model.safetensors")]


def test_url_cache_files_follow_the_umask(tmp_path, monkeypatch):
    import hashlib

    from clipzoo.hub.url import download_pretrained_from_url
    from hub_server import FakeServer

    body = b"weights" * 100
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with FakeServer() as server:
        url = server.add_file(f"/models/{hashlib.sha256(body).hexdigest()}/w.pt", body)
        old = os.umask(0o002)
        try:
            path = Path(download_pretrained_from_url(url, cache_dir=tmp_path / "c", progress=False))
        finally:
            os.umask(old)
    assert path.read_bytes() == body and stat.S_IMODE(path.stat().st_mode) == 0o664


# --- the command line: every command x error case, one line and the documented status ---------------------

_CLI_CASES = {
    "unknown model": (2, "unknown model 'vit-b-32x'; did you mean 'ViT-B-32'", {
        "classify": ["classify", "ok.png", "--model", "vit-b-32x", "--pretrained", "openai", "--labels", "a", "b"],
        "caption": ["caption", "ok.png", "--model", "vit-b-32x", "--pretrained", "openai"],
        "export": ["export", "vit-b-32x", "openai", "--to", "out"],
        "download": ["download", "vit-b-32x", "openai"],
        "info": ["info", "vit-b-32x"],
    }),
    "typo'd tag": (2, "unknown pretrained tag 'openaii' for ViT-B-32; known tags: openai", {
        "classify": ["classify", "ok.png", "--model", "ViT-B-32", "--pretrained", "openaii", "--labels", "a", "b"],
        "caption": ["caption", "ok.png", "--model", "ViT-B-32", "--pretrained", "openaii"],
        "export": ["export", "ViT-B-32", "openaii", "--to", "out"],
        "download": ["download", "ViT-B-32", "openaii"],
        "info": ["info", "ViT-B-32", "openaii"],
    }),
    "offline without cache": (3, "is not in the Hugging Face cache", {
        "classify": ["classify", "ok.png", "--model", "ViT-B-32", "--pretrained", "openai", "--labels", "a", "b"],
        "caption": ["caption", "ok.png", "--model", "coca_ViT-B-32", "--pretrained", "laion2b_s13b_b90k"],
        "export": ["export", "ViT-B-32", "openai", "--to", "out"],
        "download": ["download", "ViT-B-32", "openai"],
    }),
    "bad checkpoint": (2, "bad.pt: not a checkpoint (expected .safetensors", {
        "classify": ["classify", "ok.png", "--model", "hostile-a", "--pretrained", "bad.pt", "--labels", "a", "b"],
        "caption": ["caption", "ok.png", "--model", "hostile-a", "--pretrained", "bad.pt"],
        "export": ["export", "hostile-a", "bad.pt", "--to", "out"],
    }),
    "unreadable image": (2, "cannot identify image file 'bad.png'", {
        "classify": ["classify", "bad.png", "--model", "ViT-B-32", "--pretrained", "openai", "--labels", "a", "b"],
        "caption": ["caption", "bad.png", "--model", "coca_ViT-B-32", "--pretrained", "laion2b_s13b_b90k"],
    }),
    "unwritable target": (2, "Not a directory; choose a target folder you can write to", {
        "export": ["export", "hostile-a", "good.safetensors", "--to", "a-file/out"],
    }),
}  # fmt: skip


@pytest.mark.parametrize(
    "case,command", [(case, command) for case, (_, _, argvs) in _CLI_CASES.items() for command in argvs]
)
def test_cli_error_matrix(case, command, tiny_folder, tmp_path, monkeypatch, capsys):
    from PIL import Image
    from safetensors.torch import save_file

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLIPZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing here may touch the network
    Image.new("RGB", (16, 16)).save("ok.png")
    Path("bad.png").write_bytes(b"this is no image")
    Path("bad.pt").write_bytes(b"garbage" * 10)
    Path("a-file").write_text("x")
    if case == "unwritable target":
        save_file({k: v.contiguous() for k, v in clipzoo.create_model("hostile-a").state_dict().items()},
                  "good.safetensors")  # fmt: skip
    status, message, argvs = _CLI_CASES[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argvs[command]) == status
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith("clipzoo: error: ") and message in line, line
    assert "Traceback" not in captured.err and captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no target, lock or temporary left behind
