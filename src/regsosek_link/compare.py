"""Compare stage: records + candidate pairs -> comparison vectors.

A comparison is a small frozen spec with ordered *levels*, named like sentences. Level ``-1``
is always "missing on either side" (never scored as disagreement), ``0`` is "different", and
higher levels are stronger agreement. :func:`compare` gives one ``int8`` column per comparison.

Each comparison first ``prepare``s per-record arrays once (codes, parsed dates, digit
matrices) and then scores pairs chunk by chunk by indexing those arrays, so memory stays
bounded by ``chunk_size`` however many pairs there are. String similarity uses rapidfuzz's
vectorised C++ kernels (``rapidfuzz.process.cpdist``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from . import _spec
from .errors import ConfigError

__all__ = [
    "Comparison",
    "ExactMatch",
    "JaroWinklerAtThresholds",
    "LevenshteinAtThresholds",
    "NameComparison",
    "IdNumberComparison",
    "DateOfBirthComparison",
    "RegionComparison",
    "compare",
    "RLComparison",
]

log = logging.getLogger(__name__)

Prepared = dict[str, np.ndarray]
MISSING = -1


def _codes(s: pd.Series) -> np.ndarray:
    """Integer codes of a column, -1 for missing (equality of codes == equality of values)."""
    codes, _ = pd.factorize(s.astype("string").replace("", pd.NA))
    return codes.astype(np.int64)


def _strings(s: pd.Series) -> np.ndarray:
    """Object array of str, with None for missing/empty."""
    arr = s.astype("string").replace("", pd.NA).to_numpy(dtype=object, na_value=None)
    return arr


def _col(records: pd.DataFrame, column: str, who: str) -> pd.Series:
    if column not in records.columns:
        raise ConfigError(
            f"comparison {who!r} needs column {column!r}, which the records do not have; "
            f"columns present: {', '.join(map(str, records.columns))}"
        )
    return records[column]


class Comparison:
    """Base of all comparisons.

    Subclasses are frozen keyword-only dataclasses that define ``columns``, ``level_names``
    (from level 0 "different" upwards; level -1 "missing" is implicit), ``prepare`` and
    ``score``.
    """

    output_name: str | None = None

    @property
    def name(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def columns(self) -> tuple[str, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def level_names(self) -> tuple[str, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def n_levels(self) -> int:
        """Number of levels, not counting the missing level -1."""
        return len(self.level_names)

    def prepare(self, records: pd.DataFrame) -> Prepared:  # pragma: no cover - overridden
        raise NotImplementedError

    def score(self, prep: Prepared, left: np.ndarray, right: np.ndarray, *, workers: int = 1) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def compute(self, records: pd.DataFrame, pairs: pd.DataFrame) -> np.ndarray:
        """Levels of ``pairs`` (``left``/``right`` row positions) in one call."""
        prep = self.prepare(records)
        return self.score(prep, pairs["left"].to_numpy(), pairs["right"].to_numpy())

    def to_dict(self) -> dict[str, Any]:
        return _spec.to_dict(self)


def _thresholds_levels(sim: np.ndarray, exact: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Level from similarity: exact -> top, then one level per threshold (descending)."""
    ts = sorted(thresholds, reverse=True)
    out = np.zeros(len(sim), np.int8)
    top = len(ts) + 1
    for i, t in enumerate(ts):
        out = np.where((out == 0) & (sim >= t - 1e-6), top - 1 - i, out).astype(np.int8)
    out[exact] = top
    out[np.isnan(sim) & ~exact] = MISSING
    return out


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class ExactMatch(Comparison):
    """Levels: missing, different, exact.

    >>> recs = pd.DataFrame({"jenis_kelamin": ["L", "L", "P", None]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0], "right": [1, 2, 3]})
    >>> ExactMatch(column="jenis_kelamin").compute(recs, pairs).tolist()
    [1, 0, -1]
    """

    column: str
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.column

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("different", "exact")

    def prepare(self, records: pd.DataFrame) -> Prepared:
        return {"c": _codes(_col(records, self.column, self.name))}

    def score(self, prep, left, right, *, workers=1):
        cl, cr = prep["c"][left], prep["c"][right]
        out = (cl == cr).astype(np.int8)
        out[(cl < 0) | (cr < 0)] = MISSING
        return out


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class JaroWinklerAtThresholds(Comparison):
    """Levels: missing, different, one per threshold (lowest first), exact.

    >>> recs = pd.DataFrame({"kota": ["SEMARANG", "SEMARANG", "SEMARNG", "BOGOR"]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0], "right": [1, 2, 3]})
    >>> JaroWinklerAtThresholds(column="kota", thresholds=(0.9,)).compute(recs, pairs).tolist()
    [2, 1, 0]
    """

    column: str
    thresholds: tuple[float, ...] = (0.95, 0.88)
    label: str | None = None

    def __post_init__(self) -> None:
        for t in self.thresholds:
            if not isinstance(t, (int, float)) or not 0 <= t <= 1:
                raise ConfigError(
                    f"The 'thresholds' parameter of {type(self).__name__} must hold floats in "
                    f"[0, 1]. Got {t!r} instead."
                )

    @property
    def name(self) -> str:
        return self.label or self.column

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def level_names(self) -> tuple[str, ...]:
        ts = sorted(self.thresholds)
        return ("different",) + tuple(f"similarity >= {t:g}" for t in ts) + ("exact",)

    _scorer = staticmethod(JaroWinkler.normalized_similarity)

    def prepare(self, records):
        s = _col(records, self.column, self.name)
        return {"c": _codes(s), "s": _strings(s)}

    def score(self, prep, left, right, *, workers=1):
        cl, cr = prep["c"][left], prep["c"][right]
        miss = (cl < 0) | (cr < 0)
        exact = (cl == cr) & ~miss
        sim = np.full(len(left), np.nan)
        todo = ~miss & ~exact
        if todo.any():
            sim[todo] = process.cpdist(
                prep["s"][left[todo]], prep["s"][right[todo]], scorer=self._scorer, workers=workers
            )
        sim[exact] = 1.0
        return _thresholds_levels(sim, exact, self.thresholds)


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class LevenshteinAtThresholds(Comparison):
    """Levels: missing, different, edit distance <= each threshold (largest first), exact.

    >>> recs = pd.DataFrame({"no": ["12", "12", "13", "99"]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0], "right": [1, 2, 3]})
    >>> LevenshteinAtThresholds(column="no", distances=(1,)).compute(recs, pairs).tolist()
    [2, 1, 0]
    """

    column: str
    distances: tuple[int, ...] = (1, 2)
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.column

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def level_names(self) -> tuple[str, ...]:
        ds = sorted(self.distances, reverse=True)
        return ("different",) + tuple(f"edit distance <= {d}" for d in ds) + ("exact",)

    def prepare(self, records):
        s = _col(records, self.column, self.name)
        return {"c": _codes(s), "s": _strings(s)}

    def score(self, prep, left, right, *, workers=1):
        cl, cr = prep["c"][left], prep["c"][right]
        miss = (cl < 0) | (cr < 0)
        exact = (cl == cr) & ~miss
        dist = np.full(len(left), np.inf)
        todo = ~miss & ~exact
        if todo.any():
            dist[todo] = process.cpdist(
                prep["s"][left[todo]], prep["s"][right[todo]], scorer=Levenshtein.distance,
                workers=workers,
            )
        ds = sorted(self.distances)
        out = np.zeros(len(left), np.int8)
        top = len(ds) + 1
        for i, d in enumerate(ds):  # smallest distance -> highest level
            out = np.where((out == 0) & (dist <= d), top - 1 - i, out).astype(np.int8)
        out[exact] = top
        out[miss] = MISSING
        return out


def _sorted_tokens(s: pd.Series) -> pd.Series:
    """Tokens sorted alphabetically, per distinct value."""
    s = s.astype("string")
    uniq = s.dropna().unique()
    mapping = {u: " ".join(sorted(u.split())) for u in uniq}
    return s.map(mapping).astype("string")


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class NameComparison(Comparison):
    """Order-free comparison of full names (no first/last split).

    Levels:

    0. different: no token in common
    1. a shared token (``partial_token_set_ratio`` = 100) or a shared phonetic token
    2. one name's tokens contained in the other's (a dropped or added token), or
       Jaro-Winkler of the sorted tokens >= 0.88
    3. same tokens in any order, same phonetic tokens, or Jaro-Winkler of sorted tokens >= 0.95
    4. exact

    Parameters
    ----------
    column : str
        Clean name column (upper case, single-spaced tokens).
    phonetic_column : str, optional
        Per-token phonetic keys of the same name (space separated), e.g. ``nama_phonetic``.

    Examples
    --------
    >>> recs = pd.DataFrame({"nama": ["BUDI SANTOSO", "SANTOSO BUDI", "BUDI", "BUDI SANTOSA", "ANI"]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0, 0], "right": [1, 2, 3, 4]})
    >>> NameComparison(column="nama").compute(recs, pairs).tolist()
    [3, 2, 3, 0]
    """

    column: str = "nama"
    phonetic_column: str | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.column

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) + ((self.phonetic_column,) if self.phonetic_column else ())

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("different", "a shared token", "tokens contained / similar", "same tokens / sounds alike", "exact")

    def prepare(self, records):
        s = _col(records, self.column, self.name).astype("string").replace("", pd.NA)
        srt = _sorted_tokens(s)
        prep = {"c": _codes(s), "sorted_c": _codes(srt), "sorted": _strings(srt)}
        if self.phonetic_column:
            ph = _sorted_tokens(_col(records, self.phonetic_column, self.name))
            prep["ph_c"] = _codes(ph)
            prep["ph"] = _strings(ph)
        return prep

    def score(self, prep, left, right, *, workers=1):
        cl, cr = prep["c"][left], prep["c"][right]
        miss = (cl < 0) | (cr < 0)
        exact = (cl == cr) & ~miss
        out = np.zeros(len(left), np.int8)
        todo = np.flatnonzero(~miss & ~exact)
        if len(todo):
            a, b = prep["sorted"][left[todo]], prep["sorted"][right[todo]]
            same_tokens = prep["sorted_c"][left[todo]] == prep["sorted_c"][right[todo]]
            jw = process.cpdist(a, b, scorer=JaroWinkler.normalized_similarity, workers=workers) + 1e-6
            subset = process.cpdist(a, b, scorer=fuzz.token_set_ratio, workers=workers) >= 100
            shared = process.cpdist(a, b, scorer=fuzz.partial_token_set_ratio, workers=workers) >= 100
            level3 = same_tokens | (jw >= 0.95)
            if "ph_c" in prep:
                pl, pr = prep["ph_c"][left[todo]], prep["ph_c"][right[todo]]
                level3 |= (pl == pr) & (pl >= 0)
                pa, pb = prep["ph"][left[todo]], prep["ph"][right[todo]]
                okp = (pl >= 0) & (pr >= 0)
                if okp.any():
                    ph_subset = np.zeros(len(todo), bool)
                    ph_shared = np.zeros(len(todo), bool)
                    ph_subset[okp] = process.cpdist(pa[okp], pb[okp], scorer=fuzz.token_set_ratio, workers=workers) >= 100
                    ph_shared[okp] = process.cpdist(pa[okp], pb[okp], scorer=fuzz.partial_token_set_ratio, workers=workers) >= 100
                    subset |= ph_subset
                    shared |= ph_shared
            lv = np.select([level3, subset | (jw >= 0.88), shared], [3, 2, 1], 0)
            out[todo] = lv
        out[exact] = 4
        out[miss] = MISSING
        return out


def _digit_matrix(s: pd.Series, length: int) -> np.ndarray:
    """(n, length) uint8 digits; rows not of exactly ``length`` digits are all 255."""
    arr = s.astype("string").fillna("")
    ok = (arr.str.len() == length) & arr.str.fullmatch(r"\d*").fillna(False)
    filled = arr.where(ok, "0" * length).to_numpy(dtype=object).astype(f"S{length}")
    mat = np.frombuffer(filled.tobytes(), dtype=np.uint8).reshape(-1, length).copy()
    mat[~ok.to_numpy()] = 255
    return mat


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class IdNumberComparison(Comparison):
    """NIK / KK numbers: exact, one typo, different.

    Levels: 0 different, 1 one substituted digit or one transposition of adjacent digits,
    2 exact. Missing when either side is not a number of ``length`` digits or (with
    ``status_column``) its status is one of ``unusable_status``.

    >>> recs = pd.DataFrame({"nik": ["3375014508900001", "3375014508900001",
    ...                              "3375014508900002", "3375015408900001", "123"]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0, 0], "right": [1, 2, 3, 4]})
    >>> IdNumberComparison(column="nik").compute(recs, pairs).tolist()
    [2, 1, 1, -1]
    """

    column: str = "nik"
    length: int = 16
    status_column: str | None = None
    unusable_status: tuple[str, ...] = ("missing", "sentinel", "dummy", "excel_damaged", "non_digit")
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.column

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) + ((self.status_column,) if self.status_column else ())

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("different", "one typo or transposition", "exact")

    def prepare(self, records):
        s = _col(records, self.column, self.name).astype("string")
        if self.status_column and self.status_column in records.columns:
            bad = records[self.status_column].isin(self.unusable_status).to_numpy(dtype=bool)
            s = s.mask(bad)
        return {"d": _digit_matrix(s, self.length), "c": _codes(s)}

    def score(self, prep, left, right, *, workers=1):
        dl, dr = prep["d"][left], prep["d"][right]
        miss = (dl[:, 0] == 255) | (dr[:, 0] == 255)
        diff = dl != dr
        nd = diff.sum(axis=1)
        # adjacent transposition: exactly two adjacent differing positions, swapped digits
        adj = diff[:, :-1] & diff[:, 1:]
        swap = adj & (dl[:, :-1] == dr[:, 1:]) & (dl[:, 1:] == dr[:, :-1])
        one = (nd == 1) | ((nd == 2) & swap.any(axis=1))
        out = np.where(nd == 0, 2, np.where(one, 1, 0)).astype(np.int8)
        out[miss] = MISSING
        return out


def _date_parts(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day of ISO date strings as int arrays (-1 where missing/unparsable)."""
    s = s.astype("string")
    ok = s.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False).to_numpy(dtype=bool)
    y = np.full(len(s), -1, np.int32)
    m = y.copy()
    d = y.copy()
    if ok.any():
        v = s[ok].to_numpy(dtype=str)
        b = np.frombuffer(v.astype("S10").tobytes(), np.uint8).reshape(-1, 10).astype(np.int32) - 48
        y[ok] = b[:, 0] * 1000 + b[:, 1] * 100 + b[:, 2] * 10 + b[:, 3]
        m[ok] = b[:, 5] * 10 + b[:, 6]
        d[ok] = b[:, 8] * 10 + b[:, 9]
    return y, m, d


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class DateOfBirthComparison(Comparison):
    """Dates of birth, aware of keying errors and placeholder dates.

    Levels:

    0. different
    1. year within one either way, or same month and day in another year
    2. same year and month
    3. day and month swapped, or one digit mistyped
    4. exact, but a placeholder date (1 July, 31 December, 1 January, day 15)
    5. exact

    Placeholders are read from ``status_column`` (values starting with ``placeholder``, as
    :func:`regsosek_link.standardise.parse_date` writes them). When one side is a placeholder
    and the dates differ, the placeholder says "date unknown": the pair is scored as
    missing, not as different.

    >>> recs = pd.DataFrame({"tgl": ["1990-03-04", "1990-03-04", "1990-04-03", "1991-03-04",
    ...                              "1990-03-20", "1970-07-01", "1970-07-01", "1965-02-02"],
    ...                      "st": ["ok"] * 5 + ["placeholder_1jul"] * 2 + ["ok"]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0, 0, 5, 0, 5], "right": [1, 2, 3, 4, 6, 7, 7]})
    >>> DateOfBirthComparison(column="tgl", status_column="st").compute(recs, pairs).tolist()
    [5, 3, 3, 2, 4, 0, -1]
    """

    column: str = "tanggal_lahir"
    status_column: str | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.column

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) + ((self.status_column,) if self.status_column else ())

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("different", "year +-1 or same day-month", "same year-month",
                "day-month swapped or one digit", "exact placeholder", "exact")

    def prepare(self, records):
        s = _col(records, self.column, self.name)
        y, m, d = _date_parts(s)
        if self.status_column and self.status_column in records.columns:
            ph = records[self.status_column].astype("string").str.startswith("placeholder").fillna(False)
            ph = ph.to_numpy(dtype=bool)
        else:  # no status column: no date is taken for a placeholder
            ph = np.zeros(len(y), bool)
        return {"y": y, "m": m, "d": d, "ph": ph}

    def score(self, prep, left, right, *, workers=1):
        yl, ml, dl = prep["y"][left], prep["m"][left], prep["d"][left]
        yr, mr, dr = prep["y"][right], prep["m"][right], prep["d"][right]
        phl, phr = prep["ph"][left], prep["ph"][right]
        miss = (yl < 0) | (yr < 0)
        exact = (yl == yr) & (ml == mr) & (dl == dr)
        swap = (yl == yr) & (ml == dr) & (dl == mr)
        # one mistyped digit anywhere in YYYYMMDD
        sl = np.stack([yl // 1000, yl // 100 % 10, yl // 10 % 10, yl % 10, ml // 10, ml % 10, dl // 10, dl % 10], 1)
        sr = np.stack([yr // 1000, yr // 100 % 10, yr // 10 % 10, yr % 10, mr // 10, mr % 10, dr // 10, dr % 10], 1)
        one_digit = (sl != sr).sum(axis=1) == 1
        ym = (yl == yr) & (ml == mr)
        near = (np.abs(yl - yr) <= 1) | ((ml == mr) & (dl == dr))
        out = np.select(
            [exact & ~(phl | phr), exact, swap | one_digit, ym, near],
            [5, 4, 3, 2, 1],
            0,
        ).astype(np.int8)
        out[~exact & (phl ^ phr)] = MISSING
        out[miss] = MISSING
        return out


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class RegionComparison(Comparison):
    """Kemendagri region hierarchy: the most specific level both records agree on.

    Levels: 0 different province, 1 same province, 2 same kabupaten/kota, 3 same kecamatan,
    4 same desa/kelurahan. A level unknown on either side is skipped (a record known only
    down to kecamatan can reach level 3 at most); missing when no level is known on both.

    >>> recs = pd.DataFrame({"kode_prov": ["33", "33", "33", "32"], "kode_kab": ["3375", "3375", "3374", "3201"],
    ...                      "kode_kec": ["337501", "337501", None, None],
    ...                      "kode_desa": ["3375011001", "3375011002", None, None]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0], "right": [1, 2, 3]})
    >>> RegionComparison().compute(recs, pairs).tolist()
    [3, 1, 0]
    """

    prov_column: str = "kode_prov"
    kab_column: str = "kode_kab"
    kec_column: str = "kode_kec"
    desa_column: str = "kode_desa"
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or "wilayah"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.prov_column, self.kab_column, self.kec_column, self.desa_column)

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("different province", "same province", "same kabupaten/kota", "same kecamatan", "same desa")

    def prepare(self, records):
        return {str(i): _codes(_col(records, c, self.name)) for i, c in enumerate(self.columns)}

    def score(self, prep, left, right, *, workers=1):
        out = np.full(len(left), MISSING, np.int8)
        for i in range(4):  # coarse to fine: a finer known level overrides
            cl, cr = prep[str(i)][left], prep[str(i)][right]
            known = (cl >= 0) & (cr >= 0)
            same = known & (cl == cr)
            # different at this level: only says "different province" at the province level;
            # at finer levels the coarser level already holds the most specific agreement
            out = np.where(same, i + 1, out)
            if i == 0:
                out = np.where(known & ~same, 0, out)
        return out.astype(np.int8)


def compare(
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    comparisons: Sequence[Comparison],
    *,
    chunk_size: int = 1_000_000,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Comparison vectors of candidate pairs.

    Parameters
    ----------
    records : DataFrame
        Clean records; pairs refer to its row positions.
    pairs : DataFrame
        ``left``, ``right`` row positions (as made by :func:`regsosek_link.block.block`).
    comparisons : sequence of Comparison
        Each gives one output column named ``comparison.name``.
    chunk_size : int
        Pairs scored at a time: bounds the temporary memory of string similarity.
    workers : int
        Threads for rapidfuzz kernels (-1: all cores).
    progress : callable, optional
        Called as ``progress(done, total)`` after each chunk.

    Returns
    -------
    DataFrame
        One ``int8`` column per comparison (``-1`` missing), index aligned with ``pairs``.
    """
    names = [c.name for c in comparisons]
    if len(set(names)) != len(names):
        raise ConfigError(f"comparison names must be unique; got {names}")
    left = pairs["left"].to_numpy(np.int64)
    right = pairs["right"].to_numpy(np.int64)
    n = len(left)
    out = {name: np.empty(n, np.int8) for name in names}
    for comp in comparisons:
        prep = comp.prepare(records)
        for start in range(0, max(n, 1), chunk_size):
            sl = slice(start, min(start + chunk_size, n))
            if sl.start >= sl.stop:
                break
            out[comp.name][sl] = comp.score(prep, left[sl], right[sl], workers=workers)
        if progress is not None:
            progress(names.index(comp.name) + 1, len(names))
        log.info("compared %d pairs on %s", n, comp.name)
    return pd.DataFrame(out, index=pairs.index)


# ----------------------------------------------------------------------------------------
# recordlinkage plug-in

try:
    from recordlinkage.base import BaseCompareFeature as _RLBaseCompare
except Exception:  # pragma: no cover
    _RLBaseCompare = object  # type: ignore[assignment,misc]


class RLComparison(_RLBaseCompare):  # type: ignore[misc,valid-type]
    """Any of our comparisons as a ``recordlinkage.Compare`` feature.

    The comparison's columns must exist, with the same names, in both frames.

    Examples
    --------
    >>> import recordlinkage
    >>> a = pd.DataFrame({"nama": ["BUDI SANTOSO", "ANI"]}, index=["a1", "a2"])
    >>> b = pd.DataFrame({"nama": ["SANTOSO BUDI", None]}, index=["b1", "b2"])
    >>> links = pd.MultiIndex.from_tuples([("a1", "b1"), ("a2", "b2")])
    >>> cmp = recordlinkage.Compare()
    >>> cmp.add(RLComparison(comparison=NameComparison(column="nama")))
    >>> cmp.compute(links, a, b)["nama"].tolist()
    [3, -1]
    """

    def __init__(self, *, comparison: Comparison) -> None:
        cols = list(comparison.columns)
        super().__init__(cols, cols, label=comparison.name)
        self.comparison = comparison

    def _compute_vectorized(self, *args: pd.Series) -> np.ndarray:
        k = len(self.comparison.columns)
        left = pd.DataFrame({c: s.reset_index(drop=True) for c, s in zip(self.comparison.columns, args[:k])})
        right = pd.DataFrame({c: s.reset_index(drop=True) for c, s in zip(self.comparison.columns, args[k:])})
        both = pd.concat([left, right], ignore_index=True)
        n = len(left)
        prep = self.comparison.prepare(both)
        return self.comparison.score(prep, np.arange(n), np.arange(n, 2 * n))
