"""Writing outputs: atomic files, formats, CSV formula neutralisation (also in review exports)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pytest

from regsosek_link import outputs
from regsosek_link.config import LinkConfig, SourceConfig
from regsosek_link.errors import ConfigError
from regsosek_link.outputs import (
    _neutralise_table,
    _to_arrow,
    check_formats,
    neutralise_formulas,
    restore_formulas,
    write_tables,
)
from regsosek_link.review import export_review, read_decisions

# (text cell, as written to CSV): the OWASP list, quotes before them, and look-alikes left alone
NEUTRALISED = [
    ("=1+1", "'=1+1"),
    ("+62812", "'+62812"),
    ("-5", "'-5"),
    ("-", "'-"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("'=A1", "''=A1"),  # already quoted by someone else: one more, so that import gives it back
    ("''-1", "'''-1"),
    ("'abc", "'abc"),
    ("O'NEIL", "O'NEIL"),
    ("a=b", "a=b"),
    ("3-2", "3-2"),
    (" =1", " =1"),
    ("", ""),
    ("BUDI", "BUDI"),
]


@pytest.mark.parametrize(("raw", "written"), NEUTRALISED)
def test_neutralise_literal_cases(raw, written):
    frame = pd.DataFrame({"s": pd.array([raw], dtype="string"), "o": np.array([raw], dtype=object)})
    out = neutralise_formulas(frame)
    assert out["s"].tolist() == [written] and out["o"].tolist() == [written]
    assert _neutralise_table(pa.table({"s": [raw]}))["s"].to_pylist() == [written]  # the Arrow path agrees
    assert restore_formulas(out)["s"].tolist() == [raw]


def test_numbers_stay_numbers_and_nulls_stay_null():
    frame = pd.DataFrame({
        "n": [-5, 3], "f": [-0.5, np.nan], "b": [True, False],
        "t": pd.array(["-5", None], dtype="string"),
        "c": pd.Categorical(["=x", "y"]),
        "mixed": np.array([-5, "=x"], dtype=object),
    })
    out = neutralise_formulas(frame)
    assert out["n"].tolist() == [-5, 3] and out["n"].dtype == frame["n"].dtype
    assert out["f"].iloc[0] == -0.5 and np.isnan(out["f"].iloc[1])
    assert out["t"].iloc[0] == "'-5" and out["t"].iloc[1] is pd.NA
    assert out["c"].tolist() == ["'=x", "y"]
    assert out["mixed"].tolist() == [-5, "'=x"]
    assert frame["t"].iloc[0] == "-5"  # the input is not changed


def test_csv_neutralises_text_cells_only_and_parquet_keeps_raw_values(tmp_path):
    frame = pd.DataFrame({
        "record_id": pd.array(["-5", "=CMD()", "ok", None], dtype="string"),
        "source": pd.Categorical(["+a", "b", "b", "b"]),
        "amount": [-5, 1, 2, 3],
        "p": [-0.25, 0.5, 1.0, 0.0],
    })
    written = write_tables({"t": frame}, tmp_path, formats=("parquet", "csv"))
    assert list(written) == ["t.parquet", "t.csv"]
    lines = written["t.csv"].read_text(encoding="utf-8").splitlines()
    assert lines[0] == '"record_id","source","amount","p"'
    assert lines[1] == "\"'-5\",\"'+a\",-5,-0.25"
    assert lines[2] == "\"'=CMD()\",\"b\",1,0.5"
    assert lines[4] == ',"b",3,0'
    back = pd.read_parquet(written["t.parquet"])
    assert back["record_id"].tolist()[:3] == ["-5", "=CMD()", "ok"]
    assert back["source"].tolist()[0] == "+a" and back["amount"].tolist()[0] == -5
    pd.testing.assert_frame_equal(back, frame)  # dtypes come back too


def test_to_arrow_is_from_pandas():
    frame = pd.DataFrame({
        "s": pd.array(["a", None, "=b"], dtype="string"), "o": ["x", "y", None],
        "i": pd.array([1, None, 3], dtype="Int16"), "c": pd.Categorical(["u", "v", "u"]), "f": [1.0, 2.0, 3.0],
    })
    for sub in (frame, frame.iloc[:0], frame[["o", "f"]]):
        fast, ref = _to_arrow(sub), pa.Table.from_pandas(sub, preserve_index=False)
        assert fast.equals(ref) and fast.schema.equals(ref.schema, check_metadata=True)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_failed_write_leaves_no_file_and_no_temporary(tmp_path, monkeypatch, fmt):
    real = outputs._WRITERS[fmt]

    def half_then_fail(table, path):
        real(table.slice(0, 1), path)  # a partial file exists under the temporary name...
        raise OSError(28, "No space left on device")  # ...when the disk fills up

    monkeypatch.setitem(outputs._WRITERS, fmt, half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        write_tables({"t": pd.DataFrame({"a": ["x", "y"]})}, tmp_path, formats=(fmt,), workers=1)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    write_tables({"t": pd.DataFrame({"a": ["old"]})}, tmp_path, formats=("csv",))

    def fail(table, path):
        Path(path).write_text("partial")
        raise KeyboardInterrupt  # a kill by Ctrl-C mid-write

    monkeypatch.setitem(outputs._WRITERS, "csv", fail)
    with pytest.raises(KeyboardInterrupt):
        write_tables({"t": pd.DataFrame({"a": ["new"]})}, tmp_path, formats=("csv",), workers=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
    assert (tmp_path / "t.csv").read_text().splitlines() == ['"a"', '"old"']


def test_texts_are_written_atomically_too(tmp_path):
    written = write_tables({}, tmp_path / "new" / "dir", texts={"config.json": '{"a": 1}'})
    assert json.loads(written["config.json"].read_text()) == {"a": 1}
    assert [p.name for p in (tmp_path / "new" / "dir").iterdir()] == ["config.json"]


def test_threads_or_not_write_the_same_files(tmp_path):
    frames = {f"t{i}": pd.DataFrame({"a": [f"={i}", "b"], "n": [i, -i]}) for i in range(3)}
    one = write_tables(frames, tmp_path / "one", formats=("csv", "parquet"), workers=1)
    two = write_tables(frames, tmp_path / "two", formats=("csv", "parquet"), workers=4)
    assert list(one) == list(two)
    for name in one:
        assert one[name].read_bytes() == two[name].read_bytes()


@pytest.mark.parametrize(("given", "expected"), [
    (("parquet",), ("parquet",)),
    (["csv", "parquet"], ("csv", "parquet")),
    ("parquet,csv", ("parquet", "csv")),
    (" CSV ", ("csv",)),
])
def test_formats_accepted(given, expected):
    assert check_formats(given) == expected


@pytest.mark.parametrize(("given", "message"), [
    (("xlsx",), "formats: unknown output format(s) ['xlsx']; allowed: parquet, csv"),
    (("csv", "csv"), "formats: output format(s) ['csv'] named more than once; name each once"),
    ((), "formats must name at least one output format of parquet, csv; got ()"),
    (5, "formats must name at least one output format of parquet, csv; got 5"),
])
def test_unknown_formats_are_refused_before_anything_is_written(tmp_path, given, message):
    with pytest.raises(ConfigError) as exc:
        write_tables({"t": pd.DataFrame({"a": [1]})}, tmp_path / "out", formats=given)
    assert str(exc.value) == message
    assert not (tmp_path / "out").exists()


# -- config -----------------------------------------------------------------------------

SOURCE = SourceConfig(name="a", path="a.csv", columns={"ID": "record_id", "N": "nama"})


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".toml"])
def test_output_formats_round_trip(tmp_path, suffix):
    from regsosek_link.config import load_config

    cfg = LinkConfig(sources=(SOURCE,), output_dir=str(tmp_path), output_formats=("csv", "parquet"))
    assert LinkConfig.from_dict(cfg.to_dict()) == cfg
    again = load_config(cfg.save(tmp_path / f"run{suffix}"))
    assert again.output_formats == ("csv", "parquet")
    assert LinkConfig(sources=(SOURCE,)).output_formats == ("parquet",)
    assert LinkConfig(sources=(SOURCE,), output_formats="csv,parquet").output_formats == ("csv", "parquet")


def test_bad_output_formats_in_a_config_are_named():
    with pytest.raises(ConfigError) as exc:
        LinkConfig.from_dict({"sources": [SOURCE.to_dict()], "output_formats": ["parquet", "xls"]})
    assert exc.value.problems[0].where == "output_formats"
    assert str(exc.value) == "output_formats: unknown output format(s) ['xls']; allowed: parquet, csv"


# -- review exports ----------------------------------------------------------------------

def _queue() -> pd.DataFrame:
    return pd.DataFrame({
        "pair": [1, 2, 3],
        "source_l": pd.array(["siak", "siak", "siak"], dtype="string"),
        "record_id_l": pd.array(["-12", "=1+1", "@x"], dtype="string"),
        "source_r": pd.array(["dtks", "dtks", "dtks"], dtype="string"),
        "record_id_r": pd.array(["+62", "'=A1", "ok"], dtype="string"),
        "nama_l": pd.array(["=HYPERLINK(\"http://evil\",\"x\")", "BUDI", "\tSITI"], dtype="string"),
        "match_probability": [0.5, 0.4, 0.3],
        "weight_nik": [-5.0, 2.0, -0.5],
        "decision": pd.array(["match", "non-match", "match"], dtype="string"),
    })


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_review_export_round_trips_record_ids(tmp_path, suffix):
    q = _queue()
    path = export_review(q, tmp_path / f"review{suffix}")
    d = read_decisions(path)
    assert d["record_id_l"].tolist() == ["-12", "=1+1", "@x"]
    assert d["record_id_r"].tolist() == ["+62", "'=A1", "ok"]


def test_review_csv_cells_are_neutralised_and_numbers_are_not(tmp_path):
    path = export_review(_queue(), tmp_path / "review.csv")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert raw["record_id_l"].tolist() == ["'-12", "'=1+1", "'@x"]
    assert raw["record_id_r"].tolist() == ["'+62", "''=A1", "ok"]
    assert raw["nama_l"].tolist()[0].startswith("'=HYPERLINK")
    assert raw["weight_nik"].tolist() == ["-5.0", "2.0", "-0.5"]


def test_review_xlsx_has_no_formula_cells_and_numbers_stay_numbers(tmp_path):
    path = export_review(_queue(), tmp_path / "review.xlsx")
    ws = openpyxl.load_workbook(path)["review"]
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert cells and all(c.data_type != "f" for c in cells)
    header = [c.value for c in ws[1]]
    col = {name: i for i, name in enumerate(header)}
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert [r[col["record_id_l"]] for r in rows] == ["'-12", "'=1+1", "'@x"]
    assert [r[col["weight_nik"]] for r in rows] == [-5.0, 2.0, -0.5]
    assert ws.cell(row=2, column=col["weight_nik"] + 1).data_type == "n"


def test_review_export_refuses_other_suffixes(tmp_path):
    with pytest.raises(ConfigError, match=r"use a \.csv or \.xlsx suffix"):
        export_review(_queue(), tmp_path / "review.ods")
    assert list(tmp_path.iterdir()) == []
