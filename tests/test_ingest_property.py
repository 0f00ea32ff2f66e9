"""Property: over random small sources (files and DataFrames), every input row is in the
standardised records exactly once with its record_id as written, or a ConfigError naming
the source is raised; never another exception."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from regsosek_link import ConfigError, LinkConfig, SourceConfig, read_sources
from regsosek_link.schema import PERSON_COLUMNS
from regsosek_link.standardise import standardise

FIELDS = [c for c in PERSON_COLUMNS if c != "record_id"]

# characters that break readers: NUL and other controls, delimiters, quotes, line ends,
# blanks of every kind, non-ASCII letters, emoji
_ALPHABET = st.one_of(
    st.sampled_from(list("\x00\x01\x1f\x7f\t\r\n,;|\"' .-/\u00a0\u3000\u2028\ufeffé\u00c9ñ\u0130ß😀\ufffd")),
    st.characters(codec="utf-8"),
)
_TEXT = st.text(_ALPHABET, max_size=12)
_VALUE = st.one_of(
    _TEXT,
    st.just(""),
    st.sampled_from(["3.37501E+15", "3375014508900002", "9171010101010001", "9.17101E+15", "1e400", "-0", "NaN",
                     "NA", "null", "17 Agustus 1945", "05-08-1990", "L", "P", "RT 01/RW 02", "33.75.01.1001"]),
    st.just("A" * 100_000),
)
_ID = _TEXT.filter(lambda s: s.strip() == s and s != "")


@st.composite
def sources(draw, *, surrogates: bool = False):
    n = draw(st.integers(1, 3))
    fields = draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=6))
    if not {"nama", "nik"} & set(fields):
        fields.append(draw(st.sampled_from(["nama", "nik"])))
    ids = draw(st.lists(st.one_of(_ID, st.sampled_from(["1", "01", " x ", ""])), min_size=n, max_size=n))
    value = st.one_of(_VALUE, st.text(st.sampled_from("ab\ud800\udfff"), max_size=4)) if surrogates else _VALUE
    rows = [[draw(value) for _ in fields] for _ in range(n)]
    return ids, fields, rows


def _check(raw_fn, src: SourceConfig, ids: list[str]) -> None:
    """The invariant, for ``ids`` as written in the input."""
    try:
        raw = raw_fn()
        clean = standardise(raw)
    except ConfigError as exc:
        assert all(p.source == src.name for p in exc.problems), str(exc)
        assert f"source {src.name!r}" in str(exc)
        stripped = [i.strip() for i in ids]
        well_formed = all(stripped) and len(set(stripped)) == len(stripped) and all(
            i.encode("utf-8", "surrogatepass").decode("utf-8", "ignore") == i for i in ids)
        # a source with unique, non-blank, valid record ids is never refused
        assert not well_formed, f"refused a well-formed source: {exc}"
        return
    assert len(clean) == len(ids)
    assert clean["source"].tolist() == [src.name] * len(ids)
    assert clean["record_id"].tolist() == [i.strip() for i in ids]


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=sources(), line_end=st.sampled_from(["\n", "\r\n", "\r", "mixed"]),
       delimiter=st.sampled_from([",", ";", "\t", "|"]), bom=st.booleans(), gz=st.booleans())
def test_csv_files(data, line_end, delimiter, bom, gz):
    ids, fields, rows = data
    header = ["ID", *[f.upper() for f in fields]]
    buf = io.StringIO(newline="")
    # (lineterminator "\r\n": csv then quotes every value holding \r or \n)
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    lines = []
    for row in [header, *([i, *r] for i, r in zip(ids, rows))]:
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        lines.append(buf.getvalue()[:-2])
    ends = ["\n", "\r\n", "\r"] * len(lines) if line_end == "mixed" else [line_end] * len(lines)
    text = "".join(line + end for line, end in zip(lines, ends))
    payload = ("\ufeff" if bom else "").encode() + text.encode("utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("s.csv.gz" if gz else "s.csv")
        if gz:
            import gzip

            payload = gzip.compress(payload)
        path.write_bytes(payload)
        src = SourceConfig(name="s", path=str(path), delimiter=delimiter,
                           columns={"ID": "record_id", **{f.upper(): f for f in fields}})
        _check(lambda: read_sources(LinkConfig(sources=(src,))), src, ids)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=sources(surrogates=True), surrogate_id=st.booleans())
def test_dataframes(data, surrogate_id):
    ids, fields, rows = data
    if surrogate_id:
        ids = [ids[0] + "\ud800", *ids[1:]]
    df = pd.DataFrame(rows, columns=[f.upper() for f in fields], dtype=object)
    df.insert(0, "ID", ids)
    src = SourceConfig(name="s", columns={"ID": "record_id", **{f.upper(): f for f in fields}})
    _check(lambda: read_sources(LinkConfig(sources=(src,)), {"s": df}), src, ids)


def test_the_invariant_check_can_fail():
    from regsosek_link.errors import Problem

    src = SourceConfig(name="s", columns={"ID": "record_id", "NAMA": "nama"})

    def refuse(source):
        def fn():
            raise ConfigError(Problem(source=source, where="record_id", message="no"))
        return fn

    def raw(ids):
        return lambda: pd.DataFrame({"source": "s", "record_id": ids, "nama": "A"}, dtype="string")

    _check(refuse("s"), src, ["a", "a"])                  # repeated ids: refusing is right
    _check(raw(["a\x00b", "a\x00c"]), src, ["a\x00b", "a\x00c"])
    for fn, ids in [(refuse("s"), ["a\x00b", "a\x00c"]),     # a well-formed source refused
                    (refuse(None), ["a", "a"]),              # a problem that names no source
                    (raw(["a\x00b"]), ["a\x00b", "a\x00c"]),  # a record lost
                    (raw(["a", "a\x00c"]), ["a\x00b", "a\x00c"])]:  # an id changed
        with pytest.raises(AssertionError):
            _check(fn, src, ids)
