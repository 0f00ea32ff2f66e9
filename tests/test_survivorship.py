"""Survivorship of golden values (registry.golden_records), literal cases: each rule with
its exact golden value and provenance (source, record)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from regsosek_link.registry import golden_records

PRIORITIES = {"siak": {"*": 1}, "dtks": {"*": 50}, "regsosek": {"*": 50}}


def _records(rows):
    cols = ["source", "record_id", "nik", "nik_valid", "nama", "tanggal_lahir", "tanggal_lahir_status", "alamat"]
    r = pd.DataFrame(rows, columns=cols)
    return r.astype({c: "string" for c in cols if c != "nik_valid"}).astype({"nik_valid": bool})


def test_civil_registry_wins_nik_name_and_birth_date_with_provenance():
    recs = _records([
        ["dtks", "9", "3375010101800002", True, "BUDI SANTOSO", "1980-01-02", "ok", "JL MELATI 1"],
        ["regsosek", "4", "3375010101800002", True, "BUDI SANTOSO", "1980-01-02", "ok", "JL MELATI 1"],
        ["siak", "1", "3375010101800001", True, "BUDI", "1980-01-01", "ok", "JL MAWAR 2"],
    ])
    g = golden_records(recs, np.array(["P"] * 3), priorities=PRIORITIES).iloc[0]
    assert (g["nik"], g["nik_source"], g["nik_record_id"]) == ("3375010101800001", "siak", "1")
    assert (g["nama"], g["nama_source"]) == ("BUDI", "siak")
    assert (g["tanggal_lahir"], g["tanggal_lahir_source"]) == ("1980-01-01", "siak")
    assert bool(g["conflicting_nik"]) and bool(g["conflicting_birth_date"])


def test_usable_value_beats_priority():
    recs = _records([
        ["siak", "1", "0000000000000000", False, "SITI", "1985-07-01", "placeholder", None],
        ["dtks", "2", "3375014502850001", True, "SITI", "1985-02-05", "ok", None],
    ])
    g = golden_records(recs, np.array(["P"] * 2), priorities=PRIORITIES).iloc[0]
    assert (g["nik"], g["nik_source"]) == ("3375014502850001", "dtks")
    assert (g["tanggal_lahir"], g["tanggal_lahir_source"]) == ("1985-02-05", "dtks")


def test_most_frequent_then_longest_among_equal_priority():
    recs = _records([
        ["dtks", "1", None, False, "SRI", None, None, "JL A"],
        ["regsosek", "2", None, False, "SRI WAHYUNI", None, None, "JL A"],
        ["regsosek", "3", None, False, "SRI", None, None, "JL ANGGREK 5"],
    ])
    g = golden_records(recs, np.array(["P"] * 3), priorities=PRIORITIES).iloc[0]
    assert g["nama"] == "SRI" and g["alamat"] == "JL A"          # 2 of 3 records agree
    recs.loc[2, ["nama", "alamat"]] = ["SRI W", "JL B"]
    g = golden_records(recs, np.array(["P"] * 3), priorities=PRIORITIES).iloc[0]
    assert g["nama"] == "SRI WAHYUNI"                              # no majority: the longest


def test_most_recent_address_wins():
    recs = _records([
        ["siak", "1", None, False, "BUDI", None, None, "JL LAMA 1"],
        ["regsosek", "2", None, False, "BUDI", None, None, "JL BARU 9"],
    ])
    recs["as_of"] = pd.array(["2019-01-01", "2022-10-15"], dtype="string")
    g = golden_records(recs, np.array(["P"] * 2), priorities=PRIORITIES).iloc[0]
    assert (g["alamat"], g["alamat_source"], g["alamat_record_id"]) == ("JL BARU 9", "regsosek", "2")
    assert (g["nama"], g["nama_source"]) == ("BUDI", "siak")  # identity fields keep priority


AS_OF = {"siak": "2019-01-01", "dtks": "2023-06-30", "regsosek": "2022-10-15"}


def _one(rows, **kw):
    recs = _records(rows)
    return golden_records(recs, np.array(["P"] * len(recs)), **kw).iloc[0]


ADDRESS_ROWS = [
    ["siak", "1", None, False, "BUDI", None, None, "JL LAMA 1"],
    ["regsosek", "2", None, False, "BUDI", None, None, "JL BARU 9"],
    ["dtks", "3", None, False, "BUDI", None, None, "JL TERBARU 3"],
]


@pytest.mark.parametrize("kw, expected", [
    # most recent source (as_of per source) wins the address by default
    ({"priorities": PRIORITIES, "as_of": AS_OF}, ("JL TERBARU 3", "dtks", "3")),
    # without any date, most_recent is priority: siak ranks 1
    ({"priorities": PRIORITIES}, ("JL LAMA 1", "siak", "1")),
    # an undated source ranks after the dated ones, whatever its priority
    ({"priorities": PRIORITIES, "as_of": {"regsosek": "2022-10-15"}}, ("JL BARU 9", "regsosek", "2")),
    # the rule can be switched back to priority per field
    ({"priorities": PRIORITIES, "as_of": AS_OF, "survivorship": {"alamat": "priority"}}, ("JL LAMA 1", "siak", "1")),
])
def test_most_recent_rule(kw, expected):
    g = _one(ADDRESS_ROWS, **kw)
    assert (g["alamat"], g["alamat_source"], g["alamat_record_id"]) == expected


def test_a_record_date_beats_its_source_date():
    recs = _records(ADDRESS_ROWS)
    recs["as_of"] = pd.array([None, "2024-01-31", None], dtype="string")  # a newer regsosek batch
    g = golden_records(recs, np.array(["P"] * 3), priorities=PRIORITIES, as_of=AS_OF).iloc[0]
    assert (g["alamat"], g["alamat_source"]) == ("JL BARU 9", "regsosek")


def test_most_frequent_rule_beats_priority():
    rows = [
        ["siak", "1", None, False, "SRI", None, None, None],
        ["dtks", "2", None, False, "SRI WAHYUNI", None, None, None],
        ["regsosek", "3", None, False, "SRI WAHYUNI", None, None, None],
    ]
    g = _one(rows, priorities=PRIORITIES)
    assert (g["nama"], g["nama_source"], g["nama_record_id"]) == ("SRI", "siak", "1")
    g = _one(rows, priorities=PRIORITIES, survivorship={"nama": "most_frequent"})
    # two records agree; the tie between them goes to the smallest (source, record_id)
    assert (g["nama"], g["nama_source"], g["nama_record_id"]) == ("SRI WAHYUNI", "dtks", "2")


def test_most_complete_rule_beats_priority_and_frequency():
    rows = [
        ["siak", "1", None, False, "SRI", None, None, "JL A"],
        ["dtks", "2", None, False, "SRI", None, None, "JL A"],
        ["regsosek", "3", None, False, "SRI WAHYUNI", None, None, "JL ANGGREK 5 RT 1"],
    ]
    g = _one(rows, priorities=PRIORITIES, survivorship={"nama": "most_complete", "alamat": "most_complete"})
    assert (g["nama"], g["nama_source"], g["nama_record_id"]) == ("SRI WAHYUNI", "regsosek", "3")
    assert (g["alamat"], g["alamat_source"]) == ("JL ANGGREK 5 RT 1", "regsosek")


def test_civil_registry_first_for_identity_fields_without_priorities():
    rows = [
        ["dtks", "9", "3375010101800002", True, "BUDI SANTOSO", "1980-01-02", "ok", "JL MELATI 1"],
        ["bpjs", "4", "3375010101800002", True, "BUDI SANTOSO", "1980-01-02", "ok", "JL MELATI 1"],
        ["siak", "1", "3375010101800001", True, "BUDI", "1980-01-01", "ok", "JL MAWAR 2"],
    ]
    g = _one(rows, single_record_sources=["siak"])
    assert (g["nik"], g["nik_source"], g["nik_record_id"]) == ("3375010101800001", "siak", "1")
    assert (g["nama"], g["nama_source"]) == ("BUDI", "siak")
    assert (g["tanggal_lahir"], g["tanggal_lahir_source"]) == ("1980-01-01", "siak")
    # not an identity field: the most frequent address (2 of 3), the smallest source first
    assert (g["alamat"], g["alamat_source"], g["alamat_record_id"]) == ("JL MELATI 1", "bpjs", "4")
    # an explicit priority says otherwise
    g = _one(rows, single_record_sources=["siak"], priorities={"dtks": {"nama": 1}})
    assert (g["nama"], g["nama_source"], g["nama_record_id"]) == ("BUDI SANTOSO", "dtks", "9")
    assert g["nik_source"] == "siak"


def test_credible_nik_beats_a_merely_valid_one():
    cols = ["source", "record_id", "nik", "nik_valid", "nik_birth_date", "nik_sex", "tanggal_lahir",
            "tanggal_lahir_status", "jenis_kelamin"]
    recs = pd.DataFrame([
        # siak holds the NIK of a family member: valid, but its date is someone else's
        ["siak", "1", "3375014107700003", True, "1970-07-01", "P", "1985-02-05", "ok", "P"],
        ["dtks", "2", "3375014502850001", True, "1985-02-05", "P", "1985-02-05", "ok", "P"],
    ], columns=cols).astype({c: "string" for c in cols if c != "nik_valid"}).astype({"nik_valid": bool})
    g = golden_records(recs, np.array(["P", "P"]), priorities=PRIORITIES, single_record_sources=["siak"]).iloc[0]
    assert (g["nik"], g["nik_source"], g["nik_record_id"]) == ("3375014502850001", "dtks", "2")
    assert int(g["n_valid_nik"]) == 2 and bool(g["conflicting_nik"])


def test_placeholder_birth_dates_are_not_conflicts():
    rows = [
        ["siak", "1", None, False, "SITI", "1985-02-05", "ok", None],
        ["dtks", "2", None, False, "SITI", "1985-07-01", "placeholder_1jul", None],
        ["regsosek", "3", None, False, "SITI", "1985-12-31", "placeholder_31dec", None],
    ]
    g = _one(rows, priorities=PRIORITIES)
    assert (g["tanggal_lahir"], g["tanggal_lahir_source"]) == ("1985-02-05", "siak")
    assert not bool(g["conflicting_birth_date"])
    rows[2][5:7] = ["1985-02-06", "ok"]
    assert bool(_one(rows, priorities=PRIORITIES)["conflicting_birth_date"])


def test_persons_sources_and_counts():
    recs = _records([
        ["siak", "1", None, False, "A", None, None, None],
        ["dtks", "2", None, False, "A", None, None, None],
        ["dtks", "3", None, False, "B", None, None, None],
        ["regsosek", "4", None, False, "B", None, None, None],
        ["dtks", "5", None, False, "C", None, None, None],
    ])
    g = golden_records(recs, np.array(["P2", "P2", "P1", "P1", "P0"]))
    assert g["person_id"].tolist() == ["P0", "P1", "P2"]
    assert g["sources"].tolist() == ["dtks", "dtks;regsosek", "dtks;siak"]
    assert g["n_records"].tolist() == [1, 2, 2]
    assert g["nama_record_id"].tolist() == ["5", "3", "2"]  # equal rank: smallest (source, record_id)


@pytest.mark.parametrize("kw, message", [
    ({"survivorship": {"alamat": "newest"}},
     ("survivorship of 'alamat': unknown rule 'newest'; give the field one of priority, most_recent, most_frequent, "
      "most_complete, or a rule of your own by its import path")),
    ({"survivorship": {"umur": "priority"}}, "survivorship names unknown field(s) ['umur']"),
    ({"as_of": {"siak": "01-01-2019"}}, "as_of must be ISO dates (YYYY-MM-DD); got ['01-01-2019']"),
])
def test_bad_survivorship_arguments_say_what_was_received(kw, message):
    with pytest.raises(ValueError) as exc:
        _one(ADDRESS_ROWS, **kw)
    assert str(exc.value).startswith(message)
