"""Command line: ``regsosek-link demo | run | update | review | generate | encode | link-encoded``.

Exit codes: 0 success; 2 a problem of the configuration, the input or the environment (a
missing or unreadable file, a locked store...), told in one line on stderr that says what
and where; 1 anything else (a bug: the traceback is printed).

The library is imported inside each command, so that ``--help`` and ``--version`` answer
at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ConfigError, RegsosekLinkError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .config import LinkConfig
    from .run import LinkResult

__all__ = ["main"]


def _progress(quiet: bool):
    started: dict[str, float] = {}

    def report(stage: str, frac: float) -> None:
        if quiet:
            return
        if frac == 0.0:
            started[stage] = time.perf_counter()
            print(f"  {stage:<12} ...", end="", flush=True, file=sys.stderr)
        else:
            print(f" {time.perf_counter() - started[stage]:6.2f} s", file=sys.stderr)

    return report


def _birth_dates(records: pd.DataFrame) -> str:
    """One line: per source, the birth dates not read as a plain date (unparsed, impossible,
    partial, day and month swapped, placeholder), from the records' date statuses."""
    from .standardise import date_status_counts

    counts = date_status_counts(records)
    kinds = ["unparsed", "impossible", "partial", "swapped", "placeholder"]
    parts = [f"{row.source} " + ", ".join(f"{int(getattr(row, k)):,} {k}" for k in kinds if getattr(row, k))
             for row in counts.itertuples() if any(getattr(row, k) for k in kinds)]
    return "Birth dates not read as a plain date, by source: " + ("; ".join(parts) if parts else "none")


def _summary(result: LinkResult, written: dict[str, Path], truth: pd.DataFrame | None) -> str:
    lines = []
    counts = result.membership.groupby("source", sort=False).size()
    lines.append(f"Input records: {len(result.membership):,} from {len(counts)} sources "
                 f"({', '.join(f'{k} {v:,}' for k, v in counts.items())})")
    lines.append(f"Candidate pairs: {len(result.pairs):,}; accepted links: "
                 f"{int((result.probability >= result.config.threshold).sum()):,} "
                 f"(threshold {result.config.threshold})")
    sizes = result.registry["n_records"]
    lines.append(f"Persons in the registry: {len(result.registry):,} "
                 f"({int((sizes == 1).sum()):,} from a single record; largest has {int(sizes.max())} records)")
    lines.append(f"Households: {result.households['household_id'].nunique():,}; "
                 f"persons with conflicting valid NIKs: {int(result.registry['conflicting_nik'].sum()):,}")
    lines.append(_birth_dates(result.records))
    from .review import ambiguity_line

    lines.append(ambiguity_line(result))
    lines.append("Time: " + ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
                 + f" (total {sum(result.timings.values()):.2f} s)")
    if truth is not None:
        lines.append(_accuracy(result, truth))
    out_dir = next(iter(written.values())).parent if written else None
    lines.append(f"Outputs in {out_dir}:")
    for path in written.values():
        lines.append(f"  {path}")
    return "\n".join(lines)


def _accuracy(result: LinkResult, truth: pd.DataFrame) -> str:
    """Pairwise precision, recall and F1 against ``truth``, and the blocking recall."""
    scores = result.evaluate(truth)
    return (f"Accuracy against the ground truth (pairwise): precision {scores.precision:.4f}, "
            f"recall {scores.recall:.4f}, F1 {scores.f1:.4f}\n"
            f"Blocking recall: {result.blocking_recall(truth):.4f}")


#: --report's default for demo: write the report when matplotlib is installed (the
#: ``report`` extra), else say it was skipped; --report asks for it whatever it needs.
_AUTO = "auto"


def _write_report(args: argparse.Namespace, result: LinkResult, written: dict[str, Path],
                  output_dir: str | Path, truth: pd.DataFrame | None) -> None:
    """Write report.html into the output folder when the report is asked for (--report)."""
    if not args.report:
        return
    if args.report is _AUTO:  # demo's default: the report if matplotlib is installed
        from ._optional import MissingDependencyError, require

        try:
            require("matplotlib", extra="report", what="the HTML report")
        except MissingDependencyError as exc:
            print(f"  report.html skipped: {exc}", file=sys.stderr)
            return
    from .report import write_report

    written["report.html"] = write_report(result, Path(output_dir) / "report.html", truth=truth)


def _config_outputs(config: LinkConfig, args: argparse.Namespace) -> LinkConfig:
    """The config with --format (if given) as its output formats and --explore/--no-explore
    (if given) as its report_explorer."""
    if args.explore is not None:
        config = config.replace(report_explorer=args.explore)
    if not args.format:
        return config
    from .outputs import check_formats

    return config.replace(output_formats=check_formats(",".join(args.format), where="--format"))


def _cmd_demo(args: argparse.Namespace) -> int:
    from .config import LinkConfig, SourceConfig, load_config
    from .datasets import make_sources
    from .run import Linker

    out = Path(args.out)
    src_dir = out / "sources"
    print(f"Generating {args.people:,} synthetic people and their ministry sources (seed {args.seed})...",
          file=sys.stderr)
    t0 = time.perf_counter()
    syn = make_sources(n_people=args.people, random_state=args.seed)
    paths = syn.write(src_dir, format="csv")
    print(f"  generated in {time.perf_counter() - t0:.2f} s: "
          + ", ".join(f"{k} {len(v):,} rows" for k, v in syn.sources.items()), file=sys.stderr)
    sources = []
    for name in syn.sources:
        info = syn.source_info.get(name, {})
        sources.append(SourceConfig(
            name=name, path=str(paths[name].relative_to(out)), columns=syn.mappings[name],
            one_record_per_person=bool(info.get("one_record_per_person", False)),
            priority=1 if info.get("one_record_per_person") else 100,
        ))
    config = _config_outputs(
        LinkConfig(sources=tuple(sources), output_dir=str(out / "registry"), random_state=args.seed), args)
    cfg_path = config.replace(output_dir="registry").save(out / "config.yaml")
    print(f"  config written to {cfg_path}", file=sys.stderr)
    config = load_config(cfg_path)
    print("Linking:", file=sys.stderr)
    result = _kept(Linker(config, tune_process=True).run(progress=_progress(args.quiet)))
    written = result.write(config.output_dir)
    truth = syn.truth
    _write_report(args, result, written, config.output_dir, truth)
    print(_summary(result, written, truth))
    return 0


def _read_truth(path: str | None) -> pd.DataFrame | None:
    if not path:
        return None
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"truth file {str(p)!r} does not exist")
    return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p, dtype=str, keep_default_na=False)


def _cmd_run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .run import Linker

    config = _config_outputs(load_config(args.config), args)
    if args.out:
        config = config.replace(output_dir=args.out)
    if args.no_memory_check:
        config = config.replace(memory_check=False)
    _refuse_tables_without_spark(args)
    if args.engine == "spark":
        return _run_on_spark(config, args)
    result = _kept(Linker(config, tune_process=True).run(progress=_progress(args.quiet), store=args.store,
                                                         relink=args.relink, replace=args.replace))
    written = result.write(config.output_dir)
    truth = _read_truth(args.truth)
    _write_report(args, result, written, config.output_dir, truth)
    print(_summary(result, written, truth))
    if args.store:
        print(f"Registry saved in {args.store} (person IDs kept stable against what it held)")
    return 0


def _add_spark_tables(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tables", metavar="PREFIX",
                   help="with --engine spark: also save the output tables in the session's catalog as "
                        "PREFIXmembership, PREFIXregistry, ... (e.g. --tables dtsen.rl_)")
    p.add_argument("--table-format", help="with --tables: the tables' format (delta, parquet, iceberg...); "
                                          "default the session's")


def _spark_outputs(result: Any, config: LinkConfig, args: argparse.Namespace) -> str:
    """Write a Spark result's Parquet tables (and catalog tables with ``--tables``); what was written."""
    written = result.write(config.output_dir)
    said = f"Parquet tables in {config.output_dir}: {', '.join(written)}"
    if args.tables:
        names = result.save_tables(args.tables, table_format=args.table_format)
        said += f"; catalog tables {', '.join(names.values())}"
    return said


def _refuse_tables_without_spark(args: argparse.Namespace) -> None:
    if (getattr(args, "tables", None) or getattr(args, "table_format", None)) and args.engine != "spark":
        raise ConfigError("--tables and --table-format save the outputs in a Spark catalog: add --engine spark, "
                          "or drop them")


def _run_on_spark(config: LinkConfig, args: argparse.Namespace) -> int:
    """``run --engine spark``: the session from $REGSOSEK_SPARK_MASTER / $REGSOSEK_SPARK_CONF
    (or spark-submit's), the tables written as Parquet under the output folder."""
    from .engine import SparkEngine
    from .run import Linker

    unused = [flag for flag, given in (("--truth", args.truth), ("--report", args.report),
                                       ("--explore (report_explorer)", config.report_explorer),
                                       ("csv output (--format or the config's output_formats)",
                                        "csv" in config.output_formats)) if given]
    if unused:  # (said before the session starts, rather than ignored after the run)
        raise ConfigError(f"{' and '.join(unused)}: not available with --engine spark yet, which writes the tables "
                          "as Parquet and config.json only; drop the option, or run with the embedded engine")
    # (the engine's own run: Linker(config, engine=...).run is annotated with the embedded LinkResult)
    result = SparkEngine().run(Linker(config), store=args.store, relink=args.relink, replace=args.replace)
    said = _spark_outputs(result, config, args)
    print(f"Linked {result.n_records:,} records into {result.n_persons:,} persons on Spark "
          f"({result.n_pairs:,} candidate pairs); {said}")
    if args.store:
        print(f"Registry saved in {args.store} (run {result.run_id}; person IDs kept stable against what it held)")
    return 0


def _update_on_spark(config: LinkConfig, args: argparse.Namespace) -> int:
    """``update --engine spark``: a batch linked against the Parquet store in ``--store``."""
    from .engine import SparkEngine
    from .run import Linker

    if args.truth or args.report:
        raise ConfigError("--truth and --report: not available with --engine spark yet; drop them, or update "
                          "with the embedded engine")
    result = SparkEngine().update(Linker(config), args.store, retrain=args.retrain, relink=args.relink)
    said = _spark_outputs(result, config, args)
    counts = {r["change"]: r["count"] for r in result.changes.groupBy("change").count().collect()}
    print(f"Updated {args.store} (run {result.run_id}) on Spark: {result.n_records:,} records, persons "
          f"{result.n_persons:,}; changes: {', '.join(f'{k} {v:,}' for k, v in sorted(counts.items())) or 'none'}; "
          f"{said}")
    return 0


def _withdraw_on_spark(args: argparse.Namespace, ids: list[str] | None) -> int:
    """``withdraw --engine spark``: records removed from the Parquet store in ``--store``."""
    from .config import LinkConfig
    from .engine import SparkEngine
    from .engine.spark._store import SparkRegistryStore
    from .run import Linker

    if not Path(args.store).is_dir():  # (said before a session starts)
        raise ConfigError(f"registry store {args.store!r} does not exist or is not a directory written by "
                          "'run --engine spark --store'")
    engine = SparkEngine()
    snap = SparkRegistryStore(args.store, engine.spark).snapshot()
    if snap.empty or snap.config is None:
        raise ConfigError(f"registry store {args.store!r} holds no registry")
    config = LinkConfig.from_dict(snap.config).replace(memory_check=not args.no_memory_check)
    result = engine.withdraw(Linker(config), args.store, source=args.source, record_ids=ids)
    written = result.write(args.out) if args.out else {}
    counts = {r["change"]: r["count"] for r in result.changes.groupBy("change").count().collect()}
    print(f"Withdrew from {args.store} (run {result.run_id}) on Spark: {result.n_records:,} records, persons "
          f"{result.n_persons:,}; changes: {', '.join(f'{k} {v:,}' for k, v in sorted(counts.items())) or 'none'}"
          + (f"; Parquet tables in {args.out}: {', '.join(written)}" if written else ""))
    return 0


def _print_changes(store: str, result: LinkResult, written: dict[str, Path], seconds: float, what: str) -> None:
    import pandas as pd

    changes = result.changes if result.changes is not None else pd.DataFrame({"change": []})
    counts = changes["change"].value_counts().to_dict()
    print(f"{what} {store} (run {result.run_id}) in {seconds:.2f} s: persons {len(result.registry):,}; "
          f"changes: {', '.join(f'{k} {v:,}' for k, v in counts.items()) or 'none'}")
    print(_birth_dates(result.records))
    for path in written.values():
        print(f"  {path}")


def _cmd_update(args: argparse.Namespace) -> int:
    from .config import load_config
    from .run import Linker

    config = _config_outputs(load_config(args.config), args)
    if args.out:
        config = config.replace(output_dir=args.out)
    if args.no_memory_check:
        config = config.replace(memory_check=False)
    if not Path(args.store).exists():
        raise ConfigError(f"registry store {args.store!r} does not exist; create it first with "
                          f"'regsosek-link run CONFIG --store {args.store}'")
    _refuse_tables_without_spark(args)
    if args.engine == "spark":
        return _update_on_spark(config, args)
    t0 = time.perf_counter()
    result = _kept(Linker(config, tune_process=True).update(args.store, retrain=args.retrain, relink=args.relink,
                                                            progress=_progress(args.quiet)))
    written = result.write(config.output_dir)
    truth = _read_truth(args.truth)
    _write_report(args, result, written, config.output_dir, truth)
    _print_changes(args.store, result, written, time.perf_counter() - t0, "Updated")
    if truth is not None:
        print(_accuracy(result, truth))
    return 0


def _cmd_withdraw(args: argparse.Namespace) -> int:
    from .config import LinkConfig
    from .run import Linker
    from .store import RegistryStore

    ids = None
    if args.record_ids:
        p = Path(args.record_ids)
        ids = (p.read_text(encoding="utf-8").split() if p.exists() else args.record_ids.split(","))
    if args.engine == "spark":
        return _withdraw_on_spark(args, ids)
    if not RegistryStore(args.store).exists():
        raise ConfigError(f"registry store {args.store!r} does not exist or holds no registry")
    t0 = time.perf_counter()
    snap_cfg = RegistryStore(args.store).latest_config() or {}
    config = LinkConfig.from_dict(snap_cfg).replace(memory_check=not args.no_memory_check)
    result = _kept(Linker(config, tune_process=True).withdraw(args.store, source=args.source, record_ids=ids))
    written = result.write(args.out or config.output_dir) if args.out else {}
    _print_changes(args.store, result, written, time.perf_counter() - t0, "Withdrew from")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .run import export

    written = export(args.store, args.out, formats=tuple(args.format.split(",")))
    print(f"Outputs of {args.store} written to {args.out}:")
    for path in written.values():
        print(f"  {path}")
    return 0


def _cmd_review(args: argparse.Namespace) -> int:
    from .review import export_review, review_queue
    from .store import RegistryStore

    store = RegistryStore(args.store)
    if args.action == "export":
        if not store.exists():
            raise ConfigError(f"registry store {args.store!r} does not exist or holds no registry; make one with "
                              f"'regsosek-link run CONFIG --store {args.store}'")
        if not args.file:
            raise ConfigError("review export needs --file OUT.csv or OUT.xlsx")
        queue = review_queue(store.links(), store.records(), low=args.low, high=args.high)
        path = export_review(queue, args.file)
        print(f"{len(queue):,} pairs with match probability in [{args.low}, {args.high}) written to {path}; "
              "fill the 'decision' column (match / not a match) and import it")
    else:
        if not args.file:
            raise ConfigError("review import needs --file DECISIONS.csv or .xlsx")
        n = store.add_decisions(args.file)
        print(f"{n:,} decisions stored in {args.store}; the next run or update honours them")
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from .datasets import make_sources

    t0 = time.perf_counter()
    syn = make_sources(n_people=args.people, random_state=args.seed, noise=args.noise)
    paths = syn.write(args.out, format=args.format)
    print(f"generated {args.people:,} people in {time.perf_counter() - t0:.2f} s")
    for name, path in paths.items():
        print(f"  {name}: {path}")
    return 0


def _format_list(value: str) -> list[str]:
    """--format's value: one format or a comma list (checked against the config later)."""
    return [f.strip() for f in value.split(",") if f.strip()]


def _add_output_options(parser: argparse.ArgumentParser, *, report: bool | str) -> None:
    parser.add_argument(
        "--format", action="extend", type=_format_list, metavar="FORMAT",
        help="output format(s), repeatable or a comma list: parquet, csv (default: the config's "
        "output_formats, parquet unless it says otherwise)")
    parser.add_argument(
        "--report", action=argparse.BooleanOptionalAction, default=report,
        help="write report.html beside the outputs (needs the 'report' extra; default: "
        + ("yes if matplotlib is installed" if report == _AUTO else "yes" if report else "no")
        + "; at a million records the report takes about 40%% of the pipeline's own time)")
    parser.add_argument(
        "--explore", action=argparse.BooleanOptionalAction, default=None,
        help="also write explore.html, the analysts' interactive page: search a person or "
        "record, its records side by side, links with per-comparison weights, the cluster graph "
        "(default: the config's report_explorer, off). It holds records (names, NIKs) of up to "
        "report_explorer_persons persons: personal data, listed in the processing record")


def _add_reporting_options(parser: argparse.ArgumentParser) -> None:
    """The options that say what a linking command reports: run's and update's."""
    parser.add_argument("--truth", help="CSV/Parquet with source, record_id, person_id: print accuracy "
                        "against it (and put it in the report)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_output_options(parser, report=False)


def _version() -> str:
    from . import __version__

    return f"regsosek-link {__version__}"


def _add_memory_check(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-memory-check", action="store_true",
                        help="run even when the estimated peak memory (about 3 KB a record) exceeds the memory "
                             "available; by default such a run is refused before it starts (config memory_check)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="regsosek-link", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=_version())
    p.add_argument("-v", "--verbose", action="store_true", help="log each stage")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="generate synthetic sources, link them, print accuracy")
    d.add_argument("--people", type=int, default=20_000, help="synthetic population size (default 20000)")
    d.add_argument("--seed", type=int, default=0, help="random seed of the synthetic data and the model (default 0)")
    d.add_argument("--out", default="demo_output", help="output folder (default demo_output)")
    d.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_output_options(d, report=_AUTO)
    d.set_defaults(fn=_cmd_demo)

    r = sub.add_parser("run", help="link the sources of a config file (YAML, TOML or JSON)")
    r.add_argument("config", help="the run's config file (.yaml, .toml or .json)")
    r.add_argument("--out", help="override output_dir")
    _add_reporting_options(r)
    r.add_argument("--store", help="DuckDB registry file (with --engine spark: a directory of Parquet tables): "
                                   "keep person IDs stable against it and save the run there")
    r.add_argument("--relink", action="store_true",
                   help="with --store: link everything anew with this config although its settings differ "
                        "from the stored ones (person IDs kept stable)")
    r.add_argument("--replace", action="store_true",
                   help="with --store: stored records this run does not read leave the registry")
    r.add_argument("--engine", choices=("embedded", "spark"), default="embedded",
                   help="where the stages run: this process (default) or Spark (pip install "
                        "'regsosek-link[spark]'; master and settings from $REGSOSEK_SPARK_MASTER and "
                        "$REGSOSEK_SPARK_CONF); writes partitioned Parquet")
    _add_spark_tables(r)
    _add_memory_check(r)
    r.set_defaults(fn=_cmd_run)

    u = sub.add_parser("update", help="link a new batch (the config's sources) against a stored registry")
    u.add_argument("config", help="config file naming the new batch's sources (stored settings apply)")
    u.add_argument("--store", required=True,
                   help="DuckDB registry file written by 'run --store' (with --engine spark: its Parquet directory)")
    u.add_argument("--out", help="override output_dir")
    u.add_argument("--retrain", action="store_true", help="train the model on the new pairs instead of reusing it")
    u.add_argument("--relink", action="store_true",
                   help="link the stored records and the batch anew with this config (person IDs kept stable)")
    _add_reporting_options(u)
    _add_memory_check(u)
    u.add_argument("--engine", choices=("embedded", "spark"), default="embedded",
                   help="where the stages run: this process (default) or Spark, with --store a directory "
                        "written by 'run --engine spark --store'")
    _add_spark_tables(u)
    u.set_defaults(fn=_cmd_update)

    w = sub.add_parser("withdraw", help="remove a source's records (all, or some record ids) from a stored registry")
    w.add_argument("--store", required=True,
                   help="DuckDB registry file (with --engine spark: its Parquet directory)")
    w.add_argument("--source", required=True, help="the source whose records are withdrawn")
    w.add_argument("--record-ids", help="a file of record ids (one a line) or a comma list; default: all")
    w.add_argument("--out", help="also write the outputs to this folder")
    _add_memory_check(w)
    w.add_argument("--engine", choices=("embedded", "spark"), default="embedded",
                   help="where the stages run: this process (default) or Spark, with --store a directory "
                        "written by 'run --engine spark --store'")
    w.set_defaults(fn=_cmd_withdraw)

    e = sub.add_parser("export", help="write a stored registry's output files again")
    e.add_argument("--store", required=True, help="DuckDB registry file")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--format", default="parquet", help="parquet, csv or parquet,csv (default parquet)")
    e.set_defaults(fn=_cmd_export)

    v = sub.add_parser("review", help="export near-threshold pairs for clerical review, or import decisions")
    v.add_argument("action", choices=("export", "import"),
                   help="export: write the review file; import: store the decisions filled in it")
    v.add_argument("--store", required=True, help="DuckDB registry file")
    v.add_argument("--file", help="CSV/XLSX to write (export) or read (import)")
    v.add_argument("--low", type=float, default=0.2, help="lowest match probability exported (default 0.2)")
    v.add_argument("--high", type=float, default=0.9, help="exported pairs are below this (default 0.9)")
    v.set_defaults(fn=_cmd_review)

    g = sub.add_parser("generate", help="write synthetic sources and their truth to a folder")
    g.add_argument("--people", type=int, default=20_000, help="synthetic population size (default 20000)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--noise", choices=("low", "typical", "harsh"), default="typical",
                   help="error rates of the sources: half, as documented, or double (default typical)")
    g.add_argument("--out", default="synthetic", help="output folder (default synthetic)")
    g.add_argument("--format", choices=("csv", "parquet"), default="csv",
                   help="file format of the sources and the truth (default csv)")
    g.set_defaults(fn=_cmd_generate)

    from .privacy.cli import (
        add_commands,  # (encode, link-encoded: argparse only, no data libraries)
    )

    add_commands(sub)
    return p


#: Failures of the input or the environment, not of the program: one line, exit code 2.
_USER_ERRORS: tuple[type[BaseException], ...] = (
    RegsosekLinkError,  # ConfigError, ModelError, StoreError
    UnicodeDecodeError,  # a file in another encoding than the config says
    OSError,  # missing, unreadable or locked files (FileNotFoundError, PermissionError,
    # IsADirectoryError), a full disk, DuckDB's lock on a store held by another process
)


def _is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, _USER_ERRORS):
        return True
    # DuckDB's IOException (a store locked by another process, or not a DuckDB file) is not
    # an OSError; duckdb is imported only if a store was opened.
    duckdb = sys.modules.get("duckdb")
    return duckdb is not None and isinstance(exc, duckdb.IOException)


def _one_line(exc: BaseException) -> str:
    """The message of a user or environment error, as said to the user."""
    if isinstance(exc, ConfigError):
        if len(exc.problems) < 2:
            return f"configuration problem: {exc}"
        listed = " ".join(f"({i}) {p}" for i, p in enumerate(exc.problems, 1))
        return f"configuration problem: {len(exc.problems)} problems: {listed}"
    if isinstance(exc, UnicodeDecodeError):
        return (f"cannot decode a file as {exc.encoding} (byte {exc.start}: {exc.reason}); set the source's "
                "'encoding' in the config (e.g. latin-1)")
    if isinstance(exc, OSError) and exc.filename is not None:
        what = f"{exc.strerror or type(exc).__name__}: {exc.filename!r}"
        if exc.filename2 is not None:
            what += f" -> {exc.filename2!r}"
        return what
    text = " ".join(str(exc).split())  # DuckDB's messages span several lines
    return text if isinstance(exc, RegsosekLinkError) else f"{type(exc).__name__}: {text}"


#: The results of the commands run by :func:`console_main`, kept until the process ends.
_KEPT: list[Any] | None = None
_T = TypeVar("_T")


def _kept(result: _T) -> _T:
    """``result``, kept alive until the process ends when :func:`console_main` runs the
    command (a run's tables are millions of Python objects: freeing them one by one when the
    command returns takes 0.4 s at a million records, for nothing)."""
    if _KEPT is not None:
        _KEPT.append(result)
    return result


def console_main() -> None:
    """The ``regsosek-link`` command: :func:`main`, then the process ends without freeing
    the run's objects (see :func:`_kept`), as mypy's ``hard_exit`` does. Every output is
    written and closed, and every store committed and closed, before :func:`main` returns;
    standard output, standard error and the log are flushed here. An error :func:`main`
    does not handle ends the process the usual way (its traceback printed)."""
    global _KEPT
    _KEPT = []
    code = main()
    if "pyspark" in sys.modules:  # (its gateway process is stopped at the normal exit)
        sys.exit(code)
    logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # (a reader gone, e.g. a closed pipe: nothing more can be said)
        pass
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return int(args.fn(args))
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        # (one line: the lines of a message, e.g. a value with a line break in it, joined)
        line = " ".join(part.strip() for part in _one_line(exc).splitlines() if part.strip())
        print(f"regsosek-link: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("regsosek-link: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    console_main()
