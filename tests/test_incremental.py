"""Incremental linking: a batch is blocked against the registry without re-pairing old
records, and the result equals a full run on all the data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _registry_fixture import config, frame, model  # noqa: E402

from regsosek_link.block import block
from regsosek_link.config import default_blocking_rules
from regsosek_link.pipeline import Linker
from regsosek_link.standardise import standardise
from regsosek_link.store import RegistryStore, block_new, model_from_json, model_to_json


@pytest.fixture(scope="module")
def synthetic():
    datasets = pytest.importorskip("regsosek_link.datasets")
    syn = datasets.make_sources(n_people=600, random_state=3)
    from regsosek_link.config import LinkConfig, SourceConfig
    from regsosek_link.ingest import read_sources

    cfg = LinkConfig(sources=tuple(SourceConfig(name=n, columns=syn.mappings[n],
                                                one_record_per_person=syn.source_info[n]["one_record_per_person"])
                                   for n in syn.sources), max_block_size=50)
    return cfg, standardise(read_sources(cfg, syn.sources))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("share", [0.0, 0.05, 0.5, 1.0])
def test_block_new_equals_full_blocking_restricted_to_new_records(synthetic, share):
    cfg, records = synthetic
    is_new = np.random.default_rng(0).random(len(records)) < share
    single = [s.name for s in cfg.sources if s.one_record_per_person]
    full = block(records, default_blocking_rules(), single_record_sources=single, max_block_size=50)
    keep = is_new[full["left"].to_numpy()] | is_new[full["right"].to_numpy()]
    expected = full[keep].reset_index(drop=True)
    got = block_new(records, is_new, default_blocking_rules(), single_record_sources=single, max_block_size=50)
    pd.testing.assert_frame_equal(got, expected[["left", "right", "rule", "rules"]], check_dtype=False)


OLD = {
    "siak": frame([("s1", None, "BUDI", "1980-01-01", "L"), ("s2", None, "SITI", "1985-02-02", "P"),
                   ("s3", None, "JOKO", "1970-07-07", "L")]),
    "dtks": frame([("d1", None, "BUDI", "1980-01-01", "L"),
                   ("d4", "3375010707700001", "JOKO W", "1970-07-07", "L")]),
}
NEW = {"bpjs": frame([("b1", "3375010707700001", "JOKO", "1970-07-07", "L"),
                      ("b2", None, "SITI", "1985-02-02", "P"), ("b3", None, "ANDI", "1990-03-03", "L")])}


def test_update_equals_a_full_run_on_all_records(tmp_path):
    path = tmp_path / "r.duckdb"
    Linker(config("siak", "dtks"), model=model()).run(OLD, store=path)
    upd = Linker(config(), model=model()).update(path, NEW)
    full = Linker(config(), model=model()).run({**OLD, **NEW})

    def partition(m: pd.DataFrame) -> set[frozenset[str]]:
        k = m["source"] + "|" + m["record_id"]
        return {frozenset(g) for _, g in k.groupby(m["person_id"])}

    assert partition(upd.membership) == partition(full.membership)
    # only pairs with a new record were made: 3 new records, 3 + 2 candidate pairs
    assert len(upd.pairs) < len(full.pairs)
    assert (upd.pairs["left"] >= 5).to_numpy().__or__(upd.pairs["right"] >= 5).all()
    assert len(upd.membership) == 8 and upd.membership["person_id"].notna().all()


def test_update_reuses_the_stored_model(tmp_path):
    path = tmp_path / "r.duckdb"
    Linker(config("siak", "dtks"), model=model()).run(OLD, store=path)
    stored = RegistryStore(path).model()
    assert [m.tolist() for m in stored.m_] == [m.tolist() for m in model().m_]
    upd = Linker(config()).update(path, NEW)  # no model given: the stored one is used
    assert upd.model.lambda_ == 0.1


def test_model_json_round_trip():
    m = model()
    back = model_from_json(model_to_json(m))
    X = pd.DataFrame({"nik": [1, 0, -1], "nama": [1, 1, 0], "tanggal_lahir": [1, -1, 0]})
    np.testing.assert_array_equal(back.predict_proba(X), m.predict_proba(X))


def test_update_keeps_unchanged_golden_rows_and_rebuilds_the_rest(tmp_path):
    path = tmp_path / "r.duckdb"
    Linker(config("siak", "dtks"), model=model()).run(OLD, store=path)
    upd = Linker(config(), model=model()).update(path, NEW)
    from regsosek_link.registry import golden_records

    full = golden_records(upd.records, upd.membership["person_id"].to_numpy(), single_record_sources=["siak"],
                          priorities={s: {"*": 100} for s in ("siak", "dtks", "bpjs")})
    pd.testing.assert_frame_equal(upd.registry.reset_index(drop=True), full, check_dtype=False)
    pd.testing.assert_frame_equal(RegistryStore(path).registry().astype("string"), full.astype("string"))


def test_update_retrain_trains_like_a_full_run(synthetic, tmp_path):
    from regsosek_link.model_io import model_from_dict
    from regsosek_link.store import _load_model
    import json

    cfg, records = synthetic
    datasets = pytest.importorskip("regsosek_link.datasets")
    syn = datasets.make_sources(n_people=600, random_state=3)
    old = {k: v.iloc[: int(len(v) * 0.8)] for k, v in syn.sources.items()}
    new = {k: v.iloc[int(len(v) * 0.8):] for k, v in syn.sources.items()}
    path = tmp_path / "r.duckdb"
    Linker(cfg).run(old, store=path)
    upd = Linker(cfg).update(path, new, retrain=True)
    assert "rules" in upd.pairs.columns and upd.model.n_iter_ == 0  # train_by_sessions' model
    assert 0 < upd.model.lambda_ < 0.01                               # prior over all pairs with a new record
    stored = json.loads(RegistryStore(path).runs()["model"].iloc[-1])
    assert stored["format"] == "regsosek_link.fellegi_sunter"          # model_io JSON
    back = _load_model(json.dumps(stored))
    np.testing.assert_allclose(back.predict_proba(upd.levels), upd.model.predict_proba(upd.levels))
    assert model_from_dict(stored).comparisons == cfg.comparisons


def _split(share: float = 0.8):
    datasets = pytest.importorskip("regsosek_link.datasets")
    syn = datasets.make_sources(n_people=600, random_state=3)
    rng = np.random.default_rng(1)
    old, new = {}, {}
    for k, v in syn.sources.items():
        first = rng.random(len(v)) < share
        old[k], new[k] = v[first].reset_index(drop=True), v[~first].reset_index(drop=True)
    return old, new


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_blocking_against_stored_keys_equals_block_new(synthetic, tmp_path):
    import duckdb

    from regsosek_link.store import _block_against_stored

    cfg, _ = synthetic
    old, new = _split()
    path = tmp_path / "r.duckdb"
    Linker(cfg).run(old, store=path)
    from regsosek_link.ingest import read_sources

    stored = RegistryStore(path).records()
    batch = standardise(read_sources(cfg, new))
    records = pd.concat([stored, batch], ignore_index=True)
    is_new = np.arange(len(records)) >= len(stored)
    single = [s.name for s in cfg.sources if s.one_record_per_person]
    expected = block_new(records, is_new, cfg.blocking_rules, single_record_sources=single,
                         max_block_size=cfg.max_block_size)
    with duckdb.connect(str(path)) as con:
        got = _block_against_stored(con, batch, len(stored), cfg)
    assert len(got) > 100
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fast_update_equals_the_full_update(synthetic, tmp_path):
    """The update on stored keys and affected persons only gives the same IDs, change rows,
    registry and households as the update that re-clusters everything."""
    import duckdb

    cfg, _ = synthetic
    old, new = _split()
    out = {}
    for fast in (True, False):
        path = tmp_path / f"{fast}.duckdb"
        Linker(cfg).run(old, store=path)
        if not fast:  # no stored keys: the update re-keys and re-clusters every record
            with duckdb.connect(str(path)) as con:
                con.execute("drop table block_rules")
        upd = Linker(cfg).update(path, new)
        assert (type(upd).__name__ == "StoredLinkResult") == fast
        s = RegistryStore(path)
        m = s.membership()
        out[fast] = (dict(zip(m["source"] + "|" + m["record_id"], m["person_id"])),
                     s.changes(2).drop(columns=["seq"]).astype(str).values.tolist(),
                     s.registry().astype("string"),
                     s.households().sort_values(["household_id", "person_id"]).reset_index(drop=True).astype("string"),
                     len(upd.pairs), upd.membership["person_id"].astype(str).tolist())
    a, b = out[True], out[False]
    assert a[0] == b[0]
    assert a[1] == b[1] and len(a[1]) > 0
    pd.testing.assert_frame_equal(a[2], b[2])
    pd.testing.assert_frame_equal(a[3], b[3])
    assert a[4] == b[4] and a[5] == b[5]
