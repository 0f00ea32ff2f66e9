"""Blocking: literal cases, the union contract and the giant-block guard."""

from __future__ import annotations

import itertools
import sys
import time

import numpy as np
import pandas as pd
import pytest
import recordlinkage

from regsosek_link.block import (
    BlockIndex,
    BlockOn,
    LargeBlockWarning,
    SortedNeighbourhood,
    _pairs_within_blocks,
    block,
    block_with_report,
    blocking_report,
    mask_key,
)
from regsosek_link.errors import ConfigError


def _pairs(p: pd.DataFrame) -> list[tuple[int, int]]:
    return list(map(tuple, p[["left", "right"]].to_numpy().tolist()))


RECS = pd.DataFrame(
    {
        "source": ["a", "a", "b", "b", "c"],
        "nik": ["1", "1", "1", None, "2"],
        "nama": ["SITI AMINAH", "AMINAH", "SITI AMINAH", "BUDI", "BUDI SANTOSO"],
        "tanggal_lahir": ["1990-01-02", None, "1990-01-02", "1980-05-06", "1980-05-06"],
    }
).astype("string")


@pytest.mark.parametrize(
    "keys, expected",
    [
        (("nik",), [(0, 1), (0, 2), (1, 2)]),
        (("nama",), [(0, 2)]),
        (("tanggal_lahir",), [(0, 2), (3, 4)]),
        (("tokens(nama)",), [(0, 1), (0, 2), (1, 2), (3, 4)]),
        (("first_token(nama)",), [(0, 2), (3, 4)]),
        (("last_token(nama)",), [(0, 1), (0, 2), (1, 2)]),
        (("prefix(nama, 2)",), [(0, 2), (3, 4)]),
        (("year(tanggal_lahir)", "tokens(nama)"), [(0, 2), (3, 4)]),
        (("nik", "nama"), [(0, 2)]),
    ],
)
def test_block_on_literal(keys, expected):
    assert _pairs(block(RECS, [BlockOn(keys=keys)])) == expected


def test_union_keeps_each_pair_once_credited_to_first_rule():
    b = block_with_report(RECS, [BlockOn(keys=("nik",)), BlockOn(keys=("tanggal_lahir",)), BlockOn(keys=("nama",))])
    p = b.pairs
    assert _pairs(p) == [(0, 1), (0, 2), (1, 2), (3, 4)]
    assert p["rule"].tolist() == [0, 0, 0, 1]
    assert p.attrs == {}  # no side channel: the report comes as its own frame
    rep = blocking_report(b)
    assert rep["pairs_generated"].tolist() == [3, 2, 1]
    assert rep["new_pairs"].tolist() == [3, 1, 0]


@pytest.mark.parametrize(
    "link_type, expected",
    [
        ("link_and_dedupe", [(0, 1), (0, 2), (1, 2)]),
        ("link_only", [(0, 2), (1, 2)]),
        ("dedupe_only", [(0, 1)]),
    ],
)
def test_link_type(link_type, expected):
    assert _pairs(block(RECS, [BlockOn(keys=("nik",))], link_type=link_type)) == expected


def test_single_record_sources_make_no_pairs_inside():
    p = block(RECS, [BlockOn(keys=("nik",))], single_record_sources=["a"])
    assert _pairs(p) == [(0, 2), (1, 2)]


def test_sorted_neighbourhood_window():
    recs = pd.DataFrame({"k": ["D", "A", "C", "B", None]})
    p = block(recs, [SortedNeighbourhood(key="k", window=2)])
    # order A(1) B(3) C(2) D(0): neighbours (1,3) (3,2) (2,0)
    assert _pairs(p) == [(0, 2), (1, 3), (2, 3)]


def test_giant_block_is_skipped_with_warning_naming_key():
    recs = pd.DataFrame({"nama": ["SITI"] * 6 + ["BUDI"] * 2})
    with pytest.warns(LargeBlockWarning) as caught:
        b = block_with_report(recs, [BlockOn(keys=("nama",))], max_block_size=5)
    assert str(caught[0].message) == (
        f"blocking rule 'nama': 1 block(s) over max_block_size=5 skipped (6 records); biggest blocks (keys "
        f"masked): {mask_key('SITI')} (6 records). Add a key to the rule to split them, or raise max_block_size.")
    assert _pairs(b.pairs) == [(6, 7)]
    rep = blocking_report(b)
    assert rep.loc[0, "skipped_records"] == 6 and rep.loc[0, "largest_block"] == 6
    assert rep.loc[0, "skipped_keys"] == [f"{mask_key('SITI')} (6 records)"]


@pytest.mark.parametrize("keys, values", [
    (("nik",), ["3375014508900001"] * 4),
    (("no_kk", "nama"), [("3375010101080001", "SITI AMINAH")] * 4),
    (("tanggal_lahir",), ["1990-07-01"] * 4),
])
def test_large_block_warning_shows_no_raw_key(keys, values, caplog):
    cols = {k: [v if len(keys) == 1 else v[i] for v in values] for i, k in enumerate(keys)}
    recs = pd.DataFrame(cols, dtype="string")
    with caplog.at_level("DEBUG"), pytest.warns(LargeBlockWarning) as caught:
        b = block_with_report(recs, [BlockOn(keys=keys)], max_block_size=3)
    text = " ".join([str(w.message) for w in caught] + [caplog.text, str(blocking_report(b).to_dict())])
    for raw in {x for v in values for x in ((v,) if isinstance(v, str) else v)}:
        assert raw not in text
    assert mask_key(" | ".join(values[0] if len(keys) > 1 else [values[0]])) in text


def test_rules_on_threads_give_the_same_pairs_report_and_warnings(monkeypatch):
    # rules blocked side by side share their keys: each key expression is made once, and the
    # pairs, the report and the warnings (in rule order) are those of one thread
    block_module = sys.modules[block.__module__]  # (the package exports a function named block)
    rng = np.random.default_rng(11)
    recs = pd.DataFrame({
        "source": rng.choice(["a", "b", "c"], 3_000),
        "nama": rng.choice(["SITI AMINAH", "BUDI", "AMINAH", "JOKO WI", None], 3_000),
        "tgl": rng.choice([f"19{y}-01-01" for y in range(50, 99)] + [None], 3_000),
        "kk": rng.choice([str(k) for k in range(400)], 3_000),
    }).astype("string")
    rules = [BlockOn(keys=("tgl", "tokens(nama)")), BlockOn(keys=("source",)), BlockOn(keys=("nama",)),
             BlockOn(keys=("tokens(nama)", "kk")), SortedNeighbourhood(key="tgl", window=3),
             BlockOn(keys=("first_token(nama)", "tgl"))]
    made: list[str] = []
    real = block_module._KeyCache._make_key

    def slow_make(self, expr):  # widen the window in which two threads ask for one key
        made.append(expr)
        time.sleep(0.01)
        return real(self, expr)

    monkeypatch.setattr(block_module._KeyCache, "_make_key", slow_make)
    got = []
    for workers in (1, 4):
        made.clear()
        with pytest.warns(LargeBlockWarning) as caught:
            b = block_with_report(recs, rules, single_record_sources=["c"], max_block_size=500, workers=workers)
        assert sorted(made) == sorted(set(made))
        got.append((b.pairs, blocking_report(b), [str(w.message) for w in caught]))
    pd.testing.assert_frame_equal(got[0][0], got[1][0])
    pd.testing.assert_frame_equal(got[0][1], got[1][1])
    assert got[0][2] == got[1][2] and len(got[0][2]) == 2
    assert got[0][2][0].startswith("blocking rule 'source'") and got[0][2][1].startswith("blocking rule 'nama'")
    with pytest.raises(ConfigError, match="needs column 'kode_kec'"):  # errors come back from the threads
        block(recs, [BlockOn(keys=("kk",)), BlockOn(keys=("kode_kec",))], workers=2)


def test_pairs_within_blocks_matches_itertools_oracle():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 20, 300)
    rows = np.arange(300)
    left, right = _pairs_within_blocks(rows, codes)
    got = set(zip(np.minimum(left, right).tolist(), np.maximum(left, right).tolist()))
    expected = {
        (i, j) for i, j in itertools.combinations(range(300), 2) if codes[i] == codes[j]
    }
    assert got == expected and len(left) == len(expected)


def test_no_self_or_duplicate_pairs_property():
    rng = np.random.default_rng(7)
    recs = pd.DataFrame({
        "a": rng.choice(list("ABCDE"), 400),
        "b": rng.choice(["X Y", "Y Z", "Z", None], 400),
    })
    p = block(recs, [BlockOn(keys=("a",)), BlockOn(keys=("tokens(b)",)), SortedNeighbourhood(key="a", window=3)])
    assert (p["left"] < p["right"]).all()
    assert not p.duplicated(["left", "right"]).any()


@pytest.mark.parametrize(
    "rule, message",
    [
        (lambda: BlockOn(keys=("nama!",)), "blocking key 'nama!' is neither a column name"),
        (lambda: BlockOn(keys=("soundex(nama)",)), "uses unknown function 'soundex'"),
        (lambda: BlockOn(keys=("tokens(a)", "tokens(b)")), "at most one key may use tokens"),
        (lambda: SortedNeighbourhood(key="nama", window=1), "'window' parameter of SortedNeighbourhood must be an int >= 2. Got 1"),
    ],
)
def test_bad_rules_are_explained(rule, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rule()


def test_missing_column_is_explained():
    with pytest.raises(ConfigError, match="needs column 'kode_kec', which the records do not have"):
        block(RECS, [BlockOn(keys=("kode_kec",))])


def test_recordlinkage_index_plugin_dedup_and_link():
    a = pd.DataFrame({"nama": ["ANI", "BUDI", "ANI"]}, index=["a1", "a2", "a3"])
    b = pd.DataFrame({"nama": ["BUDI", "ANI"]}, index=["b1", "b2"])
    idx = recordlinkage.Index()
    idx.add(BlockIndex(rules=[BlockOn(keys=("nama",))]))
    assert list(idx.index(a)) == [("a1", "a3")]
    assert sorted(idx.index(a, b)) == [("a1", "b2"), ("a2", "b1"), ("a3", "b2")]


@pytest.mark.parametrize("dtype", ["Int16", "Int64", "int64", "int8"])
def test_integer_column_codes_equal_the_shared_string_codes(dtype):
    from regsosek_link._codes import factorize_strings

    values = [98, None, 7, 98, -3, 7, 0] if dtype[0] == "I" else [98, 5, 7, 98, -3, 7, 0]
    col = pd.Series(values, dtype=dtype)
    codes, labels = factorize_strings(col)  # the integer path
    ref_codes, ref_labels = factorize_strings(col.astype("string"))  # the string path
    assert codes.dtype == np.int64 and codes.tolist() == ref_codes.tolist()
    assert labels.dtype == object and labels.tolist() == ref_labels.tolist()
    recs = pd.DataFrame({"tahun": col, "k": ["a"] * len(col)})
    expected = pd.DataFrame({"tahun": col.astype("string"), "k": recs["k"]})
    rules = [BlockOn(keys=("tahun",)), BlockOn(keys=("prefix(tahun, 2)", "k"))]
    assert block(recs, rules).equals(block(expected, rules))
