"""Compare stage: records + candidate pairs -> comparison vectors.

A comparison is a small frozen spec with ordered *levels*, named like sentences. Level ``-1``
is always "missing on either side" (never scored as disagreement), ``0`` is "different", and
higher levels are stronger agreement. :func:`compare` gives one ``int8`` column per comparison.

Each comparison first ``prepare``s per-record arrays once (codes, packed dates and digits),
doing every string operation on the *distinct* values of a column (the codes of
:func:`regsosek_link._codes.column_codes`, shared by the stages), and then scores pairs by
indexing those arrays, chunk by chunk, so memory stays bounded by ``chunk_size`` however many
pairs there are. Values are stripped and blanks are missing, in every comparison.

A comparison whose level depends only on one *value code* per record (a name, a place, a
region) scores each distinct pair of values once: names repeat, so the 2.4 million differing
name pairs of a 1 M-record run are 0.9 million distinct ones, and the ~400 regions make a
lookup table. String similarity uses rapidfuzz's vectorised C++ kernels
(``rapidfuzz.process.cpdist``).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from . import _spec
from ._arrays import bitwise_count, factorize_sorted, stable_argsort
from ._codes import CodeBook, column_codes, has_value, local_book, per_column, with_codes
from ._order import rank_strings
from ._threads import n_threads
from .errors import ConfigError

__all__ = [
    "Comparison",
    "DateOfBirthComparison",
    "ExactMatch",
    "IdNumberComparison",
    "JaroWinklerAtThresholds",
    "LevenshteinAtThresholds",
    "NameComparison",
    "RLComparison",  # noqa: F822 - made on first use (module __getattr__)
    "RegionComparison",
    "compare",
    "prepare_comparisons",
    "usable_comparisons",
]

log = logging.getLogger(__name__)

Prepared = dict[str, np.ndarray]
MISSING = -1


def _column_codes(records: pd.DataFrame, column: str, who: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes of a records column (``int32``, -1 missing or blank) and its distinct stripped
    values, from the codes computed once per run (:mod:`regsosek_link._codes`).

    ``int32`` halves the memory traffic of the per-pair gathers; the narrowed codes are kept
    once per run for every comparison reading the column (read-only).
    """
    _col(records, column, who)
    return _narrow_codes(records, column), column_codes(records, column)[1]


def _pad(values: np.ndarray, fill: Any) -> np.ndarray:
    """``values`` with one more row of ``fill``: indexing it with code -1 (missing) gives ``fill``.

    >>> _pad(np.array([7, 8]), 0)[np.array([1, -1, 0])].tolist()
    [8, 0, 7]
    """
    return np.concatenate([values, np.full((1,) + values.shape[1:], fill, values.dtype)])


def _tuple_codes(codes: Sequence[np.ndarray], known: np.ndarray) -> np.ndarray:
    """One ``int32`` code per distinct tuple of ``codes`` on the rows where ``known``, -1 elsewhere.

    >>> _tuple_codes([np.array([0, 0, 1, -1]), np.array([2, 2, -1, -1])],
    ...              np.array([True, True, True, False])).tolist()
    [0, 0, 1, -1]
    """
    key, size = np.zeros(int(known.sum()), np.int64), 1
    for c in codes:
        c = c[known].astype(np.int64)
        n = int(c.max(initial=-1)) + 2  # -1 (missing) is a value here too
        if size * n >= 2**62:  # renumber the tuples so far (fewer than rows) before overflow
            key = pd.factorize(key)[0]
            size = len(key) + 1
        key, size = key * n + c + 1, size * n
    out = np.full(len(known), MISSING, np.int32)
    out[known] = pd.factorize(key)[0]
    return out


def _one_row_each(codes: np.ndarray) -> np.ndarray:
    """A row index (any) of each code ``0 .. codes.max()``.

    >>> _one_row_each(np.array([1, -1, 0, 1])).tolist()
    [2, 3]
    """
    known = np.flatnonzero(codes >= 0)
    rows = np.zeros(int(codes.max(initial=-1)) + 1, np.int64)
    rows[codes[known]] = known
    return rows


#: Pairs a comparison scored pair by pair (NIK digits, dates, RT/RW) takes at a time: the
#: dozen temporaries of its vectorised score stay in the CPU's cache instead of each being a
#: fresh array of millions of pairs the kernel must map in (at 1,003,957 records and 5.9 M
#: pairs: 1.43 -> 0.98 s for the NIK, KK, date, RT/RW and sex comparisons). Comparisons
#: scored per distinct pair of values (names) gain nothing from it and keep ``chunk_size``.
CACHE_PAIRS = 1 << 17


def _narrow_codes(records: pd.DataFrame, column: str) -> np.ndarray:
    """:func:`~regsosek_link._codes.column_codes` of ``records[column]`` as ``int32`` (-1
    missing) when they fit, as every code of fewer than 2**31 records does; made once per
    run's code book."""
    def narrow(_: pd.Series) -> np.ndarray:
        codes = column_codes(records, column)[0]
        return codes.astype(np.int32) if codes.max(initial=-1) < 2**31 - 1 else codes

    return per_column(records, column, "codes32", narrow)


def _chunks(n: int, chunk_size: int | None) -> list[slice]:
    """Consecutive slices of at most ``chunk_size`` (None: one) covering ``range(n)``."""
    step = max(chunk_size or n, 1)
    return [slice(start, min(start + step, n)) for start in range(0, n, step)]


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
    #: ``score(a, b) == score(b, a)`` for every pair: with value codes (see
    #: :meth:`prepare_all`) each unordered pair of values is then scored once, not once per
    #: orientation (half the name pairs of a run are the reverse of another). A subclass
    #: sets it only when its score cannot depend on the order of the two records.
    symmetric: ClassVar[bool] = False

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
        """``prepare`` plus the codes of the ``ignore_when_equal`` columns.

        When ``prepare`` gives value codes ``"v"`` (the level of a pair depends only on the
        value codes of its two records, and -1 means missing), ``"_rep"`` holds one record
        of each value: :meth:`levels_of` then scores each distinct pair of values once.
        """
        prep = self.prepare(records)
        for i, col in enumerate(getattr(self, "ignore_when_equal", ())):
            _col(records, col, self.name)
            # one array per column for every comparison (compare computes "same value" once per
            # array), 32-bit: the pairs' random reads of it stay in the cache more often
            prep[f"_ignore{i}"] = _narrow_codes(records, col)
        if "v" in prep:
            prep["_rep"] = _one_row_each(prep["v"])
        return prep

    def levels_of(
        self, prep: Prepared, left: np.ndarray, right: np.ndarray, *, workers: int = 1,
        chunk_size: int | None = None,
    ) -> np.ndarray:
        """``score``, then missing (-1) where an ``ignore_when_equal`` column agrees.

        A comparison whose evidence another one already carries is switched off for those
        pairs: two records on one family card (KK) live in one desa, so agreeing on the desa
        says nothing more about being one person and must not be counted twice.

        ``score`` is called on at most ``chunk_size`` pairs at a time (None: all at once), and
        on distinct pairs of values only when ``prep`` has value codes (see
        :meth:`prepare_all`); the levels are the same as ``score`` on every pair.
        """
        return _levels(self, prep, left, right, workers=workers, chunk_size=chunk_size, same={})

    def to_dict(self) -> dict[str, Any]:
        return _spec.to_dict(self)


def _score_chunked(comp: Comparison, prep: Prepared, left: np.ndarray, right: np.ndarray, *,
                   workers: int, chunk_size: int | None) -> np.ndarray:
    """``comp.score`` on at most ``chunk_size`` pairs at a time."""
    out = np.empty(len(left), np.int8)
    for sl in _chunks(len(left), chunk_size):
        out[sl] = comp.score(prep, left[sl], right[sl], workers=workers)
    return out


def _levels_by_value(comp: Comparison, prep: Prepared, left: np.ndarray, right: np.ndarray, *,
                     workers: int, chunk_size: int | None) -> np.ndarray:
    """``comp.score`` of every pair, computed once per distinct pair of value codes.

    With few values (``n_values ** 2`` at most four times the number of pairs: regions,
    places) the pairs of values that occur are marked in a dense table of all pairs of
    values, scored, and read back; otherwise the pairs of differing values are deduplicated
    on a combined ``int64`` key (hashing: ``np.unique`` sorts) and scored once each. A
    :attr:`Comparison.symmetric` comparison scores a pair of values in one order only.
    """
    v, rep = prep["v"], prep["_rep"]
    nv = len(rep)
    if (nv + 1) ** 2 <= 4 * len(left):
        key = np.empty(len(left), np.int32 if (nv + 1) ** 2 < 2**31 else np.int64)
        for sl in _chunks(len(left), CACHE_PAIRS):  # (a cached block of pairs at a time)
            kl, kr = v[left[sl]], v[right[sl]]
            if comp.symmetric:  # (the missing code -1 stays on the left)
                kl, kr = np.minimum(kl, kr), np.maximum(kl, kr, out=kr)
            key[sl] = (kl + 1).astype(key.dtype) * (nv + 1) + (kr + 1)
        # (row and column 0 of the table: code -1)
        table = np.full((nv + 1) ** 2, MISSING, np.int8)
        seen = np.zeros(len(table), bool)
        seen[key] = True
        seen[: nv + 1] = seen[:: nv + 1] = False  # pairs with a missing value stay MISSING
        todo = np.flatnonzero(seen)
        a, b = np.divmod(todo, nv + 1)
        table[todo] = _score_chunked(comp, prep, rep[a - 1], rep[b - 1], workers=workers, chunk_size=chunk_size)
        return table[key]
    # pairs of one value get that value's level with itself; the others a key per pair of
    # values, deduplicated once: the per-pair passes go a cached block at a time
    out = np.full(len(left), MISSING, np.int8)
    itself = None
    todo_parts, key_parts = [], []
    for sl in _chunks(len(left), CACHE_PAIRS):
        kl, kr = v[left[sl]], v[right[sl]]
        if comp.symmetric:  # (the missing code -1 stays on the left)
            kl, kr = np.minimum(kl, kr), np.maximum(kl, kr, out=kr)
        known = (kl >= 0) & (kr >= 0)
        same = known & (kl == kr)
        at = np.flatnonzero(same)
        if len(at):
            if itself is None:
                itself = _score_chunked(comp, prep, rep, rep, workers=workers, chunk_size=chunk_size)
            out[sl.start + at] = itself[kl[at]]
        at = np.flatnonzero(known & ~same)
        todo_parts.append(at + sl.start)
        key_parts.append(kl[at].astype(np.int64) * nv + kr[at])
    todo = np.concatenate(todo_parts) if todo_parts else np.zeros(0, np.int64)
    # (the distinct pairs in order of value: the names each reads are then read in order)
    inverse, keys = factorize_sorted(np.concatenate(key_parts) if key_parts else np.zeros(0, np.int64))
    del todo_parts, key_parts
    a, b = np.divmod(keys, nv)
    out[todo] = _score_chunked(comp, prep, rep[a], rep[b], workers=workers, chunk_size=chunk_size)[inverse]
    return out


def _same_on_any(columns: Sequence[np.ndarray], left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Pairs whose records share a known value of any of ``columns`` (codes arrays), a
    cached block of pairs at a time (see :data:`CACHE_PAIRS`)."""
    out = np.empty(len(left), bool)
    for sl in _chunks(len(left), CACHE_PAIRS):
        lf, rg = left[sl], right[sl]
        mask = np.zeros(len(lf), bool)
        for codes in columns:
            cl = codes[lf]
            mask |= (cl == codes[rg]) & (cl >= 0)
        out[sl] = mask
    return out


def _levels(comp: Comparison, prep: Prepared, left: np.ndarray, right: np.ndarray, *,
            workers: int, chunk_size: int | None, same: dict) -> np.ndarray:
    """:meth:`Comparison.levels_of`; ``same`` caches the ``ignore_when_equal`` masks of these
    pairs by the codes arrays they read, for the comparisons that ignore the same columns."""
    if "v" in prep:
        out = _levels_by_value(comp, prep, left, right, workers=workers, chunk_size=chunk_size)
    else:
        # (scored pair by pair: a few cached blocks of pairs at a time, not ``chunk_size``)
        out = _score_chunked(comp, prep, left, right, workers=workers,
                             chunk_size=min(chunk_size or len(left), CACHE_PAIRS))
    ignored = [prep[f"_ignore{i}"] for i in range(len(prep)) if f"_ignore{i}" in prep]
    if ignored:
        key = tuple(map(id, ignored))
        if key not in same:
            same[key] = _same_on_any(ignored, left, right)
        out[same[key]] = MISSING
    return out


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
    """A comparison of one column: its name, its columns and its codes.

    Its level depends on the two values only: string similarities are scored once per
    distinct pair of values (``_by_value``), plain equality is cheaper per pair.
    """

    column: str
    label: str | None
    _by_value = True

    @property
    def name(self) -> str:
        return self.label or self.column

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def prepare(self, records):
        codes, uniq = _column_codes(records, self.column, self.name)
        return {"c": codes, "u": uniq} | ({"v": codes} if self._by_value else {})

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

    symmetric = True
    column: str
    ignore_when_equal: tuple[str, ...] = ()
    label: str | None = None
    _by_value = False

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

    symmetric = True
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
        cl, cr, _miss, exact, todo = self._pairs_to_score(prep, left, right)
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

    symmetric = True
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


def _name_values(u: np.ndarray, *, tokens_only: bool = False) -> Prepared:
    """Per distinct name: its tokens sorted alphabetically (``sorted_u``), a code of those
    (``sorted_c``: equal codes, same tokens in any order), its token ids (``tok_u``) and
    their :func:`_token_masks` (``tok_m``); unless ``tokens_only`` (all a phonetic name
    needs: ``sorted_c``, ``tok_u``, ``tok_m``), also the names without joiners, the token
    words and what the short-form test needs.

    All get one more entry, for code -1 (missing): no tokens, sorted code -1.
    """
    array = _ascii_arrow(u)
    spaced = array is not None and not pc.any(pc.match_substring_regex(array, _OTHER_SPACE_ASCII)).as_py()
    if spaced:  # (ASCII names whose only white space is " ": Arrow's kernels, no Python per name)
        srt_arrow, tok_matrix, words = _sorted_tokens_arrow(array)
        sorted_c = _first_seen_codes(srt_arrow)
        srt = np.zeros(0, object) if tokens_only else srt_arrow.to_numpy(zero_copy_only=False)
    else:
        srt = np.array([" ".join(sorted(x.split())) for x in u], dtype=object)
        tok_matrix, words = _token_matrix(u, with_tokens=True)
        sorted_c = pd.factorize(srt)[0].astype(np.int32)
    tok = np.ascontiguousarray(_pad(tok_matrix, MISSING).T)
    if tokens_only:
        return {"sorted_c": _pad(sorted_c, MISSING), "tok_u": tok, "tok_m": _token_masks(tok)}
    # per token id (and one more entry, for the -1 padding): its first letter, and that
    # letter again if the token is an initial (one letter), else a value no letter has
    lead = np.array([ord(w[0]) for w in words] + [-3], np.int32)
    ini = np.where(np.array([len(w) == 1 for w in words] + [False]), lead, np.int32(-2))
    lead_bit, ini_bit = _letter_bits(lead, ini)
    # the last token of each name (-1: none), and which tokens start other tokens
    n_tok = (tok_matrix >= 0).sum(axis=1)
    last = np.where(n_tok > 0, tok_matrix[np.arange(len(u)), np.maximum(n_tok - 1, 0)], -1).astype(np.int32)
    prefixes = _prefix_pairs(words)
    cut = np.zeros(len(words) + 1, bool)
    cut[prefixes // max(len(words), 1)] = True
    # the name without spaces, hyphens, dots and apostrophes: NUR HIDAYAH = NURHIDAYAH
    joined: Any  # (an object array of str, as _without_joiners gives)
    if array is None:
        joined = _without_joiners(u)
        joined_c = pd.factorize(np.where(joined == "", None, joined))[0].astype(np.int32)
    else:
        joined_arrow = pc.replace_substring_regex(array, _JOINERS_ASCII, "")
        joined = joined_arrow.to_numpy(zero_copy_only=False)
        joined_c = _first_seen_codes(pc.if_else(pc.equal(joined_arrow, ""), None, joined_arrow))
    return {"sorted_u": _pad(srt, None), "sorted_c": _pad(sorted_c, MISSING),
            "joined_u": _pad(joined, None), "joined_c": _pad(joined_c, MISSING), "words": _pad(words, ""),
            "n_tok": (tok >= 0).sum(axis=0, dtype=np.int8), "tok_u": tok, "tok_m": _token_masks(tok),
            "short_form": _ShortForms(lead, ini, _pad(last, MISSING), prefixes, len(words),
                                      _pad((ini[tok_matrix] >= 0).any(axis=1) | cut[last], False),
                                      _pad(pd.factorize(np.array([w[:2] for w in words], dtype=object))[0], MISSING),
                                      lead_bit, ini_bit, None if lead_bit is None else _rows(np.bitwise_or, lead_bit[tok]))}


def _rare_tokens(tok: np.ndarray, codes: np.ndarray, share: float) -> np.ndarray:
    """Per token id (and a last entry, False, for the padding -1): whether fewer than
    ``share`` of the records (``codes``: each record's distinct-name code, -1 missing) hold
    it. ``tok`` is :func:`_name_values`' (width, n + 1) token matrix.

    >>> tok = np.array([[0, 0, 1, -1], [1, -1, -1, -1]])  # names "A B", "A", "B", padding
    >>> _rare_tokens(tok, np.array([0, 1, 1, 2, -1]), 0.5).tolist()  # A: 3 of 5 records, B: 2
    [False, True, False]
    """
    n_names = tok.shape[1] - 1
    per_name = np.bincount(codes[codes >= 0], minlength=n_names).astype(np.float64)
    ids = tok[:, :n_names]
    real = ids >= 0
    n_ids = int(ids.max(initial=-1)) + 1
    held = np.bincount(ids[real], weights=np.broadcast_to(per_name, ids.shape)[real], minlength=n_ids)
    return np.r_[held < share * max(len(codes), 1), False]


def _prefix_pairs(words: np.ndarray, min_length: int = 2) -> np.ndarray:
    """Sorted codes ``p * len(words) + t`` of the token pairs where token ``p`` (at least
    ``min_length`` letters) is a proper prefix of token ``t``, both in ``words``.

    >>> _prefix_pairs(np.array(["AD", "ADNYANA", "ADI", "A"], dtype=object)).tolist()  # AD: 0, ADNYANA: 1, ADI: 2
    [1, 2]
    """
    v = len(words)
    if v == 0:
        return np.zeros(0, np.int64)
    ascii_words = _ascii_arrow(words)
    ser = pd.Series(words, dtype=object)
    lengths = (ser.str.len().to_numpy() if ascii_words is None
               else pc.binary_length(ascii_words).to_numpy(zero_copy_only=False).astype(np.int64))
    index = pd.Index(words)
    codes = []
    # a prefix is itself a word: only the lengths words have (not every length up to the
    # longest token, which a huge field would make a quadratic loop)
    for k in np.unique(lengths[(lengths >= min_length) & (lengths < lengths.max(initial=0))]).tolist():
        longer = np.flatnonzero(lengths > k)
        if ascii_words is None:
            pre = index.get_indexer(ser.iloc[longer].str[:k])
        else:  # (the same in Arrow's kernels, without a Python string per word)
            cut = pc.utf8_slice_codeunits(ascii_words.take(longer), 0, k)
            pre = pc.index_in(cut, value_set=ascii_words).fill_null(-1).to_numpy(zero_copy_only=False)
        found = pre >= 0
        codes.append(pre[found].astype(np.int64) * v + longer[found])
    return np.sort(np.concatenate(codes)) if codes else np.zeros(0, np.int64)


def _letter_bits(lead: np.ndarray, ini: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Per token id (and the padding's last entry, 0): a ``uint64`` with one bit for its
    first letter, and that bit again where the token is an initial (else 0); None, None
    when the tokens start with more than 64 letters.

    >>> [x.tolist() for x in _letter_bits(np.array([65, 66, 65, -3]), np.array([-2, 66, -2, -2]))]
    [[1, 2, 1, 0], [0, 2, 0, 0]]
    """
    codes, letters = pd.factorize(lead[:-1])
    if len(letters) > 64:
        return None, None
    bit = np.r_[np.left_shift(np.uint64(1), codes.astype(np.uint64)), np.uint64(0)]
    return bit, np.where(ini >= 0, bit, np.uint64(0))


class _ShortForms(NamedTuple):
    """What :func:`_short_form_subset` needs of a column's distinct names, by token id (the
    padding -1 indexes the last entry of ``lead``/``ini``) and by name (``last``, ``has``)."""

    lead: np.ndarray  # first letter of each token
    ini: np.ndarray  # that letter if the token is an initial, else -2
    last: np.ndarray  # each name's last token id
    prefixes: np.ndarray  # _prefix_pairs codes
    n_words: int
    has: np.ndarray  # each name holds an initial or ends in a token that starts another
    head: np.ndarray  # a code of the first two letters of each token
    lead_bit: np.ndarray | None  # one bit per first letter (``uint64``; None: over 64 letters)
    ini_bit: np.ndarray | None  # that bit if the token is an initial, else 0
    letters: np.ndarray | None  # per name, the ``lead_bit`` of its tokens ORed (None with them)


_JOINERS = r"[\s\-.'`]+"
#: :data:`_JOINERS` for ASCII text in Arrow's (RE2) syntax: ``\s`` spelled out as the ASCII
#: characters Python's ``re`` takes for white space (RE2's ``\s`` lacks ``\v`` and ``\x1c-\x1f``)
_JOINERS_ASCII = r"[\t\n\x0b\x0c\r\x1c-\x1f \-.'`]+"


def _ascii_arrow(values: np.ndarray) -> pa.Array | None:
    """Distinct names (object array of ``str``) as an Arrow string array when there are some
    and all are ASCII, where Arrow's string kernels and Python's give the same results;
    else None."""
    if len(values) == 0:
        return None
    try:
        array = pa.array(values, type=pa.large_string())
    except (pa.ArrowException, UnicodeError):  # (lone surrogates)
        return None
    return array if pc.all(pc.string_is_ascii(array)).as_py() else None


def _without_joiners(u: np.ndarray) -> Any:
    """Each name of ``u`` (object array of ``str``) without spaces, hyphens, dots and
    apostrophes (:data:`_JOINERS`), as an object array (:func:`_name_values` takes ASCII
    names through Arrow's regex kernel, :data:`_JOINERS_ASCII`, instead).

    >>> _without_joiners(np.array(["NUR HIDAYAH", "SITI-AMINAH", "O'NEIL"], dtype=object)).tolist()
    ['NURHIDAYAH', 'SITIAMINAH', 'ONEIL']
    """
    return pd.Series(u, dtype=object).str.replace(_JOINERS, "", regex=True).to_numpy(dtype=object)


#: ASCII characters Python's ``str.split()`` takes for white space, other than " "
_OTHER_SPACE_ASCII = r"[\t\n\x0b\x0c\r\x1c-\x1f]"


def _first_seen_codes(values: pa.Array) -> np.ndarray:
    """``int32`` codes of Arrow values in order of first appearance, -1 for null: what
    ``pd.factorize`` gives the same values as Python objects, by Arrow's hashing (which does
    not hold the GIL).

    >>> _first_seen_codes(pa.array(["B", None, "A", "B"])).tolist()
    [0, -1, 1, 0]
    """
    codes = pc.dictionary_encode(values).indices
    return pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)


def _sorted_tokens_arrow(array: pa.Array, max_tokens: int = 8) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """For ASCII names whose only white space is " " (:func:`_name_values` checks): each
    name's tokens in alphabetical order joined by single spaces (``" ".join(sorted(x.split()))``),
    and :func:`_token_matrix` with its tokens, both from one split of all names in Arrow.

    >>> srt, tok, words = _sorted_tokens_arrow(pa.array(["B A B", "C  A", "A"], pa.large_string()))
    >>> srt.to_pylist(), tok.tolist(), words.tolist()
    (['A B B', 'A C', 'A'], [[0, 1], [2, 1], [1, -1]], ['B', 'A', 'C'])
    """
    n = len(array)
    parts = pc.split_pattern(array, " ")
    flat = pc.list_flatten(parts)
    rows = pc.list_parent_indices(parts)
    real = pc.not_equal(pc.binary_length(flat), 0)  # (double spaces give empty tokens)
    flat, rows = flat.filter(real), rows.filter(real).to_numpy().astype(np.int64)
    encoded = pc.dictionary_encode(flat)
    ids = encoded.indices.to_numpy().astype(np.int64)
    words = encoded.dictionary.to_numpy(zero_copy_only=False)
    # sorted tokens: by name, then by the token's rank among all tokens (Arrow's byte order
    # is code point order), repeated tokens kept
    order = stable_argsort(rows * max(len(words), 1) + rank_strings(encoded.dictionary)[ids])
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=offsets[1:])
    srt = pc.binary_join(pa.LargeListArray.from_arrays(pa.array(offsets), flat.take(pa.array(order))),
                          pa.scalar(" ", flat.type))
    return srt, _token_id_matrix(rows, ids, n, max_tokens), words


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class NameComparison(Comparison):
    """Order-free comparison of full names (no first/last split).

    Levels:

    0. different: no token in common
    1. a shared token (or a shared phonetic token)
    2. similar: Jaro-Winkler of the sorted tokens >= ``fuzzy_threshold`` (typos in a
       mononym: ENENG / MNENG)
    3. one name's tokens contained in the other's (a dropped or added token; when the names
       share a whole token, an initial stands for a token of its letter and a name's last
       token for a token it starts, as a short field cuts it: ``A. SIMBOLON`` in ``ADITYA
       SIMBOLON``, ``AHMAD F HIDAYAT`` in ``AHMAD FAUZI HIDAYAT``, ``RICARDO M SIMATUPAN``
       in ``RICARDO MANGASI SIMATUPANG``), or Jaro-Winkler of the sorted tokens >= 0.88
    4. same tokens in any order, same phonetic tokens, the same letters once spaces, hyphens,
       dots and apostrophes are taken out (NUR HIDAYAH / NURHIDAYAH, SITI-AMINAH / SITI
       AMINAH), or Jaro-Winkler of sorted tokens >= 0.95
    5. exact

    Where the two names have different numbers of tokens, the Jaro-Winkler similarity is the
    higher of that of the sorted tokens and that of the names without spaces (a name split
    differently and mistyped: NURHIDAYAH / NUR HIDAYAT). Two names that start with the same
    token, are not one inside the other and not alike at level 4, are as similar (levels 2
    and 3) as the tokens they do not share: I KETUT SUARDANA / I KETUT MERTAYASA share the
    birth-order prefix and nothing else (a shared token, level 1), where the whole names
    score 0.88.

    With ``term_frequency=True`` an exact agreement is weighted by how common the name is
    (Splink's term-frequency adjustment, see
    :func:`regsosek_link.classify.term_frequency_adjustments`): SUMARNI = SUMARNI says less
    than WIDYASTUTI RAHMAWATI = WIDYASTUTI RAHMAWATI.

    With ``common_token_share`` (e.g. 0.01; off by default), level 1 needs a shared token
    held by fewer than that share of the column's records: SITI, NUR, MUHAMMAD, the Balinese
    I / NI and birth-order names, a common marga say almost nothing on their own (on the
    generator's candidate pairs a name sharing only such a token is one person 1 % of the
    time, against 5 % for a rarer token). The other levels are unchanged. Shares are counted
    on the records given to :meth:`prepare`, raw and phonetic tokens each on their own, so
    the Spark engine, which compares batches of pairs, does not support it yet.

    With ``single_token_level=True`` a one-token name contained in the other's (SIREGAR in
    HOTMAN SIREGAR, RIZKI in MUHAMMAD RIZKI) gets a level of its own, level 3, below "tokens
    contained" (the levels from there up move up by one): one given name or marga that two
    records share says far less than two tokens that agree, and sharing a level gives both
    the weight of neither. The model learns its m and u like any other's.

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

    symmetric = True  # every test below reads both names alike (one in the other: either way)
    column: str = "nama"
    phonetic_column: str | None = None
    fuzzy_threshold: float = 0.8
    term_frequency: bool = False
    common_token_share: float | None = None
    single_token_level: bool = False
    ignore_when_equal: tuple[str, ...] = ()
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.column

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,) + ((self.phonetic_column,) if self.phonetic_column else ())

    @property
    def contained_level(self) -> int:
        """The lowest level at which one name's tokens are all in the other's (or the two are
        as alike as a typo); the levels below it are names that differ."""
        return 3

    @property
    def level_names(self) -> tuple[str, ...]:
        single = ("a one-token name contained in the other's",) if self.single_token_level else ()
        return ("different", "a shared token", f"similar (JW >= {self.fuzzy_threshold:g})", *single,
                "tokens contained / JW >= 0.88", "same tokens / sounds alike", "exact")

    def prepare(self, records):
        # all string work on distinct values; rows point at them through integer codes
        codes, uniq = _column_codes(records, self.column, self.name)
        prep = {"c": codes, **_name_values(uniq)}
        if self.common_token_share is not None:
            prep["rare"] = _rare_tokens(prep["tok_u"], codes, self.common_token_share)
        if not self.phonetic_column:
            return prep | {"v": codes}
        pcodes, puniq = _column_codes(records, self.phonetic_column, self.name)
        ph = _name_values(puniq, tokens_only=True)
        if self.common_token_share is not None:
            prep["ph_rare"] = _rare_tokens(ph["tok_u"], pcodes, self.common_token_share)
        # the level depends on the (name, phonetic name) of each side: those are the values,
        # and the names alone when each name has one phonetic name (as standardise makes it)
        known = codes >= 0
        functional = (pcodes[_one_row_each(codes)][codes[known]] == pcodes[known]).all()
        return prep | {"ph_code": pcodes, "ph_c": ph["sorted_c"], "ph_tok_u": ph["tok_u"],
                       "ph_tok_m": ph["tok_m"],
                       "v": codes if functional else _tuple_codes([codes, pcodes], codes >= 0)}

    def score(self, prep, left, right, *, workers=1):
        cl, cr = prep["c"][left], prep["c"][right]
        miss = (cl < 0) | (cr < 0)
        exact = (cl == cr) & ~miss
        out = np.zeros(len(left), np.int8)
        todo = np.flatnonzero(~miss & ~exact)
        if len(todo):
            ul, ur = cl[todo], cr[todo]
            # every test below is jw >= t for t >= the cutoff: a score under it (returned as
            # 0, and cheaper to rule out) fails them all as it would have
            cutoff = max(min(self.fuzzy_threshold, 0.88) - 1e-6, 0.0)
            jw = process.cpdist(prep["sorted_u"][ul], prep["sorted_u"][ur], scorer=JaroWinkler.normalized_similarity,
                                score_cutoff=cutoff, workers=workers) + 1e-6
            jl = prep["joined_c"][ul]
            level3 = ((prep["sorted_c"][ul] == prep["sorted_c"][ur]) | (jw >= 0.95)
                      | ((jl == prep["joined_c"][ur]) & (jl >= 0)))
            # names split differently (NURHIDAYAH / NUR HIDAYAT): their similarity is also that
            # of the names without spaces, scored only where the token counts differ
            split = np.flatnonzero((prep["n_tok"][ul] != prep["n_tok"][ur]) & ~level3)
            if len(split):
                jw[split] = np.maximum(jw[split], process.cpdist(
                    prep["joined_u"][ul[split]], prep["joined_u"][ur[split]],
                    scorer=JaroWinkler.normalized_similarity, score_cutoff=cutoff, workers=workers) + 1e-6)
                level3[split] |= jw[split] >= 0.95
            subset, shared = _names_overlap(prep["tok_u"], prep["tok_m"], ul, ur, prep["short_form"],
                                            prep.get("rare"))
            # names that start with the same token are as alike as the tokens they do not
            # share: I KETUT SUARDANA / I KETUT MERTAYASA score 0.88 on the shared birth-order
            # tokens alone, and are two people
            rest = np.flatnonzero(~subset & ~level3 & (jw >= self.fuzzy_threshold)
                                  & (prep["tok_u"][0, ul] == prep["tok_u"][0, ur]) & (prep["tok_u"][0, ul] >= 0))
            if len(rest):
                jw[rest] = _unshared_similarity(prep["tok_u"], prep["words"], ul[rest], ur[rest], cutoff, workers)
            if "ph_code" in prep:
                # code -1 (no phonetic name) indexes the padding: sorted code -1, no tokens
                pl, pr = prep["ph_code"][left[todo]], prep["ph_code"][right[todo]]
                sl, sr = prep["ph_c"][pl], prep["ph_c"][pr]
                level3 |= (sl == sr) & (sl >= 0)
                ph_subset, ph_shared = _names_overlap(prep["ph_tok_u"], prep["ph_tok_m"], pl, pr,
                                                      rare=prep.get("ph_rare"))
                subset |= ph_subset
                shared |= ph_shared
            out[todo] = np.select(
                [level3, subset | (jw >= 0.88), jw >= self.fuzzy_threshold, shared], [4, 3, 2, 1], 0)
            if self.single_token_level:
                lv = out[todo]
                lv += lv >= 3
                one = (prep["n_tok"][ul] == 1) | (prep["n_tok"][ur] == 1)
                lv[(lv == 4) & subset & one] = 3
                out[todo] = lv
        out[exact] = 6 if self.single_token_level else 5
        out[miss] = MISSING
        return out


def _token_matrix(u: np.ndarray, max_tokens: int = 8, *, with_tokens: bool = False
                  ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """(n, max_tokens) int32 ids of each value's distinct tokens, -1 padded (and, with
    ``with_tokens``, the token of each id).

    Token ids are shared by all values, so two names share a token exactly when they share
    an id: overlap is then plain integer work, no string scoring per pair. Values are split
    on single spaces in one string operation (joined, then split), not one by one.

    >>> _token_matrix(np.array(["A B A", "B", "C  A"], dtype=object)).tolist()
    [[0, 1], [1, -1], [2, 0]]
    """
    n = len(u)
    if n == 0:
        out = np.full((0, 1), -1, np.int32)
        return (out, np.array([], dtype=object)) if with_tokens else out
    tokens = np.array(" ".join(u).split(" "), dtype=object)
    rows = np.repeat(np.arange(n), np.fromiter(map(str.count, u, [" "] * n), np.int64, n) + 1)
    real = tokens != ""
    tokens, rows = tokens[real], rows[real]
    ids, words = pd.factorize(tokens)
    out = _token_id_matrix(rows, ids, n, max_tokens)
    return (out, np.asarray(words, dtype=object)) if with_tokens else out


def _token_id_matrix(rows: np.ndarray, ids: np.ndarray, n: int, max_tokens: int) -> np.ndarray:
    """:func:`_token_matrix` from each token's name (``rows``, ascending) and id: a name's
    distinct ids in order of first appearance, -1 padded, as many columns as the longest name needs."""
    out = np.full((n, max_tokens), -1, np.int32)
    # a token repeated within a name counts once (its first: a stable sort by name and id)
    order = stable_argsort(rows * (int(ids.max(initial=0)) + 1) + ids)
    key_rows, key_ids = rows[order], ids[order]
    repeat = np.zeros(len(order), bool)
    repeat[order[1:]] = (key_rows[1:] == key_rows[:-1]) & (key_ids[1:] == key_ids[:-1])
    rows, ids = rows[~repeat], ids[~repeat]
    # rank = position among the name's tokens
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    keep = rank < max_tokens
    out[rows[keep], rank[keep]] = ids[keep]
    # only as many columns as the longest name needs: overlap costs width squared per pair
    width = max(int(rank.max(initial=-1)) + 1, 1)
    return np.ascontiguousarray(out[:, :min(width, max_tokens)])


def _token_overlap(a: np.ndarray, b: np.ndarray, rare: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(one side's tokens all in the other's, any token shared) for aligned token-id columns.

    ``a`` and ``b`` are (width, n): row ``i`` holds the ``i``-th token id of each name, -1
    padded, so every comparison below is one contiguous vector operation. With ``rare`` (a
    flag per token id, its last entry for the padding) only a rare token counts as shared;
    the subset test counts every token.
    """
    common = np.zeros(a.shape[1], np.int8)
    rare_hit = np.zeros(a.shape[1], bool)
    for ai in a:
        hit = ai == b[0]
        for bj in b[1:]:
            hit |= ai == bj
        common += hit & (ai >= 0)
        if rare is not None:
            rare_hit |= hit & rare[ai]
    na, nb = (a >= 0).sum(axis=0, dtype=np.int8), (b >= 0).sum(axis=0, dtype=np.int8)
    shared = common > 0
    subset = shared & (common == np.minimum(na, nb))
    return subset, (shared if rare is None else rare_hit)


def _held_by_other(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (width, n) token-id columns ``a`` and ``b`` (-1 padded): which tokens of ``a`` the
    other name holds, and which of ``b``.

    >>> [x.tolist() for x in _held_by_other(np.array([[1], [2]]), np.array([[2], [-1]]))]
    [[[False], [True]], [[True], [False]]]
    """
    in_b, in_a = np.zeros(a.shape, bool), np.zeros(b.shape, bool)
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            same = (a[i] == b[j]) & (a[i] >= 0)
            in_b[i] |= same
            in_a[j] |= same
    return in_b, in_a


def _unshared_similarity(tok: np.ndarray, words: np.ndarray, left: np.ndarray, right: np.ndarray,
                         cutoff: float, workers: int) -> np.ndarray:
    """Jaro-Winkler similarity of the tokens each name does not share with the other (sorted,
    space-joined; the higher of that and of the same without spaces) for names that share a
    token. ``tok`` is :func:`_name_values`' (width, n + 1) token-id matrix, ``words`` its token
    per id (and ``""`` for the padding).

    >>> u = np.array(["I KETUT SUARDANA", "I KETUT MERTAYASA", "BUDI SANTOSO", "BUDI SANTOSA"], dtype=object)
    >>> v = _name_values(u)
    >>> s = _unshared_similarity(v["tok_u"], v["words"], np.array([0, 2]), np.array([1, 3]), 0.0, 1)
    >>> [round(float(x), 2) for x in s]
    [0.56, 0.94]
    """
    a, b = tok[:, left], tok[:, right]
    in_b, in_a = _held_by_other(a, b)

    def text(t: np.ndarray, drop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = np.sort(words[np.where(drop, -1, t)].T, axis=1)  # "" (shared, padding) sorts first
        spaced, joined = w[:, 0], w[:, 0]
        for k in range(1, w.shape[1]):
            spaced = spaced + np.where((w[:, k] != "") & (spaced != ""), " ", "") + w[:, k]
            joined = joined + w[:, k]
        return spaced, joined

    sa, ja = text(a, in_b)
    sb, jb = text(b, in_a)
    return np.maximum(
        process.cpdist(sa, sb, scorer=JaroWinkler.normalized_similarity, score_cutoff=cutoff, workers=workers),
        process.cpdist(ja, jb, scorer=JaroWinkler.normalized_similarity, score_cutoff=cutoff, workers=workers)) + 1e-6


def _token_masks(tok: np.ndarray) -> np.ndarray:
    """Per column of a (width, n) token-id matrix, a ``uint64`` with bit ``id % 64`` set for
    each of its tokens: names whose masks share no bit share no token.

    >>> _token_masks(np.array([[0, 65, -1], [3, -1, -1]])).tolist()
    [9, 2, 0]
    """
    masks = np.zeros(tok.shape[1], np.uint64)
    for ids in tok:
        bit = np.left_shift(np.uint64(1), (ids & 63).astype(np.uint64))
        masks |= np.where(ids >= 0, bit, np.uint64(0))
    return masks


def _names_overlap(tok: np.ndarray, masks: np.ndarray, left: np.ndarray, right: np.ndarray,
                   short: _ShortForms | None = None, rare: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_token_overlap` of the names ``left`` and ``right`` (columns of ``tok``), worked
    out only for the pairs whose :func:`_token_masks` meet (the others share no token);
    ``rare`` as there.

    With ``short`` (:func:`_name_values`), a pair that shares a token but is not a subset is
    a subset when its short forms (initials, a cut last token) stand for tokens of the
    other name (:func:`_short_form_subset`)."""
    subset, shared = np.zeros(len(left), bool), np.zeros(len(left), bool)
    some = np.flatnonzero(masks[left] & masks[right])
    subset[some], shared[some] = _token_overlap(tok[:, left[some]], tok[:, right[some]], rare)
    if short is not None:
        # (pairs sharing only common tokens are re-examined too: a subset needs no rare token)
        maybe = ~subset & (short.has[left] | short.has[right]) & (masks[left] & masks[right] > 0)
        if short.letters is not None:
            # every hit stands for a token of its own first letter: one name's first letters
            # must all be the other's (BUDI SANTOSO / BUDI HARTONO cannot be a short form)
            la, lb = short.letters[left], short.letters[right]
            maybe &= ((la & ~lb) == 0) | ((lb & ~la) == 0)
        cand = np.flatnonzero(maybe)
        if len(cand):
            subset[cand] = _short_form_subset(tok[:, left[cand]], tok[:, right[cand]], short.last[left[cand]],
                                              short.last[right[cand]], short)
    return subset, shared


def _short_form_subset(a: np.ndarray, b: np.ndarray, last_a: np.ndarray, last_b: np.ndarray,
                       short: _ShortForms) -> np.ndarray:
    """Whether all tokens of one name are in the other, where an initial (a one-letter
    token) stands for any token of its letter and a name's last token for any token it
    starts (a name cut by a short field): ``A SIMBOLON`` in ``ADITYA SIMBOLON``, ``AHMAD F
    HIDAYAT`` in ``AHMAD FAUZI HIDAYAT``, ``M RIZKI`` in ``MUHAMMAD RIZKI``, ``I NENGAH
    SUDIARTA AD`` in ``I NENGAH SUDIARTA ADNYANA``.

    ``a`` and ``b`` are (width, n) token ids as in :func:`_token_overlap`, ``last_a`` and
    ``last_b`` the names' last token ids. The names must share a whole token: a short form
    alone is no evidence.

    A token is hit when the other name holds it, when it is an initial and the other name
    has a token of its letter, when the other name has an initial of its letter, or through
    a cut last token (it is one that starts a token of the other name, or the other name's
    last token starts it). With at most 64 first letters among the tokens, the letters of a
    name are one ``uint64`` of bits, so the letter tests are one AND per token, not one
    comparison per pair of tokens (:func:`_short_form_hits_by_pair` is the same, pair by pair).
    """
    va, vb = a >= 0, b >= 0
    lead_bit, ini_bit = short.lead_bit, short.ini_bit
    if lead_bit is None or ini_bit is None:
        hit_a, hit_b, whole = _short_form_hits_by_pair(a, b, last_a, last_b, short)
    else:
        same_a, same_b = _held_by_other(a, b)
        lbit_a, lbit_b = lead_bit[a], lead_bit[b]  # (the padding -1: no bit)
        ibit_a, ibit_b = ini_bit[a], ini_bit[b]
        letters_a, letters_b = _rows(np.bitwise_or, lbit_a), _rows(np.bitwise_or, lbit_b)
        initials_a, initials_b = _rows(np.bitwise_or, ibit_a), _rows(np.bitwise_or, ibit_b)
        hit_a = same_a | ((ibit_a & letters_b) != 0) | ((lbit_a & initials_b) != 0)
        hit_b = same_b | ((ibit_b & letters_a) != 0) | ((lbit_b & initials_a) != 0)
        whole = _rows(np.logical_or, same_a)
        if len(short.prefixes):
            # starts[j]: a's last token starts b's j-th token; started[i]: b's last starts a's i-th
            starts = np.stack([_starts(last_a, b[j], short) for j in range(b.shape[0])])
            started = np.stack([_starts(last_b, a[i], short) for i in range(a.shape[0])])
            hit_a |= ((a == last_a) & va & _rows(np.logical_or, starts)) | started
            hit_b |= ((b == last_b) & vb & _rows(np.logical_or, started)) | starts
    # every token of one side hit, by at least as many tokens of the other (two tokens of
    # one name are not both the other's one initial: ANDI AGUS SANTOSO is not in A BUDI SANTOSO)
    na, nb = _count_rows(va), _count_rows(vb)
    full_a = _rows(np.logical_and, hit_a | ~va) & (_count_rows(hit_b) >= na)
    full_b = _rows(np.logical_and, hit_b | ~vb) & (_count_rows(hit_a) >= nb)
    return whole & (full_a | full_b)


def _rows(op: np.ufunc, x: np.ndarray) -> np.ndarray:
    """``op.reduce(x, axis=0)`` of a (width, n) array of a few rows, row by row: numpy's
    reduction along the first axis of a wide array is several times slower.

    >>> _rows(np.logical_or, np.array([[True, False], [False, False]])).tolist()
    [True, False]
    """
    out = x[0].copy()
    for row in x[1:]:
        op(out, row, out=out)
    return out


def _count_rows(x: np.ndarray) -> np.ndarray:
    """The number of true cells in each column of a (width, n) boolean array (``int8``:
    the widths are at most a name's tokens)."""
    out = x[0].astype(np.int8)
    for row in x[1:]:
        out += row
    return out


def _starts(p: np.ndarray, t: np.ndarray, short: _ShortForms) -> np.ndarray:
    """Whether token ``p`` is a proper prefix of token ``t`` (ids, -1: none), pair by pair;
    looked up in ``short.prefixes`` only where the two tokens begin with the same two letters."""
    out = np.zeros(len(p), bool)
    some = np.flatnonzero((p >= 0) & (t >= 0) & (short.head[p] == short.head[t]))
    out[some] = _isin_sorted(p[some].astype(np.int64) * max(short.n_words, 1) + t[some], short.prefixes)
    return out


def _short_form_hits_by_pair(a: np.ndarray, b: np.ndarray, last_a: np.ndarray, last_b: np.ndarray,
                             short: _ShortForms) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hit tokens of each side and the shared-whole-token flag of
    :func:`_short_form_subset`, one pair of token positions at a time (any first letters)."""
    lead, ini, v = short.lead, short.ini, max(short.n_words, 1)
    la, ia, lb, ib = lead[a], ini[a], lead[b], ini[b]
    hit_a = np.zeros(a.shape, bool)
    hit_b = np.zeros(b.shape, bool)
    whole = np.zeros(a.shape[1], bool)
    rel = short.prefixes
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            ok = (a[i] >= 0) & (b[j] >= 0)
            same = (a[i] == b[j]) & ok
            whole |= same
            m = same | (ia[i] == lb[j]) | (la[i] == ib[j])
            if len(rel):
                cut_a = ok & (a[i] == last_a)
                cut_b = ok & (b[j] == last_b)
                m[cut_a] |= _isin_sorted(a[i][cut_a].astype(np.int64) * v + b[j][cut_a], rel)
                m[cut_b] |= _isin_sorted(b[j][cut_b].astype(np.int64) * v + a[i][cut_b], rel)
            hit_a[i] |= m
            hit_b[j] |= m
    return hit_a, hit_b, whole


def _isin_sorted(x: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    """``np.isin(x, sorted_values)`` for a sorted, non-empty ``sorted_values``."""
    at = np.minimum(np.searchsorted(sorted_values, x), len(sorted_values) - 1)
    return sorted_values[at] == x


_NOT_A_NUMBER = np.uint64(2**64 - 1)  # every nibble 0xF: never a digit
_LOW_NIBBLE_BITS = np.uint64(0x1111_1111_1111_1111)


def _digit_words(u: np.ndarray, length: int) -> np.ndarray:
    """(n, ceil(length / 16)) ``uint64``: digit ``i`` in nibble ``i % 16`` of word ``i // 16``;
    values not of exactly ``length`` ASCII digits are all ``_NOT_A_NUMBER``.

    The values of the right length are joined into one byte string and read as a digit
    matrix (no per-value Python but a length). Sixteen digits in one word make a pair's
    digit differences a few integer operations (:func:`_differing_digits`).

    >>> [hex(w) for w in _digit_words(np.array(["0123", "12a4", "12345", "12٣4"], dtype=object), 4)[:, 0]]
    ['0x3210', '0xffffffffffffffff', '0xffffffffffffffff', '0xffffffffffffffff']
    """
    n_words = -(-length // 16)
    words = np.full((len(u), n_words), _NOT_A_NUMBER, np.uint64)
    fits = np.flatnonzero(np.fromiter(map(len, u), np.int64, len(u)) == length)
    # non-ASCII characters become "?" (one byte each, not a digit)
    mat = np.frombuffer("".join(u[fits]).encode("ascii", "replace"), np.uint8).reshape(len(fits), length)
    ok = ((mat >= 48) & (mat <= 57)).all(axis=1)
    digits = np.zeros((int(ok.sum()), n_words * 16), np.uint8)
    digits[:, :length] = mat[ok] - 48
    packed = digits[:, 0::2] | (digits[:, 1::2] << 4)  # two digits a byte, first in the low nibble
    words[fits[ok]] = np.ascontiguousarray(packed).view("<u8").astype(np.uint64)
    return words


def _code_of_words(words: np.ndarray, of: np.ndarray) -> np.ndarray:
    """Row of ``of`` holding each row of ``words`` (digit words of distinct values, as
    :func:`_digit_words` gives them), -1 where none does or the row is not a number.

    >>> _code_of_words(_digit_words(np.array(["12", "7", "x"], dtype=object), 2),
    ...                _digit_words(np.array(["x", "12", "34"], dtype=object), 2)).tolist()
    [1, -1, -1]
    """
    number = np.flatnonzero(of[:, 0] != _NOT_A_NUMBER)
    keys = pd.MultiIndex.from_arrays(list(of[number].T)) if of.shape[1] > 1 else pd.Index(of[number, 0])
    probe = pd.MultiIndex.from_arrays(list(words.T)) if words.shape[1] > 1 else pd.Index(words[:, 0])
    at = keys.get_indexer(probe)
    return np.where((at >= 0) & (words[:, 0] != _NOT_A_NUMBER), np.r_[number, -1][at], -1).astype(np.int32)


def _differing_digits(x: np.ndarray) -> np.ndarray:
    """Of XORed digit words: the lowest bit of each nibble set where the digits differ."""
    return (x | (x >> 1) | (x >> 2) | (x >> 3)) & _LOW_NIBBLE_BITS


def _next_digit(w: np.ndarray) -> np.ndarray:
    """Digit words shifted by one digit: nibble ``i`` holds digit ``i + 1`` (0 past the end)."""
    out = w >> 4
    out[:, :-1] |= w[:, 1:] << 60
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

    With ``near_miss=True`` (the default comparisons use it) a near miss -- one substituted
    digit or one transposition of adjacent digits, and in the serial also a shift by one
    place (``0001`` / ``0010``) -- gets a level per *part* of the number where it happens:
    the serial, the date part or the region part (first six digits), each between
    "different" and the exact levels. Where the near miss sits decides what it means:
    serials restart at ``0001`` for every kecamatan and birth date, so two people born on
    one day in one kecamatan hold serials a digit apart, and two born on one day in
    neighbouring kecamatans hold NIKs a digit apart in the region part. How often such a
    neighbour occurs among the candidate pairs that are *not* one person is learned from
    the data with the level's ``m`` (:func:`regsosek_link.classify.near_miss_u`): a near
    miss weighs as evidence of one person only where such neighbours are rare.

    >>> near = IdNumberComparison(column="nik", serial_digits=4, near_miss=True)
    >>> recs = pd.DataFrame({"nik": ["3375014508900001", "3375014508900010", "3375024508900001",
    ...                              "3375014608900001", "3375014508900001"]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0, 0], "right": [1, 2, 3, 4]})
    >>> near.compute(recs, pairs).tolist()  # serial shift, region digit, date digit, exact
    [1, 3, 2, 4]

    With ``other_id_column`` (the default KK comparison names ``nik``) a value equal to
    either record's value in that column is not this number but the other one keyed into
    this column: a NIK in the KK column (a documented failure of DTKS and BPJS files). Such
    a pair is missing, not "different": on the generator's data 29 % of the KK pairs that
    differ with a NIK in a KK column are one person (the card of one, the NIK of the other).

    >>> recs = pd.DataFrame({"kk": ["3375012401200001", "3375014508900001", "3375012401200007"],
    ...                      "nik": ["3375014508900001", None, None]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 1], "right": [1, 2, 2]})
    >>> IdNumberComparison(column="kk", serial_digits=4, other_id_column="nik").compute(recs, pairs).tolist()
    [-1, 0, 0]
    """

    column: str = "nik"
    length: int = 16
    serial_digits: int = 0
    consistency_columns: tuple[str, ...] = ()
    status_column: str | None = None
    unusable_status: tuple[str, ...] = ("missing", "sentinel", "dummy", "excel_damaged", "non_digit")
    ignore_when_equal: tuple[str, ...] = ()
    label: str | None = None
    near_miss: bool = False
    other_id_column: str | None = None

    @property
    def name(self) -> str:
        return self.label or self.column

    def __post_init__(self) -> None:
        if self.near_miss and not (0 < self.serial_digits and self.length - self.serial_digits > 6
                                   and self.length <= 16):
            raise ConfigError(
                "The 'near_miss' parameter of IdNumberComparison needs a NIK-like number: at most 16 "
                "digits, a 6-digit region part, a date part and 'serial_digits' > 0. "
                f"Got length={self.length!r}, serial_digits={self.serial_digits!r} instead."
            )
        if len(self.consistency_columns) not in (0, 4):
            raise ConfigError(
                "The 'consistency_columns' parameter of IdNumberComparison must name four columns "
                "(NIK birth date, record birth date, NIK sex, record sex) or none. "
                f"Got {self.consistency_columns!r} instead."
            )

    @property
    def columns(self) -> tuple[str, ...]:
        return ((self.column,) + ((self.status_column,) if self.status_column else ()) + tuple(self.consistency_columns)
                + ((self.other_id_column,) if self.other_id_column else ()))

    @property
    def level_names(self) -> tuple[str, ...]:
        typo = (_NEAR_LEVEL_NAMES if self.near_miss else ("one typo or transposition",))
        if self.consistency_columns:
            return ("different, both consistent with their records", "different", *typo,
                    "exact, but contradicts a record (copied NIK?)", "exact")
        return ("different", *typo, "exact")

    @property
    def near_miss_levels(self) -> dict[str, int]:
        """Level of each kind of near miss (``serial``, ``date``, ``region``); empty
        without ``near_miss``."""
        if not self.near_miss:
            return {}
        first = 2 if self.consistency_columns else 1
        return {kind: first + i for i, kind in enumerate(_NEAR_KINDS)}

    def prepare(self, records):
        codes, _ = _column_codes(records, self.column, self.name)
        if self.status_column and self.status_column in records.columns:
            scodes, suniq = _column_codes(records, self.status_column, self.name)
            bad = _pad(np.isin(suniq, list(self.unusable_status)), False)[scodes]
            codes = np.where(bad, MISSING, codes)
        prep = {}
        words = self._words(records, self.column)
        if self.other_id_column and self.other_id_column in records.columns:
            # each record's value of the other identifier, as a code of this column's values
            # (numbers only: a pair with a value that is not one is missing anyway)
            ocodes, _ = _column_codes(records, self.other_id_column, self.name)
            other = _pad(_code_of_words(self._words(records, self.other_id_column), words), MISSING)[ocodes]
            # a record whose own value is its other identifier holds no value of this one
            codes = np.where((codes >= 0) & (codes == other), MISSING, codes)
            prep["c"], prep["o"] = codes, np.where(other >= 0, other, -2).astype(np.int32)
        prep["d"] = _pad(words, _NOT_A_NUMBER)[codes]
        if self.consistency_columns:
            (nik_dob, dob, nik_sex, sex) = (_column_codes(records, c, self.name) for c in self.consistency_columns)
            known_d, known_s = (nik_dob[0] >= 0) & (dob[0] >= 0), (nik_sex[0] >= 0) & (sex[0] >= 0)
            same_d, same_s = _same_value(nik_dob, dob), _same_value(nik_sex, sex)
            prep["credible"] = same_d & same_s
            prep["contradicts"] = (known_d & ~same_d) | (known_s & ~same_s)
        return prep

    def _words(self, records: pd.DataFrame, column: str) -> np.ndarray:
        """:func:`_digit_words` of a column's distinct values (as :func:`_column_codes`
        gives them), once per run for all comparisons reading them."""
        return per_column(records, column, f"digit_words{self.length}",
                          lambda _: _digit_words(column_codes(records, column)[1], self.length))

    def _serial_bits(self) -> np.ndarray:
        """Per digit word, the nibble bits of the last ``serial_digits`` digits."""
        bits = np.zeros(-(-self.length // 16), np.uint64)
        for i in range(self.length - self.serial_digits, self.length):
            bits[i // 16] |= np.uint64(1 << (4 * (i % 16)))
        return bits

    def score(self, prep, left, right, *, workers=1):
        dl, dr = prep["d"][left], prep["d"][right]
        wl, wr = dl[:, 0], dr[:, 0]  # (views: the near-miss kinds need them, dl/dr change below)
        miss = (wl == _NOT_A_NUMBER) | (wr == _NOT_A_NUMBER)
        diff = _differing_digits(dl ^ dr)
        nd = bitwise_count(diff).sum(axis=1)
        one = nd == 1
        # adjacent transposition: exactly two adjacent differing positions, swapped digits
        two = np.flatnonzero(nd == 2)
        dl, dr, d2 = dl[two], dr[two], diff[two]
        swap = (d2 & _next_digit(d2) & ~_differing_digits(dl ^ _next_digit(dr))
                & ~_differing_digits(_next_digit(dl) ^ dr))
        one[two] = swap.any(axis=1)
        if "o" in prep:  # one side's value is the other side's other identifier
            c, o = prep["c"], prep["o"]
            miss = miss | (c[left] == o[right]) | (c[right] == o[left])
        if self.near_miss:
            kind = self._near_kind(wl, wr, diff[:, 0], one)
            return self._near_levels(prep, left, right, kind, nd, miss)
        if self.serial_digits:
            # a "typo" inside the serial is what two people registered on the same day in the
            # same kecamatan look like (twins: consecutive serials): not evidence of one person
            one &= ~(diff & self._serial_bits()).any(axis=1)
        if self.consistency_columns:
            # two different NIKs each carrying its own record's birth date and sex are two
            # credible identities: strong evidence of two people (not a typo, not a copied NIK)
            both = prep["credible"][left] & prep["credible"][right]
            # the same NIK on a record whose birth date or sex it contradicts: a NIK copied from
            # a family member (a father and son of one name share a card and a NIK)
            copied = prep["contradicts"][left] | prep["contradicts"][right]
            out = np.where(one, np.int8(2), (~both).view(np.int8))
            out = np.where(nd == 0, np.where(copied, np.int8(3), np.int8(4)), out)
        else:
            out = np.where(nd == 0, np.int8(2), one.view(np.int8))
        out[miss] = MISSING
        return out


    # -- near misses by part ---------------------------------------------------------------

    def _parts(self) -> tuple[range, range, range]:
        """Digit positions of the region, date and serial parts."""
        cut = self.length - self.serial_digits
        return range(6), range(6, cut), range(cut, self.length)

    def _serial_value(self, w: np.ndarray) -> np.ndarray:
        """The serial of one-word digit words as an ``int64``."""
        out = np.zeros(len(w), np.int64)
        for i in self._parts()[2]:
            out = out * 10 + ((w >> np.uint64(4 * i)) & np.uint64(0xF)).astype(np.int64)
        return out

    def _near_kind(self, wl: np.ndarray, wr: np.ndarray, diff: np.ndarray, near: np.ndarray) -> np.ndarray:
        """Kind of near miss per pair (index into ``_NEAR_KINDS``, -1 none) of one-word digit
        words: the part holding the first differing digit of a substitution or transposition
        (``near``), or ``serial`` for a serial shifted one place with the rest equal."""
        # position of the lowest set bit of diff (digit i sits in nibble i) / 4
        low = diff & (~diff + np.uint64(1))
        first = np.bitwise_count(low - np.uint64(1)).astype(np.int64) // 4
        _, date, serial = self._parts()
        kind = np.full(len(wl), -1, np.int8)
        kind[near & (first < date.start)] = _NEAR_KINDS.index("region")
        kind[near & (first >= date.start) & (first < serial.start)] = _NEAR_KINDS.index("date")
        kind[near & (first >= serial.start)] = _NEAR_KINDS.index("serial")
        serial_bits = self._serial_bits()[0]
        rest_equal = (diff & ~serial_bits) == 0
        maybe = np.flatnonzero(rest_equal & (diff != 0) & (kind < 0))
        if len(maybe):
            sl, sr = self._serial_value(wl[maybe]), self._serial_value(wr[maybe])
            shift = (sl * 10 == sr) | (sr * 10 == sl)
            kind[maybe[shift]] = _NEAR_KINDS.index("serial")
        return kind

    def _near_levels(self, prep: Prepared, left: np.ndarray, right: np.ndarray, kind: np.ndarray,
                     nd: np.ndarray, miss: np.ndarray) -> np.ndarray:
        levels = self.near_miss_levels
        level_of_kind = np.array([levels[k] for k in _NEAR_KINDS], np.int8)
        top = len(self.level_names) - 1
        if self.consistency_columns:
            both = prep["credible"][left] & prep["credible"][right]
            copied = prep["contradicts"][left] | prep["contradicts"][right]
            out = (~both).view(np.int8).copy()
            out = np.where(nd == 0, np.where(copied, np.int8(top - 1), np.int8(top)), out)
        else:
            out = np.where(nd == 0, np.int8(top), np.int8(0))
        near = kind >= 0
        out[near] = level_of_kind[kind[near]]
        out[miss] = MISSING
        return out


#: Kinds of near miss of :class:`IdNumberComparison` (``near_miss=True``), weakest first:
#: the serial's neighbours are the commonest (serials restart at 0001).
_NEAR_KINDS: tuple[str, ...] = ("serial", "date", "region")
_NEAR_LEVEL_NAMES: tuple[str, ...] = (
    "near miss in the serial (digit, transposition or shift)",
    "near miss in the date part (digit or transposition)",
    "near miss in the region part (digit or transposition)",
)


def _same_value(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Rows where two columns, as (codes, distinct values), hold the same known value."""
    in_b = pd.Index(b[1]).get_indexer(a[1]).astype(np.int32)  # code in b of each value of a
    return (_pad(in_b, MISSING)[a[0]] == b[0]) & (b[0] >= 0)


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_NO_DATE = np.uint32(2**32 - 1)  # every nibble 0xF: never a digit


def _date_values(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Of ISO date strings: the eight digits YYYYMMDD as ``uint32`` nibbles (binary-coded
    decimal, first digit highest; ``_NO_DATE`` where not a date) and the year (``int16``, -1).

    In that packing one XOR says which digits differ, and the year, year-month and
    month-day are bit fields (:meth:`DateOfBirthComparison.score`).

    >>> bcd, year = _date_values(np.array(["1990-03-04", "1990-3-4"], dtype=object))
    >>> [hex(x) for x in bcd], year.tolist()
    (['0x19900304', '0xffffffff'], [1990, -1])
    """
    ok = np.array([_ISO_DATE.fullmatch(x) is not None for x in u], dtype=bool)
    bcd = np.full(len(u), _NO_DATE, np.uint32)
    year = np.full(len(u), -1, np.int16)
    if ok.any():
        b = np.frombuffer(u[ok].astype("S10").tobytes(), np.uint8).reshape(-1, 10).astype(np.uint32) - 48
        digits = b[:, [0, 1, 2, 3, 5, 6, 8, 9]]
        bcd[ok] = (digits << np.arange(28, -1, -4, dtype=np.uint32)).sum(axis=1, dtype=np.uint32)
        year[ok] = b[:, 0] * 1000 + b[:, 1] * 100 + b[:, 2] * 10 + b[:, 3]
    return bcd, year


def _year_slip(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairs of years (``int``, four digits) one keying slip apart: one digit mistyped or two
    adjacent digits transposed.

    >>> _year_slip(np.array([1985, 1985, 1985, 2011, 1962]), np.array([1958, 1995, 1985, 2022, 2022])).tolist()
    [True, True, False, False, False]
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    if len(a) > 64 and min(a.min(), b.min()) >= _SLIP_YEARS[0] and max(a.max(), b.max()) < _SLIP_YEARS[1]:
        # birth years: every pair of them worked out once, then looked up
        lo, span = _SLIP_YEARS[0], _SLIP_YEARS[1] - _SLIP_YEARS[0]
        return _year_slip_table()[(a - lo) * span + (b - lo)]
    return _year_slip_digits(a, b)


#: The years of :func:`_year_slip_table`: ``range(*_SLIP_YEARS)``.
_SLIP_YEARS = (1850, 2100)


@functools.cache
def _year_slip_table() -> np.ndarray:
    """:func:`_year_slip_digits` of every pair of years in ``range(*_SLIP_YEARS)``, flat
    (``(a - lo) * span + (b - lo)``; 62,500 pairs)."""
    years = np.arange(*_SLIP_YEARS, dtype=np.int64)
    table = _year_slip_digits(np.repeat(years, len(years)), np.tile(years, len(years)))
    table.flags.writeable = False
    return table


def _year_slip_digits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """:func:`_year_slip` of ``int64`` years, digit by digit."""
    da = np.stack([a // 1000 % 10, a // 100 % 10, a // 10 % 10, a % 10], axis=1)
    db = np.stack([b // 1000 % 10, b // 100 % 10, b // 10 % 10, b % 10], axis=1)
    diff = da != db
    n = diff.sum(axis=1)
    swapped = np.zeros(len(a), bool)
    for i in range(3):  # digits i and i+1 swapped, the others equal
        swapped |= ((n == 2) & diff[:, i] & diff[:, i + 1] & (da[:, i] == db[:, i + 1])
                    & (da[:, i + 1] == db[:, i]))
    return (n == 1) | swapped


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
    and the dates differ, the placeholder says "day unknown": the pair is scored on the year
    the placeholder keeps (level 1 when the years are at most one apart), and as missing,
    not as different, when the years are further apart (a guessed year).

    With ``year_column`` (``tahun_lahir``), a record whose date is known to the year only
    (``1985``, ``08/1985``: status ``partial``) is compared on the year: level 1 when the
    years are at most one apart, 0 otherwise (missing without it).

    With ``year_only_level=True`` those pairs, where one side knows the year only (a
    placeholder against a real date, or a partial date) and the years are *equal*, get a
    level of their own, level 3, above "same year-month" (the levels from "day-month
    swapped" up move up by one), instead of sharing level 1 with two real dates a year
    apart; a year apart they stay at level 1. Two different placeholders (15 June, 1
    July) are compared on their years the same way. The pair agrees on all that both records
    know, where two full dates of one month disagree on the day, hence the order. The two
    are different evidence: for one person, real dates a year apart are a keying error and
    rare, while a census record's placeholder keeps the year in nearly every case, so
    sharing one level makes the thin record's strongest field weigh nothing. With its own
    level the model learns its own m and u. (On the generator's thin census records, same
    name and desa: 91 % of the same-year pairs are one person, 5 % of those a year apart.)

    With ``far_years=N`` a level "born years apart" is put below "different" (every other
    level moves up by one): two dates more than ``N`` years apart that are not one keying
    slip (one mistyped digit, two adjacent digits transposed: ``1985``/``1958``, a day-month
    swap, or the same day and month of two real dates: ``1996-08-07``/``2006-08-07``). A
    placeholder's or a partial date's year is taken as guessed within ``N`` years
    (missing, as without it, when between 2 and ``N`` years off), not further: a placeholder
    of 2011 against a real date of 2022 is two people, not "day unknown". This is the
    evidence that tells a father from his son of the same name, or a child from an elder
    sibling whose name it was given, on one family card or in one RT: there the name, the
    card and the address all agree, and a date that merely "differs" (a slip of a few
    years, of a month and a day) weighs far less than one a generation away. The model
    learns the level's m and u like any other.

    ``ignore_when_apart`` names comparisons that say "one household" (the family card, the
    mother, the region and RT, the place of birth): for pairs born more than ``far_years``
    apart they are missing (:func:`compare` applies it). A household holds people a
    generation apart, so once the dates say that, a shared card or RT is what a father and
    his namesake son have, not evidence of one person; counted as independent evidence it
    outweighs the dates (card +15 bits and exact name +10 against -7).

    >>> recs = pd.DataFrame({"tgl": ["1990-03-04", "1990-03-04", "1990-04-03", "1991-03-04",
    ...                              "1990-03-20", "1970-07-01", "1970-07-01", "1965-02-02"],
    ...                      "st": ["ok"] * 5 + ["placeholder_1jul"] * 2 + ["ok"]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0, 0, 5, 0, 5], "right": [1, 2, 3, 4, 6, 7, 7]})
    >>> DateOfBirthComparison(column="tgl", status_column="st").compute(recs, pairs).tolist()
    [5, 3, 3, 2, 4, 0, -1]
    """

    column: str = "tanggal_lahir"
    status_column: str | None = None
    year_column: str | None = None
    year_only_level: bool = False
    far_years: int | None = None
    ignore_when_apart: tuple[str, ...] = ()
    label: str | None = None

    def __post_init__(self) -> None:
        if self.far_years is not None and (isinstance(self.far_years, bool) or not isinstance(self.far_years, int)
                                           or self.far_years < 1):
            raise ConfigError("The 'far_years' parameter of DateOfBirthComparison must be an int >= 1 or None. "
                              f"Got {self.far_years!r} instead.")
        if self.ignore_when_apart and not self.far_years:
            raise ConfigError("The 'ignore_when_apart' parameter of DateOfBirthComparison needs 'far_years' (the "
                              f"level it applies at). Got ignore_when_apart={self.ignore_when_apart!r} without it.")

    @property
    def name(self) -> str:
        return self.label or self.column

    @property
    def columns(self) -> tuple[str, ...]:
        return ((self.column,) + ((self.status_column,) if self.status_column else ())
                + ((self.year_column,) if self.year_column else ()))

    @property
    def level_names(self) -> tuple[str, ...]:
        far = (f"born more than {self.far_years} years apart",) if self.far_years else ()
        if self.year_only_level:
            return far + ("different", "year +-1 or same day-month", "same year-month",
                          "year only (placeholder or partial), same year", "day-month swapped or one digit",
                          "exact placeholder", "exact")
        return far + ("different", "year +-1 or same day-month" + (" (or year only)" if self.year_column else ""),
                      "same year-month",
                      "day-month swapped or one digit", "exact placeholder", "exact")

    def prepare(self, records):
        codes, uniq = _column_codes(records, self.column, self.name)
        bcd, year = _date_values(uniq)
        if self.status_column and self.status_column in records.columns:
            scodes, suniq = _column_codes(records, self.status_column, self.name)
            placeholder = np.array([x.startswith("placeholder") for x in suniq], dtype=bool)
            ph = _pad(placeholder, False)[scodes]
        else:  # no status column: no date is taken for a placeholder
            ph = np.zeros(len(codes), bool)
        bcd, year = _pad(bcd, _NO_DATE)[codes], _pad(year, -1)[codes]
        only = np.zeros(len(codes), bool)
        if self.year_column and self.year_column in records.columns:
            # the year of the records whose date is known to the year only
            ycodes, yuniq = _column_codes(records, self.year_column, self.name)
            years = _pad(np.array([int(y) if y.isdigit() else -1 for y in yuniq], np.int16), -1)[ycodes]
            only = (bcd == _NO_DATE) & (years >= 0)
            year = np.where(only, years, year)
        # one word per record, read with one gather per side: the BCD date (bits 0-31), the
        # year (32-47, int16), placeholder (48), known to the year only (49)
        word = (bcd.astype(np.uint64) | (year.view(np.uint16).astype(np.uint64) << np.uint64(32))
                | (ph.astype(np.uint64) << np.uint64(48)) | (only.astype(np.uint64) << np.uint64(49)))
        return {"w": word, "year_only": bool(only.any())}

    def score(self, prep, left, right, *, workers=1):
        wl, wr = prep["w"][left], prep["w"][right]
        bl, br = wl.astype(np.uint32), wr.astype(np.uint32)
        yl, yr = ((w >> np.uint64(32)).astype(np.uint16).view(np.int16) for w in (wl, wr))
        phl, phr = (((w >> np.uint64(48)) & np.uint64(1)).astype(bool) for w in (wl, wr))
        miss = (bl == _NO_DATE) | (br == _NO_DATE)
        x = bl ^ br  # nibbles (digits) YYYYMMDD, zero where equal
        exact = x == 0
        same_year = (x >> 16) == 0
        swap = same_year & ((((bl >> 8) ^ br) & 0xFF) == 0) & (((bl ^ (br >> 8)) & 0xFF) == 0)
        # one mistyped digit anywhere in YYYYMMDD
        one_digit = bitwise_count((x | (x >> 1) | (x >> 2) | (x >> 3)) & np.uint32(0x1111_1111)) == 1
        ym = (x >> 8) == 0
        near = (np.abs(yl - yr) <= 1) | ((x & 0xFFFF) == 0)
        # from the weakest level up: each stronger one overrides
        out = np.where(ym, np.int8(2), near.view(np.int8))
        out = np.where(swap | one_digit, np.int8(3), out)
        # a placeholder against a real date: the day is unknown, the year (said by the
        # respondent, kept with SIAK's placeholder day) is not: level 1 when it agrees
        year_level = np.int8(3 if self.year_only_level else 1)
        if self.year_only_level:  # the levels from "day-month swapped" up move up by one
            out += out >= 3
        gap = np.abs(yl.astype(np.int32) - yr)
        top = 6 if self.year_only_level else 5
        # (with the year-only level, two different placeholders also say only their years)
        by_ph_year = (phl | phr) if self.year_only_level else (phl ^ phr)
        at = np.flatnonzero(by_ph_year & ~exact)
        out[at] = np.where(gap[at] == 0, year_level, np.where(gap[at] <= 1, np.int8(1), np.int8(MISSING)))
        out = np.where(exact, np.where(phl | phr, np.int8(top - 1), np.int8(top)), out)
        if self.far_years:
            # more than far_years apart and not one slip of the keyboard: its own level, below
            # "different" (which every other level now stands above by one)
            out = np.where(out >= 0, out + 1, out).astype(np.int8)
            # (two real dates with one day and month: a slip of the year, 1996 for 2006)
            far = np.flatnonzero((gap > self.far_years) & ~exact & ~miss & (by_ph_year | ((x & 0xFFFF) != 0)))
            out[far[~_year_slip(yl[far], yr[far])]] = 0
        out[miss] = MISSING
        if prep["year_only"]:
            # a side known to the year only: the years, when both sides have one
            by_year = (((wl | wr) >> np.uint64(49)) & np.uint64(1)).astype(bool) & (yl >= 0) & (yr >= 0)
            gap = np.abs(yl[by_year].astype(np.int32) - yr[by_year])
            lv = np.where(gap == 0, year_level, (gap <= 1).view(np.int8))
            if self.far_years:
                far = (gap > self.far_years) & ~_year_slip(yl[by_year], yr[by_year])
                lv = np.where(far, np.int8(-1), lv) + 1
            out[by_year] = lv
        return out


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class RegionComparison(Comparison):
    """Kemendagri region hierarchy: the most specific level both records agree on.

    Levels: 0 different province, 1 same province, 2 same kabupaten/kota, 3 same kecamatan,
    4 same desa/kelurahan. A level unknown on either side is skipped (a record known only
    down to kecamatan can reach level 3 at most); missing when no level is known on both.

    With ``split_unknown=True`` a pair that agrees down to some level is told apart by what
    the next level says: *known on both sides and different* (the two live in different
    kecamatans of one kabupaten) or *unknown on a side* (a source that records the
    kabupaten only, such as BPJS). The first is evidence against one person (two namesakes
    born on one day in neighbouring kecamatans), the second says nothing; sharing a level
    averages them into a weight that is right for neither. Levels then: 0 different
    province, 1 same province but different kabupaten, 2 same kabupaten but different
    kecamatan, 3 same kecamatan but different desa, 4 same province (finer unknown), 5 same
    kabupaten (finer unknown), 6 same kecamatan (finer unknown), 7 same desa. The model learns
    m and u of each.

    >>> recs = pd.DataFrame({"kode_prov": ["33", "33", "33", "32"], "kode_kab": ["3375", "3375", "3374", "3201"],
    ...                      "kode_kec": ["337501", "337501", None, None],
    ...                      "kode_desa": ["3375011001", "3375011002", None, None]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0], "right": [1, 2, 3]})
    >>> RegionComparison().compute(recs, pairs).tolist()
    [3, 1, 0]
    >>> RegionComparison(split_unknown=True).compute(recs, pairs).tolist()
    [3, 1, 0]
    >>> recs.loc[1, ["kode_kab", "kode_kec", "kode_desa"]] = ["3375", None, None]
    >>> RegionComparison(split_unknown=True).compute(recs, pairs).tolist()
    [5, 1, 0]
    """

    symmetric = True
    prov_column: str = "kode_prov"
    kab_column: str = "kode_kab"
    kec_column: str = "kode_kec"
    desa_column: str = "kode_desa"
    ignore_when_equal: tuple[str, ...] = ()
    label: str | None = None
    split_unknown: bool = False

    @property
    def name(self) -> str:
        return self.label or "wilayah"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.prov_column, self.kab_column, self.kec_column, self.desa_column)

    @property
    def level_names(self) -> tuple[str, ...]:
        if self.split_unknown:
            return ("different province", "same province, different kabupaten/kota",
                    "same kabupaten/kota, different kecamatan", "same kecamatan, different desa",
                    "same province (finer unknown)", "same kabupaten/kota (finer unknown)",
                    "same kecamatan (finer unknown)", "same desa")
        return ("different province", "same province", "same kabupaten/kota", "same kecamatan", "same desa")

    def prepare(self, records):
        prep = {str(i): _column_codes(records, c, self.name)[0] for i, c in enumerate(self.columns)}
        # the value is the record's (province, kabupaten, kecamatan, desa): a few hundred
        codes = list(prep.values())
        return prep | {"v": _tuple_codes(codes, np.any([c >= 0 for c in codes], axis=0))}

    def score(self, prep, left, right, *, workers=1):
        out = np.full(len(left), MISSING, np.int8)
        # (split_unknown) whether the level below the deepest agreement is known on both sides
        below_known = np.zeros(len(left), bool)
        for i in range(4):  # coarse to fine: a finer known level overrides
            cl, cr = prep[str(i)][left], prep[str(i)][right]
            known = (cl >= 0) & (cr >= 0)
            same = known & (cl == cr)
            # different at this level: only says "different province" at the province level;
            # at finer levels the coarser level already holds the most specific agreement
            if i:
                below_known = np.where(out == i, known & ~same, below_known)
            out = np.where(same, i + 1, out)
            if i == 0:
                out = np.where(known & ~same, 0, out)
        if self.split_unknown:
            # agreeing down to level 1-3: "different below" keeps its level, "unknown below"
            # moves up by 3; the same desa is the top level
            out = np.where(out == 4, 7, np.where((out >= 1) & (out <= 3) & ~below_known, out + 3, out))
        return out.astype(np.int8)



@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class NeighbourhoodComparison(Comparison):
    """RW and RT (rukun warga, rukun tetangga) of two records of one desa/kelurahan.

    Below the desa, Indonesian addresses have the RW and the RT: an RT is a neighbourhood of
    a few dozen households, numbered inside its RW, which is numbered inside its desa. Two
    namesakes of one desa (same name, same placeholder birth year, no NIK) are rarely
    neighbours; one person's records from two sources usually give one RT, unless the person
    moved or is counted where they live rather than where they are registered (a census
    against the civil registry). How often each happens is learned by the model (m and u).

    Levels: 0 same desa, different RW; 1 same RW, different RT; 2 same RT. Missing when the
    desa is not the same known one on both sides (the region comparison speaks there) or
    the RW (or, for levels 1-2, the RT) is unknown on a side.

    >>> recs = pd.DataFrame({"kode_desa": ["3375011001"] * 4 + ["3375011002"],
    ...                      "rw": [2, 2, 2, 3, 2], "rt": [5, 5, 7, 5, 5]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0, 0], "right": [1, 2, 3, 4]})
    >>> NeighbourhoodComparison().compute(recs, pairs).tolist()
    [2, 1, 0, -1]
    """

    desa_column: str = "kode_desa"
    rw_column: str = "rw"
    rt_column: str = "rt"
    ignore_when_equal: tuple[str, ...] = ()
    label: str | None = None

    @property
    def name(self) -> str:
        return self.label or "rt_rw"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.desa_column, self.rw_column, self.rt_column)

    @property
    def level_names(self) -> tuple[str, ...]:
        return ("same desa, different RW", "same RW, different RT", "same RT")

    def prepare(self, records):
        desa, rw, rt = (_column_codes(records, c, self.name)[0] for c in self.columns)
        # (no value codes: scoring every pair on these integers costs less than finding
        # the distinct pairs of values)
        return {"d": desa, "w": rw, "t": rt}

    def score(self, prep, left, right, *, workers=1):
        d, w, t = prep["d"], prep["w"], prep["t"]
        same_desa = (d[left] == d[right]) & (d[left] >= 0)
        wl, wr, tl, tr = w[left], w[right], t[left], t[right]
        out = np.where(wl != wr, 0, np.where((tl >= 0) & (tr >= 0), 1 + (tl == tr), MISSING))
        out[~same_desa | (wl < 0) | (wr < 0)] = MISSING
        return out.astype(np.int8)

def _evidence_columns(comp: Comparison) -> tuple[str, ...]:
    """The columns that carry a comparison's evidence: its ``column`` when it has one (a
    status or consistency column alone says nothing), else all of its columns."""
    column = getattr(comp, "column", None)
    year = getattr(comp, "year_column", None)  # (a date known to the year is evidence)
    return ((column,) + ((year,) if year else ())) if isinstance(column, str) else tuple(comp.columns)


@with_codes
def usable_comparisons(
    comparisons: Sequence[Comparison], records: pd.DataFrame, *, codes: CodeBook | None = None
) -> tuple[tuple[Comparison, ...], list[str]]:
    """The comparisons that some record can take part in, and a note per dropped one.

    A comparison is dropped when no record holds a value (stripped, not blank) in any of
    its evidence columns: its ``column`` (e.g. ``jenis_kelamin`` when no source maps a
    sex), or, for comparisons of several columns (:class:`RegionComparison`), all of them.
    Its level would be -1 (missing) for every pair, and a comparison that is never
    observed only adds parameters EM cannot learn. Call it on the clean records, before
    blocking.

    Parameters
    ----------
    comparisons : sequence of Comparison
        The run's comparisons.
    records : DataFrame
        Clean records (:func:`regsosek_link.standardise.standardise`).

    Returns
    -------
    kept : tuple of Comparison
        The usable comparisons, in their order.
    notes : list of str
        One sentence per dropped comparison, for the log.

    Raises
    ------
    ConfigError
        When no comparison is left (no record holds a name, a NIK or anything compared).

    Examples
    --------
    >>> recs = pd.DataFrame({"nama": ["BUDI", "ANI"], "jenis_kelamin": [None, None]})
    >>> kept, notes = usable_comparisons([NameComparison(column="nama"), ExactMatch(column="jenis_kelamin")], recs)
    >>> [c.name for c in kept], notes
    (['nama'], ["comparison 'jenis_kelamin' dropped: no record has a value in column 'jenis_kelamin'"])
    """
    kept: list[Comparison] = []
    notes: list[str] = []
    for comp in comparisons:
        cols = _evidence_columns(comp)
        if any(_has_value(records, c) for c in cols):
            kept.append(comp)
            continue
        which = f"column {cols[0]!r}" if len(cols) == 1 else f"any of columns {list(cols)}"
        notes.append(f"comparison {comp.name!r} dropped: no record has a value in {which}")
    if comparisons and not kept:
        raise ConfigError(
            "no comparison can be made: no record has a value in any compared column "
            f"({sorted({c for comp in comparisons for c in _evidence_columns(comp)})}); "
            "map at least 'nama' or 'nik' of some source to a column that holds values."
        )
    return tuple(kept), notes


def _has_value(records: pd.DataFrame, column: str) -> bool:
    """Whether some record holds a (stripped, non-blank) value in ``column``."""
    return has_value(records, column)


@with_codes
def prepare_comparisons(
    records: pd.DataFrame, comparisons: Sequence[Comparison], *, codes: CodeBook | None = None
) -> list[Prepared]:
    """Per-record arrays of every comparison (codes, token ids, digit words), once.

    A column several comparisons use (the KK in every ``ignore_when_equal``) is factorised
    once for all of them.
    """
    with local_book():
        return [comp.prepare_all(records) for comp in comparisons]


@with_codes
def compare(
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    comparisons: Sequence[Comparison],
    *,
    chunk_size: int = 1_000_000,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    prepared: Sequence[Prepared] | None = None,
    codes: CodeBook | None = None,
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
        Pairs (or distinct pairs of values) scored at a time: bounds the temporary memory.
    workers : int
        Threads (-1: all cores). With more than one, comparisons run side by side on that
        many threads (their numpy, pandas and rapidfuzz kernels release the GIL), each with a
        one-thread rapidfuzz kernel; the levels are the same.
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
    out = {}
    if prepared is None:
        prepared = prepare_comparisons(records, comparisons)
    same: dict = {}  # ignore_when_equal masks, shared by the comparisons ignoring one column
    threads = n_threads(workers, tasks=len(comparisons))

    def levels(comp: Comparison, prep: Prepared) -> np.ndarray:
        return _levels(comp, prep, left, right, workers=1 if threads > 1 else workers,
                       chunk_size=chunk_size, same=same)

    with ThreadPoolExecutor(max(threads, 1)) as pool:
        results = pool.map(levels, comparisons, prepared) if threads > 1 else map(levels, comparisons, prepared)
        for i, (comp, result) in enumerate(zip(comparisons, results)):
            out[comp.name] = result
            if progress is not None:
                progress(i + 1, len(names))
            log.info("compared %d pairs on %s", len(left), comp.name)
    apply_ignore_when_apart(comparisons, out)
    return pd.DataFrame(out, index=pairs.index)


def apply_ignore_when_apart(comparisons: Sequence[Comparison], out: dict[str, np.ndarray]) -> None:
    """Levels of the comparisons a date comparison's ``ignore_when_apart`` names set to
    missing (in ``out``, by name) for the pairs at its level "born years apart" (0)."""
    for comp in comparisons:
        names = [n for n in getattr(comp, "ignore_when_apart", ()) if n in out and n != comp.name]
        if not names:
            continue
        apart = out[comp.name] == 0
        if apart.any():
            for n in names:
                out[n] = np.where(apart, np.int8(MISSING), out[n])


# ----------------------------------------------------------------------------------------
# recordlinkage plug-in


def __getattr__(name: str) -> type:
    # RLComparison subclasses a recordlinkage class, so it is made on first use: importing
    # this module does not import recordlinkage.
    if name == "RLComparison":
        cls = _rl_comparison_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _rl_comparison_class() -> type:
    """Make :class:`RLComparison`: any of our comparisons as a ``recordlinkage.Compare`` feature.

    The comparison's columns must exist, with the same names, in both frames.

    Examples
    --------
    >>> import recordlinkage
    >>> from regsosek_link.compare import RLComparison
    >>> a = pd.DataFrame({"nama": ["BUDI SANTOSO", "ANI"]}, index=["a1", "a2"])
    >>> b = pd.DataFrame({"nama": ["SANTOSO BUDI", None]}, index=["b1", "b2"])
    >>> links = pd.MultiIndex.from_tuples([("a1", "b1"), ("a2", "b2")])
    >>> cmp = recordlinkage.Compare()
    >>> cmp.add(RLComparison(comparison=NameComparison(column="nama")))
    >>> cmp.compute(links, a, b)["nama"].tolist()
    [4, -1]
    """
    from recordlinkage.base import BaseCompareFeature

    class RLComparison(BaseCompareFeature):
        """Any of our comparisons as a ``recordlinkage.Compare`` feature (example: the function above)."""

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

    RLComparison.__module__ = __name__
    RLComparison.__qualname__ = "RLComparison"
    return RLComparison
