"""Incremental linking: a batch is blocked against the registry without re-pairing old
records (the same blocking with a "new" mask), and the result equals a full run on all the data."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _registry_fixture import config, frame, model

from regsosek_link.block import block
from regsosek_link.config import default_blocking_rules
from regsosek_link.pipeline import Linker
from regsosek_link.standardise import standardise
from regsosek_link.store import RegistryStore


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
    got = block(records, default_blocking_rules(), single_record_sources=single, max_block_size=50, new=is_new)
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
    import json

    from regsosek_link.model_io import model_from_dict

    cfg, _records = synthetic
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
    back = model_from_dict(json.loads(json.dumps(stored))).model
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


def test_kept_links_are_the_stored_links_between_records_of_the_run_at_their_positions():
    """An update's stored links are matched to the run's records by ``source|record_id`` (in
    Arrow): a link is kept when both its records are in the run, at their row positions,
    whatever the row order; missing record IDs read ``<NA>`` as the keys always did."""
    from regsosek_link.run.linker import _kept_links

    records = pd.DataFrame({"source": pd.array(["b", "a", "a", "c", "a"], dtype="string"),
                            "record_id": pd.array(["1", "2", "1", "x|y", pd.NA], dtype="string")})
    links = pd.DataFrame({"source_l": ["a", "a", "c", "b", "a", "a"], "record_id_l": ["1", "9", "x|y", "1", "2", None],
                          "source_r": ["b", "a", "a", "a", "a", "a"], "record_id_r": ["1", "1", "2", "3", "1", "1"],
                          "match_probability": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]})
    links[["source_l", "record_id_l", "source_r", "record_id_r"]] = links[
        ["source_l", "record_id_l", "source_r", "record_id_r"]].astype("string")
    kept = _kept_links(links, records)
    where = {f"{s}|{r}": i for i, (s, r) in enumerate(zip(records["source"].astype(str), records["record_id"].astype(str)))}
    want = [(where[f"{sl}|{rl}"], where[f"{sr}|{rr}"], p) for sl, rl, sr, rr, p in
            zip(links["source_l"].astype(str), links["record_id_l"].astype(str), links["source_r"].astype(str),
                links["record_id_r"].astype(str), links["match_probability"])
            if f"{sl}|{rl}" in where and f"{sr}|{rr}" in where]
    assert list(zip(kept.left.tolist(), kept.right.tolist(), kept.probability.tolist())) == want
    assert len(want) == 4  # (a|9 and a|3 are no records of the run; a|<NA> is one)
    assert kept.left.dtype == np.int64 and kept.table["match_probability"].tolist() == [p for *_, p in want]
