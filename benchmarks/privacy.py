"""Accuracy and time of privacy-preserving (encoded) linkage against the clear run.

    python benchmarks/privacy.py [--people 100000] [--seed 0] [--skip-febrl] [--skip-anonlink]

For the synthetic ministry sources and FEBRL4: the clear run (Linker on the raw sources)
and the encoded run (each source standardised and encoded on its own, as a data holder
would, then :func:`regsosek_link.privacy.link_encoded`), with pairwise precision, recall
and F1 against the truth and wall times. The Dice throughput of this library's kernel and
of anonlink's (``anonlink.similarities.dice_coefficient_accelerated``, if installed) on the
same name filters is the speed anchor. Writes benchmarks/results/privacy.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from pathlib import Path
from typing import Self

import numpy as np

from regsosek_link import LinkConfig, Linker, SourceConfig, standardise
from regsosek_link.block import BlockOn
from regsosek_link.compare import ExactMatch
from regsosek_link.datasets import load_febrl4, make_sources
from regsosek_link.ingest import read_sources
from regsosek_link.privacy import (
    DiceAtThresholds,
    EncodingSettings,
    FilterSpec,
    SecretKey,
    decode_filters,
    dice,
    encode_records,
    encoded_blocking_rules,
    encoded_config,
    link_encoded,
)

OUT = Path(__file__).resolve().parent / "results" / "privacy.md"


class _Clock:
    """Wall and CPU seconds (this process, all threads) of a block."""

    def __enter__(self) -> Self:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def _encode_each(cfg: LinkConfig, data: dict, key: SecretKey, settings: EncodingSettings | None) -> tuple[dict, _Clock]:
    """Each source read, standardised and encoded alone (as its holder would); total time."""
    with _Clock() as clock:
        out = {}
        for s in cfg.sources:
            one = cfg.replace(sources=(s,))
            raw = read_sources(one, {s.name: data[s.name]})
            recs = standardise(raw, profile=cfg.profile)
            out[s.name] = encode_records(recs, key, settings=settings)
    return out, clock


def synthetic(people: int, seed: int, key: SecretKey) -> tuple[list[str], np.ndarray]:
    syn = make_sources(n_people=people, random_state=seed)
    single = [k for k, v in syn.source_info.items() if v["one_record_per_person"]]
    cfg = LinkConfig(sources=tuple(SourceConfig(name=k, columns=m, one_record_per_person=k in single)
                                   for k, m in syn.mappings.items()))
    with _Clock() as t_clear:
        clear = Linker(cfg).run(syn.sources)
    enc, t_enc = _encode_each(cfg, syn.sources, key, None)
    with _Clock() as t_link:
        res = link_encoded(enc, one_record_per_person=single)
    ec, ee = clear.evaluate(syn.truth), res.evaluate(syn.truth)
    n = len(clear.membership)
    rows = [(f"| synthetic {people:,} people | {n:,} | clear | {ec.precision:.4f} | {ec.recall:.4f} | {ec.f1:.4f} | "
            f"{len(clear.pairs):,} | {t_clear.wall:.1f} | {t_clear.cpu:.1f} | |"),
            (f"| synthetic {people:,} people | {n:,} | encoded | {ee.precision:.4f} | {ee.recall:.4f} | {ee.f1:.4f} | "
            f"{len(res.pairs):,} | {t_enc.wall + t_link.wall:.1f} | {t_enc.cpu + t_link.cpu:.1f} | "
            f"CPU: encode {t_enc.cpu:.1f} + link {t_link.cpu:.1f}; "
            f"{(t_enc.cpu + t_link.cpu) / t_clear.cpu:.1f}x the clear run |")]
    names = np.concatenate([e["nama"].dropna().to_numpy(dtype=object) for e in enc.values()])
    return rows, names


def febrl(key: SecretKey) -> list[str]:
    data = load_febrl4()
    cfg = data.config
    with _Clock() as t_clear:
        clear = Linker(cfg).run(data.sources)
    rules = tuple(r for r in cfg.blocking_rules if isinstance(r, BlockOn))
    settings = EncodingSettings(
        filters=(FilterSpec(column="given_name", bits=512, hashes=20), FilterSpec(column="surname", bits=512, hashes=20),
                 FilterSpec(column="alamat", bits=1024, hashes=15), FilterSpec(column="suburb", bits=512, hashes=15),
                 FilterSpec(column="tanggal_lahir", tokens="date", bits=256, hashes=10)),
        hashed_columns=("soc_sec_id", "postcode", "state", "street_number"), blocking_rules=rules)
    enc, t_enc = _encode_each(cfg, data.sources, key, settings)
    ecfg = encoded_config([s.name for s in cfg.sources], settings=settings, link_type=cfg.link_type,
                          threshold=cfg.threshold, comparisons=(
                              DiceAtThresholds(column="given_name"), DiceAtThresholds(column="surname"),
                              ExactMatch(column="street_number"), DiceAtThresholds(column="alamat"),
                              DiceAtThresholds(column="suburb", thresholds=(0.85,)), ExactMatch(column="postcode"),
                              ExactMatch(column="state"),
                              DiceAtThresholds(column="tanggal_lahir", thresholds=(0.5, 0.7, 0.85, 0.93)),
                              ExactMatch(column="soc_sec_id")),
                          blocking_rules=encoded_blocking_rules(settings))
    with _Clock() as t_link:
        res = link_encoded(enc, config=ecfg)
    ec, ee = clear.evaluate(data.truth), res.evaluate(data.truth)
    n = len(clear.membership)
    return [(f"| FEBRL4 | {n:,} | clear | {ec.precision:.4f} | {ec.recall:.4f} | {ec.f1:.4f} | {len(clear.pairs):,} | "
            f"{t_clear.wall:.1f} | {t_clear.cpu:.1f} | |"),
            (f"| FEBRL4 | {n:,} | encoded | {ee.precision:.4f} | {ee.recall:.4f} | {ee.f1:.4f} | {len(res.pairs):,} | "
            f"{t_enc.wall + t_link.wall:.1f} | {t_enc.cpu + t_link.cpu:.1f} | CPU: encode {t_enc.cpu:.1f} + link "
            f"{t_link.cpu:.1f} (sorted-neighbourhood rule dropped) |")]


def dice_speed(names: np.ndarray, n: int = 4000) -> list[str]:
    """All pairs of ``n`` x ``n`` name filters: pairs per second of each kernel."""
    filters = decode_filters(list(names[: 2 * n]))
    a, b = filters[:n], filters[n:2 * n]
    t0 = time.perf_counter()
    for i in range(0, n, 250):  # rows of a against all of b, in blocks
        left = np.repeat(np.arange(i, min(i + 250, n)), n)
        right = np.tile(np.arange(n), min(i + 250, n) - i)
        dice(a[left], b[right])
    ours = n * n / (time.perf_counter() - t0)
    rows = [(f"| regsosek_link `privacy.dice` (numpy `bitwise_count`, gathers per pair) | {n:,} x {n:,} | "
            f"{ours / 1e6:.1f} M pairs/s |")]
    try:
        from anonlink.similarities import dice_coefficient_accelerated
        from bitarray import bitarray
    except ImportError as exc:
        return rows + [f"| anonlink | not installed ({exc}) | |"]
    def to_bits(m: np.ndarray) -> list:
        out = []
        for row in m:
            ba = bitarray()
            ba.frombytes(row.tobytes())
            out.append(ba)
        return out
    da, db = to_bits(a), to_bits(b)
    t0 = time.perf_counter()
    dice_coefficient_accelerated([da, db], threshold=0.0)
    theirs = n * n / (time.perf_counter() - t0)
    import anonlink
    rows.append(f"| anonlink {anonlink.__version__} `dice_coefficient_accelerated` (C++, threshold 0, all pairs) | "
                f"{n:,} x {n:,} | {theirs / 1e6:.1f} M pairs/s |")
    return rows


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--people", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-febrl", action="store_true")
    p.add_argument("--skip-anonlink", action="store_true")
    args = p.parse_args()
    warnings.simplefilter("ignore")
    key = SecretKey(os.urandom(32), origin="a fresh random key")
    rows, names = synthetic(args.people, args.seed, key)
    if not args.skip_febrl:
        rows += febrl(key)
    speed = [] if args.skip_anonlink else dice_speed(names)
    text = ["# Privacy-preserving linkage: accuracy and time, clear vs encoded", "",
            f"Command: `python benchmarks/privacy.py --people {args.people} --seed {args.seed}`  ",
            (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
            f"Python {platform.python_version()}; run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}."), "",
            ("The encoded time includes standardising each source (the clear run's time includes its ingest and "
            "standardisation too). CPU s is this process's CPU time (all its threads), the figure to compare on a "
            "loaded machine. Pairwise precision/recall/F1 against the truth."), "",
            "| data | records | run | precision | recall | F1 | candidate pairs | wall s | CPU s | notes |",
            "|---|---|---|---|---|---|---|---|---|---|", *rows, ""]
    if speed:
        text += ["## Dice throughput (speed anchor)", "", "| kernel | filters | throughput |", "|---|---|---|",
                 *speed, ""]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(text) + "\n", encoding="utf-8")
    print("\n".join(text))


if __name__ == "__main__":
    main()
