"""Cluster stage: scored pairs + records -> a person for every record.

:func:`connected_components` is the plain transitive closure of accepted links (sparse,
scipy). :func:`person_ids` turns cluster labels into deterministic person IDs.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as _cc

__all__ = ["connected_components", "person_ids", "weakest_link"]


def connected_components(n_records: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Cluster label of each of ``n_records`` records given accepted links.

    Labels are numbered in order of each cluster's first record, so they do not depend on
    the order of the links.

    >>> connected_components(5, np.array([0, 3]), np.array([1, 4])).tolist()
    [0, 0, 1, 2, 2]
    """
    left = np.asarray(left, np.int64)
    right = np.asarray(right, np.int64)
    if n_records == 0:
        return np.zeros(0, np.int64)
    g = coo_matrix((np.ones(len(left), np.int8), (left, right)), shape=(n_records, n_records))
    _, labels = _cc(g, directed=False)
    # renumber by first appearance
    _, first = np.unique(labels, return_index=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    return rank[labels]


def person_ids(labels: np.ndarray, keys: pd.Series, *, prefix: str = "RP") -> np.ndarray:
    """Deterministic person ID per record: a hash of the smallest record key in its cluster.

    The same records always give the same IDs, whatever their order.

    >>> keys = pd.Series(["siak|1", "dtks|9", "siak|2"])
    >>> ids = person_ids(np.array([0, 0, 1]), keys)
    >>> ids[0] == ids[1] != ids[2]
    True
    """
    frame = pd.DataFrame({"label": np.asarray(labels), "key": keys.astype(str).to_numpy()})
    anchor = frame.groupby("label", sort=False)["key"].transform("min")
    uniq = anchor.unique()
    ids = {a: f"{prefix}-{hashlib.sha1(a.encode('utf-8')).hexdigest()[:16].upper()}" for a in uniq}
    return anchor.map(ids).to_numpy(dtype=object)


def weakest_link(n_records: int, left: np.ndarray, right: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """Per record, the lowest probability among its accepted links (1.0 for singletons).

    >>> weakest_link(3, np.array([0]), np.array([1]), np.array([0.93])).tolist()
    [0.93, 0.93, 1.0]
    """
    out = np.ones(n_records)
    if len(left):
        np.minimum.at(out, np.asarray(left, np.int64), prob)
        np.minimum.at(out, np.asarray(right, np.int64), prob)
    return out
