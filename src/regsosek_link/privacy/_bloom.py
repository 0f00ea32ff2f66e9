"""Keyed Bloom-filter encodings of text fields, their hardening, and the Dice coefficient.

A value is cut into tokens (padded ``q``-grams of a name or place; positional digits and
parts of a birth date); each token sets ``k`` bits of an ``m``-bit filter, at positions
taken from the HMAC-SHA256 of the token under the field's sub-key. Two values that share
most tokens share most bits, so the Dice coefficient of their filters,
``2 |A & B| / (|A| + |B|)``, approximates that of their token sets, and the filters say
nothing about the tokens to anyone without the key.

Hardening (see :mod:`regsosek_link.privacy` for the reasons):

- *random hashing* (Schnell, Borgs & Encheva 2016): the ``k`` positions of a token are
  independent parts of one keyed digest, not the double-hashing scheme ``h1 + i * h2``
  that Kroll & Steinmetzer (2015) attacked;
- one sub-key per field, so a token of the name and the same token of the mother's name
  set unrelated bits;
- *BLIP* (Schnell & Borgs 2016; Alaggan et al. 2012): each bit is flipped with
  probability ``flip_probability``, by noise drawn from a keyed per-record seed, so that
  two records with one name get different filters: the frequencies of the filters no
  longer mirror those of the names, and a pattern-mining attack sees noisy bits;
- optional *XOR-folding* (Schnell, Borgs & Encheva 2016): the two halves of the filter
  are XORed into one, so no bit belongs to one token.

Work is done on the distinct values of a column: tokens are made once per distinct value
and their positions once per distinct token; bits are set with numpy on value-by-position
index arrays, in chunks, and packed eight to a byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .._secret import keyed_digests

__all__ = ["FilterSpec", "bloom_filters", "dice", "flip_bits", "overlap", "popcount", "xor_fold"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True, kw_only=True)
class FilterSpec:
    """How one field is encoded as a Bloom filter.

    Parameters
    ----------
    column : str
        Clean-records column encoded (``nama``, ``tanggal_lahir``...).
    tokens : {"qgrams", "date"}
        ``"qgrams"``: the ``q``-grams of each word of the value, padded with ``_`` at both
        ends (``_S``, ``SI``, ``IT``, ``TI``, ``I_`` for ``SITI``), each distinct q-gram once:
        words in another order give the same filter, and a dropped word leaves the other
                name's q-grams a subset (see ``containment`` of :class:`DiceAtThresholds`). Words
        after a tab (the ``words_column``'s) are added whole, marked ``#``. ``"date"``: an
        ISO date's year digits in place and the year; its month and day as an unordered pair,
        and digit by digit, and in order (a swapped day and month loses one token of ten, a
        mistyped digit two or three); a year alone gives the year's tokens.
    q : int
        Length of the q-grams.
    bits : int
        Filter length ``m`` (a multiple of 64; of 128 when folded).
    hashes : int
        Number of bits ``k`` each token sets (at most 32).
    words_column : str, optional
        A clean column whose words are added as whole tokens (``nama_phonetic``: names that
        sound alike share them).
    initials : bool
        Add each word's first letter as a token (marked ``^``): an initial (``S FATIMAH``)
        then shares a token with the word it stands for (``SITI FATIMAH``), as the clear
        name comparison matches initials.
    """

    column: str
    tokens: Literal["qgrams", "date"] = "qgrams"
    q: int = 2
    bits: int = 1024
    hashes: int = 20
    words_column: str | None = None
    initials: bool = False

    def __post_init__(self) -> None:
        from ..errors import ConfigError

        if self.tokens not in ("qgrams", "date"):
            raise ConfigError(f"The 'tokens' parameter of FilterSpec must be 'qgrams' or 'date'. Got {self.tokens!r} instead.")
        if not isinstance(self.bits, int) or self.bits < 64 or self.bits % 64 or self.bits > 65536:
            raise ConfigError(f"The 'bits' parameter of FilterSpec must be a multiple of 64 in [64, 65536]. "
                              f"Got {self.bits!r} instead.")
        if not isinstance(self.hashes, int) or not 1 <= self.hashes <= 32:
            raise ConfigError(f"The 'hashes' parameter of FilterSpec must be an int in [1, 32]. Got {self.hashes!r} instead.")
        if not isinstance(self.q, int) or not 1 <= self.q <= 4:
            raise ConfigError(f"The 'q' parameter of FilterSpec must be an int in [1, 4]. Got {self.q!r} instead.")

    def tokens_of(self, value: str) -> list[str]:
        """The tokens of one value.

        >>> FilterSpec(column="nama").tokens_of("SITI")
        ['_S', 'SI', 'IT', 'TI', 'I_']
        >>> sorted(FilterSpec(column="nama").tokens_of("ANI SITI")) == sorted(FilterSpec(column="nama").tokens_of("SITI ANI"))
        True
        >>> FilterSpec(column="nama", initials=True).tokens_of("S ANI")
        ['^S', '^A', '_S', 'S_', '_A', 'AN', 'NI', 'I_']
        >>> FilterSpec(column="tanggal_lahir", tokens="date").tokens_of("1990-08-05")[4:]
        ['y1990', 'a08', 'a05', 'p000', 'p158', 'md0805']
        """
        if self.tokens == "date":
            digits = value.replace("-", "")
            if len(digits) == 4:  # a date known to the year only
                return [f"{i}{c}" for i, c in enumerate(digits)] + [f"y{digits}"]
            if len(digits) != 8:
                return [f"x{value}"]
            y, m, d = digits[:4], digits[4:6], digits[6:]
            # the year's digits in place; day and month as an unordered pair, digit by digit,
            # so a swapped day and month loses only the ordered token
            return ([f"{i}{c}" for i, c in enumerate(y)] + [f"y{y}", f"a{m}", f"a{d}"]
                    + [f"p{i}" + "".join(sorted((m[i], d[i]))) for i in range(2)] + [f"md{m}{d}"])
        pad = "_" * (self.q - 1)
        value, _, extra = value.partition("\t")
        out: dict[str, None] = dict.fromkeys(f"#{w}" for w in extra.split())
        if self.initials:
            out.update(dict.fromkeys(f"^{w[0]}" for w in value.split()))
        for word in value.split():
            s = f"{pad}{word}{pad}"
            out.update(dict.fromkeys(s[i:i + self.q] for i in range(len(s) - self.q + 1)))
        return list(out)


def _positions(subkey: bytes, tokens: Sequence[str], bits: int, hashes: int) -> np.ndarray:
    """(n_tokens, hashes) bit positions of each token: 16-bit parts of its keyed digest."""
    words = np.frombuffer(b"".join(keyed_digests(subkey, list(tokens), size=32)), "<u2").astype(np.uint16).reshape(len(tokens), 16)
    if hashes > 16:  # a second digest (of the token with a suffix) for hashes 17..32
        more = keyed_digests(subkey, [f"{t}\x00#2" for t in tokens], size=32)
        words = np.hstack([words, np.frombuffer(b"".join(more), "<u2").astype(np.uint16).reshape(len(tokens), 16)])
    words = words[:, :hashes]
    return (words.astype(np.int64) % bits) if len(tokens) else np.zeros((0, hashes), np.int64)


def bloom_filters(values: Sequence[str], spec: FilterSpec, subkey: bytes, *, chunk: int = 32_768) -> np.ndarray:
    """Packed filters of ``values``: an ``(n, spec.bits // 8)`` ``uint8`` array.

    Parameters
    ----------
    values : sequence of str
        Distinct clean values (each is encoded once; map records to them by code).
    spec : FilterSpec
    subkey : bytes
        The field's secret sub-key.
    chunk : int
        Values whose bits are set at a time (bounds the unpacked matrix).

    Examples
    --------
    >>> spec = FilterSpec(column="nama", bits=256, hashes=8)
    >>> f = bloom_filters(["SITI AMINAH", "SITI AMINA", "BUDI"], spec, b"k" * 32)
    >>> f.shape
    (3, 32)
    >>> a, b, c = (popcount(f[i:i + 1]) for i in range(3))
    >>> float(dice(f[[0]], f[[1]])[0]) > 0.8 > float(dice(f[[0]], f[[2]])[0])
    True
    """
    n = len(values)
    out = np.zeros((n, spec.bits // 8), np.uint8)
    if n == 0:
        return out
    per_value = [spec.tokens_of(v) for v in values]
    counts = np.fromiter(map(len, per_value), np.int64, n)
    flat = [t for toks in per_value for t in toks]
    token_ids: dict[str, int] = {}
    ids = np.fromiter((token_ids.setdefault(t, len(token_ids)) for t in flat), np.int64, len(flat))
    pos = _positions(subkey, list(token_ids), spec.bits, spec.hashes)
    owner = np.repeat(np.arange(n), counts)
    starts = np.concatenate([[0], np.cumsum(counts)])
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        sl = slice(starts[lo], starts[hi])
        mat = np.zeros((hi - lo, spec.bits), bool)
        rows = np.repeat(owner[sl] - lo, spec.hashes)
        mat[rows, pos[ids[sl]].ravel()] = True
        out[lo:hi] = np.packbits(mat, axis=1)
    return out


def _splitmix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser of each ``uint64`` (a fast, well-mixed integer hash)."""
    z = x.copy()
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def flip_bits(filters: np.ndarray, seeds: np.ndarray, probability: float, *, chunk: int = 16_384) -> np.ndarray:
    """BLIP: each bit of row ``i`` flipped with ``probability``, by noise from ``seeds[i]``.

    The noise of a row depends only on its seed (a keyed digest of the record's key), so an
    encoding is the same in every run and on every machine. The probability is applied at
    a 1/65536 resolution.

    >>> f = np.zeros((2, 128), np.uint8)
    >>> g = flip_bits(f, np.array([1, 2], np.uint64), 0.05)
    >>> 0 < int(popcount(g)[0]) < 150
    True
    >>> bool((flip_bits(f, np.array([1, 2], np.uint64), 0.05) == g).all())
    True
    """
    if probability <= 0:
        return filters
    n, width = filters.shape
    bits = width * 8
    limit = np.uint16(min(round(probability * 65536), 65535))
    out = filters.copy()
    n_words = bits // 4  # four 16-bit draws per 64-bit word
    counter = np.arange(1, n_words + 1, dtype=np.uint64) * _GOLDEN
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        draws = _splitmix(seeds[lo:hi, None].astype(np.uint64) + counter[None, :])
        flip = draws.astype("<u8").view("<u2").reshape(hi - lo, bits) < limit
        out[lo:hi] ^= np.packbits(flip, axis=1)
    return out


def xor_fold(filters: np.ndarray) -> np.ndarray:
    """The two halves of each filter XORed into one (half the length).

    >>> xor_fold(np.array([[0b1100, 0b1010]], np.uint8)).tolist()
    [[6]]
    """
    half = filters.shape[1] // 2
    return filters[:, :half] ^ filters[:, half:]


def popcount(filters: np.ndarray) -> np.ndarray:
    """Number of set bits of each packed filter."""
    return np.bitwise_count(filters).sum(axis=1, dtype=np.int32)


def overlap(a: np.ndarray, b: np.ndarray, count_a: np.ndarray, count_b: np.ndarray) -> np.ndarray:
    """Overlap coefficient ``|A & B| / min(|A|, |B|)`` of the rows of two packed filter arrays
    (1 when one filter's bits are all in the other's)."""
    if a.shape[1] % 8 == 0 and a.dtype == np.uint8:
        a, b = a.view(np.uint64), b.view(np.uint64)
    common = np.bitwise_count(a & b).sum(axis=1, dtype=np.int32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return common / np.minimum(count_a, count_b).astype(np.float64)


def dice(a: np.ndarray, b: np.ndarray, count_a: np.ndarray | None = None,
         count_b: np.ndarray | None = None) -> np.ndarray:
    """Dice coefficient of the rows of two packed filter arrays, row by row (``nan`` when both are empty).

    The filters are read as ``uint64`` words when their width allows (eight times fewer
    popcounts); ``count_a``/``count_b`` are the rows' set bits when already known.
    """
    if a.shape[1] % 8 == 0 and a.dtype == np.uint8:
        a, b = a.view(np.uint64), b.view(np.uint64)
    common = np.bitwise_count(a & b).sum(axis=1, dtype=np.int32)
    ca = popcount(a) if count_a is None else count_a
    cb = popcount(b) if count_b is None else count_b
    total = (ca + cb).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2.0 * common / total
