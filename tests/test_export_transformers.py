"""The transformers export format in the main environment: what exports, refusals before anything is built or
written, atomic writes and --overwrite, the README table, and a tiny CLIP read back by transformers 4.x and by
clipzoo. (transformers 5.x, AutoProcessor and the pipeline: tests/hf5/.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

import clipzoo
from clipzoo.export.folder import ExportError
from clipzoo.export.writers import export_model
from clipzoo.factory import create as factory
from tests.helpers.checkpoints import tiny_clip_checkpoint


def _load_script(name: str):
    """A module from scripts/ (not a package): the README table generator lives there."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXPORT_TABLE = _load_script("transformers_export_table")

REFUSED = {
    "RN50": "ModifiedResNet",
    "coca_ViT-B-32": "CoCa",
    "convnext_base": "timm's 'convnext_base'",
    "EVA02-B-16": "timm's 'eva02_base_patch16_clip_224'",
    "ViT-M-16-alt": "layer scale",
    "ViT-L-14-CLIPA": "no_ln_pre",
    "nllb-clip-base-siglip": "Hugging Face model",
    "ViT-H-14-worldwide": "eos_id 2",
}


@pytest.fixture
def no_build(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the model was built although the export is refused")

    monkeypatch.setattr(factory, "create_model", refuse)


@pytest.mark.parametrize(("name", "reason"), list(REFUSED.items()))
def test_refused_before_building_or_writing(tmp_path, no_build, name, reason):
    target = tmp_path / "out"
    with pytest.raises(
        ExportError, match=f"{re.escape(name)} cannot be exported to transformers: .*{re.escape(reason)}"
    ):
        export_model(name, to=target, format="transformers")
    assert not target.exists() and list(tmp_path.iterdir()) == []


def test_unsupported_preprocessing_is_refused(tmp_path, no_build):
    with pytest.raises(ExportError, match="resize_mode 'longest'"):
        export_model(
            "ViT-B-32",
            to=tmp_path / "out",
            format="transformers",
            force_preprocess_cfg={"resize_mode": "longest"},
        )


def test_support_of_every_registry_architecture():
    rows = dict(EXPORT_TABLE.registry_export_table())
    assert set(rows) == set(clipzoo.list_models())
    for name in ("ViT-B-32", "ViT-B-32-quickgelu", "ViT-B-16", "ViT-bigG-14", "ViT-S-16", "ViT-L-14-336"):
        assert rows[name] == "CLIPModel", name
    for name in (
        "ViT-B-16-SigLIP",
        "ViT-B-16-SigLIP2",
        "ViT-SO400M-14-SigLIP-384",
        "ViT-gopt-16-SigLIP2-256",
    ):
        assert rows[name] == "SiglipModel", name
    for name, reason in REFUSED.items():
        assert rows[name].startswith("no: ") and reason in rows[name], (name, rows[name])


def test_readme_table_is_current():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert EXPORT_TABLE.registry_export_markdown() in readme, (
        "README's transformers export table is stale: paste the output of scripts/transformers_export_table.py"
    )


@pytest.mark.slow
def test_tiny_clip_round_trip_and_transformers_4(tmp_path, tiny_configs):
    from transformers import CLIPModel

    model, weights = tiny_clip_checkpoint(tmp_path)
    folder = export_model(
        "tiny-vit", str(weights), to=tmp_path / "hf", format="transformers", force_quick_gelu=True
    )
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["CLIPModel"] and config["vision_config"]["hidden_act"] == "quick_gelu"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    reference = CLIPModel.from_pretrained(folder).eval()
    back = clipzoo.create_model(f"local-dir:{folder}").eval()
    pixels = torch.randn(2, 3, 32, 32)
    ids = clipzoo.get_tokenizer("tiny-vit")(["a photo of a cat", "two dogs!"])
    with torch.no_grad():
        for ours, theirs, again in (
            (
                model.encode_image(pixels),
                reference.get_image_features(pixel_values=pixels),
                back.encode_image(pixels),
            ),
            (model.encode_text(ids), reference.get_text_features(input_ids=ids), back.encode_text(ids)),
        ):
            torch.testing.assert_close(theirs, ours, atol=1e-5, rtol=0)
            torch.testing.assert_close(again, ours, atol=1e-6, rtol=1e-5)
    assert clipzoo.get_model_preprocess_cfg(back)["resize_mode"] == "shortest"
    assert torch.equal(clipzoo.get_tokenizer(f"local-dir:{folder}")(["two dogs!"]), ids[1:])


def test_overwrite_replaces_the_folder_atomically(tmp_path, tiny_configs):
    _, weights = tiny_clip_checkpoint(tmp_path)
    target = tmp_path / "hf"
    export_model("tiny-vit", str(weights), to=target, format="transformers")
    (target / "stale.txt").write_text("from before")
    with pytest.raises(ExportError, match="overwrite"):
        export_model("tiny-vit", str(weights), to=target, format="transformers")
    assert (target / "stale.txt").is_file()
    export_model("tiny-vit", str(weights), to=target, format="transformers", overwrite=True)
    assert not (target / "stale.txt").exists() and (target / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def _siglip_folder(folder: Path) -> None:
    """A random transformers SiglipModel with a SiglipTokenizer (a sentencepiece model trained here)."""
    import random

    import sentencepiece as spm
    from transformers import SiglipConfig, SiglipImageProcessor, SiglipModel, SiglipTokenizer

    words = "a photo of the dog cat bird two three red blue green".split()
    rng = random.Random(0)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(" ".join(rng.choices(words, k=6)) for _ in range(200)),
        model_prefix=str(folder.parent / "sp"), vocab_size=30, model_type="unigram", pad_id=0, eos_id=1,
        unk_id=2, bos_id=-1, character_coverage=1.0, minloglevel=2,
    )  # fmt: skip
    tower = {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 1, "num_attention_heads": 2}
    config = SiglipConfig(
        text_config={**tower, "vocab_size": 30, "max_position_embeddings": 16},
        vision_config={**tower, "image_size": 28, "patch_size": 14},
    )
    torch.manual_seed(0)
    SiglipModel(config).save_pretrained(folder)
    SiglipImageProcessor(size={"height": 28, "width": 28}).save_pretrained(folder)
    SiglipTokenizer(vocab_file=str(folder.parent / "sp.model"), model_max_length=16).save_pretrained(folder)


@pytest.mark.slow
def test_a_transformers_siglip_folder_exports_back_with_its_tokenizer(tmp_path):
    from transformers import AutoTokenizer, SiglipModel

    _siglip_folder(tmp_path / "siglip")
    source = f"local-dir:{tmp_path / 'siglip'}"
    again = export_model(source, to=tmp_path / "again", format="transformers")
    texts = ["a photo of the dog!", "Two  RED birds", "green"]
    ours = clipzoo.get_tokenizer(source)(texts)
    theirs = AutoTokenizer.from_pretrained(again)(
        texts, padding="max_length", max_length=16, return_tensors="pt"
    )
    assert torch.equal(theirs["input_ids"], ours)
    reference, back = (
        SiglipModel.from_pretrained(tmp_path / "siglip").eval(),
        SiglipModel.from_pretrained(again),
    )
    with torch.no_grad():
        torch.testing.assert_close(
            back.eval().get_text_features(input_ids=ours), reference.get_text_features(input_ids=ours)
        )
