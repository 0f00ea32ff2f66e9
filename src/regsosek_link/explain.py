"""Why did two records match, what is a person made of, and where is the run wrong?

Explanations of a :class:`~regsosek_link.run.LinkResult`:

- :func:`explain_pair`: the match weight of one pair as the sum of the prior and one
  contribution per comparison (``log2(m/u)`` at the level the pair landed in, ``0`` when
  the comparison is missing), with both records' values; :func:`waterfall_chart` draws it.
- :func:`explain_person`: the records a registry person is made of and the accepted links
  that joined them.

Evaluation beyond :mod:`regsosek_link.evaluate` (which this module does not change):

- :func:`cluster_scores`: cluster-level scores against ground truth, both *B-cubed*
  precision/recall/F1 (per record: the share of its predicted cluster that truly belongs
  with it, and the share of its true cluster it was put with, averaged over records) and the
  *exact cluster match* rates (the share of predicted clusters that are exactly one true
  person, and of true persons reproduced exactly).
- :func:`threshold_scores`: precision/recall/F1 at a grid of thresholds, either pairwise
  over the candidate pairs (cheap) or after clustering (connected components at each
  threshold, then pairwise over the resulting persons).
- :func:`worst_errors`: the false merges whose wrong link was weakest and the missed links
  that came closest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from ._optional import require
from .classify import probability_from_weight
from .cluster import connected_components
from .compare import apply_ignore_when_apart
from .errors import ConfigError
from .evaluate import pairwise_scores
from .registry import links_table

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .run import LinkResult

__all__ = [
    "ClusterScores",
    "PersonExplanation",
    "cluster_scores",
    "explain_pair",
    "explain_person",
    "record_position",
    "threshold_scores",
    "truth_ids",
    "waterfall_chart",
    "worst_errors",
]

RecordRef = int | tuple[str, str]

PRIOR = "(prior)"
TOTAL = "(total)"


# ----------------------------------------------------------------------------------------
# locating records


def record_position(result: LinkResult, ref: RecordRef) -> int:
    """Row position in ``result.records`` of a record given by position or ``(source, record_id)``.

    Raises
    ------
    KeyError
        When no such record exists; the message names what was asked for.
    """
    n = len(result.records)
    if isinstance(ref, (int, np.integer)) and not isinstance(ref, bool):
        if not 0 <= int(ref) < n:
            raise KeyError(f"record position {int(ref)} is out of range; the run has {n} records")
        return int(ref)
    if isinstance(ref, tuple) and len(ref) == 2:
        source, record_id = str(ref[0]), str(ref[1])
        hit = np.flatnonzero(
            (result.records["source"].astype(str).to_numpy() == source)
            & (result.records["record_id"].astype(str).to_numpy() == record_id)
        )
        if len(hit) == 0:
            raise KeyError(f"no record ({source!r}, {record_id!r}) in the run")
        return int(hit[0])
    raise TypeError(f"a record is a row position or a (source, record_id) tuple; got {ref!r}")


def _level_names(result: LinkResult) -> dict[str, tuple[str, ...]]:
    return {c.name: tuple(c.level_names) for c in result.config.comparisons}


# ----------------------------------------------------------------------------------------
# one pair


def explain_pair(result: LinkResult, left: RecordRef, right: RecordRef) -> pd.DataFrame:
    """The match weight of a pair, comparison by comparison.

    Parameters
    ----------
    result : LinkResult
        A run.
    left, right : int or (source, record_id)
        The two records, by row position in ``result.records`` or by key. They need not be a
        candidate pair: the comparisons are computed afresh on the two records.

    Returns
    -------
    DataFrame
        A ``(prior)`` row first (``log2(lambda/(1-lambda))``), then one row per comparison
        with ``comparison``, ``columns`` (the record columns it
        reads), ``value_l``/``value_r`` (those columns' values, ``" | "``-joined), ``level``
        (``-1`` missing), ``label``, ``m``, ``u`` (NaN when missing) and ``weight``
        (``log2(m/u)``, 0 when missing); last a ``(total)`` row with the match weight. ``attrs`` holds ``match_weight``,
        ``match_probability``, ``threshold``, ``left``/``right`` (positions) and
        ``key_l``/``key_r`` (``(source, record_id)``).

    Notes
    -----
    ``weight`` of the comparison rows plus the prior equals the total, which equals
    ``result.model.match_weight`` of the pair's comparison vector.
    """
    i, j = record_position(result, left), record_position(result, right)
    recs = result.records.iloc[[i, j]].reset_index(drop=True)
    pair = pd.DataFrame({"left": [0], "right": [1]})
    model = result.model
    names = list(getattr(model, "feature_names_in_", [c.name for c in result.config.comparisons]))
    by_name = {c.name: c for c in result.config.comparisons}
    rows = []
    levels = {}
    for name in names:
        comp = by_name.get(name)
        if comp is None:
            raise ConfigError(
                f"the model knows comparison {name!r} but the run's config has no comparison of "
                f"that name; config comparisons: {sorted(by_name)}"
            )
        levels[name] = int(comp.compute(recs, pair)[0])
    # (what compare() does after the comparisons: e.g. the family card missing for a pair
    # born a generation apart)
    apart = {name: np.array([lvl], dtype=np.int8) for name, lvl in levels.items()}
    apply_ignore_when_apart([by_name[name] for name in names], apart)
    levels = {name: int(a[0]) for name, a in apart.items()}
    contrib = model.contributions(pd.DataFrame({k: [v] for k, v in levels.items()}, dtype=np.int8))
    for k, name in enumerate(names):
        comp = by_name[name]
        lvl = levels[name]
        cols = [c for c in comp.columns if c in recs.columns]
        rows.append({
            "comparison": name,
            "columns": ", ".join(cols),
            "value_l": _joined(recs.iloc[0], cols),
            "value_r": _joined(recs.iloc[1], cols),
            "level": lvl,
            "label": "missing" if lvl < 0 else comp.level_names[lvl],
            "m": float(model.m_[k][lvl]) if lvl >= 0 else np.nan,
            "u": float(model.u_[k][lvl]) if lvl >= 0 else np.nan,
            "weight": float(contrib[name].iloc[0]),
        })
    # term-frequency adjustments (a common name agreeing counts for less), as the pipeline adds them
    from .classify import term_frequency_adjustments

    lv = pd.DataFrame({k: [v] for k, v in levels.items()}, dtype=np.int8)
    tf = term_frequency_adjustments(result.records, pd.DataFrame({"left": [i], "right": [j]}), lv,
                                    result.config.comparisons, model)
    for col in tf.columns:
        name = col[len("tf_"):]
        cols = [c for c in by_name[name].columns if c in recs.columns][:1]
        rows.append({
            "comparison": col, "columns": ", ".join(cols),
            "value_l": _joined(recs.iloc[0], cols), "value_r": _joined(recs.iloc[1], cols),
            "level": levels[name], "label": "term frequency of the agreeing value",
            "m": np.nan, "u": np.nan, "weight": float(tf[col].iloc[0]),
        })
    contrib = pd.concat([contrib, tf], axis=1)
    prior = float(model.prior_weight_)
    total = float(contrib.to_numpy().sum(axis=1)[0] + prior)  # as the pipeline adds them
    empty = {"columns": "", "value_l": "", "value_r": "", "level": pd.NA, "label": "", "m": np.nan, "u": np.nan}
    rows.insert(0, {"comparison": PRIOR, **empty, "label": f"lambda = {model.lambda_:.4g}", "weight": prior})
    rows.append({"comparison": TOTAL, **empty, "weight": total})
    out = pd.DataFrame(rows)
    out["level"] = out["level"].astype("Int64")
    out.attrs.update({
        "match_weight": total,
        "match_probability": float(probability_from_weight(total)),
        "threshold": float(result.config.threshold),
        "left": i,
        "right": j,
        "key_l": (str(recs.at[0, "source"]), str(recs.at[0, "record_id"])),
        "key_r": (str(recs.at[1, "source"]), str(recs.at[1, "record_id"])),
    })
    return out


def _joined(row: pd.Series, cols: Sequence[str]) -> str:
    vals = ["" if pd.isna(row[c]) else str(row[c]) for c in cols]
    return " | ".join(vals)


def waterfall_chart(explanation: pd.DataFrame, *, title: str | None = None) -> Figure:
    """Waterfall of an :func:`explain_pair` table: prior, each comparison, then the total.

    Bars step up (green) or down (red) from the running sum; the last bar is the total from
    zero. The dashed line is the match weight of the threshold probability.

    Returns
    -------
    matplotlib.figure.Figure
        One axes with ``n_comparisons + 2`` bars.
    """
    if not {"comparison", "weight", "label"} <= set(explanation.columns):
        raise ValueError(
            "waterfall_chart needs the table of explain_pair (comparison, label, weight); got "
            f"columns {list(explanation.columns)}"
        )
    body = explanation[explanation["comparison"] != TOTAL]
    steps = body["weight"].to_numpy(float)
    ends = np.cumsum(steps)
    starts = ends - steps
    total = float(ends[-1]) if len(ends) else 0.0
    labels = [
        f"{c}\n{lab}" if c != PRIOR else "prior" for c, lab in zip(body["comparison"], body["label"])
    ] + ["total"]
    fig = _figure(figsize=(max(6.0, 1.05 * len(labels)), 4.6))
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    colours = np.where(steps >= 0, "#2e7d32", "#c62828").tolist() + ["#1f4e79"]
    ax.bar(x, np.r_[steps, total], bottom=np.r_[starts, 0.0], color=colours, edgecolor="black", linewidth=0.5)
    for xi, (s, e) in enumerate(zip(np.r_[starts, 0.0], np.r_[ends, total])):
        ax.text(xi, max(s, e) + 0.2, f"{e - s:+.2f}" if xi < len(steps) else f"{total:.2f}",
                ha="center", va="bottom", fontsize=7)
    ax.axhline(0, color="black", linewidth=0.8)
    thr = explanation.attrs.get("threshold")
    if thr is not None and 0 < thr < 1:
        tw = float(np.log2(thr / (1 - thr)))
        ax.axhline(tw, color="grey", linestyle="--", linewidth=1, label=f"threshold {thr:g} = {tw:.2f} bits")
        ax.legend(loc="best", fontsize=8)
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("match weight (bits)")
    ax.set_xlabel("comparison: level")
    p = explanation.attrs.get("match_probability")
    default = "Match weight of the pair"
    if "key_l" in explanation.attrs:
        default = f"{explanation.attrs['key_l']} vs {explanation.attrs['key_r']}"
    if p is not None:
        default += f"\nweight {total:.2f} bits, probability {p:.4f}"
    ax.set_title(title or default, fontsize=9)
    fig.tight_layout()
    return fig


def _figure(*, figsize: tuple[float, float]) -> Figure:
    """A Figure on the Agg canvas, without pyplot (no global state)."""
    require("matplotlib", extra="report", what="drawing charts and the HTML report")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=100)
    FigureCanvasAgg(fig)
    return fig


# ----------------------------------------------------------------------------------------
# one person


@dataclass(frozen=True, kw_only=True)
class PersonExplanation:
    """A registry person: its golden row, its records and the links that joined them."""

    person_id: str
    registry: pd.Series
    records: pd.DataFrame
    links: pd.DataFrame

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        return (
            f"<h4>person {self.person_id}: {len(self.records)} record(s), {len(self.links)} "
            f"accepted link(s)</h4>{self.records.to_html(max_cols=20)}{self.links.to_html(max_cols=20)}"
        )


_PERSON_COLUMNS = ("source", "record_id", "nik", "no_kk", "nama", "jenis_kelamin", "tanggal_lahir",
                   "tempat_lahir", "nama_ibu", "alamat", "kode_wilayah", "hubungan_keluarga")


def explain_person(result: LinkResult, person_id: str) -> PersonExplanation:
    """The records a person is made of and the accepted links between them.

    The links are recomputed from ``result.pairs`` and ``result.probability`` (every
    accepted candidate pair whose two records both belong to the person), in the format of
    ``result.links``; so they are complete even when ``result.links`` was filtered.

    Raises
    ------
    KeyError
        When ``person_id`` is not in the registry.
    """
    pid = result.membership["person_id"].astype(str).to_numpy()
    rows = np.flatnonzero(pid == str(person_id))
    if len(rows) == 0:
        raise KeyError(f"no person {person_id!r} in the registry ({len(result.registry)} persons)")
    cols = [c for c in _PERSON_COLUMNS if c in result.records.columns]
    records = result.records.iloc[rows][cols].copy()
    records.insert(0, "position", rows)
    left = result.pairs["left"].to_numpy()
    right = result.pairs["right"].to_numpy()
    inside = np.isin(left, rows) & np.isin(right, rows) & (result.probability >= result.config.threshold)
    sub = result.pairs[inside].reset_index(drop=True)
    lv = result.levels[inside].reset_index(drop=True)
    contrib = result.model.contributions(lv) if len(lv) else pd.DataFrame(columns=lv.columns)
    links = links_table(result.records, sub, lv, contrib, result.probability[inside], result.weight[inside],
                        threshold=result.config.threshold, review_low=result.config.threshold)
    reg = result.registry.loc[result.registry["person_id"].astype(str) == str(person_id)].iloc[0]
    return PersonExplanation(person_id=str(person_id), registry=reg, records=records.reset_index(drop=True),
                             links=links)


# ----------------------------------------------------------------------------------------
# evaluation against ground truth


def truth_ids(result: LinkResult, truth: pd.DataFrame, *, truth_column: str = "person_id") -> np.ndarray:
    """True person of each row of ``result.records`` (object array; raises if any is missing)."""
    need = {"source", "record_id", truth_column}
    if not need <= set(truth.columns):
        raise ConfigError(f"truth lacks column(s) {sorted(need - set(truth.columns))}; "
                          f"columns present: {list(truth.columns)}")
    key = result.records[["source", "record_id"]].astype(str)
    t = truth[["source", "record_id", truth_column]].astype(str).drop_duplicates(["source", "record_id"])
    ids = key.merge(t, on=["source", "record_id"], how="left")[truth_column]
    if ids.isna().any():
        ex = key[ids.isna().to_numpy()].head(3).to_dict("records")
        raise ConfigError(f"{int(ids.isna().sum())} record(s) have no row in the truth, e.g. {ex}")
    return ids.to_numpy(dtype=object)


@dataclass(frozen=True, kw_only=True)
class ClusterScores:
    """Cluster-level scores.

    ``bcubed_*`` average over records; ``exact_precision`` is the share of predicted persons
    whose records are exactly one true person's, ``exact_recall`` the share of true persons
    reproduced exactly, ``exact_f1`` their harmonic mean.
    """

    bcubed_precision: float
    bcubed_recall: float
    bcubed_f1: float
    exact_precision: float
    exact_recall: float
    exact_f1: float
    predicted_clusters: int
    true_clusters: int
    exact_clusters: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def __str__(self) -> str:
        return (f"B-cubed precision {self.bcubed_precision:.4f}, recall {self.bcubed_recall:.4f}, "
                f"F1 {self.bcubed_f1:.4f}; exact clusters {self.exact_clusters} of "
                f"{self.predicted_clusters} predicted / {self.true_clusters} true "
                f"(precision {self.exact_precision:.4f}, recall {self.exact_recall:.4f})")


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def cluster_scores(membership: pd.DataFrame, truth: pd.DataFrame, *, truth_column: str = "person_id") -> ClusterScores:
    """B-cubed and exact-cluster precision/recall/F1 of a membership against ground truth.

    Examples
    --------
    >>> mem = pd.DataFrame({"source": ["a"] * 4, "record_id": ["1", "2", "3", "4"],
    ...                     "person_id": ["x", "x", "x", "y"]})
    >>> tru = pd.DataFrame({"source": ["a"] * 4, "record_id": ["1", "2", "3", "4"],
    ...                     "person_id": ["p", "p", "q", "q"]})
    >>> s = cluster_scores(mem, tru)
    >>> round(s.bcubed_precision, 4), round(s.bcubed_recall, 4), s.exact_clusters
    (0.6667, 0.75, 0)
    """
    m = membership[["source", "record_id", "person_id"]].astype(str)
    t = truth[["source", "record_id", truth_column]].astype(str).rename(columns={truth_column: "_true"})
    j = m.merge(t, on=["source", "record_id"], how="left", validate="one_to_one")
    if j["_true"].isna().any():
        raise ConfigError(f"{int(j['_true'].isna().sum())} membership record(s) have no row in the truth")
    n = len(j)
    cell = j.groupby(["person_id", "_true"], sort=False).size()
    pred_size = j.groupby("person_id", sort=False).size()
    true_size = j.groupby("_true", sort=False).size()
    c = cell.to_numpy(float)
    a = pred_size.reindex(cell.index.get_level_values(0)).to_numpy(float)
    b = true_size.reindex(cell.index.get_level_values(1)).to_numpy(float)
    bp = float((c * c / a).sum() / n) if n else 1.0
    br = float((c * c / b).sum() / n) if n else 1.0
    exact = int(((c == a) & (c == b)).sum())
    ep = exact / len(pred_size) if len(pred_size) else 1.0
    er = exact / len(true_size) if len(true_size) else 1.0
    return ClusterScores(bcubed_precision=bp, bcubed_recall=br, bcubed_f1=_f1(bp, br),
                         exact_precision=ep, exact_recall=er, exact_f1=_f1(ep, er),
                         predicted_clusters=len(pred_size), true_clusters=len(true_size), exact_clusters=exact)


def threshold_scores(
    result: LinkResult,
    truth: pd.DataFrame,
    *,
    thresholds: Sequence[float] | np.ndarray | None = None,
    level: Literal["pairs", "clusters"] = "pairs",
    truth_column: str = "person_id",
) -> pd.DataFrame:
    """Precision, recall and F1 at each threshold.

    Parameters
    ----------
    level : {"pairs", "clusters"}
        ``"pairs"``: pairwise over the candidate pairs, a pair predicted a match when its
        probability reaches the threshold; recall counts every true pair, so pairs blocking
        missed count as misses. ``"clusters"``: accepted pairs are clustered by connected
        components at each threshold and pairwise scores are computed over the resulting
        persons (what the registry would be at that threshold).

    Returns
    -------
    DataFrame
        ``threshold``, ``precision``, ``recall``, ``f1``, ``predicted``, ``true_positives``,
        ``true_pairs``.
    """
    if level not in ("pairs", "clusters"):
        raise ValueError(f"level must be 'pairs' or 'clusters'; got {level!r}")
    grid = np.asarray(thresholds if thresholds is not None else np.round(np.linspace(0.05, 0.95, 19), 2), float)
    tid = truth_ids(result, truth, truth_column=truth_column)
    codes = pd.factorize(tid)[0]
    left = result.pairs["left"].to_numpy()
    right = result.pairs["right"].to_numpy()
    prob = np.asarray(result.probability, float)
    n_true = int((np.bincount(codes).astype(np.int64) * (np.bincount(codes) - 1) // 2).sum())
    rows = []
    if level == "pairs":
        same = codes[left] == codes[right]
        for t in grid:
            acc = prob >= t
            tp, pp = int((acc & same).sum()), int(acc.sum())
            rows.append((t, tp, pp))
    else:
        mem = result.membership[["source", "record_id"]].copy()
        tr = pd.DataFrame({"source": mem["source"].astype(str), "record_id": mem["record_id"].astype(str),
                           "person_id": tid})
        for t in grid:
            acc = prob >= t
            lab = connected_components(len(result.records), left[acc], right[acc])
            m = mem.assign(person_id=np.asarray(lab).astype(str))
            s = pairwise_scores(m, tr)
            rows.append((t, s.true_positives, s.predicted_pairs))
    out = pd.DataFrame(rows, columns=["threshold", "true_positives", "predicted"])
    out["true_pairs"] = n_true
    out["precision"] = np.where(out["predicted"] > 0, out["true_positives"] / out["predicted"].clip(lower=1), 1.0)
    out["recall"] = out["true_positives"] / n_true if n_true else 1.0
    out["f1"] = [_f1(p, r) for p, r in zip(out["precision"], out["recall"])]
    out.attrs["level"] = level
    return out[["threshold", "precision", "recall", "f1", "predicted", "true_positives", "true_pairs"]]


def worst_errors(result: LinkResult, truth: pd.DataFrame, *, n: int = 10, truth_column: str = "person_id") -> pd.DataFrame:
    """The errors closest to the threshold, for a reviewer to look at first.

    - ``false merge``: accepted links (probability >= threshold) between records of different
      true persons that ended in one person, weakest first. Every wrongly merged person
      reached through links has at least one such link.
    - ``missed link``: candidate pairs of one true person that scored below the threshold
      and whose records ended in different persons (not rescued by another path), strongest
      first.

    Returns
    -------
    DataFrame
        Up to ``n`` rows of each kind: ``kind``, both records' keys and names, their
        predicted and true persons, ``match_probability``, ``match_weight``, ``left`` and
        ``right`` positions (for :func:`explain_pair`). ``attrs["counts"]`` gives the total
        number of each kind, and ``attrs["not_blocked"]`` the true pairs blocking never made.
    """
    tid = truth_ids(result, truth, truth_column=truth_column)
    pid = result.membership["person_id"].astype(str).to_numpy()
    left = result.pairs["left"].to_numpy()
    right = result.pairs["right"].to_numpy()
    prob = np.asarray(result.probability, float)
    thr = result.config.threshold
    same_true = tid[left] == tid[right]
    same_pred = pid[left] == pid[right]
    fm = np.flatnonzero((prob >= thr) & ~same_true & same_pred)
    fm = fm[np.argsort(prob[fm], kind="stable")]
    ml = np.flatnonzero((prob < thr) & same_true & ~same_pred)
    ml = ml[np.argsort(-prob[ml], kind="stable")]
    codes = pd.factorize(tid)[0]
    cnt = np.bincount(codes).astype(np.int64)
    not_blocked = int((cnt * (cnt - 1) // 2).sum()) - int(same_true.sum())
    recs = result.records
    name = recs["nama"].astype("string").to_numpy(dtype=object) if "nama" in recs.columns else np.full(len(recs), None)

    def table(ix: np.ndarray, kind: str) -> pd.DataFrame:
        ix = ix[:n]
        lo, hi = left[ix], right[ix]
        return pd.DataFrame({
            "kind": kind,
            "source_l": recs["source"].to_numpy()[lo], "record_id_l": recs["record_id"].to_numpy()[lo],
            "source_r": recs["source"].to_numpy()[hi], "record_id_r": recs["record_id"].to_numpy()[hi],
            "nama_l": name[lo], "nama_r": name[hi],
            "match_probability": prob[ix], "match_weight": np.asarray(result.weight)[ix],
            "person_l": pid[lo], "person_r": pid[hi], "true_l": tid[lo], "true_r": tid[hi],
            "left": lo, "right": hi,
        })

    out = pd.concat([table(fm, "false merge"), table(ml, "missed link")], ignore_index=True)
    out.attrs["counts"] = {"false merge": len(fm), "missed link": len(ml)}
    out.attrs["not_blocked"] = not_blocked
    return out
