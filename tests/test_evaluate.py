"""Pairwise evaluation against a brute-force oracle."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from regsosek_link.errors import ConfigError
from regsosek_link.evaluate import blocking_recall, pairwise_scores, true_pairs


def _oracle(pred, true):
    n = len(pred)
    pp = {(i, j) for i, j in itertools.combinations(range(n), 2) if pred[i] == pred[j]}
    tt = {(i, j) for i, j in itertools.combinations(range(n), 2) if true[i] == true[j]}
    return len(pp & tt), len(pp), len(tt)


@pytest.mark.parametrize("seed", range(5))
def test_pairwise_matches_bruteforce(seed):
    rng = np.random.default_rng(seed)
    n = 120
    pred = rng.integers(0, 40, n).astype(str)
    true = rng.integers(0, 40, n).astype(str)
    mem = pd.DataFrame({"source": "s", "record_id": np.arange(n).astype(str), "person_id": pred})
    tru = pd.DataFrame({"source": "s", "record_id": np.arange(n).astype(str), "person_id": true})
    s = pairwise_scores(mem, tru)
    assert (s.true_positives, s.predicted_pairs, s.true_pairs) == _oracle(pred, true)


def test_perfect_and_all_singletons():
    mem = pd.DataFrame({"source": "s", "record_id": ["1", "2", "3"], "person_id": ["a", "b", "c"]})
    tru = mem.assign(person_id=["x", "x", "y"])
    s = pairwise_scores(mem, tru)
    assert (s.precision, s.recall, s.f1) == (1.0, 0.0, 0.0)
    s = pairwise_scores(tru, tru)
    assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)


def test_truth_must_cover_every_record():
    mem = pd.DataFrame({"source": "s", "record_id": ["1", "2"], "person_id": ["a", "a"]})
    tru = pd.DataFrame({"source": "s", "record_id": ["1"], "person_id": ["x"]})
    with pytest.raises(ConfigError, match=r"1 membership record\(s\) have no row in the truth"):
        pairwise_scores(mem, tru)


def test_blocking_recall():
    ids = pd.Series(["a", "a", "b", "a", "b"])
    assert len(true_pairs(ids)) == 4
    pairs = pd.DataFrame({"left": [1, 4, 0], "right": [0, 2, 4]})
    assert blocking_recall(pairs, ids) == 0.5
