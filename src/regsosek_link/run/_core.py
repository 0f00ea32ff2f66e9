"""The one pipeline: block -> compare -> classify -> cluster -> person IDs -> registry.

A full run, an update, a re-link and a withdrawal all come here with clean records; they
differ only in what they pass:

- ``new``: a flag per record; only pairs with a flagged record are blocked (an update
  blocks its batch against the stored records). ``None``: every pair (a full run).
- ``kept``: links already scored by an earlier run (stored links between kept records),
  clustered together with this run's pairs.
- ``previous``: the stored membership, against which person IDs are kept stable.

This module composes public stage functions and holds no stage logic.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .._arrays import stable_argsort
from .._codes import CodeBook
from .._threads import background, n_threads
from ..block import Blocking, block_with_report, usable_blocking_rules
from ..classify import (
    level_patterns,
    n_possible_pairs,
    score_pairs,
    train_model,
    u_from_random_pairs,
)
from ..cluster import (
    cluster_records,
    join_lone_records_of_run,
    record_id_rank,
    weigh_constraints,
)
from ..compare import compare, prepare_comparisons, usable_comparisons
from ..config import LinkConfig
from ..ids import person_id_salt, person_ids
from ..registry import CODED_COLUMNS as REGISTRY_CODED_COLUMNS
from ..registry import links_table, registry_tables
from ..review import decision_pairs, held_table
from ._memory import ProcessTuning, peak_rss_mb
from .result import LinkResult

log = logging.getLogger("regsosek_link.run")

Progress = Callable[[str, float], None]


class NoCandidatePairsWarning(UserWarning):
    """Blocking found no candidate pair: every record is its own person."""


@dataclass(frozen=True, kw_only=True)
class KeptLinks:
    """Links scored by an earlier run, between records of this run (row positions)."""

    left: np.ndarray
    right: np.ndarray
    probability: np.ndarray
    table: pd.DataFrame  #: their rows of the links table

    @classmethod
    def none(cls) -> KeptLinks:
        return cls(left=np.zeros(0, np.int64), right=np.zeros(0, np.int64), probability=np.zeros(0),
                   table=pd.DataFrame())


@dataclass(frozen=True, kw_only=True)
class Previous:
    """The registry a run keeps person IDs stable against."""

    membership: pd.DataFrame  #: ``key`` (``source|record_id``), ``person_id``
    issued: frozenset[str]
    first_seen: dict[str, int]


class Stages:
    """A run's context: it times each stage and notes the process's peak memory after it,
    and holds what every stage of the run shares, passed to each explicitly: the column
    codes (``book``) and the opt-in process tuning (``tuning``)."""

    def __init__(self, progress: Progress | None, *, tuning: ProcessTuning) -> None:
        self.progress = progress
        self.tuning = tuning
        self.book = CodeBook()
        self.timings: dict[str, float] = {}
        self.peaks: dict[str, float] = {}

    def __call__(self, name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        if self.progress:
            self.progress(name, 0.0)
        value = fn()
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
        if self.progress:
            self.progress(name, 1.0)
        self.peaks[name] = peak_rss_mb()
        log.info("%s took %.2f s (peak memory %.0f MB)", name, self.timings[name], self.peaks[name])
        return value


def _no_pairs(cfg: LinkConfig) -> Blocking:
    pairs = pd.DataFrame({"left": np.zeros(0, np.int64), "right": np.zeros(0, np.int64),
                          "rule": np.zeros(0, np.int8), "rules": np.zeros(0, np.int64)})
    return Blocking(pairs, pd.DataFrame({"rule": [r.label for r in cfg.blocking_rules], "pairs_generated": 0,
                                         "new_pairs": 0}))


def link_records(
    records: pd.DataFrame,
    cfg: LinkConfig,
    *,
    raw: pd.DataFrame,
    stages: Stages,
    model: Any = None,
    decisions: pd.DataFrame | None = None,
    constrained: bool = True,
    new: np.ndarray | None = None,
    kept: KeptLinks | None = None,
    previous: Previous | None = None,
) -> LinkResult:
    """Link clean ``records`` (see the module docstring for ``new``, ``kept``, ``previous``).

    ``stages`` holds the run's column codes (handed to every stage) and its process tuning.
    ``model``: score with it instead of training one on this run's pairs (the training
    prior is a share of every pair blocking could have made: with ``new``, of those with a
    new record; see :func:`regsosek_link.classify.n_possible_pairs`).
    """
    kept = kept or KeptLinks.none()
    book, tuning = stages.book, stages.tuning
    # what no record can take part in drops out, with a note (a source set without sexes or
    # birth dates links on what it has); a given model scores the comparisons it was trained on
    notes: list[str] = []
    if model is None:
        comparisons, notes = usable_comparisons(cfg.comparisons, records, codes=book)
        cfg = cfg.replace(comparisons=comparisons)
    rules, rule_notes = usable_blocking_rules(cfg.blocking_rules, records, codes=book)
    if rules:  # (none: no record has a key of any rule, nor a NIK or a name sound; no pairs)
        cfg = cfg.replace(blocking_rules=rules)
    for note in notes + rule_notes:
        log.info(note)
    single = [s.name for s in cfg.sources if s.one_record_per_person]
    two = n_threads(cfg.workers) > 1
    blocking = bool(rules) and (new is None or bool(np.asarray(new).any()))

    # The comparisons' per-record arrays and the random pairs' levels (u) need the records
    # but not the candidate pairs: with a second core they are made while blocking runs
    # (blocking is mostly numpy sorting, which releases the GIL). Same results either way.
    def prepare_and_u() -> tuple[list[Any], list[np.ndarray] | None]:
        prep = prepare_comparisons(records, cfg.comparisons, codes=book)
        if model is not None or not blocking:
            return prep, None
        return prep, u_from_random_pairs(records, cfg.comparisons, max_pairs=cfg.u_max_pairs,
                                         random_state=cfg.random_state, prepared=prep, workers=1, codes=book)

    with background(enabled=two) as submit:
        side = submit(prepare_and_u) if blocking else None
        blocked = stages("block", lambda: block_with_report(
            records, cfg.blocking_rules, link_type=cfg.link_type, single_record_sources=single,
            max_block_size=cfg.max_block_size, workers=cfg.workers, new=new, codes=book) if blocking else _no_pairs(cfg))
        pairs = blocked.pairs

        def compare_stage() -> tuple[list[Any] | None, list[np.ndarray] | None, pd.DataFrame]:
            if side is None or len(pairs) == 0:
                names = [c.name for c in cfg.comparisons]
                return None, None, pd.DataFrame({n: np.zeros(0, np.int8) for n in names})
            prep, u = side()
            return prep, u, compare(records, pairs, cfg.comparisons, chunk_size=cfg.chunk_size,
                                    prepared=prep, workers=cfg.workers, codes=book)

        prepared, u, levels = stages("compare", compare_stage)

    if len(pairs) == 0 and new is None:
        warnings.warn(
            f"blocking found no candidate pairs among {len(records):,} records, so every record is "
            "its own person" + ("" if model is not None else " and no model was trained")
            + (". With so few records or keys this can be right; otherwise check the blocking rules." if rules else
               ": no record has a value for the keys of any blocking rule, nor a NIK or a name once cleaned."),
            NoCandidatePairsWarning, stacklevel=3)

    def classify() -> tuple[Any, np.ndarray, np.ndarray, pd.DataFrame]:
        patterns = level_patterns(levels.to_numpy())  # the distinct level patterns (a few thousand)
        fitted = model
        if fitted is None and len(levels):
            n_all = n_possible_pairs(records, link_type=cfg.link_type, single_record_sources=single, new=new,
                                     codes=book)
            fitted = train_model(records, pairs, levels, comparisons=cfg.comparisons,
                                 blocking_rules=cfg.blocking_rules, threshold=cfg.threshold, n_all_pairs=n_all,
                                 u=u, u_max_pairs=cfg.u_max_pairs, random_state=cfg.random_state,
                                 prepared=prepared, patterns=patterns, workers=cfg.workers, codes=book)
        if fitted is None or len(levels) == 0:
            return fitted, np.zeros(0), np.zeros(0), pd.DataFrame(index=levels.index)
        scores = score_pairs(fitted, records, pairs, levels, cfg.comparisons, patterns=patterns, codes=book)
        # the term-frequency part of the contributions, for the pairs the links table keeps
        kept_tf = scores.term_frequency[scores.probability >= cfg.review_band[0]]
        return fitted, scores.probability, scores.weight, kept_tf

    # the record-ID order the cluster and registry stages share (an Arrow sort, which
    # releases the GIL) is made while classifying, which is mostly numpy on one thread
    with background(enabled=two) as submit:
        ranked = submit(lambda: record_id_rank(records, codes=book))
        fitted, prob, weight, tf_kept = stages("classify", classify)
        ranked()  # (its errors surface here)
    prepared = None  # (the per-record arrays of the comparisons are not needed any more)
    # nor the codes only blocking and the comparisons read: clustering, the links table and
    # the registry stage read those of the registry's fields, sources and record IDs
    book.release(records, keep=REGISTRY_CODED_COLUMNS)

    def links() -> pd.DataFrame:
        # the kept pairs strongest first (the links table's order), and their per-comparison
        # contributions made in that order, so the table takes every column without a copy
        keep = np.flatnonzero(prob >= cfg.review_band[0])
        order = stable_argsort(prob[keep], descending=True)
        keep = keep[order]
        kept_levels = levels.iloc[keep]
        if fitted is None:
            return links_table(records, pairs.iloc[keep], kept_levels, pd.DataFrame(index=kept_levels.index),
                               prob[keep], weight[keep], threshold=cfg.threshold, review_low=cfg.review_band[0],
                               codes=book)
        contrib = fitted.contributions(kept_levels)
        for c in tf_kept.columns:
            contrib[c] = tf_kept[c].to_numpy()[order]
        fresh = links_table(records, pairs.iloc[keep], kept_levels, contrib, prob[keep], weight[keep],
                            threshold=cfg.threshold, review_low=cfg.review_band[0], codes=book)
        if len(kept.table) == 0:
            return fresh
        # (no new link: the kept ones with the table's columns; pandas would take the dtypes
        # of an empty frame's columns into account in a concat, with a warning)
        both = (pd.concat([kept.table, fresh], ignore_index=True) if len(fresh) else
                kept.table.reindex(columns=kept.table.columns.union(fresh.columns, sort=False)))
        return both.sort_values("match_probability", ascending=False, kind="mergesort").reset_index(drop=True)

    held = pd.DataFrame({"pair": np.zeros(0, np.int64), "reason": pd.array([], dtype="string")})

    def cluster() -> tuple[np.ndarray, np.ndarray]:
        nonlocal held
        must, cannot = decision_pairs(records, decisions)
        left, right = pairs["left"].to_numpy(np.int64), pairs["right"].to_numpy(np.int64)
        p = prob
        if len(kept.left):  # (a full run keeps no links: no copies of its millions of pairs)
            left, right = np.concatenate([kept.left, left]), np.concatenate([kept.right, right])
            p = np.concatenate([kept.probability, prob])
        all_weight = weight
        if constrained and fitted is not None:
            # the kept links (an update) are weighed with this run's: their stored levels and
            # weights, so an update holds and yields what a full run would
            all_pairs, all_levels = pairs, levels
            if len(kept.left):
                names = [c.name for c in cfg.comparisons]
                have = all(f"level_{c}" in kept.table for c in names)
                kept_levels = (kept.table[[f"level_{c}" for c in names]].set_axis(names, axis=1).astype(np.int8)
                               if have else pd.DataFrame({c: np.full(len(kept.left), -1, np.int8) for c in names}))
                kept_weight = (kept.table["match_weight"].to_numpy(float) if have
                               else np.full(len(kept.left), -np.inf))
                all_pairs = pd.DataFrame({"left": left, "right": right})
                all_levels = pd.concat([kept_levels, levels.reset_index(drop=True)], ignore_index=True)
                all_weight = np.concatenate([kept_weight, weight])
            yields, held = weigh_constraints(records, all_pairs, all_levels, p, all_weight,
                                             fitted, cfg, single_record_sources=single, codes=book)
        else:
            yields = None
        # only accepted links can merge: the clustering is given those (a fifth of the
        # pairs), not every pair; truly ambiguous links are not merged: they wait for a reviewer
        accepted = p >= cfg.threshold
        accepted[held["pair"].to_numpy()] = False
        at = np.flatnonzero(accepted)
        del accepted
        with tuning.gc_paused():
            labels, weakest = cluster_records(
                records, left[at], right[at], p[at], threshold=cfg.threshold,
                single_record_sources=single, must_link=must, cannot_link=cannot, constrained=constrained,
                nik_constraint=cfg.nik_constraint, yield_links=None if yields is None else yields[at], codes=book)
        if constrained and fitted is not None:
            # records no link accepted join their one likely candidate's person
            labels, weakest = join_lone_records_of_run(
                records, left, right, p, all_weight, labels, weakest, cfg, single_record_sources=single,
                cannot_link=cannot, rank=record_id_rank(records, codes=book), codes=book)
        return labels, weakest

    changes: list[pd.DataFrame] = []
    salt = person_id_salt(cfg)

    def ids(labels: np.ndarray) -> np.ndarray:
        if previous is None:
            return person_ids(records, labels, salt=salt)[0]
        pid, ch = person_ids(records, labels, previous.membership, issued=previous.issued,
                             first_seen=previous.first_seen, salt=salt)
        changes.append(ch)
        return pid

    # the links table needs the scores, not the persons: with a second core it is made
    # while clustering runs (its takes of numeric columns release the GIL)
    with background(enabled=two) as submit:
        links_done = submit(links)
        labels, weakest = stages("cluster", cluster)
        tuning.release_free_memory()

        def registry() -> tuple[Any, pd.DataFrame]:
            tables = registry_tables(records, labels, weakest, person_ids=lambda: ids(labels),
                                     workers=cfg.workers, codes=book, **cfg.golden_options())
            return tables, links_done()

        tables, links_ = stages("registry", registry)
    tuning.release_free_memory()  # (the caller goes on with the result, not with the run's garbage)
    if len(tables.membership) != len(records):  # the contract: every record exactly once
        raise AssertionError(f"membership has {len(tables.membership)} rows for {len(records)} records")
    return LinkResult(
        config=cfg, raw=raw, records=records, pairs=pairs, levels=levels, model=fitted,
        probability=prob, weight=weight, membership=tables.membership, registry=tables.registry,
        households=tables.households, links=links_, timings=stages.timings, peak_memory_mb=stages.peaks,
        blocking=blocked.report,
        changes=changes[0] if changes else None,
        ambiguous=_held(records, kept, pairs, prob, held),
    )


def _held(records: pd.DataFrame, kept: KeptLinks, pairs: pd.DataFrame, prob: np.ndarray,
          held: pd.DataFrame) -> pd.DataFrame:
    """:func:`held_table` of the held links (``held["pair"]`` indexes the kept links, then
    the run's pairs), taken from the two without joining them (millions of pairs)."""
    at = held["pair"].to_numpy(np.int64)
    n_kept = len(kept.left)
    old, new = at < n_kept, at >= n_kept
    left, right, p = np.empty(len(at), np.int64), np.empty(len(at), np.int64), np.empty(len(at))
    for mask, pos, (lf, rg, pr) in ((old, at[old], (kept.left, kept.right, kept.probability)),
                                   (new, at[new] - n_kept, (pairs["left"], pairs["right"], prob))):
        left[mask], right[mask], p[mask] = np.asarray(lf)[pos], np.asarray(rg)[pos], np.asarray(pr)[pos]
    return held_table(records, pd.DataFrame({"left": left, "right": right}), p,
                      held.assign(pair=np.arange(len(at))))
