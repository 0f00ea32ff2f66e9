"""Fellegi-Sunter EM: recovers known parameters from seeded data; estimator contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from regsosek_link.classify import FellegiSunter, level_patterns


def _simulate(n=20_000, lam=0.15, seed=0):
    rng = np.random.default_rng(seed)
    m = [np.array([0.05, 0.15, 0.80]), np.array([0.1, 0.9]), np.array([0.02, 0.08, 0.9])]
    u = [np.array([0.85, 0.10, 0.05]), np.array([0.7, 0.3]), np.array([0.9, 0.07, 0.03])]
    match = rng.random(n) < lam
    cols = []
    for mk, uk in zip(m, u):
        lm = rng.choice(len(mk), n, p=mk)
        lu = rng.choice(len(uk), n, p=uk)
        col = np.where(match, lm, lu)
        col[rng.random(n) < 0.05] = -1  # missing at random
        cols.append(col)
    return np.stack(cols, 1), match, m, u


def test_em_recovers_simulated_parameters():
    X, match, m, u = _simulate()
    fs = FellegiSunter().fit(pd.DataFrame(X, columns=["a", "b", "c"]))
    assert fs.lambda_ == pytest.approx(0.15, abs=0.01)
    for k in range(3):
        np.testing.assert_allclose(fs.m_[k], m[k], atol=0.03)
        np.testing.assert_allclose(fs.u_[k], u[k], atol=0.03)
    acc = (fs.predict(X) == match).mean()
    assert acc > 0.97


def test_missing_level_contributes_nothing():
    X, *_ = _simulate(n=3000)
    fs = FellegiSunter().fit(X)
    c = fs.contributions(np.array([[-1, -1, -1], [2, -1, -1]]))
    assert c.iloc[0].tolist() == [0.0, 0.0, 0.0]
    assert c.iloc[1, 0] == pytest.approx(np.log2(fs.m_[0][2] / fs.u_[0][2]))
    assert fs.match_weight(np.array([[-1, -1, -1]]))[0] == pytest.approx(fs.prior_weight_)


def test_contributions_sum_to_match_weight_and_probability():
    X, *_ = _simulate(n=3000)
    fs = FellegiSunter().fit(X)
    w = fs.match_weight(X[:50])
    np.testing.assert_allclose(fs.contributions(X[:50]).sum(axis=1) + fs.prior_weight_, w)
    np.testing.assert_allclose(fs.predict_proba(X[:50])[:, 1], 2.0**w / (1 + 2.0**w))


def test_fit_returns_self_and_is_deterministic():
    X, *_ = _simulate(n=5000, seed=2)
    a = FellegiSunter()
    assert a.fit(X) is a
    b = clone(a).fit(X)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_estimator_contract_without_scikit_learn_base_classes():
    """FellegiSunter does not inherit scikit-learn's classes (their import is 0.9 s) but
    keeps what its tools read: parameters, repr, tags, score, the unfitted error."""
    from sklearn.base import is_classifier
    from sklearn.exceptions import NotFittedError
    from sklearn.model_selection import GridSearchCV

    X, match, *_ = _simulate(n=4000, seed=3)
    fs = FellegiSunter(threshold=0.9, u_init=[np.array([0.5, 0.5])] * 3)
    assert repr(FellegiSunter()) == "FellegiSunter()"
    assert repr(FellegiSunter(threshold=0.9, max_iter=50)) == "FellegiSunter(max_iter=50, threshold=0.9)"
    assert fs.get_params()["threshold"] == 0.9 and "u_init" in repr(fs)
    assert fs.set_params(threshold=0.7) is fs and fs.threshold == 0.7
    with pytest.raises(ValueError, match="Invalid parameter 'thresh' for estimator"):
        fs.set_params(thresh=0.5)
    assert is_classifier(fs) and fs.__sklearn_tags__().input_tags.categorical
    assert "threshold" in fs._repr_html_()  # (scikit-learn's diagram in a notebook)
    with pytest.raises(NotFittedError, match="This FellegiSunter instance is not fitted yet"):
        FellegiSunter().predict(X)
    fitted = FellegiSunter().fit(X)
    assert fitted.score(X, match) == pytest.approx((fitted.predict(X) == match).mean())
    search = GridSearchCV(FellegiSunter(), {"threshold": [0.1, 0.9]}, cv=2).fit(X, match)
    assert search.best_params_["threshold"] in (0.1, 0.9)
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        FellegiSunter().fit(X[:, 0])


def test_sample_weight_equals_repeating_rows():
    X, *_ = _simulate(n=2000, seed=5)
    pats, counts, _ = level_patterns(X)
    by_weight = FellegiSunter().fit(pats, sample_weight=counts)
    by_rows = FellegiSunter().fit(X)
    np.testing.assert_allclose(by_weight.lambda_, by_rows.lambda_, rtol=1e-6)


def test_m_from_labels():
    X, match, m, _u = _simulate(n=20_000, seed=1)
    fs = FellegiSunter(m_from_labels=True).fit(X, match.astype(int))
    np.testing.assert_allclose(fs.m_[1], m[1], atol=0.02)
    assert fs.lambda_ == pytest.approx(match.mean())


def test_fix_u_keeps_u():
    X, *_ = _simulate(n=3000)
    u0 = [np.array([0.8, 0.15, 0.05]), np.array([0.6, 0.4]), np.array([0.9, 0.07, 0.03])]
    fs = FellegiSunter(fix_u=True, u_init=u0).fit(X)
    for a, b in zip(fs.u_, u0):
        np.testing.assert_allclose(a, b)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"threshold": 1.5}, "The 'threshold' parameter of FellegiSunter must be a float in [0, 1]. Got 1.5 instead."),
        ({"prior": 0.0}, "The 'prior' parameter of FellegiSunter must be a float in (0, 1) or None. Got 0.0 instead."),
        ({"max_iter": 0}, "The 'max_iter' parameter of FellegiSunter must be an int >= 1. Got 0 instead."),
    ],
)
def test_parameter_errors(params, message):
    with pytest.raises(ValueError) as err:
        FellegiSunter(**params).fit(np.array([[0, 1], [1, 1]]))
    assert str(err.value) == message


def test_input_errors():
    fs = FellegiSunter().fit(np.array([[0, 1], [1, 1], [1, 0]]))
    with pytest.raises(ValueError, match="X has 3 features, but FellegiSunter is expecting 2"):
        fs.predict(np.array([[0, 1, 1]]))
    with pytest.raises(ValueError, match="-1 = missing"):
        FellegiSunter().fit(np.array([[-2, 1]]))
    with pytest.raises(ValueError, match="model knows levels 0..1"):
        fs.contributions(np.array([[5, 1]]))


def test_parameters_table():
    X, *_ = _simulate(n=3000)
    fs = FellegiSunter().fit(pd.DataFrame(X, columns=["a", "b", "c"]))
    t = fs.parameters({"b": ["different", "same"]})
    assert list(t.columns) == ["comparison", "level", "label", "m", "u", "weight"]
    assert len(t) == 3 + 2 + 3
    assert t.loc[t.comparison == "b", "label"].tolist() == ["different", "same"]
    np.testing.assert_allclose(t.groupby("comparison")["m"].sum(), 1.0, atol=1e-4)


def test_m_is_measured_among_the_pairs_the_other_comparisons_make_sure_of():
    """The EM session of "birth date & a name sound" counts namesakes born on one day in
    other regions as matches; measured again among the pairs the other comparisons make
    sure of (``m_from_confident_pairs``), a different region is as rare among matches as
    the generator makes it (never). Without that step, on these data: 0.005 of the matches
    in another province and 0.54 in one desa."""
    import warnings

    import regsosek_link as rl
    from regsosek_link.datasets import make_sources

    syn = make_sources(n_people=3_000, random_state=0, noise="harsh")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rl.link(syn.sources, columns=syn.mappings, one_record_per_person=("siak",))
    m = res.model.m_[list(res.levels.columns).index("wilayah")]
    assert m[0] + m[1] < 0.002  # different province, different kabupaten
    assert m[4] > 0.6  # same desa


def test_m_from_confident_pairs_keeps_m_without_enough_confident_pairs():
    from regsosek_link.classify import m_from_confident_pairs

    fs = FellegiSunter()
    fs.n_levels_, fs.n_features_in_, fs.lambda_ = np.array([2, 2, 2]), 3, 0.1
    fs.u_ = [np.array([0.99, 0.01])] * 3
    fs.m_ = [np.array([0.05, 0.95])] * 2 + [np.array([0.33, 0.67])]
    X = np.array([[1, 1, 1], [1, 1, 0], [0, 0, 0], [0, 0, 1]])
    counts = np.array([900.0, 1.0, 9000.0, 90.0])
    kept = m_from_confident_pairs(fs, X, counts, n_all_pairs=10_000, min_pairs=1_000).m_[2]
    assert kept.tolist() == [0.33, 0.67]
    fs.m_[2] = np.array([0.33, 0.67])
    measured = m_from_confident_pairs(fs, X, counts, n_all_pairs=10_000, min_pairs=1).m_[2]
    assert measured[0] < 0.01
