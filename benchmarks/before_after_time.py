"""regsosek_link's time on one data set at two commits, side by side in one run.

    python benchmarks/before_after_time.py --before e53b9ea --after HEAD --size 370000 --repeat 3

Each commit's committed ``src/`` is exported with ``git archive`` (``run.export_src``) and
run by the benchmark worker (``_worker.py``, a fresh process per run, ``run.run_one``), the
two commits taking turns (before, after, before, after, ...) so that the machine's drift
and the other jobs on it fall on both alike. Per commit the table gives every run's wall
time, CPU time and peak memory, and the median; the ratio is after / before of the medians
and of each turn. ``370000`` people are the 1,004,010-record data set of ``run.py``.
Writes ``results/before_after_time.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import run as R  # benchmarks/run.py

HERE = Path(__file__).parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", default="HEAD")
    ap.add_argument("--size", type=int, default=370_000, help="synthetic people (370000 = 1.0 M records)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "before_after_time.md"))
    args = ap.parse_args()
    subprocess.run([sys.executable, "-c", (f"import sys; sys.path.insert(0, {str(HERE)!r}); import _data; "
                    f"_data.prepare('synthetic', {args.size!r}, seed={args.seed})")], check=True)
    meta = R._data.meta("synthetic", args.size)
    revs = {name: R.export_src(rev) for name, rev in (("before", args.before), ("after", args.after))}
    log_dir = HERE / "results" / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    base_path = R.CHILD_ENV.get("PYTHONPATH")
    for turn in range(args.repeat):
        for name, (src, sha) in revs.items():
            R.CHILD_ENV["PYTHONPATH"] = str(src) + ((":" + base_path) if base_path else "")
            print(f"[{time.strftime('%H:%M:%S')}] turn {turn + 1}: {name} ({sha}) ...", flush=True)
            row = R.run_one("regsosek", "synthetic", args.size, timeout_s=1800,
                            mem_limit=10 * 2**30, log_dir=log_dir)
            print("  " + ", ".join(f"{k}={row.get(k)}" for k in ("status", "wall_s", "run_cpu_s", "cpu_s",
                                                                 "peak_rss_mb", "precision", "recall", "stages")),
                  flush=True)
            runs[name].append(row)
    lines = [
        "# regsosek_link's time before and after, side by side",
        (f"Command: `python benchmarks/before_after_time.py --before {args.before} --after {args.after} "
        f"--size {args.size} --repeat {args.repeat}`; data: synthetic {args.size:,} people = "
        f"{meta['n_records']:,} records, seed {args.seed}. Machine: {R.machine()}; "
        f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Other jobs shared the machine."),
        "",
        ("wall s: the timed run (raw sources in memory to the registry); run cpu s: that run's own CPU "
        "(user + system, all threads), less sensitive to the other jobs; process cpu s: the whole worker "
        "process (imports, loading, the evaluation after the timer)."),
        "",
        "| commit | turn | wall s | run cpu s | process cpu s | peak MB | precision | recall | F1 | stages (wall s) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for turn in range(args.repeat):
        for name, (_, sha) in revs.items():
            r = runs[name][turn]
            stages = ", ".join(f"{k} {v:.1f}" for k, v in (r.get("stages") or {}).items())
            lines.append(f"| {name} ({sha}) | {turn + 1} | {r.get('wall_s', 0):.1f} | {r.get('run_cpu_s', 0):.1f} | "
                         f"{r.get('cpu_s')} | {r.get('peak_rss_mb')} | {r.get('precision', 0):.4f} | "
                         f"{r.get('recall', 0):.4f} | {r.get('f1', 0):.4f} | {stages} |")
    med = {k: statistics.median(r["wall_s"] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r["run_cpu_s"] for r in v) for k, v in runs.items()}
    turns = [round(a["wall_s"] / b["wall_s"], 3) for a, b in zip(runs["after"], runs["before"])]
    lines += ["", (f"Median wall: before {med['before']:.1f} s, after {med['after']:.1f} s, ratio after/before "
              f"{med['after'] / med['before']:.3f} (per turn: {', '.join(map(str, turns))}). Median run CPU: before "
              f"{cpu['before']:.1f} s, after {cpu['after']:.1f} s, ratio {cpu['after'] / cpu['before']:.3f}.")]
    out = Path(args.out)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
