import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "src"))

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from regsosek_link.standardise import CLEAN_COLUMNS, clean_name, clean_nik, parse_date, standardise

NA = pd.NA
DTYPES = {c: "string" for c in CLEAN_COLUMNS}
DTYPES.update(nik_valid="bool", kk_valid="bool", nama_tokens_n="Int8", tahun_lahir="Int16", rt="Int16", rw="Int16")


def test_minimal_input_gives_full_contract():
    raw = pd.DataFrame({"source": ["a", "b"], "record_id": ["2", "1"], "nama": ["Budi", None]}, dtype="string",
                       index=[7, 3])
    out = standardise(raw)
    assert list(out.columns) == list(CLEAN_COLUMNS)
    assert list(out.index) == [7, 3]
    assert {c: str(t) for c, t in out.dtypes.items()} == DTYPES
    assert out["record_id"].tolist() == ["2", "1"]
    assert out["nik_status"].tolist() == ["missing", "missing"]
    assert out["nik_valid"].tolist() == [False, False]


def test_full_record_and_extras():
    raw = pd.DataFrame(
        {
            "source": ["siak"], "record_id": ["r1"], "nik": ["'3375014508900002"], "no_kk": ["3375010101150001"],
            "nama": ["Hj. St. Aminah, S.Pd."], "jenis_kelamin": ["Perempuan"], "tempat_lahir": ["Kota Pekalongan"],
            "tanggal_lahir": ["05-08-1990"], "nama_ibu": ["Djoeminah"], "alamat": ["Jl. Mawar No. 3 RT 01/RW 02"],
            "rt": [None], "rw": [None], "kode_wilayah": ["33.75.01"], "desa": [None], "kecamatan": [None],
            "kabupaten": [None], "provinsi": [None], "hubungan_keluarga": ["Istri"], "nisn": [" ab12 "],
            "catatan": [""], "email": [" Siti.Aminah@Kemensos.go.id "],
        },
        dtype="string",
    )
    row = standardise(raw).iloc[0]
    want = {
        "nik": "3375014508900002", "nik_status": "ok", "nik_valid": True, "nik_birth_date": "1990-08-05",
        "nik_sex": "P", "nik_region": "337501", "no_kk": "3375010101150001", "kk_status": "ok",
        "nama": "SITI AMINAH", "nama_gelar": "HJ S.PD", "nama_sorted": "AMINAH SITI", "nama_tokens_n": 2,
        "nama_ibu": "JUMINAH", "jenis_kelamin": "P", "tanggal_lahir": "1990-08-05",
        "tanggal_lahir_status": "ok", "tahun_lahir": 1990, "tempat_lahir": "KOTA PEKALONGAN",
        "alamat": "JALAN MAWAR", "no_rumah": "3", "rt": 1, "rw": 2, "kode_wilayah": "337501",
        "kode_prov": "33", "kode_kab": "3375", "kode_kec": "337501", "hubungan_keluarga": "PASANGAN",
        # extra columns pass through as given (stripped): an e-mail or a case-sensitive ID keeps its case
        "nisn": "ab12", "email": "Siti.Aminah@Kemensos.go.id",
    }
    for c, w in want.items():
        assert row[c] == w, (c, row[c], w)
    assert row["kode_desa"] is NA and row["catatan"] is NA


def test_nik_century_resolved_against_record_birth_date():
    raw = pd.DataFrame({"source": ["a"], "record_id": ["1"], "nik": ["3375011203150001"],
                        "tanggal_lahir": ["12-03-1915"]}, dtype="string")
    assert standardise(raw).loc[0, "nik_birth_date"] == "1915-03-12"


def test_generic_profile_changes_names_only():
    raw = pd.DataFrame({"source": ["a"], "record_id": ["1"], "nama": ["Moch. Djoko"], "jenis_kelamin": ["LK"]},
                       dtype="string")
    out = standardise(raw, profile="generic")
    assert out.loc[0, "nama"] == "MOCH DJOKO" and out.loc[0, "jenis_kelamin"] == "L"


def test_errors_say_what_was_received():
    with pytest.raises(ValueError, match="columns present: \\['source', 'nama'\\]"):
        standardise(pd.DataFrame({"source": ["a"], "nama": ["x"]}))
    with pytest.raises(ValueError, match="Got 'fancy' instead"):
        standardise(pd.DataFrame({"record_id": ["1"]}), profile="fancy")
    with pytest.raises(ValueError, match="nik_status"):
        standardise(pd.DataFrame({"record_id": ["1"], "nik_status": ["x"]}))


texts = st.lists(st.one_of(st.none(), st.text(max_size=40)), max_size=20)


@settings(max_examples=40, deadline=None)
@given(texts)
@example(["SDJ", "Ndjaja", "Tdjo", "Addja", "Hasdjim"])  # a DJ made J pairs with the letter before it
@example(["NJ.A", "CH", "HADJI X", "CH.A"])  # titles only visible once the old spelling is folded
def test_clean_name_idempotent_and_total(values):
    s = pd.Series(values, dtype="string", index=range(100, 100 + len(values)))
    out = clean_name(s)
    assert list(out.index) == list(s.index)
    assert [str(t) for t in out.dtypes] == ["string"] * 5 + ["Int8"]
    again = clean_name(out["nama"])
    assert again["nama"].fillna("<NA>").tolist() == out["nama"].fillna("<NA>").tolist()


@settings(max_examples=15, deadline=None)  # each standardise call has ~0.4 s fixed overhead
@given(texts)
def test_cleaners_never_raise_and_keep_index(values):
    s = pd.Series(values, dtype="string", index=[f"k{i}" for i in range(len(values))])
    for out in (clean_nik(s), parse_date(s), clean_name(s, profile="generic")):
        assert list(out.index) == list(s.index)
    raw = pd.DataFrame({"source": s, "record_id": s, "nik": s, "nama": s, "tanggal_lahir": s, "alamat": s,
                        "rt": s, "kode_wilayah": s, "kecamatan": s, "hubungan_keluarga": s, "jenis_kelamin": s})
    out = standardise(raw)
    assert list(out.index) == list(s.index)
    assert {c: str(t) for c, t in out.dtypes.items()} == DTYPES


def test_threads_give_the_same_records_and_codes():
    from regsosek_link import LinkConfig, SourceConfig
    from regsosek_link._codes import column_codes, factorize_strings, shared_codes
    from regsosek_link.datasets import make_sources
    from regsosek_link.ingest import read_sources

    data = make_sources(n_people=400, random_state=3)
    cfg = LinkConfig(sources=tuple(SourceConfig(name=n, columns=data.mappings[n]) for n in data.sources))
    out = {}
    for workers in (1, 2, -1):
        with shared_codes():
            raw = read_sources(cfg, data.sources)
            records = standardise(raw, workers=workers)
            codes = {c: column_codes(records, c) for c in ("nik", "nama", "kode_desa", "tanggal_lahir")}
        out[workers] = records
        for c, (k, u) in codes.items():  # the keys each group registered are right on threads too
            ref_k, ref_u = factorize_strings(records[c])
            assert k.tolist() == ref_k.tolist() and u.tolist() == ref_u.tolist(), c
    pd.testing.assert_frame_equal(out[2], out[1])
    pd.testing.assert_frame_equal(out[-1], out[1])
    with pytest.raises(ValueError, match="'workers' parameter of standardise"):
        standardise(out[1].iloc[:0][["source", "record_id"]], workers=0)


def test_placeholder_days_judged_per_source_from_their_counts():
    """A source holding the 15th and 1 January no more often than the days next to them
    writes real birthdays there; one whose 1 July towers over 30 June and 2 July writes a
    placeholder. Judged per source: the same date can be real in one and a placeholder in
    the other (issue 18: real birthdays on the 15th were scored as 'day unknown')."""
    days = pd.date_range("1970-01-01", "1999-12-31", freq="D")
    real = days.strftime("%d-%m-%Y").tolist()
    census = real + ["01-07-1985"] * 2000  # 1 July as the census' "day unknown"
    raw = pd.DataFrame({"source": ["siak"] * len(real) + ["census"] * len(census),
                        "record_id": [str(i) for i in range(len(real) + len(census))],
                        "tanggal_lahir": real + census}, dtype="string")
    out = standardise(raw)
    status = out["tanggal_lahir_status"].to_numpy(dtype=object)
    date = out["tanggal_lahir"].to_numpy(dtype=object)
    siak = (out["source"] == "siak").to_numpy()
    fifteenth = pd.Series(date).str.endswith("-15").to_numpy()
    assert fifteenth[siak].sum() == 360 and set(status[siak & fifteenth]) == {"ok"}
    assert set(status[siak & (date == "1985-07-01")]) == {"ok"}
    assert set(status[~siak & (date == "1985-07-01")]) == {"placeholder_1jul"}
    assert set(status[~siak & (date == "1990-07-01")]) == {"placeholder_1jul"}  # the source's habit
    assert set(status[~siak & fifteenth]) == {"ok"}
    # everything else is as parse_date reads it; codes stay a key of the values
    plain = parse_date(raw["tanggal_lahir"])
    assert out["tanggal_lahir"].tolist() == plain["tanggal_lahir"].tolist()
    assert out["tahun_lahir"].tolist() == plain["year"].tolist()


def test_placeholder_days_kept_when_too_few_dates_to_tell():
    raw = pd.DataFrame({"source": ["a"] * 3, "record_id": ["1", "2", "3"],
                        "tanggal_lahir": ["15-06-1970", "01-07-1980", "31-12-1950"]}, dtype="string")
    assert standardise(raw)["tanggal_lahir_status"].tolist() == [
        "placeholder_day15", "placeholder_1jul", "placeholder_31dec"]
