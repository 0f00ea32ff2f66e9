"""An Indonesian phonetic key for name tokens."""

from __future__ import annotations

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

_V = "AEIOU"
#: (pattern, replacement) applied in order; ``\b`` marks a word edge.
_STEPS: tuple[tuple[str, str], ...] = (
    # 1. pre-1972 spelling (Van Ophuijsen / Soewandi) to EYD
    (r"OE", "U"), (r"DJ", "J"), (r"TJ", "C"), (r"NJ", "NY"), (r"SJ", "SY"),
    # 2. consonant equivalences (Priyadi 2005, with the deviations documented below)
    (r"DZ", "Z"), (r"CH", "H"), (r"KH", "H"), (r"Q", "K"), (r"X", "KS"),
    (r"PH", "F"), (r"V", "F"), (r"F", "P"), (r"SY", "S"), (r"SH", "S"),
    (r"TH", "T"), (r"DH", "D"), (r"GH", "G"), (r"Z", "S"),
    # 3. word-final y after a consonant is the vowel i (RIZKY = RIZKI)
    (rf"(?<=[^{_V}\s])Y\b", "I"),
    # 4. y and j merge (old j = new y), except in the digraph ny
    (r"NY", "\x03"), (r"Y", "J"), ("\x03", "NY"),
    # 5. final devoicing
    (r"D\b", "T"), (r"B\b", "P"),
    # 6. silent h: after a vowel before a consonant or at the word end, and after a consonant
    (rf"(?<=[{_V}])H(?=[^{_V}]|\b)", ""), (rf"(?<=[^{_V}\s])H", ""),
    # 7. vowel classes: e~i, o~u; diphthongs ai/ae/ei -> i, au/ao -> u
    (r"E", "I"), (r"O", "U"), (r"([A-Z])\1+", r"\1"), (r"AI", "I"), (r"AU", "U"),
    # 8. collapse doubled letters (again, after the merges above)
    (r"([A-Z])\1+", r"\1"),
)


def _re2_steps() -> list[tuple[str, str]]:
    """``_STEPS`` for RE2 (pyarrow), on text made of A-Z and single spaces only.

    RE2 has no look-arounds or back-references; on that alphabet these rewrites match
    exactly what ``_STEPS`` matches (checked against the Python ``re`` version in the tests).
    """
    steps: list[tuple[str, str]] = []
    collapse = [(f"{c}{c}+", c) for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    for pat, rep in _STEPS:
        if pat == rf"(?<=[^{_V}\s])Y\b":
            steps.append((rf"([^{_V} ])Y\b", r"\1I"))
        elif pat == rf"(?<=[{_V}])H(?=[^{_V}]|\b)":
            steps.append((rf"([{_V}])H([^{_V}]|$)", r"\1\2"))
        elif pat == rf"(?<=[^{_V}\s])H":
            steps.append((rf"([^{_V} ])H+", r"\1"))
        elif pat == r"([A-Z])\1+":
            steps.extend(collapse)
        else:
            steps.append((pat, rep))
    return steps


_RE2_STEPS = _re2_steps()


def _key_arrow(u: pd.Series) -> pd.Series:
    t = ascii_upper_arrow(to_arrow(u))
    t = pc.utf8_trim(pc.replace_substring_regex(t, r"[^A-Z]+", " "), " ")
    t = pc.if_else(pc.equal(t, ""), pa.nulls(len(t), pa.string()), t)
    for pat, rep in _RE2_STEPS:
        if "\\" in rep or "(" in pat or "\\b" in pat or "$" in pat or "+" in pat:
            t = pc.replace_substring_regex(t, pat, rep)
        else:
            t = pc.replace_substring(t, pat, rep)
    return string_series(t, index=u.index)


def _key(u: pd.Series) -> pd.Series:
    t = collapse_spaces(ascii_upper(u).str.replace(r"[^A-Z]+", " ", regex=True))
    for pat, rep in _STEPS:
        t = t.str.replace(pat, rep, regex=True)
    return t.astype(STRING)


def phonetic_key(tokens: pd.Series) -> pd.Series:
    r"""Indonesian phonetic key, applied to every word of every value.

    In the spirit of Priyadi (2005, priyadi.net, "Soundex untuk bahasa Indonesia") and the
    Indonesian Soundex variants of Rahadian et al. (STT Telkom), but keeping the letters
    (no fixed-length digit code), so it can be compared with edit distances as well as for
    equality. Steps, in order:

    1. ASCII upper case; non-letters become word breaks.
    2. Old spelling to EYD: ``oe->u``, ``dj->j``, ``tj->c``, ``nj->ny``, ``sj->sy``.
    3. Consonants: ``dz->z``; ``ch`` and ``kh -> h`` (Arabic *kha* is written kh, ch or h:
       Achmad/Akhmad/Ahmad, Choirul/Khoirul/Hoirul; Priyadi has ``kh->k``);
       ``q->k``, ``x->ks``, ``ph``/``v->f`` and then ``f->p`` (Arifin/Aripin,
       Fatimah/Patimah); ``sy``/``sh->s``, ``th->t``, ``dh->d``, ``gh->g``;
       ``z->s`` (Rizki/Riski; Priyadi has ``z->j``, which would split them).
    4. A word-final ``y`` after a consonant is the vowel ``i`` (Rizky).
    5. ``y`` and ``j`` merge into ``j`` (old ``j`` is the new ``y``: Tjahjo/Cahyo,
       Joesoef/Yusuf), except in the digraph ``ny``, which is kept.
    6. Final devoicing: word-final ``d->t``, ``b->p``.
    7. Silent ``h`` dropped: after a vowel before a consonant or at the word end
       (Fatimah/Fatima, Rahmat/Ramat, Cahyo/Cayo) and after a consonant; an initial
       ``h`` and an ``h`` between vowels (Muhammad) are kept.
    8. Vowel classes: ``e->i``, ``o->u``; doubled letters collapsed; diphthongs
       ``ai``/``ae``/``ei -> i`` and ``au``/``ao -> u`` (Zainal/Zaenal, Saiful/Saeful).
    9. Doubled letters collapsed again (Muhammad/Muhamad).

    Vowels are kept (as three classes), not dropped as in Soundex: Indonesian given names are
    short and many differ only by vowel (Eka/Eko, Budi/Bayu), and the sex-marking final
    vowel (Putra/Putri) must survive.

    Parameters
    ----------
    tokens : pandas.Series
        Name tokens (or whole names; each word is keyed separately).

    Returns
    -------
    pandas.Series
        ``string`` dtype, same index; <NA> for missing or letter-less input.

    Examples
    --------
    >>> import pandas as pd
    >>> phonetic_key(pd.Series(["DJOKO", "JOKO", "TJAHJO", "CAHYO", "Joesoef", "YUSUF"])).tolist()
    ['JUKU', 'JUKU', 'CAJU', 'CAJU', 'JUSUP', 'JUSUP']
    >>> phonetic_key(pd.Series(["MUHAMMAD", "Muhamad", "RIZKY", "RISKI", "BUDI", "BAYU"])).tolist()
    ['MUHAMAT', 'MUHAMAT', 'RISKI', 'RISKI', 'BUDI', 'BAJU']
    """
    codes, u = factorize(tokens)
    index = tokens.index if isinstance(tokens, pd.Series) else pd.RangeIndex(len(codes))
    return expand(_key_arrow(u), codes, index).astype(STRING)
