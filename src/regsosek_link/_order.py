"""The canonical order of records: sources by name, then record IDs within each source.

A run must give the same result whatever the order of the rows within each source and of
the sources themselves. Wherever an order of records reaches a result -- a random sample of
record pairs, a tie between equally strong links, equally good golden values, the record
that anchors a person ID -- the stages use this order instead of row positions. Record IDs
are unique within their source, so the order is total and depends on the records only.

Strings are sorted by Arrow (UTF-8 bytes, the order in which Python compares ``str``);
each source's IDs are sorted apart, and IDs already in order (as exports often are) cost
one comparison pass instead of a sort.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import _codes

__all__ = ["argsort_strings", "arrow_str", "rank_strings", "record_id_arrow", "record_order", "record_rank"]


def arrow_str(values: pd.Series) -> pa.Array:
    """``values.astype(str)`` as an Arrow string array (a string column is converted
    without a Python string per row; missing values read ``"<NA>"`` as with ``astype``)."""
    if isinstance(values.dtype, pd.StringDtype):
        arr = pa.array(values.array)
    else:
        arr = pa.array(values.astype(str).to_numpy(dtype=object), type=pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.fill_null(arr.cast(pa.large_string()), "<NA>")


def argsort_strings(values: np.ndarray | pa.Array) -> np.ndarray:
    """Stable argsort of strings (object array of ``str`` or Arrow strings), in code point
    order as Python compares them (Arrow sorts UTF-8 bytes: the same order, ~2x faster than
    numpy's StringDType); O(n) for strings already in order.

    >>> argsort_strings(np.array(["b", "a", "b", "Z"], dtype=object)).tolist()
    [3, 1, 0, 2]
    """
    if not isinstance(values, pa.Array):
        values = pa.array(np.asarray(values, dtype=object), type=pa.large_string())
    if len(values) > 1 and pc.all(pc.less_equal(values[:-1], values[1:]), skip_nulls=False).as_py() is True:
        return np.arange(len(values), dtype=np.int64)
    return pc.sort_indices(values).to_numpy().astype(np.int64)


def rank_strings(values: np.ndarray | pa.Array) -> np.ndarray:
    """Position of each string in the stable sort of ``values`` (see :func:`argsort_strings`).

    >>> rank_strings(np.array(["b", "a", "c"], dtype=object)).tolist()
    [1, 0, 2]
    """
    rank = np.empty(len(values), np.int64)
    rank[argsort_strings(values)] = np.arange(len(values))
    return rank


#: The kind under which ingest leaves the record IDs' Arrow dictionary encoding for
#: :func:`record_id_arrow` (:func:`regsosek_link._codes.leave`).
RECORD_ID_ENCODING = "record_id_encoding"


def record_id_arrow(records: pd.DataFrame) -> pa.Array:
    """:func:`arrow_str` of ``records["record_id"]``, once per
    run (:class:`regsosek_link._codes.CodeBook`): gathered from the encoding ingest left for
    the column when it did (no Python string converted while the run blocks)."""
    return _codes.per_column(records, "record_id", "arrow", _record_id_arrow)


def _record_id_arrow(values: pd.Series) -> pa.Array:
    encoding = _codes.pick_up(values, RECORD_ID_ENCODING)
    if not isinstance(encoding, pa.DictionaryArray):  # (None: ingest left none)
        return arrow_str(values)
    return pc.fill_null(encoding.dictionary.take(encoding.indices).cast(pa.large_string()), "<NA>")


def record_rank(records: pd.DataFrame) -> np.ndarray:
    """Rank ``0 .. n-1`` of each record in the canonical order: by source name (the stripped
    ``source`` values as :func:`regsosek_link._codes.column_codes` reads them, records
    without a source first), then by ``record_id`` (as ``str``) within the source.

    The rank depends on the records, not on their row order or the order of the sources.
    Without a ``record_id`` column it is the row position; without a ``source`` column all
    records are of one source. Computed once per run's code book
    scope; read-only.

    >>> recs = pd.DataFrame({"source": ["siak", "dtks", "siak", "dtks"], "record_id": ["2", "9", "1", "10"]})
    >>> record_rank(recs).tolist()
    [3, 1, 2, 0]
    >>> record_rank(recs.iloc[::-1]).tolist()
    [0, 2, 1, 3]
    """
    if "record_id" not in records.columns:
        return np.arange(len(records), dtype=np.int64)
    # cached with the record IDs' entry; the source column it was made with is checked
    source = records["source"].array if "source" in records.columns else None
    made_with, rank = _codes.per_column(records, "record_id", "record_rank",
                                        lambda _: (source, _record_rank(records)))
    return rank if made_with is source else _record_rank(records)


def record_order(records: pd.DataFrame) -> np.ndarray:
    """The rows of ``records`` in the canonical order (the inverse of :func:`record_rank`).

    >>> recs = pd.DataFrame({"source": ["siak", "dtks", "siak"], "record_id": ["2", "9", "1"]})
    >>> record_order(recs).tolist()
    [1, 2, 0]
    """
    rank = record_rank(records)
    order = np.empty(len(rank), np.int64)
    order[rank] = np.arange(len(rank), dtype=np.int64)
    return order


def _record_rank(records: pd.DataFrame) -> np.ndarray:
    """:func:`record_rank`, computed: the rows grouped by source in name order (a stable
    radix sort of the few source ranks), then each source's record IDs sorted apart."""
    n = len(records)
    if "source" in records.columns:
        scode, names = _codes.column_codes(records, "source")
        by_name = argsort_strings(np.asarray(names, dtype=object))
        srank = np.empty(len(names) + 1, np.int64)
        srank[by_name] = np.arange(1, len(names) + 1)
        srank[-1] = 0  # (code -1: no source)
        src = srank[scode]
    else:
        src = np.zeros(n, np.int64)
    small = np.uint8 if src.max(initial=0) < 1 << 8 else np.uint16 if src.max(initial=0) < 1 << 16 else np.int64
    grouped = np.argsort(src.astype(small), kind="stable")  # rows by source, ascending within
    bounds = np.r_[0, np.cumsum(np.bincount(src, minlength=int(src.max(initial=0)) + 1))]
    ids = record_id_arrow(records)
    order = np.empty(n, np.int64)
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        if hi - lo < 2:
            order[lo:hi] = grouped[lo:hi]
            continue
        rows = grouped[lo:hi]
        # a source's rows are usually one run of the records (sources are concatenated)
        if rows[-1] - rows[0] == hi - lo - 1:
            part = ids.slice(int(rows[0]), hi - lo)
        else:
            part = ids.take(pa.array(rows))
        order[lo:hi] = rows[argsort_strings(part)]
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n, dtype=np.int64)
    return rank
