"""Export to a self-contained folder: round trip through local-dir:, config layout, atomic writes. (`clipzoo export`:
test_cli_export.py.)"""

from __future__ import annotations

import json

import pytest
import torch

import clipzoo
from clipzoo.export import folder as export
from clipzoo.export.writers import export_model


def _inputs():
    gen = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 32, 32, generator=gen), torch.randint(1, 1000, (2, 16), generator=gen)


def test_export_round_trip(tmp_path, tiny_checkpoint):
    source, path = tiny_checkpoint
    folder = export_model(
        "tiny-vit",
        str(path),
        to=tmp_path / "out",
        force_preprocess_cfg={"mean": (0.1, 0.2, 0.3), "interpolation": "bilinear"},
    )
    assert sorted(p.name for p in folder.iterdir()) == [
        "clipzoo_export.json",
        "open_clip_config.json",
        "open_clip_model.safetensors",
    ]
    config = json.loads((folder / "open_clip_config.json").read_text())
    assert set(config) == {"model_cfg", "preprocess_cfg"}
    assert config["model_cfg"]["vision_cfg"]["width"] == 64
    assert config["preprocess_cfg"]["mean"] == [0.1, 0.2, 0.3]
    loaded = clipzoo.create_model(f"local-dir:{folder}").eval()
    image, text = _inputs()
    with torch.no_grad():
        # equal weights at other addresses: outputs agree to float32 rounding, not bit for bit
        torch.testing.assert_close(
            loaded.encode_image(image), source.encode_image(image), rtol=1e-5, atol=1e-6
        )
        torch.testing.assert_close(loaded.encode_text(text), source.encode_text(text), rtol=1e-5, atol=1e-6)
    pp = clipzoo.get_model_preprocess_cfg(loaded)
    assert (pp["mean"], pp["interpolation"], pp["resize_mode"], pp["size"]) == (
        (0.1, 0.2, 0.3),
        "bilinear",
        "shortest",
        32,
    )


def test_export_bakes_in_forced_image_size(tmp_path, tiny_checkpoint):
    _, path = tiny_checkpoint
    folder = export_model("tiny-vit", str(path), to=tmp_path / "out", force_image_size=48)
    loaded = clipzoo.create_model(f"local-dir:{folder}")
    assert loaded.visual.positional_embedding.shape[0] == 1 + 6 * 6
    assert clipzoo.get_model_preprocess_cfg(loaded)["size"] == 48


def test_failed_export_leaves_nothing(tmp_path, tiny_checkpoint, monkeypatch):
    _, path = tiny_checkpoint

    def broken(model, target):
        target.write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(export, "_save_weights", broken)
    with pytest.raises(OSError, match="disk full"):
        export_model("tiny-vit", str(path), to=tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.safetensors"]


def test_existing_target_needs_overwrite(tmp_path, tiny_checkpoint):
    _, path = tiny_checkpoint
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("x")
    for overwrite in (False, True):  # a folder clipzoo did not write is never replaced
        with pytest.raises(export.ExportError, match="is not empty and holds no clipzoo_export.json"):
            export_model("tiny-vit", str(path), to=target, overwrite=overwrite)
    assert (target / "keep.txt").is_file()
    (target / export.EXPORT_MANIFEST).write_text("{}")  # as if an export had written it
    with pytest.raises(export.ExportError, match=r"already exists \(written by clipzoo\); pass overwrite=True"):
        export_model("tiny-vit", str(path), to=target)
    export_model("tiny-vit", str(path), to=target, overwrite=True)
    assert not (target / "keep.txt").exists() and (target / "open_clip_config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny.safetensors"]


def test_save_model_folder_copies_hf_tokenizer_files(tmp_path, tiny_checkpoint):
    model, _ = tiny_checkpoint
    tokenizer_dir = tmp_path / "tok"
    tokenizer_dir.mkdir()
    (tokenizer_dir / "tokenizer.json").write_text("{}")
    (tokenizer_dir / "unrelated.txt").write_text("no")
    cfg = clipzoo.get_model_config("tiny-vit")
    cfg["text_cfg"]["hf_tokenizer_name"] = str(tokenizer_dir)
    folder = export.save_model_folder(model, tmp_path / "out", cfg)
    assert (folder / "tokenizer.json").is_file() and not (folder / "unrelated.txt").exists()
    cfg["text_cfg"]["hf_tokenizer_name"] = str(tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    with pytest.raises(export.ExportError, match="no tokenizer files .* found in that folder"):
        export.save_model_folder(model, tmp_path / "out2", cfg)
    assert not (tmp_path / "out2").exists()
