"""NIK and KK numbers: structural cleaning and validation (see DOMAIN.md, "NIK")."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa

from .._arrays import NONE
from ._common import (
    STRING,
    civil_dates,
    expand,
    factorize,
    fixed_width_bytes,
    iso_strings,
    to_arrow,
)
from ._regions import province_codes

#: Reference year for century resolution when no birth date is known.
REFERENCE_YEAR = 2026

NIK_STATUSES: tuple[str, ...] = (
    "ok", "missing", "sentinel", "dummy", "excel_damaged", "non_digit",
    "wrong_length", "bad_region", "bad_date", "zero_serial",
)

_EXCEL = r"^[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+$"
_FLOAT_EXACT = str(2**53)  # 16 digits: from here on not every integer is a float64
_REPEATED = "|".join(f"{d}+" for d in range(10))
_DUMMIES = {"1234567890123456", "0123456789012345", "6543210987654321", "1234567812345678"}


def _years_from(birth_date: pd.Series | None, index: pd.Index) -> pd.Series:
    if birth_date is None:
        return pd.Series(np.nan, index=index)
    bd = birth_date
    if not pd.api.types.is_datetime64_any_dtype(bd.dtype):
        codes, u = factorize(bd)
        years = pd.to_numeric(u.str.extract(r"^(\d{4})", expand=False), errors="coerce")
        years = years.to_numpy(dtype="float64", na_value=np.nan)[codes]
        return pd.Series(years, index=bd.index).reindex(index)
    return bd.dt.year.astype("float64").reindex(index)


def clean_nik(
    values: pd.Series,
    *,
    kind: Literal["nik", "kk"] = "nik",
    birth_date: pd.Series | None = None,
) -> pd.DataFrame:
    """Clean and structurally validate NIK (or KK) numbers.

    Parameters
    ----------
    values : pandas.Series
        Raw values, read as strings (never through a float).
    kind : {"nik", "kk"}, default "nik"
        ``"kk"`` validates a family-card number: no +40 rule for women, the date part is
        a registration date, and only ``nik`` and ``status`` are returned.
    birth_date : pandas.Series, optional
        Recorded dates of birth (ISO strings or datetimes), aligned on ``values``'s index.
        Used to resolve the century of the NIK's two-digit year: the century that puts the
        NIK year closest to the recorded year wins. Without it, the most recent century
        that is not after 2026.

    Returns
    -------
    pandas.DataFrame
        Same index. ``nik``: the digits (spaces, dots, dashes, a leading apostrophe, a ``.0``
        left by a float below 2^53 removed; from 2^53 on such a value is ``excel_damaged``),
        <NA> when missing, sentinel, dummy or Excel-damaged; kept for ``wrong_length`` (a
        15-digit NIK is still evidence) and, as cleaned text, for ``non_digit``.
        ``status``: first failed check, one of ``ok, missing, sentinel, dummy,
        excel_damaged, non_digit, wrong_length, bad_region, bad_date, zero_serial``.
        For ``kind="nik"`` also ``birth_date`` (ISO), ``sex`` (``L``/``P``, day > 40 means
        ``P``) and ``region`` (6-digit kecamatan prefix), each filled whenever that part of
        the NIK is itself valid (so a NIK with a zero serial still yields its date).

    Examples
    --------
    >>> import pandas as pd
    >>> out = clean_nik(pd.Series(["'3375 0145 0890 0002", "3.37501E+15", "9999999999999994"]))
    >>> out[["nik", "status", "birth_date", "sex", "region"]].values.tolist()
    [['3375014508900002', 'ok', '1990-08-05', 'P', '337501'], [<NA>, 'excel_damaged', <NA>, <NA>, <NA>], [<NA>, 'sentinel', <NA>, <NA>, <NA>]]
    """
    if kind not in ("nik", "kk"):
        raise ValueError(f"The 'kind' parameter of clean_nik must be 'nik' or 'kk'. Got {kind!r} instead.")
    codes, u = factorize(values)
    index = values.index if isinstance(values, pd.Series) else pd.RangeIndex(len(codes))
    years = None
    if kind == "nik" and birth_date is not None:
        years = _years_from(birth_date, index).to_numpy()
    return clean_nik_codes(codes, u, index, kind=kind, years=years)


def clean_nik_codes(
    codes: np.ndarray,
    u: pd.Series,
    index: pd.Index,
    *,
    kind: Literal["nik", "kk"] = "nik",
    years: np.ndarray | None = None,
) -> pd.DataFrame:
    """:func:`clean_nik` of ``u.take(codes)`` (distinct values and codes, see ``factorize``).

    ``years`` (float, NaN when unknown) is each row's recorded year of birth. The work is
    done once per distinct (value, year) pair.
    """
    if years is not None and len(codes):
        yc, yu = pd.factorize(years, use_na_sentinel=False)
        pair, pu = pd.factorize(codes.astype(np.int64) * (len(yu) + 1) + yc)
        vals = u.take(pu // (len(yu) + 1)).reset_index(drop=True)
        rec = np.asarray(yu, dtype="float64")[pu % (len(yu) + 1)]
    else:
        pair, vals, rec = codes, u.reset_index(drop=True), None
    res = _clean_distinct(vals, kind, rec)
    return expand(res, pair, index)


_STATUS_OBJ = np.array(NIK_STATUSES, dtype=object)
_ST = {name: k for k, name in enumerate(NIK_STATUSES)}
#: statuses whose value is not kept in ``nik``
_DROPPED = np.isin(NIK_STATUSES, ["missing", "sentinel", "dummy", "excel_damaged"])
_POW10 = 10 ** np.arange(15, -1, -1, dtype=np.int64)
_DUMMY_INTS = np.array(sorted(int(d) for d in _DUMMIES), dtype=np.int64)
_REPDIGIT = 1111111111111111  # d * this: 16 times the digit d
_SENTINEL_HEAD = 9999999999999  # 13 leading nines
_SEX = np.array(["L", "P"], dtype=object)


@lru_cache(maxsize=1)
def _nik_days() -> tuple[np.ndarray, np.ndarray]:
    """Every (year 1900-2099, month 1-12, day 1-31) slot: is it a real date, and its ISO text.

    Slot ``(year - 1900) * 372 + (month - 1) * 31 + (day - 1)``; ISO is None when not real.
    """
    y, m, d = (a.ravel() for a in np.meshgrid(np.arange(1900, 2100), np.arange(1, 13), np.arange(1, 32),
                                              indexing="ij"))
    real, dates = civil_dates(y, m, d)
    iso = iso_strings(dates)
    iso[~real] = None
    return real, iso


def _sixteen_digits(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Which values are exactly 16 ASCII digits, and their digits (uint8 rows, 0-9)."""
    rows, mat = fixed_width_bytes(arr, 16)
    mat = mat - 48  # wraps below "0"
    digits = (mat <= 9).all(axis=1)
    fast = np.zeros(len(arr), dtype=bool)
    fast[rows[digits]] = True
    return fast, mat[digits]


def _clean_distinct(values: pd.Series, kind: str, recorded_years: np.ndarray | None) -> pd.DataFrame:
    idx = values.index
    n = len(values)
    # (fullmatch patterns with "|" are grouped: pandas < 2.2.2 anchored only the last branch
    # on pyarrow strings)
    # Most values are 16 plain digits: their checks are done on a digit matrix read from the
    # Arrow buffers; the rest go through the regular expressions (pyarrow-backed strings:
    # RE2 kernels). Statuses are small integer codes until the end.
    fast, fm = _sixteen_digits(to_arrow(values))
    digits = values.to_numpy(dtype=object, na_value=None).copy()
    status = np.zeros(n, dtype=np.int8)  # "ok"
    todo = np.ones(n, dtype=bool)

    def assign(mask: np.ndarray, name: str) -> None:
        nonlocal todo
        m = mask & todo
        status[m] = _ST[name]
        todo = todo & ~m

    mat = np.zeros((n, 16), dtype=np.uint8)  # digits of the 16-digit candidates, else zeros
    mat[fast] = fm
    slow = np.flatnonzero(~fast)
    if len(slow):
        s = values.iloc[slow].astype("string[pyarrow]")
        nik = s.str.replace(r"^'+", "", regex=True).str.strip()
        missing = nik.isna().to_numpy() | nik.str.fullmatch(r"(?:[-_.\s]*|(?i:null|none|nan|n/?a|-+))").fillna(True).to_numpy()
        # a number written through a float (``3375014508900002.0``, as pandas writes a float
        # column): the digits before ``.0`` are the NIK below 2^53, where a float64 holds
        # every integer; from 2^53 on the last digit may already be rounded
        # (one or two zeros: a dot before four digits is a separator, 3201.0101.0101.0001)
        through_float = nik.str.fullmatch(r"\d{10,16}\.00?").fillna(False).to_numpy()
        nik = nik.str.replace(r"^(\d{10,16})\.00?$", r"\1", regex=True)
        digits16 = nik.fillna("").to_numpy(dtype=object)
        rounded = through_float & (nik.str.len().fillna(0).to_numpy() == 16) & (digits16 >= _FLOAT_EXACT)
        excel = (nik.str.contains(_EXCEL, regex=True).fillna(False).to_numpy() | rounded) & ~missing
        d = nik.str.replace(r"[\s.\-_/]", "", regex=True)
        is_digit = d.str.fullmatch(r"\d+").fillna(False).to_numpy()
        length = d.str.len().fillna(0).to_numpy()
        sentinel = d.str.fullmatch(r"9{13,14}\d{2,3}").fillna(False).to_numpy() & (length == 16)
        dummy = (
            d.str.fullmatch(f"(?:{_REPEATED})").fillna(False).to_numpy()
            | d.isin(_DUMMIES).to_numpy()
            | (nik.str.fullmatch(r"(?:-+|0)").fillna(False).to_numpy())
        ) & ~sentinel & ~missing
        digits[slow] = d.to_numpy(dtype=object, na_value=None)
        for mask, name in ((missing, "missing"), (excel, "excel_damaged"), (sentinel, "sentinel"),
                           (dummy, "dummy"), (~is_digit, "non_digit"), (length != 16, "wrong_length")):
            full = np.zeros(n, dtype=bool)
            full[slow] = mask
            assign(full, name)
        rest = slow[todo[slow]]  # cleaned to 16 ASCII digits (RE2's \d)
        if len(rest):
            mat[rest] = np.frombuffer("".join(digits[rest]).encode("ascii"), dtype=np.uint8).reshape(-1, 16) - 48
    if len(fm):
        value = fm.astype(np.int64) @ _POW10
        sen = value // 1000 == _SENTINEL_HEAD
        full = np.zeros(n, dtype=bool)
        full[fast] = sen
        assign(full, "sentinel")
        full[fast] = ((value % _REPDIGIT == 0) | np.isin(value, _DUMMY_INTS)) & ~sen
        assign(full, "dummy")

    # structural checks on the remaining 16-digit candidates
    cand = todo.copy()
    m32 = mat.astype(np.int32)

    def num(a: int, b: int) -> np.ndarray:
        out = m32[:, a].copy()
        for k in range(a + 1, b):
            out = out * 10 + m32[:, k]
        return out

    prov = num(0, 2)
    kab = num(2, 4)
    day_raw = num(6, 8)
    month = num(8, 10)
    yy = num(10, 12)
    serial = num(12, 16)
    provinces = np.zeros(100, dtype=bool)
    provinces[[int(p) for p in province_codes()]] = True
    prov_ok = provinces[prov]
    kab_ok = ((kab >= 1) & (kab <= 69)) | ((kab >= 71) & (kab <= 99))
    region_ok = prov_ok & kab_ok
    if kind == "nik":
        female = (day_raw >= 41) & (day_raw <= 71)
        day = np.where(female, day_raw - 40, day_raw)
    else:
        female = np.zeros(n, dtype=bool)
        day = day_raw
    day_ok = (day >= 1) & (day <= 31)
    month_ok = (month >= 1) & (month <= 12)

    # century
    recorded = np.full(n, np.nan) if recorded_years is None else recorded_years
    y2000 = 2000 + yy
    y1900 = 1900 + yy
    default = np.where(y2000 <= REFERENCE_YEAR, y2000, y1900)
    closer = np.where(np.abs(y2000 - recorded) < np.abs(y1900 - recorded), y2000, y1900)
    year = np.where(np.isnan(recorded), default, closer).astype(np.int64)
    dm_ok = day_ok & month_ok
    real, iso = _nik_days()
    slot = np.where(dm_ok, (year - 1900) * 372 + (month - 1) * 31 + (day - 1), 0)
    date_ok = dm_ok & real[slot]

    assign(cand & ~region_ok, "bad_region")
    assign(cand & ~date_ok, "bad_date")
    assign(cand & (serial == 0), "zero_serial")

    # a non-digit value is kept as its cleaned text, which is what ``digits`` holds
    digits[_DROPPED[status]] = None
    out = pd.DataFrame({"nik": pd.Series(digits, index=idx, dtype=STRING),
                        "status": pd.Series(_STATUS_OBJ[status], index=idx, dtype=STRING)}, index=idx)
    if kind == "kk":
        return out
    out["birth_date"] = pd.Series(np.where(cand & date_ok, iso[slot], NONE), index=idx, dtype=STRING)
    out["sex"] = pd.Series(np.where(cand & (day_ok | female), _SEX[female.astype(np.intp)], NONE), index=idx,
                           dtype=STRING)
    # the 6-digit prefix, written once per distinct prefix (a few thousand; shared objects)
    keep = cand & region_ok
    prefix = num(0, 6)[keep]
    seen = np.zeros(10**6, dtype=bool)
    seen[prefix] = True
    prefixes = np.flatnonzero(seen)
    region = np.full(n, None, dtype=object)
    region[keep] = np.array([f"{p:06d}" for p in prefixes.tolist()], dtype=object)[(np.cumsum(seen) - 1)[prefix]]
    out["region"] = pd.Series(region, index=idx, dtype=STRING)
    return out
