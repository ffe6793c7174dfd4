"""`clipzoo download` against the local Hub and URL server (conftest's local_hub): it prints and copies what it
fetched, fetches the tokenizer a model names, and exits 2, 3 or 4 with one line for unknown names, offline misses
and checksum mismatches."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest

from clipzoo.cli import main
from clipzoo.constants import HF_CONFIG_NAME, HF_SAFE_WEIGHTS_NAME
from tests.helpers.cli import one_line
from tests.helpers.configs import TINY_ONE_BLOCK
from tests.helpers.hub_server import BODY, OPENAI_PATH, REPO, SIGLIP, SIGLIP_TOKENIZER_REPO, cached_files

HUB_REPO = "org/hostile"


@pytest.fixture
def fake_tags(local_hub, monkeypatch):
    """A tag registry with RN50/openai (URL) and ViT-B-32/laion2b (Hub) standing in for clipzoo.registry.tags."""
    cfgs = {
        ("RN50", "openai"): {"url": local_hub.add_file(OPENAI_PATH, BODY)},
        ("RN50", "yfcc15m"): {"url": local_hub.url("/clip/models/" + "0" * 64 + "/gone.pt")},
        ("ViT-B-32", "laion2b"): {"hf_hub": f"{REPO}/"},
    }
    local_hub.add_hub_file(REPO, HF_SAFE_WEIGHTS_NAME, BODY)
    local_hub.add_hub_file(REPO, HF_CONFIG_NAME, b"{}")
    from clipzoo.registry import architectures as real_registry
    from clipzoo.registry import tags as real_pretrained

    pretrained = types.SimpleNamespace(
        get_pretrained_cfg=lambda model, tag: dict(cfgs.get((model, tag), {})),
        list_pretrained_tags_by_model=lambda model: [t for m, t in cfgs if m == model],
        is_pretrained_cfg=lambda model, tag: (model, tag) in cfgs,
        UnknownTagError=real_pretrained.UnknownTagError,
        unknown_tag=lambda model, tag: real_pretrained.UnknownTagError(model, tag, [t for m, t in cfgs if m == model]),
    )
    registry = types.SimpleNamespace(
        list_models=lambda: ["RN50", "ViT-B-32"],
        get_model_config=lambda model: {} if model in ("RN50", "ViT-B-32") else None,
        UnknownModelError=real_registry.UnknownModelError,
        unknown_model=lambda model: real_registry.UnknownModelError(model, ["RN50", "ViT-B-32"]),
        MODALITIES=real_registry.MODALITIES,
    )
    import clipzoo.registry

    for name, module in (("tags", pretrained), ("architectures", registry)):
        monkeypatch.setitem(sys.modules, f"clipzoo.registry.{name}", module)
        monkeypatch.setattr(clipzoo.registry, name, module, raising=False)
    return cfgs


def run_cli(*argv: str) -> int:
    from clipzoo.cli import main

    return main(["download", *argv, "--no-progress"])


def test_cli_downloads_and_copies(fake_tags, capsys, tmp_path):
    cache = tmp_path / "clipzoo"  # CLIPZOO_CACHE in the local Hub's environment (hub_env)
    assert run_cli("RN50", "openai") == 0
    assert capsys.readouterr().out == f"{cache / 'RN50.pt'}\n"
    assert run_cli("ViT-B-32", "laion2b", "--to", str(tmp_path / "out")) == 0
    copied = tmp_path / "out" / HF_SAFE_WEIGHTS_NAME
    assert capsys.readouterr().out == f"{copied}\n"
    assert copied.read_bytes() == BODY and not copied.is_symlink()


def test_cli_hf_hub_model_fetches_config_and_weights(fake_tags, capsys, tmp_path):
    assert run_cli(f"hf-hub:{REPO}", "--to", str(tmp_path / "out")) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'out' / HF_SAFE_WEIGHTS_NAME}\n"
    assert (tmp_path / "out" / HF_CONFIG_NAME).read_bytes() == b"{}"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (("RN5O", "openai"), 2, "unknown model 'RN5O'; did you mean 'RN50'"),
        (("RN50", "opena1"), 2, "unknown pretrained tag 'opena1' for RN50; known tags: openai"),
        (("RN50",), 2, "RN50 needs a pretrained tag; known tags: openai, yfcc15m"),
        (("RN50", "yfcc15m"), 3, "HTTP 404"),
        (("hf-hub:org/no-such-repo",), 2, "unknown model hf-hub:org/no-such-repo"),
        (("hf-hub:org/tiny-clip", "laion2b"), 2, "takes no pretrained tag"),
    ],
)
def test_cli_exit_codes(fake_tags, capsys, argv, code, message):
    assert run_cli(*argv) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert captured.err.count("\n") == 1


def test_cli_offline_miss_is_exit_3(fake_tags, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert run_cli("ViT-B-32", "laion2b") == 3
    assert "clipzoo download ViT-B-32 laion2b" in capsys.readouterr().err


def test_cli_checksum_mismatch_is_exit_4(fake_tags, local_hub, capsys, tmp_path):
    cache = tmp_path / "clipzoo"  # CLIPZOO_CACHE in the local Hub's environment (hub_env)
    local_hub.add_fault(OPENAI_PATH, "corrupt")
    assert run_cli("RN50", "openai") == 4
    assert "SHA-256" in capsys.readouterr().err
    assert not (cache / "RN50.pt").exists()


def test_download_caches_the_tokenizer_files_the_model_fetches(local_hub, monkeypatch, capsys):
    """`clipzoo download MODEL TAG` also fetches the tokenizer repo the config names, so it works offline."""
    from clipzoo.cli import main
    from clipzoo.tokenizers.hf import resolve_tokenizer_dir

    local_hub.add_hub_file(f"timm/{SIGLIP}", HF_SAFE_WEIGHTS_NAME, BODY)
    local_hub.add_hub_file(SIGLIP_TOKENIZER_REPO, "tokenizer_config.json", b"{}")
    local_hub.add_hub_file(SIGLIP_TOKENIZER_REPO, "spiece.model", b"not really sentencepiece")
    assert main(["download", SIGLIP, "webli", "--no-progress"]) == 0
    assert Path(capsys.readouterr().out.strip()).read_bytes() == BODY  # the last line is still the weights
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = resolve_tokenizer_dir(SIGLIP_TOKENIZER_REPO)
    assert (folder / "spiece.model").read_bytes() == b"not really sentencepiece"


def test_cli_download_of_a_corrupted_hub_file_is_status_4(local_hub, tmp_path, capsys):
    config = {"model_cfg": TINY_ONE_BLOCK, "preprocess_cfg": {}}
    local_hub.add_hub_file(HUB_REPO, "open_clip_config.json", json.dumps(config).encode())
    path = local_hub.add_hub_file(HUB_REPO, "open_clip_model.safetensors", os.urandom(2048))
    local_hub.add_fault(path, "corrupt", times=None)
    assert main(["download", f"hf-hub:{HUB_REPO}", "--no-progress"]) == 4
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"clipzoo: error: hf-hub:{HUB_REPO}: open_clip_model.safetensors from hf-hub:")
    assert "nothing was cached" in line
    assert [p for p in cached_files(tmp_path / "hf") if "blobs" in p] != []  # the config is cached
    assert not [p for p in cached_files(tmp_path / "hf") if p.endswith("open_clip_model.safetensors")]
