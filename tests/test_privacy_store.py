"""Encoded registries through the Linker's life cycle: a run saved in a store, an update with a
new encoded batch, a withdrawal; the store holds encodings and provenance only, and a batch of
another key or of clear records is refused with the store unchanged."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from regsosek_link import LinkConfig, Linker, SourceConfig
from regsosek_link.errors import StoreError
from regsosek_link.privacy import (
    EncodedLinker,
    SecretKey,
    encode_source,
    encoded_config,
    link_encoded,
    write_encoded,
)
from regsosek_link.store import RegistryStore

KEY = SecretKey(bytes.fromhex("5f1c0e9a3b7d24c68e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"), origin="tests")
FIRST = ("siak", "dtks", "regsosek")
BATCH = ("dapodik", "bpjs_pbi")


@pytest.fixture(scope="module")
def syn():
    from regsosek_link.datasets import make_sources

    return make_sources(n_people=400, random_state=11)


@pytest.fixture(scope="module")
def cfg(syn) -> LinkConfig:
    return LinkConfig(sources=tuple(SourceConfig(name=k, columns=m) for k, m in syn.mappings.items()))


@pytest.fixture(scope="module")
def encoded(syn, cfg) -> dict[str, pd.DataFrame]:
    return {name: encode_source(name, KEY, data=syn.sources[name], config=cfg) for name in syn.sources}


@pytest.fixture(scope="module")
def single(syn) -> list[str]:
    return [k for k, v in syn.source_info.items() if v["one_record_per_person"]]


def _pairs_of(membership: pd.DataFrame) -> set[tuple[str, str]]:
    key = (membership["source"].astype(str) + "|" + membership["record_id"].astype(str)).to_numpy()
    df = pd.DataFrame({"k": key, "p": membership["person_id"].astype(str).to_numpy()})
    both = df.merge(df, on="p")
    both = both[both["k_x"] < both["k_y"]]
    return set(zip(both["k_x"], both["k_y"], strict=True))


def _clear_cells(syn, names) -> set[str]:
    values = set()
    for name in names:
        raw = syn.sources[name]
        own_id = next(c for c, t in syn.mappings[name].items() if t == "record_id")
        values |= {str(v).strip() for c in raw.columns if c != own_id for v in raw[c].dropna().tolist()}
    return {v for v in values if len(v) >= 4}


def test_an_encoded_registry_is_stored_and_updated_with_a_new_encoded_batch(syn, encoded, single, tmp_path):
    db = tmp_path / "reg.duckdb"
    first = link_encoded({k: encoded[k] for k in FIRST}, one_record_per_person=single, store=db)
    assert first.run_id == 1
    added = link_encoded({k: encoded[k] for k in BATCH}, one_record_per_person=single, store=db, update=True)
    assert added.run_id == 2
    n = sum(len(e) for e in encoded.values())
    # every record once, and the first run's persons kept their IDs unless the batch merged them
    assert len(added.membership) == n and not added.membership.duplicated(["source", "record_id"]).any()
    before = first.membership.set_index(["source", "record_id"])["person_id"]
    after = added.membership.set_index(["source", "record_id"])["person_id"].reindex(before.index)
    moved = set(before[after.to_numpy() != before.to_numpy()])
    merged = set(added.changes.loc[added.changes["change"] == "merged_into", "person_id"].astype(str))
    assert moved <= merged
    # the update scored only pairs with a batch record, with the stored model
    recs = added.records
    batch = recs["source"].astype(str).isin(BATCH).to_numpy()
    left, right = added.pairs["left"].to_numpy(), added.pairs["right"].to_numpy()
    assert len(added.pairs) and (batch[left] | batch[right]).all()
    # as good as linking everything at once (the batch does not retrain the model)
    full = link_encoded(encoded, one_record_per_person=single)
    f_full, f_upd = full.evaluate(syn.truth).f1, added.evaluate(syn.truth).f1
    assert f_upd > 0.95 and f_upd > f_full - 0.02, (f_upd, f_full)
    # the store holds encodings, flags and provenance only: no clear value of any source
    st = RegistryStore(db)
    clear = _clear_cells(syn, encoded)
    for table in ("records", "registry", "membership", "links"):
        frame = st.table(table)
        text = set()
        for c in frame.columns:
            if frame[c].dtype == object or str(frame[c].dtype).startswith("string"):
                text |= {str(v) for v in frame[c].dropna().tolist()}
        ids = set(frame["record_id"].astype(str)) if "record_id" in frame.columns else set()
        assert not (clear - ids) & text, (table, sorted((clear - ids) & text)[:5])
    assert st.table("registry")["nik"].dropna().str.fullmatch(r"[0-9a-f]{32}").all()
    # the same batch again: stored unchanged, skipped, nothing new
    again = link_encoded({k: encoded[k] for k in BATCH}, one_record_per_person=single, store=db, update=True)
    assert len(again.membership) == n
    assert _pairs_of(again.membership) == _pairs_of(added.membership)


def test_an_encoded_registry_refuses_another_key_and_clear_records(syn, cfg, encoded, single, tmp_path):
    db = tmp_path / "reg.duckdb"
    link_encoded({k: encoded[k] for k in FIRST}, one_record_per_person=single, store=db)
    st = RegistryStore(db)
    gen = st.generation()
    other = SecretKey(bytes(range(32)), origin="another holder")
    stranger = {"dapodik": encode_source("dapodik", other, data=syn.sources["dapodik"], config=cfg)}
    with pytest.raises(StoreError, match="different keys.*nothing was changed"):
        link_encoded(stranger, store=db, update=True)
    # a clear batch into an encoded registry, and encoded records into a clear one
    with pytest.raises(StoreError, match="holds encoded records"):
        Linker(cfg.replace(sources=(cfg.source("dapodik"),))).update(db, {"dapodik": syn.sources["dapodik"]})
    assert st.generation() == gen and len(st.table("records")) == sum(len(encoded[k]) for k in FIRST)
    clear_db = tmp_path / "clear.duckdb"
    Linker(cfg.replace(sources=tuple(cfg.source(k) for k in FIRST))).run(
        {k: syn.sources[k] for k in FIRST}, store=clear_db)
    with pytest.raises(StoreError, match="holds clear records"):
        link_encoded({"dapodik": encoded["dapodik"]}, store=clear_db, update=True)


def test_an_encoded_registry_withdraws_a_source(encoded, single, tmp_path):
    db = tmp_path / "reg.duckdb"
    link_encoded(encoded, one_record_per_person=single, store=db)
    cfg = encoded_config(list(encoded), one_record_per_person=single)
    result = EncodedLinker(cfg).withdraw(db, source="bpjs_pbi")
    assert "bpjs_pbi" not in set(result.membership["source"].astype(str))
    assert len(result.membership) == sum(len(v) for k, v in encoded.items() if k != "bpjs_pbi")
    assert len(RegistryStore(db).table("records")) == len(result.membership)


def test_link_encoded_cli_stores_and_updates(encoded, single, tmp_path):
    files = {}
    for name, frame in encoded.items():
        files[name] = write_encoded(frame, tmp_path / f"{name}.parquet")
    db = tmp_path / "reg.duckdb"
    flags = [arg for s in single for arg in ("--one-record-per-person", s)]

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "regsosek_link.cli", "link-encoded", *args],
                              capture_output=True, text=True, check=False)

    done = cli(*[str(files[k]) for k in FIRST], "--out", str(tmp_path / "o1"), "--store", str(db), *flags)
    assert done.returncode == 0, done.stderr
    done = cli(*[str(files[k]) for k in BATCH], "--out", str(tmp_path / "o2"), "--store", str(db), "--update",
               *flags)
    assert done.returncode == 0, done.stderr
    assert "Added the batch to" in done.stderr and "run 2" in done.stderr
    membership = pd.read_parquet(tmp_path / "o2" / "membership.parquet")
    assert len(membership) == sum(len(e) for e in encoded.values())
    assert (tmp_path / "o2" / "processing_record.json").exists()
    # user errors: one line, exit code 2
    for args in ([str(files["dapodik"]), "--out", str(tmp_path / "o3"), "--update"],
                 [str(files["dapodik"]), "--out", str(tmp_path / "o3"), "--store", str(tmp_path / "none.duckdb"),
                  "--update"]):
        bad = cli(*args)
        assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_encodings_of_an_older_scheme_are_refused(encoded):
    old = {k: v.assign(encoding=v["encoding"].str.replace("pprl-v2", "pprl-v1")) for k, v in encoded.items()}
    with pytest.raises(Exception, match="pprl-v1.*encode its source again"):
        link_encoded(old)
    assert np.array_equal(encoded["siak"]["encoding"].str.startswith("pprl-v2"), np.ones(len(encoded["siak"]), bool))


def test_a_flag_a_source_lacks_is_false_not_true(encoded, single):
    parts = {"siak": encoded["siak"].drop(columns=["tanggal_lahir_placeholder", "nik_valid"]),
             "dtks": encoded["dtks"]}
    recs = link_encoded(parts, one_record_per_person=single).records
    siak = (recs["source"] == "siak").to_numpy()
    assert recs["tanggal_lahir_placeholder"].dtype == bool and recs["nik_valid"].dtype == bool
    assert not recs.loc[siak, "tanggal_lahir_placeholder"].any() and not recs.loc[siak, "nik_valid"].any()
    assert recs.loc[~siak, "tanggal_lahir_placeholder"].any()
