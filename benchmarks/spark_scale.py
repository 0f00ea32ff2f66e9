"""The Spark engine at scale, beside the embedded engine and Splink on Spark (issue 16).

    python benchmarks/spark_scale.py --people 37000,111000 [--engines embedded,spark,splink]
        [--master local[2]] [--driver-memory 6g] [--timeout-min 40] [--tag NAME]

Same generated data for every engine (``make_sources(n_people=N, random_state=0)``, cached as
Parquet in ``benchmarks/.cache/``; about 2.7 records a person). Each (size, engine) runs in its
own child process; a watchdog samples the child's process tree with psutil every 0.5 s: the
driver (the Python process), the JVM (``java``) and Spark's Python workers, each one's peak
and the tree's peak total. Timed per engine: from the sources (Parquet files for the Spark
engine, which reads them itself; pandas DataFrames for the embedded engine and Splink) to a
membership, plus the Spark session's start, which is reported apart. F1 is pairwise, on the
membership, against the generator's truth (:func:`regsosek_link.evaluate.pairwise_scores`).

- ``embedded``: ``Linker(config, tune_process=True).run(sources)`` (as the CLI runs).
- ``spark``: ``Linker(config, engine=SparkEngine(spark)).run({source: parquet path})``, then
  the membership written as Parquet (the run is lazy only in its last step; the write makes
  every table's rows).
- ``splink``: Splink 5's Spark backend (``splink.SparkAPI``) with the settings of
  ``_tools.py`` (the generic cleaning in DuckDB, untimed apart, the records then handed to
  Spark): u by random sampling, two EM sessions, predict, connected components at 0.9.

Results: ``results/spark_scale[_TAG].json`` (every run) and ``.md`` (the table, with the
time per million candidate pairs per core and the stage timings).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data

RESULTS = HERE / "results"
ENGINES = ("embedded", "spark", "splink")


# ----------------------------------------------------------------------------------------
# the child: one engine on one size


def _session(args: argparse.Namespace):
    from regsosek_link.engine import spark_session

    local = Path(tempfile.mkdtemp(prefix="spark_scale_"))
    conf = {"spark.driver.memory": args.driver_memory, "spark.ui.enabled": "false",
            "spark.local.dir": str(local), "spark.sql.shuffle.partitions": str(args.shuffle_partitions),
            "spark.default.parallelism": str(args.shuffle_partitions)}
    if args.engine == "splink":
        from splink.backends.spark import similarity_jar_location

        conf["spark.jars"] = similarity_jar_location()
    args.local_dir = local  # (removed when the child ends: shuffle files and checkpoints)
    spark = spark_session(args.master, conf)
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(local / "checkpoints"))
    return spark


def _config(ds):
    from _tools import regsosek_config

    return regsosek_config(ds)


def run_embedded(ds, args) -> dict:
    from regsosek_link import Linker

    t0 = time.perf_counter()
    result = Linker(_config(ds), tune_process=True).run(ds.sources)
    wall = time.perf_counter() - t0
    if args.keep:
        folder = Path(args.keep, f"embedded_{ds.n_people}")
        folder.mkdir(parents=True, exist_ok=True)
        result.membership.to_parquet(folder / "membership.parquet")
        result.links.to_parquet(folder / "links.parquet")
    return {"wall_s": wall, "membership": result.membership[["source", "record_id", "person_id"]],
            "candidate_pairs": len(result.pairs), "stages": result.timings}


def run_spark(ds, args) -> dict:
    from regsosek_link import Linker
    from regsosek_link.engine import SparkEngine

    t0 = time.perf_counter()
    spark = _session(args)
    spark.range(1).count()  # (the JVM up)
    session_s = time.perf_counter() - t0
    folder = _data.CACHE / _data.dataset_key("synthetic", ds.n_people)
    paths = {name: str(folder / f"src_{name}.parquet") for name in ds.sources}
    out = Path(tempfile.mkdtemp(prefix="spark_scale_out_"))
    from regsosek_link.run._memory import peak_rss_mb

    before_mb = peak_rss_mb()
    t0 = time.perf_counter()
    result = Linker(_config(ds), engine=SparkEngine(spark, buckets=args.buckets or None)).run(paths)
    run_s = time.perf_counter() - t0
    result.membership.write.mode("overwrite").parquet(str(out / "membership"))
    wall = time.perf_counter() - t0
    after_mb = peak_rss_mb()
    if args.keep:  # (untimed: the membership and links for a comparison with the embedded engine's)
        folder = Path(args.keep, f"spark_{ds.n_people}")
        result.membership.write.mode("overwrite").parquet(str(folder / "membership"))
        result.links.write.mode("overwrite").parquet(str(folder / "links"))
    spark.stop()  # (the JVM gone before the parent scores the membership)
    # the membership is scored by the parent from the Parquet files: the records never
    # come to this driver, whose memory is the engine's alone
    return {"wall_s": wall, "session_s": session_s, "run_s": run_s, "membership_path": str(out / "membership"),
            "candidate_pairs": result.n_pairs, "stages": dict(result.timings),
            # the driver's RSS high-water mark before the run and after each stage
            "driver_before_run_mb": round(before_mb), "driver_after_write_mb": round(after_mb),
            "stage_peaks_mb": {k: round(v) for k, v in result.peak_memory_mb.items()}}


def run_splink(ds, args) -> dict:
    import _tools
    import duckdb
    import numpy as np
    import pandas as pd
    from splink import Linker, SparkAPI, block_on

    t0 = time.perf_counter()
    spark = _session(args)
    spark.range(1).count()
    session_s = time.perf_counter() - t0
    watch = _tools.Stopwatch()

    def sw(name, fn):  # (each step printed to the child's log: a stopped run shows how far it got)
        print(f"{datetime.now(UTC):%H:%M:%S} splink: {name} ...", flush=True)
        out = watch(name, fn)
        print(f"{datetime.now(UTC):%H:%M:%S} splink: {name} done in {watch.stages[name]:.1f} s", flush=True)
        return out

    t0 = time.perf_counter()
    con = duckdb.connect()
    order, table = sw("clean (DuckDB)", lambda: _tools.peer_table(ds, con))
    records = sw("to Spark", lambda: spark.createDataFrame(con.execute(f"SELECT * FROM {table}").df()))
    db_api = SparkAPI(spark_session=spark, break_lineage_method="parquet")
    linker = Linker(db_api.register(records, dataset_display_name="records"), _tools._splink_settings(ds),
                    log_level="INFO")

    def train() -> None:
        t = linker.training
        t.estimate_probability_two_random_records_match(
            ["l.nik = r.nik AND l.nama_first = r.nama_first",
             "l.nama = r.nama AND l.tanggal_lahir = r.tanggal_lahir"], recall=0.8)
        t.estimate_u_using_random_sampling(max_pairs=_tools.SPLINK_U_MAX_PAIRS, seed=0)
        for rule in (block_on("tanggal_lahir"), block_on("nama", "kabupaten")):
            t.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True, max_pairs=_tools.SPLINK_EM_MAX_PAIRS)

    sw("train", train)
    preds = sw("predict", lambda: linker.inference.predict())
    clusters = sw("cluster", lambda: linker.clustering.cluster_pairwise_predictions_at_threshold(
        preds, threshold_match_probability=ds.threshold))
    cdf = sw("collect", lambda: clusters.as_spark_dataframe().select("unique_id", "cluster_id").toPandas())
    wall = time.perf_counter() - t0
    n_pairs = int(preds.as_spark_dataframe().count())  # (untimed: every scored pair)
    lab = pd.Series(pd.factorize(cdf["cluster_id"])[0], index=cdf["unique_id"].to_numpy())
    labels = lab.reindex(np.arange(len(order))).to_numpy()
    missing = np.isnan(labels.astype(float))
    if missing.any():
        labels = labels.astype(float)
        labels[missing] = np.nanmax(labels) + 1 + np.arange(missing.sum())
    membership = pd.DataFrame({"source": order["source"].to_numpy(), "record_id": order["record_id"].to_numpy(),
                               "person_id": labels.astype(np.int64)})
    return {"wall_s": wall, "session_s": session_s, "membership": membership, "candidate_pairs": n_pairs,
            "stages": watch.stages}


def child(args: argparse.Namespace) -> int:
    from regsosek_link.evaluate import pairwise_scores

    # (the Spark engine reads the sources' Parquet files itself: its driver loads none)
    ds = _data.load("synthetic", args.people, frames=args.engine != "spark")
    n_records = _data.meta("synthetic", args.people)["n_records"]
    out: dict = {"engine": args.engine, "n_people": ds.n_people, "n_records": n_records, "master": args.master,
                 "driver_memory": args.driver_memory,
                 # which regsosek_link ran: a snapshot named by its commit (PYTHONPATH), or the tree
                 "src_rev": os.environ.get("SPARK_SCALE_SRC_REV", "working tree")}
    try:
        res = {"embedded": run_embedded, "spark": run_spark, "splink": run_splink}[args.engine](ds, args)
        if "membership" in res:
            scores = pairwise_scores(res.pop("membership"), ds.truth)
            out.update({"precision": scores.precision, "recall": scores.recall, "f1": scores.f1})
        out.update({k: v for k, v in res.items()})
        out["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 (recorded: one failing engine must not stop the others)
        out.update({"status": f"error: {type(exc).__name__}: {str(exc)[:300]}", "error": traceback.format_exc()})
    finally:
        if getattr(args, "local_dir", None):
            import shutil

            shutil.rmtree(args.local_dir, ignore_errors=True)
    Path(args.json).write_text(json.dumps(out, indent=2, default=float))
    return 0 if out["status"] == "ok" else 1


# ----------------------------------------------------------------------------------------
# the parent: data, children, watchdog, table


def _sample(proc: psutil.Process) -> dict[str, int]:
    """RSS (bytes) of the driver, the JVM and the other processes (Spark's Python workers)."""
    out = {"driver": 0, "jvm": 0, "workers": 0}
    try:
        out["driver"] = proc.memory_info().rss
        kids = proc.children(recursive=True)
    except psutil.Error:
        return out
    for p in kids:
        try:
            rss = p.memory_info().rss
            name = p.name()
        except psutil.Error:
            continue
        out["jvm" if name == "java" else "workers"] += rss
    return out


def run_child(engine: str, people: int, args: argparse.Namespace, log_dir: Path) -> dict:
    json_path = log_dir / f"{engine}_{people}.json"
    json_path.unlink(missing_ok=True)  # (a killed child writes none: an earlier run's must not stand in)
    cmd = [sys.executable, __file__, "--child", engine, "--people", str(people), "--json", str(json_path),
           "--master", args.master, "--driver-memory", args.driver_memory, "--buckets", str(args.buckets),
           "--shuffle-partitions", str(args.shuffle_partitions)] + (["--keep", args.keep] if args.keep else [])
    with open(log_dir / f"{engine}_{people}.log", "w") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        ps = psutil.Process(proc.pid)
        peaks = {"driver": 0, "jvm": 0, "workers": 0, "total": 0}
        cpu = 0.0
        status = None
        while proc.poll() is None:
            s = _sample(ps)
            for k, v in s.items():
                peaks[k] = max(peaks[k], v)
            peaks["total"] = max(peaks["total"], sum(s.values()))
            try:
                cpu = max(cpu, sum(sum(p.cpu_times()[:4]) for p in [ps, *ps.children(recursive=True)]))
            except psutil.Error:
                pass
            if time.perf_counter() - t0 > args.timeout_min * 60:
                status = "timeout"
            elif psutil.virtual_memory().available < args.min_free_gb * 2**30:
                status = f"stopped: less than {args.min_free_gb} GB free on the machine"
            if status:
                os.killpg(proc.pid, 9)
                break
            time.sleep(0.5)
        proc.wait()
    out = json.loads(json_path.read_text()) if json_path.exists() else {"engine": engine, "n_people": people}
    if status or "status" not in out:
        out["status"] = status or f"crashed (exit {proc.returncode}); see {log_dir.name}/{engine}_{people}.log"
    out.update({f"peak_{k}_mb": round(v / 2**20) for k, v in peaks.items()})
    out["tree_cpu_s"] = round(cpu, 1)
    out["process_s"] = round(time.perf_counter() - t0, 1)
    if out.get("membership_path"):  # (scored here, the child gone: not charged to the engine)
        import shutil

        import pandas as pd

        from regsosek_link.evaluate import pairwise_scores

        if out["status"] == "ok":
            membership = pd.read_parquet(out["membership_path"], columns=["source", "record_id", "person_id"])
            scores = pairwise_scores(membership, _data.truth("synthetic", people))
            out.update({"precision": scores.precision, "recall": scores.recall, "f1": scores.f1})
            del membership
        shutil.rmtree(Path(out.pop("membership_path")).parent, ignore_errors=True)
    out["load_at_start"] = os.getloadavg()[0]
    return out


def table(rows: list[dict], cores: int) -> str:
    head = ("| records | engine | status | wall s | session s | pairs | s per M pairs per core | driver MB | "
            "JVM MB | py workers MB | total MB | precision | recall | F1 |")
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        ok = r.get("status") == "ok"
        pairs = r.get("candidate_pairs")
        # the core-seconds of the timed run per million candidate pairs: an embedded run uses
        # every core as well (threads), so both are charged all the cores
        per = (f"{r['wall_s'] * cores / (pairs / 1e6):.1f}" if ok and pairs else "")

        def f(k: str, fmt: str = "{:,.1f}", r: dict = r) -> str:
            v = r.get(k)
            return fmt.format(v) if isinstance(v, (int, float)) else ""

        lines.append(f"| {r.get('n_records', 0):,} | {r['engine']} | {r.get('status', '')[:60]} | {f('wall_s')} | "
                     f"{f('session_s')} | {f('candidate_pairs', '{:,}')} | {per} | {f('peak_driver_mb', '{:,}')} | "
                     f"{f('peak_jvm_mb', '{:,}')} | {f('peak_workers_mb', '{:,}')} | {f('peak_total_mb', '{:,}')} | "
                     f"{f('precision', '{:.4f}')} | {f('recall', '{:.4f}')} | {f('f1', '{:.4f}')} |")
    return "\n".join(lines)


def stages_table(rows: list[dict]) -> str:
    lines = []
    for r in rows:
        if r.get("stages"):
            parts = ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items())
            lines.append(f"- {r.get('n_records', 0):,} records, {r['engine']}: {parts}")
    return "\n".join(lines)


def write_config(people: int, path: str) -> int:
    """The benchmark's config for ``people`` with each source read from its cached Parquet
    file (made if missing), as JSON for ``regsosek-link run`` (e.g. to see the embedded
    engine's memory check refuse a size)."""
    import dataclasses

    folder = _data.prepare("synthetic", people)
    cfg = _config(_data.load("synthetic", people, frames=False))
    cfg = cfg.replace(sources=tuple(dataclasses.replace(s, path=str(folder / f"src_{s.name}.parquet"))
                                    for s in cfg.sources),
                      output_dir=str(Path(tempfile.gettempdir(), f"spark_scale_cli_{people}")))
    Path(path).write_text(json.dumps(cfg.to_dict(), indent=1, ensure_ascii=False))
    print(path)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", default="37000", help="synthetic people, comma separated (2.7 records each)")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--driver-memory", default="6g",
                    help="spark.driver.memory (local mode: the one JVM's heap; Spark spills beyond it)")
    ap.add_argument("--shuffle-partitions", type=int, default=8)
    ap.add_argument("--buckets", type=int, default=0, help="the Spark engine's buckets (0: its default)")
    ap.add_argument("--timeout-min", type=float, default=40)
    ap.add_argument("--min-free-gb", type=float, default=2.0,
                    help="kill a run when the machine has less free memory than this")
    ap.add_argument("--tag", default="")
    ap.add_argument("--keep", help="also write the embedded and Spark engines' membership and links under this folder")
    ap.add_argument("--write-config", metavar="FILE",
                    help="write the run's config (each source's Parquet path) as JSON for the command line "
                         "(regsosek-link run FILE) and stop; one size")
    ap.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    ap.add_argument("--json", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.engine, args.people = args.child, int(args.people)
        return child(args)

    sizes = [int(s) for s in args.people.split(",")]
    if args.write_config:
        return write_config(sizes[0], args.write_config)
    engines = [e for e in args.engines.split(",") if e]
    name = f"spark_scale{'_' + args.tag if args.tag else ''}"
    log_dir = RESULTS / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    json_path = RESULTS / f"{name}.json"
    rows: list[dict] = json.loads(json_path.read_text())["rows"] if json_path.exists() else []
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    command = "python benchmarks/spark_scale.py " + " ".join(sys.argv[1:])
    for people in sizes:
        t0 = time.perf_counter()
        prepare = f"import sys; sys.path.insert(0, {str(HERE)!r}); import _data; _data.prepare('synthetic', {people})"
        subprocess.run([sys.executable, "-c", prepare], check=True)
        print(f"data for {people:,} people ready ({time.perf_counter() - t0:.0f} s)", flush=True)
        for engine in engines:
            row = run_child(engine, people, args, log_dir)
            row["command"] = command
            rows = [r for r in rows if not (r.get("engine") == engine and r.get("n_people") == people)] + [row]
            rows.sort(key=lambda r: (r.get("n_people", 0), ENGINES.index(r["engine"])))
            print(json.dumps({k: v for k, v in row.items() if k not in ("error", "stages")}, default=float), flush=True)
            meta = {"machine": {"cpu_cores": cores, "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
                                "os": platform.platform(), "python": platform.python_version()},
                    "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "rows": rows}
            json_path.write_text(json.dumps(meta, indent=2, default=float))
            (RESULTS / f"{name}_table.md").write_text(
                f"{table(rows, cores)}\n\nStage seconds:\n\n{stages_table(rows)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
