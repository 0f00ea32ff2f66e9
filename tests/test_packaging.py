"""What a new user meets: dependency bounds that match the tested minimums, a lean core
whose optional parts name their extra, a fast import, and help on every CLI option."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np

from regsosek_link._arrays import _bitwise_count_bytes, bitwise_count
from regsosek_link.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]

#: Modules that must not load with ``import regsosek_link`` (each costs 0.1-1 s).
HEAVY = ("sklearn", "scipy", "matplotlib", "duckdb", "recordlinkage", "pandas", "pyarrow", "openpyxl")

#: Runs a snippet with the optional packages made unimportable, as in a core-only install.
_WITHOUT_EXTRAS = """
import sys
for name in ("duckdb", "matplotlib", "openpyxl", "pyreadstat"):
    sys.modules[name] = None  # import raises ImportError, as if not installed
"""


def _python(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, check=False)


def _requirements(table: list[str]) -> dict[str, str]:
    """Package -> lower bound of each ``name>=x`` in a pyproject requirement list."""
    out = {}
    for req in table:
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)", req)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


def _norm(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def test_minimum_constraints_pin_exactly_the_lower_bounds_of_pyproject():
    """constraints-min.txt (installed by .ci/min-deps) tests the bounds pyproject states: the
    same packages at the same versions, core and extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = _requirements(project["dependencies"])
    for extra in ("store", "report", "excel", "spss"):
        bounds |= _requirements(project["optional-dependencies"][extra])
    pins = {}
    for line in (ROOT / "constraints-min.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    assert set(pins) == set(bounds)
    assert {k: _norm(v) for k, v in pins.items()} == {k: _norm(v) for k, v in bounds.items()}


def test_the_optional_packages_are_not_core_dependencies():
    core = _requirements(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert not {"duckdb", "matplotlib", "openpyxl", "pyreadstat"} & set(core)
    assert {"pandas", "numpy", "scikit-learn", "jellyfish", "recordlinkage"} <= set(core)


def test_bitwise_count_fallback_equals_numpy():
    rng = np.random.default_rng(0)
    for dtype in (np.uint8, np.uint32, np.uint64):
        a = rng.integers(0, np.iinfo(dtype).max, size=(257, 3), dtype=dtype, endpoint=True)
        expected = np.array([[int(x).bit_count() for x in row] for row in a])
        assert _bitwise_count_bytes(a).tolist() == expected.tolist()
        assert bitwise_count(a).tolist() == expected.tolist()
    assert _bitwise_count_bytes(np.zeros((0, 2), np.uint64)).shape == (0, 2)


def test_import_loads_no_heavy_module():
    """A module-set check, not a timing: none of the heavy libraries is imported with the
    package, nor with ``regsosek_link.cli`` (``--help``)."""
    code = ("import sys, regsosek_link, regsosek_link.cli; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_check_above_sees_a_heavy_import():
    """The module-set check can fail: touching a compare-stage name loads pandas."""
    code = ("import sys, regsosek_link as rl; rl.ExactMatch; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = _python(code)
    assert "pandas" in out.stdout


def _walk(parser: argparse.ArgumentParser, path: str = "regsosek-link"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")
        else:
            yield path, action


def test_every_cli_option_and_argument_has_help():
    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}"
               for path, a in _walk(build_parser()) if not a.help or a.help == argparse.SUPPRESS]
    assert missing == []
    commands = {path for path, _ in _walk(build_parser())}
    assert {"regsosek-link run", "regsosek-link update", "regsosek-link generate"} <= commands


def test_update_has_runs_reporting_options():
    def options(command: str) -> set[str]:
        return {o for path, a in _walk(build_parser()) if path == f"regsosek-link {command}"
                for o in a.option_strings}

    reporting = {"--truth", "--quiet", "--report", "--no-report", "--format"}
    assert reporting <= options("run")
    assert reporting <= options("update")


# -- a core-only install -------------------------------------------------------------------


def test_core_only_links_and_names_the_extra_of_each_optional_part(tmp_path):
    """Without duckdb, matplotlib and openpyxl: linking and writing Parquet work; the store,
    the report and Excel files raise MissingDependencyError naming the extra."""
    code = _WITHOUT_EXTRAS + textwrap.dedent("""
        import regsosek_link as rl
        from regsosek_link._optional import MissingDependencyError
        from regsosek_link.datasets import make_sources

        syn = make_sources(n_people=150, random_state=1)
        result = rl.link(syn.sources, columns=syn.mappings)
        print("persons", len(result.registry) > 0)
        print("written", sorted(p.name for p in result.write("out").values())[:2])

        def fails(fn):
            try:
                fn()
            except MissingDependencyError as exc:
                print("missing:", exc)

        fails(lambda: rl.write_report(result, "report.html"))
        fails(lambda: __import__("regsosek_link.store"))
        from regsosek_link.review import export_review, review_queue
        fails(lambda: export_review(result.links.head(0), "r.xlsx"))
    """)
    out = _python(code, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "persons True"
    assert lines[1] == "written ['config.json', 'households.parquet']"
    assert lines[2].startswith("missing: drawing charts and the HTML report needs the optional package "
                               "matplotlib, which is not installed; install it with: "
                               "pip install 'regsosek-link[report]'")
    assert lines[3].startswith("missing: the registry store") and "regsosek-link[store]" in lines[3]
    assert lines[4].startswith("missing: writing an .xlsx review file") and "regsosek-link[excel]" in lines[4]
    assert len(lines) == 5


def test_core_only_cli_store_is_one_line_exit_2_and_demo_skips_the_report(tmp_path):
    run = _WITHOUT_EXTRAS + "from regsosek_link.cli import main; raise SystemExit(main(sys.argv[1:]))"
    out = _python(run, "review", "export", "--store", "r.duckdb", "--file", "r.csv", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "pip install 'regsosek-link[store]'" in out.stderr
    out = _python(run, "demo", "--people", "120", "--quiet", "--out", "d", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "report.html skipped" in out.stderr and "regsosek-link[report]" in out.stderr
    assert not (tmp_path / "d" / "registry" / "report.html").exists()
    assert (tmp_path / "d" / "registry" / "registry.parquet").exists()
    out = _python(run, "demo", "--people", "120", "--quiet", "--out", "d2", "--report", cwd=tmp_path)
    assert out.returncode == 2 and "regsosek-link[report]" in out.stderr
