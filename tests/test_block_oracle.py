"""The vectorised blocking against a plain-Python oracle of its definition, on tricky input
(missing values, blanks, padding, repeated and empty tokens, unicode, numbers), and the
helpers that store.py builds on."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest

from regsosek_link._codes import shared_codes
from regsosek_link.block import (
    BlockOn,
    LargeBlockWarning,
    _group,
    _KeyCache,
    _pairs_within_blocks,
    _rule_codes,
    _union,
    block,
    mask_key,
    union_of_rules,
)

NAMES = ["SITI AMINAH", " siti  aminah ", "ÁNI ÁNI", "ANI", "BUDI SANTOSO", "BUDI", "   ", "",
         None, "ŞAHIN Ö", "ö Ş", "SITI", "AMINAH SITI"]
DATES = ["1990-01-02", "1990-01-02 ", "1980-05-06", "", None, "1990-12-31", "19", "2001-01-02"]


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pick = lambda values: [values[i] for i in rng.integers(0, len(values), n)]
    recs = pd.DataFrame({
        "source": pick(["a", "b", "c"]),
        "nama": pick(NAMES),
        "ibu": pick(NAMES[:6] + [None]),
        "tanggal_lahir": pick(DATES),
        "kk": pick(["1", "2", " 2", None, "3"]),
    })
    recs["tahun"] = pd.array(rng.choice([1990, 1991, None], n), dtype="Int16")
    recs["kode"] = rng.integers(0, 4, n)
    return recs


def _value(v: object) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    return str(v).strip() or None


def _key_values(v: object, expr: str) -> list[str]:
    """Every value of one key expression for one record (several for tokens)."""
    fn, _, rest = expr.partition("(")
    s = _value(v)
    if s is None:
        return []
    if not rest:
        out = [s]
    elif fn == "tokens":
        out = list(dict.fromkeys(t for t in s.split(" ") if t))
    elif fn == "first_token":
        out = [s.split(" ", 1)[0]]
    elif fn == "last_token":
        out = [s.rsplit(" ", 1)[-1]]
    elif fn == "prefix":
        out = [s[: int(rest.split(",")[1].rstrip(") "))]]
    elif fn == "year":
        out = [s[:4]]
    else:
        out = [s[5:10]]
    return [x for x in out if x]


def _column(expr: str) -> str:
    return expr.split("(")[1].split(",")[0].rstrip(")").strip() if "(" in expr else expr


def _oracle(recs: pd.DataFrame, rules: list[BlockOn], link_type: str = "link_and_dedupe",
            single: tuple[str, ...] = (), max_block_size: int = 2_000) -> pd.DataFrame:
    found: dict[tuple[int, int], list[int]] = {}
    source = recs["source"].tolist() if "source" in recs.columns else [None] * len(recs)
    for r, rule in enumerate(rules):
        blocks: dict[tuple, set[int]] = {}
        for i in range(len(recs)):
            per_key = [_key_values(recs[_column(k)].iloc[i], k) for k in rule.keys]
            for key in itertools.product(*per_key):
                blocks.setdefault(key, set()).add(i)
        for members in blocks.values():
            if len(members) > max_block_size:
                continue
            for i, j in itertools.combinations(sorted(members), 2):
                si, sj = source[i], source[j]
                if link_type == "link_only" and si == sj:
                    continue
                if link_type == "dedupe_only" and si != sj:
                    continue
                if si == sj and si in single:
                    continue
                if r not in found.setdefault((i, j), []):
                    found[(i, j)].append(r)
    rows = sorted(found.items())
    return pd.DataFrame({
        "left": np.array([p[0] for p, _ in rows], np.int64),
        "right": np.array([p[1] for p, _ in rows], np.int64),
        "rule": np.array([min(r) for _, r in rows], np.int8),
        "rules": np.array([sum(1 << x for x in r) for _, r in rows], np.int64),
    })


RULES = [
    BlockOn(keys=("kk",)),
    BlockOn(keys=("nama",)),
    BlockOn(keys=("tokens(nama)",)),
    BlockOn(keys=("tanggal_lahir", "tokens(nama)")),
    BlockOn(keys=("first_token(nama)", "year(tanggal_lahir)")),
    BlockOn(keys=("last_token(ibu)", "month_day(tanggal_lahir)")),
    BlockOn(keys=("prefix(nama, 3)", "tahun", "kode")),
    BlockOn(keys=("kode", "tokens(ibu)", "kk")),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("link_type, single", [("link_and_dedupe", ()), ("link_and_dedupe", ("a",)),
                                               ("link_only", ()), ("dedupe_only", ("b",))])
def test_block_equals_the_oracle(seed, link_type, single):
    recs = _frame(150, seed)
    got = block(recs, RULES, link_type=link_type, single_record_sources=single)
    expected = _oracle(recs, RULES, link_type, single)
    pd.testing.assert_frame_equal(got[["left", "right", "rule", "rules"]], expected)
    assert got["rule"].dtype == np.int8 and got["rules"].dtype == np.int64


def test_block_equals_the_oracle_with_skipped_blocks_and_shared_codes():
    recs = _frame(200, 5)
    with pytest.warns(LargeBlockWarning), shared_codes():
        got = block(recs, RULES, max_block_size=12)
    pd.testing.assert_frame_equal(got[["left", "right", "rule", "rules"]], _oracle(recs, RULES, max_block_size=12))


@pytest.mark.parametrize("nkeys", [5, 6])
def test_many_high_cardinality_keys(nkeys):
    # 4000^5 codes do not fit beside the entry number in 63 bits (dense before sorting);
    # 4000^6 do not fit in 63 bits at all (dense while combining)
    rng = np.random.default_rng(nkeys)
    n = 4000
    cols = {f"k{i}": np.r_[np.arange(n - 40), rng.integers(0, 20, 40)].astype(str) for i in range(nkeys)}
    recs = pd.DataFrame(cols)
    recs.iloc[-1] = recs.iloc[-2]
    rules = [BlockOn(keys=tuple(cols))]
    got = block(recs, rules)
    pd.testing.assert_frame_equal(got[["left", "right", "rule", "rules"]], _oracle(recs, rules))
    assert len(got) >= 1


def test_giant_blocks_of_equal_size_are_named_in_order_of_first_appearance():
    recs = pd.DataFrame({"nama": ["BUDI X", "ANI X", "ANI", "BUDI", "ANI", "BUDI", "C"]})
    with pytest.warns(LargeBlockWarning) as record:
        p = block(recs, [BlockOn(keys=("tokens(nama)",))], max_block_size=2)
    message = str(record[0].message)
    assert mask_key("X") not in message  # X has 2 records: not over the cap
    assert message.index(f"{mask_key('BUDI')} (3 records)") < message.index(f"{mask_key('ANI')} (3 records)")
    assert p[["left", "right"]].values.tolist() == [[0, 1]]


def test_rule_codes_and_key_cache_as_store_uses_them():
    recs = _frame(120, 9)
    cache = _KeyCache(recs)
    keys = ("tanggal_lahir", "tokens(nama)")
    rows, codes, labels = _rule_codes(recs, keys, cache)
    assert codes.dtype == np.int64 and rows.dtype == np.int64 and len(rows) == len(codes)
    assert np.all(np.diff(rows) >= 0) and codes.min() == 0
    assert set(codes.tolist()) == set(range(codes.max() + 1))
    # one entry per (record, key value); equal codes <=> equal key values
    parts = [cache.key(k) for k in keys]
    expected = {(i, key) for i in range(len(recs))
                for key in itertools.product(*[_key_values(recs[_column(k)].iloc[i], k) for k in keys])}
    tok_rows, tok_codes, tok_labels = parts[1]
    date_codes, date_labels = parts[0][1], parts[0][2]
    got = {(int(r), (date_labels[date_codes[r]], tok_labels[t])) for r, t in zip(tok_rows, tok_codes)
           if date_codes[r] >= 0}
    assert got == expected and len(rows) == len(expected)
    by_key = {}
    for (r, key), c in zip(sorted(got), codes[np.lexsort((codes, rows))]):
        by_key.setdefault(key, set()).add(int(c))
    assert all(len(v) == 1 for v in by_key.values()) and len({min(v) for v in by_key.values()}) == len(by_key)
    assert labels(np.array([0]))[0].count(" | ") == 1


def test_group_orders_entries_by_code_then_entry():
    codes = np.array([3, 1, 3, 0, 1, 3])
    ent, starts, sizes = _group(codes)
    assert ent.tolist() == [3, 1, 4, 0, 2, 5] and starts.tolist() == [0, 1, 3] and sizes.tolist() == [1, 2, 3]
    assert [x.tolist() for x in _group(np.zeros(0, np.int64))] == [[], [], []]


@pytest.mark.parametrize("bound", [1, 2, 300, 1 << 16, (1 << 16) + 1, 1 << 33, 1 << 50,
                                   (1 << 62) - 1])
def test_group_equals_a_lexsort_oracle(bound):
    # codes differing only in high digits, in low digits, and both; the widest codes do not
    # pack with a position into one int64 (numpy's stable sort then)
    rng = np.random.default_rng(bound % 1000)
    base = rng.integers(0, bound, 40)
    codes = np.concatenate([base, np.minimum(base ^ 1, bound - 1), base, np.full(5, bound - 1)])
    codes = codes[rng.permutation(len(codes))].astype(np.int64)
    ent, starts, sizes = _group(codes)
    order = np.lexsort((np.arange(len(codes)), codes))
    assert ent.tolist() == order.tolist()
    first = np.r_[True, codes[order][1:] != codes[order][:-1]]
    assert starts.tolist() == np.flatnonzero(first).tolist() and sizes.sum() == len(codes)


def test_pairs_within_blocks_unsorted_rows():
    left, right = _pairs_within_blocks(np.array([9, 2, 5, 7]), np.array([0, 0, 1, 0]))
    assert sorted(zip(left.tolist(), right.tolist())) == [(2, 7), (2, 9), (7, 9)]


def _union_oracle(parts, n):
    rules: dict[int, list[int]] = {}
    for i, c in enumerate(parts):
        for x in np.asarray(c).tolist():
            rules.setdefault(x, [])
            if i not in rules[x]:
                rules[x].append(i)
    codes = sorted(rules)
    return [[c // n, c % n, min(rules[c]), sum(1 << r for r in rules[c])] for c in codes]


@pytest.mark.parametrize("n", [7, 8, 1000, 1024])
def test_union_of_rules_unsorted_duplicated_and_empty_parts(n):
    rng = np.random.default_rng(n)
    parts = [rng.integers(0, n * n, 300), np.zeros(0, np.int64), rng.integers(0, n * n, 50), np.array([5, 5, 1])]
    got = union_of_rules(parts, n)
    assert got.values.tolist() == _union_oracle(parts, n)
    assert got.dtypes.tolist() == [np.int64, np.int64, np.int8, np.int64]


def test_union_in_many_small_pieces_equals_one_piece():
    rng = np.random.default_rng(4)
    parts = [np.unique(rng.integers(0, 1 << 20, k)) for k in (5000, 3000, 1, 0, 7000)]
    one = _union(parts, 1 << 10, chunk=1 << 30)
    many = _union(parts, 1 << 10, chunk=16)
    pd.testing.assert_frame_equal(one, many)
    assert one.values.tolist() == _union_oracle(parts, 1 << 10)
    empty = union_of_rules([np.zeros(0, np.int64)], 4)
    assert len(empty) == 0 and empty.dtypes.tolist() == [np.int64, np.int64, np.int8, np.int64]


def test_all_missing_key_makes_no_pairs():
    recs = pd.DataFrame({"nama": [None, " ", ""], "kk": ["1", "1", "1"]}).astype("string")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for keys in [("nama",), ("tokens(nama)",), ("first_token(nama)", "kk")]:
            assert len(block(recs, [BlockOn(keys=keys)])) == 0
