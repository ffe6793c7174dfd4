"""Import and registry calls: `import clipzoo; clipzoo.list_pretrained()` vs open_clip, whole process each."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

CASES = {
    "python -c 'import X; X.list_pretrained()'": (
        "import clipzoo as X; X.list_pretrained()",
        "import open_clip as X; X.list_pretrained()",
    ),
    "python -c 'import X; X.list_models()'": (
        "import clipzoo as X; X.list_models()",
        "import open_clip as X; X.list_models()",
    ),
}


def _wall(code: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _cli_wall(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "clipzoo", "pretrained"], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(quick: bool = False) -> list[dict]:
    """Whole-process wall time (median) of import + one registry call, for both libraries."""
    repeat = 1 if quick else 3
    rows = []
    for name, (ours, theirs) in CASES.items():
        a, b = _wall(ours, repeat), _wall(theirs, repeat)
        rows.append(
            {
                "name": name,
                "clipzoo": a,
                "peer": b,
                "peer_name": "open_clip",
                "unit": "s",
                "ratio": b / a,
                "note": f"median of {repeat}",
            }
        )
    cli = _cli_wall(repeat)
    peer = _wall(CASES["python -c 'import X; X.list_pretrained()'"][1], repeat)
    rows.append(
        {
            "name": "`clipzoo pretrained` vs python -c 'import open_clip; ...'",
            "clipzoo": cli,
            "peer": peer,
            "peer_name": "open_clip",
            "unit": "s",
            "ratio": peer / cli,
            "note": f"median of {repeat}",
        }
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
