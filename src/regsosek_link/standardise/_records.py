"""The composed standardise stage: raw records -> clean records."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from regsosek_link.schema import RAW_COLUMNS
from ._address import clean_address, clean_place, parse_rt_rw
from ._common import STRING, expand, factorize, map_distinct
from ._dates import parse_date_distinct
from ._names import clean_name_distinct
from ._nik import clean_nik_codes
from ._regions import resolve_region
from ._relation import clean_relation
from ._sex import clean_sex

#: Columns of the clean records, in order (extra input columns follow).
CLEAN_COLUMNS: tuple[str, ...] = (
    "source", "record_id",
    "nik", "nik_status", "nik_valid", "nik_birth_date", "nik_sex", "nik_region",
    "no_kk", "kk_status", "kk_valid",
    "nama", "nama_gelar", "nama_phonetic", "nama_sorted", "nama_tokens_n",
    "nama_ibu", "nama_ibu_phonetic",
    "jenis_kelamin",
    "tanggal_lahir", "tanggal_lahir_status", "tahun_lahir",
    "tempat_lahir",
    "alamat", "no_rumah", "rt", "rw",
    "kode_wilayah", "kode_prov", "kode_kab", "kode_kec", "kode_desa",
    "hubungan_keluarga",
)


def standardise(raw: pd.DataFrame, *, profile: Literal["indonesian", "generic"] = "indonesian") -> pd.DataFrame:
    """Standardise raw records into clean records (DESIGN.md, "standardise").

    Parameters
    ----------
    raw : pandas.DataFrame
        Raw records: ``source``, ``record_id`` and any subset of the person schema
        (``regsosek_link.schema.PERSON_COLUMNS``), string-typed; other columns are passed
        through (stripped, upper-cased, empty -> <NA>).
    profile : {"indonesian", "generic"}, default "indonesian"
        Name cleaning profile (see :func:`clean_name`); other fields are the same.

    Returns
    -------
    pandas.DataFrame
        Same index and row order; the columns of ``CLEAN_COLUMNS`` (all present, <NA> when
        the input column is absent) followed by the extra input columns. Strings are
        ``string`` dtype; ``nik_valid``/``kk_valid`` are ``bool``; ``nama_tokens_n`` is
        ``Int8``; ``tahun_lahir``, ``rt``, ``rw`` are ``Int16``. The NIK's century is
        resolved against the record's own parsed date of birth.

    Examples
    --------
    >>> import pandas as pd
    >>> raw = pd.DataFrame({"source": ["siak"], "record_id": ["1"], "nik": ["3375014508900002"],
    ...                     "nama": ["Hj. Siti Aminah"], "tanggal_lahir": ["05-08-1990"]}, dtype="string")
    >>> out = standardise(raw)
    >>> out.loc[0, ["nik_status", "nik_sex", "nama", "nama_gelar", "tanggal_lahir"]].tolist()
    ['ok', 'P', 'SITI AMINAH', 'HJ', '1990-08-05']
    """
    if not isinstance(raw, pd.DataFrame):
        raise TypeError(f"standardise expects a pandas DataFrame of raw records. Got {type(raw).__name__} instead.")
    if "record_id" not in raw.columns:
        raise ValueError(f"Raw records need a 'record_id' column; columns present: {list(raw.columns)}.")
    if profile not in ("indonesian", "generic"):
        raise ValueError(
            f"The 'profile' parameter of standardise must be 'indonesian' or 'generic'. Got {profile!r} instead."
        )
    extras = [c for c in raw.columns if c not in RAW_COLUMNS]
    clash = [c for c in extras if c in CLEAN_COLUMNS]
    if clash:
        raise ValueError(f"Extra input columns {clash} would overwrite clean-record columns; rename them first.")
    idx = raw.index
    # Each input column is factorized once (pyarrow hashing) and every cleaner works on its
    # distinct values; only the results are expanded back to the rows.

    def distinct(name: str) -> tuple[np.ndarray, pd.Series]:
        return factorize(raw[name] if name in raw.columns else None, index=idx)

    def get(name: str) -> pd.Series:
        codes, u = distinct(name)
        return expand(u, codes, idx)

    out: dict[str, pd.Series | np.ndarray] = {}  # one DataFrame built at the end
    out["source"] = get("source")
    out["record_id"] = raw["record_id"].astype(STRING)

    codes, u = distinct("tanggal_lahir")
    dates_u = parse_date_distinct(u)
    dates = expand(dates_u, codes, idx)
    years = dates_u["year"].to_numpy(dtype="float64", na_value=np.nan)[codes]
    nik = clean_nik_codes(*distinct("nik"), idx, kind="nik", years=years)
    out["nik"] = nik["nik"]
    out["nik_status"] = nik["status"]
    out["nik_valid"] = nik["status"].to_numpy(dtype=object, na_value="") == "ok"
    out["nik_birth_date"] = nik["birth_date"]
    out["nik_sex"] = nik["sex"]
    out["nik_region"] = nik["region"]

    kk = clean_nik_codes(*distinct("no_kk"), idx, kind="kk")
    out["no_kk"] = kk["nik"]
    out["kk_status"] = kk["status"]
    out["kk_valid"] = kk["status"].to_numpy(dtype=object, na_value="") == "ok"

    codes, u = distinct("nama")
    names = expand(clean_name_distinct(u, profile=profile), codes, idx)
    out["nama"] = names["nama"]
    out["nama_gelar"] = names["nama_gelar"]
    out["nama_phonetic"] = names["nama_phonetic"]
    out["nama_sorted"] = names["nama_sorted"]
    out["nama_tokens_n"] = names["n_tokens"].astype("Int8")
    codes, u = distinct("nama_ibu")
    ibu = expand(clean_name_distinct(u, profile=profile)[["nama", "nama_phonetic"]], codes, idx)
    out["nama_ibu"] = ibu["nama"]
    out["nama_ibu_phonetic"] = ibu["nama_phonetic"]

    def raw_col(name: str) -> pd.Series:
        return raw[name] if name in raw.columns else pd.Series(pd.NA, index=idx, dtype=STRING)

    out["jenis_kelamin"] = clean_sex(raw_col("jenis_kelamin"))
    out["tanggal_lahir"] = dates["tanggal_lahir"]
    out["tanggal_lahir_status"] = dates["status"]
    out["tahun_lahir"] = dates["year"].astype("Int16")
    out["tempat_lahir"] = clean_place(raw_col("tempat_lahir"))

    addr = clean_address(raw_col("alamat"))
    rtrw = parse_rt_rw(raw_col("rt"), raw_col("rw"))
    out["alamat"] = addr["alamat"]
    out["no_rumah"] = addr["no_rumah"]
    out["rt"] = rtrw["rt"].fillna(addr["rt"]).astype("Int16")
    out["rw"] = rtrw["rw"].fillna(addr["rw"]).astype("Int16")

    region = resolve_region(
        code=raw_col("kode_wilayah"), desa=raw_col("desa"), kecamatan=raw_col("kecamatan"),
        kabupaten=raw_col("kabupaten"), provinsi=raw_col("provinsi"),
    )
    for c in ("kode_wilayah", "kode_prov", "kode_kab", "kode_kec", "kode_desa"):
        out[c] = region[c]
    out["hubungan_keluarga"] = clean_relation(raw_col("hubungan_keluarga"))

    for c in extras:
        out[c] = map_distinct(raw[c], _upper_or_na).astype(STRING)
    # every Series above is on ``idx``: their arrays go in as they are, without aligning
    return pd.DataFrame({c: v.array if isinstance(v, pd.Series) else v for c, v in out.items()}, index=idx,
                        copy=False)


def _upper_or_na(u: pd.Series) -> pd.Series:
    v = u.str.upper()
    return v.mask(v == "", pd.NA).astype(STRING)
