"""report: one self-contained HTML file with every section; the CLI writes it."""

import base64
import re

import pytest

from regsosek_link import Linker
from regsosek_link.cli import main
from regsosek_link.datasets.febrl import load_febrl3
from regsosek_link.report import data_quality, within_source_duplicates, write_report


@pytest.fixture(scope="module")
def run():
    data = load_febrl3()
    return Linker(data.config).run(data.sources), data.truth


def test_report_sections_and_embedded_images(run, tmp_path):
    result, truth = run
    path = write_report(result, tmp_path / "out" / "report.html", truth=truth)
    text = path.read_text()
    for section in ("The run in numbers", "Data quality per source", "Completeness", "Birth dates", "NIK status",
                    "Duplicates found within each source", "Blocking", "The model", "Threshold",
                    "Clusters", "Evaluation against the ground truth", "Worst errors"):
        assert section in text, section
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(imgs) == 6  # blocking, parameters, histogram, sizes, overlap, precision-recall
    assert all(base64.b64decode(i)[:4] == b"\x89PNG" for i in imgs)
    assert "http://" not in text and "https://" not in text  # self-contained
    assert f"{len(result.pairs):,}" in text


def test_report_without_truth_has_no_evaluation(run, tmp_path):
    result, _ = run
    text = write_report(result, tmp_path / "r.html").read_text()
    assert "Evaluation against the ground truth" not in text
    assert text.count("data:image/png;base64,") == 5


def test_quality_tables(run):
    result, _truth = run
    dq = data_quality(result)
    assert dq.loc["febrl3", "records"] == 5000
    assert dq.loc["febrl3", "nama"] == pytest.approx(result.records["nama"].notna().mean())
    dup = within_source_duplicates(result)
    assert dup.loc["febrl3", "persons"] == len(result.registry)
    assert dup.loc["febrl3", "duplicate_records"] == 5000 - len(result.registry)


def test_cli_run_writes_report(tmp_path):
    data = load_febrl3()
    src = tmp_path / "febrl3.csv"
    data.sources["febrl3"].to_csv(src, index=False)
    cfg = data.config.replace(sources=(data.config.sources[0].__class__(
        **{**data.config.sources[0].__dict__, "path": str(src)}),), output_dir=str(tmp_path / "out"))
    cfg_path = cfg.save(tmp_path / "config.json")
    truth_path = tmp_path / "truth.csv"
    data.truth.to_csv(truth_path, index=False)
    assert main(["run", str(cfg_path), "--truth", str(truth_path), "--quiet", "--report"]) == 0
    report = tmp_path / "out" / "report.html"
    assert report.exists() and "Evaluation against the ground truth" in report.read_text()
    assert main(["run", str(cfg_path), "--quiet", "--out", str(tmp_path / "o2")]) == 0  # no report by default
    assert not (tmp_path / "o2" / "report.html").exists()
    assert main(["run", str(cfg_path), "--quiet", "--no-report", "--out", str(tmp_path / "o3")]) == 0
    assert not (tmp_path / "o3" / "report.html").exists()


def _personal_values(result, truth):
    """Names and record IDs of the worst errors: what a shared report must not hold."""
    from regsosek_link.explain import worst_errors

    we = worst_errors(result, truth, n=10)
    recs = result.records.iloc[list(we["left"]) + list(we["right"])]
    values = set(recs["record_id"].astype(str)) | set(recs["nama"].dropna().astype(str))
    return {v for v in values if len(v) >= 6}  # (short ones occur in any HTML by chance)


def test_report_holds_no_record_level_table_unless_asked(tmp_path):
    data = load_febrl3()
    truth = data.truth
    result = Linker(data.config.replace(threshold=1 - 1e-12)).run(data.sources)  # some missed links
    personal = _personal_values(result, truth)
    assert personal
    text = write_report(result, tmp_path / "r.html", truth=truth).read_text()
    assert "Worst errors" in text and "record_level=True" in text
    assert [v for v in personal if v in text] == []
    text = write_report(result, tmp_path / "r2.html", truth=truth, record_level=True).read_text()
    assert [v for v in personal if v in text]


def test_report_masks_block_keys(tmp_path):
    from regsosek_link.block import BlockOn, mask_key

    data = load_febrl3()
    cfg = data.config.replace(blocking_rules=(BlockOn(keys=("tanggal_lahir",)),), max_block_size=3)
    with pytest.warns(UserWarning):
        result = Linker(cfg).run(data.sources)
    skipped = result.blocking.loc[0, "skipped_keys"]
    assert skipped and all(k.startswith("#") for k in skipped)
    text = write_report(result, tmp_path / "r.html").read_text()
    dates = set(result.records["tanggal_lahir"].dropna().astype(str))
    assert [d for d in dates if d in text] == []
    assert skipped[0].split(" ")[0] in text and len(mask_key("x")) == 9


def test_report_lists_weights_that_go_the_wrong_way(run, tmp_path):
    result, _ = run
    model = result.model
    bad = model.inverted_levels()
    text = write_report(result, tmp_path / "r.html").read_text()
    assert ("Weights that go the wrong way" in text) is (len(bad) > 0)
