"""model_io: JSON round trip gives identical predictions; versions are checked."""

import json
import subprocess
import sys

import numpy as np
import pytest

from regsosek_link import Linker, ModelError, model_io
from regsosek_link.datasets.febrl import load_febrl3
from regsosek_link.model_io import FORMAT_VERSION, load_model, save_model


@pytest.fixture(scope="module")
def run():
    data = load_febrl3()
    return Linker(data.config).run(data.sources)


@pytest.fixture()
def saved(run, tmp_path):
    return save_model(run.model, tmp_path / "m" / "model.json", comparisons=run.config.comparisons,
                      threshold=run.config.threshold)


def test_round_trip_identical_predictions(run, saved):
    tm = load_model(saved)
    assert np.array_equal(tm.model.predict_proba(run.levels), run.model.predict_proba(run.levels))
    assert np.array_equal(tm.model.match_weight(run.levels), run.model.match_weight(run.levels))
    assert tm.comparisons == tuple(run.config.comparisons)
    assert tm.threshold == run.config.threshold and tm.format_version == FORMAT_VERSION
    assert list(tm.model.feature_names_in_) == list(run.model.feature_names_in_)


def test_file_content(run, saved):
    d = json.loads(saved.read_text())
    assert d["format_version"] == FORMAT_VERSION and d["library_version"] == "0.1.0"
    first = d["comparisons"][0]
    assert first["spec"] == run.config.comparisons[0].to_dict()
    assert [lv["label"] for lv in first["levels"]] == list(run.config.comparisons[0].level_names)
    assert first["levels"][0]["m"] == run.model.m_[0][0]
    assert d["lambda"] == run.model.lambda_


def test_new_process_gives_identical_predictions(run, saved, tmp_path):
    np.save(tmp_path / "levels.npy", run.levels.to_numpy())
    code = (
        "import numpy as np, pandas as pd, sys\n"
        "from regsosek_link.model_io import load_model\n"
        f"tm = load_model({str(saved)!r})\n"
        f"X = pd.DataFrame(np.load({str(tmp_path / 'levels.npy')!r}), columns=tm.model.feature_names_in_)\n"
        f"np.save({str(tmp_path / 'p.npy')!r}, tm.model.predict_proba(X))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert np.array_equal(np.load(tmp_path / "p.npy"), run.model.predict_proba(run.levels))


def test_linker_with_loaded_model_reproduces_the_run(run, saved):
    data = load_febrl3()
    tm = load_model(saved)
    again = Linker(data.config, model=tm.model).run(data.sources)
    assert np.array_equal(again.probability, run.probability)


def test_other_format_version_raises_naming_both(saved):
    d = json.loads(saved.read_text())
    d["format_version"] = 99
    d["library_version"] = "9.0.0"
    saved.write_text(json.dumps(d))
    with pytest.raises(ModelError) as exc:
        load_model(saved)
    msg = str(exc.value)
    assert "has model format version 99 (saved by regsosek_link 9.0.0)" in msg
    assert f"reads format version {FORMAT_VERSION} and knows no migration from version 99" in msg


def test_known_migration_is_applied(saved, monkeypatch):
    d = json.loads(saved.read_text())
    d["format_version"] = 0
    d["prior"] = d.pop("lambda")  # pretend version 0 called it "prior"
    saved.write_text(json.dumps(d))

    def v0_to_v1(old):
        old["lambda"] = old.pop("prior")
        old["format_version"] = 1
        return old

    monkeypatch.setitem(model_io.MIGRATIONS, 0, v0_to_v1)
    assert load_model(saved).format_version == 1


def test_not_a_model_and_unfitted(tmp_path, run):
    p = tmp_path / "x.json"
    p.write_text('{"format": "something else"}')
    with pytest.raises(ModelError, match="is not a regsosek_link model: 'format' is 'something else'"):
        load_model(p)
    from regsosek_link import FellegiSunter
    with pytest.raises(ModelError, match="not fitted"):
        save_model(FellegiSunter(), p, comparisons=run.config.comparisons)


def test_changed_comparison_is_refused(saved):
    d = json.loads(saved.read_text())
    d["comparisons"][0]["levels"] = d["comparisons"][0]["levels"][:2]
    saved.write_text(json.dumps(d))
    with pytest.raises(ModelError, match="comparison 'given_name' was saved with levels"):
        load_model(saved)
