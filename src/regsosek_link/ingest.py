"""Ingest stage: a source file or DataFrame + its column mapping -> raw records.

Raw records hold ``source``, every person-schema column (``string`` dtype, ``<NA>`` for
missing or blank) and the source's extra columns. Everything is read as text: IDs never pass
through a float. No row is dropped; a source that cannot be read whole raises a
:class:`~regsosek_link.errors.ConfigError` naming the source, the column or row, and the fix.
"""

from __future__ import annotations

import csv
import difflib
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .config import LinkConfig, SourceConfig
from .errors import ConfigError, Problem
from .schema import PERSON_COLUMNS, RAW_COLUMNS

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
        import pyarrow as pa

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


def _frame_to_strings(frame: pd.DataFrame, src: SourceConfig) -> pd.DataFrame:
    """DataFrame columns to ``string`` dtype, refusing float-corrupted IDs."""
    out = {}
    for col in frame.columns:
        s = frame[col]
        target = src.columns.get(col)
        if target in _ID_COLUMNS and pd.api.types.is_float_dtype(s.dtype) and s.notna().any():
            raise ConfigError(Problem(
                source=src.name, where=str(col),
                message=f"column {col!r} (mapped to {target}) has dtype {s.dtype}; IDs held as floats lose digits "
                "(every NIK above 2^53). Read the file with dtype=str (pd.read_csv(..., dtype=str)).",
            ))
        if pd.api.types.is_string_dtype(s.dtype) and s.dtype == "string":
            out[col] = s
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            out[col] = s.dt.strftime("%Y-%m-%d").astype("string")
        else:
            out[col] = s.astype("string")
    return pd.DataFrame(out, index=frame.index)


def _stripped(s: pd.Series, index: pd.RangeIndex) -> pd.Series:
    """Values stripped of surrounding blanks, blank = missing; string work on distinct values."""
    codes, uniques = pd.factorize(s.astype("string"), sort=False)
    u = pd.Series(uniques, dtype="string").str.strip()
    u = u.mask(u == "")
    return pd.Series(u.array.take(codes, allow_fill=True), index=index)


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
    if data is None:
        if not src.path:
            raise ConfigError(Problem(source=src.name, where="path",
                                      message="no data: give the source a 'path' or pass its DataFrame"))
        frame = _read_file(src)
    else:
        if not isinstance(data, pd.DataFrame):
            raise ConfigError(Problem(source=src.name, where="data",
                                      message=f"data must be a pandas DataFrame; got {type(data).__name__}"))
        frame = _frame_to_strings(data, src)
    frame.columns = [str(c) for c in frame.columns]

    problems: list[Problem] = []
    present = list(frame.columns)
    wanted = list(src.columns) + list(src.extra_columns)
    for col in wanted:
        if col not in present:
            target = src.columns.get(col, "an extra column")
            near = difflib.get_close_matches(col, present, n=1)
            hint = f" Did you mean {near[0]!r}?" if near else ""
            problems.append(Problem(
                source=src.name, where=col,
                message=f"column {col!r} mapped to {target} is missing; columns present: "
                f"{', '.join(present)}.{hint}",
            ))
    if len(frame) == 0:
        problems.append(Problem(source=src.name, where="rows",
                                message="the source has no rows; remove it from the config or fix its export"))
    if problems:
        raise ConfigError(problems)

    index = pd.RangeIndex(len(frame))
    cols: dict[str, pd.Series] = {"source": pd.Series(src.name, index=index, dtype="string")}
    own_for = {v: k for k, v in src.columns.items()}
    for col in PERSON_COLUMNS:
        if col in own_for:
            cols[col] = _stripped(frame[own_for[col]], index)
        else:
            cols[col] = pd.Series(pd.NA, index=index, dtype="string")
    for col in src.extra_columns:
        name = col.lower()
        if name in cols:
            raise ConfigError(Problem(source=src.name, where=col,
                                      message=f"extra column {col!r} clashes with person-schema column {name!r}; map it instead"))
        cols[name] = _stripped(frame[col], index)
    raw = pd.DataFrame(cols, index=index)

    rid = raw["record_id"]
    missing = np.flatnonzero(rid.isna().to_numpy())
    if len(missing):
        rows = ", ".join(str(i + 2) for i in missing[:5])
        problems.append(Problem(
            source=src.name, where="record_id",
            message=f"{len(missing)} row(s) have no record_id (file lines {rows}"
            f"{'...' if len(missing) > 5 else ''}); every row needs a unique key",
        ))
    dup_mask = rid.duplicated(keep=False) & rid.notna()
    if dup_mask.any():
        dups = rid[dup_mask]
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
    if problems:
        raise ConfigError(problems)
    return raw[list(RAW_COLUMNS) + [c.lower() for c in src.extra_columns]]


def read_sources(config: LinkConfig, data: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Raw records of every source in ``config``, concatenated in config order.

    Problems from all sources are collected and raised together.
    """
    data = dict(data or {})
    unknown = sorted(set(data) - {s.name for s in config.sources})
    if unknown:
        raise ConfigError(f"data given for source(s) {unknown} that the config does not name; "
                          f"configured sources: {[s.name for s in config.sources]}")
    frames, problems = [], []
    for src in config.sources:
        try:
            frames.append(read_source(src, data.get(src.name)))
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    raw = pd.concat(frames, ignore_index=True)
    for col in raw.columns:
        if raw[col].dtype != "string":
            raw[col] = raw[col].astype("string")
    log.info("read %d records from %d sources", len(raw), len(frames))
    return raw
