"""`clipzoo info`: a registry name with its tag, user configs, exported ONNX folders; parameter counts (without
torch), profile and published results."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from clipzoo.cli import main
from tests.helpers.cli import run_main


def test_info(capsys):
    status, out, _ = run_main(capsys, "info", "ViT-B-32", "laion2b-s34b-b79k", "--json", "--no-params")
    data = json.loads(out)
    assert status == 0
    assert data["config"]["embed_dim"] == 512
    assert data["tag"] == "laion2b_s34b_b79k"
    assert data["pretrained_cfg"]["hf_hub"] == "laion/CLIP-ViT-B-32-laion2B-s34B-b79K/"
    status, out, _ = run_main(capsys, "info", "RN50", "--no-params")
    assert status == 0 and "pretrained tags: openai, yfcc15m, cc12m" in out


def test_info_prints_counts_without_torch():
    code = (
        "import sys; from clipzoo.cli import main; main(['info', 'ViT-B-32', '--json']); "
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    data = json.loads(proc.stdout)
    assert data["parameters"]["total"] == 151277313
    assert data["parameters"]["visual"] == 87849216
    assert proc.stderr.strip() == "False"


def test_info_counts_user_configs_on_meta(tiny_configs, capsys):
    assert main(["info", "tiny-vit"]) == 0
    out = capsys.readouterr().out
    assert "parameters:" in out and "total:" in out


def test_cli_info_shows_profile_and_results(capsys):
    assert main(["info", "ViT-B-32", "laion2b_s34b_b79k", "--no-params"]) == 0
    out = capsys.readouterr().out
    assert "total:       151.28 M params, 14.78 GFLOPs" in out
    assert "published results (60 metrics" in out and "imagenet1k 0.6656" in out
    assert main(["info", "nllb-clip-base", "v1", "--json", "--no-params"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["profile"]["source"]["gflops"] == "published" and data["results"]["imagenet1k"] > 0


@pytest.mark.slow
def test_cli_info_of_an_onnx_folder_counts_its_parameters(digits_int8, capsys):
    assert main(["info", f"local-dir:{digits_int8}", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    params = data["parameters"]
    assert (
        list(params) == ["total", "visual", "text"] and params["total"] == params["visual"] + params["text"]
    )
    assert params["visual"] > 100_000 and data["config"]["model"] == "tiny-digits"
