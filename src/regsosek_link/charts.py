"""Charts of a run, for analysts.

Every function takes a :class:`~regsosek_link.run.LinkResult` (plus ground truth
where needed) and returns a :class:`matplotlib.figure.Figure` drawn on the Agg canvas
without touching ``pyplot`` (no global state): show it in Jupyter with ``display(fig)`` or
write it with ``fig.savefig("chart.png")``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from .explain import _figure, threshold_scores, waterfall_chart

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .run import LinkResult

__all__ = [
    "blocking_chart",
    "cluster_size_chart",
    "match_weight_histogram",
    "parameters_chart",
    "precision_recall_chart",
    "source_overlap_chart",
    "waterfall_chart",
]

_M = "#1f77b4"
_U = "#ff7f0e"


def _threshold_weight(threshold: float) -> float:
    return float(np.log2(threshold / (1 - threshold)))


def match_weight_histogram(result: LinkResult, *, bins: int = 60) -> Figure:
    """Histogram of the candidate pairs' match weights, with the threshold as a dashed line.

    The y axis is logarithmic: non-matches usually outnumber matches by far.
    """
    w = np.asarray(result.weight, float)
    thr = float(result.config.threshold)
    tw = _threshold_weight(thr)
    fig = _figure(figsize=(8, 4))
    ax = fig.add_subplot()
    if len(w):
        edges = np.linspace(min(w.min(), tw) - 0.5, max(w.max(), tw) + 0.5, bins + 1).tolist()
        ax.hist(w[w < tw], bins=edges, color="#9e9e9e", label=f"below threshold ({int((w < tw).sum()):,})")
        ax.hist(w[w >= tw], bins=edges, color="#2e7d32", label=f"accepted ({int((w >= tw).sum()):,})")
    ax.axvline(tw, color="black", linestyle="--", linewidth=1.2,
               label=f"threshold p = {thr:g} ({tw:.2f} bits)")
    ax.set_yscale("log")
    ax.set_xlabel("match weight (bits)")
    ax.set_ylabel("candidate pairs")
    ax.set_title(f"Match weights of {len(w):,} candidate pairs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def parameters_chart(result: LinkResult) -> Figure:
    """m and u (left) and the weight ``log2(m/u)`` (right) of every comparison level.

    One row per (comparison, level), the comparison's levels from "different" up to
    "exact", comparisons top to bottom in the config's order.
    """
    names = {c.name: tuple(c.level_names) for c in result.config.comparisons}
    params = result.model.parameters(names)
    params = params.iloc[::-1].reset_index(drop=True)  # first comparison on top
    labels = [f"{c}: {lab}" for c, lab in zip(params["comparison"], params["label"])]
    y = np.arange(len(params))
    fig = _figure(figsize=(11, max(3.0, 0.26 * len(params) + 1.2)))
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    h = 0.4
    ax1.barh(y + h / 2, params["m"], height=h, color=_M, label="m (among matches)")
    ax1.barh(y - h / 2, params["u"], height=h, color=_U, label="u (among non-matches)")
    ax1.set_xlim(0, 1)
    ax1.set_yticks(y, labels, fontsize=7)
    ax1.set_xlabel("probability of the level")
    ax1.legend(fontsize=7, loc="lower right")
    ax1.set_title("m and u per comparison level", fontsize=9)
    wts = params["weight"].to_numpy()
    ax2.barh(y, wts, color=np.where(wts >= 0, "#2e7d32", "#c62828"))
    ax2.axvline(0, color="black", linewidth=0.8)
    ax2.set_xlabel("match weight log2(m/u) (bits)")
    ax2.set_title("weight per comparison level", fontsize=9)
    # separators between comparisons
    change = np.flatnonzero(params["comparison"].to_numpy()[1:] != params["comparison"].to_numpy()[:-1])
    for ax in (ax1, ax2):
        for c in change:
            ax.axhline(c + 0.5, color="#bdbdbd", linewidth=0.6)
    fig.tight_layout()
    return fig


def blocking_chart(result: LinkResult) -> Figure:
    """Pairs per blocking rule: all pairs the rule found and those no earlier rule found.

    Read from ``result.blocking`` (see :func:`regsosek_link.block.block_with_report`);
    falls back to counting ``result.pairs["rule"]`` when the report is missing.
    """
    report = result.blocking
    if report is None:
        rules = [getattr(r, "label", str(r)) for r in result.config.blocking_rules]
        counts = result.pairs["rule"].value_counts().reindex(range(len(rules)), fill_value=0)
        report = pd.DataFrame({"rule": rules, "pairs_generated": counts.to_numpy(), "new_pairs": counts.to_numpy()})
    report = report.iloc[::-1].reset_index(drop=True)
    y = np.arange(len(report))
    fig = _figure(figsize=(9, max(2.5, 0.45 * len(report) + 1.2)))
    ax = fig.add_subplot()
    h = 0.4
    ax.barh(y + h / 2, report["pairs_generated"], height=h, color="#90caf9", label="pairs found by the rule")
    ax.barh(y - h / 2, report["new_pairs"], height=h, color="#1565c0", label="new pairs (no earlier rule found them)")
    for yi, v in zip(y, report["new_pairs"]):
        ax.text(v, yi - h / 2, f" {int(v):,}", va="center", fontsize=7)
    ax.set_yticks(y, report["rule"], fontsize=8)
    ax.set_xlabel("candidate pairs")
    ax.set_ylabel("blocking rule (in order)")
    ax.set_title(f"Blocking: {len(result.pairs):,} candidate pairs in all", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def cluster_size_chart(result: LinkResult) -> Figure:
    """Persons by number of records (log scale): one bar per cluster size."""
    sizes = result.registry["n_records"].value_counts().sort_index()
    fig = _figure(figsize=(7, 3.8))
    ax = fig.add_subplot()
    x = sizes.index.to_numpy()
    ax.bar(x, sizes.to_numpy(), color="#5e35b1")
    for xi, v in zip(x, sizes.to_numpy()):
        ax.text(xi, v, f"{int(v):,}", ha="center", va="bottom", fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(x)
    ax.set_xlabel("records per person")
    ax.set_ylabel("persons")
    ax.set_title(f"Cluster sizes of {len(result.registry):,} persons", fontsize=10)
    fig.tight_layout()
    return fig


def precision_recall_chart(
    result: LinkResult,
    truth: pd.DataFrame,
    *,
    level: Literal["pairs", "clusters"] = "pairs",
    thresholds: np.ndarray | None = None,
) -> Figure:
    """Precision, recall and F1 against the threshold (see :func:`~regsosek_link.explain.threshold_scores`).

    Three lines, and the run's threshold as a dashed vertical line.
    """
    tab = threshold_scores(result, truth, thresholds=thresholds, level=level)
    fig = _figure(figsize=(7, 4))
    ax = fig.add_subplot()
    ax.plot(tab["threshold"], tab["precision"], marker="o", markersize=3, label="precision")
    ax.plot(tab["threshold"], tab["recall"], marker="o", markersize=3, label="recall")
    ax.plot(tab["threshold"], tab["f1"], marker="o", markersize=3, label="F1")
    ax.axvline(result.config.threshold, color="black", linestyle="--", linewidth=1,
               label=f"threshold {result.config.threshold:g}")
    lo = float(min(tab[["precision", "recall"]].min().min(), 0.9))
    ax.set_ylim(max(0.0, lo - 0.02), 1.005)
    ax.set_xlim(0, 1)
    ax.set_xlabel("match probability threshold")
    ax.set_ylabel("score")
    what = "candidate pairs" if level == "pairs" else "pairs after clustering"
    ax.set_title(f"Precision and recall against the threshold ({what})", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def source_overlap_chart(result: LinkResult, *, max_combinations: int = 20) -> Figure:
    """Persons by the combination of sources they appear in (UpSet-like).

    Top: one bar per combination (most common first, at most ``max_combinations``); bottom:
    a dot matrix marking which sources make up each combination.
    """
    all_sources = sorted(result.membership["source"].astype(str).unique())
    combos = result.registry["sources"].astype(str).value_counts()
    combos = combos.iloc[:max_combinations]
    members = [set(c.split(";")) for c in combos.index]
    fig = _figure(figsize=(max(6.0, 0.45 * len(combos) + 2.5), 5.2))
    ax_bar, ax_dot = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, max(1, 0.35 * len(all_sources))]})
    x = np.arange(len(combos))
    ax_bar.bar(x, combos.to_numpy(), color="#37474f")
    for xi, v in zip(x, combos.to_numpy()):
        ax_bar.text(xi, v, f"{int(v):,}", ha="center", va="bottom", fontsize=6, rotation=90)
    ax_bar.set_ylabel("persons")
    ax_bar.set_title(f"Source overlap: persons by the sources they appear in ({len(result.registry):,} persons)",
                     fontsize=10)
    ax_bar.margins(y=0.15)
    for si, s in enumerate(all_sources):
        on = np.array([s in m for m in members])
        ax_dot.scatter(x[~on], np.full((~on).sum(), si), color="#e0e0e0", s=30)
        ax_dot.scatter(x[on], np.full(on.sum(), si), color="#37474f", s=30)
    for xi, m in zip(x, members):
        ys = [all_sources.index(s) for s in m if s in all_sources]
        if len(ys) > 1:
            ax_dot.plot([xi, xi], [min(ys), max(ys)], color="#37474f", linewidth=1.5)
    ax_bar.set_xlim(-0.7, max(len(combos), 4) - 0.3)
    ax_dot.set_yticks(range(len(all_sources)), all_sources, fontsize=8)
    ax_dot.set_ylim(-0.5, len(all_sources) - 0.5)
    ax_dot.set_xticks(x, [str(len(m)) for m in members], fontsize=7)
    ax_dot.set_xlabel("combination of sources (number of sources)")
    fig.tight_layout()
    return fig
