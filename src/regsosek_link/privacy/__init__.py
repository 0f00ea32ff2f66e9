"""Privacy-preserving record linkage: link sources that never leave their holders in clear.

Each data holder (a ministry) encodes its own source where it lives, with a secret key the
holders share and the linkage unit never sees (:func:`encode_source`, CLI ``regsosek-link
encode``); the linkage unit links the encoded files with the library's one pipeline
(:func:`link_encoded`, CLI ``regsosek-link link-encoded``): blocking on keyed blocking keys,
Dice-coefficient levels on Bloom filters and equality on keyed hashes, EM, constrained
clustering, stable person IDs. The registry it makes holds only encodings and provenance;
each holder maps the person IDs back to its own record IDs through ``membership``.

What is encoded, and how
------------------------
- **Exact keys** (NIK, KK, sex, region codes, birth year): HMAC-SHA256 under a sub-key per
  column, truncated to 128 bits. Without the key nobody can test a guessed NIK.
- **NIK near misses**: 33 keyed 64-bit hashes per NIK (``nik_near``), so that the encoded
  comparison sees the clear one's near-miss classes (a substituted digit, an adjacent
  transposition, a serial shifted one place; in the region, date or serial part) and the
  clustering's credible-NIK cannot-link can yield across a typo exactly as on clear NIKs.
- **Blocking keys**: each of the clear blocking rules' keys (a phonetic name token with the
  birth date, the KK with the first name sound, the birth year with the kecamatan and name
  sound...) is HMACed as a whole, under a sub-key per rule. The *combined* key is hashed, not
  its parts, so the frequency of a single name sound or birth year is not on show.
- **Fuzzy fields** (name, mother's name, birth place, birth date, address): Bloom filters
  (:class:`FilterSpec`): padded bigrams of names and places (1,024 bits, 20 hashes for
  names; 512 bits, 15 hashes for places); for dates, the eight digits with their positions,
  year, month, day and the unordered day-month pair (256 bits, 10 hashes); the address's
  bigrams and its house number as a whole token (1,024 bits, 15 hashes).

Hardening against frequency and pattern-mining attacks
------------------------------------------------------
Plain field-level Bloom filters leak: one name always gives one filter, so the filters'
frequencies mirror the names' and can be aligned with a public name list (Kuzu et al.
2011; Niedermeyer et al. 2014), and bits that occur together betray q-grams (Christen et
al. 2017, 2018). The literature's answers (surveyed by Vidanage et al. 2020 and Christen,
Ranbaduge & Schnell, *Linking Sensitive Data*, 2020) are record-level filters (CLK, RBF),
salting, balancing, XOR-folding, BLIP and Rule 90. Here:

1. **Field-level filters, not one record-level CLK**: the Fellegi-Sunter model weighs each
   field on its own (a name agreeing and a birth date differing is not the same evidence as
   the reverse), and keeps the same comparison levels, EM and explanations as clear runs.
   A CLK would fold every field into one Dice score and give the model one feature.
2. **Keyed random hashing** (Schnell, Borgs & Encheva 2016), not double hashing: a token's
   ``k`` positions are independent parts of its HMAC digest, which defeats the attack of
   Kroll & Steinmetzer (2015) on ``h1 + i*h2``; each field has its own sub-key, so a bigram
   of the name and of the mother's name set unrelated bits.
3. **BLIP** (Schnell & Borgs 2016; a randomised-response, differentially private bit flip)
   with probability 0.01 per bit, by noise from a keyed per-record seed: two records with one
   name get different filters, so frequency alignment finds every filter unique, and
   pattern mining works on noisy bits. It costs about 0.03 of Dice between equal values, far
   less than the gap between one name and another; the noise depends only on the key and
   the record, so encodings are reproducible.
4. **XOR-folding** is available (``EncodingSettings(fold=True)``) but off: it halves the
   length and adds collisions that cost accuracy; with BLIP on, the measured gain is not
   worth it for the default use (ministries that trust the linkage unit not to attack, but
   must not hand it raw data). Salting a name with the birth year (Niedermeyer) is not
   used: any birth-date error would make the names of one person incomparable.

What each keyed hash costs
--------------------------
Against an attacker *without the key* (who steals an encoded file or the registry store)
every hash below is as safe as the NIK's own: HMAC-SHA256 under a sub-key, so no guess can
be tested. What the *linkage unit* (which holds the files but not the key) learns, beyond
what it needs to link:

- ``nik``, ``no_kk`` (exact hashes): which records share a NIK or a card, and so the size
  of every household card; nothing of the digits.
- ``nik_near`` (scheme ``pprl-v2``): for *any* two records, not only candidate pairs, whether
  their NIKs are one typo apart and in which part (region, date or serial). Which digit
  differs is hidden (the hashes of a part are sorted by value, and each hash covers its
  position). Over a whole file this draws a graph of near NIKs: the commonest edges are
  serial neighbours, so the unit can count "born on one day in one kecamatan" groups
  (consecutive serials 0001, 0002...) and see chains of NIKs one date digit apart; with
  public statistics (births per day and kecamatan) such group sizes narrow down, but do not
  reveal, dates and regions. The v1 scheme (12 masked hashes in digit order) showed the
  position of the difference too and saw no serial, transposition or shift.
- ``tahun_lahir`` (the birth year's hash): an exact partition of the records by birth year.
  The ~100 groups' sizes follow the population's age pyramid, so a linkage unit that aligns
  them with public census tables can name the year of the large groups (a frequency
  attack): treat the birth year as known to it. No hash of ``year + 1`` is written, though
  the clear comparison has a "year +- 1" level: hashes of neighbouring years would chain the
  groups into their order and name every year. Encoders who cannot accept the cost leave
  ``tahun_lahir`` out of ``EncodingSettings.hashed_columns``: placeholder dates are then
  missing (the accuracy of scheme v1).
- ``tanggal_lahir_placeholder`` (a flag): whose day of birth is unknown (a placeholder or a
  year-only date), about 10 % of records; it says nothing of the date.
- ``alamat`` (a filter, hardened as the names): similar addresses have similar filters, so
  the unit can cluster records by street (neighbours share bigrams) without reading them;
  the similarity-graph attack below applies to it as to names.

What remains visible: the linkage unit sees how many records share a keyed NIK, KK,
region or blocking key (the sizes of blocks), and similarity *graphs* of filters can still
be matched against a similarity graph of public names by a determined attacker (Vidanage
et al. 2019). The key must stay with the data holders; a holder who leaks it turns every
encoding back into a dictionary attack.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module that defines it. The package imports them on first use, so
#: that the CLI can build its parser (``encode``, ``link-encoded``) without loading numpy.
_HOMES = {
    "SecretKey": "regsosek_link._secret", "load_key": "regsosek_link._secret",
    "FilterSpec": "._bloom", "dice": "._bloom",
    "DiceAtThresholds": "._compare", "KeyedIdComparison": "._compare",
    "ENCODING_VERSION": "._encode", "EncodingSettings": "._encode", "decode_filters": "._encode",
    "default_filters": "._encode", "encode_records": "._encode",
    "EncodedLinker": "._link",
    "encode_source": "._link", "encoded_blocking_rules": "._link", "encoded_comparisons": "._link",
    "encoded_config": "._link", "link_encoded": "._link", "read_encoded": "._link", "write_encoded": "._link",
    "processing_record": ".processing",
}

__all__ = [
    "ENCODING_VERSION",
    "DiceAtThresholds",
    "EncodedLinker",
    "EncodingSettings",
    "FilterSpec",
    "KeyedIdComparison",
    "SecretKey",
    "decode_filters",
    "default_filters",
    "dice",
    "encode_records",
    "encode_source",
    "encoded_blocking_rules",
    "encoded_comparisons",
    "encoded_config",
    "link_encoded",
    "load_key",
    "processing_record",
    "read_encoded",
    "write_encoded",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
