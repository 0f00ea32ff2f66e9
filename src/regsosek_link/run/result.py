"""What a run gives: :class:`LinkResult`, every stage's output in one object."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import LinkConfig
from ..evaluate import PairwiseScores, blocking_recall, pairwise_scores

__all__ = ["OUTPUT_TABLES", "LinkResult"]

#: The tables a run writes to its output folder.
OUTPUT_TABLES: tuple[str, ...] = ("membership", "registry", "households", "links")


@dataclass
class LinkResult:
    """Everything a run produced, stage by stage.

    ``model`` is None when no pair was ever scored (no candidate pairs and no model given).
    A run saved in a store also carries its ``changes`` (what it did to existing person IDs)
    and its ``run_id``.
    """

    config: LinkConfig
    raw: pd.DataFrame
    records: pd.DataFrame
    pairs: pd.DataFrame
    levels: pd.DataFrame
    model: Any
    probability: np.ndarray
    weight: np.ndarray
    membership: pd.DataFrame
    registry: pd.DataFrame
    households: pd.DataFrame
    links: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    #: Peak resident memory of the process (MB) when each stage ended (a profile by stage).
    peak_memory_mb: dict[str, float] = field(default_factory=dict)
    changes: pd.DataFrame | None = None
    run_id: int | None = None
    #: The per-rule blocking report (:func:`regsosek_link.block.block_with_report`).
    blocking: pd.DataFrame | None = None
    #: Accepted links held back from clustering as truly ambiguous, for clerical review:
    #: ``source_l, record_id_l, source_r, record_id_r, match_probability, reason``
    #: (:func:`regsosek_link.cluster.ambiguous_links`; config ``ambiguity``).
    ambiguous: pd.DataFrame | None = None

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
        """Write membership, registry, households, links (and, for a run saved in a store,
        changes) and the run's config into ``output_dir`` (default ``config.output_dir``) in
        ``formats`` (default ``config.output_formats``), with the run's processing record
        (``processing_record.json``/``.md``, see :mod:`regsosek_link.privacy.processing`)
        and, when ``config.report_explorer`` is set, the analysts' page ``explore.html``
        (:mod:`regsosek_link.explore`); see :func:`regsosek_link.outputs.write_result`."""
        from ..outputs import EXPLORER_FILE, result_files, write_result
        from ..privacy.processing import processing_record

        out_dir = Path(output_dir or self.config.output_dir)
        texts = processing_record(self, out_dir, result_files(self, formats))
        if self.config.report_explorer:  # (it holds records: only when asked for)
            from ..explore import explorer_html

            texts = {EXPLORER_FILE: explorer_html(self), **texts}
        return write_result(self, out_dir, formats=formats, texts=texts)
