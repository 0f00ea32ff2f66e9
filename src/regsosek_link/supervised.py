"""Supervised classification of comparison vectors with labelled pairs.

With pairs labelled match / non-match (a ground-truth file or a clerical review), any
scikit-learn classifier can replace the unsupervised Fellegi-Sunter model.
:class:`SupervisedLinkClassifier` one-hot encodes the comparison levels (each level of each
comparison is its own 0/1 feature, and *missing* (``-1``) is a level of its own, never
"different") and fits a clone of the given estimator on them.

:func:`labelled_pairs` builds ``(X, y)`` from a run and a truth table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted, validate_data

if TYPE_CHECKING:  # pragma: no cover
    from .run import LinkResult

__all__ = ["SupervisedLinkClassifier", "labelled_pairs", "one_hot_levels"]


def one_hot_levels(X: np.ndarray, n_levels: np.ndarray) -> np.ndarray:
    """One 0/1 column per (comparison, level), level ``-1`` (missing) included.

    Comparison ``k`` gets ``n_levels[k] + 1`` columns: missing, 0, 1, ... Levels above the
    known range give all zeros for that comparison (unknown).

    >>> one_hot_levels(np.array([[-1, 1], [0, 2]]), np.array([2, 2])).astype(int).tolist()
    [[1, 0, 0, 0, 0, 1], [0, 1, 0, 0, 0, 0]]
    """
    X = np.asarray(X, dtype=np.int64)
    blocks = []
    for k, L in enumerate(np.asarray(n_levels, dtype=np.int64)):
        col = X[:, k] + 1  # missing -> 0
        block = np.zeros((X.shape[0], L + 1), dtype=np.float64)
        ok = (col >= 0) & (col <= L)
        block[np.flatnonzero(ok), col[ok]] = 1.0
        blocks.append(block)
    return np.hstack(blocks) if blocks else np.zeros((X.shape[0], 0))


class SupervisedLinkClassifier(ClassifierMixin, BaseEstimator):
    """Any scikit-learn classifier on one-hot comparison levels.

    Parameters
    ----------
    estimator : classifier, default=LogisticRegression(max_iter=1000)
        Cloned and fitted on the one-hot levels; must have ``predict_proba``.
    threshold : float, default=0.5
        Match probability at or above which ``predict`` says the positive class.

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone.
    n_levels_ : ndarray of int
        Levels per comparison seen in training (missing excluded).
    classes_ : ndarray
        Class labels (from ``y``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Comparison names, when ``X`` was a DataFrame.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random(500) < 0.3).astype(int)
    >>> X = np.stack([np.where(y == 1, rng.random(500) < .9, rng.random(500) < .1) for _ in range(3)], 1).astype(int)
    >>> clf = SupervisedLinkClassifier().fit(X, y)
    >>> clf.predict([[1, 1, 1], [0, 0, -1]]).tolist()
    [1, 0]
    """

    def __init__(self, estimator: Any = None, *, threshold: float = 0.5) -> None:
        self.estimator = estimator
        self.threshold = threshold

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # comparison levels are small non-negative-ish integer categories
        tags.input_tags.categorical = True
        return tags

    def _levels(self, X: Any, *, reset: bool) -> np.ndarray:
        arr = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=True)
        if arr.dtype.kind == "O":
            arr = arr.astype(np.float64)  # numbers stored as objects; anything else raises TypeError
        if arr.dtype.kind == "f":
            if not np.all(arr == np.round(arr)):
                raise ValueError(
                    "SupervisedLinkClassifier needs integer comparison levels (-1 = missing); "
                    "got non-integer values"
                )
        elif arr.dtype.kind not in "iub":
            raise ValueError(f"SupervisedLinkClassifier needs integer comparison levels; got dtype {arr.dtype}")
        arr = arr.astype(np.int64)
        if arr.size and arr.min() < -1:
            raise ValueError(f"comparison levels must be >= -1 (-1 = missing); got {int(arr.min())}")
        return arr

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SupervisedLinkClassifier:
        """Fit the estimator on one-hot levels.

        Parameters
        ----------
        X : array-like or DataFrame of int, shape (n_pairs, n_comparisons)
            Comparison levels, ``-1`` missing.
        y : array-like, shape (n_pairs,)
            Labels (1 match, 0 non-match, or any two classes).
        sample_weight : array-like, optional
            Passed to the estimator's ``fit``.
        """
        if not isinstance(self.threshold, (int, float)) or not 0 <= self.threshold <= 1:
            raise ValueError(
                "The 'threshold' parameter of SupervisedLinkClassifier must be a float in [0, 1]. "
                f"Got {self.threshold!r} instead."
            )
        arr = self._levels(X, reset=True)
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import column_or_1d

        y = column_or_1d(y, warn=True)
        if len(y) != len(arr):
            raise ValueError(f"X has {len(arr)} rows but y has {len(y)}")
        check_classification_targets(y)
        self.n_levels_ = (np.maximum(arr.max(axis=0) + 1, 1) if len(arr) else np.ones(arr.shape[1])).astype(np.int64)
        est = clone(self.estimator) if self.estimator is not None else LogisticRegression(max_iter=1000)
        kw = {} if sample_weight is None else {"sample_weight": sample_weight}
        est.fit(one_hot_levels(arr, self.n_levels_), y, **kw)
        self.estimator_ = est
        self.classes_ = est.classes_
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (columns in the order of ``classes_``)."""
        check_is_fitted(self, "estimator_")
        arr = self._levels(X, reset=False)
        return self.estimator_.predict_proba(one_hot_levels(arr, self.n_levels_))

    def predict(self, X: Any) -> np.ndarray:
        """For two classes, the last class where its probability reaches ``threshold``."""
        proba = self.predict_proba(X)
        if len(self.classes_) == 2:
            return self.classes_[(proba[:, 1] >= self.threshold).astype(int)]
        return self.classes_[np.argmax(proba, axis=1)]

    def match_probability(self, X: Any) -> np.ndarray:
        """Probability of the positive (last) class, per pair."""
        return self.predict_proba(X)[:, -1]


def labelled_pairs(result: LinkResult, truth: pd.DataFrame, *, truth_column: str = "person_id") -> tuple[pd.DataFrame, np.ndarray]:
    """Comparison levels of a run's candidate pairs and their true labels.

    Returns
    -------
    X : DataFrame
        ``result.levels``.
    y : ndarray of int
        1 where both records belong to one true person.
    """
    from .explain import truth_ids

    tid = truth_ids(result, truth, truth_column=truth_column)
    y = (tid[result.pairs["left"].to_numpy()] == tid[result.pairs["right"].to_numpy()]).astype(int)
    return result.levels, y
