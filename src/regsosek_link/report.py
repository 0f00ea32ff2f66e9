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
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import charts
from .evaluate import pairwise_scores
from .explain import cluster_scores, threshold_scores, worst_errors
from .review import ambiguity_line
from .standardise import date_status_counts

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .run import LinkResult

__all__ = ["data_quality", "nik_status_counts", "report_html", "within_source_duplicates", "write_report"]

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
        tab = threshold_scores(result, truth)
        parts.append(_img(charts.precision_recall_chart(result, truth), "precision and recall against threshold"))
        parts.append("<p class='note'>Pairwise over the candidate pairs at each threshold; recall counts "
                     "true pairs blocking missed as misses.</p>")
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
