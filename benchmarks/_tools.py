"""The three tools, each configured as its own documentation recommends.

Every ``run_<tool>(ds)`` takes a :class:`_data.Dataset` and returns a dict with

* ``membership``: DataFrame ``source, record_id, person_id`` (one row per input record;
  the tool's accepted links clustered by connected components),
* ``pairs``: candidate pairs as row positions ``left, right`` into ``order`` (or None),
* ``order``: DataFrame ``source, record_id`` giving the row positions used by ``pairs``,
* ``stages``: seconds per step.

Only the body of ``run_<tool>`` is timed by the worker; evaluation happens afterwards and is
the same for every tool (:mod:`regsosek_link.evaluate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from _data import Dataset

FEBRL_COLUMNS = ("given_name", "surname", "street_number", "address_1", "address_2", "suburb",
                 "postcode", "state", "date_of_birth", "soc_sec_id")
SYNTHETIC_COLUMNS = ("nik", "no_kk", "nama", "jenis_kelamin", "tempat_lahir", "tanggal_lahir",
                     "nama_ibu", "alamat", "desa", "kecamatan", "kabupaten", "provinsi")


class Stopwatch:
    def __init__(self) -> None:
        self.stages: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        self.stages[name] = round(time.perf_counter() - t0, 3)
        return out


def _membership(order: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"source": order["source"].to_numpy(), "record_id": order["record_id"].to_numpy(),
                         "person_id": labels.astype(np.int64)})


# ----------------------------------------------------------------------------------------
# regsosek_link


#: ``RL_BENCH_SETTINGS=acd8c4b`` (``ab.py --settings acd8c4b``): the default comparisons and
#: blocking rules of commit acd8c4b (before the registry redesign and the accuracy work of
#: issue 18), written out, so that two commits can be timed on the same settings: what the
#: code costs apart from what its new default comparisons and rules cost
SETTINGS_ENV = "RL_BENCH_SETTINGS"


def _settings_acd8c4b() -> dict[str, Any]:
    from regsosek_link import BlockOn
    from regsosek_link.compare import (
        DateOfBirthComparison,
        ExactMatch,
        IdNumberComparison,
        JaroWinklerAtThresholds,
        NameComparison,
        RegionComparison,
    )

    household, family = ("no_kk",), ("no_kk", "nama_ibu_phonetic")
    comparisons = (
        IdNumberComparison(column="nik", status_column="nik_status", serial_digits=4,
                           consistency_columns=("nik_birth_date", "tanggal_lahir", "nik_sex", "jenis_kelamin")),
        NameComparison(column="nama", phonetic_column="nama_phonetic", term_frequency=True),
        DateOfBirthComparison(column="tanggal_lahir", status_column="tanggal_lahir_status"),
        ExactMatch(column="jenis_kelamin"),
        NameComparison(column="nama_ibu", phonetic_column="nama_ibu_phonetic", ignore_when_equal=household),
        IdNumberComparison(column="no_kk", status_column="kk_status", serial_digits=4, label="no_kk"),
        RegionComparison(ignore_when_equal=family),
        JaroWinklerAtThresholds(column="tempat_lahir", thresholds=(0.9,), ignore_when_equal=family),
    )
    rules = (
        BlockOn(keys=("nik",), name="nik"),
        BlockOn(keys=("no_kk", "first_token(nama_phonetic)"), name="kk & first name sound"),
        BlockOn(keys=("tanggal_lahir", "tokens(nama_phonetic)"), name="birth date & a name sound"),
        BlockOn(keys=("nik_birth_date", "tokens(nama_phonetic)"), name="NIK birth date & a name sound"),
        BlockOn(keys=("tahun_lahir", "kode_kec", "nama_phonetic"), name="birth year & kecamatan & name sound"),
        BlockOn(keys=("nama_ibu_phonetic", "tanggal_lahir"), name="mother's name & birth date"),
        BlockOn(keys=("tanggal_lahir", "kode_desa"), name="birth date & desa"),
        BlockOn(keys=("kode_desa", "nama_phonetic"), name="desa & name sound"),
        BlockOn(keys=("no_kk", "jenis_kelamin"), name="kk & sex"),
    )
    return {"comparisons": comparisons, "blocking_rules": rules}


SETTINGS: dict[str, Callable[[], dict[str, Any]]] = {"defaults": dict, "acd8c4b": _settings_acd8c4b}


def regsosek_config(ds: Dataset):
    import os

    from regsosek_link import LinkConfig, SourceConfig

    if ds.kind == "febrl":
        from regsosek_link.datasets.febrl import febrl_config

        return febrl_config(sources=tuple(ds.sources), link_type=ds.link_type)
    sources = tuple(
        SourceConfig(name=name, columns=ds.mappings[name], one_record_per_person=name in ds.single,
                     priority=1 if name in ds.single else 100)
        for name in ds.sources
    )
    return LinkConfig(sources=sources, random_state=0, **SETTINGS[os.environ.get(SETTINGS_ENV) or "defaults"]())


def run_regsosek(ds: Dataset) -> dict[str, Any]:
    import inspect

    from regsosek_link import Linker

    # the process tweaks (allocator trimming, normal pages) are opt-in since the one-pipeline
    # redesign; the command line asks for them, and so does the benchmark (older revisions
    # applied them always)
    tune = {"tune_process": True} if "tune_process" in inspect.signature(Linker).parameters else {}
    result = Linker(regsosek_config(ds), **tune).run(ds.sources)
    order = result.records[["source", "record_id"]].astype(str).reset_index(drop=True)
    return {"membership": result.membership, "pairs": result.pairs[["left", "right"]], "order": order,
            "stages": {k: round(v, 3) for k, v in result.timings.items()},
            # the process's RSS high-water mark after each stage (older revisions: none)
            "stage_peaks_mb": {k: round(v) for k, v in getattr(result, "peak_memory_mb", {}).items()}}


# ----------------------------------------------------------------------------------------
# shared generic cleaning for the peers (what a Splink / recordlinkage user would do):
# upper case, punctuation to spaces, collapsed whitespace, empty -> NULL; dates parsed with
# a list of common formats; digits-only IDs with obviously invalid ones set to NULL.


def _clean(col: str) -> str:
    return (f"nullif(trim(regexp_replace(upper(regexp_replace(CAST({col} AS VARCHAR), '[^A-Za-z0-9 ]', ' ', 'g')),"
            f" '\\s+', ' ', 'g')), '')")


def _digits_id(col: str, length: int) -> str:
    d = f"regexp_replace(coalesce(CAST({col} AS VARCHAR), ''), '[^0-9]', '', 'g')"
    return f"CASE WHEN length({d}) = {length} AND {d} <> repeat(substr({d}, 1, 1), {length}) THEN {d} END"


_DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%Y%m%d", "%Y-%m-%d %H:%M:%S", "%d-%b-%Y", "%d %B %Y",
                 "%d %b %Y", "%m/%d/%Y")


# month names as written in the sources -> English (strptime's %B / %b only know English)
_MONTHS = (("JANUARI", "January"), ("FEBRUARI", "February"), ("PEBRUARI", "February"), ("MARET", "March"),
           ("APRIL", "April"), ("MEI", "May"), ("JUNI", "June"), ("JULI", "July"), ("AGUSTUS", "August"),
           ("SEPTEMBER", "September"), ("OKTOBER", "October"), ("NOPEMBER", "November"),
           ("NOVEMBER", "November"), ("DESEMBER", "December"), ("AGU", "Aug"), ("AGS", "Aug"),
           ("OKT", "Oct"), ("NOP", "Nov"), ("DES", "Dec"), ("PEB", "Feb"))


def _month_en(col: str) -> str:
    v = f"upper(trim(CAST({col} AS VARCHAR)))"
    for idn, eng in _MONTHS:
        v = f"regexp_replace({v}, '\\b{idn}\\b', '{eng}')"
    return v


def _date(col: str) -> str:
    """``col`` is already upper-cased with English month names (``_month_en``, in a CTE of
    its own so that the translation is not repeated for every format)."""
    tries = ", ".join(f"try_strptime({col}, '{f}')" for f in _DATE_FORMATS)
    return f"strftime(coalesce({tries}), '%Y-%m-%d')"


# honorifics and academic degrees that a user finds in the most frequent name tokens (Haji,
# Hajjah, Doctor, Insinyur, Professor, Kyai Haji, Raden ...); degrees usually follow a comma
_TITLES = ("H", "HJ", "HJH", "HAJI", "HAJJAH", "DR", "DRS", "DRA", "DRG", "IR", "PROF", "KH", "RR", "RM",
           "RAJ", "AJ")
_DEGREES = ("SE", "SH", "SPD", "SPDI", "SKOM", "SSOS", "SAG", "SKEP", "SIP", "SKED", "SSI", "ST", "MM",
            "MPD", "MSI", "MA", "MT", "AMD", "AMK", "SHI", "SSTP", "SFARM", "SKM", "MH", "ME", "MKES")


def _name(col: str) -> str:
    """Upper case, drop everything after the first comma (", S.PD."), glue dotted degree
    abbreviations ("S.PD.I" -> "SPDI"), punctuation to spaces, drop title tokens anywhere and
    degree tokens after the first token."""
    v = f"regexp_replace(upper(CAST({col} AS VARCHAR)), ',.*$', '')"
    v = f"regexp_replace({v}, '\\b([SMA])\\.([A-Z]{{1,4}})\\.?(I\\b)?', '\\1\\2\\3', 'g')"
    v = f"string_split(trim(regexp_replace(regexp_replace({v}, '[^A-Z ]', ' ', 'g'), '\\s+', ' ', 'g')), ' ')"
    titles = ", ".join(f"'{t}'" for t in _TITLES)
    degrees = ", ".join(f"'{t}'" for t in _DEGREES)
    v = f"list_filter({v}, lambda t, i: t <> '' AND t NOT IN ({titles}) AND (i = 1 OR t NOT IN ({degrees})))"
    return f"nullif(array_to_string({v}, ' '), '')"


def _region(col: str) -> str:
    return f"nullif(regexp_replace({_clean(col)}, '^(KAB|KABUPATEN|KEC|KECAMATAN|KEL|KELURAHAN|DESA) ', ''), '')"


def _sex(col: str) -> str:
    c = _clean(col)
    return (f"CASE WHEN {c} IN ('L','LK','LAKI LAKI','LAKI','PRIA','M','MALE','1') THEN 'L' "
            f"WHEN {c} IN ('P','PR','PEREMPUAN','WANITA','F','FEMALE','2') THEN 'P' END")


def peer_table(ds: Dataset, con) -> tuple[pd.DataFrame, str]:
    """Concatenate the raw sources (renamed to the person schema / FEBRL names), clean them in
    DuckDB into table ``records``; returns the (source, record_id) order and the table name."""
    frames = []
    for name, frame in ds.sources.items():
        mapping = ds.mappings[name]
        f = frame.rename(columns=mapping) if ds.kind == "synthetic" else frame.rename(columns={"rec_id": "record_id"})
        cols = SYNTHETIC_COLUMNS if ds.kind == "synthetic" else FEBRL_COLUMNS
        f = f.reindex(columns=["record_id", *cols]).astype(object)
        f.insert(0, "source_dataset", name)
        frames.append(f)
    raw = pd.concat(frames, ignore_index=True)
    raw.insert(0, "unique_id", np.arange(len(raw), dtype=np.int64))
    order = pd.DataFrame({"source": raw["source_dataset"].astype(str), "record_id": raw["record_id"].astype(str)})
    con.register("raw_input", raw)
    if ds.kind == "febrl":
        sql = f"""
        CREATE OR REPLACE TABLE records AS
        WITH pre AS MATERIALIZED (SELECT *, {_month_en('date_of_birth')} AS dob_en FROM raw_input)
        SELECT unique_id, source_dataset,
          {_clean('given_name')} AS given_name, {_clean('surname')} AS surname,
          {_clean('street_number')} AS street_number, {_clean('address_1')} AS address_1,
          {_clean('address_2')} AS address_2, {_clean('suburb')} AS suburb,
          {_clean('postcode')} AS postcode, {_clean('state')} AS state,
          {_date('dob_en')} AS date_of_birth, {_clean('soc_sec_id')} AS soc_sec_id,
          substr({_clean('surname')}, 1, 1) AS surname_initial,
          nullif(trim(concat_ws(' ', {_clean('surname')}, {_clean('given_name')})), '') AS name_sorted
        FROM pre ORDER BY unique_id"""
    else:
        sql = f"""
        CREATE OR REPLACE TABLE records AS
        WITH pre AS MATERIALIZED (SELECT *, {_month_en('tanggal_lahir')} AS tgl_en FROM raw_input),
        a AS MATERIALIZED (
          SELECT unique_id, source_dataset,
            {_digits_id('nik', 16)} AS nik, {_digits_id('no_kk', 16)} AS no_kk,
            {_name('nama')} AS nama, {_sex('jenis_kelamin')} AS jenis_kelamin,
            {_clean('tempat_lahir')} AS tempat_lahir, {_date('tgl_en')} AS tanggal_lahir,
            {_name('nama_ibu')} AS nama_ibu, {_clean('alamat')} AS alamat,
            {_region('desa')} AS desa, {_region('kecamatan')} AS kecamatan,
            {_region('kabupaten')} AS kabupaten
          FROM pre),
        b AS (
          -- placeholder IDs (9999999999999996, ...) found with n_largest_blocks: an ID held by
          -- more records than one person (or one family) can have is not an ID
          SELECT * REPLACE (
            CASE WHEN count(*) OVER (PARTITION BY nik) <= 10 THEN nik END AS nik,
            CASE WHEN count(*) OVER (PARTITION BY no_kk) <= 100 THEN no_kk END AS no_kk)
          FROM a)
        SELECT *,
          split_part(nama, ' ', 1) AS nama_first,
          string_split(nama, ' ')[-1] AS nama_last,
          array_to_string(list_sort(string_split(nama, ' ')), ' ') AS nama_sorted,
          -- the sorted name only when it has two or more tokens (one common token alone
          -- makes blocks of 100,000s of pairs)
          CASE WHEN strpos(nama, ' ') > 0 THEN array_to_string(list_sort(string_split(nama, ' ')), ' ') END
            AS nama_sorted_multi,
          substr(tanggal_lahir, 1, 4) AS tahun_lahir,
          substr(nik, 7, 6) AS nik_birth
        FROM b ORDER BY unique_id"""
    con.execute(sql)
    con.unregister("raw_input")
    return order, "records"


def synthetic_rules(ds: Dataset) -> list[str]:
    """Our default_blocking_rules() as SQL on the generically cleaned columns.

    ``tokens(nama_phonetic)`` (any shared name sound) becomes two rules (first token, last
    token); phonetic keys become the cleaned spelling; region codes become region names
    (only two of five sources carry a code). Pairs inside one-record-per-person sources are
    excluded, as in regsosek_link.
    """
    rules = [
        "l.nik = r.nik",
        "l.no_kk = r.no_kk AND l.nama_first = r.nama_first",
        "l.tanggal_lahir = r.tanggal_lahir AND l.nama_first = r.nama_first",
        "l.tanggal_lahir = r.tanggal_lahir AND l.nama_last = r.nama_last",
        "l.nik_birth = r.nik_birth AND l.nama_first = r.nama_first",
        "l.tahun_lahir = r.tahun_lahir AND l.kecamatan = r.kecamatan AND l.nama = r.nama",
        "l.kecamatan = r.kecamatan AND l.nama_sorted_multi = r.nama_sorted_multi",
        "l.nama_ibu = r.nama_ibu AND l.tahun_lahir = r.tahun_lahir AND l.kabupaten = r.kabupaten",
        "l.tanggal_lahir = r.tanggal_lahir AND l.desa = r.desa",
    ]
    if ds.single:
        singles = ", ".join(f"'{s}'" for s in ds.single)
        rules = [f"({r}) AND NOT (l.source_dataset = r.source_dataset AND l.source_dataset IN ({singles}))"
                 for r in rules]
    return rules


FEBRL_RULES = [
    "l.given_name = r.given_name",
    "l.surname = r.surname",
    "l.date_of_birth = r.date_of_birth",
    "l.soc_sec_id = r.soc_sec_id",
    "l.postcode = r.postcode AND l.surname_initial = r.surname_initial",
]


# ----------------------------------------------------------------------------------------
# Splink 5 (DuckDB)

SPLINK_U_MAX_PAIRS = 5e6   # u from random sampling (Splink's docs: 1e6 - 1e7)
SPLINK_EM_MAX_PAIRS = 1e6  # blocked pairs per EM session


def _splink_settings(ds: Dataset):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator

    if ds.kind == "febrl":
        comparisons = [
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.8]),
            cl.JaroWinklerAtThresholds("suburb", [0.9]),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
        ]
        rules = FEBRL_RULES
    else:
        # family members share KK, mother, village and birthplace: as separate comparisons
        # their weights add up (Fellegi-Sunter assumes independence) and siblings link. So
        # they are one "household" comparison, as Splink's docs advise for correlated fields.
        household = cl.CustomComparison(
            output_column_name="household",
            comparison_levels=[
                cll.And(cll.NullLevel("no_kk"), cll.NullLevel("nama_ibu"), cll.NullLevel("kabupaten")),
                cll.And(cll.ExactMatchLevel("no_kk"), cll.ExactMatchLevel("nama_ibu")),
                cll.ExactMatchLevel("no_kk"),
                cll.And(cll.ExactMatchLevel("nama_ibu"), cll.ExactMatchLevel("desa")),
                cll.And(cll.ExactMatchLevel("desa"), cll.ExactMatchLevel("kecamatan")),
                cll.ExactMatchLevel("kecamatan"),
                cll.ExactMatchLevel("kabupaten"),
                cll.ElseLevel(),
            ],
        )
        comparisons = [
            cl.ExactMatch("nik"),  # a NIK one digit off is mostly a neighbour (serial + 1), not a typo
            cl.NameComparison("nama").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("tanggal_lahir", input_is_string=True),
            cl.ExactMatch("jenis_kelamin"),
            household,
            cl.JaroWinklerAtThresholds("tempat_lahir", [0.9]),
        ]
        rules = synthetic_rules(ds)
    return SettingsCreator(
        link_type="link_only" if ds.link_type == "link_only" else "dedupe_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def run_splink(ds: Dataset) -> dict[str, Any]:
    import duckdb
    from splink import DuckDBAPI, Linker, block_on

    sw = Stopwatch()
    con = duckdb.connect()
    order, table = sw("clean", lambda: peer_table(ds, con))
    db_api = DuckDBAPI(connection=con)
    if ds.link_type == "link_only":
        names = list(ds.sources)
        inputs = []
        for i, name in enumerate(names):
            con.execute(f"CREATE TABLE input_{i} AS SELECT * EXCLUDE (source_dataset) FROM records WHERE source_dataset = '{name}'")
            inputs.append(db_api.register(f"input_{i}", dataset_display_name=name))
    else:
        inputs = db_api.register(table, dataset_display_name="records")
    linker = Linker(inputs, _splink_settings(ds), log_level="WARNING")

    def train() -> None:
        t = linker.training
        if ds.kind == "febrl":
            t.estimate_probability_two_random_records_match(
                ["l.given_name = r.given_name AND l.surname = r.surname AND l.date_of_birth = r.date_of_birth"],
                recall=0.6)
            t.estimate_u_using_random_sampling(max_pairs=5e6, seed=0)
            t.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
            t.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
        else:
            t.estimate_probability_two_random_records_match(
                ["l.nik = r.nik AND l.nama_first = r.nama_first",
                 "l.nama = r.nama AND l.tanggal_lahir = r.tanggal_lahir"], recall=0.8)
            t.estimate_u_using_random_sampling(max_pairs=SPLINK_U_MAX_PAIRS, seed=0)
            # two EM sessions, each on a sample of SPLINK_EM_MAX_PAIRS blocked pairs: blocked on
            # birth date (trains names, NIK, KK, region, ...), then on name + kabupaten (trains
            # birth date). Without term frequencies in EM: with them, Splink 5.0.0's EM on a
            # name rule stops with "m_probability ... below the minimum allowed value of 1e-300"
            for rule in (block_on("tanggal_lahir"), block_on("nama", "kabupaten")):
                t.estimate_parameters_using_expectation_maximisation(
                    rule, estimate_without_term_frequencies=True, max_pairs=SPLINK_EM_MAX_PAIRS)

    sw("train", train)
    blocked = sw("block", lambda: linker.inference.compute_blocked_pairs_for_predict())
    # join keys are the unique_id (dedupe) or "<source>-__-<unique_id>" (link): our unique_ids
    # are global row positions, so the trailing digits are the position
    pairs = blocked.as_duckdbpyrelation().select(
        "CAST(regexp_extract(CAST(join_key_l AS VARCHAR), '(\\d+)$', 1) AS BIGINT) AS left, "
        "CAST(regexp_extract(CAST(join_key_r AS VARCHAR), '(\\d+)$', 1) AS BIGINT) AS right").df()
    preds = sw("predict", lambda: linker.inference.predict(threshold_match_probability=ds.threshold))
    clusters = sw("cluster", lambda: linker.clustering.cluster_pairwise_predictions_at_threshold(
        preds, threshold_match_probability=ds.threshold))
    cdf = clusters.as_duckdbpyrelation().select("unique_id, cluster_id").df()
    lab = pd.Series(pd.factorize(cdf["cluster_id"])[0], index=cdf["unique_id"].to_numpy())
    labels = lab.reindex(np.arange(len(order))).to_numpy()
    # records missing from the clusters table (none expected) become singletons
    missing = np.isnan(labels.astype(float))
    if missing.any():
        labels = labels.astype(float)
        labels[missing] = labels[~missing].max() + 1 + np.arange(missing.sum())
    def sensitivity() -> dict[str, pd.DataFrame]:
        """Not timed: the same predictions clustered at stricter thresholds (the table keeps 0.9)."""
        out = {}
        for th in SPLINK_SENSITIVITY_THRESHOLDS:
            c = linker.clustering.cluster_pairwise_predictions_at_threshold(preds, threshold_match_probability=th)
            d = c.as_duckdbpyrelation().select("unique_id, cluster_id").df()
            lab2 = pd.Series(pd.factorize(d["cluster_id"])[0], index=d["unique_id"].to_numpy())
            out[f"cluster_at_{th}"] = _membership(order, lab2.reindex(np.arange(len(order))).to_numpy())
        return out

    return {"membership": _membership(order, labels), "pairs": pairs, "order": order, "stages": sw.stages,
            "sensitivity": sensitivity if ds.kind == "synthetic" else None}


SPLINK_SENSITIVITY_THRESHOLDS = (0.99, 0.999)


# ----------------------------------------------------------------------------------------
# recordlinkage 0.16


def run_recordlinkage(ds: Dataset) -> dict[str, Any]:
    import duckdb
    import recordlinkage as rl

    from regsosek_link.cluster import connected_components

    sw = Stopwatch()
    con = duckdb.connect()
    order, table = sw("clean", lambda: peer_table(ds, con))
    df = con.execute(f"SELECT * FROM {table} ORDER BY unique_id").df().set_index("unique_id")
    df = df.where(df.notna(), None)

    def index() -> pd.MultiIndex:
        idx = rl.Index()
        if ds.kind == "febrl":
            rules = (["given_name"], ["surname"], ["date_of_birth"], ["soc_sec_id"], ["postcode", "surname_initial"])
        else:  # the same rules as Splink's (synthetic_rules)
            rules = (["nik"], ["no_kk", "nama_first"], ["tanggal_lahir", "nama_first"],
                     ["tanggal_lahir", "nama_last"], ["nik_birth", "nama_first"],
                     ["tahun_lahir", "kecamatan", "nama"], ["kecamatan", "nama_sorted_multi"],
                     ["nama_ibu", "tahun_lahir", "kabupaten"], ["tanggal_lahir", "desa"])
        # recordlinkage's Block is a pandas merge, and pandas joins missing values to missing
        # values: a rule on a column that is often empty (NIK, KK, mother) pairs every record
        # lacking it with every other. One key column per rule, missing if any part is missing,
        # and a row-unique value in that case, so missing never agrees with missing.
        for i, keys in enumerate(rules):
            key = df[keys[0]].astype(str)
            for k in keys[1:]:
                key = key + "|" + df[k].astype(str)
            missing = df[keys].isna().any(axis=1)
            df[f"_block_{i}"] = key.where(~missing, "__missing__" + df.index.astype(str))
            idx.block(f"_block_{i}")
        if ds.kind == "febrl":
            idx.sortedneighbourhood("name_sorted", window=5)
        if ds.link_type == "link_only":
            a, b = list(ds.sources)
            cand = idx.index(df[df["source_dataset"] == a], df[df["source_dataset"] == b])
        else:
            cand = idx.index(df)
        if ds.single:  # no pairs inside one-record-per-person sources
            src = df["source_dataset"].to_numpy()
            l, r = src[cand.get_level_values(0)], src[cand.get_level_values(1)]
            cand = cand[~((l == r) & np.isin(l, list(ds.single)))]
        return cand

    cand = sw("block", index)

    def compare() -> pd.DataFrame:
        c = rl.Compare(n_jobs=1)
        if ds.kind == "febrl":
            c.string("given_name", "given_name", method="jarowinkler", threshold=0.85, label="given_name")
            c.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
            c.exact("street_number", "street_number", label="street_number")
            c.string("address_1", "address_1", method="jarowinkler", threshold=0.85, label="address_1")
            c.string("suburb", "suburb", method="jarowinkler", threshold=0.85, label="suburb")
            c.exact("postcode", "postcode", label="postcode")
            c.exact("state", "state", label="state")
            c.exact("date_of_birth", "date_of_birth", label="date_of_birth")
            c.string("soc_sec_id", "soc_sec_id", method="levenshtein", threshold=0.85, label="soc_sec_id")
        else:
            c.exact("nik", "nik", label="nik")  # one digit off is mostly a neighbour (NIK serial + 1)
            c.string("nama", "nama", method="jarowinkler", threshold=0.85, label="nama")
            c.exact("tanggal_lahir", "tanggal_lahir", label="tanggal_lahir")
            c.exact("jenis_kelamin", "jenis_kelamin", label="jenis_kelamin")
            c.string("nama_ibu", "nama_ibu", method="jarowinkler", threshold=0.85, label="nama_ibu")
            c.exact("no_kk", "no_kk", label="no_kk")
            # one region feature only: desa/kecamatan/kabupaten agreement are nested and break
            # ECM's conditional independence (with all three ECM learns "same region" as match)
            c.exact("kecamatan", "kecamatan", label="kecamatan")
            c.string("tempat_lahir", "tempat_lahir", method="jarowinkler", threshold=0.85, label="tempat_lahir")
        if ds.link_type == "link_only":
            a, b = list(ds.sources)
            return c.compute(cand, df[df["source_dataset"] == a], df[df["source_dataset"] == b])
        return c.compute(cand, df)

    features = sw("compare", compare)

    def classify() -> pd.MultiIndex:
        ecm = rl.ECMClassifier(binarize=0.5)
        return ecm.fit_predict(features.astype(np.int8))

    links = sw("classify", classify)

    def cluster() -> np.ndarray:
        return connected_components(len(order), links.get_level_values(0).to_numpy(np.int64),
                                    links.get_level_values(1).to_numpy(np.int64))

    labels = sw("cluster", cluster)
    pairs = pd.DataFrame({"left": cand.get_level_values(0).to_numpy(np.int64),
                          "right": cand.get_level_values(1).to_numpy(np.int64)})
    return {"membership": _membership(order, labels), "pairs": pairs, "order": order, "stages": sw.stages}


TOOLS = {"regsosek": run_regsosek, "splink": run_splink, "recordlinkage": run_recordlinkage}

#: The modules each tool's run imports, imported by the worker before its timer starts, so
#: that wall time is the run's alone (regsosek_link imports its modules on first use since
#: the lazy package import; an eager one used to do this while the data loaded).
IMPORTS = {
    "regsosek": ("regsosek_link.run", "regsosek_link.pipeline", "regsosek_link.classify", "regsosek_link.compare", "regsosek_link.block",
                 "regsosek_link.cluster", "regsosek_link.registry", "regsosek_link.standardise",
                 "regsosek_link.ingest", "pyarrow.parquet"),
    "splink": ("duckdb", "splink", "splink.comparison_library", "splink.comparison_level_library"),
    "recordlinkage": ("duckdb", "recordlinkage", "regsosek_link.cluster"),
}
