"""The same records in any row order, with the sources in any order, give the same run.

End to end on the generator's data (rows shuffled within each source, sources reversed in
the data and in the config), and one small case per place where an order of records used to
reach a result: the random pairs that estimate ``u``, ties in a sorted-neighbourhood key,
ties between equally strong links when a cluster is cut.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

import regsosek_link as rl
from regsosek_link._codes import shared_codes
from regsosek_link._order import record_order, record_rank
from regsosek_link.block import BlockOn, SortedNeighbourhood, block
from regsosek_link.classify import u_from_random_pairs
from regsosek_link.cluster import cluster_records, constrained_clusters
from regsosek_link.compare import ExactMatch
from regsosek_link.config import default_blocking_rules
from regsosek_link.datasets import make_sources


def _shuffled(sources: dict[str, pd.DataFrame], seed: int) -> dict[str, pd.DataFrame]:
    """Rows shuffled within each source, sources in reverse order."""
    rng = np.random.default_rng(seed)
    return {name: df.iloc[rng.permutation(len(df))].reset_index(drop=True)
            for name, df in reversed(sources.items())}


def _config(syn, names) -> rl.LinkConfig:
    # the default rules plus a sorted neighbourhood on a key with many ties (birth dates)
    rules = (*default_blocking_rules(), SortedNeighbourhood(key="tanggal_lahir", window=3))
    return rl.LinkConfig(
        sources=tuple(rl.SourceConfig(name=s, columns=syn.mappings[s], one_record_per_person=s == "siak")
                      for s in names),
        blocking_rules=rules, random_state=0)


def _record_keys(result: rl.LinkResult) -> np.ndarray:
    return (result.records["source"].astype(str) + "|" + result.records["record_id"].astype(str)).to_numpy(object)


def _pair_set(result: rl.LinkResult) -> set[tuple[str, str]]:
    key = _record_keys(result)
    a, b = key[result.pairs["left"].to_numpy()], key[result.pairs["right"].to_numpy()]
    return set(zip(np.minimum(a, b), np.maximum(a, b)))


def _membership_set(result: rl.LinkResult) -> set[tuple]:
    m = result.membership
    return set(zip(m["source"], m["record_id"], m["person_id"], m["match_probability"]))


@pytest.fixture(scope="module")
def synthetic():
    return make_sources(n_people=3_000, random_state=5)


@pytest.fixture(scope="module")
def runs(synthetic):
    datas = [synthetic.sources, _shuffled(synthetic.sources, 1), _shuffled(synthetic.sources, 2)]
    return [rl.Linker(_config(synthetic, list(d))).run(d) for d in datas]


def test_shuffled_rows_and_sources_give_the_same_membership(runs):
    base = _membership_set(runs[0])
    assert len(base) == len(runs[0].membership)
    for other in runs[1:]:
        assert _membership_set(other) == base


def test_shuffled_rows_and_sources_give_the_same_registry_and_households(runs):
    for other in runs[1:]:
        pd.testing.assert_frame_equal(other.registry, runs[0].registry)
        pd.testing.assert_frame_equal(other.households, runs[0].households)


def test_shuffled_rows_and_sources_give_the_same_model(runs):
    base = runs[0].model
    for other in runs[1:]:
        for name in ("m_", "u_"):
            for mine, theirs in zip(getattr(other.model, name), getattr(base, name)):
                np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-12)
        assert other.model.lambda_ == pytest.approx(base.lambda_, rel=0, abs=1e-12)


def test_shuffled_rows_and_sources_give_the_same_candidate_pairs(runs):
    base = _pair_set(runs[0])
    assert len(base) == len(runs[0].pairs)
    for other in runs[1:]:
        assert _pair_set(other) == base


# ----------------------------------------------------------------------------------------
# each place an order of records reached a result


def _records(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "source": rng.choice(["siak", "dtks", "bpjs"], n),
        "record_id": [f"R{i}" for i in rng.permutation(n)],
        "nama": rng.choice(["SITI", "BUDI", "ANI", "JOKO", "DEWI", "AGUS", None], n),
    }).astype("string")


def test_record_rank_is_source_name_then_record_id_whatever_the_row_order():
    recs = pd.DataFrame({"source": ["siak", "dtks", "siak", "dtks", "siak"],
                         "record_id": ["10", "9", "2", "10", "1"]}, dtype="string")
    # dtks|10 < dtks|9 < siak|1 < siak|10 < siak|2 (record IDs compare as text)
    assert record_rank(recs).tolist() == [3, 1, 4, 0, 2]
    assert record_order(recs).tolist() == [3, 1, 4, 0, 2]  # (rows in that order)
    keys = (recs["source"] + "|" + recs["record_id"]).to_numpy(object)
    for perm in ([4, 3, 2, 1, 0], [2, 0, 4, 1, 3]):
        shuffled = recs.iloc[perm].reset_index(drop=True)
        assert keys[perm][record_order(shuffled)].tolist() == keys[record_order(recs)].tolist()


def test_record_ids_arrow_array_comes_from_ingests_encoding(monkeypatch):
    """Ingest leaves the record IDs' Arrow encoding; standardise passes it to the clean
    records, whose Arrow array of IDs (the canonical order's input) is then gathered from it,
    not converted from Python strings again: the same array either way."""
    import regsosek_link._order as order_module
    from regsosek_link import read_sources, standardise
    from regsosek_link._codes import shared_codes
    from regsosek_link._order import arrow_str, record_id_arrow
    from regsosek_link.config import LinkConfig, SourceConfig

    data = {"siak": pd.DataFrame({"id": [" 10", "9", "2 "], "nama": ["A", "B", "C"]}),
            "dtks": pd.DataFrame({"id": ["7", "x1"], "nama": ["D", "E"]})}
    cfg = LinkConfig(sources=(SourceConfig(name="siak", columns={"id": "record_id", "nama": "nama"}),
                              SourceConfig(name="dtks", columns={"id": "record_id", "nama": "nama"})))
    converted = []
    monkeypatch.setattr(order_module, "arrow_str", lambda v: converted.append(v.name) or arrow_str(v))
    with shared_codes() as book:
        records = standardise(read_sources(cfg, data, codes=book), codes=book)
        got = record_id_arrow(records)
    assert converted == []
    assert got.equals(arrow_str(records["record_id"]))
    assert got.to_pylist() == ["10", "9", "2", "7", "x1"]
    with shared_codes():  # (without ingest's encoding: converted)
        assert record_id_arrow(records).equals(got) and converted == ["record_id"]


def test_u_from_random_pairs_is_invariant_to_row_order():
    recs = _records(300, 0)
    comparisons = [ExactMatch(column="nama")]
    u = u_from_random_pairs(recs, comparisons, max_pairs=500, random_state=3)
    for seed in (1, 2):
        perm = np.random.default_rng(seed).permutation(len(recs))
        with shared_codes():  # (as in a run: the canonical rank is made once and shared)
            again = u_from_random_pairs(recs.iloc[perm].reset_index(drop=True), comparisons,
                                        max_pairs=500, random_state=3)
        np.testing.assert_array_equal(again[0], u[0])


def test_sorted_neighbourhood_orders_tied_keys_by_source_and_record_id():
    recs = pd.DataFrame({"source": ["s"] * 4, "record_id": ["3", "1", "4", "2"], "k": ["A"] * 4})
    p = block(recs, [SortedNeighbourhood(key="k", window=2)])
    # all keys tie: the order is record 1 (row 1), 2 (row 3), 3 (row 0), 4 (row 2)
    assert list(zip(p["left"], p["right"])) == [(0, 2), (0, 3), (1, 3)]


def test_sorted_neighbourhood_pairs_are_invariant_to_row_order():
    recs = _records(200, 1)
    rules = [SortedNeighbourhood(key="nama", window=3), BlockOn(keys=("nama",))]
    key = (recs["source"] + "|" + recs["record_id"]).to_numpy(object)

    def pair_set(frame: pd.DataFrame, keys: np.ndarray) -> set[tuple[str, str]]:
        p = block(frame, rules, max_block_size=10_000)
        a, b = keys[p["left"].to_numpy()], keys[p["right"].to_numpy()]
        return set(zip(np.minimum(a, b), np.maximum(a, b)))

    base = pair_set(recs, key)
    for seed in (1, 2):
        perm = np.random.default_rng(seed).permutation(len(recs))
        assert pair_set(recs.iloc[perm].reset_index(drop=True), key[perm]) == base


def test_constrained_clusters_take_equally_strong_links_in_rank_order():
    # 0-1 and 1-2 equally strong, 0 and 2 cannot be one person: the link of the records
    # ranked first is kept
    args = (3, np.array([0, 1]), np.array([1, 2]), np.array([0.95, 0.95]))
    assert constrained_clusters(*args, cannot_link=[[0, 2]]).tolist() == [0, 0, 1]
    assert constrained_clusters(*args, cannot_link=[[0, 2]], rank=np.array([2, 1, 0])).tolist() == [0, 1, 1]


def test_cluster_records_cut_the_same_link_in_any_row_order():
    # siak holds one record per person, so siak|1 and siak|2 cannot be one person; both link
    # to dtks|1 equally strongly: dtks|1 joins the record ranked first, siak|1
    recs = pd.DataFrame({"source": ["siak", "dtks", "siak"], "record_id": ["1", "1", "2"]}, dtype="string")
    key = (recs["source"] + "|" + recs["record_id"]).to_numpy(object)
    for perm in itertools.permutations(range(3)):
        perm = np.asarray(perm)
        where = np.empty(3, np.int64)
        where[perm] = np.arange(3)  # row of each original record after the shuffle
        labels, weakest = cluster_records(
            recs.iloc[perm].reset_index(drop=True), where[[0, 1]], where[[1, 2]], np.array([0.95, 0.95]),
            threshold=0.9, single_record_sources=["siak"])
        together = {frozenset(key[perm][labels == c]) for c in np.unique(labels)}
        assert together == {frozenset({"siak|1", "dtks|1"}), frozenset({"siak|2"})}, perm
        assert weakest[where].tolist() == [0.95, 0.95, 1.0]
