"""Registry stage: clean records + person IDs -> registry, membership, households, links.

Golden values are chosen per field by a *survivorship rule*
(:mod:`regsosek_link.survivorship`): given the field's candidates -- the records with a
value, grouped by person -- it picks one record per person, and the value, its source and its
record ID are taken from that record. Every built-in rule first prefers usable values (a
credible NIK over a merely valid one over any other, a valid KK number, a real birth date over
a placeholder); then:

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

A rule of your own (a :class:`~regsosek_link.survivorship.SurvivorshipRule`) goes through the
same path. Remaining ties go to the smallest ``(source, record_id)``, so results are
deterministic in any row order.
"""

from __future__ import annotations

import functools
import queue
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._arrays import stable_argsort, unique_int
from ._codes import CodeBook, column_codes, per_column, release, with_codes
from ._order import argsort_strings as _argsort_strings
from ._order import arrow_str
from ._threads import background, map_in_threads, n_threads
from .cluster import _rank_strings, _record_id_rank, _renumber, credible_nik
from .schema import MEMBERSHIP_COLUMNS, REGISTRY_FIELDS
from .survivorship import (
    BUILT_IN,
    Candidates,
    SurvivorshipRule,
    _FieldView,
    chosen_rows,
    field_rules,
)

__all__ = [
    "ADDRESS_FIELDS",
    "DEFAULT_SURVIVORSHIP",
    "IDENTITY_FIELDS",
    "REGISTRY_FIELDS",
    "SURVIVORSHIP_RULES",
    "RegistryTables",
    "golden_records",
    "households_table",
    "links_table",
    "membership_table",
    "registry_tables",
]

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
#: The built-in survivorship rules a field can follow, by name (any
#: :class:`~regsosek_link.survivorship.SurvivorshipRule` can be given too).
SURVIVORSHIP_RULES: tuple[str, ...] = tuple(BUILT_IN)
#: Rule of each field when ``survivorship`` does not name it (any other field: ``"priority"``).
DEFAULT_SURVIVORSHIP: Mapping[str, str] = {f: "most_recent" for f in ADDRESS_FIELDS}

_FLAG_COLUMNS = ("n_records", "sources", "n_valid_nik", "conflicting_nik", "conflicting_sex",
                 "conflicting_birth_date")


def membership_table(records: pd.DataFrame, person_id: np.ndarray, match_probability: np.ndarray) -> pd.DataFrame:
    """One row per input record: ``source, record_id, person_id, match_probability``."""
    ids = _text_array(np.asarray(person_id, dtype=object))
    return _membership(records, ids, np.arange(len(records)), match_probability)


def _membership(records: pd.DataFrame, ids: pd.api.extensions.ExtensionArray, person: np.ndarray,
                match_probability: np.ndarray) -> pd.DataFrame:
    """:func:`membership_table` of records whose person IDs are ``ids[person]``."""
    out = pd.DataFrame({
        "source": _take_text(_key_values(records, "source")),
        "record_id": _take_text(_key_values(records, "record_id")),
        "person_id": ids.take(person),
        "match_probability": np.asarray(match_probability, float),
    }, copy=False)
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
# text columns of the output tables
#
# The record keys (sources, record IDs), which every golden field and every link repeats,
# are converted to Arrow once per run; the tables' key columns are ``string`` columns
# backed by Arrow, taken from them (a C++ gather that releases the GIL), which the writers
# hand to Parquet or CSV as they are, without a Python object per cell. The golden values
# stay the records' own Python strings (a gather of pointers): converting them here cost
# the run a quarter of a second at 1M records under the GIL, which only a writer needs
# (:func:`regsosek_link.outputs.write_tables` converts them). Values Arrow cannot hold
# (lone surrogates) stay Python strings.


def _text_array(values: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """An object array of ``str`` (``None``/``pd.NA`` missing) as a ``string`` array, backed
    by Arrow when Arrow can hold every value."""
    try:
        return pd.arrays.ArrowStringArray(pa.array(values, type=pa.large_string(), from_pandas=True))
    except (pa.ArrowException, UnicodeError):  # lone surrogates
        return pd.array(values, dtype="string")


def _take_text(values: pa.Array | pd.api.extensions.ExtensionArray,
               pos: np.ndarray | None = None) -> pd.api.extensions.ExtensionArray:
    """``values.take(pos, allow_fill=True)`` (-1: missing; None: every value): of Arrow
    values a ``string`` array backed by Arrow, of a python-backed ``string`` array one of
    the same kind (sharing its strings); values of another type than text are taken as
    they are."""
    if isinstance(values, pa.DictionaryArray):  # (few distinct values: gather their codes)
        codes = values.indices.to_numpy(zero_copy_only=False)
        if pos is not None:
            codes = codes[np.maximum(pos, 0)]
        return _take_text(values.dictionary, codes if pos is None else np.where(pos < 0, -1, codes))
    if isinstance(values, pa.Array):
        if pos is None:
            return pd.arrays.ArrowStringArray(values)
        missing = pos < 0
        return pd.arrays.ArrowStringArray(values.take(pa.array(pos, mask=missing) if missing.any() else pos))
    if not isinstance(values, pd.arrays.StringArray):
        return values if pos is None else values.take(pos, allow_fill=True)
    taken = values._ndarray.copy() if pos is None else values._ndarray.take(pos)
    if pos is not None and len(pos) and pos.min() < 0:
        taken[pos < 0] = pd.NA
    return values._from_backing_data(taken)


def _source_values(records: pd.DataFrame) -> pa.Array | pd.api.extensions.ExtensionArray:
    """:func:`_key_values` of ``source`` for :func:`_take_text` at chosen rows, dictionary
    encoded (made once per run): a take then gathers small integer codes and copies the
    few source names, instead of reading the text of records spread over the whole array."""
    values = _key_values(records, "source")
    if not isinstance(values, pa.Array):
        return values
    return per_column(records, "source", "arrow_dictionary", lambda _: pc.dictionary_encode(values))


def _key_values(records: pd.DataFrame, column: str) -> pa.Array | pd.api.extensions.ExtensionArray:
    """``records[column]`` (``source`` or ``record_id``) for :func:`_take_text`: one Arrow
    ``large_string`` array, made once per run (the entry of the run's
    :class:`~regsosek_link._codes.CodeBook` that orders the records); a ``string`` array when
    the column is absent (all missing) or holds missing values or values Arrow cannot hold."""
    if column in records.columns and not per_column(records, column, "has_na", lambda c: bool(c.isna().any())):
        try:
            return per_column(records, column, "arrow", arrow_str)
        except (pa.ArrowException, UnicodeError):  # lone surrogates
            pass
    return _string(records, column).array


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


class _Persons(NamedTuple):
    """The persons of clustered records (see :func:`_cluster_persons`)."""

    person_id: np.ndarray  #: each record's ID
    persons: np.ndarray  #: the distinct IDs, sorted
    order: np.ndarray | None  #: ``order[i]``: the cluster whose ID is ``persons[i]``
    merged: np.ndarray | None  #: when clusters share an ID: each record's place in ``persons``
    text: pd.api.extensions.ExtensionArray  #: ``persons`` as a ``string`` array (:func:`_text_array`)

    def places(self, group: np.ndarray) -> np.ndarray:
        """Each record's place in ``persons`` (``group``: the records' clusters)."""
        if self.merged is not None:
            return self.merged
        assert self.order is not None  # (set whenever merged is not)
        place = np.empty(len(self.order), np.int64)
        place[self.order] = np.arange(len(self.order))
        return place[group]


def _cluster_persons(person_id: np.ndarray, group: np.ndarray, *, check: bool = True) -> _Persons:
    """The persons of records told apart by ``group`` (numbered ``0 .. k-1`` by first record,
    as :func:`~regsosek_link.cluster._renumber` gives; records of a group share their
    ``person_id``, an object array of ``str``). Only one ID per group is sorted.

    Groups sharing an ID are one person: then ``order`` is None and ``merged`` says each
    record's person; else ``merged`` is None. ``check``: raise when a record's ID is not its
    group's.

    >>> p = _cluster_persons(np.array(["B", "A", "B"], dtype=object), np.array([0, 1, 0]))
    >>> p.persons.tolist(), p.order.tolist(), p.merged
    (['A', 'B'], [1, 0], None)
    >>> _cluster_persons(np.array(["B", "A", "B"], dtype=object), np.array([0, 1, 2])).merged.tolist()
    [1, 0, 1]
    """
    first = np.flatnonzero(np.r_[True, group[1:] > np.maximum.accumulate(group)[:-1]]) if len(group) else group
    ids = person_id[first]  # one per group
    if check and not (ids[group] == person_id).all():
        raise ValueError("labels do not match person_id: records of one label must share their person ID")
    by_id = _argsort_strings(ids)
    ids = ids[by_id]
    new = np.r_[True, ids[1:] != ids[:-1]] if len(ids) else np.zeros(0, bool)
    if new.all():
        return _Persons(person_id, ids, by_id, None, _text_array(ids))
    code = np.empty(len(ids), np.int64)
    code[by_id] = np.cumsum(new) - 1
    return _Persons(person_id, ids[new], None, code[group], _text_array(ids[new]))


class RegistryTables(NamedTuple):
    """The registry stage's tables (:func:`registry_tables`)."""

    membership: pd.DataFrame
    registry: pd.DataFrame
    households: pd.DataFrame


@with_codes
def registry_tables(
    records: pd.DataFrame,
    labels: np.ndarray,
    weakest: np.ndarray,
    *,
    person_ids: Callable[[], np.ndarray],
    workers: int = 1,
    codes: CodeBook | None = None,
    **golden_options: Any,
) -> RegistryTables:
    """The registry stage: membership, golden records and households of clustered records.

    Parameters
    ----------
    records : DataFrame
        Clean records.
    labels : array of int
        Cluster label of each record.
    weakest : array of float
        Each record's weakest accepted link (its ``match_probability``).
    person_ids : callable
        Gives each record's person ID (records of a cluster share one); called once. With
        more than one worker it runs on a second thread while the golden values are chosen
        by cluster (ID hashing holds the GIL; the picks' sorts and takes release it).
    workers : int
        Threads for choosing golden fields side by side.
    **golden_options
        Survivorship keywords of :func:`golden_records`.

    Returns
    -------
    RegistryTables
        The same tables as :func:`membership_table`, :func:`golden_records` and
        :func:`households_table` give.
    """
    group = _renumber(labels)
    options = {**golden_options, "workers": workers}
    with background(enabled=n_threads(workers) > 1) as submit:
        persons = submit(lambda: _cluster_persons(person_ids(), group))
        membership = submit(lambda: _membership(records, persons().text, persons().places(group), weakest))
        choice = _choose_golden(records, group, int(group.max(initial=-1)) + 1, **options)
        merged = persons().merged
        if merged is not None:  # clusters sharing an ID are one person
            choice = _choose_golden(records, merged, len(persons().persons), **options)
        # the picks are made: the other fields' codes go before the tables' text is taken,
        # where the run peaks (the records' keys and family-card numbers are read on)
        release(records, keep=("source", "record_id", "no_kk"))
        households = submit(lambda: choice.households(records, persons()))
        # the golden fields' text columns: this thread and the second one (once the
        # households are made) take fields from one queue until none is left
        fields: queue.SimpleQueue[str] = queue.SimpleQueue()
        for field in choice.rows:
            fields.put(field)

        def take_fields() -> dict[str, tuple[pd.api.extensions.ExtensionArray, ...]]:
            made: dict[str, tuple[pd.api.extensions.ExtensionArray, ...]] = {}
            while True:
                try:
                    field = fields.get_nowait()
                except queue.Empty:
                    return made
                made[field] = choice.field_columns(persons(), field)

        others = submit(take_fields)
        mine = take_fields()
        return RegistryTables(membership(), choice.frame(persons(), {**mine, **others()}), households())


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


@with_codes
def golden_records(
    records: pd.DataFrame,
    person_id: np.ndarray,
    *,
    priorities: Mapping[str, Mapping[str, int]] | None = None,
    single_record_sources: Sequence[str] = (),
    as_of: Mapping[str, str] | None = None,
    survivorship: Mapping[str, Any] | None = None,
    fields: Sequence[str] = REGISTRY_FIELDS,
    labels: np.ndarray | None = None,
    workers: int = 1,
    codes: CodeBook | None = None,
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
    survivorship : mapping, optional
        ``{field: rule}``: a built-in rule's name (:data:`SURVIVORSHIP_RULES`), a
        :class:`~regsosek_link.survivorship.SurvivorshipRule`, or its spec (an import path
        ``"package.module:ClassName"``, or ``{"type": ..., **parameters}``; see
        :func:`~regsosek_link.survivorship.survivorship_rule`). Fields not named follow
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
    rules = _survivorship_rules(survivorship, fields)
    person_id = np.asarray(person_id, dtype=object)
    if len(person_id) != len(records):
        raise ValueError(f"person_id has {len(person_id)} entries for {len(records)} records")
    person_id = pd.Series(person_id, dtype=object).astype(str).to_numpy(dtype=object)
    options: dict[str, Any] = {"priorities": priorities, "single_record_sources": single_record_sources,
                               "as_of": as_of, "rules": rules, "fields": fields, "workers": workers}
    if labels is None:
        pcode, ids = _sorted_codes(person_id)
        return _choose(records, pcode, len(ids), **options).frame(ids)
    group = _renumber(np.asarray(labels))
    if len(group) != len(person_id):
        raise ValueError(f"labels has {len(group)} entries for {len(person_id)} records")
    persons = _cluster_persons(person_id, group)
    return _choose(records, group if persons.merged is None else persons.merged, len(persons.persons),
                   **options).frame(persons)


def _survivorship_rules(survivorship: Mapping[str, Any] | None, fields: Sequence[str]) -> dict[str, SurvivorshipRule]:
    """The survivorship rule of each field (``survivorship``'s, else the default), checked."""
    return field_rules(survivorship, fields, DEFAULT_SURVIVORSHIP)


@dataclass
class _Choice:
    """The golden picks of :func:`golden_records` for persons numbered ``0 .. n_persons - 1``
    (any numbering: the picks do not depend on it), before the registry is put in person-ID
    order. ``rows[field]`` is the record each person's value is taken from (-1: none),
    ``values[field]`` the column it is taken from; ``flags`` hold the per-person counts and
    flags (``_FLAG_COLUMNS``)."""

    n_persons: int
    rows: dict[str, np.ndarray]
    values: dict[str, pd.api.extensions.ExtensionArray | None]
    flags: dict[str, np.ndarray | pd.api.extensions.ExtensionArray]
    source: pa.Array | pd.api.extensions.ExtensionArray  #: the records' (:func:`_key_values`)
    record_id: pa.Array | pd.api.extensions.ExtensionArray

    def frame(self, persons: np.ndarray | _Persons,
              columns: Mapping[str, tuple[pd.api.extensions.ExtensionArray, ...]] | None = None) -> pd.DataFrame:
        """The registry, one row per person: ``persons`` are the sorted IDs of persons
        ``0, 1, ...``, or the :class:`_Persons` these persons are the clusters of (chosen by
        ``group``, or by ``merged`` when clusters shared an ID). ``columns`` holds the
        :meth:`field_columns` of fields already made (e.g. on other threads)."""
        order = persons.order if isinstance(persons, _Persons) else None
        ids = persons.text if isinstance(persons, _Persons) else _text_array(np.asarray(persons, dtype=object))
        cols: dict[str, object] = {"person_id": ids}
        for field in self.rows:
            made = (columns or {}).get(field)
            for name, col in zip((field, f"{field}_source", f"{field}_record_id"),
                                 made if made is not None else self.field_columns(persons, field)):
                cols[name] = col
        for name in _FLAG_COLUMNS:
            cols[name] = self.flags[name] if order is None else self.flags[name][order]
        return pd.DataFrame(cols, copy=False)  # fresh arrays: no copy into 2-D blocks

    def field_columns(self, persons: np.ndarray | _Persons, field: str
                      ) -> tuple[pd.api.extensions.ExtensionArray, ...]:
        """The registry's columns of ``field``: its golden values, their sources and record
        IDs, for :meth:`frame`'s ``persons``."""
        rows = self.rows[field]
        pos = rows if not isinstance(persons, _Persons) or persons.order is None else rows[persons.order]
        values = self.values[field]
        if values is None:  # (a field the records lack)
            return tuple(pd.arrays.ArrowStringArray(pa.nulls(self.n_persons, pa.large_string())) for _ in range(3))
        return _take_text(values, pos), _take_text(self.source, pos), _take_text(self.record_id, pos)

    def households(self, records: pd.DataFrame, persons: _Persons) -> pd.DataFrame:
        """:func:`households_table` of ``self.frame(persons)``, from the picked records (no
        registry needed: it can be made beside the frame). ``records`` must be standardised
        (their ``no_kk`` numbers stripped), as the pipeline's are."""
        order = persons.order
        field_rows = {f: (r if order is None else r[order]) for f, r in self.rows.items()
                      if f in ("no_kk", "hubungan_keluarga", "nama")}
        missing = [f for f in ("no_kk", "hubungan_keluarga", "nama") if self.values.get(f) is None]
        if missing or "kk_valid" not in records.columns:
            return households_table(self.frame(persons), records, persons.person_id)
        kk_rows = field_rows["no_kk"]
        # each golden KK number's code (that of the record it was taken from), kept where
        # some record holds it as a valid number: as households_table finds it by value
        codes, names, is_valid = _valid_kk_codes(records)
        hcode = np.where(kk_rows >= 0, np.r_[codes, -1][kk_rows], -1)
        rows = np.flatnonzero(is_valid[hcode])
        hcode = hcode[rows]
        h_rows = field_rows["hubungan_keluarga"][rows]
        relation = self.values["hubungan_keluarga"]
        assert relation is not None  # (not missing, see above)
        head = np.zeros(len(rows), bool)
        some = h_rows >= 0
        head[some] = pd.Series(relation.take(h_rows[some])).astype("string").eq("KEPALA").fillna(False).to_numpy(bool)
        # the persons are in ID order already: rows kept in order rank them
        order2, members = _household_order(hcode, names, head, np.arange(len(rows)))
        sel = rows[order2]
        return pd.DataFrame({
            "household_id": _take_text(self.values["no_kk"], kk_rows[sel]),
            "person_id": persons.text.take(sel),
            "hubungan_keluarga": _take_text(relation, field_rows["hubungan_keluarga"][sel]),
            "nama": _take_text(self.values["nama"], field_rows["nama"][sel]),
            "n_members": members.astype(np.int64),
        }, copy=False)


def _choose_golden(records: pd.DataFrame, person_code: np.ndarray, n_persons: int, *,
                  survivorship: Mapping[str, Any] | None = None, fields: Sequence[str] = REGISTRY_FIELDS,
                  priorities: Mapping[str, Mapping[str, int]] | None = None,
                  single_record_sources: Sequence[str] = (), as_of: Mapping[str, str] | None = None,
                  workers: int = 1) -> _Choice:
    """The golden picks of :func:`golden_records` (same keywords) for persons numbered
    ``person_code`` (``0 .. n_persons - 1`` per record, in any numbering), before the
    persons' IDs are known: ``.frame(persons)`` makes the registry once they are (see
    :func:`_cluster_persons`), ``.households(records, persons)`` the households."""
    return _choose(records, np.asarray(person_code, np.int64), n_persons, priorities=priorities,
                   single_record_sources=single_record_sources, as_of=as_of,
                   rules=_survivorship_rules(survivorship, fields), fields=fields, workers=workers)


def _choose(
    records: pd.DataFrame,
    pcode: np.ndarray,
    n_p: int,
    *,
    priorities: Mapping[str, Mapping[str, int]] | None,
    single_record_sources: Sequence[str],
    as_of: Mapping[str, str] | None,
    rules: Mapping[str, SurvivorshipRule],
    fields: Sequence[str],
    workers: int,
) -> _Choice:
    """The golden picks (see :func:`golden_records`) of persons ``pcode`` (``0 .. n_p - 1``
    per record)."""
    n = len(records)
    scode, snames = _codes_of(records, "source")
    by_name = _argsort_strings(snames)
    snames = snames[by_name]
    rank = np.empty(len(by_name), np.int64)
    rank[by_name] = np.arange(len(by_name))
    scode = np.where(scode >= 0, np.r_[rank, -1][scode], -1)
    # One sort for every field: rows by person, then by (source, record_id), the final
    # tie-break. Each field keeps, key by key, its candidates with the smallest key per
    # person; the first candidate left is the pick. (Two stable sorts, the tie-break first:
    # each key packs with a position into an int64, which numpy sorts fastest.)
    by_tie = stable_argsort(scode * n + _record_id_rank(records))
    perm = by_tie[stable_argsort(pcode[by_tie])]
    pc_s = pcode[perm]
    civil = np.isin(snames, list(single_record_sources))
    days = _as_of_days(records, scode, snames, as_of)
    recency = None if np.isnan(days).all() else days

    scode_s = scode[perm]
    record_ids = functools.cache(lambda: _key_values(records, "record_id"))  # for a rule that reads them

    def golden(field: str) -> tuple[np.ndarray, pd.api.extensions.ExtensionArray | None]:
        """The record each person's value of ``field`` is taken from (its rule's choice among
        the records with a value, see :mod:`regsosek_link.survivorship`), and the column."""
        if field not in records.columns:
            return np.full(n_p, -1, np.int64), None
        col = records[field]
        if col.dtype == object:
            col = col.astype("string")
        elif isinstance(col.dtype, np.dtype):
            col = col.convert_dtypes()
        ok_s = _present(records, field, col)[perm]
        ranks = [(priorities or {}).get(s, {}) for s in snames]
        prio = np.array([int(r.get(field, r.get("*", 100))) for r in ranks], np.int64)
        civ = ~civil if field in IDENTITY_FIELDS else np.zeros(len(snames), bool)
        view = _FieldView(field=field, n_persons=n_p, records=records, column=col.array, perm=perm, person_s=pc_s,
                          ok_s=ok_s, source_s=scode_s, sources=np.concatenate([snames, np.array([None], object)]),
                          by_source=np.r_[_dense_rank(prio * 2 + civ), 0],  # priority, then the civil registry
                          priority=np.r_[prio, 100], single_record=np.r_[civil, False], recency=recency,
                          quality=_quality(records, field), record_ids=record_ids)
        return chosen_rows(rules[field], Candidates(view, np.flatnonzero(ok_s))), col.array

    # Fields are independent: with ``workers`` they are chosen side by side (the sorts,
    # reductions and key takes of numpy release the GIL), and put in order.
    picked = map_in_threads(golden, fields, workers, "registry")

    # record counts, sources (one bit per source; each distinct mask joined once)
    flags: dict[str, np.ndarray] = {"n_records": np.bincount(pcode, minlength=n_p).astype(np.int64)}
    if len(snames) <= 62:
        by_p = np.zeros(n_p, np.int64)
        np.bitwise_or.at(by_p, pcode, np.left_shift(1, scode.astype(np.int64)))
        masks, inv = np.unique(by_p, return_inverse=True)
        names = np.array([";".join(snames[[(int(m) >> i) & 1 == 1 for i in range(len(snames))]]) for m in masks],
                         dtype=object)
        flags["sources"] = _text_array(names).take(inv.reshape(-1))
    else:
        pairs = pd.DataFrame({"p": pcode, "s": snames[scode]}).drop_duplicates().sort_values(["p", "s"])
        flags["sources"] = _text_array(pairs.groupby("p")["s"].agg(";".join).reindex(range(n_p)).to_numpy(dtype=object))

    # quality flags
    def distinct(field: str, keep: np.ndarray | None = None) -> np.ndarray:
        if field not in records.columns:
            return np.zeros(n_p, np.int64)
        return _n_distinct(pcode, column_codes(records, field)[0], np.ones(n, bool) if keep is None else keep, n_p)

    valid_nik = records["nik_valid"].fillna(False).astype(bool).to_numpy() if "nik_valid" in records.columns else None
    real_date = ~_per_value(records, "tanggal_lahir_status", lambda u: u.startswith("placeholder"))
    flags["n_valid_nik"] = distinct("nik", valid_nik) if valid_nik is not None else np.zeros(n_p, np.int64)
    flags["conflicting_nik"] = flags["n_valid_nik"] > 1
    flags["conflicting_sex"] = distinct("jenis_kelamin") > 1
    flags["conflicting_birth_date"] = distinct("tanggal_lahir", real_date) > 1
    return _Choice(n_persons=n_p, rows={f: rows for f, (rows, _) in zip(fields, picked)},
                   values={f: values for f, (_, values) in zip(fields, picked)}, flags=flags,
                   source=_source_values(records), record_id=_key_values(records, "record_id"))


def _valid_kk_codes(records: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The records' shared ``no_kk`` codes and values, and per code whether some record holds
    it as a valid number (one more entry, False, for code -1: none or missing)."""
    codes, names = _codes_of(records, "no_kk")
    valid = records["kk_valid"].fillna(False).astype(bool).to_numpy()
    is_valid = np.zeros(len(names) + 1, bool)
    is_valid[codes[valid]] = True
    is_valid[-1] = False
    return codes, names, is_valid


def _household_order(hcode: np.ndarray, names: np.ndarray, head: np.ndarray, pcode: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Order of household members (households in KK-number order, then the head first, then
    by ``pcode``) and each one's household size, in that order."""
    text_rank = _rank_strings(np.asarray(names, dtype=object))
    order = np.lexsort((pcode, np.where(head, 0, 1), text_rank[hcode]))
    return order, np.bincount(hcode, minlength=len(names))[hcode[order]]


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
        _, names, is_valid = _valid_kk_codes(records)
        hcode = pd.Index(names, dtype=object).get_indexer(kk) if len(names) else np.full(len(kk), -1)
        rows = np.flatnonzero(is_valid[hcode])
    else:
        hcode, names = pd.factorize(kk)
        rows = np.flatnonzero(hcode >= 0)
    hcode = hcode[rows]
    pid = registry["person_id"].iloc[rows]
    # a registry from golden_records is sorted by person already, and so are its rows kept
    pcode = np.arange(len(rows)) if pid.is_monotonic_increasing else _rank_strings(pid.astype(str).to_numpy(dtype=object))
    head = registry["hubungan_keluarga"].astype("string").eq("KEPALA").fillna(False).to_numpy(dtype=bool)[rows]
    order, members = _household_order(hcode, names, head, pcode)
    sel = rows[order]
    return pd.DataFrame({
        "household_id": registry["no_kk"].array.take(sel),
        "person_id": registry["person_id"].array.take(sel),
        "hubungan_keluarga": registry["hubungan_keluarga"].array.take(sel),
        "nama": registry["nama"].array.take(sel),
        "n_members": members.astype(np.int64),
    }, copy=False)


@with_codes
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
    codes: CodeBook | None = None,
) -> pd.DataFrame:
    """Accepted and near-threshold pairs with score, levels and per-comparison weights."""
    probability = np.asarray(probability, float)
    kept = np.flatnonzero(probability >= review_low)
    kept = kept[stable_argsort(probability[kept], descending=True)]  # strongest first, ties in pair order
    keep: np.ndarray | slice = kept
    if len(kept) == len(probability) and (np.diff(kept) == 1).all():
        keep = slice(None)  # already kept and in order (as the pipeline passes them): no copies
    left = pairs["left"].to_numpy()[keep]
    right = pairs["right"].to_numpy()[keep]
    src, rid = _source_values(records), _key_values(records, "record_id")
    cols = {
        "source_l": _take_text(src, left),
        "record_id_l": _take_text(rid, left),
        "source_r": _take_text(src, right),
        "record_id_r": _take_text(rid, right),
        "match_probability": probability[keep],
        "match_weight": np.asarray(weight, float)[keep],
        "accepted": probability[keep] >= threshold,
    }
    for c in levels.columns:
        cols[f"level_{c}"] = levels[c].to_numpy()[keep]
    for c in contributions.columns:
        cols[f"weight_{c}"] = contributions[c].to_numpy()[keep]
    return pd.DataFrame(cols, copy=False)  # fresh arrays: no copy into 2-D blocks
