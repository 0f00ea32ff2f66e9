"""Small literal sources and a fixed model for exact registry tests (not a test module)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from regsosek_link.block import BlockOn
from regsosek_link.classify import FellegiSunter
from regsosek_link.compare import ExactMatch
from regsosek_link.config import LinkConfig, SourceConfig

COLUMNS = {"id": "record_id", "nik": "nik", "nama": "nama", "tgl": "tanggal_lahir", "jk": "jenis_kelamin"}


def config(*names: str) -> LinkConfig:
    """The sources ``names`` (default siak, dtks, bpjs); siak holds one record per person."""
    return LinkConfig(
        sources=tuple(SourceConfig(name=n, columns=COLUMNS, one_record_per_person=(n == "siak"))
                      for n in (names or ("siak", "dtks", "bpjs"))),
        threshold=0.9,
        review_band=(0.2, 0.9),
        blocking_rules=(BlockOn(keys=("nik",)), BlockOn(keys=("tanggal_lahir",))),
        comparisons=(ExactMatch(column="nik"), ExactMatch(column="nama"), ExactMatch(column="tanggal_lahir")),
    )


def model() -> FellegiSunter:
    """agree: nik +9.95, nama +4.25, birth date +4.25 bits; disagree -6.6/-4.25/-4.25;
    prior -3.17. Name and birth date alone: p=0.975 (accepted); NIK and birth date with
    another name: p=0.99; birth date alone: p=0.1."""
    m = FellegiSunter(threshold=0.9)
    m.m_ = [np.array([0.01, 0.99]), np.array([0.05, 0.95]), np.array([0.05, 0.95])]
    m.u_ = [np.array([0.999, 0.001]), np.array([0.95, 0.05]), np.array([0.95, 0.05])]
    m.lambda_ = 0.1
    m.n_levels_ = np.array([2, 2, 2])
    m.n_features_in_ = 3
    m.feature_names_in_ = np.array(["nik", "nama", "tanggal_lahir"], dtype=object)
    m.classes_ = np.array([0, 1])
    m.n_iter_ = 0
    return m


def frame(rows: list[tuple[str, str | None, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["id", "nik", "nama", "tgl", "jk"], dtype="string")


# (Budi's date is a real one: 1 January is a placeholder, and two NIK-less records agreeing on a
# name and a placeholder only are held for review as thin records, see test_near_miss.py)
#: the first run of the store tests (siak and dtks)
RUN1 = {
    "siak": frame([("s1", None, "BUDI", "1980-03-04", "L"), ("s2", None, "SITI", "1985-02-02", "P"),
                   ("s3", None, "JOKO", "1970-07-07", "L")]),
    # d4/d5: one man, typed twice, with his NIK and a longer name
    "dtks": frame([("d1", None, "BUDI", "1980-03-04", "L"),
                   ("d4", "3375010707700001", "JOKO W", "1970-07-07", "L"),
                   ("d5", "3375010707700001", "JOKO W", "1970-07-07", "L")]),
}
