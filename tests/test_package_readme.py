"""The README as a newcomer uses it: every Python block and every `clipzoo` line runs as written (network ones
against the local test Hub), and every count it states is computed here."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import clipzoo

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"\n## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


@pytest.mark.slow
def test_quickstart_runs_as_written(tmp_path):
    """The first Python block of the quickstart, run as is from an empty folder (no file it does not make)."""
    code = re.search(r"```python\n(.*?)```", _section("Quickstart"), re.S).group(1)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("predicted ")


def test_setup_lines_work_without_pip_and_off_path():
    """.venv has no pip and is not on PATH: the README says how to reach clipzoo and installs with uv."""
    assert "source .venv/bin/activate" in README and ".venv/bin/clipzoo" in README
    bare_pip = [line for line in README.splitlines() if re.search(r"(?<!uv )\bpip install", line)]
    assert bare_pip == []


def test_one_spelling_of_the_packaged_tag():
    assert "sklearn-digits" not in README and "sklearn_digits" in README
    assert clipzoo.list_pretrained_tags_by_model("tiny-digits") == ["sklearn_digits"]


def test_functions_said_to_take_offline_take_it():
    """The offline paragraph names functions that really accept ``offline=``, and not the create functions."""
    paragraph = README[README.index("`HF_HUB_OFFLINE=1` with cached files") :].split("\n- ")[0]
    named = re.findall(r"`(download_pretrained\w*)`", paragraph)
    assert len(named) == 3
    for name in named:
        assert "offline" in inspect.signature(getattr(clipzoo, name)).parameters, name
    assert "offline" not in inspect.signature(clipzoo.create_model).parameters


# --- every Python block and every `clipzoo` line, run ------------------------------------------------------
# One session, in README order, from an empty folder: the models the README names are tiny stand-ins registered
# under the same names (their configs shrunk, nothing else changed), and their pretrained tags are served by the
# local test Hub (tests/helpers/hub_server.py), so the network lines run as written, offline and in seconds.

BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)

# Run elsewhere, as written (the test that runs them); anything else in the README runs here.
ELSEWHERE = {
    "make demo": "Makefile: `make demo` is `clipzoo demo` (run below)",
    "make test": "Makefile: the whole suite",
    "make bench-env": "Makefile; tests/test_compat_clip_benchmark.py runs clip_benchmark in .venv-bench",
    ".venv-bench/bin/clipzoo run clip_benchmark": "tests/test_compat_clip_benchmark.py (needs .venv-bench)",
    "uv pip install --python": "installs into another project",
    "ray start": "starts a Ray cluster's head node; tests/test_corpus_ray.py runs --engine ray on a local Ray",
    'clipzoo embed "shards/{00000..00099}.tar" --model ViT-B-32 --pretrained laion2b_s34b_b79k --out /shared/emb '
    "--engine ray --ray-address HEAD:6379": "needs a Ray cluster with GPUs; tests/test_corpus_ray.py runs the Ray "
    "engine on a local Ray",
    "from clipzoo.demo.digits import load_heldout\n\nmodel, _, preprocess": "test_quickstart_runs_as_written",
    "import os\nimport clipzoo\nfrom clipzoo.demo.digits": "tests/test_corpus_search.py (the corpus demo)",
}


def readme_runs() -> list[tuple[str, str]]:
    """(kind, text) in README order: ("python", block) and ("clipzoo", line); what runs elsewhere left out."""
    runs = []
    for lang, body in BLOCK.findall(README):
        if lang == "python":
            if not any(key in body for key in ELSEWHERE):
                runs.append(("python", body))
            continue
        for line in re.sub(r"\\\n\s*", "", body).splitlines():  # continuation lines joined
            line = re.split(r"\s#", line)[0].strip()
            if not line or line.startswith("#") or any(line.startswith(key) for key in ELSEWHERE):
                continue
            assert line.startswith("clipzoo "), f"a shell line the README test does not know: {line!r}"
            runs += [("clipzoo", part.strip()) for part in line.split(";")]
    return runs


def _shrunk(name: str) -> dict:
    """The registry config of ``name`` with tiny towers (the same kinds of tower and options)."""
    import copy

    cfg = copy.deepcopy(clipzoo.get_model_config(name))
    vision, text = cfg["vision_cfg"], cfg["text_cfg"]
    if vision.get("timm_model_name"):
        vision["timm_model_kwargs"] = {**(vision.get("timm_model_kwargs") or {}), "embed_dim": 48, "depth": 1,
                                       "num_heads": 3, "mlp_ratio": 2.0}  # fmt: skip
        vision["image_seq_len"] = 64
    else:
        vision.update(width=64, head_width=32, layers=1, mlp_ratio=2.0)
        if "attn_pooler_heads" in vision:
            vision["attn_pooler_heads"] = 2
    text.pop("hf_tokenizer_name", None)  # the CLIP tokenizer (packaged): no tokenizer files to serve
    text.update(width=32, heads=2, layers=1, mlp_ratio=2.0, vocab_size=49408)
    if cfg.get("multimodal_cfg"):
        cfg["multimodal_cfg"].update(width=32, heads=2, layers=1, attn_pooler_heads=2, vocab_size=49408)
    cfg["embed_dim"] = 32
    return cfg


STAND_INS = {  # (model, tag) the README downloads
    ("ViT-B-32", "laion2b_s34b_b79k"),
    ("ViT-B-16", "laion2b_s34b_b88k"),
    ("ViT-B-16-SigLIP2-naflex", "webli"),
    ("coca_ViT-B-32", "laion2b_s13b_b90k"),
}

CLIP_PROGRAM = "import open_clip, sys\nprint(open_clip.list_models()[:1], sys.argv[1:])\n"


def _workdir(folder: Path) -> None:
    """The files the README's lines name, in an empty folder."""
    from PIL import Image

    from clipzoo.demo.digits import load_heldout

    digits, _ = load_heldout()
    for name in ("a.jpg", "b.jpg", "cat.jpg"):
        digits[len(name)].convert("RGB").resize((64, 64)).save(folder / name)
    Image.new("RGB", (320, 96), (30, 90, 200)).save(folder / "wide.jpg")
    Image.new("RGB", (80, 240), (200, 90, 30)).save(folder / "tall.png")
    (folder / "photos").mkdir()
    for i in range(3):
        digits[i].convert("RGB").save(folder / "photos" / f"{i}.png")
    import tarfile

    (folder / "shards").mkdir()
    for k in range(100):  # shards/{00000..00099}.tar: one captioned image each
        with tarfile.open(folder / "shards" / f"{k:05d}.tar", "w") as shard:
            shard.add(folder / "photos" / f"{k % 3}.png", arcname=f"{k:05d}.png")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"url_local": ["a.jpg", "b.jpg"], "text": ["a digit", "another digit"]}),
                   folder / "pairs.parquet")  # fmt: skip
    for script in ("train.py", "main.py"):
        (folder / script).write_text(CLIP_PROGRAM)
    for package in ("pkg", "my_package"):
        (folder / package).mkdir()
        (folder / package / "__init__.py").write_text("")
        (folder / package / "train.py").write_text(CLIP_PROGRAM)


@pytest.fixture
def readme_world(tmp_path, monkeypatch, local_hub):
    """An empty current folder with the README's files, tiny stand-ins for its models, their tags on a local Hub."""
    import json

    from safetensors.torch import save

    from clipzoo.registry import architectures as registry

    configs = tmp_path / "stand-ins"
    configs.mkdir()
    for name, _ in STAND_INS:
        (configs / f"{name}.json").write_text(json.dumps(_shrunk(name)))
    registry.add_model_config(configs, overwrite=True)
    for name, tag in STAND_INS:
        model = clipzoo.create_model(name)
        tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
        repo = clipzoo.get_pretrained_cfg(name, tag)["hf_hub"].strip("/")
        local_hub.add_hub_file(repo, "open_clip_model.safetensors", save(tensors))
    work = tmp_path / "work"
    work.mkdir()
    _workdir(work)
    monkeypatch.chdir(work)
    import logging

    handlers = list(logging.getLogger("clipzoo").handlers)
    yield configs
    registry.reset_registry()
    # `clipzoo embed` adds a stderr handler to the clipzoo logger (this process's stderr is the capture's here)
    logging.getLogger("clipzoo").handlers[:] = handlers


# Lines that only read the registry (listings, profiles, published results) see the real one: the stand-ins'
# shrunk configs have no stored profile.
READ_ONLY = ("clipzoo models", "clipzoo pretrained", "clipzoo info ViT", "clipzoo --version", "clipzoo cache")


def _registry_for(kind: str, text: str, stand_ins: Path) -> None:
    from clipzoo.registry import architectures as registry

    registry.reset_registry()
    builds = "create_model" in text or "OnnxModel" in text if kind == "python" else not text.startswith(READ_ONLY)
    if builds:
        registry.add_model_config(stand_ins, overwrite=True)


def _run_line(line: str, capsys) -> None:
    import glob
    import shlex

    from clipzoo.cli import main

    argv = []
    for word in shlex.split(line)[1:]:
        argv += sorted(glob.glob(word)) if "*" in word and not word.startswith("'") else [word]
    if argv[:1] == ["run"]:  # the alias must not meet the real open_clip this test process may have imported
        env = {**os.environ, "PYTHONPATH": str(Path(clipzoo.__file__).parents[1])}
        out = subprocess.run([sys.executable, "-m", "clipzoo", *argv], capture_output=True, text=True, env=env,
                             timeout=120)  # fmt: skip
        assert out.returncode == 0 and "--epochs" in out.stdout, (line, out.stderr[-2000:])
        return
    try:
        status = main(argv)
    except SystemExit as stop:  # --version
        status = stop.code
    captured = capsys.readouterr()
    assert status == 0, (line, captured.err[-2000:])


@pytest.mark.slow  # ~1 min: one ONNX export, five tiny stand-ins, three corpus runs
def test_every_python_block_and_clipzoo_line_runs(readme_world, capsys):
    import torch

    namespace: dict = {"clipzoo": clipzoo, "torch": torch}
    done, timings = set(), []
    for kind, text in readme_runs():
        if text in done:
            continue  # the same line twice (a summary, then its section): run once
        done.add(text)
        _registry_for(kind, text, readme_world)
        start = time.perf_counter()
        if kind == "clipzoo":
            _run_line(text, capsys)
        elif "install_as_open_clip" in text:  # a fresh process: this one may have imported the real open_clip
            out = subprocess.run([sys.executable, "-c", text], capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, (text, out.stderr[-2000:])
        else:
            exec(compile(text, "README.md", "exec"), namespace)  # noqa: S102 - the README's own code
        timings.append((time.perf_counter() - start, text.splitlines()[0][:70]))
    with capsys.disabled():
        print("\nslowest README runs:", *(f"{t:6.2f} s  {what}" for t, what in sorted(timings)[-6:]), sep="\n")


# --- every count in the README, computed -----------------------------------------------------------------


def _registry_counts() -> dict[str, int]:
    import json

    from clipzoo.registry import architectures as registry
    from clipzoo.registry import results
    from clipzoo.registry.config import parse_model_config

    registry.reset_registry()
    names = registry.list_models()
    cfgs = [parse_model_config(registry.get_model_config(n), source=n) for n in names]
    resnet = [c for c in cfgs if not c.uses_timm and isinstance(c.vision_cfg.layers, (list, tuple))]
    naflex = {n for n, c in zip(names, cfgs) if (c.vision_cfg.timm_model_name or "").startswith("naflexvit")}
    tips = {n for n in names if n.startswith("TIPSv2-")}  # open_clip pull request 1166's
    clap = {n for n in names if n.startswith("CLAP-")}  # audio-text: no image tower
    image = [c for n, c in zip(names, cfgs) if n not in clap]
    pairs = clipzoo.list_pretrained()
    ranking = clipzoo.rank_pretrained("imagenet1k")
    table = json.loads((Path(results.__file__).with_name("pretrained_results.json")).read_text())

    def measured_as_quickgelu(model: str, tag: str) -> bool:
        try:
            return "imagenet1k" in (clipzoo.get_pretrained_results(f"{model}-quickgelu", tag) or {})
        except Exception:  # no such twin
            return False

    return {
        "architectures": len(names),
        "open_clip 3.3.0 configs": len(names) - len(naflex) - len(tips) - len(clap) - 1,  # tiny-digits: the 1
        "CLAP configs": len(clap),
        "NaFlex configs": len(naflex),
        "TIPSv2 configs": len(tips),
        "native ViTs": sum(not c.uses_timm for c in image) - len(resnet),
        "ModifiedResNets": len(resnet),
        "timm towers": sum(c.uses_timm for c in image),
        "HF text towers": sum(c.uses_hf_text for c in image),
        "CoCa": sum(c.is_coca for c in cfgs),
        "pairs": len(pairs),
        "open_clip 3.3.0 pairs": len([p for p in pairs if p[0] not in naflex | tips | clap and p[0] != "tiny-digits"]),
        "CLAP pairs": len([p for p in pairs if p[0] in clap]),
        "NaFlex pairs": len([p for p in pairs if p[0] in naflex]),
        "TIPSv2 pairs": len([p for p in pairs if p[0] in tips]),
        "result rows": sum(len(tags) for tags in table["results"].values()),
        "metrics": len(table["metrics"]),
        "inherited rows": sum(len(tags) for tags in table["inherited"].values()),
        "unmeasured pairs": ranking.missing,
        "QuickGELU pairs measured as -quickgelu": sum(measured_as_quickgelu(*p) for p in ranking.missing_pairs),
        "profiles": len(results.stored_profiles()),
        "architectures without a profile": len(set(names) - set(results.stored_profiles())),
        "published profiles": sum(bool(p.get("published")) for p in results.stored_profiles().values()),
    }


# Each sentence of the README that states a count, with the counts it states (one per group, in order).
COUNT_SENTENCES = {
    r"\*\*Architectures\*\*: (\d+): all (\d+) vision-language configs of open_clip 3\.3\.0, the (\d+) NaFlex":
        ("architectures", "open_clip 3.3.0 configs", "NaFlex configs"),
    r"main, the (\d+) TIPSv2 configs of open_clip pull request": ("TIPSv2 configs",),
    r"the (\d+) CLAP \(audio-text\) configs": ("CLAP configs",),
    r"by image tower: (\d+) native ViTs": ("native ViTs",),
    r"(\d+) ModifiedResNets \(RN50": ("ModifiedResNets",),
    r"(\d+) timm towers \(SigLIP": ("timm towers",),
    r"(\d+) with a Hugging Face text tower \(the `hf` extra\); (\d+) CoCa": ("HF text towers", "CoCa"),
    r"\*\*Pretrained tags\*\*: (\d+) \(model, tag\) pairs: all (\d+) of open_clip 3\.3\.0, the (\d+) NaFlex pairs":
        ("pairs", "open_clip 3.3.0 pairs", "NaFlex pairs"),
    r"open_clip main,\s+the (\d+) TIPSv2 pairs": ("TIPSv2 pairs",),
    r"the (\d+) CLAP pairs": ("CLAP pairs",),
    r"`pretrained_results\.json`: (\d+) \(model, tag\) pairs x (\d+) metrics, plus\s+the (\d+) OpenAI":
        ("result rows", "metrics", "inherited rows"),
    r"no published value: (\d+) of the (\d+) without a glob": ("unmeasured pairs", "pairs"),
    r"and (\d+) pairs of\s+QuickGELU weights under their GELU name": ("QuickGELU pairs measured as -quickgelu",),
    r"on the meta device for all (\d+) architectures": ("profiles",),
    r"open_clip's (\d+) published profiles": ("published profiles",),
    r"The (\d+) image-text architectures with a Hugging Face text tower": ("HF text towers",),
}  # fmt: skip


def test_every_count_in_the_readme_is_true():
    counts = _registry_counts()
    wrong = []
    for pattern, keys in COUNT_SENTENCES.items():
        found = re.findall(pattern, README)
        assert len(found) == 1, f"the README should state this once: {pattern}"
        stated = found[0] if isinstance(found[0], tuple) else (found[0],)
        wrong += [f"{key}: README {int(n)}, true {counts[key]}" for key, n in zip(keys, stated) if int(n) != counts[key]]
    assert wrong == []
