"""Comparisons of encoded records: Dice levels on Bloom filters, equality of keyed hashes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _spec
from .._codes import column_codes
from ..compare import MISSING, Comparison, _col
from ..errors import ConfigError
from ._bloom import dice, overlap, popcount

__all__ = ["DiceAtThresholds", "KeyedIdComparison"]


class _Named(Comparison):
    """A comparison of one main ``column``, named by its ``label`` or that column."""

    column: str
    label: str | None

    @property
    def name(self) -> str:
        return self.label or self.column


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class DiceAtThresholds(_Named):
    """Bloom-filter encodings: one level per Dice-coefficient threshold.

    Levels: 0 below the lowest threshold, then one per threshold, lowest first. Missing when
    either record has no filter.

    With ``containment`` (for names, whose filters hold each word's q-grams) a level
    "contained" is put just below the last ``containment_rank`` thresholds' levels: a pair
    below them whose smaller filter lies for the most part (overlap coefficient
    ``>= containment``) in the larger one, a name with a dropped or added word (SITI AMINAH /
    AMINAH), gets it.

    With ``placeholder_column`` (a flag: the value is a placeholder, e.g. a birth date of
    1 July standing for "unknown"), a pair below the top level with a placeholder on either
    side is missing, not a disagreement (as :class:`~regsosek_link.compare.DateOfBirthComparison`). The Dice coefficient of every pair is one AND and one
    popcount (``np.bitwise_count``) per 64-bit word, vectorised over the pairs of a chunk.

    >>> import pandas as pd
    >>> from regsosek_link.privacy._bloom import FilterSpec, bloom_filters
    >>> from regsosek_link.privacy._encode import _b64_rows, _rows_to_strings
    >>> f = bloom_filters(["SITI AMINAH", "SITI AMINA", "BUDI"], FilterSpec(column="nama"), b"k" * 32)
    >>> recs = pd.DataFrame({"nama": _rows_to_strings(_b64_rows(f), np.array([True] * 3)).tolist() + [None]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0], "right": [1, 2, 3]})
    >>> DiceAtThresholds(column="nama").compute(recs, pairs).tolist()
    [3, 0, -1]
    """

    column: str
    thresholds: tuple[float, ...] = (0.6, 0.75, 0.85, 0.93)
    containment: float | None = None
    containment_rank: int = 2
    placeholder_column: str | None = None
    ignore_when_equal: tuple[str, ...] = ()
    label: str | None = None

    def __post_init__(self) -> None:
        ts = tuple(self.thresholds)
        if not ts or any(not isinstance(t, (int, float)) or not 0 < t <= 1 for t in ts) or list(ts) != sorted(set(ts)):
            raise ConfigError("The 'thresholds' parameter of DiceAtThresholds must be increasing floats in (0, 1]. "
                              f"Got {self.thresholds!r} instead.")

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) + ((self.placeholder_column,) if self.placeholder_column else ())

    @property
    def level_names(self) -> tuple[str, ...]:
        names = (f"Dice < {self.thresholds[0]}",) + tuple(f"Dice >= {t}" for t in self.thresholds)
        if self.containment is None:
            return names
        at = self._contained_level
        return names[:at] + (f"one contained in the other (overlap >= {self.containment})",) + names[at:]

    @property
    def _contained_level(self) -> int:
        return len(self.thresholds) + 1 - self.containment_rank

    def prepare(self, records):
        from ._encode import decode_filters

        _col(records, self.column, self.name)
        codes, uniq = column_codes(records, self.column)
        filters = decode_filters(list(uniq))
        if filters.shape[1] % 8:
            raise ConfigError(f"comparison {self.name!r}: column {self.column!r} holds filters of "
                              f"{filters.shape[1] * 8} bits, not a multiple of 64; is it an encoded filter column?")
        words = filters.view(np.uint64)
        prep = {"c": codes.astype(np.int32), "f": words, "n": popcount(words)}
        if self.placeholder_column:
            flag = _col(records, self.placeholder_column, self.name)
            prep["ph"] = flag.fillna(False).astype(bool).to_numpy()
        return prep

    def score(self, prep, left, right, *, workers=1):
        cl, cr = prep["c"][left], prep["c"][right]
        known = (cl >= 0) & (cr >= 0)
        out = np.full(len(left), MISSING, np.int8)
        k = np.flatnonzero(known)
        a, b = cl[k], cr[k]
        sim = dice(prep["f"][a], prep["f"][b], prep["n"][a], prep["n"][b])
        level = np.zeros(len(k), np.int8)
        for i, t in enumerate(self.thresholds):
            level[sim >= t - 1e-9] = i + 1
        if self.containment is not None:
            at = self._contained_level
            below = np.flatnonzero(level < at)
            level[level >= at] += 1
            inside = overlap(prep["f"][a[below]], prep["f"][b[below]], prep["n"][a[below]], prep["n"][b[below]])
            level[below[inside >= self.containment - 1e-9]] = at
        out[k] = level
        if self.placeholder_column:
            ph = prep["ph"][left] | prep["ph"][right]
            out[ph & (out >= 0) & (out < self.n_levels - 1)] = MISSING
        return out


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class KeyedIdComparison(_Named):
    """Keyed hashes of an ID number (NIK, KK): equal or not, and whether it fits its record.

    Without ``fit_column`` the levels are 0 different, 1 exact. With it (``nik_fit``:
    ``credible`` where the NIK's birth date and sex are the record's, ``contradicts`` where
    one differs, worked out by the data holder on clear values), the levels follow
    :class:`~regsosek_link.compare.IdNumberComparison`'s: 0 different and both credible,
    1 different, 2 one typo (with ``near_column``: the two share a hash of the number with
    one digit masked), 3 exact but one record contradicts it (a copied NIK), 4 exact.

    >>> import pandas as pd
    >>> recs = pd.DataFrame({"nik": ["a1", "a1", "b2", "a1", None],
    ...                      "fit": ["credible", "credible", "credible", "contradicts", None]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0, 0], "right": [1, 2, 3, 4]})
    >>> KeyedIdComparison(column="nik", fit_column="fit").compute(recs, pairs).tolist()
    [4, 0, 3, -1]
    """

    column: str = "nik"
    fit_column: str | None = None
    near_column: str | None = None
    ignore_when_equal: tuple[str, ...] = ()
    label: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return ((self.column,) + ((self.fit_column,) if self.fit_column else ())
                + ((self.near_column,) if self.near_column else ()))

    @property
    def level_names(self) -> tuple[str, ...]:
        if self.fit_column:
            return ("different, both consistent with their records", "different", "one typo",
                    "exact, but contradicts a record (copied NIK?)", "exact")
        return ("different", "one typo", "exact")

    @property
    def near_miss_levels(self) -> dict[str, int]:
        """The "one typo" level (``near_column`` and ``fit_column`` given): its ``u`` is
        learned among the candidates (:func:`regsosek_link.classify.near_miss_u`), where
        NIKs a digit apart are common (serials restart for every kecamatan and date), as on
        clear NIKs."""
        return {"typo": 2} if self.near_column and self.fit_column else {}

    def prepare(self, records):
        _col(records, self.column, self.name)
        prep = {"c": column_codes(records, self.column)[0].astype(np.int32)}
        if self.fit_column:
            _col(records, self.fit_column, self.name)
            fcodes, fu = column_codes(records, self.fit_column)
            lookup = np.append(np.asarray(fu, dtype=object), None)
            fit = lookup[fcodes]
            prep["credible"] = fit == "credible"
            prep["contradicts"] = fit == "contradicts"
        if self.near_column:
            _col(records, self.near_column, self.name)
            ncodes, nu = column_codes(records, self.near_column)
            words = np.array([[int(h, 16) for h in v.split()] for v in nu.tolist()], dtype=np.uint64)
            words = words.reshape(len(nu), -1) if len(nu) else np.zeros((0, 1), np.uint64)
            prep["near"] = np.concatenate([words, np.zeros((1, words.shape[1]), np.uint64)])[ncodes]
            prep["has_near"] = ncodes >= 0
        return prep

    def score(self, prep, left, right, *, workers=1):
        cl, cr = prep["c"][left], prep["c"][right]
        miss = (cl < 0) | (cr < 0)
        same = cl == cr
        typo = np.zeros(len(left), bool)
        if self.near_column:
            both = np.flatnonzero(prep["has_near"][left] & prep["has_near"][right] & ~same)
            typo[both] = (prep["near"][left[both]] == prep["near"][right[both]]).any(axis=1)
        if not self.fit_column:
            out = np.where(same, 2, np.where(typo, 1, 0)).astype(np.int8)
        else:
            cred = prep["credible"][left] & prep["credible"][right]
            odd = prep["contradicts"][left] | prep["contradicts"][right]
            out = np.where(same, np.where(odd, 3, 4), np.where(typo, 2, np.where(cred, 0, 1))).astype(np.int8)
        out[miss] = MISSING
        return out
