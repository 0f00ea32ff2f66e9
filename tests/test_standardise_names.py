import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "src"))

import pandas as pd
import pytest

from regsosek_link.standardise import clean_name, phonetic_key

NA = pd.NA


def _row(raw, **kw):
    return clean_name(pd.Series([raw], dtype="string"), **kw).iloc[0]


@pytest.mark.parametrize(
    ("raw", "nama", "gelar"),
    [
        ("H. Ahmad Dahlan, S.Pd.", "AHMAD DAHLAN", "H S.PD"),
        ("Prof. Dr. Ir. H.Joesoef, M.Sc", "YUSUF", "PROF DR IR H M.SC"),
        ("Hj. Siti Aminah", "SITI AMINAH", "HJ"),
        ("Nn. Ani Lestari", "ANI LESTARI", "NN"),  # Nona (Miss), as hospitals and BPJS write it
        ("NN", "NN", NA),  # alone: kept (a name made only of titles)
        ("Drs. Bambang Sutrisno, M.M.", "BAMBANG SUTRISNO", "DRS M.M"),
        ("Budi Santoso SE", "BUDI SANTOSO", "SE"),
        ("Budi Santoso, S.E., M.M", "BUDI SANTOSO", "S.E M.M"),
        ("R. Ajeng Kartini", "AJENG KARTINI", "R"),
        ("ST. AMINAH", "SITI AMINAH", NA),  # St. at the start is Siti
        ("Eko Prasetyo S.T.", "EKO PRASETYO", "S.T"),  # S.T. at the end is a degree
        ("DJOKO", "JOKO", NA),
        ("Soeharto", "SUHARTO", NA),
        ("Tjahjo Kumolo", "CAHYO KUMOLO", NA),  # tj marks old spelling -> j->y
        ("Joesoef", "YUSUF", NA),
        ("Jaja Sunarja", "JAJA SUNARJA", NA),  # no old marker: j stays j
        ("Sjahrir", "SYAHRIR", NA),
        ("Njoto", "NYOTO", NA),
        ("Tanjung Sari", "TANJUNG SARI", NA),  # nj inside a word is the modern n + j
        ("Panji Jaya", "PANJI JAYA", NA),  # ... and does not mark old spelling (no j->y)
        ("Tandjung Djaja", "TANJUNG JAYA", NA),  # the old spelling of the same name
        ("I Njoman Adnjana", "I NYOMAN ADNYANA", NA),  # a word starting with nj: old, j->y
        ("Choirul Anam", "KHOIRUL ANAM", NA),
        ("Rachmat Hidayat", "RAHMAT HIDAYAT", NA),
        ("Achmad Fauzi", "AHMAD FAUZI", NA),
        ("Akhmad Fauzi", "AHMAD FAUZI", NA),
        ("Abd. Rahman", "ABDUL RAHMAN", NA),
        ("Sitti Nurbaya", "SITI NURBAYA", NA),
        ("Noor Hidayah", "NUR HIDAYAH", NA),
        ("Nurul Hidayah", "NURUL HIDAYAH", NA),  # Nurul kept distinct on purpose
        ("Moch. Rizki", "MUHAMMAD RIZKI", NA),
        ("Mochamad Rizki", "MUHAMMAD RIZKI", NA),
        ("Moehamad Rizki", "MUHAMMAD RIZKI", NA),
        ("Mukhamad Rizki", "MUHAMMAD RIZKI", NA),
        ("Mohd Rizki", "MUHAMMAD RIZKI", NA),
        ("Muh. Rizki", "MUHAMMAD RIZKI", NA),
        ("M. Rizki", "MUHAMMAD RIZKI", NA),
        ("M.Rizki", "MUHAMMAD RIZKI", NA),
        ("M.", "M", NA),  # a lone initial stays an initial
        ("Rizki M.", "RIZKI M", NA),
        ("Ma'ruf Amin", "MARUF AMIN", NA),
        ("  josé   de  la  cruz ", "JOSE DE LA CRUZ", NA),
        ("I Wayan Sudirta", "I WAYAN SUDIRTA", NA),
        ("H", "H", NA),  # a name made only of a title keeps it
        ("", NA, NA),
        (None, NA, NA),
    ],
)
def test_clean_name_table(raw, nama, gelar):
    row = _row(raw)
    for col, want in (("nama", nama), ("nama_gelar", gelar)):
        got = row[col]
        assert (got is NA and want is NA) or got == want, (raw, col, got, want)


@pytest.mark.parametrize(
    ("raw", "nama", "bin_"),
    [
        ("Ahmad bin Abdullah", "AHMAD", "ABDULLAH"),
        ("Siti Aisyah binti Umar Said", "SITI AISYAH", "UMAR SAID"),
        ("Bin Laden", "BIN LADEN", NA),  # first token: not a patronymic marker
        ("Ahmad Bin", "AHMAD BIN", NA),  # nothing after: kept
    ],
)
def test_bin_binti(raw, nama, bin_):
    row = _row(raw)
    assert row["nama"] == nama
    assert (row["nama_bin"] is NA and bin_ is NA) or row["nama_bin"] == bin_


def test_variants_agree_on_canonical_and_phonetic():
    out = clean_name(pd.Series(["Moch. Rizki", "Muhammad Rizky", "MUHAMAD RISKI"]))
    assert out["nama_phonetic"].nunique() == 1
    assert out["nama"].tolist()[:2] == ["MUHAMMAD RIZKI", "MUHAMMAD RIZKY"]


def test_sorted_and_token_count():
    row = _row("Siti Aminah Zahra")
    assert row["nama_sorted"] == "AMINAH SITI ZAHRA"
    assert row["n_tokens"] == 3


def test_user_tables_extend_defaults():
    out = clean_name(
        pd.Series(["Raden Mas Joko Pinurbo", "Kang Joko"]),
        variants={"PINURBO": "PINURBA"},
        titles=pd.DataFrame({"title": ["RADEN", "MAS", "KANG"], "kind": ["prefix"] * 3}),
    )
    assert out["nama"].tolist() == ["JOKO PINURBA", "JOKO"]
    assert out["nama_gelar"].tolist() == ["RADEN MAS", "KANG"]


def test_bad_variant_table_says_what_it_got():
    with pytest.raises(ValueError, match="columns present: \\['a', 'b'\\]"):
        clean_name(pd.Series(["x"]), variants=pd.DataFrame({"a": ["x"], "b": ["y"]}))


def test_generic_profile_only_folds():
    row = _row("H. Ahmad Dahlan, S.Pd.", profile="generic")
    assert row["nama"] == "H AHMAD DAHLAN S PD"
    assert row["nama_gelar"] is NA
    assert row["nama_phonetic"] == "H000 A530 D450 S000 P300"
    assert _row("DJOKO", profile="generic")["nama"] == "DJOKO"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("JOKO", "DJOKO"),
        ("CAHYO", "TJAHJO"),
        ("YUSUF", "JOESOEF"),
        ("RIZKI", "RIZKY"),
        ("RIZKI", "RISKI"),
        ("MUHAMMAD", "MUHAMAD"),
        ("AHMAD", "ACHMAD"),
        ("AHMAD", "AKHMAD"),
        ("KHOIRUL", "CHOIRUL"),
        ("ZAINAL", "ZAENAL"),
        ("FATIMAH", "FATIMA"),
        ("ARIFIN", "ARIPIN"),
        ("SYAIFUL", "SAIFUL"),
        ("NOVI", "NOFI"),
        ("SUKARNO", "SOEKARNO"),
        ("RAHMAT", "RACHMAT"),
    ],
)
def test_phonetic_same(a, b):
    ka, kb = phonetic_key(pd.Series([a, b])).tolist()
    assert ka == kb, (a, b, ka, kb)


@pytest.mark.parametrize(
    ("a", "b"),
    [("BUDI", "BAYU"), ("EKA", "EKO"), ("PUTRA", "PUTRI"), ("SITI", "SRI"), ("ANI", "ANA")],
)
def test_phonetic_different(a, b):
    ka, kb = phonetic_key(pd.Series([a, b])).tolist()
    assert ka != kb, (a, b, ka)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("DJOKO", "JUKU"),
        ("TJAHJO", "CAJU"),
        ("MUHAMMAD", "MUHAMAT"),
        ("RIZKY", "RISKI"),
        ("NYOMAN", "NYUMAN"),
        ("SITI NURBAYA", "SITI NURBAJA"),
        ("", NA),
        (None, NA),
        ("123", NA),
    ],
)
def test_phonetic_literal(raw, key):
    got = phonetic_key(pd.Series([raw], dtype="string")).iloc[0]
    assert (got is NA and key is NA) or got == key


def test_phonetic_key_re2_rewrite_matches_python_re():
    # the pyarrow (RE2) steps rewrite the look-arounds and back-references of _STEPS
    import random

    from regsosek_link.standardise._phonetic import _key, _key_arrow

    rng = random.Random(0)
    alphabet = "AEIOUHYJNSDBCKTZGX  aeh.'-é"
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(5000)]
    words += ["AHHA", "XHHH", "AHH", " HHH", "XYY", "NYAH", "MUHAMMAD", "TJAHJO", None]
    s = pd.Series(words, dtype="string")
    pd.testing.assert_series_equal(_key_arrow(s), _key(s))


def _canon_reference(key, old, variants):
    # the per-token Python form of rule 5 (the reference for the pyarrow _canon)
    import re

    k = variants.get(key, key)
    while k != "CH":  # (a DJ made J can pair with the letter before it: SDJ -> SJ -> SY)
        k = k.replace("OE", "U").replace("DJ", "\x02").replace("TJ", "C")
        k = re.sub("^NJ", "NY", k).replace("SJ", "SY").replace("CH", "KH")
        again = re.sub("^N\x02", "NJ", re.sub("([TDS])\x02", r"\1J", k))
        if again == k:
            break
        k = again
    if old:
        k = k.replace("J", "Y")
    k = k.replace("\x02", "J")
    return variants.get(k, k)


def _sub_tokens_reference(tokens, suffix):
    # the per-token Python form of rule 2 (the reference for the pyarrow _sub_tokens)
    import re

    out = []
    for j, tok in enumerate(tokens):
        if tok.replace(".", "") in suffix and re.search(r"[A-Z]\.[A-Z]", tok):
            parts, marked = [tok.strip(".")], True
        else:
            parts, marked = tok.replace(".", " ").split(), False
        out += [(j, d, re.sub(r"[^A-Z]", "", d), marked) for d in parts if re.sub(r"[^A-Z]", "", d)]
    return out


def test_token_kernels_match_python_reference():
    import random

    import numpy as np
    import pyarrow as pa

    from regsosek_link.standardise._names import (
        _canon,
        _default_titles,
        _default_variants,
        _sub_tokens,
    )

    rng = random.Random(1)
    variants = {**_default_variants(), "PINURBO": "PINURBA", "JOKO": "DJOKO"}
    keys = ["".join(rng.choice("DJTOENSCHAKYM") for _ in range(rng.randint(1, 9))) for _ in range(3000)]
    keys += list(variants) + list(variants.values()) + ["OEJ", "DJJ", "TJJ", "SJDJ", "CHJ", "M", "NJOTO", "NDJOTO", "TANDJUNG", "TANJUNG", "PINURBO"]
    old = np.array([rng.random() < 0.5 for _ in keys])
    got = _canon(pa.array(keys), old, variants).to_pylist()
    assert got == [_canon_reference(k, bool(o), variants) for k, o in zip(keys, old)]

    suffix = {k for k, v in _default_titles().items() if v == "suffix"}
    tokens = ["".join(rng.choice("SPDEMAH.1") for _ in range(rng.randint(1, 7))) for _ in range(3000)]
    tokens += ["S.PD", "S.PD.", ".S.PD", "S..PD", "M.SC", "A.MD", "SE", "S.E.", "H.AHMAD", ".", "..", "12", "1.2",
               "A..B", ".X.", "ABC"]
    owner, disp, key, marked = _sub_tokens(pa.array(tokens, type=pa.string()), suffix)
    got = list(zip(owner.tolist(), disp.to_pylist(), key.to_pylist(), marked.tolist()))
    assert got == _sub_tokens_reference(tokens, suffix)
    empty = _sub_tokens(pa.array([], type=pa.string()), suffix)
    assert [len(x) for x in empty] == [0, 0, 0, 0]


def test_titles_in_old_spelling_and_the_ch_initial():
    # NJ. is Ny. (Nyonya) and HADJI is HAJI in the old spelling: titles, as in EYD, so a second
    # cleaning has nothing left to remove; a lone CH is the initial of Chairul, not KH
    out = clean_name(pd.Series(["NJ. Siti Aminah", "Hadji Soekarno", "Ch. Anwar", "NJ.A", "Chairul"]))
    assert out["nama"].tolist() == ["SITI AMINAH", "SUKARNO", "CH ANWAR", "A", "KHAIRUL"]
    assert out["nama_gelar"].tolist()[:2] == ["NJ", "HADJI"]
    again = clean_name(out["nama"])
    assert again["nama"].tolist() == out["nama"].tolist()
    assert again["nama_gelar"].isna().all()


def test_the_late_before_or_after_the_name():
    # Alm./Almh. (almarhum/almarhumah, the late) is written before the name or after it, in
    # brackets: either way a title, so the late Budi is Budi; inside a name it stays a token
    out = clean_name(pd.Series(["Budi (Alm)", "Alm. H. Budi Santoso", "SITI ALMH", "Budi Alm Santoso",
                                "Almarhumah Hj. Siti Aminah, S.Pd.", "Almarhum"]))
    assert out["nama"].tolist() == ["BUDI", "BUDI SANTOSO", "SITI", "BUDI ALM SANTOSO", "SITI AMINAH", "ALMARHUM"]
    assert out["nama_gelar"].tolist() == ["ALM", "ALM H", "ALMH", NA, "ALMARHUMAH HJ S.PD", NA]
    again = clean_name(out["nama"])
    assert again["nama"].tolist() == out["nama"].tolist()


def test_user_title_kinds_are_checked():
    out = clean_name(pd.Series(["Mendiang Budi", "Budi Mendiang"]), titles={"MENDIANG": "Either"})
    assert out["nama"].tolist() == ["BUDI", "BUDI"]
    with pytest.raises(ValueError, match="title kinds must be one of"):
        clean_name(pd.Series(["x"]), titles={"MENDIANG": "before"})
