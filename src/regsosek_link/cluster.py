"""Cluster stage: scored pairs + records -> a person for every record.

:func:`connected_components` is the plain transitive closure of accepted links (sparse,
scipy). :func:`constrained_clusters` is the same closure under hard constraints: records
that cannot be one person (two credible but different NIKs, two records of a source that
holds one record per person, a pair a reviewer rejected) never end up in one cluster. A
component that would break a constraint is rebuilt by merging its links strongest first and
refusing each merge that would break one, so it is cut at its weakest links.
:func:`person_ids` turns cluster labels into deterministic person IDs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as _cc

from ._arrays import stable_argsort, unique_int
from ._codes import CodeBook, column_codes, with_codes
from ._order import arrow_str as _arrow_str
from ._order import rank_strings as _rank_strings
from ._order import record_id_arrow as _record_id_arrow
from ._order import record_rank
from ._sha1 import sha1_digests

if TYPE_CHECKING:  # (classify and config import this module)
    from .classify import FellegiSunter
    from .config import LinkConfig

__all__ = [
    "ConstraintWarning",
    "ambiguous_links",
    "cannot_link_pairs",
    "cluster_records",
    "connected_components",
    "constrained_clusters",
    "constraint_keys",
    "credible_nik",
    "hash_id",
    "hash_ids",
    "nik_yield_links",
    "person_ids",
    "person_ids_from_records",
    "weakest_link",
    "weigh_constraints",
    "yield_nik_keys",
]


class ConstraintWarning(UserWarning):
    """A must-link (reviewer's match) contradicts a cannot-link (reviewer's non-match)."""


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Renumber labels 0..k-1 in order of each label's first record.

    Labels that are already so numbered (scipy's components are) are recognised in O(n):
    each label is at most one above the largest label before it.

    >>> _renumber(np.array([7, 3, 7, 5])).tolist()
    [0, 1, 0, 2]
    """
    labels = np.asarray(labels)
    if len(labels) == 0:
        return np.zeros(0, np.int64)
    if labels.dtype.kind in "iu":
        labels = labels.astype(np.int64, copy=False)
        top = np.maximum.accumulate(labels)
        if labels[0] == 0 and (np.diff(top) <= 1).all() and labels.min() >= 0:
            return labels
    return pd.factorize(labels)[0].astype(np.int64, copy=False)


def connected_components(n_records: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Cluster label of each of ``n_records`` records given accepted links.

    Labels are numbered in order of each cluster's first record, so they do not depend on
    the order of the links.

    >>> connected_components(5, np.array([0, 3]), np.array([1, 4])).tolist()
    [0, 0, 1, 2, 2]
    """
    left = np.asarray(left, np.int64)
    right = np.asarray(right, np.int64)
    if n_records == 0:
        return np.zeros(0, np.int64)
    g = coo_matrix((np.ones(len(left), np.int8), (left, right)), shape=(n_records, n_records))
    _, labels = _cc(g, directed=False)
    return _renumber(labels)


# ----------------------------------------------------------------------------------------
# constraints derived from the records


def credible_nik(records: pd.DataFrame) -> np.ndarray:
    """Boolean mask: the record's NIK is valid and its embedded birth date and sex agree
    with the record's own birth date and sex (both present).

    Such a NIK is strong evidence of who the record is; two records with different credible
    NIKs are different people. A NIK copied from a family member fails the check (its date
    or sex is someone else's), so it creates no constraint. Values are compared on the
    run's shared column codes (:func:`regsosek_link._codes.column_codes`: stripped, blank is
    missing).

    Encoded records (:mod:`regsosek_link.privacy`) hold no birth date or sex in clear: their
    ``nik_fit`` column says ``credible`` where the data holder found the NIK's to agree.
    """
    if "nik_valid" not in records.columns:
        return np.zeros(len(records), bool)
    ok = records["nik_valid"].fillna(False).astype(bool).to_numpy()
    if "nik_fit" in records.columns and "nik_birth_date" not in records.columns:
        return ok & (records["nik_fit"].astype("string") == "credible").fillna(False).to_numpy(bool)
    return ok & _same_value(records, "nik_birth_date", "tanggal_lahir") & _same_value(records, "nik_sex", "jenis_kelamin")


def _same_value(records: pd.DataFrame, a: str, b: str) -> np.ndarray:
    """Rows where columns ``a`` and ``b`` hold the same value (both present), compared once
    per distinct value of ``a`` on the shared column codes."""
    if a not in records.columns or b not in records.columns:
        return np.zeros(len(records), bool)
    code_a, uniq_a = column_codes(records, a)
    code_b, uniq_b = column_codes(records, b)
    # (no value of b at all: nothing matches; the -1 of an absent column indexes the padding)
    in_b = pd.Index(uniq_b).get_indexer(uniq_a) if len(uniq_b) else np.full(len(uniq_a), -1, np.int64)
    in_b = np.r_[np.where(in_b >= 0, in_b, -2), -2]  # -2: matches no code of b (missing is -1)
    return in_b[code_a] == code_b


def constraint_keys(records: pd.DataFrame, *, single_record_sources: Sequence[str] = ()) -> np.ndarray:
    """Exclusion keys: an ``(n_records, k)`` int64 array, ``-1`` where a record has no key.

    Two records with *different* non-negative codes in the same column must not share a
    cluster. Column 0 codes the credible NIK (:func:`credible_nik`); then one column per
    source in ``single_record_sources`` codes the record itself (its row position), so two
    records of that source always conflict. This represents every derived cannot-link pair
    in O(n) memory instead of enumerating pairs.

    >>> recs = pd.DataFrame({"source": ["siak", "siak", "dtks"], "nik_valid": [False] * 3})
    >>> constraint_keys(recs, single_record_sources=["siak"]).tolist()
    [[-1, 0], [-1, 1], [-1, -1]]
    """
    n = len(records)
    cols = []
    cred = credible_nik(records)
    nik_code = np.full(n, -1, np.int64)
    if cred.any():
        # numbered by first credible record (the shared codes number all records)
        codes = column_codes(records, "nik")[0][cred]
        dense = np.full(len(codes), -1, np.int64)
        dense[codes >= 0] = pd.factorize(codes[codes >= 0])[0]
        nik_code[cred] = dense
    cols.append(nik_code)
    if single_record_sources:
        scode, snames = column_codes(records, "source")
        pos = np.arange(n, dtype=np.int64)
        for s in single_record_sources:
            cols.append(np.where(np.r_[snames == s, False][scode], pos, -1))
    return np.stack(cols, axis=1)


def merge_near_nik_keys(nik_code: np.ndarray, nik: pd.Series | None, labels: np.ndarray) -> np.ndarray:
    """Give credible NIKs one typo apart the same key inside each cluster of ``labels``.

    A NIK mistyped in one digit (or two adjacent digits swapped) can still be structurally
    valid and agree with its record's birth date and sex: it is then "credible" but it is the
    same identity. Such near-equal NIKs must not make a hard cannot-link; the match score
    decides. Only clusters holding two or more distinct credible NIKs are looked at, and only
    NIK pairs inside one cluster are compared (vectorised on digit matrices).

    >>> codes = np.array([0, 1, 2, -1])
    >>> nik = pd.Series(["3375014508900001", "3375014508900007", "3201010101010001", None])
    >>> merge_near_nik_keys(codes, nik, np.array([0, 0, 0, 0])).tolist()
    [0, 0, 2, -1]
    """
    nik_code = np.asarray(nik_code, np.int64).copy()
    if nik is None or not (nik_code >= 0).any():
        return nik_code
    has = np.flatnonzero(nik_code >= 0)
    code = nik_code[has]
    label = _renumber(labels)[has]
    m = int(code.max()) + 1
    # clusters holding two or more distinct codes: smallest code != largest (O(n), no sort)
    k = int(label.max()) + 1
    lo = np.full(k, m, np.int64)
    hi = np.full(k, -1, np.int64)
    np.minimum.at(lo, label, code)
    np.maximum.at(hi, label, code)
    multi = (lo < hi)[label]
    if not multi.any():
        return nik_code
    pair = unique_int(label[multi] * m + code[multi])  # sorted by cluster, then code
    labels_u, codes_u = pair // m, pair % m
    first_row = np.full(m, len(nik_code), np.int64)
    np.minimum.at(first_row, code, has)
    text = nik.iloc[first_row[codes_u]].astype("string").to_numpy(dtype=object, na_value="")
    d = np.frombuffer(text.astype("S16").tobytes(), np.uint8).reshape(-1, 16).astype(np.int64) - 48
    d = np.clip(d, 0, 9)
    # NIK pairs of a small cluster are compared directly (at most _NEAR_PAIRS_UP_TO - 1 per
    # NIK); a big cluster by masked forms, linear in its NIKs
    start = np.flatnonzero(np.r_[True, labels_u[1:] != labels_u[:-1]])
    size = np.diff(np.r_[start, len(labels_u)])
    small = np.repeat(size <= _NEAR_PAIRS_UP_TO, size)
    a, b = _pairs_within(np.flatnonzero(small), labels_u)
    near = _near_digits(d[a], d[b])
    big = np.flatnonzero(~small)
    fl, fr = _same_masked_form(d[big], labels_u[big])
    near_l = np.concatenate([codes_u[a[near]], codes_u[big[fl]]])
    near_r = np.concatenate([codes_u[b[near]], codes_u[big[fr]]])
    if len(near_l) == 0:
        return nik_code
    graph = coo_matrix((np.ones(len(near_l), np.int8), (near_l, near_r)), shape=(m, m))
    _, comp = _cc(graph, directed=False)
    # representative: the smallest code of each group of near-equal NIKs
    rep = np.full(int(comp.max()) + 1, m, np.int64)
    np.minimum.at(rep, comp, np.arange(m))
    nik_code[has] = rep[comp][code]
    return nik_code


#: Clusters with at most this many distinct credible NIKs compare their NIK pairs directly in
#: :func:`merge_near_nik_keys`; bigger ones go through masked forms (linear in the NIKs).
_NEAR_PAIRS_UP_TO = 32


def _pairs_within(rows: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``(i, j)``, ``i < j``, of ``rows`` (ascending, each cluster contiguous) with
    the same label."""
    a, b = [], []
    for k in range(1, len(rows)):
        same = labels[rows[:-k]] == labels[rows[k:]]
        if not same.any():
            break
        a.append(rows[:-k][same])
        b.append(rows[k:][same])
    if not a:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(a), np.concatenate(b)


def _near_digits(da: np.ndarray, db: np.ndarray) -> np.ndarray:
    """Rows where two digit strings differ in at most one digit or by one swap of adjacent
    digits."""
    diff = da != db
    n_diff = diff.sum(axis=1)
    pos = np.argmax(diff, axis=1)
    nxt = np.minimum(pos + 1, da.shape[1] - 1)
    i = np.arange(len(da))
    swap = (n_diff == 2) & diff[i, nxt] & (da[i, pos] == db[i, nxt]) & (da[i, nxt] == db[i, pos])
    return (n_diff <= 1) | swap


def _same_masked_form(d: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of rows of one label whose digit strings are near (see :func:`_near_digits`),
    found without comparing all pairs: near strings share a masked form, the string with one
    digit blanked (a substitution) or with two adjacent digits put in order (a
    transposition). Each row sharing a form is paired with the smallest row of its group (a
    star per group: the same connected components)."""
    if len(d) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    weights = 11 ** np.arange(d.shape[1] - 1, -1, -1, dtype=np.int64)
    forms = []
    for i in range(d.shape[1]):  # one digit blanked (10 = blank)
        m_ = d.copy()
        m_[:, i] = 10
        forms.append(m_ @ weights)
    for i in range(d.shape[1] - 1):  # digits i, i+1 in order
        m_ = d.copy()
        m_[:, i] = np.minimum(d[:, i], d[:, i + 1])
        m_[:, i + 1] = np.maximum(d[:, i], d[:, i + 1])
        forms.append(m_ @ weights)
    # kind * 11**16 + form < 31 * 11**16 < 2**63; its rank times the labels fits int64 too
    kind_form = np.concatenate([k * 11 ** d.shape[1] + f for k, f in enumerate(forms)])
    kf = np.unique(kind_form, return_inverse=True)[1].reshape(-1)
    label = np.unique(labels, return_inverse=True)[1].reshape(-1)
    in_label = np.tile(label, len(forms)) * (int(kf.max()) + 1) + kf
    group = np.unique(in_label, return_inverse=True)[1].reshape(-1)
    row = np.tile(np.arange(len(d)), len(forms))
    smallest = np.full(int(group.max()) + 1, len(d), np.int64)
    np.minimum.at(smallest, group, row)
    sel = smallest[group] != row
    return smallest[group][sel], row[sel]


def yield_nik_keys(nik_code: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Give the credible NIKs of each yielding link one key: the constraint between them yields.

    ``left``/``right`` are the records of the links allowed to join two different credible
    NIKs (see :func:`nik_yield_links`); NIKs joined through a chain of such links share the
    smallest code. Other NIK codes are returned unchanged, so every other pair of different
    credible NIKs still may not share a cluster.

    >>> yield_nik_keys(np.array([0, 1, 2, -1]), np.array([0]), np.array([1])).tolist()
    [0, 0, 2, -1]
    """
    nik_code = np.asarray(nik_code, np.int64).copy()
    left, right = np.asarray(left, np.int64), np.asarray(right, np.int64)
    if not len(left) or not (nik_code >= 0).any():
        return nik_code
    a, b = nik_code[left], nik_code[right]
    ok = (a >= 0) & (b >= 0) & (a != b)
    if not ok.any():
        return nik_code
    m = int(nik_code.max()) + 1
    _, comp = _cc(coo_matrix((np.ones(int(ok.sum()), np.int8), (a[ok], b[ok])), shape=(m, m)), directed=False)
    rep = np.full(int(comp.max()) + 1, m, np.int64)
    np.minimum.at(rep, comp, np.arange(m))
    has = nik_code >= 0
    nik_code[has] = rep[comp][nik_code[has]]
    return nik_code


def nik_yield_links(nik_level: np.ndarray, near_levels: Sequence[int], other_weight: np.ndarray, *,
                    min_weight: float, against: np.ndarray | None = None) -> np.ndarray:
    """Links across which the credible-different-NIK constraint yields.

    The rule: two records with different credible NIKs may be one person only when (1) their
    NIKs are a *near miss* (``nik_level`` is one of ``near_levels``: a digit, a transposition
    or, in the serial, a shift apart; see
    :attr:`regsosek_link.compare.IdNumberComparison.near_miss_levels`) and (2) every other
    comparison together gives at least ``min_weight`` bits of evidence for one person
    (``other_weight``: the match weight without the NIK's own contribution and without the
    prior) and (3) the person's name does not speak against it (``against``: the name
    agreeing on less than all its tokens -- twins of one card share card, date, mother and
    often a name token). A different KK or kecamatan does not stop it: people move.
    A NIK mistyped in the serial of a record with the same full name, birth date and
    village yields; two people born on one day in neighbouring kecamatans (NIKs a digit apart
    in the region part) whose names differ do not, whatever the NIK level weighs. NIKs
    further apart never yield.

    >>> nik_yield_links(np.array([2, 2, 0, 6, 2]), [2, 3, 4], np.array([25.0, 8.0, 30.0, 30.0, 26.0]),
    ...                 min_weight=20, against=np.array([False, False, False, False, True])).tolist()
    [True, False, False, False, False]
    """
    out = np.isin(np.asarray(nik_level), list(near_levels)) & (np.asarray(other_weight, float) >= min_weight)
    return out if against is None else out & ~np.asarray(against, bool)


def ambiguous_links(
    records: pd.DataFrame,
    left: np.ndarray,
    right: np.ndarray,
    weight: np.ndarray,
    *,
    accepted: np.ndarray,
    keys: np.ndarray,
    margin: float,
    threshold_weight: float,
) -> pd.DataFrame:
    """Accepted links too ambiguous to merge silently, with the reason.

    Two kinds, both vectorised over the accepted links:

    - ``competing candidates``: a record links to two records that cannot be one person
      (different credible NIKs, or two records of a one-record-per-person source: different
      codes in some column of ``keys``) with match weights less than ``margin`` bits apart.
      The data cannot say which of the two it is; its links within ``margin`` bits of its
      best are held.
    - ``thin records``: neither record has a valid NIK and at least one has no real birth
      date (a placeholder such as 1 July, a year only, or none), and the link's weight is
      less than ``margin`` bits above the threshold's: a shared name and village are
      all the evidence, which two namesakes of one village also have.

    Parameters
    ----------
    records : DataFrame
        Clean records (``nik_valid``, ``tanggal_lahir_status`` are used when present).
    left, right, weight : arrays
        Scored pairs (row positions) and their match weight (bits).
    accepted : array of bool
        The pairs at or above the threshold.
    keys : (n_records, k) int array
        Exclusion keys (:func:`constraint_keys`).
    margin : float
        Bits within which two candidates count as equally likely, and above the threshold
        within which a thin link counts as weak.
    threshold_weight : float
        The match weight of the threshold probability.

    Returns
    -------
    DataFrame
        ``pair`` (index into the scored pairs), ``reason``; one row per held link.

    Examples
    --------
    >>> recs = pd.DataFrame({"source": ["dtks", "siak", "siak"], "nik_valid": [False] * 3,
    ...                      "tanggal_lahir_status": ["placeholder_1jul", "ok", "ok"]})
    >>> keys = constraint_keys(recs, single_record_sources=["siak"])
    >>> ambiguous_links(recs, np.array([0, 0]), np.array([1, 2]), np.array([14.0, 13.0]),
    ...                 accepted=np.array([True, True]), keys=keys, margin=3, threshold_weight=3.2)
    ...                 # doctest: +NORMALIZE_WHITESPACE
       pair               reason
    0     0  competing candidates
    1     1  competing candidates
    """
    left, right = np.asarray(left), np.asarray(right)
    weight = np.asarray(weight, float)
    acc = np.flatnonzero(accepted)
    competing = np.zeros(0, np.int64)
    if len(acc):
        # both directions of each accepted link (record, partner, weight, pair), grouped by
        # record (one stable sort); a record's best link is its first of the highest weight.
        # Positions as int32 where they fit: these arrays are twice the accepted links.
        n_acc = len(acc)
        small = max(len(records), len(left)) < 2**31
        pos = np.int32 if small else np.int64
        ends = (left[acc].astype(pos), right[acc].astype(pos))
        rec = np.concatenate(ends)
        order = stable_argsort(rec)
        rec = rec[order]
        side = order >= n_acc
        k = (order - np.where(side, n_acc, 0)).astype(pos)
        del order
        pair = acc.astype(pos)[k]
        par = np.where(side, ends[0][k], ends[1][k])
        del side, k, ends
        w = weight[pair]
        start = np.flatnonzero(np.r_[True, rec[1:] != rec[:-1]])
        best_w = np.repeat(np.maximum.reduceat(w, start), np.diff(np.r_[start, len(rec)]))
        near_best = w >= best_w - margin
        del w, best_w, start
        # a record is torn when two of its near-best partners hold different codes in some
        # key column: a min and a max per record and column over the near-best links, so no
        # tie between equally strong links (whose order follows the input's) decides it
        nb = np.flatnonzero(near_best)  # (every record's best link is in it: no empty group)
        rec_nb = rec[nb]
        nb_start = np.flatnonzero(np.r_[True, rec_nb[1:] != rec_nb[:-1]])
        par_nb = par[nb]
        del par, nb
        torn_group = np.zeros(len(nb_start), bool)
        for j in range(keys.shape[1]):  # (a column at a time: a copy of one column, not of all)
            c = keys[par_nb, j]
            lo = np.minimum.reduceat(np.where(c >= 0, c, np.iinfo(c.dtype).max), nb_start)
            torn_group |= np.maximum.reduceat(c, nb_start) > lo  # (a -1 is below any code)
        # a record with competing candidates: every link of it as close as theirs is held
        torn = np.zeros(len(records), bool)
        torn[rec_nb[nb_start[torn_group]]] = True
        competing = np.unique(pair[torn[rec] & near_best]).astype(np.int64)
    thin = np.zeros(0, np.int64)
    if "nik_valid" in records.columns and "tanggal_lahir_status" in records.columns and len(acc):
        no_nik = ~records["nik_valid"].fillna(False).astype(bool).to_numpy()
        cand = acc[no_nik[left[acc]] & no_nik[right[acc]] & (weight[acc] < threshold_weight + margin)]
        # the birth-date status of the records those few links touch, not of every record
        rows = np.unique(np.concatenate([left[cand], right[cand]]))
        ok = (records["tanggal_lahir_status"].iloc[rows].astype("string") == "ok").fillna(False).to_numpy(bool)
        weak_date = np.zeros(len(records), bool)
        weak_date[rows[~ok]] = True
        thin = np.setdiff1d(cand[weak_date[left[cand]] | weak_date[right[cand]]], competing)
    pairs = np.concatenate([competing, thin]).astype(np.int64)
    reason = np.repeat(np.array(["competing candidates", "thin records"], object), [len(competing), len(thin)])
    order = np.argsort(pairs, kind="stable")
    return pd.DataFrame({"pair": pairs[order], "reason": pd.array(reason[order], dtype="string")})


@with_codes
def weigh_constraints(
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    levels: pd.DataFrame,
    prob: np.ndarray,
    weight: np.ndarray,
    model: FellegiSunter,
    cfg: LinkConfig,
    *,
    single_record_sources: Sequence[str] = (),
    offset: int = 0,
    codes: CodeBook | None = None,
) -> tuple[np.ndarray | None, pd.DataFrame]:
    """The run's yielding NIK links (:func:`nik_yield_links`) and its ambiguous links
    (:func:`ambiguous_links`), from the scored pairs, the trained model and the config's
    ``nik_constraint``, ``nik_yield_weight``, ``ambiguity`` and ``ambiguity_margin``.

    Returns a boolean per link (``offset`` earlier links, e.g. kept from a previous run,
    never yield) or None, and the held links (``pair`` indexes ``pairs``, ``reason``).
    """
    from .compare import IdNumberComparison, NameComparison  # (compare does not import this module)

    accepted = prob >= cfg.threshold
    yields = None
    # the comparison with near-miss levels (an IdNumberComparison, or any with the attribute);
    # else the NIK comparison of a config written before them, whose levels do not say which
    # different NIKs are a near miss: its accepted pairs of different NIKs are compared again
    # with near-miss levels (without, the constraint held across every typo, which such a
    # config's rule let through: recall 0.986 -> 0.962 on the generator's data)
    nik: Any = next((c for c in cfg.comparisons if getattr(c, "near_miss_levels", None)), None)
    probe = None
    if nik is None:
        nik = next((c for c in cfg.comparisons if isinstance(c, IdNumberComparison) and c.column == "nik"
                    and 0 < c.serial_digits and c.length - c.serial_digits > 6 and c.length <= 16), None)
        probe = None if nik is None else dataclasses.replace(nik, near_miss=True)
    if cfg.nik_constraint == "evidence" and nik is not None and nik.name in levels.columns:
        nik_level = levels[nik.name].to_numpy()
        if probe is None:
            typo = list(nik.near_miss_levels.values())
            near = np.flatnonzero(accepted & np.isin(nik_level, typo))
            near_level = nik_level[near]
        else:
            typo = list(probe.near_miss_levels.values())
            # (below "exact, but contradicts a record" and "exact": the NIKs differ)
            differ = np.flatnonzero(accepted & (nik_level >= 0)
                                    & (nik_level < len(nik.level_names) - (2 if nik.consistency_columns else 1)))
            again = probe.compute(records, pairs.iloc[differ]) if len(differ) else np.zeros(0, np.int8)
            near, near_level = differ[np.isin(again, typo)], again[np.isin(again, typo)]
        other = np.full(len(near), -np.inf)
        against = np.zeros(len(near), bool)
        if len(near):
            contrib = model.contributions(levels.iloc[near])
            other = weight[near] - model.prior_weight_ - contrib[nik.name].to_numpy()
            for comp in cfg.comparisons:
                # the person's own name (not a mother's) must share all the tokens of the shorter name
                # or be as similar as a typo (JW >= 0.88):
                # twins of one card share the card, the date and the mother, not the name
                if isinstance(comp, NameComparison) and not comp.ignore_when_equal \
                        and comp.name in levels.columns:
                    lvl = levels[comp.name].to_numpy()[near]
                    against |= (lvl >= 0) & (lvl < comp.contained_level)
        yields = np.zeros(offset + len(prob), bool)
        yields[offset + near] = nik_yield_links(near_level, typo, other,
                                                min_weight=cfg.nik_yield_weight, against=against)
    held = pd.DataFrame({"pair": np.zeros(0, np.int64), "reason": pd.array([], dtype="string")})
    if cfg.ambiguity == "review" and accepted.any():
        # candidates conflict as the clustering will see them: NIKs that may be one identity
        # (a yielding near miss, or one typo under "typo") share a key
        keys = constraint_keys(records, single_record_sources=single_record_sources)
        left, right = pairs["left"].to_numpy(np.int64), pairs["right"].to_numpy(np.int64)
        if cfg.nik_constraint == "typo":
            plain = connected_components(len(records), left[accepted], right[accepted])
            keys[:, 0] = merge_near_nik_keys(keys[:, 0], records.get("nik"), plain)
        elif yields is not None:
            y = yields[offset:]
            keys[:, 0] = yield_nik_keys(keys[:, 0], left[y], right[y])
        t = min(max(cfg.threshold, 1e-12), 1 - 1e-12)
        held = ambiguous_links(records, pairs["left"].to_numpy(np.int64), pairs["right"].to_numpy(np.int64),
                               weight, accepted=accepted, keys=keys, margin=cfg.ambiguity_margin,
                               threshold_weight=float(np.log2(t / (1 - t))))
    return yields, held


def cannot_link_pairs(
    records: pd.DataFrame,
    labels: np.ndarray,
    *,
    single_record_sources: Sequence[str] = (),
) -> pd.DataFrame:
    """Derived cannot-link pairs *inside* the clusters of ``labels`` (for inspection).

    Only records of multi-record clusters that hold a key are paired, and only with records
    of their own cluster: all record pairs are never enumerated. Returns ``left, right,
    reason`` (``"different credible NIK"`` or ``"one record per person in <source>"``);
    empty when the clustering honours every derived constraint.
    """
    labels = np.asarray(labels)
    keys = constraint_keys(records, single_record_sources=single_record_sources)
    sizes = np.bincount(_renumber(labels)) if len(labels) else np.zeros(0, int)
    multi = sizes[_renumber(labels)] > 1 if len(labels) else np.zeros(0, bool)
    reasons = ["different credible NIK"] + [f"one record per person in {s}" for s in single_record_sources]
    out = []
    for j, reason in enumerate(reasons):
        has = (keys[:, j] >= 0) & multi
        f = pd.DataFrame({"c": labels[has], "pos": np.flatnonzero(has), "k": keys[has, j]})
        m = f.merge(f, on="c", suffixes=("_l", "_r"))
        m = m[(m["pos_l"] < m["pos_r"]) & (m["k_l"] != m["k_r"])]
        out.append(pd.DataFrame({"left": m["pos_l"].to_numpy(np.int64), "right": m["pos_r"].to_numpy(np.int64),
                                 "reason": reason}))
    res = pd.concat(out, ignore_index=True)
    return res.sort_values(["left", "right"], kind="mergesort").reset_index(drop=True)


# ----------------------------------------------------------------------------------------
# constrained clustering


def _as_pairs(pairs: object, name: str, n_records: int) -> np.ndarray:
    if pairs is None:
        return np.zeros((0, 2), np.int64)
    if isinstance(pairs, pd.DataFrame):
        arr = pairs[["left", "right"]].to_numpy(np.int64)
    else:
        arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if len(arr) and (arr.min() < 0 or arr.max() >= n_records):
        raise ValueError(f"{name} holds row positions outside 0..{n_records - 1}: "
                         f"min {int(arr.min())}, max {int(arr.max())}")
    return arr


def constrained_clusters(
    n_records: int,
    left: np.ndarray,
    right: np.ndarray,
    prob: np.ndarray,
    *,
    threshold: float = 0.0,
    cannot_link: object = None,
    must_link: object = None,
    keys: np.ndarray | None = None,
    rank: np.ndarray | None = None,
) -> np.ndarray:
    """Cluster labels from scored links under hard constraints.

    Parameters
    ----------
    n_records : int
        Number of records; labels are returned for positions ``0..n_records-1``.
    left, right, prob : arrays
        Scored pairs (row positions) and their match probability.
    threshold : float
        Links with ``prob >= threshold`` are candidates for merging.
    cannot_link : (k, 2) array or DataFrame with ``left``/``right``, optional
        Pairs that must end in different clusters (reviewers' non-matches).
    must_link : (k, 2) array or DataFrame, optional
        Pairs merged first, before any scored link (reviewers' matches). They override the
        derived ``keys`` (a reviewer saw both NIKs) but not ``cannot_link``; a must-link
        that contradicts a cannot-link is refused with a :class:`ConstraintWarning`.
    keys : (n_records, k) int array, optional
        Exclusion keys (see :func:`constraint_keys`): no cluster holds two different
        non-negative codes of one column (unless joined by a must-link).
    rank : array of int, optional
        A distinct rank per record that orders links of equal probability (by their
        records' smaller, then larger rank); default the row position.
        :func:`cluster_records` passes the canonical record order
        (:func:`regsosek_link._order.record_rank`), so that its clusters do not depend on
        the order of the rows.

    Returns
    -------
    ndarray of int64
        Labels numbered by first record, like :func:`connected_components`.

    Notes
    -----
    Plain connected components are computed first (vectorised, scipy). Only components that
    break a constraint -- found with vectorised group counts, never by enumerating record
    pairs -- are rebuilt: their links are merged in descending probability (must-links
    first, ties by ``rank``) with a union-find that keeps, per cluster, the set of key codes
    and of cannot-link partner clusters, and a merge that would break a constraint is
    refused. That Python loop touches only the links of violating components:
    O(E_v log E_v + E_v * alpha(n_v) + n_v log n_v * k) for E_v links over n_v records
    (set unions are small-into-large). Without constraints the result equals
    :func:`connected_components`.

    >>> # A-B 0.99, B-C 0.95, A and C cannot be one person: cut the weaker link B-C
    >>> constrained_clusters(3, np.array([0, 1]), np.array([1, 2]), np.array([0.99, 0.95]),
    ...                      cannot_link=[[0, 2]]).tolist()
    [0, 0, 1]
    """
    left = np.asarray(left, np.int64)
    right = np.asarray(right, np.int64)
    prob = np.asarray(prob, float)
    if not (len(left) == len(right) == len(prob)):
        raise ValueError(f"left, right and prob must have one length; got {len(left)}, {len(right)}, {len(prob)}")
    cl = _as_pairs(cannot_link, "cannot_link", n_records)
    ml = _as_pairs(must_link, "must_link", n_records)
    el, er, ep = _merge_candidates(left, right, prob, threshold, ml)
    if rank is not None and len(rank) != n_records:
        raise ValueError(f"rank must have one entry per record ({n_records}); got {len(rank)}")
    return _cut_violations(n_records, el, er, ep, connected_components(n_records, el, er),
                           keys=keys, cl=cl, threshold=threshold,
                           rank=None if rank is None else lambda: np.asarray(rank, np.int64))


def _merge_candidates(left: np.ndarray, right: np.ndarray, prob: np.ndarray, threshold: float,
                      ml: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Links the clustering may merge: must-links (probability inf) then accepted links."""
    acc = prob >= threshold
    return (np.concatenate([ml[:, 0], left[acc]]), np.concatenate([ml[:, 1], right[acc]]),
            np.concatenate([np.full(len(ml), np.inf), prob[acc]]))


def _key_conflicts(comp: np.ndarray, n_comp: int, keys: np.ndarray | None) -> np.ndarray:
    """Components of ``comp`` holding two different codes of one key column (smallest code
    != largest: O(n), no sort)."""
    bad = np.zeros(n_comp, bool)
    if keys is None:
        return bad
    for j in range(keys.shape[1]):
        has = keys[:, j] >= 0
        if not has.any():
            continue
        c, k = comp[has], keys[has, j]
        lo = np.full(n_comp, np.iinfo(np.int64).max, np.int64)
        hi = np.full(n_comp, -1, np.int64)
        np.minimum.at(lo, c, k)
        np.maximum.at(hi, c, k)
        bad |= lo < hi
    return bad


def _cut_violations(n_records: int, el: np.ndarray, er: np.ndarray, ep: np.ndarray, comp: np.ndarray, *,
                    keys: np.ndarray | None, cl: np.ndarray, threshold: float,
                    rank: Callable[[], np.ndarray] | None = None) -> np.ndarray:
    """:func:`constrained_clusters` given its merge candidates and their components ``comp``;
    ``rank()`` gives its ``rank``, asked for only when some component breaks a constraint."""
    if keys is not None:
        keys = np.asarray(keys, np.int64).reshape(n_records, -1)
    if n_records == 0:
        return comp
    n_comp = int(comp.max()) + 1
    bad = _key_conflicts(comp, n_comp, keys)
    if len(cl):
        same = comp[cl[:, 0]] == comp[cl[:, 1]]
        bad[comp[cl[same, 0]]] = True
    if not bad.any():
        return comp

    # rebuild the violating components only
    nodes = np.flatnonzero(bad[comp])
    local = np.full(n_records, -1, np.int64)
    local[nodes] = np.arange(len(nodes))
    inside = bad[comp[el]]
    el, er, ep = local[el[inside]], local[er[inside]], ep[inside]
    # Contract what the greedy pass would merge anyway, before the Python loop: the greedy
    # pass takes links strongest first, so the components of the links at or above a high
    # cut that break no constraint are merged whole before any weaker link is looked at.
    # Each becomes one node (exactly the same result, far fewer nodes and links at scale).
    sub_keys = keys[nodes] if keys is not None else None
    group = _contract_strong(len(nodes), el, er, ep, sub_keys, local, cl, cut=max(threshold, _STRONG))
    n_groups = int(group.max()) + 1 if len(group) else 0
    # the order of the greedy pass is fixed on the original nodes (ties by the records'
    # ranks: which of two equally strong links is cut must not depend on row order), then
    # the links are mapped to groups; links inside a group would merge nothing
    lo, hi = np.minimum(el, er), np.maximum(el, er)
    if rank is None:
        first = np.lexsort((hi, lo, -ep))
    else:
        ranks = rank()[nodes]
        rl, rr = ranks[el], ranks[er]
        first = np.lexsort((np.maximum(rl, rr), np.minimum(rl, rr), -ep))
    gl, gr = group[lo[first]], group[hi[first]]
    keep = gl != gr
    lo, hi, ep = gl[keep], gr[keep], ep[first][keep]
    order = np.arange(len(lo))
    m = n_groups
    parent = list(range(m))
    size = np.bincount(group, minlength=m).tolist()
    # key codes of each group, as {column: set of codes} built when the pass first touches the
    # group: a group starts with at most one code per column (it breaks no constraint)
    first_code = np.full((m, 0 if sub_keys is None else sub_keys.shape[1]), -1, np.int64)
    if sub_keys is not None:
        node, column = np.nonzero(sub_keys >= 0)
        first_code[group[node], column] = sub_keys[node, column]
    first_codes = first_code.tolist()
    keysets: list[dict[int, set[int]] | None] = [None] * m

    def keyset(g: int) -> dict[int, set[int]]:
        d = keysets[g]
        if d is None:
            d = keysets[g] = {c: {v} for c, v in enumerate(first_codes[g]) if v >= 0}
        return d
    partners: list[set[int] | None] = [None] * m
    if len(cl):
        a, b = local[cl[:, 0]], local[cl[:, 1]]
        both = (a >= 0) & (b >= 0)
        a, b = np.where(a >= 0, group[np.maximum(a, 0)], -1), np.where(b >= 0, group[np.maximum(b, 0)], -1)
        for x, y in zip(a[both].tolist(), b[both].tolist()):
            if x == y:
                continue
            for u, v in ((x, y), (y, x)):
                if partners[u] is None:
                    partners[u] = set()
                partners[u].add(v)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def conflict(ka: dict[int, set[int]] | None, kb: dict[int, set[int]] | None) -> bool:
        if not ka or not kb:
            return False
        for col, sa in ka.items():
            sb = kb.get(col)
            if sb is not None and not (sa <= sb or sb <= sa):
                return True
        return False

    for idx in order.tolist():
        x, y, p = int(lo[idx]), int(hi[idx]), ep[idx]
        rx, ry = find(x), find(y)
        if rx == ry:
            continue
        px = partners[rx]
        if px is not None and ry in px:
            if np.isinf(p):
                warnings.warn(
                    f"must-link between records {nodes[x]} and {nodes[y]} contradicts a "
                    "cannot-link between their clusters; the must-link was not applied",
                    ConstraintWarning, stacklevel=2)
            continue
        if not np.isinf(p) and conflict(keyset(rx), keyset(ry)):
            continue
        if size[rx] < size[ry]:
            rx, ry = ry, rx
        parent[ry] = rx
        size[rx] += size[ry]
        kx, ky = keyset(rx), keyset(ry)
        for col, s in ky.items():
            if col in kx:
                kx[col] |= s
            else:
                kx[col] = s
        keysets[ry] = None
        py = partners[ry]
        if py:
            for z in py:
                pz = partners[z]
                assert pz is not None
                pz.discard(ry)
                pz.add(rx)
            if partners[rx] is None:
                partners[rx] = py
            else:
                partners[rx] |= py  # type: ignore[operator]
            partners[ry] = None

    roots = np.fromiter((find(i) for i in range(m)), np.int64, count=m)
    labels = comp.copy()
    labels[nodes] = n_comp + roots[group]
    return _renumber(labels)


#: Links at or above this probability are contracted before the greedy constrained pass
#: wherever their components break no constraint (see :func:`constrained_clusters`).
_STRONG = 0.999


def _contract_strong(m: int, el: np.ndarray, er: np.ndarray, ep: np.ndarray, keys: np.ndarray | None,
                     local: np.ndarray, cl: np.ndarray, *, cut: float) -> np.ndarray:
    """Group id per node: components of the links >= ``cut`` that break no constraint are one
    group each; every other node is a group of its own. Vectorised."""
    strong = ep >= cut
    comp = connected_components(m, el[strong], er[strong])
    n_comp = int(comp.max()) + 1 if m else 0
    bad = _key_conflicts(comp, n_comp, keys)
    if len(cl):
        a, b = local[cl[:, 0]], local[cl[:, 1]]
        both = (a >= 0) & (b >= 0)
        same = comp[a[both]] == comp[b[both]]
        bad[comp[a[both][same]]] = True
    # contracted components keep their component id; the others get one id per node
    single = bad[comp]
    group = np.where(single, n_comp + np.arange(m), comp)
    return _renumber(group)


@with_codes
def cluster_records(
    records: pd.DataFrame,
    left: np.ndarray,
    right: np.ndarray,
    prob: np.ndarray,
    *,
    threshold: float,
    single_record_sources: Sequence[str] = (),
    must_link: object = None,
    cannot_link: object = None,
    constrained: bool = True,
    nik_constraint: str = "typo",
    yield_links: np.ndarray | None = None,
    codes: CodeBook | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The cluster stage on clean records: labels and each record's weakest kept link.

    With ``constrained=True`` (default) the derived constraints (:func:`constraint_keys`)
    and the reviewers' ``must_link``/``cannot_link`` pairs are honoured by
    :func:`constrained_clusters`; with ``False`` it is the plain transitive closure of the
    accepted links and the reviewers' matches. ``match_probability`` of a record is the
    lowest probability among its accepted links that stayed inside its cluster.

    ``nik_constraint`` says when two different credible NIKs may share a cluster:
    ``"strict"`` never; ``"typo"`` when they are one typo apart and end in one plain
    cluster (:func:`merge_near_nik_keys`, the rule before issue 18); ``"evidence"`` only
    across the links flagged in ``yield_links`` (a boolean per pair, see
    :func:`nik_yield_links`: a near miss and strong agreement of every other field).

    Links of equal probability are weighed in the canonical record order (sources by name,
    then record IDs: :func:`regsosek_link._order.record_rank`), so the clusters are the same
    whatever the order of the rows.
    """
    left = np.asarray(left, np.int64)
    right = np.asarray(right, np.int64)
    prob = np.asarray(prob, float)
    n = len(records)
    if constrained:
        cl = _as_pairs(cannot_link, "cannot_link", n)
        ml = _as_pairs(must_link, "must_link", n)
        keys = constraint_keys(records, single_record_sources=single_record_sources)
        acc = prob >= threshold
        plain = connected_components(n, left[acc], right[acc])
        if nik_constraint == "typo":
            keys[:, 0] = merge_near_nik_keys(keys[:, 0], records.get("nik"), plain)
        elif nik_constraint == "evidence" and yield_links is not None:
            yl = np.asarray(yield_links, bool) & acc
            keys[:, 0] = yield_nik_keys(keys[:, 0], left[yl], right[yl])
        elif nik_constraint not in ("evidence", "strict"):
            raise ValueError(f"nik_constraint must be 'evidence', 'typo' or 'strict'; got {nik_constraint!r}")
        el, er, ep = _merge_candidates(left, right, prob, threshold, ml)
        comp = plain if len(ml) == 0 else connected_components(n, el, er)  # same links: same components
        labels = _cut_violations(n, el, er, ep, comp, keys=keys, cl=cl, threshold=threshold,
                                 rank=lambda: record_rank(records))
    else:
        ml = _as_pairs(must_link, "must_link", n)
        acc = prob >= threshold
        labels = connected_components(n, np.concatenate([ml[:, 0], left[acc]]),
                                      np.concatenate([ml[:, 1], right[acc]]))
    kept = np.flatnonzero(prob >= threshold)
    kept = kept[labels[left[kept]] == labels[right[kept]]]
    return labels, weakest_link(n, left[kept], right[kept], prob[kept])


def person_ids(labels: np.ndarray, keys: pd.Series, *, prefix: str = "RP") -> np.ndarray:
    """Deterministic person ID per record: a hash of the smallest record key in its cluster.

    The same records always give the same IDs, whatever their order.

    >>> keys = pd.Series(["siak|1", "dtks|9", "siak|2"])
    >>> ids = person_ids(np.array([0, 0, 1]), keys)
    >>> ids[0] == ids[1] != ids[2]
    True
    """
    key = _arrow_str(pd.Series(keys))
    return _anchored_ids(labels, _rank_strings(key), key.take, prefix)


def person_ids_from_records(records: pd.DataFrame, labels: np.ndarray, *, prefix: str = "RP") -> np.ndarray:
    """:func:`person_ids` with the record keys ``source|record_id`` of ``records``, without
    building a key string per record.

    ``source|record_id`` strings sort as the pairs (``source + "|"``, ``record_id``) do
    when no source name holds a ``|``: one sort of the record IDs and a rank per source.

    >>> recs = pd.DataFrame({"source": ["siak", "dtks", "siak"], "record_id": ["1", "9", "2"]})
    >>> labels = np.array([0, 0, 1])
    >>> keys = pd.Series(["siak|1", "dtks|9", "siak|2"])
    >>> person_ids_from_records(recs, labels).tolist() == person_ids(labels, keys).tolist()
    True
    """
    scode, names = pd.factorize(records["source"].astype(str).to_numpy(dtype=object))  # a few sources
    names = [str(name) for name in names]
    if any("|" in name for name in names):
        return person_ids(labels, records["source"].astype(str) + "|" + records["record_id"].astype(str),
                          prefix=prefix)
    n = len(records)
    by_name = np.argsort(np.array([name + "|" for name in names], dtype=object), kind="stable")
    src_rank = np.empty(len(names), np.int64)
    src_rank[by_name] = np.arange(len(names))
    order = src_rank[scode] * n + _record_id_rank(records)

    def key_of(rows: np.ndarray) -> pa.Array:
        src = pa.array(names, type=pa.large_string()).take(scode[rows])
        return pc.binary_join_element_wise(src, _record_id_arrow(records).take(rows), pa.scalar("|", pa.large_string()))

    return _anchored_ids(labels, order, key_of, prefix)


def _anchored_ids(labels: np.ndarray, order: np.ndarray, key_of: Callable[[np.ndarray], pa.Array],
                  prefix: str) -> np.ndarray:
    """ID of each record: :func:`hash_id` of the key (``key_of(rows)``) of the record of its
    cluster with the smallest ``order`` (int64, distinct per record)."""
    label = _renumber(labels)
    if len(label) == 0:
        return np.zeros(0, dtype=object)
    best = np.full(int(label.max()) + 1, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(best, label, order)
    rows = np.flatnonzero(order == best[label])
    anchor = np.empty(len(best), np.int64)
    anchor[label[rows]] = rows
    return hash_ids(key_of(anchor), prefix=prefix)[label]


@with_codes
def record_id_rank(records: pd.DataFrame, *, codes: CodeBook | None = None) -> np.ndarray:
    """Rank of each record in the canonical record order (sources by name, then record IDs:
    :func:`regsosek_link._order.record_rank`), kept in the run's
    :class:`~regsosek_link._codes.CodeBook`. Within a source it orders the records by
    ``record_id`` (as ``str``), the order the cluster and registry stages break ties by.
    Read-only."""
    return record_rank(records)


_record_id_rank = record_id_rank


def hash_id(key: str, *, prefix: str = "RP") -> str:
    """The person ID derived from an anchor record key (first 16 hex digits of SHA-1).

    >>> hash_id("siak|1")[:3]
    'RP-'
    """
    return f"{prefix}-{hashlib.sha1(key.encode('utf-8')).hexdigest()[:16].upper()}"


# SHA-1 digest of bytes, and the upper-case hex digits of each byte value
_DIGEST = type(hashlib.sha1()).digest
_HEX = np.frombuffer(bytes(range(256)).hex().upper().encode("ascii"), np.uint8).reshape(256, 2)


def hash_ids(keys: Sequence[str] | pa.Array, *, prefix: str = "RP") -> np.ndarray:
    """:func:`hash_id` of each key (``str``, or an Arrow string array without nulls), as an
    object array of ``str``, without a Python frame per key: the digests of an Arrow array
    come from :func:`regsosek_link._sha1.sha1_digests`, of strings from C-level ``map``
    calls, and are written as hex by numpy.

    >>> hash_ids(["siak|1", "dtks|9"]).tolist() == [hash_id("siak|1"), hash_id("dtks|9")]
    True
    >>> hash_ids(pa.array(["siak|1", "dtks|9"])).tolist() == hash_ids(["siak|1", "dtks|9"]).tolist()
    True
    """
    n = len(keys)
    if isinstance(keys, pa.Array):  # (the run's keys: hashed together in numpy, without the GIL)
        digests = sha1_digests(keys)
    else:
        digests = np.frombuffer(b"".join(map(_DIGEST, map(hashlib.sha1, map(str.encode, keys)))), np.uint8)
    head = f"{prefix}-".encode()
    width = len(head) + 16
    text = np.empty((n, width), np.uint8)
    text[:, :len(head)] = np.frombuffer(head, np.uint8)
    text[:, len(head):] = _HEX[digests.reshape(n, 20)[:, :8]].reshape(n, 16)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    ids = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text)])
    return ids.to_numpy(zero_copy_only=False).astype(object, copy=False)


def weakest_link(n_records: int, left: np.ndarray, right: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Per record, the lowest probability among its accepted links (1.0 for singletons).

    >>> weakest_link(3, np.array([0]), np.array([1]), np.array([0.93])).tolist()
    [0.93, 0.93, 1.0]
    """
    out = np.ones(n_records)
    if len(left):
        np.minimum.at(out, np.asarray(left, np.int64), prob)
        np.minimum.at(out, np.asarray(right, np.int64), prob)
    return out


def join_lone_records_of_run(records: pd.DataFrame, left: np.ndarray, right: np.ndarray, prob: np.ndarray,
                             weight: np.ndarray, labels: np.ndarray, weakest: np.ndarray, cfg: Any, *,
                             single_record_sources: Sequence[str], cannot_link: object, rank: np.ndarray,
                             codes: CodeBook | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`join_lone_records` with a run's settings (``cfg``: ``threshold``,
    ``lone_threshold``, ``ambiguity_margin``, ``review_band``), and each joined record's
    weakest link lowered to its joining link: what both engines' cluster stage does after
    :func:`cluster_records`. Nothing joins when ``lone_threshold`` is not below the threshold."""
    if cfg.lone_threshold >= cfg.threshold:
        return labels, weakest
    labels, joined = join_lone_records(
        records, left, right, prob, weight, labels, threshold=cfg.threshold, lone_threshold=cfg.lone_threshold,
        margin=cfg.ambiguity_margin, review_low=cfg.review_band[0], single_record_sources=single_record_sources,
        cannot_link=cannot_link, rank=rank, codes=codes)
    if len(joined):
        weakest = np.minimum(weakest, weakest_link(len(labels), left[joined], right[joined], prob[joined]))
    return labels, weakest


def _thin_links(records: pd.DataFrame, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Links of two records without a valid NIK of which at least one has no real birth date
    (a placeholder, a year only, none): a shared name and village are all their evidence."""
    if "nik_valid" not in records.columns or "tanggal_lahir_status" not in records.columns or not len(a):
        return np.zeros(len(a), bool)
    no_nik = ~records["nik_valid"].fillna(False).astype(bool).to_numpy()
    cand = no_nik[a] & no_nik[b]
    rows = np.unique(np.concatenate([a[cand], b[cand]]))
    ok = (records["tanggal_lahir_status"].iloc[rows].astype("string") == "ok").fillna(False).to_numpy(bool)
    weak_date = np.zeros(len(records), bool)
    weak_date[rows[~ok]] = True
    return cand & (weak_date[a] | weak_date[b])


@with_codes
def join_lone_records(
    records: pd.DataFrame,
    left: np.ndarray,
    right: np.ndarray,
    prob: np.ndarray,
    weight: np.ndarray,
    labels: np.ndarray,
    *,
    threshold: float,
    lone_threshold: float,
    margin: float,
    review_low: float = 0.0,
    single_record_sources: Sequence[str] = (),
    cannot_link: object = None,
    rank: np.ndarray | None = None,
    codes: CodeBook | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Records that no link accepted (lone records) join the person of their one likely
    candidate.

    A pair's weight prices a match against the whole population. A record of a source that
    holds most people once (a census, an insurance list), whose candidates are a single
    person lacking a record of that source, and which is alone once every accepted link is
    clustered, is more likely that person than its pair weight says: the other
    explanation, that it is someone the other sources never saw, competes with no one else.
    Measured on the generator's sources (200,000 people), such records whose one candidate
    is more likely than not (probability 0.5) are that candidate's person nine times in ten.

    A record joins when all hold:

    - none of its links reaches ``threshold`` (held, cut or merged links are left as they are);
    - its best link to any person has probability at least ``lone_threshold``;
    - no link to another person in the review band (``review_low`` and above) is within
      ``margin`` bits of the best;
    - that person holds no record of its source, no derived constraint (a different credible
      NIK, a one-record-per-person source) or reviewer's non-match (``cannot_link``) stands
      against it, and the best link is not thin (both records without a valid NIK and one
      without a real birth date, :func:`ambiguous_links`' thin records);
    - a lone record as that person has chosen it back, and no other joining record of its
      source chooses the same person (the same check of constraints for every record joining
      one person).

    Parameters
    ----------
    records : DataFrame
        Clean records (``source``; ``nik_valid``, ``tanggal_lahir_status`` when present).
    left, right, prob, weight : arrays
        Scored pairs (row positions), their match probability and weight (bits).
    labels : array of int
        The clusters of the accepted links (:func:`cluster_records`).
    threshold, lone_threshold, review_low : float
        Probabilities: the run's threshold, the lone records' and the review band's lower end.
    margin : float
        Bits between the best candidate and any other.
    rank : array of int, optional
        A distinct rank per record (default the row position) that picks among equally
        strong links to one person, so that the result does not depend on the row order.

    Returns
    -------
    (labels, joined)
        The new labels (numbered by first record) and the indexes of the pairs that joined.

    >>> recs = pd.DataFrame({"source": ["siak", "siak", "census", "census"]})
    >>> labels = np.array([0, 0, 1, 2])  # records 0 and 1: one person (links not shown)
    >>> left, right = np.array([2, 3]), np.array([0, 1])
    >>> prob = np.array([0.8, 0.3])
    >>> weight = np.log2(prob / (1 - prob))
    >>> join_lone_records(recs, left, right, prob, weight, labels, threshold=0.9, lone_threshold=0.5,
    ...                   margin=3.0)[0].tolist()
    [0, 0, 0, 1]
    """
    left = np.asarray(left, np.int64)
    right = np.asarray(right, np.int64)
    prob = np.asarray(prob, float)
    weight = np.asarray(weight, float)
    labels = np.asarray(labels, np.int64)
    n = len(labels)
    none = np.zeros(0, np.int64)
    if not len(left):
        return labels, none
    # lone: no link at or above the threshold
    linked = np.zeros(n, bool)
    acc = prob >= threshold
    linked[left[acc]] = True
    linked[right[acc]] = True
    size = np.bincount(labels, minlength=int(labels.max(initial=-1)) + 1)
    lone = ~linked & (size[labels] == 1)
    # links in the review band from a lone record, both ways
    band = (prob >= review_low) & ~acc & (lone[left] | lone[right])
    pair = np.flatnonzero(band)
    a = np.concatenate([left[pair], right[pair]])
    b = np.concatenate([right[pair], left[pair]])
    pair = np.concatenate([pair, pair])
    keep = lone[a]
    a, b, pair = a[keep], b[keep], pair[keep]
    if not len(a):
        return labels, none
    w = weight[pair]
    rk = np.arange(n, dtype=np.int64) if rank is None else np.asarray(rank, np.int64)
    # per lone record and person, the strongest link (ties: the partner of smaller rank);
    # then per lone record its persons strongest first: the best and the runner-up
    c = labels[b]
    order = np.lexsort((rk[b], -w, c, a))
    a, b, c, w, pair = a[order], b[order], c[order], w[order], pair[order]
    sel = np.flatnonzero(np.r_[True, (a[1:] != a[:-1]) | (c[1:] != c[:-1])])
    a, b, c, w, pair = a[sel], b[sel], c[sel], w[sel], pair[sel]
    order = np.lexsort((rk[b], -w, a))
    a, b, c, w, pair = a[order], b[order], c[order], w[order], pair[order]
    idx = np.flatnonzero(np.r_[True, a[1:] != a[:-1]])
    nxt = np.minimum(idx + 1, len(a) - 1)
    has_second = (idx + 1 < len(a)) & (a[nxt] == a[idx])
    w2 = np.where(has_second, w[nxt], -np.inf)
    a, b, c, w, pair = a[idx], b[idx], c[idx], w[idx], pair[idx]
    lone_weight = float(np.log2(lone_threshold / (1 - lone_threshold))) if 0 < lone_threshold < 1 else (
        -np.inf if lone_threshold <= 0 else np.inf)
    ok = (w >= lone_weight) & (w - w2 >= margin)
    # the person holds no record of the lone record's source (read on the members of the
    # chosen persons only)
    scode = column_codes(records, "source")[0].astype(np.int64)
    n_src = int(scode.max(initial=-1)) + 2
    chosen_person = np.zeros(len(size), bool)
    chosen_person[c] = True
    members = np.flatnonzero(chosen_person[labels])
    present = np.unique(labels[members] * n_src + (scode[members] + 1))
    ok &= ~np.isin(c * n_src + (scode[a] + 1), present)
    ok &= ~_thin_links(records, a, b)
    # reviewers' non-matches between the record and the person
    cl = _as_pairs(cannot_link, "cannot_link", n)
    if len(cl):
        against = np.unique(np.r_[cl[:, 0] * n + labels[cl[:, 1]], cl[:, 1] * n + labels[cl[:, 0]]])
        ok &= ~np.isin(a * n + c, against)
    a, b, c, pair = a[ok], b[ok], c[ok], pair[ok]
    # a lone person must choose the record back
    chose = np.full(n, -1, np.int64)
    chose[a] = b
    target_lone = size[c] == 1
    ok = ~target_lone | (chose[b] == a)
    a, b, c, pair = a[ok], b[ok], c[ok], pair[ok]
    # one joining record per source and person, and the constraints over all that join one
    # person (mutual lone pairs: the person is the record with the smaller rank)
    mutual = size[c] == 1
    drop = mutual & (rk[a] > rk[b])
    a, b, c, pair = a[~drop], b[~drop], c[~drop], pair[~drop]
    if not len(a):
        return labels, none
    _, inv, cnt = np.unique(c * n_src + (scode[a] + 1), return_inverse=True, return_counts=True)
    one = cnt[inv] == 1
    a, b, c, pair = a[one], b[one], c[one], pair[one]
    if not len(a):
        return labels, none
    bad = np.zeros(len(size), bool)
    # the derived constraints over each chosen person with the records that join it, on
    # those records alone (the keys compare values within the rows they are given)
    chosen_person[:] = False
    chosen_person[c] = True
    rows = np.union1d(np.flatnonzero(chosen_person[labels]), a)
    keys = constraint_keys(records.iloc[rows], single_record_sources=single_record_sources)
    group = labels[rows]
    group[np.searchsorted(rows, a)] = c  # each joining record inside its person
    for j in range(keys.shape[1]):
        k = keys[:, j]
        has = k >= 0
        if not has.any():
            continue
        lo = np.full(len(bad), np.iinfo(np.int64).max)
        hi = np.full(len(bad), -1)
        np.minimum.at(lo, group[has], k[has])
        np.maximum.at(hi, group[has], k[has])
        bad |= (hi >= 0) & (lo != hi)
    keep = ~bad[c]
    a, pair = a[keep], pair[keep]
    c = c[keep]
    new = labels.copy()
    new[a] = c
    return _renumber(new), np.sort(pair)
