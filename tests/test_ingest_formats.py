"""Ingest of files (issue 15): bytes kept exactly, encodings detected, more formats, and
every row either read once or the file refused naming the source, the row and the fix.

Each test names the behaviour before the change it pins down."""

from __future__ import annotations

import gzip
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regsosek_link import ConfigError, LinkConfig, SourceConfig, read_source
from regsosek_link.ingest import EncodingGuessWarning
from regsosek_link.standardise import standardise

COLS = {"ID": "record_id", "NIK": "nik", "NAMA": "nama"}
NIK = "3375014508900002"


def _values(s: pd.Series) -> list:
    return [None if v is pd.NA else v for v in s.tolist()]


def _src(path: Path, **kw) -> SourceConfig:
    return SourceConfig(name="dtks", path=str(path), columns=kw.pop("columns", COLS), **kw)


def _write(tmp_path: Path, data: bytes, name: str = "dtks.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# -- NUL and control characters ---------------------------------------------------------


def test_nul_bytes_in_csv_cells_are_kept(tmp_path):
    # before: pandas' C parser cut each value at the NUL: 'ART01565976', 'SITI', and the two
    # ids were reported "not unique"
    p = _write(tmp_path, b"ID,NIK,NAMA\nART01565976\x00277,1,SITI\x00 AMINAH\nART01565976\x00278,2,BUDI\n")
    raw = read_source(_src(p))
    assert raw["record_id"].tolist() == ["ART01565976\x00277", "ART01565976\x00278"]
    assert raw["nama"].tolist() == ["SITI\x00 AMINAH", "BUDI"]
    clean = standardise(raw)
    assert clean["record_id"].tolist() == ["ART01565976\x00277", "ART01565976\x00278"]
    assert clean["nama"].tolist() == ["SITI AMINAH", "BUDI"]


def test_control_characters_are_kept(tmp_path):
    ctrl = "".join(chr(c) for c in range(1, 32) if chr(c) not in "\n\r\t")
    p = _write(tmp_path, f'ID,NIK,NAMA\nA{ctrl}Z,1,"x\ty\r\nz"\n'.encode())
    raw = read_source(_src(p))
    assert raw["record_id"].tolist() == [f"A{ctrl}Z"]
    assert raw["nama"].tolist() == ["x\ty\r\nz"]


def test_record_ids_that_differ_after_a_nul_are_not_repeats_but_true_repeats_are(tmp_path):
    p = _write(tmp_path, b"ID,NIK,NAMA\na\x00b,1,x\na\x00c,2,y\na,3,z\na\x00b,4,w\n")
    with pytest.raises(ConfigError) as err:
        read_source(_src(p))
    assert str(err.value).startswith(
        "source 'dtks': record_id is not unique: 1 value(s) repeat ('a\\x00b' at rows 2, 5;")


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
def test_line_endings(tmp_path, ending):
    p = _write(tmp_path, ending.join([b"ID,NIK,NAMA", b"1,2,A", b"3,4,B"]) + ending)
    assert read_source(_src(p))["record_id"].tolist() == ["1", "3"]


def test_mixed_line_endings(tmp_path):
    p = _write(tmp_path, b"ID,NIK,NAMA\r\n1,2,A\n3,4,B\r5,6,C")
    assert read_source(_src(p))["record_id"].tolist() == ["1", "3", "5"]


def test_unterminated_quote_is_refused_not_swallowing_rows(tmp_path):
    # pyarrow alone would read rows 3 and 4 into the open value: two records lost silently
    p = _write(tmp_path, b'ID,NIK,NAMA\n1,2,"Ani\n3,4,B\n5,6,C\n')
    with pytest.raises(ConfigError, match=r"source 'dtks': file '.*dtks.csv' is malformed CSV: line 4: "
                       r"unexpected end of data. A quoted value is not closed"):
        read_source(_src(p))


def test_a_quote_inside_an_unquoted_value_is_literal(tmp_path):
    p = _write(tmp_path, b'ID,NIK,NAMA\n1,2,JL. "MAWAR\n3,4,B\n')
    assert read_source(_src(p))["nama"].tolist() == ['JL. "MAWAR', "B"]


def test_rows_with_another_number_of_fields_are_refused(tmp_path):
    # before: pandas padded a short row with NaN without a word
    p = _write(tmp_path, b"ID,NIK,NAMA\n1,2\n3,4,5,6\n7,8,9\n")
    with pytest.raises(ConfigError) as err:
        read_source(_src(p))
    assert str(err.value) == (
        f"source 'dtks': 2 row(s) of {str(p)!r} do not have the header's 3 fields (2 field(s): '1,2'; "
        "4 field(s): '3,4,5,6'). Check quoting and the delimiter (set 'delimiter' for this source); no row "
        "is dropped or padded.")


def test_huge_field(tmp_path):
    big = "A" * 100_000
    p = _write(tmp_path, f"ID,NIK,NAMA\n1,2,{big}\n3,4,B\n".encode())
    raw = read_source(_src(p))
    assert raw["nama"].tolist() == [big, "B"]


def test_duplicate_header_names_are_made_unique_like_pandas(tmp_path):
    p = _write(tmp_path, b"ID,NIK,NAMA,X,X,\n1,2,A,p,q,r\n")
    raw = read_source(_src(p, extra_columns=("X", "X.1", "Unnamed: 5")))
    assert raw[["x", "x.1", "unnamed: 5"]].iloc[0].tolist() == ["p", "q", "r"]


# -- lone surrogates (DataFrame input) --------------------------------------------------


@pytest.mark.parametrize("column", ["nik", "no_kk", "nama", "jenis_kelamin", "tempat_lahir", "tanggal_lahir",
                                    "nama_ibu", "alamat", "rt", "rw", "kode_wilayah", "desa", "kecamatan",
                                    "kabupaten", "provinsi", "hubungan_keluarga", "extra"])
def test_lone_surrogates_never_crash_standardise(column):
    # before: UnicodeEncodeError from pyarrow inside standardise (nik, no_kk, nama,
    # tanggal_lahir, nama_ibu)
    df = pd.DataFrame({"ID": ["1", "2", "3"], "N": ["A", "B", "C"], "C": ["x\ud800y", "SITI", "\udfff"]})
    mapping = {"ID": "record_id", "N": "nama" if column != "nama" else "nik"}
    extra: tuple[str, ...] = ()
    if column == "extra":
        extra = ("C",)
    else:
        mapping["C"] = column
    raw = read_source(SourceConfig(name="s", columns=mapping, extra_columns=extra), df)
    assert raw[column.lower() if column != "extra" else "c"].tolist()[0] == "x\ud800y"  # raw keeps the value
    clean = standardise(raw)
    assert clean["record_id"].tolist() == ["1", "2", "3"]
    for c in clean.columns:  # nothing that UTF-8 cannot hold reaches the clean records
        for v in clean[c].tolist():
            if isinstance(v, str):
                v.encode("utf-8")


def test_values_differing_only_in_surrogates_stay_apart_from_others():
    # before: pandas' hashing took 'x\ud800y' and '\ud800' for one value
    from regsosek_link.standardise._common import factorize

    codes, uniques = factorize(pd.Series(["x\ud800y", "SITI", "\ud800", "x\ud800y"], dtype="string"))
    assert codes.tolist() == [0, 1, 2, 0] or len(set(codes.tolist())) == 3
    assert sorted(uniques.tolist()) == sorted(["x\ufffdy", "SITI", "\ufffd"])


def test_record_id_with_a_lone_surrogate_is_refused_naming_the_row():
    # before: "record_id is not unique: 0 value(s) repeat" (pandas' hashing)
    df = pd.DataFrame({"ID": ["x\ud800y", "SITI", "\ud800"], "NAMA": "A"})
    with pytest.raises(ConfigError) as err:
        read_source(SourceConfig(name="s", columns={"ID": "record_id", "NAMA": "nama"}), df)
    assert str(err.value) == (
        "source 's': 2 record_id value(s) are not valid Unicode text (lone surrogates, e.g. from bytes decoded "
        "with errors='surrogateescape'): row 2 ('x\\ud800y'), row 4 ('\\ud800'). Record ids are written out as "
        "UTF-8; decode the source with its real encoding or fix these ids.")


# -- encodings --------------------------------------------------------------------------

CP1252 = "ID,NIK,NAMA\n1,1,Ani Sétiawati\n2,2,Budi “Gendut” – Santoso\n"


def test_cp1252_file_without_encoding_is_read_with_a_warning(tmp_path, caplog):
    # before: ConfigError "is not valid utf-8 ... set 'encoding'"
    p = _write(tmp_path, CP1252.encode("cp1252"))
    with pytest.warns(EncodingGuessWarning, match=r"source 'dtks': file '.*' is not UTF-8 \(byte 21, line 2: "
                      r"b'\\xe9tia'\); read as cp1252 \(guessed, confidence \d\.\d\d\)"):
        raw = read_source(_src(p))
    assert raw["nama"].tolist() == ["Ani Sétiawati", "Budi “Gendut” – Santoso"]
    assert "read as cp1252 (guessed" in caplog.text


@pytest.mark.parametrize("names", [["0¡"], ["\x1b", "\xa0X"], ["JOSÉ", "ÆSA"]])
def test_a_tiny_cp1252_file_keeps_its_letters(tmp_path, names):
    # charset-normalizer alone read '0¡' as cp932 ('0｡'), others as Big5 or UTF-16, all with
    # "confidence 1.00"; and it found control bytes too chaotic to guess at all
    rows = "".join(f"{i},{i},{n}\n" for i, n in enumerate(names))
    p = _write(tmp_path, ("ID,NIK,NAMA\n" + rows).encode("cp1252"))
    with pytest.warns(EncodingGuessWarning, match="read as cp1252"):
        raw = read_source(_src(p))
    assert raw["nama"].tolist() == [n.strip() for n in names]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_utf16_or_utf32_file_with_a_byte_order_mark(tmp_path, encoding):
    p = _write(tmp_path, CP1252.encode(encoding))
    with pytest.warns(EncodingGuessWarning, match=f"read as {encoding} "):
        raw = read_source(_src(p))
    assert raw["nama"].tolist() == ["Ani Sétiawati", "Budi “Gendut” – Santoso"]


def test_explicit_encoding_wins_and_does_not_warn(tmp_path):
    p = _write(tmp_path, CP1252.encode("cp1252"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        raw = read_source(_src(p, encoding="latin-1"))
    assert raw["nama"].tolist()[0] == "Ani Sétiawati"
    with pytest.raises(ConfigError, match="is not valid utf-8 "):
        read_source(_src(p, encoding="utf-8"))


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_with_or_without_bom_reads_without_warning(tmp_path, bom):
    p = _write(tmp_path, bom + "ID,NIK,NAMA\n1,2,Ani Sétiawati\n".encode())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        raw = read_source(_src(p))
    assert raw["record_id"].tolist() == ["1"] and raw["nama"].tolist() == ["Ani Sétiawati"]


def test_non_utf8_bytes_after_the_sample_are_found(tmp_path):
    rows = "".join(f"{i},{i},NAMA {i}\n" for i in range(100_000))  # ~1.5 MB of ASCII first
    p = _write(tmp_path, ("ID,NIK,NAMA\n" + rows + "X,1,Sétiawati\n").encode("cp1252"))
    with pytest.warns(EncodingGuessWarning):
        raw = read_source(_src(p))
    assert raw["nama"].iloc[-1] == "Sétiawati" and len(raw) == 100_001


def test_encoding_config_round_trip():
    old = LinkConfig.from_dict({"sources": [{"name": "a", "columns": {"ID": "record_id", "N": "nama"},
                                             "encoding": "utf-8"}]})
    assert old.sources[0].encoding == "utf-8"
    assert LinkConfig.from_dict(old.to_dict()) == old
    new = LinkConfig.from_dict({"sources": [{"name": "a", "columns": {"ID": "record_id", "N": "nama"}}]})
    assert new.sources[0].encoding is None
    assert "encoding" not in new.to_dict()["sources"][0]
    assert LinkConfig.from_dict(new.to_dict()) == new
    assert LinkConfig.from_dict(new.to_dict()).to_toml() == new.to_toml()


def test_unknown_encoding_is_a_config_problem():
    with pytest.raises(ConfigError, match="source 'a': unknown encoding 'utf-9'; use e.g. utf-8, cp1252, latin-1, "
                       "or leave 'encoding' out to detect it"):
        SourceConfig(name="a", columns={"ID": "record_id", "N": "nama"}, encoding="utf-9")


# -- archives ---------------------------------------------------------------------------

ROWS = b"ID,NIK,NAMA\n1,3375014508900002,Ani\n2,,Budi\n"


def test_gz(tmp_path):
    p = _write(tmp_path, gzip.compress(ROWS), "dtks.csv.gz")
    assert _values(read_source(_src(p))["nik"]) == [NIK, None]


def test_zip_with_one_data_file(tmp_path):
    p = tmp_path / "dtks.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("export/", "")
        zf.writestr("export/dtks.csv", ROWS)
        zf.writestr("__MACOSX/export/._dtks.csv", b"junk")
        zf.writestr("export/README.md", b"notes")
    assert read_source(_src(p))["record_id"].tolist() == ["1", "2"]


@pytest.mark.parametrize("members", [["a.csv", "b.csv"], ["notes.md"]])
def test_zip_without_exactly_one_data_file_lists_the_members(tmp_path, members):
    p = tmp_path / "dtks.zip"
    with zipfile.ZipFile(p, "w") as zf:
        for m in members:
            zf.writestr(m, ROWS)
    what = "2 .csv/.tsv/.txt files" if len(members) == 2 else "no .csv/.tsv/.txt file"
    with pytest.raises(ConfigError) as err:
        read_source(_src(p))
    assert str(err.value) == (
        f"source 'dtks': archive {str(p)!r} holds {what}; a .zip source must hold exactly one. Members: "
        f"{', '.join(map(repr, members))}. Unpack it and point 'path' at the data file, or zip that file alone.")


def test_broken_zip(tmp_path):
    p = _write(tmp_path, b"not a zip", "dtks.zip")
    with pytest.raises(ConfigError, match="is not a readable .zip archive"):
        read_source(_src(p))


# -- spreadsheets and statistics packages ---------------------------------------------


def test_xlsx_numbers_dates_and_text(tmp_path):
    import datetime as dt

    import openpyxl

    p = tmp_path / "dtks.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["ID", "NIK", "NAMA", "TGL", "RT"])
    ws.append([1, int(NIK), "Ani", dt.datetime(1990, 8, 5), 3.0])           # NIK stored as a number
    ws.append(["A2", 9171010101010001.0, "Budi", "05-08-1990", 1.5])         # a float above 2^53
    ws.append([None, None, None, None, None])                               # blank row: skipped
    ws.append(["A3", "'3375014508900002", None, None, None])
    wb.save(p)
    raw = read_source(_src(p, columns={**COLS, "TGL": "tanggal_lahir", "RT": "rt"}))
    assert raw["record_id"].tolist() == ["1", "A2", "A3"]
    # (9171010101010001 is no float64: the cell holds 9171010101010000, digits not to trust)
    assert _values(raw["nik"]) == [NIK, "9.17101010101e+15", "'3375014508900002"]
    assert _values(raw["tanggal_lahir"]) == ["1990-08-05", "05-08-1990", None]
    assert _values(raw["rt"]) == ["3", "1.5", None]
    clean = standardise(raw)
    assert clean["nik_status"].tolist() == ["ok", "excel_damaged", "ok"]


def test_float_text_keeps_whole_numbers_below_2_53_exactly():
    from regsosek_link.ingest import _float_text

    got = _float_text(np.array([3375014508900002.0, 2.0**53 - 1, 2.0**53, 1.5, np.nan, -7.0, np.inf]))
    assert got.tolist() == ["3375014508900002", "9007199254740991", "9.007199254740992e+15", "1.5", pd.NA,
                            "-7", "inf"]


def test_dta(tmp_path):
    p = tmp_path / "dtks.dta"
    pd.DataFrame({"ID": ["1", "2", "3"], "NIK": [float(NIK), np.nan, 9171010101010001.0],
                  "NAMA": ["Ani", "", "Cici"], "UMUR": np.array([30, 40, 50], dtype=np.int32)}).to_stata(
        p, write_index=False)
    raw = read_source(_src(p, extra_columns=("UMUR",)))
    assert _values(raw["nik"]) == [NIK, None, "9.17101010101e+15"]
    assert _values(raw["nama"]) == ["Ani", None, "Cici"]
    assert raw["umur"].tolist() == ["30", "40", "50"]
    assert standardise(raw)["nik_status"].tolist() == ["ok", "missing", "excel_damaged"]


def test_sav(tmp_path):
    pyreadstat = pytest.importorskip("pyreadstat")
    p = tmp_path / "dtks.sav"
    df = pd.DataFrame({"ID": ["1", "2"], "NIK": [NIK, ""], "NAMA": ["Ani", "Budi"], "KK": [float(NIK), np.nan]})
    pyreadstat.write_sav(df, str(p))
    raw = read_source(_src(p, columns={**COLS, "KK": "no_kk"}))
    assert _values(raw["nik"]) == [NIK, None]
    assert _values(raw["no_kk"]) == [NIK, None]
    assert raw["nama"].tolist() == ["Ani", "Budi"]


def test_sav_without_pyreadstat_says_how_to_install(tmp_path, monkeypatch):
    p = _write(tmp_path, b"$FL2", "dtks.sav")
    monkeypatch.setitem(sys.modules, "pyreadstat", None)
    with pytest.raises(ConfigError) as err:
        read_source(_src(p))
    assert str(err.value) == (f"source 'dtks': reading the SPSS file {str(p)!r} needs the optional package "
                              "pyreadstat; install it with: pip install 'regsosek-link[spss]'")


def test_unsupported_type_names_the_supported_ones(tmp_path):
    p = _write(tmp_path, b"x", "dtks.xls")
    with pytest.raises(ConfigError, match=r"has an unsupported type '.xls'; use .csv, .tsv, .txt \(also inside "
                       r".gz or a .zip\), .parquet, .xlsx, .dta or .sav"):
        read_source(_src(p))
