"""Import and registry calls: `import clipzoo; clipzoo.list_pretrained()` vs open_clip, whole process each."""

from __future__ import annotations

import sys

import benchlib

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


def run(quick: bool = False) -> list[dict]:
    """Whole-process wall time (median) of import + one registry call, for both libraries."""
    repeat = 1 if quick else 3
    rows = []
    for name, (ours, theirs) in CASES.items():
        a = benchlib.median_wall([sys.executable, "-c", ours], repeat)
        b = benchlib.median_wall([sys.executable, "-c", theirs], repeat)
        rows.append(benchlib.time_row(name, a, b, "open_clip", f"median of {repeat}"))
    cli = benchlib.median_wall([sys.executable, "-m", "clipzoo", "pretrained"], repeat)
    peer_code = CASES["python -c 'import X; X.list_pretrained()'"][1]
    peer = benchlib.median_wall([sys.executable, "-c", peer_code], repeat)
    rows.append(
        benchlib.time_row(
            "`clipzoo pretrained` vs python -c 'import open_clip; ...'",
            cli,
            peer,
            "open_clip",
            f"median of {repeat}",
        )
    )
    return rows


if __name__ == "__main__":
    benchlib.main(run)
