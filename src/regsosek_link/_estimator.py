"""A scikit-learn compatible classifier base that does not import scikit-learn.

Importing ``sklearn.base`` costs about 0.9 s (it pulls in ``scipy.stats`` through
``sklearn.utils``), more than the rest of a command's imports together; every run trains a
:class:`~regsosek_link.classify.FellegiSunter`, so inheriting scikit-learn's
``BaseEstimator`` made every ``regsosek-link`` command pay it. :class:`Classifier` gives
what scikit-learn's tools read from an estimator -- ``get_params`` / ``set_params`` (so
``clone``, grid searches and pipelines work), a repr of the parameters that differ from
their defaults, the classifier tags, ``score`` -- and imports scikit-learn only where its
own objects are needed (the tags, accuracy, an error for an unfitted model, the check of
unusual input), that is when scikit-learn is in use already or something is wrong.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

__all__ = ["Classifier", "check_fitted", "convergence_warning", "validated_array"]


class Classifier:
    """Base of an estimator whose ``__init__`` takes keyword parameters and stores each
    under its own name (scikit-learn's convention).

    >>> class Model(Classifier):
    ...     def __init__(self, *, alpha=1.0, beta=None):
    ...         self.alpha, self.beta = alpha, beta
    >>> m = Model(alpha=2.0)
    >>> m, m.get_params()
    (Model(alpha=2.0), {'alpha': 2.0, 'beta': None})
    >>> m.set_params(beta=[1, 2])
    Model(alpha=2.0, beta=[1, 2])
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        params = inspect.signature(cls.__init__).parameters.values()
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            raise RuntimeError(f"{cls.__name__}.__init__ must take named parameters only (no *args)")
        return sorted(p.name for p in params if p.name != "self" and p.kind is not p.VAR_KEYWORD)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The parameters of ``__init__`` and their values (with ``deep``, also those of
        parameters that are estimators, as ``name__param``)."""
        out: dict[str, Any] = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            out[name] = value
        return out

    def set_params(self, **params: Any) -> Classifier:
        """Set parameters (``name__param`` for a parameter of a nested estimator)."""
        valid = self.get_params(deep=True)
        nested: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(f"Invalid parameter {name!r} for estimator {self}. "
                                 f"Valid parameters are: {self._param_names()!r}.")
            if sub:
                nested.setdefault(name, {})[sub] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, sub_params in nested.items():
            valid[name].set_params(**sub_params)
        return self

    def __repr__(self) -> str:
        defaults = {p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()}
        shown = [f"{name}={value!r}" for name, value in self.get_params(deep=False).items()
                 if not _same(value, defaults.get(name, inspect.Parameter.empty))]
        return f"{type(self).__name__}({', '.join(shown)})"

    def _repr_html_(self) -> str:  # (a notebook's display)
        from sklearn.utils import estimator_html_repr

        return estimator_html_repr(self)

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, InputTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True), transformer_tags=None,
                    regressor_tags=None, classifier_tags=ClassifierTags(), input_tags=InputTags())

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy of ``predict(X)`` against ``y`` (scikit-learn's ``accuracy_score``)."""
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))  # type: ignore[attr-defined]


def _same(value: Any, default: Any) -> bool:
    """Whether a parameter still has its default (arrays and other values that do not
    compare to one bool count as changed)."""
    if value is default:
        return True
    if default is inspect.Parameter.empty or type(value) is not type(default):
        return False
    try:
        return bool(value == default) or (isinstance(value, float) and np.isnan(value) and np.isnan(default))
    except (TypeError, ValueError):
        return False


def check_fitted(estimator: Any, attribute: str) -> None:
    """scikit-learn's ``NotFittedError`` unless ``estimator`` has ``attribute`` (set by fit)."""
    if not hasattr(estimator, attribute):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
                             "appropriate arguments before using this estimator.")


def validated_array(X: Any) -> np.ndarray:
    """``X`` as a 2-D array of at least one row and column: a numeric one as it is, anything
    else through scikit-learn's ``check_array`` (its messages for sparse, complex, 1-D or
    empty input; the dtype is kept)."""
    if isinstance(X, np.ndarray) and X.ndim == 2 and min(X.shape) >= 1 and X.dtype.kind in "biuf":
        return X
    from sklearn.utils.validation import check_array

    return check_array(X, dtype=None, ensure_all_finite=False, ensure_min_features=1)


def convergence_warning() -> type[Warning]:
    """scikit-learn's ``ConvergenceWarning`` (imported when a warning is issued)."""
    from sklearn.exceptions import ConvergenceWarning

    return ConvergenceWarning
