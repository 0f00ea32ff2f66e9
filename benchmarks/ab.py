"""regsosek_link at two commits side by side: time, peak memory and accuracy as ratios.

    python benchmarks/ab.py --revs acd8c4b,HEAD [--size 370000] [--turns 3] [--tag NAME]

Each commit's ``src/`` is taken with ``git archive`` (``run.export_src``) and run by the same
worker as ``run.py`` (``_worker.py``: one fresh process per run, the same cached data for both,
peak = the child's ``ru_maxrss``). The commits take turns (A, B, A, B, ...), so that the load of
the shared machine falls on both alike; the table gives each turn's B / A ratio of wall time,
process CPU and peak memory, their medians, each run's stage times and the RSS high-water mark
the pipeline noted after each stage. Written to ``results/ab_TAG.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _data
import _tools
import run as bench


def _table(runs: list[dict], revs: list[str]) -> list[str]:
    cols = ("wall_s", "run_cpu_s", "cpu_s", "peak_rss_mb", "f1", "precision", "recall", "candidate_pairs")
    lines = ["| turn | commit | load (1 min) | status | " + " | ".join(cols) + " |", "|" + "---|" * (4 + len(cols))]
    for r in runs:
        lines.append(f"| {r['turn']} | {r['rev']} | {r['load_1min_at_start']} | {r.get('status')} | "
                     + " | ".join(bench._fmt(r.get(c), c) for c in cols) + " |")
    a, b = revs
    lines += ["", f"Ratios {b} / {a}, turn by turn:", "", "| turn | wall | run cpu | cpu | peak | F1 difference |",
              "|---|---|---|---|---|---|"]
    ratios: dict[str, list[float]] = {"wall_s": [], "run_cpu_s": [], "cpu_s": [], "peak_rss_mb": []}
    turns = sorted({r["turn"] for r in runs})
    for t in turns:
        ra = next((r for r in runs if r["turn"] == t and r["rev"] == a and r.get("status") == "ok"), None)
        rb = next((r for r in runs if r["turn"] == t and r["rev"] == b and r.get("status") == "ok"), None)
        if ra is None or rb is None:
            continue
        cells = []
        for c, values in ratios.items():
            values.append(rb[c] / ra[c])
            cells.append(f"{rb[c] / ra[c]:.3f}")
        lines.append(f"| {t} | " + " | ".join(cells) + f" | {rb['f1'] - ra['f1']:+.4f} |")
    if ratios["wall_s"]:
        lines.append("| **median** | " + " | ".join(f"**{statistics.median(v):.3f}**" for v in ratios.values())
                     + " | |")
    lines += ["", "Seconds per stage and the RSS high-water mark (MB) noted after each stage:", ""]
    for r in runs:
        if r.get("stages"):
            peaks = r.get("stage_peaks_mb", {})
            lines.append(f"- turn {r['turn']}, {r['rev']}: " + ", ".join(
                f"{k} {v:.2f} s" + (f" / {peaks[k]:,} MB" if k in peaks else "") for k, v in r["stages"].items()))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--revs", required=True, help="two commits, comma separated: baseline,candidate")
    ap.add_argument("--size", type=int, default=370_000, help="synthetic people (370,000 = 1,004,010 records)")
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout-min", type=float, default=15.0)
    ap.add_argument("--mem-limit-gb", type=float, default=8.0)
    ap.add_argument("--settings", default="defaults", choices=sorted(_tools.SETTINGS),
                    help="comparisons and blocking rules of both runs: each commit's defaults, or those "
                         "of acd8c4b written out (the same settings for both commits)")
    ap.add_argument("--tag", default="ab")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    given = [r.strip() for r in args.revs.split(",") if r.strip()]
    if len(given) != 2:
        ap.error("--revs takes two commits")
    srcs = [bench.export_src(r) for r in given]
    revs = [sha for _, sha in srcs]
    subprocess.run([sys.executable, "-c", (f"import sys; sys.path.insert(0, {str(HERE)!r}); import _data; "
                                           f"_data.prepare('synthetic', {args.size}, seed={args.seed})")], check=True)
    meta = _data.meta("synthetic", args.size)
    out_dir = Path(args.out)
    log_dir = out_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    info = {"machine": bench.machine(), "versions": bench.versions(),
            "command": "python benchmarks/ab.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "revs": dict(zip(revs, given)), "settings": args.settings, "n_records": meta["n_records"], "n_people": meta["n_people"]}
    runs: list[dict] = []
    base_env = {**os.environ, _tools.SETTINGS_ENV: args.settings}
    for turn in range(1, args.turns + 1):
        for (src, sha) in srcs:
            bench.CHILD_ENV.clear()
            bench.CHILD_ENV.update(base_env, PYTHONPATH=os.pathsep.join(
                [str(src), *filter(None, [base_env.get("PYTHONPATH")])]))
            print(f"[{time.strftime('%H:%M:%S')}] turn {turn}: {sha} ...", flush=True)
            row = bench.run_one("regsosek", "synthetic", args.size, timeout_s=args.timeout_min * 60,
                                mem_limit=int(args.mem_limit_gb * 2**30), log_dir=log_dir)
            row.update(turn=turn, rev=sha, run=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
            runs.append(row)
            print("  " + ", ".join(f"{c}={bench._fmt(row.get(c), c)}" for c in ("status", "wall_s", "cpu_s",
                                                                                 "peak_rss_mb", "f1")), flush=True)
            stem = out_dir / f"ab_{args.tag}"
            stem.with_suffix(".json").write_text(json.dumps({**info, "runs": runs}, indent=2, default=float))
            m = info["machine"]
            head = [f"# regsosek_link {revs[1]} against {revs[0]}, side by side", "",
                    (f"{meta['n_records']:,} records ({meta['n_people']:,} synthetic people, seed {args.seed}); "
                     f"{m['cpu_model']}, {m['logical_cores']} logical cores, {m['ram_gb']} GB RAM, "
                     f"Python {m['python']}; {m['date']}."), "", f"Command: `{info['command']}`", "",
                    ("Settings: each commit's default comparisons and blocking rules." if args.settings == "defaults"
                     else f"Settings: the comparisons and blocking rules of {args.settings}, the same for both "
                          "commits (benchmarks/_tools.py)."), "",
                    ("wall s: the worker's timer (raw source DataFrames to membership and registry); run cpu s: "
                    "the CPU of that timed run; cpu s: user+system CPU of the whole process (input loading and "
                    "evaluation too); peak MB: the process's ru_maxrss (includes ~230 MB of "
                    "Python, libraries and the loaded input). The commits took turns on the shared 2-core machine."),
                    ""]
            stem.with_suffix(".md").write_text("\n".join(head + _table(runs, revs)) + "\n")
    print((out_dir / f"ab_{args.tag}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
