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


def regsosek_config(ds: Dataset):
    from regsosek_link import LinkConfig, SourceConfig

    if ds.kind == "febrl":
        from regsosek_link.datasets.febrl import febrl_config

        return febrl_config(sources=tuple(ds.sources), link_type=ds.link_type)
    sources = tuple(
        SourceConfig(name=name, columns=ds.mappings[name], one_record_per_person=name in ds.single,
                     priority=1 if name in ds.single else 100)
        for name in ds.sources
    )
    return LinkConfig(sources=sources, random_state=0)


def run_regsosek(ds: Dataset) -> dict[str, Any]:
    from regsosek_link import Linker

    result = Linker(regsosek_config(ds)).run(ds.sources)
    order = result.records[["source", "record_id"]].astype(str).reset_index(drop=True)
    return {"membership": result.membership, "pairs": result.pairs[["left", "right"]], "order": order,
            "stages": {k: round(v, 3) for k, v in result.timings.items()}}


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


def _date(col: str) -> str:
    tries = ", ".join(f"try_strptime(trim(CAST({col} AS VARCHAR)), '{f}')" for f in _DATE_FORMATS)
    return f"strftime(coalesce({tries}), '%Y-%m-%d')"


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
        SELECT unique_id, source_dataset,
          {_clean('given_name')} AS given_name, {_clean('surname')} AS surname,
          {_clean('street_number')} AS street_number, {_clean('address_1')} AS address_1,
          {_clean('address_2')} AS address_2, {_clean('suburb')} AS suburb,
          {_clean('postcode')} AS postcode, {_clean('state')} AS state,
          {_date('date_of_birth')} AS date_of_birth, {_clean('soc_sec_id')} AS soc_sec_id,
          substr({_clean('surname')}, 1, 1) AS surname_initial,
          nullif(trim(concat_ws(' ', {_clean('surname')}, {_clean('given_name')})), '') AS name_sorted
        FROM raw_input ORDER BY unique_id"""
    else:
        sql = f"""
        CREATE OR REPLACE TABLE records AS
        WITH a AS (
          SELECT unique_id, source_dataset,
            {_digits_id('nik', 16)} AS nik, {_digits_id('no_kk', 16)} AS no_kk,
            {_clean('nama')} AS nama, {_sex('jenis_kelamin')} AS jenis_kelamin,
            {_clean('tempat_lahir')} AS tempat_lahir, {_date('tanggal_lahir')} AS tanggal_lahir,
            {_clean('nama_ibu')} AS nama_ibu, {_clean('alamat')} AS alamat,
            {_region('desa')} AS desa, {_region('kecamatan')} AS kecamatan,
            {_region('kabupaten')} AS kabupaten
          FROM raw_input)
        SELECT *,
          split_part(nama, ' ', 1) AS nama_first,
          string_split(nama, ' ')[-1] AS nama_last,
          array_to_string(list_sort(string_split(nama, ' ')), ' ') AS nama_sorted,
          substr(tanggal_lahir, 1, 4) AS tahun_lahir,
          substr(nik, 7, 6) AS nik_birth
        FROM a ORDER BY unique_id"""
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
        "l.kabupaten = r.kabupaten AND l.nama_sorted = r.nama_sorted",
        "l.nama_ibu = r.nama_ibu AND l.tahun_lahir = r.tahun_lahir",
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
        region = cl.CustomComparison(
            output_column_name="region",
            comparison_levels=[
                cll.And(cll.NullLevel("kabupaten"), cll.NullLevel("kecamatan")),
                cll.And(cll.ExactMatchLevel("desa"), cll.ExactMatchLevel("kecamatan")),
                cll.ExactMatchLevel("kecamatan"),
                cll.ExactMatchLevel("kabupaten"),
                cll.ElseLevel(),
            ],
        )
        comparisons = [
            cl.LevenshteinAtThresholds("nik", [1, 2]),
            cl.NameComparison("nama").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("tanggal_lahir", input_is_string=True),
            cl.ExactMatch("jenis_kelamin"),
            cl.NameComparison("nama_ibu"),
            cl.LevenshteinAtThresholds("no_kk", [1]),
            region,
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
                ["l.nik = r.nik", "l.nama = r.nama AND l.tanggal_lahir = r.tanggal_lahir"], recall=0.8)
            t.estimate_u_using_random_sampling(max_pairs=5e6, seed=0)
            # block_on("nama") makes Splink 5.0.0's EM fail here (an m probability underflows
            # below 1e-300 and is rejected); NIK + birth date together train every comparison
            t.estimate_parameters_using_expectation_maximisation(block_on("nik"), max_pairs=5e6)
            t.estimate_parameters_using_expectation_maximisation(block_on("tanggal_lahir"), max_pairs=5e6)

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
    return {"membership": _membership(order, labels), "pairs": pairs, "order": order, "stages": sw.stages}


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
            for keys in (["given_name"], ["surname"], ["date_of_birth"], ["soc_sec_id"], ["postcode", "surname_initial"]):
                idx.block(left_on=keys, right_on=keys)
            idx.sortedneighbourhood("name_sorted", window=5)
        else:
            for keys in (["nik"], ["no_kk", "nama_first"], ["tanggal_lahir", "nama_first"],
                         ["tanggal_lahir", "nama_last"], ["nik_birth", "nama_first"],
                         ["tahun_lahir", "kecamatan", "nama"], ["kabupaten", "nama_sorted"],
                         ["nama_ibu", "tahun_lahir"], ["tanggal_lahir", "desa"]):
                idx.block(left_on=keys, right_on=keys)
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
            c.string("nik", "nik", method="levenshtein", threshold=0.85, label="nik")
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
