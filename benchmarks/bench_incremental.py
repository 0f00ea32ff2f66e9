"""Incremental linking vs a full run: what an update with a small batch costs.

    python benchmarks/bench_incremental.py --people 100000 [--share 0.05] [--seed 0]

Synthetic sources (``regsosek_link.datasets.make_sources``), config as ``regsosek-link demo``
builds it. Each source is split at random: ``1 - share`` of its rows go to a full run into a
fresh registry store, the other ``share`` is then linked with ``Linker.update``. Prints both
wall times, their ratio, the stage split of the update, and the pairwise F1 after the update
next to the F1 of a full run on all rows (with its own model, and with the stored model),
which must agree within 0.001.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=100_000)
    ap.add_argument("--share", type=float, default=0.05, help="share of each source in the batch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-reference", action="store_true", help="no full run on all rows (no F1 check)")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")

    from regsosek_link import Linker
    from regsosek_link.config import LinkConfig, SourceConfig
    from regsosek_link.datasets import make_sources
    from regsosek_link.evaluate import pairwise_scores
    from regsosek_link.store import RegistryStore

    syn = make_sources(n_people=args.people, random_state=args.seed)
    sources = []
    for name in syn.sources:
        info = syn.source_info.get(name, {})
        sources.append(SourceConfig(name=name, columns=syn.mappings[name],
                                    one_record_per_person=bool(info.get("one_record_per_person", False)),
                                    priority=1 if info.get("one_record_per_person") else 100))
    cfg = LinkConfig(sources=tuple(sources), random_state=args.seed)
    rng = np.random.default_rng(args.seed)
    old, new = {}, {}
    for name, frame in syn.sources.items():
        in_batch = rng.random(len(frame)) < args.share
        old[name], new[name] = frame[~in_batch].reset_index(drop=True), frame[in_batch].reset_index(drop=True)
    n_old, n_new = sum(map(len, old.values())), sum(map(len, new.values()))
    print(f"{args.people:,} people: {n_old + n_new:,} records; full run on {n_old:,}, update with {n_new:,} "
          f"({args.share:.0%} of each source)")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "registry.duckdb"
        t = time.perf_counter()
        full = Linker(cfg).run(old, store=path)
        t_full = time.perf_counter() - t
        t = time.perf_counter()
        upd = Linker(cfg).update(path, new)
        t_upd = time.perf_counter() - t
        print(f"full run ({n_old:,} records, saved):  {t_full:7.2f} s   "
              + ", ".join(f"{k} {v:.2f}" for k, v in full.timings.items())
              + f", save {t_full - sum(full.timings.values()):.2f}")
        print(f"update   ({n_new:,} new records):     {t_upd:7.2f} s   "
              + ", ".join(f"{k} {v:.2f}" for k, v in upd.timings.items()))
        print(f"ratio update / full run: {t_upd / t_full:.1%}")
        store = RegistryStore(path)
        membership = store.membership()
        model = store.model()
    truth = syn.truth
    f_upd = pairwise_scores(membership, truth)
    print(f"after the update: {len(membership):,} records, {membership['person_id'].nunique():,} persons, "
          f"precision {f_upd.precision:.4f} recall {f_upd.recall:.4f} F1 {f_upd.f1:.4f}")
    if args.skip_reference:
        return 0
    ok = True
    for label, m in (("own model", None), ("the stored model", model)):
        t = time.perf_counter()
        ref = Linker(cfg, model=m).run({k: pd_concat(old[k], new[k]) for k in old})
        f_ref = pairwise_scores(ref.membership, truth)
        good = abs(f_ref.f1 - f_upd.f1) <= 0.001
        ok &= good
        print(f"full run on all {len(ref.records):,} records ({label}, {time.perf_counter() - t:.1f} s): "
              f"F1 {f_ref.f1:.4f}; |difference| {abs(f_ref.f1 - f_upd.f1):.4f} {'<=' if good else '>'} 0.001")
    return 0 if ok else 1


def pd_concat(a, b):
    import pandas as pd

    return pd.concat([a, b], ignore_index=True)


if __name__ == "__main__":
    sys.exit(main())
