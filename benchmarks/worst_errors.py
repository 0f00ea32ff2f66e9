"""The worst remaining errors of a run, for reading: fused clusters and split persons,
ranked by the record pairs they get wrong.

    python benchmarks/worst_errors.py --people 200000 --noise typical --top 10

Links the data cached by ``accuracy_levels.py`` (same people, seed and noise level; made
here if missing) with the working tree's defaults. A *fused* error is a predicted person
holding records of several true people (its wrong pairs: record pairs across them); a
*split* error is a true person spread over several predicted persons (its missed pairs).
For each, the records (true person ``t``, predicted person ``p``) and the pairs between the
parts: their match weight, levels and whether they were held for review, or ``not a
candidate`` when no blocking rule brought them together.

Writes ``results/worst_errors.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
COLS = ["source", "nik", "nik_status", "nama", "tanggal_lahir", "tanggal_lahir_status", "kode_wilayah",
        "jenis_kelamin", "no_kk", "nama_ibu"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=200_000)
    ap.add_argument("--noise", default="typical")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--out", default=str(HERE / "results" / "worst_errors.md"))
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    sys.path.insert(0, str(HERE))

    from accuracy_levels import run_level
    from near_miss import person_labels

    res, truth = run_level(args.people, args.noise, args.seed)
    rec = res.records
    key = (rec["source"].astype(str) + "|" + rec["record_id"].astype(str)).to_numpy()
    p, t = person_labels(res, truth)
    n = len(rec)
    pairs = res.pairs
    code = pairs["left"].to_numpy(np.int64) * n + pairs["right"].to_numpy(np.int64)
    at = pd.Series(np.arange(len(pairs)), index=code)
    held = set()
    if res.ambiguous is not None and len(res.ambiguous):
        amb = res.ambiguous
        kl = (amb["source_l"].astype(str) + "|" + amb["record_id_l"].astype(str)).to_numpy()
        kr = (amb["source_r"].astype(str) + "|" + amb["record_id_r"].astype(str)).to_numpy()
        pos = pd.Series(np.arange(n), index=key)
        for a, b in zip(pos[kl].to_numpy(), pos[kr].to_numpy()):
            held.add(min(a, b) * n + max(a, b))
    frame = pd.DataFrame({"p": p, "t": t})
    # fused: predicted clusters with several true people; wrong pairs = all pairs - within-truth pairs
    g = frame.groupby("p")
    size = g.size()
    within = frame.groupby(["p", "t"]).size()
    within_pairs = (within * (within - 1) // 2).groupby(level=0).sum()
    fused = (size * (size - 1) // 2 - within_pairs)
    fused = fused[fused > 0]
    gt = frame.groupby("t")
    tsize = gt.size()
    split_within = frame.groupby(["t", "p"]).size()
    split_pairs = (tsize * (tsize - 1) // 2 - (split_within * (split_within - 1) // 2).groupby(level=0).sum())
    split_pairs = split_pairs[split_pairs > 0]
    errs = ([("fused", int(c), int(v)) for c, v in fused.items()]
            + [("split", int(c), int(v)) for c, v in split_pairs.items()])
    # worst first; ties broken by kind and label, so the list is deterministic
    errs.sort(key=lambda e: (-e[2], e[0], e[1]))
    levels = res.levels
    lines = [f"# The {args.top} worst remaining errors",
             (f"Command: `python benchmarks/worst_errors.py --people {args.people} --noise {args.noise} --top "
             f"{args.top}`; {n:,} records; {len(fused)} fused predicted persons ({int(fused.sum())} wrong pairs), "
             f"{len(split_pairs)} split true persons ({int(split_pairs.sum())} missed pairs). Ranked by wrong "
             "pairs; `t` is the true person, `p` the predicted one (both renumbered per error).")]
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 30)
    for i, (kind, label, wrong) in enumerate(errs[: args.top], 1):
        rows = np.flatnonzero((p if kind == "fused" else t) == label)
        x = rec.iloc[rows][COLS].astype("string").fillna("").copy()
        x.insert(0, "t", pd.factorize(t[rows])[0])
        x.insert(1, "p", pd.factorize(p[rows])[0])
        x = x.sort_values(["t", "p"], kind="stable")
        lines += ["", f"## {i}. {kind}: {wrong} wrong pairs", "", x.to_markdown(index=False), ""]
        # the pairs across the parts (other true person / other predicted person)
        part = t[rows] if kind == "fused" else p[rows]
        out = []
        for ia in range(len(rows)):
            for ib in range(ia + 1, len(rows)):
                if part[ia] == part[ib]:
                    continue
                a, b = min(rows[ia], rows[ib]), max(rows[ia], rows[ib])
                c = a * n + b
                if c in at.index:
                    q = at[c]
                    lv = " ".join(f"{k}={v}" for k, v in levels.iloc[q].items() if v >= 0)
                    state = "held for review" if c in held else ("linked" if res.probability[q] >= res.config.threshold
                                                                 else "below threshold")
                    out.append(f"- {rec['source'].iloc[a]} {rec['nama'].iloc[a]} / {rec['source'].iloc[b]} "
                               f"{rec['nama'].iloc[b]}: weight {res.weight[q]:+.1f} ({state}); {lv}")
                else:
                    out.append(f"- {rec['source'].iloc[a]} {rec['nama'].iloc[a]} / {rec['source'].iloc[b]} "
                               f"{rec['nama'].iloc[b]}: not a candidate pair")
        lines += out[:12] + ([f"- ... {len(out) - 12} more pairs"] if len(out) > 12 else [])
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
