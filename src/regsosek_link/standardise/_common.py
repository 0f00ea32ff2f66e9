"""Small helpers shared by the standardise cleaners (private)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from regsosek_link._codes import leave, pick_up

STRING = "string"

# per_column kind under which a column's dictionary encoding is handed over to factorize
_HANDED_OVER = "dictionary"


def _to_string(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.dt.strftime("%Y-%m-%d").astype(STRING)
    if values.dtype == STRING:
        return values
    return values.astype(STRING)


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
    s = _to_string(values).str.strip()
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


def map_distinct(s: pd.Series, func: Callable[[pd.Series], pd.Series | pd.DataFrame]) -> pd.Series:
    """Apply a vectorised ``func`` (Series -> Series or DataFrame) to distinct values only.

    ``func`` sees the distinct values of ``as_string(s)`` (a ``string`` Series with a
    RangeIndex; <NA> at most once), so ``s`` need not be converted first. The result is
    re-expanded to ``s``'s index.
    """
    codes, u = factorize(s)
    index = s.index if isinstance(s, pd.Series) else pd.RangeIndex(len(codes))
    return expand(func(u), codes, index)


def string_series(values: pa.Array | list | np.ndarray, index: pd.Index | None = None) -> pd.Series:
    """A ``string`` (python storage) Series from a pyarrow string array or a list/array (None -> <NA>)."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        arr = pd.StringDtype("python").__from_arrow__(values)
    else:
        arr = pd.array(np.asarray(values, dtype=object), dtype=STRING)
    return pd.Series(arr, index=index, dtype=STRING)


# lone surrogates: Python strings may hold them (API input, bytes decoded with
# errors="surrogateescape"), UTF-8 (pyarrow, Parquet, the store) cannot
_SURROGATE = re.compile("[\ud800-\udfff]")


def usable_text(value: str) -> str:
    """``value`` with NUL and lone surrogates written as U+FFFD.

    pandas' string hashing stops at a NUL (``pd.factorize`` takes ``"x\\x00y"`` and ``"x"``
    for one value) and no UTF-8 kernel can hold a lone surrogate; U+FFFD is the character
    Unicode keeps for a value that could not be represented.

    >>> usable_text("SITI\\x00 AMINAH"), usable_text("x\\ud800")
    ('SITI\ufffd AMINAH', 'x\ufffd')
    """
    return _SURROGATE.sub("\ufffd", value.replace("\x00", "\ufffd"))


def to_arrow(s: pd.Series) -> pa.Array:
    """A ``string`` Series as one pyarrow string array (<NA> -> null); lone surrogates,
    which UTF-8 cannot hold, are written as U+FFFD (:func:`usable_text`)."""
    try:
        return to_arrow_strict(s)
    except (pa.ArrowException, UnicodeError):
        values = s.astype(STRING).to_numpy(dtype=object, na_value=None)
        return pa.array([v if v is None or _is_utf8(v) else usable_text(v) for v in values.tolist()],
                        type=pa.string())


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def nul_rows(arr: pa.StringArray) -> np.ndarray:
    """Which values of ``arr`` hold a NUL character (null -> False).

    The UTF-8 data buffer is scanned for a zero byte first (a NUL is the only character
    whose encoding has one), so the rows are only looked for when there is one.
    """
    data = arr.buffers()[2]
    if data is None or not (np.frombuffer(data, dtype=np.uint8) == 0).any():
        return np.zeros(len(arr), dtype=bool)
    return pc.match_substring(arr, "\x00").fill_null(False).to_numpy(zero_copy_only=False)


# A value whose first or last UTF-8 byte is one of these may change under str.strip():
# ASCII whitespace, or any non-ASCII byte (those few values are checked in Python).
_EDGE = np.array([chr(b).isspace() or b >= 0x80 for b in range(256)], dtype=bool)


def strip_candidates(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Which values of a pyarrow string array may be blank or have blanks around them.

    Vectorised on the UTF-8 buffers: a value is a candidate when it is empty or its first or
    last byte is whitespace or non-ASCII; null is not. Every value ``str.strip()`` would
    change (or leave empty) is a candidate.
    """
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    return np.concatenate([_edges(c) for c in chunks]) if chunks else np.zeros(0, dtype=bool)


def _edges(arr: pa.StringArray) -> np.ndarray:
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    _, off_buf, data_buf = arr.buffers()
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, dtype=np.uint8)
    if not len(data):
        return valid
    offsets = np.frombuffer(off_buf, dtype=np.int32, count=len(arr) + 1, offset=4 * arr.offset)
    start, end = offsets[:-1], offsets[1:]
    # an empty value's first and last bytes are not its own, but it is a candidate anyway
    first = _EDGE.take(data.take(start, mode="clip"))
    last = _EDGE.take(data.take(end - 1, mode="clip"))
    return ((end <= start) | first | last) & valid


def hand_over(frame: pd.DataFrame, column: str, encoding: pa.DictionaryArray) -> None:
    """Let the first :func:`factorize` of ``frame[column]`` in this
    :func:`~regsosek_link._codes.shared_codes` scope start from ``encoding`` (the column's
    values, dictionary-encoded by pyarrow) instead of converting and hashing the column again.

    Ingest encodes every column it builds; the standardise stage factorizes them. The
    encoding is dropped once used (or with the scope); outside a scope this does nothing.
    """
    leave(frame, column, _HANDED_OVER, encoding)


def _handed_over(values: pd.Series) -> pa.DictionaryArray | None:
    """The encoding :func:`hand_over` gave for ``values``' array, taken out (once), or None."""
    return pick_up(values, _HANDED_OVER)


def factorize(values: pd.Series | None, *, index: pd.Index | None = None) -> tuple[np.ndarray, pd.Series]:
    """Distinct values of ``as_string(values)`` and codes into them.

    Returns ``(codes, uniques)``: ``uniques`` is a ``string`` Series (RangeIndex) of the
    distinct stripped values, empty strings as <NA> (at most once), NUL characters and lone
    surrogates written as U+FFFD (:func:`usable_text`: every later stage can hash and encode
    them), and ``as_string(values)`` so written equals ``uniques.take(codes)``. Hashing is
    done by pyarrow on the raw values and stripping once per distinct raw value, so a column
    of a million values costs a few tenths of a second; a column ingest has already encoded
    (see :func:`hand_over`) costs only its distinct values.
    """
    if values is None or not isinstance(values, pd.Series):
        values = as_string(values, index=index)
    enc = _handed_over(values)
    rewrite = False  # whether distinct raw values may become one
    if enc is None:
        s = _to_string(values)
        try:
            arr = to_arrow_strict(s)
        except (pa.ArrowException, UnicodeError):  # lone surrogates: distinct values compared in Python
            enc = _python_encoding(s)
            rewrite = True
        else:
            enc = pc.dictionary_encode(arr)
    ind = enc.indices
    ix = (ind.fill_null(-1) if ind.null_count else ind).to_numpy().astype(np.intp, copy=False)  # -1: missing
    raw_u = enc.dictionary.to_pylist()
    stripped = raw_u.copy()
    for j in np.flatnonzero(strip_candidates(enc.dictionary) | nul_rows(enc.dictionary)).tolist():
        stripped[j] = usable_text(raw_u[j]).strip() or None
    if not rewrite and stripped == raw_u:  # nothing to strip, nothing empty
        remap = np.arange(len(raw_u), dtype=np.intp)
        uniq: list = raw_u
    else:
        enc2 = pc.dictionary_encode(pa.array(stripped, type=pa.string()))
        remap = enc2.indices.fill_null(-1).to_numpy().astype(np.intp)
        uniq = enc2.dictionary.to_pylist()
    codes = np.append(remap, -1)[ix]
    if (codes < 0).any():
        codes[codes < 0] = len(uniq)
        uniq = uniq + [None]
    return codes, string_series(uniq)


def to_arrow_strict(s: pd.Series) -> pa.Array:
    """:func:`to_arrow` that raises on values UTF-8 cannot hold instead of rewriting them."""
    a = s.array
    if isinstance(a, pd.arrays.StringArray) and a.dtype.storage == "python":
        arr = pa.array(a._ndarray, type=pa.string(), from_pandas=True)
    else:
        arr = pa.array(s.astype(STRING).array)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _python_encoding(s: pd.Series) -> pa.DictionaryArray:
    """The dictionary encoding of a ``string`` Series that pyarrow cannot convert (lone
    surrogates): the distinct values found by Python comparison (``np.unique``; pandas'
    hashing takes strings differing only in surrogates for one), each made
    :func:`usable_text` (so two of them may become equal)."""
    values = s.astype(STRING).to_numpy(dtype=object, na_value=None)
    pos = np.flatnonzero(pd.notna(values))
    uniq, inverse = np.unique(values[pos], return_inverse=True)
    codes = np.full(len(values), -1, dtype=np.int64)
    codes[pos] = inverse.reshape(-1)
    dictionary = pa.array([usable_text(u) for u in uniq.tolist()], type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), dictionary)


def expand(res: pd.Series | pd.DataFrame, codes: np.ndarray, index: pd.Index):
    """Re-expand a per-distinct-value result (positional) to the rows of ``codes``."""
    out = res.take(codes)
    out.index = index
    return out


def ascii_upper_arrow(arr: pa.Array) -> pa.Array:
    """:func:`ascii_upper` on a pyarrow string array (pure ASCII values on the fast path)."""
    if len(arr) == 0 or pc.all(pc.string_is_ascii(arr)).as_py() in (True, None):
        return pc.ascii_upper(arr)
    return pa.array(
        [None if x is None else x.upper() if x.isascii()
         else unicodedata.normalize("NFKD", x).encode("ascii", "ignore").decode("ascii").upper()
         for x in arr.to_pylist()],
        type=pa.string(),
    )


_DAYS_IN_MONTH = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_NS_MIN = np.datetime64("1677-09-22", "D")  # pandas' nanosecond range, whole days
_NS_MAX = np.datetime64("2262-04-11", "D")


def civil_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which (year, month, day) are real dates, and those dates as ``datetime64[D]``.

    The same as ``pd.to_datetime(DataFrame(year=, month=, day=), errors="coerce")`` (a
    date outside pandas' nanosecond range is not valid), without the per-row parsing.
    """
    y = np.asarray(year, dtype=np.int64)
    m = np.asarray(month, dtype=np.int64)
    d = np.asarray(day, dtype=np.int64)
    month_ok = (m >= 1) & (m <= 12)
    mm = np.where(month_ok, m, 1)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dim = _DAYS_IN_MONTH[mm - 1] + ((mm == 2) & leap)
    ok = month_ok & (d >= 1) & (d <= dim) & (y >= 1677) & (y <= 2262)
    yy = np.where(ok, y, 1970)
    dates = (
        (yy - 1970).astype("datetime64[Y]").astype("datetime64[M]") + (np.where(ok, mm, 1) - 1)
    ).astype("datetime64[D]") + (np.where(ok, d, 1) - 1)
    ok &= (dates >= _NS_MIN) & (dates <= _NS_MAX)
    return ok, dates


def iso_strings(dates: np.ndarray) -> np.ndarray:
    """``datetime64[D]`` -> ``YYYY-MM-DD`` strings (object array)."""
    days, inverse = np.unique(dates.astype("datetime64[D]"), return_inverse=True)
    return np.datetime_as_string(days, unit="D").astype(object)[inverse.reshape(-1)]


# Regex kernels on pyarrow (RE2) for "plain" values: printable ASCII only, no control
# characters. On that alphabet RE2 and Python's re agree for the patterns used here (\s is
# a space, \d an ASCII digit, $ the end of the text); other values go through Python's re.
_NOT_PLAIN = r"[^\x20-\x7e]"
_GROUP = re.compile(r"(?<!\\)\((?!\?)")


def fixed_width_bytes(arr: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The values of a pyarrow string array that are exactly ``width`` bytes long, and their bytes.

    Returns ``(rows, mat)``: the positions of those values (nulls excluded) and a
    ``(len(rows), width)`` uint8 matrix of their UTF-8 bytes, read from the Arrow buffers.
    """
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    n = len(arr)
    _, off_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int32, count=n + 1, offset=4 * arr.offset) if n else np.zeros(1, np.int32)
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(valid & (np.diff(offsets) == width))
    if not len(rows):
        return rows, np.zeros((0, width), dtype=np.uint8)
    # every ``width``-byte window of the data (a read-only view), of which the values' are taken
    windows = np.lib.stride_tricks.sliding_window_view(np.frombuffer(data_buf, dtype=np.uint8), width)
    return rows, windows[offsets[rows]]


def _plain(arr: pa.Array) -> np.ndarray:
    return ~pc.match_substring_regex(arr, _NOT_PLAIN).fill_null(False).to_numpy(zero_copy_only=False)


def extract_rows(s: pd.Series, pattern: str) -> pd.DataFrame:
    """``s.str.extract(pattern).dropna()``: the rows where every group matched, in order."""
    arr = to_arrow(s)
    n_groups = re.compile(pattern).groups
    plain = _plain(arr)
    counter = iter(range(n_groups))
    named = _GROUP.sub(lambda _m: f"(?P<g{next(counter)}>", pattern)
    res = pc.extract_regex(arr, named)
    hit = (res.is_valid().to_numpy(zero_copy_only=False) & plain)
    cols = {k: res.field(k).to_numpy(zero_copy_only=False) for k in range(n_groups)}
    if not plain.all():
        slow_pos = np.flatnonzero(~plain)
        slow = s.iloc[slow_pos].str.extract(pattern)
        ok = slow.notna().all(axis=1).to_numpy()
        hit[slow_pos[ok]] = True
        for k in range(n_groups):
            cols[k] = cols[k].astype(object)
            cols[k][slow_pos[ok]] = slow[k].to_numpy(dtype=object)[ok]
    pos = np.flatnonzero(hit)
    return pd.DataFrame({k: pd.array(v[pos], dtype=STRING) for k, v in cols.items()}, index=s.index[pos])


def fullmatch_mask(s: pd.Series, pattern: str) -> np.ndarray:
    """``s.str.fullmatch(pattern)`` as a bool array, <NA> -> False."""
    return _match_mask(s, pattern, full=True)


def contains_mask(s: pd.Series, pattern: str) -> np.ndarray:
    """``s.str.contains(pattern)`` as a bool array, <NA> -> False."""
    return _match_mask(s, pattern, full=False)


def _match_mask(s: pd.Series, pattern: str, *, full: bool) -> np.ndarray:
    arr = to_arrow(s)
    plain = _plain(arr)
    pat = f"^(?:{pattern})$" if full else pattern
    out = pc.match_substring_regex(arr, pat).fill_null(False).to_numpy(zero_copy_only=False).copy()
    if not plain.all():
        rest = s.iloc[np.flatnonzero(~plain)]
        rx = rest.str.fullmatch(f"(?:{pattern})") if full else rest.str.contains(pattern, regex=True)
        out[~plain] = rx.fillna(False).to_numpy(dtype=bool)
    return out


def replace_re(s: pd.Series, pattern: str, repl: str) -> pd.Series:
    """``s.str.replace(pattern, repl, regex=True)`` (``repl`` without group references)."""
    arr = to_arrow(s)
    plain = _plain(arr)
    fast = pc.replace_substring_regex(arr, pattern, repl.replace("\\", "\\\\"))
    if plain.all():
        return string_series(fast, index=s.index)
    out = string_series(fast, index=s.index)
    rest = s.iloc[np.flatnonzero(~plain)]
    out.iloc[np.flatnonzero(~plain)] = rest.str.replace(pattern, repl, regex=True)
    return out
