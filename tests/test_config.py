"""Config round trips and bad-config errors (message text asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from regsosek_link import (
    BlockOn,
    ConfigError,
    JaroWinklerAtThresholds,
    LinkConfig,
    SourceConfig,
    load_config,
    read_source,
    read_sources,
)

SIAK = SourceConfig(name="siak", path="siak.csv", columns={"ID": "record_id", "NIK": "nik", "NAMA": "nama"},
                    one_record_per_person=True, priority=1)


def test_round_trip_dict_json_yaml_toml(tmp_path: Path):
    cfg = LinkConfig(
        sources=(SIAK, SourceConfig(name="dtks", columns={"id": "record_id", "nama_art": "nama"},
                                    field_priority={"alamat": 1})),
        threshold=0.95,
        blocking_rules=(BlockOn(keys=("nik",)), BlockOn(keys=("tanggal_lahir", "tokens(nama_phonetic)"))),
        comparisons=(JaroWinklerAtThresholds(column="nama", thresholds=(0.9,)),),
    )
    assert LinkConfig.from_dict(cfg.to_dict()) == cfg
    assert LinkConfig.from_dict(json.loads(cfg.to_json())) == cfg
    for suffix in (".json", ".yaml", ".toml"):
        path = cfg.save(tmp_path / f"run{suffix}")
        loaded = load_config(path)
        # relative source paths are resolved against the config file's folder
        assert loaded.source("siak").path == str(tmp_path / "siak.csv")
        assert loaded.output_dir == str(tmp_path / "regsosek_output")
        assert loaded.replace(sources=cfg.sources, output_dir=cfg.output_dir) == cfg


@pytest.mark.parametrize("options", [
    {"date_format": "%m/%d/%Y"},
    {"dayfirst": False},
    {"date_format": "%d.%m.%Y", "dayfirst": False},
])
def test_date_settings_round_trip(tmp_path: Path, options):
    src = SourceConfig(name="bpjs", path="bpjs.csv", columns={"id": "record_id", "nama": "nama"}, **options)
    cfg = LinkConfig(sources=(SIAK, src))
    assert LinkConfig.from_dict(cfg.to_dict()) == cfg
    assert LinkConfig.from_dict(json.loads(cfg.to_json())) == cfg
    for suffix in (".json", ".yaml", ".toml"):
        loaded = load_config(cfg.save(tmp_path / f"run{suffix}"))
        assert loaded.source("bpjs").date_format == options.get("date_format")
        assert loaded.source("bpjs").dayfirst is options.get("dayfirst", True)
    assert "dayfirst" not in SIAK.to_dict()  # (the default is not written)
    assert cfg.date_options() == {
        "date_formats": {"bpjs": options["date_format"]} if "date_format" in options else {},
        "dayfirst": {"bpjs": False} if "dayfirst" in options else {},
    }


@pytest.mark.parametrize("options, message", [
    ({"date_format": "mm/dd/yyyy"},
     "source 'bpjs': date_format must be a strptime format such as '%d/%m/%Y'; got 'mm/dd/yyyy'"),
    ({"dayfirst": "yes"}, "source 'bpjs': dayfirst must be true or false; got 'yes'"),
])
def test_bad_date_settings(options, message):
    with pytest.raises(ConfigError) as err:
        SourceConfig(name="bpjs", columns={"id": "record_id", "nama": "nama"}, **options)
    assert str(err.value) == message


def test_default_specs_round_trip():
    cfg = LinkConfig(sources=(SIAK,))
    again = LinkConfig.from_dict(json.loads(cfg.to_json()))
    assert again.blocking_rules == cfg.blocking_rules
    assert again.comparisons == cfg.comparisons


@pytest.mark.parametrize(
    "source, message",
    [
        ({"name": "dtks", "columns": {"id": "record_id", "k": "nik", "nm": "namaa"}},
         "source 'dtks': mapping targets unknown person-schema column(s) ['namaa']"),
        ({"name": "dtks", "columns": {"nama": "nama"}},
         "source 'dtks': no column is mapped to 'record_id'; map the source's unique row key to record_id"),
        ({"name": "dtks", "columns": {"id": "record_id", "tgl": "tanggal_lahir"}},
         "source 'dtks': a source needs at least 'nama' or 'nik' mapped; it maps ['record_id', 'tanggal_lahir']."),
        ({"name": "dtks", "columns": {"id": "record_id", "a": "nama", "b": "nama"}},
         "source 'dtks': several columns are mapped to ['nama']; map exactly one column to each."),
    ],
)
def test_bad_source_mapping(source, message):
    with pytest.raises(ConfigError) as err:
        SourceConfig(**source)
    assert str(err.value).startswith(message)


def test_all_problems_are_reported_at_once():
    with pytest.raises(ConfigError) as err:
        LinkConfig.from_dict({"sources": [
            {"name": "a", "columns": {"x": "nama"}},
            {"name": "b", "columns": {"id": "record_id", "x": "nope"}},
        ]})
    assert [p.source for p in err.value.problems] == ["a", "b", "b"]
    assert str(err.value).startswith("3 problems:\n- source 'a': no column is mapped to 'record_id'")


@pytest.mark.parametrize(
    "data, message",
    [
        ({"sources": []}, "the config names no sources; add at least one under 'sources'"),
        ({"sources": [{"name": "a", "columns": {"i": "record_id", "n": "nama"}}], "threshold": 2},
         "The 'threshold' parameter must be a float in (0, 1). Got 2 instead."),
        ({"sources": [{"name": "a", "columns": {"i": "record_id", "n": "nama"}}], "treshold": 0.9},
         "unknown config key(s) ['treshold']; known keys:"),
        ({"sources": [{"name": "a", "colums": {}}]}, "source 'a': unknown key(s) ['colums']"),
        ({"sources": [{"name": "a", "columns": {"i": "record_id", "n": "nama"}},
                      {"name": "a", "columns": {"i": "record_id", "n": "nama"}}]},
         "source names must be unique; repeated: ['a']"),
        ({"sources": [{"name": "a", "columns": {"i": "record_id", "n": "nama"}}],
          "comparisons": [{"type": "FuzzyThing", "column": "nama"}]},
         "unknown comparison type 'FuzzyThing'; known types:"),
    ],
)
def test_bad_config(data, message):
    with pytest.raises(ConfigError) as err:
        LinkConfig.from_dict(data)
    assert str(err.value).startswith(message)


def test_missing_config_file_and_bad_yaml(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file '.*nope.yaml' does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(bad)


# -- ingest ------------------------------------------------------------------------------

def _csv(tmp_path: Path, text: str, name="siak.csv", encoding="utf-8") -> str:
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return str(p)


def test_ingest_reads_ids_as_strings_and_keeps_every_row(tmp_path: Path):
    path = _csv(tmp_path, "ID,NIK,NAMA\n1,9201014508900001,Ani\n2,,\n3,0033,Budi\n")
    raw = read_source(SourceConfig(name="siak", path=path, columns=SIAK.columns))
    assert raw["nik"].tolist()[0] == "9201014508900001"  # > 2^53: exact, never a float
    assert raw["nik"].isna().tolist() == [False, True, False]
    assert raw["nik"].tolist()[2] == "0033"  # leading zeros kept
    assert len(raw) == 3 and raw["source"].unique().tolist() == ["siak"]
    assert all(str(t) == "string" for t in raw.dtypes)


def test_ingest_semicolon_delimiter_is_sniffed(tmp_path: Path):
    path = _csv(tmp_path, "ID;NIK;NAMA\n1;3375014508900001;Ani\n")
    raw = read_source(SourceConfig(name="siak", path=path, columns=SIAK.columns))
    assert raw.loc[0, "nama"] == "Ani"


def test_missing_file(tmp_path: Path):
    src = SourceConfig(name="siak", path=str(tmp_path / "x.csv"), columns=SIAK.columns)
    with pytest.raises(ConfigError) as err:
        read_source(src)
    assert str(err.value) == (f"source 'siak': file '{tmp_path / 'x.csv'}' does not exist; check 'path' "
                              "(relative paths are relative to the config file)")


def test_missing_mapped_column_names_columns_present(tmp_path: Path):
    path = _csv(tmp_path, "ID,NIK,NAMA_LGKP\n1,1,Ani\n")
    with pytest.raises(ConfigError) as err:
        read_source(SourceConfig(name="siak", path=path, columns=SIAK.columns))
    assert str(err.value) == ("source 'siak': column 'NAMA' mapped to nama is missing; columns present: "
                              "ID, NIK, NAMA_LGKP. Did you mean 'NAMA_LGKP'?")


def test_duplicate_record_ids(tmp_path: Path):
    path = _csv(tmp_path, "ID,NIK,NAMA\n1,1,A\n2,2,B\n1,3,C\n")
    with pytest.raises(ConfigError) as err:
        read_source(SourceConfig(name="siak", path=path, columns=SIAK.columns))
    assert str(err.value).startswith(
        "source 'siak': record_id is not unique: 1 value(s) repeat ('1' at rows 2, 4; rows counted as file lines"
    )


def test_missing_record_ids(tmp_path: Path):
    path = _csv(tmp_path, "ID,NIK,NAMA\n1,1,A\n,2,B\n")
    with pytest.raises(ConfigError, match=r"1 row\(s\) have no record_id \(file lines 3\)"):
        read_source(SourceConfig(name="siak", path=path, columns=SIAK.columns))


def test_empty_source(tmp_path: Path):
    path = _csv(tmp_path, "ID,NIK,NAMA\n")
    with pytest.raises(ConfigError) as err:
        read_source(SourceConfig(name="siak", path=path, columns=SIAK.columns))
    assert str(err.value) == "source 'siak': the source has no rows; remove it from the config or fix its export"


def test_wrong_encoding_says_how_to_fix(tmp_path: Path):
    # an explicit encoding is never second-guessed (without one the encoding is detected:
    # see test_ingest_formats.py)
    path = _csv(tmp_path, "ID,NIK,NAMA\n1,1,Ani Sétiawati\n", encoding="latin-1")
    with pytest.raises(ConfigError, match=r"is not valid utf-8 \(byte 21, line 2: b'\\xe9tia'\); set 'encoding' for "
                       "this source, e.g. encoding: latin-1"):
        read_source(SourceConfig(name="siak", path=path, columns=SIAK.columns, encoding="utf-8"))
    raw = read_source(SourceConfig(name="siak", path=path, columns=SIAK.columns, encoding="latin-1"))
    assert raw.loc[0, "nama"] == "Ani Sétiawati"


def test_malformed_csv(tmp_path: Path):
    path = _csv(tmp_path, 'ID,NIK,NAMA\n1,2,"Ani\n')
    with pytest.raises(ConfigError, match="is malformed CSV"):
        read_source(SourceConfig(name="siak", path=path, columns=SIAK.columns))


def test_float_nik_in_dataframe_is_refused():
    df = pd.DataFrame({"ID": ["1", "2"], "NIK": [9.201014508900001e15, float("nan")], "NAMA": ["a", "b"]})
    with pytest.raises(ConfigError, match="column 'NIK' \\(mapped to nik\\) has dtype float64; IDs held as floats lose digits"):
        read_source(SourceConfig(name="siak", columns=SIAK.columns), df)


def test_float_nik_in_parquet_is_refused(tmp_path: Path):
    df = pd.DataFrame({"ID": ["1"], "NIK": [3.375014508900001e15], "NAMA": ["a"]})
    df.to_parquet(tmp_path / "s.parquet")
    with pytest.raises(ConfigError, match="is stored as double .* Write the column as string"):
        read_source(SourceConfig(name="siak", path=str(tmp_path / "s.parquet"), columns=SIAK.columns))


def test_read_sources_collects_problems_of_all_sources(tmp_path: Path):
    cfg = LinkConfig(sources=(
        SourceConfig(name="a", path=str(tmp_path / "a.csv"), columns=SIAK.columns),
        SourceConfig(name="b", path=str(tmp_path / "b.csv"), columns=SIAK.columns),
    ))
    with pytest.raises(ConfigError) as err:
        read_sources(cfg)
    assert [p.source for p in err.value.problems] == ["a", "b"]
    with pytest.raises(ConfigError, match=r"data given for source\(s\) \['zz'\] that the config does not name"):
        read_sources(cfg, {"zz": pd.DataFrame()})
