"""The helpers every ``scripts/bench_<area>.py`` module uses: timing, rows, the table, the machine.

A bench module defines ``run(quick: bool = False) -> list[dict]`` returning rows built with :func:`time_row`
(lower is better: ratio = peer / clipzoo) or :func:`throughput_row` (higher is better: ratio = clipzoo / peer),
so that a ratio > 1 always means clipzoo is better. It ends with::

    if __name__ == "__main__":
        benchlib.main(run)

Timing lives here only (``tests/test_scripts_bench.py`` checks that no bench module reads a clock itself):

- :func:`best_of`: the fastest of N calls of one callable, with an optional untimed ``before()`` (or ``make()``
  whose result the call receives) and the last output kept for callers that check it;
- :func:`best_pair`: the fastest of N calls of two sides (clipzoo and a peer), warm-up first, alternating the
  sides so that load changes on a shared machine hit both alike;
- :func:`median_wall` / :func:`timed_run`: the wall time of a whole subprocess;
- :func:`monitored_run`: the wall time of a whole subprocess and the peak RSS of its process tree.

Row format (the README table and ``.bench/results.json`` use it): ``name, clipzoo, peer, peer_name, unit,
ratio, note``. This module imports only the standard library (torch only inside :func:`machine`).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

Clock = Callable[[], float]
#: The clocks a bench may time with: wall time (the default) and CPU time of this process (steadier on a shared
#: machine for single-threaded work, blind to time spent in other threads or processes).
wall_clock: Clock = time.perf_counter
cpu_clock: Clock = time.process_time
ROW_FIELDS = ("name", "clipzoo", "peer", "peer_name", "unit", "ratio", "note")
#: scikit-image's sample photos the accuracy checks encode (real photos: value ranges random inputs lack).
PHOTOS = ("astronaut", "camera", "cat", "chelsea", "coffee", "coins", "horse", "hubble_deep_field", "rocket")


class Best(NamedTuple):
    """The fastest time of a series of runs and the output of the last run."""

    seconds: float
    output: Any


def best_of(
    fn: Callable[..., Any],
    repeats: int,
    *,
    before: Callable[[], object] | None = None,
    make: Callable[[], Any] | None = None,
    clock: Clock = wall_clock,
) -> Best:
    """Time ``fn`` ``repeats`` times and keep the fastest run.

    Args:
        fn: The timed call. Called with no argument, or with ``make()``'s result when ``make`` is given.
        repeats: How many timed runs (>= 1).
        before: Called untimed before each run (clear a cache, delete a download, ...).
        make: Called untimed before each run (after ``before``); its result is passed to ``fn``, so every run
            gets a fresh object whose construction is not timed.
        clock: The clock to read: :data:`wall_clock` (``time.perf_counter``, the default) or :data:`cpu_clock`
            (``time.process_time``: CPU time of this process).

    Returns:
        ``Best(seconds, output)``: the fastest run's duration and the value the last run returned.

    Raises:
        ValueError: ``repeats`` is below 1.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    best, output = math.inf, None
    for _ in range(repeats):
        if before is not None:
            before()
        if make is not None:
            arg = make()
            start = clock()
            output = fn(arg)
        else:
            start = clock()
            output = fn()
        best = min(best, clock() - start)
    return Best(best, output)


def best_round_robin(
    sides: dict[str, Callable[[], object]],
    repeats: int,
    *,
    warmup: bool = True,
    clock: Clock = wall_clock,
) -> dict[str, float]:
    """The fastest of ``repeats`` calls of each side, taking the sides in turn within every repeat (so that a
    change in the machine's load falls on all of them alike).

    Args:
        sides: Name -> the call to time, in the order they run within a repeat.
        repeats: How many timed runs of each side (>= 1).
        warmup: Run each side once, untimed, before timing (caches, lazy initialisation, allocator).
        clock: The clock to read (see :func:`best_of`).

    Returns:
        Name -> its fastest run in seconds.

    Raises:
        ValueError: ``repeats`` is below 1.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup:
        for fn in sides.values():
            fn()
    best = dict.fromkeys(sides, math.inf)
    for _ in range(repeats):
        for name, fn in sides.items():
            start = clock()
            fn()
            best[name] = min(best[name], clock() - start)
    return best


def best_pair(
    ours: Callable[[], object],
    peer: Callable[[], object],
    repeats: int,
    *,
    warmup: bool = True,
    clock: Clock = wall_clock,
) -> tuple[float, float]:
    """:func:`best_round_robin` of two sides, ours first: ``(ours_seconds, peer_seconds)``."""
    best = best_round_robin({"ours": ours, "peer": peer}, repeats, warmup=warmup, clock=clock)
    return best["ours"], best["peer"]


def timed_run(cmd: Sequence[str], **kwargs: Any) -> tuple[float, subprocess.CompletedProcess]:
    """Run one subprocess and measure its wall time (start, work and exit).

    Args:
        cmd: The command line.
        **kwargs: Passed to ``subprocess.run`` (``capture_output``, ``text``, ``env``, ``check``, ...).

    Returns:
        ``(seconds, completed_process)``.
    """
    start = wall_clock()
    proc = subprocess.run(list(cmd), **kwargs)
    return wall_clock() - start, proc


def monitored_run(cmd: Sequence[str], interval: float = 0.1, **kwargs: Any) -> tuple[float, int, str]:
    """Run one subprocess; its wall time and the peak RSS of its whole process tree (workers included).

    Args:
        cmd: The command line.
        interval: Seconds between two samples of the tree's memory (psutil).
        **kwargs: Passed to ``subprocess.Popen`` (``env``, ``cwd``, ...); stdout is captured, stderr goes to a
            temporary file so a full pipe never blocks the child.

    Returns:
        ``(seconds, peak RSS in bytes, stdout)``.

    Raises:
        subprocess.CalledProcessError: the command failed (its stderr's end is in the message).
    """
    import tempfile

    import psutil

    start = wall_clock()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=err, **kwargs)
        root, peak, out = psutil.Process(proc.pid), 0, None
        while out is None:
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:  # a worker ended between listing and reading it
                pass
            try:  # communicate keeps what it read across timeouts and returns all of it at the end
                out = proc.communicate(timeout=interval)[0] or b""
            except subprocess.TimeoutExpired:
                continue
        seconds = wall_clock() - start
        if proc.returncode:
            err.seek(0)
            raise subprocess.CalledProcessError(proc.returncode, cmd, out, err.read()[-3000:])
    return seconds, peak, out.decode()


def median_wall(cmd: Sequence[str], repeats: int, **kwargs: Any) -> float:
    """The median wall time of ``repeats`` runs of a subprocess (output captured, a failure raises).

    Args:
        cmd: The command line, e.g. ``[sys.executable, "-c", code]``.
        repeats: How many runs (>= 1).
        **kwargs: Passed to ``subprocess.run``; ``check=True`` and ``capture_output=True`` unless given.

    Returns:
        The median duration in seconds.

    Raises:
        ValueError: ``repeats`` is below 1.
        subprocess.CalledProcessError: A run exited with a non-zero status.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    kwargs.setdefault("check", True)
    kwargs.setdefault("capture_output", True)
    return statistics.median(timed_run(cmd, **kwargs)[0] for _ in range(repeats))


def time_row(
    name: str, ours: float, peer: float, peer_name: str, note: str = "", *, unit: str = "s"
) -> dict[str, Any]:
    """A row where lower is better (seconds, bytes): ratio = peer / ours.

    Args:
        name: What was measured.
        ours: clipzoo's value.
        peer: The peer's value.
        peer_name: Who the peer is ("open_clip 3.3.0", ...).
        note: Conditions worth knowing (sizes, repeats, threads).
        unit: The unit of both values.

    Returns:
        The row dict (fields :data:`ROW_FIELDS`); ratio is ``inf`` when ours is 0.
    """
    ratio = peer / ours if ours else math.inf
    return _row(name, ours, peer, peer_name, unit, ratio, note)


def throughput_row(
    name: str, ours: float, peer: float, peer_name: str, unit: str, note: str = ""
) -> dict[str, Any]:
    """A row where higher is better (items per second, cosine, accuracy): ratio = ours / peer.

    Args:
        name: What was measured.
        ours: clipzoo's throughput.
        peer: The peer's throughput.
        peer_name: Who the peer is.
        unit: The unit of both values ("images/s", "texts/s").
        note: Conditions worth knowing.

    Returns:
        The row dict (fields :data:`ROW_FIELDS`); ratio is ``inf`` when the peer's value is 0.
    """
    ratio = ours / peer if peer else math.inf
    return _row(name, ours, peer, peer_name, unit, ratio, note)


def _row(name: str, ours: float, peer: float, peer_name: str, unit: str, ratio: float, note: str) -> dict:
    return {
        "name": name,
        "clipzoo": ours,
        "peer": peer,
        "peer_name": peer_name,
        "unit": unit,
        "ratio": ratio,
        "note": note,
    }


def print_table(rows: list[dict], file: Any = None) -> None:
    """Print rows as one aligned table: benchmark, clipzoo, peer, unit, ratio, peer / note.

    Args:
        rows: Rows built by :func:`time_row` / :func:`throughput_row`.
        file: Where to print (default: standard output).
    """
    out = file or sys.stdout
    print(f"{'benchmark':<62} {'clipzoo':>11} {'peer':>11} {'unit':>9} {'ratio':>8}  peer / note", file=out)
    for r in rows:
        print(
            f"{r['name']:<62} {r['clipzoo']:>11.4g} {r['peer']:>11.4g} {r['unit']:>9} {r['ratio']:>7.2f}x  "
            f"{r['peer_name']}{'; ' + r['note'] if r.get('note') else ''}",
            file=out,
        )


def skimage_photos(names: Sequence[str] = PHOTOS) -> list:
    """scikit-image's sample photos as RGB-or-grey PIL images (imports skimage, numpy and PIL when called)."""
    import numpy as np
    import skimage.data
    from PIL import Image

    images = []
    for name in names:
        array = getattr(skimage.data, name)()
        images.append(
            Image.fromarray(array.astype(np.uint8) if array.dtype != bool else array.astype(np.uint8) * 255)
        )
    return images


def machine() -> dict[str, Any]:
    """Where the numbers were measured: date, CPU count, platform, Python, torch and GPU (if any)."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "date": datetime.date.today().isoformat(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": gpu,
    }


def main(run: Callable[..., list[dict]], argv: list[str] | None = None) -> int:
    """The command line of a standalone bench module: ``python scripts/bench_<area>.py [--quick]``.

    Args:
        run: The module's ``run(quick=...)``.
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        0 (a failing benchmark raises).
    """
    module = sys.modules.get(run.__module__)
    doc = (getattr(module, "__doc__", None) or "").strip()
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--quick", action="store_true", help="smaller inputs, fewer repeats")
    args = parser.parse_args(argv)
    print_table(run(quick=args.quick))
    return 0
