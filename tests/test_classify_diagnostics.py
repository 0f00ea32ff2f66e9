"""EM diagnostics the scikit-learn way: convergence, too few pairs, weights that go the wrong way."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import ConvergenceWarning

from regsosek_link.classify import (
    FellegiSunter,
    FewTrainingPairsWarning,
    WeightOrderWarning,
    train_by_sessions,
)


def _simulate(n=5_000, lam=0.2, seed=0, m=None, u=None):
    rng = np.random.default_rng(seed)
    m = m or [np.array([0.05, 0.15, 0.80]), np.array([0.1, 0.9])]
    u = u or [np.array([0.85, 0.10, 0.05]), np.array([0.7, 0.3])]
    match = rng.random(n) < lam
    cols = [np.where(match, rng.choice(len(mk), n, p=mk), rng.choice(len(uk), n, p=uk)) for mk, uk in zip(m, u)]
    return pd.DataFrame(np.stack(cols, 1), columns=[f"c{k}" for k in range(len(m))])


def _caught(fn):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fn()
    return record


def test_convergence_warning_when_max_iter_is_reached():
    X = _simulate()
    with pytest.warns(ConvergenceWarning, match=r"reached max_iter=2 iterations before converging \(tol=1e-07\)"):
        fs = FellegiSunter(max_iter=2).fit(X)
    assert (fs.n_iter_, fs.converged_) == (2, False)


def test_no_convergence_warning_when_converged(caplog):
    X = _simulate()
    with caplog.at_level("INFO", logger="regsosek_link.classify"):
        record = _caught(lambda: FellegiSunter(tol=1e-4).fit(X))
    assert not [w for w in record if issubclass(w.category, ConvergenceWarning)]
    assert "EM converged in" in caplog.text


def test_log_does_not_say_converged_at_max_iter(caplog):
    with caplog.at_level("INFO", logger="regsosek_link.classify"), pytest.warns(ConvergenceWarning):
        FellegiSunter(max_iter=3).fit(_simulate())
    assert "converged in" not in caplog.text
    assert "stopped at max_iter=3 without converging" in caplog.text


@pytest.mark.parametrize("n_pairs, warned", [(9, True), (99, True), (100, False), (5_000, False)])
def test_few_training_pairs_warning(n_pairs, warned):
    X = _simulate(n=n_pairs)
    record = _caught(lambda: FellegiSunter(tol=1e-3).fit(X))
    few = [str(w.message) for w in record if issubclass(w.category, FewTrainingPairsWarning)]
    if warned:
        assert few == [(f"The model was trained on {n_pairs} pair(s); EM needs at least 100 to learn m and u, "
                        "so the match weights are guesses. Link more records at once, use blocking rules that "
                        "find more candidate pairs, or pass a model trained on a larger run.")]
    else:
        assert few == []


def test_few_pairs_per_level_of_one_comparison():
    X = _simulate(n=500)
    X.loc[X.index[5:], "c0"] = -1  # c0 observed on 5 pairs, for 3 levels
    with pytest.warns(FewTrainingPairsWarning, match=r"comparison\(s\) 'c0' \(5 pairs for 3 levels\)"):
        FellegiSunter(tol=1e-3).fit(X)


def test_inverted_levels_lists_a_stronger_level_that_weighs_less():
    fs = FellegiSunter()
    fs.n_levels_ = np.array([5, 3])
    fs.feature_names_in_ = np.array(["wilayah", "tempat_lahir"], dtype=object)
    # wilayah: same kecamatan (3) below same kabupaten (2); tempat_lahir: similar (1) below different (0)
    fs.m_ = [np.array([.01, .13, .39, .0016, .47]), np.array([.027, .000001, .973])]
    fs.u_ = [np.array([.66, .19, .10, .0023, .04]), np.array([.88, .00014, .12])]
    names = {"wilayah": ("different province", "same province", "same kabupaten/kota", "same kecamatan", "same desa")}
    out = fs.inverted_levels(names)
    assert out[["comparison", "level", "label", "below_level", "below_label"]].values.tolist() == [
        ["wilayah", 3, "same kecamatan", 2, "same kabupaten/kota"],
        ["tempat_lahir", 1, "1", 0, "0"],
    ]
    assert out["weight"].round(1).tolist() == [-0.5, -7.1]
    assert out["below_weight"].round(1).tolist() == [2.0, -5.0]


@pytest.mark.parametrize("weights, tolerance, expected", [
    ([-3.0, -1.0, 5.0], 1.0, []),  # the right way
    ([-3.0, -3.5, 5.0], 1.0, []),  # a dip within the tolerance
    ([-3.0, -3.5, 5.0], 0.0, [1]),
    ([-3.0, 2.0, 0.5], 1.0, [2]),  # below level 1, not below level 0
    ([4.0, -3.0, -2.0], 1.0, [1, 2]),  # both below level 0
])
def test_inverted_levels_table(weights, tolerance, expected):
    fs = FellegiSunter()
    fs.n_levels_ = np.array([3])
    u = np.array([0.5, 0.3, 0.2])
    m = u * np.exp2(weights)
    fs.u_, fs.m_ = [u], [m]  # (m need not sum to 1 here: only the weights are read)
    assert fs.inverted_levels(tolerance=tolerance)["level"].tolist() == expected


def test_inverted_levels_skips_levels_no_pair_reached():
    fs = FellegiSunter()
    fs.n_levels_ = np.array([3])
    fs.u_, fs.m_ = [np.array([0.5, 0.3, 0.2])], [np.array([0.1, 0.89, 0.01])]
    assert fs.inverted_levels()["level"].tolist() == [2]
    fs.level_counts_ = [np.array([50.0, 20.0, 0.0])]
    assert fs.inverted_levels().empty


def test_fit_warns_about_inverted_weights():
    # comparison c1 agrees more among non-matches than among matches
    X = _simulate(m=[np.array([0.05, 0.15, 0.80]), np.array([0.6, 0.4])],
                  u=[np.array([0.85, 0.10, 0.05]), np.array([0.2, 0.8])])
    with pytest.warns(WeightOrderWarning, match=r"go the wrong way for 1 level\(s\): 'c1' level 1 at -\d\.\d bits "
                                                r"\(\d+ pairs\) below level 0 at \+\d\.\d"):
        fs = FellegiSunter(tol=1e-4).fit(X)
    assert fs.inverted_levels()["comparison"].tolist() == ["c1"]


def _sessions(X, **kw):
    u = [np.array([0.85, 0.10, 0.05]), np.array([0.7, 0.3])]
    return train_by_sessions(X, np.ones(len(X), np.int64), blocked={0: []}, u=u, n_all_pairs=10 * len(X), **kw)


def test_train_by_sessions_warns_once_for_sessions_that_did_not_converge():
    with pytest.warns(ConvergenceWarning, match=r"max_iter=2 iterations before converging in the session\(s\) "
                                                r"of rule 0\."):
        model = _sessions(_simulate(), max_iter=2)
    assert model.converged_ is False


def test_train_by_sessions_warns_on_few_pairs():
    with pytest.warns(FewTrainingPairsWarning, match="trained on 9 pair"):
        _sessions(_simulate(n=9))


def test_train_by_sessions_names_levels_in_the_weight_warning():
    X = _simulate(m=[np.array([0.05, 0.15, 0.80]), np.array([0.6, 0.4])],
                  u=[np.array([0.85, 0.10, 0.05]), np.array([0.2, 0.8])])
    u = [np.array([0.85, 0.10, 0.05]), np.array([0.2, 0.8])]
    with pytest.warns(WeightOrderWarning, match=r"'c1' level 1 \(same\) at .* below level 0 \(different\)"):
        model = train_by_sessions(X, np.ones(len(X), np.int64), blocked={0: []}, u=u, n_all_pairs=50_000,
                                  level_names={"c1": ("different", "same")}, max_iter=5_000)
    assert model.converged_ is True
    assert model.level_counts_[1].sum() == len(X)


def test_a_session_whose_pairs_show_two_comparisons_does_not_set_m():
    """Pairs blocked on the family card show a name and a birth date only (the region says
    nothing inside one household): from two comparisons EM cannot tell a person's records
    from namesakes born years apart, so that session must not teach the model that matches
    disagree on the birth date (issue 18)."""
    rng = np.random.default_rng(0)

    def block(n_match, n_non, m, u, missing=()):
        x = np.stack([np.r_[rng.random(n_match) < m[k], rng.random(n_non) < u[k]].astype(int)
                      for k in range(len(m))], 1)
        x[:, list(missing)] = -1
        return x

    # name, birth date, region, family card: one session sees all (most are matches or
    # strangers), the other is households, with namesakes of another birth date
    a = block(2000, 2000, [0.95, 0.97, 0.9, 0.9], [0.05, 0.02, 0.1, 0.01])
    b = block(600, 3000, [0.95, 0.97, 0.9, 1.0], [0.6, 0.0, 0.0, 1.0], missing=(2,))
    X = pd.DataFrame(np.r_[a, b], columns=["nama", "tgl", "wilayah", "kk"]).astype(np.int8)
    rules = np.r_[np.full(len(a), 1), np.full(len(b), 2)]
    u = [np.array([0.95, 0.05]), np.array([0.98, 0.02]), np.array([0.9, 0.1]), np.array([0.99, 0.01])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = train_by_sessions(X, rules, blocked={0: ["kk"], 1: ["kk"]}, u=u, n_all_pairs=10**6)
    # 3 % of the matches' dates differ; the household session alone would say 42 %
    assert model.m_[1][0] == pytest.approx(0.03, abs=0.01)


def test_a_run_warns_of_the_weights_of_the_model_it_uses_its_levels_named():
    # the EM sessions' m and u are learned again afterwards (near-miss u, m among the pairs
    # the other comparisons make sure of): the warning describes the model the run scores
    # with, and names the levels. Agreeing on the source weighs less than differing: the
    # same person is held by other sources, look-alikes within one source are not one person
    import regsosek_link as rl
    from regsosek_link.compare import ExactMatch
    from regsosek_link.config import default_comparisons
    from regsosek_link.datasets import make_sources

    syn = make_sources(n_people=1_500, random_state=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = rl.link(syn.sources, columns=syn.mappings, one_record_per_person=("siak",),
                      comparisons=(*default_comparisons(), ExactMatch(column="source", label="same_source")))
    said = [str(w.message) for w in caught if issubclass(w.category, WeightOrderWarning)]
    names = {c.name: tuple(c.level_names) for c in res.config.comparisons}
    inverted = res.model.inverted_levels(names)
    assert "same_source" in set(inverted["comparison"])
    assert len(said) == 1
    assert f"for {len(inverted)} level(s)" in said[0]
    for r in inverted.itertuples():
        assert f"{r.comparison!r} level {r.level} ({r.label}) at {r.weight:+.1f} bits" in said[0]
