"""Dates of birth: many raw formats to ISO, with placeholder flags."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._common import (
    STRING,
    ascii_upper_arrow,
    civil_dates,
    expand,
    extract_rows,
    factorize,
    fixed_width_bytes,
    fullmatch_mask,
    iso_strings,
    string_series,
    to_arrow,
)

DATE_STATUSES: tuple[str, ...] = (
    "ok", "missing", "unparsed", "impossible", "future", "partial", "month_first", "day_first",
    "placeholder_1jul", "placeholder_31dec", "placeholder_1jan", "placeholder_day15",
)
#: Statuses of a date that is not known to the day (no ISO date, perhaps a year).
UNKNOWN_DAY_STATUSES: tuple[str, ...] = ("missing", "unparsed", "impossible", "future", "partial")

MONTHS: dict[str, int] = {}
for _num, _names in enumerate(
    [
        ("JANUARI", "JANUARY", "JAN"),
        ("FEBRUARI", "FEBRUARY", "PEBRUARI", "FEB", "PEB"),
        ("MARET", "MARCH", "MAR"),
        ("APRIL", "APR"),
        ("MEI", "MAY"),
        ("JUNI", "JUNE", "JUN"),
        ("JULI", "JULY", "JUL"),
        ("AGUSTUS", "AUGUST", "AGU", "AGT", "AGS", "AGST", "AUG", "AGUST"),
        ("SEPTEMBER", "SEP", "SEPT"),
        ("OKTOBER", "OCTOBER", "OKT", "OCT"),
        ("NOVEMBER", "NOPEMBER", "NOV", "NOP"),
        ("DESEMBER", "DECEMBER", "DES", "DEC"),
    ],
    start=1,
):
    for _n in _names:
        MONTHS[_n] = _num

_TIME = r"(?:[ T]\d{1,2}[:.]\d{2}(?:[:.]\d{2}(?:\.\d+)?)?)?"
#: (regex, order of the groups) tried in turn on the values not yet parsed.
_NUMERIC_FORMATS: tuple[tuple[str, str], ...] = (
    (rf"^(\d{{4}})[-/.](\d{{1,2}})[-/.](\d{{1,2}}){_TIME}$", "ymd"),
    (rf"^(\d{{1,2}})[-/. ](\d{{1,2}})[-/. ](\d{{4}}){_TIME}$", "dmy"),
    (r"^((?:18|19|20)\d{2})(\d{2})(\d{2})$", "ymd"),
    (r"^(\d{2})(\d{2})((?:18|19|20)\d{2})$", "dmy"),
    (r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{2})$", "dmy2"),
)
_MONTH_NAME = r"^(\d{1,2})[-\s./,]*([A-Z]{3,9})\.?[-\s./,]*(\d{4}|\d{2})" + _TIME + "$"
_MONTH_FIRST = r"^([A-Z]{3,9})\.?[-\s./]*(\d{1,2})[,\s]+(\d{4})$"
#: Dates known to the month or the year only: (regex, order of the groups).
_PARTIAL_FORMATS: tuple[tuple[str, str], ...] = (
    (r"^(\d{4})$", "y"),
    (r"^(\d{1,2})[-/. ](\d{4})$", "my"),
    (r"^(\d{4})[-/.](\d{1,2})$", "ym"),
)
_MONTH_NAME_YEAR = r"^([A-Z]{3,9})\.?[-\s./,]*(\d{4})$"
_EXCEL_ORIGIN = pd.Timestamp("1899-12-30")


def _byte_class(chars: str) -> np.ndarray:
    table = np.zeros(256, dtype=bool)
    table[list(chars.encode("ascii"))] = True
    return table


_DIGIT = _byte_class("0123456789")
_SEP_YMD = _byte_class("-/.")  # the separators of the first two numeric formats
_SEP_DMY = _byte_class("-/. ")
_TIME_SEP = _byte_class(" T")
_HMS_SEP = _byte_class(":.")


def _digits(mat: np.ndarray, cols: list[int]) -> np.ndarray:
    return _DIGIT[mat[:, cols]].all(axis=1)


def _number(mat: np.ndarray, a: int, b: int) -> np.ndarray:
    return (mat[:, a:b].astype(np.int64) - 48) @ 10 ** np.arange(b - a - 1, -1, -1, dtype=np.int64)


def _fixed_numeric(arr: pa.Array) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """The commonest numeric layouts, read from the bytes: ``YYYY-MM-DD`` and ``DD-MM-YYYY``
    (each separator one of those of ``_NUMERIC_FORMATS``), either with ``" HH:MM:SS"``, and
    ``YYYYMMDD``/``DDMMYYYY``. Each is what the first matching ``_NUMERIC_FORMATS`` pattern
    gives; returns ``(rows, year, month, day)`` per layout."""
    out = []
    for width in (10, 19):
        rows, mat = fixed_width_bytes(arr, width)
        if width == 19:
            time = _TIME_SEP[mat[:, 10]] & _digits(mat, [11, 12, 14, 15, 17, 18]) & _HMS_SEP[mat[:, 13]] \
                & _HMS_SEP[mat[:, 16]]
            rows, mat = rows[time], mat[time]
        ymd = _digits(mat, [0, 1, 2, 3, 5, 6, 8, 9]) & _SEP_YMD[mat[:, 4]] & _SEP_YMD[mat[:, 7]]
        dmy = _digits(mat, [0, 1, 3, 4, 6, 7, 8, 9]) & _SEP_DMY[mat[:, 2]] & _SEP_DMY[mat[:, 5]]
        out.append((rows[ymd], _number(mat[ymd], 0, 4), _number(mat[ymd], 5, 7), _number(mat[ymd], 8, 10)))
        out.append((rows[dmy], _number(mat[dmy], 6, 10), _number(mat[dmy], 3, 5), _number(mat[dmy], 0, 2)))
    rows, mat = fixed_width_bytes(arr, 8)
    digits = _digits(mat, list(range(8)))
    rows, mat = rows[digits], mat[digits]
    century = (_number(mat, 0, 2) >= 18) & (_number(mat, 0, 2) <= 20)
    century_last = ~century & (_number(mat, 4, 6) >= 18) & (_number(mat, 4, 6) <= 20)
    out.append((rows[century], _number(mat[century], 0, 4), _number(mat[century], 4, 6), _number(mat[century], 6, 8)))
    out.append((rows[century_last], _number(mat[century_last], 4, 8), _number(mat[century_last], 2, 4),
                _number(mat[century_last], 0, 2)))
    return out


def parse_date(values: pd.Series, *, reference_date: str | None = None, dayfirst: bool = True,
               date_format: str | None = None) -> pd.DataFrame:
    """Parse dates of birth written in many ways to ISO ``YYYY-MM-DD``.

    Day-month order unless ``dayfirst=False``; a numeric date that fits only the other order
    (``12/23/2012``: no month 23) is read in that order and flagged. Accepted: ISO (with or
    without a time part),
    ``DD-MM-YYYY``, ``DD/MM/YYYY``, ``D/M/YYYY``, ``DD.MM.YYYY``, ``YYYYMMDD``,
    ``DDMMYYYY``, ``DD-MM-YY`` (century: the most recent not after ``reference_date``),
    Indonesian or English month names or abbreviations (``17 Agustus 1945``,
    ``17-Agu-1945``, ``17 AGT 1945``, ``August 17, 1945``), any of these after a place or
    weekday and a comma (``Jakarta, 17-08-1945``, a "tempat, tanggal lahir" column;
    ``Jumat, 17 Agustus 1945``), Excel serial day numbers
    (5 digits, 1927-05-18 to ``reference_date``) and pandas datetimes. Dates known to the
    year or the month only (``1985``, ``08/1985``, ``00-00-1985``, ``00/08/1985``,
    ``Agustus 1985``) keep their year.

    Parameters
    ----------
    values : pandas.Series
        Raw dates.
    reference_date : str, optional
        "Today" for the ``future`` check and two-digit years; defaults to today.
    dayfirst : bool, default True
        Numeric dates with the year last are day-month (Indonesian use); ``False``:
        month-day.
    date_format : str, optional
        A :func:`~datetime.datetime.strptime` format tried first (e.g. ``"%m/%d/%Y"``);
        values it does not fit go through the formats above.

    Returns
    -------
    pandas.DataFrame
        Same index. ``tanggal_lahir`` (ISO ``string`` or <NA>), ``status`` and ``year``
        (``Int16``). Status is one of ``ok``, ``missing`` (empty, or all zeros),
        ``unparsed`` (no format matched), ``impossible`` (31 February, month 13 in either
        order, year before 1800), ``future``, ``partial`` (only the year, or year and
        month, known: ``year`` is kept, ``tanggal_lahir`` is <NA>), ``month_first`` /
        ``day_first`` (read in the other order than ``dayfirst`` says, the only one that
        gives a date), or a placeholder: ``placeholder_1jul`` (SIAK since 2004),
        ``placeholder_31dec`` (before 2004), ``placeholder_1jan``, ``placeholder_day15``
        (only the month known). A placeholder keeps its date; impossible, future, partial
        and unparsed dates give <NA>.

    Examples
    --------
    >>> import pandas as pd
    >>> out = parse_date(pd.Series(["17 Agustus 1945", "31-02-1990", "01/07/1980", "19850302"]))
    >>> out.values.tolist()
    [['1945-08-17', 'ok', 1945], [<NA>, 'impossible', <NA>], ['1980-07-01', 'placeholder_1jul', 1980], ['1985-03-02', 'ok', 1985]]
    >>> parse_date(pd.Series(["12/23/2012", "00-00-1985", "08/1985"]), reference_date="2026-01-01").values.tolist()
    [['2012-12-23', 'month_first', 2012], [<NA>, 'partial', 1985], [<NA>, 'partial', 1985]]
    """
    ref = pd.Timestamp(reference_date) if reference_date is not None else pd.Timestamp.today().normalize()
    if isinstance(values, pd.Series) and pd.api.types.is_datetime64_any_dtype(values.dtype):
        s = values.dt.strftime("%Y-%m-%d").astype(STRING)
    else:
        s = values
    codes, u = factorize(s)
    index = values.index if isinstance(values, pd.Series) else pd.RangeIndex(len(codes))
    return expand(_parse(u, ref, dayfirst=dayfirst, date_format=date_format), codes, index)


def parse_date_distinct(u: pd.Series, *, reference_date: str | None = None, dayfirst: bool = True,
                        date_format: str | None = None) -> pd.DataFrame:
    """:func:`parse_date` of distinct, stripped values (positional result)."""
    ref = pd.Timestamp(reference_date) if reference_date is not None else pd.Timestamp.today().normalize()
    return _parse(u.reset_index(drop=True), ref, dayfirst=dayfirst, date_format=date_format)


def _parse(s: pd.Series, ref: pd.Timestamp, *, dayfirst: bool = True, date_format: str | None = None) -> pd.DataFrame:
    idx = s.index
    n = len(s)
    arr = ascii_upper_arrow(to_arrow(s))
    # a place or a weekday before a comma ("Jakarta, 12-08-1980": a "tempat, tanggal lahir"
    # column; "Sabtu, 12 Agustus 1980"): the date is what follows (a month name before the
    # comma is part of the date: "August 17, 1945")
    lead = pc.extract_regex(arr, r"^(?P<head>[A-Z][A-Z .'()/-]*?)\s*,\s*(?P<date>\d.*)$")
    head = pc.utf8_trim_whitespace(pc.struct_field(lead, "head"))
    strip = pc.and_kleene(pc.is_valid(lead), pc.invert(pc.is_in(head, value_set=pa.array(list(MONTHS)))))
    arr = pc.if_else(strip.fill_null(False), pc.struct_field(lead, "date"), arr)
    u = string_series(arr)  # positions as index
    year = np.full(n, -1, dtype=np.int64)
    month = np.full(n, -1, dtype=np.int64)
    day = np.full(n, -1, dtype=np.int64)
    missing = u.isna().to_numpy() | fullmatch_mask(u, r"[0\-/. :]*|NAN|NAT|NONE|NULL|-")
    todo = ~missing
    # read day-month from a layout in which day and month could be the other way round
    either_order = np.zeros(n, bool)

    def fill(mask_idx: np.ndarray, y: np.ndarray, m: np.ndarray, d: np.ndarray) -> None:
        year[mask_idx] = y
        month[mask_idx] = m
        day[mask_idx] = d

    if date_format is not None and todo.any():
        rows = np.flatnonzero(todo)
        # (what follows a place or weekday prefix, upper-cased: strptime reads month names
        # and AM/PM in any case)
        dt = pd.to_datetime(pd.Series(u.to_numpy(dtype=object, na_value=None)[rows], dtype=object),
                            format=date_format, errors="coerce")
        hit = dt.notna().to_numpy()
        if hit.any():
            fill(rows[hit], dt[hit].dt.year.to_numpy(), dt[hit].dt.month.to_numpy(), dt[hit].dt.day.to_numpy())
            todo[rows[hit]] = False

    # most values have a fixed-width numeric layout: read from the bytes, no regex
    for layout, (rows, y, m, d) in enumerate(_fixed_numeric(arr)):
        keep = todo[rows]
        fill(rows[keep], y[keep], m[keep], d[keep])
        todo[rows[keep]] = False
        either_order[rows[keep]] = layout % 2 == 1  # (the day-month layouts)

    def pending() -> pd.Series:
        return u[todo]

    for pattern, order in _NUMERIC_FORMATS:
        rest = pending()
        if rest.empty:
            break
        ex = extract_rows(rest, pattern)
        if ex.empty:
            continue
        where = ex.index.to_numpy()
        a, b, c = (ex[i].astype(int).to_numpy() for i in range(3))
        if order == "ymd":
            fill(where, a, b, c)
        elif order == "dmy":
            fill(where, c, b, a)
        else:  # dmy with a two-digit year
            y = 2000 + c
            y = np.where(y > ref.year, y - 100, y)
            fill(where, y, b, a)
        todo[where] = False
        either_order[where] = order != "ymd"

    # month names
    for pattern, order in ((_MONTH_NAME, "dmy"), (_MONTH_FIRST, "mdy")):
        rest = pending()
        if rest.empty:
            break
        ex = extract_rows(rest, pattern)
        if ex.empty:
            continue
        if order == "dmy":
            d, mname, y = ex[0], ex[1], ex[2]
        else:
            mname, d, y = ex[0], ex[1], ex[2]
        m = mname.map(MONTHS)
        ok = m.notna()
        ex, d, m, y = ex[ok], d[ok], m[ok], y[ok]
        if ex.empty:
            continue
        where = ex.index.to_numpy()
        yy = y.astype(int).to_numpy()
        two = y.str.len().to_numpy() == 2
        yy = np.where(two, np.where(2000 + yy > ref.year, 1900 + yy, 2000 + yy), yy)
        fill(where, yy, m.astype(int).to_numpy(), d.astype(int).to_numpy())
        todo[where] = False

    # dates known to the month or the year only: day 0 (and month 0)
    for pattern, order in _PARTIAL_FORMATS:
        rest = pending()
        if rest.empty:
            break
        ex = extract_rows(rest, pattern)
        if ex.empty:
            continue
        where = ex.index.to_numpy()
        g = [ex[i].astype(int).to_numpy() for i in range(ex.shape[1])]
        zero = np.zeros(len(where), np.int64)
        if order == "y":
            fill(where, g[0], zero, zero)
        elif order == "my":
            fill(where, g[1], g[0], zero)
        else:
            fill(where, g[0], g[1], zero)
        todo[where] = False
    rest = pending()
    if not rest.empty:
        ex = extract_rows(rest, _MONTH_NAME_YEAR)
        if not ex.empty:
            m = ex[0].map(MONTHS)
            ex = ex[m.notna()]
            if not ex.empty:
                where = ex.index.to_numpy()
                fill(where, ex[1].astype(int).to_numpy(), m[m.notna()].astype(int).to_numpy(),
                     np.zeros(len(where), np.int64))
                todo[where] = False

    # Excel serial numbers
    rest = pending()
    if not rest.empty:
        ex = extract_rows(rest, r"^(\d{5})(?:\.0+)?$")
        if not ex.empty:
            serial = ex[0].astype(int)
            max_serial = (ref - _EXCEL_ORIGIN).days
            serial = serial[(serial >= 10000) & (serial <= max_serial)]
            if not serial.empty:
                dt = _EXCEL_ORIGIN + pd.to_timedelta(serial.to_numpy(), unit="D")
                where = serial.index.to_numpy()
                fill(where, dt.year.to_numpy(), dt.month.to_numpy(), dt.day.to_numpy())
                todo[where] = False

    parsed = year >= 0
    if not dayfirst:  # the day-month layouts were month-day
        day[either_order], month[either_order] = month[either_order], day[either_order].copy()
    # a date that fits only the other order (12/23/2012: no month 23) is read that way
    swapped = either_order & (month > 12) & (day >= 1) & (day <= 12)
    day[swapped], month[swapped] = month[swapped], day[swapped].copy()
    # known to the year (day 0, or day and month 0), perhaps to the month
    partial = parsed & (year >= 1800) & (year <= ref.year) & ((day == 0) | (month == 0)) & (month <= 12)
    partial &= (day == 0) | (month == 0) & (day <= 31)
    plausible = parsed & (year >= 1800) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    real, dates = civil_dates(np.where(plausible, year, 2000), np.where(plausible, month, 1),
                              np.where(plausible, day, 1))
    valid = plausible & real
    future = valid & (dates > ref.to_datetime64())
    status = np.empty(n, dtype=object)
    status[:] = "ok"  # one object (np.full would make a string per row)
    status[missing] = "missing"
    status[~missing & ~parsed] = "unparsed"
    status[parsed & ~valid] = "impossible"
    status[partial] = "partial"
    status[future] = "future"
    good = valid & ~future
    status[good & swapped] = "month_first" if dayfirst else "day_first"
    status[good & (month == 7) & (day == 1)] = "placeholder_1jul"
    status[good & (month == 12) & (day == 31)] = "placeholder_31dec"
    status[good & (month == 1) & (day == 1)] = "placeholder_1jan"
    status[good & (day == 15)] = "placeholder_day15"
    iso = pd.Series(iso_strings(dates), index=idx, dtype=STRING)
    iso = iso.where(pd.Series(good, index=idx), pd.NA).astype(STRING)
    known_year = good | partial
    yr = pd.Series(np.where(known_year, year, 0), index=idx).astype("Int16").where(
        pd.Series(known_year, index=idx), pd.NA)
    return pd.DataFrame(
        {"tanggal_lahir": iso, "status": pd.Series(status, index=idx, dtype=STRING), "year": yr.astype("Int16")},
        index=idx,
    )


#: Columns of :func:`date_status_counts` after ``source`` and ``n``, and the statuses each counts.
_COUNTED: dict[str, tuple[str, ...]] = {
    "missing": ("missing",),
    "unparsed": ("unparsed",),
    "impossible": ("impossible", "future"),
    "partial": ("partial",),
    "swapped": ("month_first", "day_first"),
    "placeholder": ("placeholder_1jul", "placeholder_31dec", "placeholder_1jan", "placeholder_day15"),
}


def date_status_counts(records: pd.DataFrame, *, status_column: str = "tanggal_lahir_status",
                       source_column: str = "source") -> pd.DataFrame:
    """Birth dates per source that were not read as a plain date: a table for the log and
    the report.

    Parameters
    ----------
    records : DataFrame
        Clean records (:func:`regsosek_link.standardise.standardise`).

    Returns
    -------
    DataFrame
        One row per source (sorted): ``source``, ``n`` (records), and how many of them are
        ``missing``, ``unparsed`` (no format fits), ``impossible`` (no such day, or in the
        future), ``partial`` (year or month known, not the day), ``swapped`` (read in the
        other day/month order than the source's, the only one that fits) and
        ``placeholder`` (1 July, 31 December, 1 January, day 15).

    Examples
    --------
    >>> recs = pd.DataFrame({"source": ["a", "a", "b"], "tanggal_lahir_status": ["ok", "partial", "unparsed"]})
    >>> date_status_counts(recs).values.tolist()
    [['a', 2, 0, 0, 0, 1, 0, 0], ['b', 1, 0, 1, 0, 0, 0, 0]]
    """
    # (codes by hashing, then the few distinct values sorted: no sort of a million strings)
    source_codes, names = _codes_or(records, source_column, "")
    status_codes, kinds = _codes_or(records, status_column, "missing")
    table = np.bincount(source_codes * len(kinds) + status_codes,
                        minlength=len(names) * len(kinds)).reshape(len(names), len(kinds)).astype(np.int64)
    out = pd.DataFrame({"source": names.astype(str), "n": table.sum(axis=1)})
    for column, statuses in _COUNTED.items():
        out[column] = table[:, np.isin(kinds, statuses)].sum(axis=1)
    return out


def _codes_or(records: pd.DataFrame, column: str, missing: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``records[column]`` as text (``missing`` for a missing value or an absent
    column) into its distinct values, sorted (object array of ``str``)."""
    if column not in records.columns:
        return np.zeros(len(records), np.int64), np.array([missing], dtype=object)
    codes, uniq = pd.factorize(records[column])
    text = [str(u) for u in uniq]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(text), codes)
        text.append(missing)
    values, inverse = np.unique(np.array(text, dtype=object), return_inverse=True)  # (a few distinct values)
    return inverse.reshape(-1)[codes], values


#: Each placeholder status: the (month, day) it is written on, and the days next to it, whose
#: counts say how common that day would be as a real birthday.
_PLACEHOLDER_DAYS: dict[str, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {
    "placeholder_1jul": ([(7, 1)], [(6, 30), (7, 2)]),
    "placeholder_31dec": ([(12, 31)], [(12, 30), (12, 29)]),
    "placeholder_1jan": ([(1, 1)], [(1, 2), (1, 3)]),
    "placeholder_day15": ([(m, 15) for m in range(1, 13)], [(m, d) for m in range(1, 13) for d in (14, 16)]),
}


def unused_placeholders(month_day: np.ndarray, *, min_expected: float = 5.0) -> list[str]:
    """The placeholder statuses that a set of dates shows no sign of using: real birthdays.

    A source that writes a placeholder (1 July for "day unknown") holds far more dates on
    that day than on the days next to it; a source that does not holds about as many. Each
    placeholder day (1 July, 31 December, 1 January, the 15th of every month) is counted
    against the mean of its neighbours: when it is at most twice as common (so that at most
    half of its dates could be placeholders), its dates are taken as real. Only when the
    neighbours are common enough to tell (``min_expected`` dates expected on the placeholder
    day): a few dates prove nothing, and their dates stay flagged.

    Parameters
    ----------
    month_day : numpy.ndarray
        (13, 32) counts of dates per month (1-12) and day (1-31).

    Returns
    -------
    list of str
        Statuses (``placeholder_day15``, ...) whose dates are real birthdays here.

    Examples
    --------
    >>> counts = np.full((13, 32), 10)
    >>> counts[7, 1] = 200  # 1 July twenty times as common as its neighbours: a placeholder
    >>> unused_placeholders(counts)
    ['placeholder_31dec', 'placeholder_1jan', 'placeholder_day15']
    >>> unused_placeholders(np.ones((13, 32)))  # one date a day: only the 15ths (12 days) tell
    ['placeholder_day15']
    """
    out = []
    for status, (days, around) in _PLACEHOLDER_DAYS.items():
        seen = sum(float(month_day[m, d]) for m, d in days)
        expected = sum(float(month_day[m, d]) for m, d in around) * len(days) / len(around)
        if expected >= min_expected and seen <= 2 * expected:
            out.append(status)
    return out


def month_day_counts(records: pd.DataFrame, *, date_column: str = "tanggal_lahir",
                     source_column: str = "source") -> dict[str, np.ndarray]:
    """Per source, its records' birth dates counted by month and day ((13, 32) ``int64``,
    whatever their status): what :func:`unused_placeholders` judges a source's placeholder
    days on. An update passes those of the stored records to
    :func:`~regsosek_link.standardise.standardise` (``placeholder_counts``), so that a
    batch is judged on its source's dates as a full run judges it, not on its own few.

    >>> recs = pd.DataFrame({"source": ["a", "a", "b", "a", "b"],
    ...                      "tanggal_lahir": ["1990-07-01", "1985-07-01", None, "2001-03-15", "Kh3x9-0a"]})
    >>> counts = month_day_counts(recs)
    >>> sorted(counts), int(counts["a"][7, 1]), int(counts["a"][3, 15]), int(counts["b"].sum())
    (['a', 'b'], 2, 1, 0)
    """
    out: dict[str, np.ndarray] = {}
    if date_column not in records.columns or source_column not in records.columns:
        return out
    cell = _month_day_cells(records[date_column])
    codes, names = pd.factorize(records[source_column].astype("string"), use_na_sentinel=True)
    for i, name in enumerate(names):
        counts = np.bincount(cell[codes == i], minlength=13 * 32).reshape(13, 32)
        counts[0, 0] = 0  # (no date)
        out[str(name)] = counts
    return out


def _month_day_cells(dates: pd.Series) -> np.ndarray:
    """``month * 32 + day`` of each ISO date (0: none, or not an ISO date, such as an encoded
    registry's), from its text."""
    iso = pa.array(dates.astype("string"), pa.string())
    iso = pc.if_else(pc.match_substring_regex(iso, r"^\d{4}-\d{2}-\d{2}$"), iso, None)
    month = pc.cast(pc.utf8_slice_codeunits(iso, 5, 7), pa.int64())
    day = pc.cast(pc.utf8_slice_codeunits(iso, 8, 10), pa.int64())
    cell = pc.add(pc.multiply(month, 32), day).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.where((cell >= 0) & (cell < 13 * 32), cell, 0)


def calibrate_placeholders(codes: np.ndarray, dates_u: pd.DataFrame, groups: np.ndarray,
                           prior: Sequence[np.ndarray | None] | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Take placeholder-looking dates as real where their group (a source) does not use that
    placeholder (:func:`unused_placeholders`).

    ``codes`` are the rows' codes into ``dates_u`` (as :func:`parse_date_distinct` gives it:
    ``tanggal_lahir``, ``status``, ``year``; -1 missing), ``groups`` each row's group code
    (-1: none, counted as a group of its own); ``prior``, by group code, month-day counts
    (:func:`month_day_counts`) of dates already judged that the group's are counted with
    (None: none). Returns new codes and distinct values: the rows whose placeholder is real
    get a code of their own past the given ones, at a copy of their date with status ``ok``,
    so the codes stay a key of the values.

    Examples
    --------
    >>> u = pd.DataFrame({"tanggal_lahir": ["1990-03-14", "1990-03-15", "1990-03-16", "1990-07-01"],
    ...                   "status": ["ok", "placeholder_day15", "ok", "placeholder_1jul"], "year": [1990] * 4})
    >>> codes = np.repeat([0, 1, 2, 3], [30, 30, 30, 300])
    >>> new, values = calibrate_placeholders(codes, u, np.zeros(len(codes), np.int64))
    >>> values["status"].take(new[[0, 30, 90]]).tolist()  # the 15th is as common as the 14th and 16th
    ['ok', 'ok', 'placeholder_1jul']
    """
    kinds = list(_PLACEHOLDER_DAYS)
    # per distinct date: which placeholder day it is on (-1: none)
    kind = pc.index_in(pa.array(dates_u["status"].astype("string"), pa.string()), value_set=pa.array(kinds))
    kind = kind.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    if not (kind >= 0).any():
        return codes, dates_u
    cell = _month_day_cells(dates_u["tanggal_lahir"])
    # rows per (group, distinct date) in one pass; groups are small codes (-1: none)
    n_d = len(dates_u)
    known = codes >= 0
    group_of = np.asarray(groups, np.int64)[known] + 1
    n_groups = int(group_of.max(initial=0)) + 1
    per_date = np.bincount(group_of * n_d + codes[known], minlength=n_groups * n_d).reshape(-1, n_d)
    # per group and distinct date: a placeholder day its group does not use
    real_tab = np.zeros((n_groups, n_d), bool)
    for g in range(n_groups):
        month_day = np.bincount(cell, weights=per_date[g], minlength=13 * 32).reshape(13, 32)
        before = prior[g - 1] if prior is not None and 0 < g <= len(prior) else None
        if before is not None:
            month_day = month_day + before
        unused = [kinds.index(k) for k in unused_placeholders(month_day)]
        if unused:
            real_tab[g] = np.isin(kind, unused)
    if not real_tab.any():
        return codes, dates_u
    real = np.zeros(len(codes), bool)
    real[known] = real_tab[group_of, codes[known]]
    # a copy, with status ok, of each distinct date some group holds as a real birthday
    copied = np.flatnonzero(real_tab.any(axis=0))
    rank = np.zeros(n_d, np.int64)
    rank[copied] = np.arange(len(copied))
    copies = dates_u.iloc[copied].reset_index(drop=True)
    copies["status"] = pd.Series("ok", index=copies.index, dtype=dates_u["status"].dtype)
    codes = codes.copy()
    codes[real] = n_d + rank[codes[real]]
    return codes, pd.concat([dates_u, copies], ignore_index=True)
