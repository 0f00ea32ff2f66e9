"""A registry kept across runs by the Spark engine: Parquet tables in a directory.

``Linker(config, engine=SparkEngine(spark)).run(data, store="registry/")``,
``.update("registry/", batch)`` (``retrain=True`` too) and ``.withdraw("registry/",
source=...)`` keep what the embedded engine's DuckDB store keeps (records,
membership, registry, households, links, reviewers' decisions, the change log and one row
per run with its config and model), with the same life cycle: the Linker's checks and plan
(:meth:`~regsosek_link.run.linker.Linker._update_plan`: stored settings, stored model,
batch; ``_withdraw_plan``), the one pipeline on Spark (:meth:`SparkEngine._link`) with the update's three inputs
(new records only are blocked, the stored links kept, the stored membership behind stable
person IDs; a withdrawal: the records left, no blocking, the stored links between them)
and :func:`regsosek_link.ids.assign_person_ids` for the persons whose IDs change, salted
with the config's ``person_id_salt`` as the embedded engine salts them.

Layout (``DIR``)::

    CURRENT          the name of the current version, e.g. "v000003"
    v000003/         records/ membership/ registry/ households/ links/ changes/ (Parquet),
                     decisions.parquet, runs.json, meta.json
    DIR.lock         the writer lock (one writer at a time, see regsosek_link._lock)

A write builds a whole new version in a temporary directory, renames it into place, then
replaces ``CURRENT`` (an atomic rename): a crash at any point leaves the previous version
current and intact. The version before the current one is kept (a reader may still be
reading it); older ones are deleted after the switch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..._lock import writer_lock
from ...errors import ConfigError, StoreError
from ...ids import CHANGE_COLUMNS, assign_person_ids, new_id_maker, person_id_salt
from ...review import DECISION_COLUMNS, merge_decisions, read_decisions
from ...run._core import Stages
from ...run._memory import ProcessTuning
from ...run.linker import (
    _as_clean,
    _decisions,
    _new_records_only,
    _refuse_renamed_sources,
    run_row,
    unread_records_error,
)
from . import _stages as st

__all__ = ["SparkRegistryStore", "run_with_store", "update_store", "withdraw_store"]

log = logging.getLogger("regsosek_link.engine.spark")

#: The layout's name and version in ``meta.json``.
FORMAT = "regsosek-link spark store"
FORMAT_VERSION = 1
#: The Parquet tables of a version (Spark DataFrames).
TABLES: tuple[str, ...] = ("records", "membership", "registry", "households", "links", "changes")

#: Called with the name of each step of a commit (tests stop a writer between steps).
_FAULT_HOOK: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if _FAULT_HOOK is not None:
        _FAULT_HOOK(name)


@dataclass(frozen=True, kw_only=True)
class SparkSnapshot:
    """One version of the store as a run reads it: the big tables as (lazy) Spark
    DataFrames, the small ones on the driver."""

    generation: int
    config: dict[str, Any] | None
    model: dict[str, Any] | None
    records: Any
    membership: Any
    links: Any
    changes: Any
    decisions: pd.DataFrame
    runs: list[dict[str, Any]]

    @property
    def empty(self) -> bool:
        return self.records is None


class SparkRegistryStore:
    """A registry kept as Parquet tables in the directory ``path`` (see the module docstring).

    ``path`` is a directory of a file system the driver writes with renames that are atomic
    (a local disk, or a mount every executor sees on a cluster: NFS, ``/dbfs``).
    """

    def __init__(self, path: str | os.PathLike[str], spark: Any) -> None:
        text = str(path)
        if "://" in text and not text.startswith("file://"):
            raise ConfigError(f"registry store {text!r}: the Spark engine keeps a store in a directory of a mounted "
                              "file system (local, NFS, /dbfs), switched by atomic renames; object stores (s3://, "
                              "gs://, abfss://) and HDFS URLs are not supported yet. Give a mounted path.")
        self.path = Path(text.removeprefix("file://"))
        self.spark = spark

    def __repr__(self) -> str:
        return f"SparkRegistryStore({str(self.path)!r})"

    # -- versions ------------------------------------------------------------------------

    def _current(self) -> Path | None:
        pointer = self.path / "CURRENT"
        if not pointer.exists():
            if self.path.exists() and self.path.is_file():
                raise StoreError(f"the registry store {str(self.path)!r} is a file (a DuckDB store?); the Spark "
                                 "engine keeps its store in a directory: give a directory path")
            return None
        name = pointer.read_text(encoding="utf-8").strip()
        version = self.path / name
        meta = version / "meta.json"
        if not name.startswith("v") or not meta.exists():
            raise StoreError(f"the registry store {str(self.path)!r} names version {name!r}, which is missing or "
                             "incomplete; it was not written by regsosek-link, or was changed by hand")
        info = json.loads(meta.read_text(encoding="utf-8"))
        if info.get("format") != FORMAT or int(info.get("format_version", 0)) > FORMAT_VERSION:
            raise StoreError(f"the registry store {str(self.path)!r} has layout {info.get('format')!r} version "
                             f"{info.get('format_version')}, which this version of regsosek-link cannot read")
        return version

    def exists(self) -> bool:
        """Whether the directory holds a registry."""
        return self._current() is not None

    def generation(self) -> int:
        """The current version's number (0: no registry yet); every write raises it."""
        current = self._current()
        return 0 if current is None else int(current.name[1:])

    def table(self, name: str) -> Any:
        """A table of the current version as a Spark DataFrame (None when there is none)."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; tables: {', '.join(TABLES)}")
        current = self._current()
        return None if current is None else self.spark.read.parquet(str(current / name))

    def runs(self) -> pd.DataFrame:
        """One row per run (kind, counts, config and model as JSON text)."""
        current = self._current()
        return pd.DataFrame(_runs(current) if current is not None else [])

    def decisions(self) -> pd.DataFrame:
        current = self._current()
        if current is None or not (current / "decisions.parquet").exists():
            return pd.DataFrame({c: pd.array([], dtype="string") for c in DECISION_COLUMNS})
        return pd.read_parquet(current / "decisions.parquet").astype("string")

    def snapshot(self) -> SparkSnapshot:
        current = self._current()
        if current is None:
            return SparkSnapshot(generation=0, config=None, model=None, records=None, membership=None, links=None,
                                 changes=None, decisions=self.decisions(), runs=[])
        runs = _runs(current)
        with_model = [r for r in runs if r.get("model")]
        read = {name: self.spark.read.parquet(str(current / name)) for name in TABLES}
        return SparkSnapshot(generation=int(current.name[1:]), config=json.loads(runs[-1]["config"]) if runs else None,
                             model=json.loads(with_model[-1]["model"]) if with_model else None,
                             records=read["records"], membership=read["membership"], links=read["links"],
                             changes=read["changes"], decisions=self.decisions(), runs=runs)

    # -- writing -------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, command: str) -> Iterator[None]:
        """The store's writer lock (``DIR.lock``) for the block."""
        with writer_lock(self.path.with_name(self.path.name + ".lock"), command,
                         what=f"the registry store {str(self.path)!r}"):
            yield

    def commit(self, tables: Mapping[str, Any], *, decisions: pd.DataFrame, runs: list[dict[str, Any]],
               generation: int) -> None:
        """Write a new version holding ``tables`` (Spark DataFrames, one per :data:`TABLES`),
        ``decisions`` and ``runs``, then make it current. Refused (nothing written) when the
        store is no longer at ``generation``."""
        now = self.generation()
        if now != generation:
            raise StoreError(f"the registry store {str(self.path)!r} was changed by another run while this one ran "
                             f"(version {generation} when it started, {now} now); nothing was written. Run it again.")
        name = f"v{generation + 1:06d}"
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            for table in TABLES:
                _step(f"write {table}")
                tables[table].write.mode("error").parquet(str(tmp / table))
            decisions.astype("string").to_parquet(tmp / "decisions.parquet", index=False)
            (tmp / "runs.json").write_text(json.dumps(runs, ensure_ascii=False), encoding="utf-8")
            (tmp / "meta.json").write_text(json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION,
                                                       "generation": generation + 1}), encoding="utf-8")
            _step("rename version")
            if (self.path / name).exists():  # (a writer killed before its switch left it: never current)
                shutil.rmtree(self.path / name)
            os.replace(tmp, self.path / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _step("switch")
        pointer = self.path / f".CURRENT.{uuid.uuid4().hex[:8]}"
        pointer.write_text(name, encoding="utf-8")
        os.replace(pointer, self.path / "CURRENT")  # (the commit point)
        _step("committed")
        keep = {name, f"v{generation:06d}"}
        for old in self.path.iterdir():
            stale = old.name.startswith("v") and old.name not in keep
            leftover = old.name.startswith(".v") and old.name.endswith(".tmp")  # (a crashed writer's)
            if old.is_dir() and (stale or leftover):
                shutil.rmtree(old, ignore_errors=True)


    def add_decisions(self, decisions: pd.DataFrame | str | Path) -> int:
        """Store reviewers' decisions (a later decision on a pair replaces an earlier one),
        honoured by every later run and update saved here, as a new version with the same
        tables. Returns the number of decisions read."""
        d = read_decisions(decisions)
        with self.writing("add decisions"):
            snap = self.snapshot()
            if snap.empty:
                raise StoreError(f"the registry store {str(self.path)!r} holds no registry yet; make one with a "
                                 "full run first")
            self.commit({name: self.table(name) for name in TABLES}, decisions=merge_decisions(snap.decisions, d),
                         runs=snap.runs, generation=snap.generation)
        return len(d)


def _runs(version: Path) -> list[dict[str, Any]]:
    return list(json.loads((version / "runs.json").read_text(encoding="utf-8")))


# ----------------------------------------------------------------------------------------
# the life cycle


def run_with_store(engine: Any, linker: Any, data: Mapping[str, Any] | None, store: Any, *, progress: Any = None,
                   relink: bool = False, replace: bool = False, **_: Any) -> Any:
    """:meth:`Linker.run` with a store, on Spark: refused before any work when the
    settings contradict the stored ones (unless ``relink``) or when stored records are not
    read (unless ``replace``); person IDs kept stable against the stored registry."""
    from pyspark.sql import functions as F

    cfg = linker.config
    sto = SparkRegistryStore(store, engine.spark)
    with sto.writing(f"run on spark ({len(cfg.sources)} sources)"):
        snap = sto.snapshot()
        linker._check_stored_settings(snap, sto, relink=relink)
        stages = Stages(progress, tuning=ProcessTuning(enabled=False))
        engine.spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
        raw = stages("ingest", lambda: engine._raw(cfg, data))
        if not snap.empty and not replace:
            gone = snap.records.select("source", "record_id").join(raw.select("source", "record_id"),
                                                                   ["source", "record_id"], "left_anti")
            by = {r["source"]: int(r["n"]) for r in gone.groupBy("source").agg(F.count("*").alias("n")).collect()}
            if by:
                examples = [f"{r['source']}|{r['record_id']}" for r in gone.orderBy("source", "record_id").limit(3)
                            .collect()]
                raise unread_records_error(sto, sum(by.values()), by, examples)
        ids = StableIds(snap, engine.spark, salt=person_id_salt(cfg))
        result = engine._link(raw, cfg, stages=stages, model=linker.model, constrained=linker.constrained,
                              decisions=_decisions(snap.decisions, linker.decisions), ids=ids)
        return _save(sto, snap, result, ids, config=cfg, kind="full" if snap.empty or not relink else "relink")


def update_store(engine: Any, linker: Any, store: Any, data: Mapping[str, Any] | None = None, *,
                 retrain: bool = False, relink: bool = False, progress: Any = None) -> Any:
    """:meth:`Linker.update` on Spark: the Linker's plan (stored settings, stored model,
    batch), then the pipeline with the stored records, only pairs with a new record blocked,
    the stored links kept and the person IDs kept stable. ``retrain``: no stored model
    (the plan gives none), so the model is trained on the pairs with a new record, its
    prior a share of every pair with a new record (as the embedded update trains)."""
    sto = SparkRegistryStore(store, engine.spark)
    names = ", ".join(s.name for s in linker.config.sources)
    with sto.writing(f"update on spark ({names})"):
        snap = sto.snapshot()
        cfg, run_cfg, model, batch_cfg = linker._update_plan(snap, sto, data, retrain=retrain, relink=relink)
        stages = Stages(progress, tuning=ProcessTuning(enabled=False))
        engine.spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
        raw = stages("ingest", lambda: engine._raw(batch_cfg, data))
        from pyspark.sql import functions as F

        def prepare(batch: Any) -> Any:
            batch = _new_batch_records(batch, snap.records)
            if relink:
                return snap.records.unionByName(batch, allowMissingColumns=True)
            return snap.records.withColumn("_new", F.lit(False)).unionByName(
                batch.withColumn("_new", F.lit(True)), allowMissingColumns=True)

        def kept(records: Any) -> Any:
            return _kept_links(snap.links, records)

        ids = StableIds(snap, engine.spark, salt=person_id_salt(run_cfg))
        result = engine._link(raw, run_cfg, stages=stages, model=model, constrained=linker.constrained,
                              decisions=_decisions(snap.decisions, linker.decisions), prepare=prepare,
                              kept=None if relink else kept, ids=ids, stored=snap.records)
        return _save(sto, snap, result, ids, config=cfg, kind="relink" if relink else "update")


def withdraw_store(engine: Any, linker: Any, store: Any, *, source: str, record_ids: Any = None,
                   progress: Any = None) -> Any:
    """:meth:`Linker.withdraw` on Spark: the Linker's plan (the stored config and model),
    then the pipeline on the stored records left, without blocking: the stored links
    between them are clustered again under the constraints and decisions, person IDs kept
    stable (persons left without records ``removed``, persons that fall apart ``split_from``)."""
    from pyspark.sql import functions as F

    from ...run.linker import _clean_dtypes, nothing_to_withdraw_error

    sto = SparkRegistryStore(store, engine.spark)
    with sto.writing(f"withdraw on spark ({source})"):
        snap = sto.snapshot()
        cfg, run_cfg, model = linker._withdraw_plan(snap, sto)
        gone = F.col("source") == source
        if record_ids is not None:
            gone = gone & F.col("record_id").isin([str(r) for r in record_ids])
        if snap.records.where(gone).limit(1).count() == 0:
            raise nothing_to_withdraw_error(source, record_ids, [r["source"] for r in snap.records.select(
                "source").distinct().collect()])
        stages = Stages(progress, tuning=ProcessTuning(enabled=False))
        spark = engine.spark
        spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
        # no raw records: the stored ones are linked (an empty frame of the raw columns
        # gives the clean columns' dtypes, extra columns as text)
        clean = _clean_dtypes()
        raw_cols = ["source", "record_id"] + [c for c in snap.records.columns if c not in clean]
        raw = spark.createDataFrame([], ", ".join(f"`{c}` string" for c in raw_cols))

        def prepare(_: Any) -> Any:
            return snap.records.where(~gone).withColumn("_new", F.lit(False))

        ids = StableIds(snap, spark, salt=person_id_salt(run_cfg))
        result = engine._link(raw, run_cfg, stages=stages, model=model, constrained=linker.constrained,
                              decisions=_decisions(snap.decisions, linker.decisions), prepare=prepare,
                              kept=lambda records: _kept_links(snap.links, records), ids=ids, blocking=False)
        return _save(sto, snap, result, ids, config=cfg, kind="withdraw")


def _kept_links(links: Any, records: Any) -> Any:
    """The stored ``links`` whose two records are among ``records``, with their ranks as
    ``left`` and ``right``."""
    keys = records.select("rank", "source", "record_id")
    return (links
            .join(keys.withColumnRenamed("rank", "left").withColumnRenamed("source", "source_l")
                  .withColumnRenamed("record_id", "record_id_l"), ["source_l", "record_id_l"])
            .join(keys.withColumnRenamed("rank", "right").withColumnRenamed("source", "source_r")
                  .withColumnRenamed("record_id", "record_id_r"), ["source_r", "record_id_r"]))


def _new_batch_records(batch: Any, stored: Any) -> Any:
    """The batch's standardised records without those stored already with the same
    values; refused as the embedded update refuses (:func:`_new_records_only`: a record
    stored with other values; :func:`_refuse_renamed_sources`: a renamed source). Only the
    records whose keys (record IDs) the two share come to the driver."""
    from pyspark.sql import functions as F

    keys = ["source", "record_id"]
    shared = [c for c in batch.columns if c in stored.columns]
    both = batch.join(stored.select(*keys), keys, "left_semi")
    if both.limit(1).count():
        was = stored.join(batch.select(*keys), keys, "left_semi")
        _new_records_only(_as_clean(both.toPandas()), _as_clean(was.select(*shared).toPandas()))
    fresh = batch.join(stored.select(*keys), keys, "left_anti")
    stored_sources = {r["source"] for r in stored.select("source").distinct().collect()}
    new_sources = [r["source"] for r in fresh.select("source").distinct().collect() if r["source"] not in stored_sources]
    if new_sources:
        part = fresh.where(F.col("source").isin(new_sources))
        # (a renamed source's records are stored records with the same IDs and values)
        same_ids = stored.join(part.select("record_id"), "record_id", "left_semi")
        if same_ids.limit(1).count():
            _refuse_renamed_sources(_as_clean(part.toPandas()), _as_clean(same_ids.select(*shared).toPandas()))
    return fresh


class StableIds:
    """The person IDs of a run against the stored membership (``previous``), as
    :func:`regsosek_link.ids.assign_person_ids` gives them for all records, and the changes.

    Clusters settle on Spark when no ID can change: a cluster whose records are all the
    current records of one stored person keeps that person's ID; a cluster of new records
    only gets its own ID (the hash of its smallest record key, salted with ``salt`` when the
    registry has one: the label the cluster stage gave it; ``new``) unless that ID was
    issued before. Persons without a record left are
    ``removed``. The rest (clusters touched by merges, splits and reissued IDs, a closed set:
    every stored person of such a cluster has all its current records among them) go to the
    driver and through :func:`assign_person_ids`, with the issued IDs they could collide with.
    """

    def __init__(self, snap: SparkSnapshot, spark: Any, *, salt: bytes | None = None) -> None:
        self.snap = snap
        self.spark = spark
        self.salt = salt
        self.changes: Any = None

    def __call__(self, membership: Any) -> Any:
        from pyspark.sql import functions as F

        spark, snap = self.spark, self.snap
        cols = membership.columns
        m = membership.withColumnRenamed("person_id", "_label")
        keys = ["source", "record_id"]
        if snap.empty:
            prev = spark.createDataFrame([], "source string, record_id string, _prev string")
            issued = spark.createDataFrame([], "person_id string, _run bigint, change string")
        else:
            prev = snap.membership.select(*keys, F.col("person_id").alias("_prev"))
            issued = snap.changes.select("person_id", F.col("run_id").alias("_run"), "change")
        j = st.cut(m.join(prev, keys, "left"))
        per_prev = j.where(F.col("_prev").isNotNull()).groupBy("_prev").agg(F.count("*").alias("n_prev"))
        per_label = (j.groupBy("_label")
                     .agg(F.count("*").alias("n"), F.countDistinct("_prev").alias("k"),
                          F.count("_prev").alias("with_prev"), F.first("_prev", ignorenulls=True).alias("p1")))
        ever = issued.select(F.col("person_id").alias("_id")).distinct()
        per_label = per_label.join(per_prev, per_label["p1"] == per_prev["_prev"], "left").drop("_prev")
        per_label = per_label.join(ever, per_label["_label"] == ever["_id"], "left").withColumn(
            "reissued", F.col("_id").isNotNull()).drop("_id")
        kept = (F.col("k") == 1) & (F.col("with_prev") == F.col("n")) & (F.col("n_prev") == F.col("n"))
        fresh = (F.col("k") == 0) & ~F.col("reissued")
        per_label = st.cut(per_label.withColumn("how", F.when(kept, "kept").when(fresh, "new").otherwise("driver")))
        touched = j.join(per_label.where(F.col("how") == "driver").select("_label"), "_label", "left_semi")
        local = touched.select(*keys, "_label", "_prev").toPandas()
        settled = per_label.where(F.col("how") != "driver").select(
            "_label", F.when(F.col("how") == "kept", F.col("p1")).otherwise(F.col("_label")).alias("person_id"))
        changed = self._on_driver(local, prev, issued)
        parts = [settled]
        if changed is not None:
            pid_map, driver_changes = changed
            parts.append(spark.createDataFrame(pid_map, "_label string, person_id string"))
        else:
            driver_changes = None
        final = parts[0] if len(parts) == 1 else parts[0].unionByName(parts[1])
        out = m.join(final, "_label").select(*cols)
        # the changes: new persons settled on Spark, removed persons, and the driver's
        new = per_label.where(F.col("how") == "new").select(
            F.lit("new").alias("change"), F.col("_label").alias("person_id"),
            F.lit(None).cast("string").alias("other_person_id"), F.lit("new person").alias("reason"),
            F.col("n").cast("long").alias("n_records"))
        gone = (prev.groupBy("_prev").agg(F.count("*").alias("n"))
                .join(per_prev, "_prev", "left_anti")
                .select(F.lit("removed").alias("change"), F.col("_prev").alias("person_id"),
                        F.lit(None).cast("string").alias("other_person_id"),
                        F.lit("all its records were withdrawn").alias("reason"), F.col("n").cast("long").alias("n_records")))
        changes = new.unionByName(gone)
        if driver_changes is not None and len(driver_changes):
            changes = changes.unionByName(spark.createDataFrame(
                driver_changes.astype(object).where(driver_changes.notna(), None),
                "change string, person_id string, other_person_id string, reason string, n_records long"))
        self.changes = st.cut(changes)
        return st.cut(out)

    def _on_driver(self, local: pd.DataFrame, prev: Any, issued: Any) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """:func:`assign_person_ids` for the touched clusters' records (``local``)."""
        from pyspark.sql import functions as F

        if len(local) == 0:
            return None
        spark = self.spark
        ids = sorted({str(p) for p in local["_prev"].dropna()})
        previous = pd.DataFrame({"key": pd.Series([], dtype="string"), "person_id": pd.Series([], dtype="string")})
        first_seen: dict[str, int] = {}
        if ids:
            wanted = spark.createDataFrame(pd.DataFrame({"_prev": ids}))
            rows = prev.join(wanted, "_prev", "left_semi").toPandas()
            previous = pd.DataFrame({"key": rows["source"].astype(str) + "|" + rows["record_id"].astype(str),
                                     "person_id": rows["_prev"].astype(str)})
            born = (issued.where(F.col("change").isin("new", "split_from"))
                    .join(wanted.withColumnRenamed("_prev", "person_id"), "person_id", "left_semi")
                    .groupBy("person_id").agg(F.min("_run").alias("run")).collect())
            first_seen = {r["person_id"]: int(r["run"]) for r in born}
        keys = (local["source"].astype(str) + "|" + local["record_id"].astype(str)).reset_index(drop=True)
        labels = pd.factorize(local["_label"].astype(str))[0]
        used = _issued_among(keys, issued, spark, salt=self.salt)
        pid, changes = assign_person_ids(keys, labels, previous, issued=used, first_seen=first_seen, salt=self.salt)
        pid_map = pd.DataFrame({"_label": local["_label"].astype(str).to_numpy(), "person_id": pid.astype(str)})
        return pid_map.drop_duplicates("_label"), changes


def _issued_among(keys: pd.Series, issued: Any, spark: Any, *, step: int = 8, salt: bytes | None = None) -> set[str]:
    """The issued IDs a new ID made from ``keys`` could repeat: those among the (salted)
    hashes of ``key``, ``key#1``, ``key#2``... (the IDs :func:`assign_person_ids` tries in
    turn, :func:`regsosek_link.ids.new_id_maker`), so it is given them instead of every ID
    ever issued. Longer chains are fetched while any key's tries so far were all issued."""
    new_id = new_id_maker(salt)
    found: set[str] = set()
    todo = sorted(set(keys.tolist()))
    start = 0
    while todo:
        tries = {new_id(k if i == 0 else f"{k}#{i}"): k for k in todo for i in range(start, start + step)}
        hits = issued.select("person_id").distinct().join(
            spark.createDataFrame(pd.DataFrame({"person_id": list(tries)})), "person_id", "left_semi").collect()
        hit = {r["person_id"] for r in hits}
        found |= hit
        full = {k for k in todo if all(new_id(k if i == 0 else f"{k}#{i}") in hit
                                       for i in range(start, start + step))}
        todo, start = sorted(full), start + step
    return found


def _save(sto: SparkRegistryStore, snap: SparkSnapshot, result: Any, ids: StableIds, *, config: Any,
          kind: str) -> Any:
    """Commit the run as the store's next version; the result's tables then read the
    written Parquet (the previous version may be deleted by a later write)."""
    from pyspark.sql import functions as F

    t0 = time.perf_counter()
    run_id = len(snap.runs) + 1
    changes = ids.changes
    counts = {r["change"]: int(r["n"]) for r in changes.groupBy("change").agg(F.count("*").alias("n")).collect()}
    rank = F.when(F.col("change") == "new", 0).when(F.col("change") == "merged_into", 1).when(
        F.col("change") == "split_from", 2).otherwise(3)
    ordered = st.with_rank(changes.withColumn("_r", rank), ["_r", "person_id", "other_person_id"], "seq").drop("_r")
    ordered = ordered.select(F.lit(run_id).cast("long").alias("run_id"), *CHANGE_COLUMNS[1:], "seq")
    history = ordered if snap.empty else snap.changes.unionByName(ordered)
    n_persons = int(result.registry.count())
    row = {"run_id": run_id, **run_row(kind, config=config, model=result.model, model_config=result.config,
                                       n_records=result.n_records, n_persons=n_persons, counts=counts,
                                       seconds=float(sum(result.timings.values())))}
    tables = {"records": result.records, "membership": result.membership, "registry": result.registry,
              "households": result.households, "links": result.links, "changes": history}
    sto.commit(tables, decisions=snap.decisions, runs=[*snap.runs, row], generation=snap.generation)
    for name in ("records", "membership", "registry", "households", "links"):
        setattr(result, name, sto.table(name))
    result.changes = sto.table("changes").where(F.col("run_id") == run_id).drop("run_id")
    result.run_id = run_id
    result.timings["save"] = time.perf_counter() - t0
    log.info("run %d (%s) on spark: %d records, %d persons; %s", run_id, kind, result.n_records, n_persons, counts)
    return result
