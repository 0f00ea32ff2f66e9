"""Near-miss NIKs and thin records, before and after (issue 18), overall and per error class.

    python benchmarks/near_miss.py --people 20000 100000 --febrl

For each size the generator's five sources (seeded) are linked twice on the same code:

* ``before``: the rules of the library before issue 18, still reachable by configuration:
  the NIK comparison without near-miss levels (a typo inside the serial scores as
  "different", any other one-digit typo as "one typo"), ``nik_constraint="typo"`` (credible
  NIKs one typo apart are one identity inside a cluster) and ``ambiguity="merge"``;
* ``after``: the defaults (near-miss levels per part of the NIK with their chance rate
  counted on the data, ``nik_constraint="evidence"``, ambiguous links held for review).

Scores are pairwise. Each error class is a set of record pairs (true or predicted) with a
property of the two records, scored on its own:

* ``near NIK (region/date)``: two usable NIKs a digit (or an adjacent transposition) apart
  outside the serial: the pairs that get *fused* when "one typo = one identity";
* ``near NIK (serial)``: two usable NIKs apart by one digit, a transposition or a shift in the
  serial: the pairs that get *split* by the credible-different-NIK constraint;
* ``placeholder date``: one record without a usable NIK and with a placeholder birth date,
  the other with a NIK;
* ``thin``: neither record has a usable NIK, one has a placeholder, partial or missing date.

Writes ``benchmarks/results/near_miss.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

import regsosek_link as rl
from regsosek_link.cluster import _pairs_within as _rows_pairs
from regsosek_link.config import default_comparisons
from regsosek_link.datasets import load_febrl3, load_febrl4, make_sources

CLASSES = ("near NIK (region/date)", "near NIK (serial)", "placeholder date", "thin")


def variant_options(variant: str) -> dict:
    if variant == "after":
        return {}
    comps = tuple(dataclasses.replace(c, near_miss=False) if getattr(c, "near_miss", False)
                  else dataclasses.replace(c, year_only_level=False) if getattr(c, "year_only_level", False)
                  else c for c in default_comparisons())
    return {"comparisons": comps, "nik_constraint": "typo", "ambiguity": "merge"}


def _pairs_within(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Record pairs (a < b) sharing a group label (the cluster stage's helper on sorted rows)."""
    order = np.argsort(groups, kind="stable")
    i, j = _rows_pairs(np.arange(len(order)), groups[order])
    a, b = order[i], order[j]
    return np.minimum(a, b), np.maximum(a, b)


def _near_kind(na: np.ndarray, nb: np.ndarray) -> np.ndarray:
    """0 none, 1 region/date part, 2 serial, per pair of 16-digit strings."""
    da = np.frombuffer(na.astype("S16").tobytes(), np.uint8).reshape(-1, 16).astype(np.int16)
    db = np.frombuffer(nb.astype("S16").tobytes(), np.uint8).reshape(-1, 16).astype(np.int16)
    diff = da != db
    nd = diff.sum(axis=1)
    pos = np.argmax(diff, axis=1)
    i = np.arange(len(da))
    nxt = np.minimum(pos + 1, 15)
    swap = (nd == 2) & diff[i, nxt] & (da[i, pos] == db[i, nxt]) & (da[i, nxt] == db[i, pos])
    near = (nd == 1) | swap
    sa = (da[:, 12:] - 48) @ np.array([1000, 100, 10, 1])
    sb = (db[:, 12:] - 48) @ np.array([1000, 100, 10, 1])
    shift = (~diff[:, :12]).all(axis=1) & ((sa * 10 == sb) | (sb * 10 == sa)) & (nd > 0)
    out = np.zeros(len(da), np.int8)
    out[near & (pos < 12)] = 1
    out[(near & (pos >= 12)) | shift] = 2
    return out


def person_labels(result, truth: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``result.records``: its predicted and its true person, as integer labels."""
    rec = result.records
    key = (rec["source"].astype(str) + "|" + rec["record_id"].astype(str)).to_numpy()
    mem = result.membership
    pred = pd.Series(mem["person_id"].to_numpy(), index=(mem["source"].astype(str) + "|"
                                                         + mem["record_id"].astype(str)).to_numpy())
    tr = pd.Series(truth["person_id"].astype(str).to_numpy(),
                   index=(truth["source"].astype(str) + "|" + truth["record_id"].astype(str)).to_numpy())
    return pd.factorize(pred.reindex(key).to_numpy())[0], pd.factorize(tr.reindex(key).to_numpy())[0]


def class_scores(result, truth: pd.DataFrame) -> pd.DataFrame:
    rec = result.records
    p_lab, t_lab = person_labels(result, truth)
    pa_, pb_ = _pairs_within(p_lab)
    ta_, tb_ = _pairs_within(t_lab)
    n = len(rec)
    code = np.unique(np.r_[pa_ * n + pb_, ta_ * n + tb_])
    a, b = code // n, code % n
    is_pred = p_lab[a] == p_lab[b]
    is_true = t_lab[a] == t_lab[b]
    nik = rec["nik"].astype("string").fillna("").to_numpy(dtype=object)
    usable = (rec["nik_status"].astype("string").fillna("") == "ok").to_numpy() & (
        pd.Series(nik).str.len().to_numpy() == 16)
    dst = rec["tanggal_lahir_status"].astype("string").fillna("missing")
    ph = dst.str.startswith("placeholder").to_numpy()
    weak_date = ph | ~dst.isin(["ok"]).to_numpy()
    both = usable[a] & usable[b]
    kind = np.zeros(len(a), np.int8)
    kind[both] = _near_kind(nik[a[both]], nik[b[both]])
    one_side = usable[a] ^ usable[b]
    no_a, no_b = ~usable[a], ~usable[b]
    masks = {
        CLASSES[0]: kind == 1,
        CLASSES[1]: kind == 2,
        CLASSES[2]: one_side & ((no_a & ph[a]) | (no_b & ph[b])),
        CLASSES[3]: no_a & no_b & (weak_date[a] | weak_date[b]),
    }
    rows = []
    for name, m in [("all pairs", np.ones(len(a), bool)), *masks.items()]:
        tp = int((m & is_pred & is_true).sum())
        fp = int((m & is_pred & ~is_true).sum())
        fn = int((m & ~is_pred & is_true).sum())
        p = tp / (tp + fp) if tp + fp else float("nan")
        r = tp / (tp + fn) if tp + fn else float("nan")
        f = 2 * p * r / (p + r) if p + r else float("nan")
        rows.append({"class": name, "true pairs": tp + fn, "fused (FP)": fp, "split (FN)": fn,
                     "precision": round(p, 4), "recall": round(r, 4), "F1": round(f, 4)})
    return pd.DataFrame(rows)


def review_count(result) -> str:
    amb = getattr(result, "ambiguous", None)
    if amb is None or len(amb) == 0:
        return "0"
    return f"{len(amb)} (" + ", ".join(f"{k}: {v}" for k, v in amb["reason"].value_counts().items()) + ")"


def run_synthetic(n_people: int, seed: int) -> list[dict]:
    syn = make_sources(n_people=n_people, random_state=seed)
    sources = tuple(
        rl.SourceConfig(name=k, columns=syn.mappings[k],
                        one_record_per_person=bool(syn.source_info[k]["one_record_per_person"]),
                        priority=1 if syn.source_info[k]["one_record_per_person"] else 100)
        for k in syn.sources
    )
    out = []
    for variant in ("before", "after"):
        cfg = rl.LinkConfig(sources=sources, random_state=seed, **variant_options(variant))
        t0 = time.perf_counter()
        result = rl.Linker(cfg).run(syn.sources)
        wall = time.perf_counter() - t0
        table = class_scores(result, syn.truth)
        for row in table.to_dict("records"):
            out.append({"data": f"synthetic {n_people:,}", "variant": variant, **row,
                        "review queue": review_count(result) if row["class"] == "all pairs" else "",
                        "wall s": round(wall, 1) if row["class"] == "all pairs" else ""})
            print(out[-1], flush=True)
    return out


def run_febrl() -> list[dict]:
    out = []
    for name, loader in (("FEBRL3", load_febrl3), ("FEBRL4", load_febrl4)):
        data = loader()
        for variant in ("before", "after"):
            opts = {} if variant == "after" else {"nik_constraint": "typo", "ambiguity": "merge"}
            cfg = data.config.replace(**opts)
            t0 = time.perf_counter()
            result = rl.Linker(cfg).run(data.sources)
            wall = time.perf_counter() - t0
            s = result.evaluate(data.truth)
            out.append({"data": name, "variant": variant, "class": "all pairs",
                        "true pairs": s.true_pairs if hasattr(s, "true_pairs") else "",
                        "precision": round(s.precision, 4), "recall": round(s.recall, 4), "F1": round(s.f1, 4),
                        "review queue": review_count(result), "wall s": round(wall, 1)})
            print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, nargs="*", default=[20_000, 100_000])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--febrl", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "near_miss.md"))
    args = ap.parse_args()
    rows = []
    for n in args.people:
        rows += run_synthetic(n, args.seed)
    if args.febrl:
        rows += run_febrl()
    table = pd.DataFrame(rows).fillna("")
    cmd = "python benchmarks/near_miss.py --people " + " ".join(map(str, args.people)) + (
        " --febrl" if args.febrl else "")
    parts = [
        "# Near-miss NIKs and thin records: before and after (issue 18)",
        (f"Seed {args.seed}. Machine: {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}. Command: `{cmd}`"),
        (__doc__ or "").split("\n\n", 2)[2].rsplit("\n\nWrites", 1)[0],
        table.to_markdown(index=False),
    ]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        fh.write("\n\n".join(parts) + "\n")
    print(out.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
