"""Where an update's peak memory comes from: RSS sampled every few milliseconds, charged to
the step of the update that was running (reading the store, the batch, the pipeline's stages,
the commit, the output files).

    python benchmarks/update_memory.py --work /tmp/upd --people 150000 [--share 0.05] [--full]

The data and configs are ``update_path.py``'s (``prepare``: ``old/``, ``batch/``, ``all/``).
A store of the old records is made once by the CLI (``run cfg_old.yaml --store``, in its own
process) and copied for each measurement; the update then runs in this process as the CLI
runs it (``Linker(config, tune_process=True).update(...)``, then ``result.write``). With
``--full`` the full run over all records (``run cfg_all.yaml --store`` into a new store) is
measured the same way, for comparison. Each step's row: RSS at entry, the highest RSS while
it ran, RSS at exit (steps nest: an outer step's maximum includes its inner steps').
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory_steps import STEPS, Sampler, rss_mb
from update_path import prepare

#: Functions of the life cycle (module: names) charged to their own row, beside the composer's.
LIFECYCLE = {
    "regsosek_link.run.linker": ("read_sources", "_standardise", "_new_records_only", "_refuse_renamed_sources",
                                 "_as_clean", "_kept_links", "_previous", "link_records"),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--people", type=int, default=150_000)
    ap.add_argument("--share", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--full", action="store_true", help="measure the full run over all records instead")
    ap.add_argument("--interval", type=float, default=0.005)
    args = ap.parse_args(argv)

    import importlib

    from regsosek_link import Linker
    from regsosek_link.config import load_config
    from regsosek_link.run import _core
    from regsosek_link.run.result import LinkResult
    from regsosek_link.store import RegistryStore

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    meta = prepare(work, args.people, args.share, args.seed)
    exe = str(Path(sys.executable).with_name("regsosek-link"))
    base_store = work / "base" / "s.duckdb"
    if not args.full and not base_store.exists():
        base_store.parent.mkdir(exist_ok=True)
        subprocess.run([exe, "run", str(work / "cfg_old.yaml"), "--store", str(base_store), "--out",
                        str(work / "base" / "out"), "--quiet", "--no-report"], check=True)
    d = work / "measure"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    store = d / "s.duckdb"
    if not args.full:
        shutil.copy(base_store, store)

    sampler = Sampler(args.interval)
    for name in STEPS:
        if callable(getattr(_core, name, None)):
            setattr(_core, name, sampler.wrap(name, getattr(_core, name)))
    for module, names in LIFECYCLE.items():
        mod = importlib.import_module(module)
        for name in names:
            setattr(mod, name, sampler.wrap(name, getattr(mod, name)))
    for cls, names in ((RegistryStore, ("snapshot", "commit")), (LinkResult, ("write",))):
        for name in names:
            setattr(cls, name, sampler.wrap(f"{cls.__name__}.{name}", getattr(cls, name)))

    base = rss_mb()
    sampler.thread.start()
    t = time.perf_counter()
    if args.full:
        cfg = load_config(work / "cfg_all.yaml").replace(output_dir=str(d / "out"))
        result = Linker(cfg, tune_process=True).run(store=store)
    else:
        cfg = load_config(work / "cfg_batch.yaml").replace(output_dir=str(d / "out"))
        result = Linker(cfg, tune_process=True).update(store)
    result.write(cfg.output_dir)
    wall = time.perf_counter() - t
    sampler.stop.set()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    what = "full run --store" if args.full else "update"
    print(f"{what}: {len(result.records):,} records (batch of {meta['records']['batch']:,}); RSS before "
          f"{base:,.0f} MB; process peak {peak:,.0f} MB; {wall:.1f} s")
    print(sampler.table(width=26))
    return 0


if __name__ == "__main__":
    sys.exit(main())
