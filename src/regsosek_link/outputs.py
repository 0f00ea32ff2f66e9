"""Writing a run's outputs: Parquet and CSV through Arrow, atomically, CSV made formula-safe.

:func:`write_tables` writes named DataFrames (and small texts such as ``config.json``) into a
folder. Every file is written under a temporary name in the same folder and then renamed
over the final name (:func:`os.replace`, atomic on one file system), so a run that is killed
or fails half-way never leaves a truncated file under a final name: a reader sees the old
file or the new one, whole.

CSV files are opened by people in spreadsheet programs, which run a cell that starts with
``=``, ``+``, ``-`` or ``@`` (and, in some, tab or carriage return) as a formula ("CSV
injection", OWASP). Every *text* cell of a CSV output that starts with one of those
characters is written with a leading single quote, which spreadsheets show as text; numbers
stay numbers (``-5`` in a numeric column is written as ``-5``). Cells that already start
with quotes followed by one of those characters get one more quote, so that
:func:`restore_formulas` undoes :func:`neutralise_formulas` exactly. Parquet files keep the
raw values.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from ._threads import n_threads
from .errors import ConfigError, Problem

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from .run import LinkResult

__all__ = [
    "EXPLORER_FILE",
    "FORMATS",
    "FORMULA_PREFIXES",
    "RESULT_TABLES",
    "check_formats",
    "neutralise_formulas",
    "restore_formulas",
    "result_files",
    "write_result",
    "write_tables",
]

#: Output formats :func:`write_tables` can write.
FORMATS: tuple[str, ...] = ("parquet", "csv")

#: First characters that make a spreadsheet cell a formula (OWASP "CSV injection").
FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

#: Tables of a :class:`~regsosek_link.run.LinkResult` that :func:`write_result` writes.
RESULT_TABLES: tuple[str, ...] = ("membership", "registry", "households", "links")

#: The analysts' page (:mod:`regsosek_link.explore`) a run writes beside its outputs when
#: ``config.report_explorer`` is set.
EXPLORER_FILE = "explore.html"

_CLASS = "[" + re.escape("".join(FORMULA_PREFIXES)) + "]"
#: A cell that needs a quote: any number of quotes, then a formula character.
_NEEDS_QUOTE = f"^('*{_CLASS})"
#: A cell that :func:`neutralise_formulas` quoted: one quote, then what needed it.
_QUOTED = f"^'('*{_CLASS})"
_NEEDS_QUOTE_RE = re.compile(_NEEDS_QUOTE, re.DOTALL)
_QUOTED_RE = re.compile(_QUOTED, re.DOTALL)


def check_formats(formats: Iterable[str] | str, *, where: str = "formats") -> tuple[str, ...]:
    """The output formats as a tuple, each known and named once.

    Parameters
    ----------
    formats : iterable of str, or str
        Format names; a string is one name or a comma-separated list (``"parquet,csv"``).
    where : str
        What the formats were given as, for the error message.

    Returns
    -------
    tuple of str

    Raises
    ------
    ConfigError
        An unknown or repeated format, or none at all.

    Examples
    --------
    >>> check_formats("csv, parquet")
    ('csv', 'parquet')
    """
    def problem(message: str) -> ConfigError:
        return ConfigError(Problem(source=None, where=where, message=message))

    if isinstance(formats, str):
        items: list[object] = [f.strip() for f in formats.split(",")]
    elif isinstance(formats, Iterable):
        items = list(formats)
    else:
        items = []

    names = [f for f in items if isinstance(f, str)]
    if not items or len(names) < len(items):
        raise problem(f"{where} must name at least one output format of {', '.join(FORMATS)}; got {formats!r}")
    normal = [f.strip().lower() for f in names]
    unknown = [f for f, n in zip(names, normal) if n not in FORMATS]
    if unknown:
        raise problem(f"{where}: unknown output format(s) {unknown}; allowed: {', '.join(FORMATS)}")
    repeated = sorted({f for f in normal if normal.count(f) > 1})
    if repeated:
        raise problem(f"{where}: output format(s) {repeated} named more than once; name each once")
    return tuple(normal)


# ----------------------------------------------------------------------------------------
# formula neutralisation


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot be read as spreadsheet formulas.

    A text cell that starts with ``=``, ``+``, ``-``, ``@``, tab or carriage return (after
    any number of single quotes) gets a leading single quote. Numeric, boolean and date
    columns, and non-text values in object columns, are left as they are.

    Examples
    --------
    >>> df = pd.DataFrame({"t": ["=1+1", "-5", "ok", None], "n": [1, -5, 0, 2]})
    >>> neutralise_formulas(df)["t"].tolist()
    ["'=1+1", "'-5", 'ok', None]
    >>> neutralise_formulas(df)["n"].tolist()
    [1, -5, 0, 2]
    """
    return _map_text(frame, _NEEDS_QUOTE_RE, r"'\1")


def restore_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Undo :func:`neutralise_formulas`: drop the quote it added, and only that quote.

    A text cell loses its first character when that is a single quote and the rest starts
    with (any quotes, then) ``=``, ``+``, ``-``, ``@``, tab or carriage return; any other
    cell, such as ``'abc`` or ``O'Neil``, is kept as it is.

    Examples
    --------
    >>> df = pd.DataFrame({"t": ["'=1+1", "'-5", "'abc", "''@x"]})
    >>> restore_formulas(df)["t"].tolist()
    ['=1+1', '-5', "'abc", "'@x"]
    """
    return _map_text(frame, _QUOTED_RE, r"\1")


def _map_text(frame: pd.DataFrame, pattern: re.Pattern[str], repl: str) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.StringDtype):
            out[col] = s.str.replace(pattern, repl, regex=True)
        elif isinstance(s.dtype, pd.CategoricalDtype):
            if s.cat.categories.dtype == object or isinstance(s.cat.categories.dtype, pd.StringDtype):
                cats = pd.Series(s.cat.categories).map(
                    lambda v: pattern.sub(repl, v, count=1) if isinstance(v, str) else v)
                if cats.is_unique:
                    out[col] = s.cat.rename_categories(list(cats))
                else:
                    out[col] = s.astype(object).map(
                        lambda v: pattern.sub(repl, v, count=1) if isinstance(v, str) else v)
        elif s.dtype == object:
            out[col] = s.map(lambda v: pattern.sub(repl, v, count=1) if isinstance(v, str) else v)
    return out


def _neutralise_table(table: pa.Table) -> pa.Table:
    """:func:`neutralise_formulas` on an Arrow table (string and dictionary-of-string columns)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def fix(arr: pa.Array) -> pa.Array:
        if pa.types.is_dictionary(arr.type):
            return pa.DictionaryArray.from_arrays(arr.indices, fix(arr.dictionary))
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return pc.replace_substring_regex(arr, pattern=_NEEDS_QUOTE, replacement=r"'\1", max_replacements=1)
        return arr

    columns = []
    for col in table.columns:
        t = col.type
        text = pa.types.is_string(t) or pa.types.is_large_string(t) or (
            pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)))
        columns.append(pa.chunked_array([fix(c) for c in col.chunks], type=t) if text else col)
    return pa.Table.from_arrays(columns, schema=table.schema)


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    """``pa.Table.from_pandas(frame, preserve_index=False)``, the same table, faster.

    Columns of pandas' ``string`` dtype are taken directly: an Arrow-backed one as it is (as
    Arrow ``string``, the type the Python-backed ones get), a Python-backed one converted
    from its object array (pandas' own conversion takes twice as long for the same
    strings). The pandas metadata (so ``read_parquet`` gives back the dtypes) is the one
    ``from_pandas`` writes for a ``string`` column.
    """
    import json

    import numpy as np
    import pyarrow as pa

    direct = [c for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)]
    if not direct or not frame.columns.is_unique:
        return pa.Table.from_pandas(frame, preserve_index=False)
    rest = pa.Table.from_pandas(frame.drop(columns=direct), preserve_index=False)
    meta = rest.schema.pandas_metadata
    one = pa.Schema.from_pandas(frame[direct].iloc[:1].astype(pd.StringDtype("python")),
                                preserve_index=False).pandas_metadata  # same for any rows
    by_name = {c["name"]: c for c in meta["columns"] + one["columns"]}
    meta["columns"] = [by_name[str(c)] for c in frame.columns]

    def text(array: pd.api.extensions.ExtensionArray) -> pa.Array | pa.ChunkedArray:
        if isinstance(array, pd.arrays.ArrowStringArray):
            values = array._pa_array
            return values.cast(pa.string()) if sum(c.nbytes for c in values.chunks) < 2**31 - 1 else values
        return pa.array(np.asarray(array), type=pa.string(), from_pandas=True)

    arrays = [text(frame[c].array) if c in direct else rest.column(str(c)) for c in frame.columns]
    table = pa.Table.from_arrays(arrays, names=[str(c) for c in frame.columns])
    return table.replace_schema_metadata({b"pandas": json.dumps(meta).encode("utf8")})


# ----------------------------------------------------------------------------------------
# atomic writes


def _write_atomic(path: Path, write: Callable[[str], None], owner_only: bool = False) -> Path:
    """Call ``write(temporary_path)``, then rename the temporary file to ``path``.

    The temporary file lies in the same folder (so the rename stays on one file system and
    is atomic) and is removed when ``write`` fails; the final name then keeps whatever it
    held before. With ``owner_only`` the temporary file is created with mode 0600 before
    anything is written to it (writers truncate it and keep its mode), so no other user can
    open it at any moment.
    """
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")  # keeps the suffix (Excel needs it)
    try:
        if owner_only:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
            os.chmod(tmp, 0o600)  # (an old file of that name kept its mode)
        write(str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _write_parquet(table: pa.Table, path: str) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path)


def _write_csv(table: pa.Table, path: str) -> None:
    import pyarrow.csv as pcsv

    pcsv.write_csv(_neutralise_table(table), path)


def _write_text(text: str, path: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


_WRITERS: dict[str, Callable[[pa.Table, str], None]] = {"parquet": _write_parquet, "csv": _write_csv}


def write_tables(
    tables: Mapping[str, pd.DataFrame],
    output_dir: str | Path,
    *,
    formats: Iterable[str] = ("parquet",),
    texts: Mapping[str, str] | None = None,
    workers: int = -1,
    owner_only: bool = False,
) -> dict[str, Path]:
    """Write DataFrames as Parquet and/or CSV files, and texts as they are, atomically.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        File stem -> table; written as ``<stem>.<format>`` without the index.
    output_dir : str or Path
        Folder to write into (created if needed).
    formats : iterable of str, default ("parquet",)
        Any of :data:`FORMATS`. CSV text cells that a spreadsheet would run as a formula get
        a leading quote (see :func:`neutralise_formulas`); Parquet keeps the raw values.
    texts : mapping of str to str, optional
        File name -> UTF-8 text (e.g. ``{"config.json": config.to_json()}``).
    workers : int, default -1
        Threads that write files while the next table is converted to Arrow (``-1``: one
        per core; ``1``: everything in this thread).
    owner_only : bool, default False
        Make the folder readable by its owner only (0700) and create every file 0600.

    Returns
    -------
    dict of str to Path
        File name (``membership.parquet``, ``config.json``...) -> path written, in the order
        written.

    Raises
    ------
    ConfigError
        An unknown output format (nothing is written then).

    Examples
    --------
    >>> import tempfile
    >>> out = write_tables({"t": pd.DataFrame({"a": ["=1", "x"]})}, tempfile.mkdtemp(), formats=("csv",))
    >>> print(out["t.csv"].read_text(), end="")
    "a"
    "'=1"
    "x"
    """
    formats = check_formats(formats)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if owner_only:
        out.chmod(0o700)
    threads = n_threads(workers)
    # Converting a DataFrame to Arrow holds the GIL (Python strings); Arrow's writers release
    # it. So each table is converted here while the writer threads write the ones before.
    with ThreadPoolExecutor(threads, thread_name_prefix="regsosek-write") if threads > 1 else nullcontext() as pool:
        def submit(path: Path, write: Callable[[str], None]) -> Future[Path] | Path:
            if pool is not None:
                return pool.submit(_write_atomic, path, write, owner_only)
            return _write_atomic(path, write, owner_only)

        pending: dict[str, Future[Path] | Path] = {}
        for stem, frame in tables.items():
            table = _to_arrow(frame)
            for fmt in formats:
                pending[f"{stem}.{fmt}"] = submit(out / f"{stem}.{fmt}", partial(_WRITERS[fmt], table))
        for name, text in (texts or {}).items():
            pending[name] = submit(out / name, partial(_write_text, text))
        return {name: p.result() if isinstance(p, Future) else p for name, p in pending.items()}


def result_files(result: LinkResult, formats: Iterable[str] | None = None) -> list[str]:
    """Names of the files :meth:`LinkResult.write <regsosek_link.run.LinkResult.write>` writes
    for ``result``, but for its processing record: those of :func:`write_result` and, with
    ``config.report_explorer``, :data:`EXPLORER_FILE`."""
    tables = list(RESULT_TABLES) + (["changes"] if result.changes is not None else [])
    fmts = check_formats(result.config.output_formats if formats is None else formats)
    return ([f"{t}.{f}" for t in tables for f in fmts] + ["config.json"]
            + ([EXPLORER_FILE] if result.config.report_explorer else []))


def write_result(result: LinkResult, output_dir: str | Path | None = None, *,
                 formats: Iterable[str] | None = None, texts: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Write a run's tables (:data:`RESULT_TABLES`), its ``config.json`` and ``texts``.

    Parameters
    ----------
    result : LinkResult
    output_dir : str or Path, optional
        Defaults to ``result.config.output_dir``.
    formats : iterable of str, optional
        Defaults to ``result.config.output_formats``.
    texts : mapping of str to str, optional
        More files (name -> text), e.g. the processing record
        (:func:`regsosek_link.privacy.processing_record`, which :meth:`LinkResult.write` adds).

    Returns
    -------
    dict of str to Path
        See :func:`write_tables`. With ``config.owner_only_outputs`` the folder is made 0700
        and every file 0600.
    """
    config = result.config
    tables = {name: getattr(result, name) for name in RESULT_TABLES}
    if result.changes is not None:  # (a run saved in a store: what it did to person IDs)
        tables["changes"] = result.changes
    return write_tables(
        tables,
        output_dir or config.output_dir,
        formats=config.output_formats if formats is None else formats,
        texts={"config.json": config.to_json(), **(texts or {})},
        workers=config.workers,
        owner_only=config.owner_only_outputs,
    )
