"""The stages on Spark DataFrames: each calls the embedded stage's kernel on Arrow batches
or groups (see the package docstring). Records carry ``rank``: their position in the
canonical record order (sources by name, then record IDs), the row position of the
embedded engine's sorted records; pairs are ``left < right`` ranks."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ...block import BlockOn, LargeBlockWarning, SortedNeighbourhood, mask_key, rule_keys
from ...classify import score_pairs, tf_weight
from ...cluster import cluster_records, join_lone_records_of_run, weigh_constraints
from ...compare import compare
from ...ids import person_ids
from ...registry import households_table, membership_table, registry_tables
from ._frames import arrow_schema, as_dtypes, batch_of, frame_of, spark_schema
from ._session import checkpoint_dir, is_connect

log = logging.getLogger("regsosek_link.engine.spark")

#: Separator of a multi-column block key (as :func:`regsosek_link.block.rule_keys` joins).
KEY_SEP = "\x1f"


# ----------------------------------------------------------------------------------------
# helpers


def cut(df: Any) -> Any:
    """``df`` computed now and its lineage cut (big jobs do not finish otherwise): a
    reliable checkpoint when the session has a checkpoint directory (a cluster should set
    one: ``spark.checkpoint.dir``, or ``spark.sparkContext.setCheckpointDir`` on a classic
    session), else a local one (executor storage). No ``sparkContext`` on Spark Connect."""
    if checkpoint_dir(df.sparkSession):
        return df.checkpoint(eager=True)
    return df.localCheckpoint(eager=True)


def with_rank(df: Any, order: Sequence[str], name: str = "rank") -> Any:
    """``df`` with a dense 0-based position in the order of ``order`` (a range sort, then
    each partition's offset: no single-partition window)."""
    from pyspark.sql import functions as F

    one = not is_connect(df.sparkSession) and df.rdd.getNumPartitions() == 1  # (Connect has no RDDs)
    parts = df.sortWithinPartitions(*order) if one else df.orderBy(*order)
    parts = parts.withColumn("_p", F.spark_partition_id()).withColumn("_i", F.monotonically_increasing_id())
    parts = cut(parts)  # the ids must be read once
    sizes = {r["_p"]: r["n"] for r in parts.groupBy("_p").agg(F.count("*").alias("n")).collect()}
    offsets, acc = {}, 0
    for p in sorted(sizes):
        offsets[p] = acc
        acc += sizes[p]
    spark = df.sparkSession
    off = spark.createDataFrame([(int(p), int(o)) for p, o in offsets.items()], "_p int, _o long")
    return (parts.join(F.broadcast(off), "_p")
            .withColumn(name, F.col("_o") + F.col("_i") - F.shiftleft(F.col("_p").cast("long"), 33))
            .drop("_p", "_i", "_o"))


# ----------------------------------------------------------------------------------------
# standardise


def standardise_batches(raw: Any, clean_dtypes: dict[str, Any], options: dict[str, Any]) -> Any:
    """:func:`regsosek_link.standardise.standardise` on each Arrow batch of ``raw``."""
    from ...standardise import standardise

    schema = arrow_schema(clean_dtypes)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            raw_pdf = b.to_pandas().astype("string")
            yield batch_of(standardise(raw_pdf, workers=1, **options), schema)

    return raw.mapInArrow(run, spark_schema(schema))


def judge_placeholders(records: Any, stored: Any = None) -> Any:
    """The standardised ``records`` with the placeholder statuses their source does not use
    (:func:`regsosek_link.standardise.unused_placeholders`, on the counts of all its records
    per month and day) set to ``ok``: what :func:`regsosek_link.standardise.standardise` does
    on the records it is given, here on all of them rather than on one batch. ``stored``: a
    registry's records (an update), whose dates are counted with their source's (their own
    statuses are kept; a stored record read again is counted once)."""
    from pyspark.sql import functions as F

    from ...standardise import unused_placeholders

    dates = records.select("source", "tanggal_lahir")
    if stored is not None:
        others = stored.join(records.select("source", "record_id"), ["source", "record_id"], "left_anti")
        dates = dates.unionByName(others.select("source", "tanggal_lahir"))
    counts = (dates.where(F.col("tanggal_lahir").isNotNull())
              .groupBy("source", F.substring("tanggal_lahir", 6, 2).cast("int").alias("m"),
                       F.substring("tanggal_lahir", 9, 2).cast("int").alias("d")).count().toPandas())
    status = F.col("tanggal_lahir_status")
    judged = None
    for source, part in counts.groupby("source", dropna=False, sort=True):
        month_day = np.zeros((13, 32), np.int64)
        np.add.at(month_day, (part["m"].to_numpy(np.int64), part["d"].to_numpy(np.int64)),
                  part["count"].to_numpy(np.int64))
        unused = unused_placeholders(month_day)
        if unused:
            who = F.col("source").isNull() if pd.isna(source) else F.col("source") == source
            hit = who & status.isin(unused)
            judged = hit if judged is None else judged | hit
    if judged is None:
        return records
    return records.withColumn("tanggal_lahir_status", F.when(judged, F.lit("ok")).otherwise(status))


# ----------------------------------------------------------------------------------------
# block


def block_pairs(records: Any, rules: Sequence[Any], *, dtypes: dict[str, Any], link_type: str,
                single_record_sources: Sequence[str], max_block_size: int, new: str | None = None
                ) -> tuple[Any, pd.DataFrame]:
    """Candidate pairs ``left, right, rule, rules`` (as :func:`regsosek_link.block.block_with_report`
    gives them, on ranks) and the report per rule. Block sizes are counted and blocks over
    ``max_block_size`` dropped (with a :class:`LargeBlockWarning`) before the join. ``new``:
    a boolean column of ``records``; only pairs with a record flagged there are made (an update)."""
    from pyspark.sql import functions as F

    single = set(single_record_sources)
    key_schema = pa.schema([("rank", pa.int64()), ("rule", pa.int16()), ("key", pa.string()), ("source", pa.string()),
                            ("_new", pa.bool_())])
    rules = list(rules)

    def keys(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            pdf = frame_of(b, dtypes)
            rank = pdf["rank"].to_numpy(np.int64)
            source = pdf["source"].to_numpy(object)
            fresh = (pdf[new].fillna(False).to_numpy(bool) if new else np.ones(len(pdf), dtype=bool))
            recs = pdf.drop(columns="rank")
            for i, rule in enumerate(rules):
                rows, key = rule_keys(recs, rule)
                yield pa.RecordBatch.from_arrays(
                    [pa.array(rank[rows], pa.int64()), pa.array(np.full(len(rows), i, np.int16)),
                     pa.array(key.astype(object), pa.string()), pa.array(source[rows], pa.string()),
                     pa.array(fresh[rows], pa.bool_())],
                    schema=key_schema)

    k = cut(records.mapInArrow(keys, spark_schema(key_schema)))

    stats = {i: {"rule": r.label, "pairs_generated": 0, "new_pairs": 0, "largest_block": 0, "skipped_blocks": 0,
                 "skipped_records": 0, "skipped_keys": []} for i, r in enumerate(rules)}
    exact = [i for i, r in enumerate(rules) if isinstance(r, BlockOn)]
    parts = []
    if exact:
        ke = k.where(F.col("rule").isin(exact))
        sizes = ke.groupBy("rule", "key").agg(F.count("*").alias("size"))
        for row in sizes.groupBy("rule").agg(F.max("size").alias("m")).collect():
            stats[row["rule"]]["largest_block"] = int(row["m"])
        big = sizes.where(F.col("size") > max_block_size)
        for row in big.groupBy("rule").agg(F.count("*").alias("n"), F.sum("size").alias("s")).collect():
            stats[row["rule"]].update(skipped_blocks=int(row["n"]), skipped_records=int(row["s"]))
        if any(stats[i]["skipped_blocks"] for i in exact):
            for i in exact:
                if stats[i]["skipped_blocks"]:
                    top = big.where(F.col("rule") == i).orderBy(F.col("size").desc(), F.col("key")).limit(5).collect()
                    stats[i]["skipped_keys"] = [f"{mask_key(r['key'].replace(KEY_SEP, ' | '))} ({r['size']} records)"
                                                for r in top]
            ke = ke.join(big.select("rule", "key"), ["rule", "key"], "left_anti")
        a, b = ke.alias("a"), ke.alias("b")
        joined = a.join(b, (F.col("a.rule") == F.col("b.rule")) & (F.col("a.key") == F.col("b.key"))
                        & (F.col("a.rank") < F.col("b.rank")) & (F.col("a._new") | F.col("b._new")))
        parts.append(joined.select(F.col("a.rank").alias("left"), F.col("b.rank").alias("right"),
                                   F.col("a.rule").alias("r"), F.col("a.source").alias("sl"),
                                   F.col("b.source").alias("sr")))
    for i, rule in enumerate(rules):
        if not isinstance(rule, SortedNeighbourhood):
            continue
        ks = with_rank(k.where(F.col("rule") == i), ["key", "rank"], "pos")
        steps = ks.withColumn("step", F.explode(F.array(*[F.lit(j) for j in range(1, rule.window)])))
        a, b = steps.alias("a"), ks.alias("b")
        joined = a.join(b, F.col("a.pos") + F.col("a.step") == F.col("b.pos"))
        lo = F.least(F.col("a.rank"), F.col("b.rank"))
        parts.append(joined.select(
            lo.alias("left"), F.greatest(F.col("a.rank"), F.col("b.rank")).alias("right"), F.lit(i).cast("short").alias("r"),
            F.when(lo == F.col("a.rank"), F.col("a.source")).otherwise(F.col("b.source")).alias("sl"),
            F.when(lo == F.col("a.rank"), F.col("b.source")).otherwise(F.col("a.source")).alias("sr"))
            .where((F.col("left") != F.col("right")) & (F.col("a._new") | F.col("b._new"))))
    pairs = parts[0]
    for p in parts[1:]:
        pairs = pairs.unionByName(p)
    same = F.col("sl") == F.col("sr")
    several = ~F.col("sl").isin(list(single)) if single else F.lit(True)
    if link_type == "link_only":
        pairs = pairs.where(~same)
    elif link_type == "dedupe_only":
        pairs = pairs.where(same & several)
    elif single:
        pairs = pairs.where(~same | several)
    pairs = (pairs.groupBy("left", "right")
             .agg(F.min("r").cast("byte").alias("rule"),
                  F.expr("bit_or(shiftleft(cast(1 as bigint), r))").alias("rules")))
    pairs = cut(pairs)
    if rules:
        agg = pairs.agg(*[F.sum(F.shiftright(F.col("rules"), i).bitwiseAND(1)).alias(f"g{i}") for i in range(len(rules))],
                        *[F.sum((F.col("rule") == i).cast("long")).alias(f"n{i}") for i in range(len(rules))]).first()
        for i in range(len(rules)):
            stats[i]["pairs_generated"] = int(agg[f"g{i}"] or 0)
            stats[i]["new_pairs"] = int(agg[f"n{i}"] or 0)
    for i, rule in enumerate(rules):
        st = stats[i]
        if st["skipped_blocks"]:
            warnings.warn(
                f"blocking rule {rule.label!r}: {st['skipped_blocks']} block(s) over max_block_size="
                f"{max_block_size} skipped ({st['skipped_records']} records); biggest blocks (keys masked): "
                f"{'; '.join(st['skipped_keys'])}. Add a key to the rule to split them, or raise "
                f"max_block_size.", LargeBlockWarning, stacklevel=3)
        log.info("blocking rule %r: %d pairs, %d new", st["rule"], st["pairs_generated"], st["new_pairs"])
    return pairs, pd.DataFrame([stats[i] for i in range(len(rules))])


# ----------------------------------------------------------------------------------------
# compare


def _both_sides(pairs: Any, records: Any, columns: Sequence[str]) -> Any:
    """``pairs`` with ``l_<c>``/``r_<c>`` of the two records' ``columns``."""
    from pyspark.sql import functions as F

    left = records.select(F.col("rank").alias("left"), *[F.col(c).alias(f"l_{c}") for c in columns])
    right = records.select(F.col("rank").alias("right"), *[F.col(c).alias(f"r_{c}") for c in columns])
    return pairs.join(left, "left").join(right, "right")


def _mini_records(pdf: pd.DataFrame, columns: Sequence[str], dtypes: dict[str, Any]) -> pd.DataFrame:
    """The two records of each pair stacked: rows ``0..k-1`` the left, ``k..2k-1`` the right."""
    left = pdf[[f"l_{c}" for c in columns]].set_axis(list(columns), axis=1)
    right = pdf[[f"r_{c}" for c in columns]].set_axis(list(columns), axis=1)
    return as_dtypes(pd.concat([left, right], ignore_index=True), dtypes)


def compared_columns(comparisons: Sequence[Any], dtypes: dict[str, Any], tf_columns: Sequence[str]) -> list[str]:
    """The record columns the comparisons read (their ``columns`` and ``ignore_when_equal``)
    and the term-frequency columns, in the records' order: what a pair carries of each side.
    Every column when a comparison is not one of the library's own (its ``prepare`` may read
    any column).

    >>> from regsosek_link.compare import ExactMatch
    >>> compared_columns([ExactMatch(column="b")], {"rank": "int64", "a": "string", "b": "string"}, [])
    ['b']
    """
    everything = [c for c in dtypes if c != "rank"]
    # (``compare`` is the function; the package's ``compare`` attribute is too, not the module)
    if any(type(c).__module__ != compare.__module__ for c in comparisons):
        return everything
    used = {col for c in comparisons for col in (*c.columns, *(getattr(c, "ignore_when_equal", None) or ()))}
    used |= set(tf_columns)
    return [c for c in everything if c in used]


def compare_pairs(pairs: Any, records: Any, comparisons: Sequence[Any], *, dtypes: dict[str, Any],
                  tf_columns: Sequence[str], chunk_size: int) -> Any:
    """``pairs`` with one int8 level column per comparison (:func:`regsosek_link.compare.compare`
    per batch) and ``tfv_<column>``: the left record's value of each term-frequency column
    as :func:`regsosek_link._codes.column_codes` reads it."""
    from ..._codes import column_codes

    columns = compared_columns(comparisons, dtypes, tf_columns)
    names = [c.name for c in comparisons]
    fields = [("left", pa.int64()), ("right", pa.int64()), ("rule", pa.int8()), ("rules", pa.int64())]
    fields += [(n, pa.int8()) for n in names] + [(f"tfv_{c}", pa.string()) for c in tf_columns]
    schema = pa.schema(fields)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            pdf = b.to_pandas()
            k = len(pdf)
            mini = _mini_records(pdf, columns, dtypes)
            idx = pd.DataFrame({"left": np.arange(k), "right": np.arange(k, 2 * k)})
            levels = compare(mini, idx, comparisons, chunk_size=chunk_size)
            out = {c: pdf[c].to_numpy() for c in ("left", "right", "rule", "rules")}
            out.update({n: levels[n].to_numpy(np.int8) for n in names})
            for c in tf_columns:
                codes, uniques = column_codes(mini, c)
                lc = codes[:k]
                vals = np.full(k, None, dtype=object)
                vals[lc >= 0] = np.asarray(uniques, dtype=object)[lc[lc >= 0]]
                out[f"tfv_{c}"] = vals
            yield pa.RecordBatch.from_arrays([pa.array(out[f.name], f.type) for f in schema], schema=schema)

    return _both_sides(pairs, records, columns).mapInArrow(run, spark_schema(schema))


def term_counts(records: Any, columns: Sequence[str], dtypes: dict[str, Any]) -> dict[str, Any]:
    """Per column: a DataFrame ``value, n_holding`` (values as :func:`column_codes` reads
    them) and the number of records holding some value."""
    from pyspark.sql import functions as F

    from ..._codes import column_codes

    out = {}
    schema = pa.schema([("value", pa.string())])
    for c in columns:

        def run(batches: Iterator[pa.RecordBatch], c: str = c) -> Iterator[pa.RecordBatch]:
            for b in batches:
                pdf = as_dtypes(b.to_pandas(), dtypes)
                codes, uniques = column_codes(pdf, c)
                yield pa.RecordBatch.from_arrays(
                    [pa.array(np.asarray(uniques, dtype=object)[codes[codes >= 0]], pa.string())], schema=schema)

        counts = cut(records.select(c).mapInArrow(run, spark_schema(schema)).groupBy("value")
                     .agg(F.count("*").alias("n_holding")))
        total = counts.agg(F.sum("n_holding")).first()[0] or 0
        out[c] = (counts, int(total))
    return out


def score(scored_input: Any, model: Any, comparisons: Sequence[Any], *, tf: dict[str, Any], n_records: int,
          review_low: float, threshold: float) -> Any:
    """The links table's rows (pairs at or above ``review_low``; see
    :func:`regsosek_link.registry.links_table`) with ``left``/``right`` ranks:
    :func:`regsosek_link.classify.score_pairs` per batch, term frequencies joined from
    ``tf`` (:func:`term_counts`)."""
    from pyspark.sql import functions as F

    from ...registry import links_table

    names = [c.name for c in comparisons]
    tf_comps = [(k, c) for k, c in enumerate(comparisons) if getattr(c, "term_frequency", False)]
    df = scored_input
    for _, c in tf_comps:
        counts, _total = tf[c.column]
        df = df.join(F.broadcast(counts.withColumnRenamed("value", f"tfv_{c.column}")
                                 .withColumnRenamed("n_holding", f"tfn_{c.column}"))
                     if counts.count() < 1_000_000 else
                     counts.withColumnRenamed("value", f"tfv_{c.column}").withColumnRenamed("n_holding", f"tfn_{c.column}"),
                     f"tfv_{c.column}", "left")
    contrib_names = names + [f"tf_{c.name}" for _, c in tf_comps]
    fields = [("left", pa.int64()), ("right", pa.int64()), ("source_l", pa.string()), ("record_id_l", pa.string()),
              ("source_r", pa.string()), ("record_id_r", pa.string()), ("match_probability", pa.float64()),
              ("match_weight", pa.float64()), ("accepted", pa.bool_())]
    fields += [(f"level_{n}", pa.int8()) for n in names] + [(f"weight_{n}", pa.float64()) for n in contrib_names]
    schema = pa.schema(fields)
    totals = {c.column: tf[c.column][1] for _, c in tf_comps}

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            pdf = b.to_pandas()
            levels = pd.DataFrame({n: pdf[n].to_numpy(np.int8) for n in names})
            tfa = {}
            for k, c in tf_comps:
                top = int(model.n_levels_[k]) - 1
                lv = levels[c.name].to_numpy()
                held = pdf[f"tfn_{c.column}"].notna().to_numpy()
                at = np.flatnonzero((lv == top) & held)
                adj = np.zeros(len(lv))
                adj[at] = tf_weight(model.u_[k][top], pdf[f"tfn_{c.column}"].to_numpy()[at].astype(np.int64),
                                    totals[c.column], n_records)
                tfa[f"tf_{c.name}"] = adj
            tf_frame = pd.DataFrame(tfa, index=levels.index)
            s = score_pairs(model, None, None, levels, comparisons, term_frequency=tf_frame)
            keep = np.flatnonzero(s.probability >= review_low)
            contrib = model.contributions(levels.iloc[keep])
            for c in tf_frame.columns:
                contrib[c] = tf_frame[c].to_numpy()[keep]
            recs = pd.DataFrame({"source": np.r_[pdf["source_l"].to_numpy(object)[keep],
                                                 pdf["source_r"].to_numpy(object)[keep]],
                                 "record_id": np.r_[pdf["record_id_l"].to_numpy(object)[keep],
                                                    pdf["record_id_r"].to_numpy(object)[keep]]})
            n = len(keep)
            table = links_table(recs, pd.DataFrame({"left": np.arange(n), "right": np.arange(n, 2 * n)}),
                                levels.iloc[keep].reset_index(drop=True), contrib.reset_index(drop=True),
                                s.probability[keep], s.weight[keep], threshold=threshold, review_low=review_low)
            # links_table puts the strongest first: carry the ranks in the same order
            order = np.argsort(-s.probability[keep], kind="stable")
            table.insert(0, "right", pdf["right"].to_numpy()[keep][order])
            table.insert(0, "left", pdf["left"].to_numpy()[keep][order])
            yield batch_of(table, schema) if len(table) else pa.RecordBatch.from_pylist([], schema=schema)

    return df.mapInArrow(run, spark_schema(schema))


# ----------------------------------------------------------------------------------------
# cluster


def connected_components(edges: Any, *, max_rounds: int = 100, driver_max_edges: int = 0) -> Any:
    """``rank, component`` (the smallest rank of its component) of every vertex of ``edges``
    (``left``, ``right``).

    Up to ``driver_max_edges`` edges are collected and their components found on the
    driver (:func:`regsosek_link.cluster.connected_components`: two Spark jobs); more, by
    min-label propagation with pointer jumping on the executors, the lineage cut at every
    round (two to four jobs a round, a round per doubling of the longest path). Both give
    the same table.
    """
    from pyspark.sql import functions as F

    if driver_max_edges > 0:
        pairs = edges.select("left", "right")
        if pairs.count() <= driver_max_edges:
            return _driver_components(pairs.toPandas(), edges.sparkSession)
    both = edges.select("left", "right").unionByName(
        edges.select(F.col("right").alias("left"), F.col("left").alias("right")))
    both = cut(both)
    labels = cut(both.groupBy("left").agg(F.least(F.min("right"), F.first("left")).alias("label"))
                 .withColumnRenamed("left", "rank"))
    for rnd in range(max_rounds):
        # a vertex takes the smallest label among its neighbours', then jumps to its label's label
        spread = both.join(labels.withColumnRenamed("rank", "right"), "right") \
            .groupBy("left").agg(F.min("label").alias("nl")).withColumnRenamed("left", "rank")
        new = labels.join(spread, "rank", "left").select(
            "rank", F.least(F.col("label"), F.coalesce(F.col("nl"), F.col("label"))).alias("label"))
        hop = new.withColumnRenamed("rank", "r2").withColumnRenamed("label", "l2")
        new = new.join(hop, new["label"] == hop["r2"], "left").select(
            "rank", F.least(F.col("label"), F.coalesce(F.col("l2"), F.col("label"))).alias("label"))
        new = cut(new)
        changed = new.join(labels.withColumnRenamed("label", "old"), "rank").where(F.col("label") != F.col("old")).count()
        labels = new
        log.info("connected components: round %d, %d labels changed", rnd + 1, changed)
        if changed == 0:
            break
    else:  # pragma: no cover - a chain of 2**100 records
        raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    return labels.withColumnRenamed("label", "component")


def _driver_components(pairs: pd.DataFrame, spark: Any) -> Any:
    """:func:`connected_components`' table of collected edges, worked on the driver."""
    from ...cluster import connected_components as components

    left, right = pairs["left"].to_numpy(np.int64), pairs["right"].to_numpy(np.int64)
    ranks = np.unique(np.r_[left, right])
    labels = components(len(ranks), np.searchsorted(ranks, left), np.searchsorted(ranks, right))
    # labels are numbered by their first (smallest) vertex: that vertex's rank names the component
    first = np.unique(labels, return_index=True)[1]
    table = pd.DataFrame({"rank": ranks, "component": ranks[first][labels]})
    return spark.createDataFrame(table, "rank long, component long")


def decision_edges(records: Any, decisions: pd.DataFrame | None, level_columns: Sequence[str]) -> Any:
    """Reviewers' decisions (:data:`regsosek_link.review.DECISION_COLUMNS`) as rows shaped
    like the accepted links (``left``, ``right`` ranks, no probability, weight or levels)
    with ``decision`` (``"match"`` or not) and ``d`` (the decision's row, the order
    :func:`regsosek_link.review.decision_pairs` gives them in); decisions about records not
    linked in this run are dropped, as there. None without decisions."""
    from pyspark.sql import functions as F

    if decisions is None or len(decisions) == 0:
        return None
    cols = ["source_l", "record_id_l", "source_r", "record_id_r", "decision"]
    pdf = decisions[cols].astype(str).reset_index(drop=True)
    pdf.insert(0, "d", np.arange(len(pdf), dtype=np.int64))
    dec = records.sparkSession.createDataFrame(pdf, "d long, " + ", ".join(f"{c} string" for c in cols))
    keys = records.select("rank", "source", "record_id")
    dec = (dec.join(keys.withColumnRenamed("rank", "left").withColumnRenamed("source", "source_l")
                    .withColumnRenamed("record_id", "record_id_l"), ["source_l", "record_id_l"])
           .join(keys.withColumnRenamed("rank", "right").withColumnRenamed("source", "source_r")
                 .withColumnRenamed("record_id", "record_id_r"), ["source_r", "record_id_r"]))
    return dec.select("left", "right", F.lit(None).cast("double").alias("p"),
                      F.lit(None).cast("double").alias("match_weight"),
                      *[F.lit(-1).cast("byte").alias(c) for c in level_columns],
                      F.when(F.col("decision") == "match", "match").otherwise("non_match").alias("decision"), "d")


def cluster_buckets(records: Any, edges: Any, *, dtypes: dict[str, Any], cfg: Any, model: Any,
                    single_record_sources: Sequence[str], constrained: bool, membership_dtypes: dict[str, Any],
                    salt: bytes | None = None) -> Any:
    """Per bucket of whole components (``bucket`` on both inputs): the NIK links that yield
    and the ambiguous links held for review (:func:`regsosek_link.cluster.weigh_constraints`:
    both depend only on a component's accepted links, ``p``, ``match_weight`` and
    ``level_*``), the constrained clusters (:func:`regsosek_link.cluster.cluster_records`),
    their person IDs (:func:`regsosek_link.ids.person_ids`: the hash of the smallest record
    key, keyed with the registry's ``salt`` when it has one; the salt travels to the
    executors inside the task, as the embedded engine holds it in its process) and the
    membership rows (:func:`regsosek_link.registry.membership_table`), with ``rank``."""
    columns = [c for c in dtypes if c != "rank"]
    schema = arrow_schema({"rank": "int64", **membership_dtypes})
    names = [c.name for c in cfg.comparisons]

    def run(recs: pd.DataFrame, links: pd.DataFrame) -> pd.DataFrame:
        recs = recs.sort_values("rank", kind="stable").reset_index(drop=True)
        rank = recs["rank"].to_numpy(np.int64)
        mini = as_dtypes(recs[columns], dtypes)
        decided = links[links["decision"].notna()].sort_values("d", kind="stable")
        # (a non-match across two components is no constraint: its right record is elsewhere)
        decided = decided[np.isin(decided["right"].to_numpy(np.int64), rank)]
        links = links[links["decision"].isna()].sort_values(["left", "right"], kind="stable").reset_index(drop=True)
        pairs = pd.DataFrame({"left": np.searchsorted(rank, links["left"].to_numpy(np.int64)),
                              "right": np.searchsorted(rank, links["right"].to_numpy(np.int64))})
        pos = np.stack([np.searchsorted(rank, decided["left"].to_numpy(np.int64)),
                        np.searchsorted(rank, decided["right"].to_numpy(np.int64))], axis=1).astype(np.int64)
        match = (decided["decision"] == "match").to_numpy()
        prob = links["p"].to_numpy(float)
        p = prob.copy()
        yields = None
        if constrained and model is not None and len(links):
            levels = pd.DataFrame({n: links[f"level_{n}"].to_numpy(np.int8) for n in names})
            yields, held = weigh_constraints(mini, pairs, levels, p, links["match_weight"].to_numpy(float), model,
                                             cfg, single_record_sources=single_record_sources)
            p[held["pair"].to_numpy(np.int64)] = -np.inf  # truly ambiguous: left to a reviewer
        left, right = pairs["left"].to_numpy(), pairs["right"].to_numpy()
        labels, weakest = cluster_records(mini, left, right, p,
                                          threshold=cfg.threshold, single_record_sources=single_record_sources,
                                          must_link=pos[match], cannot_link=pos[~match], constrained=constrained,
                                          nik_constraint=cfg.nik_constraint, yield_links=yields)
        if constrained and model is not None and len(links):
            # records no link accepted join their one likely candidate's person (the bucket
            # holds their links: see the engine's cluster stage)
            labels, weakest = join_lone_records_of_run(
                mini, left, right, prob, links["match_weight"].to_numpy(float), labels, weakest, cfg,
                single_record_sources=single_record_sources, cannot_link=pos[~match], rank=rank)
        pid = person_ids(mini, labels, salt=salt)[0]
        out = membership_table(mini, pid, weakest)
        out.insert(0, "rank", rank)
        return out

    return (records.groupBy("bucket").cogroup(edges.groupBy("bucket"))
            .applyInPandas(run, spark_schema(schema)))


def registry_buckets(records: Any, *, dtypes: dict[str, Any], golden: dict[str, Any], schema: pa.Schema) -> Any:
    """The registry (golden records) per bucket of whole persons (``bucket``, ``person_id``,
    ``match_probability`` beside the records): :func:`regsosek_link.registry.registry_tables`."""
    columns = [c for c in dtypes if c != "rank"]

    def run(recs: pd.DataFrame) -> pd.DataFrame:
        recs = recs.sort_values("rank", kind="stable").reset_index(drop=True)
        mini = as_dtypes(recs[columns], dtypes)
        pid = recs["person_id"].to_numpy(object)
        labels = pd.factorize(pid)[0]
        tables = registry_tables(mini, labels, recs["match_probability"].to_numpy(float),
                                 person_ids=lambda: pid, **golden)
        return tables.registry

    return records.groupBy("bucket").applyInPandas(run, spark_schema(schema))


def household_buckets(registry: Any, records: Any, *, dtypes: dict[str, Any], registry_dtypes: dict[str, Any],
                      schema: pa.Schema) -> Any:
    """Households per bucket of family-card numbers (``bucket`` on both inputs):
    :func:`regsosek_link.registry.households_table` over the persons whose golden KK falls in
    the bucket and the records holding those numbers (which say whether a number is valid)."""
    def run(reg: pd.DataFrame, recs: pd.DataFrame) -> pd.DataFrame:
        reg = as_dtypes(reg.drop(columns="bucket"), registry_dtypes)
        recs = as_dtypes(recs.drop(columns="bucket"), dtypes)
        reg = reg.sort_values("person_id", kind="stable").reset_index(drop=True)
        return households_table(reg, recs, reg["person_id"].to_numpy(object))

    return (registry.groupBy("bucket").cogroup(records.groupBy("bucket"))
            .applyInPandas(run, spark_schema(schema)))
