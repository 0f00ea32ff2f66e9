"""The standardise stage registers its output columns' keys in the run's shared codes cache:
the codes it yields must be exactly those of ``factorize_strings`` on the column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import regsosek_link as rl
from regsosek_link import _codes
from regsosek_link._codes import (
    Key,
    column_codes,
    factorize_strings,
    has_value,
    register_key,
    shared_codes,
)
from regsosek_link.datasets import make_sources
from regsosek_link.standardise import standardise

# the columns standardise derives from its inputs' distinct values
KEYED = ("source", "nik", "nik_status", "nik_birth_date", "nik_sex", "nik_region", "no_kk", "kk_status",
         "nama", "nama_gelar", "nama_phonetic", "nama_sorted", "nama_tokens_n", "nama_ibu",
         "nama_ibu_phonetic", "jenis_kelamin", "tanggal_lahir", "tanggal_lahir_status", "tahun_lahir",
         "tempat_lahir", "kode_prov", "kode_kab", "kode_kec", "kode_desa")


def _assert_same_codes(records: pd.DataFrame, column: str) -> None:
    codes, uniques = column_codes(records, column)
    ref_codes, ref_uniques = factorize_strings(records[column])
    assert codes.dtype == np.int64 and np.array_equal(codes, ref_codes), column
    assert uniques.dtype == object and uniques.tolist() == ref_uniques.tolist(), column
    assert all(type(u) is str for u in uniques), column


def _check_standardised(raw: pd.DataFrame) -> None:
    with shared_codes():
        records = standardise(raw)
        registered = {k[1] for k in _codes._CACHE.get() if k[0] == "key"}
        assert registered == {id(records[c].array) for c in KEYED}
        for column in records.columns:
            _assert_same_codes(records, column)


# NIKs whose two-digit year resolves to another century with another recorded birth date
# (the NIK columns depend on the NIK and the record's year), names that clean to the same
# value, blanks, padding, unicode
NIKS = ["3375014508900002", " 3375014508900002", "3375012902000001", "3375.0145.0890.0002", "9999999999999994",
        "", "  ", "33750145089", "3.37501E+15", "337501450890000É"]
NAMES = ["Hj. Siti Aminah", "SITI AMINAH", " siti  aminah ", "Ñoño", "Dr. Budi, S.Pd.", "", " ", "BUDI", "ß"]
DATES = ["05-08-1990", "1990-08-05", "29-02-1900", "29-02-2000", "01-01-1915", "x", "", " 05-08-1990 "]
SOURCES = ["siak", " siak", "dtks", "", "Ünik"]
SEXES = ["L", "Perempuan", "pr", "x", " ", "ﬁ"]
PLACES = ["Kab. Bogor", "KAB BOGOR", "Kota Bogor", " ", "Ä"]
REGIONS = ["33.75.01", "337501", " 3375011001", "33", "3375", "99.99", "Kota Pekalongan", "Pekalongan Barat", ""]


def _column(values: list[str]):  # type: ignore[no-untyped-def]
    return st.one_of(st.none(), st.sampled_from(values), st.text(max_size=6))


INPUTS = {"source": SOURCES, "nik": NIKS, "no_kk": NIKS, "nama": NAMES, "nama_ibu": NAMES, "tanggal_lahir": DATES,
          "jenis_kelamin": SEXES, "tempat_lahir": PLACES, "kode_wilayah": REGIONS, "kecamatan": REGIONS,
          "kabupaten": REGIONS}
ROW = st.fixed_dictionaries({c: _column(v) for c, v in INPUTS.items()})


@settings(max_examples=60, deadline=None)
@given(st.lists(ROW, max_size=25))
def test_registered_codes_equal_factorize_strings(rows):
    raw = pd.DataFrame(rows, columns=list(INPUTS), dtype="string")
    raw.insert(0, "record_id", pd.array([str(i) for i in range(len(raw))], dtype="string"))
    _check_standardised(raw)


@pytest.mark.parametrize("raw", [
    pd.DataFrame({"source": [], "record_id": []}, dtype="string"),  # empty
    pd.DataFrame({"source": ["a", "a"], "record_id": ["1", "2"]}, dtype="string"),  # every column absent
    pd.DataFrame({"source": [None, " "], "record_id": ["1", "2"], "nik": [None, ""], "nama": ["  ", None],
                  "tanggal_lahir": [pd.NA, "\t"]}, dtype="string"),  # all missing or blank
    pd.DataFrame({"source": ["b", "a", "b"], "record_id": ["1", "2", "3"],
                  "nik": ["3375011203150001", "3375011203150001", "3375011203150001"],
                  "tanggal_lahir": ["12-03-1915", "12-03-2015", None]}, dtype="string"),  # century per record
], ids=["empty", "absent", "missing", "century"])
def test_registered_codes_on_edge_cases(raw):
    _check_standardised(raw)


def test_register_key_on_integer_and_unused_keys():
    records = pd.DataFrame({"y": pd.array([1990, None, 7, 1990, None], dtype="Int16"),
                            "s": pd.array(["b", " a", None, "b", "a "], dtype="string")})
    with shared_codes():
        # key codes neither in order of appearance nor all used
        register_key(records, ["y"], Key((np.array([4, 0, 2, 4, 0]), 6)))
        register_key(records, ["s"], Key(lambda: (np.array([3, 1, 0, 3, 2]), 5)))
        for column in records.columns:
            _assert_same_codes(records, column)
        assert column_codes(records, "y")[1].tolist() == ["1990", "7"]
        assert column_codes(records, "s")[1].tolist() == ["b", "a"]


def test_register_key_is_a_no_op_outside_a_scope():
    records = pd.DataFrame({"s": pd.array(["x", "y"], dtype="string")})
    register_key(records, ["s"], Key((np.array([0, 0]), 1)))  # a wrong key, never used
    assert column_codes(records, "s")[0].tolist() == [0, 1]


def test_a_run_factorises_standardised_columns_one_row_per_key(monkeypatch):
    data = make_sources(n_people=300, random_state=5)
    n_rows = sum(len(df) for df in data.sources.values())
    calls = []

    def spy(values):  # type: ignore[no-untyped-def]
        calls.append((values.name, len(values)))
        return factorize_strings(values)

    monkeypatch.setattr(_codes, "factorize_strings", spy)
    rl.link(data.sources, columns=data.mappings, one_record_per_person=("siak",))
    keyed = [(name, n) for name, n in calls if name in KEYED]
    assert {"nik", "nama", "tanggal_lahir", "kode_kab"} <= {name for name, _ in keyed}
    assert all(n < n_rows for _, n in keyed), keyed
    assert len(keyed) == len(set(keyed)), "each column once"


def test_two_threads_asking_for_one_column_compute_it_once(monkeypatch):
    import contextvars
    import threading
    import time

    records = pd.DataFrame({"a": pd.array(["x", "y", "x"], dtype="string")})
    calls = []

    def slow(values):  # type: ignore[no-untyped-def]
        calls.append(values.name)
        time.sleep(0.2)  # the other thread asks meanwhile
        return factorize_strings(values)

    monkeypatch.setattr(_codes, "factorize_strings", slow)
    with shared_codes():
        register_key(records, ["a"], Key((np.array([0, 1, 0]), 2)))
        out = []
        threads = [threading.Thread(target=contextvars.copy_context().run,
                                    args=(lambda: out.append(column_codes(records, "a")),)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert calls == ["a"]  # one row per key, once
    assert [c.tolist() for c, _ in out] == [[0, 1, 0], [0, 1, 0]]


def test_a_key_shared_by_two_columns_is_made_once_across_threads():
    import threading
    import time

    made = []

    def make():  # type: ignore[no-untyped-def]
        made.append(1)
        time.sleep(0.2)  # the other thread asks meanwhile
        return np.array([1, 0, 1]), 2

    key = Key(make)
    out = []
    threads = [threading.Thread(target=lambda: out.append(key.get())) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert made == [1]
    assert [(c.tolist(), n, r.tolist()) for c, n, r in out] == [([1, 0, 1], 2, [0, 1])] * 2


def test_keys_with_per_source_date_settings():
    # a source read month-first, or with its own format, gets its own date codes: the codes
    # stay a key of the date columns (the same raw date is another date there)
    raw = pd.DataFrame({
        "source": ["a", "b", "c", "a", "b", "c", "b", " b"],
        "record_id": [str(i) for i in range(8)],
        "tanggal_lahir": ["03/04/1985", "03/04/1985", "03/04/1985", "12/23/2012", "1985", "1985.04.03", "", "03/04/1985"],
        "nik": ["3375014304850001"] * 8,
    }, dtype="string")
    with shared_codes():
        records = standardise(raw, dayfirst={"b": False}, date_formats={"c": "%Y.%d.%m"})
        for column in ("tanggal_lahir", "tanggal_lahir_status", "tahun_lahir", "nik", "nik_birth_date"):
            _assert_same_codes(records, column)
    assert records["tanggal_lahir"].tolist() == ["1985-04-03", "1985-03-04", "1985-04-03", "2012-12-23", pd.NA,
                                                 "1985-03-04", pd.NA, "1985-03-04"]
    assert records["tanggal_lahir_status"].tolist() == ["ok", "ok", "ok", "month_first", "partial", "ok",
                                                        "missing", "ok"]


def test_with_codes_runs_the_stage_with_the_book_it_is_given():
    @_codes.with_codes
    def stage(records: pd.DataFrame, *, codes: _codes.CodeBook | None = None) -> tuple:
        return column_codes(records, "a")

    records = pd.DataFrame({"a": pd.array(["x", "y", "x"], dtype="string")})
    book = _codes.CodeBook()
    first, again = stage(records, codes=book), stage(records, codes=book)
    assert first[0] is again[0] and len(book) == 1
    assert stage(records)[0] is not first[0]  # without a book: computed anew
    with pytest.raises(TypeError, match="codes must be a CodeBook or None; got dict"):
        stage(records, codes={})


def test_with_codes_refuses_a_stage_that_does_not_declare_codes():
    with pytest.raises(TypeError, match="must declare the keyword-only parameter `codes"):
        @_codes.with_codes
        def stage(records: pd.DataFrame) -> None:
            pass


@pytest.mark.parametrize(("values", "dtype"), [
    ([None, " ", "\t", "", pd.NA, float("nan")], object),  # nothing but missing and blanks
    ([None, " ", "\t", "", pd.NA], "string"),
    ([None] * 5000 + ["  x "], object),  # the one value beyond the first chunk
    ([None] * 5000 + ["  x "], "string"),
    ([" ", 7, None], object),  # a number in an object column
    (["", "a"], "string"),
])
def test_has_value_says_what_the_codes_say(values, dtype):
    recs = pd.DataFrame({"c": pd.Series(values, dtype=dtype)})
    want = len(column_codes(recs, "c")[1]) > 0
    assert has_value(recs, "c") is want
    with shared_codes():  # (codes already made: read from the book)
        column_codes(recs, "c")
        assert has_value(recs, "c") is want
    assert has_value(recs, "absent") is False
