"""Ingest stage: a source file or DataFrame + its column mapping -> raw records.

Raw records hold ``source``, every person-schema column (``string`` dtype, ``<NA>`` for
missing or blank) and the source's extra columns. Everything is read as text: IDs never pass
through a float. No row is dropped; a source that cannot be read whole raises a
:class:`~regsosek_link.errors.ConfigError` naming the source, the column or row, and the fix.

Each column is dictionary-encoded by pyarrow to strip it once per distinct value; within a
:func:`~regsosek_link._codes.shared_codes` scope (``Linker.run``) that encoding is handed to
the standardise stage (:func:`~regsosek_link.standardise._common.hand_over`), which would
otherwise convert and hash the same column again.
"""

from __future__ import annotations

import csv
import difflib
import logging
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._codes import with_codes
from ._threads import n_threads
from .config import LinkConfig, SourceConfig
from .errors import ConfigError, Problem
from .schema import PERSON_COLUMNS, RAW_COLUMNS
from .standardise._common import hand_over, strip_candidates

__all__ = ["read_source", "read_sources"]

log = logging.getLogger(__name__)

_ID_COLUMNS = ("nik", "no_kk", "record_id")


def _sniff_delimiter(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, newline="") as fh:
        sample = fh.read(65536)
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _read_file(src: SourceConfig) -> pd.DataFrame:
    assert src.path is not None
    path = Path(src.path)
    if not path.exists():
        raise ConfigError(Problem(source=src.name, where="path",
                                  message=f"file {str(path)!r} does not exist; check 'path' (relative paths are relative to the config file)"))
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() == ".gz" else path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as exc:
            raise ConfigError(Problem(source=src.name, where="path",
                                      message=f"file {str(path)!r} is not a readable Parquet file: {exc}")) from exc
        for fld in table.schema:
            target = src.columns.get(fld.name)
            if target in _ID_COLUMNS and pa.types.is_floating(fld.type):
                raise ConfigError(Problem(
                    source=src.name, where=fld.name,
                    message=f"column {fld.name!r} (mapped to {target}) is stored as {fld.type} in "
                    f"{str(path)!r}; IDs above 2^53 (e.g. every NIK starting 91-96) are corrupted in "
                    "a float. Write the column as string and export again.",
                ))
        frame = table.to_pandas()
        return frame.astype("string")
    if suffix in (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz"):
        try:
            delimiter = src.delimiter or ("\t" if suffix.startswith(".tsv") else _sniff_delimiter(path, src.encoding)
                                          if not suffix.endswith(".gz") else ",")
            return pd.read_csv(
                path, dtype=str, keep_default_na=False, na_values=[""], encoding=src.encoding,
                sep=delimiter,
            ).astype("string")
        except UnicodeDecodeError as exc:
            raise ConfigError(Problem(
                source=src.name, where="encoding",
                message=f"file {str(path)!r} is not valid {src.encoding} (byte {exc.start}: "
                f"{exc.object[exc.start:exc.start + 1]!r}); set 'encoding' for this source, e.g. "
                "encoding: latin-1 or cp1252 for files exported from older Excel",
            )) from exc
        except LookupError as exc:
            raise ConfigError(Problem(source=src.name, where="encoding",
                                      message=f"unknown encoding {src.encoding!r}; use e.g. utf-8, latin-1, cp1252")) from exc
        except pd.errors.ParserError as exc:
            raise ConfigError(Problem(source=src.name, where="path",
                                      message=f"file {str(path)!r} is malformed CSV: {exc}. Check quoting and the delimiter "
                                      "(set 'delimiter' for this source)")) from exc
        except pd.errors.EmptyDataError as exc:
            raise ConfigError(Problem(source=src.name, where="path",
                                      message=f"file {str(path)!r} is empty; a source needs a header and at least one row")) from exc
    raise ConfigError(Problem(source=src.name, where="path",
                              message=f"file {str(path)!r} has an unsupported type {suffix!r}; use .csv, .tsv, .csv.gz or .parquet"))


def _refuse_float_ids(frame: pd.DataFrame, src: SourceConfig) -> None:
    """Raise when a column mapped to an ID holds floats (their digits are already lost)."""
    for col in frame.columns:
        target = src.columns.get(col)
        if target in _ID_COLUMNS and pd.api.types.is_float_dtype(frame[col].dtype) and frame[col].notna().any():
            raise ConfigError(Problem(
                source=src.name, where=str(col),
                message=f"column {col!r} (mapped to {target}) has dtype {frame[col].dtype}; IDs held as floats lose digits "
                "(every NIK above 2^53). Read the file with dtype=str (pd.read_csv(..., dtype=str)).",
            ))


def _string_values(s: pd.Series) -> np.ndarray:
    """A column's values as text: object array of ``str`` and <NA> (``string`` dtype, python storage).

    Datetimes are written ``YYYY-MM-DD``; everything else is converted by ``astype``.
    """
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = s.dt.strftime("%Y-%m-%d")
    a = s.array
    if not (isinstance(a, pd.arrays.StringArray) and a.dtype.storage == "python"):
        a = s.astype(pd.StringDtype("python")).array
    return a._ndarray


def _nul_rows(arr: pa.StringArray) -> np.ndarray:
    """Which values of ``arr`` hold a NUL character (null -> False).

    The UTF-8 data buffer is scanned for a zero byte first (a NUL is the only character
    whose encoding has one), so the rows are only looked for when there is one.
    """
    data = arr.buffers()[2]
    if data is None or not (np.frombuffer(data, dtype=np.uint8) == 0).any():
        return np.zeros(len(arr), dtype=bool)
    return pc.match_substring(arr, "\x00").fill_null(False).to_numpy(zero_copy_only=False)


def _cleaned(distinct: list[str]) -> np.ndarray:
    """``distinct`` stripped, blank -> <NA>, NUL written as U+FFFD (object array)."""
    out = np.empty(len(distinct), dtype=object)
    out[:] = [u.replace("\x00", "\ufffd").strip() or pd.NA for u in distinct]
    return out


def _arrow(values: np.ndarray) -> pa.StringArray | None:
    """The values (object array of ``str``/<NA>) as one pyarrow string array, or None when
    pyarrow cannot encode them (lone surrogates)."""
    try:
        arr = pa.array(values, type=pa.string(), from_pandas=True)
        return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    except (pa.ArrowException, UnicodeError):
        return None


def _encoded(columns: Iterable[tuple[str, np.ndarray]], workers: int,
             ) -> Iterator[tuple[str, np.ndarray, pa.DictionaryArray | None]]:
    """Each ``(name, values)`` of ``columns`` with the values dictionary-encoded by pyarrow
    (None when pyarrow cannot encode them), in order.

    With more than one thread allowed (``workers``, as :attr:`LinkConfig.workers`), pyarrow
    hashes the columns on a second thread (it releases the GIL) while this one converts the
    next columns to Arrow: a column is handed on as soon as its encoding is done, and this
    thread never waits while there are columns left to convert (high-cardinality columns,
    the record IDs and NIKs, take longer to hash than to convert).
    """
    if n_threads(workers) == 1:
        for name, values in columns:
            arr = _arrow(values)
            yield name, values, None if arr is None else pc.dictionary_encode(arr)
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: deque[tuple[str, np.ndarray, Future | None]] = deque()
        for name, values in columns:
            arr = _arrow(values)
            pending.append((name, values, None if arr is None else pool.submit(pc.dictionary_encode, arr)))
            del arr  # (the job holds it while it needs it)
            while pending and (pending[0][2] is None or pending[0][2].done()):
                done = pending.popleft()
                yield done[0], done[1], None if done[2] is None else done[2].result()
        while pending:
            done = pending.popleft()
            yield done[0], done[1], None if done[2] is None else done[2].result()


def _strip(values: np.ndarray, enc: pa.DictionaryArray | None) -> pa.DictionaryArray | None:
    """Strip surrounding blanks in place, blank -> <NA> (object array of ``str``/<NA>), and
    write NUL characters as U+FFFD; return the stripped values dictionary-encoded.

    ``enc`` is the values' dictionary encoding by pyarrow (:func:`_encoded`), None when
    pyarrow cannot encode them (lone surrogates: then None is returned). Only the distinct
    values that may change (:func:`~regsosek_link.standardise._common.strip_candidates`, or
    holding a NUL) are cleaned, once each; the rows holding the others keep the same
    objects. NUL is replaced because pandas' string hashing stops at it (``pd.factorize``
    takes ``"x\\x00y"`` and ``"x"`` for one value), which would make different values equal
    in every later stage; U+FFFD keeps them different.
    """
    if enc is None:
        # (not pd.factorize: its string hashing stops at a NUL character)
        pos = np.flatnonzero(~pd.isna(values))
        uniques, codes = np.unique(values[pos], return_inverse=True)
        values[pos] = _cleaned(uniques.tolist())[codes]
        return None
    distinct = enc.dictionary
    change = strip_candidates(distinct) | _nul_rows(distinct)
    if not change.any():
        return enc
    pos = np.flatnonzero(change)
    clean = _cleaned(distinct.take(pos).to_pylist())
    slot = np.full(len(distinct) + 1, -1, dtype=np.intp)  # the last one for null (-1)
    slot[pos] = np.arange(len(pos))
    ind = enc.indices
    ix = (ind.fill_null(-1) if ind.null_count else ind).to_numpy()
    row_slot = slot[ix]
    rows = np.flatnonzero(row_slot >= 0)
    values[rows] = clean[row_slot[rows]]
    # the encoding of the stripped values: the distinct values cleaned, then encoded again
    # (in order of first appearance, like the rows' own encoding would be)
    replaced = pc.replace_with_mask(distinct, pa.array(change),
                                    pa.array(clean, type=pa.string(), from_pandas=True))
    enc2 = pc.dictionary_encode(replaced)
    return pa.DictionaryArray.from_arrays(enc2.indices.take(ind), enc2.dictionary)


class _Source:
    """One source's rows after the checks that need no values: its columns by name (as text)."""

    def __init__(self, src: SourceConfig, data: pd.DataFrame | None) -> None:
        self.src = src
        if data is None:
            if not src.path:
                raise ConfigError(Problem(source=src.name, where="path",
                                          message="no data: give the source a 'path' or pass its DataFrame"))
            frame = _read_file(src)
        else:
            if not isinstance(data, pd.DataFrame):
                raise ConfigError(Problem(source=src.name, where="data",
                                          message=f"data must be a pandas DataFrame; got {type(data).__name__}"))
            _refuse_float_ids(data, src)
            frame = data
        self.frame = frame
        self.position = {str(c): i for i, c in enumerate(frame.columns)}
        self.n = len(frame)

        problems: list[Problem] = []
        present = list(self.position)
        for col in list(src.columns) + list(src.extra_columns):
            if col not in present:
                target = src.columns.get(col, "an extra column")
                near = difflib.get_close_matches(col, present, n=1)
                hint = f" Did you mean {near[0]!r}?" if near else ""
                problems.append(Problem(
                    source=src.name, where=col,
                    message=f"column {col!r} mapped to {target} is missing; columns present: "
                    f"{', '.join(present)}.{hint}",
                ))
        if self.n == 0:
            problems.append(Problem(source=src.name, where="rows",
                                    message="the source has no rows; remove it from the config or fix its export"))
        if problems:
            raise ConfigError(problems)
        # raw column -> source column
        self.columns = {v: k for k, v in src.columns.items() if v in PERSON_COLUMNS}
        for col in src.extra_columns:
            if col.lower() in RAW_COLUMNS or col.lower() in self.columns:
                raise ConfigError(Problem(
                    source=src.name, where=col,
                    message=f"extra column {col!r} clashes with person-schema column {col.lower()!r}; map it instead"))
            self.columns[col.lower()] = col

    def values(self, column: str) -> np.ndarray:
        """The raw column ``column`` as text (object array of ``str``/<NA>, not stripped)."""
        if column not in self.columns:
            return np.full(self.n, pd.NA, dtype=object)
        return _string_values(self.frame.iloc[:, self.position[self.columns[column]]])


def _record_id_problems(src: SourceConfig, rid: np.ndarray, codes: np.ndarray) -> list[Problem]:
    """Missing and repeated record ids of one source (stripped values, and codes of them:
    equal codes for equal values, -1 for missing)."""
    problems = []
    missing = np.flatnonzero(codes < 0)
    if len(missing):
        rows = ", ".join(str(i + 2) for i in missing[:5])
        problems.append(Problem(
            source=src.name, where="record_id",
            message=f"{len(missing)} row(s) have no record_id (file lines {rows}"
            f"{'...' if len(missing) > 5 else ''}); every row needs a unique key",
        ))
    present = codes[codes >= 0]
    # (codes count up in order of appearance: a source's span of them is about its size)
    if not len(present) or np.bincount(present - present.min()).max() == 1:  # the details when it fails
        return problems
    ids = pd.Series(rid, dtype="string")
    dups = ids[ids.duplicated(keep=False) & ids.notna()]
    examples = []
    for value, idx in dups.groupby(dups, sort=True).groups.items():
        examples.append(f"{value!r} at rows {', '.join(str(i + 2) for i in list(idx)[:3])}")
        if len(examples) == 3:
            break
    problems.append(Problem(
        source=src.name, where="record_id",
        message=f"record_id is not unique: {dups.nunique()} value(s) repeat ({'; '.join(examples)}; "
        "rows counted as file lines with the header on line 1). Map a column that is unique "
        "within the source to record_id, or de-duplicate the export.",
    ))
    return problems


def _raw_records(config_sources: list[SourceConfig], data: Mapping[str, pd.DataFrame],
                 workers: int = -1) -> pd.DataFrame:
    """Raw records of ``config_sources`` in order, or a ConfigError with the problems of all.

    Each column is gathered from every source into one array and stripped there in one go
    (``workers``: as :attr:`LinkConfig.workers`, 1 for a single thread).
    """
    problems: list[Problem] = []
    sources: list[_Source] = []
    for src in config_sources:
        try:
            sources.append(_Source(src, data.get(src.name)))
        except ConfigError as exc:
            problems.extend((src.name, p) for p in exc.problems)
    names = list(dict.fromkeys([*RAW_COLUMNS[1:], *(c for s in sources for c in s.columns)]))
    sizes = [s.n for s in sources]
    source_names = pa.array([s.src.name for s in sources], type=pa.string())
    columns = {"source": np.repeat(source_names.to_numpy(zero_copy_only=False), sizes)}
    encoded = pc.dictionary_encode(source_names)
    encodings = {"source": pa.DictionaryArray.from_arrays(
        pa.array(np.repeat(encoded.indices.to_numpy(), sizes)), encoded.dictionary)}
    gathered = ((name, np.concatenate([s.values(name) for s in sources]) if sources else np.zeros(0, dtype=object))
                for name in names)
    for name, values, enc in _encoded(gathered, workers):
        encodings[name] = _strip(values, enc)
        columns[name] = values
    rid = encodings["record_id"]
    # (pd.factorize only for what pyarrow cannot encode: the values hold no NUL by now)
    rid_codes = pd.factorize(columns["record_id"])[0] if rid is None else rid.indices.fill_null(-1).to_numpy()
    ends = np.cumsum(sizes)
    for s, end in zip(sources, ends):
        problems.extend((s.src.name, p) for p in _record_id_problems(
            s.src, columns["record_id"][end - s.n:end], rid_codes[end - s.n:end]))
    if problems:
        order = {src.name: i for i, src in enumerate(config_sources)}
        raise ConfigError([p for _, p in sorted(problems, key=lambda sp: order[sp[0]])])
    total = int(ends[-1]) if len(ends) else 0
    # the arrays hold str or <NA> only, so pandas' element-wise validation is skipped
    template = pd.array([], dtype=pd.StringDtype("python"))
    frame = pd.DataFrame({c: template._from_backing_data(v) for c, v in columns.items()},
                         index=pd.RangeIndex(total), copy=False)
    for name, enc in encodings.items():
        if enc is not None and name != "record_id":  # (standardise factorizes all but record_id)
            hand_over(frame, name, enc)
    return frame


def read_source(src: SourceConfig, data: pd.DataFrame | None = None) -> pd.DataFrame:
    """Raw records of one source.

    Parameters
    ----------
    src : SourceConfig
        The source and its column mapping.
    data : DataFrame, optional
        The source's rows; when not given they are read from ``src.path``.

    Returns
    -------
    DataFrame
        ``source`` + every person-schema column + extra columns (lower-cased), all
        ``string`` dtype, one row per input row in input order, RangeIndex.

    Raises
    ------
    ConfigError
        Listing every problem: missing file, unreadable encoding, missing mapped columns,
        empty source, missing or duplicate record ids.
    """
    return _raw_records([src], {} if data is None else {src.name: data})


@with_codes
def read_sources(config: LinkConfig, data: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Raw records of every source in ``config``, concatenated in config order.

    Problems from all sources are collected and raised together.
    """
    data = dict(data or {})
    unknown = sorted(set(data) - {s.name for s in config.sources})
    if unknown:
        raise ConfigError(f"data given for source(s) {unknown} that the config does not name; "
                          f"configured sources: {[s.name for s in config.sources]}")
    raw = _raw_records(list(config.sources), data, config.workers)
    log.info("read %d records from %d sources", len(raw), len(config.sources))
    return raw
