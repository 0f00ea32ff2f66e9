"""Where the missed pairs are: each true pair the run splits, by why, and the records split off.

    python benchmarks/scripts/missed_pairs.py --people 200000 --noise typical --examples 5

Links the data cached by ``accuracy_levels.py`` (made if missing) with the working tree's
defaults. Every missed pair (one true person, two predicted persons) is put in one class:
``never compared`` (no blocking rule brought the two together), ``below threshold``,
``held`` (above the threshold, held for clerical review) or ``above, not merged`` (cut by a
constraint). Then the records split off a true person (every part but its largest) are
counted by source, NIK status, birth-date status and the class of their best pair into the
largest part, and a few are shown beside their true person's other records.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parents[1]
COLS = ["source", "nik", "nik_status", "nama", "tanggal_lahir", "tanggal_lahir_status", "jenis_kelamin",
        "kode_wilayah", "no_kk", "nama_ibu", "rt", "rw"]
ORDER = ["above, not merged", "held", "below threshold", "never compared"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=200_000)
    ap.add_argument("--noise", default="typical")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--examples", type=int, default=3, help="split-off records shown per class")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    sys.path.insert(0, str(HERE))
    from accuracy_levels import run_level
    from near_miss import person_labels

    res, truth = run_level(args.people, args.noise, args.seed)
    rec = res.records
    n = len(rec)
    p, t = person_labels(res, truth)
    # missed pairs: within a true person, across predicted persons
    order = np.argsort(t, kind="stable")
    starts = np.flatnonzero(np.r_[True, t[order][1:] != t[order][:-1]])
    a_, b_ = [], []
    for s, e in zip(starts, np.r_[starts[1:], n]):
        rows = order[s:e]
        if len(rows) > 1 and len(np.unique(p[rows])) > 1:
            i, j = np.triu_indices(len(rows), 1)
            cut = p[rows[i]] != p[rows[j]]
            a_.append(np.minimum(rows[i], rows[j])[cut])
            b_.append(np.maximum(rows[i], rows[j])[cut])
    a = np.concatenate(a_) if a_ else np.zeros(0, np.int64)
    b = np.concatenate(b_) if b_ else np.zeros(0, np.int64)
    left, right = res.pairs["left"].to_numpy(np.int64), res.pairs["right"].to_numpy(np.int64)
    at = pd.Series(np.arange(len(left)), index=np.minimum(left, right) * n + np.maximum(left, right))
    q = at.reindex(a * n + b).to_numpy()
    found = ~np.isnan(q)
    qi = np.where(found, q, 0).astype(np.int64)
    held = np.zeros(len(left), bool)
    if res.ambiguous is not None and len(res.ambiguous):
        key = pd.Series(np.arange(n), index=(rec["source"].astype(str) + "|" + rec["record_id"].astype(str)).to_numpy())
        amb = res.ambiguous
        hl = key[(amb["source_l"].astype(str) + "|" + amb["record_id_l"].astype(str)).to_numpy()].to_numpy()
        hr = key[(amb["source_r"].astype(str) + "|" + amb["record_id_r"].astype(str)).to_numpy()].to_numpy()
        held[at.reindex(np.minimum(hl, hr) * n + np.maximum(hl, hr)).dropna().astype(np.int64).to_numpy()] = True
    above = res.probability[qi] >= res.config.threshold
    cls = np.select([~found, ~above, held[qi]], ["never compared", "below threshold", "held"], "above, not merged")
    missed = pd.DataFrame({"a": a, "b": b, "class": cls, "weight": np.where(found, res.weight[qi], -np.inf)})
    src = rec["source"].astype(str).to_numpy()
    missed["sources"] = [" / ".join(sorted(x)) for x in zip(src[a], src[b])]
    print(f"# Missed pairs: {len(missed):,} ({args.people:,} people, {args.noise}, {n:,} records)\n")
    print(pd.crosstab(missed["sources"], missed["class"], margins=True).to_markdown(), "\n")
    # the records split off: every part of a true person but its largest (ties: smallest label)
    parts = pd.DataFrame({"t": t, "p": p, "row": np.arange(n)})
    parts = parts[parts["t"].isin(np.unique(t[a]))]
    size = parts.groupby(["t", "p"])["row"].transform("size")
    parts = parts.assign(size=size).sort_values(["t", "size", "p"], ascending=[True, False, True])
    main_part = parts.groupby("t")["p"].first()
    off = parts[parts["p"].to_numpy() != main_part.reindex(parts["t"]).to_numpy()]
    both = pd.concat([missed.rename(columns={"a": "me", "b": "other"}), missed.rename(columns={"b": "me", "a": "other"})])
    both = both[both["me"].isin(off["row"]) & (p[both["other"].to_numpy()] == main_part.reindex(
        t[both["other"].to_numpy()]).to_numpy())]
    both["rank"] = both["class"].map({c: i for i, c in enumerate(ORDER)})
    best = both.sort_values(["me", "rank", "weight"], ascending=[True, True, False]).groupby("me").head(1)
    best = best.set_index("me")
    info = rec.iloc[best.index.to_numpy()]
    best["source"] = info["source"].astype(str).to_numpy()
    best["nik"] = info["nik_status"].astype("string").fillna("missing").to_numpy()
    best["date"] = info["tanggal_lahir_status"].astype("string").fillna("missing").to_numpy()
    print(f"# Records split off their true person: {len(best):,}\n")
    for col in ("source", "nik", "date"):
        print(pd.crosstab(best[col], best["class"], margins=True).to_markdown(), "\n")
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 26)
    for c in ORDER:
        pick = best[best["class"] == c]
        for me in pick.sample(min(args.examples, len(pick)), random_state=args.seed).index:
            x = rec.iloc[np.flatnonzero(t == t[me])][COLS].astype("string").fillna("")
            x.insert(0, "split off", np.where(np.flatnonzero(t == t[me]) == me, "*", ""))
            print(f"## {c}: best weight {best.loc[me, 'weight']:+.1f}\n\n{x.to_markdown(index=False)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
