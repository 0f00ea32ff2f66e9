"""NIK and KK numbers: structural cleaning and validation (see DOMAIN.md, "NIK")."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from ._common import STRING, civil_dates, expand, factorize, iso_strings, to_arrow
from ._regions import province_codes

#: Reference year for century resolution when no birth date is known.
REFERENCE_YEAR = 2026

NIK_STATUSES: tuple[str, ...] = (
    "ok", "missing", "sentinel", "dummy", "excel_damaged", "non_digit",
    "wrong_length", "bad_region", "bad_date", "zero_serial",
)

_EXCEL = r"^[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+$"
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
        Same index. ``nik``: the digits (spaces, dots, dashes, a leading apostrophe removed),
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


def _clean_distinct(values: pd.Series, kind: str, recorded_years: np.ndarray | None) -> pd.DataFrame:
    idx = values.index
    n = len(values)
    status = np.empty(n, dtype=object)
    # Most values are 16 plain digits: their checks are done on a digit matrix; the rest go
    # through the regular expressions (pyarrow-backed strings: RE2 kernels).
    fast = pc.match_substring_regex(to_arrow(values), r"^[0-9]{16}$").fill_null(False).to_numpy(zero_copy_only=False)
    digits = values.to_numpy(dtype=object, na_value=None).copy()
    missing = np.zeros(n, dtype=bool)
    excel = np.zeros(n, dtype=bool)
    is_digit = fast.copy()
    length = np.where(fast, 16, 0)
    sentinel = np.zeros(n, dtype=bool)
    dummy = np.zeros(n, dtype=bool)
    slow = np.flatnonzero(~fast)
    if len(slow):
        s = values.iloc[slow].astype("string[pyarrow]")
        nik = s.str.replace(r"^'+", "", regex=True).str.strip()
        m = nik.isna().to_numpy() | nik.str.fullmatch(r"[-_.\s]*|(?i:null|none|nan|n/?a|-+)").fillna(True).to_numpy()
        missing[slow] = m
        excel[slow] = nik.str.contains(_EXCEL, regex=True).fillna(False).to_numpy() & ~m
        d = nik.str.replace(r"[\s.\-_/]", "", regex=True)
        is_digit[slow] = d.str.fullmatch(r"\d+").fillna(False).to_numpy()
        ln = d.str.len().fillna(0).to_numpy()
        length[slow] = ln
        sen = d.str.fullmatch(r"9{13,14}\d{2,3}").fillna(False).to_numpy() & (ln == 16)
        sentinel[slow] = sen
        dummy[slow] = (
            d.str.fullmatch(_REPEATED).fillna(False).to_numpy()
            | d.isin(_DUMMIES).to_numpy()
            | (nik.str.fullmatch(r"-+|0").fillna(False).to_numpy())
        ) & ~sen & ~m
        digits[slow] = d.to_numpy(dtype=object, na_value=None)
    if fast.any():
        fd = digits[fast]
        fm = np.frombuffer("".join(fd).encode("ascii"), dtype=np.uint8).reshape(-1, 16)
        sen = (fm[:, :13] == 57).all(axis=1)  # 13 leading nines
        sentinel[fast] = sen
        dummy[fast] = ((fm == fm[:, :1]).all(axis=1) | np.isin(fd, list(_DUMMIES))) & ~sen

    status[:] = "ok"
    todo = np.ones(n, dtype=bool)

    def assign(mask: np.ndarray, name: str) -> None:
        nonlocal todo
        m = mask & todo
        status[m] = name
        todo = todo & ~m

    assign(missing, "missing")
    assign(excel, "excel_damaged")
    assign(sentinel, "sentinel")
    assign(dummy, "dummy")
    assign(~is_digit, "non_digit")
    assign(length != 16, "wrong_length")

    # structural checks on the remaining 16-digit candidates
    cand = todo.copy()
    arr = np.where(cand, digits, "0000000000000000")
    mat = np.frombuffer("".join(arr).encode("ascii"), dtype=np.uint8).reshape(n, 16) - 48 if n else np.zeros((0, 16), dtype=np.uint8)
    mat = mat.astype(np.int32)

    def num(a: int, b: int) -> np.ndarray:
        out = np.zeros(n, dtype=np.int32)
        for k in range(a, b):
            out = out * 10 + mat[:, k]
        return out

    prov = num(0, 2)
    kab = num(2, 4)
    day_raw = num(6, 8)
    month = num(8, 10)
    yy = num(10, 12)
    serial = num(12, 16)
    prov_ok = np.isin(prov, np.array(sorted(int(p) for p in province_codes())))
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
    real, dates = civil_dates(np.where(dm_ok, year, 2000), np.where(dm_ok, month, 1), np.where(dm_ok, day, 1))
    date_ok = dm_ok & real

    assign(cand & ~region_ok, "bad_region")
    assign(cand & ~date_ok, "bad_date")
    assign(cand & (serial == 0), "zero_serial")

    drop = np.isin(status, ["missing", "sentinel", "dummy", "excel_damaged"])
    # a non-digit value is kept as its cleaned text, which is what ``digits`` holds
    nik_out = pd.Series(np.where(drop, None, digits), index=idx, dtype=STRING)
    out = pd.DataFrame({"nik": nik_out, "status": pd.Series(status, index=idx, dtype=STRING)}, index=idx)
    if kind == "kk":
        return out
    iso = pd.Series(iso_strings(dates), index=idx, dtype=STRING)
    out["birth_date"] = iso.where(pd.Series(cand & date_ok, index=idx), pd.NA).astype(STRING)
    sex = np.where(female, "P", "L")
    out["sex"] = pd.Series(sex, index=idx, dtype=STRING).where(
        pd.Series(cand & (day_ok | (kind == "nik") & female), index=idx), pd.NA
    ).astype(STRING)
    # the 6-digit prefix, written once per distinct prefix (a few thousand; shared objects)
    keep = cand & region_ok
    prefixes, which = np.unique(num(0, 6)[keep], return_inverse=True)
    region = np.full(n, None, dtype=object)
    region[keep] = np.array([f"{p:06d}" for p in prefixes.tolist()], dtype=object)[which.reshape(-1)]
    out["region"] = pd.Series(region, index=idx, dtype=STRING)
    return out
