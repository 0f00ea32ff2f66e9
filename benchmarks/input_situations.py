"""Issue 15's situations, each a small file set holding one kind of trouble, run through the
CLI (or, where only Python can hold the trouble, the API) as a new user would.

For each situation the script builds the files, runs the command(s) in a fresh process and
records the exit code, the first line of stderr that is not progress, and a verdict: does
the run do what the issue asks (every record kept with its values, or a clear refusal with
exit code 2)?

    python benchmarks/input_situations.py                       # this checkout
    python benchmarks/input_situations.py --src /tmp/before/src  # another checkout's src/
    python benchmarks/input_situations.py --src A --src B --markdown table.md   # side by side
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

CLI = "import sys; from regsosek_link.cli import main; sys.exit(main(sys.argv[1:]))"


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    folder: Path

    @property
    def first_err(self) -> str:
        lines = [x for x in self.stderr.splitlines()
                 if x.strip() and not x.lstrip().startswith(("ingest", "standardise", "block", "compare",
                                                              "classify", "cluster", "registry", "Traceback",
                                                              "File ", "^", "~"))]
        refusal = [x for x in lines if x.startswith("regsosek-link:")]
        if refusal:
            return refusal[0]
        if "Traceback" in self.stderr:
            return "traceback: " + self.stderr.strip().splitlines()[-1]
        return lines[0] if lines else ""

    def table(self, name: str, out: str = "out") -> pd.DataFrame:
        return pd.read_parquet(self.folder / out / f"{name}.parquet")


@dataclass
class Situation:
    name: str
    what: str
    build: Callable[[Path], None]
    commands: list[list[str]]  # CLI arguments, or ["python", script]
    verdict: Callable[[Outcome], str]  # "right" or "wrong: why"
    files: dict[str, object] = field(default_factory=dict)


def _csv(path: Path, header: list[str], rows: list[list[str]], *, encoding: str = "utf-8") -> None:
    with open(path, "w", newline="", encoding=encoding) as fh:
        csv.writer(fh).writerows([header, *rows])


def _config(path: Path, sources: list[dict], **extra: object) -> None:
    path.write_text(json.dumps({"output_dir": "out", "sources": sources, **extra}, ensure_ascii=False))


def _run_ok(o: Outcome, n: int) -> str:
    if o.code != 0:
        return f"wrong: exit {o.code}"
    m = o.table("membership")
    return "right" if len(m) == n else f"wrong: {len(m)} of {n} records in membership"


PEOPLE = [["1", "3201011203700004", "3201010101010001", "JOKO SUSILO", "L", "12-03-1970"],
          ["2", "3201014404880005", "3201010101010001", "RINA WATI", "P", "04-04-1988"],
          ["3", "3201015501900003", "3201010101010002", "ANI LESTARI", "P", "15-01-1990"],
          ["4", "3201010202020006", "3201010101010003", "BUDI SANTOSO", "L", "02-02-1982"]]


def _two_sources(folder: Path, *, sex: bool = True, dates: bool = True) -> None:
    cols = ["ID", "NIK", "KK", "NAMA", "JK", "TGL"]
    keep = [c for c in cols if (sex or c != "JK") and (dates or c != "TGL")]
    idx = [cols.index(c) for c in keep]
    _csv(folder / "siak.csv", keep, [[r[i] for i in idx] for r in PEOPLE])
    _csv(folder / "dtks.csv", keep, [[f"D{r[0]}", *[r[i] for i in idx[1:]]] for r in PEOPLE[:3]])
    mapping = {"ID": "record_id", "NIK": "nik", "KK": "no_kk", "NAMA": "nama", "JK": "jenis_kelamin",
               "TGL": "tanggal_lahir"}
    _config(folder / "run.json", [{"name": n, "path": f"{n}.csv", "columns": {c: mapping[c] for c in keep}}
                                  for n in ("siak", "dtks")])


def _linked(o: Outcome, n: int, persons: int) -> str:
    v = _run_ok(o, n)
    if v != "right":
        return v
    got = o.table("membership")["person_id"].nunique()
    return "right" if got == persons else f"wrong: {got} persons, expected {persons}"


def _api(folder: Path, body: str) -> None:
    (folder / "api.py").write_text("import warnings, pandas as pd, regsosek_link as rl\n"
                                   "warnings.simplefilter('ignore')\n" + textwrap.dedent(body))


RUN = ["run", "run.json", "--out", "out", "--quiet"]


def _situations() -> list[Situation]:
    s: list[Situation] = []

    def zero_pairs(f: Path) -> None:
        _csv(f / "a.csv", ["ID", "NAMA"], [["1", "SITI AMINAH"], ["2", "BUDI"], ["3", "JOKO"]])
        _config(f / "run.json", [{"name": "a", "path": "a.csv", "columns": {"ID": "record_id", "NAMA": "nama"}}])
    s.append(Situation("zero candidate pairs", "3 records, no two share a blocking key", zero_pairs, [RUN],
                       lambda o: _run_ok(o, 3)))
    s.append(Situation("README config without jenis_kelamin", "NIK, KK, name, birth date; no sex",
                       lambda f: _two_sources(f, sex=False), [RUN], lambda o: _linked(o, 7, 4)))
    s.append(Situation("no birth date anywhere", "NIK, KK, name, sex; no birth date",
                       lambda f: _two_sources(f, dates=False), [RUN], lambda o: _linked(o, 7, 4)))

    def nul(f: Path) -> None:
        _csv(f / "a.csv", ["ID", "NAMA"], [["ART01565976\x00277", "SITI\x00 AMINAH"], ["ART01565976\x00278", "BUDI"]])
        _config(f / "run.json", [{"name": "a", "path": "a.csv", "columns": {"ID": "record_id", "NAMA": "nama"}}])

    def nul_verdict(o: Outcome) -> str:
        v = _run_ok(o, 2)
        ids = sorted(o.table("membership")["record_id"]) if v == "right" else []
        return v if v != "right" or ids == ["ART01565976\x00277", "ART01565976\x00278"] else f"wrong: ids {ids}"
    s.append(Situation("NUL byte in a cell", "record ids and a name holding NUL", nul, [RUN], nul_verdict))

    def surrogates(f: Path) -> None:
        _api(f, """
            df = pd.DataFrame({"ID": ["1", "2", "3"], "NAMA": ["SITI\\udc80 AMINAH", "BUDI\\ud800", "JOKO"]})
            r = rl.link({"a": df}, columns={"a": {"ID": "record_id", "NAMA": "nama"}})
            assert sorted(r.membership["record_id"]) == ["1", "2", "3"]
            print("kept", len(r.membership))
            """)
    s.append(Situation("lone surrogates (API)", "a DataFrame whose names hold lone surrogates", surrogates,
                       [["python", "api.py"]], lambda o: "right" if o.code == 0 else f"wrong: exit {o.code}"))

    def cp1252(f: Path, n: int) -> None:
        names = ["JOSÉ", "SÉTIAWATI", "ANDRÉ", "NÖRA", "BUDI", "AÑA"]
        rows = [[str(i), names[i % len(names)] + f" {chr(65 + i % 26)}", f"32010112037{i:05d}"] for i in range(n)]
        _csv(f / "a.csv", ["ID", "NAMA", "NIK"], rows, encoding="cp1252")
        _config(f / "run.json", [{"name": "a", "path": "a.csv",
                                  "columns": {"ID": "record_id", "NAMA": "nama", "NIK": "nik"}}])

    def cp1252_verdict(n: int) -> Callable[[Outcome], str]:
        def check(o: Outcome) -> str:
            v = _run_ok(o, n)
            if v != "right":
                return v
            # (the registry holds cleaned names: accents folded, JOSÉ -> JOSE; cp1252 read as another
            # encoding gives other letters, e.g. JOSÃ‰ or JOS\uff74)
            names = set(o.table("registry")["nama"].dropna())
            want = {["JOSE", "SETIAWATI", "ANDRE", "NORA", "BUDI", "ANA"][i % 6] + f" {chr(65 + i % 26)}"
                    for i in range(n)}
            return "right" if names == want else f"wrong: names read as {sorted(names - want)[:3]}"
        return check
    s.append(Situation("cp1252 file", "40 rows from Excel on Windows, no encoding given",
                       lambda f: cp1252(f, 40), [RUN], cp1252_verdict(40)))
    s.append(Situation("tiny cp1252 file", "3 rows in Windows-1252, no encoding given",
                       lambda f: cp1252(f, 3), [RUN], cp1252_verdict(3)))

    def dates(f: Path, values: list[str], dayfirst: bool | None) -> None:
        _csv(f / "a.csv", ["ID", "NAMA", "TGL"], [[str(i), f"ORANG {chr(65 + i)}", v] for i, v in enumerate(values)])
        src = {"name": "a", "path": "a.csv", "columns": {"ID": "record_id", "NAMA": "nama", "TGL": "tanggal_lahir"}}
        if dayfirst is not None:
            src["dayfirst"] = dayfirst
        _config(f / "run.json", [src])

    def dates_verdict(expected: list[str]) -> Callable[[Outcome], str]:
        def check(o: Outcome) -> str:
            v = _run_ok(o, len(expected))
            if v != "right":
                return v
            got = o.table("registry").sort_values("nama")["tanggal_lahir"].astype("string").fillna("").tolist()
            return "right" if got == expected else f"wrong: read as {got}"
        return check
    s.append(Situation("US dates", "12/23/2012 in a day-first source", lambda f: dates(f, ["12/23/2012"], None),
                       [RUN], dates_verdict(["2012-12-23"])))
    s.append(Situation("ambiguous dates, dayfirst: false", "03/04/1985 in a month-first source",
                       lambda f: dates(f, ["03/04/1985"], False), [RUN], dates_verdict(["1985-03-04"])))

    def partial(f: Path) -> None:
        _api(f, """
            df = pd.DataFrame({"ID": ["1", "2", "3"], "NAMA": ["A", "B", "C"], "TGL": ["1985", "00-00-1985", "08/1985"]})
            r = rl.link({"a": df}, columns={"a": {"ID": "record_id", "NAMA": "nama", "TGL": "tanggal_lahir"}})
            years = r.records["tahun_lahir"].astype("string").tolist()
            assert years == ["1985"] * 3, years
            """)
    s.append(Situation("partial dates (API)", "1985, 00-00-1985, 08/1985: is the year kept?", partial,
                       [["python", "api.py"]], lambda o: "right" if o.code == 0 else f"wrong: {o.first_err}"))

    def hidayah(f: Path) -> None:
        _csv(f / "siak.csv", ["ID", "NIK", "KK", "NAMA"], [["1", "3201014404880005", "3201010101010001", "NUR HIDAYAH"]]
             + [[str(i), f"32010112037{i:05d}", f"32010101010{i:05d}", f"ORANG {i}"] for i in range(2, 8)])
        _csv(f / "dtks.csv", ["ID", "NIK", "KK", "NAMA"], [["D1", "3201014404880005", "3201010101010001", "NURHIDAYAH"]])
        _config(f / "run.json", [{"name": n, "path": f"{n}.csv",
                                  "columns": {"ID": "record_id", "NIK": "nik", "KK": "no_kk", "NAMA": "nama"}}
                                 for n in ("siak", "dtks")])

    def hidayah_verdict(o: Outcome) -> str:
        v = _run_ok(o, 8)
        if v != "right":
            return v
        m = o.table("membership").set_index("record_id")["person_id"]
        return "right" if m["1"] == m["D1"] else "wrong: NUR HIDAYAH / NURHIDAYAH (same NIK and KK) not linked"
    s.append(Situation("NUR HIDAYAH / NURHIDAYAH", "same NIK and KK, names differ by a space", hidayah,
                       [RUN], hidayah_verdict))

    def em9(f: Path) -> None:
        _two_sources(f)
    s.append(Situation("EM on a handful of pairs", "7 records, a few candidate pairs: is EM warned about?", em9,
                       [["-v", *RUN]], lambda o: "right" if o.code == 0 and "FewTrainingPairsWarning" in o.stderr
                       else f"wrong: exit {o.code}, no warning about too few training pairs"))

    def formulas(f: Path) -> None:
        rows = [["=HYPERLINK(\"http://x\")", "3201014404880005", "SITI AMINAH", "04-04-1988"],
                ["=1+2", "3201011203700004", "JOKO SUSILO", "12-03-1970"],
                ["@SUM(A1)", "3201010202020006", "BUDI SANTOSO", "02-02-1982"]]
        _csv(f / "siak.csv", ["ID", "NIK", "NAMA", "TGL"], rows)
        _csv(f / "dtks.csv", ["ID", "NIK", "NAMA", "TGL"],
             [["-" + r[0], r[1][:-1] + "9", r[2], r[3]] for r in rows])
        _config(f / "run.json", [{"name": n, "path": f"{n}.csv",
                                  "columns": {"ID": "record_id", "NIK": "nik", "NAMA": "nama", "TGL": "tanggal_lahir"}}
                                 for n in ("siak", "dtks")], threshold=0.999999)

    def formulas_verdict(o: Outcome) -> str:
        if o.code != 0:
            return f"wrong: exit {o.code}"
        live = []
        if (o.folder / "review.xlsx").exists():
            import openpyxl

            wb = openpyxl.load_workbook(o.folder / "review.xlsx")
            live = [c.value for ws in wb for row in ws.iter_rows() for c in row if c.data_type == "f"]
        raw_csv = [x for x in (o.folder / "out" / "membership.csv").read_text().splitlines()
                   if x.split(",")[1][:1] in "=+-@"] if (o.folder / "out" / "membership.csv").exists() else ["none"]
        if live or raw_csv:
            return f"wrong: {len(live)} formula cells in review.xlsx, {len(raw_csv)} raw formula ids in membership.csv"
        return "right"
    s.append(Situation("formula ids in review xlsx / csv", "record ids '=1+2', '=HYPERLINK(...)', '@SUM(A1)'",
                       formulas, [["run", "run.json", "--out", "out", "--quiet", "--store", "r.duckdb"],
                                  ["run", "run.json", "--out", "out", "--quiet", "--format", "csv"],
                                  ["review", "export", "--store", "r.duckdb", "--file", "review.xlsx",
                                   "--low", "0", "--high", "1"]],
                       formulas_verdict))

    def block_keys(f: Path) -> None:
        rows = [[str(i), "3201014404880005", f"SITI {chr(65 + i)}"] for i in range(5)]
        _csv(f / "a.csv", ["ID", "NIK", "NAMA"], rows)
        _config(f / "run.json", [{"name": "a", "path": "a.csv",
                                  "columns": {"ID": "record_id", "NIK": "nik", "NAMA": "nama"}}], max_block_size=2)
    s.append(Situation("block keys in warnings", "a NIK shared by 5 records, max_block_size 2", block_keys, [RUN],
                       lambda o: "wrong: the raw NIK is printed" if "3201014404880005" in o.stderr
                       else ("right" if o.code == 0 else f"wrong: exit {o.code}")))

    def corrupt(f: Path) -> None:
        (f / "r.duckdb").write_text("not a database")
    s.append(Situation("corrupt store", "review export on a file that is not DuckDB", corrupt,
                       [["review", "export", "--store", "r.duckdb", "--file", "r.csv"]], _refused))
    s.append(Situation("review export on a missing store", "the store file does not exist", lambda f: None,
                       [["review", "export", "--store", "missing.duckdb", "--file", "r.csv"]], _refused))

    def locked(f: Path) -> None:
        _two_sources(f)
        (f / "hold.py").write_text(textwrap.dedent("""
            import subprocess, sys, time, duckdb
            con = duckdb.connect("r.duckdb")  # another process holds the store
            con.execute("create table if not exists t(x int)")
            res = subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[2:]], capture_output=True, text=True)
            sys.stdout.write(res.stdout); sys.stderr.write(res.stderr); sys.exit(res.returncode)
            """))
    s.append(Situation("locked store", "run --store while another process holds the DuckDB file", locked,
                       [["python", "hold.py", CLI, *RUN, "--store", "r.duckdb"]], _refused))

    for kind in ("xlsx", "dta", "sav", "zip", "gz"):
        def build(f: Path, kind: str = kind) -> None:
            df = pd.DataFrame({"ID": ["1", "2", "3"], "NIK": ["3201014404880005", "3201011203700004", "3201010202020006"],
                               "NAMA": ["SITI AMINAH", "JOKO", "BUDI"]})
            path = f"a.{kind}" if kind not in ("zip", "gz") else ("a.zip" if kind == "zip" else "a.csv.gz")
            if kind == "xlsx":
                df.to_excel(f / path, index=False)
            elif kind == "dta":
                df.to_stata(f / path, write_index=False)
            elif kind == "sav":
                import pyreadstat

                pyreadstat.write_sav(df, str(f / path))
            elif kind == "zip":
                with zipfile.ZipFile(f / path, "w") as zf:
                    zf.writestr("a.csv", df.to_csv(index=False))
            else:
                (f / path).write_bytes(gzip.compress(df.to_csv(index=False).encode()))
            _config(f / "run.json", [{"name": "a", "path": path,
                                      "columns": {"ID": "record_id", "NIK": "nik", "NAMA": "nama"}}])
        s.append(Situation(f".{kind} source", f"3 rows in a .{kind} file", build, [RUN], lambda o: _run_ok(o, 3)))
    return s


def _refused(o: Outcome) -> str:
    one = o.stderr.strip().splitlines()
    if o.code == 2 and len([x for x in one if x.startswith("regsosek-link:")]) == 1 and "Traceback" not in o.stderr:
        return "right"
    return f"wrong: exit {o.code}" + (" with a traceback" if "Traceback" in o.stderr else "")


def run_all(src: str | None) -> list[dict[str, object]]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    rows = []
    for sit in _situations():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            sit.build(folder)
            out = Outcome(0, "", "", folder)
            for cmd in sit.commands:
                argv = [sys.executable, *cmd[1:]] if cmd[0] == "python" else [sys.executable, "-c", CLI, *cmd]
                try:
                    res = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=300,
                                         check=False)
                    out = Outcome(res.returncode, out.stdout + res.stdout, out.stderr + res.stderr, folder)
                except subprocess.TimeoutExpired:
                    out = Outcome(-1, out.stdout, out.stderr + "timeout", folder)
                if out.code != 0:
                    break
            try:
                verdict = sit.verdict(out)
            except Exception as exc:  # noqa: BLE001 - a verdict that cannot read the outputs is a row, not a crash
                verdict = f"wrong: {type(exc).__name__}: {exc}"
            shown = " && ".join("regsosek-link " + " ".join(c) if c[0] != "python" else "python " + c[1]
                                for c in sit.commands)
            rows.append({"situation": sit.name, "what": sit.what, "command": shown, "exit": out.code,
                         "stderr": out.first_err[:160], "verdict": verdict})
            print(f"{sit.name:40} exit {out.code}  {verdict}", file=sys.stderr)
    return rows


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").replace("\x00", "\\0")


def markdown(results: dict[str, list[dict[str, object]]]) -> str:
    labels = list(results)
    head = ["situation", "command"] + [f"{lab}: exit, first stderr line" for lab in labels] + \
        [f"{lab}: verdict" for lab in labels]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for i, row in enumerate(results[labels[0]]):
        cells = [f"{row['situation']} ({row['what']})", f"`{row['command']}`"]
        cells += [f"{results[lab][i]['exit']}: {results[lab][i]['stderr'] or '(none)'}" for lab in labels]
        cells += [str(results[lab][i]["verdict"]) for lab in labels]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    right = {lab: sum(r["verdict"] == "right" for r in results[lab]) for lab in labels}
    lines.append("")
    lines.append("Right: " + ", ".join(f"{lab} {n} of {len(results[lab])}" for lab, n in right.items()))
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", action="append", help="a checkout's src/ folder (repeatable); default: installed")
    p.add_argument("--label", action="append", help="a label per --src")
    p.add_argument("--markdown", help="write the table here")
    args = p.parse_args()
    srcs = args.src or [None]
    labels = args.label or [s or "this checkout" for s in srcs]
    results = {lab: run_all(src) for lab, src in zip(labels, srcs)}
    text = markdown(results)
    if args.markdown:
        Path(args.markdown).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
