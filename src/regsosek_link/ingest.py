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
import gzip
import io
import logging
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._codes import CodeBook, leave, with_codes
from ._optional import require
from ._order import RECORD_ID_ENCODING
from ._threads import n_threads
from .config import LinkConfig, SourceConfig
from .errors import ConfigError, Problem
from .schema import PERSON_COLUMNS, RAW_COLUMNS
from .standardise._common import _is_utf8, hand_over, strip_candidates

__all__ = ["EncodingGuessWarning", "read_source", "read_sources"]

#: Opens a source file anew for reading bytes (a text file is read in several passes).
Opener = Callable[[], IO[bytes] | gzip.GzipFile]

log = logging.getLogger(__name__)

_ID_COLUMNS = ("nik", "no_kk", "record_id")


class EncodingGuessWarning(UserWarning):
    """A text source without an ``encoding`` in its config was not UTF-8, and its encoding
    was guessed. The message names the guess and its confidence; set ``encoding`` for the
    source to silence it (an explicit encoding is never second-guessed)."""


# file types read as delimited text, and those read whole (never inside a .gz or .zip)
_TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
_SAMPLE = 1 << 20  # bytes read to sniff the header, the delimiter and an encoding
_GUESS = 128 << 10  # bytes shown to charset-normalizer from the start and around the first non-UTF-8 byte
_BLOCK = 16 << 20  # pyarrow's block size: a row longer than this is not split
_MAX_FLOAT_INT = 2**53  # from here on not every integer is a float64


def _problem(src: SourceConfig, where: str, message: str) -> ConfigError:
    return ConfigError(Problem(source=src.name, where=where, message=message))


def _read_file(src: SourceConfig) -> pd.DataFrame:
    """The rows of ``src.path`` as a DataFrame of text (``string`` dtype or ``str`` objects)."""
    assert src.path is not None
    path = Path(src.path)
    if not path.exists():
        raise _problem(src, "path", f"file {str(path)!r} does not exist; check 'path' (relative paths are "
                       "relative to the config file)")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return _read_parquet(src, path)
    if suffix == ".xlsx":
        return _read_xlsx(src, path)
    if suffix == ".dta":
        return _read_dta(src, path)
    if suffix == ".sav":
        return _read_sav(src, path)
    if suffix in _TEXT_SUFFIXES:
        return _read_text(src, lambda: open(path, "rb"), str(path), tab=suffix == ".tsv")
    if suffix == ".gz" and path.with_suffix("").suffix.lower() in _TEXT_SUFFIXES:
        return _read_text(src, lambda: gzip.open(path, "rb"), str(path),
                          tab=path.with_suffix("").suffix.lower() == ".tsv")
    if suffix == ".zip":
        return _read_zip(src, path)
    raise _problem(src, "path", f"file {str(path)!r} has an unsupported type {''.join(path.suffixes[-2:])!r}; "
                   "use .csv, .tsv, .txt (also inside .gz or a .zip), .parquet, .xlsx, .dta or .sav")


def _read_parquet(src: SourceConfig, path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise _problem(src, "path", f"file {str(path)!r} is not a readable Parquet file: {exc}") from exc
    for fld in table.schema:
        target = src.columns.get(fld.name)
        if target in _ID_COLUMNS and pa.types.is_floating(fld.type):
            raise _problem(src, fld.name,
                           f"column {fld.name!r} (mapped to {target}) is stored as {fld.type} in "
                           f"{str(path)!r}; IDs above 2^53 (e.g. every NIK starting 91-96) are corrupted in "
                           "a float. Write the column as string and export again.")
    return table.to_pandas().astype("string")


def _read_zip(src: SourceConfig, path: Path) -> pd.DataFrame:
    """The one delimited-text member of a .zip archive (folders, ``__MACOSX/`` and hidden
    files aside); any other number of them is refused with the members listed."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _problem(src, "path", f"file {str(path)!r} is not a readable .zip archive: {exc}") from exc
    names = [i.filename for i in infos]
    files = [i for i in infos if not i.is_dir() and not i.filename.startswith("__MACOSX/")
             and not Path(i.filename).name.startswith(".")]
    data = [i for i in files if Path(i.filename).suffix.lower() in _TEXT_SUFFIXES]
    if len(data) != 1:
        what = "no .csv/.tsv/.txt file" if not data else f"{len(data)} .csv/.tsv/.txt files"
        raise _problem(src, "path", f"archive {str(path)!r} holds {what}; a .zip source must hold exactly one. "
                       f"Members: {', '.join(map(repr, names)) or 'none'}. Unpack it and point 'path' at the "
                       "data file, or zip that file alone.")
    member = data[0].filename

    def opener() -> IO[bytes]:
        zf = zipfile.ZipFile(path)
        return zf.open(member)  # (the member keeps the archive's file open until it is closed)

    return _read_text(src, opener, f"{path!s}!{member}", tab=Path(member).suffix.lower() == ".tsv")


# -- delimited text ---------------------------------------------------------------------


def _sample(opener: Opener, n: int = _SAMPLE) -> bytes:
    with opener() as fh:
        return fh.read(n)


def _first_invalid(opener: Opener, encoding: str) -> tuple[int, int, bytes] | None:
    """Where the file first fails to decode as ``encoding``: ``(byte offset, line, bytes)``,
    or None when it decodes whole."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)("strict")
    done, lines = 0, 1
    with opener() as fh:
        while True:
            chunk = fh.read(_SAMPLE)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                # (the decoder may hold a few bytes of the previous chunk: the offset is close)
                pos = max(exc.start - (len(exc.object) - len(chunk)), 0)
                return done + pos, lines + chunk[:pos].count(b"\n"), chunk[pos:pos + 4]
            if not chunk:
                return None
            done += len(chunk)
            lines += chunk.count(b"\n")


#: Byte order marks of the Unicode encodings other than UTF-8 (Excel's "Unicode text").
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _guess_encoding(src: SourceConfig, opener: Opener, label: str, bad: tuple[int, int, bytes]
                    ) -> str:
    """The encoding of a file that is not UTF-8, warned about and logged.

    A UTF-16/32 byte order mark names its encoding. Otherwise a sample that Windows-1252
    decodes whole (the file's start and the bytes around its first non-UTF-8 byte ``bad``)
    is read as Windows-1252, the encoding of Excel's text exports on Windows: on the few
    non-ASCII bytes of a small Indonesian list, charset-normalizer names Shift-JIS, Big5 or
    UTF-16 with full confidence ("0\xa1" as cp932 gives "0\uff61"), which would change
    the values silently. Only a sample Windows-1252 cannot decode goes to charset-normalizer.
    """
    import charset_normalizer

    offset = bad[0]
    with opener() as fh:
        head = fh.read(_GUESS)
        if offset >= len(head) - _GUESS // 4:
            skip = offset - _GUESS // 4 - len(head)
            while skip > 0:
                skip -= len(fh.read(min(skip, _SAMPLE))) or skip
            head += b"\n" + fh.read(_GUESS)
    encoding = next((enc for bom, enc in _BOMS if head.startswith(bom)), None)
    if encoding is not None:
        confidence = 1.0
    else:
        try:
            head.decode("cp1252")
            isolation: list[str] | None = ["cp1252"]
        except UnicodeDecodeError:
            isolation = None
        best = charset_normalizer.from_bytes(head, cp_isolation=isolation).best()
        if best is None and isolation:  # (decodes, but too chaotic for charset-normalizer: control bytes)
            encoding, confidence = "cp1252", 0.0
        elif best is None:
            raise _problem(src, "encoding",
                           f"file {label!r} is not UTF-8 (byte {offset}, line {bad[1]}: {bad[2]!r}) and its "
                           "encoding could not be detected; set 'encoding' for this source (e.g. cp1252 or latin-1 "
                           "for files exported from older Excel)")
        else:
            encoding = "cp1252" if isolation or "cp1252" in best.could_be_from_charset else best.encoding
            confidence = 1.0 - best.chaos
    message = (f"source {src.name!r}: file {label!r} is not UTF-8 (byte {offset}, line {bad[1]}: {bad[2]!r}); "
               f"read as {encoding} (guessed, confidence {confidence:.2f}). Set 'encoding' for this source "
               "to make this explicit.")
    log.warning(message)
    warnings.warn(message, EncodingGuessWarning, stacklevel=4)
    return encoding


def _header(src: SourceConfig, sample: bytes, encoding: str, delimiter: str, label: str) -> list[str]:
    """The column names on the file's first row, made unique the way pandas does
    (``X``, ``X.1``...; an empty name is ``Unnamed: i``)."""
    text = sample.decode(encoding, errors="replace").lstrip("\ufeff")
    row = next(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), None)
    if not row:
        raise _problem(src, "path", f"file {label!r} is empty; a source needs a header and at least one row")
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(row):
        name = name if name.strip() else f"Unnamed: {i}"
        if name in seen:
            seen[name] += 1
            while f"{name}.{seen[name]}" in seen:
                seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names


def _read_text(src: SourceConfig, opener: Opener, label: str, *, tab: bool) -> pd.DataFrame:
    """A delimited text file read by pyarrow, every column as text.

    pyarrow keeps every byte of a value (pandas' C parser cuts a value at a NUL byte): NUL
    and other control characters reach the raw records unchanged. Line ends may be
    ``\\n``, ``\\r\\n`` or ``\\r``, mixed; empty lines are skipped. Without an ``encoding`` in
    the source's config the file is read as UTF-8 (a byte order mark is dropped) and, when
    it is not UTF-8, as the encoding charset-normalizer guesses (:class:`EncodingGuessWarning`).
    """
    import codecs

    import pyarrow.csv as pacsv

    encoding = src.encoding or "utf-8"
    try:
        encoding = codecs.lookup(encoding).name
    except LookupError as exc:
        raise _problem(src, "encoding", f"unknown encoding {src.encoding!r}; use e.g. utf-8, cp1252, latin-1, "
                       "or leave 'encoding' out to detect it") from exc
    try:
        sample = _sample(opener)
    except (OSError, EOFError, pa.ArrowException) as exc:
        raise _problem(src, "path", f"file {label!r} cannot be read: {exc}") from exc
    if src.encoding is None:
        try:
            sample.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(sample) - 4:  # (not a character cut at the sample's end)
                bad = _first_invalid(opener, "utf-8")
                if bad is not None:
                    encoding = _guess_encoding(src, opener, label, bad)
    delimiter = src.delimiter or ("\t" if tab else _sniff_delimiter(sample, encoding))
    names = _header(src, sample, encoding, delimiter, label)
    bad_rows: list[str] = []

    def invalid(row: Any) -> str:  # (a pyarrow.csv.InvalidRow)
        bad_rows.append(f"{row.actual_columns} field(s): {row.text[:80]!r}")
        return "skip"

    while True:
        try:
            with opener() as fh:
                table = pacsv.read_csv(
                    fh,
                    read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=_BLOCK,
                                                   encoding="utf8" if encoding == "utf-8" else encoding),
                    parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True,
                                                     invalid_row_handler=invalid),
                    convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                         null_values=[""], strings_can_be_null=True),
                )
            break
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            if "UTF8" not in str(exc) and not isinstance(exc, UnicodeDecodeError):
                raise _problem(src, "path", f"file {label!r} is malformed CSV: {exc}. Check quoting and the "
                               "delimiter (set 'delimiter' for this source)") from exc
            bad = _first_invalid(opener, encoding) or (0, 0, b"")
            if src.encoding is None and encoding == "utf-8" and bad[2]:
                # (the invalid bytes lie beyond the sample)
                encoding = _guess_encoding(src, opener, label, bad)
                bad_rows.clear()
                continue
            guessed = " (the guess for a file that is not UTF-8)" if src.encoding is None else ""
            raise _problem(src, "encoding",
                           f"file {label!r} is not valid {encoding}{guessed} (byte {bad[0]}, line {bad[1]}: "
                           f"{bad[2]!r}); set 'encoding' for this source, e.g. encoding: latin-1 or cp1252 for "
                           "files exported from older Excel") from exc
        except (OSError, EOFError, pa.ArrowException) as exc:
            raise _problem(src, "path", f"file {label!r} cannot be read: {exc}") from exc
    unterminated = _unterminated_quote(opener, encoding, delimiter)
    if unterminated:
        raise _problem(src, "path", f"file {label!r} is malformed CSV: {unterminated}. A quoted value is "
                       "not closed, so every row after it would be read into that value. Check quoting and the "
                       "delimiter (set 'delimiter' for this source)")
    if bad_rows:
        raise _problem(src, "rows",
                       f"{len(bad_rows)} row(s) of {label!r} do not have the header's {len(names)} fields "
                       f"({'; '.join(bad_rows[:3])}{'...' if len(bad_rows) > 3 else ''}). Check quoting and the "
                       "delimiter (set 'delimiter' for this source); no row is dropped or padded.")
    string = pd.StringDtype("python")
    return pd.DataFrame({i: string.__from_arrow__(col) for i, col in enumerate(table.columns)},
                        copy=False).set_axis(names, axis=1)


def _unterminated_quote(opener: Opener, encoding: str, delimiter: str) -> str | None:
    """Where the file ends inside a quoted value (pyarrow reads such a value to the end of
    the file without a word), or None.

    A file whose quote characters are even in number has none; otherwise Python's csv
    reader, strict, says where (a quote inside an unquoted value is literal and fine).
    """
    n = 0
    with opener() as fh:
        while chunk := fh.read(_BLOCK):
            n += chunk.count(b'"')
    if n % 2 == 0:
        return None
    with opener() as fh:
        text = io.TextIOWrapper(fh, encoding=encoding, errors="replace", newline="")
        reader = csv.reader(text, delimiter=delimiter, strict=True)
        try:
            for _ in reader:
                pass
        except csv.Error as exc:
            return f"line {reader.line_num}: {exc}"
    return None


#: Bytes the delimiter is sniffed on: csv.Sniffer's patterns grow worse than linearly with
#: the text (the whole 1 MB sample took ~0.7 s a file; its first 64 KB, as before, ~0.01 s).
_SNIFF = 1 << 16


def _sniff_delimiter(sample: bytes, encoding: str) -> str:
    head = sample[:_SNIFF]
    if len(sample) > _SNIFF and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]  # (whole lines only)
    try:
        return csv.Sniffer().sniff(head.decode(encoding, errors="replace"), delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


# -- spreadsheets and statistics packages: values as text -------------------------------


def _float_text(values: np.ndarray) -> np.ndarray:
    """Floats as text (object array, NaN -> <NA>): a whole number below 2^53 as its digits
    (``3375014508900002.0`` -> ``3375014508900002``), a whole number from 2^53 on in
    scientific notation (``9.171010101010002e+15``: its last digits are already lost, and
    standardise flags an ID written so as ``excel_damaged``), any other number as Python
    writes it (``1.5``)."""
    a = np.asarray(values, dtype=np.float64)
    out = np.full(len(a), pd.NA, dtype=object)
    finite = np.isfinite(a)
    whole = finite & (np.trunc(np.where(finite, a, 0)) == a)
    exact = whole & (np.abs(np.where(finite, a, 0)) < _MAX_FLOAT_INT)
    out[exact] = a[exact].astype(np.int64).astype(str).astype(object)
    big = whole & ~exact
    out[big] = [np.format_float_scientific(x, unique=True, exp_digits=1) for x in a[big].tolist()]
    other = ~np.isnan(a) & ~whole
    out[other] = [repr(x) for x in a[other].tolist()]
    return out


def _cell_text(v: object) -> object:
    """One spreadsheet/statistics-file value as text (None -> <NA>)."""
    import datetime as dt

    if v is None or v is pd.NA or v is pd.NaT:
        return pd.NA
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return _float_text(np.array([v]))[0]
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) and v.tzinfo is None else v.isoformat(sep=" ")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    return str(v)


def _frame_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column of a frame read from a typed file (Stata, SPSS) as text: floats by
    :func:`_float_text`, integers as their digits, dates ISO, categories as their labels."""
    out = {}
    for i in range(frame.shape[1]):
        s = frame.iloc[:, i]
        if isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype(object).where(s.notna(), None)
        if pd.api.types.is_float_dtype(s.dtype):
            values = _float_text(s.to_numpy(dtype=np.float64, na_value=np.nan))
        elif pd.api.types.is_datetime64_any_dtype(s.dtype):
            values = s.dt.strftime("%Y-%m-%d").to_numpy(dtype=object, na_value=pd.NA)
        else:
            obj = s.to_numpy(dtype=object)
            values = np.empty(len(obj), dtype=object)
            values[:] = [v if type(v) is str else _cell_text(None if pd.isna(v) is True else v) for v in obj]
        out[i] = pd.array(values, dtype=pd.StringDtype("python"))
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame))).set_axis([str(c) for c in frame.columns], axis=1)


def _xlsx_text(v: object) -> object:
    """One .xlsx cell as text: as :func:`_cell_text`, but a number cell from 2^53 on is
    written in scientific notation even when the file spells it as an integer: Excel holds
    every number as a float64, so its last digits are not to be trusted."""
    if type(v) is int and abs(v) >= _MAX_FLOAT_INT:
        return _float_text(np.array([float(v)]))[0]
    return _cell_text(v)


def _read_xlsx(src: SourceConfig, path: Path) -> pd.DataFrame:
    """The first sheet of an .xlsx workbook, its first row the header, every cell as text
    (:func:`_xlsx_text`: a number cell holding a whole number below 2^53 keeps its digits,
    one from 2^53 on is written in scientific notation, so that an ID so stored is flagged
    ``excel_damaged`` by standardise). Rows with no value at all are skipped."""
    openpyxl = require("openpyxl", extra="excel", what=f"reading the .xlsx source {src.name!r}")

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise _problem(src, "path", f"file {str(path)!r} is not a readable .xlsx workbook: {exc}") from exc
    try:
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        body = [r for r in rows if any(v is not None and v != "" for v in r)]
    finally:
        wb.close()
    if not header or all(v is None for v in header):
        raise _problem(src, "path", f"file {str(path)!r} is empty; its first sheet needs a header row and at "
                       "least one row")
    width = max([len(header), *map(len, body)])
    names = []
    for i in range(width):
        v = header[i] if i < len(header) else None
        names.append(f"Unnamed: {i}" if v is None or str(v).strip() == "" else str(_xlsx_text(v)))
    cells = np.empty((len(body), width), dtype=object)
    cells[:] = None
    for j, r in enumerate(body):
        cells[j, :len(r)] = r
    frame = pd.DataFrame({
        i: pd.array(np.array([_xlsx_text(v) for v in cells[:, i].tolist()], dtype=object),
                    dtype=pd.StringDtype("python"))
        for i in range(width)}, index=pd.RangeIndex(len(body)))
    return frame.set_axis(_unique(names), axis=1)


def _unique(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        k, m = n, 0
        while k in out:
            m += 1
            k = f"{n}.{m}"
        out.append(k)
    return out


def _read_dta(src: SourceConfig, path: Path) -> pd.DataFrame:
    """A Stata file, every column as text (:func:`_frame_as_text`)."""
    try:
        frame = pd.read_stata(path, convert_missing=False, preserve_dtypes=True)
    except Exception as exc:
        raise _problem(src, "path", f"file {str(path)!r} is not a readable Stata (.dta) file: {exc}") from exc
    return _frame_as_text(frame)


def _read_sav(src: SourceConfig, path: Path) -> pd.DataFrame:
    """An SPSS file, every column as text (:func:`_frame_as_text`); needs pyreadstat."""
    try:
        import pyreadstat
    except ImportError as exc:
        raise _problem(src, "path", f"reading the SPSS file {str(path)!r} needs the optional package "
                       "pyreadstat; install it with: pip install 'regsosek-link[spss]'") from exc
    try:
        frame, _meta = pyreadstat.read_sav(str(path))
    except Exception as exc:
        raise _problem(src, "path", f"file {str(path)!r} is not a readable SPSS (.sav) file: {exc}") from exc
    return _frame_as_text(frame)


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


def _cleaned(distinct: list[str]) -> np.ndarray:
    """``distinct`` stripped, blank -> <NA> (object array)."""
    out = np.empty(len(distinct), dtype=object)
    out[:] = [u.strip() or pd.NA for u in distinct]
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
    return the stripped values dictionary-encoded.

    ``enc`` is the values' dictionary encoding by pyarrow (:func:`_encoded`), None when
    pyarrow cannot encode them (lone surrogates: then None is returned). Only the distinct
    values that may change (:func:`~regsosek_link.standardise._common.strip_candidates`) are
    cleaned, once each; the rows holding the others keep the same objects. Every other
    character is kept as it is, NUL and other control characters too (the standardise stage
    writes NUL as U+FFFD in the clean values, see
    :func:`~regsosek_link.standardise._common.factorize`).
    """
    if enc is None:
        # (not pd.factorize: its string hashing stops at a NUL character and takes values
        # that differ only in lone surrogates for one)
        pos = np.flatnonzero(~pd.isna(values))
        uniques, codes = np.unique(values[pos], return_inverse=True)
        values[pos] = _cleaned(uniques.tolist())[codes]
        return None
    distinct = enc.dictionary
    change = strip_candidates(distinct)
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
        self.columns = {v: k for k, v in src.mapped() if v in PERSON_COLUMNS}
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
    # (the details from the codes: pandas' hashing would take "x\0y" and "x" for one value)
    counts = np.bincount(present)
    repeated = np.flatnonzero(counts > 1)
    first = np.full(len(counts), len(codes), dtype=np.intp)
    np.minimum.at(first, present, np.flatnonzero(codes >= 0))
    examples = []
    for c in sorted(repeated.tolist(), key=lambda c: rid[first[c]])[:3]:
        at = np.flatnonzero(codes == c)[:3]
        examples.append(f"{rid[first[c]]!r} at rows {', '.join(str(i + 2) for i in at)}")
    problems.append(Problem(
        source=src.name, where="record_id",
        message=f"record_id is not unique: {len(repeated)} value(s) repeat ({'; '.join(examples)}; "
        "rows counted as file lines with the header on line 1). Map a column that is unique "
        "within the source to record_id, or de-duplicate the export.",
    ))
    return problems


def _exact_codes(values: np.ndarray) -> np.ndarray:
    """Codes of the values (object array of ``str``/<NA>): equal codes for equal strings,
    -1 for <NA>. Compares whole Python strings (NUL and lone surrogates included), unlike
    pandas' hashing."""
    codes = np.full(len(values), -1, dtype=np.intp)
    pos = np.flatnonzero(~pd.isna(values))
    if len(pos):
        codes[pos] = np.unique(values[pos], return_inverse=True)[1].reshape(-1)
    return codes


def _unencodable_id_problems(src: SourceConfig, rid: np.ndarray) -> list[Problem]:
    """Record ids that are not valid Unicode text (lone surrogates): they cannot be written
    to Parquet, CSV or the store, so the record could not be kept whole."""
    bad = [i for i, v in enumerate(rid.tolist()) if isinstance(v, str) and not _is_utf8(v)]
    if not bad:
        return []
    shown = ", ".join(f"row {i + 2} ({rid[i]!r})" for i in bad[:3])
    return [Problem(
        source=src.name, where="record_id",
        message=f"{len(bad)} record_id value(s) are not valid Unicode text (lone surrogates, e.g. from "
        f"bytes decoded with errors='surrogateescape'): {shown}{'...' if len(bad) > 3 else ''}. Record ids "
        "are written out as UTF-8; decode the source with its real encoding or fix these ids.",
    )]


def _raw_records(config_sources: list[SourceConfig], data: Mapping[str, pd.DataFrame],
                 workers: int = -1) -> pd.DataFrame:
    """Raw records of ``config_sources`` in order, or a ConfigError with the problems of all.

    Each column is gathered from every source into one array and stripped there in one go
    (``workers``: as :attr:`LinkConfig.workers`, 1 for a single thread).
    """
    problems: list[tuple[str, Problem]] = []  # (source name, problem)
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
    rid_codes = _exact_codes(columns["record_id"]) if rid is None else rid.indices.fill_null(-1).to_numpy()
    ends = np.cumsum(sizes)
    for s, end in zip(sources, ends):
        problems.extend((s.src.name, p) for p in _record_id_problems(
            s.src, columns["record_id"][end - s.n:end], rid_codes[end - s.n:end]))
        if rid is None:  # (pyarrow could not encode some record id: which?)
            problems.extend((s.src.name, p) for p in _unencodable_id_problems(
                s.src, columns["record_id"][end - s.n:end]))
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
    if rid is not None:  # (the record IDs' Arrow array, which orders the records, from it)
        leave(frame, "record_id", RECORD_ID_ENCODING, rid)
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
def read_sources(config: LinkConfig, data: Mapping[str, pd.DataFrame] | None = None, *,
                 codes: CodeBook | None = None) -> pd.DataFrame:
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
