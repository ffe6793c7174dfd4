"""The metric-vs-GFLOPs picture: what it draws, that its front labels are legible, and the missing-extra error."""

from __future__ import annotations

import itertools
import sys

import pytest
from PIL import Image

import clipzoo
from clipzoo.cli import main
from clipzoo.registry import plot
from clipzoo.registry.results import RankedPair


def _pair(model: str, value: float, gflops: float) -> RankedPair:
    return RankedPair(model, "t", "m", value, 1.0, gflops, "ViT")


def test_pareto_front_keeps_only_undominated_points():
    records = [_pair("a", 0.5, 10), _pair("b", 0.4, 12), _pair("c", 0.6, 30), _pair("d", 0.6, 40)]
    records += [_pair("e", 0.55, 10), _pair("f", 0.9, 100)]
    assert [r.model for r in plot.pareto_front(records)] == ["e", "c", "f"]


def test_plot_draws_every_pair_with_results_and_the_true_front(tmp_path):
    summary = clipzoo.plot_pretrained(tmp_path / "choose.png")
    ranking = clipzoo.rank_pretrained()
    with Image.open(summary.path) as image:
        assert image.size == (1200, 750)
    assert summary.missing == ranking.missing
    # the -quickgelu twins that repeat their base pair's numbers are one point
    assert summary.plotted == len({(r.model.removesuffix("-quickgelu"), r.tag, r.value) for r in ranking})
    front = set(summary.front)
    for point in ranking:
        dominated = any(f.gflops <= point.gflops and f.value >= point.value for f in front)
        assert dominated, point
    for a, b in itertools.permutations(front, 2):
        assert not (a.gflops <= b.gflops and a.value > b.value), (a, b)
    assert summary.front[-1].value == ranking[0].value
    assert not list(tmp_path.glob(".*tmp*"))  # written through a temporary file, nothing left over


@pytest.mark.parametrize("limits", [{}, {"max_gflops": 200}, {"pattern": "ViT-B-*"}])
def test_front_labels_are_inside_the_figure_and_overlap_nothing(limits):
    from matplotlib.text import Text

    ranking = clipzoo.rank_pretrained(**limits)
    points = plot._distinct(list(ranking))
    front = plot.pareto_front(points)
    fig, canvas, labels = plot._draw(points, front, "imagenet1k", "caption")
    renderer = canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [Text.get_window_extent(label, renderer) for label in labels]
    assert len(boxes) == len(front)
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    figure_box = fig.bbox
    xy = ax.transData.transform([(p.gflops, p.value) for p in points])
    for box in boxes:
        assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1
        assert figure_box.y0 <= box.y0 and box.y1 <= figure_box.y1
        assert not any(box.x0 - 3 <= x <= box.x1 + 3 and box.y0 - 3 <= y <= box.y1 + 3 for x, y in xy)
    legend = ax.get_legend().get_window_extent(renderer)
    assert not any(box.overlaps(legend) for box in boxes)


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path, capsys):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib... now raises ImportError
    with pytest.raises(clipzoo.PlotDependencyError, match=r"clipzoo\[plot\]"):
        clipzoo.plot_pretrained(tmp_path / "x.png")
    assert main(["pretrained", "--plot", str(tmp_path / "x.png")]) == 1
    assert "pip install 'clipzoo[plot]'" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_unknown_metric_fails_before_drawing(tmp_path):
    with pytest.raises(clipzoo.UnknownMetricError):
        clipzoo.plot_pretrained(tmp_path / "x.png", metric="imagenet-1k")
    assert not (tmp_path / "x.png").exists()
