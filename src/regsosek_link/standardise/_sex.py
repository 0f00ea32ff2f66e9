"""Sex: ``L`` (laki-laki) / ``P`` (perempuan)."""

from __future__ import annotations

import pandas as pd

from ._address import upper_ascii
from ._common import STRING, map_distinct

_SEX = {
    "L": "L", "LK": "L", "LAKI": "L", "LAKILAKI": "L", "LELAKI": "L", "PRIA": "L",
    "M": "L", "MALE": "L", "1": "L", "01": "L", "COWOK": "L", "LAKILAK": "L",
    "P": "P", "PR": "P", "PEREMPUAN": "P", "PEREMPUA": "P", "WANITA": "P", "W": "P",
    "F": "P", "FEMALE": "P", "2": "P", "02": "P", "CEWEK": "P", "PRP": "P",
}


def clean_sex(values: pd.Series) -> pd.Series:
    """Standardise sex to ``"L"`` / ``"P"``; anything unrecognised becomes <NA>.

    Accepts ``L``/``P``, ``LK``/``PR``, ``1``/``2``, ``Laki-laki``/``Perempuan``,
    ``Pria``/``Wanita``, ``M``/``F``, ``male``/``female``, in any case and punctuation.

    Parameters
    ----------
    values : pandas.Series
        Raw sex values.

    Returns
    -------
    pandas.Series
        ``string`` dtype, same index, values ``"L"``, ``"P"`` or <NA>.

    Examples
    --------
    >>> import pandas as pd
    >>> clean_sex(pd.Series(["Laki-laki", "pr", "2", "x", None])).tolist()
    ['L', 'P', 'P', <NA>, <NA>]
    """
    out = map_distinct(values, lambda u: upper_ascii(u).str.replace(r"[^A-Z0-9]", "", regex=True).map(_SEX))
    return out.astype(STRING).rename(values.name if isinstance(values, pd.Series) else None)
