"""Ingest: the vectorised stripping and the column-wise concatenation equal the plain pandas
definitions (strip every value, blank -> <NA>, ``pd.concat`` of the sources) on tricky input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regsosek_link import ConfigError, LinkConfig, SourceConfig, read_source, read_sources
from regsosek_link.schema import RAW_COLUMNS
from regsosek_link.standardise import standardise

# every kind of value the fast path must hand to Python: blanks of every kind at either end,
# empty and blank-only values, non-ASCII at the edges, lone surrogates, missing values
TRICKY = [
    "a", " a", "a ", "\ta\n", "\x0bb\x0c", "\x1cc\x1f", "\x85d\xa0", "\u3000e\u2029", "", " ", "\t \r\n",
    "\u00e9t\u00e9", " \u00e9", "\u00e9 ", "\u2028", "x\x00", "\x00", "a b", "\ud800", " \ud800 ", None, np.nan,
    "3375014508900002", "1", "1", " 1",
]


def _reference(values: list, *, usable: bool = False) -> list:
    """The definition: strip every value, blank -> <NA>, missing stays <NA>; ingest keeps
    every other character (NUL too), standardise's factorize writes NUL and lone surrogates
    as U+FFFD (``usable``)."""
    from regsosek_link.standardise._common import usable_text

    out = []
    for v in values:
        s = None if v is None or (isinstance(v, float) and np.isnan(v)) else (usable_text(v) if usable else v).strip()
        out.append(s or None)
    return out


def _values(s: pd.Series) -> list:
    """The values, <NA> as None (lists holding <NA> cannot be compared)."""
    return [None if v is pd.NA else v for v in s.tolist()]


@pytest.mark.parametrize("dtype", [object, "string"])
def test_stripping_equals_python_strip(dtype):
    values = TRICKY * 3
    df = pd.DataFrame({"ID": [str(i) for i in range(len(values))], "NAMA": pd.Series(values, dtype=dtype)})
    raw = read_source(SourceConfig(name="s", columns={"ID": "record_id", "NAMA": "nama"}), df)
    assert _values(raw["nama"]) == _reference(values)
    assert [str(t) for t in raw.dtypes] == ["string"] * len(RAW_COLUMNS)
    assert all(raw[c].array.dtype.storage == "python" for c in raw.columns)


def test_unchanged_values_are_not_copied():
    values = np.array(["x" * 50 + str(i) for i in range(10)], dtype=object)
    raw = read_source(SourceConfig(name="s", columns={"ID": "record_id", "NAMA": "nama"}),
                      pd.DataFrame({"ID": values, "NAMA": values}))
    assert all(a is b for a, b in zip(raw["record_id"].tolist(), values))


def test_read_sources_equals_concatenated_read_source():
    a = pd.DataFrame({"ID": [" 1", "2", "3"], "NAMA": ["Ani ", None, "  "], "X": ["x", " y", ""],
                      "TGL": pd.to_datetime(["2001-02-03", None, "1999-12-31"])})
    b = pd.DataFrame({"id": ["1", "2"], "nama": ["Budi", "\tCici"], "Y": ["p", "q"]})
    srcs = (
        SourceConfig(name="a", columns={"ID": "record_id", "NAMA": "nama", "TGL": "tanggal_lahir"}, extra_columns=("X",)),
        SourceConfig(name="b", columns={"id": "record_id", "nama": "nama"}, extra_columns=("Y",)),
    )
    raw = read_sources(LinkConfig(sources=srcs), {"a": a, "b": b})
    parts = [read_source(srcs[0], a), read_source(srcs[1], b)]
    pd.testing.assert_frame_equal(raw, pd.concat(parts, ignore_index=True).astype("string"))
    assert list(raw.columns) == [*RAW_COLUMNS, "x", "y"]
    assert _values(raw["tanggal_lahir"]) == ["2001-02-03", None, "1999-12-31", None, None]
    assert _values(raw["x"]) == ["x", "y", None, None, None]
    assert raw["source"].tolist() == ["a"] * 3 + ["b"] * 2


def test_problems_of_all_sources_in_config_order():
    srcs = (
        SourceConfig(name="a", columns={"ID": "record_id", "NIK": "nik"}),
        SourceConfig(name="b", columns={"ID": "record_id", "NIK": "nik", "NAMA": "nama"}),
        SourceConfig(name="c", columns={"ID": "record_id", "NIK": "nik"}),
    )
    data = {"a": pd.DataFrame({"ID": ["1", " 1", None], "NIK": "1"}), "b": pd.DataFrame({"ID": ["1", "2"], "NIK": "1"}),
            "c": pd.DataFrame({"ID": ["1", "1 "], "NIK": "1"})}
    with pytest.raises(ConfigError) as err:
        read_sources(LinkConfig(sources=srcs), data)
    got = [(p.source, p.where, p.message.split(";")[0].split(" (")[0]) for p in err.value.problems]
    assert got == [
        ("a", "record_id", "1 row(s) have no record_id"),
        ("a", "record_id", "record_id is not unique: 1 value(s) repeat"),
        ("b", "NAMA", "column 'NAMA' mapped to nama is missing"),
        ("c", "record_id", "record_id is not unique: 1 value(s) repeat"),
    ]


@pytest.mark.parametrize("dtype", [object, "string", "string[pyarrow]"])
def test_standardise_factorize_equals_stripped_values(dtype):
    from regsosek_link.standardise._common import factorize

    values = TRICKY * 2
    if dtype == "string[pyarrow]":  # (pyarrow cannot hold lone surrogates)
        values = [v for v in values if not (isinstance(v, str) and "\ud800" in v)]
    codes, uniques = factorize(pd.Series(values, dtype=dtype))
    assert _values(uniques.take(codes)) == _reference(values, usable=True)
    assert uniques.nunique(dropna=False) == len(uniques)


@pytest.mark.parametrize("values", [
    ["a", None, "", "\u00e9"],  # no zero byte in the data buffer: the rows are not looked for
    ["a", "x\x00", None, "\x00", "", "\x00\u00e9\x00", "b"],
    [None, None],
])
def test_nul_rows_equal_the_definition(values):
    import pyarrow as pa

    from regsosek_link.standardise._common import nul_rows

    arr = pa.array(values, type=pa.string())
    assert nul_rows(arr).tolist() == [v is not None and "\x00" in v for v in values]
    assert nul_rows(arr.slice(1)).tolist() == [v is not None and "\x00" in v for v in values[1:]]


NIK = "3375014508900002"


def test_nul_characters_keep_values_apart():
    # the raw records keep NUL as it is (bytes are never changed silently); pandas' string
    # hashing stops at NUL (pd.factorize takes "BUDI\x00X" and "BUDI" for one value), so the
    # standardise stage writes it as U+FFFD and every later stage sees three values
    df = pd.DataFrame({"ID": ["1", "2", "3"], "NAMA": ["BUDI\x00X", "BUDI", "BUDI\x00Y"], "NIK": [f"{NIK}\x002", NIK, f"{NIK}\x003"]})
    raw = read_source(SourceConfig(name="s", columns={"ID": "record_id", "NAMA": "nama", "NIK": "nik"}), df)
    assert raw["nama"].tolist() == ["BUDI\x00X", "BUDI", "BUDI\x00Y"]
    from regsosek_link._codes import factorize_strings
    from regsosek_link.standardise import standardise

    clean = standardise(raw)
    assert clean["nik"].tolist() == [f"{NIK}\ufffd2", NIK, f"{NIK}\ufffd3"]
    assert clean["nik_status"].tolist() == ["non_digit", "ok", "non_digit"]
    assert factorize_strings(clean["nik"])[0].tolist() == [0, 1, 2]
    assert factorize_strings(clean["nama"])[0].tolist() == [0, 1, 2]


@pytest.mark.parametrize("surrogates", [False, True])
def test_encoding_handed_to_standardise_equals_factorizing_again(surrogates):
    # ingest hands its dictionary encoding of each column to standardise's factorize (once,
    # within a shared_codes scope): the codes and distinct values equal factorizing anew
    from regsosek_link._codes import shared_codes
    from regsosek_link.standardise._common import _handed_over, factorize

    values = [v for v in TRICKY * 2 if surrogates or not (isinstance(v, str) and "\ud800" in v)]
    df = pd.DataFrame({"ID": [str(i) for i in range(len(values))], "NAMA": values, "SRC": values[::-1]})
    src = SourceConfig(name="s", columns={"ID": "record_id", "NAMA": "nama"}, extra_columns=("SRC",))
    with shared_codes():
        raw = read_source(src, df)
        enc = _handed_over(raw["nama"])
        got = {c: factorize(raw[c]) for c in ["source", "src"]}
        again = {c: factorize(raw[c]) for c in ["source", "src"]}  # the encoding was used up
    if surrogates:  # pyarrow cannot encode these: nothing is handed over
        assert enc is None
    else:
        assert enc.to_pylist() == _values(raw["nama"])
        assert enc.dictionary.to_pylist() == list(dict.fromkeys(v for v in _values(raw["nama"]) if v is not None))
    for c, (codes, uniques) in got.items():
        fresh = factorize(pd.Series(raw[c].to_numpy(), dtype="string"))
        for other in (fresh, again[c]):
            assert codes.tolist() == other[0].tolist()
            assert _values(uniques) == _values(other[1])


def test_repeated_record_ids_that_pyarrow_cannot_encode():
    df = pd.DataFrame({"ID": ["\ud800", " \ud800", "x", None], "NAMA": "a"})
    with pytest.raises(ConfigError) as err:
        read_source(SourceConfig(name="s", columns={"ID": "record_id", "NAMA": "nama"}), df)
    got = [p.message.split(" (")[0] for p in err.value.problems]
    assert got == ["1 row(s) have no record_id", "record_id is not unique: 1 value(s) repeat",
                   "2 record_id value(s) are not valid Unicode text"]


def test_one_thread_and_two_give_the_same_records_and_encodings():
    # with workers != 1 pyarrow hashes a column on a second thread while the next is converted
    from regsosek_link._codes import shared_codes
    from regsosek_link.standardise._common import _handed_over

    values = TRICKY * 2
    df = pd.DataFrame({"ID": [str(i) for i in range(len(values))], "NAMA": values, "NIK": values[::-1],
                       "IBU": [v for v in values if not (isinstance(v, str) and "\ud800" in v)] + ["x"] * 4,
                       "TGL": values[1:] + ["a"]})
    src = SourceConfig(name="s", columns={"ID": "record_id", "NAMA": "nama", "NIK": "nik", "IBU": "nama_ibu",
                                          "TGL": "tanggal_lahir"})
    got = []
    for workers in (1, -1):
        with shared_codes():
            raw = read_sources(LinkConfig(sources=(src,), workers=workers), {"s": df})
            encs = {c: _handed_over(raw[c]) for c in ["nik", "nama", "nama_ibu", "tanggal_lahir"]}
        got.append((raw, {c: None if e is None else e.to_pylist() for c, e in encs.items()}))
    pd.testing.assert_frame_equal(got[0][0], got[1][0])
    assert got[0][1] == got[1][1]
    assert got[0][1]["nama"] is None and got[0][1]["nama_ibu"] == _values(got[0][0]["nama_ibu"])


def test_place_and_date_of_birth_in_one_column(tmp_path: Path):
    # a "tempat, tanggal lahir" column (as on the KTP) mapped to tempat_tanggal_lahir feeds
    # both fields, each cleaned to its own part; mapping it beside tanggal_lahir is refused
    path = tmp_path / "a.csv"
    path.write_text("id,nama,ttl\n1,Siti Aminah,\"Jakarta, 12-08-1980\"\n2,Budi,\"Kab. Bogor, 1 Juli 1960\"\n"
                    "3,Ani,\n", encoding="utf-8")
    src = SourceConfig(name="a", path=str(path),
                       columns={"id": "record_id", "nama": "nama", "ttl": "tempat_tanggal_lahir"})
    clean = standardise(read_sources(LinkConfig(sources=[src])))
    assert clean["tempat_lahir"].tolist()[:2] == ["JAKARTA", "KAB BOGOR"]
    assert clean["tanggal_lahir"].tolist()[:2] == ["1980-08-12", "1960-07-01"]
    assert clean["tempat_lahir"].isna().iloc[2] and clean["tanggal_lahir"].isna().iloc[2]
    with pytest.raises(ConfigError, match="tempat_tanggal_lahir gives both"):
        SourceConfig(name="b", columns={"id": "record_id", "nama": "nama", "ttl": "tempat_tanggal_lahir",
                                        "tgl": "tanggal_lahir"})
