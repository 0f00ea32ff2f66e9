"""Relation to the head of the family (hubungan dengan kepala keluarga)."""

from __future__ import annotations

from typing import Literal

import pandas as pd

from ._address import upper_ascii
from ._common import STRING, map_distinct

RELATIONS: tuple[str, ...] = (
    "KEPALA", "PASANGAN", "ANAK", "ORANG_TUA", "MERTUA", "MENANTU", "CUCU", "FAMILI_LAIN", "LAINNYA",
)

#: BPS household coding (Susenas/Regsosek): 1 head, 2 spouse, 3 child, 4 child-in-law,
#: 5 grandchild, 6 parent/parent-in-law, 7 other relative, 8 domestic worker, 9 other.
_BPS = {"1": "KEPALA", "2": "PASANGAN", "3": "ANAK", "4": "MENANTU", "5": "CUCU",
        "6": "ORANG_TUA", "7": "FAMILI_LAIN", "8": "LAINNYA", "9": "LAINNYA"}
#: Dukcapil SIAK coding: 1 head, 2 husband, 3 wife, 4 child, 5 child-in-law, 6 grandchild,
#: 7 parent, 8 parent-in-law, 9 other relative, 10 domestic worker, 11 other.
_DUKCAPIL = {"1": "KEPALA", "2": "PASANGAN", "3": "PASANGAN", "4": "ANAK", "5": "MENANTU",
             "6": "CUCU", "7": "ORANG_TUA", "8": "MERTUA", "9": "FAMILI_LAIN", "10": "LAINNYA",
             "11": "LAINNYA"}
#: Free-text rules, first match wins (checked on ASCII upper text, punctuation -> space).
_TEXT: tuple[tuple[str, str], ...] = (
    (r"\bKEPALA\b|^KK$|^KRT$", "KEPALA"),
    (r"\bMERTUA\b", "MERTUA"),
    (r"\bMENANTU\b", "MENANTU"),
    (r"\bCUCU\b", "CUCU"),
    (r"\b(?:SUAMI|ISTRI|ISTERI|PASANGAN)\b", "PASANGAN"),
    (r"\b(?:ORANG ?TUA|ORTU|AYAH|IBU|BAPAK|AYAH KANDUNG|IBU KANDUNG)\b", "ORANG_TUA"),
    (r"\bANAK\b", "ANAK"),
    (r"\b(?:FAMILI|FAMILY|KELUARGA|SAUDARA|ADIK|KAKAK|KEPONAKAN|PAMAN|BIBI|NENEK|KAKEK|SEPUPU|IPAR)\b", "FAMILI_LAIN"),
    (r"\b(?:LAIN|LAINNYA|PEMBANTU|ART|FAMILI LAIN)\b", "LAINNYA"),
)


def clean_relation(values: pd.Series, *, coding: Literal["bps", "dukcapil"] = "bps") -> pd.Series:
    """Canonical relation to the family head from free text or numeric codes.

    Categories: ``KEPALA, PASANGAN, ANAK, ORANG_TUA, MERTUA, MENANTU, CUCU, FAMILI_LAIN,
    LAINNYA``; unrecognised -> <NA>. Codes follow ``coding``: ``"bps"`` (1 head, 2 spouse,
    3 child, 4 child-in-law, 5 grandchild, 6 parent/parent-in-law -> ORANG_TUA,
    7 other relative, 8 domestic worker, 9 other) or ``"dukcapil"`` (SIAK: 1 head, 2 husband,
    3 wife, 4 child, 5 child-in-law, 6 grandchild, 7 parent, 8 parent-in-law, 9 other
    relative, 10 domestic worker, 11 other).

    Examples
    --------
    >>> import pandas as pd
    >>> clean_relation(pd.Series(["Kepala Keluarga", "ISTRI", "anak kandung", "1", "03", "mertua", "?"])).tolist()
    ['KEPALA', 'PASANGAN', 'ANAK', 'KEPALA', 'ANAK', 'MERTUA', <NA>]
    """
    if coding not in ("bps", "dukcapil"):
        raise ValueError(f"The 'coding' parameter of clean_relation must be 'bps' or 'dukcapil'. Got {coding!r} instead.")
    table = _BPS if coding == "bps" else _DUKCAPIL
    return map_distinct(values, lambda u: _relation(u, table)).astype(STRING).rename(
        values.name if isinstance(values, pd.Series) else None
    )


def _relation(s: pd.Series, table: dict[str, str]) -> pd.Series:
    u = upper_ascii(s).str.replace(r"[^A-Z0-9]+", " ", regex=True).str.strip()
    codes = u.str.extract(r"^0*(\d{1,2})$")[0]
    out = codes.map(table)
    for pat, cat in _TEXT:
        hit = out.isna() & u.str.contains(pat, regex=True).fillna(False)
        out = out.where(~hit, cat)
    return out.astype(STRING)
