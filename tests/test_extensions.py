"""The extension API: a custom comparison (a subclass in the user's own module), a
declarative LevelComparison and a custom blocking key round-trip through a config file, a
model file and a run, in this process and in a fresh one (the command line) that was never
told about them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import regsosek_link as rl
from regsosek_link.datasets import make_sources

sys.path.insert(0, str(Path(__file__).parent))
from _user_module import user_module

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PLUGIN = textwrap.dedent('''
    """A user's own linking module, outside the package."""
    from dataclasses import dataclass

    import numpy as np

    import regsosek_link as rl

    CALLS = {"levels": 0, "key": 0}


    def initials(value):
        CALLS["key"] += 1
        return "".join(word[0] for word in value.split())


    @dataclass(frozen=True, kw_only=True)
    class SameInitials(rl.CustomComparison):
        min_words: int = 1
        level_names = ("different", "same initials", "same initials and length")

        def compare_values(self, left, right):
            CALLS["levels"] += 1
            il = np.array([initials(v) for v in left])
            ir = np.array([initials(v) for v in right])
            same = (il == ir) & (np.char.count(left.astype(str), " ") + 1 >= self.min_words)
            same_len = np.array([len(a) == len(b) for a, b in zip(left, right)])
            return np.where(same & same_len, 2, same.astype(int)).astype(np.int8)
''')


@pytest.fixture()
def plugin(tmp_path, monkeypatch):
    yield from user_module("mylinkext", PLUGIN, tmp_path, monkeypatch)


def _config(syn, plugin, **kw) -> rl.LinkConfig:
    comparisons = (*rl.default_comparisons(), plugin.SameInitials(column="nama", label="initials", min_words=2),
                   rl.LevelComparison(column="tempat_lahir", label="place", levels=(
                       {"label": "similar", "jaro_winkler": 0.88},
                       {"label": "one edit", "levenshtein": 1},
                       {"label": "exact", "exact": True})))
    rules = (*rl.default_blocking_rules(), rl.BlockOn(keys=("mylinkext:initials(nama)", "tanggal_lahir")))
    sources = tuple(rl.SourceConfig(name=n, path=f"{n}.csv", columns=syn.mappings[n],
                                    one_record_per_person=bool(syn.source_info[n].get("one_record_per_person")))
                    for n in ("siak", "dtks"))
    return rl.LinkConfig(sources=sources, comparisons=comparisons, blocking_rules=rules, **kw)


@pytest.fixture(scope="module")
def syn():
    return make_sources(n_people=400, random_state=11)


def test_custom_specs_are_saved_by_import_path_and_load_back(syn, plugin, tmp_path):
    config = _config(syn, plugin)
    path = config.save(tmp_path / "run.yaml")
    text = path.read_text()
    assert "type: mylinkext:SameInitials" in text and "type: LevelComparison" in text
    assert "mylinkext:initials(nama)" in text
    loaded = rl.load_config(path)
    assert loaded.comparisons == config.comparisons
    assert loaded.blocking_rules == config.blocking_rules
    assert type(loaded.comparisons[-2]) is plugin.SameInitials and loaded.comparisons[-2].min_words == 2


def test_a_run_scores_custom_levels_and_the_model_file_keeps_them(syn, plugin, tmp_path):
    config = _config(syn, plugin)
    result = rl.Linker(config).run({n: syn.sources[n] for n in ("siak", "dtks")})
    assert plugin.CALLS["levels"] > 0 and plugin.CALLS["key"] > 0
    levels = result.levels
    assert set(np.unique(levels["initials"])) <= {-1, 0, 1, 2} and (levels["initials"] == 2).any()
    assert set(np.unique(levels["place"])) <= {-1, 0, 1, 2, 3} and (levels["place"] == 3).any()
    # the custom blocking rule found pairs (its label is its keys)
    assert (result.blocking["rule"].astype(str).str.contains("mylinkext:initials")).any()
    assert result.evaluate(syn.truth).f1 > 0.9

    model_path = rl.save_model(result.model, tmp_path / "model.json", comparisons=config.comparisons,
                               threshold=config.threshold)
    saved = json.loads(model_path.read_text())
    specs = [c["spec"] for c in saved["comparisons"]]
    assert {"type": "mylinkext:SameInitials", "column": "nama", "label": "initials", "min_words": 2} in specs
    loaded = rl.load_model(model_path)
    assert loaded.comparisons == config.comparisons
    again = rl.Linker(config, model=loaded.model).run({n: syn.sources[n] for n in ("siak", "dtks")})
    assert again.membership["person_id"].tolist() == result.membership["person_id"].tolist()


def test_bad_levels_from_a_custom_comparison_name_it():
    from dataclasses import dataclass

    @dataclass(frozen=True, kw_only=True)
    class Broken(rl.CustomComparison):
        level_names = ("different", "same")

        def compare_values(self, left, right):
            return np.full(len(left), 5)

    recs = pd.DataFrame({"nama": ["A", "B"]})
    with pytest.raises(rl.ConfigError, match=r"comparison 'nama': compare_values\(\) returned a level outside 0..1"):
        Broken(column="nama").compute(recs, pd.DataFrame({"left": [0], "right": [1]}))


def test_a_bad_import_path_or_level_is_a_config_error(tmp_path):
    with pytest.raises(rl.ConfigError, match="cannot import module 'no_such_module_xyz'"):
        rl.LinkConfig(sources=({"name": "a", "columns": {"id": "record_id", "n": "nama"}},),
                      comparisons=({"type": "no_such_module_xyz:Thing", "column": "nama"},))
    with pytest.raises(rl.ConfigError, match="blocking key function 'json:nothing_here'"):
        rl.BlockOn(keys=("json:nothing_here(nama)",))
    with pytest.raises(rl.ConfigError, match="level 1: a level is a mapping with a 'label' and one condition"):
        rl.LevelComparison(column="nama", levels=({"label": "x", "soundex": True},))


def test_the_command_line_reads_custom_specs_and_their_stored_model_in_a_fresh_process(syn, plugin, tmp_path):
    """No registration call: the CLI imports the module named by the config, and an update
    scores with the comparisons of the model stored by the first run."""
    for n in ("siak", "dtks"):
        syn.sources[n].to_csv(tmp_path / f"{n}.csv", index=False)
    _config(syn, plugin, output_dir="out").save(tmp_path / "run.yaml")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    cli = [sys.executable, "-m", "regsosek_link.cli"]
    first = subprocess.run([*cli, "run", "run.yaml", "--quiet", "--store", "r.duckdb"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    from regsosek_link.store import RegistryStore

    stored = RegistryStore(tmp_path / "r.duckdb").latest_config()
    assert any(c.get("type") == "mylinkext:SameInitials" for c in stored["comparisons"])
    batch = syn.sources["dtks"].head(0)
    batch.to_csv(tmp_path / "empty.csv", index=False)
    second = subprocess.run([*cli, "update", "run.yaml", "--quiet", "--store", "r.duckdb", "--out", "out2"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "out2" / "membership.parquet").exists()
