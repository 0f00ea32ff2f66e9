"""Ministry-style sources drawn from a synthetic population, with errors and ground truth.

Each source has its own coverage, column names, formats and error rates. The rates live in a
:class:`SourceSpec` per source (:data:`DEFAULT_SPECS`), so they are documented parameters, not
hidden constants. All error injection is vectorised: affected rows are chosen with random
masks and edited with numpy character matrices or pandas ``.str`` methods.

Near misses and thin records (issue 18), with the default rates and where they come from:

- NIK serials restart at ``0001`` for each 12-digit prefix (kecamatan of first registration
  x birth date, +40 for women; :func:`regsosek_link.datasets._population._serials`), so two
  people born on one day in neighbouring kecamatans (codes one digit apart) often hold NIKs
  one digit apart, both ending ``0001``. Nothing is injected: the rate follows from the
  population (a few kabupaten per province, consecutive kecamatan codes).
- Serial slips: ``nik_typo`` hits one of the 16 digits uniformly (a quarter in the serial);
  ``nik_transposed`` likewise; ``nik_serial_shift`` (``0001`` keyed ``0010``) 0.3 % in DTKS
  and Regsosek. No published rate exists (DOMAIN.md: "common in practice").
- Thin census records: Regsosek has 22 % NIKs blank and half of those as sentinels (BPS
  practice); ``date_placeholder_if_no_nik`` = 25 % of the records without a NIK carry the
  1 July placeholder of the real year (SIAK's placeholder since 2004; KPK 2021: 17 % of DTKS
  without NIK, so the order of magnitude is that of the sources).
- Initials and truncation: ``name_initials`` (first token), ``name_middle_initial`` (DTKS 3 %,
  Regsosek 4 %, BPJS 5 % of the 3+-token names), BPJS's 20-character name field.
- Old spellings (TJ/C, DJ/J, OE/U, ...): ``name_old_spelling`` of people aged 40+: DTKS 15 %,
  Regsosek 10 %.
- Excel-damaged NIKs (``3.37501E+15``, 15 digits + ``0``): DTKS 3 %, Regsosek 1 %, BPJS 1 %.
- Another RT/RW of the desa than the registered one (``rt_rw_other``): DTKS 5 %, Regsosek 8 %
  (counted where people live), Dapodik 5 %; a guess, no published rate.

Noise levels: ``noise="low"``, ``"typical"`` (the rates above) or ``"harsh"`` multiplies
every error rate by 0.5, 1 or 2 (:data:`NOISE_LEVELS`, :func:`scale_noise`); coverage,
duplicates and the sentinel habit stay, so the same seed gives the same people in each
source at every level.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from .._arrays import NONE
from . import _names as N
from ._population import _INT_STR, DEFAULT_REFERENCE_DATE, ROLE_NAMES, date_parts, zpad

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
#: Values ``pandas.read_csv`` turns into NaN by default; never emitted as data.
_CSV_NA = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
     "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"}
)
SENTINEL_REFUSED = "9999999999999994"
SENTINEL_NO_NIK_UNDER_17 = "9999999999999995"
SENTINEL_NO_NIK_17_PLUS = "9999999999999996"
SENTINEL_FOREIGNER = "9999999999999999"
DUMMY_NIKS: tuple[str, ...] = ("0000000000000000", "1234567890123456", "-", "1111111111111111")


@dataclass(frozen=True, kw_only=True)
class SourceSpec:
    """Coverage and error rates of one synthetic source.

    Every rate is the share of the source's records affected (drawn independently per
    record), unless said otherwise. The NIK error kinds are mutually exclusive: one uniform
    draw per record picks at most one of them, in the order listed.

    Parameters
    ----------
    description : str
        What the source is.
    one_record_per_person : bool, default False
        Whether the source promises at most one record per person.
    coverage : float, default 1.0
        Share of the eligible people (see each source's eligibility rule) included.
    duplicate_rate : float, default 0.0
        Share of included people entered a second time, with extra variation (retyped
        name, dropped NIK, ...).
    nik_missing, nik_typo, nik_transposed, nik_shared, nik_excel, nik_15_digits, nik_sentinel, nik_dummy : float
        NIK left blank; one digit mistyped; two adjacent digits swapped; copied from a family
        member; Excel-damaged (``3.37501E+15`` or 15 significant digits + ``0``); a digit
        dropped (15 digits); a BPS survey sentinel (``9999999999999994/95/96/99``); a dummy
        (all zeros, ``1234567890123456``, ``-``).
    nik_serial_shift : float, default 0.0
        The serial's digits shifted by one place (``0001`` keyed as ``0010``, ``0012`` as
        ``0120``): a keying slip of the same kind as a transposition, confined to the
        serial, where the next person of the same kecamatan and birth date is a digit away.
    nik_sentinel_if_none : float, default 0.0
        Share of people *without* a NIK recorded with a sentinel instead of a blank.
    nik_apostrophe : float, default 0.0
        A leading ``'`` (text-forced spreadsheet cell) on a non-missing NIK/KK.
    kk_missing, kk_invalid : float
        KK blank; KK mistyped or replaced by the person's NIK.
    name_typo : float
        One character substituted, deleted, inserted or two swapped.
    name_old_spelling : float
        Share of records *of people aged 40+* written in pre-1972 spelling (DJOKO, TJAHJO).
    name_variant : float
        Variant spelling or abbreviation of a common token (MOH., ACHMAD, ST., NOOR, ...),
        for the records whose name contains such a token.
    name_title : float
        Adults only: a title or degree added (H., Hj., Drs., S.Pd., ...).
    name_initials : float
        First token abbreviated to an initial (``M. RIZKI``) if the name has 2+ tokens.
    name_middle_initial : float
        A middle token cut to its initial (``AHMAD F. HIDAYAT``, ``SITI N RAHAYU``) if the
        name has 3+ tokens: short form fields and enumerators' shorthand.
    name_drop_token, name_add_token, name_token_order : float
        Last token dropped (2+ tokens); a common token appended; first two tokens swapped.
    name_case, name_noise : float
        Name in lower or title case; stray punctuation or whitespace.
    name_max_length : int or None, default None
        Field length: longer names are truncated.
    date_missing, date_day_month_swap, date_year_typo, date_placeholder : float
        Birth date blank; day and month swapped (when both are <= 12); year off by 1 or 10;
        an official placeholder (1 July / 31 December) instead of the real date.
    date_placeholder_if_no_nik : float, default 0.0
        Share of the records *without a usable NIK* (blank or sentinel) whose birth date is
        the 1 July placeholder of the real year: a census enumerator who sees no card
        writes the year the respondent says and SIAK's placeholder day. These are the thin
        records: no NIK, a placeholder date, only a name and a village left.
    mother_name_error : float
        Mother's name with a typo, a variant spelling or a title.
    field_missing : float
        Each other descriptive field (birth place, address, mother's name, ...) blank.
    address_variant : float
        Address written with other abbreviations (``JLN.``, ``JALAN``, ``GANG``, ``NO``).
    rt_rw_other : float
        Another RT of the desa than the registered one (a third of them also another RW):
        the person lives elsewhere in the desa than the family card says (a census counts
        people where they live), moved, or the RT was keyed wrong. No published rate; SIAK,
        the registration itself, has none.
    """

    description: str
    one_record_per_person: bool = False
    coverage: float = 1.0
    duplicate_rate: float = 0.0
    nik_missing: float = 0.0
    nik_typo: float = 0.0
    nik_transposed: float = 0.0
    nik_shared: float = 0.0
    nik_excel: float = 0.0
    nik_15_digits: float = 0.0
    nik_sentinel: float = 0.0
    nik_dummy: float = 0.0
    nik_serial_shift: float = 0.0
    nik_sentinel_if_none: float = 0.0
    nik_apostrophe: float = 0.0
    kk_missing: float = 0.0
    kk_invalid: float = 0.0
    name_typo: float = 0.0
    name_old_spelling: float = 0.0
    name_variant: float = 0.0
    name_title: float = 0.0
    name_initials: float = 0.0
    name_middle_initial: float = 0.0
    name_drop_token: float = 0.0
    name_add_token: float = 0.0
    name_token_order: float = 0.0
    name_case: float = 0.0
    name_noise: float = 0.0
    name_max_length: int | None = None
    date_missing: float = 0.0
    date_day_month_swap: float = 0.0
    date_year_typo: float = 0.0
    date_placeholder: float = 0.0
    date_placeholder_if_no_nik: float = 0.0
    mother_name_error: float = 0.0
    field_missing: float = 0.0
    address_variant: float = 0.0
    rt_rw_other: float = 0.0

    def __post_init__(self) -> None:
        bad = [
            f.name for f in dataclasses.fields(self)
            if isinstance(getattr(self, f.name), float)
            and not 0.0 <= getattr(self, f.name) <= 1.0
        ]
        if bad:
            raise ValueError(
                "SourceSpec rates must be floats in [0, 1]. Got "
                + ", ".join(f"{b}={getattr(self, b)!r}" for b in bad) + " instead."
            )
        nik_total = sum(getattr(self, k) for k in _NIK_KINDS)
        if nik_total > 1.0:
            raise ValueError(
                f"SourceSpec NIK error rates ({', '.join(_NIK_KINDS)}) must sum to at most 1. "
                f"Got {nik_total!r} instead."
            )


_NIK_KINDS: tuple[str, ...] = (
    "nik_missing", "nik_typo", "nik_transposed", "nik_shared", "nik_excel", "nik_15_digits",
    "nik_sentinel", "nik_dummy", "nik_serial_shift",
)

#: Default specs of the five sources (override with :func:`dataclasses.replace`).
DEFAULT_SPECS: Mapping[str, SourceSpec] = {
    "siak": SourceSpec(
        description="SIAK civil registry (Dukcapil): everybody with a NIK, clean, the reference.",
        one_record_per_person=True, coverage=0.97,
        nik_typo=0.001, kk_invalid=0.002, name_typo=0.005, name_title=0.03,
        name_variant=0.02, date_day_month_swap=0.002, field_missing=0.01,
    ),
    "dtks": SourceSpec(
        description="DTKS social-welfare list (Kemensos): poorer households, duplicated and "
                    "messy identifiers.",
        coverage=0.92, duplicate_rate=0.04,
        nik_missing=0.12, nik_typo=0.03, nik_transposed=0.02, nik_shared=0.02,
        nik_excel=0.03, nik_15_digits=0.01, nik_dummy=0.005, nik_serial_shift=0.003,
        nik_apostrophe=0.05,
        kk_missing=0.05, kk_invalid=0.12,
        name_typo=0.04, name_old_spelling=0.15, name_variant=0.25, name_title=0.08,
        name_initials=0.02, name_middle_initial=0.03, name_drop_token=0.03, name_add_token=0.01,
        name_token_order=0.01, name_case=0.05, name_noise=0.04,
        date_missing=0.02, date_day_month_swap=0.02, date_year_typo=0.02,
        date_placeholder=0.03, mother_name_error=0.1, field_missing=0.05, address_variant=0.3,
        rt_rw_other=0.05,
    ),
    "regsosek": SourceSpec(
        description="Regsosek 2022 census (BPS): everybody incl. homeless people and ship "
                    "crews, enumerator typing.",
        coverage=0.90,
        nik_missing=0.22, nik_typo=0.03, nik_transposed=0.015, nik_excel=0.01,
        nik_15_digits=0.01, nik_sentinel=0.02, nik_serial_shift=0.003, nik_sentinel_if_none=0.5,
        kk_missing=0.3, kk_invalid=0.05,
        name_typo=0.08, name_old_spelling=0.10, name_variant=0.15, name_initials=0.02,
        name_middle_initial=0.04, name_drop_token=0.05, name_add_token=0.01,
        name_token_order=0.01, name_noise=0.02,
        date_missing=0.03, date_day_month_swap=0.03, date_year_typo=0.03,
        date_placeholder=0.01, date_placeholder_if_no_nik=0.25, field_missing=0.03,
        address_variant=0.3, rt_rw_other=0.08,
    ),
    "dapodik": SourceSpec(
        description="Dapodik school records (Kemendikbud): pupils aged 6-18 with NISN and "
                    "mother's name.",
        coverage=0.93, duplicate_rate=0.02,
        nik_missing=0.06, nik_typo=0.02, nik_transposed=0.01, nik_shared=0.005,
        name_typo=0.03, name_variant=0.1, name_initials=0.01, name_drop_token=0.02,
        name_case=0.1, name_noise=0.02,
        date_missing=0.005, date_day_month_swap=0.01, date_year_typo=0.01,
        mother_name_error=0.15, field_missing=0.03, address_variant=0.3, rt_rw_other=0.05,
    ),
    "bpjs_pbi": SourceSpec(
        description="BPJS Kesehatan PBI-JKN (insured poor): card number, short name field.",
        coverage=0.85, duplicate_rate=0.01,
        nik_missing=0.02, nik_typo=0.015, nik_transposed=0.01, nik_excel=0.01,
        kk_missing=0.2, kk_invalid=0.05,
        name_typo=0.03, name_variant=0.2, name_initials=0.12, name_middle_initial=0.05,
        name_drop_token=0.02, name_noise=0.01, name_max_length=20,
        date_missing=0.01, date_day_month_swap=0.01, date_year_typo=0.01,
        date_placeholder=0.02, field_missing=0.02,
    ),
}

SOURCE_NAMES: tuple[str, ...] = tuple(DEFAULT_SPECS)

#: Named noise levels of :func:`generate_sources` (``noise=``): the factor every error rate
#: of the specs is multiplied by. ``typical`` is :data:`DEFAULT_SPECS` as they are.
NOISE_LEVELS: Mapping[str, float] = {"low": 0.5, "typical": 1.0, "harsh": 2.0}

#: Spec fields that are not error rates and that ``noise`` leaves alone: who is in the
#: source (coverage, duplicates) and how a source writes a missing NIK (its sentinel habit).
_NOT_NOISE = frozenset({"coverage", "duplicate_rate", "nik_sentinel_if_none"})


def scale_noise(spec: SourceSpec, noise: float | str) -> SourceSpec:
    """``spec`` with every error rate multiplied by ``noise`` (a factor or a name from
    :data:`NOISE_LEVELS`), capped at 1.

    Coverage, duplicates and a source's sentinel habit are not errors and stay. When the
    scaled NIK error kinds would sum above 1, they are scaled down together to sum to 1.

    >>> scale_noise(DEFAULT_SPECS["dtks"], "harsh").name_typo
    0.08
    """
    factor = _noise_factor(noise)
    rates = {f.name: min(1.0, getattr(spec, f.name) * factor) for f in dataclasses.fields(spec)
             if isinstance(getattr(spec, f.name), float) and f.name not in _NOT_NOISE}
    nik_total = sum(rates[k] for k in _NIK_KINDS)
    if nik_total > 1.0:
        rates.update({k: rates[k] / nik_total for k in _NIK_KINDS})
    return dataclasses.replace(spec, **rates)


def _noise_factor(noise: float | str) -> float:
    if isinstance(noise, str):
        if noise not in NOISE_LEVELS:
            raise ValueError(f"The 'noise' parameter must be one of {list(NOISE_LEVELS)} or a factor >= 0. "
                             f"Got {noise!r} instead.")
        return NOISE_LEVELS[noise]
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
        raise ValueError(f"The 'noise' parameter must be one of {list(NOISE_LEVELS)} or a factor >= 0. "
                         f"Got {noise!r} instead.")
    return float(noise)


@dataclass(frozen=True, kw_only=True)
class SyntheticSources:
    """Synthetic sources with their column mappings and ground truth.

    Attributes
    ----------
    sources : dict of str to pandas.DataFrame
        Raw source tables, every column of pandas ``string`` dtype, own column names.
    mappings : dict of str to dict of str to str
        Per source: own column name -> person-schema column (always incl. ``record_id``).
    truth : pandas.DataFrame
        ``source, record_id, person_id`` (``string``): one row per source record.
    source_info : dict of str to dict
        Per source: ``{"description": str, "one_record_per_person": bool}``.
    population : pandas.DataFrame
        The population the sources were drawn from (see ``generate_population``).
    specs : dict of str to SourceSpec
        The specs used.
    """

    sources: dict[str, pd.DataFrame]
    mappings: dict[str, dict[str, str]]
    truth: pd.DataFrame
    source_info: dict[str, dict]
    population: pd.DataFrame
    specs: dict[str, SourceSpec] = field(default_factory=dict)

    def write(
        self, folder: str | pathlib.Path, *, format: Literal["csv", "parquet"] = "csv"
    ) -> dict[str, pathlib.Path]:
        """Write one file per source plus ``truth``.

        CSV files are written so that ``pandas.read_csv(path, dtype=str)`` gives back the
        same values (missing as empty fields; no value is ever a pandas NA marker).

        Parameters
        ----------
        folder : str or pathlib.Path
            Created if needed.
        format : {"csv", "parquet"}, default "csv"

        Returns
        -------
        dict of str to pathlib.Path
            Source name (and ``"truth"``) -> written file.
        """
        if format not in ("csv", "parquet"):
            raise ValueError(
                f"The 'format' parameter of SyntheticSources.write must be 'csv' or "
                f"'parquet'. Got {format!r} instead."
            )
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out: dict[str, pathlib.Path] = {}
        for name, df in [*self.sources.items(), ("truth", self.truth)]:
            path = folder / f"{name}.{format}"
            if format == "csv":
                df.to_csv(path, index=False)
            else:
                df.to_parquet(path, index=False)
            out[name] = path
        return out


# --------------------------------------------------------------------------------------
# Vectorised string editing
# --------------------------------------------------------------------------------------
def _lens(s: np.ndarray) -> np.ndarray:
    return np.fromiter(map(len, s), dtype=np.int64, count=len(s))


def char_edit(
    rng: np.random.Generator, s: np.ndarray, *, ops: Sequence[str], alphabet: str
) -> np.ndarray:
    """Apply one random character edit per string, vectorised over a character matrix.

    Parameters
    ----------
    rng : numpy.random.Generator
    s : numpy.ndarray of str (object)
        Non-missing strings; strings shorter than 2 characters are returned unchanged.
    ops : sequence of {"sub", "del", "ins", "swap"}
        Edits to choose from uniformly per string.
    alphabet : str
        Characters used for substitutions and insertions.

    Returns
    -------
    numpy.ndarray
        Edited strings (object dtype).
    """
    n = len(s)
    if n == 0:
        return s.astype(object)
    lens = _lens(s)
    width = int(lens.max()) + 1
    mat = np.asarray(s, dtype=f"U{width}").view(np.uint32).reshape(n, width).copy()
    op = np.asarray(ops)[rng.integers(0, len(ops), n)]
    pos = np.minimum((rng.random(n) * np.maximum(lens - 1, 1)).astype(np.int64),
                     np.maximum(lens - 2, 0))
    letters = np.frombuffer(alphabet.encode("utf-32-le"), dtype=np.uint32)
    j = rng.integers(0, len(letters), n)
    new = letters[j]
    rows = np.arange(n)
    ok = lens >= 2
    cols = np.arange(width)[None, :]
    # substitution: make sure the character really changes
    sub = ok & (op == "sub")
    new = np.where(mat[rows, pos] == new, letters[(j + 1) % len(letters)], new)
    mat[rows[sub], pos[sub]] = new[sub]
    # swap with the next character
    sw = ok & (op == "swap")
    a = mat[rows[sw], pos[sw]].copy()
    mat[rows[sw], pos[sw]] = mat[rows[sw], pos[sw] + 1]
    mat[rows[sw], pos[sw] + 1] = a
    # deletion: shift left from pos
    de = ok & (op == "del")
    if de.any():
        src = np.minimum(cols + (cols >= pos[de, None]), width - 1)
        shifted = np.take_along_axis(mat[de], src, axis=1)
        shifted[:, -1] = 0
        mat[de] = shifted
    # insertion: shift right from pos, put the new letter at pos (the last column is free)
    ins = ok & (op == "ins")
    if ins.any():
        src = np.maximum(cols - (cols > pos[ins, None]), 0)
        shifted = np.take_along_axis(mat[ins], src, axis=1)
        shifted[np.arange(int(ins.sum())), pos[ins] + 1] = new[ins]
        mat[ins] = shifted
    return mat.view(f"U{width}").ravel().astype(object)


def _where_apply(
    values: np.ndarray, mask: np.ndarray, func: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Replace ``values[mask]`` (non-missing only) by ``func(values[mask])``."""
    sel = np.flatnonzero(mask)
    if len(sel) == 0:
        return values
    sel = sel[pd.notna(values[sel])]
    if len(sel) == 0:
        return values
    values = values.copy()
    values[sel] = func(values[sel])
    return values


def _per_unique(values: np.ndarray, func: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a deterministic vectorised transform once per distinct value.

    Names repeat a lot (Zipf), so transforming the distinct values and indexing back is
    much cheaper than transforming every row.
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    out = np.asarray(func(np.asarray(uniques, dtype=object)), dtype=object)
    return np.where(codes >= 0, out[codes], NONE)


def _str(values: np.ndarray) -> pd.Series:
    return pd.Series(values, dtype=object)


def _map_unique(values: np.ndarray, func: Callable[[str], str | None]) -> np.ndarray:
    """Apply a Python function once per distinct value (regions, codes)."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object), use_na_sentinel=True)
    mapped = np.array([func(u) for u in uniques] + [None], dtype=object)
    return mapped[codes]


_OLD = {"KH": "CH", "SY": "SJ", "NY": "NJ", "C": "TJ", "J": "DJ", "Y": "J", "U": "OE"}


def _old_spelling(s: np.ndarray) -> np.ndarray:
    return _per_unique(s, lambda u: _str(u).str.replace(
        r"KH|SY|NY|C|J|Y|U", lambda m: _OLD[m.group()], regex=True).to_numpy(dtype=object))


_VARIANT_RE = r"\b(" + "|".join(sorted(N.TOKEN_VARIANTS, key=len, reverse=True)) + r")\b"


def _variants(rng: np.random.Generator, s: np.ndarray) -> np.ndarray:
    """Replace the first common token of each name by one of its variant spellings."""
    out = np.asarray(s, dtype=object).copy()
    codes, uniques = pd.factorize(out)
    found = _str(np.asarray(uniques, dtype=object)).str.extract(_VARIANT_RE, expand=False)
    token = found.to_numpy(dtype=object)[codes]
    for key, alts in N.TOKEN_VARIANTS.items():
        has = np.flatnonzero(token == key)
        if len(has) == 0:
            continue
        pick = rng.integers(0, len(alts), len(has))
        pat = rf"\b{key}\b"
        for i, alt in enumerate(alts):
            sel = has[pick == i]
            if len(sel):
                def swap(u: np.ndarray, alt: str = alt, pat: str = pat) -> np.ndarray:
                    return _str(u).str.replace(pat, alt, n=1, regex=True).to_numpy(dtype=object)

                out[sel] = _per_unique(out[sel], swap)
    return out


def _regex(pattern: str, repl: str) -> Callable[[np.ndarray], np.ndarray]:
    def f(x: np.ndarray) -> np.ndarray:
        return _per_unique(x, lambda u: _str(u).str.replace(pattern, repl, regex=True)
                           .to_numpy(dtype=object))
    return f


def _middle_initial(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """A function cutting the second token of each name to its initial, with a dot or
    without (``AHMAD FAUZI HIDAYAT`` -> ``AHMAD F. HIDAYAT`` / ``AHMAD F HIDAYAT``)."""
    def f(x: np.ndarray) -> np.ndarray:
        dot = rng.random(len(x)) < 0.6
        out = np.asarray(x, dtype=object).copy()
        out[dot] = _regex(r"^(\S+\s+\w)\w*", r"\1.")(out[dot])
        out[~dot] = _regex(r"^(\S+\s+\w)\w*", r"\1")(out[~dot])
        return out
    return f


def _name_errors(
    rng: np.random.Generator, nama: np.ndarray, *, female: np.ndarray, age: np.ndarray,
    spec: SourceSpec,
) -> np.ndarray:
    n = len(nama)
    ntok = _per_unique(nama, lambda u: 1 + _str(u).str.count(" ").to_numpy())
    ntok = np.where(pd.isna(ntok), 0, ntok).astype(np.int64)

    def m(rate: float) -> np.ndarray:
        return rng.random(n) < rate

    nama = _where_apply(nama, m(spec.name_old_spelling) & (age >= 40), _old_spelling)
    nama = _where_apply(nama, m(spec.name_variant), lambda x: _variants(rng, x))
    nama = _where_apply(nama, m(spec.name_initials) & (ntok >= 2),
                        _regex(r"^(\w)\w*\s", r"\1. "))
    if spec.name_middle_initial > 0:  # (no draw at rate 0: other sources' streams unchanged)
        nama = _where_apply(nama, m(spec.name_middle_initial) & (ntok >= 3), _middle_initial(rng))
    nama = _where_apply(nama, m(spec.name_drop_token) & (ntok >= 2), _regex(r"\s+\S+$", ""))
    add = m(spec.name_add_token)
    extra = np.where(female, " PUTRI", " SAPUTRA").astype(object)
    nama = _where_apply(nama, add & female, lambda x: x + " PUTRI")
    nama = _where_apply(nama, add & ~female, lambda x: x + " SAPUTRA")
    del extra
    nama = _where_apply(nama, m(spec.name_token_order) & (ntok >= 2),
                        _regex(r"^(\S+)\s+(\S+)", r"\2 \1"))
    nama = _where_apply(nama, m(spec.name_typo), lambda x: char_edit(
        rng, x, ops=("sub", "del", "ins", "swap"), alphabet=_UPPER))
    # titles and degrees (adults only)
    tit = m(spec.name_title) & (age >= 22) & pd.notna(nama)
    if tit.any():
        k = int(tit.sum())
        pre_m = N.TITLE_PREFIX_M
        pre = np.where(female[tit], np.asarray(N.TITLE_PREFIX_F, dtype=object)[
            rng.integers(0, len(N.TITLE_PREFIX_F), k)],
            np.asarray(pre_m, dtype=object)[rng.integers(0, len(pre_m), k)])
        suf = np.asarray(N.TITLE_SUFFIX, dtype=object)[rng.integers(0, len(N.TITLE_SUFFIX), k)]
        u = rng.random(k)
        nama = nama.copy()
        cur = nama[tit]
        nama[tit] = np.where(u < 0.55, pre + " " + cur,
                             np.where(u < 0.85, cur + ", " + suf, pre + " " + cur + ", " + suf))
    nama = _where_apply(nama, m(spec.name_case), lambda x: np.where(
        rng.random(len(x)) < 0.5, _str(x).str.title(), _str(x).str.lower()).astype(object))
    noise = m(spec.name_noise)
    if noise.any():
        kind = rng.integers(0, 4, n)
        nama = _where_apply(nama, noise & (kind == 0), lambda x: " " + x)
        nama = _where_apply(nama, noise & (kind == 1), lambda x: x + ".")
        nama = _where_apply(nama, noise & (kind == 2), lambda x: _str(x).str.replace(
            " ", "  ", n=1, regex=False).to_numpy(dtype=object))
        nama = _where_apply(nama, noise & (kind == 3), lambda x: x + " ,")
    if spec.name_max_length is not None:
        width = spec.name_max_length
        nama = _per_unique(nama, lambda u: _str(u).str[:width].str.rstrip().to_numpy(
            dtype=object))
    return nama


def _excel(nik: np.ndarray) -> np.ndarray:
    s = _str(nik)
    sci = s.str[0] + "." + s.str[1:6].str.rstrip("0") + "E+15"
    sci = sci.str.replace(".E", "E", regex=False)
    full = s.str[:15] + "0"
    return np.where(np.arange(len(s)) % 3 == 0, full, sci).astype(object)


def _serial_shift(nik: np.ndarray) -> np.ndarray:
    """The serial (last four digits) shifted one place left (``0001`` -> ``0010``) or, when
    that would overflow, right (``1200`` -> ``0120``)."""
    s = _str(nik)
    ok = s.str.fullmatch(r"[0-9]{16}").fillna(False).to_numpy(bool)
    out = np.asarray(nik, dtype=object).copy()
    if not ok.any():
        return out
    serial = s[ok].str[12:].astype(np.int64).to_numpy()
    shifted = np.where(serial < 1000, serial * 10, serial // 10)
    out[ok] = (s[ok].str[:12] + pd.Series(shifted).map("{:04d}".format).to_numpy()).to_numpy(dtype=object)
    return out


def _nik_errors(
    rng: np.random.Generator, nik: np.ndarray, *, family_nik: np.ndarray, age: np.ndarray,
    spec: SourceSpec,
) -> np.ndarray:
    n = len(nik)
    nik = nik.copy()
    u = rng.random(n)
    edges = np.cumsum([getattr(spec, k) for k in _NIK_KINDS])
    kind = np.searchsorted(edges, u, side="right")  # len(_NIK_KINDS) = untouched
    has = pd.notna(nik)
    none_sentinel = ~has & (rng.random(n) < spec.nik_sentinel_if_none)
    for i, k in enumerate(_NIK_KINDS):
        sel = kind == i
        if k == "nik_missing":
            nik[sel] = None
        elif k == "nik_typo":
            nik = _where_apply(nik, sel, lambda x: char_edit(rng, x, ops=("sub",),
                                                              alphabet=_DIGITS))
        elif k == "nik_transposed":
            nik = _where_apply(nik, sel, lambda x: char_edit(rng, x, ops=("swap",),
                                                              alphabet=_DIGITS))
        elif k == "nik_15_digits":
            nik = _where_apply(nik, sel, lambda x: char_edit(rng, x, ops=("del",),
                                                              alphabet=_DIGITS))
        elif k == "nik_shared":
            nik[sel & has] = family_nik[sel & has]
        elif k == "nik_excel":
            nik = _where_apply(nik, sel, _excel)
        elif k == "nik_sentinel":
            none_sentinel |= sel
        elif k == "nik_serial_shift":
            nik = _where_apply(nik, sel, _serial_shift)
        elif k == "nik_dummy":
            nik[sel] = np.asarray(DUMMY_NIKS, dtype=object)[rng.integers(0, len(DUMMY_NIKS),
                                                                         int(sel.sum()))]
    if none_sentinel.any():
        r = rng.random(n)
        sent = np.where(r < 0.1, SENTINEL_REFUSED, np.where(
            age < 17, SENTINEL_NO_NIK_UNDER_17, SENTINEL_NO_NIK_17_PLUS))
        sent = np.where(r > 0.98, SENTINEL_FOREIGNER, sent)
        nik[none_sentinel] = sent[none_sentinel]
    return nik


def _apostrophe(rng: np.random.Generator, ids: np.ndarray, rate: float) -> np.ndarray:
    return _where_apply(ids, rng.random(len(ids)) < rate, lambda x: "'" + x)


def _kk_errors(rng: np.random.Generator, kk: np.ndarray, *, nik: np.ndarray, spec: SourceSpec
               ) -> np.ndarray:
    n = len(kk)
    u = rng.random(n)
    kk = kk.copy()
    kk[u < spec.kk_missing] = None
    bad = (u >= spec.kk_missing) & (u < spec.kk_missing + spec.kk_invalid)
    half = rng.random(n) < 0.5
    kk = _where_apply(kk, bad & half, lambda x: char_edit(rng, x, ops=("sub", "del", "swap"),
                                                           alphabet=_DIGITS))
    use_nik = bad & ~half & pd.notna(nik)
    kk[use_nik] = nik[use_nik]
    return kk


def _date_errors(
    rng: np.random.Generator, y: np.ndarray, m: np.ndarray, d: np.ndarray, *, spec: SourceSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n = len(y)
    y, m, d = y.copy(), m.copy(), d.copy()
    ph = rng.random(n) < spec.date_placeholder
    jul = rng.random(n) < 0.5
    m[ph] = np.where(jul[ph], 7, 12)
    d[ph] = np.where(jul[ph], 1, 31)
    sw = (rng.random(n) < spec.date_day_month_swap) & (d <= 12) & (d != m)
    m[sw], d[sw] = d[sw], m[sw]
    yt = rng.random(n) < spec.date_year_typo
    y[yt] += np.asarray([-10, -1, 1, 10])[rng.integers(0, 4, int(yt.sum()))]
    missing = rng.random(n) < spec.date_missing
    return y, m, d, missing


def _address_variants(rng: np.random.Generator, alamat: np.ndarray, rate: float) -> np.ndarray:
    def f(x: np.ndarray) -> np.ndarray:
        s = _str(x)
        k = rng.integers(0, 3, len(s))
        s = s.where(k != 0, s.str.replace("JL. ", "JLN. ", regex=False)
                    .str.replace("GG. ", "GANG ", regex=False))
        s = s.where(k != 1, s.str.replace("JL. ", "JALAN ", regex=False)
                    .str.replace("DK. ", "DUKUH ", regex=False).str.replace("NO. ", "NO ",
                                                                            regex=False))
        s = s.where(k != 2, s.str.replace("DUSUN ", "DSN. ", regex=False)
                    .str.replace("NO. ", "NO.", regex=False).str.title())
        return s.to_numpy(dtype=object)

    return _where_apply(alamat, rng.random(len(alamat)) < rate, f)


def _blank(rng: np.random.Generator, values: np.ndarray, rate: float) -> np.ndarray:
    if rate <= 0:
        return values
    values = values.copy()
    values[rng.random(len(values)) < rate] = None
    return values


# --------------------------------------------------------------------------------------
# Source construction
# --------------------------------------------------------------------------------------
class _Pop:
    """The population as numpy arrays, computed once for all sources."""

    # the person columns as object arrays (None where missing), set in __init__
    person_id: np.ndarray
    nik: np.ndarray
    no_kk: np.ndarray
    nama: np.ndarray
    tempat_lahir: np.ndarray
    nama_ibu: np.ndarray
    alamat: np.ndarray
    rt: np.ndarray
    rw: np.ndarray
    kode_wilayah: np.ndarray
    desa: np.ndarray
    kecamatan: np.ndarray
    kabupaten: np.ndarray
    provinsi: np.ndarray

    def __init__(self, pop: pd.DataFrame, reference_date: str) -> None:
        def col(c: str) -> np.ndarray:
            return pop[c].to_numpy(dtype=object, na_value=None)

        self.n = len(pop)
        for c in ("person_id", "nik", "no_kk", "nama", "tempat_lahir", "nama_ibu", "alamat",
                  "rt", "rw", "kode_wilayah", "desa", "kecamatan", "kabupaten", "provinsi"):
            setattr(self, c, col(c))
        self.female = (pop["jenis_kelamin"] == "P").to_numpy(dtype=bool)
        self.birth = pop["tanggal_lahir"].to_numpy(dtype=str).astype("datetime64[D]")
        ref = np.datetime64(reference_date, "D")
        self.age = (ref - self.birth).astype(np.int64) / 365.25
        self.role = pd.Categorical(pop["hubungan_keluarga"].astype(object),
                                   categories=ROLE_NAMES).codes.astype(np.int64)
        self.hh = pd.factorize(pop["household_id"])[0]
        self.is_homeless = pop["is_homeless"].to_numpy(dtype=bool)
        self.is_crew = pop["is_ship_crew"].to_numpy(dtype=bool)
        self.poverty = pop["poverty_score"].to_numpy(dtype=float)
        self.vil, uniq = pd.factorize(pop["kode_wilayah"].astype(object))
        first = pd.Series(np.arange(self.n)).groupby(self.vil).first().to_numpy()
        self.villages = {c: [None if pd.isna(v) else v for v in pop[c].to_numpy(dtype=object)[
            first]] for c in ("kode_wilayah", "desa", "kecamatan", "kabupaten", "provinsi")}
        del uniq
        # a family member's NIK (the head's; for a head the next member's), for sharing
        first = pd.Series(np.arange(self.n)).groupby(self.hh).transform("first").to_numpy()
        nxt = np.minimum(np.arange(self.n) + 1, self.n - 1)
        other = np.where(first == np.arange(self.n),
                         np.where(self.hh[nxt] == self.hh, nxt, np.arange(self.n)), first)
        fam = self.nik[other]
        self.family_nik = np.where(pd.notna(fam), fam, self.nik)


def _rows(rng: np.random.Generator, eligible: np.ndarray, spec: SourceSpec
          ) -> tuple[np.ndarray, np.ndarray]:
    """Person indices of the records (people + duplicates) and the duplicate flag."""
    people = np.flatnonzero(eligible & (rng.random(len(eligible)) < spec.coverage))
    dup = people[rng.random(len(people)) < spec.duplicate_rate]
    idx = np.r_[people, dup]
    is_dup = np.r_[np.zeros(len(people), bool), np.ones(len(dup), bool)]
    order = rng.permutation(len(idx))
    return idx[order], is_dup[order]


def _record_ids(rng: np.random.Generator, n: int, *, width: int, prefix: str = "") -> np.ndarray:
    """Increasing random-gap numbers (the rows are already shuffled)."""
    num = rng.integers(10 ** (width - 2), 10 ** (width - 1)) + np.cumsum(rng.integers(1, 9, n))
    return prefix + zpad(num, width)


def _region(c: dict[str, np.ndarray], col: str, func: Callable[[str], str | None]
            ) -> np.ndarray:
    """A region column formatted by ``func``, computed once per village."""
    table = c["_villages"]
    return np.array([func(v) for v in table[col]] + [None], dtype=object)[c["_vil"]]


_PAD2 = np.array([f"{i:02d}" for i in range(100)], dtype=object)
_YEARS = np.array([f"{i:04d}" for i in range(10_000)], dtype=object)


def _ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    return _YEARS[np.clip(y, 0, 9999)], _PAD2[m], _PAD2[d]


_HUB_CODE = np.array(["1", "2", "2", "3", "6", "5", "7"], dtype=object)  # by ROLE_NAMES


def _dotted(code: str | None) -> str | None:
    if code is None:
        return None
    return f"{code[:2]}.{code[2:4]}.{code[4:6]}.{code[6:]}"


def _strip_kab(name: str | None) -> str | None:
    if name is None:
        return None
    return name.removeprefix("KABUPATEN ")


def _kab_short(name: str | None) -> str | None:
    if name is None:
        return None
    if name.startswith("KABUPATEN "):
        return "KAB. " + name.removeprefix("KABUPATEN ")
    return name


def _title(name: str | None) -> str | None:
    return None if name is None else name.title()


def _common(
    rng: np.random.Generator, p: _Pop, idx: np.ndarray, is_dup: np.ndarray, spec: SourceSpec
) -> dict[str, Any]:
    """Erroneous values shared by all sources, before source-specific formatting (arrays, and
    the villages' names under ``_villages``)."""
    female, age = p.female[idx], p.age[idx]
    nama = _name_errors(rng, p.nama[idx], female=female, age=age, spec=spec)
    nik = _nik_errors(rng, p.nik[idx], family_nik=p.family_nik[idx], age=age, spec=spec)
    if is_dup.any():  # a duplicate entry is retyped: extra variation
        retyped = SourceSpec(description="retyped", name_typo=0.4, name_variant=0.3,
                             name_drop_token=0.1, name_initials=0.1, name_title=0.1,
                             name_max_length=spec.name_max_length)
        nama[is_dup] = _name_errors(rng, nama[is_dup], female=female[is_dup],
                                    age=age[is_dup], spec=retyped)
        nik[is_dup] = _blank(rng, nik[is_dup], 0.15)
    kk = _kk_errors(rng, p.no_kk[idx], nik=p.nik[idx], spec=spec)
    y, m, d = date_parts(p.birth[idx])
    y, m, d, missing = _date_errors(rng, y, m, d, spec=spec)
    if spec.date_placeholder_if_no_nik > 0:
        # no card seen: the year said and the 1 July placeholder (a thin record)
        no_nik = pd.isna(nik) | np.isin(nik, [SENTINEL_REFUSED, SENTINEL_NO_NIK_UNDER_17,
                                               SENTINEL_NO_NIK_17_PLUS])
        thin = no_nik & (rng.random(len(idx)) < spec.date_placeholder_if_no_nik)
        m[thin], d[thin] = 7, 1
    ibu = p.nama_ibu[idx]
    ibu = _where_apply(ibu, rng.random(len(idx)) < spec.mother_name_error, lambda x: (
        _name_errors(rng, x, female=np.ones(len(x), bool), age=np.full(len(x), 50.0),
                     spec=SourceSpec(description="mother", name_typo=0.4, name_variant=0.4,
                                     name_old_spelling=0.2, name_title=0.15,
                                     name_drop_token=0.1))))
    alamat = _address_variants(rng, p.alamat[idx], spec.address_variant)
    rt, rw = p.rt[idx], p.rw[idx]
    if spec.rt_rw_other > 0:  # living (or keyed) elsewhere in the desa: another RT, a third another RW
        other = (rng.random(len(idx)) < spec.rt_rw_other) & pd.notna(rt)
        rt, rw = rt.copy(), rw.copy()
        rt[other] = _INT_STR[rng.integers(1, 13, int(other.sum()))]
        also_rw = other & (rng.random(len(idx)) < 1 / 3) & pd.notna(rw)
        rw[also_rw] = _INT_STR[rng.integers(1, 8, int(also_rw.sum()))]
    fm = spec.field_missing
    return {
        "nik": nik, "no_kk": kk, "nama": nama, "female": female, "age": age,
        "y": y, "m": m, "d": d, "date_missing": missing,
        "nama_ibu": _blank(rng, ibu, fm), "alamat": _blank(rng, alamat, fm),
        "tempat_lahir": _blank(rng, p.tempat_lahir[idx], fm),
        "rt": rt, "rw": rw, "kode_wilayah": p.kode_wilayah[idx],
        "desa": p.desa[idx], "kecamatan": p.kecamatan[idx], "kabupaten": p.kabupaten[idx],
        "provinsi": p.provinsi[idx], "role": p.role[idx],
        "_villages": p.villages, "_vil": np.where(p.vil[idx] < 0, len(p.villages["desa"]),
                                                  p.vil[idx]),
    }


def _siak(rng: np.random.Generator, p: _Pop, spec: SourceSpec):
    idx, is_dup = _rows(rng, pd.notna(p.nik), spec)
    c = _common(rng, p, idx, is_dup, spec)
    yy, mm, dd = _ymd(c["y"], c["m"], c["d"])
    frame = {
        "ID_PDDK": _record_ids(rng, len(idx), width=10),
        "NIK": c["nik"], "NO_KK": c["no_kk"], "NAMA_LGKP": c["nama"],
        "JENIS_KLMIN": np.where(c["female"], "PEREMPUAN", "LAKI-LAKI").astype(object),
        "TMPT_LHR": c["tempat_lahir"],
        "TGL_LHR": np.where(c["date_missing"], None, dd + "-" + mm + "-" + yy),
        "NAMA_LGKP_IBU": c["nama_ibu"], "ALAMAT": c["alamat"],
        "NO_RT": _map_unique(c["rt"], lambda v: v.zfill(3)),
        "NO_RW": _map_unique(c["rw"], lambda v: v.zfill(3)),
        "KODE_WILAYAH": _region(c, "kode_wilayah", _dotted),
        "NAMA_KEL": c["desa"], "NAMA_KEC": c["kecamatan"],
        "NAMA_KAB": _region(c, "kabupaten", _strip_kab), "NAMA_PROP": c["provinsi"],
        "STAT_HBKEL": np.asarray(ROLE_NAMES, dtype=object)[c["role"]],
    }
    mapping = {
        "ID_PDDK": "record_id", "NIK": "nik", "NO_KK": "no_kk", "NAMA_LGKP": "nama",
        "JENIS_KLMIN": "jenis_kelamin", "TMPT_LHR": "tempat_lahir", "TGL_LHR": "tanggal_lahir",
        "NAMA_LGKP_IBU": "nama_ibu", "ALAMAT": "alamat", "NO_RT": "rt", "NO_RW": "rw",
        "KODE_WILAYAH": "kode_wilayah", "NAMA_KEL": "desa", "NAMA_KEC": "kecamatan",
        "NAMA_KAB": "kabupaten", "NAMA_PROP": "provinsi", "STAT_HBKEL": "hubungan_keluarga",
    }
    return idx, frame, mapping


def _poor(p: _Pop, share: float) -> np.ndarray:
    regular = ~(p.is_homeless | p.is_crew)
    cut = np.quantile(p.poverty[regular], 1 - share) if regular.any() else 0.0
    return regular & (p.poverty >= cut)


def _dtks(rng: np.random.Generator, p: _Pop, spec: SourceSpec):
    idx, is_dup = _rows(rng, _poor(p, 0.35), spec)
    c = _common(rng, p, idx, is_dup, spec)
    yy, mm, dd = _ymd(c["y"], c["m"], c["d"])
    frame = {
        "IDARTBDT": _record_ids(rng, len(idx), width=11, prefix="ART"),
        "NIK": _apostrophe(rng, c["nik"], spec.nik_apostrophe),
        "NOKK": _apostrophe(rng, c["no_kk"], spec.nik_apostrophe),
        "NAMA": c["nama"],
        "JNS_KEL": np.where(c["female"], "2", "1").astype(object),
        "TMP_LAHIR": _map_unique(c["tempat_lahir"], _title),
        "TGL_LAHIR": np.where(c["date_missing"], None, dd + "/" + mm + "/" + yy),
        "IBU_KANDUNG": c["nama_ibu"],
        "HUB_KRT": _HUB_CODE[c["role"]],
        "ALAMAT": c["alamat"], "RT": c["rt"], "RW": c["rw"],
        "KODE_DESA": c["kode_wilayah"],
        "KELURAHAN": c["desa"], "KECAMATAN": c["kecamatan"],
        "KABUPATEN": _region(c, "kabupaten", _kab_short), "PROVINSI": c["provinsi"],
    }
    mapping = {
        "IDARTBDT": "record_id", "NIK": "nik", "NOKK": "no_kk", "NAMA": "nama",
        "JNS_KEL": "jenis_kelamin", "TMP_LAHIR": "tempat_lahir", "TGL_LAHIR": "tanggal_lahir",
        "IBU_KANDUNG": "nama_ibu", "HUB_KRT": "hubungan_keluarga", "ALAMAT": "alamat",
        "RT": "rt", "RW": "rw", "KODE_DESA": "kode_wilayah", "KELURAHAN": "desa",
        "KECAMATAN": "kecamatan", "KABUPATEN": "kabupaten", "PROVINSI": "provinsi",
    }
    return idx, frame, mapping


def _regsosek(rng: np.random.Generator, p: _Pop, spec: SourceSpec):
    special = p.is_homeless | p.is_crew
    idx, is_dup = _rows(rng, ~special, spec)
    sp = np.flatnonzero(special)
    idx = np.r_[idx, sp]  # every homeless person and ship crew member is enumerated
    is_dup = np.r_[is_dup, np.zeros(len(sp), bool)]
    order = rng.permutation(len(idx))
    idx, is_dup = idx[order], is_dup[order]
    c = _common(rng, p, idx, is_dup, spec)
    n = len(idx)
    yy, _mm, dd = _ymd(c["y"], c["m"], c["d"])
    long = _INT_STR_NOPAD[c["d"]] + " " + np.asarray(N.MONTHS_LONG, dtype=object)[c["m"] - 1] \
        + " " + yy
    short = dd + "-" + np.asarray(N.MONTHS_SHORT, dtype=object)[c["m"] - 1] + "-" + yy
    tgl = np.where(rng.random(n) < 0.6, long, short)
    rt = np.where(pd.isna(c["rt"]), "0", c["rt"]).astype(object)
    rw = np.where(pd.isna(c["rw"]), "0", c["rw"]).astype(object)
    k = rng.integers(0, 3, n)
    rt3 = _map_unique(rt, lambda v: v.zfill(3))
    rw3 = _map_unique(rw, lambda v: v.zfill(3))
    rtrw = np.where(k == 0, "RT " + rt3 + "/RW " + rw3,
                    np.where(k == 1, rt3 + "/" + rw3, "RT." + rt + " RW." + rw))
    rtrw = np.where(pd.isna(c["rt"]), None, rtrw)
    # census household id (one per population household, numbered in random order)
    ruta_no = rng.permutation(p.hh.max() + 1)
    id_ruta = zpad(ruta_no[p.hh[idx]] + 1, 9)
    art = pd.Series(id_ruta).groupby(id_ruta).cumcount().to_numpy() + 1
    is_special = special[idx]
    frame = {
        "ID_ART": "A" + id_ruta + zpad(art, 2),
        "ID_RUTA": id_ruta,
        "STATUS_KHUSUS": np.where(p.is_homeless[idx], "TUNAWISMA",
                                  np.where(p.is_crew[idx], "AWAK KAPAL", NONE)),
        "NAMA_ART": c["nama"],
        "NIK": c["nik"],
        "NO_KK": np.where(is_special, p.no_kk[idx], c["no_kk"]),
        "JK": np.where(c["female"], "P", "L").astype(object),
        "TGL_LAHIR": np.where(c["date_missing"], None, tgl),
        "HUB_KRT": _HUB_CODE[c["role"]],
        "ALAMAT": c["alamat"], "RT_RW": rtrw,
        "NMDESA": c["desa"], "NMKEC": c["kecamatan"],
        "NMKAB": _region(c, "kabupaten", _strip_kab), "NMPROV": c["provinsi"],
    }
    mapping = {
        "ID_ART": "record_id", "NAMA_ART": "nama", "NIK": "nik", "NO_KK": "no_kk",
        "JK": "jenis_kelamin", "TGL_LAHIR": "tanggal_lahir", "HUB_KRT": "hubungan_keluarga",
        "ALAMAT": "alamat", "RT_RW": "rt", "NMDESA": "desa", "NMKEC": "kecamatan",
        "NMKAB": "kabupaten", "NMPROV": "provinsi",
    }
    return idx, frame, mapping


def _dapodik(rng: np.random.Generator, p: _Pop, spec: SourceSpec):
    idx, is_dup = _rows(rng, (p.age >= 6) & (p.age < 19) & ~p.is_homeless & ~p.is_crew, spec)
    c = _common(rng, p, idx, is_dup, spec)
    n = len(idx)
    yy, mm, dd = _ymd(c["y"], c["m"], c["d"])
    # NISN: one per pupil; a retyped duplicate usually has none or a new one
    nisn_of = zpad(rng.permutation(p.n) + rng.integers(10 ** 8, 9 * 10 ** 8), 10)
    nisn = nisn_of[idx]
    dup_nisn = is_dup & (rng.random(n) < 0.7)
    nisn[dup_nisn] = np.where(rng.random(int(dup_nisn.sum())) < 0.5, NONE,
                              zpad(rng.integers(10 ** 8, 10 ** 9, int(dup_nisn.sum())), 10))
    frame = {
        "PESERTA_DIDIK_ID": _record_ids(rng, n, width=12, prefix="PD"),
        "NISN": nisn,
        "NIK": c["nik"], "NAMA": c["nama"],
        "JENIS_KELAMIN": np.where(c["female"], "P", "L").astype(object),
        "TEMPAT_LAHIR": c["tempat_lahir"],
        "TANGGAL_LAHIR": np.where(c["date_missing"], None, yy + mm + dd),
        "NAMA_IBU_KANDUNG": c["nama_ibu"],
        "ALAMAT_JALAN": c["alamat"], "RT": c["rt"], "RW": c["rw"],
        "DESA_KELURAHAN": _region(c, "desa", _title),
        "KECAMATAN": _region(c, "kecamatan", lambda v: "Kec. " + v.title()),
        "KABUPATEN_KOTA": _region(c, "kabupaten", _kab_short),
    }
    mapping = {
        "PESERTA_DIDIK_ID": "record_id", "NIK": "nik", "NAMA": "nama",
        "JENIS_KELAMIN": "jenis_kelamin", "TEMPAT_LAHIR": "tempat_lahir",
        "TANGGAL_LAHIR": "tanggal_lahir", "NAMA_IBU_KANDUNG": "nama_ibu",
        "ALAMAT_JALAN": "alamat", "RT": "rt", "RW": "rw", "DESA_KELURAHAN": "desa",
        "KECAMATAN": "kecamatan", "KABUPATEN_KOTA": "kabupaten",
    }
    return idx, frame, mapping


def _bpjs(rng: np.random.Generator, p: _Pop, spec: SourceSpec):
    idx, is_dup = _rows(rng, _poor(p, 0.40) | (p.is_homeless & (p.age >= 0)), spec)
    c = _common(rng, p, idx, is_dup, spec)
    n = len(idx)
    yy, mm, dd = _ymd(c["y"], c["m"], c["d"])
    iso = yy + "-" + mm + "-" + dd
    tgl = np.where(rng.random(n) < 0.5, iso, iso + " 00:00:00")
    sex_style = rng.random(n) < 0.6
    frame = {
        "NO_KARTU": _record_ids(rng, n, width=13),
        "NIK": c["nik"], "NO_KK": c["no_kk"], "NAMA_PESERTA": c["nama"],
        "JENIS_KELAMIN": np.where(sex_style, np.where(c["female"], "F", "M"),
                                  np.where(c["female"], "Wanita", "Pria")).astype(object),
        "TGL_LAHIR": np.where(c["date_missing"], None, tgl),
        "KAB_KOTA": _region(c, "kabupaten", _kab_short),
    }
    mapping = {
        "NO_KARTU": "record_id", "NIK": "nik", "NO_KK": "no_kk", "NAMA_PESERTA": "nama",
        "JENIS_KELAMIN": "jenis_kelamin", "TGL_LAHIR": "tanggal_lahir", "KAB_KOTA": "kabupaten",
    }
    return idx, frame, mapping


_INT_STR_NOPAD = np.array([str(i) for i in range(1000)], dtype=object)

_BUILDERS = {
    "siak": _siak, "dtks": _dtks, "regsosek": _regsosek, "dapodik": _dapodik,
    "bpjs_pbi": _bpjs,
}


#: Person columns holding free text, where an edit could produce a pandas NA marker.
_FREE_TEXT = frozenset({"nama", "nama_ibu", "alamat", "tempat_lahir"})


def _to_string_frame(frame: dict[str, np.ndarray], mapping: Mapping[str, str]) -> pd.DataFrame:
    """Object arrays -> ``string`` frame.

    Free-text values that ``pandas.read_csv`` would read back as NaN (``NA``, ``nan``, ...)
    become <NA>, so that written CSV files round-trip. Other columns are built from codes,
    digits and fixed vocabularies that never produce such markers.
    """
    cols = {}
    for k, v in frame.items():
        v = np.asarray(v, dtype=object)
        if mapping.get(k) not in _FREE_TEXT:
            cols[k] = v
            continue
        nn = np.flatnonzero(pd.notna(v))
        short = nn[_lens(v[nn]) <= 9]  # every pandas NA marker is at most 9 characters
        bad = short[pd.Series(v[short], dtype=object).isin(_CSV_NA).to_numpy()]
        if len(bad):
            v = v.copy()
            v[bad] = None
        cols[k] = v
    return pd.DataFrame(cols).astype("string")


def generate_sources(
    population: pd.DataFrame,
    *,
    random_state: int | np.random.Generator | None = None,
    sources: Sequence[str] | None = None,
    specs: Mapping[str, SourceSpec] | None = None,
    reference_date: str = DEFAULT_REFERENCE_DATE,
    noise: float | str = "typical",
) -> SyntheticSources:
    """Draw ministry-style sources from a population, with errors and ground truth.

    Parameters
    ----------
    population : pandas.DataFrame
        Output of ``generate_population``.
    random_state : int, numpy.random.Generator or None, default None
        Seed or generator for :func:`numpy.random.default_rng`. Each source draws from its own
        child generator (``Generator.spawn``), so one source's spec does not change another
        source's records.
    sources : sequence of str, optional
        Which sources to build, from :data:`SOURCE_NAMES` (default: all five).
    specs : mapping of str to SourceSpec, optional
        Specs overriding :data:`DEFAULT_SPECS` per source name.
    reference_date : str, default "2022-10-15"
        Date at which ages are measured (school age for ``dapodik``).
    noise : {"low", "typical", "harsh"} or float, default "typical"
        Noise level: every error rate of the specs used (overrides included) is multiplied
        by 0.5, 1 or 2 (:data:`NOISE_LEVELS`), or by the factor given; coverage, duplicates
        and sentinel habits stay (:func:`scale_noise`). The population and which people
        each source holds do not change with it.

    Returns
    -------
    SyntheticSources

    Examples
    --------
    >>> from regsosek_link.datasets import generate_population
    >>> pop = generate_population(n_people=1_000, random_state=0)
    >>> syn = generate_sources(pop, random_state=0, sources=["siak"])
    >>> syn.mappings["siak"]["NIK"]
    'nik'
    """
    names = list(SOURCE_NAMES if sources is None else sources)
    unknown = [s for s in names if s not in _BUILDERS]
    if unknown:
        raise ValueError(
            f"The 'sources' parameter of generate_sources must name sources from "
            f"{list(SOURCE_NAMES)}. Got {unknown!r} instead."
        )
    used = dict(DEFAULT_SPECS)
    if specs:
        bad = [s for s in specs if s not in _BUILDERS]
        if bad:
            raise ValueError(
                f"The 'specs' parameter of generate_sources must be keyed by source names from "
                f"{list(SOURCE_NAMES)}. Got {bad!r} instead."
            )
        used.update(specs)
    missing_cols = [c for c in ("person_id", "nik", "nama", "household_id") if c not in
                    population.columns]
    if missing_cols:
        raise ValueError(
            f"The 'population' parameter of generate_sources must come from "
            f"generate_population; columns {missing_cols} are missing. Columns present: "
            f"{list(population.columns)}."
        )
    factor = _noise_factor(noise)
    if factor != 1.0:
        used = {k: scale_noise(v, factor) for k, v in used.items()}
    rng = np.random.default_rng(random_state)
    children = dict(zip(SOURCE_NAMES, rng.spawn(len(SOURCE_NAMES))))
    p = _Pop(population, reference_date)
    out_sources: dict[str, pd.DataFrame] = {}
    mappings: dict[str, dict[str, str]] = {}
    info: dict[str, dict] = {}
    truth_parts = []
    for name in names:
        spec = used[name]
        idx, frame, mapping = _BUILDERS[name](children[name], p, spec)
        df = _to_string_frame(frame, mapping)
        out_sources[name] = df
        mappings[name] = mapping
        info[name] = {"description": spec.description,
                      "one_record_per_person": spec.one_record_per_person}
        rid = next(k for k, v in mapping.items() if v == "record_id")
        truth_parts.append(pd.DataFrame({
            "source": name, "record_id": df[rid].to_numpy(dtype=object),
            "person_id": p.person_id[idx],
        }))
    truth = pd.concat(truth_parts, ignore_index=True).astype("string")
    return SyntheticSources(sources=out_sources, mappings=mappings, truth=truth,
                            source_info=info, population=population,
                            specs={k: used[k] for k in names})
