"""The CLI's whole run against the pipeline's own time (issue 14, point 6), per install.

    python benchmarks/cli_vs_pipeline.py --config DIR/cfg_all.yaml --turns 2 \\
        --venv branch=.venv --venv main=/work/main/.venv [--tag NAME]

Per turn and install (installs take turns on the shared machine), two fresh processes:

- CLI: ``regsosek-link run CONFIG --quiet --no-report --out TMP`` under ``/usr/bin/time``
  (wall, CPU, maximum RSS): import, ingest, pipeline, output files, summary, exit;
- pipeline: ``scripts/pipeline_time.py CONFIG``: the wall time of
  ``Linker(cfg, tune_process=True).run()`` alone (imports before the timer, no outputs).

The config may be ``update_path.py``'s ``cfg_all.yaml`` (the generator's five sources as
Parquet, as ``cli._cmd_demo`` writes them). Written to ``results/cli_vs_pipeline[_TAG].md``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str]) -> tuple[dict, str]:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        proc = subprocess.run(["/usr/bin/time", "-o", stats.name, "-f", "%e %M %U %S", *cmd], capture_output=True,
                              text=True, check=False)
        wall, rss, user, sys_ = Path(stats.name).read_text().split()[-4:]
    if proc.returncode:
        raise RuntimeError(f"{cmd} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {"wall_s": float(wall), "cpu_s": float(user) + float(sys_), "peak_mb": int(rss) / 1024}, proc.stdout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--venv", action="append", required=True, help="LABEL=path/to/venv (repeatable)")
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    venvs = dict(v.split("=", 1) for v in args.venv)
    rows = []
    for turn in range(1, args.turns + 1):
        for label, venv in venvs.items():
            bin_ = Path(venv) / "bin"
            with tempfile.TemporaryDirectory(dir="/tmp") as out:
                load = round(os.getloadavg()[0], 2)
                print(f"[{time.strftime('%H:%M:%S')}] turn {turn} {label}: CLI ...", flush=True)
                cli, _ = timed([str(bin_ / "regsosek-link"), "run", args.config, "--quiet", "--no-report",
                                "--out", out])
            print(f"[{time.strftime('%H:%M:%S')}] turn {turn} {label}: pipeline ...", flush=True)
            pipe, text = timed([str(bin_ / "python"), str(HERE / "scripts" / "pipeline_time.py"), args.config])
            m = re.search(r"pipeline ([\d.]+) s \(stage sum ([\d.]+) s\)", text)
            assert m, text
            rows.append({"turn": turn, "label": label, "load": load, "cli": cli, "pipe": pipe,
                         "pipeline_s": float(m.group(1)), "stage_sum_s": float(m.group(2))})
            r = rows[-1]
            print(f"  CLI {cli['wall_s']:.1f} s (CPU {cli['cpu_s']:.1f} s, {cli['peak_mb']:,.0f} MB), pipeline "
                  f"{r['pipeline_s']:.1f} s: {cli['wall_s'] / r['pipeline_s']:.2f}x", flush=True)
    lines = ["# CLI whole run against the pipeline's own time", "",
             f"Command: `python benchmarks/cli_vs_pipeline.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
             "", ("CLI: `regsosek-link run CONFIG --quiet --no-report --out TMP` under `/usr/bin/time` (wall, "
                  "user+sys CPU, maximum RSS of the process). Pipeline: `scripts/pipeline_time.py CONFIG` (wall of "
                  "`Linker(cfg, tune_process=True).run()` alone; its process's CPU and RSS include imports and "
                  "exit). Installs took turns on the shared 2-core machine."), "",
             ("| turn | install | load | CLI wall s | CLI CPU s | CLI peak MB | pipeline s | pipeline process CPU s | "
              "pipeline process peak MB | CLI / pipeline (wall) |"), "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['turn']} | {r['label']} | {r['load']} | {r['cli']['wall_s']:.1f} | {r['cli']['cpu_s']:.1f} | "
                     f"{r['cli']['peak_mb']:,.0f} | {r['pipeline_s']:.1f} | {r['pipe']['cpu_s']:.1f} | "
                     f"{r['pipe']['peak_mb']:,.0f} | {r['cli']['wall_s'] / r['pipeline_s']:.2f} |")
    lines.append("")
    for label in venvs:
        ratios = [r["cli"]["wall_s"] / r["pipeline_s"] for r in rows if r["label"] == label]
        extra = [r["cli"]["cpu_s"] - r["pipe"]["cpu_s"] for r in rows if r["label"] == label]
        lines.append(f"- {label}: CLI / pipeline per turn " + ", ".join(f"{x:.2f}" for x in ratios)
                     + f" (median {statistics.median(ratios):.2f}); CLI CPU minus pipeline process CPU (outputs and "
                     "summary) " + ", ".join(f"{x:.1f} s" for x in extra))
    stem = HERE / "results" / (f"cli_vs_pipeline_{args.tag}" if args.tag else "cli_vs_pipeline")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
