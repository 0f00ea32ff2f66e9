"""Comparators: tables of literal value pairs and the level each must land in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import recordlinkage

from regsosek_link.compare import (
    DateOfBirthComparison,
    ExactMatch,
    IdNumberComparison,
    JaroWinklerAtThresholds,
    LevenshteinAtThresholds,
    NameComparison,
    NeighbourhoodComparison,
    RegionComparison,
    RLComparison,
    compare,
)
from regsosek_link.errors import ConfigError
from regsosek_link.standardise import phonetic_key


def level(comp, left: dict, right: dict) -> int:
    recs = pd.DataFrame([left, right]).astype("string")
    pairs = pd.DataFrame({"left": [0], "right": [1]})
    return int(comp.compute(recs, pairs)[0])


NIK = IdNumberComparison(column="nik", status_column="nik_status")


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("3375014508900001", "3375014508900001", 2),  # exact
        ("3375014508900001", "3375014508900007", 1),  # one substituted digit
        ("3375014508900001", "3375014580900001", 1),  # adjacent transposition 08 -> 80
        ("3375014508900001", "3375014508900010", 1),  # transposition at the end
        ("3375014508900001", "3375014508901101", 0),  # two substitutions
        ("3375014508900001", "3201014508900001", 0),
        ("3375014508900001", None, -1),
        ("3375014508900001", "337501450890001", -1),  # 15 digits: not comparable
    ],
)
def test_nik_levels(a, b, expected):
    assert level(NIK, {"nik": a, "nik_status": "ok"}, {"nik": b, "nik_status": "ok"}) == expected


def test_nik_unusable_status_is_missing_not_different():
    assert level(NIK, {"nik": "9999999999999999", "nik_status": "sentinel"},
                 {"nik": "3375014508900001", "nik_status": "ok"}) == -1


NAME = NameComparison(column="nama", phonetic_column="ph")


@pytest.mark.parametrize(
    "a, pa, b, pb, expected",
    [
        ("BUDI SANTOSO", "PUTI SANTOSO", "BUDI SANTOSO", "PUTI SANTOSO", 5),
        ("BUDI SANTOSO", "PUTI SANTOSO", "SANTOSO BUDI", "SANTOSO PUTI", 4),  # token order
        ("JOKO WIDODO", "JOKO WITOTO", "YOKO WIDODO", "JOKO WITOTO", 4),  # sounds alike
        ("SITI AMINAH", "SITI AMINA", "SITI AMINAH RAHAYU", "SITI AMINA RAHAYU", 3),  # token added
        ("ENENG", "ININK", "MNENG", "MNINK", 2),  # a typo in a mononym
        ("SITI AMINAH", "SITI AMINA", "SITI RAHAYU", "SITI RAHAYU", 1),  # only a shared token
        ("BUDI", "PUTI", "AGUS", "AKUS", 0),
        ("BUDI", "PUTI", None, None, -1),
    ],
)
def test_name_levels(a, pa, b, pb, expected):
    assert level(NAME, {"nama": a, "ph": pa}, {"nama": b, "ph": pb}) == expected


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("NUR HIDAYAH", "NURHIDAYAH", 4),  # a space more or less
        ("SITI-AMINAH", "SITI AMINAH", 4),  # a hyphen for a space
        ("SITI-AMINAH", "SITIAMINAH", 4),
        ("MUHAMMAD NUR HIDAYAT", "MUHAMMAD NURHIDAYAT", 4),
        ("ABD. ROHMAN", "ABDROHMAN", 4),  # a dot
        ("NUR HIDAYAH", "HIDAYAH NUR", 4),  # (token order, as before)
        ("NURHIDAYAH", "NUR HIDAYAT", 4),  # joined, and a typo: Jaro-Winkler without spaces
        ("ABDURROHMAN", "ABDUL ROHMAN", 4),
        ("NUR HIDAYAH", "HIDAYAHNUR", 4),  # joined in another order: Jaro-Winkler of sorted tokens
        ("DEWI SARTIKA", "DEWISARI", 3),
        ("SITI NURHIDAYAH", "NUR HIDAYAH", 0),  # joined and a token more: not caught
        ("NURHIDAYAH", "NURHIDAYAH", 5),
        ("-", "-", 5),  # (exact on the value itself)
        ("NUR HIDAYAH", "NURAINI", 0),
    ],
)
def test_name_levels_ignore_spaces_and_hyphens(a, b, expected):
    assert level(NameComparison(column="nama"), {"nama": a}, {"nama": b}) == expected
    assert level(NameComparison(column="nama"), {"nama": b}, {"nama": a}) == expected


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("A SIMBOLON", "ADITYA SIMBOLON", 3),  # an initial for the first token
        ("M RIZKI", "MUHAMMAD RIZKI", 3),
        ("AHMAD F HIDAYAT", "AHMAD FAUZI HIDAYAT", 3),  # a middle initial
        ("SITI N RAHAYU", "SITI NUR AINI RAHAYU", 3),  # an initial and a dropped token
        ("B SIMBOLON", "ADITYA SIMBOLON", 1),  # an initial of another letter
        ("ANDI AGUS SANTOSO", "A BUDI SANTOSO", 1),  # one initial does not stand for two tokens
        ("A", "ADITYA", 0),  # an initial alone is no evidence
        # a name cut by a short field: its last token starts a token of the other
        ("I NENGAH SUDIARTA AD", "I NENGAH SUDIARTA ADNYANA", 3),
        ("RICARDO M SIMATUPAN", "RICARDO MANGASI SIMATUPANG", 3),
        ("AD SUDIARTA", "ADNYANA SUDIARTA", 2),  # not the last token: Jaro-Winkler only
    ],
)
def test_initials_and_cut_names_stand_for_tokens(a, b, expected):
    assert level(NameComparison(column="nama"), {"nama": a}, {"nama": b}) == expected
    assert level(NameComparison(column="nama"), {"nama": b}, {"nama": a}) == expected


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("SIREGAR", "HOTMAN SIREGAR", 3),  # a one-token name in the other's: a level of its own
        ("RIZKI", "MUHAMMAD RIZKY", 3),  # (by sound)
        ("BUDI SANTOSO", "BUDI SANTOSO WIBOWO", 4),  # two tokens contained: "tokens contained"
        ("A SIMBOLON", "ADITYA SIMBOLON", 4),
        ("SUPARMI", "SUPARMIN", 5),  # two one-token names a typo apart: Jaro-Winkler, as before
        ("BUDI", "ANI", 0),
        ("SANTOSO BUDI", "BUDI SANTOSO", 5),
        ("BUDI", "BUDI", 6),
    ],
)
def test_a_one_token_name_contained_has_a_level_of_its_own(a, b, expected):
    comp = NameComparison(column="nama", phonetic_column="ph", single_token_level=True)
    recs = {"nama": a, "ph": phonetic_key(pd.Series([a])).iloc[0]}
    other = {"nama": b, "ph": phonetic_key(pd.Series([b])).iloc[0]}
    assert level(comp, recs, other) == expected
    assert level(comp, other, recs) == expected
    assert comp.n_levels == 7 and comp.level_names[3].startswith("a one-token name")
    assert comp.contained_level == NameComparison(column="nama").contained_level == 3
    # without it, one level for both
    plain = NameComparison(column="nama", phonetic_column="ph")
    assert level(plain, recs, other) == expected - (expected >= 4)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        # one first token (a birth-order prefix, a common first name): the rest decides
        ("I KETUT SUARDANA", "I KETUT MERTAYASA", 1),
        ("I KETUT MERTAYASA", "I KETUT USARDANA", 1),
        ("MUHAMMAD RIZKI RAMADHAN", "MUHAMMAD FAUZI RAMADAN", 1),
        ("I KETUT SUARDANA", "I KETUT SUARDANI", 4),  # a typo in the rest: as alike as before
        ("SITI NURHALIZA", "SITI NUR HALIZA", 4),
        ("I KETUT SUARDANA", "I KETUT", 3),  # contained
        ("SRI SUMARNI", "SUMARNI SRI", 4),  # same tokens
    ],
)
def test_names_with_one_first_token_are_as_alike_as_the_rest(a, b, expected):
    assert level(NameComparison(column="nama"), {"nama": a}, {"nama": b}) == expected
    assert level(NameComparison(column="nama"), {"nama": b}, {"nama": a}) == expected


def test_a_shared_common_token_is_not_a_shared_token():
    # sharing only a token held by many records says nothing with common_token_share
    recs = pd.DataFrame({"nama": ["NI NYOMAN WIDIASTUTI", "NI NENGAH SEKAR", "NI KETUT SUKARNI",
                                  "NI PUTU SEKAR", "BUDI SEKAR", "AGUS"]})
    pairs = pd.DataFrame({"left": [0, 1, 1, 0], "right": [1, 3, 4, 2]})
    plain = NameComparison(column="nama").compute(recs, pairs).tolist()
    rare = NameComparison(column="nama", common_token_share=0.6).compute(recs, pairs).tolist()
    assert plain == [1, 1, 1, 1]
    # NI alone (4 of 6 records): different; SEKAR (3 of 6, under 0.6) still counts as shared
    assert rare == [0, 1, 1, 0]
    # a subset needs no rare token: NI NYOMAN in NI NYOMAN WIDIASTUTI
    both = pd.DataFrame({"nama": ["NI NYOMAN WIDIASTUTI", "NI NYOMAN", "NI A", "NI B"]})
    one = pd.DataFrame({"left": [0], "right": [1]})
    assert NameComparison(column="nama", common_token_share=0.5).compute(both, one).tolist() == [3]


def test_names_that_join_to_nothing_are_not_alike():
    assert level(NameComparison(column="nama"), {"nama": "-"}, {"nama": "."}) == 0


DOB = DateOfBirthComparison(column="tgl", status_column="st")


@pytest.mark.parametrize(
    "a, sa, b, sb, expected",
    [
        ("1990-03-04", "ok", "1990-03-04", "ok", 5),
        ("1970-07-01", "placeholder_1jul", "1970-07-01", "placeholder_1jul", 4),
        ("1990-03-04", "ok", "1990-04-03", "ok", 3),  # day-month swap
        ("1990-03-04", "ok", "1980-03-04", "ok", 3),  # one digit of the year
        ("1990-03-04", "ok", "1990-03-28", "ok", 2),  # same year and month
        ("1990-03-04", "ok", "1991-06-20", "ok", 1),  # year off by one
        ("1990-03-04", "ok", "1975-11-20", "ok", 0),
        ("1970-07-01", "placeholder_1jul", "1970-03-04", "ok", 1),  # placeholder: the year it keeps
        ("1970-07-01", "placeholder_1jul", "1975-03-04", "ok", -1),  # a guessed year: unknown
        ("1990-03-04", "ok", None, "missing", -1),
    ],
)
def test_date_levels(a, sa, b, sb, expected):
    assert level(DOB, {"tgl": a, "st": sa}, {"tgl": b, "st": sb}) == expected


DOB_OWN = DateOfBirthComparison(column="tgl", status_column="st", year_column="th", year_only_level=True)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (("1990-03-04", "ok", "1990"), ("1990-03-04", "ok", "1990"), 6),
        (("1970-07-01", "placeholder_1jul", "1970"), ("1970-07-01", "placeholder_1jul", "1970"), 5),
        (("1990-03-04", "ok", "1990"), ("1990-04-03", "ok", "1990"), 4),  # day-month swap
        (("1990-03-04", "ok", "1990"), ("1990-03-28", "ok", "1990"), 2),  # same year and month
        # the year a placeholder or a partial date keeps: its own level
        (("1970-07-01", "placeholder_1jul", "1970"), ("1970-03-04", "ok", "1970"), 3),
        ((None, "partial", "1990"), ("1990-03-04", "ok", "1990"), 3),
        # two different placeholders of one year: each knows the year only
        (("2013-06-15", "placeholder_day15", "2013"), ("2013-07-01", "placeholder_1jul", "2013"), 3),
        # a year apart: as two real dates a year apart (mostly two people of one name)
        (("1970-07-01", "placeholder_1jul", "1970"), ("1971-03-04", "ok", "1971"), 1),
        ((None, "partial", "1990"), ("1991-11-30", "ok", "1991"), 1),
        # two real dates a year apart: a keying slip, not the same evidence
        (("1990-03-04", "ok", "1990"), ("1991-06-20", "ok", "1991"), 1),
        (("1990-03-04", "ok", "1990"), ("1975-11-20", "ok", "1975"), 0),
        ((None, "partial", "1990"), ("1975-03-04", "ok", "1975"), 0),
        (("1970-07-01", "placeholder_1jul", "1970"), ("1975-03-04", "ok", "1975"), -1),
    ],
)
def test_date_levels_with_a_level_for_the_year_only(a, b, expected):
    row = [dict(zip(("tgl", "st", "th"), x)) for x in (a, b)]
    assert level(DOB_OWN, *row) == expected
    assert level(DOB_OWN, *row[::-1]) == expected
    assert DOB_OWN.n_levels == 7 and DOB_OWN.level_names[3].startswith("year only")


DOB_FAR = DateOfBirthComparison(column="tgl", status_column="st", year_column="th", year_only_level=True,
                                far_years=5)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        # a generation apart: a father and his son of one name, a child and the elder sibling
        # whose name it was given
        (("1962-01-07", "ok", "1962"), ("2022-08-22", "ok", "2022"), "born more than 5 years apart"),
        (("2013-06-14", "ok", "2013"), ("2022-09-19", "ok", "2022"), "born more than 5 years apart"),
        # a placeholder of another year by more than 5: two people, not "day unknown"
        (("2011-01-01", "placeholder_1jan", "2011"), ("2022-09-30", "ok", "2022"), "born more than 5 years apart"),
        (("1995-07-01", "placeholder_1jul", "1995"), ("2022-07-01", "placeholder_1jul", "2022"),
         "born more than 5 years apart"),
        ((None, "partial", "1990"), ("1975-03-04", "ok", "1975"), "born more than 5 years apart"),
        # within 5 years: a guessed year of a placeholder says nothing, real dates differ
        (("1970-07-01", "placeholder_1jul", "1970"), ("1975-03-04", "ok", "1975"), None),
        (("1990-03-04", "ok", "1990"), ("1994-11-20", "ok", "1994"), "different"),
        # one keying slip in the year is not a generation: a digit, two adjacent digits
        # transposed, the same day and month in another decade
        (("1985-03-04", "ok", "1985"), ("1958-06-20", "ok", "1958"), "different"),
        (("1985-03-04", "ok", "1985"), ("1995-06-20", "ok", "1995"), "different"),
        (("1996-08-07", "ok", "1996"), ("2006-08-07", "ok", "2006"), "year +-1 or same day-month"),
        (("2011-07-01", "placeholder_1jul", "2011"), ("2021-07-01", "placeholder_1jul", "2021"), None),
        # the other levels are those of year_only_level, one up
        (("1990-03-04", "ok", "1990"), ("1990-03-04", "ok", "1990"), "exact"),
        (("1970-07-01", "placeholder_1jul", "1970"), ("1970-03-04", "ok", "1970"),
         "year only (placeholder or partial), same year"),
    ],
)
def test_date_levels_with_a_level_for_dates_years_apart(a, b, expected):
    row = [dict(zip(("tgl", "st", "th"), x)) for x in (a, b)]
    got = level(DOB_FAR, *row)
    assert got == level(DOB_FAR, *row[::-1])
    assert (None if got == -1 else DOB_FAR.level_names[got]) == expected
    assert DOB_FAR.level_names[1:] == DOB_OWN.level_names
    # without far_years: the levels of before (the placeholder of another year is missing)
    if expected == "born more than 5 years apart":
        assert DOB_OWN.level_names[level(DOB_OWN, *row)] == "different" or level(DOB_OWN, *row) == -1


def test_far_years_must_be_a_positive_int():
    with pytest.raises(ConfigError, match="far_years"):
        DateOfBirthComparison(far_years=0)
    with pytest.raises(ConfigError, match="far_years"):
        DateOfBirthComparison(far_years=2.5)


DOB_YEAR = DateOfBirthComparison(column="tgl", status_column="st", year_column="th")


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (("1990-03-04", "ok", "1990"), ("1990-03-04", "ok", "1990"), 5),
        ((None, "partial", "1990"), ("1990-03-04", "ok", "1990"), 1),  # same year, day unknown
        ((None, "partial", "1990"), ("1991-11-30", "ok", "1991"), 1),  # a year apart
        ((None, "partial", "1990"), (None, "partial", "1990"), 1),
        ((None, "partial", "1990"), ("1975-03-04", "ok", "1975"), 0),
        ((None, "partial", "1990"), (None, "partial", "1992"), 0),
        ((None, "partial", "1990"), ("1990-07-01", "placeholder_1jul", "1990"), 1),
        ((None, "partial", "1990"), (None, "missing", None), -1),
        ((None, "unparsed", None), ("1990-03-04", "ok", "1990"), -1),
        (("1970-07-01", "placeholder_1jul", "1970"), ("1970-03-04", "ok", "1970"), 1),  # (as before)
    ],
)
def test_date_levels_with_the_year_of_partial_dates(a, b, expected):
    row = [dict(zip(("tgl", "st", "th"), x)) for x in (a, b)]
    assert level(DOB_YEAR, *row) == expected
    assert level(DOB_YEAR, *row[::-1]) == expected
    if a[0] is None or b[0] is None:
        assert level(DOB, *[{"tgl": x[0], "st": x[1]} for x in (a, b)]) == -1  # without the year column


REGION = RegionComparison()


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (("33", "3375", "337501", "3375011001"), ("33", "3375", "337501", "3375011001"), 4),
        (("33", "3375", "337501", "3375011001"), ("33", "3375", "337501", "3375011002"), 3),
        (("33", "3375", "337501", None), ("33", "3375", "337502", None), 2),
        (("33", "3375", None, None), ("33", "3374", None, None), 1),
        (("33", "3375", None, None), ("32", "3201", None, None), 0),
        (("33", "3375", None, None), (None, None, None, None), -1),
    ],
)
def test_region_levels(a, b, expected):
    cols = ("kode_prov", "kode_kab", "kode_kec", "kode_desa")
    assert level(REGION, dict(zip(cols, a)), dict(zip(cols, b))) == expected


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (("33", "3375", "337501", "3375011001"), ("33", "3375", "337501", "3375011001"), 7),
        # a finer level known on both sides and different: evidence against
        (("33", "3375", "337501", "3375011001"), ("33", "3375", "337501", "3375011002"), 3),
        (("33", "3375", "337501", "3375011001"), ("33", "3375", "337502", "3375021001"), 2),
        (("33", "3375", None, None), ("33", "3374", None, None), 1),
        # the finer level unknown on a side (BPJS knows the kabupaten only): no evidence against
        (("33", "3375", "337501", "3375011001"), ("33", "3375", "337501", None), 6),
        (("33", "3375", "337501", "3375011001"), ("33", "3375", None, None), 5),
        (("33", "3375", "337501", "3375011001"), ("33", None, None, None), 4),
        (("33", "3375", None, None), ("32", "3201", None, None), 0),
        (("33", "3375", None, None), (None, None, None, None), -1),
    ],
)
def test_region_levels_split_different_from_unknown(a, b, expected):
    cols = ("kode_prov", "kode_kab", "kode_kec", "kode_desa")
    comp = RegionComparison(split_unknown=True)
    assert comp.n_levels == len(comp.level_names) == 8
    assert level(comp, dict(zip(cols, a)), dict(zip(cols, b))) == expected
    assert level(comp, dict(zip(cols, b)), dict(zip(cols, a))) == expected  # symmetric


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (("3375011001", "2", "5"), ("3375011001", "2", "5"), 2),
        (("3375011001", "2", "5"), ("3375011001", "2", "7"), 1),
        (("3375011001", "2", "5"), ("3375011001", "3", "5"), 0),  # same RT number in another RW
        (("3375011001", "2", "5"), ("3375011001", "2", None), -1),
        (("3375011001", "2", "5"), ("3375011001", None, "5"), -1),
        (("3375011001", "2", "5"), ("3375011002", "2", "5"), -1),  # another desa: the region speaks
        (("3375011001", "2", "5"), (None, "2", "5"), -1),
    ],
)
def test_neighbourhood_levels(a, b, expected):
    cols = ("kode_desa", "rw", "rt")
    comp = NeighbourhoodComparison()
    assert level(comp, dict(zip(cols, a)), dict(zip(cols, b))) == expected
    assert level(comp, dict(zip(cols, b)), dict(zip(cols, a))) == expected


def test_neighbourhood_ignores_the_household():
    comp = NeighbourhoodComparison(ignore_when_equal=("no_kk",))
    base = {"kode_desa": "3375011001", "rw": "2", "rt": "5"}
    assert level(comp, {**base, "no_kk": "1"}, {**base, "no_kk": "1"}) == -1  # one card: one address anyway
    assert level(comp, {**base, "no_kk": "1"}, {**base, "no_kk": "2"}) == 2


@pytest.mark.parametrize(
    "comp, a, b, expected",
    [
        (ExactMatch(column="x"), "L", "L", 1),
        (ExactMatch(column="x"), "L", "P", 0),
        (ExactMatch(column="x"), "L", None, -1),
        (JaroWinklerAtThresholds(column="x", thresholds=(0.95, 0.88)), "SEMARANG", "SEMARANG", 3),
        (JaroWinklerAtThresholds(column="x", thresholds=(0.95, 0.88)), "SEMARANG", "SEMARANK", 2),
        (JaroWinklerAtThresholds(column="x", thresholds=(0.95, 0.88)), "SEMARANG", "SEMRAGN", 1),
        (JaroWinklerAtThresholds(column="x", thresholds=(0.95, 0.88)), "SEMARANG", "BOGOR", 0),
        (LevenshteinAtThresholds(column="x", distances=(1, 2)), "12345", "12345", 3),
        (LevenshteinAtThresholds(column="x", distances=(1, 2)), "12345", "12346", 2),
        (LevenshteinAtThresholds(column="x", distances=(1, 2)), "12345", "12366", 1),
        (LevenshteinAtThresholds(column="x", distances=(1, 2)), "12345", "99999", 0),
    ],
)
def test_generic_levels(comp, a, b, expected):
    assert level(comp, {"x": a}, {"x": b}) == expected


def test_level_names_count_matches_levels():
    for comp in (NIK, NAME, DOB, REGION, ExactMatch(column="x"),
                 JaroWinklerAtThresholds(column="x", thresholds=(0.9, 0.8)),
                 LevenshteinAtThresholds(column="x", distances=(1, 2, 3))):
        assert comp.level_names[0].startswith("different")
        assert comp.n_levels == len(comp.level_names)


def test_compare_chunks_give_the_same_result_as_one_pass():
    rng = np.random.default_rng(0)
    names = np.array(["BUDI", "BUDI SANTOSO", "SANTOSO", "SITI AMINAH", "AMINAH", None], dtype=object)
    recs = pd.DataFrame({"nama": rng.choice(names, 200), "x": rng.choice(["L", "P", None], 200)}).astype("string")
    pairs = pd.DataFrame({"left": rng.integers(0, 200, 3000), "right": rng.integers(0, 200, 3000)})
    comps = [NameComparison(column="nama"), ExactMatch(column="x")]
    whole = compare(recs, pairs, comps, chunk_size=10_000)
    chunked = compare(recs, pairs, comps, chunk_size=7)
    pd.testing.assert_frame_equal(whole, chunked)
    assert list(whole.dtypes) == [np.int8, np.int8]


def test_compare_rejects_duplicate_names_and_missing_columns():
    recs = pd.DataFrame({"x": ["A"]})
    pairs = pd.DataFrame({"left": [0], "right": [0]})
    with pytest.raises(ConfigError, match="comparison names must be unique"):
        compare(recs, pairs, [ExactMatch(column="x"), ExactMatch(column="x")])
    with pytest.raises(ConfigError, match="comparison 'nama' needs column 'nama', which the records do not have; columns present: x"):
        compare(recs, pairs, [NameComparison(column="nama")])


def test_bad_threshold_message():
    with pytest.raises(ConfigError, match=r"The 'thresholds' parameter of JaroWinklerAtThresholds must hold floats in \[0, 1\]. Got 1.5 instead."):
        JaroWinklerAtThresholds(column="x", thresholds=(1.5,))


def test_recordlinkage_compare_plugin():
    a = pd.DataFrame({"nik": ["3375014508900001", "3375014508900001"]}, index=["a1", "a2"])
    b = pd.DataFrame({"nik": ["3375014508900001", "3375014580900001"]}, index=["b1", "b2"])
    links = pd.MultiIndex.from_tuples([("a1", "b1"), ("a2", "b2")])
    cmp = recordlinkage.Compare()
    cmp.add(RLComparison(comparison=IdNumberComparison(column="nik")))
    feats = cmp.compute(links, a, b)
    assert feats["nik"].tolist() == [2, 1]


def test_nik_serial_typo_is_not_evidence():
    comp = IdNumberComparison(column="nik", serial_digits=4)
    # twins: same kecamatan and birth date, consecutive serials
    assert level(comp, {"nik": "3375014508900032"}, {"nik": "3375014508900033"}) == 0
    # a typo in the date part is still a typo
    assert level(comp, {"nik": "3375014508900032"}, {"nik": "3375014508960032"}) == 1


def test_ignore_when_equal_switches_off_household_evidence():
    comp = RegionComparison(ignore_when_equal=("no_kk",))
    base = {"kode_prov": "33", "kode_kab": "3375", "kode_kec": "337501", "kode_desa": "3375011001"}
    assert level(comp, {**base, "no_kk": "1"}, {**base, "no_kk": "1"}) == -1  # same card: no extra evidence
    assert level(comp, {**base, "no_kk": "1"}, {**base, "no_kk": "2"}) == 4
    assert level(comp, {**base, "no_kk": None}, {**base, "no_kk": None}) == 4


def test_nik_consistency_splits_different():
    comp = IdNumberComparison(column="nik", serial_digits=4,
                              consistency_columns=("nik_dob", "dob", "nik_sex", "sex"))
    a = {"nik": "3375014508900032", "nik_dob": "1990-08-05", "dob": "1990-08-05", "nik_sex": "P", "sex": "P"}
    twin = {"nik": "3375014508900033", "nik_dob": "1990-08-05", "dob": "1990-08-05", "nik_sex": "P", "sex": "P"}
    copied = {"nik": "3375011203650001", "nik_dob": "1965-03-12", "dob": "1990-08-05", "nik_sex": "L", "sex": "P"}
    assert level(comp, a, twin) == 0      # two credible identities
    assert level(comp, a, copied) == 1    # a NIK that does not fit its record
    assert level(comp, a, dict(a)) == 4   # exact
    son = {**a, "dob": "2010-01-01"}      # the same NIK on a record it contradicts
    assert level(comp, a, son) == 3
    typo = {**a, "nik": "3375014508960032", "nik_dob": "1996-08-05"}
    assert level(comp, a, typo) == 2
    assert comp.level_names[0].startswith("different, both consistent")
    with pytest.raises(ConfigError, match="must name four columns"):
        IdNumberComparison(column="nik", consistency_columns=("a",))


def test_prefix_pairs_match_a_brute_force_reference_with_a_huge_token():
    """Only the lengths words have are tried as prefixes, so a huge field stays cheap; the
    pairs are every (prefix word of >= 2 letters, longer word it starts)."""
    from regsosek_link.compare import _prefix_pairs

    rng = np.random.default_rng(0)
    words = sorted({"".join(rng.choice(list("ABC"), rng.integers(1, 7))) for _ in range(300)} | {"AB" * 50_000})
    arr = np.array(words, dtype=object)
    v = len(arr)
    want = sorted(p * v + t for p, a in enumerate(words) for t, b in enumerate(words)
                  if len(a) >= 2 and len(b) > len(a) and b.startswith(a))
    assert _prefix_pairs(arr).tolist() == want


def test_a_nik_keyed_into_the_kk_column_is_no_family_card():
    """A DTKS or BPJS record with the person's NIK in its KK column: against the card of
    the civil registry that is not "another family card" but no card at all (issue 18)."""
    from regsosek_link.config import default_comparisons

    kk = next(c for c in default_comparisons() if c.name == "no_kk")
    recs = pd.DataFrame({
        "no_kk": ["3209042401200001", "3209045202110001", "3209042401200009", "3209045202110001", None],
        "kk_status": ["ok"] * 4 + ["missing"],
        "nik": ["3209045202110001", None, None, "3209045202110001", "3209045202110001"],
    })
    pairs = pd.DataFrame({"left": [0, 0, 1, 2, 2], "right": [1, 2, 2, 3, 4]})
    # its card against the other's NIK (no card there); another card; two cards of records
    # without a NIK (nothing says either is one); the record's own NIK as its KK (no card); no KK
    assert kk.compute(recs, pairs).tolist() == [-1, 0, 0, -1, -1]
    # without the other identifier's column the comparison is as before
    assert kk.compute(recs.drop(columns="nik"), pairs).tolist() == [0, 0, 0, 0, -1]
    assert kk.compute(recs.assign(nik=None), pairs).tolist() == [0, 0, 0, 0, -1]


def test_a_family_card_says_nothing_for_namesakes_born_a_generation_apart():
    """The default comparisons: a father and his namesake son on one card share the card,
    which must not outweigh dates 60 years apart; a slip of the year keeps the card (issue 18)."""
    from regsosek_link.compare import compare
    from regsosek_link.config import default_comparisons

    comps = [c for c in default_comparisons() if c.name in ("tanggal_lahir", "no_kk")]
    recs = pd.DataFrame({
        "tanggal_lahir": ["1962-01-07", "2022-08-22", "1985-03-04", "1995-06-20"],
        "tanggal_lahir_status": ["ok"] * 4, "tahun_lahir": ["1962", "2022", "1985", "1995"],
        "no_kk": ["5106042212100001"] * 4, "kk_status": ["ok"] * 4, "nik": [None] * 4,
    })
    pairs = pd.DataFrame({"left": [0, 2], "right": [1, 3]})
    got = compare(recs, pairs, comps)
    dob = comps[0]
    assert [dob.level_names[x] for x in got["tanggal_lahir"]] == ["born more than 5 years apart", "different"]
    assert got["no_kk"].tolist() == [-1, 2]


def test_ignore_when_apart_needs_far_years():
    with pytest.raises(ConfigError, match="ignore_when_apart"):
        DateOfBirthComparison(ignore_when_apart=("no_kk",))
