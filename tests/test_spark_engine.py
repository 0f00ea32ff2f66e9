"""Parity of the Spark engine with the embedded engine: the same data through both gives
the same membership, person IDs, probabilities, model, blocking report, links and registry.

Marked ``spark``; skipped with the reason where PySpark or Java is missing. FEBRL3 and a
small generator run are in CI; FEBRL4 and the generator at 20,000 people run with
``REGSOSEK_SPARK_FULL=1``.
"""

from __future__ import annotations

import os
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

from regsosek_link import LinkConfig, Linker, SourceConfig
from regsosek_link.datasets import load_febrl3, load_febrl4, make_sources

pytestmark = pytest.mark.spark
FULL = os.environ.get("REGSOSEK_SPARK_FULL") == "1"


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark", reason="PySpark is not installed (pip install -e '.[spark]')")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Java (17) is not installed: the Spark engine needs a JVM")
    from regsosek_link.engine import spark_session

    s = spark_session("local[2]", {"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false",
                                   "spark.default.parallelism": "2"})
    s.sparkContext.setLogLevel("ERROR")
    yield s


def _both(spark, config, sources):
    from regsosek_link.engine import SparkEngine

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emb = Linker(config).run(sources)
        res = Linker(config, engine=SparkEngine(spark, buckets=4)).run(sources)
    return emb, res


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal cell by cell, missing values alike whatever their pandas spelling."""
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for c in a.columns:
        x, y = a[c].astype(object), b[c].astype(object)
        x = x.where(x.notna(), None).tolist()
        y = y.where(y.notna(), None).tolist()
        assert [v if not isinstance(v, float) else float(v) for v in x] == \
            [v if not isinstance(v, float) else float(v) for v in y], c


def _oriented(links: pd.DataFrame) -> pd.DataFrame:
    """Each pair with its smaller (source, record_id) on the left: the embedded engine's
    left is the earlier row of its input, the Spark engine's the earlier in the canonical
    order (the levels and weights do not depend on the side)."""
    swap = (links["source_l"] + "|" + links["record_id_l"]) > (links["source_r"] + "|" + links["record_id_r"])
    out = links.copy()
    for a, b in (("source_l", "source_r"), ("record_id_l", "record_id_r")):
        out.loc[swap, a], out.loc[swap, b] = links.loc[swap, b].to_numpy(), links.loc[swap, a].to_numpy()
    return out


def _check_parity(emb, res) -> None:
    m = res.to_pandas("membership")
    e = emb.membership.sort_values(["source", "record_id"], kind="mergesort").reset_index(drop=True)
    _same(e, m)  # every record once, same person IDs and match probabilities
    assert res.n_pairs == len(emb.pairs)
    pd.testing.assert_frame_equal(emb.blocking.reset_index(drop=True), res.blocking, check_dtype=False)
    for a, b in zip(emb.model.m_ + emb.model.u_, res.model.m_ + res.model.u_):
        np.testing.assert_array_equal(a, b)
    assert emb.model.lambda_ == res.model.lambda_
    keys = ["source_l", "record_id_l", "source_r", "record_id_r"]
    _same(_oriented(emb.links).sort_values(keys).reset_index(drop=True),
          _oriented(res.to_pandas("links")).sort_values(keys).reset_index(drop=True))
    _same(emb.registry.sort_values("person_id").reset_index(drop=True), res.to_pandas("registry"))
    _same(emb.households.sort_values(["household_id", "person_id"]).reset_index(drop=True),
          res.to_pandas("households"))


def test_febrl3_parity(spark):
    d = load_febrl3()
    _check_parity(*_both(spark, d.config, d.sources))


def test_reviewers_decisions_parity(spark):
    """Matches merged first, non-matches never in one person, decisions about unknown records
    ignored: the same persons as the embedded engine with the same decisions."""
    from regsosek_link.engine import SparkEngine
    from regsosek_link.review import read_decisions

    d = load_febrl3()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = Linker(d.config).run(d.sources)
    links = plain.links
    person = plain.membership.set_index("record_id")["person_id"]
    accepted = links[links["match_probability"] >= d.config.threshold]
    # an accepted link inside a person of two records (the split shows) and two records of
    # no link at all, each its own person (the merge shows)
    sizes = person.value_counts()
    split = accepted[accepted["record_id_l"].map(person).map(sizes).eq(2)].iloc[0]
    alone = sorted(person.index[person.map(sizes).eq(1)])[:2]
    near = pd.Series({"source_l": "febrl3", "record_id_l": alone[0], "source_r": "febrl3", "record_id_r": alone[1]})
    rows = [(split, "non-match"), (near, "match")]
    decisions = pd.DataFrame([{**{c: r[c] for c in ("source_l", "record_id_l", "source_r", "record_id_r")},
                               "decision": v} for r, v in rows]
                             + [{"source_l": "febrl3", "record_id_l": "no-such-record", "source_r": "febrl3",
                                 "record_id_r": split["record_id_r"], "decision": "match"}])
    decisions = read_decisions(decisions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emb = Linker(d.config, decisions=decisions).run(d.sources)
        # (components on the executors: the other parity tests find them on the driver)
        res = Linker(d.config, decisions=decisions,
                     engine=SparkEngine(spark, buckets=4, driver_max_edges=0)).run(d.sources)
    m = res.to_pandas("membership")
    _same(emb.membership.sort_values(["source", "record_id"], kind="mergesort").reset_index(drop=True), m)
    got = m.set_index("record_id")["person_id"]
    assert got[split["record_id_l"]] != got[split["record_id_r"]]
    assert got[near["record_id_l"]] == got[near["record_id_r"]]
    _same(emb.registry.sort_values("person_id").reset_index(drop=True), res.to_pandas("registry"))


def test_connected_components_on_driver_and_executors_agree(spark):
    """The same ``rank, component`` table (the smallest rank of each component, as networkx
    finds them) whether the edges are collected to the driver or propagated on Spark."""
    import networkx as nx

    from regsosek_link.engine.spark._stages import connected_components

    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 400, 300), rng.integers(0, 400, 300)
    keep = a != b
    left, right = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    chain = np.arange(1000, 1013)  # a path whose labels need several rounds to travel
    left, right = np.r_[left, chain[:-1]], np.r_[right, chain[1:]]
    edges = spark.createDataFrame(pd.DataFrame({"left": left, "right": right}), "left long, right long")
    graph = nx.Graph(zip(left.tolist(), right.tolist()))
    want = sorted((int(v), min(c)) for c in nx.connected_components(graph) for v in c)
    for driver_max_edges in (0, len(left), len(left) - 1):
        got = connected_components(edges, driver_max_edges=driver_max_edges).toPandas()
        assert sorted(zip(got["rank"].tolist(), got["component"].tolist())) == want, driver_max_edges
    empty = spark.createDataFrame([], "left long, right long")
    assert connected_components(empty, driver_max_edges=10).count() == 0


@pytest.mark.skipif(not FULL, reason="opt-in (REGSOSEK_SPARK_FULL=1): ~2 min in local[2]")
def test_febrl4_parity(spark):
    d = load_febrl4()
    _check_parity(*_both(spark, d.config, d.sources))


def _generator_config(syn) -> LinkConfig:
    return LinkConfig(sources=tuple(
        SourceConfig(name=name, columns=syn.mappings[name],
                     one_record_per_person=syn.source_info[name]["one_record_per_person"])
        for name in syn.sources))


@pytest.mark.parametrize("n_people", [pytest.param(1_500, id="1500"),
                                      pytest.param(20_000, id="20000", marks=pytest.mark.skipif(
                                          not FULL, reason="opt-in (REGSOSEK_SPARK_FULL=1)"))])
def test_generator_parity(spark, n_people):
    syn = make_sources(n_people=n_people, random_state=7)
    emb, res = _both(spark, _generator_config(syn), syn.sources)
    _check_parity(emb, res)
    assert res.membership.count() == sum(len(df) for df in syn.sources.values())


def test_parity_whatever_the_buckets(spark):
    """Big runs cut clustering and registry into more buckets (``default_buckets``: about
    250,000 records each): another bucket count gives the same tables."""
    from regsosek_link.engine import SparkEngine
    from regsosek_link.engine.spark._engine import BUCKET_RECORDS, default_buckets

    assert default_buckets(40 * BUCKET_RECORDS, 2) == 40
    assert default_buckets(40 * BUCKET_RECORDS + 1, 2) == 41
    assert default_buckets(10, 3) == 6
    syn = make_sources(n_people=1_500, random_state=7)
    config = _generator_config(syn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        emb = Linker(config).run(syn.sources)
        res = Linker(config, engine=SparkEngine(spark, buckets=13)).run(syn.sources)
    _check_parity(emb, res)


def test_spark_sources_with_bad_record_ids_are_refused_together(spark):
    from regsosek_link.engine import SparkEngine
    from regsosek_link.errors import ConfigError

    d = load_febrl3()
    src = d.config.sources[0]
    rows = d.sources["febrl3"].head(40)
    a = pd.concat([rows, rows.head(3)], ignore_index=True)  # 3 repeated IDs
    b = rows.copy()
    b.loc[:4, "rec_id"] = None  # 5 missing IDs
    cfg = d.config.replace(sources=tuple(SourceConfig(name=n, columns=src.columns, extra_columns=src.extra_columns)
                                         for n in ("a", "b")))
    with pytest.raises(ConfigError) as info:
        Linker(cfg, engine=SparkEngine(spark)).run({"a": spark.createDataFrame(a), "b": spark.createDataFrame(b)})
    assert [(p.source, str(p)) for p in info.value.problems] == [
        ("a", "source 'a': 0 record(s) without a record_id and 3 repeated record_id(s); every record needs its own ID"),
        ("b", "source 'b': 5 record(s) without a record_id and 0 repeated record_id(s); every record needs its own ID")]


def test_parquet_output_partitioned(spark, tmp_path):
    from regsosek_link.engine import SparkEngine
    from regsosek_link.errors import ConfigError

    d = load_febrl3()
    src = {"febrl3": d.sources["febrl3"].head(300)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = Linker(d.config, engine=SparkEngine(spark, buckets=2)).run(src)
    paths = res.write(tmp_path / "out")
    assert (tmp_path / "out" / "membership" / "source=febrl3").is_dir()
    back = pd.read_parquet(paths["registry"])
    assert len(back) == res.n_persons
    assert spark.read.parquet(paths["membership"]).count() == 300
    # catalog tables: a name that is not a plain identifier is refused before anything is written
    with pytest.raises(ConfigError, match="not plain names"):
        res.save_tables("default.q2; DROP TABLE x --")
    assert not [t for t in spark.catalog.listTables("default") if t.name.startswith("q2")]


def test_spark_engine_withdraws_only_from_a_registry(spark, tmp_path):
    from regsosek_link.engine import SparkEngine
    from regsosek_link.errors import StoreError

    d = load_febrl3()  # (withdrawals on Spark: tests/test_spark_store.py)
    with pytest.raises(StoreError, match="holds no registry"):
        Linker(d.config, engine=SparkEngine(spark)).withdraw(tmp_path / "registry", source="febrl3")
    assert not (tmp_path / "registry").exists()


@pytest.mark.parametrize("flags", [["--truth", "truth.csv"], ["--report"], ["--format", "csv"]])
def test_cli_engine_spark_refuses_what_it_would_ignore(tmp_path, capsys, flags):
    pytest.importorskip("pyspark", reason="PySpark is not installed (pip install -e '.[spark]')")
    from regsosek_link.cli import main

    d = load_febrl3()
    d.config.save(tmp_path / "config.yaml")
    assert main(["run", str(tmp_path / "config.yaml"), "--engine", "spark", *flags]) == 2
    err = capsys.readouterr().err
    assert "not available with --engine spark yet" in err and err.count("\n") == 1
    assert not (tmp_path / "regsosek_output").exists()


def test_cli_engine_spark_reads_csv_through_spark(spark, tmp_path):
    from regsosek_link.cli import main

    d = load_febrl3()
    d.sources["febrl3"].head(300).to_csv(tmp_path / "febrl3.csv", index=False)
    src = d.config.sources[0]
    cfg = d.config.replace(sources=(SourceConfig(name="febrl3", path="febrl3.csv", columns=src.columns,
                                                 extra_columns=src.extra_columns),))
    cfg.save(tmp_path / "config.yaml")
    # --tables: the outputs also as tables of the session's catalog (a database in tmp_path)
    spark.sql(f"CREATE DATABASE IF NOT EXISTS rl_test LOCATION '{tmp_path / 'warehouse'}'")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert main(["run", str(tmp_path / "config.yaml"), "--engine", "spark", "--out", str(tmp_path / "out"),
                         "--tables", "rl_test.q1_", "--table-format", "parquet"]) == 0
        assert {t.name for t in spark.catalog.listTables("rl_test")} == {
            "q1_membership", "q1_registry", "q1_households", "q1_links"}
        in_catalog = spark.table("rl_test.q1_membership").toPandas()
        assert spark.table("rl_test.q1_registry").count() == len(pd.read_parquet(tmp_path / "out" / "registry"))
    finally:
        spark.sql("DROP DATABASE IF EXISTS rl_test CASCADE")
    members = pd.read_parquet(tmp_path / "out" / "membership")
    assert sorted(members["record_id"]) == sorted(in_catalog["record_id"]) == sorted(
        d.sources["febrl3"].head(300)["rec_id"])
    # the same records through the embedded engine (pandas ingest): the same persons
    emb = Linker(cfg.replace(sources=(src,))).run({"febrl3": d.sources["febrl3"].head(300)})
    both = emb.membership.merge(members, on="record_id", suffixes=("_e", "_s"))
    assert (both["person_id_e"] == both["person_id_s"]).all()


def test_cli_tables_need_the_spark_engine(tmp_path, capsys):
    from regsosek_link.cli import main

    d = load_febrl3()
    d.config.save(tmp_path / "config.yaml")
    assert main(["run", str(tmp_path / "config.yaml"), "--tables", "db.rl_"]) == 2
    err = capsys.readouterr().err
    assert "add --engine spark" in err and err.count("\n") == 1
    assert not (tmp_path / "regsosek_output").exists()
