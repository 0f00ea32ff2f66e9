"""The registry store: an embedded DuckDB file that the next run reads back.

This module reads and writes the database and nothing else: which records to link, how to
score them and which person IDs to give are decided by :mod:`regsosek_link.run`.

Tables
------
``records``     the clean records of every person in the registry (``_pos`` keeps their order)
``membership``  ``source, record_id, person_id, match_probability`` (one row per record)
``registry``    golden records (see :func:`regsosek_link.registry.golden_records`)
``households``  household id (KK number) -> member person IDs
``links``       accepted and near-threshold pairs with score and contributions
``decisions``   reviewers' decisions (match / non-match), honoured by every later run
``changes``     ``run_id, change, person_id, other_person_id, reason, n_records, seq``
``runs``        one row per run: kind, times, counts of changes, its config and its model
                (:mod:`regsosek_link.model_io` JSON)
``meta``        the store's format version and its generation (a counter every write
                raises)

Safety
------
- **One writer at a time.** A write holds an exclusive lock on ``<store>.lock`` (an OS
  file lock, so a killed writer never leaves a stale lock); a second writer is refused at
  once, with the other run's process, command and start time.
- **No lost update.** A run remembers the generation it read; its commit is refused when
  the store was written since.
- **All or nothing.** Every write is one DuckDB transaction: a crash leaves the store
  unchanged or fully written.
- **No SQL built from user text.** Table names are this module's constants; values are
  bound as parameters; frames are handed to DuckDB as registered views, whatever their
  column names.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._lock import writer_lock
from ._optional import require
from .errors import StoreError
from .review import DECISION_COLUMNS, merge_decisions, read_decisions

__all__ = ["FORMAT_VERSION", "RegistryStore", "StoreSnapshot", "StoreWrite"]

duckdb = require("duckdb", extra="store", what="the registry store (run --store, update, withdraw, review, export)")

#: Layout version written into ``meta``.
FORMAT_VERSION = 2
#: Tables of a store; only these names are ever put into SQL text.
TABLES: tuple[str, ...] = ("records", "membership", "registry", "households", "links", "decisions", "changes",
                           "runs", "meta")
#: Tables of layout 1 that no longer exist (dropped by the next write).
_OLD_TABLES: tuple[str, ...] = ("block_keys", "block_rules")
#: How long to wait for DuckDB's own file lock (another process reading or committing).
BUSY_TIMEOUT_S = 15.0

#: Called with the name of each step of a commit (tests kill a writer between steps).
_FAULT_HOOK: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if _FAULT_HOOK is not None:
        _FAULT_HOOK(name)


@dataclass(frozen=True, kw_only=True)
class StoreSnapshot:
    """What a run needs of the store, read in one go (one consistent state).

    ``records`` are in stored order with ``membership`` aligned to them row by row; their
    text columns are ``string`` columns in which a repeated value is one Python string (see
    :func:`_fetch`). ``issued`` holds every person ID ever issued and ``first_seen`` the run
    each was born in.
    """

    generation: int
    n_runs: int
    config: dict[str, Any] | None
    model: dict[str, Any] | None
    records: pd.DataFrame
    membership: pd.DataFrame
    links: pd.DataFrame
    decisions: pd.DataFrame
    issued: frozenset[str]
    first_seen: dict[str, int]

    @property
    def empty(self) -> bool:
        return len(self.records) == 0


@dataclass(frozen=True, kw_only=True)
class StoreWrite:
    """One run's changes to the store, written in one transaction by :meth:`RegistryStore.commit`.

    ``records``: with ``replace_records`` the new content of the table, else rows to append.
    ``drop_keys`` (``source, record_id``): records, their membership rows and every link
    touching them to delete first. ``links`` likewise: with ``replace_links`` the new
    table, else rows to append. ``membership``, ``registry`` and ``households`` replace
    their tables; ``changes`` (without ``run_id``) and the ``run`` row are appended.
    """

    kind: str
    records: pd.DataFrame
    replace_records: bool
    links: pd.DataFrame
    replace_links: bool
    membership: pd.DataFrame
    registry: pd.DataFrame
    households: pd.DataFrame
    changes: pd.DataFrame
    run: dict[str, Any]
    drop_keys: pd.DataFrame | None = None


class RegistryStore:
    """A registry kept in a DuckDB file across runs.

    Parameters
    ----------
    path : str or Path
        The database file (created by the first run saved into it).

    Examples
    --------
    Runs are saved through :class:`regsosek_link.Linker`::

        Linker(config).run(data, store="registry.duckdb")        # first full run
        Linker(batch_config).update("registry.duckdb", batch)    # a new batch
        Linker(config).withdraw("registry.duckdb", source="dtks", record_ids=["17"])
        RegistryStore("registry.duckdb").changes()
    """

    TABLES = TABLES

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RegistryStore({str(self.path)!r})"

    # -- connections -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, *, read_only: bool) -> Iterator[Any]:
        """A DuckDB connection, waiting up to :data:`BUSY_TIMEOUT_S` for another process's
        connection to close (DuckDB lets one process open a file for writing at a time)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise StoreError(f"the registry store {str(self.path)!r} cannot be opened: {exc}") from exc
                if time.monotonic() > deadline:
                    raise StoreError(
                        f"the registry store {str(self.path)!r} is busy: another process has held it open for "
                        f"over {BUSY_TIMEOUT_S:.0f} s ({exc}). Close the other program (a notebook or a "
                        "DuckDB shell holding the file), then try again.") from exc
                time.sleep(0.05)
            except duckdb.Error as exc:
                raise StoreError(f"the registry store {str(self.path)!r} cannot be opened: {exc}. Is it a "
                                 "DuckDB file written by regsosek-link?") from exc
        try:
            yield con
        finally:
            con.close()

    @staticmethod
    def _tables(con: Any) -> set[str]:
        return {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}

    # -- reading ---------------------------------------------------------------------------

    def exists(self) -> bool:
        """Whether the file holds a registry (records saved by a run)."""
        if not self.path.exists():
            return False
        with self._connect(read_only=True) as con:
            return "records" in self._tables(con)

    def _read(self, name: str, order: str = "") -> pd.DataFrame:
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
        if not self.path.exists():
            return pd.DataFrame()
        with self._connect(read_only=True) as con:
            return self._read_with(con, name, order)

    def _read_with(self, con: Any, name: str, order: str = "") -> pd.DataFrame:
        if name not in self._tables(con):
            return pd.DataFrame()
        return _fetch(con, f"select * from {name} {order}")

    def table(self, name: str) -> pd.DataFrame:
        """A table of the store as a DataFrame (empty when absent)."""
        return self._read(name)

    def membership(self) -> pd.DataFrame:
        return self._read("membership", "order by source, record_id")

    def registry(self) -> pd.DataFrame:
        return self._read("registry", "order by person_id")

    def households(self) -> pd.DataFrame:
        return self._read("households")

    def links(self) -> pd.DataFrame:
        return self._read("links")

    def changes(self, run_id: int | None = None) -> pd.DataFrame:
        """The change log (of one run when ``run_id`` is given)."""
        ch = self._read("changes", "order by run_id, seq")
        if run_id is not None and len(ch):
            ch = ch[ch["run_id"].to_numpy() == int(run_id)].reset_index(drop=True)
        return ch

    def runs(self) -> pd.DataFrame:
        return self._read("runs", "order by run_id")

    def decisions(self) -> pd.DataFrame:
        d = self._read("decisions")
        return d[list(DECISION_COLUMNS)] if len(d) else pd.DataFrame(columns=list(DECISION_COLUMNS))

    def records(self) -> pd.DataFrame:
        """The stored clean records in stored order (as DuckDB returns them; the run casts
        them back to the clean dtypes)."""
        rec = self._read("records", "order by _pos")
        return rec.drop(columns="_pos") if len(rec) else rec

    def generation(self) -> int:
        """A counter that every write raises (0 for a new or a layout-1 store)."""
        if not self.path.exists():
            return 0
        with self._connect(read_only=True) as con:
            return self._generation(con)

    def _generation(self, con: Any) -> int:
        if "meta" not in self._tables(con):
            return 0
        rows = con.execute("select value from meta where key = 'generation'").fetchall()
        return int(rows[0][0]) if rows else 0

    def latest_config(self) -> dict[str, Any] | None:
        """The config (as a dict) of the latest run, or None."""
        runs = self._read("runs", "order by run_id desc limit 1")
        return None if runs.empty else json.loads(runs["config"].iloc[0])

    def model_dict(self) -> dict[str, Any] | None:
        """The model of the latest run that has one, as :mod:`regsosek_link.model_io` JSON."""
        runs = self._read("runs", "where model is not null order by run_id desc limit 1")
        return None if runs.empty else json.loads(runs["model"].iloc[0])

    def model(self) -> Any:
        """The fitted model of the latest run that has one (None when there is none)."""
        from .model_io import model_from_dict

        d = self.model_dict()
        return None if d is None else model_from_dict(d, where=f"the model stored in {str(self.path)!r}").model

    def snapshot(self) -> StoreSnapshot:
        """Everything a run needs, read through one connection."""
        if not self.path.exists():
            return _empty_snapshot()
        with self._connect(read_only=True) as con:
            have = self._tables(con)
            if "records" not in have:
                return _empty_snapshot(self._generation(con))
            # (through Arrow, text values shared: see _fetch)
            records = _fetch(con, "select * exclude (_pos) from records order by _pos")
            membership = _fetch(con, "select m.* from records r left join membership m on m.source = r.source "
                                "and m.record_id = r.record_id order by r._pos")
            links = _fetch(con, "select * from links") if "links" in have else pd.DataFrame()
            decisions = self._read_with(con, "decisions")
            decisions = decisions[list(DECISION_COLUMNS)] if len(decisions) else pd.DataFrame(
                columns=list(DECISION_COLUMNS))
            runs = self._read_with(con, "runs", "order by run_id")
            issued: frozenset[str] = frozenset()
            first_seen: dict[str, int] = {}
            if "changes" in have:  # (the log grows with every run: only what person IDs need of it)
                issued = frozenset(str(r[0]) for r in con.execute("select distinct person_id from changes").fetchall())
                first_seen = {str(k): int(v) for k, v in con.execute(
                    "select person_id, min(run_id) from changes where change in ('new', 'split_from') "
                    "group by person_id").fetchall()}
            generation = self._generation(con)
        config = json.loads(runs["config"].iloc[-1]) if len(runs) else None
        with_model = runs[runs["model"].notna()] if len(runs) else runs
        model = json.loads(with_model["model"].iloc[-1]) if len(with_model) else None
        return StoreSnapshot(generation=generation, n_runs=len(runs), config=config, model=model,
                             records=records, membership=membership, links=links, decisions=decisions,
                             issued=issued, first_seen=first_seen)

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, command: str) -> Iterator[None]:
        """Hold the store's writer lock for the block (one writer at a time).

        Raises :class:`~regsosek_link.errors.StoreError` at once when another process holds
        it, naming that process's run; the lock goes with the process, so a killed writer
        leaves none behind (:func:`regsosek_link._lock.writer_lock`).
        """
        with writer_lock(self.path.with_name(self.path.name + ".lock"), command,
                         what=f"the registry store {str(self.path)!r}"):
            yield

    def commit(self, write: StoreWrite, *, generation: int) -> int:
        """Write one run in one transaction; returns its run id.

        Refused (nothing written) when the store's generation is no longer ``generation``,
        the one the run read: another run was saved meanwhile and this one's result is stale.
        """
        with self._connect(read_only=False) as con:
            con.execute("begin transaction")
            try:
                now = self._generation(con)
                if now != generation:
                    raise StoreError(
                        f"the registry store {str(self.path)!r} was changed by another run while this "
                        f"{write.kind} ran (generation {generation} when it started, {now} now); nothing was "
                        "written. Run it again: it will start from the store as it is now.")
                run_id = self._write(con, write, generation)
                _step("before commit")
                con.execute("commit")
                _step("after commit")  # (before the connection closes and checkpoints)
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    con.execute("rollback")
                raise
        _step("committed")
        return run_id

    def _write(self, con: Any, w: StoreWrite, generation: int) -> int:
        have = self._tables(con)
        for old in _OLD_TABLES:
            if old in have:
                con.execute(f"drop table {old}")
        row = con.execute("select coalesce(max(run_id), 0) from runs").fetchall()[0] if "runs" in have else (0,)
        run_id = int(row[0]) + 1

        def put(name: str, frame: pd.DataFrame, *, replace: bool) -> None:
            _step(f"write {name}")
            con.register("_frame", _as_arrow(frame))
            try:
                if replace or name not in have:
                    con.execute(f"create or replace table {name} as select * from _frame")
                    have.add(name)
                    return
                cols = {r[0] for r in con.execute("select column_name from information_schema.columns "
                                                  "where table_name = ?", [name]).fetchall()}
                if set(map(str, frame.columns)) <= cols:
                    con.execute(f"insert into {name} by name select * from _frame")
                else:  # new columns (a new source's extra columns): missing values are null
                    con.execute(f"create or replace table {name} as select * from {name} "
                                "union all by name select * from _frame")
            finally:
                con.unregister("_frame")

        if w.drop_keys is not None and len(w.drop_keys) and "records" in have:
            _step("drop records")
            con.register("_drop", w.drop_keys[["source", "record_id"]].astype("string"))
            try:
                con.execute("delete from records where exists (select 1 from _drop d where "
                            "d.source = records.source and d.record_id = records.record_id)")
                if "links" in have and not w.replace_links:
                    con.execute("delete from links where exists (select 1 from _drop d where "
                                "(d.source = links.source_l and d.record_id = links.record_id_l) or "
                                "(d.source = links.source_r and d.record_id = links.record_id_r))")
            finally:
                con.unregister("_drop")
        first = 0
        if not w.replace_records and "records" in have:
            first = int(con.execute("select coalesce(max(_pos) + 1, 0) from records").fetchall()[0][0])
        records = w.records.reset_index(drop=True)
        records.insert(0, "_pos", np.arange(first, first + len(records), dtype=np.int64))
        put("records", records, replace=w.replace_records)
        put("links", w.links, replace=w.replace_links)
        put("membership", w.membership, replace=True)
        put("registry", w.registry, replace=True)
        put("households", w.households, replace=True)
        changes = w.changes.copy()
        changes.insert(0, "run_id", np.full(len(changes), run_id, np.int64))
        changes["seq"] = np.arange(len(changes), dtype=np.int64)
        put("changes", changes, replace=False)
        put("runs", pd.DataFrame([{"run_id": run_id, **w.run}]), replace=False)
        if "decisions" not in have:
            put("decisions", pd.DataFrame({c: pd.array([], dtype="string") for c in DECISION_COLUMNS}),
                replace=True)
        self._set_generation(con, have, generation + 1)
        return run_id

    def _set_generation(self, con: Any, have: set[str], value: int) -> None:
        _step("write meta")
        if "meta" not in have:
            con.execute("create table meta (key varchar primary key, value varchar)")
            have.add("meta")
        con.execute("insert or replace into meta values ('generation', ?), ('format_version', ?)",
                    [str(value), str(FORMAT_VERSION)])

    # -- decisions -------------------------------------------------------------------------

    def add_decisions(self, decisions: pd.DataFrame | str | Path) -> int:
        """Store reviewers' decisions (a later decision on a pair replaces an earlier one).

        They are honoured by every later run, update and withdrawal saved in this store.
        Returns the number of decisions read.
        """
        d = read_decisions(decisions)
        with self.writing("add decisions"):
            generation = self.generation()
            both = merge_decisions(self.decisions(), d)
            with self._connect(read_only=False) as con:
                con.execute("begin transaction")
                have = self._tables(con)
                if self._generation(con) != generation:  # (the lock makes this impossible; kept as a guard)
                    con.execute("rollback")
                    raise StoreError(f"the registry store {str(self.path)!r} changed while decisions were "
                                     "added; nothing was written. Import them again.")
                con.register("_d", both.astype("string"))
                con.execute("create or replace table decisions as select * from _d")
                con.unregister("_d")
                self._set_generation(con, have, generation + 1)
                con.execute("commit")
        return len(d)


def _empty_snapshot(generation: int = 0) -> StoreSnapshot:
    return StoreSnapshot(generation=generation, n_runs=0, config=None, model=None, records=pd.DataFrame(),
                         membership=pd.DataFrame(), links=pd.DataFrame(),
                         decisions=pd.DataFrame(columns=list(DECISION_COLUMNS)), issued=frozenset(),
                         first_seen={})


def _fetch(con: Any, sql: str) -> pd.DataFrame:
    """The rows of ``sql`` as a DataFrame, fetched through Arrow.

    Text columns become pandas ``string`` columns in which equal values are one Python
    string: DuckDB's own conversion (``.df()``) makes a Python object of every cell, some
    60 bytes each, so a stored registry read back took twice the memory of the same records
    made by a run (whose columns share their repeated values). Integer columns with nulls
    become nullable pandas integers, those without numpy integers, as ``.df()`` gives them.
    """
    import pyarrow as pa

    rel = con.sql(sql)
    table = rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()  # (duckdb < 1.4)
    columns: dict[str, Any] = {}
    for name, column in zip(table.column_names, table.columns):
        t = column.type
        if pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view":
            columns[name] = _shared_text(column)
        elif pa.types.is_integer(t) and column.null_count:
            columns[name] = pd.Series(pd.array(column.to_pandas(), dtype=str(t).capitalize().replace("Ui", "UI")))
        else:
            columns[name] = column.to_pandas()
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))


def _shared_text(column: Any) -> pd.arrays.StringArray:
    """An Arrow text column as a pandas ``string`` (python storage) array whose rows holding
    one value hold one Python string (nulls -> <NA>)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    enc = pc.dictionary_encode(arr.cast(pa.string()) if str(arr.type) == "string_view" else arr)
    distinct = np.empty(len(enc.dictionary) + 1, dtype=object)
    distinct[:-1] = enc.dictionary.to_numpy(zero_copy_only=False)
    distinct[-1] = pd.NA
    ix = enc.indices.fill_null(len(distinct) - 1) if enc.indices.null_count else enc.indices
    return pd.arrays.StringArray(distinct.take(ix.to_numpy()))


#: Rows of a frame converted to Arrow at a time when DuckDB reads it (:func:`_as_arrow`).
ARROW_CHUNK_ROWS = 65_536


def _as_arrow(frame: pd.DataFrame, chunk_rows: int | None = None) -> Any:
    """``frame`` as Arrow data for DuckDB: missing values of pandas string columns are
    nulls. (DuckDB before 2.0 scanning a pandas string column directly, with pandas 2.2 and
    NumPy 1.26, stored its <NA> as the text '<NA>', found by .ci/min-deps.)

    A frame of more than ``chunk_rows`` rows (default :data:`ARROW_CHUNK_ROWS`) is a stream
    of record batches of that many rows with the frame's schema, converted as DuckDB reads
    them: a big run's records are not held a second time, whole, in Arrow while they are
    written (where a full ``run --store`` peaked). The stream can be read once."""
    import pyarrow as pa

    chunk_rows = chunk_rows or ARROW_CHUNK_ROWS
    if len(frame) <= chunk_rows:
        return pa.Table.from_pandas(frame, preserve_index=False)
    schema = pa.Schema.from_pandas(frame, preserve_index=False)

    def batches() -> Iterator[Any]:
        for start in range(0, len(frame), chunk_rows):
            chunk = frame.iloc[start:start + chunk_rows]
            yield from pa.Table.from_pandas(chunk, schema=schema, preserve_index=False).to_batches()

    return pa.RecordBatchReader.from_batches(schema, batches())
