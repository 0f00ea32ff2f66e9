"""The fast paths of the classify stage equal their plain per-pair definitions.

Training works on tables of distinct level patterns (with counts) instead of on every pair,
and term-frequency adjustments on shared column codes; these tests pin that down against
straightforward reference implementations, on tricky input (missing levels, overlapping
rules, sessions too small to count, blanks and unicode in values).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from regsosek_link import classify
from regsosek_link.classify import (
    FellegiSunter,
    level_patterns,
    term_frequency_adjustments,
    train_by_sessions,
)


def _levels(n: int, n_levels: list[int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.stack([rng.integers(-1, L, n) for L in n_levels], 1)
    X[rng.random(n) < 0.3, 0] = -1
    return X


@pytest.mark.parametrize("n_levels", [[2], [3, 6, 2, 5], [16] * 12, [16] * 20])
def test_level_patterns_equal_sorted_distinct_rows(n_levels, monkeypatch):
    # [16] * 12 codes rows past the dense count (sorting), [16] * 20 past one int64
    X = _levels(3000, n_levels, seed=len(n_levels))
    pats, counts, inverse = level_patterns(X)
    ref, ref_inverse, ref_counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    np.testing.assert_array_equal(pats, ref)
    np.testing.assert_array_equal(counts, ref_counts)
    np.testing.assert_array_equal(inverse, ref_inverse.ravel())
    monkeypatch.setattr(classify, "_DENSE_CODES", 1)  # the sorting path gives the same
    for got, want in zip(level_patterns(X), (pats, counts, inverse)):
        np.testing.assert_array_equal(got, want)


def test_level_patterns_of_no_rows():
    pats, counts, inverse = level_patterns(np.zeros((0, 3), int))
    assert pats.shape == (0, 3) and len(counts) == len(inverse) == 0


def _sessions_on_pairs(levels, rules, *, blocked, u, n_all_pairs, min_pairs=50):
    """train_by_sessions as its docstring defines it, one EM per rule on that rule's pairs."""
    names = list(levels.columns)
    X = levels.to_numpy().astype(np.int64)
    n_levels = [len(v) for v in u]
    m_sum = [np.zeros(L) for L in n_levels]
    m_weight = np.zeros(len(names))
    for r in sorted(blocked):
        sel = (rules >> r) & 1 == 1
        if sel.sum() < min_pairs:
            continue
        Xs = X[sel].copy()
        masked = [names.index(c) for c in blocked[r] if c in names]
        Xs[:, masked] = -1
        free = [k for k in range(len(names)) if k not in masked]
        if not free:
            continue
        fs = FellegiSunter(fix_u=True, u_init=u, m_init=classify._default_m(n_levels)).fit(Xs)
        match = fs.predict_proba(Xs)[:, 1]
        shown = (Xs[:, free] >= 0).sum(axis=1)
        for k in free:
            # the expected matches among the pairs that show k and two more free comparisons
            use = (Xs[:, k] >= 0) & (shown >= min(3, len(free)))
            if use.sum() >= min_pairs and match[use].sum() > 0:
                m_sum[k] += fs.m_[k] * match[use].sum()
                m_weight[k] += match[use].sum()
    if (m_weight == 0).any():
        fs = FellegiSunter(fix_u=True, u_init=u, m_init=classify._default_m(n_levels)).fit(X)
        for k in np.flatnonzero(m_weight == 0):
            m_sum[k], m_weight[k] = fs.m_[k].copy(), 1.0
    m = [np.clip(ms / w, 1e-6, 1) for ms, w in zip(m_sum, m_weight)]
    m = [v / v.sum() for v in m]
    weight = np.zeros(len(X))
    for k in range(len(names)):
        ratio = np.log2(m[k]) - np.log2(np.clip(u[k], 1e-6, 1))
        weight += np.where(X[:, k] >= 0, ratio[np.maximum(X[:, k], 0)], 0.0)
    bayes = np.exp2(weight)
    lam = min(0.5, len(X) / n_all_pairs)
    for _ in range(500):
        odds = lam / (1 - lam) * bayes
        new = min(max(float((odds / (1 + odds)).sum()) / n_all_pairs, 1e-15), 1 - 1e-9)
        done = abs(new - lam) <= 1e-12 + 1e-9 * lam
        lam = new
        if done:
            break
    return m, lam


@pytest.mark.parametrize("min_pairs", [1, 50, 400])
@pytest.mark.parametrize("dense", [True, False])
def test_train_by_sessions_equals_sessions_on_pairs(min_pairs, dense, monkeypatch):
    if not dense:
        monkeypatch.setattr(classify, "_DENSE_CODES", 1)  # count distinct patterns by sorting
    n_levels = [3, 6, 2, 4]
    X = _levels(2000, n_levels, seed=7)
    levels = pd.DataFrame(X, columns=["a", "b", "c", "d"]).astype(np.int8)
    rng = np.random.default_rng(1)
    rules = rng.integers(1, 32, len(X)) & rng.integers(0, 32, len(X))  # overlapping rules, some pairs none
    rules[:300] = 1 << 4  # a rule of its own
    blocked = {0: ["a"], 1: ["b", "c"], 2: [], 3: ["a", "b", "c", "d"], 4: ["d", "unknown"]}
    u = [np.full(L, 1 / L) for L in n_levels]
    model = train_by_sessions(levels, rules, blocked=blocked, u=u, n_all_pairs=10**6, min_pairs=min_pairs)
    m, lam = _sessions_on_pairs(levels, rules, blocked=blocked, u=u, n_all_pairs=10**6, min_pairs=min_pairs)
    for got, want in zip(model.m_, m):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
    assert model.lambda_ == pytest.approx(lam, rel=1e-9)


def test_match_weight_and_contributions_per_pair():
    X = _levels(500, [3, 4], seed=3)
    fs = FellegiSunter().fit(X)
    ratios = [np.log2(m) - np.log2(u) for m, u in zip(fs.m_, fs.u_)]
    want = np.stack([np.where(X[:, k] >= 0, ratios[k][np.maximum(X[:, k], 0)], 0.0) for k in range(2)], 1)
    np.testing.assert_array_equal(fs.contributions(X).to_numpy(), want)
    np.testing.assert_allclose(fs.match_weight(X), want.sum(axis=1) + fs.prior_weight_, rtol=1e-12)
    np.testing.assert_array_equal(fs.match_weight(X.astype(np.int8)), fs.match_weight(X.astype(float)))


def test_term_frequency_counts_each_stripped_value_once():
    from regsosek_link.compare import NameComparison

    names = ["SITI", " SITI", "SITI ", "ÉLODIE", "ÉLODIE", None, "", "  ", "BUDI", "SITI"]
    records = pd.DataFrame({"nama": pd.array(names, dtype="string")})
    pairs = pd.DataFrame({"left": [0, 3, 5, 6, 8, 0], "right": [1, 4, 6, 7, 9, 9]})
    levels = pd.DataFrame({"nama": np.array([5, 5, 5, 5, 0, 5], np.int8)})
    fs = FellegiSunter().fit(pd.DataFrame({"nama": [0, 1, 2, 3, 4, 5, -1]}))
    tf = term_frequency_adjustments(records, pairs, levels, [NameComparison(term_frequency=True)], fs)
    held = {"SITI": 4, "ÉLODIE": 2, "BUDI": 1}  # seven records hold a value
    u_top = fs.u_[0][5]
    want = [np.log2(u_top / (held["SITI"] / 7)), np.log2(u_top / (held["ÉLODIE"] / 7)), 0.0, 0.0, 0.0,
            np.log2(u_top / (held["SITI"] / 7))]
    np.testing.assert_allclose(tf["tf_nama"].to_numpy(), want, rtol=1e-12)
