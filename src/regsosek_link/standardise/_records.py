"""The composed standardise stage: raw records -> clean records."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Literal

import numpy as np
import pandas as pd

from regsosek_link._codes import (
    CodeBook,
    Key,
    KeyCodes,
    exact_key,
    leave,
    pick_up,
    register_key,
    with_codes,
)
from regsosek_link._order import RECORD_ID_ENCODING
from regsosek_link._threads import map_in_threads
from regsosek_link.schema import RAW_COLUMNS

from ._address import clean_address, clean_place, parse_rt_rw
from ._common import STRING, expand, factorize, map_distinct
from ._dates import calibrate_placeholders, parse_date_distinct
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


@with_codes
def standardise(raw: pd.DataFrame, *, profile: Literal["indonesian", "generic"] = "indonesian",
                workers: int = 1, date_formats: Mapping[str, str] | None = None,
                dayfirst: Mapping[str, bool] | None = None, judge_placeholders: bool = True,
                placeholder_counts: Mapping[str, np.ndarray] | None = None,
                codes: CodeBook | None = None) -> pd.DataFrame:
    """Standardise raw records into clean records (DESIGN.md, "standardise").

    Parameters
    ----------
    raw : pandas.DataFrame
        Raw records: ``source``, ``record_id`` and any subset of the person schema
        (``regsosek_link.schema.PERSON_COLUMNS``), string-typed; other columns are passed
        through as they are (stripped, empty -> <NA>; not upper-cased: an e-mail address or a
        case-sensitive ID keeps its case).
    profile : {"indonesian", "generic"}, default "indonesian"
        Name cleaning profile (see :func:`clean_name`); other fields are the same.
    workers : int, default 1
        Threads for the independent groups of fields (-1: one per core). The output is the
        same whatever the number.
    date_formats : mapping of str to str, optional
        Source name -> a ``strptime`` format its birth dates are tried with first (see
        :func:`~regsosek_link.standardise.parse_date`).
    dayfirst : mapping of str to bool, optional
        Source name -> whether its numeric birth dates are day-month (default ``True``).
    judge_placeholders : bool, default True
        Keep a date's ``placeholder_*`` status only where its source holds that day markedly
        more often than the days next to it (:func:`~regsosek_link.standardise.unused_placeholders`,
        counted on ``raw``); ``False``: every date on a placeholder day keeps it (an engine
        that standardises in batches judges on all its records afterwards).
    placeholder_counts : mapping of str to numpy.ndarray, optional
        Source name -> month-day counts of its dates already judged
        (:func:`~regsosek_link.standardise.month_day_counts` of a stored registry's records),
        counted with ``raw``'s own: a batch of a stored source is judged as a full run over
        all its records would judge it.

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
    if not isinstance(workers, int) or workers == 0 or workers < -1:
        raise ValueError(f"The 'workers' parameter of standardise must be a positive int or -1. Got {workers!r} instead.")
    if profile not in ("indonesian", "generic"):
        raise ValueError(
            f"The 'profile' parameter of standardise must be 'indonesian' or 'generic'. Got {profile!r} instead."
        )
    date_formats = dict(date_formats or {})
    dayfirst = dict(dayfirst or {})
    for name, value in dayfirst.items():
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(  # noqa: TRY004 - ValueError, as for every bad parameter of standardise
                f"The 'dayfirst' parameter of standardise must map source names to bools. "
                f"Got {value!r} for source {name!r} instead.")
    for name, fmt in date_formats.items():
        if not isinstance(fmt, str) or "%" not in fmt:
            raise ValueError(f"The 'date_formats' parameter of standardise must map source names to strptime "
                             f"formats such as '%d/%m/%Y'. Got {fmt!r} for source {name!r} instead.")
    # sources whose dates are not read the default way (day-month, no format)
    special = sorted(set(date_formats) | {name for name, first in dayfirst.items() if not first})
    extras = [c for c in raw.columns if c not in RAW_COLUMNS]
    clash = [c for c in extras if c in CLEAN_COLUMNS]
    if clash:
        raise ValueError(f"Extra input columns {clash} would overwrite clean-record columns; rename them first.")
    idx = raw.index
    columns = {c: raw[c] for c in raw.columns}

    def col(name: str) -> pd.Series:
        return columns[name] if name in columns else pd.Series(pd.NA, index=idx, dtype=STRING)

    # Each input column is factorized once (pyarrow hashing) and every cleaner works on its
    # distinct values; only the results are expanded back to the rows.
    def distinct(name: str) -> tuple[np.ndarray, pd.Series]:
        return factorize(columns.get(name), index=idx)

    source = distinct("source")  # (read by two groups of fields)

    # the output columns that are functions of row codes (an input's distinct values): the
    # run's shared column codes are then computed from one row per code (``register_key``)
    keys: list[tuple[Key, list[str]]] = []

    def ids_and_codes() -> dict[str, object]:
        codes, u = source
        keys.append((Key((codes, len(u))), ["source"]))
        out = {"source": expand(u, codes, idx), "record_id": columns["record_id"].astype(STRING)}
        for name, clean in (("jenis_kelamin", clean_sex), ("tempat_lahir", clean_place)):
            codes, u = distinct(name)
            keys.append((Key((codes, len(u))), [name]))
            out[name] = expand(clean(u), codes, idx)
        out["hubungan_keluarga"] = clean_relation(col("hubungan_keluarga"))
        for c in extras:
            out[c] = map_distinct(columns[c], _blank_na).astype(STRING)
        return out

    def dates_and_nik() -> dict[str, object]:
        codes, u = distinct("tanggal_lahir")
        dates_u = parse_date_distinct(u)
        if special and "source" in columns:
            # a source read its own way gets its own codes, after the default ones: the codes
            # stay a key of the parsed columns
            codes, dates_u = _per_source_dates(codes, u, dates_u, source, special,
                                               date_formats=date_formats, dayfirst=dayfirst)
        # a placeholder day that a source holds no more often than a real birthday is one
        if judge_placeholders:
            prior = None if not placeholder_counts else [placeholder_counts.get(str(name)) for name in source[1]]
            codes, dates_u = calibrate_placeholders(codes, dates_u, source[0], prior)
        dates = expand(dates_u, codes, idx)
        years_u = dates_u["year"].to_numpy(dtype="float64", na_value=np.nan)
        nik_codes, nik_u = distinct("nik")
        nik = clean_nik_codes(nik_codes, nik_u, idx, kind="nik", years=years_u[codes])
        date_key = Key((codes, len(dates_u)))
        keys.append((date_key, ["tanggal_lahir", "tanggal_lahir_status", "tahun_lahir"]))
        nik_key = Key((nik_codes, len(nik_u)))
        keys.append((Key(partial(_pair_key, nik_key.codes, nik_key.n_keys, date_key.codes, years_u)),
                     ["nik", "nik_status", "nik_birth_date", "nik_sex", "nik_region"]))
        return {
            "nik": nik["nik"], "nik_status": nik["status"],
            "nik_valid": nik["status"].to_numpy(dtype=object, na_value="") == "ok",
            "nik_birth_date": nik["birth_date"], "nik_sex": nik["sex"], "nik_region": nik["region"],
            "tanggal_lahir": dates["tanggal_lahir"], "tanggal_lahir_status": dates["status"],
            "tahun_lahir": dates["year"].astype("Int16"),
        }

    def kk() -> dict[str, object]:
        codes, u = distinct("no_kk")
        keys.append((Key((codes, len(u))), ["no_kk", "kk_status"]))
        res = clean_nik_codes(codes, u, idx, kind="kk")
        return {"no_kk": res["nik"], "kk_status": res["status"],
                "kk_valid": res["status"].to_numpy(dtype=object, na_value="") == "ok"}

    def nama() -> dict[str, object]:
        codes, u = distinct("nama")
        keys.append((Key((codes, len(u))), ["nama", "nama_gelar", "nama_phonetic", "nama_sorted", "nama_tokens_n"]))
        names = expand(clean_name_distinct(u, profile=profile), codes, idx)
        return {"nama": names["nama"], "nama_gelar": names["nama_gelar"], "nama_phonetic": names["nama_phonetic"],
                "nama_sorted": names["nama_sorted"], "nama_tokens_n": names["n_tokens"].astype("Int8")}

    def nama_ibu() -> dict[str, object]:
        codes, u = distinct("nama_ibu")
        keys.append((Key((codes, len(u))), ["nama_ibu", "nama_ibu_phonetic"]))
        ibu = expand(clean_name_distinct(u, profile=profile)[["nama", "nama_phonetic"]], codes, idx)
        return {"nama_ibu": ibu["nama"], "nama_ibu_phonetic": ibu["nama_phonetic"]}

    def address() -> dict[str, object]:
        addr = clean_address(col("alamat"))
        rtrw = parse_rt_rw(col("rt"), col("rw"))
        return {"alamat": addr["alamat"], "no_rumah": addr["no_rumah"],
                "rt": rtrw["rt"].fillna(addr["rt"]).astype("Int16"),
                "rw": rtrw["rw"].fillna(addr["rw"]).astype("Int16")}

    def region() -> dict[str, object]:
        res = resolve_region(code=col("kode_wilayah"), desa=col("desa"), kecamatan=col("kecamatan"),
                             kabupaten=col("kabupaten"), provinsi=col("provinsi"))
        # the code of each level is a prefix of the most specific code
        keys.append((Key(lambda: exact_key(res["kode_wilayah"])), ["kode_prov", "kode_kab", "kode_kec", "kode_desa"]))
        return {c: res[c] for c in ("kode_wilayah", "kode_prov", "kode_kab", "kode_kec", "kode_desa")}

    # The groups are independent; much of their work is pyarrow's (which releases the GIL),
    # so two threads take ~20% off the stage's wall time at 1,004,010 records. Results are
    # merged in the groups' order, so the output is the same on any number of threads.
    out: dict[str, object] = {}
    tasks = (dates_and_nik, nama, ids_and_codes, region, address, kk, nama_ibu)  # longest first
    for group in map_in_threads(lambda task: task(), tasks, workers, "standardise"):
        out.update(group)
    # every Series above is on ``idx``: their arrays go in as they are, without aligning
    records = pd.DataFrame({c: _values(out[c]) for c in [*CLEAN_COLUMNS, *extras]}, index=idx, copy=False)
    for key, names in keys:
        register_key(records, names, key)
    # the record IDs are the raw ones: the Arrow encoding ingest left for them is theirs too
    encoding = pick_up(raw["record_id"], RECORD_ID_ENCODING)
    if encoding is not None:
        leave(records, "record_id", RECORD_ID_ENCODING, encoding)
    return records


def _per_source_dates(codes: np.ndarray, u: pd.Series, dates_u: pd.DataFrame,
                      sources: tuple[np.ndarray, pd.Series], special: list[str], *,
                      date_formats: Mapping[str, str], dayfirst: Mapping[str, bool]) -> tuple[np.ndarray, pd.DataFrame]:
    """Re-parse the distinct dates of the ``special`` sources with their own settings.

    Returns the rows' date codes and the parsed distinct values: the rows of a special
    source point past the default values, at its own parse of each of its distinct values.
    """
    source_codes, source_u = sources
    names = source_u.to_numpy(dtype=object, na_value=None)
    codes = codes.copy()
    parts = [dates_u]
    offset = len(dates_u)
    for name in special:
        hit = np.flatnonzero(names == name)
        if not len(hit):
            continue
        rows = np.flatnonzero(source_codes == hit[0])
        own, inverse = np.unique(codes[rows], return_inverse=True)
        parsed = parse_date_distinct(u.iloc[own], dayfirst=bool(dayfirst.get(name, True)),
                                     date_format=date_formats.get(name))
        codes[rows] = offset + inverse.reshape(-1)
        parts.append(parsed)
        offset += len(parsed)
    return codes, pd.concat(parts, ignore_index=True)


def _pair_key(nik_codes: np.ndarray, n_nik: int, date_codes: np.ndarray, years_u: np.ndarray) -> KeyCodes:
    """Codes of each row's (NIK, recorded year): the NIK's century depends on both.

    A NIK's rows mostly have the year of its first row: they keep the NIK's code; the others
    get a code per pair after those (cheaper than hashing every row's pair).
    """
    year_codes, year_u = pd.factorize(years_u, use_na_sentinel=False)
    year = year_codes[date_codes]
    n = len(nik_codes)
    first = np.full(n_nik, n, dtype=np.int64)
    np.minimum.at(first, nik_codes, np.arange(n, dtype=np.int64))
    other = year != year[first[nik_codes]]
    key = nik_codes.astype(np.int64)
    pair, pair_u = pd.factorize(key[other] * max(len(year_u), 1) + year[other])
    key[other] = n_nik + pair
    return key, n_nik + len(pair_u)


def _values(v: pd.Series | np.ndarray) -> pd.api.extensions.ExtensionArray | np.ndarray:
    return v.array if isinstance(v, pd.Series) else v


def _blank_na(u: pd.Series) -> pd.Series:
    """Distinct (stripped) values of an extra column as they are, a blank one missing: an
    e-mail address or a case-sensitive ID passes through unchanged."""
    return u.mask(u == "", pd.NA).astype(STRING)
