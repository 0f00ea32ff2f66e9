"""Integer codes of record columns, computed once per run and shared by the stages.

Blocking, comparison, clustering and the registry all need "which rows hold the same value"
for the same standardised columns. Factorising a column of a million strings costs about
0.1-0.5 s, and the stages used to do it some two hundred times per run. A run therefore
owns a :class:`CodeBook` and hands it to every stage it calls (``codes=book``, a keyword of
each stage's public function): inside the stage, :func:`column_codes` computes each
column's codes once and keeps them in that book; a stage called without a book simply
computes.

A book holds each entry with a reference to the column's backing array and checks that
array's identity on every look-up, so a column of another frame never finds the entry of
one that happens to share its name or its ``id()``. Columns must not be modified in place
while a run holds its book (the stages never do: every stage builds new frames).

A stage that knows a column to be a function of some row codes (the standardise stage knows
its output columns are functions of its inputs' distinct values) can say so with
:func:`register_key`; that column's codes are then computed from one row per key code
instead of from all the rows; ingest hands its Arrow encodings to standardise the same way
(:func:`leave` / :func:`pick_up`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import operator
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import ParamSpec, TypeVar

import numpy as np
import pandas as pd

from ._arrays import NONE

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

#: The book of the stage call running in this context (set by :func:`using` for the
#: duration of one stage function; stages never read another stage's context).
_CACHE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("_REGSOSEK_CODES", default=None)


class CodeBook:
    """The column codes of one run, shared by the stages it calls (see the module doc).

    >>> book = CodeBook()
    >>> records = pd.DataFrame({"a": pd.array(["x", "y", "x"], dtype="string")})
    >>> with using(book):
    ...     first = column_codes(records, "a")
    >>> with using(book):
    ...     again = column_codes(records, "a")
    >>> first[0] is again[0], len(book)
    (True, 1)
    """

    def __init__(self) -> None:
        self._entries: dict = {}

    def __len__(self) -> int:
        return sum(1 for k in self._entries if k[0] != "lock")

    def release(self, records: pd.DataFrame, keep: Iterable[str]) -> None:
        """Drop what the book holds for the columns of ``records`` not in ``keep``."""
        with using(self):
            release(records, keep)


@contextlib.contextmanager
def using(book: CodeBook | None) -> Iterator[None]:
    """Within this block :func:`column_codes` keeps codes in ``book``. ``None``: keep the
    book of an enclosing stage call, if any (a stage calling another), else compute."""
    if book is None or _CACHE.get() is book._entries:
        yield
        return
    token = _CACHE.set(book._entries)
    try:
        yield
    finally:
        _CACHE.reset(token)


def with_codes(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a stage function within :func:`using` the book it is given as ``codes``.

    The function declares the keyword-only parameter ``codes: CodeBook | None = None``
    itself (so its signature, its type and its documentation show it); its body need not
    read it.
    """
    param = inspect.signature(fn).parameters.get("codes")
    if param is None or param.kind is not inspect.Parameter.KEYWORD_ONLY or param.default is not None:
        raise TypeError(f"{fn.__qualname__} must declare the keyword-only parameter `codes: CodeBook | None = None`")

    @functools.wraps(fn)
    def stage(*args: P.args, **kwargs: P.kwargs) -> R:
        book = kwargs.get("codes")
        if book is not None and not isinstance(book, CodeBook):
            raise TypeError(f"codes must be a CodeBook or None; got {type(book).__name__}")
        with using(book):
            return fn(*args, **kwargs)

    return stage


@contextlib.contextmanager
def local_book() -> Iterator[None]:
    """The book of the enclosing stage call, else a fresh one for this block (a stage that
    asks for the same column several times shares its codes even when called alone)."""
    if _CACHE.get() is not None:
        yield
        return
    with using(CodeBook()):
        yield


@contextlib.contextmanager
def shared_codes() -> Iterator[CodeBook]:
    """A fresh :class:`CodeBook` in use for the block (for code outside a run that calls
    several stage helpers directly; a run passes its book to each stage instead)."""
    book = CodeBook()
    with using(book):
        yield book


def _object_values(values: pd.Series | np.ndarray) -> np.ndarray:
    """The values as an object ndarray without a copy where possible (a python-backed
    ``string`` column's own array: ``pd.NA`` counts as missing when factorising)."""
    array = values.array if isinstance(values, pd.Series) else values
    if isinstance(array, pd.arrays.StringArray):
        return array._ndarray
    return np.asarray(array, dtype=object)


def factorize_strings(values: pd.Series | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes (``int64``, ``-1`` for missing or blank after stripping) and the distinct
    stripped values (object array of ``str``), in order of first appearance.

    An integer column is factorised on its integers (no object array of a million
    numbers); its distinct values come back as ``str`` like any other column's.

    >>> c, u = factorize_strings(pd.Series(["a", " a", None, "", "b"], dtype="string"))
    >>> c.tolist(), u.tolist()
    ([0, 0, -1, -1, 1], ['a', 'b'])
    >>> c, u = factorize_strings(pd.Series([1980, None, 1980, 7], dtype="Int16"))
    >>> c.tolist(), u.tolist()
    ([0, -1, 0, 1], ['1980', '7'])
    """
    if pd.api.types.is_integer_dtype(getattr(values, "dtype", None)):
        codes, uniques = pd.factorize(values, sort=False)
        labels = np.empty(len(uniques), dtype=object)
        labels[:] = [str(v) for v in uniques.tolist()]
        return np.asarray(codes, dtype=np.int64), labels
    codes, uniques = pd.factorize(_object_values(values), sort=False)
    codes = np.asarray(codes, dtype=np.int64)
    # stripping and blanks are handled on the distinct values, not per row; str.strip
    # returns the same object when there is nothing to strip, so "is" finds the changes
    # (C-level map loops when every value is a str, as in a string column)
    try:
        stripped = list(map(str.strip, uniques))
    except TypeError:
        stripped = [u.strip() if type(u) is str else str(u).strip() for u in uniques]
    if not any(map(operator.is_not, stripped, uniques)) and "" not in stripped:
        return codes, np.asarray(uniques, dtype=object)
    u = np.empty(len(stripped), dtype=object)
    u[:] = stripped
    ucodes, u2 = pd.factorize(np.where(u == "", NONE, u), sort=False, use_na_sentinel=True)
    codes = np.where(codes >= 0, np.r_[ucodes, -1][codes], -1)
    return codes, np.asarray(u2, dtype=object)


KeyCodes = tuple[np.ndarray, int]


def _compact(codes: np.ndarray, n_keys: int) -> KeyCodes:
    """Key codes as ``int32`` where they fit."""
    return (codes.astype(np.int32, copy=False) if n_keys <= np.iinfo(np.int32).max else codes), n_keys


def exact_key(values: pd.Series) -> KeyCodes:
    """A key (see :func:`register_key`) of each row's exact value: equal values, and only
    those, share a code; missing values share code 0.

    >>> exact_key(pd.Series(["b", " b", None, "b"], dtype="string"))[0].tolist()
    [1, 2, 0, 1]
    """
    codes, uniques = pd.factorize(_object_values(values), sort=False)
    return codes + 1, len(uniques) + 1


class Key:
    """Row codes that determine some columns' values (see :func:`register_key`).

    ``make`` is ``(codes, n_keys)`` (one code in ``0 .. n_keys - 1`` per row; rows with the
    same code hold the same value), or a function returning them when first needed. Codes
    are kept as ``int32``: a key is held until the columns that need it are asked for.
    """

    codes: np.ndarray
    n_keys: int

    def __init__(self, make: KeyCodes | Callable[[], KeyCodes]) -> None:
        self._make = make if callable(make) else None
        self.codes, self.n_keys = (np.zeros(0, dtype=np.int32), 0) if callable(make) else _compact(*make)
        self._rows: np.ndarray | None = None
        self._lock = threading.Lock()  # columns sharing a key may be asked for from two threads

    def get(self) -> tuple[np.ndarray, int, np.ndarray]:
        """``(codes, n_keys, rows)``: ``rows`` holds the first row of each code, ascending."""
        with self._lock:
            return self._get()

    def _get(self) -> tuple[np.ndarray, int, np.ndarray]:
        if self._rows is None:
            if self._make is not None:
                self.codes, self.n_keys = _compact(*self._make())
                self._make = None
            n = len(self.codes)
            first = np.full(self.n_keys, n, dtype=np.int64)
            np.minimum.at(first, self.codes, np.arange(n, dtype=np.int64))
            is_first = np.zeros(n + 1, dtype=bool)
            is_first[first] = True
            rows = np.flatnonzero(is_first[:n])
            self._rows = rows.astype(np.int32) if n <= np.iinfo(np.int32).max else rows
        return self.codes, self.n_keys, self._rows


def register_key(records: pd.DataFrame, columns: list[str], key: Key) -> None:
    """Declare each of ``records[columns]`` a function of the row codes of ``key``.

    Within a stage call that has a book, :func:`column_codes` of such a column then
    factorises one row per code and expands the result, instead of hashing every row: the
    same codes and distinct values, for less work when codes are fewer than rows. Without a
    book this does nothing. The codes must not be modified afterwards.

    >>> records = pd.DataFrame({"a": pd.array([" x", "y", None, "x"], dtype="string")})
    >>> with shared_codes():
    ...     register_key(records, ["a"], Key((np.array([0, 1, 2, 0]), 3)))
    ...     c, u = column_codes(records, "a")
    >>> c.tolist(), u.tolist()
    ([0, 1, -1, 0], ['x', 'y'])
    """
    for column in columns:
        leave(records, column, "key", key)


def leave(records: pd.DataFrame, column: str, kind: str, value: object) -> None:
    """Leave ``value`` for one later :func:`pick_up` of ``records[column]`` under ``kind``
    (keyed by the column's backing array, like every entry). Outside a scope: nothing."""
    cache = _CACHE.get()
    if cache is not None:
        array = records[column].array
        cache[(kind, id(array), len(records))] = (array, value)


def pick_up(series: pd.Series, kind: str) -> object | None:
    """What :func:`leave` left for ``series``' backing array under ``kind``, taken out of
    the cache (so it is used once and then freed); None when nothing was left.

    >>> s = pd.Series(["a"], dtype="string")
    >>> with shared_codes():
    ...     leave(s.to_frame(), 0, "note", 42)
    ...     pick_up(s, "note"), pick_up(s, "note")
    (42, None)
    """
    cache = _CACHE.get()
    array = series.array
    hit = None if cache is None else cache.pop((kind, id(array), len(series)), None)
    return hit[1] if hit is not None and hit[0] is array else None


def release(records: pd.DataFrame, keep: Iterable[str]) -> None:
    """Drop what the book in use holds for the columns of ``records`` not in ``keep``
    (codes, sort orders, keys), so that later stages do not carry them: a column asked for
    again is simply computed again. Without a book: nothing.

    >>> records = pd.DataFrame({"a": ["x"], "b": ["y"]}, dtype="string")
    >>> with shared_codes():
    ...     _ = column_codes(records, "a"), column_codes(records, "b")
    ...     release(records, keep=["a"])
    ...     sorted(k[0] for k in _CACHE.get() if k[0] != "lock")
    ['codes']
    """
    cache = _CACHE.get()
    if cache is None:
        return
    kept = {c for c in keep if c in records.columns}
    drop = {(id(records[c].array), len(records)) for c in records.columns if c not in kept}
    drop -= {(id(records[c].array), len(records)) for c in kept}  # (columns sharing an array)
    # (list(cache) copies the keys in one step: another stage's thread may be adding to it)
    for key in [k for k in list(cache) if k[0] != "lock" and (k[1], k[2]) in drop]:
        cache.pop(key, None)


def _factorize_column(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`factorize_strings` of a column, through its registered key if it has one."""
    key = pick_up(series, "key")
    if not isinstance(key, Key):  # (None: nothing registered)
        return factorize_strings(series)
    array = series.array
    codes, n_keys, rows = key.get()
    # rows in ascending order hold every value's first appearance: same order of uniques
    sub, uniques = factorize_strings(pd.Series(array.take(rows), name=series.name))
    per_key = np.full(n_keys, -1, dtype=np.int64)
    per_key[codes[rows]] = sub
    return per_key[codes], uniques


def _cached(cache: dict, key: tuple, array: object) -> tuple | None:
    """The book's entry under ``key`` when it was made from this very ``array`` (an id can be
    reused once an array is freed), else None."""
    hit = cache.get(key)
    return hit if hit is not None and hit[0] is array else None


def per_column(records: pd.DataFrame, column: str, kind: str,
               compute: Callable[[pd.Series], T]) -> T:
    """``compute(records[column])``, once per :class:`CodeBook` for each ``kind``
    of derived value (codes, a sort order, ...). Arrays in the result are made read-only."""
    series = records[column]
    cache = _CACHE.get()
    if cache is None:
        return compute(series)
    array = series.array
    key = (kind, id(array), len(series))
    hit = _cached(cache, key, array)
    if hit is not None:
        return hit[1]
    # stages may ask from two threads at once (the pipeline prepares comparisons while it
    # blocks): the second waits for the first's result instead of computing it again
    with cache.setdefault(("lock", *key), threading.Lock()):  # (setdefault is atomic)
        hit = _cached(cache, key, array)
        if hit is not None:
            return hit[1]
        out = compute(series)
        for a in out if isinstance(out, tuple) else (out,):
            if isinstance(a, np.ndarray):
                a.flags.writeable = False
        cache[key] = (array, out)
    return out


def has_value(records: pd.DataFrame, column: str) -> bool:
    """Whether some record holds a value in ``column`` (not missing, not blank once
    stripped): ``len(column_codes(records, column)[1]) > 0`` without factorising the column
    when the book holds no codes of it yet (the first such value answers). The pipeline
    asks this of every compared and blocked column before those stages, which make the
    codes themselves, on two threads.

    >>> has_value(pd.DataFrame({"a": [None, " ", "x"], "b": [None, "  ", pd.NA]}), "a")
    True
    >>> has_value(pd.DataFrame({"b": pd.Series([None, "  ", pd.NA], dtype="string")}), "b")
    False
    """
    if column not in records.columns:
        return False
    series = records[column]
    cache = _CACHE.get()
    hit = None if cache is None else _cached(cache, ("codes", id(series.array), len(series)), series.array)
    if hit is not None:
        return len(hit[1][1]) > 0
    if pd.api.types.is_integer_dtype(series.dtype):
        return bool(series.notna().any())
    values = _object_values(series)
    for start in range(0, len(values), 4096):  # (usually the first values answer)
        chunk = values[start:start + 4096]
        for v in chunk[pd.notna(chunk)]:
            if (v if type(v) is str else str(v)).strip():
                return True
    return False


def column_codes(records: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`factorize_strings` of ``records[column]``, once per :class:`CodeBook`.

    The returned arrays are shared: treat them as read-only.
    """
    return per_column(records, column, "codes", _factorize_column)
