"""The persistent registry: stable IDs across reruns, a new batch, a merge, a split and a
withdrawn batch, each with the exact IDs and change rows."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _registry_fixture import RUN1, config, frame, model

from regsosek_link.cluster import hash_id
from regsosek_link.errors import StoreError
from regsosek_link.ids import assign_person_ids
from regsosek_link.pipeline import Linker
from regsosek_link.store import RegistryStore

# IDs are sha1 of the smallest record key of the person's first cluster
BUDI = hash_id("dtks|d1")          # RP-7EA5F82A864A379A  {siak s1, dtks d1}
SITI = hash_id("siak|s2")          # {siak s2}
JOKO_SIAK = hash_id("siak|s3")     # {siak s3}
JOKO_DTKS = hash_id("dtks|d4")     # {dtks d4, dtks d5}
ANDI = hash_id("dtks|d3")
RINA = hash_id("bpjs|b2")


def test_ids_are_literal_hashes():
    assert BUDI == "RP-7EA5F82A864A379A"
    assert SITI == "RP-B1694220DCE093AA"


def _changes(store: RegistryStore, run_id: int) -> list[tuple]:
    ch = store.changes(run_id)
    return [tuple(None if pd.isna(v) else v for v in row)
            for row in ch[["change", "person_id", "other_person_id", "n_records"]].itertuples(index=False)]


def _members(store: RegistryStore) -> dict[str, str]:
    m = store.membership()
    return dict(zip(m["source"] + "|" + m["record_id"], m["person_id"]))


@pytest.fixture
def store(tmp_path: Path) -> RegistryStore:
    path = tmp_path / "registry.duckdb"
    Linker(config("siak", "dtks"), model=model()).run(RUN1, store=path)
    return RegistryStore(path)


def test_first_run_issues_new_ids(store):
    assert _members(store) == {"siak|s1": BUDI, "dtks|d1": BUDI, "siak|s2": SITI,
                               "siak|s3": JOKO_SIAK, "dtks|d4": JOKO_DTKS, "dtks|d5": JOKO_DTKS}
    assert sorted(_changes(store, 1)) == sorted([
        ("new", BUDI, None, 2), ("new", SITI, None, 1), ("new", JOKO_SIAK, None, 1), ("new", JOKO_DTKS, None, 2)])
    assert set(store.TABLES) <= {"records", "membership", "registry", "households", "links", "decisions",
                                 "changes", "runs", "meta"}
    assert store.runs()["kind"].tolist() == ["full"]


def test_rerun_on_the_same_data_gives_identical_ids_and_no_changes(store):
    before = _members(store)
    Linker(config("siak", "dtks"), model=model()).run(RUN1, store=store.path)
    assert _members(store) == before
    assert _changes(store, 2) == []
    assert store.runs()["n_persons"].tolist() == [4, 4]


def test_new_batch_keeps_ids_and_adds_new_people(store):
    batch = {"bpjs": frame([("b0", None, "SITI", "1985-02-02", "P"), ("b3", None, "ANDI", "1990-03-03", "L")])}
    Linker(config(), model=model()).update(store.path, batch)
    m = _members(store)
    assert m["bpjs|b0"] == SITI and m["bpjs|b3"] == hash_id("bpjs|b3")
    assert {k: v for k, v in m.items() if not k.startswith("bpjs")} == {
        "siak|s1": BUDI, "dtks|d1": BUDI, "siak|s2": SITI, "siak|s3": JOKO_SIAK,
        "dtks|d4": JOKO_DTKS, "dtks|d5": JOKO_DTKS}
    assert _changes(store, 2) == [("new", hash_id("bpjs|b3"), None, 1)]
    assert store.runs()["kind"].tolist() == ["full", "update"]


def _merge(store: RegistryStore) -> None:
    # b1 has Joko's name and birth date (-> siak s3) and the NIK of d4/d5 (-> dtks Joko):
    # the two Jokos become one person. JOKO_DTKS has 2 records vs 1: it survives.
    batch = {"bpjs": frame([("b1", "3375010707700001", "JOKO", "1970-07-07", "L"),
                            ("b2", None, "RINA", "1999-09-09", "P")])}
    Linker(config(), model=model()).update(store.path, batch)


def test_a_bridging_record_merges_two_persons_and_the_larger_id_survives(store):
    _merge(store)
    m = _members(store)
    assert {m[k] for k in ("siak|s3", "dtks|d4", "dtks|d5", "bpjs|b1")} == {JOKO_DTKS}
    assert _changes(store, 2) == [("new", RINA, None, 1), ("merged_into", JOKO_SIAK, JOKO_DTKS, 1)]
    reason = store.changes(2)["reason"].tolist()[1]
    assert reason == f"linked into one person; {JOKO_DTKS} has more records (2 vs 1)"
    reg = store.registry().set_index("person_id")
    assert JOKO_SIAK not in reg.index and reg.loc[JOKO_DTKS, "n_records"] == 4


def test_withdrawn_batch_splits_the_merge_and_removes_its_own_people(store):
    _merge(store)
    Linker(config()).withdraw(store.path, source="bpjs")
    m = _members(store)
    assert not any(k.startswith("bpjs") for k in m)
    # the bridge is gone: Joko of siak splits off again, with a new ID -- never the retired
    # JOKO_SIAK (issued before), so the hash of its key is rehashed
    resplit = hash_id("siak|s3#1")
    assert m["siak|s3"] == resplit and m["dtks|d4"] == m["dtks|d5"] == JOKO_DTKS
    assert _changes(store, 3) == [("split_from", resplit, JOKO_DTKS, 1), ("removed", RINA, None, 1)]
    assert store.runs()["kind"].tolist() == ["full", "update", "withdraw"]
    assert len(store.links()) == 1 + 1  # s1-d1 and d4-d5; every b1 link dropped


def test_a_reviewers_non_match_splits_a_person_on_the_next_run(store):
    store.add_decisions(pd.DataFrame({"source_l": ["siak"], "record_id_l": ["s1"], "source_r": ["dtks"],
                                      "record_id_r": ["d1"], "decision": ["non-match"]}))
    Linker(config("siak", "dtks"), model=model()).run(RUN1, store=store.path)
    m = _members(store)
    # one record each side: the ID stays with the part holding the smallest key (dtks|d1)
    assert m["dtks|d1"] == BUDI and m["siak|s1"] == hash_id("siak|s1")
    assert _changes(store, 2) == [("split_from", hash_id("siak|s1"), BUDI, 1)]


def test_update_needs_a_registry_skips_unchanged_and_refuses_changed_known_records(tmp_path, store):
    with pytest.raises(StoreError, match="holds no registry yet"):
        Linker(config()).update(tmp_path / "empty.duckdb", {"bpjs": frame([("x", None, "A", "2000-01-01", "L")])})
    before = store.generation()
    with pytest.raises(StoreError, match=r"1 record\(s\) of the batch are stored already with other values, "
                                         r"e.g. \['dtks\|d1'\]"):
        Linker(config(), model=model()).update(store.path, {"dtks": frame([("d1", None, "BUDI", "1981-03-04", "L")])})
    assert store.generation() == before  # refused: nothing written
    # re-reading a stored record unchanged (a config naming the old sources) skips it
    Linker(config(), model=model()).update(store.path, {"dtks": frame([("d1", None, "BUDI", "1980-03-04", "L"),
                                                                       ("d9", None, "RINA", "1999-09-09", "P")])})
    m = _members(store)
    assert len(m) == 7 and m["dtks|d9"] == hash_id("dtks|d9")


def test_snapshot_reads_the_records_back_as_stored_with_one_python_string_per_value(store):
    """The snapshot an update starts from: the stored records with their values and nulls,
    text as ``string`` columns in which a repeated value is one Python object (DuckDB's
    own conversion made an object per cell: twice the memory of the records a run makes),
    nullable integers kept nullable; the issued IDs and birth runs from the change log."""
    snap = store.snapshot()
    with store._connect(read_only=True) as con:
        plain = con.execute("select * from records order by _pos").df().drop(columns="_pos")
        log = con.execute("select * from changes").df()
    rec = snap.records
    assert list(rec.columns) == list(plain.columns) and len(rec) == 6
    for c in rec.columns:
        got = rec[c].astype(object).where(rec[c].notna(), None).tolist()
        want = plain[c].astype(object).where(plain[c].notna(), None).tolist()
        assert got == want, c
        if plain[c].dtype == object:
            assert rec[c].dtype == "string", c
    src = rec["source"].array._ndarray
    assert src[0] == src[1] == "siak" and src[0] is src[1]  # one object for the repeated value
    assert snap.membership["record_id"].tolist() == rec["record_id"].tolist()  # aligned row by row
    assert snap.issued == frozenset(log["person_id"]) and len(snap.issued) == 4
    assert snap.first_seen == dict.fromkeys(log["person_id"], 1)


# ---------------------------------------------------------------------------------------
# assign_person_ids on its own


def _assign(keys, labels, prev=None, **kw):
    prev_df = None if prev is None else pd.DataFrame({"key": list(prev), "person_id": list(prev.values())})
    ids, ch = assign_person_ids(pd.Series(keys), np.array(labels), prev_df, **kw)
    return ids.tolist(), [tuple(None if pd.isna(v) else v for v in r)
                          for r in ch[["change", "person_id", "other_person_id", "n_records"]].itertuples(index=False)]


def test_assign_tie_goes_to_the_older_then_smaller_id():
    prev = {"a": "P-B", "b": "P-A"}
    ids, ch = _assign(["a", "b"], [0, 0], prev, first_seen={"P-B": 1, "P-A": 2})
    assert ids == ["P-B", "P-B"] and ch == [("merged_into", "P-A", "P-B", 1)]
    ids, ch = _assign(["a", "b"], [0, 0], prev)
    assert ids == ["P-A", "P-A"] and ch == [("merged_into", "P-B", "P-A", 1)]


def test_assign_split_keeps_the_id_where_most_records_went():
    prev = {"a": "P", "b": "P", "c": "P"}
    ids, ch = _assign(["a", "b", "c"], [0, 1, 1], prev)
    assert ids == [hash_id("a"), "P", "P"]
    assert ch == [("split_from", hash_id("a"), "P", 1)]


def test_assign_new_id_collision_is_rehashed():
    ids, _ = _assign(["a"], [0], issued={hash_id("a")})
    assert ids == [hash_id("a#1")]


def test_frames_are_written_in_arrow_chunks_with_the_same_tables(tmp_path, monkeypatch):
    """A frame bigger than ARROW_CHUNK_ROWS reaches DuckDB as a stream of record batches of
    the frame's schema (not converted whole): a column missing in a whole chunk keeps its
    type, and the stored tables are those of a write converted in one piece."""
    import pyarrow as pa

    import regsosek_link.store as store_module

    frame = pd.DataFrame({"a": pd.array([None, None, "x", "y", None], dtype="string"),
                          "n": pd.array([1, None, 3, 4, 5], dtype="Int16"), "f": [0.5, 1.5, 2.5, 3.5, 4.5]})
    stream = store_module._as_arrow(frame, chunk_rows=2)
    assert isinstance(stream, pa.RecordBatchReader)
    assert stream.read_all().equals(pa.Table.from_pandas(frame, preserve_index=False))
    tables = {}
    for rows in (10**9, 2):
        monkeypatch.setattr(store_module, "ARROW_CHUNK_ROWS", rows)
        path = tmp_path / f"r{rows}.duckdb"
        Linker(config("siak", "dtks"), model=model()).run(RUN1, store=path)
        with RegistryStore(path)._connect(read_only=True) as con:
            tables[rows] = {t: (con.execute(f"select * from {t}").df(), con.execute(f"describe {t}").df())
                            for t in ("records", "links", "membership", "registry", "households")}
    for t, (rows, types) in tables[10**9].items():
        pd.testing.assert_frame_equal(tables[2][t][0], rows, check_exact=True)
        pd.testing.assert_frame_equal(tables[2][t][1], types)
