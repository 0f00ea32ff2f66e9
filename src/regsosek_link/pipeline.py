"""The pipeline: compose the stages, nothing more.

ingest -> standardise -> block -> compare -> classify -> cluster -> registry. Each stage is a
plain function of plain pandas objects (see the stage modules); :class:`Linker` runs them in
order, times them and keeps every intermediate result on a :class:`LinkResult`.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import ctypes.util
import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from ._codes import column_codes, release, shared_codes
from ._threads import n_threads
from .block import block
from .classify import (
    FellegiSunter,
    level_patterns,
    term_frequency_adjustments,
    train_by_sessions,
    u_from_random_pairs,
)
from .cluster import _record_id_rank, _renumber, cluster_records, person_ids_from_records
from .compare import compare, prepare_comparisons
from .config import LinkConfig, SourceConfig
from .evaluate import PairwiseScores, blocking_recall, pairwise_scores
from .ingest import read_sources
from .registry import CODED_COLUMNS as REGISTRY_CODED_COLUMNS
from .registry import _choose_golden, _cluster_persons, links_table, membership_table
from .review import decision_pairs
from .standardise import standardise

__all__ = ["Linker", "LinkResult", "link"]

log = logging.getLogger(__name__)

T = TypeVar("T")

Progress = Callable[[str, float], None]


@dataclass
class LinkResult:
    """Everything a run produced, stage by stage."""

    config: LinkConfig
    raw: pd.DataFrame
    records: pd.DataFrame
    pairs: pd.DataFrame
    levels: pd.DataFrame
    model: FellegiSunter
    probability: np.ndarray
    weight: np.ndarray
    membership: pd.DataFrame
    registry: pd.DataFrame
    households: pd.DataFrame
    links: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    #: Peak resident memory of the process (MB) when each stage ended (a profile by stage).
    peak_memory_mb: dict[str, float] = field(default_factory=dict)

    @property
    def n_persons(self) -> int:
        return len(self.registry)

    def evaluate(self, truth: pd.DataFrame, *, truth_column: str = "person_id") -> PairwiseScores:
        """Pairwise precision/recall/F1 of the membership against ``truth``."""
        return pairwise_scores(self.membership, truth, truth_column=truth_column)

    def blocking_recall(self, truth: pd.DataFrame, *, truth_column: str = "person_id") -> float:
        """Share of true matching pairs among the candidate pairs."""
        key = self.records[["source", "record_id"]].astype(str)
        t = truth[["source", "record_id", truth_column]].astype(str)
        ids = key.merge(t, on=["source", "record_id"], how="left")[truth_column]
        return blocking_recall(self.pairs, ids)

    def write(self, output_dir: str | Path | None = None, *,
              formats: tuple[str, ...] | None = None) -> dict[str, Path]:
        """Write membership, registry, households and links, and ``config.json``.

        Parameters
        ----------
        output_dir : str or Path, optional
            Defaults to ``config.output_dir``.
        formats : iterable of str, optional
            ``"parquet"`` and/or ``"csv"``; defaults to ``config.output_formats``.

        Returns
        -------
        dict of str to Path
            File name -> path written (see :func:`regsosek_link.outputs.write_tables`).
        """
        from .outputs import write_result

        return write_result(self, output_dir, formats=formats)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (NaN where not measurable)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 1024 / 1024


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None (other C libraries, other systems)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl has no malloc_trim)
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


def _release_free_memory() -> None:
    """Give memory that the stages freed back to the system (glibc only; a no-op elsewhere).

    A stage frees most of what it allocated, but glibc keeps freed blocks of up to 32 MB
    (its dynamic mmap threshold) in its heaps, and a stage's threads leave their arenas
    behind. The pipeline trims before the registry stage, where a run peaks (without it the
    peak at 1,004,010 records was ~210 MB higher), and when the run ends, so that what the
    caller does next does not come on top of the run's garbage. Trimming after every stage
    as well kept the peak the same but handed back memory the next stage asked for again:
    every page of it faulted in anew (~2 us a page on this 2-core machine), ~75,000 more
    page faults and ~0.7 s more per run (8.4 vs 7.7 s, median of five alternating pairs).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


_PAGES: dict[str, Any] = {"runs": 0, "lock": threading.Lock(), "before": None}
#: Runs of at most this many records keep numpy's big arrays on normal pages (see
#: :func:`_small_pages`).
SMALL_PAGES_MAX_RECORDS = 2_000_000


@contextlib.contextmanager
def _small_pages() -> Iterator[Callable[[int], None]]:
    """Yields ``sized(n_records)``: called once the run's size is known, it stops numpy from
    asking the kernel for huge pages for its big arrays, for the rest of the run, when the
    run has at most :data:`SMALL_PAGES_MAX_RECORDS` records.

    With transparent huge pages on ``madvise`` (the usual setting, and this machine's), each
    big temporary array faults in 2 MB pages that the kernel must find (compacting memory)
    and zero. At 1,004,010 records that was 3.5 CPU-s of kernel time per run (``clear_page``
    15 % of all samples under ``perf``); on normal pages 2.1 s, and the median wall time
    8.6 instead of 9.6 s over six alternating runs (paired ratio 0.92), peak the same
    (3,070 vs 3,068 MB). At 2,713,058 records it is the other way round: random gathers over
    arrays of tens of millions of entries need the huge pages' TLB reach (normal pages:
    28.6 and 29.1 s with 11.9 and 11.5 CPU-s in the kernel; huge: 25.1 and 28.1 s, 8.4 and
    10.7). numpy's setting is put back when the last concurrent run ends. Left alone when
    ``NUMPY_MADVISE_HUGEPAGE`` is set (the user's choice) or this numpy has no such switch.
    """
    switch = getattr(getattr(getattr(np, "_core", None), "multiarray", None), "_set_madvise_hugepage", None)
    mine = {"on": False}

    def sized(n_records: int) -> None:
        if (mine["on"] or switch is None or "NUMPY_MADVISE_HUGEPAGE" in os.environ
                or n_records > SMALL_PAGES_MAX_RECORDS):
            return
        with _PAGES["lock"]:
            _PAGES["runs"] += 1
            if _PAGES["runs"] == 1:
                _PAGES["before"] = bool(switch(False))
        mine["on"] = True

    try:
        yield sized
    finally:
        if mine["on"]:
            with _PAGES["lock"]:
                _PAGES["runs"] -= 1
                if _PAGES["runs"] == 0:
                    switch(_PAGES["before"])


class Linker:
    """Run a :class:`~regsosek_link.config.LinkConfig` end to end.

    Parameters
    ----------
    config : LinkConfig
        The run.
    model : FellegiSunter, optional
        A trained model to use instead of training one by EM on this run's pairs.
    decisions : DataFrame, optional
        Reviewers' decisions (:func:`regsosek_link.review.read_decisions`): matches are
        merged first, non-matches never end up in one person.
    constrained : bool
        Cluster under hard constraints (two credible different NIKs, two records of a
        one-record-per-person source, reviewers' non-matches) by cutting the weakest links;
        ``False`` gives the plain connected components of the accepted links.
    """

    def __init__(self, config: LinkConfig, *, model: FellegiSunter | None = None,
                 decisions: pd.DataFrame | None = None, constrained: bool = True) -> None:
        if not isinstance(config, LinkConfig):
            raise TypeError(f"config must be a LinkConfig; got {type(config).__name__}")
        self.config = config
        self.model = model
        self.decisions = decisions
        self.constrained = constrained

    def run(self, data: Mapping[str, pd.DataFrame] | None = None, *, progress: Progress | None = None,
            store: str | Path | None = None) -> LinkResult:
        """Link the configured sources (files, or DataFrames given in ``data`` by source name).

        With ``store`` (a DuckDB file, see :class:`~regsosek_link.store.RegistryStore`) the
        stored reviewers' decisions are honoured and the result is saved there with person
        IDs kept stable against the stored registry.
        """
        # each column factorised once for all stages; big arrays on normal pages (runs of
        # up to 2 M records)
        with shared_codes(), _small_pages() as sized:
            return self._run(data, progress=progress, store=store, sized=sized)

    def _run(self, data: Mapping[str, pd.DataFrame] | None, *, progress: Progress | None,
             store: str | Path | None, sized: Callable[[int], None] = lambda n_records: None) -> LinkResult:
        cfg = self.config
        decisions = self.decisions
        if store is not None:
            from .store import RegistryStore  # (DuckDB is imported only for a run with a store)

            stored = RegistryStore(store).decisions()
            if decisions is None or stored.empty:
                decisions = stored if decisions is None else decisions
            else:
                decisions = pd.concat([stored.astype("string"), decisions.astype("string")], ignore_index=True)
        timings: dict[str, float] = {}
        peaks: dict[str, float] = {}

        def stage(name: str, fn: Callable[[], Any]) -> Any:
            t0 = time.perf_counter()
            if progress:
                progress(name, 0.0)
            value = fn()
            timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
            if progress:
                progress(name, 1.0)
            peaks[name] = _peak_rss_mb()
            log.info("%s took %.2f s (peak memory %.0f MB)", name, timings[name], peaks[name])
            return value

        raw = stage("ingest", lambda: read_sources(cfg, data))
        sized(len(raw))
        records = stage("standardise", lambda: standardise(raw, profile=cfg.profile, workers=cfg.workers))
        single = [s.name for s in cfg.sources if s.one_record_per_person]

        # The comparisons' per-record arrays and the random pairs' levels (u) need the records
        # but not the candidate pairs: with a second core they are made while blocking runs
        # (blocking is mostly numpy sorting, which releases the GIL). Same results either way.
        def prepare_and_u() -> tuple[list[Any], list[np.ndarray] | None]:
            prep = prepare_comparisons(records, cfg.comparisons)
            if self.model is not None:
                return prep, None
            return prep, u_from_random_pairs(records, cfg.comparisons, max_pairs=cfg.u_max_pairs,
                                             random_state=cfg.random_state, prepared=prep, workers=1)

        with _background(enabled=n_threads(cfg.workers) > 1) as submit:
            side = submit(prepare_and_u)
            pairs = stage("block", lambda: block(
                records, cfg.blocking_rules, link_type=cfg.link_type, single_record_sources=single,
                max_block_size=cfg.max_block_size, workers=cfg.workers))

            def compare_stage() -> tuple[list[Any], list[np.ndarray] | None, pd.DataFrame]:
                prep, u = side()
                return prep, u, compare(records, pairs, cfg.comparisons, chunk_size=cfg.chunk_size,
                                        prepared=prep, workers=cfg.workers)

            prepared, u, levels = stage("compare", compare_stage)

        def classify() -> tuple[FellegiSunter, np.ndarray, np.ndarray, pd.DataFrame]:
            # the distinct patterns of levels (a few thousand), for training and for weights
            patterns = level_patterns(levels.to_numpy())
            if self.model is not None:
                model = self.model
            else:
                model = train_model(records, pairs, levels, cfg, prepared=prepared, u=u, patterns=patterns)
            if len(levels) == 0:
                return model, np.zeros(0), np.zeros(0), pd.DataFrame(index=levels.index)
            # the weight of every pair through its pattern, so no per-comparison float matrix
            # is held for all pairs
            tf = term_frequency_adjustments(records, pairs, levels, cfg.comparisons, model)
            pats, _, inverse = patterns
            weight = model.match_weight(pd.DataFrame(pats, columns=levels.columns))[inverse]
            if tf.shape[1]:
                weight = weight + tf.to_numpy().sum(axis=1)
            prob = 1.0 / (1.0 + np.exp2(-np.clip(weight, -1000, 1000)))
            # the term-frequency part of the contributions, for the pairs the links table keeps
            return model, prob, weight, tf[prob >= cfg.review_band[0]]

        if len(levels) == 0:
            raise ValueError("blocking produced no candidate pairs; nothing to train on. Check the blocking rules.")
        # the record-ID order the cluster and registry stages share (an Arrow sort, which
        # releases the GIL) is made into the run's cache while classifying, which is mostly
        # numpy on one thread: the second core is busy while blocking and comparing
        with _background(enabled=n_threads(cfg.workers) > 1) as submit:
            ranked = submit(lambda: _record_id_rank(records))
            model, prob, weight, tf_kept = stage("classify", classify)
            ranked()  # (its errors surface here)
        prepared = None  # (the per-record arrays of the comparisons are not needed any more)

        def links() -> pd.DataFrame:
            # the kept pairs strongest first (the links table's order), and their per-comparison
            # contributions made in that order, so the table takes every column without a copy
            keep = np.flatnonzero(prob >= cfg.review_band[0])
            order = np.argsort(-prob[keep], kind="stable")
            keep = keep[order]
            kept_levels = levels.iloc[keep]
            contrib = model.contributions(kept_levels)
            for c in tf_kept.columns:
                contrib[c] = tf_kept[c].to_numpy()[order]
            return links_table(records, pairs.iloc[keep], kept_levels, contrib, prob[keep], weight[keep],
                               threshold=cfg.threshold, review_low=cfg.review_band[0])

        def cluster() -> tuple[np.ndarray, np.ndarray]:
            must, cannot = decision_pairs(records, decisions)
            return cluster_records(
                records, pairs["left"].to_numpy(), pairs["right"].to_numpy(), prob, threshold=cfg.threshold,
                single_record_sources=single, must_link=must, cannot_link=cannot, constrained=self.constrained)

        # the links table needs the scores, not the persons: with a second core it is made
        # while clustering runs (its takes of numeric columns release the GIL)
        with _background(enabled=n_threads(cfg.workers) > 1) as submit:
            links_done = submit(links)
            labels, weakest = stage("cluster", cluster)
            # the codes only blocking, comparisons and clustering read are not carried into the
            # registry stage, where the run peaks (~85 MB of codes at 1,004,010 records)
            release(records, keep=REGISTRY_CODED_COLUMNS)
            _release_free_memory()

            def registry() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
                # The golden values are chosen by cluster, so the person IDs (hashing, which
                # holds the GIL), their order and the membership table are made on the second
                # core meanwhile; the households are made there from the picks while this
                # thread writes the registry. The same tables as golden_records and
                # households_table give.
                group = _renumber(labels)
                persons = submit(lambda: _cluster_persons(person_ids_from_records(records, labels), group,
                                                          check=False))
                membership = submit(lambda: membership_table(records, persons().person_id, weakest))
                options = {**cfg.golden_options(), "workers": cfg.workers}
                choice = _choose_golden(records, group, int(group.max(initial=-1)) + 1, **options)
                if persons().merged is not None:  # clusters sharing an ID are one person
                    choice = _choose_golden(records, persons().merged, len(persons().persons), **options)
                households = submit(lambda: choice.households(records, persons()))
                return membership(), choice.frame(persons()), households(), links_done()

            membership, reg, hh, links_ = stage("registry", registry)
        _release_free_memory()  # (the caller goes on with the result, not with the run's garbage)
        if len(membership) != len(raw):  # the contract: every input record exactly once
            raise AssertionError(f"membership has {len(membership)} rows for {len(raw)} input records")
        result = LinkResult(
            config=cfg, raw=raw, records=records, pairs=pairs, levels=levels, model=model,
            probability=prob, weight=weight, membership=membership, registry=reg, households=hh,
            links=links_, timings=timings, peak_memory_mb=peaks,
        )
        if store is None:
            return result
        from .store import RegistryStore

        return RegistryStore(store).save(result)

    def update(self, store: str | Path, data: Mapping[str, pd.DataFrame] | None = None, *,
               retrain: bool = False) -> LinkResult:
        """Link a new batch against the registry in ``store`` and save it there.

        Only pairs with at least one new record are blocked, compared and scored (with this
        Linker's model, else the stored one; ``retrain=True`` trains on the new pairs as a
        full run trains); see :meth:`regsosek_link.store.RegistryStore.update`.
        """
        from .store import RegistryStore

        return RegistryStore(store).update(self.config, data, model=self.model, retrain=retrain,
                                           decisions=self.decisions, constrained=self.constrained)


def train_model(
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    levels: pd.DataFrame,
    cfg: LinkConfig,
    *,
    n_all_pairs: int | None = None,
    prepared: list[Any] | None = None,
    u: list[np.ndarray] | None = None,
    patterns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> FellegiSunter:
    """Train the run's Fellegi-Sunter model: ``u`` from random record pairs (unless given:
    :func:`~regsosek_link.classify.u_from_random_pairs` of these records and ``cfg``), ``m``
    by EM sessions per blocking rule, the prior over ``n_all_pairs`` (default: every pair the
    run could compare). Shared by full runs and incremental updates."""
    if u is None:
        u = u_from_random_pairs(records, cfg.comparisons, max_pairs=cfg.u_max_pairs,
                                random_state=cfg.random_state, prepared=prepared, workers=cfg.workers)
    n_all = _n_all_pairs(records, cfg) if n_all_pairs is None else n_all_pairs
    return train_by_sessions(levels, pairs["rules"].to_numpy(), blocked=_blocked_comparisons(cfg),
                             u=u, n_all_pairs=max(n_all, 1), threshold=cfg.threshold, patterns=patterns)


#: Derived clean columns and the person field they come from: a blocking rule on a derived
#: column determines the comparisons of its field.
DERIVED_FROM = {
    "tahun_lahir": "tanggal_lahir",
    "nik_birth_date": "tanggal_lahir",
    "nama_sorted": "nama",
    "nama_phonetic": "nama",
    "nama_ibu_phonetic": "nama_ibu",
}


@contextlib.contextmanager
def _background(*, enabled: bool) -> Iterator[Callable[[Callable[[], T]], Callable[[], T]]]:
    """``submit(fn)`` starts ``fn`` on a second thread (in this context, so it shares the
    run's codes cache) and returns a function that waits for its result and re-raises its
    error. Not ``enabled``: ``fn`` runs when its result is first asked for, on this thread.

    >>> with _background(enabled=False) as submit:
    ...     calls = []
    ...     result = submit(lambda: calls.append(1) or len(calls))
    ...     result(), result(), calls
    (1, 1, [1])
    """
    if not enabled:
        def later(fn: Callable[[], T]) -> Callable[[], T]:
            done: list[T] = []

            def result() -> T:
                if not done:
                    done.append(fn())
                return done[0]
            return result
        yield later
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="regsosek-link") as pool:
        def submit(fn: Callable[[], T]) -> Callable[[], T]:
            return pool.submit(contextvars.copy_context().run, fn).result
        yield submit


def _blocked_comparisons(cfg: LinkConfig) -> dict[int, list[str]]:
    """For each blocking rule, the comparisons whose columns its keys determine."""
    out = {}
    for i, rule in enumerate(cfg.blocking_rules):
        cols = set(rule.columns)
        cols |= {DERIVED_FROM[c] for c in cols if c in DERIVED_FROM}
        out[i] = [
            c.name for c in cfg.comparisons
            if cols & (set(c.columns) | {DERIVED_FROM.get(x, x) for x in c.columns})
        ]
    return out


def _n_all_pairs(records: pd.DataFrame, cfg: LinkConfig) -> int:
    """How many record pairs the run could have compared (before blocking)."""
    n = len(records)
    codes, names = column_codes(records, "source")  # (the run's shared codes: no string pass)
    sizes = np.bincount(codes[codes >= 0], minlength=len(names))
    within = {s: int(k) * (int(k) - 1) // 2 for s, k in zip(names.tolist(), sizes.tolist())}
    total = n * (n - 1) // 2
    if cfg.link_type == "link_only":
        return total - sum(within.values())
    if cfg.link_type == "dedupe_only":
        return sum(within.values())
    single = {s.name for s in cfg.sources if s.one_record_per_person}
    return total - sum(v for s, v in within.items() if s in single)


def link(
    data: Mapping[str, pd.DataFrame],
    *,
    columns: Mapping[str, Mapping[str, str]],
    one_record_per_person: tuple[str, ...] = (),
    **options: Any,
) -> LinkResult:
    """Link DataFrames in one call.

    Parameters
    ----------
    data : mapping of str to DataFrame
        Source name -> its rows.
    columns : mapping of str to mapping
        Source name -> {own column: person-schema column}.
    one_record_per_person : tuple of str
        Sources holding at most one record per person.
    **options
        Any other :class:`~regsosek_link.config.LinkConfig` field (``threshold=0.95``...).
    """
    missing = sorted(set(data) - set(columns))
    if missing:
        raise ValueError(f"no column mapping given for source(s) {missing}")
    sources = tuple(
        SourceConfig(name=name, columns=columns[name], one_record_per_person=name in one_record_per_person)
        for name in data
    )
    return Linker(LinkConfig(sources=sources, **options)).run(data)
