"""`clipzoo export`, then `clipzoo classify` and `clipzoo caption` on the exported folder (local-dir:)."""

from __future__ import annotations

import json

import pytest
import torch

import clipzoo
from clipzoo.cli import main
from clipzoo.demo.digits import load_heldout
from tests.helpers.checkpoints import seeded_checkpoint
from tests.helpers.configs import tiny_coca
from tests.helpers.images import digit_pngs
from tests.helpers.registry import register_configs

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def test_classify_on_an_exported_folder(tmp_path, capsys):
    folder = tmp_path / "digits-export"
    assert main(["export", "tiny-digits", "sklearn-digits", "--to", str(folder)]) == 0
    capsys.readouterr()
    paths, labels = digit_pngs(tmp_path, 5)  # the packaged model gets the first five held-out digits right
    templates = tmp_path / "prompts.txt"
    templates.write_text("a photo of the digit {}.\na handwritten {}.\n")
    argv = ["classify", *paths, "--model", f"local-dir:{folder}", "--labels", *WORDS,
            "--templates", str(templates), "--top-k", "1", "--json"]  # fmt: skip
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [entry["predictions"][0]["label"] for entry in payload] == [WORDS[y] for y in labels[:5]]
    assert all(entry["activation"] == "softmax" for entry in payload)


def test_caption_on_an_exported_folder(tmp_path, capsys, fresh_registry):
    register_configs(tmp_path / "cfg", {"tiny-coca-export": tiny_coca()})
    _, weights = seeded_checkpoint("tiny-coca-export", tmp_path / "coca.safetensors")
    folder = tmp_path / "coca-export"
    assert main(["export", "tiny-coca-export", str(weights), "--to", str(folder)]) == 0
    capsys.readouterr()
    image = tmp_path / "digit.png"
    load_heldout()[0][0].save(image)
    assert main(["caption", str(image), "--model", f"local-dir:{folder}", "--seq-len", "8", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload[0]["image"] == str(image) and isinstance(payload[0]["caption"], str)
    # the registry name with the same weights captions too, and the folder holds exactly those weights (captions
    # themselves are argmaxes over floats computed at other addresses, so they are not compared bit for bit)
    assert main(["caption", str(image), "--model", "tiny-coca-export", "--pretrained", str(weights), "--seq-len",
                 "8", "--json"]) == 0  # fmt: skip
    assert isinstance(json.loads(capsys.readouterr().out)[0]["caption"], str)
    exported = clipzoo.create_model(f"local-dir:{folder}").state_dict()
    original = clipzoo.create_model("tiny-coca-export", str(weights)).state_dict()
    assert exported.keys() == original.keys() and all(torch.equal(exported[k], original[k]) for k in original)


def test_caption_seq_len_beyond_the_context_fails_before_generating(tmp_path, capsys, fresh_registry):
    """A --seq-len the text tower cannot hold is refused at once (status 2), naming the longest that fits."""
    register_configs(tmp_path, {"tiny-coca-seq": tiny_coca()})
    image = tmp_path / "digit.png"
    load_heldout()[0][0].save(image)
    argv = ["caption", str(image), "--model", "tiny-coca-seq", "--random-weights", "--seq-len"]
    assert main([*argv, "100000000000"]) == 2
    assert "at most 77 tokens" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main([*argv, "0"])
    assert stop.value.code == 2
    from clipzoo.models import generation

    model = clipzoo.create_model("tiny-coca-seq").eval()
    with pytest.raises(generation.GenerationArgumentError, match="at most 77"):
        generation.generate(model, torch.zeros(1, 3, 32, 32), seq_len=78)
    with pytest.raises(generation.GenerationArgumentError, match="at most 77"):
        generation.generate(model, torch.zeros(1, 3, 32, 32), generation_type="top_k", seq_len=78)


def test_info_of_folders_gives_parameters_and_cost(tmp_path, capsys):
    """`clipzoo info`: parameters total, image, text (in that order) for registry names and local-dir: folders;
    an exported architecture gets its stored profile, a changed one a meta-device count."""
    assert main(["info", "tiny-digits", "--json"]) == 0
    registry_info = json.loads(capsys.readouterr().out)
    assert list(registry_info["parameters"])[:3] == ["total", "visual", "text"]
    folder = tmp_path / "digits"
    assert main(["export", "tiny-digits", "sklearn_digits", "--to", str(folder)]) == 0
    capsys.readouterr()
    assert main(["info", f"local-dir:{folder}", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["parameters"] == registry_info["parameters"] and "tiny-digits" in data["profile"]["note"]
    config = json.loads((folder / "open_clip_config.json").read_text())
    config["model_cfg"]["vision_cfg"]["layers"] = 2  # no longer a registry architecture
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    assert main(["info", f"local-dir:{folder}"]) == 0
    text = capsys.readouterr().out
    assert text.index("  total:") < text.index("  visual:") < text.index("  text:")
    assert "GFLOPs" in text and "counted on this folder's config" in text
