"""Property: over random small source sets, a whole run (``Linker.run`` and the CLI's
``run``) keeps every input record exactly once, with its record_id and its values as
written, or refuses the run clearly: a ConfigError naming the source (API), exit code 2
and one line on stderr (CLI). Never another exception, a traceback or exit code 1.

The sources are CSV files (UTF-8 with or without a BOM, ``\\n``/``\\r\\n``/``\\r`` or mixed
line ends, ``,``/``;``/tab), Windows-1252 files (the encoding given or guessed), ``.csv.gz``
and Parquet files, and DataFrames (API only, with lone surrogates), each with 0-8 rows, a
random subset of the mapped person fields, NUL bytes and other control characters, RTL
text, combining marks, emoji, empty and 100,000-character fields, numbers in scientific
notation ("3.27E+15") and repeated record ids.

"Written" means as in the source, with blanks around a value removed (the ingest stage
strips values; a value of blanks only is missing).

In CI each test runs a fixed, derandomized set of examples (about a minute for both). For
a long run set ``REGSOSEK_PROPERTY_EXAMPLES`` (e.g. 2000) and, to explore anew,
``REGSOSEK_PROPERTY_SEED`` (any integer; without it the long run is derandomized too).
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from regsosek_link import ConfigError, LinkConfig, Linker, SourceConfig, cli
from regsosek_link.errors import RegsosekLinkError
from regsosek_link.schema import PERSON_COLUMNS

FIELDS = [c for c in PERSON_COLUMNS if c != "record_id"]

_LONG = int(os.environ.get("REGSOSEK_PROPERTY_EXAMPLES", "0"))
_SEED = os.environ.get("REGSOSEK_PROPERTY_SEED")


def _settings(ci_examples: int):
    """Derandomized ``ci_examples`` in CI; ``REGSOSEK_PROPERTY_EXAMPLES`` for a long run."""
    def wrap(fn):
        fn = settings(max_examples=_LONG or ci_examples, deadline=None, derandomize=_SEED is None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                             HealthCheck.filter_too_much, HealthCheck.large_base_example])(fn)
        return seed(int(_SEED))(fn) if _SEED is not None else fn
    return wrap


# -- the inputs ------------------------------------------------------------------------------

_TRICKY = list(
    "\x00\x01\x08\x0b\x0c\x1b\x1f\x7f\x85\t\r\n,;|\"' .-/=+@"  # controls, delimiters, quotes, formula leads
    "\u00a0\u3000\u2028\u200b\u200d\ufeff\ufffd"  # odd blanks, zero-width, BOM, replacement char
    "éÉñİßÆŒ€“”‰"  # Latin-1 / cp1252 letters and symbols
    "\u05d0\u0639\u200f\u202e"  # Hebrew, Arabic, RLM, right-to-left override
    "\u0301\u0308"  # combining marks (also alone, at the start of a value)
    "😀👨‍👩‍👧🇮🇩"  # emoji, a ZWJ sequence and a flag
    "AaBSITI19"
)
_SPECIAL = [
    "3.27E+15", "3.37501E+15", "3375014508900002", "9171010101010001", "1e400", "-0", "NaN", "NA", "null",
    "None", "#N/A", "17 Agustus 1945", "05-08-1990", "12/23/2012", "03/04/1985", "1985", "00-00-1985",
    "08/1985", "L", "P", "PEREMPUAN", "RT 01/RW 02", "33.75.01.1001", "=HYPERLINK(\"http://x\")", "-5", "+62",
    "@SUM(A1)", "NUR HIDAYAH", "NURHIDAYAH", "SITI-AMINAH", "e\u0301", "\u202eHAMDI",
]


def _text(alphabet) -> st.SearchStrategy[str]:
    return st.text(st.one_of(st.sampled_from(alphabet), st.characters(codec="utf-8")), max_size=10)


def _cp1252(text: str) -> bool:
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


_UNICODE = _text(_TRICKY)
_VALUE = st.one_of(_UNICODE, st.just(""), st.just("  "), st.sampled_from(_SPECIAL), st.just("A" * 100_000))
_ID = st.one_of(_UNICODE, st.sampled_from(["1", "01", " 1 ", "3.27E+15", "=1+2", "-12", "\u0301", "a\x00b", "a\x00c"]))
_SURROGATE = st.text(st.sampled_from("ab\ud800\udbff\udc00\udfff"), min_size=1, max_size=4)


@dataclass
class Source:
    name: str
    kind: str  # csv, cp1252, gz, parquet, frame
    fields: list[str]
    ids: list[object]
    rows: list[list[object]]
    line_end: str = "\n"
    bom: bool = False
    delimiter: str = ","
    encoding: str | None = None  # given in the config

    @property
    def columns(self) -> dict[str, str]:
        return {"ID": "record_id", **{f.upper(): f for f in self.fields}}


@st.composite
def source_sets(draw, *, kinds: tuple[str, ...]) -> list[Source]:
    out = []
    for k in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(kinds))
        n = draw(st.sampled_from([0, 1, 1, 2, 2, 3, 5, 8]))
        fields = draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=7))
        if draw(st.integers(0, 9)) > 0 and not {"nama", "nik"} & set(fields):  # mostly a valid mapping
            fields.append(draw(st.sampled_from(["nama", "nik"])))
        ids = draw(st.lists(_ID, min_size=n, max_size=n))
        if n > 1 and draw(st.integers(0, 5)) == 0:  # a repeated record id
            ids[draw(st.integers(1, n - 1))] = ids[0]
        value = _VALUE
        if kind == "frame":
            value = st.one_of(_VALUE, st.none(), _SURROGATE)
            if n and draw(st.integers(0, 4)) == 0:
                ids[0] = draw(_SURROGATE)
        rows = [[draw(value) for _ in fields] for _ in range(n)]
        if kind == "cp1252":  # only what Windows-1252 can hold
            ids = [i if _cp1252(i) else "x" + str(j) for j, i in enumerate(ids)]
            rows = [[v if _cp1252(v) else "" for v in row] for row in rows]
        src = Source(name=f"s{k}", kind=kind, fields=fields, ids=ids, rows=rows)
        if kind in ("csv", "cp1252", "gz"):
            src.line_end = draw(st.sampled_from(["\n", "\r\n", "\r", "mixed"]))
            src.delimiter = draw(st.sampled_from([",", ",", ";", "\t"]))
            src.bom = kind != "cp1252" and draw(st.booleans())
            if kind == "cp1252" and draw(st.booleans()):
                src.encoding = "cp1252"
        out.append(src)
    return out


def _csv_bytes(src: Source) -> bytes:
    buf = io.StringIO(newline="")
    # (lineterminator "\r\n": csv then quotes every value holding \r or \n)
    writer = csv.writer(buf, delimiter=src.delimiter, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    lines = []
    for row in [list(src.columns), *([i, *r] for i, r in zip(src.ids, src.rows))]:
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        lines.append(buf.getvalue()[:-2])
    ends = ["\n", "\r\n", "\r"] * len(lines) if src.line_end == "mixed" else [src.line_end] * len(lines)
    text = "".join(line + end for line, end in zip(lines, ends))
    if src.kind == "cp1252":
        return text.encode("cp1252")
    return ("\ufeff" if src.bom else "").encode() + text.encode("utf-8")


def _is_utf8(payload: bytes) -> bool:
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _frame(src: Source) -> pd.DataFrame:
    df = pd.DataFrame(src.rows, columns=[f.upper() for f in src.fields], dtype=object)
    df.insert(0, "ID", pd.Series(src.ids, dtype=object))
    return df


def _write(src: Source, folder: Path) -> dict[str, object]:
    """Write ``src`` (not a DataFrame) into ``folder``; its config entry."""
    entry: dict[str, object] = {"name": src.name, "columns": src.columns}
    if src.kind == "parquet":
        path = folder / f"{src.name}.parquet"
        table = pa.table({c: pa.array(_frame(src)[c].tolist(), type=pa.string()) for c in src.columns})
        pq.write_table(table, path)
    else:
        payload = _csv_bytes(src)
        path = folder / (f"{src.name}.csv.gz" if src.kind == "gz" else f"{src.name}.csv")
        path.write_bytes(gzip.compress(payload) if src.kind == "gz" else payload)
        if src.delimiter != ",":
            entry["delimiter"] = src.delimiter
        if src.encoding:
            entry["encoding"] = src.encoding
        elif src.kind == "cp1252" and not payload.isascii() and _is_utf8(payload):
            # (Windows-1252 bytes that are also valid UTF-8, e.g. 'Ùº' = b'\xd9\xba' = 'ٺ', are
            # read as UTF-8: no reader can tell; the long run found one. Such a file needs its encoding.)
            entry["encoding"] = "cp1252"
    entry["path"] = path.name
    return entry


# -- the invariant ---------------------------------------------------------------------------

def _as_written(v: object) -> object:
    """A value as the run must keep it: blanks around it removed, blank or None missing."""
    return (v.strip() or None) if isinstance(v, str) else None


def _is_unicode(v: object) -> bool:
    return not isinstance(v, str) or v.encode("utf-8", "surrogatepass").decode("utf-8", "ignore") == v


def _must_be_refused(sources: list[Source]) -> str | None:
    """Why the run must be refused, if it must: a record that cannot be kept or told apart."""
    for s in sources:
        ids = [_as_written(i) for i in s.ids]
        if not {"nama", "nik"} & set(s.fields):
            return f"{s.name} maps neither nama nor nik"
        if None in ids:
            return f"{s.name} has a blank record id"
        if len(set(ids)) < len(ids):
            return f"{s.name} repeats a record id"
        if not all(_is_unicode(i) for i in ids):
            return f"{s.name} has a record id that is not Unicode"
    return None


def _nothing_to_compare(sources: list[Source]) -> bool:
    """No record holds a name or a NIK once cleaned (the library's own cleaners decide)."""
    from regsosek_link.standardise import clean_name, clean_nik

    def values(field: str) -> pd.Series:
        got = [_as_written(v) for s in sources for row in s.rows for f, v in zip(s.fields, row) if f == field]
        return pd.Series([v for v in got if v is not None and _is_unicode(v)], dtype="string")

    return clean_name(values("nama"))["nama"].isna().all() and clean_nik(values("nik"))["nik"].isna().all()


def _may_be_refused(sources: list[Source], message: str) -> bool:
    """Refusals allowed although every record could be kept: a source without rows, and a
    run in which no record has a name or NIK to compare."""
    if any(len(s.ids) == 0 for s in sources):
        return True
    return "no comparison can be made" in message and _nothing_to_compare(sources)


def _expected_keys(sources: list[Source]) -> list[tuple[str, str]]:
    return sorted((s.name, _as_written(i)) for s in sources for i in s.ids)


def _check_refusal(sources: list[Source], message: str) -> None:
    must = _must_be_refused(sources)
    assert must is not None or _may_be_refused(sources, message), f"refused a run that could keep every record: {message}"


def _check_api(sources: list[Source], folder: Path) -> None:
    data = {s.name: _frame(s) for s in sources if s.kind == "frame"}
    try:
        entries = [{"name": s.name, "columns": s.columns} if s.kind == "frame" else _write(s, folder)
                   for s in sources]
        config = LinkConfig(sources=tuple(SourceConfig(**{**e, "path": str(folder / e["path"]) if "path" in e
                                                          else None}) for e in entries))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = Linker(config).run(data)
    except ConfigError as exc:
        text = str(exc)
        assert text.strip(), "an empty message"
        assert all(p.source is None or p.source in {s.name for s in sources} for p in exc.problems)
        _check_refusal(sources, text)
        return
    assert _must_be_refused(sources) is None, f"not refused: {_must_be_refused(sources)}"
    m = result.membership
    assert len(m) == sum(len(s.ids) for s in sources)
    assert sorted(zip(m["source"].astype(str), m["record_id"].astype(str))) == _expected_keys(sources)
    assert m["person_id"].notna().all()
    raw = result.raw
    at = 0
    for s in sources:
        part = raw.iloc[at:at + len(s.ids)]
        at += len(s.ids)
        assert part["source"].astype(str).tolist() == [s.name] * len(s.ids)
        assert [None if pd.isna(v) else v for v in part["record_id"]] == [_as_written(i) for i in s.ids]
        for j, f in enumerate(s.fields):
            got = [None if pd.isna(v) else v for v in part[f]]
            assert got == [_as_written(r[j]) for r in s.rows], f"{s.name}.{f} changed"


def _check_cli(sources: list[Source], folder: Path) -> None:
    entries = [_write(s, folder) for s in sources]
    cfg = folder / "run.yaml"
    cfg.write_text(yaml.safe_dump({"sources": entries}, allow_unicode=True), encoding="utf-8")
    out = folder / "out"
    err = io.StringIO()
    with warnings.catch_warnings(record=True), contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("always")
        code = cli.main(["run", str(cfg), "--out", str(out), "--quiet"])  # a bug raises (a traceback)
    text = err.getvalue()
    if code == 2:
        assert text.startswith("regsosek-link: ") and text.endswith("\n") and text.count("\n") == 1, repr(text)
        _check_refusal(sources, text)
        return
    assert code == 0, (code, text)
    assert _must_be_refused(sources) is None, f"not refused: {_must_be_refused(sources)}"
    m = pq.read_table(out / "membership.parquet").to_pandas()
    assert sorted(zip(m["source"].astype(str), m["record_id"].astype(str))) == _expected_keys(sources)
    assert m["person_id"].notna().all()


@_settings(ci_examples=40)
@given(sources=source_sets(kinds=("csv", "csv", "cp1252", "gz", "frame", "frame", "parquet")))
def test_api_run_keeps_every_record_or_refuses(sources):
    with tempfile.TemporaryDirectory() as tmp:
        _check_api(sources, Path(tmp))


@_settings(ci_examples=25)
@given(sources=source_sets(kinds=("csv", "csv", "cp1252", "gz", "parquet")))
def test_cli_run_keeps_every_record_or_exits_2(sources):
    with tempfile.TemporaryDirectory() as tmp:
        _check_cli(sources, Path(tmp))


def test_the_cli_is_checked_in_a_process_of_its_own(tmp_path):
    """The in-process check above sees what cli.main returns; a real process shows that a
    refusal is one line and exit 2 there too (warnings aside, which are not errors)."""
    import subprocess
    import sys

    src = Source(name="s0", kind="csv", fields=["nama"], ids=["a", "a"], rows=[["X"], ["Y"]])
    entries = [_write(src, tmp_path)]
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({"sources": entries}), encoding="utf-8")
    res = subprocess.run([sys.executable, "-m", "regsosek_link.cli", "run", str(tmp_path / "run.yaml"), "--out",
                          str(tmp_path / "o"), "--quiet"], capture_output=True, text=True, check=False)
    assert res.returncode == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("regsosek-link: configuration problem: source 's0'")
    assert "record_id is not unique" in res.stderr


def test_the_invariant_check_can_fail(tmp_path, monkeypatch):
    """The checks catch a lost record, a changed id or value, and a refused good run."""
    good = [Source(name="s0", kind="frame", fields=["nama"], ids=["a\x00b", "a\x00c"], rows=[["X"], ["Y\x00Z"]])]
    _check_api(good, tmp_path)  # passes

    real_run = Linker.run

    def lose_one(self, data=None, **kw):
        res = real_run(self, data, **kw)
        res.membership = res.membership.iloc[:-1]
        return res

    def change_value(self, data=None, **kw):
        res = real_run(self, data, **kw)
        res.raw["nama"] = res.raw["nama"].str.replace("\x00", "", regex=False)
        return res

    def refuse(self, data=None, **kw):
        raise ConfigError("no")

    for fake in (lose_one, change_value, refuse):
        monkeypatch.setattr(Linker, "run", fake)
        with pytest.raises(AssertionError):
            _check_api(good, tmp_path)
    monkeypatch.undo()
    bad = [Source(name="s0", kind="frame", fields=["nama"], ids=["a", "a "], rows=[["X"], ["Y"]])]
    _check_api(bad, tmp_path)  # refused, as it must be
    with pytest.raises(AssertionError):
        _check_refusal(good, "no")
    assert isinstance(ConfigError("x"), RegsosekLinkError)
