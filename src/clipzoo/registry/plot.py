"""A picture for choosing a model: a published metric against GFLOPs, the Pareto front marked and labelled.

Needs matplotlib (the ``plot`` extra: ``uv pip install 'clipzoo[plot]'``); draws with the Agg canvas directly, so it
neither needs a display nor changes pyplot's global backend.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ..constants import EXTRA_INSTALL_HINT
from ..errors import PlotDependencyError
from ..files import check_output_file
from .results import DEFAULT_METRIC, FAMILIES, OTHER_FAMILY, RankedPair, rank_pretrained

# one fixed colour per family (colour-blind-friendly tab10 first), in FAMILIES order, then "other"
_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#843c39",
)  # fmt: skip
FAMILY_COLOURS = {family: _PALETTE[i] for i, family in enumerate([f for _, f in FAMILIES] + [OTHER_FAMILY])}
_QUICKGELU = "-quickgelu"


@dataclass(frozen=True)
class PlotSummary:
    """What :func:`plot_pretrained` drew."""

    path: Path
    metric: str
    plotted: int  # points (a -quickgelu twin with the same numbers as its base pair is drawn once)
    missing: int  # registry pairs with no published value for the metric
    front: tuple[RankedPair, ...]  # the Pareto front, cheapest first


def _gflops(point: RankedPair) -> float:
    """A plotted pair's GFLOPs (pairs without a count are left out before plotting)."""
    assert point.gflops is not None
    return point.gflops


def _distinct(records: list[RankedPair]) -> list[RankedPair]:
    # "RN50-quickgelu:openai" and "RN50:openai" are the same weights and numbers: one point, the base name
    seen: dict[tuple, RankedPair] = {}
    for record in records:
        key = (record.model.removesuffix(_QUICKGELU), record.tag, record.value, record.gflops)
        if key not in seen or seen[key].model.endswith(_QUICKGELU):
            seen[key] = record
    return list(seen.values())


def pareto_front(records: list[RankedPair]) -> list[RankedPair]:
    """The records no other record beats on both axes (higher metric with at most as many GFLOPs), cheapest first."""
    front: list[RankedPair] = []
    for record in sorted(records, key=lambda r: (r.gflops, -r.value)):
        if not front or record.value > front[-1].value:
            front.append(record)
    return front


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:
        raise PlotDependencyError(
            "plotting needs matplotlib, which is not installed: " + EXTRA_INSTALL_HINT.format(extra="plot")
        ) from err
    return Figure, FigureCanvasAgg


def _text_size(ax, renderer, text: str, fontsize: float) -> tuple[float, float]:
    from matplotlib.text import Text

    probe = ax.text(0, 0, text, fontsize=fontsize, transform=None)
    box = Text.get_window_extent(probe, renderer)
    probe.remove()
    return box.width, box.height


def _label_front(ax, canvas, front: list[RankedPair], fontsize: float = 8.5) -> list:
    """Label the front in a column left of every point, joined to the points by leader lines.

    Each label sits at or above its point's height, in front order, so its leader line runs through the region
    above-left of the front, where no point lies: no label covers a point, a line or another label. The x range
    is widened on the left just enough for the widest label.
    """
    renderer = canvas.get_renderer()
    texts = [f"{p.model} / {p.tag}  {p.value:.3f}" for p in front]
    sizes = [_text_size(ax, renderer, text, fontsize) for text in texts]
    box = ax.get_window_extent(renderer)
    x0, x_max = ax.get_xlim()[1], ax.get_xlim()[1]
    x0 = _gflops(front[0])  # the cheapest front point is the leftmost point
    gap_px, pad_px = 14.0, 4.0
    right = math.log10(x_max) - math.log10(x0)
    widest = max(w for w, _ in sizes) + gap_px + pad_px
    left = widest * right / (box.width - widest)
    ax.set_xlim(x0 / 10**left, x_max)
    label_x = x0 / 10 ** (gap_px * (left + right) / box.width)
    y_min, y_max = ax.get_ylim()
    for _ in range(4):  # the label heights in data units depend on the y range they extend
        per_px = (y_max - y_min) / box.height
        heights = [h * per_px + pad_px * per_px for _, h in sizes]
        ys, last = [], -math.inf
        for point, height in zip(front, heights):
            y = max(point.value + heights[0] / 2, last + height)
            ys.append(y)
            last = y
        y_max = max(y_max, ys[-1] + heights[-1])
    ax.set_ylim(y_min, y_max)
    return [
        ax.annotate(
            text,
            (p.gflops, p.value),
            xytext=(label_x, y),
            textcoords="data",
            ha="right",
            va="center",
            fontsize=fontsize,
            zorder=5,
            annotation_clip=False,
            arrowprops={"arrowstyle": "-", "color": "#777777", "lw": 0.6, "shrinkA": 1, "shrinkB": 4},
        )  # fmt: skip
        for text, p, y in zip(texts, front, ys)
    ]


def _draw(points: list[RankedPair], front: list[RankedPair], metric: str, caption: str):
    """The figure, its canvas and the front labels (the tests check the labels' boxes)."""
    Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=(12, 7.5), dpi=100)
    fig.subplots_adjust(left=0.065, right=0.985, bottom=0.075, top=0.91)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    families = sorted({p.family for p in points}, key=list(FAMILY_COLOURS).index)
    for family in families:
        mine = [p for p in points if p.family == family]
        ax.scatter(
            [p.gflops for p in mine], [p.value for p in mine], s=28, alpha=0.75, color=FAMILY_COLOURS[family],
            edgecolors="none", label=f"{family} ({len(mine)})", zorder=2,
        )  # fmt: skip
    ax.plot([p.gflops for p in front], [p.value for p in front], color="black", lw=1, zorder=3)
    ax.scatter(
        [p.gflops for p in front], [p.value for p in front], s=70, facecolors="none", edgecolors="black",
        linewidths=1.3, zorder=4, label="Pareto front (labelled)",
    )  # fmt: skip
    ax.set_xscale("log")
    xs, ys = [_gflops(p) for p in points], [p.value for p in points]
    ax.set_xlim(min(xs), max(xs) * 1.4)
    ax.set_ylim(min(ys) - 0.02, max(ys) + 0.02)
    ax.set_xlabel("GFLOPs per image + text (log scale)")
    ax.set_ylabel(f"{metric} (published, zero-shot)")
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)
    ax.set_title(
        f"{metric} vs. cost: {len(points)} pretrained models with published results (open_clip 3.3.0)\n"
        + textwrap.fill(caption, 130),
        fontsize=11,
    )
    ax.legend(loc="lower right", fontsize=9, framealpha=0.9)
    labels = _label_front(ax, canvas, front)
    canvas.draw()
    return fig, canvas, labels


def _formats() -> list[str]:
    """The file suffixes matplotlib can save a figure as (png, pdf, svg, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return [suffix.lower() for suffix in FigureCanvasBase.get_supported_filetypes()]


def plot_pretrained(
    path: str | Path,
    metric: str = DEFAULT_METRIC,
    *,
    max_gflops: float | None = None,
    max_params: float | None = None,
    pattern: str | None = None,
) -> PlotSummary:
    """Draw ``metric`` against GFLOPs (log scale) for every pretrained pair with a published value; save a PNG.

    Points are coloured by model family; the Pareto front is joined, marked and labelled ``model / tag``; the
    caption says how many registry pairs have no published value.

    Args:
        path: Output image file (the format follows the suffix; ``.png`` recommended).
        metric: Metric id (see :func:`clipzoo.list_metrics`).
        max_gflops: Only pairs with at most this many GFLOPs.
        max_params: Only pairs with at most this many parameters (millions).
        pattern: Glob on the model name (or ``model:tag``), as in :func:`clipzoo.rank_pretrained`.

    Returns:
        A :class:`PlotSummary` (path, counts and the front).

    Raises:
        PlotDependencyError: matplotlib is missing (install the ``plot`` extra).
        UnknownMetricError: ``metric`` has no published results.
        OutputPathError: ``path`` cannot be written (missing folder, a file in the way, an unsupported suffix).
        ValueError: no pair has both the metric and a profile within the limits.
    """
    _matplotlib()  # fail before any work when matplotlib is missing
    path = check_output_file(path, _formats(), what="plot file")
    ranking = rank_pretrained(metric, max_gflops=max_gflops, max_params=max_params, pattern=pattern)
    points = _distinct([r for r in ranking if r.gflops is not None])
    if not points:
        raise ValueError(f"no pretrained pair has a published {metric!r} value within the given limits")
    front = pareto_front(points)

    caption = f"{ranking.missing} registry pairs have no published {metric} result and are not shown"
    if ranking.filtered:
        caption += f"; {ranking.filtered} more are outside the limits"
    twins = len(ranking) - len(points)
    if twins:
        caption += f"; {twins} -quickgelu twins with their base pair's numbers are drawn once"
    fig, _, _ = _draw(points, front, metric, caption)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    fig.savefig(tmp)
    tmp.replace(path)
    return PlotSummary(path, metric, len(points), ranking.missing, tuple(front))
