"""Registry stage: clean records + person IDs -> registry, membership, households, links.

Golden values are chosen per field by *survivorship*. Every rule first prefers usable values
(a credible NIK over a merely valid one over any other, a valid KK number, a real birth date
over a placeholder); then each field follows its rule:

``"priority"`` (default)
    the source's rank for that field (lower wins), then, for the identity fields
    (:data:`IDENTITY_FIELDS`), a source holding one record per person (the civil registry),
    then the most frequent value, then the most complete (longest) one;
``"most_recent"`` (default for :data:`ADDRESS_FIELDS`)
    the record with the latest extract date (``as_of``) first, undated records last, then
    as ``"priority"``; without any date it is ``"priority"``;
``"most_frequent"``
    the value most records of the person agree on, then as ``"priority"``;
``"most_complete"``
    the longest value, then as ``"priority"``.

Remaining ties go to the smallest ``(source, record_id)``, so results are deterministic.
Each golden field comes with the source and record it was taken from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .cluster import credible_nik
from .schema import GOLDEN_FIELDS, MEMBERSHIP_COLUMNS

__all__ = [
    "ADDRESS_FIELDS",
    "DEFAULT_SURVIVORSHIP",
    "IDENTITY_FIELDS",
    "REGISTRY_FIELDS",
    "SURVIVORSHIP_RULES",
    "golden_records",
    "households_table",
    "links_table",
    "membership_table",
]

#: Golden fields of the registry: the schema's plus the relation to the family head.
REGISTRY_FIELDS: tuple[str, ...] = GOLDEN_FIELDS + ("hubungan_keluarga",)
#: Fields a one-record-per-person source (the civil registry) is trusted first for.
IDENTITY_FIELDS: tuple[str, ...] = ("nik", "no_kk", "nama", "jenis_kelamin", "tanggal_lahir", "tempat_lahir",
                                    "nama_ibu")
#: Fields where the most recent extract wins by default (people move; registries lag).
ADDRESS_FIELDS: tuple[str, ...] = ("alamat", "rt", "rw", "kode_wilayah")
#: The survivorship rules a field can follow.
SURVIVORSHIP_RULES: tuple[str, ...] = ("priority", "most_recent", "most_frequent", "most_complete")
#: Rule of each field when ``survivorship`` does not name it (any other field: ``"priority"``).
DEFAULT_SURVIVORSHIP: Mapping[str, str] = {f: "most_recent" for f in ADDRESS_FIELDS}

_FLAG_COLUMNS = ("n_records", "sources", "n_valid_nik", "conflicting_nik", "conflicting_sex",
                 "conflicting_birth_date")


def membership_table(records: pd.DataFrame, person_id: np.ndarray, match_probability: np.ndarray) -> pd.DataFrame:
    """One row per input record: ``source, record_id, person_id, match_probability``."""
    out = pd.DataFrame({
        "source": records["source"].astype("string").to_numpy(),
        "record_id": records["record_id"].astype("string").to_numpy(),
        "person_id": pd.array(person_id, dtype="string"),
        "match_probability": np.asarray(match_probability, float),
    })
    return out[list(MEMBERSHIP_COLUMNS)]


# ----------------------------------------------------------------------------------------
# vectorised helpers: everything works on integer codes, no per-person Python


_StringDType = getattr(np.dtypes, "StringDType", None)


def _argsort_strings(values: np.ndarray) -> np.ndarray:
    """Stable argsort of an object array of str (numpy's StringDType when available: ~3x faster)."""
    if _StringDType is not None:
        return np.argsort(values.astype(_StringDType()), kind="stable")
    return np.argsort(values, kind="stable")


def _sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the sorted distinct values (object array of str) and those values."""
    codes, uniq = pd.factorize(values)
    uniq = np.asarray(uniq, dtype=object)
    order = _argsort_strings(uniq)
    rank = np.empty(len(uniq), np.int64)
    rank[order] = np.arange(len(uniq))
    return rank[codes], uniq[order]


def _string(records: pd.DataFrame, col: str) -> pd.Series:
    if col in records.columns:
        return records[col].astype("string").reset_index(drop=True)
    return pd.Series(pd.NA, index=range(len(records)), dtype="string")


def _groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group code of each int64 key and the size of each group (hashing, no sort)."""
    codes, _ = pd.factorize(key)
    return codes, np.bincount(codes)


def _n_distinct(pcode: np.ndarray, vcode: np.ndarray, keep: np.ndarray, n_persons: int) -> np.ndarray:
    """Distinct values (codes >= 0 where ``keep``) per person."""
    sel = keep & (vcode >= 0)
    if not sel.any():
        return np.zeros(n_persons, np.int64)
    k = pd.unique(pcode[sel].astype(np.int64) * (int(vcode.max()) + 1) + vcode[sel])
    return np.bincount(k // (int(vcode.max()) + 1), minlength=n_persons).astype(np.int64)


def _startswith(s: pd.Series, prefix: str) -> np.ndarray:
    """``s.str.startswith(prefix)`` (missing: False), evaluated once per distinct value."""
    codes, uniq = pd.factorize(s)
    hit = np.array([str(u).startswith(prefix) for u in uniq] + [False], bool)
    return hit[codes]


def _quality(records: pd.DataFrame, field: str) -> np.ndarray:
    """Usability of each record's value of ``field``: 0 best."""
    n = len(records)
    if field == "nik" and "nik_valid" in records.columns:
        valid = records["nik_valid"].fillna(False).astype(bool).to_numpy()
        return np.where(credible_nik(records), 0, np.where(valid, 1, 2))
    if field == "no_kk" and "kk_valid" in records.columns:
        return np.where(records["kk_valid"].fillna(False).astype(bool).to_numpy(), 0, 1)
    if field == "tanggal_lahir" and "tanggal_lahir_status" in records.columns:
        st = _string(records, "tanggal_lahir_status")
        return np.where(st.eq("ok").fillna(False).to_numpy(bool), 0, np.where(_startswith(st, "placeholder"), 1, 2))
    return np.zeros(n, np.int64)


def _days(values: pd.Series, what: str) -> np.ndarray:
    """ISO dates -> days since 1970 (float, NaN when missing), parsed once per distinct value."""
    codes, uniq = pd.factorize(values)
    if len(uniq) == 0:
        return np.full(len(values), np.nan)
    parsed = pd.to_datetime(pd.Series(uniq, dtype="string"), format="%Y-%m-%d", errors="coerce")
    bad = [str(u) for u, p in zip(uniq, parsed) if pd.isna(p)]
    if bad:
        raise ValueError(f"{what} must be ISO dates (YYYY-MM-DD); got {bad[:5]}")
    days = (parsed - pd.Timestamp("1970-01-01")).dt.days.to_numpy(float)
    return np.where(codes >= 0, days[np.maximum(codes, 0)], np.nan)


def _as_of_days(records: pd.DataFrame, scode: np.ndarray, snames: np.ndarray,
                as_of: Mapping[str, str] | None) -> np.ndarray:
    """Extract date of each record: its own ``as_of`` column, else its source's date."""
    n = len(records)
    by_source = np.full(len(snames), np.nan)
    if as_of:
        d = _days(pd.Series([as_of[s] for s in snames if s in as_of], dtype="string"), "as_of")
        known = [i for i, s in enumerate(snames) if s in as_of]
        by_source[known] = d
    out = by_source[scode] if n else np.zeros(0)
    if "as_of" in records.columns:
        own = _days(_string(records, "as_of"), "the records' as_of column")
        out = np.where(np.isnan(own), out, own)
    return out


def golden_records(
    records: pd.DataFrame,
    person_id: np.ndarray,
    *,
    priorities: Mapping[str, Mapping[str, int]] | None = None,
    single_record_sources: Sequence[str] = (),
    as_of: Mapping[str, str] | None = None,
    survivorship: Mapping[str, str] | None = None,
    fields: Sequence[str] = REGISTRY_FIELDS,
) -> pd.DataFrame:
    """One row per person with golden values and their provenance.

    Parameters
    ----------
    records : DataFrame
        Clean records (``source``, ``record_id`` and the golden fields; missing fields are
        simply left empty). An optional ``as_of`` column (ISO date) dates each record.
    person_id : array of str
        Person of each record.
    priorities : mapping, optional
        ``{source: {field: rank, "*": default rank}}``; lower rank wins (default 100).
    single_record_sources : sequence of str
        Sources holding one record per person (the civil registry): first among equal
        priorities for :data:`IDENTITY_FIELDS`.
    as_of : mapping of str to str, optional
        ``{source: ISO date of its extract}`` for records without their own ``as_of``.
    survivorship : mapping of str to str, optional
        ``{field: rule}`` with a rule of :data:`SURVIVORSHIP_RULES`; fields not named follow
        :data:`DEFAULT_SURVIVORSHIP` (``"most_recent"`` for the address fields), else
        ``"priority"``.
    fields : sequence of str
        Golden fields to choose.

    Returns
    -------
    DataFrame
        ``person_id``; for each field ``f``: ``f``, ``f_source``, ``f_record_id``; then
        ``n_records``, ``sources`` (sorted, ``;``-joined), ``n_valid_nik``,
        ``conflicting_nik`` (bool: more than one distinct valid NIK), ``conflicting_sex``,
        ``conflicting_birth_date`` (more than one distinct birth date that is not a
        placeholder). Sorted by ``person_id``.

    Examples
    --------
    >>> recs = pd.DataFrame({"source": ["dtks", "siak"], "record_id": ["9", "1"],
    ...                      "nama": ["BUDI SANTOSO", "BUDI"], "alamat": ["JL BARU 9", "JL LAMA 1"]})
    >>> g = golden_records(recs, np.array(["P", "P"]), single_record_sources=["siak"],
    ...                    as_of={"siak": "2019-01-01", "dtks": "2023-06-30"})
    >>> g[["nama", "nama_source", "alamat", "alamat_source", "sources"]].values.tolist()
    [['BUDI', 'siak', 'JL BARU 9', 'dtks', 'dtks;siak']]
    """
    rules = {**DEFAULT_SURVIVORSHIP, **dict(survivorship or {})}
    bad = {f: r for f, r in (survivorship or {}).items() if r not in SURVIVORSHIP_RULES}
    if bad:
        raise ValueError(f"survivorship rules must be one of {', '.join(SURVIVORSHIP_RULES)}; got {bad}")
    unknown = sorted(set(survivorship or {}) - set(fields))
    if unknown:
        raise ValueError(f"survivorship names unknown field(s) {unknown}; fields: {', '.join(fields)}")
    person_id = np.asarray(person_id, dtype=object)
    if len(person_id) != len(records):
        raise ValueError(f"person_id has {len(person_id)} entries for {len(records)} records")
    n = len(records)
    pcode, persons = _sorted_codes(pd.Series(person_id, dtype=object).astype(str).to_numpy(dtype=object))
    n_p = len(persons)
    src = _string(records, "source")
    rid = _string(records, "record_id")
    scode, snames = _sorted_codes(src.to_numpy(dtype=object))
    # one sort for every field: rows grouped by person; each field then picks its row per
    # person by filtering candidates key by key (segment minima), no sort per field
    perm = np.argsort(pcode, kind="stable")
    pc_s = pcode[perm]
    starts = np.flatnonzero(np.r_[True, pc_s[1:] != pc_s[:-1]]) if n else np.zeros(0, np.int64)
    sizes = np.diff(np.r_[starts, n])
    # fixed tie-break: rank of (source, record_id)
    by_rid = _argsort_strings(rid.to_numpy(dtype=object))
    tb = np.empty(n, np.int64)
    tb[by_rid[np.argsort(scode[by_rid], kind="stable")]] = np.arange(n)
    civil = np.isin(snames, list(single_record_sources))
    not_civil = (~civil[scode]).astype(np.int64) if n else np.zeros(0, np.int64)
    recency = _as_of_days(records, scode, snames, as_of)
    recent_key = np.where(np.isnan(recency), np.inf, -recency)
    src_arr, rid_arr = src.array, rid.array
    zeros = np.zeros(n, np.int64)

    def pick(cand: np.ndarray, keys: list) -> np.ndarray:
        """Row of each person minimising ``keys`` (lexicographically) among ``cand``; -1: none.

        A key may be a function of the rows still undecided (persons with several candidates
        left), so that costly keys are computed for those rows only.
        """
        cand = cand[perm].copy()
        pos = np.full(n_p, -1, np.int64)
        if not cand.any():
            return pos
        for key in keys + [tb]:
            if callable(key):
                left = np.add.reduceat(cand.astype(np.int64), starts)
                undecided = np.zeros(n, bool)
                undecided[perm] = np.repeat(left > 1, sizes)
                key = key(undecided)
            k = np.where(cand, key[perm].astype(float), np.inf)
            best = np.minimum.reduceat(k, starts)
            cand &= k == np.repeat(best, sizes)
        pos[pc_s[cand]] = perm[cand]
        return pos

    cols: dict[str, object] = {"person_id": persons}
    vcodes: dict[str, np.ndarray] = {}
    for field in fields:
        if field not in records.columns:
            empty = pd.array([pd.NA] * n_p, dtype="string")
            cols[field], cols[f"{field}_source"], cols[f"{field}_record_id"] = empty, empty, empty.copy()
            continue
        col = records[field]
        if col.dtype == object:
            col = col.astype("string")
        elif isinstance(col.dtype, np.dtype):
            col = col.convert_dtypes()
        vcode, uniq = pd.factorize(col)
        vcodes[field] = vcode
        ok = vcode >= 0
        if ok.any():

            def neg_freq(rows: np.ndarray, vcode: np.ndarray = vcode, ok: np.ndarray = ok, n_v: int = len(uniq)) -> np.ndarray:
                """Minus how many records of the person hold the same value (on ``rows``)."""
                out = np.zeros(n, np.int64)
                sel = rows & ok
                g, cnt = _groups(pcode[sel].astype(np.int64) * n_v + vcode[sel])
                out[sel] = -cnt[g]
                return out

            neg_len = np.r_[-pd.Series(uniq).astype(str).str.len().to_numpy(np.int64), 0][vcode]
            prio = np.full(len(snames), 100, np.int64)
            for i, s in enumerate(snames):
                p_s = (priorities or {}).get(s, {})
                prio[i] = int(p_s.get(field, p_s.get("*", 100)))
            prio_r = prio[scode]
            civ = not_civil if field in IDENTITY_FIELDS else zeros
            rule = rules.get(field, "priority")
            if rule == "priority":
                keys = [prio_r, civ, neg_freq, neg_len]
            elif rule == "most_recent":
                keys = [recent_key, prio_r, civ, neg_freq, neg_len]
            elif rule == "most_frequent":
                keys = [neg_freq, prio_r, civ, neg_len]
            else:  # most_complete
                keys = [neg_len, prio_r, civ, neg_freq]
            pos = pick(ok, [_quality(records, field)] + keys)
        else:
            pos = np.full(n_p, -1, np.int64)
        cols[field] = col.array.take(pos, allow_fill=True)
        cols[f"{field}_source"] = src_arr.take(pos, allow_fill=True)
        cols[f"{field}_record_id"] = rid_arr.take(pos, allow_fill=True)

    # record counts, sources (one bit per source; each distinct mask joined once)
    cols["n_records"] = np.bincount(pcode, minlength=n_p).astype(np.int64)
    if len(snames) <= 62:
        by_p = np.zeros(n_p, np.int64)
        np.bitwise_or.at(by_p, pcode, np.left_shift(1, scode.astype(np.int64)))
        masks, inv = np.unique(by_p, return_inverse=True)
        names = np.array([";".join(snames[[(int(m) >> i) & 1 == 1 for i in range(len(snames))]]) for m in masks],
                         dtype=object)
        cols["sources"] = names[inv.reshape(-1)]
    else:
        pairs = pd.DataFrame({"p": pcode, "s": snames[scode]}).drop_duplicates().sort_values(["p", "s"])
        cols["sources"] = pairs.groupby("p")["s"].agg(";".join).reindex(range(n_p)).to_numpy(dtype=object)

    # quality flags
    def distinct(field: str, keep: np.ndarray | None = None) -> np.ndarray:
        if field not in records.columns:
            return np.zeros(n_p, np.int64)
        vcode = vcodes.get(field)
        if vcode is None:
            vcode = pd.factorize(records[field])[0]
        return _n_distinct(pcode, vcode, np.ones(n, bool) if keep is None else keep, n_p)

    valid_nik = records["nik_valid"].fillna(False).astype(bool).to_numpy() if "nik_valid" in records.columns else None
    real_date = ~_startswith(_string(records, "tanggal_lahir_status"), "placeholder")
    cols["n_valid_nik"] = distinct("nik", valid_nik) if valid_nik is not None else np.zeros(n_p, np.int64)
    cols["conflicting_nik"] = cols["n_valid_nik"] > 1
    cols["conflicting_sex"] = distinct("jenis_kelamin") > 1
    cols["conflicting_birth_date"] = distinct("tanggal_lahir", real_date) > 1
    out = pd.DataFrame(cols)
    out["sources"] = out["sources"].astype(object)
    return out


def households_table(registry: pd.DataFrame, records: pd.DataFrame, person_id: np.ndarray) -> pd.DataFrame:
    """Households from family-card numbers: one row per (household, member).

    A person belongs to the household of their golden ``no_kk`` when it is a structurally
    valid KK number. People without one (homeless, ship crews, no KK recorded) stay in the
    registry without a household.

    Returns
    -------
    DataFrame
        ``household_id`` (the KK number), ``person_id``, ``hubungan_keluarga``, ``nama``,
        ``n_members``; sorted by household then relation (head first) then person.
    """
    kk = registry["no_kk"].astype("string")
    keep = kk.notna().to_numpy(bool)
    if "kk_valid" in records.columns:
        valid = records["kk_valid"].fillna(False).astype(bool).to_numpy()
        valid_kk = pd.unique(records["no_kk"].astype("string").to_numpy()[valid])
        keep &= kk.isin(valid_kk).to_numpy(bool)
    h = registry.loc[keep, ["no_kk", "person_id", "hubungan_keluarga", "nama"]]
    h = h.rename(columns={"no_kk": "household_id"}).reset_index(drop=True)
    hcode, _ = _sorted_codes(h["household_id"].to_numpy(dtype=object))
    pcode, _ = _sorted_codes(h["person_id"].astype(str).to_numpy(dtype=object))
    head = np.where(h["hubungan_keluarga"].astype("string").eq("KEPALA").fillna(False).to_numpy(dtype=bool), 0, 1)
    h["n_members"] = np.bincount(hcode, minlength=hcode.max() + 1 if len(hcode) else 0)[hcode].astype(np.int64)
    order = np.lexsort((pcode, head, hcode))
    return h.iloc[order].reset_index(drop=True)


def links_table(
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    levels: pd.DataFrame,
    contributions: pd.DataFrame,
    probability: np.ndarray,
    weight: np.ndarray,
    *,
    threshold: float,
    review_low: float,
) -> pd.DataFrame:
    """Accepted and near-threshold pairs with score, levels and per-comparison weights."""
    probability = np.asarray(probability, float)
    keep = np.flatnonzero(probability >= review_low)
    keep = keep[np.argsort(-probability[keep], kind="stable")]  # strongest first, ties in pair order
    left = pairs["left"].to_numpy()[keep]
    right = pairs["right"].to_numpy()[keep]
    src = records["source"].to_numpy()
    rid = records["record_id"].to_numpy()
    out = pd.DataFrame({
        "source_l": src[left],
        "record_id_l": rid[left],
        "source_r": src[right],
        "record_id_r": rid[right],
        "match_probability": probability[keep],
        "match_weight": np.asarray(weight, float)[keep],
        "accepted": probability[keep] >= threshold,
    })
    for c in levels.columns:
        out[f"level_{c}"] = levels[c].to_numpy()[keep]
    for c in contributions.columns:
        out[f"weight_{c}"] = contributions[c].to_numpy()[keep]
    return out
