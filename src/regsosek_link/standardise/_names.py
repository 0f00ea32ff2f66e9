"""Person names: canonical tokens, titles/degrees, bin/binti, old spelling, variants."""

from __future__ import annotations

import importlib.resources
import io
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Literal

import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ._common import (
    STRING,
    ascii_upper,
    ascii_upper_arrow,
    collapse_spaces,
    expand,
    factorize,
    string_series,
    to_arrow,
)
from ._phonetic import phonetic_key

NAME_COLUMNS: tuple[str, ...] = ("nama", "nama_gelar", "nama_bin", "nama_phonetic", "nama_sorted", "n_tokens")

_BIN = frozenset({"BIN", "BINTI", "BINT"})
#: Where a title may stand: before the name, after it, or either (Alm. Budi / Budi (Alm)).
_TITLE_KINDS = ("prefix", "suffix", "either")
#: Marks of the pre-1972 spelling. ``NJ`` counts only at the start of a word: inside a word it is
#: the modern n + j of TANJUNG, PANJI, SANJAYA (EYD has no word starting with nj).
_OLD_J_MARKERS = r"OE|TJ|DJ|\bNJ|SJ"
_DOTTED = r"[A-Z]\.[A-Z]"  # a dotted degree (S.PD) stays one token


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


#: The old-spelling rules of rule 5 of :func:`clean_name`, in order (``\x02`` holds a DJ
#: while J becomes Y; ``^NJ``, the old NY, is a regular expression: only a word's first
#: letters, since inside a word NJ is the modern n + j of TANJUNG).
_EYD: tuple[tuple[str, str], ...] = (
    ("OE", "U"), ("DJ", "\x02"), ("TJ", "C"), ("^NJ", "NY"), ("SJ", "SY"), ("CH", "KH"),
)


def _eyd_marked(keys: pa.Array) -> pa.Array:
    """Old spelling folded to EYD, with the J that came from DJ marked as ``\\x02``.

    A whole token ``CH`` stays: it is the initial of Chairul/Choirul (``Ch. Anwar``), not
    the old spelling of the title KH.
    """
    k = keys
    # to a fixed point: a DJ that became J can make a new old-spelling pair with the letter
    # before it (SDJ -> SJ -> SY, TDJ -> TJ -> C, DDJ -> DJ -> J), which a second cleaning
    # would otherwise change again; NDJ keeps its J inside a word (TANDJUNG is TANJUNG) but
    # not at a word's start (NDJ -> NJ -> NY)
    while True:
        for a, b in _EYD:
            k = pc.replace_substring_regex(k, a, b) if a.startswith("^") else pc.replace_substring(k, a, b)
        again = pc.replace_substring_regex(pc.replace_substring_regex(k, "([TDS])\x02", "\\1J"), "^N\x02", "NJ")
        if again.equals(k):
            break
        k = again
    return pc.if_else(pc.equal(keys, "CH"), keys, k)


def _eyd(keys: pa.Array) -> pa.Array:
    """Old spelling folded to EYD without the J -> Y step (``HADJI`` -> ``HAJI``, ``NJ`` -> ``NY``)."""
    return pc.replace_substring(_eyd_marked(keys), "\x02", "J")


def _canon(keys: pa.Array, old: np.ndarray, variants: dict[str, str]) -> pa.Array:
    """Canonical forms of name tokens (rule 5 of :func:`clean_name`); ``old``: old spelling."""
    var_keys = pa.array(list(variants), type=pa.string())
    var_values = pa.array(list(variants.values()), type=pa.string())

    def lookup(k: pa.Array) -> pa.Array:
        return pc.coalesce(var_values.take(pc.index_in(k, value_set=var_keys)), k)

    k = _eyd_marked(lookup(keys))
    k = pc.if_else(pa.array(old, type=pa.bool_()), pc.replace_substring(k, "J", "Y"), k)
    return lookup(pc.replace_substring(k, "\x02", "J"))


def _sub_tokens(tokens: pa.Array, suffix: set[str]) -> tuple[np.ndarray, pa.Array, pa.Array, np.ndarray]:
    """Split distinct raw tokens (``[A-Z0-9.]+``) into sub-tokens (rule 2 of :func:`clean_name`).

    A dotted degree (``S.PD``, in ``suffix`` without its dots) stays one token, stripped of
    outer dots, and is *marked*; other dots separate sub-tokens. A sub-token's key is its
    letters; sub-tokens with an empty key are dropped. Returns, in token order, each
    sub-token's token number, display form, key and mark.
    """
    marked = (
        pc.is_in(pc.replace_substring(tokens, ".", ""), value_set=pa.array(sorted(suffix), type=pa.string()))
        .to_numpy(zero_copy_only=False)
        & pc.match_substring_regex(tokens, _DOTTED).to_numpy(zero_copy_only=False)
    )
    split = pc.split_pattern(tokens, ".")
    parent = pc.list_parent_indices(split).to_numpy()
    plain = ~marked[parent]
    whole = np.flatnonzero(marked)
    owner = np.concatenate([parent[plain], whole])
    disp = pa.concat_arrays([
        pc.list_flatten(split).filter(pa.array(plain)),
        pc.utf8_trim(tokens.take(pa.array(whole, type=pa.int64())), "."),
    ])
    mark = np.concatenate([np.zeros(int(plain.sum()), dtype=bool), np.ones(len(whole), dtype=bool)])
    order = np.argsort(owner, kind="stable")
    key = pc.replace_substring_regex(disp, "[^A-Z]", "").take(pa.array(order))
    keep = np.flatnonzero(pc.not_equal(key, "").to_numpy(zero_copy_only=False))
    order = order[keep]
    return owner[order], disp.take(pa.array(order)), key.take(pa.array(keep)), mark[order]


def _groups(i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For sorted group labels ``i``: start row of each group and each row's group number."""
    flag = np.ones(len(i), dtype=bool)
    flag[1:] = i[1:] != i[:-1]
    starts = np.flatnonzero(flag)
    return starts, np.cumsum(flag) - 1


def _join_arrow(i: np.ndarray, values: pa.Array, n: int) -> pd.Series:
    """Space-join ``values`` per group ``i`` (sorted) into a ``string`` Series of length n (<NA> when none)."""
    counts = np.bincount(i, minlength=n) if len(i) else np.zeros(n, dtype=np.int64)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=offsets[1:])
    lists = pa.ListArray.from_arrays(pa.array(offsets), values)
    joined = pc.binary_join(lists, " ")
    joined = pc.if_else(pa.array(counts > 0), joined, pa.nulls(n, pa.string()))
    return string_series(joined)


def _indonesian(u: pd.Series, variants: dict[str, str], titles: dict[str, str]) -> pd.DataFrame:
    # Token-wise and once per distinct token: names are split and the distinct tokens cleaned
    # with pyarrow kernels, the positional rules (leading/trailing titles, BIN) run on
    # integer arrays of the token rows, and the joins are pyarrow list joins.
    n = len(u)
    prefix = {k for k, v in titles.items() if v in ("prefix", "either")}
    suffix = {k for k, v in titles.items() if v in ("suffix", "either")}
    t = ascii_upper_arrow(to_arrow(u))
    t = pc.replace_substring_regex(t, r"[`']", "")
    old = pc.match_substring_regex(t, _OLD_J_MARKERS).fill_null(False).to_numpy(zero_copy_only=False)
    # every character but letters, digits and dots separates tokens (whitespace included)
    t = pc.replace_substring_regex(t, r"[^A-Z0-9.]", " ")
    lists = pc.split_pattern(t, " ")
    flat = pc.list_flatten(lists)
    parent = pc.list_parent_indices(lists).to_numpy()
    nonempty = pc.not_equal(flat, "").to_numpy(zero_copy_only=False)
    flat = flat.filter(pa.array(nonempty))
    parent = parent[nonempty]
    enc = pc.dictionary_encode(flat)
    tcode = enc.indices.to_numpy().astype(np.intp) if len(flat) else np.zeros(0, dtype=np.intp)
    sub_owner, sub_disp, sub_key, sub_marked = _sub_tokens(enc.dictionary, suffix)
    nsub = np.bincount(sub_owner, minlength=len(enc.dictionary))
    offs = np.zeros(len(nsub) + 1, dtype=np.intp)
    np.cumsum(nsub, out=offs[1:])
    cnt = nsub[tcode]
    total = int(cnt.sum())
    within = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    sid = np.repeat(offs[:-1][tcode], cnt) + within  # row -> sub-token entry
    i = np.repeat(parent, cnt)
    key_enc = pc.dictionary_encode(sub_key)
    key_names = key_enc.dictionary
    kid = key_enc.indices.to_numpy().astype(np.intp)[sid] if total else np.zeros(0, dtype=np.intp)
    marked = sub_marked[sid] if total else np.zeros(0, dtype=bool)

    # titles are recognised in old spelling too (NJ. = Ny., HADJI = HAJI), else a second
    # cleaning would remove a title that only shows once the spelling is folded
    folded_names = _eyd(key_names)

    def in_set(words: AbstractSet[str]) -> np.ndarray:
        value_set = pa.array(sorted(words), type=pa.string())
        found = pc.or_(pc.is_in(key_names, value_set=value_set), pc.is_in(folded_names, value_set=value_set))
        return found.to_numpy(zero_copy_only=False)[kid] if total else marked

    in_prefix, in_suffix, in_bin, is_m = in_set(prefix), in_set(suffix), in_set(_BIN), in_set({"M"})

    # titles: the leading run of prefixes, the trailing run of suffixes, marked degrees anywhere
    gelar = np.zeros(total, dtype=bool)
    if total:
        r = np.arange(total)
        starts, g = _groups(i)
        is_prefix = in_prefix & ~marked
        is_suffix = in_suffix | marked
        first_non_prefix = np.minimum.reduceat(np.where(is_prefix, total, r), starts)[g]
        last_non_suffix = np.maximum.reduceat(np.where(is_suffix, -1, r), starts)[g]
        gelar = (r < first_non_prefix) | (r > last_non_suffix) | marked
        # a name made only of titles keeps them as its name
        all_gelar = np.minimum.reduceat(gelar.astype(np.int8), starts).astype(bool)[g]
        gelar &= ~all_gelar
    nm = ~gelar
    ni, nkid, nbin, nm_m = i[nm], kid[nm], in_bin[nm], is_m[nm]
    nn = len(ni)
    keep = np.ones(nn, dtype=bool)
    in_binp = np.zeros(nn, dtype=bool)
    m_rule = np.zeros(nn, dtype=bool)
    if nn:
        starts, g = _groups(ni)
        sizes = np.diff(np.r_[starts, nn])
        npos = np.arange(nn) - starts[g]
        ntok = sizes[g]
        is_bin = nbin & (npos >= 1)
        bin_pos = np.minimum.reduceat(np.where(is_bin, npos, nn + 1), starts)[g]
        has_bin = (bin_pos <= nn) & (bin_pos < ntok - 1)
        in_binp = has_bin & (npos > bin_pos)
        keep = ~(has_bin & (npos >= bin_pos))
        m_rule = nm_m & (npos == 0) & (np.where(has_bin, bin_pos, ntok) > 1)
    # canonical tokens, once per distinct (key, old spelling) pair
    pair = nkid.astype(np.int64) * 2 + old[ni]
    pcodes, puniq = pd.factorize(pair) if nn else (np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.int64))
    canon_u = _canon(key_names.take(pa.array(puniq >> 1)), (puniq & 1).astype(bool), variants).to_pylist()
    canon_names, canon_of_pair = np.unique(np.asarray(canon_u + ["MUHAMMAD"], dtype=object), return_inverse=True)
    cid = canon_of_pair[pcodes] if nn else np.zeros(0, dtype=np.intp)
    cid = np.where(m_rule, canon_of_pair[-1], cid)
    canon_arr = pa.array(canon_names.tolist(), type=pa.string())
    phon_arr = to_arrow(phonetic_key(pd.Series(canon_names.tolist(), dtype=STRING)))
    mi, mcid = ni[keep], cid[keep]
    # canon_names is sorted, so sorting ids sorts the tokens within each name
    order = np.lexsort((mcid, mi))
    gi = i[gelar]
    out = pd.DataFrame(index=u.index)
    out["nama"] = _join_arrow(mi, canon_arr.take(pa.array(mcid)), n).set_axis(u.index)
    out["nama_gelar"] = _join_arrow(gi, sub_disp.take(pa.array(sid[gelar])), n).set_axis(u.index)
    out["nama_bin"] = _join_arrow(ni[in_binp], canon_arr.take(pa.array(cid[in_binp])), n).set_axis(u.index)
    out["nama_phonetic"] = _join_arrow(mi, phon_arr.take(pa.array(mcid)), n).set_axis(u.index)
    out["nama_sorted"] = _join_arrow(mi[order], canon_arr.take(pa.array(mcid[order])), n).set_axis(u.index)
    out["n_tokens"] = pd.array(np.bincount(mi, minlength=n) if len(mi) else np.zeros(n, dtype=np.int64), dtype="Int8")
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
       (S.Pd, SE, SH, ST, M.Pd, ...) from the trailing run, and a dotted degree anywhere;
       titles of kind *either* from both runs (``Alm.``/``Almarhum``: ``Alm. Budi`` and
       ``Budi (Alm)``, the late Budi).
       They go to ``nama_gelar`` as written, dots inside kept (``H S.PD``). A name made only
       of titles keeps them. Titles are recognised in the old spelling too (``NJ.`` = Ny.,
       ``HADJI`` = Haji).
    4. ``BIN``/``BINTI`` after the first token, followed by a name: the father's name moves
       to ``nama_bin`` and is dropped (with the BIN token) from ``nama``.
    5. Variant families (``name_variants.csv``: Moch./Mohamad/... -> MUHAMMAD, Achmad ->
       AHMAD, Abd. -> ABDUL, St./Sitti -> SITI, Noor -> NUR, Rachmat -> RAHMAT, ...),
       then old spelling to EYD (``oe->u``, ``tj->c``, ``dj->j``, ``nj->ny`` at a word's start,
       ``sj->sy``, ``ch->kh`` (a lone ``CH`` stays: the initial of Chairul), repeated while a
       ``dj->j`` makes a new pair: Hasdjim -> HASYIM; ``j->y`` only when the raw name carries
       one of oe/tj/dj/sj or a word starting with nj). Inside a word ``nj`` is the modern n + j
       and stays (TANJUNG, PANJI, SANJAYA; the phonetic key still folds it with ny), then the variant table again
       (for forms that only match after the spelling reform).
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
        Extra title -> kind (``prefix``, ``suffix`` or ``either``) entries (columns ``title``,
        ``kind``).

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
    codes, u = factorize(values)
    out = clean_name_distinct(u, profile=profile, variants=variants, titles=titles)
    index = values.index if isinstance(values, pd.Series) else pd.RangeIndex(len(codes))
    return expand(out, codes, index)


def clean_name_distinct(
    u: pd.Series,
    *,
    profile: Literal["indonesian", "generic"] = "indonesian",
    variants: pd.DataFrame | Mapping[str, str] | None = None,
    titles: pd.DataFrame | Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """:func:`clean_name` of distinct, stripped values (positional result)."""
    u = u.reset_index(drop=True)
    if profile == "generic":
        out = _generic(u)
    else:
        var = {**_default_variants(), **_as_dict(variants, "variant", "canonical")}
        extra = _as_dict(titles, "title", "kind")
        bad = {k: v for k, v in extra.items() if v.lower() not in _TITLE_KINDS}
        if bad:
            raise ValueError(f"title kinds must be one of {list(_TITLE_KINDS)}; got {bad}")
        tit = {**_default_titles(), **{k: v.lower() for k, v in extra.items()}}
        out = _indonesian(u, var, tit)
    for col in NAME_COLUMNS[:-1]:
        out[col] = out[col].astype(STRING)
    out["n_tokens"] = out["n_tokens"].astype("Int8")
    return out[list(NAME_COLUMNS)]
