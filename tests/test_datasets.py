"""Tests of the seeded synthetic generator (regsosek_link.datasets)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from regsosek_link.datasets import (
    DEFAULT_SPECS,
    SourceSpec,
    SyntheticSources,
    generate_population,
    generate_sources,
    make_sources,
    scale_noise,
)
from regsosek_link.datasets._population import kecamatan_codes
from regsosek_link.datasets._sources import char_edit
from regsosek_link.schema import PERSON_COLUMNS

N_PEOPLE = 4_000


@pytest.fixture(scope="module")
def syn() -> SyntheticSources:
    return make_sources(n_people=N_PEOPLE, random_state=7)


@pytest.fixture(scope="module")
def pop(syn: SyntheticSources) -> pd.DataFrame:
    return syn.population


def _person(syn: SyntheticSources, name: str) -> pd.DataFrame:
    """Source rows joined with the truth and the population (suffix _pop)."""
    mapping = syn.mappings[name]
    rid = next(k for k, v in mapping.items() if v == "record_id")
    t = syn.truth[syn.truth["source"] == name]
    df = syn.sources[name].merge(t, left_on=rid, right_on="record_id", validate="1:1")
    return df.merge(syn.population.add_suffix("_pop"), left_on="person_id",
                    right_on="person_id_pop", validate="m:1")


# ---- determinism -----------------------------------------------------------------------
def test_same_seed_gives_identical_output() -> None:
    a = make_sources(n_people=2_000, random_state=3)
    b = make_sources(n_people=2_000, random_state=3)
    pd.testing.assert_frame_equal(a.population, b.population)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    for name in a.sources:
        pd.testing.assert_frame_equal(a.sources[name], b.sources[name])


def test_different_seed_gives_different_output() -> None:
    a = make_sources(n_people=2_000, random_state=3)
    b = make_sources(n_people=2_000, random_state=4)
    assert not a.population["nama"].equals(b.population["nama"])
    assert not a.sources["dtks"]["NAMA"].equals(b.sources["dtks"]["NAMA"])


def test_make_sources_equals_the_two_steps() -> None:
    one = make_sources(n_people=1_500, random_state=11)
    pop = generate_population(n_people=1_500, random_state=11)
    two = generate_sources(pop, random_state=11)
    pd.testing.assert_frame_equal(one.population, pop)
    pd.testing.assert_frame_equal(one.sources["regsosek"], two.sources["regsosek"])


# ---- population ------------------------------------------------------------------------
def test_population_shape_and_ids(pop: pd.DataFrame) -> None:
    assert len(pop) == N_PEOPLE
    assert pop["person_id"].is_unique
    assert pop["nik"].dropna().is_unique
    assert pop["is_homeless"].sum() > 0 and pop["is_ship_crew"].sum() > 0
    hh_poverty = pop.groupby("household_id")["poverty_score"].nunique()
    assert (hh_poverty == 1).all()
    assert pop["poverty_score"].between(0, 1).all()


def test_nik_structure(pop: pd.DataFrame) -> None:
    p = pop[pop["nik"].notna()]
    nik = p["nik"].astype(str)
    assert nik.str.fullmatch(r"\d{16}").all()
    day = nik.str[6:8].astype(int)
    month = nik.str[8:10].astype(int)
    female = p["jenis_kelamin"] == "P"
    assert day[female].between(41, 71).all()
    assert day[~female].between(1, 31).all()
    assert month.between(1, 12).all()
    assert (nik.str[12:] != "0000").all()
    assert nik.str[:6].isin(kecamatan_codes()).all()
    # the date inside the NIK is the recorded birth date
    dob = p["tanggal_lahir"].astype(str)
    ddmmyy = (day - 40 * female).astype(str).str.zfill(2) + dob.str[5:7] + dob.str[2:4]
    assert (ddmmyy == nik.str[6:8].where(~female, ddmmyy.str[:2]) + nik.str[8:12]).all()
    # most people carry their residence kecamatan in the NIK
    assert (nik.str[:6] == p["kode_wilayah"].str[:6]).mean() > 0.8


def test_people_without_nik(pop: pd.DataFrame) -> None:
    no_nik = pop["nik"].isna()
    assert no_nik.any()
    assert pop.loc[pop["is_homeless"], "nik"].isna().mean() > 0.2
    young = pd.to_datetime(pop["tanggal_lahir"]) > pd.Timestamp("2021-10-15")
    assert (no_nik & ~young & ~pop["is_homeless"] & ~pop["is_ship_crew"]).sum() == 0


def test_kk_structure(pop: pd.DataFrame) -> None:
    kk = pop["no_kk"].dropna().astype(str)
    assert kk.str.fullmatch(r"\d{16}").all()
    assert kk.str[:6].isin(kecamatan_codes()).all()
    assert kk.str[6:8].astype(int).between(1, 31).all()  # no +40 rule
    assert kk.str[8:10].astype(int).between(1, 12).all()
    assert (kk.str[12:] != "0000").all()
    per_hh = pop.dropna(subset=["no_kk"]).groupby("household_id")["no_kk"].nunique()
    assert (per_hh == 1).all()
    hh_per_kk = pop.dropna(subset=["no_kk"]).groupby("no_kk")["household_id"].nunique()
    assert (hh_per_kk == 1).all()
    special = pop["is_homeless"] | pop["is_ship_crew"]
    assert pop.loc[special, "no_kk"].isna().mean() > 0.3
    assert pop.loc[special, "alamat"].isna().all()


def test_children_carry_their_mothers_name(pop: pd.DataFrame) -> None:
    mothers = pop[pop["hubungan_keluarga"].isin(["ISTRI"])
                  | ((pop["hubungan_keluarga"] == "KEPALA KELUARGA")
                     & (pop["jenis_kelamin"] == "P"))]
    mother_name = mothers.set_index("household_id")["nama"]
    kids = pop[(pop["hubungan_keluarga"] == "ANAK") & pop["household_id"].isin(mother_name.index)]
    # an ISTRI and a female head never coexist, so the index is unique
    assert mother_name.index.is_unique
    assert (kids["nama_ibu"].to_numpy() == mother_name[kids["household_id"]].to_numpy()).all()


def test_twins(pop: pd.DataFrame) -> None:
    tw = pop[pop["twin_of"].notna()]
    assert len(tw) > 0
    other = pop.set_index("person_id").loc[tw["twin_of"]]
    assert (other["tanggal_lahir"].to_numpy() == tw["tanggal_lahir"].to_numpy()).all()
    assert (other["nama_ibu"].to_numpy() == tw["nama_ibu"].to_numpy()).all()
    assert (other["nama"].to_numpy() != tw["nama"].to_numpy()).all()
    assert (other["twin_of"].to_numpy() == tw["person_id"].to_numpy()).all()


def test_siblings_are_born_a_year_apart_unless_twins(pop: pd.DataFrame) -> None:
    kids = pop[pop["hubungan_keluarga"] == "ANAK"].copy()
    kids["born"] = pd.to_datetime(kids["tanggal_lahir"])
    kids = kids.sort_values(["household_id", "born"])
    gap = kids.groupby("household_id")["born"].diff().dt.days
    twin = kids["twin_of"].notna() & kids["twin_of"].shift().eq(kids["person_id"]).fillna(False)
    gaps = gap[gap.notna() & ~twin]
    assert len(gaps) > 100
    # a year apart, give or take the day the age was rounded to (and placeholder dates)
    assert (gaps >= 300).mean() > 0.97, gaps.describe()


def test_names_are_realistic(pop: pd.DataFrame) -> None:
    tokens = pop["nama"].str.split().explode()
    top = set(tokens.value_counts().index[:40])
    assert {"SITI", "MUHAMMAD", "SRI"} & top
    assert pop["nama"].duplicated().mean() > 0.2  # many people share full names
    ntok = pop["nama"].str.count(" ") + 1
    assert ntok.between(1, 5).all() and 1.5 < ntok.mean() < 3.2
    assert pop["nama"].str.fullmatch(r"(I|NI) (WAYAN|PUTU|GEDE|MADE|KADEK|NENGAH|NYOMAN|"
                                     r"KOMANG|KETUT) .+").any()
    assert pop["nama"].str.contains(r"\b(?:SIREGAR|NASUTION|LUBIS|SINAGA)\b").any()
    women = pop[pop["jenis_kelamin"] == "P"]["nama"]
    assert not women.str.match(r"(MUHAMMAD|AHMAD|ABDUL) ").any()
    assert not women.str.match(r"I (WAYAN|PUTU|MADE|NYOMAN|KETUT)").any()


def test_placeholder_dates_and_regions(pop: pd.DataFrame) -> None:
    md = pop["tanggal_lahir"].str[5:]
    assert (md == "07-01").mean() > 0.01 and (md == "12-31").mean() > 0.005
    sizes = pop.groupby("kode_wilayah").size()
    assert sizes.median() > 200 and len(sizes) >= 3
    assert pop["kode_wilayah"].str.fullmatch(r"\d{10}").all()
    assert pop["kabupaten"].nunique() < 20


# ---- sources ---------------------------------------------------------------------------
def test_source_columns_are_strings_and_truth_covers_records(syn: SyntheticSources) -> None:
    assert set(syn.sources) == {"siak", "dtks", "regsosek", "dapodik", "bpjs_pbi"}
    assert list(syn.truth.columns) == ["source", "record_id", "person_id"]
    assert (syn.truth.dtypes == "string").all()
    assert len(syn.truth) == sum(len(df) for df in syn.sources.values())
    assert not syn.truth.duplicated(["source", "record_id"]).any()
    assert syn.truth["person_id"].isin(syn.population["person_id"]).all()
    for name, df in syn.sources.items():
        assert (df.dtypes == "string").all(), name
        mapping = syn.mappings[name]
        assert set(mapping) <= set(df.columns), name
        assert set(mapping.values()) <= set(PERSON_COLUMNS), name
        assert "record_id" in mapping.values(), name
        assert len(set(mapping.values())) == len(mapping), name
        rid = next(k for k, v in mapping.items() if v == "record_id")
        assert df[rid].notna().all() and df[rid].is_unique, name
        t = syn.truth[syn.truth["source"] == name]
        assert sorted(t["record_id"]) == sorted(df[rid]), name
        info = syn.source_info[name]
        assert isinstance(info["description"], str) and info["description"]
        assert isinstance(info["one_record_per_person"], bool)


def test_record_ids_are_not_person_ids(syn: SyntheticSources) -> None:
    t = syn.truth[syn.truth["source"] == "siak"]
    assert not (t["record_id"].str[-5:] == t["person_id"].str[-5:]).mean() > 0.05
    # rows are shuffled: person ids are not in population order
    assert not t["person_id"].is_monotonic_increasing


def test_siak_is_clean_and_one_per_person(syn: SyntheticSources, pop: pd.DataFrame) -> None:
    assert syn.source_info["siak"]["one_record_per_person"]
    t = syn.truth[syn.truth["source"] == "siak"]
    assert t["person_id"].is_unique
    with_nik = pop["nik"].notna().sum()
    assert 0.94 < len(t) / with_nik <= 1.0
    df = _person(syn, "siak")
    assert (df["NIK"] == df["nik_pop"]).mean() > 0.99
    assert df["JENIS_KLMIN"].isin(["LAKI-LAKI", "PEREMPUAN"]).all()
    assert df["TGL_LHR"].dropna().str.fullmatch(r"\d{2}-\d{2}-\d{4}").all()
    assert df["KODE_WILAYAH"].str.fullmatch(r"\d{2}\.\d{2}\.\d{2}\.\d{4}").all()


def test_dtks_has_duplicates_and_messy_niks(syn: SyntheticSources) -> None:
    df = _person(syn, "dtks")
    dup_share = df["person_id"].duplicated().mean()
    spec = DEFAULT_SPECS["dtks"]
    assert 0.5 * spec.duplicate_rate < dup_share < 2 * spec.duplicate_rate
    assert not syn.source_info["dtks"]["one_record_per_person"]
    nik = df["NIK"]
    assert nik.str.contains("E+15", regex=False).any()
    assert nik.str.startswith("'").any()
    assert df["JNS_KEL"].isin(["1", "2"]).all()
    assert df["TGL_LAHIR"].dropna().str.fullmatch(r"\d{2}/\d{2}/\d{4}").all()
    assert df["NAMA"].str.contains(r"\b(?:H\.|HJ\.|DRS\.|S\.PD\.|DRA\.)").any()
    # the poorer households only
    assert df["poverty_score_pop"].min() > syn.population["poverty_score"].median()


def test_error_rates_roughly_as_configured() -> None:
    spec = dataclasses.replace(DEFAULT_SPECS["dtks"], nik_missing=0.3, nik_excel=0.1,
                               duplicate_rate=0.0, nik_apostrophe=0.0)
    syn = make_sources(n_people=5_000, random_state=1, sources=["dtks"],
                       specs={"dtks": spec})
    df = _person(syn, "dtks")
    has_truth = df["nik_pop"].notna()
    missing = df.loc[has_truth, "NIK"].isna().mean()
    assert abs(missing - 0.3) < 0.05
    excel = df.loc[has_truth, "NIK"].str.contains(r"E\+15|0$", regex=True).fillna(False)
    sci = df["NIK"].str.contains("E+15", regex=False).fillna(False).mean()
    assert 0.03 < sci < 0.1  # two thirds of the Excel damage is scientific notation
    assert excel.mean() >= sci
    exact = (df["NIK"] == df["nik_pop"]).fillna(False).mean()
    other = sum(getattr(spec, k) for k in ("nik_typo", "nik_transposed", "nik_shared",
                                           "nik_15_digits", "nik_dummy"))
    assert abs(exact - (1 - 0.3 - 0.1 - other)) < 0.06


def test_rt_rw_other_than_registered_at_the_configured_rate() -> None:
    spec = dataclasses.replace(DEFAULT_SPECS["dtks"], rt_rw_other=0.3, duplicate_rate=0.0)
    syn = make_sources(n_people=5_000, random_state=1, sources=["dtks"], specs={"dtks": spec})
    df = _person(syn, "dtks")
    known = df["rt_pop"].notna()
    rt = df.loc[known, "RT"].astype(int) != df.loc[known, "rt_pop"].astype(int)
    rw = df.loc[known, "RW"].astype(int) != df.loc[known, "rw_pop"].astype(int)
    # a new RT drawn from 12 is the old one in 1 of 12; a third of them also move RW
    assert abs((rt | rw).mean() - 0.3 * (1 - 1 / 12 * (1 - 1 / 3 * 6 / 7))) < 0.03
    assert 0.08 < rw.mean() < 0.12
    assert not (df.loc[~known, "RT"].notna()).any()
    clean = make_sources(n_people=2_000, random_state=1, sources=["siak"])
    s = _person(clean, "siak")
    assert (s["NO_RT"].dropna().astype(int) == s.loc[s["NO_RT"].notna(), "rt_pop"].astype(int)).all()


def test_noise_levels_scale_the_error_rates_and_keep_the_people() -> None:
    dtks = DEFAULT_SPECS["dtks"]
    assert scale_noise(dtks, "typical") == dtks
    low, harsh = scale_noise(dtks, "low"), scale_noise(dtks, "harsh")
    assert (low.name_typo, harsh.name_typo) == (dtks.name_typo / 2, dtks.name_typo * 2)
    assert harsh.nik_missing == 2 * dtks.nik_missing
    # who is in the source is not noise
    assert (harsh.coverage, harsh.duplicate_rate) == (dtks.coverage, dtks.duplicate_rate)
    assert scale_noise(DEFAULT_SPECS["regsosek"], "harsh").nik_sentinel_if_none == 0.5
    # NIK error kinds scaled past 1 together are brought back to sum to 1
    heavy = scale_noise(dtks, 20.0)
    assert sum(getattr(heavy, k) for k in ("nik_missing", "nik_typo", "nik_transposed", "nik_shared",
                                           "nik_excel", "nik_15_digits", "nik_sentinel", "nik_dummy",
                                           "nik_serial_shift")) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="'noise' parameter"):
        scale_noise(dtks, "extreme")
    with pytest.raises(ValueError, match="'noise' parameter"):
        make_sources(n_people=100, random_state=0, noise=-1.0)
    typical = make_sources(n_people=3_000, random_state=4, sources=["regsosek"])
    worse = make_sources(n_people=3_000, random_state=4, sources=["regsosek"], noise="harsh")
    better = make_sources(n_people=3_000, random_state=4, sources=["regsosek"], noise="low")
    pd.testing.assert_series_equal(worse.truth["person_id"], typical.truth["person_id"])
    pd.testing.assert_series_equal(better.truth["person_id"], typical.truth["person_id"])

    def blank_nik(syn: SyntheticSources) -> float:
        return float(syn.sources["regsosek"]["NIK"].isna().mean())

    assert blank_nik(better) < blank_nik(typical) < blank_nik(worse)


def test_regsosek_contains_everyone_special(syn: SyntheticSources, pop: pd.DataFrame) -> None:
    df = _person(syn, "regsosek")
    special = pop.loc[pop["is_homeless"] | pop["is_ship_crew"], "person_id"]
    assert special.isin(df["person_id"]).all()
    assert set(df["STATUS_KHUSUS"].dropna()) == {"TUNAWISMA", "AWAK KAPAL"}
    assert 0.85 < df["person_id"].nunique() / len(pop) < 0.95
    assert df["NIK"].isna().mean() > 0.1
    assert df["NIK"].isin(["9999999999999995", "9999999999999996", "9999999999999994"]).any()
    assert df["TGL_LAHIR"].str.contains(r"[A-Za-z]").fillna(False).mean() > 0.9
    assert df["JK"].isin(["L", "P"]).all()
    # enumerator typos: some names differ from the truth
    assert 0.05 < (df["NAMA_ART"] != df["nama_pop"]).mean() < 0.5


def test_dapodik_ages_and_mothers(syn: SyntheticSources) -> None:
    df = _person(syn, "dapodik")
    dob = pd.to_datetime(df["tanggal_lahir_pop"])
    age = (pd.Timestamp("2022-10-15") - dob).dt.days / 365.25
    assert age.between(6, 19).all()
    assert df["TANGGAL_LAHIR"].dropna().str.fullmatch(r"\d{8}").all()
    agree = (df["NAMA_IBU_KANDUNG"] == df["nama_ibu_pop"]).mean()
    assert 0.7 < agree < 0.99
    assert df["person_id"].duplicated().any()  # retyped duplicates
    assert df["NISN"].dropna().str.fullmatch(r"\d{10}").all()


def test_bpjs_names_truncated_and_initials(syn: SyntheticSources) -> None:
    df = _person(syn, "bpjs_pbi")
    limit = DEFAULT_SPECS["bpjs_pbi"].name_max_length
    assert limit is not None
    assert df["NAMA_PESERTA"].str.len().max() <= limit
    assert df["NAMA_PESERTA"].str.match(r"^[A-Z]\. ").any()
    assert df["JENIS_KELAMIN"].isin(["M", "F", "Pria", "Wanita"]).all()
    assert df["TGL_LAHIR"].dropna().str.fullmatch(
        r"\d{4}-\d{2}-\d{2}( 00:00:00)?").all()
    # newborns without a NIK are insured all the same
    newborn = pd.to_datetime(df["tanggal_lahir_pop"]) > pd.Timestamp("2021-10-15")
    assert (newborn & df["nik_pop"].isna() & df["NIK"].isna()).any()


def test_write_round_trips_csv(syn: SyntheticSources, tmp_path) -> None:
    paths = syn.write(tmp_path, format="csv")
    assert set(paths) == set(syn.sources) | {"truth"}
    for name, df in syn.sources.items():
        back = pd.read_csv(paths[name], dtype=str).astype("string")
        pd.testing.assert_frame_equal(back, df.reset_index(drop=True))
    back = pd.read_csv(paths["truth"], dtype=str).astype("string")
    pd.testing.assert_frame_equal(back, syn.truth.reset_index(drop=True))


def test_write_parquet(syn: SyntheticSources, tmp_path) -> None:
    paths = syn.write(tmp_path, format="parquet")
    back = pd.read_parquet(paths["dtks"])
    assert back.astype("string").equals(syn.sources["dtks"].reset_index(drop=True))
    with pytest.raises(ValueError, match="'format' parameter"):
        syn.write(tmp_path, format="xlsx")  # type: ignore[arg-type]


# ---- building blocks --------------------------------------------------------------------
def test_char_edit_changes_exactly_one_thing() -> None:
    rng = np.random.default_rng(0)
    s = np.array(["SUTRISNO", "AB", "MUHAMMAD RIZKI"] * 200, dtype=object)
    for op, dlen in (("sub", 0), ("del", -1), ("ins", 1), ("swap", 0)):
        out = char_edit(rng, s, ops=(op,), alphabet="XYZ")
        lens_in = np.array([len(x) for x in s])
        lens_out = np.array([len(x) for x in out])
        assert (lens_out - lens_in == dlen).all(), op
        if op == "sub":
            assert (out != s).all()


def test_spec_validation() -> None:
    with pytest.raises(ValueError, match="nik_missing=1.5"):
        SourceSpec(description="x", nik_missing=1.5)
    with pytest.raises(ValueError, match="sum to at most 1"):
        SourceSpec(description="x", nik_missing=0.6, nik_typo=0.6)
    with pytest.raises(ValueError, match="Got \\['nope'\\] instead"):
        generate_sources(generate_population(n_people=100, random_state=0), sources=["nope"])
    with pytest.raises(ValueError, match="'n_people' parameter"):
        generate_population(n_people=0)
