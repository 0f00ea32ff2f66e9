"""Lone records (no accepted link) joining their one likely candidate's person
(:func:`regsosek_link.cluster.join_lone_records`, ``LinkConfig.lone_threshold``)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from regsosek_link.cluster import join_lone_records


def _weight(p):
    p = np.asarray(p, float)
    return np.log2(p / (1 - p))


def _recs(sources, nik_valid=None, nik=None, date_status=None):
    n = len(sources)
    return pd.DataFrame({
        "source": sources,
        "record_id": [str(i) for i in range(n)],
        "nik": nik if nik is not None else [None] * n,
        "nik_valid": nik_valid if nik_valid is not None else [False] * n,
        "tanggal_lahir_status": date_status if date_status is not None else ["ok"] * n,
    })


def _join(recs, labels, left, right, prob, **kw):
    args = {"threshold": 0.9, "lone_threshold": 0.2, "margin": 3.0, "review_low": 0.2}
    args.update(kw)
    return join_lone_records(recs, np.array(left), np.array(right), np.array(prob, float), _weight(prob),
                             np.array(labels), **args)


# records 0, 1: one person (siak + dtks); 2: a lone census record; 3: another siak person
CASES = [
    # (what, labels, left, right, prob, expected labels)
    ("one candidate, more likely than not", [0, 0, 1, 2], [2], [0], [0.6], [0, 0, 0, 1]),
    ("one candidate in the review band", [0, 0, 1, 2], [2], [1], [0.25], [0, 0, 0, 1]),
    ("below the lone threshold", [0, 0, 1, 2], [2], [0], [0.1], [0, 0, 1, 2]),
    ("another person within the margin", [0, 0, 1, 2], [2, 2], [0, 3], [0.6, 0.3], [0, 0, 1, 2]),
    ("another person far below", [0, 0, 1, 2], [2, 2], [0, 3], [0.8, 0.21], [0, 0, 0, 1]),
    ("two links to one person count once", [0, 0, 1, 2], [2, 2], [0, 1], [0.6, 0.5], [0, 0, 0, 1]),
    ("an accepted link: not lone", [0, 0, 1, 2], [2, 2], [0, 3], [0.6, 0.95], [0, 0, 1, 2]),
]


@pytest.mark.parametrize(("what", "labels", "left", "right", "prob", "expected"), CASES, ids=[c[0] for c in CASES])
def test_lone_record_cases(what, labels, left, right, prob, expected):
    recs = _recs(["siak", "dtks", "census", "siak"])
    got, joined = _join(recs, labels, left, right, prob)
    assert got.tolist() == expected
    assert len(joined) == (expected != labels)


def test_no_join_into_a_person_holding_a_record_of_its_source():
    recs = _recs(["siak", "census", "census"])
    got, _ = _join(recs, [0, 0, 1], [2], [0], [0.6])
    assert got.tolist() == [0, 0, 1]


def test_no_join_of_a_thin_link():
    # neither has a valid NIK and the lone record's date is a placeholder
    recs = _recs(["dtks", "census"], date_status=["ok", "placeholder_1jul"])
    assert _join(recs, [0, 1], [1], [0], [0.6])[0].tolist() == [0, 1]
    recs = _recs(["dtks", "census"], nik_valid=[True, False], nik=["3201010101010001", None],
                 date_status=["ok", "placeholder_1jul"])
    assert _join(recs, [0, 1], [1], [0], [0.6])[0].tolist() == [0, 0]


def test_no_join_against_a_different_credible_nik():
    nik = ["3201014101900001", "3201010101900002"]
    recs = _recs(["siak", "census"], nik_valid=[True, True], nik=nik)
    recs["nik_birth_date"] = ["1990-01-01", "1990-01-01"]
    recs["tanggal_lahir"] = ["1990-01-01", "1990-01-01"]
    recs["nik_sex"] = ["L", "L"]
    recs["jenis_kelamin"] = ["L", "L"]
    assert _join(recs, [0, 1], [1], [0], [0.6])[0].tolist() == [0, 1]
    recs.loc[1, "nik"] = nik[0]  # the same NIK: no constraint
    assert _join(recs, [0, 1], [1], [0], [0.6])[0].tolist() == [0, 0]


def test_no_join_against_a_reviewers_non_match():
    recs = _recs(["siak", "dtks", "census"])
    got, _ = _join(recs, [0, 0, 1], [2], [0], [0.6], cannot_link=np.array([[2, 1]]))
    assert got.tolist() == [0, 0, 1]


def test_two_lone_records_of_one_source_for_one_person_join_neither():
    recs = _recs(["siak", "dtks", "census", "census", "bpjs"])
    got, _ = _join(recs, [0, 0, 1, 2, 3], [2, 3, 4], [0, 0, 1], [0.6, 0.5, 0.7])
    assert got.tolist() == [0, 0, 1, 2, 0]  # the bpjs record still joins


def test_two_lone_records_join_only_when_they_choose_each_other():
    recs = _recs(["census", "bpjs", "dtks"], nik_valid=[True, True, True],
                 nik=["3201010101900001"] * 3)
    # 0 and 1 choose each other
    assert _join(recs, [0, 1, 2], [0], [1], [0.6])[0].tolist() == [0, 0, 1]
    # 0's best is 1, but 1's best is 2 (and 2's best is 1): only 1 and 2 join
    got, _ = _join(recs, [0, 1, 2], [0, 1], [1, 2], [0.25, 0.85])
    assert got.tolist() == [0, 1, 1]


def test_the_same_joins_whatever_the_row_order():
    rng = np.random.default_rng(3)
    n = 60
    src = rng.choice(["siak", "census", "bpjs"], n)
    recs = _recs(list(src))
    labels = np.arange(n)
    labels[1::3] = labels[0::3][: len(labels[1::3])]  # some persons of two records
    left = rng.integers(0, n, 150)
    right = rng.integers(0, n, 150)
    keep = left != right
    left, right = left[keep], right[keep]
    prob = rng.choice([0.25, 0.4, 0.6, 0.8], len(left))
    base, _ = _join(recs, labels, left, right, prob, rank=np.arange(n))
    perm = rng.permutation(n)
    inv = np.argsort(perm)
    got, _ = _join(recs.iloc[perm].reset_index(drop=True), labels[perm], inv[left], inv[right], prob,
                   rank=np.arange(n)[perm])
    same = pd.crosstab(base, got[inv])
    assert ((same > 0).sum(axis=1) == 1).all() and ((same > 0).sum(axis=0) == 1).all()


def test_the_pipeline_joins_lone_records_by_default():
    """On the generator's sources, the default run joins lone records (mostly census
    records without a NIK and with a placeholder date) that a run with
    ``lone_threshold=threshold`` leaves alone; every pair it adds here is right."""
    import regsosek_link as rl
    from regsosek_link.datasets import make_sources

    syn = make_sources(n_people=3_000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = rl.link(syn.sources, columns=syn.mappings, one_record_per_person=("siak",), lone_threshold=0.9)
        joined = rl.link(syn.sources, columns=syn.mappings, one_record_per_person=("siak",))
    assert joined.config.lone_threshold == 0.2
    a, j = alone.evaluate(syn.truth), joined.evaluate(syn.truth)
    assert j.recall > a.recall
    assert j.precision >= a.precision
