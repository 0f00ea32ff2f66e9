"""The registry store on the Spark engine (Parquet tables in a directory): the same life
cycle as the embedded engine's DuckDB store, step by step the same membership, person IDs
and changes; a write that fails halfway leaves the stored registry readable and unchanged.

Marked ``spark``; skipped with the reason where PySpark or Java is missing.
"""

from __future__ import annotations

import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import test_spark_engine
from _registry_fixture import RUN1, config, frame, model

from regsosek_link import Linker
from regsosek_link.cluster import hash_id
from regsosek_link.errors import ConfigError, StoreError
from regsosek_link.store import RegistryStore

pytestmark = pytest.mark.spark
spark = test_spark_engine.spark  # (the session fixture)

# b1 bridges Joko of siak and Joko of dtks (a merge); b2 is a new person
BATCH = {"bpjs": frame([("b1", "3375010707700001", "JOKO", "1970-07-07", "L"),
                        ("b2", None, "RINA", "1999-09-09", "P")])}


def _engine(spark):
    from regsosek_link.engine import SparkEngine

    return SparkEngine(spark, buckets=2)


def _members(m: pd.DataFrame) -> pd.DataFrame:
    out = m[["source", "record_id", "person_id", "match_probability"]].astype(
        {"source": str, "record_id": str, "person_id": str, "match_probability": float})
    return out.sort_values(["source", "record_id"]).reset_index(drop=True)


def _changes(ch: pd.DataFrame) -> list[tuple]:
    ch = ch.sort_values("seq") if "seq" in ch else ch
    return [tuple(None if pd.isna(v) else (int(v) if k == "n_records" else str(v)) for k, v in row.items())
            for row in ch[["change", "person_id", "other_person_id", "reason", "n_records"]].to_dict("records")]


def _spark_state(spark, path: Path) -> tuple:
    from regsosek_link.engine.spark._store import SparkRegistryStore

    st = SparkRegistryStore(path, spark)
    return (st.generation(), _members(st.table("membership").toPandas()).to_records(index=False).tolist(),
            st.table("registry").count(), st.table("records").count(), st.runs()["kind"].tolist(),
            _changes(st.table("changes").toPandas()))


@pytest.fixture(scope="module")
def first(spark, tmp_path_factory):
    """RUN1 stored by each engine: a DuckDB file and a Spark store directory."""
    d = tmp_path_factory.mktemp("first")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Linker(config("siak", "dtks"), model=model()).run(RUN1, store=d / "r.duckdb")
        Linker(config("siak", "dtks"), model=model(), engine=_engine(spark)).run(RUN1, store=d / "registry")
    return d


def _copy(first: Path, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copy(first / "r.duckdb", tmp_path / "r.duckdb")
    shutil.copytree(first / "registry", tmp_path / "registry")
    return tmp_path / "r.duckdb", tmp_path / "registry"


def test_first_run_on_spark_matches_the_embedded_store(spark, first):
    from regsosek_link.engine.spark._store import SparkRegistryStore

    st = SparkRegistryStore(first / "registry", spark)
    pd.testing.assert_frame_equal(_members(RegistryStore(first / "r.duckdb").membership()),
                                  _members(st.table("membership").toPandas()))
    assert _changes(RegistryStore(first / "r.duckdb").changes(1)) == _changes(st.table("changes").toPandas())
    assert st.runs()[["kind", "n_records", "n_persons", "n_new"]].values.tolist() == [["full", 6, 4, 4]]
    assert sorted(p.name for p in st.path.iterdir()) == ["CURRENT", "v000001"]


@pytest.fixture(scope="module")
def merged(spark, first, tmp_path_factory):
    """``first`` updated with BATCH by each engine (b1 bridges two stored persons), and the
    two updates' results."""
    d = tmp_path_factory.mktemp("merged")
    emb, spk = _copy(first, d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = Linker(config("bpjs"), model=model()).update(emb, BATCH)
        b = Linker(config("bpjs"), model=model(), engine=_engine(spark)).update(spk, BATCH)
    return d, a, b


def test_update_on_spark_matches_the_embedded_update(spark, merged):
    """A batch-only config: a merge (the larger stored person's ID survives) and a new
    person, the same membership, IDs and changes as the embedded update; only pairs with a
    batch record are made; the stored links are kept."""
    from regsosek_link.engine.spark._store import SparkRegistryStore

    d, a, b = merged
    emb, spk = d / "r.duckdb", d / "registry"
    st = SparkRegistryStore(spk, spark)
    assert a.run_id == b.run_id == 2 and b.n_pairs == len(a.pairs)
    pd.testing.assert_frame_equal(_members(a.membership), _members(b.to_pandas("membership")))
    pd.testing.assert_frame_equal(_members(RegistryStore(emb).membership()), _members(st.table("membership").toPandas()))
    want = _changes(RegistryStore(emb).changes(2))
    assert want == _changes(st.table("changes").where("run_id = 2").toPandas()) == _changes(b.changes.toPandas())
    assert [c[:3] for c in want] == [("new", hash_id("bpjs|b2"), None),
                                     ("merged_into", hash_id("siak|s3"), hash_id("dtks|d4"))]
    keys = ["source_l", "record_id_l", "source_r", "record_id_r"]

    def pairs(rows: list) -> set[frozenset[str]]:  # (each engine orients a pair its own way)
        return {frozenset((f"{r[0]}|{r[1]}", f"{r[2]}|{r[3]}")) for r in rows}

    assert pairs(st.table("links").select(*keys).collect()) == pairs(
        RegistryStore(emb).links()[keys].astype(str).values.tolist())
    assert st.runs()["kind"].tolist() == ["full", "update"] and st.table("records").count() == 8
    assert sorted(p.name for p in spk.iterdir()) == ["CURRENT", "v000001", "v000002"]


def test_stable_ids_on_spark_are_assign_person_ids(spark):
    """Merges, splits, a removal, an unchanged person, a new person and a new cluster whose
    ID was issued before (rehashed): the IDs and changes :func:`assign_person_ids` gives
    over all records, though only the touched clusters go through it."""
    import numpy as np

    from regsosek_link.cluster import person_ids_from_records
    from regsosek_link.engine.spark._store import SparkSnapshot, StableIds
    from regsosek_link.ids import assign_person_ids

    prev = {"s|a1": "P1", "s|a2": "P1", "s|b1": "P2", "s|c1": "P3", "s|c2": "P3", "s|d1": "P4", "s|e1": "P5"}
    history = [("new", p, 1) for p in ("P1", "P2", "P3", "P4", "P5")] + [("new", hash_id("s|x1"), 1),
                                                                         ("new", "P2", 1)]
    clusters = [["a1", "a2", "b1"], ["c1"], ["c2"], ["e1"], ["x1"], ["y1", "y2"]]
    rec = pd.DataFrame({"source": "s", "record_id": [r for c in clusters for r in c]})
    labels = np.repeat(np.arange(len(clusters)), [len(c) for c in clusters])
    rec["person_id"] = person_ids_from_records(rec, labels)  # (what the cluster stage gives)
    rec["match_probability"] = 1.0
    keys = "s|" + rec["record_id"]
    want_ids, want_changes = assign_person_ids(
        keys, labels, pd.DataFrame({"key": list(prev), "person_id": list(prev.values())}),
        issued={h[1] for h in history}, first_seen={h[1]: h[2] for h in history})
    snap = SparkSnapshot(
        generation=1, config=None, model=None, records=spark.createDataFrame(rec[["source", "record_id"]]),
        membership=spark.createDataFrame(pd.DataFrame({"source": "s", "record_id": [k[2:] for k in prev],
                                                       "person_id": list(prev.values())})),
        links=None, changes=spark.createDataFrame(pd.DataFrame(history, columns=["change", "person_id", "run_id"])),
        decisions=pd.DataFrame(), runs=[])
    ids = StableIds(snap, spark)
    got = ids(spark.createDataFrame(rec)).toPandas().set_index("record_id")["person_id"]
    assert got.reindex(rec["record_id"]).tolist() == list(want_ids)
    order = ["change", "person_id", "other_person_id"]
    assert _changes(ids.changes.toPandas().sort_values(order)) == _changes(want_changes.sort_values(order))
    assert {"merged_into", "split_from", "removed", "new"} == set(want_changes["change"])
    assert hash_id("s|x1#1") in set(want_ids)  # (the reissue case is in the data)


def test_update_refuses_what_the_embedded_update_refuses(spark, first, tmp_path):
    """Nothing written: a contradicting config (the stored-settings check), a run
    that does not read every stored record, a batch record stored with other values; an
    unchanged stored record in the batch is skipped."""
    _, spk = _copy(first, tmp_path)
    eng = _engine(spark)
    before = _spark_state(spark, spk)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(StoreError, match="contradicts the registry"):
            Linker(config("bpjs").replace(threshold=0.8), engine=eng).update(spk, BATCH)
        short = {**RUN1, "dtks": RUN1["dtks"].head(2)}
        with pytest.raises(StoreError, match=r"holds 1 record\(s\) this run does not read \(dtks: 1;"):
            Linker(config("siak", "dtks"), model=model(), engine=eng).run(short, store=spk)
        with pytest.raises(StoreError, match=r"1 record\(s\) of the batch are stored already with other values"):
            Linker(config("dtks"), engine=eng).update(spk, {"dtks": frame([("d1", None, "BUDI", "1981-03-04", "L")])})
        assert _spark_state(spark, spk) == before
        res = Linker(config("dtks"), engine=eng).update(spk, {"dtks": frame([("d1", None, "BUDI", "1980-03-04", "L"),
                                                                             ("d9", None, "RINA", "1999-09-09", "P")])})
    m = _members(res.to_pandas("membership")).set_index(["source", "record_id"])["person_id"]
    assert len(m) == 7 and m["dtks", "d9"] == hash_id("dtks|d9") and m["dtks", "d1"] == hash_id("dtks|d1")


@pytest.mark.parametrize("step", ["write membership", "write changes", "rename version", "switch"])
def test_a_failure_mid_write_leaves_the_store_readable_and_unchanged(spark, first, tmp_path, step):
    """A writer stopped at any step of its commit (an exception; a kill leaves the same
    files but its temporary folder): the store reads as before, and the next commit goes on."""
    from regsosek_link.engine.spark import _store

    _, spk = _copy(first, tmp_path)
    before = _spark_state(spark, spk)
    st = _store.SparkRegistryStore(spk, spark)
    snap = st.snapshot()
    tables = {name: st.table(name) for name in _store.TABLES}

    def fail(name: str) -> None:
        if name == step:
            raise KeyboardInterrupt(f"stopped at {name}")

    _store._FAULT_HOOK = fail
    try:
        with pytest.raises(KeyboardInterrupt):
            st.commit(tables, decisions=snap.decisions, runs=[*snap.runs, {"run_id": 2, "kind": "test"}],
                      generation=snap.generation)
    finally:
        _store._FAULT_HOOK = None
    assert _spark_state(spark, spk) == before
    assert not [p for p in spk.iterdir() if p.name.endswith(".tmp")]
    with pytest.raises(StoreError, match="changed by another run"):  # (a stale writer)
        st.commit(tables, decisions=snap.decisions, runs=snap.runs, generation=0)
    st.commit({k: v.cache() for k, v in tables.items()}, decisions=snap.decisions,
              runs=[*snap.runs, {"run_id": 2, "kind": "test"}], generation=snap.generation)
    assert st.generation() == 2 and st.runs()["kind"].tolist() == ["full", "test"]
    assert st.table("membership").count() == 6
    assert sorted(p.name for p in spk.iterdir()) == ["CURRENT", "v000001", "v000002"]


def test_a_duckdb_file_or_an_object_store_url_is_refused(spark, first):
    with pytest.raises(StoreError, match="is a file"):
        Linker(config("siak", "dtks"), model=model(), engine=_engine(spark)).run(RUN1, store=first / "r.duckdb")
    with pytest.raises(ConfigError, match="object stores"):
        Linker(config("siak", "dtks"), model=model(), engine=_engine(spark)).run(RUN1, store="s3://bucket/registry")


def test_a_reviewers_non_match_splits_a_person_on_spark_as_in_the_embedded_store(spark, first, tmp_path):
    """Decisions added to the store are honoured by the next run: the person splits, the ID
    stays with the part holding the smallest key, the other part gets a new one."""
    from regsosek_link.engine.spark._store import SparkRegistryStore

    emb, spk = _copy(first, tmp_path)
    decision = pd.DataFrame({"source_l": ["siak"], "record_id_l": ["s1"], "source_r": ["dtks"],
                             "record_id_r": ["d1"], "decision": ["non-match"]})
    RegistryStore(emb).add_decisions(decision)
    st = SparkRegistryStore(spk, spark)
    assert st.add_decisions(decision) == 1 and st.generation() == 2 and st.runs()["kind"].tolist() == ["full"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = Linker(config("siak", "dtks"), model=model()).run(RUN1, store=emb)
        b = Linker(config("siak", "dtks"), model=model(), engine=_engine(spark)).run(RUN1, store=spk)
    pd.testing.assert_frame_equal(_members(a.membership), _members(b.to_pandas("membership")))
    assert _changes(a.changes) == _changes(b.changes.toPandas()) == [
        ("split_from", hash_id("siak|s1"), hash_id("dtks|d1"), ("1 record(s) of RP-7EA5F82A864A379A now belong to "
         f"{hash_id('siak|s1')}"), 1)]
    assert len(st.decisions()) == 1 and b.run_id == 2


# -- person_id_salt, withdraw and retrain on Spark: the embedded engine's results ----------

SALT_HEX = "5a" * 32


def test_salted_person_ids_on_spark_are_the_embedded_engines(spark, tmp_path, monkeypatch):
    """With ``person_id_salt`` a store's first run (the IDs the cluster stage gives, as in a
    plain run) and an update on Spark give the embedded engine's salted IDs (none of them
    the plain hash), and the same changes."""
    from regsosek_link.engine.spark._store import SparkRegistryStore

    monkeypatch.setenv("REGSOSEK_TEST_SALT", SALT_HEX)
    cfg1 = config("siak", "dtks").replace(person_id_salt="env:REGSOSEK_TEST_SALT")
    cfg2 = config("bpjs").replace(person_id_salt="env:REGSOSEK_TEST_SALT")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = Linker(cfg1, model=model()).run(RUN1).membership
        Linker(cfg1, model=model()).run(RUN1, store=tmp_path / "r.duckdb")
        # (a store's first run: the IDs the cluster stage gives, as a plain run on Spark gives them)
        first = Linker(cfg1, model=model(), engine=_engine(spark)).run(RUN1, store=tmp_path / "registry")
        a = Linker(cfg2, model=model()).update(tmp_path / "r.duckdb", BATCH)
        b = Linker(cfg2, model=model(), engine=_engine(spark)).update(tmp_path / "registry", BATCH)
    st = SparkRegistryStore(tmp_path / "registry", spark)
    unsalted = {hash_id(f"{s}|{r}") for s, r in zip(plain["source"], plain["record_id"])}
    assert len(set(plain["person_id"])) == 4 and not set(plain["person_id"]) & unsalted
    pd.testing.assert_frame_equal(_members(plain), _members(first.to_pandas("membership")))
    pd.testing.assert_frame_equal(_members(a.membership), _members(b.to_pandas("membership")))
    for run in (1, 2):
        assert _changes(RegistryStore(tmp_path / "r.duckdb").changes(run)) == _changes(
            st.table("changes").where(f"run_id = {run}").toPandas())
    assert set(a.membership["person_id"]) >= set(plain["person_id"]) - {
        c[1] for c in _changes(a.changes) if c[0] == "merged_into"}
    assert hash_id("bpjs|b2") not in set(a.membership["person_id"])


def _links(rows: list) -> set[frozenset[str]]:  # (each engine orients a pair its own way)
    return {frozenset((f"{r[0]}|{r[1]}", f"{r[2]}|{r[3]}")) for r in rows}


def test_withdraw_on_spark_matches_the_embedded_withdraw(spark, merged, tmp_path, capsys):
    """After the merge of BATCH: the bridge b1 withdrawn (the person splits), then all of
    dtks (a person removed, another shrinks): each time the embedded withdrawal's
    membership, IDs, changes, links and run row (the second through ``withdraw --engine
    spark``). A withdrawal stopped before its switch leaves the store as it was; one that
    names no stored record is refused, nothing written."""
    from regsosek_link.cli import main
    from regsosek_link.engine.spark import _store

    emb, spk = _copy(merged[0], tmp_path)
    eng = _engine(spark)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = _spark_state(spark, spk)
        with pytest.raises(StoreError, match=r"no stored record of source 'bpjs' with record_id in \['b7'\]; "
                                             r"stored sources: \['bpjs', 'dtks', 'siak'\]"):
            Linker(config("bpjs"), engine=eng).withdraw(spk, source="bpjs", record_ids=["b7"])

        def stop(name: str) -> None:
            if name == "switch":
                raise KeyboardInterrupt(name)

        _store._FAULT_HOOK = stop
        try:
            with pytest.raises(KeyboardInterrupt):
                Linker(config("bpjs"), engine=eng).withdraw(spk, source="bpjs", record_ids=["b1"])
        finally:
            _store._FAULT_HOOK = None
        assert _spark_state(spark, spk) == before
        st = _store.SparkRegistryStore(spk, spark)
        keys = ["source_l", "record_id_l", "source_r", "record_id_r"]
        for run, (source, ids) in enumerate([("bpjs", ["b1"]), ("dtks", None)], start=3):
            a = Linker(config("bpjs")).withdraw(emb, source=source, record_ids=ids)
            if run == 3:
                b = Linker(config("bpjs"), engine=eng).withdraw(spk, source=source, record_ids=ids)
                assert a.run_id == b.run_id == run
                pd.testing.assert_frame_equal(_members(a.membership), _members(b.to_pandas("membership")))
            else:  # (the CLI, in this session: the active one)
                assert main(["withdraw", "--store", str(spk), "--source", source, "--engine", "spark",
                             "--out", str(tmp_path / "out")]) == 0
                assert f"Withdrew from {spk} (run 4) on Spark: 4 records, persons 4" in capsys.readouterr().out
                pd.testing.assert_frame_equal(_members(a.membership),
                                              _members(pd.read_parquet(tmp_path / "out" / "membership")))
            pd.testing.assert_frame_equal(_members(RegistryStore(emb).membership()),
                                          _members(st.table("membership").toPandas()))
            want = _changes(RegistryStore(emb).changes(run))
            assert want == _changes(st.table("changes").where(f"run_id = {run}").toPandas())
            assert _links(st.table("links").select(*keys).collect()) == _links(
                RegistryStore(emb).links()[keys].astype(str).values.tolist())
            assert st.table("registry").count() == len(RegistryStore(emb).registry())
            cols = ["kind", "n_records", "n_persons", "n_new", "n_merged", "n_split", "n_removed", "model"]
            assert st.runs()[cols].iloc[-1].tolist() == RegistryStore(emb).runs()[cols].iloc[-1].tolist()
            if run == 3:  # (the bridge gone: Joko of siak and Joko of dtks apart again)
                assert [c[0] for c in want] == ["split_from"]
            else:
                assert {c[0] for c in want} == {"removed"} and st.table("records").where("source = 'dtks'").count() == 0
    assert st.runs()["kind"].tolist() == ["full", "update", "withdraw", "withdraw"]


def test_update_retrain_on_spark_trains_as_the_embedded_update(spark, tmp_path):
    """``retrain=True``: the model trained on the pairs with a new record (the prior a share
    of the pairs with a new record), the same m, u and lambda as the embedded update, the
    same membership, and the model stored; a retraining update that finds the store changed
    under it is refused, nothing written."""
    from regsosek_link.datasets import make_sources
    from regsosek_link.engine.spark._store import SparkRegistryStore
    from regsosek_link.model_io import model_from_dict

    syn = make_sources(n_people=150, random_state=3)
    cfg = test_spark_engine._generator_config(syn)
    old = {k: v.iloc[: int(len(v) * 0.8)] for k, v in syn.sources.items()}
    new = {k: v.iloc[int(len(v) * 0.8):] for k, v in syn.sources.items()}
    eng = _engine(spark)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Linker(cfg).run(old, store=tmp_path / "r.duckdb")
        Linker(cfg, engine=eng).run(old, store=tmp_path / "registry")
        st = SparkRegistryStore(tmp_path / "registry", spark)
        before = _spark_state(spark, tmp_path / "registry")

        def meddle(stage: str, done: float) -> None:  # (another writer commits while this one links)
            if stage == "classify" and done == 0.0:
                st.commit({name: st.table(name).cache() for name in ("records", "membership", "registry",
                                                                     "households", "links", "changes")},
                          decisions=st.decisions(), runs=[*st.runs().to_dict("records")], generation=st.generation())

        with pytest.raises(StoreError, match="changed by another run"):
            Linker(cfg, engine=eng).update(tmp_path / "registry", new, retrain=True, progress=meddle)
        assert st.generation() == before[0] + 1 and _spark_state(spark, tmp_path / "registry")[1:] == before[1:]
        a = Linker(cfg).update(tmp_path / "r.duckdb", new, retrain=True)
        b = Linker(cfg, engine=eng).update(tmp_path / "registry", new, retrain=True)
    for x, y in zip(a.model.m_ + a.model.u_, b.model.m_ + b.model.u_):
        np.testing.assert_array_equal(x, y)
    assert a.model.lambda_ == b.model.lambda_ and 0 < b.model.lambda_ < 0.05
    assert b.n_pairs == len(a.pairs)
    pd.testing.assert_frame_equal(_members(a.membership), _members(b.to_pandas("membership")))
    stored = model_from_dict(json.loads(st.runs()["model"].iloc[-1]))
    np.testing.assert_array_equal(stored.model.m_[0], b.model.m_[0])
    assert stored.comparisons == b.config.comparisons


def test_cli_withdraw_on_spark_needs_a_spark_store(tmp_path, capsys):
    """One line and exit code 2 before any session starts: no store directory."""
    pytest.importorskip("pyspark", reason="PySpark is not installed (pip install -e '.[spark]')")
    from regsosek_link.cli import main

    (tmp_path / "r.duckdb").write_text("")
    for store in (tmp_path / "none", tmp_path / "r.duckdb"):
        assert main(["withdraw", "--store", str(store), "--source", "bpjs", "--engine", "spark"]) == 2
        err = capsys.readouterr().err
        assert "is not a directory written by 'run --engine spark --store'" in err and err.count("\n") == 1


def test_a_small_batch_s_placeholder_days_are_judged_on_its_stored_source_on_both_engines(spark, tmp_path):
    """A batch of two records born on a 15th is too small to tell a placeholder from a real
    birthday; judged with its source's stored dates (one a day: the 15th is a day like the
    others, and the stored 15ths are real) both engines take the 15th as real, as a full run over all records would."""
    days = pd.date_range("1990-01-01", "1991-12-31")  # one birthday a day
    stored = frame([(f"d{i}", None, f"ORANG {i}", d.strftime("%Y-%m-%d"), "L") for i, d in enumerate(days)])
    batch = {"dtks": frame([("n1", None, "ANI", "1991-05-15", "P"), ("n2", None, "DEDI", "1977-10-15", "L")])}
    eng = _engine(spark)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Linker(config("dtks"), model=model()).run({"dtks": stored}, store=tmp_path / "r.duckdb")
        Linker(config("dtks"), model=model(), engine=eng).run({"dtks": stored}, store=tmp_path / "registry")
        a = Linker(config("dtks"), model=model()).update(tmp_path / "r.duckdb", batch)
        b = Linker(config("dtks"), model=model(), engine=eng).update(tmp_path / "registry", batch)

    def status(records: pd.DataFrame) -> list[str]:
        new = records[records["record_id"].astype(str).isin(["n1", "n2"])].sort_values("record_id")
        return new["tanggal_lahir_status"].astype(str).tolist()

    assert status(a.records) == status(b.records.toPandas()) == ["ok", "ok"]
