"""Clerical review: export the queue (CSV, Excel), read decisions back with validation,
and honour them in the next run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _registry_fixture import config, frame, model

from regsosek_link.errors import ConfigError
from regsosek_link.pipeline import Linker
from regsosek_link.review import (
    decision_pairs,
    export_review,
    held_table,
    read_decisions,
    review_queue,
)

# (Budi's date is a real one: 1 January is a placeholder, and two NIK-less records agreeing
# on a name and a placeholder only are held for review as thin records, see test_near_miss.py)
DATA = {
    "siak": frame([("s1", None, "BUDI", "1980-03-04", "L"), ("s2", "3375014502850001", "SITI", "1985-02-02", "P")]),
    # d1: Budi (name + date: accepted, 0.975); d2: s2's NIK and date, another spelling (0.99);
    # d4: s2's NIK only, name and date differ (0.23: near threshold, with s2 and with d2)
    "dtks": frame([("d1", None, "BUDI", "1980-03-04", "L"), ("d2", "3375014502850001", "SITI A", "1985-02-02", "P"),
                   ("d4", "3375014502850001", "SITI AMINAH", "1985-02-03", "P")]),
}


@pytest.fixture
def result():
    return Linker(config("siak", "dtks"), model=model()).run(DATA)


def test_queue_lays_pairs_side_by_side_with_contributions(result):
    q = review_queue(result.links, result.records, low=0.2, high=0.9)
    assert q[["pair", "source_l", "record_id_l", "source_r", "record_id_r"]].values.tolist() == [
        [1, "siak", "s2", "dtks", "d4"], [2, "dtks", "d2", "dtks", "d4"]]
    row = q.iloc[0]
    assert (row["nama_l"], row["nama_r"], row["tanggal_lahir_l"], row["tanggal_lahir_r"]) == (
        "SITI", "SITI AMINAH", "1985-02-02", "1985-02-03")
    assert round(row["match_probability"], 3) == 0.234
    assert [round(row[c], 2) for c in ("weight_nik", "weight_nama", "weight_tanggal_lahir")] == [9.95, -4.25, -4.25]
    assert q["decision"].isna().all() and "note" in q.columns


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_and_read_back(result, tmp_path, suffix):
    q = review_queue(result.links, result.records, low=0.2, high=0.9)
    q["decision"] = ["Match", ""]
    path = export_review(q, tmp_path / f"review{suffix}")
    d = read_decisions(path)
    assert d.values.tolist() == [["siak", "s2", "dtks", "d4", "match"]]


def test_bad_decisions_are_all_reported_by_line(tmp_path):
    path = tmp_path / "r.csv"
    pd.DataFrame({"source_l": ["siak", "siak", "siak", ""], "record_id_l": ["1", "2", "3", "4"],
                  "source_r": ["dtks"] * 4, "record_id_r": ["1", "2", "3", "4"],
                  "decision": ["ya", "mabye", "tidak", "match"]}).to_csv(path, index=False)
    with pytest.raises(ConfigError) as exc:
        read_decisions(path)
    msg = str(exc.value)
    assert f"{path} line 3" in msg and "decision 'mabye' is not 'match' or 'non-match'" in msg
    assert f"{path} line 5" in msg and "a decided row needs source_l, record_id_l, source_r and record_id_r" in msg


def test_contradicting_decisions_on_one_pair_are_refused():
    d = pd.DataFrame({"source_l": ["siak", "dtks"], "record_id_l": ["1", "1"], "source_r": ["dtks", "siak"],
                      "record_id_r": ["1", "1"], "decision": ["match", "non-match"]})
    with pytest.raises(ConfigError, match="pair dtks\\|1~siak\\|1 is decided both 'match' and 'non-match'"):
        read_decisions(d)


def test_missing_columns_are_named():
    with pytest.raises(ConfigError, match=r"missing column\(s\) \['decision'\]"):
        read_decisions(pd.DataFrame({"source_l": [], "record_id_l": [], "source_r": [], "record_id_r": []}))


def test_decisions_become_must_and_cannot_links(result):
    d = read_decisions(pd.DataFrame({"source_l": ["siak", "siak", "x"], "record_id_l": ["s2", "s1", "y"],
                                     "source_r": ["dtks", "dtks", "dtks"], "record_id_r": ["d4", "d1", "d1"],
                                     "decision": ["match", "non-match", "match"]}))
    must, cannot = decision_pairs(result.records, d)
    assert must.tolist() == [[1, 4]] and cannot.tolist() == [[0, 2]]  # unknown record x|y ignored


def test_next_run_honours_decisions(result):
    m = result.membership.set_index("record_id")["person_id"]
    assert m["s1"] == m["d1"] and m["s2"] == m["d2"] != m["d4"]
    d = read_decisions(pd.DataFrame({"source_l": ["siak", "siak"], "record_id_l": ["s2", "s1"],
                                     "source_r": ["dtks", "dtks"], "record_id_r": ["d4", "d1"],
                                     "decision": ["match", "non-match"]}))
    again = Linker(config("siak", "dtks"), model=model(), decisions=d).run(DATA)
    m = again.membership.set_index("record_id")["person_id"]
    assert m["s1"] != m["d1"] and m["s2"] == m["d2"] == m["d4"]


def test_held_links_are_taken_from_the_kept_links_and_the_run_pairs_alike():
    # an update holds links of both kinds: positions below the kept links' count index them,
    # the others the run's pairs; the table equals one made from the two joined
    from regsosek_link.run._core import KeptLinks, _held

    recs = pd.DataFrame({"source": ["a", "a", "b", "b", "c"], "record_id": ["1", "2", "3", "4", "5"]})
    kept = KeptLinks(left=np.array([0, 1]), right=np.array([2, 3]), probability=np.array([0.91, 0.92]),
                     table=pd.DataFrame())
    pairs = pd.DataFrame({"left": [0, 2, 3], "right": [4, 4, 4]})
    prob = np.array([0.95, 0.96, 0.97])
    held = pd.DataFrame({"pair": [1, 2, 4], "reason": pd.array(["competing candidates"] * 3, dtype="string")})
    joined = pd.DataFrame({"left": np.r_[kept.left, pairs["left"]], "right": np.r_[kept.right, pairs["right"]]})
    want = held_table(recs, joined, np.r_[kept.probability, prob], held)
    got = _held(recs, kept, pairs, prob, held)
    pd.testing.assert_frame_equal(got, want)
    assert got["record_id_l"].tolist() == ["2", "1", "4"] and got["match_probability"].tolist() == [0.92, 0.95, 0.97]
