"""Registry tables (membership, households, links) as literal cases, and the vectorised
golden records against a plain per-person reference on seeded synthetic data."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest

from regsosek_link.registry import golden_records, households_table, links_table, membership_table


def test_membership_one_row_per_record():
    recs = pd.DataFrame({"source": ["siak", "dtks"], "record_id": ["1", "9"]})
    m = membership_table(recs, np.array(["P1", "P1"]), np.array([1.0, 0.93]))
    assert m.values.tolist() == [["siak", "1", "P1", 1.0], ["dtks", "9", "P1", 0.93]]


def test_households_valid_kk_only_head_first():
    reg = pd.DataFrame({
        "person_id": ["P3", "P1", "P2", "P4", "P5"],
        "no_kk": ["3375010101010002", "3375010101010002", "3375010101010001", "0000000000000000", None],
        "hubungan_keluarga": ["ANAK", "KEPALA", "KEPALA", "KEPALA", None],
        "nama": ["C", "A", "B", "D", "E"],
    }).astype("string")
    recs = pd.DataFrame({"no_kk": ["3375010101010002", "3375010101010001", "0000000000000000"],
                         "kk_valid": [True, True, False]})
    h = households_table(reg, recs, np.array([]))
    assert h.values.tolist() == [
        ["3375010101010001", "P2", "KEPALA", "B", 1],
        ["3375010101010002", "P1", "KEPALA", "A", 2],
        ["3375010101010002", "P3", "ANAK", "C", 2],
    ]


@pytest.mark.parametrize("with_valid", [False, True])
@pytest.mark.parametrize("shuffled", [False, True])
def test_households_equal_a_pandas_reference(with_valid, shuffled):
    """Households from the records' shared KK codes (and a registry sorted by person, as
    golden_records gives it, or not) equal a plain pandas filter and sort: missing, blank,
    padded, unicode and invalid KK numbers."""
    rng = np.random.default_rng(3)
    n = 300
    kks = np.array(["3375010101010001", "3375010101010002", " 3375010101010002", "", "0000000000000000",
                    "ÄKK-9", None], dtype=object)
    reg = pd.DataFrame({
        "person_id": np.array([f"RP-{i:04d}" for i in range(n)], dtype=object),
        "no_kk": pd.array(rng.choice(kks, n), dtype="string"),
        "hubungan_keluarga": pd.array(rng.choice(np.array(["KEPALA", "ANAK", None], dtype=object), n), dtype="string"),
        "nama": pd.array(rng.choice(np.array(["A", "Ñ", None], dtype=object), n), dtype="string"),
    })
    if shuffled:
        reg = reg.sample(frac=1, random_state=1).reset_index(drop=True)
    recs = pd.DataFrame({"no_kk": pd.array(kks, dtype="string")})
    keep = reg["no_kk"].notna()
    if with_valid:
        recs["kk_valid"] = [True, True, False, True, False, True, False]
        valid = {v.strip() for v, ok in zip(kks, recs["kk_valid"]) if ok and v is not None and v.strip()}
        keep &= reg["no_kk"].isin(valid)
    want = reg[keep].rename(columns={"no_kk": "household_id"})[["household_id", "person_id", "hubungan_keluarga", "nama"]]
    want["n_members"] = want.groupby("household_id")["person_id"].transform("size").astype(np.int64)
    want["_head"] = (want["hubungan_keluarga"] != "KEPALA").fillna(True)
    want = want.sort_values(["household_id", "_head", "person_id"], kind="mergesort").drop(columns="_head")
    got = households_table(reg, recs, np.array([]))
    assert len(got) > 50
    pd.testing.assert_frame_equal(got, want.reset_index(drop=True))


def test_links_keep_the_review_band_strongest_first():
    recs = pd.DataFrame({"source": ["a", "a", "b"], "record_id": ["1", "2", "3"]})
    pairs = pd.DataFrame({"left": [0, 0, 1], "right": [1, 2, 2]})
    levels = pd.DataFrame({"nama": [1, 0, 1]})
    contrib = pd.DataFrame({"nama": [3.0, -2.0, 3.0]})
    out = links_table(recs, pairs, levels, contrib, np.array([0.5, 0.1, 0.95]), np.array([0.0, -3.0, 4.2]),
                      threshold=0.9, review_low=0.2)
    assert out.values.tolist() == [["a", "2", "b", "3", 0.95, 4.2, True, 1, 3.0],
                                   ["a", "1", "a", "2", 0.5, 0.0, False, 1, 3.0]]
    assert list(out.columns[-2:]) == ["level_nama", "weight_nama"]


def _reference(records: pd.DataFrame, pid: np.ndarray, field: str, prio: dict[str, int]) -> dict[str, str]:
    """Golden ``field`` per person by sorting each person's records in Python (the rule
    ``priority`` without quality columns)."""
    out = {}
    for p, g in records.assign(_p=pid).groupby("_p"):
        g = g[g[field].notna()]
        if g.empty:
            continue
        freq = g[field].map(g[field].value_counts())
        key = sorted(zip(g["source"].map(prio), -freq, -g[field].str.len(), g["source"], g["record_id"], g[field]))
        out[p] = key[0][-1]
    return out


def test_golden_records_match_a_per_person_reference():
    rng = np.random.default_rng(0)
    n = 400
    recs = pd.DataFrame({
        "source": rng.choice(["siak", "dtks", "bpjs"], n),
        "record_id": [str(i) for i in rng.permutation(n)],
        "nama": rng.choice(["SRI", "SRI W", "SRI WAHYUNI", None], n),
        "tempat_lahir": rng.choice(["SOLO", "SURAKARTA", None], n),
    }).astype("string")
    pid = np.array([f"P{int(i):03d}" for i in rng.integers(0, 120, n)], dtype=object)
    prio = {"siak": 1, "dtks": 50, "bpjs": 50}
    g = golden_records(recs, pid, priorities={s: {"*": r} for s, r in prio.items()})
    for field in ("nama", "tempat_lahir"):
        got = dict(zip(g["person_id"], g[field]))
        ref = _reference(recs, pid, field, prio)
        assert {p: v for p, v in got.items() if not pd.isna(v)} == ref
    assert g["n_records"].sum() == n and g["person_id"].is_monotonic_increasing
    # fields chosen on several threads (each rule, a missing field) give the same registry
    surv = {"nama": "most_frequent", "tempat_lahir": "most_complete"}
    for workers in (2, -1):
        pd.testing.assert_frame_equal(
            golden_records(recs, pid, priorities={s: {"*": r} for s, r in prio.items()}, workers=workers), g)
        pd.testing.assert_frame_equal(golden_records(recs, pid, survivorship=surv, workers=workers),
                                      golden_records(recs, pid, survivorship=surv))


@pytest.mark.parametrize("n_sources", [3, 70])
def test_sources_column_with_few_and_many_sources(n_sources):
    names = [f"s{i:02d}" for i in range(n_sources)]
    recs = pd.DataFrame({"source": names + names[:2], "record_id": ["1"] * (n_sources + 2)}).astype("string")
    pid = np.array(["P"] * 2 + ["Q"] * (n_sources - 2) + ["P"] * 2, dtype=object)
    g = golden_records(recs, pid, fields=())
    assert g["sources"].tolist() == ["s00;s01", ";".join(names[2:])]


@pytest.mark.parametrize("scope", [False, True])
def test_present_from_codes_equals_notna(scope):
    """The identity fields' presence read from their shared codes equals ``notna``: blank and
    whitespace-only strings are values, ``None``/``NA`` are not (unicode included)."""
    from regsosek_link._codes import shared_codes
    from regsosek_link.registry import _present

    values = ["BUDI", "", "  ", None, "ÑOÑO ", pd.NA, "budi", "\u00a0", "BUDI"]
    recs = pd.DataFrame({"nama": pd.array(values, dtype="string"), "alamat": pd.array(values, dtype="string"),
                         "rt": pd.array([1, None, 2, 3, None, 4, 5, 6, 7], dtype="Int16")})
    with shared_codes() if scope else contextlib.nullcontext():
        for field in recs.columns:
            assert _present(recs, field, recs[field]).tolist() == recs[field].notna().tolist()


def test_golden_records_from_cluster_labels_equal_from_ids():
    """Persons told apart by cluster labels (one ID per cluster) give the same registry as
    factorising every record's ID: labels in any numbering, two clusters sharing an ID,
    unicode IDs; labels that split an ID's records differently are refused."""
    rng = np.random.default_rng(5)
    n = 300
    recs = pd.DataFrame({
        "source": rng.choice(["siak", "dtks", "bpjs"], n),
        "record_id": [str(i) for i in rng.permutation(n)],
        "nama": rng.choice(np.array(["SRI", "SRI W", "ÑOÑO", None], dtype=object), n),
    }).astype("string")
    labels = rng.integers(0, 90, n) * 7 + 3  # not numbered 0..k-1 by first record
    ids = np.array([f"P{lab % 40:03d}" if lab % 5 else f"Ä{lab}" for lab in range(1000)], dtype=object)
    pid = ids[labels]  # labels 3 + 7k and 3 + 7(k + 40) can share an ID
    want = golden_records(recs, pid)
    pd.testing.assert_frame_equal(golden_records(recs, pid, labels=labels), want)
    assert len(want) < len(np.unique(labels))  # some clusters did share an ID
    empty = recs.iloc[:0]
    pd.testing.assert_frame_equal(golden_records(empty, pid[:0], labels=labels[:0]), golden_records(empty, pid[:0]))
    with pytest.raises(ValueError, match="labels do not match"):
        golden_records(recs, pid, labels=np.zeros(n, np.int64))


@pytest.mark.parametrize("shared_id", [False, True])
@pytest.mark.parametrize("workers", [1, 2])
def test_golden_choice_by_cluster_equals_golden_records_and_households_table(shared_id, workers):
    """The pipeline's path (golden values chosen by cluster before the IDs are known, then
    put in ID order; households from the picks) gives exactly golden_records and
    households_table: clusters whose IDs sort in another order than they are numbered, two
    clusters sharing an ID, missing and invalid KK numbers, heads missing."""
    from regsosek_link.cluster import _renumber
    from regsosek_link.registry import _choose_golden, _cluster_persons

    rng = np.random.default_rng(11)
    n = 400
    kks = np.array(["3375010101010001", "3375010101010002", "3375010101010003", "0000000000000000", None],
                   dtype=object)
    recs = pd.DataFrame({
        "source": rng.choice(["siak", "dtks", "bpjs"], n),
        "record_id": [str(i) for i in rng.permutation(n)],
        "nama": rng.choice(np.array(["SRI", "SRI W", "ÑOÑO", None], dtype=object), n),
        "no_kk": rng.choice(kks, n),
        "hubungan_keluarga": rng.choice(np.array(["KEPALA", "ANAK", "ISTRI", None], dtype=object), n),
        "alamat": rng.choice(np.array(["JL A", "JL B", None], dtype=object), n),
    }).astype("string")
    recs["kk_valid"] = recs["no_kk"].notna() & (recs["no_kk"] != "0000000000000000")
    labels = rng.integers(0, 120, n) * 3 + 1
    ids = np.array([f"RP-{(lab * 7919) % 1000:04d}" for lab in range(400)], dtype=object)
    if shared_id:
        ids[labels[1]] = ids[labels[0]]  # (the test checks below that some clusters do share)
        ids[labels[3]] = ids[labels[2]]
    pid = ids[labels]
    opts = {"priorities": {"siak": {"*": 1}}, "single_record_sources": ["siak"], "as_of": {"dtks": "2023-01-01"}}

    group = _renumber(labels)
    persons = _cluster_persons(pid, group, check=False)
    assert (persons.merged is not None) == shared_id
    code = group if persons.merged is None else persons.merged
    choice = _choose_golden(recs, code, int(code.max()) + 1, workers=workers, **opts)
    want = golden_records(recs, pid, **opts)
    pd.testing.assert_frame_equal(choice.frame(persons), want)
    pd.testing.assert_frame_equal(choice.households(recs, persons), households_table(want, recs, pid))
    assert len(choice.households(recs, persons)) > 50
    # records lacking a column households read: the registry's own table is made
    lacking = recs.drop(columns="hubungan_keluarga")
    reduced = _choose_golden(lacking, code, int(code.max()) + 1, **opts)
    pd.testing.assert_frame_equal(reduced.households(lacking, persons),
                                  households_table(reduced.frame(persons), lacking, pid))


def test_source_columns_taken_through_the_dictionary_equal_a_plain_take():
    """The golden fields' and links' ``*_source`` columns are gathered through the sources'
    dictionary codes (-1: no record): the same Arrow-backed values as a take of the
    records' own source column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from regsosek_link.registry import _take_text

    plain = pa.array(["siak", "dtks", "siak", "bpjs", "dtks"], type=pa.large_string())
    pos = np.array([4, -1, 0, 3, 3, -1, 1])
    got = _take_text(pc.dictionary_encode(plain), pos)
    want = _take_text(plain, pos)
    assert isinstance(got, pd.arrays.ArrowStringArray) and got._pa_array.type == want._pa_array.type
    assert got.tolist() == want.tolist() == ["dtks", pd.NA, "siak", "bpjs", "bpjs", pd.NA, "dtks"]
    assert _take_text(pc.dictionary_encode(plain), None).tolist() == plain.to_pylist()
