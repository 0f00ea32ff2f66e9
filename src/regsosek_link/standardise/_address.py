"""Addresses, RT/RW and place names."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._common import (
    STRING,
    ascii_upper,
    ascii_upper_arrow,
    collapse_spaces,
    contains_mask,
    extract_rows,
    map_distinct,
    replace_re,
    string_series,
    to_arrow,
)

_NUM = r"0*(\d{1,3})"
#: RT and RW written together: "RT 01/RW 02", "RT/RW 001/002", "RT.1 RW.2", "001/002".
_PAIR = (
    rf"\bRT\s*[./:]?\s*{_NUM}\s*[/,\-]?\s*RW\s*[./:]?\s*{_NUM}\b",
    rf"\bRT\s*/\s*RW\s*[.:]?\s*{_NUM}\s*[/\-]\s*{_NUM}\b",
    rf"^\s*{_NUM}\s*[/\-]\s*{_NUM}\s*$",
)
_RT = rf"\bRT\s*[./:]?\s*{_NUM}\b"
_RW = rf"\bRW\s*[./:]?\s*{_NUM}\b"


def _int16(s: pd.Series) -> pd.Series:
    v = pd.to_numeric(s, errors="coerce")
    return v.where(v > 0).astype("Int16")


def _extract_pair(u: pd.Series) -> tuple[pd.Series, pd.Series]:
    rt = pd.Series(pd.NA, index=u.index, dtype=object)
    rw = pd.Series(pd.NA, index=u.index, dtype=object)
    for pat in _PAIR:
        ex = extract_rows(u, pat).reindex(u.index)
        take = rt.isna() & ex[0].notna()
        rt = rt.where(~take, ex[0])
        rw = rw.where(~take, ex[1])
    single_rt = extract_rows(u, _RT)[0].reindex(u.index)
    single_rw = extract_rows(u, _RW)[0].reindex(u.index)
    rt = rt.where(rt.notna(), single_rt)
    rw = rw.where(rw.notna(), single_rw)
    return rt, rw


def upper_ascii(s: pd.Series) -> pd.Series:
    """``ascii_upper`` by way of pyarrow (the same text; Python's for what Arrow cannot hold)."""
    try:
        return string_series(ascii_upper_arrow(to_arrow(s)), index=s.index)
    except (pa.ArrowException, UnicodeError):  # e.g. lone surrogates
        return ascii_upper(s)


def _parse_combined(s: pd.Series) -> pd.DataFrame:
    u = upper_ascii(s)
    rt = pd.Series(pd.NA, index=u.index, dtype="Int16")
    rw = pd.Series(pd.NA, index=u.index, dtype="Int16")
    maybe = pd.Series(contains_mask(u, r"R[TW]|\d\s*[/\-]\s*\d"), index=u.index)
    if maybe.any():
        a, b = _extract_pair(u[maybe])
        rt[maybe] = _int16(a)
        rw[maybe] = _int16(b)
    return pd.DataFrame({"rt": rt, "rw": rw})


def _parse_one(s: pd.Series) -> pd.DataFrame:
    out = _parse_combined(s)
    plain = upper_ascii(s).str.extract(rf"^\s*(?:R[TW]\s*[./:]?\s*)?{_NUM}\s*$")[0]
    out["plain"] = _int16(plain)
    return out


def parse_rt_rw(
    rt: pd.Series | None = None,
    rw: pd.Series | None = None,
    *,
    combined: pd.Series | None = None,
) -> pd.DataFrame:
    """Parse RT and RW numbers to integers.

    Parameters
    ----------
    rt, rw : pandas.Series, optional
        Separate columns (``"001"``, ``"1"``, ``"RT 01"``). A value holding both
        (``"RT 01/RW 02"``, ``"001/002"``) is split.
    combined : pandas.Series, optional
        A column holding both, or an address with them inside (``"JL. MAWAR RT.1 RW.2"``).
        Used where the separate columns give nothing.

    Returns
    -------
    pandas.DataFrame
        ``rt`` and ``rw`` (``Int16``; 0 and unparseable values are <NA>).

    Examples
    --------
    >>> import pandas as pd
    >>> parse_rt_rw(combined=pd.Series(["RT 01/RW 02", "001/002", "RT.1 RW.2", "x"])).values.tolist()
    [[1, 2], [1, 2], [1, 2], [<NA>, <NA>]]
    """
    given = [x for x in (rt, rw, combined) if x is not None]
    if not given:
        raise ValueError("parse_rt_rw needs at least one of rt, rw, combined.")
    index = given[0].index
    out_rt = pd.Series(pd.NA, index=index, dtype="Int16")
    out_rw = pd.Series(pd.NA, index=index, dtype="Int16")
    for col, is_rt in ((rt, True), (rw, False)):
        if col is None:
            continue
        one = map_distinct(col, _parse_one)
        if is_rt:
            out_rt = out_rt.fillna(one["plain"].fillna(one["rt"]))
            out_rw = out_rw.fillna(one["rw"])
        else:
            out_rw = out_rw.fillna(one["plain"].fillna(one["rw"]))
    if combined is not None:
        both = map_distinct(combined, _parse_combined)
        out_rt = out_rt.fillna(both["rt"])
        out_rw = out_rw.fillna(both["rw"])
    return pd.DataFrame({"rt": out_rt.astype("Int16"), "rw": out_rw.astype("Int16")}, index=index)


_ABBREV: tuple[tuple[str, str], ...] = (
    (r"\b(?:JL|JLN|JLAN|JALAN)\b\.?", "JALAN "),
    (r"\b(?:GG|GNG)\b\.?", "GANG "),
    (r"\b(?:KP|KMP|KAMP)\b\.?", "KAMPUNG "),
    (r"\b(?:DK|DSN|DUS|DUKUH)\b\.?", "DUSUN "),
    (r"\b(?:DS)\b\.?", "DESA "),
    (r"\b(?:KEL|KELURAHAN)\b\.?", "KELURAHAN "),
    (r"\b(?:KEC|KECAMATAN)\b\.?", "KECAMATAN "),
    (r"\b(?:KAB|KABUPATEN)\b\.?", "KABUPATEN "),
    (r"\b(?:PROV|PROP|PROPINSI)\b\.?", "PROVINSI "),
    (r"\b(?:PERUM)\b\.?", "PERUMAHAN "),
    (r"\b(?:BLK)\b\.?", "BLOK "),
    (r"\b(?:LINGK|LING|LK)\b\.?", "LINGKUNGAN "),
)
_HOUSE_AT = r"\b(?:NO|NOMOR|NMR|NOMER)\b\s*[.:]?\s*"
_HOUSE_NUMBER = r"\d+[A-Z]?(?:\s*[/\-]\s*\d+[A-Z]?)?"
_HOUSE = rf"{_HOUSE_AT}({_HOUSE_NUMBER})\b"
_RTRW_INLINE = r"\bRT\s*/\s*RW\s*[.:]?\s*\d{1,3}\s*[/\-]\s*\d{1,3}\b|\bR[TW]\s*[./:]?\s*\d{1,3}\b"
#: On text made of ``[A-Z0-9 /-]`` only, these replacements (by a space) followed by a
#: whitespace collapse give what ``(?<!\w)[/\-]+|[/\-]+(?!\w)`` -> space and the collapse
#: give: a run of slashes/dashes is kept only when it is one character between two word
#: characters (RE2 has no look-arounds).
_LONE_SEPARATORS = (r"[/\-]{2,}", r"(?:^| )[/\-]", r"[/\-](?: |$)")


def clean_address(values: pd.Series) -> pd.DataFrame:
    """Standardise street addresses; pull out the house number and RT/RW.

    Upper case, ASCII; ``Jl./Jln./JL`` -> ``JALAN``, ``Gg.`` -> ``GANG``, ``Kp.`` ->
    ``KAMPUNG``, ``Dk./Dsn.`` -> ``DUSUN``, ``Ds.`` -> ``DESA``, ``Kel./Kec./Kab./Prov.``
    spelled out, ``Perum`` -> ``PERUMAHAN``, ``Blk`` -> ``BLOK``. ``No. 12A`` goes to
    ``no_rumah`` and RT/RW written inside go to ``rt``/``rw``; both are removed from
    ``alamat`` (so they are compared once, in their own fields). Punctuation -> space.

    Parameters
    ----------
    values : pandas.Series
        Raw addresses.

    Returns
    -------
    pandas.DataFrame
        ``alamat`` and ``no_rumah`` (``string``), ``rt`` and ``rw`` (``Int16``).

    Examples
    --------
    >>> import pandas as pd
    >>> clean_address(pd.Series(["Jl. Merdeka No.12A RT 01/RW 02", "gg. mawar"])).values.tolist()
    [['JALAN MERDEKA', '12A', 1, 2], ['GANG MAWAR', <NA>, <NA>, <NA>]]
    """
    return map_distinct(values, _clean_address)


def _clean_address(s: pd.Series) -> pd.DataFrame:
    u = upper_ascii(s)
    rtrw = parse_rt_rw(combined=u)
    arr = to_arrow(u)
    # printable ASCII only (the usual case): the whole chain on pyarrow arrays
    if pc.all(pc.match_substring_regex(arr, r"^[\x20-\x7e]*$")).as_py() in (True, None):
        alamat, no = _clean_plain(arr)
    else:
        alamat, no = _clean_any(u)
    return pd.DataFrame({"alamat": alamat.astype(STRING).array, "no_rumah": no.astype(STRING).array,
                         "rt": rtrw["rt"], "rw": rtrw["rw"]}, index=s.index)


def _clean_any(u: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Street text and house number of upper-case ASCII addresses (any characters).

    pyarrow's RE2 for printable-ASCII values (the helpers send the others through re).
    """
    u = replace_re(u, _RTRW_INLINE, " ")
    no = replace_re(extract_rows(u, _HOUSE)[0].reindex(u.index), r"\s+", "")
    u = replace_re(u, _HOUSE, " ")
    for pat, rep in _ABBREV:
        u = replace_re(u, pat, rep)
    # (look-arounds: Python's re)
    u = collapse_spaces(replace_re(u, r"[^A-Z0-9/\-]+", " ").str.replace(r"(?<!\w)[/\-]+|[/\-]+(?!\w)", " ", regex=True))
    return u, no


def _clean_plain(arr: pa.Array) -> tuple[pd.Series, pd.Series]:
    """:func:`_clean_any` of printable-ASCII addresses, all on pyarrow arrays (RE2)."""
    a = pc.replace_substring_regex(arr, _RTRW_INLINE, " ")
    house = pc.struct_field(pc.extract_regex(a, rf"{_HOUSE_AT}(?P<no>{_HOUSE_NUMBER})\b"), "no")
    no = pc.replace_substring_regex(house, r"\s+", "")
    a = pc.replace_substring_regex(a, _HOUSE, " ")
    for pat, rep in _ABBREV:
        a = pc.replace_substring_regex(a, pat, rep)
    a = pc.replace_substring_regex(a, r"[^A-Z0-9/\-]+", " ")
    for pat in _LONE_SEPARATORS:
        a = pc.replace_substring_regex(a, pat, " ")
    a = pc.utf8_trim(pc.replace_substring_regex(a, " +", " "), " ")
    a = pc.if_else(pc.equal(a, ""), pa.nulls(len(a), pa.string()), a)
    return string_series(a), string_series(no)


def clean_place(values: pd.Series) -> pd.Series:
    """Standardise place names (place of birth, region names).

    Upper case, ASCII, punctuation -> space; a date after the place (``Jakarta,
    12-08-1980``, as a "tempat, tanggal lahir" column holds it) removed; ``Kab. X``/``Kabupaten X``/``KAB X`` ->
    ``KAB X``; ``Kota X``/``Kotamadya X``/``Kodya X``/``Kota Adm. X`` -> ``KOTA X`` (Kab.
    Bogor and Kota Bogor stay different places); ``Kec.``, ``Kel.``, ``Desa``, ``Ds.``,
    ``Prov.`` prefixes removed.

    Examples
    --------
    >>> import pandas as pd
    >>> clean_place(pd.Series(["Kab. Bogor", "KOTA BOGOR", "Kabupaten  Semarang", "Kec. Pekalongan Barat"])).tolist()
    ['KAB BOGOR', 'KOTA BOGOR', 'KAB SEMARANG', 'PEKALONGAN BARAT']
    """
    return map_distinct(values, _clean_place).astype(STRING).rename(values.name if isinstance(values, pd.Series) else None)


#: A date after a place ("Jakarta, 12-08-1980", "Bogor / 1 Juli 1960": a "tempat, tanggal
#: lahir" column mapped to the place of birth): removed.
#: A written-out date needs the comma or slash (a place may be named after one: 17 AGUSTUS).
_TRAILING_DATE = (r"(?:\s*[,/]\s*(?:\d{1,2}[-/.\s]+(?:\d{1,2}|[A-Z]{3,9}\.?)[-/.\s]+\d{2,4})"
                  r"|(?:\s*[,/]\s*|\s+)(?:\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{4}-\d{1,2}-\d{1,2}))\s*$")


def _clean_place(s: pd.Series) -> pd.Series:
    u = upper_ascii(s).str.replace(_TRAILING_DATE, "", regex=True)
    u = collapse_spaces(u.str.replace(r"[^A-Z0-9]+", " ", regex=True))
    u = u.str.replace(r"^(?:KABUPATEN|KAB)(?: ADMINISTRASI| ADM)? ", "KAB ", regex=True)
    u = u.str.replace(r"^(?:KOTAMADYA|KODYA|KOTA ADMINISTRASI|KOTA ADM|KOTA) ", "KOTA ", regex=True)
    u = u.str.replace(r"^(?:KECAMATAN|KEC|KELURAHAN|KEL|DESA|DS|PROVINSI|PROV|PROPINSI) ", "", regex=True)
    return u.astype(STRING)
