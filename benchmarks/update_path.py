"""The registry's life cycle through the CLI: `run --store`, then `update` with a batch, against a
full rerun on all records; time and peak memory of each command, for one or more installs.

    python benchmarks/update_path.py --work /tmp/upd --people 370000 --share 0.05 --turns 2 \\
        --cli main=.venv/bin/regsosek-link --cli acd8c4b=/path/to/old/.venv/bin/regsosek-link

The generator's sources (``make_sources``, this checkout's) are split at random, each source
by itself: ``1 - share`` of its rows go to ``old/``, the rest to ``batch/``; ``all/`` holds
every row. Per install and turn (the installs take turns on the shared machine), each command
runs in a fresh process under ``/usr/bin/time`` (wall seconds, maximum RSS):

1. ``run cfg_old.yaml --store S`` (a fresh store), 2. ``update cfg_batch.yaml --store S`` (the
batch config names the five sources with their batch files and the same settings),
3. ``run cfg_all.yaml --store S2`` (a fresh store: the full rerun an update saves).

The memberships written by steps 2 and 3 are scored against the generator's truth (pairwise
P/R/F1) and against each other (pairwise, the full rerun as the reference). Written to
``results/update_path[_TAG].md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent


def prepare(work: Path, people: int, share: float, seed: int) -> dict:
    """Write old/, batch/, all/ Parquet sources, the three configs and the truth."""
    meta_file = work / "meta.json"
    if meta_file.exists():
        return json.loads(meta_file.read_text())
    from regsosek_link.datasets import make_sources

    syn = make_sources(n_people=people, random_state=seed)
    rng = np.random.default_rng(seed)
    counts = {"old": 0, "batch": 0, "all": 0}
    for part in counts:
        (work / part).mkdir(parents=True, exist_ok=True)
    for name, frame in syn.sources.items():
        in_batch = rng.random(len(frame)) < share
        parts = {"old": frame[~in_batch], "batch": frame[in_batch], "all": frame}
        for part, rows in parts.items():
            rows.reset_index(drop=True).to_parquet(work / part / f"{name}.parquet", index=False)
            counts[part] += len(rows)
    for part in counts:
        sources = []
        for name in syn.sources:
            info = syn.source_info.get(name, {})
            single = bool(info.get("one_record_per_person", False))
            sources.append({"name": name, "path": str(work / part / f"{name}.parquet"),
                            "columns": dict(syn.mappings[name]), "one_record_per_person": single,
                            "priority": 1 if single else 100})
        cfg = {"sources": sources, "output_dir": str(work / f"out_{part}"), "random_state": seed}
        (work / f"cfg_{part}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    syn.truth[["source", "record_id", "person_id"]].astype(str).to_parquet(work / "truth.parquet", index=False)
    meta = {"people": people, "share": share, "seed": seed, "records": counts}
    meta_file.write_text(json.dumps(meta))
    return meta


def timed(cmd: list[str], log: Path) -> dict:
    """Run ``cmd`` under /usr/bin/time; wall seconds, maximum RSS (MB) and exit code."""
    stats = log.with_suffix(".time")
    with open(log, "w") as out:
        code = subprocess.run(["/usr/bin/time", "-o", str(stats), "-f", "%e %M %U %S", *cmd], stdout=out,
                              stderr=subprocess.STDOUT, check=False).returncode
    wall, rss_kb, user, sys_ = stats.read_text().split()[-4:]
    return {"exit": code, "wall_s": float(wall), "peak_mb": int(rss_kb) / 1024, "cpu_s": float(user) + float(sys_),
            "load_1min_at_start": None}


def membership(folder: Path) -> pd.DataFrame:
    for name in ("membership.parquet", "membership.csv"):
        if (folder / name).exists():
            f = folder / name
            frame = pd.read_parquet(f) if f.suffix == ".parquet" else pd.read_csv(f, dtype=str)
            return frame[["source", "record_id", "person_id"]].astype(str)
    raise FileNotFoundError(f"no membership file in {folder}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, help="folder for the sources, stores and outputs")
    ap.add_argument("--people", type=int, default=370_000)
    ap.add_argument("--share", type=float, default=0.05, help="share of each source in the batch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--turns", type=int, default=2)
    ap.add_argument("--cli", action="append", required=True, help="LABEL=path/to/regsosek-link (repeatable)")
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    from regsosek_link.evaluate import pairwise_scores

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    meta = prepare(work, args.people, args.share, args.seed)
    truth = pd.read_parquet(work / "truth.parquet")
    clis = dict(c.split("=", 1) for c in args.cli)
    runs: list[dict] = []
    command = "python benchmarks/update_path.py " + " ".join(argv if argv is not None else sys.argv[1:])
    stem = Path(args.out) / (f"update_path_{args.tag}" if args.tag else "update_path")
    for turn in range(1, args.turns + 1):
        for label, exe in clis.items():
            helptext = subprocess.run([exe, "run", "--help"], capture_output=True, text=True, check=False).stdout
            no_report = ["--no-report"] if "--no-report" in helptext else []  # older CLIs wrote a report by default
            d = work / f"{label}_{turn}"
            subprocess.run(["rm", "-rf", str(d)], check=True)
            d.mkdir()
            steps = {
                "run --store (old records)": [exe, "run", str(work / "cfg_old.yaml"), "--store", str(d / "s.duckdb"),
                                              "--out", str(d / "out_old"), "--quiet", *no_report],
                "update (batch)": [exe, "update", str(work / "cfg_batch.yaml"), "--store", str(d / "s.duckdb"),
                                   "--out", str(d / "out_update")],
                "full rerun --store (all records)": [exe, "run", str(work / "cfg_all.yaml"), "--store",
                                                     str(d / "s2.duckdb"), "--out", str(d / "out_all"), "--quiet",
                                                     *no_report],
            }
            for step, cmd in steps.items():
                load = round(os.getloadavg()[0], 2)
                print(f"[{time.strftime('%H:%M:%S')}] turn {turn} {label}: {step} ...", flush=True)
                row = timed(cmd, d / (step.split()[0] + ("_upd" if step.startswith("update") else
                                                         "_all" if "full" in step else "_old") + ".log"))
                row.update(turn=turn, cli=label, step=step, load_1min_at_start=load,
                           command=" ".join(Path(c).name if c == exe else c for c in cmd))
                print(f"  exit {row['exit']}, {row['wall_s']:.1f} s, {row['peak_mb']:,.0f} MB", flush=True)
                runs.append(row)
                write_md(stem, command, meta, runs, list(clis))  # (a long run leaves its partial table)
            for step, out in (("update (batch)", "out_update"), ("full rerun --store (all records)", "out_all")):
                row = next(r for r in runs if r["turn"] == turn and r["cli"] == label and r["step"] == step)
                try:
                    m = membership(d / out)
                except FileNotFoundError as exc:
                    row["scores"] = str(exc)
                    continue
                sc = pairwise_scores(m, truth)
                row.update(records=len(m), persons=int(m["person_id"].nunique()), precision=sc.precision,
                           recall=sc.recall, f1=sc.f1)
            upd = next(r for r in runs if r["turn"] == turn and r["cli"] == label and r["step"] == "update (batch)")
            if "f1" in upd:
                ref = membership(d / "out_all").rename(columns={"person_id": "person_id"})
                agree = pairwise_scores(membership(d / "out_update"), ref)
                upd["agreement_with_full_rerun"] = {"precision": agree.precision, "recall": agree.recall,
                                                    "f1": agree.f1}
            stem.with_suffix(".json").write_text(json.dumps({"command": command, "meta": meta, "runs": runs}, indent=2))
            write_md(stem, command, meta, runs, list(clis))
    print(stem.with_suffix(".md").read_text())
    return 0


def write_md(stem: Path, command: str, meta: dict, runs: list[dict], labels: list[str]) -> None:
    r = meta["records"]
    lines = ["# The update path at scale: run --store, update with a batch, full rerun", "",
             f"Command: `{command}`", "",
             (f"Data: `make_sources(n_people={meta['people']:,}, random_state={meta['seed']})`, each source split at "
             f"random: {r['old']:,} records in the first run, a batch of {r['batch']:,} "
             f"({meta['share']:.0%} of each source), {r['all']:,} in the full rerun. Each command in a fresh "
             "process under `/usr/bin/time` (wall, maximum RSS); the installs took turns on the shared 2-core "
             "machine. F1: pairwise against the generator's truth; 'agrees with rerun': the update's membership "
             "scored against the full rerun's."), "",
             "| turn | install | step | load | exit | wall s | cpu s | peak MB | persons | P | R | F1 | agrees with rerun (F1) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for x in runs:
        agree = x.get("agreement_with_full_rerun", {}).get("f1")
        lines.append(f"| {x['turn']} | {x['cli']} | {x['step']} | {x['load_1min_at_start']} | {x['exit']} | "
                     f"{x['wall_s']:.1f} | {x['cpu_s']:.1f} | {x['peak_mb']:,.0f} | "
                     + (f"{x['persons']:,} | {x['precision']:.4f} | {x['recall']:.4f} | {x['f1']:.4f} | "
                        if "f1" in x else "| | | | ")
                     + (f"{agree:.4f} |" if agree is not None else "|"))
    lines += ["", "Ratios per turn (update / full rerun, same install; and install / first install, same step):", ""]
    for label in labels:
        for turn in sorted({x["turn"] for x in runs}):
            by = {x["step"]: x for x in runs if x["cli"] == label and x["turn"] == turn}
            u, f = by.get("update (batch)"), by.get("full rerun --store (all records)")
            if u and f and u["exit"] == 0 and f["exit"] == 0:
                lines.append(f"- {label}, turn {turn}: update / full rerun: wall {u['wall_s'] / f['wall_s']:.3f}, "
                             f"peak {u['peak_mb'] / f['peak_mb']:.3f}")
    first = labels[0]
    for label in labels[1:]:
        for step in dict.fromkeys(x["step"] for x in runs):
            pairs = [(a, b) for a in runs for b in runs if a["cli"] == first and b["cli"] == label
                     and a["step"] == b["step"] == step and a["turn"] == b["turn"] and a["exit"] == b["exit"] == 0]
            if pairs:
                walls = [b["wall_s"] / a["wall_s"] for a, b in pairs]
                peaks = [b["peak_mb"] / a["peak_mb"] for a, b in pairs]
                lines.append(f"- {step}: {label} / {first}: wall " + ", ".join(f"{w:.3f}" for w in walls)
                             + f" (median {statistics.median(walls):.3f}); peak " + ", ".join(f"{p:.3f}" for p in peaks))
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
