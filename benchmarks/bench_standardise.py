"""Time ``regsosek_link.standardise`` per sub-step on realistic synthetic records.

    python benchmarks/bench_standardise.py                      # 370k people, ~1.0 M records
    python benchmarks/bench_standardise.py --people 74000       # ~200k records
    python benchmarks/bench_standardise.py --mode total         # one standardise() call only
    python benchmarks/bench_standardise.py --save ref.parquet   # keep the output ...
    python benchmarks/bench_standardise.py --check ref.parquet  # ... and compare with it later
    /usr/bin/time -v python benchmarks/bench_standardise.py --mode total   # peak memory

Raw records are built as the pipeline does (``make_sources`` -> ``read_sources``) and cached
as Parquet under ``/tmp/regsosek_bench/`` (generation takes ~35 s at 1 M records). Each run is
a fresh process, so the times include the one-off loading of lookup tables (regions, name
variants) that a real run pays too.

``--mode steps`` (default) calls the cleaners one by one, in the order ``standardise`` does,
and prints each one's seconds; ``--mode total`` times one ``standardise()`` call.

Results on this 2-core machine (1,004,010 records from ``make_sources(n_people=370_000,
random_state=0)``, pandas 2.3.3, pyarrow 26.0.1), each cleaner's CPU seconds (``--mode steps``;
the machine was shared, load average 4-7, so CPU time is the steadier figure), then one
``standardise()`` call (``--mode total``) and the process's peak RSS (``/usr/bin/time -v``,
about 1.4 GB of it is the raw records read from Parquet)::

    sub-step              before (49173d2)   after
    dates                       1.94          0.62
    nik                         4.52          1.81
    kk                          2.55          0.47
    names (nama)                5.20          0.97
    names (nama_ibu)            1.85          0.26
    sex                         0.20          0.08
    place                       0.23          0.07
    address                     0.82          0.60
    rt/rw                       0.50          0.15
    regions                     6.79          0.68
    relation                    0.27          0.08
    sum of steps               24.87          5.79
    standardise() CPU          32.54          6.47
    standardise() wall         61.3          13.1    (load ~5; 40.4 and 8.4 on a quieter machine)
    peak RSS (GB)               2.77          1.90

The steps take raw columns and each converts its own input; ``standardise()`` factorizes
every input column once (that is about 2 s of its CPU time at 1 M records) and also pays
the one-off loading of the region table (~1 s). Outputs are identical before and after
(``--save`` with the old code, ``--check`` with the new: 200k and 1 M records).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import pandas as pd

CACHE = Path("/tmp/regsosek_bench")


def load_raw(people: int, seed: int = 0) -> pd.DataFrame:
    """Raw records for ``make_sources(n_people=people)``, read from (or written to) the cache."""
    path = CACHE / f"raw_{people}_{seed}.parquet"
    if path.exists():
        return pd.read_parquet(path)
    import regsosek_link as rl
    from regsosek_link.datasets import make_sources

    t = time.perf_counter()
    syn = make_sources(n_people=people, random_state=seed)
    cfg = rl.LinkConfig(sources=tuple(rl.SourceConfig(name=k, columns=syn.mappings[k]) for k in syn.sources))
    raw = rl.read_sources(cfg, syn.sources)
    CACHE.mkdir(parents=True, exist_ok=True)
    raw.to_parquet(path)
    print(f"generated {len(raw):,} raw records in {time.perf_counter() - t:.1f} s -> {path}", file=sys.stderr)
    return raw


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def run_steps(raw: pd.DataFrame) -> dict[str, float]:
    """Seconds per cleaner, called the way ``standardise`` calls them."""
    from regsosek_link.standardise import (
        clean_address,
        clean_name,
        clean_nik,
        clean_place,
        clean_relation,
        clean_sex,
        parse_date,
        parse_rt_rw,
        resolve_region,
    )
    times: dict[str, float] = {}

    def timed(name: str, func, *args, **kwargs):  # type: ignore[no-untyped-def]
        t = time.process_time()  # CPU seconds: steadier than wall time on a shared machine
        res = func(*args, **kwargs)
        times[name] = time.process_time() - t
        return res

    cols = {c: raw[c] for c in raw.columns}  # raw columns: each cleaner converts its input
    dates = timed("dates", parse_date, cols["tanggal_lahir"])
    timed("nik", clean_nik, cols["nik"], birth_date=dates["tanggal_lahir"])
    timed("kk", clean_nik, cols["no_kk"], kind="kk")
    timed("names (nama)", clean_name, cols["nama"])
    timed("names (nama_ibu)", clean_name, cols["nama_ibu"])
    timed("sex", clean_sex, cols["jenis_kelamin"])
    timed("place", clean_place, cols["tempat_lahir"])
    timed("address", clean_address, cols["alamat"])
    timed("rt/rw", parse_rt_rw, cols["rt"], cols["rw"])
    timed("regions", resolve_region, code=cols["kode_wilayah"], desa=cols["desa"], kecamatan=cols["kecamatan"],
          kabupaten=cols["kabupaten"], provinsi=cols["provinsi"])
    timed("relation", clean_relation, cols["hubungan_keluarga"])
    return times


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=370_000, help="synthetic people (default 370000, ~1 M records)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mode", choices=("steps", "total"), default="steps")
    ap.add_argument("--save", help="write standardise()'s output to this Parquet file (mode total)")
    ap.add_argument("--check", help="compare standardise()'s output with this Parquet file (mode total)")
    args = ap.parse_args(argv)

    raw = load_raw(args.people, args.seed)
    print(f"{len(raw):,} raw records; peak RSS after load {_peak_gb():.2f} GB")
    if args.mode == "steps":
        times = run_steps(raw)
        for name, sec in times.items():
            print(f"{name:<20} {sec:7.2f} s")
        print(f"{'sum':<20} {sum(times.values()):7.2f} s")
    if args.mode == "total" or args.save or args.check:
        from regsosek_link import standardise

        t, c = time.perf_counter(), time.process_time()
        out = standardise(raw)
        print(f"{'standardise()':<20} {time.perf_counter() - t:7.2f} s wall, {time.process_time() - c:.2f} s CPU"
              f"  ({len(out):,} records)")
        if args.save:
            out.to_parquet(args.save)
        if args.check:
            ref = pd.read_parquet(args.check)
            pd.testing.assert_frame_equal(out, ref)
            print(f"identical to {args.check}")
    print(f"peak RSS {_peak_gb():.2f} GB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
