"""Block stage: clean records -> candidate pairs.

A blocking rule names keys; records whose keys are all equal and non-missing become candidate
pairs. :func:`block` takes the union of several rules and returns each pair once, as integer
row positions ``left < right`` into the records, with the first rule that found it.

Key expressions are a column name or a function of one: ``first_token(nama_phonetic)``,
``last_token(nama)``, ``tokens(nama_phonetic)`` (one key per token: records sharing any token),
``prefix(nama, 3)``, ``year(tanggal_lahir)``, ``month_day(tanggal_lahir)``.

Very common keys (SITI, 1 July, a missing-looking value) make giant blocks whose pairs grow
with the square of their size: block sizes are measured before any pair is made, and a block
larger than ``max_block_size`` is skipped with a warning naming the rule and its biggest keys.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from . import _spec
from ._arrays import unique_int
from .errors import ConfigError

__all__ = [
    "BlockOn",
    "SortedNeighbourhood",
    "BlockingRule",
    "block",
    "blocking_report",
    "BlockIndex",
    "LargeBlockWarning",
]

log = logging.getLogger(__name__)

LinkType = Literal["link_and_dedupe", "link_only", "dedupe_only"]

_EXPR = re.compile(r"^\s*(?P<fn>[a-z_]+)\(\s*(?P<col>[A-Za-z0-9_]+)\s*(?:,\s*(?P<arg>\d+)\s*)?\)\s*$")
_FUNCTIONS = ("first_token", "last_token", "tokens", "prefix", "year", "month_day")


class LargeBlockWarning(UserWarning):
    """A blocking rule met blocks over the size cap; their pairs were not generated."""


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


def _apply_fn(values: pd.Series, fn: str | None, arg: int | None) -> pd.Series:
    """A key function on a string Series (used on *distinct* values only)."""
    if fn is None:
        return values
    if fn == "first_token":
        return values.str.split(" ", n=1).str[0]
    if fn == "last_token":
        return values.str.rsplit(" ", n=1).str[-1]
    if fn == "prefix":
        return values.str.slice(0, arg)
    if fn == "year":
        return values.str.slice(0, 4)
    if fn == "month_day":
        return values.str.slice(5, 10)
    raise AssertionError(fn)  # pragma: no cover - guarded by _parse_key


class _KeyCache:
    """Integer codes of key expressions over one records frame, each computed once.

    A plain key gives one code per row (-1 missing); ``tokens(col)`` gives (rows, codes)
    with rows repeated once per distinct token. String work is done on the column's
    distinct values only, then mapped back through integer codes.
    """

    def __init__(self, records: pd.DataFrame) -> None:
        self.records = records
        self._col: dict[str, tuple[np.ndarray, pd.Series]] = {}
        self._key: dict[str, tuple[np.ndarray | None, np.ndarray, np.ndarray]] = {}

    def column(self, col: str, expr: str) -> tuple[np.ndarray, pd.Series]:
        if col not in self._col:
            if col not in self.records.columns:
                raise ConfigError(
                    f"blocking key {expr!r} needs column {col!r}, which the records do not have; "
                    f"columns present: {', '.join(map(str, self.records.columns))}"
                )
            codes, uniques = pd.factorize(self.records[col].astype("string"), sort=False)
            u = pd.Series(uniques, dtype="string").str.strip()
            # blank after stripping = missing; equal after stripping = one value
            u = u.mask(u == "")
            ucodes, uniq2 = pd.factorize(u, sort=False)
            codes = np.where(codes >= 0, np.r_[ucodes, -1][codes], -1)
            self._col[col] = (codes.astype(np.int64), pd.Series(uniq2, dtype="string"))
        return self._col[col]

    def key(self, expr: str) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """(rows or None for "every row", codes, labels of the codes)."""
        if expr in self._key:
            return self._key[expr]
        fn, col, arg = _parse_key(expr)
        codes, uniques = self.column(col, expr)
        if fn == "tokens":
            tok = uniques.str.split(" ").explode()
            tok = tok[tok.notna() & (tok != "")]
            tcodes, tlabels = pd.factorize(tok, sort=False)
            pairs = pd.DataFrame({"u": tok.index.to_numpy(), "t": tcodes}).drop_duplicates()
            # rows holding each distinct value, joined to that value's tokens
            has = np.flatnonzero(codes >= 0)
            rows_of = pd.DataFrame({"row": has, "u": codes[has]})
            joined = rows_of.merge(pairs, on="u", how="inner")
            out = (joined["row"].to_numpy(np.int64), joined["t"].to_numpy(np.int64), np.asarray(tlabels, dtype=object))
        else:
            vals = _apply_fn(uniques, fn, arg)
            vals = vals.mask(vals == "")
            vcodes, vlabels = pd.factorize(vals, sort=False)
            mapped = np.where(codes >= 0, np.r_[vcodes, -1][codes], -1).astype(np.int64)
            out = (None, mapped, np.asarray(vlabels, dtype=object))
        self._key[expr] = out
        return out


def _rule_codes(records: pd.DataFrame, keys: Sequence[str], cache: _KeyCache | None = None
                ) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], list[str]]]:
    """Rows, integer block codes of a rule (rows repeat for a tokens key), and a function
    giving readable labels of block codes (for warnings about giant blocks)."""
    cache = cache or _KeyCache(records)
    parts = [cache.key(k) for k in keys]
    tok_rows = next((r for r, _, _ in parts if r is not None), None)
    rows = tok_rows if tok_rows is not None else np.arange(len(records), dtype=np.int64)
    cols = [c if r is not None else c[rows] for r, c, _ in parts]
    ok = np.logical_and.reduce([c >= 0 for c in cols])
    rows = rows[ok]
    cols = [c[ok] for c in cols]
    combined = cols[0]
    for c, (_, _, lab) in zip(cols[1:], parts[1:]):
        # mixed radix, re-factorised after each key so the number stays small
        combined = pd.factorize(combined * (len(lab) + 1) + c, sort=False)[0].astype(np.int64)
    codes = pd.factorize(combined, sort=False)[0].astype(np.int64)

    def labels(block_codes: np.ndarray) -> list[str]:
        first = pd.Series(np.arange(len(codes))).groupby(codes).first()
        at = first.reindex(block_codes).to_numpy()
        return [" | ".join(str(lab[c[i]]) for c, (_, _, lab) in zip(cols, parts)) for i in at]

    return rows, codes, labels


def _pairs_within_blocks(rows: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs of rows sharing a code, vectorised (no per-block Python loop)."""
    if len(rows) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    order = np.lexsort((rows, codes))
    r, c = rows[order], codes[order]
    # a record can repeat inside one block when a tokens() key repeats a token
    keep = np.ones(len(r), bool)
    keep[1:] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    r, c = r[keep], c[keep]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    sizes = np.diff(np.r_[starts, len(c)])
    rank = np.arange(len(c)) - np.repeat(starts, sizes)
    after = np.repeat(sizes, sizes) - rank - 1  # partners after each element in its block
    total = int(after.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pos = np.repeat(np.arange(len(c)), after)
    offset = np.arange(total) - np.repeat(np.cumsum(after) - after, after) + 1
    return r[pos], r[pos + offset]


def _sorted_neighbourhood(records: pd.DataFrame, rule: SortedNeighbourhood,
                          cache: _KeyCache | None = None) -> tuple[np.ndarray, np.ndarray]:
    cache = cache or _KeyCache(records)
    _, codes, labels = cache.key(rule.key)
    rows = np.flatnonzero(codes >= 0)
    rank = np.empty(len(labels), np.int64)
    rank[np.argsort(np.asarray(labels, dtype=object), kind="stable")] = np.arange(len(labels))
    r = rows[np.lexsort((rows, rank[codes[rows]]))]
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
) -> pd.DataFrame:
    """Candidate pairs: the union of several blocking rules.

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

    Returns
    -------
    DataFrame
        Columns ``left``, ``right`` (int64 row positions, ``left < right``), ``rule``
        (int8 index of the first rule that found the pair) and ``rules`` (int64 bit mask of
        every rule that found it: bit ``i`` for rule ``i``), sorted by ``left, right``.
        ``attrs["report"]`` holds a per-rule report (see :func:`blocking_report`).

    Examples
    --------
    >>> recs = pd.DataFrame({"nik": ["1", "1", "2", None], "nama": ["A", "B", "A", "A"]})
    >>> block(recs, [BlockOn(keys=("nik",)), BlockOn(keys=("nama",))])[["left", "right"]].values.tolist()
    [[0, 1], [0, 2], [0, 3], [2, 3]]
    """
    if link_type not in ("link_and_dedupe", "link_only", "dedupe_only"):
        raise ConfigError(
            f"link_type must be 'link_and_dedupe', 'link_only' or 'dedupe_only'; got {link_type!r}"
        )
    if not rules:
        raise ConfigError("block() needs at least one blocking rule")
    n = len(records)
    need_source = link_type != "link_and_dedupe" or len(single_record_sources) > 0
    src_codes = None
    single = None
    if need_source:
        if source_column not in records.columns:
            raise ConfigError(f"link_type={link_type!r} needs column {source_column!r} in the records")
        src_codes, src_uniques = pd.factorize(records[source_column])
        single = np.isin(np.arange(len(src_uniques)), [i for i, s in enumerate(src_uniques) if s in set(single_record_sources)])

    cache = _KeyCache(records)
    rule_codes: list[np.ndarray] = []
    stats: list[_RuleStats] = []
    for i, rule in enumerate(rules):
        st = _RuleStats(rule=rule.label)
        if isinstance(rule, SortedNeighbourhood):
            left, right = _sorted_neighbourhood(records, rule, cache)
        elif isinstance(rule, BlockOn):
            rows, codes, labels = _rule_codes(records, rule.keys, cache)
            # measure block sizes before generating any pair
            sizes = np.bincount(codes) if len(codes) else np.zeros(0, int)
            st.largest_block = int(sizes.max()) if len(sizes) else 0
            big = np.flatnonzero(sizes > max_block_size)
            if len(big):
                st.skipped_blocks = len(big)
                st.skipped_records = int(sizes[big].sum())
                top = big[np.argsort(-sizes[big], kind="stable")][:5]
                st.skipped_keys = [f"{lab} ({sizes[j]} records)" for lab, j in zip(labels(top), top)]
                warnings.warn(
                    f"blocking rule {rule.label!r}: {len(big)} block(s) over max_block_size="
                    f"{max_block_size} skipped ({st.skipped_records} records); biggest keys: "
                    f"{'; '.join(st.skipped_keys)}. Add a key to the rule to split them, or raise "
                    f"max_block_size.",
                    LargeBlockWarning,
                    stacklevel=2,
                )
                keep = sizes[codes] <= max_block_size
                rows, codes = rows[keep], codes[keep]
            left, right = _pairs_within_blocks(rows, codes)
        else:
            raise ConfigError(f"not a blocking rule: {rule!r}")
        lo, hi = np.minimum(left, right), np.maximum(left, right)
        ok = lo != hi
        if src_codes is not None:
            same = src_codes[lo] == src_codes[hi]
            if link_type == "link_only":
                ok &= ~same
            elif link_type == "dedupe_only":
                ok &= same
            if single is not None and single.any():
                ok &= ~(same & single[src_codes[lo]])
        code = unique_int(lo[ok] * n + hi[ok])
        rule_codes.append(code)
        st.pairs_generated = len(code)
        stats.append(st)

    pairs = union_of_rules(rule_codes, n)
    first_rule = pairs["rule"].to_numpy()
    for i, st in enumerate(stats):
        st.new_pairs = int((first_rule == i).sum())
        log.info("blocking rule %r: %d pairs, %d new", st.rule, st.pairs_generated, st.new_pairs)
    pairs.attrs["report"] = pd.DataFrame([vars(s) for s in stats])
    pairs.attrs["rules"] = [r.label for r in rules]
    return pairs


def union_of_rules(rule_codes: Sequence[np.ndarray], n: int) -> pd.DataFrame:
    """The union of several rules' pair codes (``left * n + right``) in one sort.

    Returns ``left``, ``right``, ``rule`` (the first rule that found the pair) and ``rules``
    (bit mask of every rule that found it; EM sessions train on all of a rule's pairs).

    >>> union_of_rules([np.array([1, 5]), np.array([5, 7])], 4).values.tolist()
    [[0, 1, 0, 1], [1, 1, 0, 3], [1, 3, 1, 2]]
    """
    if len(rule_codes) == 0 or sum(len(c) for c in rule_codes) == 0:
        return pd.DataFrame({"left": np.zeros(0, np.int64), "right": np.zeros(0, np.int64),
                             "rule": np.zeros(0, np.int8), "rules": np.zeros(0, np.int64)})
    # one int64 array, the rule index in the low 6 bits: a single in-place sort groups each
    # pair's rules (first rule first) without a second array and an argsort
    tagged = np.concatenate([(np.asarray(c, np.int64) << 6) | min(i, 63) for i, c in enumerate(rule_codes)])
    tagged.sort()
    code = tagged >> 6
    start = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    rid = tagged & 63
    del tagged
    uniq = code[start]
    del code
    mask = np.bitwise_or.reduceat(np.left_shift(np.int64(1), np.minimum(rid, 62)), start)
    return pd.DataFrame({"left": (uniq // n).astype(np.int64), "right": (uniq % n).astype(np.int64),
                         "rule": rid[start].astype(np.int8), "rules": mask})


def blocking_report(pairs: pd.DataFrame, truth_pairs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-rule report of a :func:`block` result.

    Columns: ``rule``, ``pairs_generated``, ``new_pairs``, ``largest_block``,
    ``skipped_blocks``, ``skipped_records``, ``skipped_keys``, and with ``truth_pairs`` (true
    matching pairs as ``left``, ``right`` positions) ``true_pairs_found`` (cumulative recall
    after each rule is added) and ``cumulative_recall``.
    """
    report = pairs.attrs.get("report")
    if report is None:
        raise ValueError("pairs carry no blocking report; were they made by block()?")
    report = report.copy()
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

try:  # recordlinkage is a dependency, but keep the core importable without it
    from recordlinkage.base import BaseIndexAlgorithm as _RLBaseIndex
except Exception:  # pragma: no cover
    _RLBaseIndex = object  # type: ignore[assignment,misc]


class BlockIndex(_RLBaseIndex):  # type: ignore[misc,valid-type]
    """Our blocking rules as a ``recordlinkage`` indexer.

    Examples
    --------
    >>> import recordlinkage
    >>> df = pd.DataFrame({"nama": ["ANI", "ANI", "BUDI"]}, index=["a", "b", "c"])
    >>> idx = recordlinkage.Index()
    >>> idx.add(BlockIndex(rules=[BlockOn(keys=("nama",))]))
    >>> list(idx.index(df))
    [('a', 'b')]
    """

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
