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

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ._arrays import unique_int
from ._codes import column_codes
from ._threads import map_in_threads
from .cluster import _argsort_strings, _rank_strings, _record_id_rank, _renumber, credible_nik
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
#: Columns whose shared codes (:func:`regsosek_link._codes.column_codes`) this stage reads:
#: the sources, the identity fields (present or not, distinct values per person), the
#: birth-date status and the NIK's embedded date and sex (a credible NIK).
CODED_COLUMNS: tuple[str, ...] = ("source", "record_id", *IDENTITY_FIELDS, "tanggal_lahir_status",
                                  "nik_birth_date", "nik_sex")
#: Fields where the most recent extract wins by default (people move; registries lag).
ADDRESS_FIELDS: tuple[str, ...] = ("alamat", "rt", "rw", "kode_wilayah")
#: The survivorship rules a field can follow.
SURVIVORSHIP_RULES: tuple[str, ...] = ("priority", "most_recent", "most_frequent", "most_complete")
#: Rule of each field when ``survivorship`` does not name it (any other field: ``"priority"``).
DEFAULT_SURVIVORSHIP: Mapping[str, str] = {f: "most_recent" for f in ADDRESS_FIELDS}

#: A survivorship key of ``golden_records``: candidates (positions in its sort) and their
#: persons -> int64, lower wins.
Key = Callable[[np.ndarray, np.ndarray], np.ndarray]

_FLAG_COLUMNS = ("n_records", "sources", "n_valid_nik", "conflicting_nik", "conflicting_sex",
                 "conflicting_birth_date")


def membership_table(records: pd.DataFrame, person_id: np.ndarray, match_probability: np.ndarray) -> pd.DataFrame:
    """One row per input record: ``source, record_id, person_id, match_probability``."""
    out = pd.DataFrame({
        "source": _text(records["source"]),
        "record_id": _text(records["record_id"]),
        "person_id": pd.array(person_id, dtype="string"),
        "match_probability": np.asarray(match_probability, float),
    })
    return out[list(MEMBERSHIP_COLUMNS)]


def _text(values: pd.Series) -> np.ndarray:
    """``values.astype("string").to_numpy()`` (object array, ``pd.NA`` for missing); a
    python-backed ``string`` column's array is copied as it is, without a pass for missing
    values."""
    array = values.array
    if isinstance(array, pd.arrays.StringArray):
        return array._ndarray.copy()
    return values.astype("string").to_numpy()


# ----------------------------------------------------------------------------------------
# vectorised helpers: everything works on integer codes, no per-person Python


def _sorted_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the sorted distinct values (object array of str) and those values."""
    codes, uniq = pd.factorize(values)
    uniq = np.asarray(uniq, dtype=object)
    order = _argsort_strings(uniq)
    rank = np.empty(len(uniq), np.int64)
    rank[order] = np.arange(len(uniq))
    return rank[codes], uniq[order]


def _person_codes(person_id: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_sorted_codes` of the person IDs (object array of ``str``); with the records'
    cluster ``labels`` only the first ID of each cluster is factorised."""
    if labels is None:
        return _sorted_codes(person_id)
    label = _renumber(np.asarray(labels))  # numbered by first record: first records are new maxima
    if len(label) != len(person_id):
        raise ValueError(f"labels has {len(label)} entries for {len(person_id)} records")
    first = np.flatnonzero(np.r_[True, label[1:] > np.maximum.accumulate(label)[:-1]]) if len(label) else label
    ids = person_id[first]  # one per cluster: sorted, equal neighbours are one person
    by_id = _argsort_strings(ids)
    ids = ids[by_id]
    new = np.r_[True, ids[1:] != ids[:-1]] if len(ids) else np.zeros(0, bool)
    code = np.empty(len(ids), np.int64)
    code[by_id] = np.cumsum(new) - 1
    pcode, persons = code[label], ids[new]
    if not (persons[pcode] == person_id).all():
        raise ValueError("labels do not match person_id: records of one label must share their person ID")
    return pcode, persons


def _string(records: pd.DataFrame, col: str) -> pd.Series:
    if col in records.columns:
        return records[col].astype("string").reset_index(drop=True)
    return pd.Series(pd.NA, index=range(len(records)), dtype="string")


def _codes_of(records: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    """Shared codes of a column (-1 missing; all missing when the column is absent)."""
    if col in records.columns:
        return column_codes(records, col)
    return np.full(len(records), -1, np.int64), np.zeros(0, dtype=object)


def _per_value(records: pd.DataFrame, col: str, test: Callable[[str], bool]) -> np.ndarray:
    """``test`` of each record's value of ``col`` (missing: False), evaluated once per
    distinct value."""
    codes, uniq = _codes_of(records, col)
    return np.array([bool(test(u)) for u in uniq] + [False], bool)[codes]


def _present(records: pd.DataFrame, field: str, col: pd.Series) -> np.ndarray:
    """``col.notna()`` of the column ``field`` (``col``: its values as ``string`` or a
    numeric extension type). A python-backed ``string`` column is read from its shared codes
    (present where coded; only the uncoded rows, missing or blank, are checked) when it is
    an identity field, whose codes the comparisons have computed already: no pass over every
    value. (Other fields are not coded by the run: factorising them would cost more.)"""
    array = col.array
    if field not in IDENTITY_FIELDS or not isinstance(array, pd.arrays.StringArray) or array is not records[field].array:
        return col.notna().to_numpy(bool)
    ok = column_codes(records, field)[0] >= 0
    uncoded = np.flatnonzero(~ok)
    ok[uncoded] = pd.notna(array._ndarray[uncoded])
    return ok


def _groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group code of each int64 key and the size of each group (hashing, no sort)."""
    codes, _ = pd.factorize(key)
    return codes, np.bincount(codes)


def _n_distinct(pcode: np.ndarray, vcode: np.ndarray, keep: np.ndarray, n_persons: int) -> np.ndarray:
    """Distinct values (codes >= 0 where ``keep``) per person: 0 or 1 where the person's
    smallest and largest code agree; counted exactly for the other persons only."""
    sel = keep & (vcode >= 0)
    p, v = pcode[sel], vcode[sel]
    lo = np.full(n_persons, np.iinfo(np.int64).max, np.int64)
    hi = np.full(n_persons, -1, np.int64)
    np.minimum.at(lo, p, v)
    np.maximum.at(hi, p, v)
    out = (hi >= 0).astype(np.int64)
    several = lo < hi
    if several.any():
        m = several[p]
        k = unique_int(p[m] * (int(v.max()) + 1) + v[m]) // (int(v.max()) + 1)
        out += np.bincount(k, minlength=n_persons) - several
    return out


def _quality(records: pd.DataFrame, field: str) -> np.ndarray | None:
    """Usability of each record's value of ``field``: 0 best (``None``: all equal)."""
    if field == "nik" and "nik_valid" in records.columns:
        valid = records["nik_valid"].fillna(False).astype(bool).to_numpy()
        return np.where(credible_nik(records), 0, np.where(valid, 1, 2))
    if field == "no_kk" and "kk_valid" in records.columns:
        return np.where(records["kk_valid"].fillna(False).astype(bool).to_numpy(), 0, 1)
    if field == "tanggal_lahir" and "tanggal_lahir_status" in records.columns:
        ok = _per_value(records, "tanggal_lahir_status", lambda u: u == "ok")
        placeholder = _per_value(records, "tanggal_lahir_status", lambda u: u.startswith("placeholder"))
        return np.where(ok, 0, np.where(placeholder, 1, 2))
    return None


def _dense_rank(values: np.ndarray) -> np.ndarray:
    """Rank 0..k-1 of each value among the distinct values (ties share a rank)."""
    return np.unique(values, return_inverse=True)[1].reshape(-1).astype(np.int64)


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
    labels: np.ndarray | None = None,
    workers: int = 1,
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
    labels : array of int, optional
        The cluster label of each record that ``person_id`` was made from (records of one
        label share their ID, as :func:`regsosek_link.cluster.cluster_records` and
        :func:`regsosek_link.cluster.person_ids_from_records` give them): the persons are
        then told apart by one ID per cluster instead of factorising every record's ID.
        Checked against ``person_id``.
    workers : int
        Threads (-1: one per core) choosing the fields' values side by side; the result is
        the same.

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
    pcode, persons = _person_codes(pd.Series(person_id, dtype=object).astype(str).to_numpy(dtype=object), labels)
    n_p = len(persons)
    scode, snames = _codes_of(records, "source")
    by_name = _argsort_strings(snames)
    snames = snames[by_name]
    rank = np.empty(len(by_name), np.int64)
    rank[by_name] = np.arange(len(by_name))
    scode = np.where(scode >= 0, np.r_[rank, -1][scode], -1)
    # One sort for every field: rows by person, then by (source, record_id), the final
    # tie-break. Each field keeps, key by key, its candidates with the smallest key per
    # person; the first candidate left is the pick.
    tie = scode * n + _record_id_rank(records)
    if n and n_p * (len(snames) + 1) * n < 2**62:
        perm = np.argsort(pcode * ((len(snames) + 1) * n) + tie)
    else:
        perm = np.lexsort((tie, pcode))
    pc_s = pcode[perm]
    civil = np.isin(snames, list(single_record_sources))
    recency = _as_of_days(records, scode, snames, as_of)
    recent = None if np.isnan(recency).all() else _dense_rank(np.where(np.isnan(recency), np.inf, -recency))

    scode_s = scode[perm]

    def pick(ok_s: np.ndarray, keys: list[Key | None]) -> np.ndarray:
        """Row of each person minimising ``keys`` (lexicographically) among the rows with a
        value (``ok_s``, in ``perm`` order); -1: none. A key maps candidates (positions in
        ``perm``) and their persons to int64; it is computed only for the candidates of
        persons that still have several. ``None`` keys are skipped (all equal)."""
        cand = np.flatnonzero(ok_s)
        p = pc_s[cand]
        n_with = int(np.count_nonzero(p[1:] != p[:-1])) + 1 if len(p) else 0
        for i, key in enumerate(k for k in keys if k is not None):
            if len(cand) == n_with:  # one candidate per person left
                break
            # the first key sees every candidate; later ones only the still tied persons'
            tied = np.bincount(p, minlength=n_p)[p] > 1 if i else slice(None)
            k = key(cand[tied], p[tied])
            best = np.full(n_p, np.iinfo(np.int64).max, np.int64)
            np.minimum.at(best, p[tied], k)
            keep = np.ones(len(cand), bool)
            keep[tied] = k == best[p[tied]]
            cand, p = cand[keep], p[keep]
        pos = np.full(n_p, -1, np.int64)
        first = np.r_[True, p[1:] != p[:-1]] if len(p) else np.zeros(0, bool)
        pos[p[first]] = perm[cand[first]]
        return pos

    def per_row(values: np.ndarray | None) -> Key | None:
        return None if values is None else lambda cand, p: values[perm[cand]]

    def per_source(table: np.ndarray) -> Key:
        return lambda cand, p: table[scode_s[cand]]

    # Value keys look at the values of the candidates (or of the tied persons) only: no
    # factorisation of a whole column for a few tied persons.
    def longest(values: pd.api.extensions.ExtensionArray) -> Key:
        """The longest value (as text) first."""
        return lambda cand, p: -pd.Series(values.take(perm[cand])).astype(str).str.len().to_numpy(np.int64)

    def most_frequent(values: pd.api.extensions.ExtensionArray, ok_s: np.ndarray) -> Key:
        """The value most records of the person hold first."""
        def key(cand: np.ndarray, p: np.ndarray) -> np.ndarray:
            persons = np.zeros(n_p, bool)
            persons[p] = True
            rows = np.flatnonzero(persons[pc_s] & ok_s)  # every record with a value of those persons
            v, uniq = pd.factorize(values.take(perm[rows]))
            g, size = _groups(pc_s[rows] * len(uniq) + v)
            return -size[g[np.searchsorted(rows, cand)]]
        return key

    recent_key = per_row(recent)
    src_arr, rid_arr = _string(records, "source").array, _string(records, "record_id").array

    def golden(field: str) -> dict[str, object]:
        """The golden value of ``field`` for every person, with its source and record."""
        if field not in records.columns:
            return {c: pd.array([pd.NA] * n_p, dtype="string")
                    for c in (field, f"{field}_source", f"{field}_record_id")}
        col = records[field]
        if col.dtype == object:
            col = col.astype("string")
        elif isinstance(col.dtype, np.dtype):
            col = col.convert_dtypes()
        ok_s = _present(records, field, col)[perm]
        prio = np.full(len(snames), 100, np.int64)
        for i, s in enumerate(snames):
            p_s = (priorities or {}).get(s, {})
            prio[i] = int(p_s.get(field, p_s.get("*", 100)))
        civ = ~civil if field in IDENTITY_FIELDS else np.zeros(len(snames), bool)
        by_source = per_source(np.r_[_dense_rank(prio * 2 + civ), 0])  # priority, then the civil registry
        freq, length = most_frequent(col.array, ok_s), longest(col.array)
        rule = rules.get(field, "priority")
        if rule == "priority":
            keys = [by_source, freq, length]
        elif rule == "most_recent":
            keys = [recent_key, by_source, freq, length]
        elif rule == "most_frequent":
            keys = [freq, by_source, length]
        else:  # most_complete
            keys = [length, by_source, freq]
        pos = pick(ok_s, [per_row(_quality(records, field))] + keys)
        return {field: col.array.take(pos, allow_fill=True),
                f"{field}_source": src_arr.take(pos, allow_fill=True),
                f"{field}_record_id": rid_arr.take(pos, allow_fill=True)}

    # Fields are independent: with ``workers`` they are chosen side by side (the sorts,
    # takes and reductions of numpy release the GIL), and put in order.
    cols: dict[str, object] = {"person_id": persons}
    for golden_cols in map_in_threads(golden, fields, workers, "registry"):
        cols.update(golden_cols)

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
        return _n_distinct(pcode, column_codes(records, field)[0], np.ones(n, bool) if keep is None else keep, n_p)

    valid_nik = records["nik_valid"].fillna(False).astype(bool).to_numpy() if "nik_valid" in records.columns else None
    real_date = ~_per_value(records, "tanggal_lahir_status", lambda u: u.startswith("placeholder"))
    cols["n_valid_nik"] = distinct("nik", valid_nik) if valid_nik is not None else np.zeros(n_p, np.int64)
    cols["conflicting_nik"] = cols["n_valid_nik"] > 1
    cols["conflicting_sex"] = distinct("jenis_kelamin") > 1
    cols["conflicting_birth_date"] = distinct("tanggal_lahir", real_date) > 1
    out = pd.DataFrame(cols, copy=False)  # fresh arrays: no copy into 2-D blocks
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
    kk = _text(registry["no_kk"])
    if "kk_valid" in records.columns:
        # each golden KK number's code among the records' values (their shared codes; -1:
        # none or missing), kept where some record holds it as a valid number
        codes, names = _codes_of(records, "no_kk")
        valid = records["kk_valid"].fillna(False).astype(bool).to_numpy()
        is_valid = np.zeros(len(names) + 1, bool)
        is_valid[codes[valid]] = True
        is_valid[-1] = False  # (-1: no code)
        hcode = pd.Index(names, dtype=object).get_indexer(kk) if len(names) else np.full(len(kk), -1)
        rows = np.flatnonzero(is_valid[hcode])
    else:
        hcode, names = pd.factorize(kk)
        rows = np.flatnonzero(hcode >= 0)
    hcode = hcode[rows]
    text_rank = _rank_strings(np.asarray(names, dtype=object))  # households in KK-number order
    pid = registry["person_id"].iloc[rows]
    # a registry from golden_records is sorted by person already, and so are its rows kept
    pcode = np.arange(len(rows)) if pid.is_monotonic_increasing else _rank_strings(pid.astype(str).to_numpy(dtype=object))
    head = registry["hubungan_keluarga"].astype("string").eq("KEPALA").fillna(False).to_numpy(dtype=bool)[rows]
    order = np.lexsort((pcode, np.where(head, 0, 1), text_rank[hcode]))
    sel = rows[order]
    members = np.bincount(hcode, minlength=len(names))[hcode[order]]
    return pd.DataFrame({
        "household_id": registry["no_kk"].array.take(sel),
        "person_id": registry["person_id"].array.take(sel),
        "hubungan_keluarga": registry["hubungan_keluarga"].array.take(sel),
        "nama": registry["nama"].array.take(sel),
        "n_members": members.astype(np.int64),
    }, copy=False)


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
    if len(keep) == len(probability) and (np.diff(keep) == 1).all():
        keep = slice(None)  # already kept and in order (as the pipeline passes them): no copies
    left = pairs["left"].to_numpy()[keep]
    right = pairs["right"].to_numpy()[keep]
    src = np.asarray(records["source"].array)  # the column's values as they are (no NA pass)
    rid = np.asarray(records["record_id"].array)
    cols = {
        "source_l": src[left],
        "record_id_l": rid[left],
        "source_r": src[right],
        "record_id_r": rid[right],
        "match_probability": probability[keep],
        "match_weight": np.asarray(weight, float)[keep],
        "accepted": probability[keep] >= threshold,
    }
    for c in levels.columns:
        cols[f"level_{c}"] = levels[c].to_numpy()[keep]
    for c in contributions.columns:
        cols[f"weight_{c}"] = contributions[c].to_numpy()[keep]
    return pd.DataFrame(cols, copy=False)  # fresh arrays: no copy into 2-D blocks
