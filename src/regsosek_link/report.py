"""One self-contained HTML report of a run.

:func:`write_report` writes a single ``.html`` file, with every chart embedded as a base64
PNG and no external resources, that a data engineer can attach to a ticket or an analyst
open offline. Sections: the run in numbers, data quality per source, blocking, the model,
the threshold, clusters, and, when ground truth is given, evaluation.

The report holds no record's identifiers or names unless asked for (``record_level=True``,
which adds the worst errors with their records): block keys are masked
(:func:`regsosek_link.block.mask_key`), every other table is counts and rates.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import charts
from .evaluate import PairwiseScores, pairwise_scores
from .explain import cluster_scores, threshold_scores, truth_ids, worst_errors
from .review import ambiguity_line
from .standardise import date_status_counts

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .run import LinkResult

__all__ = ["ClusteringEffect", "clustering_effect", "data_quality", "nik_status_counts", "report_html",
           "within_source_duplicates", "write_report"]

#: Person-schema fields whose completeness is reported, in this order.
QUALITY_FIELDS = ("nik", "no_kk", "nama", "jenis_kelamin", "tanggal_lahir", "tempat_lahir", "nama_ibu",
                  "alamat", "rt", "rw", "kode_wilayah", "hubungan_keluarga")




def data_quality(result: LinkResult) -> pd.DataFrame:
    """Completeness of each person-schema field per source: share of records with a value.

    Rows are sources, columns ``records`` then one column per field present in the clean
    records (a float in [0, 1]).
    """
    recs = result.records
    fields = [f for f in QUALITY_FIELDS if f in recs.columns]
    filled = pd.DataFrame({f: recs[f].astype("string").fillna("").str.len().to_numpy() > 0 for f in fields})
    filled["source"] = recs["source"].astype(str).to_numpy()
    out = filled.groupby("source", sort=True)[fields].mean()
    out.insert(0, "records", recs.groupby(recs["source"].astype(str), sort=True).size())
    return out


def nik_status_counts(result: LinkResult) -> pd.DataFrame:
    """Records per source and NIK status (``records["nik_status"]``); empty without it."""
    recs = result.records
    if "nik_status" not in recs.columns:
        return pd.DataFrame()
    return pd.crosstab(recs["source"].astype(str), recs["nik_status"].astype("string").fillna("(none)"))


def within_source_duplicates(result: LinkResult) -> pd.DataFrame:
    """Duplicates the run found inside each source.

    Columns: ``records``, ``persons`` (distinct persons among the source's records),
    ``duplicate_records`` (``records - persons``: records that are a second or later record
    of a person in the same source) and ``persons_with_duplicates``.
    """
    m = result.membership[["source", "person_id"]].astype(str)
    per = m.groupby(["source", "person_id"], sort=False).size()
    g = per.groupby(level=0)
    out = pd.DataFrame({"records": g.sum(), "persons": g.size(), "persons_with_duplicates": g.apply(lambda s: int((s > 1).sum()))})
    out["duplicate_records"] = out["records"] - out["persons"]
    return out[["records", "persons", "duplicate_records", "persons_with_duplicates"]].sort_index()


@dataclass(frozen=True, kw_only=True)
class ClusteringEffect:
    """Why pairwise scores differ before and after clustering, at the run's threshold.

    ``pairs`` scores the accepted candidate pairs themselves; ``persons`` scores every pair
    of records the clustering put in one person. ``kept`` accepted pairs are in one person
    after clustering, ``kept_true`` of them true matches.
    """

    threshold: float
    pairs: PairwiseScores
    persons: PairwiseScores
    kept: int
    kept_true: int

    @property
    def implied(self) -> int:
        """Pairs in one person that were not accepted themselves (joined through other records)."""
        return self.persons.predicted_pairs - self.kept

    @property
    def implied_true(self) -> int:
        return self.persons.true_positives - self.kept_true

    @property
    def split(self) -> int:
        """Accepted pairs whose records ended in two persons (held back or kept apart)."""
        return self.pairs.predicted_pairs - self.kept

    @property
    def split_true(self) -> int:
        return self.pairs.true_positives - self.kept_true


def clustering_effect(result: LinkResult, truth: pd.DataFrame, *,
                      truth_column: str = "person_id") -> ClusteringEffect:
    """Pairwise scores of the accepted pairs and of the persons, and the pairs between them.

    Clustering changes which pairs are predicted: two records joined through a third are
    one person although their own pair was not accepted (or never compared), and an
    accepted pair can end in two persons (held back as ambiguous, kept apart by a NIK
    constraint or a reviewer). So one threshold gives two F1 values; this counts the
    difference. Counts only: no pair is listed.

    Parameters
    ----------
    result : LinkResult
    truth : DataFrame
        ``source``, ``record_id`` and the true person in ``truth_column``, for every record.

    Returns
    -------
    ClusteringEffect
    """
    thr = float(result.config.threshold)
    tid = pd.factorize(truth_ids(result, truth, truth_column=truth_column))[0]
    keys = pd.MultiIndex.from_frame(result.membership[["source", "record_id"]].astype(str))
    rows = keys.get_indexer(pd.MultiIndex.from_frame(
        result.records[["source", "record_id"]].astype(str)))
    person = pd.factorize(result.membership["person_id"].astype(str))[0][rows]
    accepted = np.asarray(result.probability, float) >= thr
    left = result.pairs["left"].to_numpy()[accepted]
    right = result.pairs["right"].to_numpy()[accepted]
    true = tid[left] == tid[right]
    together = person[left] == person[right]
    persons = pairwise_scores(result.membership, truth, truth_column=truth_column)
    n_pred, n_tp, n_true = int(accepted.sum()), int(true.sum()), persons.true_pairs
    precision = n_tp / n_pred if n_pred else 1.0
    recall = n_tp / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    pairs = PairwiseScores(precision=precision, recall=recall, f1=f1, true_positives=n_tp,
                           predicted_pairs=n_pred, true_pairs=n_true)
    return ClusteringEffect(threshold=thr, pairs=pairs, persons=persons,
                            kept=int(together.sum()), kept_true=int((together & true).sum()))


def _clustering_effect_html(effect: ClusteringEffect) -> str:
    """The section that explains the two F1 values at one threshold."""
    e = effect
    table = pd.DataFrame({
        "pairs predicted": [e.pairs.predicted_pairs, e.persons.predicted_pairs],
        "correct": [e.pairs.true_positives, e.persons.true_positives],
        "precision": [e.pairs.precision, e.persons.precision],
        "recall": [e.pairs.recall, e.persons.recall],
        "F1": [e.pairs.f1, e.persons.f1],
    }, index=[f"accepted pairs (probability >= {e.threshold:g})", "persons (after clustering)"])
    return (
        "<h3 id='two-f1'>Two F1 values at one threshold</h3>"
        f"<p>At the threshold {e.threshold:g} the accepted pairs themselves score F1 "
        f"<b>{e.pairs.f1:.4f}</b>, the persons made from them F1 <b>{e.persons.f1:.4f}</b> (the "
        "pairwise row above). Both count pairs of records against the same "
        f"{e.persons.true_pairs:,} true pairs; they differ in which pairs are predicted. "
        "Clustering makes every two records of one person a predicted pair, also when their own "
        f"pair was not accepted: <b>{e.implied:,}</b> pairs are joined only through other records "
        "(A&ndash;B and B&ndash;C accepted, so A and C are one person although A&ndash;C scored "
        f"below the threshold or was never a candidate), <b>{e.implied_true:,}</b> of them "
        f"correct. And <b>{e.split:,}</b> accepted pairs end in two persons (held back for review "
        "as ambiguous, or kept apart by a NIK constraint or a reviewer's decision), "
        f"<b>{e.split_true:,}</b> of them true matches.</p>"
        "<p>Correct joined pairs raise recall (blocking and the threshold missed them, the chain "
        "found them); wrong ones lower precision, and fast: one false link between two persons "
        "of <i>a</i> and <i>b</i> records predicts <i>a</i>&times;<i>b</i> wrong pairs. Split "
        "pairs lower recall when true, raise precision when not. The threshold table below "
        "scores pairs; the registry is the persons.</p>"
        + _table(table, digits=5))


# ----------------------------------------------------------------------------------------
# HTML


_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;line-height:1.4;padding:0 1em}
h1{border-bottom:3px solid #1f4e79;padding-bottom:.2em}h2{color:#1f4e79;margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:.85em}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f0f4f8}td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.kpi{display:inline-block;background:#f0f4f8;border-radius:6px;padding:.5em 1em;margin:.3em;min-width:9em}
.kpi b{display:block;font-size:1.4em;color:#1f4e79}.note{color:#666;font-size:.85em}
"""


def _img(fig: Figure, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _table(df: pd.DataFrame, *, index: bool = True, pct: tuple[str, ...] = (), digits: int = 4) -> str:
    df = df.copy()
    for c in df.columns:
        if c in pct:
            df[c] = (df[c] * 100).map(lambda v: f"{v:.1f}%")
        elif pd.api.types.is_float_dtype(df[c]):
            df[c] = df[c].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}g}")
        elif pd.api.types.is_integer_dtype(df[c]):
            df[c] = df[c].map(lambda v: f"{v:,}")
    return df.to_html(index=index, border=0, escape=True)


def _kpi(label: str, value: str) -> str:
    return f'<div class="kpi"><b>{html.escape(value)}</b>{html.escape(label)}</div>'


def report_html(result: LinkResult, *, truth: pd.DataFrame | None = None, title: str = "regsosek_link run report",
                record_level: bool = False) -> str:
    """The report as an HTML string (see :func:`write_report`)."""
    from . import __version__

    cfg = result.config
    thr = float(cfg.threshold)
    prob = np.asarray(result.probability, float)
    accepted = int((prob >= thr).sum())
    review = int(((prob >= cfg.review_band[0]) & (prob < thr)).sum())
    e = html.escape
    parts = [(f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
              f"<style>{_CSS}</style></head><body>"), f"<h1>{e(title)}</h1>",
             (f"<p class='note'>Written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by regsosek_link "
              f"{e(__version__)}; link type {e(cfg.link_type)}, profile {e(cfg.profile)}.</p>")]

    # -- summary
    parts.append("<h2 id='summary'>The run in numbers</h2>")
    parts.append("".join([
        _kpi("input records", f"{len(result.membership):,}"),
        _kpi("sources", f"{result.membership['source'].nunique():,}"),
        _kpi("candidate pairs", f"{len(result.pairs):,}"),
        _kpi("accepted links", f"{accepted:,}"),
        _kpi("persons", f"{len(result.registry):,}"),
        _kpi("households", f"{result.households['household_id'].nunique():,}" if len(result.households) else "0"),
    ]))
    if cfg.report_explorer:
        from .outputs import EXPLORER_FILE

        parts.append(f"<p>Persons, their records, links and weights can be searched in "
                     f"<a href='{EXPLORER_FILE}'>{EXPLORER_FILE}</a>, written beside the run's "
                     "outputs (it holds personal data; this report does not).</p>")
    if result.timings:
        t = pd.DataFrame({"seconds": pd.Series(result.timings)})
        t.loc["total"] = t["seconds"].sum()
        parts.append("<h3>Time per stage</h3>" + _table(t))

    # -- data quality
    parts.append("<h2 id='data-quality'>Data quality per source</h2>")
    dq = data_quality(result)
    parts.append("<h3>Completeness (share of records with a value)</h3>"
                 + _table(dq, pct=tuple(c for c in dq.columns if c != "records")))
    if "tanggal_lahir_status" in result.records.columns:
        parts.append("<h3>Birth dates not read as a plain date (records)</h3>"
                     + _table(date_status_counts(result.records).set_index("source"))
                     + "<p class='note'>partial: only the year (or year and month) known; swapped: read "
                     "in the other day/month order than the source's, the only one that gives a date; "
                     "placeholder: 1 July, 31 December, 1 January or day 15.</p>")
    nik = nik_status_counts(result)
    if len(nik):
        parts.append("<h3>NIK status (records)</h3>" + _table(nik))
    parts.append("<h3>Duplicates found within each source</h3>" + _table(within_source_duplicates(result)))

    # -- blocking
    parts.append("<h2 id='blocking'>Blocking</h2>")
    rep = result.blocking
    if rep is not None:
        rep = rep.copy()
        if "skipped_keys" in rep:  # (an update whose batch held no new record blocked nothing)
            rep["skipped_keys"] = rep["skipped_keys"].map(
                lambda v: "; ".join(v) if isinstance(v, list) else str(v))
        parts.append(_table(rep, index=False))
    parts.append(_img(charts.blocking_chart(result), "pairs per blocking rule"))

    # -- model
    parts.append("<h2 id='model'>The model</h2>")
    parts.append(f"<p>Fellegi-Sunter; lambda (the chance that two records drawn at random are one "
                 f"person) {result.model.lambda_:.4g}, prior weight {result.model.prior_weight_:.3f} bits. "
                 "u is chance agreement measured on random record pairs; m is estimated by EM, one "
                 "session per blocking rule with that rule's own comparisons left out. Names that "
                 "agree exactly also get a term-frequency weight (a common name counts for less).</p>")
    names = {c.name: tuple(c.level_names) for c in cfg.comparisons}
    parts.append(_table(result.model.parameters(names), index=False))
    parts.append(_img(charts.parameters_chart(result), "m, u and weight per comparison level"))
    inverted = result.model.inverted_levels(names) if hasattr(result.model, "inverted_levels") else pd.DataFrame()
    if len(inverted):
        parts.append("<h3>Weights that go the wrong way</h3><p>These levels weigh more than 1 bit less than "
                     "a weaker level of the same comparison: EM may have learned households or places rather "
                     "than persons there, or seen too few pairs at the level.</p>"
                     + _table(inverted, index=False, digits=3))

    # -- threshold
    parts.append("<h2 id='threshold'>Threshold</h2>")
    parts.append(f"<p>Pairs with match probability &ge; <b>{thr:g}</b> (match weight &ge; "
                 f"{np.log2(thr / (1 - thr)):.2f} bits) are accepted: <b>{accepted:,}</b> links. "
                 f"Review band [{cfg.review_band[0]:g}, {thr:g}): <b>{review:,}</b> pairs.</p>")
    parts.append(f"<p>{e(ambiguity_line(result))}</p>")
    parts.append(_img(charts.match_weight_histogram(result), "match weight histogram"))

    # -- clusters
    parts.append("<h2 id='clusters'>Clusters</h2>")
    sizes = result.registry["n_records"].value_counts().sort_index().rename_axis("records per person").to_frame("persons")
    parts.append(_table(sizes))
    parts.append(_img(charts.cluster_size_chart(result), "cluster sizes"))
    parts.append(_img(charts.source_overlap_chart(result), "source overlap"))

    # -- evaluation
    if truth is not None:
        parts.append("<h2 id='evaluation'>Evaluation against the ground truth</h2>")
        pw = pairwise_scores(result.membership, truth)
        cs = cluster_scores(result.membership, truth)
        ev = pd.DataFrame({
            "precision": [pw.precision, cs.bcubed_precision, cs.exact_precision],
            "recall": [pw.recall, cs.bcubed_recall, cs.exact_recall],
            "F1": [pw.f1, cs.bcubed_f1, cs.exact_f1],
        }, index=["pairwise", "B-cubed (per record)", "exact clusters"])
        parts.append(_table(ev, digits=5))
        parts.append(f"<p>{pw.true_positives:,} of {pw.predicted_pairs:,} predicted pairs correct; "
                     f"{pw.true_pairs:,} true pairs. {cs.exact_clusters:,} persons exactly right of "
                     f"{cs.true_clusters:,} true persons.</p>")
        parts.append(_clustering_effect_html(clustering_effect(result, truth)))
        tab = threshold_scores(result, truth)
        parts.append(_img(charts.precision_recall_chart(result, truth), "precision and recall against threshold"))
        parts.append("<p class='note'>Pairwise over the accepted candidate pairs at each "
                     "threshold, before clustering (see above for why the persons score "
                     "otherwise); recall counts true pairs blocking missed as misses.</p>")
        parts.append(_table(tab, index=False, digits=5))
        we = worst_errors(result, truth, n=10)
        counts = we.attrs["counts"]
        parts.append(f"<h3>Worst errors</h3><p>{counts['false merge']:,} accepted links join different true "
                     f"persons into one (weakest first); {counts['missed link']:,} candidate pairs of one true person "
                     f"scored below the threshold and stayed apart (strongest first); "
                     f"{we.attrs['not_blocked']:,} true pairs were never made candidates by blocking.</p>")
        if record_level:
            parts.append(_table(we.drop(columns=["left", "right", "person_r"]).rename(columns={"person_l": "person"}),
                                index=False))
        else:
            parts.append("<p class='note'>The pairs themselves (record IDs, names) are shown only in a report "
                         "written with <code>record_level=True</code>.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result: LinkResult, path: str | Path, *, truth: pd.DataFrame | None = None,
                 title: str = "regsosek_link run report", record_level: bool = False) -> Path:
    """Write one self-contained HTML report of a run.

    Parameters
    ----------
    result : LinkResult
    path : str or Path
        The ``.html`` file to write (folders are created).
    truth : DataFrame, optional
        ``source``, ``record_id``, ``person_id``; adds the evaluation section.
    title : str
        The page's title.
    record_level : bool, default False
        Add tables of records (the worst errors, with record IDs and names). Off by
        default: a report is passed around, and names and identifiers are personal data
        (UU 27/2022).

    Returns
    -------
    Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report_html(result, truth=truth, title=title, record_level=record_level), encoding="utf-8")
    return path
