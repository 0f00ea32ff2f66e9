"""Encode clean records for privacy-preserving linkage (see :mod:`regsosek_link.privacy`).

:func:`encode_records` turns a data holder's clean records into *encoded records* with the
columns the pipeline links on, none holding a clear value:

==============================  ===============================================================
column                          content
==============================  ===============================================================
``source``, ``record_id``       as they are: the holder maps results back to its own rows by them
``encoding``                    scheme version and the key's check value (same for every record)
``nik``, ``no_kk``              32 hex digits of the HMAC-SHA256 of the number (16-digit numbers
                                of a usable status only, as the clear comparison takes them)
``nik_near``                    base64 of the NIK's 33 near-miss hashes (:func:`_near_hashes`):
                                a substitution, an adjacent transposition, a shifted serial
``nik_valid``, ``kk_valid``     whether the number is structurally valid (a flag, no value)
``tanggal_lahir_placeholder``   whether the day of birth is unknown: a placeholder date (1 July,
                                31 December...) or a date known to the year only
``tahun_lahir``                 32 hex digits of the HMAC of the birth year (a placeholder date
                                is compared on it)
``nik_fit``                     ``credible`` (the NIK's birth date and sex are the record's),
                                ``contradicts`` (one of them differs) or missing
``jenis_kelamin``,              HMAC hex of the sex and of each region level; ``kode_wilayah``
``kode_prov`` ...               is the finest level known
``nama``, ``nama_ibu``,         base64 of the hardened Bloom filter of the value
``tanggal_lahir``,
``tempat_lahir``, ``alamat``
``bk_<i>``                      the keys of blocking rule ``i`` for this record: 16 hex digits of
                                the HMAC of each key (a ``tokens`` rule gives several,
                                space-separated)
==============================  ===============================================================

Everything is keyed by sub-keys of the holder's :class:`~regsosek_link._secret.SecretKey`
(one per column, per filter, per blocking rule), so all holders must use one key, shared
among them and never with the linkage unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from .._arrays import NONE
from .._codes import factorize_strings
from .._secret import SecretKey, keyed_digests
from ..block import BlockingRule, BlockOn, rule_keys
from ..config import default_blocking_rules
from ..errors import ConfigError
from ._bloom import FilterSpec, bloom_filters, flip_bits, xor_fold
from .processing import ENCODING_COLUMN

__all__ = ["ENCODING_VERSION", "EncodingSettings", "decode_filters", "encode_records"]

#: Version of the encoding scheme, written in every encoded record.
ENCODING_VERSION = "pprl-v2"

#: Boolean columns of encoded records (flags about the data, no values).
FLAG_COLUMNS = ("nik_valid", "kk_valid", "tanggal_lahir_placeholder")

#: NIK/KK statuses whose number is not compared (as :class:`~regsosek_link.compare.IdNumberComparison`).
_UNUSABLE = ("missing", "sentinel", "dummy", "excel_damaged", "non_digit")


def default_filters() -> tuple[FilterSpec, ...]:
    """Filters of the name, mother's name, birth place (bigrams), birth date (date tokens) and
    address (bigrams, and the house number as a whole token).

    Bigrams of a padded name (about 15 for an Indonesian full name, with its words' sounds
    and initials as whole tokens) set up to 20 bits each in 1,024: about a third of the bits end up set, where a Bloom filter separates best. A
    birth place is shorter (512 bits, 15 hashes); a birth date's 12 tokens set 10 bits each
    in 256. A standardised address (``JL MERDEKA GG MAWAR``: 15-30 bigrams) sets 15 bits a
    bigram in 1,024; its house number (``no_rumah``, split off by the standardisation) is
    one more token, so two houses of one street differ by it. The address is in no default
    comparison (nor in the clear ones); it is there for the golden record and for configs
    that compare it (``DiceAtThresholds(column="alamat")``).
    """
    return (
        FilterSpec(column="nama", bits=1024, hashes=20, words_column="nama_phonetic", initials=True),
        FilterSpec(column="nama_ibu", bits=1024, hashes=20, words_column="nama_ibu_phonetic", initials=True),
        FilterSpec(column="tempat_lahir", bits=512, hashes=15),
        FilterSpec(column="tanggal_lahir", tokens="date", bits=256, hashes=10),
        FilterSpec(column="alamat", bits=1024, hashes=15, words_column="no_rumah"),
    )


@dataclass(frozen=True, kw_only=True)
class EncodingSettings:
    """How a source is encoded; every data holder of one linkage must use the same settings.

    Parameters
    ----------
    filters : tuple of FilterSpec
        The Bloom-filter fields (default :func:`default_filters`).
    hashed_columns : tuple of str
        Clean columns encoded as keyed hashes (exact agreement only).
    flip_probability : float
        BLIP: the probability each filter bit is flipped (0 turns it off).
    fold : bool
        XOR-fold each filter to half its length.
    blocking_rules : tuple of BlockOn
        Clear blocking rules whose keys are encoded (default: the library's default rules).
    """

    filters: tuple[FilterSpec, ...] = field(default_factory=default_filters)
    hashed_columns: tuple[str, ...] = ("nik", "no_kk", "jenis_kelamin", "kode_prov", "kode_kab", "kode_kec",
                                       "kode_desa", "tahun_lahir")
    flip_probability: float = 0.01
    fold: bool = False
    blocking_rules: tuple[BlockingRule, ...] = field(default_factory=default_blocking_rules)

    def __post_init__(self) -> None:
        if not isinstance(self.flip_probability, (int, float)) or not 0 <= self.flip_probability < 0.5:
            raise ConfigError("The 'flip_probability' parameter of EncodingSettings must be a float in [0, 0.5). "
                              f"Got {self.flip_probability!r} instead.")
        bad = [r for r in self.blocking_rules if not isinstance(r, BlockOn)]
        if bad:
            raise ConfigError(f"only BlockOn rules can be encoded (a sorted neighbourhood needs clear values); "
                              f"got {[r.label for r in bad]}")

    def describe(self) -> dict:
        """Plain-dict form (written into the encoded file's metadata; no key in it)."""
        return {"version": ENCODING_VERSION, "flip_probability": self.flip_probability, "fold": self.fold,
                "hashed_columns": list(self.hashed_columns),
                "filters": [{"column": f.column, "tokens": f.tokens, "q": f.q, "bits": f.bits, "hashes": f.hashes,
                             "words_column": f.words_column, "initials": f.initials}
                            for f in self.filters],
                "blocking_rules": [r.label for r in self.blocking_rules]}


# ------------------------------------------------------------------------------------------
# fixed-width rows <-> base64 text, vectorised

_B64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)
_B64_INV = np.full(256, 255, np.uint8)
_B64_INV[_B64] = np.arange(64, dtype=np.uint8)


def _b64_rows(mat: np.ndarray) -> np.ndarray:
    """(n, 4 * ceil(w / 3)) ASCII codes of the base64 text of each row (zero-padded to a
    multiple of three bytes, so every row has one length and no ``=``)."""
    n, w = mat.shape
    pad = (-w) % 3
    m = np.concatenate([mat, np.zeros((n, pad), np.uint8)], axis=1).reshape(n, -1, 3).astype(np.uint32)
    word = (m[:, :, 0] << 16) | (m[:, :, 1] << 8) | m[:, :, 2]
    idx = np.stack([(word >> s) & 63 for s in (18, 12, 6, 0)], axis=2)
    return _B64[idx].reshape(n, -1)


def _rows_to_strings(chars: np.ndarray, valid: np.ndarray) -> pd.Series:
    """Fixed-width ASCII rows as a ``string`` Series, missing where not ``valid``."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    mask = pa.array(~valid).buffers()[1] if not valid.all() else None
    arr = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes())])
    if mask is not None:
        arr = pa.compute.if_else(pa.array(valid), arr, pa.scalar(None, pa.large_string()))
    return pd.Series(arr.to_numpy(zero_copy_only=False), dtype="string")


def decode_filters(values: Sequence[str] | np.ndarray, n_bytes: int | None = None) -> np.ndarray:
    """Packed filters (``(n, bytes)`` ``uint8``) from their base64 texts (all one length).

    >>> m = np.array([[1, 2, 3, 4], [255, 0, 7, 9]], np.uint8)
    >>> text = _rows_to_strings(_b64_rows(m), np.array([True, True])).tolist()
    >>> decode_filters(text, 4).tolist()
    [[1, 2, 3, 4], [255, 0, 7, 9]]
    """
    n = len(values)
    if n == 0:
        return np.zeros((0, n_bytes or 0), np.uint8)
    joined = "".join(values).encode("ascii")
    width = len(joined) // n
    if width * n != len(joined) or width % 4:
        raise ConfigError("encoded filters of one column must all have one length; the column holds texts of "
                          "several lengths (encoded with different settings?)")
    idx = _B64_INV[np.frombuffer(joined, np.uint8).reshape(n, -1, 4)]
    if (idx == 255).any():
        raise ConfigError("an encoded filter holds a character that is not base64; is this an encoded file?")
    idx = idx.astype(np.uint32)
    word = (idx[:, :, 0] << 18) | (idx[:, :, 1] << 12) | (idx[:, :, 2] << 6) | idx[:, :, 3]
    raw = np.stack([(word >> 16) & 255, (word >> 8) & 255, word & 255], axis=2).astype(np.uint8).reshape(n, -1)
    return np.ascontiguousarray(raw[:, : (n_bytes or (raw.shape[1] // 8) * 8)])


# ------------------------------------------------------------------------------------------
# the encoder


def _hex_of(digests: list[bytes]) -> np.ndarray:
    return np.array([d.hex() for d in digests], dtype=object)


def _keyed_column(records: pd.DataFrame, column: str, subkey: bytes, usable: np.ndarray | None = None) -> pd.Series:
    """HMAC hex of each record's value (computed once per distinct value), missing where the
    value is missing or not ``usable``."""
    codes, uniq = factorize_strings(records[column])
    if usable is not None:
        codes = np.where(usable, codes, -1)
    hexes = np.append(_hex_of(keyed_digests(subkey, list(uniq), size=16)), NONE)
    return pd.Series(hexes[codes], dtype="string")


#: Parts of a NIK whose near-miss hashes ``nik_near`` holds, in that order: (kind, first digit,
#: last digit + 1). A substitution or an adjacent transposition belongs to the part of its
#: first differing digit, as in :class:`~regsosek_link.compare.IdNumberComparison`.
NIK_PARTS: tuple[tuple[str, int, int], ...] = (("region", 0, 6), ("date", 6, 12), ("serial", 12, 16))

#: Length of the NIKs that get near-miss hashes (and, with their status usable, any hash).
NIK_LENGTH = 16


def near_slots() -> tuple[slice, ...]:
    """Slices of the 64-bit words of ``nik_near`` per part of :data:`NIK_PARTS` (its
    substitution and transposition hashes), then one slice of the two shift words."""
    out, at = [], 0
    for _, lo, hi in NIK_PARTS:
        n = (hi - lo) + min(hi, NIK_LENGTH - 1) - lo  # substitutions + transpositions starting here
        out.append(slice(at, at + n))
        at += n
    return (*out, slice(at, at + 2))


def _near_hashes(nik: pd.Series, subkey: bytes, usable: np.ndarray) -> pd.Series:
    """The near-miss hashes of each NIK (``nik_near``): 33 keyed 64-bit hashes, base64.

    Two NIKs one substituted digit apart share the hash of the number with that digit
    masked; one transposition of adjacent digits apart, the hash of the number with those
    two digits in sorted order; a serial shifted one place (``0001``/``0010``), the hash of
    the number with the serial times ten of one and the plain hash of the other (the two
    shift words, compared crosswise). So the linkage unit sees every near miss that the
    clear comparison sees, in which part it lies, and nothing of the digits. Within a part
    the hashes are sorted by value, so which digit differs is not on show either (each
    hash covers its position: two NIKs share a hash only at one position).
    """
    codes, uniq = factorize_strings(nik)
    text = uniq.tolist()
    fits = np.array([len(v) == NIK_LENGTH and v.isascii() and v.isdigit() for v in text], bool)
    codes = np.where(usable & np.r_[fits, False][codes], codes, -1)
    slots = near_slots()
    words = np.zeros((len(text), slots[-1].stop), np.uint64)
    todo = [v for v, ok in zip(text, fits, strict=True) if ok]
    if todo:
        keys: list[str] = []
        for v in todo:
            for _, lo, hi in NIK_PARTS:
                keys += [f"s{i}:{v[:i]}_{v[i + 1:]}" for i in range(lo, hi)]
                keys += [f"t{i}:{v[:i]}{min(v[i:i + 2])}{max(v[i:i + 2])}{v[i + 2:]}"
                         for i in range(lo, min(hi, NIK_LENGTH - 1))]
            serial = int(v[12:])
            up = f"h:{v[:12]}{serial * 10:04d}" if serial * 10 < 10_000 else f"u:{v}"  # (u: matches nothing)
            keys += [f"h:{v}", up]
        digests = np.frombuffer(b"".join(keyed_digests(subkey, keys, size=8)), "<u8").astype(np.uint64)
        mat = digests.reshape(len(todo), -1)
        for part in slots[:-1]:  # positions hidden: each part's hashes by value
            mat[:, part] = np.sort(mat[:, part], axis=1)
        words[fits] = mat
    chars = _b64_rows(np.ascontiguousarray(words).view(np.uint8))
    return _rows_to_strings(chars[np.maximum(codes, 0)] if len(text) else np.zeros((len(codes), 0), np.uint8),
                            codes >= 0)


def _same(records: pd.DataFrame, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """(both known, equal) per record for two clean columns."""
    if a not in records.columns or b not in records.columns:
        z = np.zeros(len(records), bool)
        return z, z
    x, y = records[a].astype("string"), records[b].astype("string")
    known = (x.notna() & y.notna()).to_numpy()
    return known, known & (x == y).fillna(False).to_numpy(bool)


def _record_seeds(records: pd.DataFrame, subkey: bytes) -> np.ndarray:
    """(n, 4) ``uint64`` noise seeds per record: its keyed digest of ``source|record_id``."""
    keys = (records["source"].astype(str) + "|" + records["record_id"].astype(str)).tolist()
    return np.frombuffer(b"".join(keyed_digests(subkey, keys, size=32)), "<u8").astype(np.uint64).reshape(len(keys), 4)


def _filter_column(records: pd.DataFrame, spec: FilterSpec, key: SecretKey, seeds: np.ndarray,
                   settings: EncodingSettings) -> pd.Series:
    values = records[spec.column].astype("string")
    if spec.words_column and spec.words_column in records.columns:
        values = values + "\t" + records[spec.words_column].astype("string").fillna("")
    if spec.tokens == "date" and "tahun_lahir" in records.columns:  # a date known to the year only
        values = values.fillna(records["tahun_lahir"].astype("string"))
    codes, uniq = factorize_strings(values)
    per_value = bloom_filters(list(uniq), spec, key.derive(f"bloom:{spec.column}"))
    mat = per_value[np.maximum(codes, 0)] if len(uniq) else np.zeros((len(codes), spec.bits // 8), np.uint8)
    mat = flip_bits(mat, seeds, settings.flip_probability)
    if settings.fold:
        mat = xor_fold(mat)
    return _rows_to_strings(_b64_rows(mat), codes >= 0)


def _blocking_column(records: pd.DataFrame, rule: BlockOn, key: SecretKey) -> pd.Series:
    """The rule's keys of each record, each as 16 hex digits of its HMAC, space-separated."""
    rows, keys = rule_keys(records, rule)
    block, labels = pd.factorize(keys, sort=False)
    subkey = key.derive("block:" + " & ".join(rule.keys))
    tokens = _hex_of(keyed_digests(subkey, list(labels), size=8))[block]
    n = len(records)
    if len(rows) == 0:
        return pd.Series(pd.NA, index=range(n), dtype="string")
    # rows ascending: one list of tokens per record, joined by Arrow
    per_row = np.bincount(rows, minlength=n)
    offsets = np.concatenate([[0], np.cumsum(per_row)]).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), pa.array(tokens, pa.string()))
    joined = pa.compute.binary_join(lists, " ")
    out = pd.Series(joined.to_numpy(zero_copy_only=False), dtype="string")
    return out.mask(per_row == 0)


def encode_records(records: pd.DataFrame, key: SecretKey, *, settings: EncodingSettings | None = None) -> pd.DataFrame:
    """Encoded records (module docstring) of clean records (:func:`regsosek_link.standardise.standardise`).

    Parameters
    ----------
    records : DataFrame
        Clean records of one data holder (one or more sources).
    key : SecretKey
        The linkage key shared by the data holders.
    settings : EncodingSettings, optional

    Returns
    -------
    DataFrame
        One row per record, in the same order.
    """
    settings = settings or EncodingSettings()
    n = len(records)
    out: dict[str, pd.Series] = {
        "source": records["source"].astype("string").reset_index(drop=True),
        "record_id": records["record_id"].astype("string").reset_index(drop=True),
        ENCODING_COLUMN: pd.Series([f"{ENCODING_VERSION}:{key.check_value}"] * n, dtype="string"),
    }
    recs = records.reset_index(drop=True)
    for col in settings.hashed_columns:
        if col not in recs.columns:
            continue
        usable = None
        status = {"nik": "nik_status", "no_kk": "kk_status"}.get(col)
        if status and status in recs.columns:
            # as the clear comparison (IdNumberComparison): a number of 16 digits, not a sentinel...
            usable = ~recs[status].astype("string").isin(_UNUSABLE).fillna(False).to_numpy(bool)
            usable &= recs[col].astype("string").str.fullmatch(f"[0-9]{{{NIK_LENGTH}}}").fillna(False).to_numpy(bool)
        out[col] = _keyed_column(recs, col, key.derive(f"hash:{col}"), usable)
    if "tanggal_lahir_status" in recs.columns:
        # the day is unknown: a placeholder date (1 July...) or a date known to the year only
        status = recs["tanggal_lahir_status"].astype("string")
        out["tanggal_lahir_placeholder"] = (status.str.startswith("placeholder") | (status == "partial")).fillna(
            False).astype(bool)
    if "nik" in out:
        out["nik_near"] = _near_hashes(recs["nik"], key.derive("hash:nik near"), out["nik"].notna().to_numpy())
    for flag in ("nik_valid", "kk_valid"):
        if flag in recs.columns:
            out[flag] = recs[flag].fillna(False).astype(bool)
    region = [c for c in ("kode_desa", "kode_kec", "kode_kab", "kode_prov") if c in out]
    if region:
        finest = out[region[0]]
        for c in region[1:]:
            finest = finest.fillna(out[c])
        out["kode_wilayah"] = finest
    seeds = _record_seeds(recs, key.derive("blip"))
    for i, spec in enumerate(settings.filters):
        if spec.column in recs.columns:
            seed = seeds[:, i % 4] ^ np.uint64(i // 4)
            out[spec.column] = _filter_column(recs, spec, key, seed, settings)
    # the NIK against its own record, decided here where the clear values are: no NIK birth
    # date or sex is written, the verdict is. The clustering's cannot-link between different
    # credible NIKs reads it (cluster.credible_nik) and yields across a near miss that
    # nik_near shows, as on clear NIKs.
    known_d, same_d = _same(recs, "nik_birth_date", "tanggal_lahir")
    known_s, same_s = _same(recs, "nik_sex", "jenis_kelamin")
    if "nik" in out:
        fit = np.full(n, None, dtype=object)
        fit[(known_d & ~same_d) | (known_s & ~same_s)] = "contradicts"
        fit[same_d & same_s] = "credible"
        out["nik_fit"] = pd.Series(fit, dtype="string")
    for i, rule in enumerate(settings.blocking_rules):
        assert isinstance(rule, BlockOn)  # (EncodingSettings takes no other rule)
        if all(_has_columns(recs, rule)):
            out[f"bk_{i}"] = _blocking_column(recs, rule, key)
    return pd.DataFrame(out)


def _has_columns(records: pd.DataFrame, rule: BlockOn) -> list[bool]:
    return [c in records.columns for c in rule.columns]

