"""charts: each returns a Figure with the expected bars/lines and axis labels."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from regsosek_link import Linker, charts
from regsosek_link.datasets.febrl import load_febrl4


@pytest.fixture(scope="module")
def run():
    data = load_febrl4()
    return Linker(data.config).run(data.sources), data.truth


def _png(fig, tmp_path, name):
    path = tmp_path / f"{name}.png"
    fig.savefig(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_histogram_has_threshold_line(run, tmp_path):
    result, _ = run
    fig = charts.match_weight_histogram(result)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("match weight (bits)", "candidate pairs")
    t = result.config.threshold
    xs = {tuple(line.get_xdata()) for line in ax.lines}
    assert (np.log2(t / (1 - t)),) * 2 in xs
    heights = sum(p.get_height() for p in ax.patches)
    assert heights == len(result.weight)  # every pair in one bar
    _png(fig, tmp_path, "hist")


def test_parameters_chart_one_bar_per_level(run, tmp_path):
    result, _ = run
    n = int(result.model.n_levels_.sum())
    fig = charts.parameters_chart(result)
    ax1, ax2 = fig.axes
    assert len(ax1.patches) == 2 * n and len(ax2.patches) == n
    assert ax2.get_xlabel() == "match weight log2(m/u) (bits)"
    assert ax1.get_yticklabels()[-1].get_text() == f"{result.config.comparisons[0].name}: different"
    _png(fig, tmp_path, "params")


def test_blocking_chart_two_bars_per_rule(run, tmp_path):
    result, _ = run
    fig = charts.blocking_chart(result)
    ax = fig.axes[0]
    rules = result.blocking
    assert len(ax.patches) == 2 * len(rules)
    assert sum(p.get_width() for p in ax.patches[len(rules):]) == len(result.pairs)  # new pairs add up
    assert ax.get_xlabel() == "candidate pairs"
    _png(fig, tmp_path, "blocking")


def test_cluster_size_chart(run, tmp_path):
    result, _ = run
    fig = charts.cluster_size_chart(result)
    ax = fig.axes[0]
    sizes = result.registry["n_records"].value_counts()
    assert len(ax.patches) == len(sizes)
    assert sum(p.get_height() for p in ax.patches) == len(result.registry)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("records per person", "persons")
    _png(fig, tmp_path, "sizes")


def test_precision_recall_chart_three_lines_and_threshold(run, tmp_path):
    result, truth = run
    fig = charts.precision_recall_chart(result, truth, thresholds=np.array([0.1, 0.5, 0.9]))
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels == ["precision", "recall", "F1", f"threshold {result.config.threshold:g}"]
    assert list(ax.lines[0].get_xdata()) == [0.1, 0.5, 0.9]
    assert ax.get_xlabel() == "match probability threshold"
    _png(fig, tmp_path, "pr")


def test_source_overlap_bars_per_combination(run, tmp_path):
    result, _ = run
    fig = charts.source_overlap_chart(result)
    bar, dots = fig.axes
    combos = result.registry["sources"].value_counts()
    assert len(bar.patches) == len(combos)
    assert sum(p.get_height() for p in bar.patches) == len(result.registry)
    assert [t.get_text() for t in dots.get_yticklabels()] == ["febrl4a", "febrl4b"]
    _png(fig, tmp_path, "overlap")
