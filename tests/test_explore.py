"""explore: the analysts' page holds the chosen persons whole, with every link that touches
them; it is written only when asked for, atomically, owner-only when configured, and listed
in the processing record. The page itself is checked in a browser in test_explore_browser.py."""

import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from regsosek_link import LinkConfig
from regsosek_link.cli import main
from regsosek_link.config import SourceConfig
from regsosek_link.errors import ConfigError
from regsosek_link.explore import (
    EXPLORER_FILE,
    LINK_STATUSES,
    SELECTION_GROUPS,
    _json_for_script,
    explorer_data,
    explorer_html,
    write_explorer,
)

sys.path.insert(0, str(Path(__file__).parent))
from _explore_fixture import keyed_tables, small_run


@pytest.fixture(scope="module")
def run():
    return small_run()


def _with_config(result, **changes):
    """The result as if its config had ``changes``."""
    return result.__class__(**{**result.__dict__, "config": result.config.replace(**changes)})


def test_every_chosen_person_is_whole_with_every_link_touching_it(run):
    result, _ = run
    data = explorer_data(result)
    mem, links = keyed_tables(result)
    persons = data["persons"]
    shown = {(data["sources"][r[0]], r[1]): persons[r[2]][0] for r in data["records"]}
    chosen = {p[0] for p in persons if p[2]}
    assert len(chosen) == len(result.registry)  # 315 persons < the default bound: all of them
    for pid, group in mem.groupby("person_id"):  # every record of each chosen person, under it
        if pid in chosen:
            assert {k: shown.get(k) for k in zip(group["source"], group["record_id"])} == {
                k: pid for k in zip(group["source"], group["record_id"])}
    touching = links[links["person_l"].isin(chosen) | links["person_r"].isin(chosen)]
    assert len(data["links"]) == len(touching) == len(result.links)
    recs = data["records"]
    names = [c["name"] for c in data["comparisons"]]
    # the same order: strongest first
    for row, link in zip(data["links"], touching.itertuples(index=False), strict=True):
        left, right = recs[row[0]], recs[row[1]]
        assert (data["sources"][left[0]], left[1]) == (link.source_l, link.record_id_l)
        assert (data["sources"][right[0]], right[1]) == (link.source_r, link.record_id_r)
        assert row[2] == link.match_probability
        assert row[3] == pytest.approx(link.match_weight, abs=1e-4)
        assert row[6] == [getattr(link, f"level_{n}") for n in names]
        weights = [getattr(link, f"weight_{w}") for w in data["weights"]]
        assert row[7] == pytest.approx(weights, abs=1e-4)
        merged = link.accepted and link.person_l == link.person_r
        assert (row[4] == "merged") == merged and (row[4] == "review") == (not link.accepted)
    assert {r[4] for r in data["links"]} <= set(LINK_STATUSES)
    assert {"merged", "review"} <= {r[4] for r in data["links"]}


def test_the_page_is_bounded_and_says_whom_it_holds(run):
    result, _ = run
    # (5, not 10: the first ten persons in ID order touched by an unsettled link of this
    # small run now hold both ends of every such link, so none would bring another along)
    data = explorer_data(result, max_persons=5)
    meta, persons = data["meta"], data["persons"]
    chosen = [p for p in persons if p[2]]
    assert meta["persons_embedded"] == len(chosen) == 5
    assert meta["persons_total"] == len(result.registry)
    assert sum(meta["chosen"].values()) == 5
    # persons touched by an unsettled link (review band, held back, kept apart) come first
    _, links = keyed_tables(result)
    unsettled = links[~links["accepted"] | (links["person_l"] != links["person_r"])]
    touched = set(unsettled["person_l"]) | set(unsettled["person_r"])
    assert len(touched) > 5 and {p[0] for p in chosen} <= touched
    assert [p[0] for p in chosen] == sorted(p[0] for p in chosen)  # person-ID order in a group
    assert {p[3] for p in chosen} == {"review"} and set(meta["chosen"]) == set(SELECTION_GROUPS)
    # the records at the other end of their links come along (as records of persons not chosen)
    others = [p for p in persons if not p[2]]
    assert others and len(data["records"]) > sum(p[1] for p in chosen)
    with pytest.raises(ValueError, match="max_persons"):
        explorer_data(result, max_persons=0)


def test_no_value_can_close_the_script_element():
    data = {"x": ["</script><script>alert(1)</script>", "a & b", "<!--"]}
    text = _json_for_script(data)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == data


def test_the_page_is_self_contained(run):
    result, _ = run
    page = explorer_html(result, max_persons=10)
    assert "http://" not in page and "https://" not in page
    assert " src=" not in page and "<link" not in page
    assert page.count("<script") == 2  # the data and the script, both inline
    blob = page.split("<script type='application/json' id='explorer-data'>")[1]
    blob = blob.split("</script>")[0]
    assert json.loads(blob)["meta"]["persons_embedded"] == 10


def test_written_with_the_outputs_only_when_asked(run, tmp_path):
    result, _ = run
    written = result.write(tmp_path / "plain")
    assert EXPLORER_FILE not in written and not (tmp_path / "plain" / EXPLORER_FILE).exists()
    record = json.loads((tmp_path / "plain" / "processing_record.json").read_text())
    assert EXPLORER_FILE not in record["outputs"]["files"]
    assert "record_level" not in record["outputs"]

    asked = _with_config(result, report_explorer=True, owner_only_outputs=True)
    written = asked.write(tmp_path / "asked")
    page = tmp_path / "asked" / EXPLORER_FILE
    assert written[EXPLORER_FILE] == page and "explorer-data" in page.read_text()
    assert stat.S_IMODE(os.stat(page).st_mode) == 0o600
    record = json.loads((tmp_path / "asked" / "processing_record.json").read_text())
    assert EXPLORER_FILE in record["outputs"]["files"]
    assert "2,000 persons" in record["outputs"]["record_level"][EXPLORER_FILE]
    md = (tmp_path / "asked" / "processing_record.md").read_text()
    assert f"`{EXPLORER_FILE}`: interactive page" in md
    assert json.loads((tmp_path / "asked" / "config.json").read_text())["report_explorer"] is True

    path = write_explorer(result, tmp_path / "own" / "x.html", max_persons=3, owner_only=False)
    assert path.exists() and not list(path.parent.glob(".*tmp*"))  # (the temporary file renamed)


def test_config_options_round_trip_and_are_checked():
    src = (SourceConfig(name="a", columns={"id": "record_id", "nama": "nama"}),)
    cfg = LinkConfig(sources=src, report_explorer=True, report_explorer_persons=50)
    back = LinkConfig.from_dict(json.loads(cfg.to_json()))
    assert (back.report_explorer, back.report_explorer_persons) == (True, 50)
    assert "report_explorer" not in LinkConfig(sources=src).to_dict()  # (config.json as before)
    with pytest.raises(ConfigError, match="report_explorer_persons must be a whole number >= 1"):
        LinkConfig(sources=src, report_explorer_persons=0)
    with pytest.raises(ConfigError, match="report_explorer must be true or false"):
        LinkConfig(sources=src, report_explorer="yes")


def test_cli_explore_option(tmp_path, capsys):
    demo = ["demo", "--people", "200", "--quiet", "--no-report", "--out"]
    assert main([*demo, str(tmp_path / "d"), "--explore"]) == 0
    page = tmp_path / "d" / "registry" / EXPLORER_FILE
    assert page.exists() and str(page) in capsys.readouterr().out
    assert main([*demo, str(tmp_path / "e")]) == 0
    assert not (tmp_path / "e" / "registry" / EXPLORER_FILE).exists()


def test_report_links_the_page_and_explains_the_two_f1_values(run, tmp_path):
    from regsosek_link.report import clustering_effect, report_html

    result, syn = run
    effect = clustering_effect(result, syn.truth)
    text = report_html(_with_config(result, report_explorer=True), truth=syn.truth)
    assert "Two F1 values at one threshold" in text and f"<a href='{EXPLORER_FILE}'>" in text
    assert f"F1 <b>{effect.pairs.f1:.4f}</b>" in text
    assert f"F1 <b>{effect.persons.f1:.4f}</b>" in text
    assert f"<b>{effect.implied:,}</b> pairs are joined only through other records" in text
    assert f"<b>{effect.split:,}</b> accepted pairs end in two persons" in text


def test_clustering_effect_against_the_pairs_themselves(run):
    """The counts against plain sets of pairs: accepted ones, and every pair within a person."""
    from regsosek_link.report import clustering_effect

    result, syn = run
    effect = clustering_effect(result, syn.truth)
    keys = list(zip(result.records["source"].astype(str), result.records["record_id"].astype(str)))
    mem = result.membership.astype(str)
    person = dict(zip(zip(mem["source"], mem["record_id"]), mem["person_id"]))
    true = dict(zip(zip(syn.truth["source"].astype(str), syn.truth["record_id"].astype(str)),
                    syn.truth["person_id"].astype(str)))
    acc = np.asarray(result.probability) >= result.config.threshold
    accepted = {tuple(sorted((keys[a], keys[b]))) for a, b in
                zip(result.pairs["left"].to_numpy()[acc], result.pairs["right"].to_numpy()[acc])}
    by_person = pd.Series(list(person)).groupby(pd.Series(list(person.values())))
    within = {tuple(sorted((a, b))) for _, ks in by_person
              for i, a in enumerate(ks) for b in list(ks)[i + 1:]}
    assert effect.pairs.predicted_pairs == len(accepted)
    assert effect.persons.predicted_pairs == len(within)
    assert effect.implied == len(within - accepted) and effect.split == len(accepted - within)
    assert effect.implied_true == sum(true[a] == true[b] for a, b in within - accepted)
    assert effect.split_true == sum(true[a] == true[b] for a, b in accepted - within)
    assert effect.pairs.true_positives == sum(true[a] == true[b] for a, b in accepted)
    assert effect.implied > 0 and effect.split > 0  # (both effects occur in this run)
