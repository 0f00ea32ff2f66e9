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
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from . import _spec
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


def _key_values(records: pd.DataFrame, expr: str) -> tuple[np.ndarray, pd.Series]:
    """Evaluate one key expression: (row positions, string values), missing rows dropped."""
    fn, col, arg = _parse_key(expr)
    if col not in records.columns:
        raise ConfigError(
            f"blocking key {expr!r} needs column {col!r}, which the records do not have; "
            f"columns present: {', '.join(map(str, records.columns))}"
        )
    s = records[col]
    if not pd.api.types.is_string_dtype(s.dtype):
        s = s.astype("string")
    s = s.astype("string").reset_index(drop=True)
    if fn is None:
        out = s
    elif fn == "first_token":
        out = s.str.split(" ", n=1).str[0]
    elif fn == "last_token":
        out = s.str.rsplit(" ", n=1).str[-1]
    elif fn == "prefix":
        out = s.str.slice(0, arg)
    elif fn == "year":
        out = s.str.slice(0, 4)
    elif fn == "month_day":
        out = s.str.slice(5, 10)
    elif fn == "tokens":
        ex = s.str.split(" ").explode()
        ex = ex[ex.notna() & (ex != "")]
        return ex.index.to_numpy(dtype=np.int64), ex.astype("string")
    else:  # pragma: no cover - guarded by _parse_key
        raise AssertionError(fn)
    mask = out.notna() & (out != "")
    return np.flatnonzero(mask.to_numpy()), out[mask]


def _rule_codes(records: pd.DataFrame, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Rows and integer block codes of a rule (rows repeat for tokens keys)."""
    frame: pd.DataFrame | None = None
    for i, expr in enumerate(keys):
        rows, vals = _key_values(records, expr)
        part = pd.DataFrame({"row": rows, f"k{i}": vals.to_numpy()})
        frame = part if frame is None else frame.merge(part, on="row", how="inner")
    assert frame is not None
    kcols = [c for c in frame.columns if c != "row"]
    if len(kcols) == 1:
        codes, uniques = pd.factorize(frame[kcols[0]], sort=False)
        labels = [str(u) for u in uniques]
    else:
        mi = pd.MultiIndex.from_frame(frame[kcols])
        codes, uniques = pd.factorize(mi, sort=False)
        labels = [" | ".join(map(str, u)) for u in uniques]
    return frame["row"].to_numpy(dtype=np.int64), codes.astype(np.int64), labels


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


def _sorted_neighbourhood(records: pd.DataFrame, rule: SortedNeighbourhood) -> tuple[np.ndarray, np.ndarray]:
    rows, vals = _key_values(records, rule.key)
    order = np.lexsort((rows, vals.to_numpy(dtype=object).astype(str)))
    r = rows[order]
    lefts, rights = [], []
    for k in range(1, rule.window):
        lefts.append(r[:-k])
        rights.append(r[k:])
    if not lefts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
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

    seen = np.empty(0, np.int64)
    rule_codes: list[np.ndarray] = []
    chunks_l: list[np.ndarray] = []
    chunks_r: list[np.ndarray] = []
    chunks_rule: list[np.ndarray] = []
    stats: list[_RuleStats] = []
    for i, rule in enumerate(rules):
        st = _RuleStats(rule=rule.label)
        if isinstance(rule, SortedNeighbourhood):
            left, right = _sorted_neighbourhood(records, rule)
        elif isinstance(rule, BlockOn):
            rows, codes, labels = _rule_codes(records, rule.keys)
            # measure block sizes before generating any pair
            sizes = np.bincount(codes, minlength=len(labels)) if len(codes) else np.zeros(0, int)
            st.largest_block = int(sizes.max()) if len(sizes) else 0
            big = np.flatnonzero(sizes > max_block_size)
            if len(big):
                st.skipped_blocks = len(big)
                st.skipped_records = int(sizes[big].sum())
                top = big[np.argsort(-sizes[big], kind="stable")][:5]
                st.skipped_keys = [f"{labels[j]} ({sizes[j]} records)" for j in top]
                warnings.warn(
                    f"blocking rule {rule.label!r}: {len(big)} block(s) over max_block_size="
                    f"{max_block_size} skipped ({st.skipped_records} records); biggest keys: "
                    f"{'; '.join(st.skipped_keys)}. Add a key to the rule to split them, or raise "
                    f"max_block_size.",
                    LargeBlockWarning,
                    stacklevel=2,
                )
                keep = ~np.isin(codes, big)
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
        code = np.unique(lo[ok] * n + hi[ok])
        rule_codes.append(code)
        st.pairs_generated = len(code)
        new = code[~np.isin(code, seen, assume_unique=True)] if len(seen) else code
        st.new_pairs = len(new)
        seen = np.union1d(seen, new)
        chunks_l.append(new // n)
        chunks_r.append(new % n)
        chunks_rule.append(np.full(len(new), i, np.int8))
        stats.append(st)
        log.info("blocking rule %r: %d pairs, %d new", rule.label, st.pairs_generated, st.new_pairs)

    left = np.concatenate(chunks_l) if chunks_l else np.empty(0, np.int64)
    right = np.concatenate(chunks_r) if chunks_r else np.empty(0, np.int64)
    rule_ix = np.concatenate(chunks_rule) if chunks_rule else np.empty(0, np.int8)
    order = np.lexsort((right, left))
    left, right = left[order].astype(np.int64), right[order].astype(np.int64)
    # every rule that finds a pair, as a bit mask (EM sessions train on all of a rule's pairs)
    mask = np.zeros(len(left), np.int64)
    if len(rules) <= 62:
        allcode = left * n + right
        for i, code in enumerate(rule_codes):
            mask |= np.isin(allcode, code, assume_unique=True).astype(np.int64) << i
    pairs = pd.DataFrame({"left": left, "right": right, "rule": rule_ix[order], "rules": mask})
    pairs.attrs["report"] = pd.DataFrame([vars(s) for s in stats])
    pairs.attrs["rules"] = [r.label for r in rules]
    return pairs


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
        tcode = np.unique(lo * n + hi)
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
