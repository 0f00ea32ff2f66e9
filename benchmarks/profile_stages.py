"""Print regsosek_link's seconds per stage (LinkResult.timings) and peak memory at one size.

    python benchmarks/profile_stages.py --people 100000 [--seed 0]
    python benchmarks/profile_stages.py --dataset febrl4

The data is generated (or read from the benchmark cache) first; peak memory is reported both
for the whole process (``ru_maxrss``) and as the RSS high-water mark seen after each stage
minus the RSS before linking, so generator memory is not charged to the linker.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data
from _tools import regsosek_config


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=100_000, help="synthetic people (default 100000)")
    ap.add_argument("--dataset", default="synthetic", choices=("synthetic", "febrl3", "febrl4"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from regsosek_link import Linker

    size = args.people if args.dataset == "synthetic" else None
    _data.prepare(args.dataset, size, seed=args.seed)
    ds = _data.load(args.dataset, size)
    proc = psutil.Process()
    base = proc.memory_info().rss
    peaks: dict[str, float] = {}

    def progress(stage: str, fraction: float) -> None:
        if fraction == 1.0:
            peaks[stage] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    import os

    import regsosek_link

    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    result = Linker(regsosek_config(ds), tune_process=True).run(ds.sources, progress=progress)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    peaks = {**peaks, **(getattr(result, "peak_memory_mb", None) or {})}  # the pipeline's own, when it has one
    print(f"regsosek_link from {Path(regsosek_link.__file__).parent}; 1-min load average at start {load:.2f}")
    print(f"{ds.name}: {ds.n_records:,} records, {len(result.pairs):,} candidate pairs, "
          f"{result.n_persons:,} persons; RSS before linking {base / 2**20:,.0f} MB; wall {wall:.1f} s, "
          f"CPU {cpu:.1f} s")
    print(f"{'stage':<12} {'seconds':>9} {'share':>6} {'peak RSS so far (MB)':>21}")
    for stage, sec in result.timings.items():
        print(f"{stage:<12} {sec:>9.2f} {sec / wall:>6.1%} {peaks.get(stage, float('nan')):>21,.0f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'total':<12} {wall:>9.2f}        peak {peak:,.0f} MB (linking added ~{peak - base / 2**20:,.0f} MB)")
    print(result.evaluate(ds.truth))
    print(f"blocking recall {result.blocking_recall(ds.truth):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
