"""Runs with any subset of the person fields: every record exactly once, or a clear refusal."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import regsosek_link as rl
from regsosek_link.block import BlockOn, usable_blocking_rules
from regsosek_link.cluster import constraint_keys, credible_nik
from regsosek_link.compare import ExactMatch, NameComparison, RegionComparison, usable_comparisons
from regsosek_link.config import (
    LinkConfig,
    SourceConfig,
    default_blocking_rules,
    default_comparisons,
)
from regsosek_link.datasets import make_sources
from regsosek_link.errors import ConfigError
from regsosek_link.ingest import read_sources
from regsosek_link.registry import golden_records
from regsosek_link.standardise import standardise


@pytest.fixture(scope="module")
def synthetic():
    return make_sources(n_people=150, random_state=3)


def _mapped(synthetic, fields):
    return {s: {k: v for k, v in m.items() if v in ("record_id", *fields)} for s, m in synthetic.mappings.items()}


def _check_membership(result, synthetic):
    mem = result.membership
    assert len(mem) == sum(len(df) for df in synthetic.sources.values())
    assert not mem.duplicated(["source", "record_id"]).any()
    assert mem["person_id"].notna().all()
    assert result.registry["n_records"].sum() == len(mem)


SUBSETS = [
    ("nama", "tanggal_lahir"),
    ("nik",),
    ("nama",),
    ("nama", "nik"),
    ("nik", "no_kk"),
    ("nama", "jenis_kelamin"),
    ("nama", "tanggal_lahir", "kode_wilayah"),
    ("nik", "nama", "tanggal_lahir", "no_kk"),  # the README's config: no jenis_kelamin
]

@pytest.mark.parametrize("fields", SUBSETS, ids="+".join)
def test_link_with_a_subset_of_fields(synthetic, fields):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = rl.link(synthetic.sources, columns=_mapped(synthetic, fields))
    _check_membership(result, synthetic)


@pytest.mark.parametrize("fields", SUBSETS, ids="+".join)
def test_link_with_usable_rules_and_comparisons(synthetic, fields):
    # what the pipeline does right after standardise, done here by hand
    cfg = LinkConfig(sources=tuple(SourceConfig(name=s, columns=c) for s, c in _mapped(synthetic, fields).items()))
    records = standardise(read_sources(cfg, synthetic.sources))
    comparisons, _ = usable_comparisons(cfg.comparisons, records)
    rules, _ = usable_blocking_rules(cfg.blocking_rules, records)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = rl.link(synthetic.sources, columns=_mapped(synthetic, fields),
                         comparisons=comparisons, blocking_rules=rules)
    _check_membership(result, synthetic)
    assert {c.name for c in result.config.comparisons} <= {c.name for c in default_comparisons()}


@pytest.mark.parametrize("fields", [("tanggal_lahir",), ("jenis_kelamin", "no_kk"), ()])
def test_a_source_without_nama_or_nik_is_refused_before_any_work(synthetic, fields):
    with pytest.raises(ConfigError, match="a source needs at least 'nama' or 'nik' mapped"):
        rl.link(synthetic.sources, columns=_mapped(synthetic, fields))


def _records(**columns):
    raw = pd.DataFrame({"source": "s", "record_id": [str(i) for i in range(len(next(iter(columns.values()))))],
                        **columns}, dtype="string")
    return standardise(raw)


def test_usable_comparisons_drops_those_no_record_has():
    recs = _records(nama=["BUDI SANTOSO", "BUDI", "ANI"])
    kept, notes = usable_comparisons(default_comparisons(), recs)
    assert [c.name for c in kept] == ["nama"]
    assert notes == [
        "comparison 'nik' dropped: no record has a value in column 'nik'",
        ("comparison 'tanggal_lahir' dropped: no record has a value in any of columns "
         "['tanggal_lahir', 'tahun_lahir']"),
        "comparison 'jenis_kelamin' dropped: no record has a value in column 'jenis_kelamin'",
        "comparison 'nama_ibu' dropped: no record has a value in column 'nama_ibu'",
        "comparison 'no_kk' dropped: no record has a value in column 'no_kk'",
        ("comparison 'wilayah' dropped: no record has a value in any of columns "
         "['kode_prov', 'kode_kab', 'kode_kec', 'kode_desa']"),
        "comparison 'rt_rw' dropped: no record has a value in any of columns ['kode_desa', 'rw', 'rt']",
        "comparison 'tempat_lahir' dropped: no record has a value in column 'tempat_lahir'",
    ]


@pytest.mark.parametrize("values, kept", [
    ([None, None], False),
    (["", "  "], False),  # blanks are missing
    (["L", None], True),  # one value is enough
])
def test_usable_comparisons_counts_blank_as_missing(values, kept):
    recs = pd.DataFrame({"jenis_kelamin": pd.array(values, dtype="string"), "nama": ["A", "B"]})
    out, _ = usable_comparisons([NameComparison(column="nama"), ExactMatch(column="jenis_kelamin")], recs)
    assert ("jenis_kelamin" in [c.name for c in out]) is kept


def test_usable_comparisons_keeps_a_region_known_at_one_level():
    recs = pd.DataFrame({"kode_prov": ["33", None], "kode_kab": [None, None], "kode_kec": [None, None],
                         "kode_desa": [None, None]}, dtype="string")
    assert usable_comparisons([RegionComparison()], recs)[0] == (RegionComparison(),)


def test_usable_comparisons_refuses_when_nothing_is_left():
    recs = pd.DataFrame({"nama": pd.array([None, None], dtype="string")})
    with pytest.raises(ConfigError, match=r"no comparison can be made: .*\['nama'\]"):
        usable_comparisons([NameComparison(column="nama")], recs)


def test_usable_blocking_rules_drops_rules_with_an_empty_key_column():
    recs = _records(nik=["3375014508900001", "3375014508900001"], nama=["SITI", "SITI"])
    kept, notes = usable_blocking_rules(default_blocking_rules(), recs)
    assert [r.label for r in kept] == ["nik", "NIK birth date & a name sound"]
    assert notes[0] == ("blocking rule 'kk & first name sound' dropped: no record has a value in "
                        "column 'no_kk'")
    assert notes[1] == ("blocking rule 'birth date & a name sound' dropped: no record has a value in "
                        "column 'tanggal_lahir'")
    assert len(notes) == len(default_blocking_rules()) - 2


def test_usable_blocking_rules_falls_back_on_the_name_sound():
    recs = _records(nama=["NUR HIDAYAH", "NUR HIDAYAH", "BUDI"])
    kept, notes = usable_blocking_rules(default_blocking_rules(), recs)
    assert kept == (BlockOn(keys=("nama_phonetic",), name="name sound"),)
    assert notes[-1] == "no blocking rule is usable; blocking on 'name sound' instead"
    pairs = rl.block(recs, kept)
    assert pairs[["left", "right"]].values.tolist() == [[0, 1]]


@pytest.mark.parametrize("absent", ["jenis_kelamin", "tanggal_lahir"])
def test_cluster_constraints_without_sex_or_birth_date(absent):
    cols = {"nik": ["3375014508900001", "3375014508900002"], "jenis_kelamin": ["P", "P"],
            "tanggal_lahir": ["05-08-1990", "05-08-1990"]}
    del cols[absent]
    recs = _records(**cols)
    assert credible_nik(recs).tolist() == [False, False]
    assert constraint_keys(recs).tolist() == [[-1], [-1]]


def test_registry_without_nik_sex_or_dates():
    recs = _records(nama=["SITI AMINAH", "SITI AMINAH", "BUDI"])
    labels = np.array([0, 0, 1])
    reg = golden_records(recs, labels)
    assert len(reg) == 2
    assert reg["nik"].isna().all() and reg["jenis_kelamin"].isna().all()


def test_a_date_comparison_on_years_only_is_kept():
    recs = _records(nama=["SITI", "SITI"], tanggal_lahir=["1985", "08/1985"])
    kept, _ = usable_comparisons(default_comparisons(), recs)
    assert "tanggal_lahir" in [c.name for c in kept]
    pairs = pd.DataFrame({"left": [0], "right": [1]})
    dob = next(c for c in kept if c.name == "tanggal_lahir")
    level = dob.compute(recs, pairs).tolist()[0]
    assert dob.level_names[level].startswith("year only")  # the year-only level (year_only_level=True)
