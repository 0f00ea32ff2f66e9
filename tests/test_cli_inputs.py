"""The CLI on troubled inputs (issue 15): counts of birth dates not read as a plain date per
source in the summary (run and update), the log (-v) and report.html; review export on a
missing store."""

from __future__ import annotations

import logging

from regsosek_link.cli import main
from regsosek_link.config import LinkConfig, SourceConfig

# a: one unparsed, one placeholder (31 December), one partial (year only), two plain dates;
# b: one impossible (31 February), one month-first read of a day-first source, one plain date
A = ("ID,NAMA,NIK,TGL\n1,SITI AMINAH,3201014101850001,xx\n2,BUDI SANTOSO,3201010101800002,31/12/1980\n"
     "3,ANI,3201015501900003,1985\n4,JOKO,3201011203700004,12/03/1970\n5,RINA,3201014404880005,04/04/1988\n")
B = ("ID,NAMA,TGL\n7,SITI AMINAH,31/02/1985\n8,DEDI,12/23/2012\n9,RINA,04/04/1988\n")


def _config(tmp_path):
    (tmp_path / "a.csv").write_text(A)
    (tmp_path / "b.csv").write_text(B)
    srcs = (SourceConfig(name="a", path="a.csv", columns={"ID": "record_id", "NAMA": "nama", "NIK": "nik",
                                                          "TGL": "tanggal_lahir"}),
            SourceConfig(name="b", path="b.csv", columns={"ID": "record_id", "NAMA": "nama", "TGL": "tanggal_lahir"}))
    return LinkConfig(sources=srcs, output_dir="out").save(tmp_path / "run.yaml")


LINE = ("Birth dates not read as a plain date, by source: a 1 unparsed, 1 partial, 1 placeholder; "
        "b 1 impossible, 1 swapped")


def test_run_summary_log_and_report_count_the_dates(tmp_path, capsys, caplog):
    cfg = _config(tmp_path)
    with caplog.at_level(logging.INFO, logger="regsosek_link.run"):
        assert main(["run", str(cfg), "--quiet", "--report", "--out", str(tmp_path / "o")]) == 0
    assert LINE in capsys.readouterr().out.splitlines()
    table = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("birth dates per source"))
    rows = [line.split() for line in table.splitlines()[1:]]
    assert rows[0] == ["source", "n", "missing", "unparsed", "impossible", "partial", "swapped", "placeholder"]
    assert rows[1:] == [["a", "5", "0", "1", "0", "1", "0", "1"], ["b", "3", "0", "0", "1", "0", "1", "0"]]
    html = (tmp_path / "o" / "report.html").read_text()
    section = html[html.index("Birth dates not read as a plain date"):]
    section = section[:section.index("</table>")]
    cells = [c.split(">")[-1] for c in section.split("</td>")[:-1]]
    assert cells == ["5", "0", "1", "0", "1", "0", "1", "3", "0", "0", "1", "0", "1", "0"]


def test_update_summary_counts_the_dates(tmp_path, capsys):
    cfg = _config(tmp_path)
    store = str(tmp_path / "r.duckdb")
    assert main(["run", str(cfg), "--quiet", "--store", store, "--out", str(tmp_path / "o")]) == 0
    (tmp_path / "c.csv").write_text("ID,NAMA,TGL\n20,BUDI,00/00/1950\n21,ANI,2/30/1999\n")
    batch = LinkConfig(sources=(SourceConfig(name="c", path="c.csv", columns={"ID": "record_id", "NAMA": "nama",
                                                                              "TGL": "tanggal_lahir"}),),
                       output_dir="out2").save(tmp_path / "batch.yaml")
    capsys.readouterr()
    assert main(["update", str(batch), "--quiet", "--store", store, "--retrain", "--out", str(tmp_path / "o2")]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("Birth dates not read"))
    assert line.startswith(LINE + "; c 1 ")  # the registry's records: the stored ones and the batch


def test_review_export_on_a_missing_store_is_one_line_and_exit_2(tmp_path, capsys):
    # before: KeyError 'match_probability' with a traceback, exit 1
    store = tmp_path / "missing.duckdb"
    assert main(["review", "export", "--store", str(store), "--file", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("regsosek-link: configuration problem: registry store") and err.count("\n") == 1
    assert not store.exists()
