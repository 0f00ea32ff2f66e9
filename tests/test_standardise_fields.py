import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "src"))

import pandas as pd
import pytest

from regsosek_link.standardise import (
    clean_address,
    clean_place,
    clean_relation,
    clean_sex,
    parse_rt_rw,
    resolve_region,
)

NA = pd.NA


def _eq(got, want):
    return (got is NA and want is NA) or got == want


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("L", "L"), ("l", "L"), ("LK", "L"), ("1", "L"), ("Laki-laki", "L"), ("LAKI LAKI", "L"),
        ("Pria", "L"), ("M", "L"), ("male", "L"),
        ("P", "P"), ("PR", "P"), ("2", "P"), ("Perempuan", "P"), ("wanita", "P"), ("F", "P"),
        ("Female", "P"),
        ("X", NA), ("", NA), (None, NA), ("3", NA),
    ],
)
def test_clean_sex(raw, want):
    assert _eq(clean_sex(pd.Series([raw], dtype="string")).iloc[0], want)


@pytest.mark.parametrize(
    ("rt", "rw", "combined", "want_rt", "want_rw"),
    [
        ("001", "002", None, 1, 2),
        ("1", "12", None, 1, 12),
        ("RT 01", "RW 02", None, 1, 2),
        ("RT 01/RW 02", None, None, 1, 2),
        ("001/002", None, None, 1, 2),
        (None, None, "RT 01/RW 02", 1, 2),
        (None, None, "RT.1 RW.2", 1, 2),
        (None, None, "RT/RW 003/004", 3, 4),
        (None, None, "Jl. Mawar No. 5 RT 007 RW 011 Kel. X", 7, 11),
        (None, None, "rt:3 rw:9", 3, 9),
        ("000", "000", None, NA, NA),
        ("-", None, None, NA, NA),
        (None, None, "JALAN MAWAR", NA, NA),
    ],
)
def test_parse_rt_rw(rt, rw, combined, want_rt, want_rw):
    def s(v):
        return pd.Series([v], dtype="string")

    out = parse_rt_rw(s(rt), s(rw), combined=s(combined))
    assert _eq(out.loc[0, "rt"], want_rt) and _eq(out.loc[0, "rw"], want_rw)
    assert str(out["rt"].dtype) == "Int16" and str(out["rw"].dtype) == "Int16"


@pytest.mark.parametrize(
    ("raw", "alamat", "no", "rt", "rw"),
    [
        ("Jl. Merdeka No.12A RT 01/RW 02", "JALAN MERDEKA", "12A", 1, 2),
        ("JLN. MERDEKA NO 12 A", "JALAN MERDEKA A", "12", NA, NA),
        ("jl merdeka no. 5/7", "JALAN MERDEKA", "5/7", NA, NA),
        ("Gg. Mawar III", "GANG MAWAR III", NA, NA, NA),
        ("Kp. Rawa Bebek", "KAMPUNG RAWA BEBEK", NA, NA, NA),
        ("Dsn. Krajan RT.3 RW.1", "DUSUN KRAJAN", NA, 3, 1),
        ("Dk. Ngasem", "DUSUN NGASEM", NA, NA, NA),
        ("", NA, NA, NA, NA),
        (None, NA, NA, NA, NA),
    ],
)
def test_clean_address(raw, alamat, no, rt, rw):
    row = clean_address(pd.Series([raw], dtype="string")).iloc[0]
    for col, want in (("alamat", alamat), ("no_rumah", no), ("rt", rt), ("rw", rw)):
        assert _eq(row[col], want), (raw, col, row[col], want)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("Kab. Bogor", "KAB BOGOR"),
        ("Kabupaten Bogor", "KAB BOGOR"),
        ("KAB BOGOR", "KAB BOGOR"),
        ("Kota Bogor", "KOTA BOGOR"),
        ("KOTAMADYA BOGOR", "KOTA BOGOR"),
        ("Kab. Semarang", "KAB SEMARANG"),
        ("KAB. SEMARANG", "KAB SEMARANG"),
        ("Kec. Pekalongan Barat", "PEKALONGAN BARAT"),
        ("Jakarta, 17-08-1945", "JAKARTA"),  # "tempat, tanggal lahir": the date is not the place
        ("Kab. Bogor, 17 Agustus 1945", "KAB BOGOR"),
        ("Medan 17/08/1945", "MEDAN"),
        ("Jalan 17 Agustus 1945", "JALAN 17 AGUSTUS 1945"),  # a name made of a date, no comma: kept
        ("semarang", "SEMARANG"),
        ("", NA),
        (None, NA),
    ],
)
def test_clean_place(raw, want):
    assert _eq(clean_place(pd.Series([raw], dtype="string")).iloc[0], want)


def test_kab_and_kota_bogor_differ():
    out = clean_place(pd.Series(["Kab. Bogor", "Kota Bogor"]))
    assert out.iloc[0] != out.iloc[1]


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("Kepala Keluarga", "KEPALA"), ("KK", "KEPALA"), ("1", "KEPALA"), ("01", "KEPALA"),
        ("Istri", "PASANGAN"), ("suami", "PASANGAN"), ("2", "PASANGAN"),
        ("Anak", "ANAK"), ("anak kandung", "ANAK"), ("3", "ANAK"),
        ("Menantu", "MENANTU"), ("4", "MENANTU"), ("Cucu", "CUCU"), ("5", "CUCU"),
        ("Orang Tua", "ORANG_TUA"), ("ayah", "ORANG_TUA"), ("6", "ORANG_TUA"),
        ("Mertua", "MERTUA"), ("ibu mertua", "MERTUA"),
        ("Famili Lain", "FAMILI_LAIN"), ("keponakan", "FAMILI_LAIN"), ("7", "FAMILI_LAIN"),
        ("Pembantu", "LAINNYA"), ("Lainnya", "LAINNYA"), ("9", "LAINNYA"),
        ("?", NA), (None, NA), ("42", NA),
    ],
)
def test_clean_relation_bps(raw, want):
    assert _eq(clean_relation(pd.Series([raw], dtype="string")).iloc[0], want)


@pytest.mark.parametrize(
    ("raw", "want"),
    [("3", "PASANGAN"), ("4", "ANAK"), ("7", "ORANG_TUA"), ("8", "MERTUA"), ("10", "LAINNYA")],
)
def test_clean_relation_dukcapil(raw, want):
    assert clean_relation(pd.Series([raw]), coding="dukcapil").iloc[0] == want


REGION_COLS = ["kode_wilayah", "kode_prov", "kode_kab", "kode_kec", "kode_desa", "region_status"]


@pytest.mark.parametrize(
    ("kw", "want"),
    [
        (
            {"code": "33.75.01"},
            ["337501", "33", "3375", "337501", NA, "ok"],
        ),
        (
            {"kecamatan": "Kec. Pekalongan Barat"},
            ["337501", "33", "3375", "337501", NA, "from_names"],
        ),
        (
            {"kecamatan": "PEKALONGAN BARAT", "kabupaten": "Kota Pekalongan"},
            ["337501", "33", "3375", "337501", NA, "from_names"],
        ),
        (
            {"code": "3375", "kecamatan": "Pekalongan Barat"},
            ["337501", "33", "3375", "337501", NA, "ok"],
        ),
        (
            {"code": "33.75.01.1002"},
            ["3375011002", "33", "3375", "337501", "3375011002", "ok"],
        ),
        ({"code": "3375011002"}, ["3375011002", "33", "3375", "337501", "3375011002", "ok"]),
        ({"kabupaten": "Kab. Bogor"}, ["3201", "32", "3201", NA, NA, "from_names"]),
        ({"kabupaten": "Kota Bogor"}, ["3271", "32", "3271", NA, NA, "from_names"]),
        ({"kabupaten": "Bogor"}, [NA, NA, NA, NA, NA, "unresolved"]),  # ambiguous
        # a kabupaten without KAB/KOTA (BPS lists): its kecamatan or desa settles which one
        (
            {"kabupaten": "SEMARANG", "kecamatan": "KALIWUNGU", "provinsi": "JAWA TENGAH"},
            ["332217", "33", "3322", "332217", NA, "from_names"],
        ),
        (
            {"kabupaten": "BOGOR", "kecamatan": "CISARUA", "desa": "TUGU SELATAN"},
            ["3201252006", "32", "3201", "320125", "3201252006", "from_names"],
        ),
        # Kaliwungu is a kecamatan of three kabupaten of Jawa Tengah: only the province is known
        ({"kecamatan": "KALIWUNGU", "provinsi": "JAWA TENGAH"}, ["33", "33", NA, NA, NA, "from_names"]),
        ({"code": "33", "kabupaten": "Pekalongan"}, ["33", "33", NA, NA, NA, "ok"]),
        ({"code": "3375", "kabupaten": "Pekalongan"}, ["3375", "33", "3375", NA, NA, "ok"]),
        ({"provinsi": "Jawa Tengah"}, ["33", "33", NA, NA, NA, "from_names"]),
        ({"code": "3375", "kabupaten": "Kab. Bogor"}, ["3375", "33", "3375", NA, NA, "conflict"]),
        ({"code": "9999", "kabupaten": "Kota Pekalongan"}, ["3375", "33", "3375", NA, NA, "code_unknown"]),
        ({"code": "9999"}, [NA, NA, NA, NA, NA, "code_unknown"]),
        ({"code": None}, [NA, NA, NA, NA, NA, "missing"]),
    ],
)
def test_resolve_region(kw, want):
    series = {k: pd.Series([v], dtype="string") for k, v in kw.items()}
    row = resolve_region(**series).iloc[0]
    got = [row[c] for c in REGION_COLS]
    assert all(_eq(g, w) for g, w in zip(got, want)), (kw, got)


def test_code_and_kecamatan_name_agree():
    by_code = resolve_region(code=pd.Series(["33.75.01"]))
    by_name = resolve_region(kecamatan=pd.Series(["Kec. Pekalongan Barat"]))
    by_plain = resolve_region(kecamatan=pd.Series(["PEKALONGAN BARAT"]))
    assert by_code.loc[0, "kode_kec"] == by_name.loc[0, "kode_kec"] == by_plain.loc[0, "kode_kec"] == "337501"


def _address_reference(values: pd.Series) -> pd.DataFrame:
    """clean_address as plain pandas/re string operations (what the RE2 fast path must equal)."""
    from regsosek_link.standardise._address import _ABBREV, _HOUSE
    from regsosek_link.standardise._common import ascii_upper, collapse_spaces

    u = ascii_upper(values.astype("string").str.strip())
    u = u.mask(u == "")
    u = u.str.replace(
        r"\bRT\s*/\s*RW\s*[.:]?\s*\d{1,3}\s*[/\-]\s*\d{1,3}\b|\bR[TW]\s*[./:]?\s*\d{1,3}\b", " ", regex=True
    )
    no = u.str.extract(_HOUSE)[0].str.replace(r"\s+", "", regex=True)
    u = u.str.replace(_HOUSE, " ", regex=True)
    for pat, rep in _ABBREV:
        u = u.str.replace(pat, rep, regex=True)
    u = collapse_spaces(u.str.replace(r"[^A-Z0-9/\-]+", " ", regex=True)
                        .str.replace(r"(?<!\w)[/\-]+|[/\-]+(?!\w)", " ", regex=True))
    return pd.DataFrame({"alamat": u.astype("string"), "no_rumah": no.astype("string")})


def test_clean_address_equals_plain_re():
    values = pd.Series([
        "Jl. Merdeka No.12A RT 01/RW 02", "jln jalan NO 5 / 7", "Gg.Mawar no.3b", "KP. Sawah\tNo.\t9",
        "Dsn Krajan RT.3 RW.4 no 1-2", "Perum Griya Blk C-5 No. 7", "Jl. Sétiabudi Nº 4", "Jl.\u00a0Kenanga No.8",
        "JL. A/B - C", "//Jl. X//", "Kel. Baru, Kec. Lama, Kab. Bogor, Prov. Jabar", "no. 12 no. 13",
        "RT/RW 001/002 Jl. Y", "Jl. \u0130stanbul No.1", "Jl.\x0bZ No.2", "", " ", None, "Lingk. 3 Lk. 4 Ling 5",
    ], dtype="string")
    got = clean_address(values)[["alamat", "no_rumah"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, _address_reference(values), check_dtype=False)


def test_clean_address_all_printable_path_equals_plain_re():
    # only printable ASCII after folding: the whole chain runs on pyarrow (RE2, the
    # look-arounds rewritten); it must equal Python's re
    import random

    rng = random.Random(2)
    words = ["JL", "Jl.", "jln", "GG", "Gg.", "KP", "DSN", "Ds.", "KEL", "kec.", "Kab", "PROV", "PERUM", "BLK", "LK",
             "No", "NO.", "Nomor", "nmr:", "RT", "RW", "RT/RW", "rt.", "MAWAR", "12A", "3", "001/002", "-", "/", "--",
             "/-", "A-B", "12-3", "5/7B", ",", ".", "_", "x_y", "é", "Ü"]
    seps = [" ", "", ".", "-", "/", ", ", "  "]
    values = ["".join(rng.choice(words) + rng.choice(seps) for _ in range(rng.randint(1, 8))) for _ in range(5000)]
    values += ["-A", "A-", "A--B", "A-/B", "A - B", " -/- ", "NO 12 / 3B", "12/3", "", None]
    values = pd.Series(values, dtype="string")
    got = clean_address(values)[["alamat", "no_rumah"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, _address_reference(values), check_dtype=False)


def test_field_cleaners_take_lone_surrogates():
    # pyarrow cannot hold them: the upper-casing falls back to Python's
    s = pd.Series(["\ud800", "Laki-laki", "ISTRI \ud800", None], dtype=object)
    assert clean_sex(s).tolist() == [NA, "L", NA, NA]
    assert clean_relation(s).tolist() == [NA, NA, "PASANGAN", NA]
    assert clean_address(s)["alamat"].tolist() == [NA, "LAKI-LAKI", "ISTRI", NA]
