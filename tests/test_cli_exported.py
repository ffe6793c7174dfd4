"""`clipzoo export`, then `clipzoo classify` and `clipzoo caption` on the exported folder (local-dir:)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

import clipzoo
from clipzoo.cli import main
from clipzoo.demo.digits import load_heldout
from clipzoo.registry import architectures as registry

TINY_COCA = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 8,
                   "attentional_pool": True, "attn_pooler_queries": 9, "attn_pooler_heads": 2,
                   "output_tokens": True},
    "text_cfg": {"context_length": 76, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1,
                 "embed_cls": True, "output_tokens": True},
    "multimodal_cfg": {"context_length": 76, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    "custom_text": True,
}  # fmt: skip
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def test_classify_on_an_exported_folder(tmp_path, capsys):
    folder = tmp_path / "digits-export"
    assert main(["export", "tiny-digits", "sklearn-digits", "--to", str(folder)]) == 0
    capsys.readouterr()
    images, labels = load_heldout()
    paths = []
    for i in range(5):  # the packaged model gets the first five held-out digits right
        paths.append(str(tmp_path / f"digit{i}.png"))
        images[i].save(paths[-1])
    templates = tmp_path / "prompts.txt"
    templates.write_text("a photo of the digit {}.\na handwritten {}.\n")
    argv = ["classify", *paths, "--model", f"local-dir:{folder}", "--labels", *WORDS,
            "--templates", str(templates), "--top-k", "1", "--json"]  # fmt: skip
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [entry["predictions"][0]["label"] for entry in payload] == [WORDS[y] for y in labels[:5]]
    assert all(entry["activation"] == "softmax" for entry in payload)


@pytest.fixture
def fresh_registry():
    yield registry.reset_registry()
    registry.reset_registry()


def test_caption_on_an_exported_folder(tmp_path, capsys, fresh_registry):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "tiny-coca-export.json").write_text(json.dumps(TINY_COCA))
    clipzoo.add_model_config(tmp_path / "cfg" / "tiny-coca-export.json")
    torch.manual_seed(0)
    model = clipzoo.create_model("tiny-coca-export")
    weights = tmp_path / "coca.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(weights))
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
    (tmp_path / "tiny-coca-seq.json").write_text(json.dumps(TINY_COCA))
    clipzoo.add_model_config(tmp_path / "tiny-coca-seq.json")
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
