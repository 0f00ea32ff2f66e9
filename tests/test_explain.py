"""explain: pair contributions sum to the match weight; persons; cluster scores; worst errors."""

import numpy as np
import pandas as pd
import pytest

from regsosek_link import Linker
from regsosek_link.datasets.febrl import load_febrl4
from regsosek_link.explain import (
    cluster_scores,
    explain_pair,
    explain_person,
    threshold_scores,
    waterfall_chart,
    worst_errors,
)


@pytest.fixture(scope="module")
def run():
    data = load_febrl4()
    return Linker(data.config).run(data.sources), data.truth


def test_contributions_sum_to_the_pipeline_match_weight(run):
    result, _ = run
    for k in (0, len(result.pairs) // 2, int(result.probability.argmax())):
        i, j = int(result.pairs["left"][k]), int(result.pairs["right"][k])
        e = explain_pair(result, i, j)
        assert list(e["comparison"]) == ["(prior)", *result.levels.columns, "(total)"]
        body = e.iloc[:-1]
        assert body["weight"].sum() == pytest.approx(result.weight[k], abs=1e-9)
        assert e["weight"].iloc[-1] == pytest.approx(result.weight[k], abs=1e-12)
        assert e["weight"].iloc[-1] == pytest.approx(result.model.match_weight(result.levels.iloc[[k]])[0], abs=1e-12)
        assert e.attrs["match_probability"] == pytest.approx(result.probability[k], abs=1e-12)
        # levels recomputed on the two records equal the run's levels
        assert e["level"].iloc[1:-1].astype(int).tolist() == result.levels.iloc[k].tolist()


def test_rows_carry_values_labels_m_u(run):
    result, _ = run
    k = int(result.probability.argmax())
    i, j = int(result.pairs["left"][k]), int(result.pairs["right"][k])
    key_l = (result.records["source"][i], result.records["record_id"][i])
    e = explain_pair(result, key_l, j)  # mixed: key and position
    assert e.attrs["left"] == i and e.attrs["key_l"] == key_l
    row = e.set_index("comparison").loc["soc_sec_id"]
    assert row["value_l"] == result.records["soc_sec_id"][i]
    labels = dict(zip(*[[c.name for c in result.config.comparisons], [c.level_names for c in result.config.comparisons]]))
    lvl = int(row["level"])
    assert row["label"] == ("missing" if lvl < 0 else labels["soc_sec_id"][lvl])
    if lvl >= 0:
        assert row["weight"] == pytest.approx(np.log2(row["m"] / row["u"]))
    assert e.set_index("comparison").loc["(prior)", "weight"] == pytest.approx(result.model.prior_weight_)


def test_missing_level_contributes_zero(run):
    result, _ = run
    lv = result.levels
    k = int(np.flatnonzero((lv == -1).any(axis=1).to_numpy())[0])
    e = explain_pair(result, int(result.pairs["left"][k]), int(result.pairs["right"][k]))
    miss = e[e["level"] == -1]
    assert len(miss) >= 1 and (miss["weight"] == 0).all() and miss["m"].isna().all()
    assert (miss["label"] == "missing").all()


def test_unknown_record_raises_with_the_key(run):
    result, _ = run
    with pytest.raises(KeyError, match="no record \\('febrl4a', 'nope'\\)"):
        explain_pair(result, ("febrl4a", "nope"), 0)
    with pytest.raises(KeyError, match="out of range"):
        explain_pair(result, 0, 10**9)


def test_waterfall_has_one_bar_per_step(run):
    result, _ = run
    e = explain_pair(result, int(result.pairs["left"][0]), int(result.pairs["right"][0]))
    fig = waterfall_chart(e)
    ax = fig.axes[0]
    assert len(ax.patches) == len(e)  # prior + comparisons + total
    assert ax.get_ylabel() == "match weight (bits)"
    assert ax.patches[-1].get_height() == pytest.approx(e["weight"].iloc[-1])


def test_explain_person_lists_records_and_joining_links(run):
    result, _ = run
    pid = result.registry.sort_values("n_records").iloc[-1]["person_id"]
    p = explain_person(result, pid)
    n = int(result.registry.set_index("person_id").loc[pid, "n_records"])
    assert len(p.records) == n
    keys = set(zip(p.records["source"], p.records["record_id"]))
    assert set(zip(p.links["source_l"], p.links["record_id_l"])) <= keys
    assert p.links["accepted"].all() and len(p.links) >= n - 1  # a spanning set at least
    with pytest.raises(KeyError, match="no person 'X'"):
        explain_person(result, "X")


def test_cluster_scores_table():
    mem = pd.DataFrame({"source": ["a"] * 5, "record_id": list("12345"), "person_id": ["x", "x", "x", "y", "z"]})
    tru = pd.DataFrame({"source": ["a"] * 5, "record_id": list("12345"), "person_id": ["p", "p", "q", "q", "r"]})
    s = cluster_scores(mem, tru)
    # B-cubed precision: (2/3 + 2/3 + 1/3 + 1 + 1) / 5; recall: (1 + 1 + 1/2 + 1/2 + 1) / 5
    assert s.bcubed_precision == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 + 1) / 5)
    assert s.bcubed_recall == pytest.approx(0.8)
    assert (s.exact_clusters, s.predicted_clusters, s.true_clusters) == (1, 3, 3)
    assert s.exact_precision == pytest.approx(1 / 3)
    perfect = cluster_scores(tru, tru)
    assert perfect.bcubed_f1 == 1.0 and perfect.exact_f1 == 1.0


def test_threshold_scores_pairs_and_clusters(run):
    result, truth = run
    t = threshold_scores(result, truth, thresholds=[result.config.threshold])
    at = result.probability >= result.config.threshold
    assert t["predicted"].iloc[0] == at.sum()
    c = threshold_scores(result, truth, thresholds=[result.config.threshold], level="clusters")
    assert c["recall"].iloc[0] == pytest.approx(result.evaluate(truth).recall, abs=1e-3)
    assert c["true_pairs"].iloc[0] == result.evaluate(truth).true_pairs


def test_worst_errors_are_real_errors(run):
    result, truth = run
    we = worst_errors(result, truth, n=5)
    fm = we[we["kind"] == "false merge"]
    assert (fm["true_l"] != fm["true_r"]).all() and (fm["person_l"] == fm["person_r"]).all()
    assert (fm["match_probability"] >= result.config.threshold).all()
    assert fm["match_probability"].is_monotonic_increasing
    ml = we[we["kind"] == "missed link"]
    assert (ml["true_l"] == ml["true_r"]).all() and (ml["person_l"] != ml["person_r"]).all()
    assert we.attrs["counts"]["false merge"] >= len(fm)


def test_explanation_includes_term_frequency_and_matches_the_run():
    import regsosek_link as rl
    from regsosek_link.datasets import make_sources

    syn = make_sources(n_people=800, random_state=5)
    r = rl.link(syn.sources, columns=syn.mappings, one_record_per_person=("siak",))
    exact = np.flatnonzero(r.levels["nama"].to_numpy() == 5)[:3]
    for k in exact:
        e = explain_pair(r, int(r.pairs["left"][k]), int(r.pairs["right"][k]))
        assert "tf_nama" in set(e["comparison"])
        assert e.attrs["match_weight"] == pytest.approx(r.weight[k], abs=1e-9)
