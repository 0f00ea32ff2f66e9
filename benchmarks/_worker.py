"""Run one tool on one data set in this process and write a JSON result.

Started by ``run.py`` as its own subprocess, so that peak memory (the parent reads the
child's ``ru_maxrss``) belongs to this tool alone. Reads the cached input, runs the tool
(timed: from the raw source DataFrames to a membership), then evaluates the same way for
every tool.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data
import psutil
from _tools import IMPORTS, TOOLS


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True, choices=sorted(TOOLS))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import regsosek_link
    from regsosek_link.evaluate import blocking_recall, pairwise_scores

    proc = psutil.Process(os.getpid())
    ds = _data.load(args.dataset, args.size)
    out: dict = {"tool": args.tool, "dataset": ds.name, "n_records": ds.n_records, "n_people": ds.n_people,
                 "rss_after_load_mb": round(proc.memory_info().rss / 2**20, 1),
                 "regsosek_link_from": str(Path(regsosek_link.__file__).parent)}
    try:
        t_imp = time.perf_counter()
        for module in IMPORTS.get(args.tool, ()):  # (outside the timed run; see _tools.IMPORTS)
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:  # a module of another revision's layout (run/ vs pipeline.py)
                if exc.name != module:
                    raise
        out["import_s"] = round(time.perf_counter() - t_imp, 3)
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        res = TOOLS[args.tool](ds)
        out["wall_s"] = round(time.perf_counter() - t0, 3)
        out["run_cpu_s"] = round(time.process_time() - cpu0, 3)  # CPU of the timed run alone
        out["stages"] = res["stages"]
        if res.get("stage_peaks_mb"):
            out["stage_peaks_mb"] = res["stage_peaks_mb"]
        t1 = time.perf_counter()
        scores = pairwise_scores(res["membership"], ds.truth)
        out.update({"precision": scores.precision, "recall": scores.recall, "f1": scores.f1,
                    "true_positives": scores.true_positives, "predicted_pairs": scores.predicted_pairs,
                    "true_pairs": scores.true_pairs})
        pairs = res["pairs"]
        if pairs is not None:
            out["candidate_pairs"] = len(pairs)
            order = res["order"]
            truth = ds.truth[["source", "record_id", "person_id"]].astype(str)
            ids = order.merge(truth, on=["source", "record_id"], how="left")["person_id"]
            out["blocking_recall"] = blocking_recall(pairs, ids)
        out["n_clusters"] = int(res["membership"]["person_id"].nunique())
        out["largest_cluster"] = int(res["membership"]["person_id"].value_counts().iloc[0])
        if res.get("sensitivity"):  # untimed extra clusterings of the same predictions
            for name, mem in res["sensitivity"]().items():
                sc = pairwise_scores(mem, ds.truth)
                out[f"{name}_precision"], out[f"{name}_recall"], out[f"{name}_f1"] = sc.precision, sc.recall, sc.f1
        out["evaluate_s"] = round(time.perf_counter() - t1, 3)
        out["status"] = "ok"
    except MemoryError:
        out["status"] = "out of memory"
        out["error"] = traceback.format_exc(limit=3)
    except Exception as exc:  # noqa: BLE001 - recorded, not raised: one failing tool must not stop the run
        out["status"] = f"error: {type(exc).__name__}: {str(exc)[:200]}"
        out["error"] = traceback.format_exc()
    Path(args.out).write_text(json.dumps(out, indent=2, default=float))
    print(json.dumps({k: v for k, v in out.items() if k != "error"}, default=float))
    return 0 if out["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
