"""Whether two commits give the same tables on the same synthetic data (a check for
changes that should change speed or memory only).

    python benchmarks/scripts/same_results.py --revs bffe9dd,HEAD --people 110000

Each commit's ``src/`` (``run.export_src``) runs in its own process on the cached data and
writes its membership, registry, households, links, held links, pairs' levels and
probabilities to Parquet; the tables are then compared cell by cell (floats exactly).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

CHILD = """
import sys
sys.path.insert(0, {bench!r})
import numpy as np, pandas as pd, _data
from _tools import regsosek_config
from regsosek_link import Linker
ds = _data.load("synthetic", {people})
res = Linker(regsosek_config(ds), tune_process=True).run(ds.sources)
out = {out!r}
for name in ("membership", "registry", "households", "links", "ambiguous"):
    df = getattr(res, name, None)
    if df is not None:
        df.reset_index(drop=True).to_parquet(f"{{out}}/{{name}}.parquet")
pairs = res.pairs[["left", "right"]].reset_index(drop=True).assign(probability=res.probability)
pd.concat([pairs, res.levels.reset_index(drop=True)], axis=1).to_parquet(f"{{out}}/pairs.parquet")
"""


def main(argv: list[str] | None = None) -> int:
    import _data
    import pandas as pd
    import run as bench

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--revs", required=True, help="two commits, comma separated")
    ap.add_argument("--people", type=int, default=110_000)
    args = ap.parse_args(argv)
    revs = [r.strip() for r in args.revs.split(",")]
    _data.prepare("synthetic", args.people, seed=0)
    dirs = []
    for rev in revs:
        src, sha = bench.export_src(rev)
        out = tempfile.mkdtemp(prefix=f"same_{sha}_")
        env = {**os.environ, "PYTHONPATH": str(src)}
        subprocess.run([sys.executable, "-c", CHILD.format(bench=str(HERE), people=args.people, out=out)],
                       env=env, check=True)
        dirs.append((sha, Path(out)))
    (a_sha, a), (b_sha, b) = dirs
    differ = 0
    for f in sorted(p.name for p in a.glob("*.parquet")):
        x, y = pd.read_parquet(a / f), pd.read_parquet(b / f)
        try:
            pd.testing.assert_frame_equal(x, y, check_exact=True)
            print(f"{f:<20} identical ({len(x):,} rows, {x.shape[1]} columns)")
        except AssertionError as exc:
            differ += 1
            print(f"{f:<20} DIFFERS: {str(exc).splitlines()[:6]}")
    print(f"{a_sha} vs {b_sha}: " + ("all tables identical" if not differ else f"{differ} tables differ"))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
