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
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from . import _spec
from ._codes import column_codes, factorize_strings, shared_codes
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
    "prepare_comparisons",
    "RLComparison",
]

log = logging.getLogger(__name__)

Prepared = dict[str, np.ndarray]
MISSING = -1


def _factorize(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 for missing or blank) and the distinct values as an object array."""
    return factorize_strings(s)


def _codes(s: pd.Series) -> np.ndarray:
    """Integer codes of a column, -1 for missing or blank (equal codes == equal values)."""
    return _factorize(s)[0]


def _column_codes(records: pd.DataFrame, column: str, who: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a records column, computed once per run (:mod:`regsosek_link._codes`)."""
    _col(records, column, who)
    return column_codes(records, column)


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
        prep = self.prepare_all(records)
        return self.levels_of(prep, pairs["left"].to_numpy(), pairs["right"].to_numpy())

    def prepare_all(self, records: pd.DataFrame) -> Prepared:
        """``prepare`` plus the codes of the ``ignore_when_equal`` columns."""
        prep = self.prepare(records)
        for i, col in enumerate(getattr(self, "ignore_when_equal", ())):
            prep[f"_ignore{i}"] = _column_codes(records, col, self.name)[0]
        return prep

    def levels_of(self, prep: Prepared, left: np.ndarray, right: np.ndarray, *, workers: int = 1) -> np.ndarray:
        """``score``, then missing (-1) where an ``ignore_when_equal`` column agrees.

        A comparison whose evidence another one already carries is switched off for those
        pairs: two records on one family card (KK) live in one desa, so agreeing on the desa
        says nothing more about being one person and must not be counted twice.
        """
        out = self.score(prep, left, right, workers=workers)
        i = 0
        while f"_ignore{i}" in prep:
            cl, cr = prep[f"_ignore{i}"][left], prep[f"_ignore{i}"][right]
            out[(cl == cr) & (cl >= 0)] = MISSING
            i += 1
        return out

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


class _OneColumn(Comparison):
    """A comparison of one column: its name, its columns and its codes."""

    column: str
    label: str | None

    @property
    def name(self) -> str:
        return self.label or self.column

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def prepare(self, records):
        codes, uniq = _column_codes(records, self.column, self.name)
        return {"c": codes, "u": uniq}

    def _pairs_to_score(self, prep, left, right):
        """Codes of both sides, the missing and exact masks, and the rest to score."""
        cl, cr = prep["c"][left], prep["c"][right]
        miss = (cl < 0) | (cr < 0)
        exact = (cl == cr) & ~miss
        return cl, cr, miss, exact, ~miss & ~exact


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class ExactMatch(_OneColumn):
    """Levels: missing, different, exact.

    >>> recs = pd.DataFrame({"jenis_kelamin": ["L", "L", "P", None]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0], "right": [1, 2, 3]})
    >>> ExactMatch(column="jenis_kelamin").compute(recs, pairs).tolist()
    [1, 0, -1]
    """

    column: str
    ignore_when_equal: tuple[str, ...] = ()
    label: str | None = None

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("different", "exact")

    def score(self, prep, left, right, *, workers=1):
        cl, cr = prep["c"][left], prep["c"][right]
        out = (cl == cr).astype(np.int8)
        out[(cl < 0) | (cr < 0)] = MISSING
        return out


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class JaroWinklerAtThresholds(_OneColumn):
    """Levels: missing, different, one per threshold (lowest first), exact.

    >>> recs = pd.DataFrame({"kota": ["SEMARANG", "SEMARANG", "SEMARNG", "BOGOR"]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0], "right": [1, 2, 3]})
    >>> JaroWinklerAtThresholds(column="kota", thresholds=(0.9,)).compute(recs, pairs).tolist()
    [2, 1, 0]
    """

    column: str
    thresholds: tuple[float, ...] = (0.95, 0.88)
    ignore_when_equal: tuple[str, ...] = ()
    label: str | None = None

    def __post_init__(self) -> None:
        for t in self.thresholds:
            if not isinstance(t, (int, float)) or not 0 <= t <= 1:
                raise ConfigError(
                    f"The 'thresholds' parameter of {type(self).__name__} must hold floats in "
                    f"[0, 1]. Got {t!r} instead."
                )

    @property
    def level_names(self) -> tuple[str, ...]:
        ts = sorted(self.thresholds)
        return ("different",) + tuple(f"similarity >= {t:g}" for t in ts) + ("exact",)

    _scorer = staticmethod(JaroWinkler.normalized_similarity)

    def score(self, prep, left, right, *, workers=1):
        cl, cr, miss, exact, todo = self._pairs_to_score(prep, left, right)
        sim = np.full(len(left), np.nan)
        if todo.any():
            sim[todo] = process.cpdist(
                prep["u"][cl[todo]], prep["u"][cr[todo]], scorer=self._scorer, workers=workers
            )
        sim[exact] = 1.0
        return _thresholds_levels(sim, exact, self.thresholds)


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class LevenshteinAtThresholds(_OneColumn):
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
    def level_names(self) -> tuple[str, ...]:
        ds = sorted(self.distances, reverse=True)
        return ("different",) + tuple(f"edit distance <= {d}" for d in ds) + ("exact",)

    def score(self, prep, left, right, *, workers=1):
        cl, cr, miss, exact, todo = self._pairs_to_score(prep, left, right)
        dist = np.full(len(left), np.inf)
        if todo.any():
            dist[todo] = process.cpdist(
                prep["u"][cl[todo]], prep["u"][cr[todo]], scorer=Levenshtein.distance,
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
    1. a shared token (or a shared phonetic token)
    2. similar: Jaro-Winkler of the sorted tokens >= ``fuzzy_threshold`` (typos in a
       mononym: ENENG / MNENG)
    3. one name's tokens contained in the other's (a dropped or added token), or
       Jaro-Winkler of the sorted tokens >= 0.88
    4. same tokens in any order, same phonetic tokens, or Jaro-Winkler of sorted tokens >= 0.95
    5. exact

    With ``term_frequency=True`` an exact agreement is weighted by how common the name is
    (Splink's term-frequency adjustment, see
    :func:`regsosek_link.classify.term_frequency_adjustments`): SUMARNI = SUMARNI says less
    than WIDYASTUTI RAHMAWATI = WIDYASTUTI RAHMAWATI.

    Token overlap is computed on integer token ids (no string scoring per pair); only the
    Jaro-Winkler similarity of the sorted names goes through rapidfuzz.

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
    [4, 3, 4, 0]
    """

    column: str = "nama"
    phonetic_column: str | None = None
    fuzzy_threshold: float = 0.8
    term_frequency: bool = False
    ignore_when_equal: tuple[str, ...] = ()
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.column

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) + ((self.phonetic_column,) if self.phonetic_column else ())

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("different", "a shared token", f"similar (JW >= {self.fuzzy_threshold:g})",
                "tokens contained / JW >= 0.88", "same tokens / sounds alike", "exact")

    def prepare(self, records):
        # all string work on distinct values; rows point at them through integer codes
        s = _col(records, self.column, self.name).astype("string").replace("", pd.NA)
        codes, uniq = pd.factorize(s, sort=False)
        u = pd.Series(uniq, dtype="string")
        srt = _sorted_tokens(u)
        sc = pd.factorize(srt, sort=False)[0]
        prep = {"c": codes.astype(np.int64), "sorted_c": np.r_[sc, -1][codes], "sorted_u": _strings(srt),
                "tok_u": _token_matrix(u)}
        if self.phonetic_column:
            ph = _col(records, self.phonetic_column, self.name).astype("string").replace("", pd.NA)
            pcodes, puniq = pd.factorize(ph, sort=False)
            pu = pd.Series(puniq, dtype="string")
            psc = pd.factorize(_sorted_tokens(pu), sort=False)[0]
            prep["ph_c"] = np.r_[psc, -1][pcodes]
            prep["ph_code"] = pcodes.astype(np.int64)
            prep["ph_tok_u"] = _token_matrix(pu)
        return prep

    def score(self, prep, left, right, *, workers=1):
        cl, cr = prep["c"][left], prep["c"][right]
        miss = (cl < 0) | (cr < 0)
        exact = (cl == cr) & ~miss
        out = np.zeros(len(left), np.int8)
        todo = np.flatnonzero(~miss & ~exact)
        if len(todo):
            ul, ur = cl[todo], cr[todo]
            same_tokens = prep["sorted_c"][left[todo]] == prep["sorted_c"][right[todo]]
            jw = process.cpdist(prep["sorted_u"][ul], prep["sorted_u"][ur],
                                scorer=JaroWinkler.normalized_similarity, workers=workers) + 1e-6
            subset, shared = _token_overlap(prep["tok_u"][ul], prep["tok_u"][ur])
            level3 = same_tokens | (jw >= 0.95)
            if "ph_c" in prep:
                lt, rt = left[todo], right[todo]
                pl, pr = prep["ph_c"][lt], prep["ph_c"][rt]
                level3 |= (pl == pr) & (pl >= 0)
                pcl, pcr = prep["ph_code"][lt], prep["ph_code"][rt]
                okp = (pcl >= 0) & (pcr >= 0)
                ph_subset, ph_shared = _token_overlap(prep["ph_tok_u"][np.where(okp, pcl, 0)],
                                                      prep["ph_tok_u"][np.where(okp, pcr, 0)])
                subset |= ph_subset & okp
                shared |= ph_shared & okp
            out[todo] = np.select(
                [level3, subset | (jw >= 0.88), jw >= self.fuzzy_threshold, shared], [4, 3, 2, 1], 0)
        out[exact] = 5
        out[miss] = MISSING
        return out


def _token_matrix(s: pd.Series, max_tokens: int = 8) -> np.ndarray:
    """(n, max_tokens) int32 ids of each value's distinct tokens, -1 padded (all -1 if missing).

    Token ids are shared by all rows, so two names share a token exactly when their rows
    share an id: overlap is then plain integer work, no string scoring per pair.
    """
    n = len(s)
    out = np.full((n, max_tokens), -1, np.int32)
    tokens = s.astype("string").str.split(" ").explode()
    tokens = tokens[tokens.notna() & (tokens != "")]
    if len(tokens) == 0:
        return out
    ids, _ = pd.factorize(tokens)
    rows = tokens.index.to_numpy()
    pos = np.arange(len(rows))
    frame = pd.DataFrame({"row": rows, "id": ids, "pos": pos}).drop_duplicates(["row", "id"])
    rank = frame.groupby("row", sort=False).cumcount().to_numpy()
    keep = rank < max_tokens
    r = pd.Index(s.index).get_indexer(frame["row"].to_numpy()[keep])
    out[r, rank[keep]] = frame["id"].to_numpy()[keep]
    # only as many columns as the longest name needs: overlap costs width squared per pair
    width = max(int((out >= 0).sum(axis=1).max(initial=0)), 1)
    return np.ascontiguousarray(out[:, :width])


def _token_overlap(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(one side's tokens all in the other's, any token shared) for aligned token-id rows."""
    va, vb = a >= 0, b >= 0
    eq = (a[:, :, None] == b[:, None, :]) & va[:, :, None]
    common = eq.any(axis=2).sum(axis=1)
    na, nb = va.sum(axis=1), vb.sum(axis=1)
    shared = common > 0
    subset = shared & (common == np.minimum(na, nb))
    return subset, shared


def _digit_matrix(s: pd.Series, length: int) -> np.ndarray:
    """(n, length) uint8 digits; rows not of exactly ``length`` digits are all 255.

    Pure numpy on fixed-width bytes (no per-row Python): one byte more than ``length`` is
    kept so longer values are caught.
    """
    obj = s.to_numpy(dtype=object, na_value="")
    try:
        b = obj.astype(f"S{length + 1}")
    except UnicodeEncodeError:  # non-ASCII text is not a number
        b = np.array([x.encode("ascii", "replace") for x in obj], dtype=f"S{length + 1}")
    mat = np.frombuffer(b.tobytes(), dtype=np.uint8).reshape(-1, length + 1)
    digits = mat[:, :length]
    ok = ((digits >= 48) & (digits <= 57)).all(axis=1) & (mat[:, length] == 0)
    out = (digits - 48).astype(np.uint8)
    out[~ok] = 255
    return out


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class IdNumberComparison(Comparison):
    """NIK / KK numbers: exact, one typo, different.

    Levels: 0 different, 1 one substituted digit or one transposition of adjacent digits,
    2 exact. Missing when either side is not a number of ``length`` digits or (with
    ``status_column``) its status is one of ``unusable_status``.

    With ``serial_digits=4`` (NIK), a single difference inside the last four digits counts as
    *different*: people born on one day in one kecamatan (twins above all) get consecutive
    serials, so those NIKs differ by one digit without being one person.

    With ``consistency_columns=(nik_birth_date, tanggal_lahir, nik_sex, jenis_kelamin)`` the
    "different" level is split: different NIKs that *each agree* with their own record's birth
    date and sex (level 0) are strong evidence of two people, while a different NIK that does
    not fit its record (a copied family member's NIK, a damaged one) is weak evidence (level 1);
    one typo is level 2; the *same* NIK on records of which one contradicts it (its birth date
    or sex differ from the NIK's) is level 3 (a copied NIK: father and son of one name on one
    card), and the plain exact match is level 4.

    >>> recs = pd.DataFrame({"nik": ["3375014508900001", "3375014508900001",
    ...                              "3375014508900002", "3375015408900001", "123"]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0, 0], "right": [1, 2, 3, 4]})
    >>> IdNumberComparison(column="nik").compute(recs, pairs).tolist()
    [2, 1, 1, -1]
    >>> IdNumberComparison(column="nik", serial_digits=4).compute(recs, pairs).tolist()
    [2, 0, 1, -1]
    """

    column: str = "nik"
    length: int = 16
    serial_digits: int = 0
    consistency_columns: tuple[str, ...] = ()
    status_column: str | None = None
    unusable_status: tuple[str, ...] = ("missing", "sentinel", "dummy", "excel_damaged", "non_digit")
    ignore_when_equal: tuple[str, ...] = ()
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.column

    def __post_init__(self) -> None:
        if len(self.consistency_columns) not in (0, 4):
            raise ConfigError(
                "The 'consistency_columns' parameter of IdNumberComparison must name four columns "
                "(NIK birth date, record birth date, NIK sex, record sex) or none. "
                f"Got {self.consistency_columns!r} instead."
            )

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) + ((self.status_column,) if self.status_column else ()) + tuple(self.consistency_columns)

    @property
    def level_names(self) -> tuple[str, ...]:
        if self.consistency_columns:
            return ("different, both consistent with their records", "different",
                    "one typo or transposition", "exact, but contradicts a record (copied NIK?)",
                    "exact")
        return ("different", "one typo or transposition", "exact")

    def prepare(self, records):
        s = _col(records, self.column, self.name).astype("string")
        if self.status_column and self.status_column in records.columns:
            bad = records[self.status_column].isin(self.unusable_status).to_numpy(dtype=bool)
            s = s.mask(bad)
        prep = {"d": _digit_matrix(s, self.length), "c": _codes(s)}
        if self.consistency_columns:
            nik_dob, dob, nik_sex, sex = (_col(records, c, self.name).to_numpy(dtype=object, na_value=None)
                                          for c in self.consistency_columns)
            known_d = (nik_dob != None) & (dob != None)  # noqa: E711 - elementwise on object arrays
            known_s = (nik_sex != None) & (sex != None)  # noqa: E711
            same_d, same_s = known_d & (nik_dob == dob), known_s & (nik_sex == sex)
            prep["credible"] = same_d & same_s
            prep["contradicts"] = (known_d & ~same_d) | (known_s & ~same_s)
        return prep

    def score(self, prep, left, right, *, workers=1):
        dl, dr = prep["d"][left], prep["d"][right]
        miss = (dl[:, 0] == 255) | (dr[:, 0] == 255)
        diff = dl != dr
        nd = diff.sum(axis=1)
        # adjacent transposition: exactly two adjacent differing positions, swapped digits
        adj = diff[:, :-1] & diff[:, 1:]
        swap = adj & (dl[:, :-1] == dr[:, 1:]) & (dl[:, 1:] == dr[:, :-1])
        one = (nd == 1) | ((nd == 2) & swap.any(axis=1))
        if self.serial_digits:
            # a "typo" inside the serial is what two people registered on the same day in the
            # same kecamatan look like (twins: consecutive serials): not evidence of one person
            one &= ~diff[:, self.length - self.serial_digits:].any(axis=1)
        out = np.where(nd == 0, 2, np.where(one, 1, 0)).astype(np.int8)
        if self.consistency_columns:
            # two different NIKs each carrying its own record's birth date and sex are two
            # credible identities: strong evidence of two people (not a typo, not a copied NIK)
            both = prep["credible"][left] & prep["credible"][right]
            # the same NIK on a record whose birth date or sex it contradicts: a NIK copied from
            # a family member (a father and son of one name share a card and a NIK)
            copied = prep["contradicts"][left] | prep["contradicts"][right]
            out = np.select([out == 0, out == 1, copied], [np.where(both, 0, 1), 2, 3], 4).astype(np.int8)
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
    ignore_when_equal: tuple[str, ...] = ()
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
        return {str(i): _column_codes(records, c, self.name)[0] for i, c in enumerate(self.columns)}

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


def prepare_comparisons(records: pd.DataFrame, comparisons: Sequence[Comparison]) -> list[Prepared]:
    """Per-record arrays of every comparison (codes, token ids, digit matrices), once.

    A column several comparisons use (the KK in every ``ignore_when_equal``) is factorised
    once for all of them.
    """
    with shared_codes():
        return [comp.prepare_all(records) for comp in comparisons]


def compare(
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    comparisons: Sequence[Comparison],
    *,
    chunk_size: int = 1_000_000,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    prepared: Sequence[Prepared] | None = None,
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
        Called as ``progress(done, total)`` after each comparison.
    prepared : list, optional
        Per-record arrays from :func:`prepare_comparisons` for these records, to reuse
        (e.g. between scoring candidate pairs and random pairs).

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
    if prepared is None:
        prepared = prepare_comparisons(records, comparisons)
    for comp, prep in zip(comparisons, prepared):
        for start in range(0, max(n, 1), chunk_size):
            sl = slice(start, min(start + chunk_size, n))
            if sl.start >= sl.stop:
                break
            out[comp.name][sl] = comp.levels_of(prep, left[sl], right[sl], workers=workers)
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
    [4, -1]
    """

    def __init__(self, *, comparison: Comparison) -> None:
        cols = list(comparison.columns) + list(getattr(comparison, "ignore_when_equal", ()))
        super().__init__(cols, cols, label=comparison.name)
        self.comparison = comparison

    def _compute_vectorized(self, *args: pd.Series) -> np.ndarray:
        cols = list(self.comparison.columns) + list(getattr(self.comparison, "ignore_when_equal", ()))
        k = len(cols)
        left = pd.DataFrame({c: s.reset_index(drop=True) for c, s in zip(cols, args[:k])})
        right = pd.DataFrame({c: s.reset_index(drop=True) for c, s in zip(cols, args[k:])})
        both = pd.concat([left, right], ignore_index=True)
        n = len(left)
        prep = self.comparison.prepare_all(both)
        return self.comparison.levels_of(prep, np.arange(n), np.arange(n, 2 * n))
