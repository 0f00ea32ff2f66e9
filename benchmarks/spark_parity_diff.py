"""Record by record: the embedded and Spark engines' outputs kept by ``spark_scale.py --keep DIR``.

    python benchmarks/spark_scale.py --people 74000 --engines embedded,spark --keep DIR
    python benchmarks/spark_parity_diff.py DIR [--people 74000]

Membership: every record's person ID and match probability on both sides (a record on one
side only is listed). Links: each pair (oriented the same way on both sides: each engine
orients a pair its own way) with its probability and every comparison level. Prints the
counts of differences and the first records of each, and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def _pair_keys(df: pd.DataFrame) -> np.ndarray:
    a = df["source_l"].astype(str) + "|" + df["record_id_l"].astype(str)
    b = df["source_r"].astype(str) + "|" + df["record_id_r"].astype(str)
    return np.where(a < b, a + "~" + b, b + "~" + a)


def diff(folder: Path, people: int) -> int:
    keys = ["source", "record_id"]
    e = pd.read_parquet(folder / f"embedded_{people}" / "membership.parquet")
    s = pd.read_parquet(folder / f"spark_{people}" / "membership")
    cols = keys + ["person_id", "match_probability"]
    m = e[cols].astype({"source": str, "record_id": str}).merge(
        s[cols].astype({"source": str, "record_id": str}), on=keys, how="outer", suffixes=("_e", "_s"), indicator=True)
    one_side = m[m["_merge"] != "both"]
    other_id = m[(m["_merge"] == "both") & (m["person_id_e"] != m["person_id_s"])]
    other_p = m[(m["_merge"] == "both") & ((m["match_probability_e"] - m["match_probability_s"]).abs() > 0)]
    print(f"membership: {len(e):,} records embedded, {len(s):,} Spark; on one side only {len(one_side):,}; "
          f"another person ID {len(other_id):,}; another match probability {len(other_p):,}")
    for name, part in (("one side", one_side), ("person ID", other_id), ("probability", other_p)):
        if len(part):
            print(f"  {name}:\n" + part.head(20).to_string(index=False))
    le = pd.read_parquet(folder / f"embedded_{people}" / "links.parquet")
    ls = pd.read_parquet(folder / f"spark_{people}" / "links")
    le["pair"], ls["pair"] = _pair_keys(le), _pair_keys(ls)
    j = le.merge(ls, on="pair", how="outer", suffixes=("_e", "_s"), indicator=True)
    both = j[j["_merge"] == "both"]
    levels = sorted(c[:-2] for c in both.columns if c.startswith("level_") and c.endswith("_e"))
    lv = {c: int((both[f"{c}_e"].astype(int) != both[f"{c}_s"].astype(int)).sum()) for c in levels}
    dp = float((both["match_probability_e"] - both["match_probability_s"]).abs().max()) if len(both) else 0.0
    print(f"links: {len(le):,} embedded, {len(ls):,} Spark; on one side only {int((j['_merge'] != 'both').sum()):,}; "
          f"largest probability difference {dp:g}; levels differing: {lv}")
    bad = len(one_side) + len(other_id) + len(other_p) + int((j["_merge"] != "both").sum()) + sum(lv.values())
    return 1 if bad or dp else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="the --keep folder of spark_scale.py")
    ap.add_argument("--people", type=int, help="the size's people (default: the one size kept in the folder)")
    args = ap.parse_args()
    folder = Path(args.folder)
    people = args.people or int(next(folder.glob("embedded_*")).name.split("_")[1])
    return diff(folder, people)


if __name__ == "__main__":
    sys.exit(main())
