"""Encoded comparisons see what the clear ones see: the NIK's near-miss classes (a digit, an
adjacent transposition, a shifted serial, by part), the credible-NIK constraint, and a
placeholder birth date scored on its year."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from regsosek_link.cluster import credible_nik
from regsosek_link.compare import DateOfBirthComparison, IdNumberComparison
from regsosek_link.privacy import (
    DiceAtThresholds,
    EncodingSettings,
    KeyedIdComparison,
    SecretKey,
    decode_filters,
    encode_records,
)
from regsosek_link.privacy._bloom import overlap, popcount
from regsosek_link.privacy._encode import near_slots

KEY = SecretKey(bytes(range(32)), origin="the tests")
ONLY_NIK = EncodingSettings(filters=(), hashed_columns=("nik",), blocking_rules=())


def _variants(nik: str, rng: np.random.Generator) -> list[str]:
    """NIKs near ``nik`` in every way the clear comparison knows, and some that are not near."""
    out = []
    for i in range(16):  # one substituted digit at each position
        d = str((int(nik[i]) + int(rng.integers(1, 10))) % 10)
        out.append(nik[:i] + d + nik[i + 1:])
    for i in range(15):  # each adjacent transposition
        out.append(nik[:i] + nik[i + 1] + nik[i] + nik[i + 2:])
    serial = int(nik[12:])
    if serial * 10 < 10_000:
        out.append(nik[:12] + f"{serial * 10:04d}")
    if serial % 10 == 0:
        out.append(nik[:12] + f"{serial // 10:04d}")
    out.append(nik[:12] + f"{serial * 100 % 10_000:04d}")  # two places
    for _ in range(3):  # two substituted digits anywhere
        i, j = sorted(rng.choice(16, 2, replace=False))
        out.append(nik[:i] + str((int(nik[i]) + 1) % 10) + nik[i + 1:j] + str((int(nik[j]) + 3) % 10) + nik[j + 1:])
    out.append(nik[1:] + nik[0])  # rotated: everything differs
    out.append(nik)
    return out


def _nik_pairs(n_base: int = 60, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    niks: list[str] = []
    left: list[int] = []
    right: list[int] = []
    for _ in range(n_base):
        serial = int(rng.choice([1, 2, 10, 12, 100, 120, 999, 1000, 4321]))
        base = "".join(map(str, rng.integers(0, 10, 12))) + f"{serial:04d}"
        at = len(niks)
        niks.append(base)
        for v in _variants(base, rng):
            left.append(at)
            right.append(len(niks))
            niks.append(v)
    n = len(niks)
    dob = pd.Series(rng.choice(["1980-01-02", "1990-05-06"], n), dtype="string")
    recs = pd.DataFrame({
        "source": "s", "record_id": [str(i) for i in range(n)], "nik": pd.Series(niks, dtype="string"),
        "nik_status": "ok", "nik_valid": True,
        # the NIK's own birth date and sex agree with the record's about half the time
        "nik_birth_date": dob.where(rng.random(n) < 0.7, "1970-03-04"), "tanggal_lahir": dob,
        "nik_sex": pd.Series(rng.choice(["L", "P"], n), dtype="string"), "jenis_kelamin": "L",
    })
    swapped = pd.DataFrame({"left": right, "right": left})  # (and the other way round)
    return recs, pd.concat([pd.DataFrame({"left": left, "right": right}), swapped], ignore_index=True)


def test_near_miss_levels_on_keyed_hashes_are_the_clear_ones():
    recs, pairs = _nik_pairs()
    enc = encode_records(recs, KEY, settings=ONLY_NIK)
    clear = IdNumberComparison(column="nik", serial_digits=4, near_miss=True).compute(recs, pairs)
    keyed = KeyedIdComparison(column="nik", near_column="nik_near").compute(enc, pairs)
    assert KeyedIdComparison(column="nik", near_column="nik_near").level_names == \
        IdNumberComparison(column="nik", serial_digits=4, near_miss=True).level_names
    assert (np.asarray(keyed) == np.asarray(clear)).all(), pairs[np.asarray(keyed) != np.asarray(clear)].head()
    counts = pd.Series(np.asarray(clear)).value_counts()
    assert set(counts.index) >= {0, 1, 2, 3, 4} and counts.min() >= 60  # every class is exercised


def test_credible_nik_levels_and_constraint_on_keyed_hashes_are_the_clear_ones():
    recs, pairs = _nik_pairs(seed=5)
    enc = encode_records(recs, KEY, settings=ONLY_NIK)
    consistency = ("nik_birth_date", "tanggal_lahir", "nik_sex", "jenis_kelamin")
    clear = IdNumberComparison(column="nik", serial_digits=4, near_miss=True,
                               consistency_columns=consistency).compute(recs, pairs)
    keyed = KeyedIdComparison(column="nik", near_column="nik_near", fit_column="nik_fit").compute(enc, pairs)
    assert (np.asarray(keyed) == np.asarray(clear)).all()
    assert {0, 1, 5, 6} <= set(np.asarray(clear).tolist())
    # the clustering's cannot-link reads the holder's verdict where no clear date or sex is
    cred = credible_nik(recs)
    assert 0 < cred.sum() < len(recs)
    assert (credible_nik(enc) == cred).all()


def test_near_miss_hashes_hide_the_position_and_the_digits():
    rng = np.random.default_rng(0)
    niks = ["".join(map(str, rng.integers(0, 10, 16))) for _ in range(200)]
    recs = pd.DataFrame({"source": "s", "record_id": [str(i) for i in range(200)], "nik": niks, "nik_status": "ok"})
    enc = encode_records(recs, KEY, settings=ONLY_NIK)
    words = decode_filters(enc["nik_near"].tolist()).view("<u8")
    assert words.shape == (200, near_slots()[-1].stop) == (200, 33)
    for part in near_slots()[:-1]:  # sorted within each part: the slot says nothing of the position
        assert (np.diff(words[:, part].astype(np.float64), axis=1) > 0).all()
    # unrelated NIKs share no hash: no digit, part or constant shows through
    assert len(np.unique(words)) == words.size


def test_a_nik_not_of_sixteen_digits_is_missing_as_in_clear():
    recs = pd.DataFrame({"source": "s", "record_id": ["1", "2", "3"],
                         "nik": ["337501450890001", "337501450890001", "3375014508900001"],
                         "nik_status": ["wrong_length", "wrong_length", "ok"]})
    enc = encode_records(recs, KEY, settings=ONLY_NIK)
    assert enc["nik"].isna().tolist() == [True, True, False]
    pairs = pd.DataFrame({"left": [0, 0], "right": [1, 2]})
    clear = IdNumberComparison(column="nik", serial_digits=4, near_miss=True).compute(recs, pairs)
    assert KeyedIdComparison(column="nik", near_column="nik_near").compute(enc, pairs).tolist() == clear.tolist()


def test_a_placeholder_birth_date_scores_on_its_year_as_in_clear():
    dates = ["1990-07-01", "1990-03-15", "1991-03-15", "1985-12-31", "1990-07-01", "1990-12-31", "2001-02-03"]
    status = ["placeholder_1jul", "ok", "ok", "placeholder_31dec", "placeholder_1jul", "placeholder_31dec", "ok"]
    recs = pd.DataFrame({"source": "s", "record_id": [str(i) for i in range(len(dates))],
                         "tanggal_lahir": pd.Series(dates, dtype="string"), "tanggal_lahir_status": status,
                         "tahun_lahir": pd.Series([int(d[:4]) for d in dates], dtype="Int16")})
    settings = EncodingSettings(filters=EncodingSettings().filters[3:], hashed_columns=("tahun_lahir",),
                                blocking_rules=())
    enc = encode_records(recs, KEY, settings=settings)
    pairs = pd.DataFrame({"left": [0, 0, 0, 0, 0, 1], "right": [1, 2, 3, 4, 5, 6]})
    clear = DateOfBirthComparison(column="tanggal_lahir", status_column="tanggal_lahir_status",
                                  year_column="tahun_lahir", year_only_level=True)
    enc_cmp = DiceAtThresholds(column="tanggal_lahir", thresholds=(0.5, 0.7, 0.85, 0.93),
                               placeholder_column="tanggal_lahir_placeholder", year_column="tahun_lahir")
    c = clear.compute(recs, pairs).tolist()
    e = enc_cmp.compute(enc, pairs).tolist()
    name = enc_cmp.level_names
    # same year (a placeholder against a real date, or two placeholders): the year-only level
    assert [clear.level_names[x] for x in (c[0], c[4])] == [clear.level_names[3]] * 2
    assert [name[x] for x in (e[0], e[4])] == ["year only (placeholder or partial), same year"] * 2
    # another year by more than one: missing on both sides (a guessed year says nothing)
    assert c[2] == e[2] == -1
    # the same placeholder date: the level below the top, as clear's "exact placeholder"
    assert clear.level_names[c[3]] == "exact placeholder" and name[e[3]] == "Dice >= 0.93, but a placeholder"
    # a year apart: clear's "year +-1" level; encodings keep no year order, so missing
    assert c[1] == 1 and e[1] == -1
    # two real dates are not touched: plain Dice levels
    assert e[5] == 0
    with pytest.raises(Exception, match="year_column"):
        DiceAtThresholds(column="tanggal_lahir", year_column="tahun_lahir")


def test_addresses_are_encoded_with_the_house_number_as_a_token():
    recs = pd.DataFrame({"source": "s", "record_id": ["1", "2", "3", "4"],
                         "alamat": ["JL MERDEKA GG MAWAR", "JL MERDEKA GG MAWAR", "JL MERDEKA GG MAWAR",
                                    "DUSUN KRAJAN"],
                         "no_rumah": ["12", "12", "14", "12"]})
    enc = encode_records(recs, KEY, settings=EncodingSettings(filters=EncodingSettings().filters[4:],
                                                              hashed_columns=(), blocking_rules=()))
    assert enc["alamat"].notna().all() and not enc["alamat"].str.contains("MERDEKA").any()
    pairs = pd.DataFrame({"left": [0, 0, 0], "right": [1, 2, 3]})
    sim = DiceAtThresholds(column="alamat", thresholds=(0.5, 0.9, 0.97)).compute(enc, pairs).tolist()
    assert sim[0] >= 2 and 1 <= sim[1] < sim[0] and sim[2] == 0  # same > another house > another street


def test_an_initial_shares_a_token_with_the_name_it_stands_for():
    names = ["S ADITYA", "SETIAWAN ADITYA", "B ADITYA", "M RIZKI", "MUHAMMAD RIZKI", "A RIZKI"]
    recs = pd.DataFrame({"source": "s", "record_id": [str(i) for i in range(6)], "nama": names,
                         "nama_phonetic": names})
    with_initials = EncodingSettings(filters=EncodingSettings().filters[:1], hashed_columns=(), blocking_rules=())
    assert with_initials.filters[0].initials
    plain = replace(with_initials, filters=(replace(with_initials.filters[0], initials=False),))

    def containment(settings: EncodingSettings) -> np.ndarray:
        f = decode_filters(encode_records(recs, KEY, settings=settings)["nama"].tolist()).view(np.uint64)
        n = popcount(f)
        return overlap(f[[0, 2, 3, 5]], f[[1, 1, 4, 4]], n[[0, 2, 3, 5]], n[[1, 1, 4, 4]])

    got, before = containment(with_initials), containment(plain)
    # the right initial (S for SETIAWAN, M for MUHAMMAD) lies further inside the full name
    # than a wrong one, and further than without the initials' tokens
    assert got[0] > got[1] + 0.05 and got[2] > got[3] + 0.05
    assert got[0] - got[1] > before[0] - before[1] and got[2] - got[3] > before[2] - before[3]
