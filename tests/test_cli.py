"""The command line: output formats, the report flag, --version, and how failures end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import regsosek_link
from regsosek_link import cli
from regsosek_link.cli import main
from regsosek_link.config import LinkConfig, SourceConfig
from regsosek_link.errors import ModelError, StoreError

TABLES = ("membership", "registry", "households", "links")


@pytest.fixture(scope="module")
def config_path(tmp_path_factory) -> Path:
    """A small run: 60 people in two CSV sources."""
    from regsosek_link.datasets import make_sources

    folder = tmp_path_factory.mktemp("cli")
    syn = make_sources(n_people=60, random_state=3)
    sources = []
    for name in ("siak", "dtks"):
        syn.sources[name].to_csv(folder / f"{name}.csv", index=False)
        sources.append(SourceConfig(name=name, path=f"{name}.csv", columns=syn.mappings[name],
                                    one_record_per_person=name == "siak"))
    return LinkConfig(sources=tuple(sources), output_dir="out").save(folder / "run.yaml")


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_run_writes_parquet_only_by_default(config_path, tmp_path, capsys):
    assert main(["run", str(config_path), "--quiet", "--out", str(tmp_path / "o")]) == 0
    assert _files(tmp_path / "o") == sorted([f"{t}.parquet" for t in TABLES] + ["config.json", "processing_record.json", "processing_record.md"])


@pytest.mark.parametrize("flags", [["--format", "csv"], ["--format", "csv,parquet"],
                                   ["--format", "parquet", "--format", "csv"]])
def test_format_flag_overrides_the_config(config_path, tmp_path, flags):
    assert main(["run", str(config_path), "--quiet", "--out", str(tmp_path / "o"), *flags]) == 0
    fmts = {f for flag in flags[1::2] for f in flag.split(",")}
    assert _files(tmp_path / "o") == sorted([f"{t}.{f}" for t in TABLES for f in fmts] + ["config.json", "processing_record.json", "processing_record.md"])
    membership = pd.read_csv(tmp_path / "o" / "membership.csv") if "csv" in fmts else None
    assert membership is None or len(membership) > 0


def test_unknown_format_is_one_line_and_exit_2(config_path, tmp_path, capsys):
    assert main(["run", str(config_path), "--format", "xlsx", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err == ("regsosek-link: configuration problem: --format: unknown output format(s) ['xlsx']; "
                   "allowed: parquet, csv\n")
    assert not (tmp_path / "o").exists()


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"regsosek-link {regsosek_link.__version__}\n"


def test_help_does_not_import_the_pipeline():
    code = ("import sys; from regsosek_link.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('pandas', 'sklearn', 'matplotlib', 'recordlinkage') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_import_does_not_import_heavy_modules():
    code = ("import sys, regsosek_link as rl; print(sorted(m for m in ('pandas', 'sklearn', 'matplotlib', "
            "'recordlinkage', 'duckdb') if m in sys.modules)); print(rl.block.__module__, rl.compare.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "[]"
    assert out.splitlines()[1] == "regsosek_link.block regsosek_link.compare"  # the functions, not the modules


def test_a_run_does_not_import_scikit_learn(tmp_path):
    """scikit-learn's import (~0.9 s, scipy.stats with it) is paid only by code that uses
    scikit-learn itself: a whole run through the command, training included, does without."""
    code = ("import sys; from regsosek_link.cli import main; "
            f"rc = main(['demo', '--people', '300', '--quiet', '--out', {str(tmp_path / 'o')!r}]); "
            "print(rc, sorted(m for m in ('sklearn', 'scipy.stats') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "0 []"
    assert (tmp_path / "o" / "registry" / "membership.parquet").exists()


def test_block_and_compare_stay_functions_after_their_modules_load():
    import regsosek_link.config  # loads regsosek_link.block and .compare

    assert callable(regsosek_link.block) and callable(regsosek_link.compare)
    assert callable(regsosek_link.standardise)


# -- failures ------------------------------------------------------------------------------


def _fails_with(monkeypatch, exc: BaseException) -> None:
    def boom(args):
        raise exc

    monkeypatch.setattr(cli, "_cmd_generate", boom)


@pytest.mark.parametrize(("exc", "message"), [
    (StoreError("registry store 'r.duckdb' is locked by another run; wait for it or use another store"),
     "registry store 'r.duckdb' is locked by another run; wait for it or use another store"),
    (ModelError("model file 'm.json' was saved by version 9; retrain"), "model file 'm.json' was saved by version 9; retrain"),
    (FileNotFoundError(2, "No such file or directory", "a.csv"), "No such file or directory: 'a.csv'"),
    (PermissionError(13, "Permission denied", "/out/membership.parquet"),
     "Permission denied: '/out/membership.parquet'"),
    (IsADirectoryError(21, "Is a directory", "siak.csv"), "Is a directory: 'siak.csv'"),
    (OSError(28, "No space left on device"), "OSError: [Errno 28] No space left on device"),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
     ("cannot decode a file as utf-8 (byte 0: invalid start byte); set the source's 'encoding' in the config "
      "(e.g. latin-1)")),
])
def test_user_and_environment_errors_are_one_line_and_exit_2(monkeypatch, capsys, exc, message):
    _fails_with(monkeypatch, exc)
    assert main(["generate"]) == 2
    err = capsys.readouterr().err
    assert err == f"regsosek-link: {message}\n"


def test_a_bug_keeps_its_traceback_and_exit_1(tmp_path):
    code = ("import sys; from regsosek_link import cli\n"
            "def boom(args): raise KeyError('bug')\n"
            "cli._cmd_generate = boom\n"
            "sys.exit(cli.main(['generate']))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 1
    assert "Traceback (most recent call last)" in res.stderr and "KeyError: 'bug'" in res.stderr


def test_the_command_ends_without_freeing_the_run_yet_has_said_and_written_everything(tmp_path):
    # the installed command (and python -m regsosek_link.cli) is console_main: it ends the
    # process with os._exit, the run's objects not freed; its output must be complete
    out = tmp_path / "d"
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # (a pipe's output is then buffered)
    res = subprocess.run([sys.executable, "-m", "regsosek_link.cli", "demo", "--people", "300", "--quiet",
                          "--no-report", "--out", str(out)], capture_output=True, text=True, check=False, env=buffered)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    listed = [Path(line.strip()) for line in lines[lines.index(next(x for x in lines if x.startswith("Outputs in"))) + 1:]]
    assert lines[-1].strip() == str(listed[-1]) and len(listed) >= 5
    assert all(p.exists() and p.stat().st_size > 0 for p in listed)
    n = int(re.search(r"Input records: ([\d,]+)", res.stdout).group(1).replace(",", ""))
    assert len(pd.read_parquet(out / "registry" / "membership.parquet")) == n
    # its exit codes: a user's error 2, a bug 1 with its traceback
    bad = subprocess.run([sys.executable, "-m", "regsosek_link.cli", "run", str(tmp_path / "none.yaml")],
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("regsosek-link: configuration problem")
    code = ("import sys; from regsosek_link import cli\n"
            "def boom(args): raise KeyError('bug')\n"
            "cli._cmd_generate = boom\n"
            "sys.argv = ['regsosek-link', 'generate']\n"
            "cli.console_main()\n")
    bug = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert bug.returncode == 1 and "KeyError: 'bug'" in bug.stderr


def test_missing_config_file_exits_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "none.yaml")]) == 2
    assert capsys.readouterr().err.startswith("regsosek-link: configuration problem: config file")


def test_a_source_in_another_encoding_exits_2(tmp_path, capsys):
    # (without an encoding the file's encoding is guessed; a wrong explicit one is refused)
    (tmp_path / "a.csv").write_bytes("ID,NAMA\n1,JOS\xc9\n".encode("latin-1"))
    cfg = LinkConfig(sources=(SourceConfig(name="a", path="a.csv", encoding="utf-8",
                                           columns={"ID": "record_id", "NAMA": "nama"}),))
    path = cfg.save(tmp_path / "run.yaml")
    code = main(["run", str(path), "--quiet", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("regsosek-link: ") and err.count("\n") == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can write anywhere")
def test_an_unwritable_output_folder_exits_2(config_path, tmp_path, capsys):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        assert main(["run", str(config_path), "--quiet", "--out", str(out)]) == 2
    finally:
        out.chmod(0o700)
    assert "Permission denied" in capsys.readouterr().err


def test_an_output_path_that_is_a_file_exits_2(config_path, tmp_path, capsys):
    (tmp_path / "taken").write_text("a file, not a folder")
    assert main(["run", str(config_path), "--quiet", "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("regsosek-link: ") and "taken" in err and err.count("\n") == 1


def test_a_store_that_is_not_a_duckdb_file_exits_2(tmp_path, capsys):
    store = tmp_path / "store.duckdb"
    store.write_text("not a database")
    assert main(["review", "export", "--store", str(store), "--file", str(tmp_path / "r.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("regsosek-link: ") and err.count("\n") == 1


def test_update_reports_like_run(config_path, tmp_path, capsys):
    """update takes run's reporting options: --truth prints the accuracy, --report writes
    report.html beside the outputs, --quiet silences the progress lines."""
    from regsosek_link.datasets import make_sources

    store = str(tmp_path / "r.duckdb")
    assert main(["run", str(config_path), "--quiet", "--out", str(tmp_path / "o1"), "--store", store]) == 0
    syn = make_sources(n_people=60, random_state=3)
    truth = tmp_path / "truth.csv"
    syn.truth.to_csv(truth, index=False)
    capsys.readouterr()
    assert main(["update", str(config_path), "--quiet", "--store", store, "--out", str(tmp_path / "o2"),
                 "--truth", str(truth), "--report"]) == 0
    captured = capsys.readouterr()
    assert "Accuracy against the ground truth (pairwise): precision" in captured.out
    assert captured.err == ""
    assert (tmp_path / "o2" / "report.html").stat().st_size > 1000
    assert main(["update", str(config_path), "--quiet", "--store", store, "--out", str(tmp_path / "o3")]) == 0
    assert not (tmp_path / "o3" / "report.html").exists()  # opt-in, as for run
