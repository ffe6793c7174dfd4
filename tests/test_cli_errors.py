"""Every command x every error case ends in the documented exit status and one line on stderr.

Statuses (clipzoo.cli): 2 unknown model/tag, bad input file or value; 3 network or offline; 4 checksum; 1 other.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants  # noqa: F401 - before any test sets HF_HUB_OFFLINE: it is read at this import
import pytest
from PIL import Image

import clipzoo
from clipzoo.cli import EXIT_STATUS, error_line, exit_status, main
from tests.helpers.checkpoints import save_weights
from tests.helpers.cli import one_line
from tests.helpers.images import solid_png

GOOD = {  # a valid model/tag for each command that takes one (tags are real registry tags; nothing is cached)
    "clip": ("ViT-B-32", "laion2b_s34b_b79k"),
    "coca": ("coca_ViT-B-32", "laion2b_s13b_b90k"),
}


@pytest.fixture
def files(tmp_path, monkeypatch):
    """Online mode (huggingface_hub may have read HF_HUB_OFFLINE at its import), an empty Hub/URL cache, a real image, an unreadable image, a checkpoint that is not one, a read-only dir."""

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("CLIPZOO_CACHE", str(tmp_path / "cz"))
    image = tmp_path / "ok.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(image)
    bad_image = tmp_path / "broken.png"
    bad_image.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    bad_ckpt = tmp_path / "weights.bin"
    bad_ckpt.write_bytes(b"this is not a checkpoint" * 10)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    yield {"image": str(image), "bad_image": str(bad_image), "bad_ckpt": str(bad_ckpt), "locked": locked}
    locked.chmod(0o700)


def commands(model: str, tag: str | None, image: str, to: str) -> dict[str, list[str]]:
    """Each model-taking command called with ``model``/``tag``/``image``/target ``to``.

    ``caption`` needs a captioning model: the CLIP model and tag of a case become their CoCa counterparts.
    """
    pre = ["--pretrained", tag] if tag else []
    cap_model, cap_tag = model.replace("ViT-B-32", "coca_ViT-B-32"), tag
    if tag and tag.startswith("laion2b_s34b_b"):
        cap_tag = tag.replace("laion2b_s34b_b79k", GOOD["coca"][1]).replace("b97k", "b09k")
    cap_pre = ["--pretrained", cap_tag] if cap_tag else []
    return {
        "info": ["info", model, *([tag] if tag else [])],
        "download": ["download", model, *([tag] if tag else []), "--no-progress"],
        "export": ["export", model, *([tag] if tag else []), "--to", to],
        "classify": ["classify", image, "--model", model, *pre, "--labels", "a", "b"],
        "caption": ["caption", image, "--model", cap_model, *cap_pre],
    }


def run(capsys, argv):
    status = main(argv)
    out, err = capsys.readouterr()
    return status, out, err


CASES = {
    # case: (model, tag, which image, target, {command: (status, text in the message)}); None: command n/a
    "unknown model": ("vit-b-33", None, "image", "out", dict.fromkeys(
        ("info", "download", "export", "classify", "caption"), (2, "unknown model"))),
    "typo'd tag": ("ViT-B-32", "laion2b_s34b_b97k", "image", "out", dict.fromkeys(
        ("info", "download", "export", "classify", "caption"), (2, "unknown pretrained tag"))),
    "offline without cache": ("ViT-B-32", "laion2b_s34b_b79k", "image", "out", {
        "download": (3, "HF_HUB_OFFLINE"), "export": (3, "offline"), "classify": (3, "offline"),
        "caption": (3, "offline")}),
    "bad checkpoint": ("ViT-B-32", "bad_ckpt", "image", "out", {
        "export": (2, "weights.bin"), "classify": (2, "weights.bin"), "caption": (2, "weights.bin")}),
    "unreadable image": ("ViT-B-32", "laion2b_s34b_b79k", "bad_image", "out", {
        "classify": (2, "broken.png"), "caption": (2, "broken.png")}),
}  # fmt: skip


@pytest.mark.parametrize(
    "case,command",
    [(case, command) for case, spec in CASES.items() for command in spec[4]],
)
def test_every_command_and_error_case(files, capsys, monkeypatch, tmp_path, case, command):
    model, tag, image_key, to, expected = CASES[case]
    if tag == "bad_ckpt":
        tag = files["bad_ckpt"]
    if case == "offline without cache":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = commands(model, tag, files[image_key], str(tmp_path / to))[command]
    status, out, err = run(capsys, argv)
    want_status, needle = expected[command]
    assert (status, out) == (want_status, ""), err
    assert err.count("\n") == 1 and err.startswith("clipzoo: error: "), err
    assert needle in err
    assert not (tmp_path / to).exists()  # nothing half-written


@pytest.mark.parametrize("command", ["export", "download", "demo"])
def test_unwritable_target_is_one_line(files, capsys, command):
    target = str(files["locked"] / "sub")
    if os.geteuid() == 0:  # root writes anywhere: use a path below a regular file instead
        blocker = files["locked"].parent / "a-file"
        blocker.write_text("x")
        target = str(blocker / "sub")
    argv = {
        "export": ["export", "tiny-digits", "sklearn_digits", "--to", target],
        "download": ["download", "tiny-digits", "sklearn_digits", "--to", target],
        "demo": ["demo", "--limit", "2", "--out", os.path.join(target, "x.png")],
    }[command]
    status, out, err = run(capsys, argv)
    assert status in (1, 2) and err.count("\n") == 1 and err.startswith("clipzoo: error: "), (status, err)
    assert os.path.basename(os.path.dirname(target)) in err  # names the place it could not write


def test_random_weights_need_the_flag(files, capsys):
    argv = ["classify", files["image"], "--model", "tiny-digits", "--labels", "a", "b"]
    status, _, err = run(capsys, argv)
    assert status == 2 and "--random-weights" in err and err.count("\n") == 1
    status, out, _ = run(capsys, [*argv, "--random-weights", "--json"])
    assert status == 0 and '"predictions"' in out


def test_hf_hub_and_local_dir_sources_in_info(capsys, tmp_path):
    status, out, err = run(capsys, ["info", "local-dir:" + str(tmp_path / "nope")])
    assert status == 2 and "no such directory" in err
    status, out, err = run(capsys, ["export", "tiny-digits", "sklearn_digits", "--to", str(tmp_path / "d")])
    assert status == 0
    status, out, err = run(capsys, ["info", f"local-dir:{tmp_path / 'd'}", "--json"])
    assert status == 0 and '"weights": "file ' in out and '"embed_dim"' in out


def test_unreachable_hub_fails_fast_with_the_offline_hint(files, capsys, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    status, out, err = run(capsys, ["download", "ViT-B-32", "laion2b_s34b_b79k", "--no-progress"])
    assert status == 3 and "set HF_HUB_OFFLINE=1" in err and err.count("\n") == 1


def test_unresolvable_host_fails_fast(files, capsys, monkeypatch):
    from clipzoo.hub import hf as hub

    def no_dns(*args, **kwargs):
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(hub.socket, "create_connection", no_dns)
    monkeypatch.setattr(hub, "_probes", {})
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.invalid")
    status, _, err = run(capsys, ["download", "ViT-B-32", "laion2b_s34b_b79k", "--no-progress"])
    assert status == 3 and "Name or service not known" in err and "HF_HUB_OFFLINE=1" in err


def test_debug_prints_the_traceback(capsys):
    status, _, err = run(capsys, ["--debug", "info", "vit-b-33"])
    *trace, last = err.rstrip().splitlines()
    assert status == 2 and trace[0].startswith("Traceback")
    assert last.startswith("clipzoo: error: unknown model 'vit-b-33'; did you mean 'ViT-B-32'")


def test_version():
    out = subprocess.run([sys.executable, "-m", "clipzoo", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("clipzoo ")


def test_status_table():
    from clipzoo.errors import ClipzooError, InputError, IntegrityError, NetworkError, UnknownNameError
    from clipzoo.hub.errors import ChecksumError, OfflineError

    assert [
        exit_status(e) for e in (IntegrityError(), ChecksumError("x"), OfflineError("x"), NetworkError())
    ] == [4, 4, 3, 3]
    assert [exit_status(e) for e in (UnknownNameError(), InputError(), ClipzooError(), RuntimeError())] == [
        2,
        2,
        1,
        1,
    ]
    assert error_line(RuntimeError("two\nlines")) == "clipzoo: error: RuntimeError: two lines"
    assert EXIT_STATUS[0][0].__name__ == "CliError"


def test_a_torch_loader_given_an_onnx_folder_points_to_the_runtime(tmp_path, capsys):
    (tmp_path / "clipzoo_onnx.json").write_text("{}")
    status, _, err = run(capsys, ["export", f"local-dir:{tmp_path}", "--to", str(tmp_path / "out")])
    assert status == 2 and "is an ONNX export" in err and "--onnx" in err and err.count("\n") == 1
    status, _, err = run(capsys, ["info", f"local-dir:{tmp_path}"])  # info reads ONNX folders: a bad manifest
    assert status == 2 and "clipzoo_onnx.json" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["pretrained", "--plot", "out.txt"], ["'.txt' is not a format", ".png"]),
        (["pretrained", "--plot", "{tmp}/no-such-folder/x.png"], ["no-such-folder", "does not exist"]),
        (["demo", "--out", "{file}/x.png"], ["is a file, not a folder"]),
        (["export", "ViT-B-32", "--random-weights", "--force-image-size", "100000", "--to", "{tmp}/x"],
         ["image size (100000, 100000)", "sizes up to about"]),
    ],
)  # fmt: skip
def test_bad_output_paths_and_sizes_are_typed_errors(tmp_path, capsys, argv, words):
    """Refused before the work, with status 2 and the path or size the user gave (never a temporary file)."""
    a_file = tmp_path / "red.jpg"
    Image.new("RGB", (4, 4)).save(a_file)
    argv = [a.format(tmp=tmp_path, file=a_file) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("clipzoo: error: ") and ".tmp" not in err
    assert all(word in err for word in words), err
    assert not (tmp_path / "x").exists()


def test_unavailable_device_is_a_typed_error(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    image = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(image)
    argv = [
        "classify",
        str(image),
        "--model",
        "tiny-digits",
        "--pretrained",
        "sklearn-digits",
        "--labels",
        "a",
        "b",
    ]
    assert main([*argv, "--device", "cuda"]) == 2
    assert "no CUDA device is available here" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["nan", "-1"])
def test_max_gflops_must_be_a_number_at_least_zero(capsys, value):
    with pytest.raises(SystemExit) as stop:
        main(["pretrained", "--sort", "imagenet1k", "--max-gflops", value])
    assert stop.value.code == 2 and "must be a number >= 0" in capsys.readouterr().err


# --- hostile input through the command line: one line, the documented status, nothing left behind -------


@pytest.mark.parametrize("command", ["classify", "caption", "export"])
def test_cli_refuses_random_weights(tiny_folder, tmp_path, capsys, command):
    image = str(solid_png(tmp_path / "x.png", (16, 16), (200, 10, 10)))
    argv = {
        "classify": ["classify", image, "--model", "hostile-a", "--labels", "a", "b"],
        "caption": ["caption", image, "--model", "hostile-a"],
        "export": ["export", "hostile-a", "--to", str(tmp_path / "out")],
    }[command]
    assert main(argv) == 2
    line = one_line(capsys.readouterr().err)
    how = {"export": "a pretrained TAG after the model name (`clipzoo export hostile-a TAG --to DIR`)"}
    assert line.startswith(f"clipzoo: error: hostile-a: no pretrained weights given; pass {how.get(command, '--pretrained TAG')}")
    assert "--random-weights" in line and not (tmp_path / "out").exists()


def test_non_empty_target_is_kept_without_overwrite(tiny_folder, tmp_path, capsys):
    target = tmp_path / "out"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    argv = ["export", "hostile-a", "--random-weights", "--to", str(target)]
    for extra in ([], ["--overwrite"]):
        assert main([*argv, *extra]) == 2
        assert one_line(capsys.readouterr().err) == (
            f"clipzoo: error: {target} is not empty and holds no clipzoo_export.json: clipzoo did not write it, "
            "so it is never replaced; name a new or empty folder, or remove it yourself"
        )
    assert sorted(p.name for p in target.iterdir()) == ["mine.txt"]


def test_cli_export_status_and_one_line(tiny_folder, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["export", "hostile-a", "--random-weights", "--to", str(blocker / "out")]) == 2
    assert one_line(capsys.readouterr().err).startswith(f"clipzoo: error: cannot write into {blocker}: ")


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
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLIPZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing here may touch the network
    solid_png(Path("ok.png"), (16, 16), "black")
    Path("bad.png").write_bytes(b"this is no image")
    Path("bad.pt").write_bytes(b"garbage" * 10)
    Path("a-file").write_text("x")
    if case == "unwritable target":
        save_weights(clipzoo.create_model("hostile-a"), Path("good.safetensors"))
    status, message, argvs = _CLI_CASES[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(argvs[command]) == status
    captured = capsys.readouterr()
    line = one_line(captured.err)
    assert line.startswith("clipzoo: error: ") and message in line, line
    assert "Traceback" not in captured.err and captured.out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no target, lock or temporary left behind
