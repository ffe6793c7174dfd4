"""Model creation from a local checkpoint: clipzoo vs open_clip 3.3.0, each in a fresh process
(best of two runs per library, the checkpoint in the page cache for both).

For each architecture a random-weight safetensors file is written once (to .bench/), then each library runs
``create_model_and_transforms(name, pretrained=<file>)`` in its own subprocess, which reports the in-process
creation time, the peak RSS added by creating the model (ru_maxrss after minus RSS before), and the whole
process wall time (interpreter start, imports and creation).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import benchlib

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".bench"

CHILD = r"""
import json, resource, sys, time
def rss_now():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * resource.getpagesize()
lib, name, path = sys.argv[1:4]
t0 = time.perf_counter()
if lib == 'clipzoo':
    # open_clip imports all its modules up front; import clipzoo's lazily-loaded ones too, so the
    # in-process figure is creation alone on both sides (the whole-process figure includes imports).
    import clipzoo as lib_mod, clipzoo.factory.create, clipzoo.models, clipzoo.preprocess.transforms, clipzoo.checkpoint.load
else:
    import open_clip as lib_mod
import torch
t_import = time.perf_counter() - t0
base = rss_now()
t1 = time.perf_counter()
model, _, preprocess = lib_mod.create_model_and_transforms(name, pretrained=path)
t_create = time.perf_counter() - t1
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
with torch.no_grad():
    feats = model.encode_image(torch.zeros(1, 3, 224, 224))
print(json.dumps({"import_s": t_import, "create_s": t_create, "peak_added_bytes": max(0, peak - base),
                  "checksum": float(feats.double().sum())}))
"""


def checkpoint_for(name: str) -> Path:
    """A random-weight safetensors checkpoint for ``name`` (made once with clipzoo, cached in .bench/)."""
    path = CACHE / f"{name}-random.safetensors"
    if not path.exists():
        import torch
        from safetensors.torch import save_file

        import clipzoo

        CACHE.mkdir(exist_ok=True)
        torch.manual_seed(0)
        model = clipzoo.create_model(name)
        tmp = path.with_suffix(".tmp")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
        os.replace(tmp, path)
        del model
    return path


def _child(lib: str, name: str, path: Path) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    wall, proc = benchlib.timed_run(
        [sys.executable, "-c", CHILD, lib, name, str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{lib} {name} failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
    return out


def _warm_page_cache(path: Path) -> None:
    # Both libraries should find the checkpoint in the page cache; otherwise whichever runs first pays the disk.
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def _fresh_processes(repeats: int, lib: str, name: str, path: Path) -> dict:
    """``repeats`` fresh-process runs (each after warming the page cache), summed up: the fastest creation,
    the fastest whole process and the largest peak RSS."""
    runs = []
    for _ in range(repeats):
        _warm_page_cache(path)
        runs.append(_child(lib, name, path))
    return min(runs, key=lambda r: r["create_s"]) | {
        "process_s": min(r["process_s"] for r in runs),
        "peak_added_bytes": max(r["peak_added_bytes"] for r in runs),
    }


def run(quick: bool = False) -> list[dict]:
    """Creation time (in-process and whole process) and peak memory for ViT-B-32 and ViT-L-14."""
    rows = []
    for name in ("ViT-B-32",) if quick else ("ViT-B-32", "ViT-L-14"):
        path = checkpoint_for(name)
        size = path.stat().st_size
        ours, peer = _fresh_processes(2, "clipzoo", name, path), _fresh_processes(2, "open_clip", name, path)
        if abs(ours["checksum"] - peer["checksum"]) > 1e-3 * max(1.0, abs(peer["checksum"])):
            raise RuntimeError(f"{name}: outputs differ between clipzoo and open_clip")
        rows += [
            benchlib.time_row(
                f"create {name} from local safetensors (in-process)",
                ours["create_s"],
                peer["create_s"],
                "open_clip",
                f"checkpoint {size / 2**20:.0f} MiB",
            ),
            benchlib.time_row(
                f"create {name} (whole process: start + import + create)",
                ours["process_s"],
                peer["process_s"],
                "open_clip",
            ),
            benchlib.time_row(
                f"peak RSS added creating {name}",
                ours["peak_added_bytes"] / 2**20,
                peer["peak_added_bytes"] / 2**20,
                "open_clip",
                f"clipzoo {ours['peak_added_bytes'] / size:.2f}x checkpoint size, "
                f"open_clip {peer['peak_added_bytes'] / size:.2f}x",
                unit="MiB",
            ),
        ]
    return rows


if __name__ == "__main__":
    benchlib.main(run)
