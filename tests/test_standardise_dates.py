import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "src"))

import pandas as pd
import pytest

from regsosek_link.standardise import DATE_STATUSES, parse_date

NA = pd.NA
REF = "2026-01-15"


@pytest.mark.parametrize(
    ("raw", "iso", "status"),
    [
        ("1985-03-02", "1985-03-02", "ok"),
        ("1985-03-02 00:00:00", "1985-03-02", "ok"),
        ("1985-03-02T10:11:12", "1985-03-02", "ok"),
        ("02-03-1985", "1985-03-02", "ok"),
        ("02/03/1985", "1985-03-02", "ok"),
        ("2/3/1985", "1985-03-02", "ok"),
        ("02.03.1985", "1985-03-02", "ok"),
        ("19850302", "1985-03-02", "ok"),
        ("02031985", "1985-03-02", "ok"),
        ("02-03-85", "1985-03-02", "ok"),
        ("02-03-20", "2020-03-02", "ok"),
        ("17 Agustus 1945", "1945-08-17", "ok"),
        ("17-Agu-1945", "1945-08-17", "ok"),
        ("17 AGT 1945", "1945-08-17", "ok"),
        ("17 August 1945", "1945-08-17", "ok"),
        ("August 17, 1945", "1945-08-17", "ok"),
        ("Jakarta, 17-08-1945", "1945-08-17", "ok"),  # "tempat, tanggal lahir" in one column
        ("Kab. Bogor, 17 Agustus 1945", "1945-08-17", "ok"),
        ("Jumat, 17 Agustus 1945", "1945-08-17", "ok"),  # a weekday first
        ("Jakarta, tidak tahu", NA, "unparsed"),
        ("2 Pebruari 1980", "1980-02-02", "ok"),
        ("3 Okt 1999", "1999-10-03", "ok"),
        ("31244", "1985-07-16", "ok"),  # Excel serial
        ("31244.0", "1985-07-16", "ok"),
        ("01-07-1980", "1980-07-01", "placeholder_1jul"),
        ("31-12-1950", "1950-12-31", "placeholder_31dec"),
        ("01-01-1960", "1960-01-01", "placeholder_1jan"),
        ("15-06-1970", "1970-06-15", "placeholder_day15"),
        ("31-02-1990", NA, "impossible"),
        ("01-13-1990", "1990-01-13", "month_first"),  # no month 13: month-day is the only reading
        ("12/23/2012", "2012-12-23", "month_first"),
        ("12231985", "1985-12-23", "month_first"),
        ("12/31/2003", "2003-12-31", "placeholder_31dec"),  # (a placeholder, whatever the order)
        ("13-13-1990", NA, "impossible"),
        ("12/32/2012", NA, "impossible"),
        ("29-02-1900", NA, "impossible"),
        ("29-02-2000", "2000-02-29", "ok"),
        ("01-03-1700", NA, "impossible"),
        ("02-03-2030", NA, "future"),
        ("0000-00-00", NA, "missing"),
        ("", NA, "missing"),
        (None, NA, "missing"),
        ("kemarin", NA, "unparsed"),
        ("17 Foo 1945", NA, "unparsed"),
        ("123", NA, "unparsed"),
    ],
)
def test_parse_date_table(raw, iso, status):
    out = parse_date(pd.Series([raw], dtype="string"), reference_date=REF)
    row = out.iloc[0]
    assert row["status"] == status, (raw, row["status"])
    assert status in DATE_STATUSES
    got = row["tanggal_lahir"]
    assert (got is NA and iso is NA) or got == iso
    if iso is NA:
        assert row["year"] is NA
    else:
        assert row["year"] == int(iso[:4])


@pytest.mark.parametrize(
    ("raw", "year"),
    [
        ("1985", 1985),
        ("00-00-1985", 1985),
        ("00/00/1985", 1985),
        ("0-0-1985", 1985),
        ("08/1985", 1985),
        ("8-1985", 1985),
        ("00/08/1985", 1985),
        ("00-08-1985", 1985),
        ("1985-08", 1985),
        ("1985-00-00", 1985),
        ("1985-08-00", 1985),
        ("19850000", 1985),
        ("Agustus 1985", 1985),
        ("AGT. 1985", 1985),
    ],
)
def test_partial_dates_keep_the_year(raw, year):
    row = parse_date(pd.Series([raw], dtype="string"), reference_date=REF).iloc[0]
    assert (row["tanggal_lahir"], row["status"], row["year"]) == (NA, "partial", year)


@pytest.mark.parametrize(
    ("raw", "status"),
    [("2030", "impossible"), ("1700", "impossible"), ("13/1985", "impossible"), ("Foo 1985", "unparsed")],
)
def test_partial_dates_outside_the_calendar(raw, status):
    row = parse_date(pd.Series([raw], dtype="string"), reference_date=REF).iloc[0]
    assert (row["tanggal_lahir"], row["status"], row["year"]) == (NA, status, NA)


@pytest.mark.parametrize(
    ("raw", "dayfirst", "iso", "status"),
    [
        ("03/04/1985", True, "1985-04-03", "ok"),
        ("03/04/1985", False, "1985-03-04", "ok"),
        ("12/23/2012", False, "2012-12-23", "ok"),
        ("23/12/2012", False, "2012-12-23", "day_first"),  # no month 23 either way round
        ("23/12/2012", True, "2012-12-23", "ok"),
        ("1985-03-04", False, "1985-03-04", "ok"),  # year first: never swapped
        ("04-03-85", False, "1985-04-03", "ok"),
        ("03041985", False, "1985-03-04", "ok"),
    ],
)
def test_dayfirst(raw, dayfirst, iso, status):
    row = parse_date(pd.Series([raw], dtype="string"), reference_date=REF, dayfirst=dayfirst).iloc[0]
    assert (row["tanggal_lahir"], row["status"]) == (iso, status)


@pytest.mark.parametrize(
    ("raw", "fmt", "iso", "status"),
    [
        ("03/04/1985", "%m/%d/%Y", "1985-03-04", "ok"),
        ("1985.04.03", "%Y.%d.%m", "1985-03-04", "ok"),
        ("04-Mar-1985", "%d-%b-%Y", "1985-03-04", "ok"),
        ("17 Agustus 1945", "%m/%d/%Y", "1945-08-17", "ok"),  # not the format's: the usual formats
        ("01/07/1980", "%m/%d/%Y", "1980-01-07", "ok"),
        ("07/01/1980", "%m/%d/%Y", "1980-07-01", "placeholder_1jul"),
        ("Jakarta, 12/23/1980", "%m/%d/%Y", "1980-12-23", "ok"),  # "tempat, tanggal lahir": the place goes
        ("Jumat, 08/17/1945", "%m/%d/%Y", "1945-08-17", "ok"),  # (read day-first without the format: unparsed)
        ("jakarta, 04-mar-1985", "%d-%b-%Y", "1985-03-04", "ok"),
    ],
)
def test_date_format(raw, fmt, iso, status):
    row = parse_date(pd.Series([raw], dtype="string"), reference_date=REF, date_format=fmt).iloc[0]
    assert (row["tanggal_lahir"], row["status"]) == (iso, status)


def test_datetime_input_and_dtypes():
    s = pd.Series(pd.to_datetime(["1985-03-02", None]), index=[5, 3])
    out = parse_date(s, reference_date=REF)
    assert list(out.index) == [5, 3]
    assert out["tanggal_lahir"].tolist() == ["1985-03-02", NA]
    assert out["status"].tolist() == ["ok", "missing"]
    assert str(out["tanggal_lahir"].dtype) == "string"
    assert str(out["year"].dtype) == "Int16"


def test_duplicate_index_is_kept():
    s = pd.Series(["17 Agustus 1945", "01-01-2000"], index=[1, 1])
    out = parse_date(s, reference_date=REF)
    assert out["tanggal_lahir"].tolist() == ["1945-08-17", "2000-01-01"]


def test_fixed_width_byte_path_matches_regex_path(monkeypatch):
    # the byte-level reading of the commonest numeric layouts must give what the regular
    # expressions alone give (the reference: the same parse with the byte path switched off)
    import random

    from regsosek_link.standardise import _dates

    rng = random.Random(5)
    values = []
    for _ in range(20000):
        y, m, d = rng.choice([rng.randint(1790, 2100), rng.randint(0, 9999)]), rng.randint(0, 13), rng.randint(0, 32)
        a, b = rng.choice("-/. T:x"), rng.choice("-/. T:x")
        t = f"{rng.choice(' Tt_')}{rng.randint(0, 99):02d}{rng.choice(':.,')}{rng.randint(0, 99):02d}" \
            f"{rng.choice(':.,')}{rng.randint(0, 99):02d}"
        values += [f"{y:04d}{a}{m:02d}{b}{d:02d}", f"{d:02d}{a}{m:02d}{b}{y:04d}", f"{y:04d}{m:02d}{d:02d}",
                   f"{d:02d}{m:02d}{y:04d}", f"{y:04d}-{m:02d}-{d:02d}{t}", f"{d:02d}/{m:02d}/{y:04d}{t}",
                   "".join(rng.choice("0123456789-/. :T٣é\t") for _ in range(rng.choice([8, 10, 19])))]
    values += ["0000-00-00", "00-00-0000", "00000000", "", None, "17 Agustus 1945", "40000", "1990-08-05T10:00"]
    s = pd.Series(values, dtype="string")
    fast = parse_date(s, reference_date=REF)
    monkeypatch.setattr(_dates, "_fixed_numeric", lambda arr: [])
    pd.testing.assert_frame_equal(fast, parse_date(s, reference_date=REF))
    assert (fast["status"] == "ok").sum() > 1000


def test_date_status_counts_per_source():
    from regsosek_link.standardise import date_status_counts, standardise

    raw = pd.DataFrame({
        "source": ["siak"] * 4 + ["bpjs"] * 5,
        "record_id": [str(i) for i in range(9)],
        "nama": ["X"] * 9,
        "tanggal_lahir": ["05-08-1990", "01-07-1980", "1985", None,
                          "12/23/2012", "03/04/1985", "kemarin", "31-02-1990", "00/08/1985"],
    }, dtype="string")
    out = date_status_counts(standardise(raw))
    assert out.columns.tolist() == ["source", "n", "missing", "unparsed", "impossible", "partial", "swapped",
                                    "placeholder"]
    assert out.values.tolist() == [["bpjs", 5, 0, 1, 1, 1, 1, 0], ["siak", 4, 1, 0, 0, 1, 0, 1]]
    # read month-first, bpjs's 03/04/1985 is 4 March and 12/23/2012 is no longer swapped
    out = date_status_counts(standardise(raw, dayfirst={"bpjs": False}))
    assert out.values.tolist()[0] == ["bpjs", 5, 0, 1, 1, 1, 0, 0]
