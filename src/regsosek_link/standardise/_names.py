"""Person names: canonical tokens, titles/degrees, bin/binti, old spelling, variants."""

from __future__ import annotations

import importlib.resources
import io
from functools import lru_cache
from typing import Literal, Mapping

import jellyfish
import numpy as np
import pandas as pd

from ._common import STRING, as_string, ascii_upper, collapse_spaces, map_distinct
from ._phonetic import phonetic_key

NAME_COLUMNS: tuple[str, ...] = ("nama", "nama_gelar", "nama_bin", "nama_phonetic", "nama_sorted", "n_tokens")

_BIN = frozenset({"BIN", "BINTI", "BINT"})
_OLD_J_MARKERS = r"OE|TJ|DJ|NJ|SJ"
_DEG = "\x01"  # marks a dotted degree token (S.PD) that must stay one token


def _read_csv(name: str) -> pd.DataFrame:
    text = (importlib.resources.files(__package__) / "data" / name).read_text(encoding="utf-8")
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


@lru_cache(maxsize=1)
def _default_variants() -> dict[str, str]:
    t = _read_csv("name_variants.csv")
    return dict(zip(t["variant"].str.upper(), t["canonical"].str.upper()))


@lru_cache(maxsize=1)
def _default_titles() -> dict[str, str]:
    t = _read_csv("titles.csv")
    return dict(zip(t["title"].str.upper(), t["kind"].str.lower()))


def _as_dict(table: pd.DataFrame | Mapping[str, str] | None, key: str, value: str) -> dict[str, str]:
    if table is None:
        return {}
    if isinstance(table, pd.DataFrame):
        missing = {key, value} - set(table.columns)
        if missing:
            raise ValueError(
                f"A {key!r} table needs columns {key!r} and {value!r}; columns present: {list(table.columns)}."
            )
        return dict(zip(table[key].astype(str).str.upper(), table[value].astype(str)))
    return {str(k).upper(): str(v) for k, v in table.items()}


def _join(i: np.ndarray, values: list[str], n: int) -> pd.Series:
    """Space-join ``values`` per group ``i`` (groups contiguous) into a Series of length n."""
    out = np.full(n, None, dtype=object)
    if len(i):
        starts = np.flatnonzero(np.r_[True, i[1:] != i[:-1]])
        ends = np.r_[starts[1:], len(i)]
        out[i[starts]] = [" ".join(values[a:b]) for a, b in zip(starts, ends)]
    return pd.Series(out, dtype=STRING)


def _generic(u: pd.Series) -> pd.DataFrame:
    t = collapse_spaces(ascii_upper(u).str.replace(r"[^A-Z0-9]+", " ", regex=True))
    tok = t.str.split().explode().dropna()
    distinct = pd.Series(tok.unique())
    sx = dict(zip(distinct, [jellyfish.soundex(x) for x in distinct]))
    phon = tok.map(sx)
    n = len(u)
    out = pd.DataFrame(index=u.index)
    out["nama"] = t.astype(STRING)
    out["nama_gelar"] = pd.Series(pd.NA, index=u.index, dtype=STRING)
    out["nama_bin"] = pd.Series(pd.NA, index=u.index, dtype=STRING)
    out["nama_phonetic"] = _join(phon.index.to_numpy(), phon.tolist(), n).set_axis(u.index)
    srt = pd.DataFrame({"i": tok.index.to_numpy(), "t": tok.to_numpy()}).sort_values(["i", "t"], kind="stable")
    out["nama_sorted"] = _join(srt["i"].to_numpy(), srt["t"].tolist(), n).set_axis(u.index)
    out["n_tokens"] = tok.groupby(level=0).size().reindex(range(n)).fillna(0).astype("Int8")
    return out


def _indonesian(u: pd.Series, variants: dict[str, str], titles: dict[str, str]) -> pd.DataFrame:
    n = len(u)
    prefix = {k for k, v in titles.items() if v == "prefix"}
    suffix = {k for k, v in titles.items() if v == "suffix"}
    t = ascii_upper(u).str.replace(r"[`']", "", regex=True)
    t = t.str.replace(r"[^A-Z0-9.\s]", " ", regex=True)
    old = t.str.contains(_OLD_J_MARKERS, regex=True).fillna(False).to_numpy()
    tok = t.str.split().explode().dropna()
    # dotted degrees (S.PD, A.MD) stay one token; other dots separate tokens (H.AHMAD, M.RIZKI)
    key = tok.str.replace(".", "", regex=False)
    dotted_deg = key.isin(suffix) & tok.str.contains(r"[A-Z]\.[A-Z]", regex=True)
    tok = tok.where(~dotted_deg, _DEG + tok.str.strip(".")).where(dotted_deg, tok.str.replace(".", " ", regex=False))
    tok = tok.str.split().explode().dropna()
    marked = tok.str.startswith(_DEG)
    disp = tok.str.replace(_DEG, "", regex=False)
    key = disp.str.replace(r"[^A-Z]", "", regex=True)
    df = pd.DataFrame({"i": tok.index.to_numpy(), "key": key.to_numpy(), "disp": disp.to_numpy(),
                       "marked": marked.to_numpy()})
    df = df[df["key"] != ""].reset_index(drop=True)
    g = df.groupby("i", sort=False)
    is_prefix = df["key"].isin(prefix) & ~df["marked"]
    is_suffix = df["key"].isin(suffix) | df["marked"]
    lead = is_prefix.astype(np.int8).groupby(df["i"]).cummin().astype(bool)
    rev = is_suffix.iloc[::-1].astype(np.int8)
    trail = rev.groupby(df["i"].iloc[::-1]).cummin().iloc[::-1].astype(bool)
    gelar = lead | trail | df["marked"]
    # a name made only of titles keeps them as its name
    all_gelar = gelar.groupby(df["i"]).transform("all")
    gelar &= ~all_gelar
    df["gelar"] = gelar
    name_tok = df[~gelar].copy()
    name_tok["npos"] = name_tok.groupby("i").cumcount()
    name_tok["n"] = name_tok.groupby("i")["key"].transform("size")
    is_bin = name_tok["key"].isin(_BIN) & (name_tok["npos"] >= 1)
    seen = is_bin.astype(np.int16).groupby(name_tok["i"]).cumsum()
    first_bin = is_bin & (seen == 1)
    bin_pos = name_tok["npos"].where(first_bin).groupby(name_tok["i"]).transform("min")
    has_bin = bin_pos.notna() & (bin_pos < name_tok["n"] - 1)
    in_bin = has_bin & (name_tok["npos"] > bin_pos)
    keep = ~(has_bin & (name_tok["npos"] >= bin_pos))
    # canonical tokens: variants, old spelling, variants again, then the M. rule
    k = name_tok["key"].map(variants).fillna(name_tok["key"])
    k = k.str.replace("OE", "U", regex=False).str.replace("DJ", "\x02", regex=False)
    k = k.str.replace("TJ", "C", regex=False).str.replace("NJ", "NY", regex=False)
    k = k.str.replace("SJ", "SY", regex=False).str.replace("CH", "KH", regex=False)
    old_tok = old[name_tok["i"].to_numpy()]
    k = k.where(~old_tok, k.str.replace("J", "Y", regex=False)).str.replace("\x02", "J", regex=False)
    k = k.map(variants).fillna(k)
    m_rule = (name_tok["key"] == "M") & (name_tok["npos"] == 0) & (bin_pos.fillna(name_tok["n"]).where(has_bin, name_tok["n"]) > 1)
    k = k.where(~m_rule, "MUHAMMAD")
    name_tok["canon"] = k
    main = name_tok[keep]
    binp = name_tok[in_bin]

    def join(frame: pd.DataFrame, col: str) -> pd.Series:
        return _join(frame["i"].to_numpy(), frame[col].tolist(), n)

    distinct = pd.Series(main["canon"].unique(), dtype=STRING)
    phon = dict(zip(distinct, phonetic_key(distinct)))
    main = main.assign(phon=main["canon"].map(phon))
    out = pd.DataFrame(index=u.index)
    out["nama"] = join(main, "canon")
    out["nama_gelar"] = join(df[df["gelar"]], "disp")
    out["nama_bin"] = join(binp, "canon")
    out["nama_phonetic"] = join(main, "phon")
    out["nama_sorted"] = join(main.sort_values(["i", "canon"], kind="stable"), "canon")
    out["n_tokens"] = main.groupby("i").size().reindex(range(n)).fillna(0).astype("Int8")
    return out


def clean_name(
    values: pd.Series,
    *,
    profile: Literal["indonesian", "generic"] = "indonesian",
    variants: pd.DataFrame | Mapping[str, str] | None = None,
    titles: pd.DataFrame | Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Clean person names into canonical tokens, with titles and phonetic keys.

    ``profile="indonesian"`` (default), in order:

    1. Unicode folded to ASCII, upper case; apostrophes joined (MA'RUF -> MARUF), other
       punctuation except dots -> space.
    2. Dots: a dotted degree (``S.Pd.``, ``A.Md``) stays one token; elsewhere a dot separates
       tokens (``H.Ahmad`` -> ``H AHMAD``). Remaining non-letters (digits) are dropped.
    3. Titles and degrees (``titles.csv``): *prefix* titles (H, Hj, KH, Dr, Drs, Ir, Prof,
       R/RM/Rr = Raden, ...) are removed from the leading run of tokens, *suffix* degrees
       (S.Pd, SE, SH, ST, M.Pd, ...) from the trailing run, and a dotted degree anywhere.
       They go to ``nama_gelar`` as written, dots inside kept (``H S.PD``). A name made only
       of titles keeps them.
    4. ``BIN``/``BINTI`` after the first token, followed by a name: the father's name moves
       to ``nama_bin`` and is dropped (with the BIN token) from ``nama``.
    5. Variant families (``name_variants.csv``: Moch./Mohamad/... -> MUHAMMAD, Achmad ->
       AHMAD, Abd. -> ABDUL, St./Sitti -> SITI, Noor -> NUR, Rachmat -> RAHMAT, ...),
       then old spelling to EYD (``oe->u``, ``tj->c``, ``dj->j``, ``nj->ny``, ``sj->sy``,
       ``ch->kh``; ``j->y`` only when the raw name carries one of oe/tj/dj/nj/sj), then the
       variant table again (for forms that only match after the spelling reform).
       ``NURUL`` is *not* folded into ``NUR`` (it is Nur + the article al-, its own name).
    6. A first token ``M`` followed by another name token becomes MUHAMMAD; a lone ``M``
       stays the initial.

    ``profile="generic"``: only ASCII folding, upper case, punctuation -> space and whitespace
    collapse, with a jellyfish Soundex per token as the phonetic key (what a generic
    toolkit would do; used for before/after comparisons).

    Work is done once per distinct name, and token-wise (exploded) rather than per row.

    Parameters
    ----------
    values : pandas.Series
        Raw names.
    profile : {"indonesian", "generic"}, default "indonesian"
    variants : pandas.DataFrame or dict, optional
        Extra variant -> canonical entries (DataFrame columns ``variant``, ``canonical``),
        added to (and overriding) the shipped table. Keys are dotless upper tokens.
    titles : pandas.DataFrame or dict, optional
        Extra title -> kind (``prefix`` or ``suffix``) entries (columns ``title``, ``kind``).

    Returns
    -------
    pandas.DataFrame
        Same index. ``nama``, ``nama_gelar``, ``nama_bin``, ``nama_phonetic`` (phonetic key per
        canonical token, space-joined), ``nama_sorted`` (canonical tokens sorted) as
        ``string`` (<NA> when empty), and ``n_tokens`` (``Int8``, tokens in ``nama``).

    Examples
    --------
    >>> import pandas as pd
    >>> out = clean_name(pd.Series(["H. Ahmad Dahlan, S.Pd.", "Moch. Rizki", "Muhammad Rizky",
    ...                             "DJOKO bin Soeparman"]))
    >>> out[["nama", "nama_gelar", "nama_bin", "nama_phonetic"]].values.tolist()
    [['AHMAD DAHLAN', 'H S.PD', <NA>, 'AMAT DALAN'], ['MUHAMMAD RIZKI', <NA>, <NA>, 'MUHAMAT RISKI'], ['MUHAMMAD RIZKY', <NA>, <NA>, 'MUHAMAT RISKI'], ['JOKO', <NA>, 'SUPARMAN', 'JUKU']]
    """
    if profile not in ("indonesian", "generic"):
        raise ValueError(
            f"The 'profile' parameter of clean_name must be 'indonesian' or 'generic'. Got {profile!r} instead."
        )
    s = as_string(values)
    if profile == "generic":
        out = map_distinct(s, _generic)
    else:
        var = {**_default_variants(), **_as_dict(variants, "variant", "canonical")}
        tit = {**_default_titles(), **_as_dict(titles, "title", "kind")}
        out = map_distinct(s, lambda u: _indonesian(u, var, tit))
    for col in NAME_COLUMNS[:-1]:
        out[col] = out[col].astype(STRING)
    out["n_tokens"] = out["n_tokens"].astype("Int8")
    return out[list(NAME_COLUMNS)]
