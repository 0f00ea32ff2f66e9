"""Where a run's peak memory comes from: RSS sampled every few milliseconds, charged to the
step of the pipeline that was running.

    python benchmarks/memory_steps.py --people 370000 [--workers 1] [--interval 0.005]

The functions the composer (``regsosek_link.run._core``) calls are wrapped so that each
call notes its start and end; a sampling thread reads the process's RSS (``/proc/self/statm``)
and keeps, per step, the RSS at entry, the highest RSS while it ran and the RSS at exit. With
``--workers 1`` the composer runs its steps one after another (no background thread), so
each step's high-water mark is its own; with more workers, overlapping steps share it.
Reads the benchmark's cached data (``_data.prepare``), as ``profile_stages.py`` does.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import resource
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data
from _tools import regsosek_config

PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20
#: the composer's calls that are charged separately (those it imports under these names)
STEPS = ("read_sources", "standardise_records", "block_with_report", "prepare_comparisons", "compare",
         "train_model", "score_pairs", "record_id_rank", "links_table", "weigh_constraints", "cluster_records",
         "registry_tables", "person_ids", "held_table", "decision_pairs", "n_possible_pairs", "level_patterns")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE_MB


class Sampler:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.active: dict[str, dict] = {}
        self.done: list[dict] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            r = rss_mb()
            with self.lock:
                for s in self.active.values():
                    s["max"] = max(s["max"], r)
            time.sleep(self.interval)

    def table(self, width: int = 22) -> str:
        """One line per step call (those of 0.05 s or more, or raising RSS by 20 MB or more)."""
        lines = [f"{'step':<{width}} {'s':>7} {'enter MB':>9} {'max MB':>9} {'exit MB':>9} {'max-enter':>9}"]
        for s in sorted(self.done, key=lambda s: s["t0"]):
            if s["seconds"] >= 0.05 or s["max"] - s["enter"] >= 20:
                lines.append(f"{s['step']:<{width}} {s['seconds']:7.2f} {s['enter']:9,.0f} {s['max']:9,.0f} "
                             f"{s['exit']:9,.0f} {s['max'] - s['enter']:9,.0f}")
        return "\n".join(lines)

    def wrap(self, name: str, fn):
        @functools.wraps(fn)
        def inner(*a, **k):
            key = f"{name}#{threading.get_ident()}#{time.perf_counter_ns()}"
            r = rss_mb()
            with self.lock:
                self.active[key] = {"step": name, "enter": r, "max": r, "t0": time.perf_counter()}
            try:
                return fn(*a, **k)
            finally:
                r = rss_mb()
                with self.lock:
                    s = self.active.pop(key)
                    s.update(exit=r, max=max(s["max"], r), seconds=time.perf_counter() - s["t0"])
                    self.done.append(s)
        return inner


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=370_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None, help="LinkConfig.workers (default: the config's)")
    ap.add_argument("--interval", type=float, default=0.005)
    ap.add_argument("--inner", action="append", default=[],
                    help="also charge module:function (e.g. regsosek_link.cluster:ambiguous_links)")
    args = ap.parse_args(argv)

    import inspect

    from regsosek_link import Linker

    try:
        from regsosek_link.run import _core as composer
    except ImportError:  # revisions before the run/ package
        from regsosek_link import pipeline as composer
    _data.prepare("synthetic", args.people, seed=args.seed)
    ds = _data.load("synthetic", args.people)
    cfg = regsosek_config(ds)
    if args.workers is not None:
        cfg = cfg.replace(workers=args.workers)
    sampler = Sampler(args.interval)
    for name in STEPS:
        if callable(getattr(composer, name, None)):
            setattr(composer, name, sampler.wrap(name, getattr(composer, name)))
    for spec in args.inner:  # module:function, wrapped where its module's own code calls it
        module, name = spec.split(":")
        mod = importlib.import_module(module)
        setattr(mod, name, sampler.wrap(f"  {name}", getattr(mod, name)))
    tune = {"tune_process": True} if "tune_process" in inspect.signature(Linker).parameters else {}
    base = rss_mb()
    sampler.thread.start()
    t = time.perf_counter()
    result = Linker(cfg, **tune).run(ds.sources)
    wall = time.perf_counter() - t
    sampler.stop.set()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{ds.n_records:,} records; RSS before the run {base:,.0f} MB; process peak {peak:,.0f} MB; "
          f"run {wall:.1f} s; workers {cfg.workers}")
    print("stage peaks (MB): " + ", ".join(f"{k} {v:,.0f}" for k, v in getattr(result, "peak_memory_mb", {}).items()))
    print(sampler.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
