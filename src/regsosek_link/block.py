"""Block stage: clean records -> candidate pairs.

A blocking rule names keys; records whose keys are all equal and non-missing become candidate
pairs. :func:`block` takes the union of several rules and returns each pair once, as integer
row positions ``left < right`` into the records, with the first rule that found it.

Key expressions are a column name or a function of one: ``first_token(nama_phonetic)``,
``last_token(nama)``, ``tokens(nama_phonetic)`` (one key per token: records sharing any token),
``prefix(nama, 3)``, ``year(tanggal_lahir)``, ``month_day(tanggal_lahir)``. A custom key is
a function of one value named by its import path, ``package.module:function(column)`` or
``package.module:function(column, 3)``: it is called once per distinct value of the column
(a stripped, non-blank ``str``), with the number as a second argument when one is given, and
returns the key (``None`` or ``""`` for no key). See :mod:`regsosek_link.extend`.

Very common keys (SITI, 1 July, a missing-looking value) make giant blocks whose pairs grow
with the square of their size: block sizes are measured before any pair is made, and a block
larger than ``max_block_size`` is skipped with a warning naming the rule and its biggest
blocks. Block keys are NIKs, family-card numbers, names and birth dates: warnings, logs and
the blocking report show them masked (:func:`mask_key`, a short hash), never raw.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from . import _spec
from ._arrays import NONE, stable_argsort, unique_int
from ._codes import CodeBook, column_codes, has_value, with_codes
from ._order import record_rank
from ._threads import map_in_threads
from .errors import ConfigError

__all__ = [
    "BlockIndex",  # noqa: F822 - made on first use (module __getattr__)
    "BlockOn",
    "Blocking",
    "BlockingRule",
    "LargeBlockWarning",
    "SortedNeighbourhood",
    "block",
    "block_with_report",
    "blocking_report",
    "mask_key",
    "rule_keys",
    "usable_blocking_rules",
]

log = logging.getLogger(__name__)

LinkType = Literal["link_and_dedupe", "link_only", "dedupe_only"]

_EXPR = re.compile(r"^\s*(?P<fn>[A-Za-z_][\w.]*(?::[A-Za-z_][\w.]*)?)\(\s*(?P<col>[A-Za-z0-9_]+)\s*(?:,\s*(?P<arg>\d+)\s*)?\)\s*$")
_FUNCTIONS = ("first_token", "last_token", "tokens", "prefix", "year", "month_day")


class LargeBlockWarning(UserWarning):
    """A blocking rule met blocks over the size cap; their pairs were not generated."""


def mask_key(key: str) -> str:
    """A block key as it may be shown in warnings, logs and reports: ``#`` and the first
    eight hex digits of its SHA-256, so that two mentions of one block can be matched (and an
    analyst holding the data can find it: ``mask_key(" | ".join(values))``) without the
    key's NIK, name or birth date being written out.

    An unkeyed hash of a short identifier can be reversed by trying every value; eight hex
    digits leave many values per hash, but the mask only keeps keys out of plain sight (it
    is no pseudonymisation).

    >>> mask_key("SITI")
    '#26080a84'
    """
    return "#" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _parse_key(expr: str) -> tuple[str | None, str, int | None]:
    m = _EXPR.match(expr)
    if m is None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", expr.strip()):
            raise ConfigError(
                f"blocking key {expr!r} is neither a column name nor one of "
                f"{', '.join(f + '(column)' for f in _FUNCTIONS)}"
            )
        return None, expr.strip(), None
    fn, col, arg = m.group("fn"), m.group("col"), m.group("arg")
    if ":" in fn:
        if not callable(_spec.import_object(fn, what="blocking key function")):
            raise ConfigError(f"blocking key {expr!r}: {fn!r} is not a function")
        return fn, col, int(arg) if arg is not None else None
    if fn not in _FUNCTIONS:
        raise ConfigError(
            f"blocking key {expr!r} uses unknown function {fn!r}; known: {', '.join(_FUNCTIONS)}"
        )
    if fn == "prefix" and arg is None:
        raise ConfigError(f"blocking key {expr!r}: prefix needs a length, e.g. prefix(nama, 3)")
    return fn, col, int(arg) if arg is not None else None


@_spec.register("blocking_rule")
@dataclass(frozen=True, kw_only=True)
class BlockOn:
    """Pair records that agree exactly on every key.

    Parameters
    ----------
    keys : tuple of str
        Key expressions (see module docstring). At most one may use ``tokens(...)``.
    name : str, optional
        Label used in reports; defaults to the keys joined by ``" & "``.

    Examples
    --------
    >>> BlockOn(keys=("tanggal_lahir", "tokens(nama_phonetic)")).label
    'tanggal_lahir & tokens(nama_phonetic)'
    """

    keys: tuple[str, ...]
    name: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.keys, str):
            object.__setattr__(self, "keys", (self.keys,))
        if not self.keys:
            raise ConfigError("BlockOn needs at least one key")
        parsed = [_parse_key(k) for k in self.keys]
        if sum(fn == "tokens" for fn, _, _ in parsed) > 1:
            raise ConfigError(f"BlockOn{self.keys}: at most one key may use tokens(...)")

    @property
    def label(self) -> str:
        return self.name or " & ".join(self.keys)

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(_parse_key(k)[1] for k in self.keys)


@_spec.register("blocking_rule")
@dataclass(frozen=True, kw_only=True)
class SortedNeighbourhood:
    """Pair each record with the ``window - 1`` records after it in the order of ``key``.

    Catches near-equal keys (a typo late in a name) that exact blocks miss.

    Parameters
    ----------
    key : str
        Key expression to sort on (``tokens(...)`` not allowed).
    window : int
        Window size, at least 2.
    name : str, optional
        Label used in reports.
    """

    key: str
    window: int = 5
    name: str | None = None

    def __post_init__(self) -> None:
        fn, _, _ = _parse_key(self.key)
        if fn == "tokens":
            raise ConfigError("SortedNeighbourhood cannot sort on tokens(...)")
        if not isinstance(self.window, int) or self.window < 2:
            raise ConfigError(
                f"The 'window' parameter of SortedNeighbourhood must be an int >= 2. "
                f"Got {self.window!r} instead."
            )

    @property
    def label(self) -> str:
        return self.name or f"sorted({self.key}, window={self.window})"

    @property
    def columns(self) -> tuple[str, ...]:
        return (_parse_key(self.key)[1],)


BlockingRule = BlockOn | SortedNeighbourhood


# ----------------------------------------------------------------------------------------
# key evaluation

_FN: dict[str, Callable[[str, int | None], str]] = {
    "first_token": lambda v, _: v.split(" ", 1)[0],
    "last_token": lambda v, _: v.rsplit(" ", 1)[-1],
    "prefix": lambda v, arg: v[:arg],
    "year": lambda v, _: v[:4],
    "month_day": lambda v, _: v[5:10],
}


def _custom_key(path: str, arg: int | None) -> Callable[[str, int | None], str]:
    """A custom key function (``package.module:function``) called as the built-in ones are."""
    f = _spec.import_object(path, what="blocking key function")
    return (lambda v, n: f(v, n)) if arg is not None else (lambda v, _: f(v))


def _token_key(codes: np.ndarray, uniques: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``tokens(col)``: (rows, token codes, token labels), one entry per distinct token of each
    row's value; rows ascending, a row's tokens in the order they first appear in its value.

    Tokens are split from the distinct values only (one ``str.split`` of them all joined);
    rows are then expanded with ``np.repeat``.
    """
    parts = np.asarray(" ".join(uniques).split(" ") if len(uniques) else [], dtype=object)
    value = np.repeat(np.arange(len(uniques)),
                      np.fromiter(map(str.count, uniques, itertools.repeat(" ")), np.int64, len(uniques)) + 1)
    tcodes, tlabels = pd.factorize(np.where(parts == "", NONE, parts), sort=False)
    # a token counts once per value, at its first place
    keep = (tcodes >= 0) & ~pd.Series(value * (len(tlabels) + 1) + tcodes).duplicated().to_numpy()
    value, tcodes = value[keep], tcodes[keep].astype(np.int64)
    ntok = np.bincount(value, minlength=len(uniques))
    has = np.flatnonzero(codes >= 0)
    held = codes[has]
    rep = ntok[held]
    at = _ranges((np.cumsum(ntok) - ntok)[held], rep)
    return np.repeat(has, rep), tcodes[at], np.asarray(tlabels, dtype=object)


class _KeyCache:
    """Integer codes of key expressions over one records frame, each computed once.

    A plain key gives one code per row (-1 missing); ``tokens(col)`` gives (rows, codes)
    with rows ascending and repeated once per distinct token. Column codes come from
    :func:`regsosek_link._codes.column_codes` (shared by the stages); string work is done on
    the column's distinct values only, then mapped back through integer codes.
    """

    def __init__(self, records: pd.DataFrame) -> None:
        self.records = records
        self._key: dict[str, tuple[np.ndarray | None, np.ndarray, np.ndarray]] = {}
        self._locks: dict[str, threading.Lock] = {}

    def column(self, col: str, expr: str) -> tuple[np.ndarray, np.ndarray]:
        """Codes (-1 missing or blank) and distinct stripped values of a column (read-only)."""
        if col not in self.records.columns:
            raise ConfigError(
                f"blocking key {expr!r} needs column {col!r}, which the records do not have; "
                f"columns present: {', '.join(map(str, self.records.columns))}"
            )
        return column_codes(self.records, col)

    def key(self, expr: str) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """(rows or None for "every row", codes, labels of the codes); do not modify them."""
        hit = self._key.get(expr)
        if hit is not None:
            return hit
        # rules run on several threads may ask for one key at once: it is made once
        with self._locks.setdefault(expr, threading.Lock()):  # (setdefault is atomic)
            hit = self._key.get(expr)
            return hit if hit is not None else self._make_key(expr)

    def _make_key(self, expr: str) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        fn, col, arg = _parse_key(expr)
        codes, uniques = self.column(col, expr)
        out: tuple[np.ndarray | None, np.ndarray, np.ndarray]
        if fn == "tokens":
            out = _token_key(codes, uniques)
        elif fn is None:
            out = (None, codes, uniques)
        else:
            f = _FN.get(fn) or _custom_key(fn, arg)
            vals = np.fromiter((f(v, arg) or None for v in uniques), object, len(uniques))
            vcodes, vlabels = pd.factorize(vals, sort=False)
            # codes of -1 (missing) pick the appended -1
            out = (None, np.append(vcodes.astype(np.int64), -1)[codes], np.asarray(vlabels, dtype=object))
        self._key[expr] = out
        return out


@dataclass(frozen=True)
class _Blocks:
    """The blocks of one rule.

    ``rows[e]`` is the record of entry ``e`` (ascending; a record has one entry per distinct
    token under a ``tokens(...)`` key, else one). ``ent`` lists the entries block by block,
    ascending inside a block; block ``b`` is ``ent[starts[b]:starts[b] + sizes[b]]``.
    ``cols``/``labs`` are each key's codes per entry and its labels (for naming blocks).
    """

    rows: np.ndarray
    ent: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    cols: tuple[np.ndarray, ...]
    labs: tuple[np.ndarray, ...]

    def first_entries(self, blocks: np.ndarray) -> np.ndarray:
        """The first entry of each block: blocks in this order are in order of first appearance."""
        return self.ent[self.starts[blocks]]

    def labels(self, blocks: np.ndarray) -> list[str]:
        """Readable keys of some blocks (for warnings about giant blocks)."""
        return [" | ".join(str(lab[c[i]]) for c, lab in zip(self.cols, self.labs))
                for i in self.first_entries(blocks)]


def _group(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries grouped by code: blocks in order of code, entries ascending inside each block
    (:func:`~regsosek_link._arrays.stable_argsort`; it replaced 16-bit radix passes, about
    six times slower here).

    Parameters
    ----------
    codes : ndarray of int64
        A non-negative code per entry.

    Returns
    -------
    ent, starts, sizes : ndarray of int64
        Entries block by block (ascending inside each block), and where each block starts in
        ``ent`` and how long it is.
    """
    e = len(codes)
    if e == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    ent = stable_argsort(codes)
    key = codes[ent]
    new = np.empty(e, bool)
    new[0] = True
    np.not_equal(key[1:], key[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    return ent, starts, np.diff(starts, append=e)


def _rule_blocks(records: pd.DataFrame, keys: Sequence[str], cache: _KeyCache | None = None) -> _Blocks:
    """The blocks of a :class:`BlockOn` rule's keys (records missing a key are in none)."""
    cache = cache or _KeyCache(records)
    parts = [cache.key(k) for k in keys]
    tok_rows = next((r for r, _, _ in parts if r is not None), None)
    if tok_rows is None:
        cols = [c for _, c, _ in parts]
    else:
        cols = [c if r is not None else c[tok_rows] for r, c, _ in parts]
    ok = cols[0] >= 0
    for c in cols[1:]:
        ok &= c >= 0
    if ok.all():
        rows = tok_rows if tok_rows is not None else np.arange(len(ok), dtype=np.int64)
    else:
        rows = tok_rows[ok] if tok_rows is not None else np.flatnonzero(ok)
        cols = [c[ok] for c in cols]
    # mixed radix over the keys' label counts, made dense when it would grow too big
    combined, bound = cols[0], len(parts[0][2])
    for c, (_, _, lab) in zip(cols[1:], parts[1:]):
        if bound * len(lab) >= 1 << 62:
            combined = pd.factorize(combined, sort=False)[0].astype(np.int64)
            bound = int(combined.max(initial=-1)) + 1
        combined = combined * len(lab) + c
        bound *= len(lab)
    ent, starts, sizes = _group(combined)
    return _Blocks(rows=rows, ent=ent, starts=starts, sizes=sizes, cols=tuple(cols),
                   labs=tuple(lab for _, _, lab in parts))


def rule_keys(records: pd.DataFrame, rule: BlockingRule) -> tuple[np.ndarray, np.ndarray]:
    """Each record's key under ``rule`` as text: (rows, keys), one entry per distinct token
    under a ``tokens(...)`` key; records missing a key have none. The keys of several
    columns are joined by ``"\x1f"``. Records with equal keys share a block of a
    :class:`BlockOn` rule; a :class:`SortedNeighbourhood` rule sorts on them. An engine that
    blocks elsewhere (Spark) makes its equi-joins on these keys.

    >>> recs = pd.DataFrame({"nama": ["ADI BUDI", None, "ADI"], "tahun": ["1990", "1991", "1990"]})
    >>> rows, keys = rule_keys(recs, BlockOn(keys=("tokens(nama)", "tahun")))
    >>> rows.tolist(), [k.replace("\x1f", "|") for k in keys]
    ([0, 0, 2], ['ADI|1990', 'BUDI|1990', 'ADI|1990'])
    """
    cache = _KeyCache(records)
    if isinstance(rule, SortedNeighbourhood):
        _, codes, labels = cache.key(rule.key)
        rows = np.flatnonzero(codes >= 0)
        return rows, np.asarray(labels, dtype=object)[codes[rows]]
    b = _rule_blocks(records, rule.keys, cache)
    key = np.asarray(b.labs[0], dtype=object)[b.cols[0]]
    for c, lab in zip(b.cols[1:], b.labs[1:]):
        key = key + "\x1f" + np.asarray(lab, dtype=object)[c]
    return b.rows, key


def _rule_codes(records: pd.DataFrame, keys: Sequence[str], cache: _KeyCache | None = None
                ) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], list[str]]]:
    """Rows, dense integer block codes of a rule (rows repeat for a tokens key), and a
    function giving readable labels of block codes (for warnings about giant blocks)."""
    b = _rule_blocks(records, keys, cache)
    codes = np.empty(len(b.ent), np.int64)
    codes[b.ent] = np.repeat(np.arange(len(b.starts)), b.sizes)
    return b.rows, codes, b.labels


@dataclass(frozen=True)
class _PairFilter:
    """Which pairs ``link_type`` and one-record-per-person sources allow.

    ``tag`` is per record ``2 * source code + (1 if the source holds one record per person)``
    (``-2`` for a missing source), so "same source" is ``tag`` equality and every test is a
    comparison of the two records' tags.
    """

    tag: np.ndarray
    link_type: LinkType

    def allowed(self, left_tag: np.ndarray, right_tag: np.ndarray) -> np.ndarray:
        if self.link_type == "link_only":
            return left_tag != right_tag
        several = (left_tag & 1) == 0  # the source may hold several records of a person
        if self.link_type == "dedupe_only":
            return (left_tag == right_tag) & several
        return (left_tag != right_tag) | several


def _pair_filter(records: pd.DataFrame, link_type: LinkType, source_column: str,
                 single_record_sources: Sequence[str]) -> _PairFilter | None:
    """The :class:`_PairFilter` of :func:`block`'s options, or None when every pair is allowed."""
    if link_type == "link_and_dedupe" and len(single_record_sources) == 0:
        return None
    if source_column not in records.columns:
        raise ConfigError(f"link_type={link_type!r} needs column {source_column!r} in the records")
    codes, names = column_codes(records, source_column)
    single = np.r_[np.isin(names, list(single_record_sources)), False]  # [-1]: missing source
    tag = 2 * codes + single[codes]
    return _PairFilter(tag=tag.astype(np.int8 if len(names) < 63 else np.int64), link_type=link_type)


def _ranges(first: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``concatenate([arange(f, f + c) for f, c in zip(first, count)])``, by one cumulative sum.

    >>> _ranges(np.array([5, 0, 2]), np.array([2, 0, 3])).tolist()
    [5, 6, 2, 3, 4]
    """
    out = np.ones(int(count.sum()), np.int64)
    some = count > 0
    f, c = first[some], count[some]
    if len(f):
        # each run starts with the step from the end of the previous run
        start = np.cumsum(c) - c
        out[0] = f[0]
        out[start[1:]] = f[1:] - f[:-1] - c[:-1] + 1
        np.cumsum(out, out=out)
    return out


def _pair_codes(rows: np.ndarray, ent: np.ndarray, starts: np.ndarray, sizes: np.ndarray, bits: int,
                keep: np.ndarray | None = None, pf: _PairFilter | None = None) -> np.ndarray:
    """Codes ``left << bits | right`` of every pair of entries sharing a block, vectorised.

    ``rows`` must be ascending and ``ent``, ``starts``, ``sizes`` as from :func:`_group`, so
    ``left < right`` and the codes come in order of left entry (and of right entry within a
    block). ``keep`` (a flag per block) drops blocks; ``pf`` drops pairs it does not allow.
    """
    e = len(ent)
    # partners of each position of ent: the rest of its block (the block of each position
    # by a cumulative sum, and each pair's left row below by _ranges' own: np.repeat would
    # hold the GIL, which the comparisons' preparation on the other thread needs)
    block = np.zeros(e, np.intp)
    block[starts[1:]] = 1
    np.cumsum(block, out=block)
    after = (starts + sizes)[block]
    after -= np.arange(1, e + 1)
    if keep is not None:
        after[~keep[block]] = 0
    del block
    pos = np.empty(e, np.int64)
    pos[ent] = np.arange(e)
    count = after[pos]
    # the partners of entry i are ent[pos[i] + 1 : pos[i] + 1 + count[i]]; each pair as
    # (left row << pbits) | the position of its right entry in ent
    pbits = max(e.bit_length(), 1)
    if len(rows) and int(rows[-1]).bit_length() + pbits > 62:  # (beyond any one machine's run)
        code, left = _ranges(pos + 1, count), np.repeat(rows, count)
    else:
        code = _ranges((rows << pbits) + pos + 1, count)
        left = code >> pbits
        code &= (1 << pbits) - 1
    allowed = None
    if pf is not None:
        allowed = pf.allowed(pf.tag[left], pf.tag[rows[ent]][code])
    # in place (out= the indices is safe for take): positions become right rows
    np.take(rows[ent], code, out=code, mode="clip")
    left <<= bits
    code |= left
    return code if allowed is None else code[allowed]


def _pairs_within_blocks(rows: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of rows sharing a code (``left < right``), vectorised.

    ``codes`` are non-negative, one per row; a (row, code) must not repeat.
    """
    if len(rows) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = stable_argsort(rows)
    rows = np.asarray(rows, np.int64)[order]
    codes = np.asarray(codes, np.int64)[order]
    bits = max(int(rows.max()).bit_length(), 1)
    ent, starts, sizes = _group(codes)
    code = _pair_codes(rows, ent, starts, sizes, bits)
    return code >> bits, code & ((1 << bits) - 1)


def _sorted_neighbourhood(records: pd.DataFrame, rule: SortedNeighbourhood,
                          cache: _KeyCache | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of each record with the ``window - 1`` records after it in the order of the
    rule's key; records with equal keys in the canonical record order (sources by name, then
    record IDs: :func:`regsosek_link._order.record_rank`), so the window holds the same
    records whatever the order of the rows."""
    cache = cache or _KeyCache(records)
    _, codes, labels = cache.key(rule.key)
    rows = np.flatnonzero(codes >= 0)
    rank = np.empty(len(labels), np.int64)
    rank[np.argsort(np.asarray(labels, dtype=object), kind="stable")] = np.arange(len(labels))
    r = rows[np.lexsort((record_rank(records)[rows], rank[codes[rows]]))]
    lefts, rights = [], []
    for k in range(1, rule.window):
        lefts.append(r[:-k])
        rights.append(r[k:])
    return np.concatenate(lefts), np.concatenate(rights)


# ----------------------------------------------------------------------------------------
# the stage


@dataclass
class _RuleStats:
    rule: str
    pairs_generated: int = 0
    new_pairs: int = 0
    largest_block: int = 0
    skipped_blocks: int = 0
    skipped_records: int = 0
    skipped_keys: list[str] = field(default_factory=list)


def block(
    records: pd.DataFrame,
    rules: Sequence[BlockingRule],
    *,
    link_type: LinkType = "link_and_dedupe",
    source_column: str = "source",
    single_record_sources: Sequence[str] = (),
    max_block_size: int = 2_000,
    workers: int = 1,
    new: np.ndarray | None = None,
    codes: CodeBook | None = None,
) -> pd.DataFrame:
    """The candidate pairs of :func:`block_with_report` (same parameters), without the report.

    >>> recs = pd.DataFrame({"nik": ["1", "1", "2", None], "nama": ["A", "B", "A", "A"]})
    >>> block(recs, [BlockOn(keys=("nik",)), BlockOn(keys=("nama",))])[["left", "right"]].values.tolist()
    [[0, 1], [0, 2], [0, 3], [2, 3]]
    """
    return block_with_report(records, rules, link_type=link_type, source_column=source_column,
                             single_record_sources=single_record_sources, max_block_size=max_block_size,
                             workers=workers, new=new, codes=codes).pairs


class Blocking(NamedTuple):
    """What :func:`block_with_report` gives."""

    pairs: pd.DataFrame
    report: pd.DataFrame


@with_codes
def block_with_report(
    records: pd.DataFrame,
    rules: Sequence[BlockingRule],
    *,
    link_type: LinkType = "link_and_dedupe",
    source_column: str = "source",
    single_record_sources: Sequence[str] = (),
    max_block_size: int = 2_000,
    workers: int = 1,
    new: np.ndarray | None = None,
    codes: CodeBook | None = None,
) -> Blocking:
    """Candidate pairs: the union of several blocking rules, and a report per rule.

    Parameters
    ----------
    records : DataFrame
        Clean records (any index; pairs refer to row positions).
    rules : sequence of BlockOn or SortedNeighbourhood
        Blocking rules; a pair found by several rules is kept once, credited to the first.
    link_type : {"link_and_dedupe", "link_only", "dedupe_only"}
        Which pairs to keep: across and within sources, across sources only, within only.
    source_column : str
        Column naming each record's source (needed unless ``link_type="link_and_dedupe"``
        and ``single_record_sources`` is empty).
    single_record_sources : sequence of str
        Sources holding at most one record per person: pairs inside them are not made.
    max_block_size : int
        Blocks with more records are skipped (their pairs would grow with the square of the
        size) and reported with a :class:`LargeBlockWarning`.
    workers : int
        Threads (-1: all cores). With more than one, rules are blocked side by side (their
        sorting and array work releases the GIL); the pairs are the same.
    new : array of bool, optional
        A flag per record: only pairs with at least one flagged record are made (a batch
        blocked against a stored registry). Only blocks holding a flagged record are
        expanded, so the cost grows with the batch; block sizes are still counted over all
        records, so a block a full run skips is skipped here too. The pairs are exactly
        those of a full run that touch a flagged record.

    Returns
    -------
    DataFrame
        Columns ``left``, ``right`` (int64 row positions, ``left < right``), ``rule``
        (int8 index of the first rule that found the pair) and ``rules`` (int64 bit mask of
        every rule that found it: bit ``i`` for rule ``i``), sorted by ``left, right``.
        That is ``pairs``; ``report`` has a row per rule: ``rule``, ``pairs_generated``,
        ``new_pairs`` (found by no earlier rule), ``largest_block``, ``skipped_blocks``,
        ``skipped_records``, ``skipped_keys`` (see :func:`blocking_report`).

    Examples
    --------
    >>> recs = pd.DataFrame({"nik": ["1", "1", "2", None], "nama": ["A", "B", "A", "A"]})
    >>> b = block_with_report(recs, [BlockOn(keys=("nik",)), BlockOn(keys=("nama",))])
    >>> b.pairs[["left", "right"]].values.tolist(), b.report["new_pairs"].tolist()
    ([[0, 1], [0, 2], [0, 3], [2, 3]], [1, 3])
    """
    if link_type not in ("link_and_dedupe", "link_only", "dedupe_only"):
        raise ConfigError(
            f"link_type must be 'link_and_dedupe', 'link_only' or 'dedupe_only'; got {link_type!r}"
        )
    if not rules:
        raise ConfigError("block() needs at least one blocking rule")
    pf = _pair_filter(records, link_type, source_column, single_record_sources)
    # pair codes are left << bits | right: a power-of-two radix that shifts decode
    bits = max(int(len(records) - 1).bit_length(), 1)
    cache = _KeyCache(records)
    if new is not None:
        new = np.asarray(new, bool)
        if new.shape != (len(records),):
            raise ValueError(f"new must hold one flag per record ({len(records)}); got shape {new.shape}")

    def one_rule(rule: BlockingRule) -> tuple[np.ndarray, _RuleStats]:
        st = _RuleStats(rule=rule.label)
        if isinstance(rule, SortedNeighbourhood):
            left, right = _sorted_neighbourhood(records, rule, cache)
            left, right = np.minimum(left, right), np.maximum(left, right)
            ok = left != right
            if pf is not None:
                ok &= pf.allowed(pf.tag[left], pf.tag[right])
            code = unique_int((left[ok] << bits) | right[ok])
        elif isinstance(rule, BlockOn):
            code = _block_on_codes(records, rule, cache, bits, pf, max_block_size, st, new)
        else:
            raise ConfigError(f"not a blocking rule: {rule!r}")
        if new is not None:
            code = code[new[code >> bits] | new[code & ((1 << bits) - 1)]]
        st.pairs_generated = len(code)
        return code, st

    done = map_in_threads(one_rule, rules, workers, "block")
    rule_codes = [code for code, _ in done]
    stats = [st for _, st in done]
    del done
    for rule, st in zip(rules, stats):  # warned here, in rule order, whichever thread blocked
        if st.skipped_blocks:
            warnings.warn(
                f"blocking rule {rule.label!r}: {st.skipped_blocks} block(s) over max_block_size="
                f"{max_block_size} skipped ({st.skipped_records} records); biggest blocks (keys masked): "
                f"{'; '.join(st.skipped_keys)}. Add a key to the rule to split them, or raise "
                f"max_block_size.",
                LargeBlockWarning,
                stacklevel=2,
            )

    pairs = _union(rule_codes, 1 << bits)
    del rule_codes
    first_rule = pairs["rule"].to_numpy()
    for i, st in enumerate(stats):
        st.new_pairs = int((first_rule == i).sum())
        log.info("blocking rule %r: %d pairs, %d new", st.rule, st.pairs_generated, st.new_pairs)
    return Blocking(pairs, pd.DataFrame([vars(s) for s in stats]))


def _block_on_codes(records: pd.DataFrame, rule: BlockOn, cache: _KeyCache, bits: int,
                    pf: _PairFilter | None, max_block_size: int, st: _RuleStats,
                    new: np.ndarray | None = None) -> np.ndarray:
    """Sorted distinct pair codes (``left << bits | right``) of one :class:`BlockOn` rule;
    fills the block statistics of ``st`` (blocks over ``max_block_size`` are skipped).
    With ``new``, only blocks holding a flagged record are expanded."""
    b = _rule_blocks(records, rule.keys, cache)
    # block sizes are known before any pair is made
    st.largest_block = int(b.sizes.max(initial=0))
    keep = None
    big = np.flatnonzero(b.sizes > max_block_size)
    if len(big):
        st.skipped_blocks = len(big)
        st.skipped_records = int(b.sizes[big].sum())
        # biggest first, ties in order of first appearance
        top = big[np.lexsort((b.first_entries(big), -b.sizes[big]))][:5]
        st.skipped_keys = [f"{mask_key(lab)} ({b.sizes[j]} records)" for lab, j in zip(b.labels(top), top)]
        keep = b.sizes <= max_block_size
    if new is not None and len(b.starts):
        touched = np.logical_or.reduceat(new[b.rows[b.ent]], b.starts)
        keep = touched if keep is None else keep & touched
    code = _pair_codes(b.rows, b.ent, b.starts, b.sizes, bits, keep, pf)
    if len(code) > 1 and not (b.rows[1:] > b.rows[:-1]).all():
        # a tokens() key: each block of a record gives one sorted run of its pairs, and a pair
        # sharing several tokens comes once per token (numpy's default sort of int64, SIMD
        # where the CPU has it, beats timsort's merging of those many short runs ten times)
        code.sort()
        code = code[np.r_[True, code[1:] != code[:-1]]]
    return code


def union_of_rules(rule_codes: Sequence[np.ndarray], n: int) -> pd.DataFrame:
    """The union of several rules' pair codes (``left * n + right``), sorted by code.

    Returns ``left``, ``right``, ``rule`` (the first rule that found the pair) and ``rules``
    (bit mask of every rule that found it; EM sessions train on all of a rule's pairs).
    A power-of-two ``n`` decodes fastest.

    >>> union_of_rules([np.array([1, 5]), np.array([5, 7])], 4).values.tolist()
    [[0, 1, 0, 1], [1, 1, 0, 3], [1, 3, 1, 2]]
    """
    parts = [np.asarray(c, np.int64) for c in rule_codes]
    return _union([c if (c[1:] >= c[:-1]).all() else np.sort(c) for c in parts], n)


def _union(parts: Sequence[np.ndarray], n: int, chunk: int = 1 << 20) -> pd.DataFrame:
    """:func:`union_of_rules` of sorted int64 codes, piece by piece.

    The code range is cut into pieces of about ``chunk`` codes; in each, the rules' slices
    are tagged with the rule index in the low 6 bits and merged by one stable sort (timsort
    merges the sorted runs; a pair's rules come first rule first). Pieces keep every
    temporary array small and cache-sized, and results go straight into the output.
    """
    total = sum(len(c) for c in parts)
    width = np.int16 if len(parts) <= 15 else np.int32 if len(parts) <= 31 else np.int64
    # left, right, rules as one 2-D int64 block (what a frame would consolidate them into),
    # allocated for every code: only the rows written are ever touched
    out = np.empty((3, total), np.int64)
    rule = np.empty(total, np.int8)
    step = max(chunk // 16, 1)
    sample = np.sort(np.concatenate([c[::step] for c in parts] + [np.zeros(0, np.int64)]))
    cuts = sample[16::16]
    bounds = [np.r_[0, np.searchsorted(c, cuts), len(c)] for c in parts]
    shift = n.bit_length() - 1
    m = 0
    for j in range(len(cuts) + 1):
        pieces = [(i, c[b[j]:b[j + 1]]) for i, (c, b) in enumerate(zip(parts, bounds)) if b[j + 1] > b[j]]
        size = sum(len(p) for _, p in pieces)
        if size == 0:
            continue
        tagged = np.empty(size, np.int64)
        at = 0
        for i, p in pieces:
            np.left_shift(p, 6, out=tagged[at:at + len(p)])
            tagged[at:at + len(p)] |= min(i, 63)
            at += len(p)
        tagged.sort(kind="stable")
        rid = np.empty(size, np.int8)
        np.bitwise_and(tagged, 63, out=rid, casting="unsafe")
        tagged >>= 6
        new = np.empty(size, bool)
        new[0] = True
        np.not_equal(tagged[1:], tagged[:-1], out=new[1:])
        start = np.flatnonzero(new)
        k = m + len(start)
        np.take(rid, start, out=rule[m:k])
        out[2, m:k] = np.bitwise_or.reduceat(np.left_shift(width(1), np.minimum(rid, 62), dtype=width), start)
        code = tagged[start]
        if n & (n - 1) == 0:
            np.right_shift(code, shift, out=out[0, m:k])
            np.bitwise_and(code, n - 1, out=out[1, m:k])
        else:
            np.divmod(code, n, out=(out[0, m:k], out[1, m:k]))
        m = k
    frame = pd.DataFrame(out[:, :m].T, columns=["left", "right", "rules"], copy=False)
    frame.insert(2, "rule", rule[:m])
    return frame


#: The rule :func:`usable_blocking_rules` falls back on when no rule is left: records with
#: the same name sound (a run with names and nothing else to block on).
FALLBACK_BLOCKING_RULES: tuple[BlockingRule, ...] = (
    BlockOn(keys=("nik",), name="nik"),
    BlockOn(keys=("nama_phonetic",), name="name sound"),
)


@with_codes
def usable_blocking_rules(
    rules: Sequence[BlockingRule], records: pd.DataFrame, *, codes: CodeBook | None = None
) -> tuple[tuple[BlockingRule, ...], list[str]]:
    """The blocking rules whose every key column holds a value in some record, and a note
    per dropped rule.

    A :class:`BlockOn` rule pairs records that agree on all its keys, so a rule with a key
    column that no record has (no source maps ``tanggal_lahir``, say) can make no pair.
    When no rule is left, the rules of :data:`FALLBACK_BLOCKING_RULES` that can make pairs
    (same NIK, same name sound) are used instead, with a note. Call it on the clean
    records, before blocking.

    Parameters
    ----------
    rules : sequence of BlockOn or SortedNeighbourhood
        The run's blocking rules.
    records : DataFrame
        Clean records (:func:`regsosek_link.standardise.standardise`).

    Returns
    -------
    kept : tuple of rules
        The usable rules in their order (possibly the fallback rules; empty only when no
        record has a NIK or a name sound either).
    notes : list of str
        One sentence per dropped (or added) rule, for the log.

    Examples
    --------
    >>> recs = pd.DataFrame({"nik": ["1", "1"], "tanggal_lahir": [None, None]})
    >>> kept, notes = usable_blocking_rules([BlockOn(keys=("nik",)), BlockOn(keys=("tanggal_lahir",))], recs)
    >>> [r.label for r in kept], notes
    (['nik'], ["blocking rule 'tanggal_lahir' dropped: no record has a value in column 'tanggal_lahir'"])
    """
    def unusable(rule: BlockingRule) -> list[str]:
        return [c for c in dict.fromkeys(rule.columns)
                if not has_value(records, c)]

    kept: list[BlockingRule] = []
    notes: list[str] = []
    for rule in rules:
        empty = unusable(rule)
        if not empty:
            kept.append(rule)
            continue
        which = f"column {empty[0]!r}" if len(empty) == 1 else f"columns {empty}"
        notes.append(f"blocking rule {rule.label!r} dropped: no record has a value in {which}")
    if rules and not kept:
        kept = [r for r in FALLBACK_BLOCKING_RULES if not unusable(r)]
        notes.extend(f"no blocking rule is usable; blocking on {r.label!r} instead" for r in kept)
    return tuple(kept), notes


def blocking_report(blocking: Blocking, truth_pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-rule report of a :func:`block_with_report` result.

    Columns: ``rule``, ``pairs_generated``, ``new_pairs``, ``largest_block``,
    ``skipped_blocks``, ``skipped_records``, ``skipped_keys``, and with ``truth_pairs`` (true
    matching pairs as ``left``, ``right`` positions) ``true_pairs_found`` (cumulative recall
    after each rule is added) and ``cumulative_recall``.
    """
    if not isinstance(blocking, Blocking):
        raise TypeError(f"blocking_report needs the result of block_with_report(); got {type(blocking).__name__}")
    pairs, report = blocking.pairs, blocking.report.copy()
    if truth_pairs is not None and len(truth_pairs):
        lo = np.minimum(truth_pairs["left"], truth_pairs["right"]).to_numpy(np.int64)
        hi = np.maximum(truth_pairs["left"], truth_pairs["right"]).to_numpy(np.int64)
        n = int(max(pairs[["left", "right"]].to_numpy().max(initial=0), hi.max(initial=0))) + 1
        tcode = unique_int(lo * n + hi)
        pcode = pairs["left"].to_numpy(np.int64) * n + pairs["right"].to_numpy(np.int64)
        found_rule = pd.Series(pairs["rule"].to_numpy(), index=pcode)
        hit = found_rule.reindex(tcode)
        counts = hit.value_counts().reindex(range(len(report)), fill_value=0).to_numpy()
        report["true_pairs_found"] = counts
        report["cumulative_recall"] = np.cumsum(counts) / len(tcode)
    return report


# ----------------------------------------------------------------------------------------
# recordlinkage plug-in


def __getattr__(name: str) -> type:
    # BlockIndex subclasses a recordlinkage class, so it is made on first use: importing
    # this module does not import recordlinkage.
    if name == "BlockIndex":
        cls = _block_index_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _block_index_class() -> type:
    """Make :class:`BlockIndex`, our blocking rules as a ``recordlinkage`` indexer.

    Examples
    --------
    >>> import recordlinkage
    >>> from regsosek_link.block import BlockIndex
    >>> df = pd.DataFrame({"nama": ["ANI", "ANI", "BUDI"]}, index=["a", "b", "c"])
    >>> idx = recordlinkage.Index()
    >>> idx.add(BlockIndex(rules=[BlockOn(keys=("nama",))]))
    >>> list(idx.index(df))
    [('a', 'b')]
    """
    from recordlinkage.base import BaseIndexAlgorithm

    class BlockIndex(BaseIndexAlgorithm):
        """Our blocking rules as a ``recordlinkage`` indexer (example: the function above)."""

        def __init__(self, *, rules: Sequence[BlockingRule], max_block_size: int = 2_000) -> None:
            super().__init__()
            self.rules = list(rules)
            self.max_block_size = max_block_size

        def _dedup_index(self, df_a: pd.DataFrame) -> pd.MultiIndex:
            p = block(df_a, self.rules, max_block_size=self.max_block_size)
            return pd.MultiIndex.from_arrays(
                [df_a.index[p["left"].to_numpy()], df_a.index[p["right"].to_numpy()]],
                names=[df_a.index.name, df_a.index.name],
            )

        def _link_index(self, df_a: pd.DataFrame, df_b: pd.DataFrame) -> pd.MultiIndex:
            both = pd.concat([df_a, df_b], ignore_index=True)
            both["__side"] = np.r_[np.zeros(len(df_a), np.int8), np.ones(len(df_b), np.int8)]
            p = block(both, self.rules, link_type="link_only", source_column="__side",
                      max_block_size=self.max_block_size)
            left, right = p["left"].to_numpy(), p["right"].to_numpy()  # left < right => left in a
            return pd.MultiIndex.from_arrays(
                [df_a.index[left], df_b.index[right - len(df_a)]],
                names=[df_a.index.name, df_b.index.name],
            )

    BlockIndex.__module__ = __name__
    BlockIndex.__qualname__ = "BlockIndex"
    return BlockIndex
