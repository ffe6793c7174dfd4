"""A real consumer: clip_benchmark 1.6.2's CLI run through ``clipzoo run`` gives open_clip 3.3.0's metrics.

clip_benchmark needs numpy < 2.3, so it lives in its own environment, ``.venv-bench`` (``make bench-env``,
pinned in tests/envs/bench-requirements.txt, clipzoo installed editable). The test builds, from the packaged
held-out digits, an MNIST folder (``MNIST/raw/*-ubyte``, read by torchvision without downloading) and a
COCO-captions folder with unique captions, then evaluates the packaged tiny-digits weights twice in that
environment, in parallel: ``clipzoo run clip_benchmark eval --model tiny-digits --pretrained sklearn-digits``
and plain ``clip_benchmark eval --model local-dir:<the same weights exported by clipzoo>`` (open_clip 3.3.0).
The metrics must be equal: accuracies and recalls are counts over the same rankings.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH_BIN = ROOT / ".venv-bench" / "bin"

pytestmark = [
    pytest.mark.parity,
    pytest.mark.skipif(
        not (BENCH_BIN / "clip_benchmark").exists(),
        reason="the clip_benchmark environment .venv-bench is absent: build it with `make bench-env` (make test does)",
    ),
]

IMAGES_PER_CLASS = 3  # 30 images: 2 rows of templates per image keep every caption unique


def _idx(path: Path, magic: int, dims: tuple[int, ...], data: bytes) -> None:
    path.write_bytes(struct.pack(f">I{len(dims)}I", magic, *dims) + data)


def _digits() -> tuple[list, list[int]]:
    from clipzoo.demo.digits import load_heldout

    images, labels = load_heldout()
    picked: dict[int, list[int]] = {}
    for i, y in enumerate(labels):
        if len(picked.setdefault(y, [])) < IMAGES_PER_CLASS:
            picked[y].append(i)
    order = sorted(i for rows in picked.values() for i in rows)
    return [images[i] for i in order], [labels[i] for i in order]


def write_mnist(root: Path, images: list, labels: list[int]) -> None:
    """MNIST's four idx files (train = test here: only the test split is evaluated)."""
    import numpy as np

    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    grey = np.stack([np.asarray(im.convert("L"), dtype=np.uint8) for im in images])
    n, h, w = grey.shape
    for split in ("train", "t10k"):
        _idx(raw / f"{split}-images-idx3-ubyte", 0x00000803, (n, h, w), grey.tobytes())
        _idx(raw / f"{split}-labels-idx1-ubyte", 0x00000801, (n,), bytes(labels))


def write_coco(root: Path, images: list, labels: list[int]) -> int:
    """``val2014/*.png`` and ``coco_test_karpathy.json`` with two distinct captions per image; returns #captions."""
    from clipzoo.demo.digits import DIGIT_TEMPLATES, render_prompt

    folder = root / "val2014"
    folder.mkdir(parents=True)
    entries, annotations, seen = [], [], {}
    for i, (image, label) in enumerate(zip(images, labels)):
        name = f"digit_{i:03d}.png"
        image.save(folder / name)
        entries.append({"id": i, "file_name": name, "height": image.height, "width": image.width})
        # the k-th image of a class takes templates 2k and 2k+1: no two images share a caption
        k = seen[label] = seen.get(label, -1) + 1
        for t in (2 * k, 2 * k + 1):
            caption = render_prompt(DIGIT_TEMPLATES[t % len(DIGIT_TEMPLATES)], label)
            annotations.append({"id": len(annotations), "image_id": i, "caption": caption})
    captions = [a["caption"] for a in annotations]
    assert len(set(captions)) == len(captions), "captions must be unique so that ties do not decide ranks"
    (root / "coco_test_karpathy.json").write_text(json.dumps({"images": entries, "annotations": annotations}))
    return len(annotations)


def _eval_command(model_args: list[str], data: Path, out: Path) -> list[str]:
    return [
        "eval",
        *model_args,
        "--dataset",
        "mnist",
        "mscoco_captions",
        "--dataset_root",
        f"{data}/{{dataset}}",
        "--output",
        f"{out}/{{dataset}}.json",
        "--task",
        "auto",
        "--batch_size",
        "16",
        "--num_workers",
        "0",
        "--no_amp",
        "--recall_k",
        "1",
        "5",
    ]


def _metrics(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text())["metrics"] for p in sorted(out.glob("*.json"))}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from clipzoo.export.writers import export_model

    tmp = tmp_path_factory.mktemp("clip_benchmark")
    images, labels = _digits()
    write_mnist(tmp / "data" / "mnist", images, labels)
    n_captions = write_coco(tmp / "data" / "mscoco_captions", images, labels)
    exported = export_model("tiny-digits", "sklearn-digits", to=tmp / "tiny-digits-open_clip")
    (tmp / "cz").mkdir()
    (tmp / "oc").mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    commands = {
        "clipzoo": [
            str(BENCH_BIN / "clipzoo"),
            "run",
            "clip_benchmark",
            *_eval_command(
                ["--model", "tiny-digits", "--pretrained", "sklearn-digits"], tmp / "data", tmp / "cz"
            ),
        ],
        "open_clip": [
            str(BENCH_BIN / "clip_benchmark"),
            *_eval_command(
                ["--model", f"local-dir:{exported}", "--pretrained", "none"], tmp / "data", tmp / "oc"
            ),
        ],
    }
    procs = {
        k: subprocess.Popen(
            cmd, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for k, cmd in commands.items()
    }
    logs = {k: p.communicate(timeout=300)[0] for k, p in procs.items()}
    for k, p in procs.items():
        assert p.returncode == 0, f"{k} run failed ({p.returncode}):\n{logs[k][-4000:]}"
    return {
        "clipzoo": _metrics(tmp / "cz"),
        "open_clip": _metrics(tmp / "oc"),
        "logs": logs,
        "n_images": len(images),
        "n_captions": n_captions,
    }


def test_clipzoo_run_clip_benchmark_equals_open_clip(runs: dict) -> None:
    cz, oc = runs["clipzoo"], runs["open_clip"]
    assert set(cz) == {"mnist", "mscoco_captions"}, runs["logs"]["clipzoo"][-3000:]
    assert cz == oc
    # the runs measured something: zero-shot accuracy well above chance, recalls in range
    assert cz["mnist"]["acc1"] > 0.5
    for key in ("image_retrieval_recall@5", "text_retrieval_recall@5", "image_retrieval_recall@1"):
        assert 0.0 < cz["mscoco_captions"][key] <= 1.0


def test_captioning_import_resolves_to_clipzoo() -> None:
    """The import that stopped clip_benchmark (its captioning metric) resolves to clipzoo's tokenizer."""
    probe = subprocess.run(
        [
            str(BENCH_BIN / "python"),
            "-c",
            "import clipzoo, sys; clipzoo.install_as_open_clip(); import open_clip, clip_benchmark.metrics.captioning;"
            "from open_clip.tokenizer import _tokenizer; print(type(open_clip).__module__, type(_tokenizer).__module__)",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert probe.stdout.split() == ["clipzoo.compat.open_clip.alias", "clipzoo.tokenizers.bpe"]


def test_run_module_and_exit_status(tmp_path: Path) -> None:
    (tmp_path / "aliased_prog.py").write_text(
        "import sys, open_clip.factory\nsys.exit(3 if sys.argv[1:] == ['--x', 'y'] else 8)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run_m = subprocess.run(
        [str(BENCH_BIN / "clipzoo"), "run", "-m", "aliased_prog", "--x", "y"], env=env, timeout=60
    )
    assert run_m.returncode == 3
    script = tmp_path / "prog.py"
    script.write_text("import sys, open_clip\nsys.exit(0 if open_clip.__version__ == '3.3.0' else 9)\n")
    ok = subprocess.run([str(BENCH_BIN / "clipzoo"), "run", str(script)], timeout=60)
    assert ok.returncode == 0
    script.write_text("import sys\nsys.exit(5)\n")
    assert subprocess.run([str(BENCH_BIN / "clipzoo"), "run", str(script)], timeout=60).returncode == 5
