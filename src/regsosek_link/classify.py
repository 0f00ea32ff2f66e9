"""Classify stage: comparison vectors -> match probability and match weight.

:class:`FellegiSunter` is an unsupervised estimator that scikit-learn's tools take (it does
not import scikit-learn: :mod:`regsosek_link._estimator`). ``fit`` runs EM on the
counts of *distinct* comparison-level patterns (a few thousand at most), not on every pair,
so training costs the same for 10 thousand or 100 million pairs. Missing levels (``-1``)
contribute nothing (a factor of 1), as in Splink.

The match weight of a pair is ``log2(lambda / (1 - lambda)) + sum_k log2(m_k / u_k)`` at the
pair's level of each comparison ``k``; its probability is ``2**w / (1 + 2**w)``.
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple, overload

import numpy as np
import pandas as pd

from ._arrays import unique_int
from ._codes import CodeBook, column_codes, with_codes
from ._estimator import Classifier, check_fitted, convergence_warning, validated_array
from ._order import record_order

__all__ = ["MIN_PAIRS_PER_LEVEL", "MIN_TRAINING_PAIRS", "FellegiSunter", "FewTrainingPairsWarning", "PairScores",
           "WeightOrderWarning", "finish_training", "level_patterns", "n_possible_pairs", "probability_from_weight",
           "random_pairs", "score_pairs", "term_frequency_adjustments", "train_by_sessions", "train_model",
           "u_from_random_pairs"]

log = logging.getLogger(__name__)

_EPS = 1e-6

#: Fewer candidate pairs than this, and EM's m and u are guesses (:class:`FewTrainingPairsWarning`).
MIN_TRAINING_PAIRS = 100
#: Fewer observed (non-missing) pairs per level of a comparison than this, on average, and
#: that comparison's weights are guesses.
MIN_PAIRS_PER_LEVEL = 5


class FewTrainingPairsWarning(UserWarning):
    """EM was trained on too few pairs (or too few per level) for its weights to be trusted."""


class WeightOrderWarning(UserWarning):
    """Learned weights go the wrong way: a stronger agreement level of a comparison weighs
    less than a weaker one (see :meth:`FellegiSunter.inverted_levels`)."""


#: Largest code range counted with a dense ``np.bincount`` (32 MB of counts); wider ranges
#: are counted by sorting.
_DENSE_CODES = 1 << 22


@overload
def _distinct_codes(code: np.ndarray, size: int, *, inverse: Literal[True] = ...
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
@overload
def _distinct_codes(code: np.ndarray, size: int, *, inverse: Literal[False]
                    ) -> tuple[np.ndarray, np.ndarray, None]: ...
def _distinct_codes(code: np.ndarray, size: int, *, inverse: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Sorted distinct values of ``code`` (ints in ``[0, size)``), their counts and, with
    ``inverse``, each entry's position among them (``int32`` from the dense count).

    A dense count when ``size`` is small (one pass, no sort) and not much larger than the
    number of entries, else a sort: the few thousand level patterns of a model are coded
    over millions of possible patterns, and a dense count over those costs more than the
    sort (``match_weight`` does it once per call, EM loops call it many times).

    >>> v, c, i = _distinct_codes(np.array([5, 2, 5, 0]), 8)
    >>> v.tolist(), c.tolist(), i.tolist()
    ([0, 2, 5], [1, 1, 2], [2, 1, 2, 0])
    """
    if size <= _DENSE_CODES and size <= 16 * len(code) + 4096:
        full = np.bincount(code, minlength=size)
        values = np.flatnonzero(full)
        if not inverse:
            return values, full[values], None
        # (int32 positions: a gather from a table of int64 over millions of possible
        # patterns into an int64 output took 0.14 s for the 1M run's 5.9 M pairs, 0.02 s so)
        lookup = np.zeros(size, np.int32 if len(values) < 2**31 else np.intp)
        lookup[values] = np.arange(len(values))
        return values, full[values], lookup[code]
    if not inverse:
        values, counts = np.unique(code, return_counts=True)
        return values, counts, None
    values, where, counts = np.unique(code, return_inverse=True, return_counts=True)
    return values, counts, where.ravel()


def level_patterns(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of an int level matrix: (patterns, counts, inverse).

    Patterns come sorted (lexicographically, column by column); ``inverse`` gives each row's
    pattern. Each row is coded as one integer (mixed radix of the column ranges), so the work
    is one pass over the rows and a count, not a sort of rows.

    >>> pats, counts, inverse = level_patterns(np.array([[1, -1], [0, 2], [1, -1]]))
    >>> pats.tolist(), counts.tolist(), inverse.tolist()
    ([[0, 2], [1, -1]], [1, 2], [1, 0, 1])
    """
    X = np.asarray(X, dtype=np.int8)
    if X.shape[0] == 0:
        return X, np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo = X.min(axis=0).astype(np.int64)
    radix = [int(r) for r in X.max(axis=0).astype(np.int64) - lo + 1]
    size = int(np.prod(radix, dtype=object)) if radix else 1
    # Horner's partial sums stay within 128 * (columns + 1) * size in absolute value
    bound = size * 128 * (len(radix) + 1)
    if bound >= 1 << 63:  # too wide for one int64 per row
        pats, inverse, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
        return pats, counts, inverse.ravel()
    code: np.ndarray = np.zeros(len(X), np.int32 if bound < 1 << 31 else np.int64)
    for j, r in enumerate(radix):  # Horner: code = sum_j (x_j - lo_j) * prod(radix after j)
        code *= r
        code += X[:, j]
    offset = 0
    for j, r in enumerate(radix):
        offset = offset * r + int(lo[j])
    code -= offset
    values, counts, inverse = _distinct_codes(code, size)
    pats = np.empty((len(values), len(radix)), np.int8)
    rest = values.astype(np.int64)
    for j in range(len(radix) - 1, -1, -1):
        rest, digit = np.divmod(rest, radix[j])
        pats[:, j] = digit + lo[j]
    return pats, counts, inverse


def random_pairs(n_records: int, *, max_pairs: int, random_state: int | None = None) -> pd.DataFrame:
    """Up to ``max_pairs`` distinct random pairs ``left < right`` of ``n_records`` records.

    >>> p = random_pairs(10, max_pairs=5, random_state=0)
    >>> len(p), bool((p.left < p.right).all())
    (5, True)
    """
    rng = np.random.default_rng(random_state)
    total = n_records * (n_records - 1) // 2
    k = int(min(max_pairs, total))
    if k <= 0:
        return pd.DataFrame({"left": np.zeros(0, np.int64), "right": np.zeros(0, np.int64)})
    draws = rng.integers(0, n_records, size=(int(k * 1.2) + 10, 2))
    codes = unique_int(draws[:, 0] * n_records + draws[:, 1])
    left, right = codes // n_records, codes % n_records
    keep = left != right
    lo, hi = np.minimum(left[keep], right[keep]), np.maximum(left[keep], right[keep])
    code = unique_int(lo * n_records + hi)
    code = rng.permutation(code)[:k]
    code.sort()
    return pd.DataFrame({"left": code // n_records, "right": code % n_records})


@with_codes
def u_from_random_pairs(
    records: pd.DataFrame,
    comparisons: Sequence[Any],
    *,
    max_pairs: int = 1_000_000,
    random_state: int | None = None,
    prepared: Sequence[Any] | None = None,
    workers: int = 1,
    codes: CodeBook | None = None,
) -> list[np.ndarray]:
    """Level frequencies among random record pairs: an estimate of ``u`` per comparison.

    Two random records almost never belong to one person, so how often they land in each
    level is the chance agreement ``u`` (Splink's ``estimate_u_using_random_sampling``).
    Each level gets one pseudo-count so none is zero. ``prepared`` and ``workers`` are
    passed on to :func:`regsosek_link.compare.compare`.

    The pairs are drawn among the records' ranks in the canonical record order (sources by
    name, then record IDs: :func:`regsosek_link._order.record_rank`), not among row
    positions, so the same records in any row order give the same ``u``.
    """
    ranked = random_pairs(len(records), max_pairs=max_pairs, random_state=random_state)
    order = record_order(records)  # rank -> row
    pairs = pd.DataFrame({"left": order[ranked["left"].to_numpy()], "right": order[ranked["right"].to_numpy()]})
    return u_from_pairs(records, pairs, comparisons, prepared=prepared, workers=workers)


def u_from_pairs(records: pd.DataFrame, pairs: pd.DataFrame, comparisons: Sequence[Any], *,
                 prepared: Sequence[Any] | None = None, workers: int = 1) -> list[np.ndarray]:
    """Level frequencies (one pseudo-count per level) of ``pairs`` of ``records``: ``u``
    from pairs already drawn (:func:`u_from_random_pairs` draws them; an engine that holds
    the records elsewhere draws the same ranks and passes the records they name)."""
    from .compare import compare

    levels = compare(records, pairs, comparisons, prepared=prepared, workers=workers).to_numpy()
    out = []
    for k, comp in enumerate(comparisons):
        col = levels[:, k]
        f = np.bincount(col[col >= 0], minlength=comp.n_levels)[: comp.n_levels] + 1.0
        out.append(f / f.sum())
    return out


class FellegiSunter(Classifier):
    """Fellegi-Sunter model trained by expectation-maximisation, no labels needed.

    Parameters
    ----------
    max_iter : int, default=200
        Maximum EM iterations.
    tol : float, default=1e-7
        Stop when no parameter moves by more than this.
    threshold : float, default=0.5
        Match probability at or above which ``predict`` says 1.
    prior : float, optional
        Initial share of matches among the pairs (lambda); estimated by EM.
    fix_u : bool, default=False
        Keep ``u`` at ``u_init`` (e.g. estimated from random pairs) and learn only ``m`` and
        lambda.
    u_init, m_init : sequence of arrays, optional
        Starting probabilities per comparison and level. By default ``u`` starts from the
        level frequencies of the data and ``m`` from a prior that puts most mass on the
        highest level.
    m_from_labels : bool, default=False
        With ``y`` given to ``fit``, estimate m and u from the labelled pairs instead of EM.

    Attributes
    ----------
    m_, u_ : list of ndarray
        Probability of each level (0..L-1) among matches and non-matches, per comparison.
    lambda_ : float
        Share of matches among the training pairs.
    n_levels_ : ndarray of int
        Levels per comparison (excluding the missing level).
    feature_names_in_ : ndarray of str
        Comparison names, when ``X`` was a DataFrame.
    n_iter_ : int
        EM iterations run.
    level_counts_ : list of ndarray
        Training pairs at each level of each comparison (EM fits only).
    converged_ : bool
        Whether EM stopped because no parameter moved by more than ``tol`` (else it stopped
        at ``max_iter``, with a :class:`~sklearn.exceptions.ConvergenceWarning`).

    Warns
    -----
    ConvergenceWarning
        EM reached ``max_iter`` before converging.
    FewTrainingPairsWarning
        Fewer than :data:`MIN_TRAINING_PAIRS` pairs, or a comparison observed in fewer than
        :data:`MIN_PAIRS_PER_LEVEL` pairs per level.
    WeightOrderWarning
        A learned weight goes the wrong way (see :meth:`inverted_levels`).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> match = rng.random(2000) < 0.2
    >>> X = np.stack([np.where(match, rng.random(2000) < .95, rng.random(2000) < .05) for _ in range(3)], 1)
    >>> fs = FellegiSunter().fit(X.astype(int))
    >>> round(fs.lambda_, 1)
    0.2
    >>> fs.predict([[1, 1, 1], [0, 0, 0]]).tolist()
    [1, 0]
    """

    def __init__(
        self,
        *,
        max_iter: int = 200,
        tol: float = 1e-7,
        threshold: float = 0.5,
        prior: float | None = None,
        fix_u: bool = False,
        u_init: Sequence[Any] | None = None,
        m_init: Sequence[Any] | None = None,
        m_from_labels: bool = False,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.threshold = threshold
        self.prior = prior
        self.fix_u = fix_u
        self.u_init = u_init
        self.m_init = m_init
        self.m_from_labels = m_from_labels

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # comparison levels are small integer categories (-1 = missing), not measurements
        tags.input_tags.categorical = True
        return tags

    # -- helpers -------------------------------------------------------------------------

    def _check_params(self) -> None:
        if not isinstance(self.threshold, (int, float)) or not 0 <= self.threshold <= 1:
            raise ValueError(
                "The 'threshold' parameter of FellegiSunter must be a float in [0, 1]. "
                f"Got {self.threshold!r} instead."
            )
        if self.prior is not None and not 0 < self.prior < 1:
            raise ValueError(
                "The 'prior' parameter of FellegiSunter must be a float in (0, 1) or None. "
                f"Got {self.prior!r} instead."
            )
        if not isinstance(self.max_iter, int) or self.max_iter < 1:
            raise ValueError(
                f"The 'max_iter' parameter of FellegiSunter must be an int >= 1. Got {self.max_iter!r} instead."
            )

    def _as_levels(self, X: Any, *, fitting: bool) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            names = np.asarray(X.columns, dtype=object)
            if fitting:
                self.feature_names_in_ = names
            elif hasattr(self, "feature_names_in_") and list(names) != list(self.feature_names_in_):
                raise ValueError(
                    f"X has columns {list(names)} but FellegiSunter was fitted with "
                    f"{list(self.feature_names_in_)}"
                )
            arr = X.to_numpy()
        else:
            if fitting and hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            # sklearn's own checks and messages for sparse, complex, 1-D or empty input
            arr = validated_array(X)
        if arr.dtype.kind == "f":
            if np.isnan(arr).any() or np.isinf(arr).any():
                raise ValueError("Input X contains NaN or infinity; use -1 for a missing level")
            if not np.all(arr == np.round(arr)):
                raise ValueError("FellegiSunter needs integer comparison levels (-1 = missing)")
        elif arr.dtype.kind not in "iub":
            raise ValueError(f"FellegiSunter needs integer comparison levels, got dtype {arr.dtype}")
        if arr.dtype.kind != "i":
            arr = arr.astype(np.int64)
        if (arr < -1).any():
            raise ValueError("Comparison levels must be >= -1 (-1 = missing)")
        if fitting:
            self.n_features_in_ = arr.shape[1]
            if arr.shape[0] < 1:
                raise ValueError(f"Found array with 0 sample(s) (shape={arr.shape}) while a minimum of 1 is required.")
        elif arr.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {arr.shape[1]} features, but FellegiSunter is expecting {self.n_features_in_} features as input."
            )
        return arr

    def _log_ratios(self) -> list[np.ndarray]:
        return [np.log2(m) - np.log2(u) for m, u in zip(self.m_, self.u_)]

    # -- estimator API -------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> FellegiSunter:
        """Estimate m, u and lambda.

        Parameters
        ----------
        X : array-like or DataFrame of int, shape (n_pairs, n_comparisons)
            Comparison levels, -1 for missing.
        y : array-like of {0, 1}, optional
            Labels. Used only with ``m_from_labels=True``; otherwise EM ignores it.
        sample_weight : array-like, optional
            Weight of each row (e.g. counts of already-aggregated patterns).

        Returns
        -------
        self
        """
        if self._fit(X, y, sample_weight):
            if not self.converged_:
                warnings.warn(
                    f"FellegiSunter's EM reached max_iter={self.max_iter} iterations before converging "
                    f"(tol={self.tol:g}). Consider increasing max_iter or tol; the parameters are those "
                    "of the last iteration.",
                    convergence_warning(),
                    stacklevel=2,
                )
            _warn_inverted(self)
        return self

    def _fit(self, X: Any, y: Any, sample_weight: Any) -> bool:
        """:meth:`fit` without its warnings on the result (but that of few pairs): whether
        EM ran (not with ``m_from_labels``)."""
        self._check_params()
        arr = self._as_levels(X, fitting=True)
        self.classes_ = np.array([0, 1])
        n_levels = np.maximum(arr.max(axis=0).astype(np.int64) + 1, 2) if len(arr) else np.full(arr.shape[1], 2)
        if self.m_init is not None or self.u_init is not None:
            init = self.m_init if self.m_init is not None else self.u_init
            n_levels = np.maximum(n_levels, [len(v) for v in init])  # type: ignore[union-attr]
        self.n_levels_ = n_levels.astype(np.int64)
        pats, counts, inv = level_patterns(arr)
        counts = counts.astype(float)
        if sample_weight is not None:
            sw = np.asarray(sample_weight, dtype=float)
            counts = np.bincount(inv, weights=sw, minlength=len(pats))

        if y is not None and self.m_from_labels:
            from sklearn.utils.multiclass import type_of_target

            if len(y) != len(arr):
                raise ValueError(f"X has {len(arr)} rows but y has {len(y)} labels")
            if type_of_target(y) not in ("binary",):
                raise ValueError(
                    f"FellegiSunter(m_from_labels=True) needs binary match labels (0/1); got target type "
                    f"{type_of_target(y)!r}"
                )
            yv = np.asarray(y).astype(bool)
            self.m_ = self._level_freq(arr[yv], None)
            self.u_ = self._level_freq(arr[~yv], None)
            self.lambda_ = float(np.clip(yv.mean(), _EPS, 1 - _EPS))
            self.n_iter_ = 0
            self.converged_ = True
            return False

        _warn_few_pairs(pats, counts, self.n_levels_, self._names())
        self.level_counts_ = _level_counts(pats, counts, self.n_levels_)
        self._em(pats, counts)
        return True

    def _names(self) -> list[str]:
        return [str(x) for x in getattr(self, "feature_names_in_", [f"x{k}" for k in range(len(self.n_levels_))])]

    def _level_freq(self, arr: np.ndarray, weights: np.ndarray | None) -> list[np.ndarray]:
        out = []
        for k, L in enumerate(self.n_levels_):
            col = arr[:, k]
            ok = col >= 0
            w = np.ones(len(col)) if weights is None else weights
            f = np.bincount(col[ok], weights=w[ok], minlength=L)[:L] + 1.0  # Laplace smoothing
            out.append(f / f.sum())
        return out

    def _em(self, pats: np.ndarray, counts: np.ndarray) -> None:
        K = pats.shape[1]
        if self.u_init is not None:
            u = [np.clip(np.asarray(v, float), _EPS, 1) for v in self.u_init]
            u = [v / v.sum() for v in u]
        else:
            u = self._level_freq(pats, counts)
        if self.m_init is not None:
            m = [np.clip(np.asarray(v, float), _EPS, 1) for v in self.m_init]
            m = [v / v.sum() for v in m]
        else:  # most mass on the top level, geometric below it
            m = _default_m(self.n_levels_)
        lam = self.prior if self.prior is not None else 0.1
        # the present levels of all comparisons in one array, comparison after comparison and
        # in pattern order within each: one bincount per iteration totals every comparison's
        # levels, adding in the same order as one bincount per comparison would
        start = np.cumsum([0, *(int(L) for L in self.n_levels_)])
        rows = [np.flatnonzero(pats[:, k] >= 0) for k in range(K)]
        flat_rows = np.concatenate(rows)
        flat_bins = np.concatenate([pats[r, k] + start[k] for k, r in enumerate(rows)])
        total = counts.sum()
        lu = _log_likelihood(pats, u)
        it = 0
        converged = False
        for it in range(1, self.max_iter + 1):
            a = np.log(lam) + _log_likelihood(pats, m)
            b = np.log1p(-lam) + lu
            g = 1.0 / (1.0 + np.exp(np.clip(b - a, -700, 700)))
            wm = counts * g
            new_lam = float(np.clip(wm.sum() / total, _EPS, 1 - _EPS))
            new_m = _level_shares(np.bincount(flat_bins, weights=wm[flat_rows], minlength=start[-1]), start)
            delta = max(abs(new_lam - lam), max(float(np.abs(a_ - b_).max()) for a_, b_ in zip(new_m, m)))
            if not self.fix_u:
                wu = counts * (1 - g)
                new_u = _level_shares(np.bincount(flat_bins, weights=wu[flat_rows], minlength=start[-1]), start)
                delta = max(delta, max(float(np.abs(a_ - b_).max()) for a_, b_ in zip(new_u, u)))
                u, lu = new_u, _log_likelihood(pats, new_u)
            m, lam = new_m, new_lam
            if delta < self.tol:
                converged = True
                break
        self.m_ = [np.clip(v, _EPS, 1) for v in m]
        self.u_ = [np.clip(v, _EPS, 1) for v in u]
        self.lambda_ = lam
        self.n_iter_ = it
        self.converged_ = converged
        if converged:
            log.info("EM converged in %d iterations on %d patterns; lambda=%.4g", it, len(pats), lam)
        else:
            log.info("EM stopped at max_iter=%d without converging on %d patterns; lambda=%.4g",
                     it, len(pats), lam)

    def contributions(self, X: Any) -> pd.DataFrame:
        """Per-comparison match weight (log2 m/u; 0 for missing) of each row of ``X``."""
        check_fitted(self, "m_")
        arr = self._as_levels(X, fitting=False)
        ratios = self._log_ratios()
        out = {}
        names = list(getattr(self, "feature_names_in_", [f"x{k}" for k in range(arr.shape[1])]))
        for k, name in enumerate(names):
            col = arr[:, k]
            if (col >= self.n_levels_[k]).any():
                raise ValueError(
                    f"comparison {name!r} has level {int(col.max())} but the model knows levels "
                    f"0..{self.n_levels_[k] - 1}"
                )
            out[name] = np.append(ratios[k], 0.0)[col]  # level -1 (missing) takes the appended 0
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(out, index=index, copy=False)  # fresh columns: no copy into a 2-D block

    @property
    def prior_weight_(self) -> float:
        """log2 of the prior odds of a match."""
        check_fitted(self, "lambda_")
        return float(np.log2(self.lambda_) - np.log2(1 - self.lambda_))

    def match_weight(self, X: Any) -> np.ndarray:
        """Total match weight (bits) of each row."""
        arr = self._as_levels(X, fitting=False)
        pats, _, inv = level_patterns(arr)
        w = self.contributions(pats).to_numpy().sum(axis=1) + self.prior_weight_
        return w[inv]

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of [non-match, match] per row."""
        check_fitted(self, "m_")
        p = probability_from_weight(self.match_weight(X))
        return np.stack([1 - p, p], axis=1)

    def predict(self, X: Any) -> np.ndarray:
        """1 where the match probability is at least ``threshold``."""
        return (self.predict_proba(X)[:, 1] >= self.threshold).astype(int)

    def inverted_levels(self, level_names: dict[str, Sequence[str]] | None = None, *,
                        tolerance: float = 1.0) -> pd.DataFrame:
        """Levels whose learned weight goes the wrong way.

        Levels are ordered from "different" (0) to the strongest agreement, so a level's
        weight should be at least that of every lower level of its comparison. A level whose
        weight is more than ``tolerance`` bits below that of a lower level (e.g. "same
        kecamatan" below "same kabupaten") usually means EM found something else than
        identity (households, places) or had too few pairs at that level; smaller dips are
        within the noise of rare levels. Levels no training pair reached (``level_counts_``
        zero) have no learned weight and are not listed.

        Parameters
        ----------
        level_names : dict of str to sequence of str, optional
            Level labels per comparison (``{c.name: c.level_names}``).
        tolerance : float, default=1.0
            Bits a weight may fall below a lower level's before it is listed.

        Returns
        -------
        DataFrame
            One row per inverted level: ``comparison``, ``level``, ``label``, ``weight``,
            ``n_pairs`` (training pairs at the level, <NA> when unknown), and the lower level
            it falls below most (``below_level``, ``below_label``, ``below_weight``). Empty
            when every weight goes the right way.

        Examples
        --------
        >>> fs = FellegiSunter()  # (a model's learned state, set by hand)
        >>> fs.n_levels_, fs.u_ = np.array([3]), [np.array([.7, .29, .01])]
        >>> fs.m_ = [np.array([.1, .1, .8])]  # -2.8, -1.5, +6.3 bits: the right way
        >>> fs.inverted_levels().empty
        True
        >>> fs.m_ = [np.array([.3, .02, .68])]  # level 1 at -3.9 bits, below level 0 at -1.2
        >>> fs.inverted_levels()[["comparison", "level", "below_level"]].values.tolist()
        [['x0', 1, 0]]
        """
        check_fitted(self, "m_")
        rows = []
        seen = getattr(self, "level_counts_", None)
        for k, name in enumerate(self._names()):
            w = np.log2(self.m_[k]) - np.log2(self.u_[k])
            labels = (level_names or {}).get(name)
            reached = np.ones(len(w), bool) if seen is None else np.asarray(seen[k])[: len(w)] > 0
            n_at = [pd.NA] * len(w) if seen is None else [float(x) for x in seen[k]]

            def label(lvl: int, labels: Sequence[str] | None = labels) -> str:
                return str(labels[lvl]) if labels and lvl < len(labels) else str(lvl)

            for lvl in range(1, len(w)):
                if not reached[lvl] or not reached[:lvl].any():
                    continue
                lower = int(np.flatnonzero(reached[:lvl])[np.argmax(w[:lvl][reached[:lvl]])])
                if w[lvl] < w[lower] - tolerance:
                    rows.append({"comparison": name, "level": lvl, "label": label(lvl), "weight": float(w[lvl]),
                                 "n_pairs": n_at[lvl], "below_level": lower, "below_label": label(lower),
                                 "below_weight": float(w[lower])})
        columns = ["comparison", "level", "label", "weight", "n_pairs", "below_level", "below_label",
                   "below_weight"]
        return pd.DataFrame(rows, columns=columns)

    def parameters(self, level_names: dict[str, Sequence[str]] | None = None) -> pd.DataFrame:
        """m, u and weight of every comparison level as a tidy DataFrame."""
        check_fitted(self, "m_")
        names = list(getattr(self, "feature_names_in_", [f"x{k}" for k in range(len(self.m_))]))
        rows = []
        for k, name in enumerate(names):
            labels = (level_names or {}).get(name)
            for lvl in range(self.n_levels_[k]):
                rows.append({
                    "comparison": name,
                    "level": lvl,
                    "label": labels[lvl] if labels and lvl < len(labels) else str(lvl),
                    "m": float(self.m_[k][lvl]),
                    "u": float(self.u_[k][lvl]),
                    "weight": float(np.log2(self.m_[k][lvl] / self.u_[k][lvl])),
                })
        return pd.DataFrame(rows)


def train_by_sessions(
    levels: pd.DataFrame,
    rules: np.ndarray,
    *,
    blocked: Mapping[int, Sequence[str]],
    u: Sequence[np.ndarray],
    n_all_pairs: int,
    threshold: float = 0.5,
    min_pairs: int = 50,
    max_iter: int = 200,
    patterns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    level_names: Mapping[str, Sequence[str]] | None = None,
    warn_inverted: bool = True,
) -> FellegiSunter:
    """Fellegi-Sunter trained the way Splink trains it, robust to what blocking selected.

    1. ``u`` is fixed: chance agreement measured on random pairs.
    2. ``m`` is estimated by EM once per blocking rule ("session"), on the pairs that rule
       found, with the comparisons of the rule's own keys masked: pairs blocked on birth date
       all agree on birth date, so that session says nothing about birth date's ``m``. Each
       comparison's ``m`` is the average over the sessions where it was free, weighted by the
       expected matches of the session. A session sees every pair its rule finds, also those
       an earlier rule found first.
    3. The prior is the chance that two *random* records match: with ``m`` and ``u`` fixed,
       EM over the candidate pairs (every other pair counted as a sure non-match) gives the
       expected number of matches ``M`` and ``lambda = M / n_all_pairs``.

    Scored this way, agreement on a blocking key counts as the evidence it is against the
    whole population, not against the already-selected candidates.

    Parameters
    ----------
    levels : DataFrame
        Comparison levels of the candidate pairs.
    rules : array of int
        Bit mask of the blocking rules that found each pair (bit ``i`` = rule ``i``), as in
        the ``rules`` column of :func:`regsosek_link.block.block`.
    blocked : mapping of int to list of str
        For each rule index, the comparison names its keys determine.
    u : list of arrays
        Fixed ``u`` per comparison (see :func:`u_from_random_pairs`).
    n_all_pairs : int
        Number of record pairs the candidates were drawn from (n*(n-1)/2 for deduplication).
    patterns : (patterns, counts, inverse), optional
        :func:`level_patterns` of ``levels``, when the caller has it already.
    level_names : mapping of str to sequence of str, optional
        Level labels per comparison, for the warnings.
    warn_inverted : bool, default True
        Warn of weights that go the wrong way (False: the caller trains the model further
        and checks it when it is done, as :func:`finish_training` does).

    Warns
    -----
    FewTrainingPairsWarning
        Too few candidate pairs (overall, or holding a value of some comparison).
    ConvergenceWarning
        The EM of some session reached ``max_iter`` (one warning naming the sessions).
    WeightOrderWarning
        A learned weight goes the wrong way (:meth:`FellegiSunter.inverted_levels`).
    """
    names = list(levels.columns)
    pats, counts, inverse = level_patterns(levels.to_numpy()) if patterns is None else patterns
    # every distinct (pattern, set of rules) once, with its number of pairs: the sessions
    # re-code this small table, they never pass over the pairs
    rules = np.asarray(rules, np.int64)
    width = int(rules.max(initial=0)) + 1
    combos, n_combo, _ = _distinct_codes(np.multiply(inverse, width, dtype=np.int64) + rules, len(pats) * width,
                                         inverse=False)
    return train_on_counts(names, pats, counts, pats[combos // width], combos % width, n_combo, blocked=blocked,
                           u=u, n_all_pairs=n_all_pairs, threshold=threshold, min_pairs=min_pairs,
                           max_iter=max_iter, level_names=level_names, warn_inverted=warn_inverted)


def train_on_counts(
    names: Sequence[str],
    pats: np.ndarray,
    counts: np.ndarray,
    combo_pats: np.ndarray,
    combo_rules: np.ndarray,
    n_combo: np.ndarray,
    *,
    blocked: Mapping[int, Sequence[str]],
    u: Sequence[np.ndarray],
    n_all_pairs: int,
    threshold: float = 0.5,
    min_pairs: int = 50,
    max_iter: int = 200,
    level_names: Mapping[str, Sequence[str]] | None = None,
    warn_inverted: bool = True,
) -> FellegiSunter:
    """:func:`train_by_sessions` on counts: the distinct level patterns (sorted as
    :func:`level_patterns` sorts them) with their numbers of pairs, and the distinct
    (pattern, rules bit mask) combinations (sorted by pattern, then mask) with theirs. An
    engine that aggregates the pairs elsewhere (Spark) trains with this. ``warn_inverted``
    False: no :class:`WeightOrderWarning` (a model trained further, see
    :func:`finish_training`, is checked when it is done)."""
    names = list(names)
    _warn_few_pairs(pats, counts, [len(v) for v in u], names)
    # each session's fit is checked here once for the whole model, not session by session
    not_converged: list[str] = []

    def session_fit(X: np.ndarray, weights: np.ndarray, session: str) -> FellegiSunter:
        fs = FellegiSunter(fix_u=True, u_init=u, max_iter=max_iter, m_init=_default_m(n_levels))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FewTrainingPairsWarning)
            fs._fit(X, None, weights)
        if not fs.converged_:
            not_converged.append(session)
        return fs
    n_levels = [len(v) for v in u]
    m_sum = [np.zeros(L) for L in n_levels]
    m_weight = np.zeros(len(names))
    for r in sorted(blocked):
        sel = (combo_rules >> r) & 1 == 1
        n_sel = int(n_combo[sel].sum())
        if n_sel < min_pairs:
            continue
        Xs, ns = combo_pats[sel], n_combo[sel]
        masked = [names.index(c) for c in blocked.get(int(r), ()) if c in names]
        Xs[:, masked] = -1
        free = [k for k in range(len(names)) if k not in masked]
        if not free:
            continue
        fs = session_fit(Xs, ns, f"rule {r}")
        expected = fs.lambda_ * n_sel
        for k, m_k, weight_k in _session_m(fs, Xs, ns, free, min_pairs=min_pairs):
            m_sum[k] += m_k * weight_k
            m_weight[k] += weight_k
        log.info("EM session on rule %s: %d pairs, %.0f expected matches", r, n_sel, expected)
    # comparisons free in no session: one EM over all candidates
    if (m_weight == 0).any():
        fs = session_fit(pats, counts, "all candidate pairs")
        for k in np.flatnonzero(m_weight == 0).tolist():
            m_sum[k] = fs.m_[k].copy()
            m_weight[k] = 1.0
    m = [np.clip(ms / w, _EPS, 1) for ms, w in zip(m_sum, m_weight)]
    m = [v / v.sum() for v in m]

    model = FellegiSunter(threshold=threshold, fix_u=True, u_init=u, m_init=m)
    model.classes_ = np.array([0, 1])
    model.n_features_in_ = len(names)
    model.feature_names_in_ = np.asarray(names, dtype=object)
    model.n_levels_ = np.asarray(n_levels, np.int64)
    model.m_ = m
    model.u_ = [np.clip(np.asarray(v, float), _EPS, 1) for v in u]
    model.n_iter_ = 0
    model.level_counts_ = _level_counts(pats, counts.astype(float), n_levels)
    model.converged_ = not not_converged
    if not_converged:
        warnings.warn(
            f"EM reached max_iter={max_iter} iterations before converging in the session(s) of "
            f"{', '.join(not_converged)}. Consider increasing max_iter; the m of those sessions are "
            "those of the last iteration.",
            convergence_warning(),
            stacklevel=2,
        )
    if warn_inverted:
        _warn_inverted(model, dict(level_names) if level_names else None)
    _fit_prior(model, pats, counts, n_all_pairs)
    return model


def _fit_prior(model: FellegiSunter, pats: np.ndarray, counts: np.ndarray, n_all_pairs: int) -> None:
    """The prior: EM on lambda alone over all pairs, with m and u fixed and the pairs that
    are not candidates counted as sure non-matches (``lambda = M / n_all_pairs`` for the
    expected number of matches ``M`` among the candidates)."""
    model.lambda_ = 0.5
    bayes = np.exp2(model.match_weight(pats) - model.prior_weight_)  # likelihood ratio per pattern
    lam = min(0.5, float(np.sum(counts)) / max(n_all_pairs, 1))
    for _ in range(500):
        odds = lam / (1 - lam) * bayes
        expected = float((counts * odds / (1 + odds)).sum())
        new = min(max(expected / max(n_all_pairs, 1), 1e-15), 1 - 1e-9)
        if abs(new - lam) <= 1e-12 + 1e-9 * lam:
            lam = new
            break
        lam = new
    model.lambda_ = lam


def m_from_confident_pairs(model: FellegiSunter, pats: np.ndarray, counts: np.ndarray, *, n_all_pairs: int,
                           min_probability: float = 0.99, min_pairs: int = 50) -> FellegiSunter:
    """Measure each comparison's ``m`` again among the candidate pairs that the *other*
    comparisons make near-certain matches.

    The EM sessions (:func:`train_by_sessions`) can take look-alikes into their "match"
    class where the free comparisons say little: pairs blocked on a birth date and a name
    sound are mostly namesakes born on one day, and EM there counts many of them as
    matches that live in another province, were born elsewhere and hold another family
    card. On the generator's sources (200,000 people) that session set 27 % of the matches
    in another kabupaten or province (truth: none) and so weighed a different region at
    -2.4 / -0.9 bits. For each comparison ``k`` this takes the pairs whose match
    probability *without* ``k`` (the model's other contributions and its prior) is at least
    ``min_probability``, and sets ``m_k`` to the shares of ``k``'s levels among them, each
    pair weighted by that probability (one pseudo-count per level). What ``k`` shows among
    those pairs was not used to pick them, so it is what ``k`` looks like among matches.
    A comparison shown by fewer than ``min_pairs`` such pairs keeps its ``m``; ``u`` stays,
    and the prior is fit again over ``n_all_pairs`` as :func:`train_by_sessions` fits it.
    :func:`train_model` (and the Spark engine) call this last, after :func:`near_miss_u`.
    The model is changed in place and returned.

    >>> # three comparisons; the model believes a third of the matches disagree on the last
    >>> fs = FellegiSunter()
    >>> fs.n_levels_, fs.n_features_in_, fs.lambda_ = np.array([2, 2, 2]), 3, 0.1
    >>> fs.u_ = [np.array([0.99, 0.01])] * 3
    >>> fs.m_ = [np.array([0.05, 0.95])] * 2 + [np.array([0.33, 0.67])]
    >>> X = np.array([[1, 1, 1], [1, 1, 0], [0, 0, 0], [0, 0, 1]])
    >>> counts = np.array([900.0, 1.0, 9000.0, 90.0])
    >>> # the pairs the first two make sure of nearly all agree on the third
    >>> m_from_confident_pairs(fs, X, counts, n_all_pairs=10_000, min_pairs=1).m_[2].round(4).tolist()
    [0.0022, 0.9978]
    """
    pats = np.asarray(pats)
    counts = np.asarray(counts, float)
    contrib = model.contributions(pats).to_numpy()
    total = contrib.sum(axis=1) + model.prior_weight_
    new_m = []
    for k in range(pats.shape[1]):
        col = pats[:, k]
        p = probability_from_weight(total - contrib[:, k])
        sel = (p >= min_probability) & (col >= 0)
        if counts[sel].sum() < min_pairs:
            new_m.append(model.m_[k])
            continue
        shares = np.bincount(col[sel], weights=counts[sel] * p[sel], minlength=int(model.n_levels_[k]))
        smoothed = shares[: int(model.n_levels_[k])] + 1.0
        new_m.append(smoothed / smoothed.sum())
    model.m_ = new_m
    _fit_prior(model, pats, counts, n_all_pairs)
    return model


#: Other comparisons a pair must show beside comparison ``k`` for an EM session to tell from
#: it what ``k`` looks like among matches (a latent class needs three indicators).
MIN_OTHER_INDICATORS = 2


def _session_m(fs: FellegiSunter, pats: np.ndarray, counts: np.ndarray, free: Sequence[int], *,
               min_pairs: int) -> list[tuple[int, np.ndarray, float]]:
    """What one EM session says of each free comparison's ``m``: ``(k, m_k, weight)``.

    ``m_k`` is the session's own; its ``weight`` in the average over sessions is the
    session's expected matches among the pairs that show comparison ``k`` *and* at least
    :data:`MIN_OTHER_INDICATORS` other free comparisons, not among all its pairs. From ``k``
    and one other comparison alone EM cannot tell matches from look-alikes (a two-class
    latent model needs three indicators): pairs blocked on the family card with the same
    sex show a name and a birth date at most (region, mother and place of birth say nothing
    inside one household), and EM's "match" class there takes in the household's
    namesakes. On the generator's data (200,000 people) that session put 18 % of the
    matches' birth dates at "different" (truth: 0.02 %) and, as the session with the most
    expected matches, set the model's weight of a different birth date at -4.1 bits; weighed
    this way it counts for nothing there and the weight is -6.9 bits. A session whose pairs
    all show enough comparisons keeps its full weight, and so does one with fewer than three
    free comparisons in all whose pairs show all of them (a model of two comparisons has
    nothing better). Comparisons with fewer than ``min_pairs`` such pairs in the session
    are left out.

    >>> X = np.array([[1, 1, 1], [0, 0, 0], [0, 1, 0], [1, 1, -1], [0, 0, -1]])
    >>> fs = FellegiSunter().fit(np.repeat(X, [40, 40, 10, 40, 40], axis=0))
    >>> # the pairs showing only two comparisons count for nothing
    >>> [(k, round(w)) for k, _, w in _session_m(fs, X, np.array([40, 40, 10, 40, 40]), [0, 1, 2], min_pairs=5)]
    [(0, 40), (1, 40), (2, 40)]
    """
    g = counts * probability_from_weight(fs.match_weight(pats))
    shown = pats[:, list(free)] >= 0
    n_shown = shown.sum(axis=1)
    need = min(MIN_OTHER_INDICATORS, len(free) - 1)
    out = []
    for j, k in enumerate(free):
        use = shown[:, j] & (n_shown - 1 >= need)
        weight = float(g[use].sum())
        if counts[use].sum() < min_pairs or weight <= 0:
            continue
        out.append((k, fs.m_[k], weight))
    return out


def _log_likelihood(pats: np.ndarray, probs: Sequence[np.ndarray]) -> np.ndarray:
    """Sum over comparisons of ``log probs[k][level]`` per pattern, 0 for a missing level."""
    out = np.zeros(len(pats))
    for k, p in enumerate(probs):
        out += np.append(np.log(p), 0.0)[pats[:, k]]  # level -1 takes the appended 0
    return out


def _level_shares(totals: np.ndarray, start: np.ndarray) -> list[np.ndarray]:
    """Per comparison (``totals[start[k]:start[k + 1]]``): level totals, smoothed, as shares."""
    out = []
    for lo, hi in itertools.pairwise(start):
        f = totals[lo:hi] + _EPS
        out.append(f / f.sum())
    return out


def _default_m(n_levels: Sequence[int] | np.ndarray) -> list[np.ndarray]:
    out = []
    for L in n_levels:
        v = 0.25 ** np.arange(L - 1, -1, -1, dtype=float)
        out.append(v / v.sum())
    return out


def _level_counts(pats: np.ndarray, counts: np.ndarray, n_levels: Sequence[int] | np.ndarray) -> list[np.ndarray]:
    """Pairs at each level of each comparison, from level patterns and their counts."""
    return [np.bincount(pats[:, k][pats[:, k] >= 0], weights=counts[pats[:, k] >= 0], minlength=int(L))[: int(L)]
            for k, L in enumerate(n_levels)]


def _warn_few_pairs(pats: np.ndarray, counts: np.ndarray, n_levels: Sequence[int] | np.ndarray, names: Sequence[str]) -> None:
    """:class:`FewTrainingPairsWarning` when the pairs (``counts`` of each of the level
    patterns ``pats``) are too few to learn weights from, overall or for a comparison."""
    n_pairs = float(np.sum(counts))
    if n_pairs < MIN_TRAINING_PAIRS:
        warnings.warn(
            f"The model was trained on {n_pairs:.0f} pair(s); EM needs at least {MIN_TRAINING_PAIRS} "
            "to learn m and u, so the match weights are guesses. Link more records at once, use "
            "blocking rules that find more candidate pairs, or pass a model trained on a larger run.",
            FewTrainingPairsWarning,
            stacklevel=3,
        )
        return
    thin = []
    for k, (name, L) in enumerate(zip(names, n_levels)):
        seen = float(counts[pats[:, k] >= 0].sum())
        if seen < MIN_PAIRS_PER_LEVEL * int(L):
            thin.append(f"{name!r} ({seen:.0f} pairs for {int(L)} levels)")
    if thin:
        warnings.warn(
            f"Few training pairs hold a value for comparison(s) {', '.join(thin)}: fewer than "
            f"{MIN_PAIRS_PER_LEVEL} per level, so their weights are guesses.",
            FewTrainingPairsWarning,
            stacklevel=3,
        )


def _warn_inverted(model: FellegiSunter, level_names: dict[str, Sequence[str]] | None = None) -> None:
    """:class:`WeightOrderWarning` listing the levels of :meth:`FellegiSunter.inverted_levels`."""
    bad = model.inverted_levels(level_names)
    if bad.empty:
        return
    def level(number: int, label: str) -> str:
        return f"level {number}" + (f" ({label})" if label != str(number) else "")

    shown = 5
    listed = "; ".join(
        f"{r.comparison!r} {level(r.level, r.label)} at {r.weight:+.1f} bits"
        + (f" ({r.n_pairs:.0f} pairs)" if not pd.isna(r.n_pairs) else "")
        + f" below {level(r.below_level, r.below_label)} at {r.below_weight:+.1f}"
        for r in bad.head(shown).itertuples()
    ) + (f"; and {len(bad) - shown} more" if len(bad) > shown else "")
    warnings.warn(
        f"Learned weights go the wrong way for {len(bad)} level(s): {listed}. Stronger agreement "
        "should not weigh less; check those comparisons (shared households or places, too few "
        "pairs at the level) or fix their m.",
        WeightOrderWarning,
        stacklevel=3,
    )


@with_codes
def term_frequency_adjustments(
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    levels: pd.DataFrame,
    comparisons: Sequence[Any],
    model: FellegiSunter,
    *,
    codes: CodeBook | None = None,
) -> pd.DataFrame:
    """Extra match weight of exact agreements on a value, by how common the value is.

    For a comparison with ``term_frequency=True``, a pair at its top ("exact") level on value
    ``v`` gets ``log2(u_exact / tf(v))``, where ``tf(v)`` is the share of records holding
    ``v``: the chance that a random record agrees on *this* value (Splink's term-frequency
    adjustment). A common name then counts for less than average, a rare one for more.
    Values are counted as :func:`regsosek_link._codes.column_codes` sees them: stripped, and
    blanks are missing (clean records hold no others).

    Returns
    -------
    DataFrame
        One column ``tf_<comparison>`` per adjusted comparison (bits; 0 where not exact),
        aligned with ``pairs``; no columns when no comparison asks for it.
    """
    names = list(levels.columns)
    out: dict[str, np.ndarray] = {}
    left = pairs["left"].to_numpy()
    for comp in comparisons:
        if not getattr(comp, "term_frequency", False) or comp.name not in names:
            continue
        k = names.index(comp.name)
        top = int(model.n_levels_[k]) - 1
        value_codes, _ = column_codes(records, comp.column)
        n_holding = np.bincount(value_codes[value_codes >= 0])
        lv = levels[comp.name].to_numpy()
        at = np.flatnonzero(lv == top)
        c = value_codes[left[at]]
        held = c >= 0
        adj = np.zeros(len(lv))
        # (the weight of each value once, then taken by the pairs agreeing on it)
        by_value = tf_weight(model.u_[k][top], n_holding, int(n_holding.sum()), len(records))
        adj[at[held]] = by_value[c[held]]
        out[f"tf_{comp.name}"] = adj
    return pd.DataFrame(out, index=levels.index, copy=False)  # (fresh arrays: no copy into a block)


def tf_weight(u_exact: float, n_holding: np.ndarray, n_with_value: int, n_records: int) -> np.ndarray:
    """The term-frequency adjustment (bits) of exact agreements on values held by
    ``n_holding`` records each, out of ``n_with_value`` records holding some value and
    ``n_records`` records (see :func:`term_frequency_adjustments`)."""
    f = np.asarray(n_holding) / max(int(n_with_value), 1)  # share of records holding the value
    return np.log2(u_exact / np.maximum(f, 1.0 / max(int(n_records), 1)))


# ----------------------------------------------------------------------------------------
# scoring and training the run's pairs: the one home of the formula and of the training recipe


def probability_from_weight(weight: np.ndarray | float) -> np.ndarray:
    """Match probability of a match weight in bits: ``2**w / (1 + 2**w)``.

    >>> probability_from_weight(np.array([0.0, 1.0, 2000.0])).tolist()
    [0.5, 0.6666666666666666, 1.0]
    """
    out = np.clip(np.asarray(weight, float), -1000, 1000)  # (a copy: the rest works in place)
    if not isinstance(out, np.ndarray) or out.ndim == 0:
        return 1.0 / (1.0 + np.exp2(-out))
    np.negative(out, out=out)
    np.exp2(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


class PairScores(NamedTuple):
    """What :func:`score_pairs` gives, aligned with the pairs."""

    probability: np.ndarray
    weight: np.ndarray
    #: The term-frequency part of the contributions (one ``tf_<comparison>`` column per
    #: adjusted comparison; no columns when none asks for it).
    term_frequency: pd.DataFrame


@with_codes
def score_pairs(
    model: FellegiSunter,
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    levels: pd.DataFrame,
    comparisons: Sequence[Any],
    *,
    patterns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    term_frequency: pd.DataFrame | None = None,
    codes: CodeBook | None = None,
) -> PairScores:
    """Match weight and probability of every candidate pair: the model's weight of the pair's
    level pattern plus the term-frequency adjustments (:func:`term_frequency_adjustments`,
    values counted over all ``records``). Every run, update and explanation scores with this.

    The weight is computed once per distinct pattern (:func:`level_patterns`, passed as
    ``patterns`` when the caller has it), so no per-comparison float matrix is held for all
    pairs. ``term_frequency``: the adjustments when the caller made them (an engine that
    counts the values elsewhere, with :func:`tf_weight`).
    """
    if len(levels) == 0:
        return PairScores(np.zeros(0), np.zeros(0), pd.DataFrame(index=levels.index))
    pats, _, inverse = level_patterns(levels.to_numpy()) if patterns is None else patterns
    weight = model.match_weight(pd.DataFrame(pats, columns=levels.columns))[inverse]
    tf = (term_frequency_adjustments(records, pairs, levels, comparisons, model) if term_frequency is None
          else term_frequency)
    if tf.shape[1]:
        # the adjustments added column by column, as a row sum adds them (the same floats),
        # without copying the frame into one matrix first; ``weight`` is a fresh array
        columns = [tf[c].to_numpy() for c in tf.columns]
        total = columns[0].copy()
        for column in columns[1:]:
            total += column
        weight += total
    return PairScores(probability_from_weight(weight), weight, tf)


#: Derived clean columns and the person field they come from: a blocking rule on a derived
#: column determines the comparisons of its field.
DERIVED_FROM = {
    "tahun_lahir": "tanggal_lahir",
    "nik_birth_date": "tanggal_lahir",
    "nama_sorted": "nama",
    "nama_phonetic": "nama",
    "nama_ibu_phonetic": "nama_ibu",
}


def blocked_comparisons(blocking_rules: Sequence[Any], comparisons: Sequence[Any]) -> dict[int, list[str]]:
    """For each blocking rule (by index), the names of the comparisons its key columns determine."""
    out = {}
    for i, rule in enumerate(blocking_rules):
        cols = set(rule.columns)
        cols |= {DERIVED_FROM[c] for c in cols if c in DERIVED_FROM}
        out[i] = [c.name for c in comparisons
                  if cols & (set(c.columns) | {DERIVED_FROM.get(x, x) for x in c.columns})]
    return out


@with_codes
def n_possible_pairs(
    records: pd.DataFrame,
    *,
    link_type: str = "link_and_dedupe",
    single_record_sources: Sequence[str] = (),
    new: np.ndarray | None = None,
    codes: CodeBook | None = None,
) -> int:
    """How many record pairs blocking could have made: the population of pairs the prior
    ``lambda`` is a share of. With ``new``, only the pairs with at least one flagged record.

    >>> recs = pd.DataFrame({"source": ["a", "a", "b"]})
    >>> n_possible_pairs(recs), n_possible_pairs(recs, link_type="link_only")
    (3, 2)
    >>> n_possible_pairs(recs, single_record_sources=["a"], new=np.array([False, False, True]))
    2
    """

    def sizes(mask: np.ndarray | None) -> tuple[dict[str, int], int]:
        codes, names = column_codes(records, "source")
        if mask is not None:
            codes = codes[mask]
        counts = np.bincount(codes[codes >= 0], minlength=len(names))
        return {str(s): int(k) for s, k in zip(names.tolist(), counts.tolist())}, len(codes)

    return n_pairs_of_sizes(*sizes(None), link_type=link_type, single_record_sources=single_record_sources,
                            old=None if new is None else sizes(~np.asarray(new, bool)))


def n_pairs_of_sizes(sizes: Mapping[str, int], n: int, *, link_type: str = "link_and_dedupe",
                     single_record_sources: Sequence[str] = (),
                     old: tuple[Mapping[str, int], int] | None = None) -> int:
    """:func:`n_possible_pairs` of ``n`` records with ``sizes`` records per source; with
    ``old`` (the sizes and number of the records not flagged new), only the pairs with a
    new record.

    >>> n_pairs_of_sizes({"a": 2, "b": 1}, 3, link_type="link_only")
    2
    """
    def count(by_source: Mapping[str, int], total: int) -> int:
        within = {str(s): int(k) * (int(k) - 1) // 2 for s, k in by_source.items()}
        if link_type == "link_only":
            return total * (total - 1) // 2 - sum(within.values())
        if link_type == "dedupe_only":
            return sum(within.values())
        return total * (total - 1) // 2 - sum(v for s, v in within.items() if s in set(single_record_sources))

    return count(sizes, n) - (count(*old) if old is not None else 0)


@with_codes
def train_model(
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    levels: pd.DataFrame,
    *,
    comparisons: Sequence[Any],
    blocking_rules: Sequence[Any],
    threshold: float,
    n_all_pairs: int,
    u: list[np.ndarray] | None = None,
    u_max_pairs: int = 300_000,
    random_state: int | None = 0,
    prepared: list[Any] | None = None,
    patterns: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    workers: int = 1,
    codes: CodeBook | None = None,
) -> FellegiSunter:
    """Train the run's Fellegi-Sunter model: ``u`` from random record pairs (unless given:
    :func:`u_from_random_pairs`), ``m`` by EM sessions per blocking rule
    (:func:`train_by_sessions`), the prior over ``n_all_pairs`` (:func:`n_possible_pairs`),
    the ``u`` of near-miss levels among the candidates (:func:`near_miss_u`), then ``m``
    measured again among the pairs the other comparisons make sure of
    (:func:`m_from_confident_pairs`).
    A full run and an update that retrains both train with this."""
    if u is None:
        u = u_from_random_pairs(records, comparisons, max_pairs=u_max_pairs, random_state=random_state,
                                prepared=prepared, workers=workers)
    pats = patterns if patterns is not None else level_patterns(levels.to_numpy())
    model = train_by_sessions(levels, pairs["rules"].to_numpy(),
                              blocked=blocked_comparisons(blocking_rules, comparisons),
                              u=u, n_all_pairs=max(n_all_pairs, 1), threshold=threshold, patterns=pats,
                              warn_inverted=False)
    return finish_training(model, pats[0], pats[1], comparisons, n_all_pairs=max(n_all_pairs, 1))


def finish_training(model: FellegiSunter, pats: np.ndarray, counts: np.ndarray, comparisons: Sequence[Any], *,
                    n_all_pairs: int) -> FellegiSunter:
    """The last steps of training after the EM sessions (:func:`train_by_sessions` /
    :func:`train_on_counts` with ``warn_inverted=False``), in both engines: the ``u`` of
    near-miss levels among the candidates (:func:`near_miss_u`), ``m`` measured again among
    the pairs the other comparisons make sure of (:func:`m_from_confident_pairs`), then the
    :class:`WeightOrderWarning` of the model as it is used, its levels named
    (:attr:`Comparison.level_names`). ``pats`` and ``counts``: the candidate pairs' distinct
    level patterns and their numbers (:func:`level_patterns`)."""
    if len(pats) and int(np.sum(counts)):
        if any(getattr(c, "near_miss_levels", None) for c in comparisons):
            near_miss_u(model, (pats, counts, None), comparisons)
        m_from_confident_pairs(model, pats, counts, n_all_pairs=n_all_pairs)
    _warn_inverted(model, {c.name: tuple(c.level_names) for c in comparisons})
    return model


def near_miss_u(model: FellegiSunter, patterns: tuple[np.ndarray, np.ndarray, np.ndarray | None],
                comparisons: Sequence[Any], *, max_iter: int = 50, tol: float = 1e-6) -> FellegiSunter:
    """Learn ``u`` of the near-miss levels of NIK-like comparisons among the candidate pairs.

    Random record pairs almost never hold two NIKs a digit apart, so the ``u`` measured on
    them gives a near miss the pseudo-count of a level never seen: the weight of a
    near-perfect identifier, whatever the data. But the pairs a near miss has to be told
    apart from are the candidates: people alike in name, date and place, among whom two
    NIKs a digit apart are common where serials restart at ``0001`` for every kecamatan
    and birth date (twins, people born on one day in one or neighbouring kecamatans).
    So the ``u`` of each near-miss level (:attr:`regsosek_link.compare.IdNumberComparison.near_miss_levels`)
    is its share among the candidate pairs that are *not* one person, learned by EM: each
    pattern counts as a non-match with the model's probability of that, the share is
    updated, the probabilities recomputed, until it settles. ``m`` (from the sessions) and
    every other ``u`` stay. The model is changed in place and returned.

    Parameters
    ----------
    model : FellegiSunter
        A trained model (:func:`train_by_sessions`).
    patterns : (patterns, counts, inverse)
        :func:`level_patterns` of the candidate pairs' levels (``inverse`` is not used).
    comparisons : sequence
        The model's comparisons, in its column order.
    """
    pats, counts = patterns[0], np.asarray(patterns[1], float)
    targets = [(k, list(c.near_miss_levels.values())) for k, c in enumerate(comparisons)
               if getattr(c, "near_miss_levels", None)]
    for _ in range(max_iter):
        non = counts * (1.0 - probability_from_weight(model.match_weight(pats)))
        delta = 0.0
        for k, lv in targets:
            col = pats[:, k]
            present = non[col >= 0].sum()
            if present <= 0:
                continue
            u_k = model.u_[k].copy()
            for level in lv:
                # (one pseudo-count, as every level measured on random pairs has)
                u_k[level] = max((non[col == level].sum() + 1.0) / (present + 1.0), _EPS)
            delta = max(delta, float(np.abs(np.log2(u_k) - np.log2(model.u_[k])).max()))
            model.u_[k] = u_k
        if delta < tol:
            break
    for k, lv in targets:
        for level in lv:
            log.info("u of %s level %d learned among the candidates: %.3g", model._names()[k], level,
                     model.u_[k][level])
    return model
