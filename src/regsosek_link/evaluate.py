"""Evaluate stage: membership + ground truth -> precision, recall, F1.

Pairwise metrics count pairs of records: a predicted pair is two records given the same
person ID, a true pair two records of the same true person. They are computed from the
contingency table of (predicted person, true person) without listing any pair, so they
scale to millions of records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .errors import ConfigError

__all__ = ["PairwiseScores", "blocking_recall", "pairwise_scores", "true_pairs"]


@dataclass(frozen=True, kw_only=True)
class PairwiseScores:
    """Pairwise precision, recall and F1 with the counts behind them."""

    precision: float
    recall: float
    f1: float
    true_positives: int
    predicted_pairs: int
    true_pairs: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"precision {self.precision:.4f}, recall {self.recall:.4f}, F1 {self.f1:.4f} "
            f"({self.true_positives} of {self.predicted_pairs} predicted pairs correct; "
            f"{self.true_pairs} true pairs)"
        )


def _n2(x: np.ndarray) -> int:
    x = np.asarray(x, np.int64)
    return int((x * (x - 1) // 2).sum())


def _join_truth(membership: pd.DataFrame, truth: pd.DataFrame, *, truth_column: str) -> pd.DataFrame:
    for name, frame, cols in (
        ("membership", membership, ("source", "record_id", "person_id")),
        ("truth", truth, ("source", "record_id", truth_column)),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ConfigError(
                f"{name} lacks column(s) {missing}; columns present: {list(frame.columns)}"
            )
    t = truth[["source", "record_id", truth_column]].rename(columns={truth_column: "_true"})
    m = membership[["source", "record_id", "person_id"]].astype({"source": str, "record_id": str})
    t = t.astype({"source": str, "record_id": str})
    joined = m.merge(t, on=["source", "record_id"], how="left", validate="one_to_one")
    lost = int(joined["_true"].isna().sum())
    if lost:
        example = joined.loc[joined["_true"].isna(), ["source", "record_id"]].head(3).to_dict("records")
        raise ConfigError(
            f"{lost} membership record(s) have no row in the truth, e.g. {example}; "
            "the truth must cover every (source, record_id)"
        )
    return joined


def pairwise_scores(
    membership: pd.DataFrame, truth: pd.DataFrame, *, truth_column: str = "person_id"
) -> PairwiseScores:
    """Pairwise precision, recall and F1 of a membership against ground truth.

    Parameters
    ----------
    membership : DataFrame
        ``source``, ``record_id``, ``person_id`` (one row per record).
    truth : DataFrame
        ``source``, ``record_id`` and the true person in ``truth_column``.

    Examples
    --------
    >>> mem = pd.DataFrame({"source": ["a"] * 4, "record_id": ["1", "2", "3", "4"],
    ...                     "person_id": ["x", "x", "x", "y"]})
    >>> tru = pd.DataFrame({"source": ["a"] * 4, "record_id": ["1", "2", "3", "4"],
    ...                     "person_id": ["p", "p", "q", "q"]})
    >>> s = pairwise_scores(mem, tru)
    >>> (s.true_positives, s.predicted_pairs, s.true_pairs)
    (1, 3, 2)
    >>> round(s.f1, 3)
    0.4
    """
    j = _join_truth(membership, truth, truth_column=truth_column)
    tp = _n2(j.groupby(["person_id", "_true"], sort=False).size().to_numpy())
    pp = _n2(j.groupby("person_id", sort=False).size().to_numpy())
    tt = _n2(j.groupby("_true", sort=False).size().to_numpy())
    precision = tp / pp if pp else 1.0
    recall = tp / tt if tt else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairwiseScores(
        precision=precision, recall=recall, f1=f1, true_positives=tp, predicted_pairs=pp, true_pairs=tt
    )


def true_pairs(truth_ids: pd.Series) -> pd.DataFrame:
    """All pairs of row positions sharing a true ID (``left < right``).

    >>> true_pairs(pd.Series(["a", "b", "a", "a"])).values.tolist()
    [[0, 2], [0, 3], [2, 3]]
    """
    from .block import _pairs_within_blocks

    codes, _ = pd.factorize(truth_ids)
    rows = np.flatnonzero(codes >= 0)
    left, right = _pairs_within_blocks(rows.astype(np.int64), codes[rows].astype(np.int64))
    lo, hi = np.minimum(left, right), np.maximum(left, right)
    order = np.lexsort((hi, lo))
    return pd.DataFrame({"left": lo[order], "right": hi[order]})


def blocking_recall(pairs: pd.DataFrame, truth_ids: pd.Series) -> float:
    """Share of true matching pairs that blocking made candidates.

    >>> pairs = pd.DataFrame({"left": [0], "right": [2]})
    >>> blocking_recall(pairs, pd.Series(["a", "b", "a", "a"]))
    0.3333333333333333
    """
    tp = true_pairs(truth_ids)
    if len(tp) == 0:
        return 1.0
    n = len(truth_ids)
    tcode = tp["left"].to_numpy(np.int64) * n + tp["right"].to_numpy(np.int64)
    lo = np.minimum(pairs["left"], pairs["right"]).to_numpy(np.int64)
    hi = np.maximum(pairs["left"], pairs["right"]).to_numpy(np.int64)
    pcode = lo * n + hi
    return float(np.isin(tcode, pcode).mean())
