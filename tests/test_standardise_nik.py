import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "src"))

import pandas as pd
import pytest

from regsosek_link.standardise import NIK_STATUSES, clean_nik

NA = pd.NA


@pytest.mark.parametrize(
    ("raw", "nik", "status", "birth", "sex", "region"),
    [
        ("3375010508900002", "3375010508900002", "ok", "1990-08-05", "L", "337501"),
        ("3375014508900002", "3375014508900002", "ok", "1990-08-05", "P", "337501"),  # day+40
        ("'3375014508900002", "3375014508900002", "ok", "1990-08-05", "P", "337501"),
        ("3375 0145 0890 0002", "3375014508900002", "ok", "1990-08-05", "P", "337501"),
        ("3375.0145.0890.0002", "3375014508900002", "ok", "1990-08-05", "P", "337501"),
        ("3375-0145-0890-0002", "3375014508900002", "ok", "1990-08-05", "P", "337501"),
        ("3375011203150001", "3375011203150001", "ok", "2015-03-12", "L", "337501"),
        ("3.37501E+15", NA, "excel_damaged", NA, NA, NA),
        ("3,37501e15", NA, "excel_damaged", NA, NA, NA),
        # written through a float (pandas' to_csv of a float column): exact below 2^53 ...
        ("3375014508900002.0", "3375014508900002", "ok", "1990-08-05", "P", "337501"),
        ("337501450890002.0", "337501450890002", "wrong_length", NA, NA, NA),  # not 3375...0020
        ("3375014508.0002", "33750145080002", "wrong_length", NA, NA, NA),  # a separator, kept
        # ... from 2^53 on (Papua, 91-97) the float may have rounded the last digit
        ("9171014508900003.0", NA, "excel_damaged", NA, NA, NA),
        (None, NA, "missing", NA, NA, NA),
        ("", NA, "missing", NA, NA, NA),
        ("-", NA, "missing", NA, NA, NA),
        ("0", NA, "dummy", NA, NA, NA),
        ("0000000000000000", NA, "dummy", NA, NA, NA),
        ("1111111111111111", NA, "dummy", NA, NA, NA),
        ("1234567890123456", NA, "dummy", NA, NA, NA),
        ("9999999999999994", NA, "sentinel", NA, NA, NA),
        ("9999999999999995", NA, "sentinel", NA, NA, NA),
        ("9999999999999996", NA, "sentinel", NA, NA, NA),
        ("9999999999999999", NA, "sentinel", NA, NA, NA),
        ("33750145089O0002", "33750145089O0002", "non_digit", NA, NA, NA),
        ("337501450890002", "337501450890002", "wrong_length", NA, NA, NA),  # 15 digits kept
        ("33750145089000021", "33750145089000021", "wrong_length", NA, NA, NA),
        ("9975014508900002", "9975014508900002", "bad_region", "1990-08-05", "P", NA),  # no province 99
        ("3300014508900002", "3300014508900002", "bad_region", "1990-08-05", "P", NA),  # kab 00
        ("3370014508900002", "3370014508900002", "bad_region", "1990-08-05", "P", NA),  # kab 70
        ("3375013508900002", "3375013508900002", "bad_date", NA, NA, "337501"),  # day 35
        ("3375017508900002", "3375017508900002", "bad_date", NA, NA, "337501"),  # day 75
        ("3375010513900002", "3375010513900002", "bad_date", NA, "L", "337501"),  # month 13
        ("3375013102900002", "3375013102900002", "bad_date", NA, "L", "337501"),  # 31 Feb
        ("3375014508900000", "3375014508900000", "zero_serial", "1990-08-05", "P", "337501"),
    ],
)
def test_clean_nik_table(raw, nik, status, birth, sex, region):
    out = clean_nik(pd.Series([raw], dtype="string"))
    row = out.iloc[0]
    assert row["status"] == status
    assert status in NIK_STATUSES
    for col, want in (("nik", nik), ("birth_date", birth), ("sex", sex), ("region", region)):
        got = row[col]
        assert (got is NA and want is NA) or got == want, (col, got, want)


def test_century_from_recorded_birth_date():
    values = pd.Series(["3375011203150001", "3375011203150001", "3375011203150001"])
    birth = pd.Series(["1915-03-12", "2015-03-12", None])
    out = clean_nik(values, birth_date=birth)
    assert out["birth_date"].tolist() == ["1915-03-12", "2015-03-12", "2015-03-12"]


def test_century_default_not_in_future():
    out = clean_nik(pd.Series(["3375011203300001"]))  # yy=30 -> 1930, not 2030
    assert out.loc[0, "birth_date"] == "1930-03-12"


def test_kk_has_no_plus_40_rule_and_fewer_columns():
    out = clean_nik(pd.Series(["3375011203150001", "3375014503150001"]), kind="kk")
    assert list(out.columns) == ["nik", "status"]
    assert out["status"].tolist() == ["ok", "bad_date"]


def test_index_and_dtypes_preserved():
    s = pd.Series(["3375014508900002", None], index=["b", "a"])
    out = clean_nik(s)
    assert list(out.index) == ["b", "a"]
    assert all(str(t) == "string" for t in out.dtypes)


def test_bad_kind_message():
    with pytest.raises(ValueError, match="Got 'ktp' instead"):
        clean_nik(pd.Series(["1"]), kind="ktp")


@pytest.mark.parametrize("kind", ["nik", "kk"])
def test_digit_matrix_path_matches_regex_path(kind):
    # 16 plain digits take the Arrow-buffer path; with a leading apostrophe (stripped) the
    # same NIK goes through the regular expressions: both must agree on every column
    import random

    rng = random.Random(7)
    values = []
    for _ in range(4000):
        values.append(
            rng.choice(["11", "33", "94", "99", "00", "31"]) + f"{rng.randint(0, 99):02d}{rng.randint(0, 99):02d}"
            f"{rng.randint(0, 75):02d}{rng.randint(0, 14):02d}{rng.randint(0, 99):02d}"
            f"{rng.choice([0, 1, 9999, rng.randint(0, 9999)]):04d}"
        )
    values += ["0000000000000000", "7777777777777777", "9999999999999940", "9999999999990000", "9999999999899999",
               "1234567890123456", "1234567812345678", "3375012902000001", "3375012902010001", "3375016902000001",
               "3375014502290001", "3375017202900001"]
    birth = pd.Series([rng.choice(["1925-01-01", "2003-05-05", None]) for _ in values])
    plain = clean_nik(pd.Series(values, dtype="string"), kind=kind, birth_date=birth)
    quoted = clean_nik(pd.Series(["'" + v for v in values], dtype="string"), kind=kind, birth_date=birth)
    pd.testing.assert_frame_equal(plain, quoted)
    assert set(plain["status"]) == {"ok", "bad_region", "bad_date", "zero_serial", "dummy", "sentinel"}


def test_unicode_digits_and_letter_o_are_non_digit():
    out = clean_nik(pd.Series(["33750145089O0002", "٣375014508900002", "3375 0145 0890 000٢", "ⅩⅩ"], dtype="string"))
    assert out["status"].tolist() == ["non_digit"] * 4
    assert out["nik"].tolist() == ["33750145089O0002", "٣375014508900002", "337501450890000٢", "ⅩⅩ"]
