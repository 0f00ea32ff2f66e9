"""The registry store on the Spark engine (Parquet tables in a directory): the same life
cycle as the embedded engine's DuckDB store, step by step the same membership, person IDs
and changes; a write that fails halfway leaves the stored registry readable and unchanged.

Marked ``spark``; skipped with the reason where PySpark or Java is missing.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _registry_fixture import config, frame, model
from test_spark_engine import spark  # noqa: F401  (the session fixture)

from regsosek_link import Linker
from regsosek_link.cluster import hash_id
from regsosek_link.errors import ConfigError, StoreError
from regsosek_link.store import RegistryStore

pytestmark = pytest.mark.spark

RUN1 = {
    "siak": frame([("s1", None, "BUDI", "1980-03-04", "L"), ("s2", None, "SITI", "1985-02-02", "P"),
                   ("s3", None, "JOKO", "1970-07-07", "L")]),
    "dtks": frame([("d1", None, "BUDI", "1980-03-04", "L"),
                   ("d4", "3375010707700001", "JOKO W", "1970-07-07", "L"),
                   ("d5", "3375010707700001", "JOKO W", "1970-07-07", "L")]),
}
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


def test_life_cycle_on_spark_matches_the_embedded_store(spark, tmp_path):
    """run, update (a merge and a new person), a run that leaves a person out (removed) and
    one that brings it back (its old ID is never reissued): each step the same membership,
    IDs and changes as the embedded engine's DuckDB store."""
    from regsosek_link.engine.spark._store import SparkRegistryStore

    emb, spk = tmp_path / "r.duckdb", tmp_path / "registry"
    everyone = {**RUN1, **BATCH}
    without_siti = {**everyone, "siak": RUN1["siak"][RUN1["siak"]["id"] != "s2"].reset_index(drop=True)}
    steps = [("run", config("siak", "dtks"), RUN1, {}), ("update", config("bpjs"), BATCH, {}),
             ("run", config(), without_siti, {"replace": True}), ("run", config(), everyone, {"replace": True})]
    st = SparkRegistryStore(spk, spark)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (what, cfg, data, kw) in enumerate(steps, start=1):
            a = getattr(Linker(cfg, model=model()), what)(*([emb] if what == "update" else []), data,
                                                          **({"store": emb} if what == "run" else {}), **kw)
            b = getattr(Linker(cfg, model=model(), engine=_engine(spark)), what)(
                *([spk] if what == "update" else []), data, **({"store": spk} if what == "run" else {}), **kw)
            assert b.run_id == a.run_id == i
            pd.testing.assert_frame_equal(_members(a.membership), _members(b.to_pandas("membership")))
            assert _changes(RegistryStore(emb).changes(i)) == _changes(
                st.table("changes").where(f"run_id = {i}").toPandas()), what
            pd.testing.assert_frame_equal(_members(RegistryStore(emb).membership()),
                                          _members(st.table("membership").toPandas()))
    # what each step did (the same on both engines, checked above)
    log = _changes(st.table("changes").toPandas().sort_values(["run_id", "seq"]))
    kinds = [(c[0], c[1]) for c in log]
    assert ("merged_into", hash_id("siak|s3")) in kinds and ("new", hash_id("bpjs|b2")) in kinds
    assert ("removed", hash_id("siak|s2")) in kinds and ("new", hash_id("siak|s2#1")) in kinds  # not reissued
    assert st.runs()["kind"].tolist() == ["full", "update", "full", "full"]
    assert st.table("records").count() == 8 and st.generation() == 4


def test_update_refuses_what_the_embedded_update_refuses(spark, tmp_path):
    """Nothing written: a contradicting config (the stored-settings check), a batch record
    stored with other values, retrain; an unchanged stored record in the batch is skipped."""
    from regsosek_link.engine.spark._store import SparkRegistryStore

    spk = tmp_path / "registry"
    eng = _engine(spark)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Linker(config("siak", "dtks"), model=model(), engine=eng).run(RUN1, store=spk)
        st = SparkRegistryStore(spk, spark)
        before = _spark_state(spark, spk)
        with pytest.raises(StoreError, match="contradicts the registry"):
            Linker(config("bpjs").replace(threshold=0.8), engine=eng).update(spk, BATCH)
        with pytest.raises(StoreError, match=r"1 record\(s\) of the batch are stored already with other values"):
            Linker(config("dtks"), engine=eng).update(spk, {"dtks": frame([("d1", None, "BUDI", "1981-03-04", "L")])})
        with pytest.raises(ConfigError, match="retrain"):
            Linker(config("bpjs"), engine=eng).update(spk, BATCH, retrain=True)
        with pytest.raises(StoreError, match="does not read"):
            Linker(config("siak", "dtks"), engine=eng).run({"siak": RUN1["siak"]}, store=spk)
        assert _spark_state(spark, spk) == before
        res = Linker(config("dtks"), engine=eng).update(spk, {"dtks": frame([("d1", None, "BUDI", "1980-03-04", "L"),
                                                                             ("d9", None, "RINA", "1999-09-09", "P")])})
    m = _members(res.to_pandas("membership")).set_index(["source", "record_id"])["person_id"]
    assert len(m) == 7 and m["dtks", "d9"] == hash_id("dtks|d9")
    assert st.runs()["kind"].tolist() == ["full", "update"]


@pytest.mark.parametrize("step", ["write membership", "write changes", "rename version", "switch"])
def test_a_failure_mid_write_leaves_the_store_readable_and_unchanged(spark, tmp_path, step):
    from regsosek_link.engine.spark import _store

    spk = tmp_path / "registry"
    eng = _engine(spark)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Linker(config("siak", "dtks"), model=model(), engine=eng).run(RUN1, store=spk)
        before = _spark_state(spark, spk)

        def fail(name: str) -> None:
            if name == step:
                raise KeyboardInterrupt(f"killed at {name}")

        _store._FAULT_HOOK = fail
        try:
            with pytest.raises(KeyboardInterrupt):
                Linker(config("bpjs"), engine=eng).update(spk, BATCH)
        finally:
            _store._FAULT_HOOK = None
        assert _spark_state(spark, spk) == before
        assert not [p for p in spk.iterdir() if p.name.endswith(".tmp")]
        # and the next writer goes on from there
        res = Linker(config("bpjs"), engine=eng).update(spk, BATCH)
    assert res.run_id == 2 and _spark_state(spark, spk)[0] == 2
    assert sorted(p.name for p in spk.iterdir()) == ["CURRENT", "v000001", "v000002"]


def test_a_duckdb_file_or_an_object_store_url_is_refused(spark, tmp_path):
    path = tmp_path / "r.duckdb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Linker(config("siak", "dtks"), model=model()).run(RUN1, store=path)
    with pytest.raises(StoreError, match="is a file"):
        Linker(config("siak", "dtks"), model=model(), engine=_engine(spark)).run(RUN1, store=path)
    with pytest.raises(ConfigError, match="object stores"):
        Linker(config("siak", "dtks"), model=model(), engine=_engine(spark)).run(RUN1, store="s3://bucket/registry")
