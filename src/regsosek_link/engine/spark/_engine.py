"""The Spark engine's composer: the stages of :mod:`regsosek_link.run._core` on Spark.

``Linker(config, engine=SparkEngine(spark)).run(data)`` reads the sources (pandas
DataFrames through the embedded ingest and its checks; Spark DataFrames and Parquet/CSV
paths through Spark), then runs standardise, block, compare, classify, cluster, person IDs
and registry as :mod:`regsosek_link.engine.spark._stages` composes them, and gives a
:class:`SparkLinkResult` of Spark DataFrames that writes partitioned Parquet.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...block import usable_blocking_rules
from ...classify import (
    blocked_comparisons,
    finish_training,
    n_pairs_of_sizes,
    random_pairs,
    train_on_counts,
    u_from_pairs,
)
from ...compare import usable_comparisons
from ...config import LinkConfig
from ...errors import ConfigError, Problem
from ...ids import person_id_salt
from ...registry import membership_table, registry_tables
from ...run._core import NoCandidatePairsWarning, Stages
from ...run._memory import ProcessTuning
from . import _stages as st
from ._frames import arrow_schema, as_dtypes, empty_like
from ._session import default_parallelism, require_pyspark, spark_session

__all__ = ["BUCKET_RECORDS", "SparkEngine", "SparkLinkResult", "default_buckets"]

log = logging.getLogger("regsosek_link.engine.spark")

#: Records a bucket of the clustering and registry stages holds by default: a bucket is one
#: pandas frame in a Python worker (with its links, golden records and households about
#: 3 KB a record at its peak, measured at 1 M and 3 M records: workers 1,343 and 2,668 MB
#: for 2 workers at 125,000 and 375,000 records a bucket), so about 1 GB a worker however
#: many records the run has.
BUCKET_RECORDS = 250_000


def default_buckets(n_records: int, parallelism: int) -> int:
    """The clustering and registry stages' buckets for ``n_records`` records: twice the
    parallelism, or enough to hold :data:`BUCKET_RECORDS` records each.

    >>> default_buckets(1_000_000, 2), default_buckets(10_000_000, 2), default_buckets(1_000, 8)
    (4, 40, 16)
    """
    return max(2 * parallelism, 2, -(-n_records // BUCKET_RECORDS))


#: The tables a Spark run writes, and the column each is partitioned by (None: not).
PARTITIONS: dict[str, str | None] = {"membership": "source", "registry": None, "households": None, "links": None}


@dataclass
class SparkLinkResult:
    """What a Spark run produced: the output tables as Spark DataFrames (computed once and
    cached), the model, the blocking report and the stage timings."""

    config: LinkConfig
    membership: Any
    registry: Any
    households: Any
    links: Any
    model: Any
    blocking: pd.DataFrame
    n_records: int
    n_pairs: int
    timings: dict[str, float] = field(default_factory=dict)
    peak_memory_mb: dict[str, float] = field(default_factory=dict)
    #: the clean records (for a registry store); with a store also the change log and the run's id
    records: Any = None
    changes: Any = None
    run_id: int | None = None

    @property
    def n_persons(self) -> int:
        return int(self.registry.count())

    def to_pandas(self, table: str) -> pd.DataFrame:
        """One output table collected to the driver (for checks and small runs), in the
        embedded engine's row order where it has one."""
        df = getattr(self, table).toPandas()
        order = {"membership": ["source", "record_id"], "registry": ["person_id"],
                 "links": ["match_probability", "source_l", "record_id_l", "source_r", "record_id_r"],
                 "households": ["household_id", "person_id"]}[table]
        asc = [table != "links" or c != "match_probability" for c in order]
        return df.sort_values(order, ascending=asc, kind="mergesort").reset_index(drop=True)

    def write(self, output_dir: str | Path | None = None, *, mode: str = "overwrite") -> dict[str, str]:
        """Write each table as Parquet under ``output_dir/<table>/`` (membership partitioned
        by source) and the run's config as ``config.json``; returns the paths."""
        out = str(output_dir or self.config.output_dir)
        paths = {}
        for name, part in PARTITIONS.items():
            path = f"{out.rstrip('/')}/{name}"
            writer = getattr(self, name).write.mode(mode)
            if part:
                writer = writer.partitionBy(part)
            writer.parquet(path)
            paths[name] = path
        if "://" not in out:
            Path(out, "config.json").write_text(json.dumps(self.config.to_dict(), indent=2, ensure_ascii=False),
                                                encoding="utf-8")
            paths["config.json"] = str(Path(out, "config.json"))
        return paths


    def save_tables(self, prefix: str, *, mode: str = "overwrite", table_format: str | None = None) -> dict[str, str]:
        """Save each table in the session's catalog (Hive metastore, Unity Catalog, Glue...)
        as ``<prefix><table>`` (membership partitioned by source), e.g. ``prefix="dtsen.rl_"``
        gives ``dtsen.rl_membership``, ``dtsen.rl_registry``, ...; returns the table names.

        ``table_format``: the tables' format (``"delta"``, ``"parquet"``, ``"iceberg"``...);
        default the session's (``spark.sql.sources.default``). The names are checked before
        anything is written: letters, digits and underscores, with at most two dots
        (catalog.database.table).
        """
        names = {name: f"{prefix}{name}" for name in PARTITIONS}
        bad = [n for n in names.values() if not _TABLE_NAME.fullmatch(n)]
        if bad:
            raise ConfigError(f"table name(s) {bad} from the prefix {prefix!r} are not plain names: use letters, "
                              "digits and underscores, with 'database.' (or 'catalog.database.') before them")
        for name, part in PARTITIONS.items():
            writer = getattr(self, name).write.mode(mode)
            if table_format:
                writer = writer.format(table_format)
            if part:
                writer = writer.partitionBy(part)
            writer.saveAsTable(names[name])
        return names


#: A table name as ``save_tables`` accepts it: [catalog.][database.]table, plain identifiers.
_TABLE_NAME = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*\.){0,2}[A-Za-z_][A-Za-z0-9_]*")


class SparkEngine:
    """Run the pipeline on a SparkSession.

    Parameters
    ----------
    spark : SparkSession, optional
        The session (classic or Spark Connect); default :func:`spark_session` (master and
        settings from ``$REGSOSEK_SPARK_MASTER`` / ``$REGSOSEK_SPARK_CONF``).
    buckets : int, optional
        Groups the clustering and registry stages are cut into (each holds whole
        components or persons and is worked by one Python task, in memory); default
        :func:`default_buckets`: twice the session's default parallelism, and more for
        big runs so that a bucket holds about :data:`BUCKET_RECORDS` records. The results
        do not depend on it.
    batch_rows : int, optional
        Rows in each Arrow batch the stages' kernels are handed (Spark's
        ``spark.sql.execution.arrow.maxRecordsPerBatch`` during the run, set back after
        it): the kernels' fixed cost per call is paid once per batch, so the default
        (100,000; Spark's is 10,000) halves the standardisation's and comparisons' time.
        The results do not depend on it.
    driver_max_edges : int, optional
        Accepted links up to this many (default 10,000,000, about 200 MB on the driver)
        have their connected components found on the driver, in two Spark jobs; more, on
        the executors (min-label propagation, a few jobs a round). 0: always on the executors.

    Examples
    --------
    >>> engine = SparkEngine.__new__(SparkEngine)  # (no session needed to construct the type)
    >>> isinstance(engine, SparkEngine)
    True
    """

    def __init__(self, spark: Any = None, *, buckets: int | None = None, batch_rows: int = 100_000,
                 driver_max_edges: int = 10_000_000) -> None:
        require_pyspark()
        self._spark = spark
        self.buckets = buckets
        self.batch_rows = batch_rows
        self.driver_max_edges = driver_max_edges

    @property
    def spark(self) -> Any:
        if self._spark is None:
            self._spark = spark_session()
        return self._spark

    # -- the seam the Linker calls ---------------------------------------------------------

    def run(self, linker: Any, data: Mapping[str, Any] | None = None, *, progress: Any = None,
            store: Any = None, **_: Any) -> SparkLinkResult:
        """A full run of ``linker``'s config on ``data`` (by source name: a pandas or Spark
        DataFrame, or a Parquet/CSV path; sources not given are read from their ``path``)."""
        if store is not None:
            from ._store import run_with_store

            return run_with_store(self, linker, data, store, progress=progress, **_)
        stages = Stages(progress, tuning=ProcessTuning(enabled=False))
        cfg = linker.config
        spark = self.spark
        spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
        batch_key = "spark.sql.execution.arrow.maxRecordsPerBatch"
        before = spark.conf.get(batch_key, None)
        spark.conf.set(batch_key, str(self.batch_rows))
        try:
            raw = stages("ingest", lambda: self._raw(cfg, data))
            return self._link(raw, cfg, stages=stages, model=linker.model, constrained=linker.constrained,
                              decisions=linker.decisions)
        finally:  # (every table the result holds is computed by then: each stage ends in a checkpoint)
            if before is None:
                spark.conf.unset(batch_key)
            else:
                spark.conf.set(batch_key, before)

    def update(self, linker: Any, store: Any, data: Mapping[str, Any] | None = None, **options: Any) -> Any:
        """A new batch linked against the registry stored in the directory ``store`` (see
        :mod:`regsosek_link.engine.spark._store`)."""
        from ._store import update_store

        return update_store(self, linker, store, data, **options)

    def withdraw(self, linker: Any, store: Any, *, source: str, record_ids: Any = None, progress: Any = None) -> Any:
        """A source's records (all, or ``record_ids``) removed from the registry stored in
        the directory ``store`` (see :mod:`regsosek_link.engine.spark._store`)."""
        from ._store import withdraw_store

        return withdraw_store(self, linker, store, source=source, record_ids=record_ids, progress=progress)

    # -- ingest ----------------------------------------------------------------------------

    def _raw(self, cfg: LinkConfig, data: Mapping[str, Any] | None) -> Any:
        from pyspark.sql import DataFrame as SparkDataFrame

        from ...ingest import read_sources

        data = dict(data or {})
        unknown = sorted(set(data) - {s.name for s in cfg.sources})
        if unknown:
            raise ConfigError(f"data given for source(s) {unknown} that the config does not name; "
                              f"configured sources: {[s.name for s in cfg.sources]}")
        on_spark, local = [], []
        for s in cfg.sources:
            given = data.get(s.name)
            if isinstance(given, SparkDataFrame):
                on_spark.append((s, given))
            elif isinstance(given, (str, os.PathLike)) or (given is None and s.path
                                                          and str(s.path).lower().endswith((".parquet", ".csv"))):
                on_spark.append((s, self._read_path(s, str(given if given is not None else s.path))))
            else:
                local.append(s)
        parts = []
        if local:
            raw = read_sources(cfg.replace(sources=tuple(local)), {s.name: data[s.name] for s in local
                                                                    if s.name in data})
            parts.append(self.spark.createDataFrame(raw.astype(object).where(raw.notna(), None)
                                                    if len(raw) else raw.astype(object),
                                                    schema=", ".join(f"`{c}` string" for c in raw.columns)))
        mapped = [_mapped(s, df) for s, df in on_spark]
        _refuse_bad_record_ids(mapped)
        parts += mapped
        out = parts[0]
        for p in parts[1:]:
            out = out.unionByName(p, allowMissingColumns=True)
        return out

    def _read_path(self, src: Any, path: str) -> Any:
        reader = self.spark.read
        if path.lower().endswith(".csv") or path.lower().endswith(".csv.gz"):
            opts = {"header": "true", "inferSchema": "false", "encoding": src.encoding or "UTF-8"}
            if src.delimiter:
                opts["sep"] = src.delimiter
            return reader.options(**opts).csv(path)
        return reader.parquet(path)

    # -- the pipeline ----------------------------------------------------------------------

    def _link(self, raw: Any, cfg: LinkConfig, *, stages: Stages, model: Any, constrained: bool,
              decisions: pd.DataFrame | None = None, prepare: Any = None, kept: Any = None,
              ids: Any = None, blocking: bool = True, stored: Any = None) -> SparkLinkResult:
        """The pipeline on ``raw`` records. A stored registry's run passes (see ``_store``)
        ``prepare`` (the standardised records -> the records to link, with a boolean ``_new``:
        only pairs with a new record are blocked), ``kept`` (the records -> stored links to
        cluster with this run's, ``left``/``right`` ranks) and ``ids`` (the membership -> the
        membership with person IDs kept stable). ``blocking=False``: no pair is made (a
        withdrawal clusters the kept links only). ``stored``: the stored records, whose birth dates are
        counted with the batch's when its placeholder days are judged."""
        from pyspark.sql import functions as F

        from ...standardise import standardise

        spark = self.spark
        options: dict[str, Any] = {"profile": cfg.profile, **cfg.date_options()}
        empty_raw = pd.DataFrame({c: pd.Series([], dtype="string") for c in raw.columns})
        clean = standardise(empty_raw, workers=1, **options).dtypes.to_dict()

        def standardised() -> tuple[Any, int]:
            # (computed once before the sort: a range sort samples its input in a job of its
            # own, which ran the standardisation a second time)
            # (placeholder days judged on all records, not per batch)
            std = st.cut(st.judge_placeholders(st.standardise_batches(raw, clean, {**options,
                                                                                   "judge_placeholders": False}),
                                               stored))
            recs = st.with_rank(std if prepare is None else prepare(std), ["source", "record_id"])
            recs = st.cut(recs)
            return recs, int(recs.count())

        records, n = stages("standardise", standardised)
        buckets = self.buckets or default_buckets(n, default_parallelism(spark))
        dtypes = {"rank": "int64", **clean}
        proxy = _proxy(records, clean)
        notes: list[str] = []
        if model is None:
            comparisons, notes = usable_comparisons(cfg.comparisons, proxy)
            cfg = cfg.replace(comparisons=comparisons)
        rules, rule_notes = usable_blocking_rules(cfg.blocking_rules, proxy)
        cfg = cfg.replace(blocking_rules=rules)
        for note in notes + rule_notes:
            log.info(note)
        single = [s.name for s in cfg.sources if s.one_record_per_person]

        def block() -> tuple[Any, pd.DataFrame, int]:
            if not blocking:
                return (spark.createDataFrame([], "left long, right long, rule byte, rules long"),
                        pd.DataFrame({"rule": [r.label for r in cfg.blocking_rules], "pairs_generated": 0,
                                      "new_pairs": 0}), 0)
            pairs, report = st.block_pairs(records, cfg.blocking_rules, dtypes=dtypes, link_type=cfg.link_type,
                                           single_record_sources=single, max_block_size=cfg.max_block_size,
                                           new="_new" if "_new" in records.columns else None)
            return pairs, report, int(pairs.count())

        pairs, report, n_pairs = stages("block", block)
        tf_comps: list[Any] = [c for c in cfg.comparisons if getattr(c, "term_frequency", False)]  # (a NameComparison)
        tf_columns = list(dict.fromkeys(c.column for c in tf_comps))

        def compare() -> Any:
            return st.cut(st.compare_pairs(pairs, records, cfg.comparisons, dtypes=dtypes, tf_columns=tf_columns,
                                           chunk_size=cfg.chunk_size))

        levels = stages("compare", compare) if n_pairs else None
        if n_pairs == 0 and "_new" not in records.columns:  # (an update's batch may well find none)
            warnings.warn(f"blocking found no candidate pairs among {n:,} records, so every record is its own "
                          "person" + ("" if model is not None else " and no model was trained") + ".",
                          NoCandidatePairsWarning, stacklevel=3)

        def classify() -> tuple[Any, Any]:
            fitted = model
            if fitted is None and n_pairs:
                fitted = self._train(records, levels, cfg, n=n, dtypes=dtypes, single=single)
            if fitted is None or not n_pairs:
                return fitted, None
            tf = st.term_counts(records, tf_columns, clean)
            sides = st._both_sides(levels, records, ["source", "record_id"])
            for c in ("source", "record_id"):
                sides = sides.withColumnRenamed(f"l_{c}", f"{c}_l").withColumnRenamed(f"r_{c}", f"{c}_r")
            links = st.score(sides, fitted, cfg.comparisons, tf=tf, n_records=n, review_low=cfg.review_band[0],
                             threshold=cfg.threshold)
            return fitted, st.cut(links)

        fitted, links = stages("classify", classify)
        if links is None:
            links = spark.createDataFrame([], "left long, right long, source_l string, record_id_l string, "
                                          "source_r string, record_id_r string, match_probability double, "
                                          "match_weight double, accepted boolean"
                                          + "".join(f", level_{c.name} tinyint" for c in cfg.comparisons))
        if kept is not None:
            links = links.unionByName(kept(records), allowMissingColumns=True)

        def cluster() -> Any:
            columns = ["left", "right", F.col("match_probability").alias("p"), "match_weight",
                       *[f"level_{c.name}" for c in cfg.comparisons]]
            edges = links.where(F.col("match_probability") >= cfg.threshold).select(*columns)
            if constrained and fitted is not None and cfg.lone_threshold < cfg.threshold:
                # the links of records no link accepted (candidates to join a person as lone
                # records, join_lone_records) go with them: their components take them in
                ends = edges.select(F.col("left").alias("r")).unionByName(edges.select(F.col("right").alias("r")))
                ends = ends.distinct()
                weak = links.where(F.col("match_probability") < cfg.threshold)
                weak = (weak.join(ends.withColumnRenamed("r", "left"), "left", "left_anti").unionByName(
                    weak.join(ends.withColumnRenamed("r", "right"), "right", "left_anti")).distinct())
                edges = edges.unionByName(weak.select(*columns))
            # reviewers' decisions: matches join the components (they are merged first),
            # non-matches go with them to the bucket of their left record's component
            decided = st.decision_edges(records, decisions, [f"level_{c.name}" for c in cfg.comparisons])
            comp = st.connected_components(edges.select("left", "right") if decided is None else edges.select(
                "left", "right").unionByName(decided.where(F.col("decision") == "match").select("left", "right")),
                driver_max_edges=self.driver_max_edges)
            recs = records.join(comp, "rank", "left").withColumn(
                "bucket", F.pmod(F.xxhash64(F.coalesce(F.col("component"), F.col("rank"))), F.lit(buckets)))
            edges = edges.withColumn("decision", F.lit(None).cast("string")).withColumn("d", F.lit(None).cast("long"))
            if decided is not None:
                edges = edges.unionByName(decided)
            e = edges.join(comp.withColumnRenamed("rank", "left"), "left").withColumn(
                "bucket", F.pmod(F.xxhash64(F.col("component")), F.lit(buckets))).drop("component")
            mdt = membership_table(empty_like(clean), np.zeros(0, object), np.zeros(0)).dtypes.to_dict()
            mem = st.cluster_buckets(recs.drop("component"), e, dtypes=dtypes, cfg=cfg, model=fitted,
                                     single_record_sources=single, constrained=constrained, membership_dtypes=mdt,
                                     salt=person_id_salt(cfg))
            return st.cut(mem)

        membership = stages("cluster", cluster)
        if ids is not None:
            membership = stages("person ids", lambda: ids(membership))

        def registry() -> tuple[Any, Any]:
            persons = records.join(membership.select("rank", "person_id", "match_probability"), "rank")
            persons = persons.withColumn("bucket", F.pmod(F.xxhash64("person_id"), F.lit(buckets)))
            # a few persons' records (their tables' dtypes make the schemas): the first IDs
            # of the membership, not a distinct over every person
            some = membership.select("person_id").limit(50).distinct()
            sample = persons.join(some, "person_id").toPandas()
            reg_s, hh_s = _sample_tables(sample, dtypes, cfg)
            reg_schema = arrow_schema(reg_s.dtypes.to_dict())
            reg = st.cut(st.registry_buckets(persons, dtypes=dtypes, golden=cfg.golden_options(), schema=reg_schema))
            kk_bucket = F.pmod(F.xxhash64(F.coalesce(F.col("no_kk"), F.lit(""))), F.lit(buckets))
            kk_cols = [c for c in ("no_kk", "kk_valid") if c in clean]
            hh = st.household_buckets(reg.withColumn("bucket", kk_bucket),
                                      records.select(*kk_cols).withColumn("bucket", kk_bucket),
                                      dtypes=clean, registry_dtypes=reg_s.dtypes.to_dict(),
                                      schema=arrow_schema(hh_s.dtypes.to_dict()))
            return reg, st.cut(hh)

        reg, households = stages("registry", registry)
        return SparkLinkResult(config=cfg, membership=membership.drop("rank"), registry=reg, households=households,
                               links=links.drop("left", "right"), model=fitted, blocking=report, n_records=n,
                               n_pairs=n_pairs, timings=stages.timings, peak_memory_mb=stages.peaks,
                               records=records.drop("rank", *(["_new"] if "_new" in records.columns else [])))

    def _train(self, records: Any, levels: Any, cfg: LinkConfig, *, n: int, dtypes: dict[str, Any],
               single: list[str]) -> Any:
        """The model: pattern counts from Spark, ``u`` from the embedded engine's random
        record pairs (the same ranks, the records fetched), EM on the driver."""
        from pyspark.sql import functions as F

        names = [c.name for c in cfg.comparisons]
        rows = levels.groupBy(*names, "rules").agg(F.count("*").alias("n")).toPandas()
        rows = rows.sort_values([*names, "rules"], kind="mergesort").reset_index(drop=True)
        combo_pats = rows[names].to_numpy(np.int8)
        by_pat = rows.groupby(names, sort=True)["n"].sum()
        pats = np.asarray(by_pat.index.tolist(), np.int8).reshape(len(by_pat), len(names))
        ranked = random_pairs(n, max_pairs=cfg.u_max_pairs, random_state=cfg.random_state)
        need = np.unique(np.r_[ranked["left"].to_numpy(), ranked["right"].to_numpy()])
        wanted = self.spark.createDataFrame(pd.DataFrame({"rank": need.astype(np.int64)}))
        sub = records.join(F.broadcast(wanted) if len(need) < 2_000_000 else wanted, "rank").toPandas()
        sub = as_dtypes(sub.sort_values("rank").reset_index(drop=True), dtypes)
        rank = sub["rank"].to_numpy(np.int64)
        pos = pd.DataFrame({"left": np.searchsorted(rank, ranked["left"].to_numpy()),
                            "right": np.searchsorted(rank, ranked["right"].to_numpy())})
        u = u_from_pairs(sub.drop(columns="rank"), pos, cfg.comparisons)
        # the prior's population: every pair blocking could have made (an update that
        # retrains: those with a new record), as n_possible_pairs counts them
        new = "_new" in records.columns
        by = records.groupBy("source", *(["_new"] if new else [])).count().collect()
        sizes: dict[str, int] = {}
        for r in by:
            sizes[r["source"]] = sizes.get(r["source"], 0) + int(r["count"])
        old = None
        if new:
            stored = {r["source"]: int(r["count"]) for r in by if not r["_new"]}
            old = (stored, sum(stored.values()))
        n_all = n_pairs_of_sizes(sizes, n, link_type=cfg.link_type, single_record_sources=single, old=old)
        model = train_on_counts(names, pats, by_pat.to_numpy(np.int64), combo_pats, rows["rules"].to_numpy(np.int64),
                                rows["n"].to_numpy(np.int64), blocked=blocked_comparisons(cfg.blocking_rules,
                                                                                           cfg.comparisons),
                                u=u, n_all_pairs=max(n_all, 1), threshold=cfg.threshold, warn_inverted=False)
        return finish_training(model, pats, by_pat.to_numpy(np.int64), cfg.comparisons, n_all_pairs=max(n_all, 1))


def _mapped(src: Any, df: Any) -> Any:
    """A Spark source as raw records: its mapped columns as text (stripped, blanks
    missing), extras under their lower-cased names, and ``source``."""
    from pyspark.sql import functions as F

    missing = [c for c in list(src.columns) + list(src.extra_columns) if c not in df.columns]
    if missing:
        raise ConfigError(f"source {src.name!r}: column(s) {missing} not found; columns present: {df.columns}")

    def text(c: str) -> Any:
        v = F.trim(F.col(f"`{c}`").cast("string"))
        return F.when(v == "", None).otherwise(v)

    cols = [F.lit(src.name).alias("source")]
    cols += [text(own).alias(schema) for own, schema in src.mapped()]
    cols += [text(c).alias(c.lower()) for c in src.extra_columns]
    return df.select(*cols)


def _refuse_bad_record_ids(sources: list[Any]) -> None:
    """Refuse, with every offending source, Spark sources (:func:`_mapped`) where a record
    ID is missing or repeated: one Spark job for all of them (a job per source cost a few
    seconds each, whatever their size)."""
    from pyspark.sql import functions as F

    if not sources:
        return
    both = sources[0].select("source", "record_id")
    for s in sources[1:]:
        both = both.unionByName(s.select("source", "record_id"))
    bad = (both.groupBy("source")
           .agg(F.sum(F.col("record_id").isNull().cast("long")).alias("missing"),
                (F.count("record_id") - F.countDistinct("record_id")).alias("repeated"))
           .where((F.col("missing") > 0) | (F.col("repeated") > 0)).orderBy("source").collect())
    if bad:
        raise ConfigError([Problem(source=r["source"], where="record_id",
                                   message=f"{r['missing']} record(s) without a record_id and {r['repeated']} "
                                   "repeated record_id(s); every record needs its own ID") for r in bad])


def _proxy(records: Any, clean: dict[str, Any]) -> pd.DataFrame:
    """One row holding, per column, some value of the records (missing when none holds
    one): what :func:`usable_comparisons` and :func:`usable_blocking_rules` look at."""
    from pyspark.sql import functions as F

    aggs = []
    for c, dtype in clean.items():
        if str(dtype) == "string":
            v = F.trim(F.col(c))
            aggs.append(F.first(F.when(v != "", F.col(c)), ignorenulls=True).alias(c))
        elif str(dtype) in ("bool", "boolean"):
            aggs.append(F.max(F.col(c)).alias(c))
        else:
            aggs.append(F.first(F.col(c), ignorenulls=True).alias(c))
    row = records.agg(*aggs).toPandas()
    return as_dtypes(row, clean)


def _sample_tables(sample: pd.DataFrame, dtypes: dict[str, Any], cfg: LinkConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The registry and households of a few persons: their dtypes make the Spark schemas."""
    sample = sample.sort_values("rank").reset_index(drop=True)
    mini = as_dtypes(sample[[c for c in dtypes if c != "rank"]], dtypes)
    pid = sample["person_id"].to_numpy(object)
    t = registry_tables(mini, pd.factorize(pid)[0], sample["match_probability"].to_numpy(float),
                        person_ids=lambda: pid, **cfg.golden_options())
    return t.registry, t.households
