"""The explorer page in headless Chromium, opened from a file: a record's search shows its
person's records, links and graph edges as the run's tables have them, and a clicked edge
shows the link's weights from the links table.

Needs the ``playwright`` package (the ``test`` extra; it drives the system's Chromium and
never downloads a browser) and Chromium (Debian: ``apt-get install chromium``; .ci/run
installs it when it can). Without either the tests are skipped and say why. Set
``REGSOSEK_CHROMIUM`` to use another Chromium binary, and ``REGSOSEK_EXPLORER_SCREENSHOT``
to a PNG path to keep a screenshot of the page (docs/img/explorer.png is made so).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _explore_fixture import keyed_tables, small_run

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium() -> str | None:
    wanted = os.environ.get("REGSOSEK_CHROMIUM")
    if wanted:
        return wanted if Path(wanted).exists() else None
    found = (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome"))
    return next((p for p in found if p), None)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install -e '.[test]')")
    exe = _chromium()
    if exe is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; "
                    "or set REGSOSEK_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def explored(browser, tmp_path_factory):
    from regsosek_link.explore import EXPLORER_FILE

    result, _ = small_run(report_explorer=True)
    out = tmp_path_factory.mktemp("explore")
    result.write(out)
    return result, out / EXPLORER_FILE


def _open(browser, page_path, errors):
    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(page_path.resolve().as_uri())
    page.wait_for_selector("body[data-ready='1']")
    return page


def _links_per_person(links: pd.DataFrame) -> dict[str, int]:
    other = links["person_r"][links["person_r"] != links["person_l"]]
    return pd.concat([links["person_l"], other]).value_counts().to_dict()


def test_a_record_search_shows_its_person_as_the_tables_have_it(browser, explored):
    result, page_path = explored
    mem, links = keyed_tables(result)
    # of the persons of several records with a link that was not merged, the one with most links
    unsettled = links[~links["accepted"] | (links["person_l"] != links["person_r"])]
    counts = _links_per_person(links)
    pid = max(set(unsettled["person_l"]) & set(mem["person_id"][mem.duplicated("person_id")]),
              key=lambda p: (counts.get(p, 0), p))
    records = mem[mem["person_id"] == pid]
    labels = set(records["label"])
    touching = links[links["left"].isin(labels) | links["right"].isin(labels)]
    assert len(records) >= 2 and len(touching) > len(records)

    errors: list[str] = []
    page = _open(browser, page_path, errors)
    page.fill("#search", records["record_id"].iloc[-1])
    page.wait_for_selector("#person")
    assert page.get_attribute("#person", "data-person") == pid
    shown = page.locator("#records-table th.record").all_text_contents()
    assert sorted(shown) == sorted(labels)
    assert page.locator("#graph g.node:not(.neighbour)").count() == len(records)
    others = set(touching["left"]) | set(touching["right"])
    assert page.locator("#graph g.node.neighbour").count() == len(others - labels)
    assert page.locator("#graph line.edge").count() == len(touching)
    assert page.locator("#links-table tbody tr.link").count() == len(touching)
    for status in ("review", "merged"):  # the edges' kinds as the tables say
        n = int(((~touching["accepted"]) if status == "review" else
                 (touching["accepted"] & (touching["person_l"] == touching["person_r"]))).sum())
        assert page.locator(f"#graph line.edge.{status}").count() == n

    # click each edge: the detail shows that link's weights from the links table
    names = [c.name for c in result.config.comparisons]
    for i in range(len(touching)):
        page.locator("#graph line.hit").nth(i).click(force=True)
        title = page.text_content("#link-detail h3").removeprefix("Link ")
        left, right = title.split(" \u2014 ")
        row = touching[(touching["left"] == left) & (touching["right"] == right)]
        assert len(row) == 1, title
        row = row.iloc[0]
        weight = float(page.text_content("#detail-weight"))
        assert weight == pytest.approx(row["match_weight"], abs=0.006)
        probability = float(page.text_content("#detail-probability"))
        assert probability == pytest.approx(row["match_probability"], abs=6e-5)
        tf = [c.removeprefix("weight_") for c in links.columns if c.startswith("weight_tf_")]
        assert tf  # (the name's term-frequency adjustment is shown too)
        for name in names + tf:
            cell = page.text_content(f"#link-detail tr[data-comparison='{name}'] td.weight")
            assert float(cell) == pytest.approx(row[f"weight_{name}"], abs=0.006), (title, name)
        for name in names:
            level = page.text_content(f"#link-detail tr[data-comparison='{name}'] td:nth-child(2)")
            assert int(level.split(":")[0]) == row[f"level_{name}"], (title, name)
    if os.environ.get("REGSOSEK_EXPLORER_SCREENSHOT"):
        page.locator("#graph line.hit").nth(0).click(force=True)
        page.screenshot(path=os.environ["REGSOSEK_EXPLORER_SCREENSHOT"], full_page=True)
    assert errors == []


def test_a_name_search_lists_the_records_that_hold_it(browser, explored):
    result, page_path = explored
    recs = result.records
    name = recs["nama"].dropna().astype(str)
    token = name.str.split().str[0].value_counts().index[0][:4]  # the commonest first name's start
    expected = int(name.str.contains(token, regex=False).sum())
    assert 1 < expected < 100
    errors: list[str] = []
    page = _open(browser, page_path, errors)
    page.fill("#search", token.lower())
    assert page.locator("#results li.result").count() == expected
    page.locator("#results li.result").first.click()
    page.wait_for_selector("#person")
    pid = page.get_attribute("#person", "data-person")
    first = page.get_attribute("#results li.result >> nth=0", "data-record")
    assert first is not None and pid in set(result.membership["person_id"].astype(str))
    page.fill("#search", "no such person anywhere")
    assert page.locator("#results li.result").count() == 0
    assert page.text_content("#count") == "nothing found on this page"
    # a person ID in the address opens that person
    page.goto(page_path.resolve().as_uri() + "#" + pid)
    page.reload()
    page.wait_for_selector("#person")
    assert page.get_attribute("#person", "data-person") == pid
    assert errors == []
