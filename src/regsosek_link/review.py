"""Clerical review: near-threshold pairs out to CSV/Excel, reviewers' decisions back in.

:func:`review_queue` lays each uncertain pair out side by side (the main fields of both
records, the match probability and every comparison's contribution) with an empty
``decision`` column; :func:`export_review` writes it as CSV or Excel. Reviewers fill in
``match`` or ``non-match``; :func:`read_decisions` validates the file and says which rows
are bad; :func:`decision_pairs` turns decisions into must-link / cannot-link row positions
that the cluster stage honours (:func:`regsosek_link.cluster.constrained_clusters`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._optional import require
from .errors import ConfigError, Problem
from .outputs import _write_atomic, neutralise_formulas, restore_formulas

__all__ = [
    "DECISION_COLUMNS",
    "REVIEW_FIELDS",
    "ambiguity_line",
    "decision_pairs",
    "export_review",
    "held_table",
    "read_decisions",
    "review_queue",
]

#: Record fields shown side by side (``<field>_l`` / ``<field>_r``).
REVIEW_FIELDS: tuple[str, ...] = (
    "nik", "nama", "jenis_kelamin", "tanggal_lahir", "tempat_lahir", "nama_ibu", "no_kk",
    "alamat", "rt", "rw", "kode_wilayah", "hubungan_keluarga",
)

#: Columns of a decisions table.
DECISION_COLUMNS: tuple[str, ...] = ("source_l", "record_id_l", "source_r", "record_id_r", "decision")

_MATCH = {"match", "m", "yes", "y", "1", "ya", "sama", "true"}
_NON_MATCH = {"non-match", "non_match", "nonmatch", "not a match", "no match", "no", "n", "0",
              "tidak", "beda", "false"}


def held_table(records: pd.DataFrame, pairs: pd.DataFrame, probability: np.ndarray,
               held: pd.DataFrame) -> pd.DataFrame:
    """The links a run held back as ambiguous, by record keys: ``source_l, record_id_l,
    source_r, record_id_r, match_probability, reason`` (``held``: ``pair`` positions into
    ``pairs`` and ``reason``, from :func:`regsosek_link.cluster.ambiguous_links`).

    >>> recs = pd.DataFrame({"source": ["a", "b"], "record_id": ["1", "2"]})
    >>> held_table(recs, pd.DataFrame({"left": [0], "right": [1]}), np.array([0.95]),
    ...            pd.DataFrame({"pair": [0], "reason": ["thin records"]})).iloc[0, [0, 3, 5]].tolist()
    ['a', '2', 'thin records']
    """
    at = held["pair"].to_numpy(np.int64)
    left, right = pairs["left"].to_numpy(np.int64)[at], pairs["right"].to_numpy(np.int64)[at]
    # the keys of the few records the held links touch, not of every record
    rows = np.concatenate([left, right])
    src = records["source"].iloc[rows].astype("string").to_numpy(dtype=object)
    rid = records["record_id"].iloc[rows].astype("string").to_numpy(dtype=object)
    n = len(at)
    return pd.DataFrame({
        "source_l": pd.array(src[:n], dtype="string"), "record_id_l": pd.array(rid[:n], dtype="string"),
        "source_r": pd.array(src[n:], dtype="string"), "record_id_r": pd.array(rid[n:], dtype="string"),
        "match_probability": np.asarray(probability, float)[at],
        "reason": pd.array(held["reason"].to_numpy(dtype=object), dtype="string"),
    })


def review_queue(
    links: pd.DataFrame,
    records: pd.DataFrame,
    *,
    low: float,
    high: float,
    fields: Sequence[str] = REVIEW_FIELDS,
    ambiguous: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Pairs with ``low <= match_probability < high``, and the links held back as
    ambiguous, the two records side by side.

    Parameters
    ----------
    links : DataFrame
        ``LinkResult.links`` (``source_l, record_id_l, source_r, record_id_r,
        match_probability, match_weight, weight_*``).
    records : DataFrame
        Clean records holding both sides (``LinkResult.records``).
    low, high : float
        The review band, usually ``config.review_band``.
    ambiguous : DataFrame, optional
        ``LinkResult.ambiguous``: accepted links the run did not merge because they are
        truly ambiguous (a record with two competing candidates that cannot be one person,
        thin records without NIK or real birth date); queued whatever their probability,
        first, each candidate pair of a record next to the other.

    Returns
    -------
    DataFrame
        ``pair`` (1-based), the four keys, ``match_probability``, ``match_weight``, for each
        field ``<field>_l``/``<field>_r``, each comparison's ``weight_*``, then ``reason``
        (``near threshold`` or the ambiguity), empty ``decision`` and ``note`` columns; the
        held links first, then the most uncertain pairs (closest to 0.5).
    """
    p = links["match_probability"].to_numpy(float)
    in_band = (p >= low) & (p < high)
    reason = np.full(len(links), None, dtype=object)
    reason[in_band] = "near threshold"
    if ambiguous is not None and len(ambiguous):
        keys = ["source_l", "record_id_l", "source_r", "record_id_r"]
        k_links = links[keys].astype("string").astype(str).agg("|".join, axis=1).to_numpy()
        held = ambiguous[keys].astype("string").astype(str).agg("|".join, axis=1)
        by_key = pd.Series(ambiguous["reason"].astype(str).to_numpy(), index=held.to_numpy())
        by_key = by_key[~by_key.index.duplicated()]
        hit = pd.Series(k_links).map(by_key).to_numpy(dtype=object)
        is_held = pd.notna(hit)
        reason[is_held] = hit[is_held]
        in_band |= is_held
    q = links.loc[in_band].copy()
    q_reason = reason[in_band]
    fields = [f for f in fields if f in records.columns]
    rec = records[["source", "record_id", *fields]].astype("string")
    out = q[["source_l", "record_id_l", "source_r", "record_id_r", "match_probability", "match_weight"]].astype(
        {"source_l": "string", "record_id_l": "string", "source_r": "string", "record_id_r": "string"})
    for side in ("l", "r"):
        side_rec = rec.rename(columns={c: f"{c}_{side}" for c in rec.columns})
        out = out.merge(side_rec, on=[f"source_{side}", f"record_id_{side}"], how="left")
    ordered = ["source_l", "record_id_l", "source_r", "record_id_r", "match_probability", "match_weight"]
    for f in fields:
        ordered += [f"{f}_l", f"{f}_r"]
    out = out[ordered]
    weights = [c for c in q.columns if c.startswith("weight_")]
    for c in weights:
        out[c] = q[c].to_numpy()
    out["reason"] = pd.array(q_reason, dtype="string")
    out["decision"] = pd.array([pd.NA] * len(out), dtype="string")
    out["note"] = pd.array([pd.NA] * len(out), dtype="string")
    # held links first, a record's competing candidates side by side (by its key), then the
    # band by uncertainty
    near = (q_reason == "near threshold").astype(np.int8)
    anchor = np.minimum(out["source_l"].astype(str) + "|" + out["record_id_l"].astype(str),
                        out["source_r"].astype(str) + "|" + out["record_id_r"].astype(str)).to_numpy()
    anchor = np.where(near == 1, "", anchor)
    order = np.lexsort((np.abs(out["match_probability"].to_numpy() - 0.5), anchor, near))
    out = out.iloc[order].reset_index(drop=True)
    out.insert(0, "pair", np.arange(1, len(out) + 1))
    return out


def ambiguity_line(result: object) -> str:
    """One sentence counting the accepted links held back for clerical review, by reason.

    >>> import pandas as pd
    >>> class R:
    ...     ambiguous = pd.DataFrame({"reason": ["thin records", "competing candidates", "thin records"]})
    >>> ambiguity_line(R())
    'Held for clerical review as ambiguous (not merged): 3 links (thin records 2, competing candidates 1).'
    """
    held = getattr(result, "ambiguous", None)
    if held is None or len(held) == 0:
        return "Held for clerical review as ambiguous (not merged): 0 links."
    counts = held["reason"].astype(str).value_counts()
    return (f"Held for clerical review as ambiguous (not merged): {len(held):,} links ("
            + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + ").")


def export_review(queue: pd.DataFrame, path: str | Path) -> Path:
    """Write a review queue as ``.csv`` or ``.xlsx`` (Excel, via openpyxl) by the suffix.

    Text cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
    ``@``, tab or carriage return) get a leading single quote
    (:func:`regsosek_link.outputs.neutralise_formulas`), and every text cell of the Excel
    file is stored as text, never as a formula; :func:`read_decisions` drops those quotes
    again, so record IDs come back as they were. The file appears under its name only once
    it is whole.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise ConfigError(f"review file {str(path)!r}: use a .csv or .xlsx suffix")
    safe = neutralise_formulas(queue)
    if suffix == ".csv":
        _write_atomic(path, lambda tmp: safe.to_csv(tmp, index=False))
    else:
        _write_atomic(path, lambda tmp: _write_review_xlsx(safe, tmp))
    return path


def _write_review_xlsx(queue: pd.DataFrame, path: str) -> None:
    require("openpyxl", extra="excel", what="writing an .xlsx review file")
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        queue.to_excel(xl, sheet_name="review", index=False)
        ws = xl.sheets["review"]
        ws.freeze_panes = "B2"
        for col in ws.columns:
            for cell in col:
                if cell.data_type == "f":  # openpyxl reads any str starting with "=" as a formula
                    cell.data_type = "s"
            width = max(len(str(c.value)) if c.value is not None else 0 for c in col[:200])
            ws.column_dimensions[col[0].column_letter].width = min(max(width + 2, 8), 40)


def read_decisions(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """Reviewers' decisions from a filled-in review file (CSV/Excel) or DataFrame.

    ``decision`` accepts ``match`` (also yes/y/1/ya/sama) and ``non-match`` (also
    "not a match", no/n/0/tidak/beda), any case; blank rows are undecided and skipped.
    Every bad row is reported at once, by its line in the file. The quote that
    :func:`export_review` put before a text starting with ``=``, ``+``, ``-``, ``@``, tab or
    carriage return is dropped again (:func:`regsosek_link.outputs.restore_formulas`).

    Returns
    -------
    DataFrame
        :data:`DECISION_COLUMNS`, ``decision`` in {"match", "non-match"}.
    """
    where = "decisions"
    if isinstance(source, pd.DataFrame):
        frame = source.astype("string")
        line_offset = 0  # rows are reported 0-based for a DataFrame
    else:
        path = Path(source)
        where = str(path)
        if not path.exists():
            raise ConfigError(f"review file {where!r} does not exist")
        if path.suffix.lower() == ".xlsx":
            require("openpyxl", extra="excel", what="reading an .xlsx review file")
            frame = pd.read_excel(path, dtype=str, engine="openpyxl").astype("string")
        elif path.suffix.lower() == ".csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False).astype("string")
        else:
            raise ConfigError(f"review file {where!r}: use a .csv or .xlsx suffix")
        line_offset = 2  # header is line 1
    missing = [c for c in DECISION_COLUMNS if c not in frame.columns]
    if missing:
        raise ConfigError(Problem(source=None, where=where,
                                  message=f"missing column(s) {missing}; columns present: {list(frame.columns)}"))
    frame = restore_formulas(frame[list(DECISION_COLUMNS)].apply(lambda s: s.str.strip()))
    raw = frame["decision"].fillna("")
    norm = raw.str.lower().str.replace(r"\s+", " ", regex=True)
    decided = norm != ""
    is_match = norm.isin(_MATCH)
    is_non = norm.isin(_NON_MATCH)
    problems: list[Problem] = []
    label = "line" if line_offset else "row"
    for i in np.flatnonzero((decided & ~is_match & ~is_non).to_numpy()):
        problems.append(Problem(source=None, where=f"{where} {label} {i + line_offset}",
                                message=f"{where} {label} {i + line_offset}: decision {raw.iloc[i]!r} is not "
                                "'match' or 'non-match'"))
    keys_missing = frame[["source_l", "record_id_l", "source_r", "record_id_r"]].isna().any(axis=1) | (
        frame[["source_l", "record_id_l", "source_r", "record_id_r"]] == "").any(axis=1)
    for i in np.flatnonzero((decided & keys_missing).to_numpy()):
        problems.append(Problem(source=None, where=f"{where} {label} {i + line_offset}",
                                message=f"{where} {label} {i + line_offset}: a decided row needs source_l, "
                                "record_id_l, source_r and record_id_r"))
    out = frame[decided].copy()
    out["decision"] = np.where(is_match[decided], "match", "non-match")
    # the same pair decided both ways
    a = out["source_l"] + "|" + out["record_id_l"]
    b = out["source_r"] + "|" + out["record_id_r"]
    pair = pd.Series(np.where(a < b, a + "~" + b, b + "~" + a), index=out.index)
    both = out.groupby(pair)["decision"].transform("nunique") > 1
    for i in np.flatnonzero(both.to_numpy()):
        idx = out.index[i]
        problems.append(Problem(source=None, where=f"{where} {label} {idx + line_offset}",
                                message=f"{where} {label} {idx + line_offset}: pair {pair.loc[idx]} is decided "
                                "both 'match' and 'non-match'"))
    if problems:
        raise ConfigError(problems)
    return out.drop_duplicates().reset_index(drop=True)[list(DECISION_COLUMNS)]


def merge_decisions(stored: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``stored`` decisions with ``new`` ones added (both :data:`DECISION_COLUMNS`); a later
    decision on a pair (either side first) replaces an earlier one.

    >>> old = pd.DataFrame([["a", "1", "b", "2", "match"]], columns=list(DECISION_COLUMNS))
    >>> new = pd.DataFrame([["b", "2", "a", "1", "non-match"]], columns=list(DECISION_COLUMNS))
    >>> merge_decisions(old, new)["decision"].tolist()
    ['non-match']
    """
    both = new.copy() if stored.empty else pd.concat([stored.astype("string"), new.astype("string")],
                                                     ignore_index=True)
    a = both["source_l"].astype(str) + "|" + both["record_id_l"].astype(str)
    b = both["source_r"].astype(str) + "|" + both["record_id_r"].astype(str)
    both["_pair"] = np.where(a < b, a + "~" + b, b + "~" + a)
    return both.drop_duplicates("_pair", keep="last").drop(columns="_pair").reset_index(drop=True)


def decision_pairs(records: pd.DataFrame, decisions: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Must-link and cannot-link row positions into ``records`` from decisions.

    Decisions about records not in ``records`` (e.g. a withdrawn batch) are ignored.
    """
    empty = np.zeros((0, 2), np.int64)
    if decisions is None or len(decisions) == 0:
        return empty, empty
    key = records["source"].astype(str) + "|" + records["record_id"].astype(str)
    pos = pd.Series(np.arange(len(records)), index=key.to_numpy())
    pos = pos[~pos.index.duplicated()]
    dl = (decisions["source_l"].astype(str) + "|" + decisions["record_id_l"].astype(str)).map(pos)
    dr = (decisions["source_r"].astype(str) + "|" + decisions["record_id_r"].astype(str)).map(pos)
    ok = (dl.notna() & dr.notna()).to_numpy()
    pairs = np.stack([dl.to_numpy()[ok], dr.to_numpy()[ok]], axis=1).astype(np.int64) if ok.any() else empty
    match = (decisions["decision"].to_numpy() == "match")[ok]
    return pairs[match], pairs[~match]
