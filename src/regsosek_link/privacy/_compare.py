"""Comparisons of encoded records: Dice levels on Bloom filters, equality of keyed hashes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _spec
from .._codes import column_codes
from ..compare import _NEAR_KINDS, _NEAR_LEVEL_NAMES, MISSING, Comparison, _col
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
    1 July standing for "day unknown"), a pair below the top level with a placeholder on
    either side is missing, not a disagreement. With ``year_column`` too (keyed hashes of
    the birth year) such a pair is scored on the year the placeholder keeps, as
    :class:`~regsosek_link.compare.DateOfBirthComparison` with ``year_only_level``: a level
    "year only, same year" just below the top two thresholds' levels when the years are
    equal, missing otherwise; and at the top threshold a placeholder gets a level of its
    own below the top (SIAK's 1 July stands for thousands of birthdays). The Dice coefficient of every pair is one AND and one
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
    year_column: str | None = None
    ignore_when_equal: tuple[str, ...] = ()
    label: str | None = None

    def __post_init__(self) -> None:
        ts = tuple(self.thresholds)
        if not ts or any(not isinstance(t, (int, float)) or not 0 < t <= 1 for t in ts) or list(ts) != sorted(set(ts)):
            raise ConfigError("The 'thresholds' parameter of DiceAtThresholds must be increasing floats in (0, 1]. "
                              f"Got {self.thresholds!r} instead.")
        if self.year_column and (not self.placeholder_column or self.containment is not None or len(ts) < 2):
            raise ConfigError("The 'year_column' parameter of DiceAtThresholds needs a 'placeholder_column', at "
                              "least two thresholds and no 'containment' (it scores placeholder dates on their "
                              f"year). Got placeholder_column={self.placeholder_column!r}, "
                              f"containment={self.containment!r}, thresholds={self.thresholds!r} instead.")

    @property
    def columns(self) -> tuple[str, ...]:
        return ((self.column,) + ((self.placeholder_column,) if self.placeholder_column else ())
                + ((self.year_column,) if self.year_column else ()))

    @property
    def level_names(self) -> tuple[str, ...]:
        names = (f"Dice < {self.thresholds[0]}",) + tuple(f"Dice >= {t}" for t in self.thresholds)
        if self.year_column:
            at = self._year_level
            return (names[:at] + ("year only (placeholder or partial), same year",) + names[at:-1]
                    + (f"{names[-1]}, but a placeholder",) + names[-1:])
        if self.containment is None:
            return names
        at = self._contained_level
        return names[:at] + (f"one contained in the other (overlap >= {self.containment})",) + names[at:]

    @property
    def _contained_level(self) -> int:
        return len(self.thresholds) + 1 - self.containment_rank

    @property
    def _year_level(self) -> int:
        return len(self.thresholds) - 1

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
        if self.year_column:
            _col(records, self.year_column, self.name)
            prep["y"] = column_codes(records, self.year_column)[0]
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
        if self.year_column:
            level[level >= self._year_level] += 1
            level[level == len(self.thresholds) + 1] += 1  # (the top; below it: a placeholder at the top)
        out[k] = level
        if self.placeholder_column:
            ph = prep["ph"][left] | prep["ph"][right]
            top = self.n_levels - 1
            below = ph & (out >= 0) & (out < top)
            out[below] = MISSING
            if self.year_column:
                yl, yr = prep["y"][left], prep["y"][right]
                out[below & (yl >= 0) & (yl == yr)] = self._year_level
                out[ph & (out == top)] = top - 1  # one placeholder date is not the evidence of one real date
        return out


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class KeyedIdComparison(_Named):
    """Keyed hashes of an ID number (NIK, KK): equal, a near miss or different, and whether it
    fits its record; the levels of :class:`~regsosek_link.compare.IdNumberComparison` on clear
    numbers.

    Without ``fit_column`` and ``near_column`` the levels are 0 different, 1 exact. With
    ``near_column`` (``nik_near``: the NIK's near-miss hashes, see
    :func:`regsosek_link.privacy._encode.near_slots`) a near miss -- one substituted digit,
    one transposition of adjacent digits, a serial shifted one place -- gets a level per
    part of the number where it lies: serial, date part, region part (as ``near_miss=True``).
    With ``fit_column`` (``nik_fit``: ``credible`` where the NIK's birth date and sex are the
    record's, ``contradicts`` where one differs, worked out by the data holder on clear
    values) "different" is split into level 0 (different, both credible: two people) and
    level 1 (different), and "exact" into "exact, but contradicts a record" (a copied NIK)
    and "exact", as with ``consistency_columns``.

    >>> import pandas as pd
    >>> recs = pd.DataFrame({"nik": ["a1", "a1", "b2", "a1", None],
    ...                      "fit": ["credible", "credible", "credible", "contradicts", None]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0, 0], "right": [1, 2, 3, 4]})
    >>> KeyedIdComparison(column="nik", fit_column="fit").compute(recs, pairs).tolist()
    [3, 0, 2, -1]
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
        near = _NEAR_LEVEL_NAMES if self.near_column else ()
        if self.fit_column:
            return ("different, both consistent with their records", "different", *near,
                    "exact, but contradicts a record (copied NIK?)", "exact")
        return ("different", *near, "exact")

    @property
    def near_miss_levels(self) -> dict[str, int]:
        """Level of each kind of near miss (``serial``, ``date``, ``region``; with
        ``near_column``), as :attr:`regsosek_link.compare.IdNumberComparison.near_miss_levels`:
        their ``u`` is learned among the candidates (:func:`regsosek_link.classify.near_miss_u`)
        and the clustering's credible-NIK constraint yields across them
        (:func:`regsosek_link.cluster.nik_yield_links`)."""
        if not self.near_column:
            return {}
        first = 2 if self.fit_column else 1
        return {kind: first + i for i, kind in enumerate(_NEAR_KINDS)}

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
            from ._encode import decode_filters, near_slots

            _col(records, self.near_column, self.name)
            ncodes, nu = column_codes(records, self.near_column)
            words = decode_filters(list(nu)).view(np.uint64)
            width = near_slots()[-1].stop
            if len(nu) and words.shape[1] != width:
                raise ConfigError(f"comparison {self.name!r}: column {self.near_column!r} holds {words.shape[1]} "
                                  f"hashes per number, not {width}; encoded with another scheme version? "
                                  "Encode every source again with this version")
            prep["near_c"] = ncodes.astype(np.int32)
            prep["near"] = words.reshape(len(nu), width)
        return prep

    def _near_kind(self, prep, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Index into ``_NEAR_KINDS`` of each pair's near miss (-1: none or unknown)."""
        kind = np.full(len(left), -1, np.int8)
        nl, nr = prep["near_c"][left], prep["near_c"][right]
        both = np.flatnonzero((nl >= 0) & (nr >= 0) & (nl != nr))
        if not len(both):
            return kind
        a, b = prep["near"][nl[both]], prep["near"][nr[both]]
        from ._encode import near_slots

        *parts, shift = near_slots()
        for part, name in zip(parts, ("region", "date", "serial"), strict=True):
            # one hash in common (each NIK's hashes of a part are distinct): a duplicate in
            # the sorted union of the two rows
            union = np.sort(np.concatenate([a[:, part], b[:, part]], axis=1), axis=1)
            hit = (union[:, 1:] == union[:, :-1]).any(axis=1)
            kind[both[hit]] = _NEAR_KINDS.index(name)
        up, plain = shift.start + 1, shift.start
        shifted = (a[:, up] == b[:, plain]) | (a[:, plain] == b[:, up])
        kind[both[shifted]] = _NEAR_KINDS.index("serial")
        return kind

    def score(self, prep, left, right, *, workers=1):
        cl, cr = prep["c"][left], prep["c"][right]
        miss = (cl < 0) | (cr < 0)
        same = cl == cr
        top = self.n_levels - 1
        if self.fit_column:
            cred = prep["credible"][left] & prep["credible"][right]
            odd = prep["contradicts"][left] | prep["contradicts"][right]
            out = np.where(same, np.where(odd, top - 1, top), np.where(cred, 0, 1)).astype(np.int8)
        else:
            out = np.where(same, top, 0).astype(np.int8)
        if self.near_column:
            kind = self._near_kind(prep, left, right)
            levels = np.array(list(self.near_miss_levels.values()), np.int8)
            near = (kind >= 0) & ~same
            out[near] = levels[kind[near]]
        out[miss] = MISSING
        return out
