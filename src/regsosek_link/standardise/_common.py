"""Small helpers shared by the standardise cleaners (private)."""

from __future__ import annotations

import pandas as pd

STRING = "string"


def as_string(values: pd.Series | None, *, index: pd.Index | None = None) -> pd.Series:
    """Return ``values`` as a stripped ``string`` Series, empty strings as <NA>.

    Never goes through a float: object and string inputs are converted element-wise
    by ``astype("string")``. Numeric inputs are converted as they are (the caller
    should not have let pandas infer them).
    """
    if values is None:
        return pd.Series(pd.NA, index=index, dtype=STRING)
    if not isinstance(values, pd.Series):
        values = pd.Series(values, index=index)
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(
        values.dtype
    ):
        s = values.dt.strftime("%Y-%m-%d").astype(STRING)
    else:
        s = values.astype(STRING)
    s = s.str.strip()
    return s.mask(s == "", pd.NA)


def ascii_upper(s: pd.Series) -> pd.Series:
    """Upper-case and fold unicode to ASCII (accents removed, other symbols dropped)."""
    out = (
        s.str.normalize("NFKD")
        .str.encode("ascii", errors="ignore")
        .str.decode("ascii")
        .astype(STRING)
    )
    return out.str.upper()


def collapse_spaces(s: pd.Series) -> pd.Series:
    """Collapse runs of whitespace to one space and strip; empty -> <NA>."""
    s = s.str.replace(r"\s+", " ", regex=True).str.strip()
    return s.mask(s == "", pd.NA)


def map_distinct(s: pd.Series, func) -> pd.Series:  # type: ignore[no-untyped-def]
    """Apply a vectorised ``func`` (Series -> Series or DataFrame) to distinct values only.

    The result is re-expanded to ``s``'s index; <NA> inputs are passed through ``func`` once.
    """
    codes, uniques = pd.factorize(s, use_na_sentinel=False)
    u = pd.Series(uniques, dtype=s.dtype)
    res = func(u)
    out = res.take(codes)
    out.index = s.index
    return out
