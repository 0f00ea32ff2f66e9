"""Per-part times of `regsosek-link run` at ~1 M records in one process (mirrors cli._cmd_run).

Usage: regsosek-link generate --people 370000 --out DIR/src --format parquet; write DIR/cfg.yaml
(see cli._cmd_demo); then python benchmarks/cli_overhead.py OUT_DIR [parquet[,csv]] [report].
"""
import sys
import time

t0 = time.perf_counter()
import regsosek_link  # noqa
from regsosek_link import cli
from regsosek_link.config import load_config
from regsosek_link.pipeline import Linker
t_import = time.perf_counter() - t0
fmt = sys.argv[2].split(",") if len(sys.argv) > 2 else None
report = len(sys.argv) > 3 and sys.argv[3] == "report"
cfg = load_config(sys.argv[4] if len(sys.argv) > 4 else "cfg.yaml").replace(output_dir=sys.argv[1])
t = time.perf_counter(); res = Linker(cfg).run(); t_pipe = time.perf_counter() - t
t = time.perf_counter()
written = res.write(cfg.output_dir, formats=tuple(fmt)) if fmt else res.write(cfg.output_dir)
t_write = time.perf_counter() - t
t = time.perf_counter()
if report:
    from pathlib import Path

    from regsosek_link.report import write_report
    write_report(res, Path(cfg.output_dir) / "report.html")
t_report = time.perf_counter() - t
t = time.perf_counter(); s = cli._summary(res, written, None); t_sum = time.perf_counter() - t
tot = time.perf_counter() - t0
print(f"import {t_import:.2f} | pipeline(wall) {t_pipe:.2f} (timings sum {sum(res.timings.values()):.2f}) | write {t_write:.2f} | report {t_report:.2f} | summary {t_sum:.2f} | total {tot:.2f} | ratio total/timings {tot/sum(res.timings.values()):.2f}")
print(res.timings)
