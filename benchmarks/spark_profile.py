"""Where a Spark-engine run's time goes: Spark jobs, stages and tasks per pipeline stage.

    python benchmarks/spark_profile.py --people 10000 [--shuffle-partitions 8] [--buckets 8]
        [--driver-memory 4g] [--top 15]

One run of ``Linker(config, engine=SparkEngine(spark)).run({source: parquet path})`` in
``local[2]`` on the generator's data (``_data``, as ``spark_scale.py``) with Spark's event log
on. Each pipeline stage sets the jobs' description (the run's progress callback), so every
Spark job is charged to the stage that started it. Printed per stage: wall seconds, Spark
jobs, Spark stages and tasks, the seconds jobs were running (submission to completion; the
rest of the stage's wall time is the driver's own work), the executors' run and CPU seconds,
and the shuffle written; then the longest jobs with their call sites.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data


def _events(folder: Path) -> list[dict]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")
                   and not p.name.startswith("appstatus"))
    return [json.loads(line) for p in files for line in p.read_text().splitlines() if line.strip()]


def summarise(events: list[dict], timings: dict[str, float], top: int) -> str:
    jobs: dict[int, dict] = {}
    stage_job: dict[int, int] = {}
    for e in events:
        kind = e["Event"]
        if kind == "SparkListenerJobStart":
            props = e.get("Properties", {})
            desc = props.get("spark.job.description") or "(none)"
            jobs[e["Job ID"]] = {"desc": desc, "start": e["Submission Time"], "end": None, "stages": 0, "tasks": 0,
                                 "run_ms": 0, "cpu_ns": 0, "shuffle_w": 0,
                                 "site": (e.get("Stage Infos") or [{}])[-1].get("Stage Name", "")}
            for s in e["Stage IDs"]:
                stage_job[s] = e["Job ID"]
        elif kind == "SparkListenerJobEnd":
            jobs[e["Job ID"]]["end"] = e["Completion Time"]
        elif kind == "SparkListenerStageCompleted":
            j = stage_job.get(e["Stage Info"]["Stage ID"])
            if j is not None:
                jobs[j]["stages"] += 1
        elif kind == "SparkListenerTaskEnd":
            j = stage_job.get(e["Stage ID"])
            m = e.get("Task Metrics") or {}
            if j is None:
                continue
            jobs[j]["tasks"] += 1
            jobs[j]["run_ms"] += m.get("Executor Run Time", 0)
            jobs[j]["cpu_ns"] += m.get("Executor CPU Time", 0)
            jobs[j]["shuffle_w"] += (m.get("Shuffle Write Metrics") or {}).get("Shuffle Bytes Written", 0)
    per: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    for j in jobs.values():
        p = per[j["desc"]]
        p["jobs"] += 1
        p["stages"] += j["stages"]
        p["tasks"] += j["tasks"]
        p["job_s"] += ((j["end"] or j["start"]) - j["start"]) / 1e3
        p["run_s"] += j["run_ms"] / 1e3
        p["cpu_s"] += j["cpu_ns"] / 1e9
        p["shuffle_mb"] += j["shuffle_w"] / 2**20
    lines = ["| stage | wall s | jobs | Spark stages | tasks | job s | executor run s | executor CPU s | shuffle MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in [*timings, *[k for k in per if k not in timings]]:
        p = per.get(name, {})
        lines.append(f"| {name} | {timings.get(name, float('nan')):.1f} | {p.get('jobs', 0):.0f} | "
                     f"{p.get('stages', 0):.0f} | {p.get('tasks', 0):.0f} | {p.get('job_s', 0):.1f} | "
                     f"{p.get('run_s', 0):.1f} | {p.get('cpu_s', 0):.1f} | {p.get('shuffle_mb', 0):.1f} |")
    tot = {k: sum(p[k] for p in per.values()) for k in ("jobs", "stages", "tasks", "job_s", "run_s", "cpu_s")}
    lines.append(f"| total | {sum(timings.values()):.1f} | {tot['jobs']:.0f} | {tot['stages']:.0f} | "
                 f"{tot['tasks']:.0f} | {tot['job_s']:.1f} | {tot['run_s']:.1f} | {tot['cpu_s']:.1f} | |")
    lines += ["", f"Longest {top} jobs:", ""]
    for jid, j in sorted(jobs.items(), key=lambda kv: -((kv[1]["end"] or 0) - kv[1]["start"]))[:top]:
        lines.append(f"- job {jid} [{j['desc']}] {((j['end'] or j['start']) - j['start']) / 1e3:.1f} s, "
                     f"{j['stages']} stages, {j['tasks']} tasks, run {j['run_ms'] / 1e3:.1f} s: {j['site']}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=10000)
    ap.add_argument("--shuffle-partitions", type=int, default=8)
    ap.add_argument("--buckets", type=int, default=8)
    ap.add_argument("--driver-memory", default="4g")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--events", help="summarise this (uncompressed) event log folder instead of running")
    args = ap.parse_args()
    if args.events:
        print(summarise(_events(Path(args.events)), {}, args.top))
        return 0

    from _tools import regsosek_config

    from regsosek_link import Linker
    from regsosek_link.engine import SparkEngine, spark_session

    _data.prepare("synthetic", args.people)
    ds = _data.load("synthetic", args.people)
    local = Path(tempfile.mkdtemp(prefix="spark_profile_"))
    (local / "events").mkdir()
    spark = spark_session(args.master, {
        "spark.driver.memory": args.driver_memory, "spark.ui.enabled": "false", "spark.local.dir": str(local),
        "spark.sql.shuffle.partitions": str(args.shuffle_partitions),
        "spark.default.parallelism": str(args.shuffle_partitions),
        "spark.eventLog.enabled": "true", "spark.eventLog.dir": str(local / "events"),
        "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false"})
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(str(local / "checkpoints"))
    spark.range(1).count()
    folder = _data.CACHE / _data.dataset_key("synthetic", ds.n_people)
    paths = {name: str(folder / f"src_{name}.parquet") for name in ds.sources}

    def progress(name: str, frac: float) -> None:
        if frac == 0.0:
            spark.sparkContext.setJobDescription(name)

    t0 = time.perf_counter()
    result = Linker(regsosek_config(ds), engine=SparkEngine(spark, buckets=args.buckets)).run(
        paths, progress=progress)
    spark.sparkContext.setJobDescription("write")
    t1 = time.perf_counter()
    result.membership.write.mode("overwrite").parquet(str(local / "membership"))
    timings = {**result.timings, "write": time.perf_counter() - t1}
    wall = time.perf_counter() - t0
    spark.stop()  # (flushes the event log)
    print(f"{ds.n_records:,} records, {result.n_pairs:,} pairs, wall {wall:.1f} s "
          f"(shuffle partitions {args.shuffle_partitions}, buckets {args.buckets})\n")
    print(summarise(_events(local / "events"), timings, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
