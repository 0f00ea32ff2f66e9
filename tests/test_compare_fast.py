"""The fast paths of the compare stage equal their plain references on tricky input.

- scoring once per distinct pair of values (dense table or hashed keys) equals ``score`` on
  every pair;
- NIK digits packed in ``uint64`` words and dates packed as BCD equal the digit-by-digit
  rules written out plainly here;
- token ids per distinct name equal a per-name Python reference;
- threads give the same levels as one thread.
"""

from __future__ import annotations

import importlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regsosek_link.compare import (
    DateOfBirthComparison,
    ExactMatch,
    IdNumberComparison,
    JaroWinklerAtThresholds,
    LevenshteinAtThresholds,
    NameComparison,
    RegionComparison,
    compare,
)

C = importlib.import_module("regsosek_link.compare")

NAMES = ["BUDI", "BUDI SANTOSO", "SANTOSO BUDI", "BUDI BUDI", "SITI AMINAH", "AMINAH SITI RAHAYU",
         "A B C D E F G H I J", "J I H G F E D C B A X", "ÉLODIE", "ELODIE", "  ", "", None, " BUDI ",
         "SANTOSA", "MUHAMMAD  RIZKI", "RIZKI MUHAMMAD", "ENENG", "MNENG"]


def _records(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    nik_base = ["3375014508900001", "3375014580900001", "3375014508900010", "3375014508901101",
                "337501450890001", "33750145089000011", "337501450890000A", "33750145089٠0001",
                "9999999999999999", "", None]
    niks = [x if x is None or rng.random() < 0.5 else
            "".join(rng.choice(list("0123456789"), 16)) for x in rng.choice(np.array(nik_base, object), n)]
    dates = ["1990-03-04", "1990-04-03", "1980-03-04", "1990-03-28", "1991-06-20", "1975-11-20",
             "1970-07-01", "1990-3-4", "1990-03-04 ", "abcd-ef-gh", "", None]
    regions = [("33", "3375", "337501", "3375011001"), ("33", "3375", "337501", "3375011002"),
               ("33", "3375", "337502", None), ("33", "3374", None, None), ("32", "3201", None, None),
               (None, None, None, None), (None, None, "337501", None)]
    reg = [regions[i] for i in rng.integers(0, len(regions), n)]
    names = rng.choice(np.array(NAMES, object), n)
    # a phonetic name that is NOT a function of the name (two spellings of one name's sound)
    phon = [None if x is None else (x.replace("U", "O") if rng.random() < 0.3 else x) for x in names]
    return pd.DataFrame({
        "nik": niks,
        "nik_status": rng.choice(["ok", "ok", "sentinel", None], n),
        "nik_dob": rng.choice(dates, n), "dob": rng.choice(dates, n),
        "nik_sex": rng.choice(["L", "P", None], n), "sex": rng.choice(["L", "P", " ", None], n),
        "st": rng.choice(["ok", "placeholder_1jul", "missing", None], n),
        "nama": names, "ph": phon,
        "tempat": rng.choice(["SEMARANG", "SEMARNG", "BOGOR", "BOGOR ", "", None], n),
        "kode_prov": [r[0] for r in reg], "kode_kab": [r[1] for r in reg],
        "kode_kec": [r[2] for r in reg], "kode_desa": [r[3] for r in reg],
        "kk": rng.choice(["1", "2", None], n),
    }).astype("string")


COMPARISONS = [
    IdNumberComparison(column="nik", status_column="nik_status", serial_digits=4,
                       consistency_columns=("nik_dob", "dob", "nik_sex", "sex")),
    IdNumberComparison(column="nik"),
    NameComparison(column="nama", phonetic_column="ph", term_frequency=True),
    NameComparison(column="nama", ignore_when_equal=("kk",)),
    DateOfBirthComparison(column="dob", status_column="st"),
    DateOfBirthComparison(column="dob"),
    DateOfBirthComparison(column="dob", status_column="st", year_only_level=True, label="dob_year"),
    DateOfBirthComparison(column="dob", status_column="st", year_only_level=True, far_years=5, label="dob_far"),
    ExactMatch(column="sex"),
    RegionComparison(ignore_when_equal=("kk", "ph")),
    JaroWinklerAtThresholds(column="tempat", thresholds=(0.9,), ignore_when_equal=("kk",)),
    LevenshteinAtThresholds(column="tempat"),
]


def _reference_levels(comp, prep, left, right):
    """``score`` on every pair, then ``ignore_when_equal`` written out."""
    out = comp.score(prep, left, right)
    for col in getattr(comp, "ignore_when_equal", ()):
        i = comp.ignore_when_equal.index(col)
        codes = prep[f"_ignore{i}"]
        out[(codes[left] == codes[right]) & (codes[left] >= 0)] = -1
    return out


@pytest.mark.parametrize("n_pairs", [3, 5000])  # few pairs: hashed keys; many: a dense table
@pytest.mark.parametrize("chunk_size", [None, 7])
@pytest.mark.parametrize("comp", COMPARISONS, ids=lambda c: type(c).__name__)
def test_levels_of_equals_score_on_every_pair(comp, n_pairs, chunk_size):
    recs = _records(300)
    rng = np.random.default_rng(1)
    left, right = rng.integers(0, 300, n_pairs), rng.integers(0, 300, n_pairs)
    left[:2] = right[:2]  # a record with itself
    prep = comp.prepare_all(recs)
    expected = _reference_levels(comp, prep, left, right)
    got = comp.levels_of(prep, left, right, chunk_size=chunk_size)
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, expected)


def test_both_value_pair_paths_are_taken():
    recs = _records(300)
    for comp in COMPARISONS:
        prep = comp.prepare_all(recs)
        if "v" in prep:  # hashed keys with 3 pairs, a dense table with 5000
            assert 4 * 3 < (len(prep["_rep"]) + 1) ** 2 <= 4 * 5000, comp


def test_names_with_a_phonetic_function_of_the_name_use_the_name_codes():
    recs = _records(200)
    recs["ph"] = recs["nama"].str.replace("U", "O")
    prep = NameComparison(column="nama", phonetic_column="ph").prepare_all(recs)
    assert prep["v"] is prep["c"]
    prep = NameComparison(column="nama", phonetic_column="ph").prepare_all(_records(200))
    assert prep["v"] is not prep["c"] and prep["v"].max() > prep["c"].max()


def test_values_are_stripped_and_blanks_missing():
    recs = pd.DataFrame({"nama": ["BUDI", " BUDI ", "  ", ""], "tempat": ["X", "X ", " ", None]}).astype("string")
    pairs = pd.DataFrame({"left": [0, 0, 0, 2], "right": [1, 2, 3, 3]})
    levels = compare(recs, pairs, [NameComparison(column="nama"), ExactMatch(column="tempat")])
    assert levels["nama"].tolist() == [5, -1, -1, -1]
    assert levels["tempat"].tolist() == [1, -1, -1, -1]


def _reference_digit_level(a: str | None, b: str | None, length: int, serial: int) -> int:
    """The NIK rule digit by digit: missing, exact (2), one typo or transposition (1), 0."""
    def digits(x):
        ok = x is not None and len(x) == length and all(c in "0123456789" for c in x)
        return [int(c) for c in x] if ok else None
    da, db = digits(a), digits(b)
    if da is None or db is None:
        return -1
    diff = [i for i in range(length) if da[i] != db[i]]
    if not diff:
        return 2
    swap = (len(diff) == 2 and diff[1] == diff[0] + 1
            and da[diff[0]] == db[diff[1]] and da[diff[1]] == db[diff[0]])
    one = len(diff) == 1 or swap
    if serial and any(i >= length - serial for i in diff):
        one = False
    return int(one)


@pytest.mark.parametrize("length, serial", [(16, 4), (16, 0), (5, 0), (20, 6), (33, 2)])
def test_packed_digits_equal_the_digit_rule(length, serial):
    rng = np.random.default_rng(length)
    base = ["".join(rng.choice(list("0123456789"), length)) for _ in range(30)]
    values = []
    for x in base:
        values.append(x)
        i = int(rng.integers(0, length - 1))
        values.append(x[:i] + x[i + 1] + x[i] + x[i + 2:])  # adjacent transposition (anywhere)
        j = int(rng.integers(0, length))
        values.append(x[:j] + str((int(x[j]) + 1) % 10) + x[j + 1:])  # one substitution
        values.append(x[:j] + "٣" + x[j + 1:])  # a non-ASCII digit: not a number
    values += [None, "", "1" * (length - 1), "1" * (length + 1), "x" * length]
    # the word boundary: digits 15 and 16 swapped
    if length > 16:
        x = base[0]
        values.append(x[:15] + x[16] + x[15] + x[17:])
    recs = pd.DataFrame({"nik": values}, dtype="string")
    n = len(values)
    left, right = np.divmod(np.arange(n * n), n)
    comp = IdNumberComparison(column="nik", length=length, serial_digits=serial)
    got = comp.compute(recs, pd.DataFrame({"left": left, "right": right}))
    expected = [_reference_digit_level(values[a], values[b], length, serial) for a, b in zip(left, right)]
    assert (got == np.array(expected)).all()
    assert {0, 1, 2, -1} <= set(got.tolist())


def _reference_date_level(a, pa, b, pb) -> int:
    """The date rule on year, month, day integers, as the levels describe it."""
    def parts(x):
        import re
        return tuple(int(p) for p in x.split("-")) if x and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", x) else None
    da, db = parts(a), parts(b)
    if da is None or db is None:
        return -1
    (ya, ma, dda), (yb, mb, ddb) = da, db
    if da == db:
        return 4 if (pa or pb) else 5
    if pa != pb:  # a placeholder against a real date: the year it keeps, or unknown
        return 1 if abs(ya - yb) <= 1 else -1
    sa, sb = f"{ya:04d}{ma:02d}{dda:02d}", f"{yb:04d}{mb:02d}{ddb:02d}"
    if (ya == yb and ma == ddb and dda == mb) or sum(x != y for x, y in zip(sa, sb)) == 1:
        return 3
    if ya == yb and ma == mb:
        return 2
    if abs(ya - yb) <= 1 or (ma == mb and dda == ddb):
        return 1
    return 0


def test_packed_dates_equal_the_date_rule():
    rng = np.random.default_rng(3)
    dates = [f"{y:04d}-{m:02d}-{d:02d}" for y, m, d in zip(rng.integers(1989, 1992, 60),
                                                          rng.integers(1, 13, 60), rng.integers(1, 13, 60))]
    dates += ["1990-03-04", "1990-04-03", "0990-03-04", "1990-03-14", "9999-99-99", "1990-3-04",
              "1990-03-0٤", None, ""]
    status = rng.choice(["ok", "ok", "placeholder_x"], len(dates))
    recs = pd.DataFrame({"tgl": dates, "st": status}, dtype="string")
    n = len(dates)
    left, right = np.divmod(np.arange(n * n), n)
    got = DateOfBirthComparison(column="tgl", status_column="st").compute(
        recs, pd.DataFrame({"left": left, "right": right}))
    ph = [s.startswith("placeholder") for s in status]
    expected = [_reference_date_level(dates[a], ph[a], dates[b], ph[b]) for a, b in zip(left, right)]
    assert (got == np.array(expected)).all()
    assert set(got.tolist()) == {-1, 0, 1, 2, 3, 4, 5}


def test_token_matrix_equals_a_per_name_reference():
    values = np.array(["A B A", "B", "C  A", "X Y Z W V U T S R Q", "É B", "", "Q"], dtype=object)
    ids: dict[str, int] = {}
    rows = [[ids.setdefault(t, len(ids)) for t in dict.fromkeys(v.split(" ")) if t][:8] for v in values]
    width = max(len(r) for r in rows)
    expected = [r + [-1] * (width - len(r)) for r in rows]
    assert C._token_matrix(values).tolist() == expected
    assert C._token_matrix(np.array([], dtype=object)).shape == (0, 1)


def test_threads_give_the_same_levels():
    recs = _records(400, seed=5)
    rng = np.random.default_rng(6)
    pairs = pd.DataFrame({"left": rng.integers(0, 400, 3000), "right": rng.integers(0, 400, 3000)})
    one = compare(recs, pairs, COMPARISONS[::2], workers=1)
    pd.testing.assert_frame_equal(compare(recs, pairs, COMPARISONS[::2], workers=2), one)
    pd.testing.assert_frame_equal(compare(recs, pairs, COMPARISONS[::2], workers=-1, chunk_size=100), one)


def test_pairs_scored_in_cached_blocks_give_the_levels_of_one_pass(monkeypatch):
    # comparisons scored pair by pair take CACHE_PAIRS pairs at a time; the ignore masks too
    recs = _records(400, seed=7)
    rng = np.random.default_rng(8)
    pairs = pd.DataFrame({"left": rng.integers(0, 400, 6000), "right": rng.integers(0, 400, 6000)})
    comps = [*COMPARISONS, IdNumberComparison(column="nik", serial_digits=4, near_miss=True, label="nik_near",
                                              ignore_when_equal=("kk", "ph"))]
    left, right = pairs["left"].to_numpy(), pairs["right"].to_numpy()
    preps = [comp.prepare_all(recs) for comp in comps]
    assert C.CACHE_PAIRS > len(pairs)
    one = [comp.levels_of(prep, left, right) for comp, prep in zip(comps, preps)]
    monkeypatch.setattr(C, "CACHE_PAIRS", 13)
    for comp, prep, expected in zip(comps, preps, one):
        np.testing.assert_array_equal(comp.levels_of(prep, left, right), expected, err_msg=comp.name)
        np.testing.assert_array_equal(comp.levels_of(prep, left, right, chunk_size=5), expected, err_msg=comp.name)
    # many distinct names for few pairs: the pairs of values are keyed and deduplicated
    words = np.array(["BUDI", "SITI", "AMINAH", "SANTOSO", "RIZKI", "DEWI", "AGUS", "SRI", "N", "NUR"] * 3, object)
    many = pd.DataFrame({"nama": [None if rng.random() < 0.1 else " ".join(rng.choice(words, rng.integers(1, 4)))
                                  for _ in range(800)]}, dtype="string")
    pairs = rng.integers(0, 800, (2, 1500))
    name = NameComparison(column="nama")
    prep = name.prepare_all(many)
    assert (len(prep["_rep"]) + 1) ** 2 > 4 * pairs.shape[1]  # (not the dense table)
    reference = _reference_levels(name, prep, pairs[0], pairs[1])
    np.testing.assert_array_equal(name.levels_of(prep, pairs[0], pairs[1]), reference)
    monkeypatch.setattr(C, "CACHE_PAIRS", 1 << 17)
    np.testing.assert_array_equal(name.levels_of(prep, pairs[0], pairs[1]), reference)


def test_no_pairs_and_all_missing():
    recs = pd.DataFrame({"nama": [None, None], "tempat": [None, None]}, dtype="string")
    empty = pd.DataFrame({"left": np.array([], np.int64), "right": np.array([], np.int64)})
    comps = [NameComparison(column="nama"), JaroWinklerAtThresholds(column="tempat")]
    assert compare(recs, empty, comps).shape == (0, 2)
    both = pd.DataFrame({"left": [0, 1], "right": [1, 1]})
    assert compare(recs, both, comps).to_numpy().tolist() == [[-1, -1], [-1, -1]]


def test_token_overlap_equals_set_arithmetic():
    rng = np.random.default_rng(7)

    def columns(width, n):  # distinct ids per name, -1 padded, as _token_matrix makes them
        out = np.full((width, n), -1, np.int32)
        for k in range(n):
            ids = rng.permutation(6)[: rng.integers(0, width + 1)]
            out[: len(ids), k] = ids
        return out

    a, b = columns(5, 2000), columns(4, 2000)
    subset, shared = C._token_overlap(a, b)
    for k in range(a.shape[1]):
        sa, sb = set(a[:, k]) - {-1}, set(b[:, k]) - {-1}
        assert shared[k] == bool(sa & sb)
        assert subset[k] == bool(sa & sb and (sa <= sb or sb <= sa))


def test_name_without_phonetic_on_either_side_is_not_sounds_alike():
    comp = NameComparison(column="nama", phonetic_column="ph")
    recs = pd.DataFrame({"nama": ["BUDI", "AGUS", "BUDI SANTOSO", "SANTOSO BUDI"],
                         "ph": [None, None, "PUTI SANTOSO", None]}, dtype="string")
    pairs = pd.DataFrame({"left": [0, 2], "right": [1, 3]})
    assert comp.compute(recs, pairs).tolist() == [0, 4]


def test_names_overlap_equals_token_overlap_on_every_pair():
    # ids 1 and 65, 2 and 130 share a mask bit without being one token; -1 is no token
    tok = np.array([[1, 65, 2, 130, 5, -1, 1, 7],
                    [2, -1, 65, 1, -1, -1, 130, 1]], np.int32)
    left, right = np.divmod(np.arange(tok.shape[1] ** 2), tok.shape[1])
    got = C._names_overlap(tok, C._token_masks(tok), left, right)
    expected = C._token_overlap(tok[:, left], tok[:, right])
    assert all((g == e).all() for g, e in zip(got, expected))
    assert got[0].any() and got[1].any() and not got[1].all()


@pytest.mark.parametrize("words", [
    ["AD", "ADNYANA", "ADI", "A", "ADITYA", "NUR", "NURHIDAYAH", "NU"],  # ASCII: Arrow's kernels
    ["ÉD", "ÉDI", "ED", "EDWIN", "ÑU", "ÑURMA", "Ñ", "AB"],  # not ASCII: Python's str methods
])
def test_prefix_pairs_equal_a_per_word_reference(words):
    # every (prefix, word) pair where a word of 2+ letters is a proper prefix of another
    want = sorted(p * len(words) + t for p, a in enumerate(words) for t, b in enumerate(words)
                  if len(a) >= 2 and len(b) > len(a) and b.startswith(a))
    assert C._prefix_pairs(np.array(words, dtype=object)).tolist() == want


def test_names_without_joiners_equal_python_re_for_every_ascii_character():
    # Arrow's RE2 pattern for ASCII names spells out Python's \s: the same for every character
    import re

    chars = [chr(i) for i in range(1, 128)]
    names = np.array([f"A{a}{b}B" for a in chars for b in chars] + ["SITI-AMINAH", "NUR  HIDAYAH", "É\u00a0X. Y"],
                     dtype=object)
    assert C._ascii_arrow(names[:-1]) is not None and C._ascii_arrow(names) is None  # both paths
    for u in (names[:-1], names):
        want = [re.sub(C._JOINERS, "", x) for x in u]
        assert C._without_joiners(u).tolist() == want


def _short_form_reference(a: str, b: str, words_all: list[str]) -> bool:
    """_short_form_subset written out per name: one name's tokens all hit by the other's, by
    at least as many of the other's tokens, the two sharing a whole token."""
    ta, tb = list(dict.fromkeys(a.split())), list(dict.fromkeys(b.split()))
    vocab = set(words_all)

    def starts(p: str, t: str) -> bool:  # a word of 2+ letters that begins a longer word
        return len(p) >= 2 and len(t) > len(p) and t.startswith(p) and p in vocab and t in vocab

    def m(x: str, y: str) -> bool:  # token x of a against token y of b
        return (x == y or (len(x) == 1 and y[0] == x) or (len(y) == 1 and x[0] == y)
                or (x == ta[-1] and starts(x, y)) or (y == tb[-1] and starts(y, x)))

    hit_a = [any(m(x, y) for y in tb) for x in ta]
    hit_b = [any(m(x, y) for x in ta) for y in tb]
    whole = bool(set(ta) & set(tb))
    return whole and ((all(hit_a) and sum(hit_b) >= len(ta)) or (all(hit_b) and sum(hit_a) >= len(tb)))


@pytest.mark.parametrize("alphabet", ["ABCDE", "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñò"])
def test_short_form_subset_equals_a_per_name_reference(alphabet):
    # the letter-bit path (at most 64 first letters) and the pair-by-pair one (more) both
    # equal the rule written out per name, on names of initials, prefixes and cut tokens
    rng = np.random.default_rng(11)
    stems = ["AD", "ADI", "ADITYA", "BU", "BUDI", "BUDIMAN", "SRI", "SRIYANI", "M", "A", "B"]
    stems += [c + d for c in alphabet for d in "AI"] + list(alphabet)
    names = [" ".join(rng.choice(stems, rng.integers(1, 5))) for _ in range(300)]
    u = np.array(sorted(set(names)), dtype=object)
    prep = C._name_values(u)
    short = prep["short_form"]
    assert (short.lead_bit is None) == (len(set(alphabet) | {"S", "M", "A", "B"}) > 64)
    tok = prep["tok_u"]
    left, right = np.divmod(np.arange(len(u) ** 2), len(u))
    got = C._short_form_subset(tok[:, left], tok[:, right], short.last[left], short.last[right], short)
    words = " ".join(u).split()
    want = [_short_form_reference(u[i], u[j], words) for i, j in zip(left, right)]
    assert got.tolist() == want
    assert 0 < sum(want) < len(want)
    # the name comparison's overlap, which tests only the pairs whose first letters allow it
    assert C._names_overlap(tok, prep["tok_m"], left, right, short)[0].tolist() == want


def test_year_slip_table_equals_the_digit_rule():
    rng = np.random.default_rng(12)
    a, b = rng.integers(1890, 2030, 20_000), rng.integers(1890, 2030, 20_000)
    a[:50], b[50:100] = -1, 1985
    a[100:200] = b[100:200] // 100 * 100 + b[100:200] % 10 * 10 + b[100:200] // 10 % 10  # last digits swapped
    got = C._year_slip(a, b)  # (many pairs of few years: the lookup table)
    assert got.tolist() == C._year_slip_digits(a, b).tolist()
    assert got[100:200].any() and not got.all()


def _generator_records(n_people: int = 800):
    from regsosek_link.config import LinkConfig, SourceConfig
    from regsosek_link.datasets import make_sources
    from regsosek_link.ingest import read_sources
    from regsosek_link.standardise import standardise

    syn = make_sources(n_people=n_people, random_state=11)
    cfg = LinkConfig(sources=tuple(SourceConfig(name=n, columns=syn.mappings[n]) for n in syn.sources))
    return standardise(read_sources(cfg, syn.sources))


def test_symmetric_comparisons_score_both_orders_alike():
    """A comparison declared ``symmetric`` is scored once per unordered pair of values: its
    score must not depend on the order of the two records, on the default comparisons over
    the generator's names, places and regions (short forms, split names, shared first
    tokens, phonetic names) and on the tricky values above."""
    from regsosek_link.config import default_comparisons

    rng = np.random.default_rng(2)
    cases = [(c, _records(400)) for c in COMPARISONS if c.symmetric]
    gen = _generator_records()
    cases += [(c, gen) for c in default_comparisons() if c.symmetric]
    assert {type(c).__name__ for c, _ in cases} >= {"NameComparison", "RegionComparison", "JaroWinklerAtThresholds"}
    for comp, recs in cases:
        prep = comp.prepare_all(recs)
        # every record against a random other, and names sharing a first token against each other
        left = rng.integers(0, len(recs), 20_000)
        right = rng.integers(0, len(recs), 20_000)
        if "nama" in comp.columns:
            first = recs["nama"].str.split(" ").str[0].fillna("").to_numpy()
            by_first = np.argsort(first, kind="stable")
            left, right = np.r_[left, by_first[:-1]], np.r_[right, by_first[1:]]
        there = comp.score(prep, left, right)
        back = comp.score(prep, right, left)
        levels = set(np.unique(there).tolist())
        assert (there >= 0).sum() > 1000 and len(levels) >= (5 if isinstance(comp, NameComparison) else 2), \
            (comp.name, levels)
        np.testing.assert_array_equal(there, back, err_msg=comp.name)


def test_a_comparison_not_declared_symmetric_is_scored_in_the_order_asked():
    """A custom comparison whose score reads its two sides differently (here: the left
    record's value is a prefix of the right one's) keeps both orders of a pair of values."""
    from dataclasses import dataclass

    @dataclass(frozen=True, kw_only=True)
    class StartsWith(ExactMatch):
        _by_value = True
        symmetric = False

        @property
        def level_names(self):
            return ("no", "left starts right")

        def score(self, prep, left, right, *, workers=1):
            cl, cr = prep["c"][left], prep["c"][right]
            u = prep["u"]
            out = np.array([int(str(u[b]).startswith(str(u[a]))) for a, b in zip(cl, cr)], np.int8)
            out[(cl < 0) | (cr < 0)] = -1
            return out

    recs = pd.DataFrame({"x": ["AB", "ABC", "AB", "ABC", "Z"]}).astype("string")
    comp = StartsWith(column="x")
    left, right = np.array([0, 1, 2, 3, 4, 1]), np.array([1, 0, 3, 2, 0, 2])
    prep = comp.prepare_all(recs)
    assert comp.levels_of(prep, left, right).tolist() == [1, 0, 1, 0, 0, 0]


_NAME_TEXT = st.lists(st.sampled_from(list("AB Z.-'\té") + ["  ", "AB", "ZA"]), max_size=10).map("".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(_NAME_TEXT.map(str.strip).filter(bool), min_size=1, max_size=30, unique=True))
def test_name_values_in_arrow_equal_pythons(names: list[str]) -> None:
    # ASCII names take Arrow's kernels, others (and names with a tab) Python's; both must
    # give every per-name array alike, the token ids and their order included
    compare = importlib.import_module("regsosek_link.compare")
    u = np.array(names + ["A B C D E F G H I A"], dtype=object)
    for tokens_only in (False, True):
        fast = compare._name_values(u, tokens_only=tokens_only)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(compare, "_ascii_arrow", lambda values: None)
            plain = compare._name_values(u, tokens_only=tokens_only)
        assert fast.keys() == plain.keys()
        for key in fast:
            a, b = fast[key], plain[key]
            if key == "short_form":
                for x, y in zip(a, b):
                    assert (x is None and y is None) or np.array_equal(x, y), key
            else:
                assert np.array_equal(a, b), key
