"""Architecture registry: listing, lookup, user configs and validation errors (every numeric field checked,
with the file and the key)."""

import copy
import json

import pytest

import clipzoo
from clipzoo.registry import architectures as registry
from clipzoo.registry.config import ConfigError, parse_model_config
from tests.helpers.configs import TINY_ONE_BLOCK as TINY


def test_natural_sort_and_known_names():
    names = clipzoo.list_models()
    assert len(names) >= 144
    assert names.index("RN50") < names.index("RN50x4") < names.index("RN50x16") < names.index("RN101")
    assert names == sorted(names, key=registry._natural_key)


def test_get_model_config_is_a_deep_copy():
    cfg = clipzoo.get_model_config("ViT-B-32")
    assert cfg["embed_dim"] == 512 and cfg["vision_cfg"]["patch_size"] == 32
    cfg["vision_cfg"]["patch_size"] = 1
    assert clipzoo.get_model_config("ViT-B-32")["vision_cfg"]["patch_size"] == 32


def test_unknown_model_is_none_and_typed_lookup_suggests():
    assert clipzoo.get_model_config("ViT-B-33") is None
    with pytest.raises(registry.UnknownModelError, match="ViT-B-32"):
        registry.get_typed_model_cfg("vit-b-32x")


def test_add_model_config_file_and_folder(tmp_path, fresh_registry):
    (tmp_path / "tiny-a.json").write_text(json.dumps(TINY))
    sub = tmp_path / "more"
    sub.mkdir()
    (sub / "tiny-b.json").write_text(json.dumps(TINY))
    (sub / "tiny-c.json").write_text(json.dumps(TINY))
    clipzoo.add_model_config(tmp_path / "tiny-a.json")
    clipzoo.add_model_config(sub)
    names = clipzoo.list_models()
    assert {"tiny-a", "tiny-b", "tiny-c", "ViT-B-32"} <= set(names)
    assert clipzoo.get_model_config("tiny-b") == TINY


def test_add_missing_path(tmp_path, fresh_registry):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        clipzoo.add_model_config(tmp_path / "nope.json")


def test_malformed_json_names_file(tmp_path, fresh_registry):
    bad = tmp_path / "broken.json"
    bad.write_text('{"embed_dim": 32,')
    with pytest.raises(ConfigError, match="broken.json.*not valid JSON"):
        clipzoo.add_model_config(bad)


@pytest.mark.parametrize("missing", ["embed_dim", "vision_cfg", "text_cfg"])
def test_missing_required_key(tmp_path, fresh_registry, missing):
    cfg = {k: v for k, v in TINY.items() if k != missing}
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match=f"partial.json: missing required key.*{missing}"):
        clipzoo.add_model_config(path)


def test_folder_with_one_bad_file_is_not_skipped(tmp_path, fresh_registry):
    (tmp_path / "good.json").write_text(json.dumps(TINY))
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="bad.json"):
        clipzoo.add_model_config(tmp_path)


@pytest.mark.parametrize(
    "section,key,suggestion",
    [("vision_cfg", "patch_szie", "patch_size"), ("text_cfg", "context_lenght", "context_length")],
)
def test_unknown_key_names_key_file_and_close_match(tmp_path, fresh_registry, section, key, suggestion):
    cfg = json.loads(json.dumps(TINY))
    cfg[section][key] = 3
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(cfg))
    with pytest.raises(
        ConfigError, match=f"typo.json: unknown key '{key}' in {section}; did you mean '{suggestion}'"
    ):
        clipzoo.add_model_config(path)


def test_unknown_top_level_key():
    with pytest.raises(
        ConfigError, match="unknown key 'embed_dims' in the top level; did you mean 'embed_dim'"
    ):
        parse_model_config({**TINY, "embed_dims": 3}, "x.json")


def test_bad_embed_dim_and_section_type():
    with pytest.raises(ConfigError, match="embed_dim must be a positive integer"):
        parse_model_config({**TINY, "embed_dim": "512"}, "x.json")
    with pytest.raises(ConfigError, match="vision_cfg must be a JSON object"):
        parse_model_config({**TINY, "vision_cfg": [1]}, "x.json")


def test_every_builtin_config_parses_to_typed_dataclasses():
    for name in clipzoo.list_models():
        cfg = registry.get_typed_model_cfg(name)
        assert cfg.embed_dim > 0
        assert cfg.to_dict()["embed_dim"] == cfg.embed_dim
    coca = registry.get_typed_model_cfg("coca_ViT-B-32")
    assert coca.is_coca and not coca.uses_timm
    assert registry.get_typed_model_cfg("ViT-B-16-SigLIP").uses_timm


def test_to_dict_round_trips_through_parser():
    for name in ("ViT-B-32", "coca_ViT-B-32", "ViT-B-16-SigLIP", "RN50"):
        cfg = registry.get_typed_model_cfg(name)
        assert parse_model_config(cfg.to_dict(), name) == cfg


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

