"""The embedded engine refuses, before any work, a run too big for the machine's memory
(issue 16: never killed by the out-of-memory killer halfway), and runs when told to.

The available memory is mocked: no big data here. The process's own resident memory is
mocked to zero too, so the outcome does not depend on what the test process holds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from regsosek_link import InsufficientMemoryError, LinkConfig, Linker, SourceConfig
from regsosek_link.cli import main
from regsosek_link.datasets import make_sources
from regsosek_link.errors import ConfigError
from regsosek_link.run import _memory

MB = 2**20


@pytest.fixture(scope="module")
def small():
    syn = make_sources(n_people=80, random_state=5)
    names = ("siak", "dtks")
    config = LinkConfig(sources=tuple(
        SourceConfig(name=n, columns=syn.mappings[n], one_record_per_person=n == "siak") for n in names))
    return config, {n: syn.sources[n] for n in names}


@pytest.fixture()
def available(monkeypatch):
    """Set the memory the check sees as available (bytes); the process holds nothing."""
    monkeypatch.setattr(_memory, "_rss_bytes", lambda: 0)

    def set_to(n_bytes: int, source: str = "available system memory") -> None:
        monkeypatch.setattr(_memory, "available_memory", lambda: (n_bytes, source))

    return set_to


def test_the_estimate_grows_by_three_kb_a_record():
    assert _memory.memory_needed(1_000_000) - _memory.memory_needed(0) == 3 * 1024 * 1_000_000
    # the calibration point of the issue: 2.7 M records peaked at 7.9 GB
    assert 7.9e9 <= _memory.memory_needed(2_713_058) <= 9.5e9


def test_a_run_the_memory_cannot_hold_is_refused_with_the_figures(available):
    available(21 * 2**30)
    with pytest.raises(InsufficientMemoryError) as info:
        _memory.check_memory(10_000_000)
    msg = str(info.value)
    assert "10,000,000 records" in msg and "29.0 GB" in msg and "21.0 GB is available system memory" in msg
    assert "--engine spark" in msg and "--no-memory-check" in msg and "memory_check: false" in msg
    assert "\n" not in msg
    assert info.value.needed == _memory.memory_needed(10_000_000) and info.value.available == 21 * 2**30
    _memory.check_memory(6_000_000)  # (18 GB: fits)


def test_what_the_process_holds_already_counts_towards_the_peak(available, monkeypatch):
    available(1 * 2**30)
    with pytest.raises(InsufficientMemoryError):
        _memory.check_memory(1_000_000)  # 3.3 GB needed, 1 GB free
    monkeypatch.setattr(_memory, "_rss_bytes", lambda: 3 * 2**30)
    _memory.check_memory(1_000_000)  # the input is loaded: 0.3 GB more is needed


def test_unknown_available_memory_lets_the_run_go(monkeypatch):
    monkeypatch.setattr(_memory, "available_memory", lambda: None)
    _memory.check_memory(10**12)


def test_the_cgroup_limit_lowers_the_available_memory(monkeypatch):
    system = _memory.available_memory()
    if system is None:
        pytest.skip("no /proc/meminfo and no psutil here")
    monkeypatch.setattr(_memory, "_cgroup_free", lambda: 123 * MB)
    assert _memory.available_memory() == (123 * MB, "left under the memory cgroup's limit")
    monkeypatch.setattr(_memory, "_cgroup_free", lambda: 1 << 62)
    assert _memory.available_memory()[1] == "available system memory"


def test_the_linker_refuses_before_reading_anything(small, available):
    config, data = small
    available(1 * MB)
    seen = []
    with pytest.raises(InsufficientMemoryError, match=r"needs about 0\.4 GB"):
        Linker(config).run(data, progress=lambda stage, frac: seen.append(stage))
    assert seen == []  # refused on the DataFrames' lengths, before ingest


def test_files_are_counted_after_ingest_before_standardise(small, available, tmp_path):
    config, data = small
    sources = []
    for s in config.sources:
        data[s.name].to_csv(tmp_path / f"{s.name}.csv", index=False)
        sources.append(SourceConfig(name=s.name, path=str(tmp_path / f"{s.name}.csv"), columns=s.columns,
                                    one_record_per_person=s.one_record_per_person))
    available(1 * MB)
    seen = []
    n = sum(len(v) for v in data.values())
    with pytest.raises(InsufficientMemoryError, match=f"linking {n:,} records"):
        Linker(config.replace(sources=tuple(sources))).run(progress=lambda stage, frac: seen.append(stage))
    assert "ingest" in seen and "standardise" not in seen


def test_memory_check_false_runs_anyway(small, available):
    config, data = small
    available(1 * MB)
    result = Linker(config.replace(memory_check=False)).run(data)
    assert len(result.membership) == sum(len(v) for v in data.values())


def test_an_update_counts_the_stored_records(small, available, tmp_path):
    config, data = small
    store = tmp_path / "reg.duckdb"
    Linker(config.replace(sources=config.sources[:1])).run({"siak": data["siak"]}, store=store)
    n_stored, n_batch = len(data["siak"]), len(data["dtks"])
    available(1 * MB)
    with pytest.raises(InsufficientMemoryError, match=f"linking {n_stored + n_batch:,} records"):
        Linker(config.replace(sources=config.sources[1:])).update(store, {"dtks": data["dtks"]}, retrain=True)
    with pytest.raises(InsufficientMemoryError, match=f"linking {n_stored - 1:,} records"):  # (what is left)
        Linker(config).withdraw(store, source="siak", record_ids=[str(data["siak"].iloc[0, 0])])


def test_the_setting_round_trips_and_is_checked(small):
    config, _ = small
    off = config.replace(memory_check=False)
    assert off.to_dict()["memory_check"] is False and "memory_check" not in config.to_dict()
    assert LinkConfig.from_dict(off.to_dict()).memory_check is False
    with pytest.raises(ConfigError, match="memory_check must be true or false"):
        config.replace(memory_check="no")


def _cli_config(small, folder: Path) -> Path:
    config, data = small
    sources = []
    for s in config.sources:
        data[s.name].to_csv(folder / f"{s.name}.csv", index=False)
        sources.append(SourceConfig(name=s.name, path=f"{s.name}.csv", columns=s.columns,
                                    one_record_per_person=s.one_record_per_person))
    return LinkConfig(sources=tuple(sources), output_dir="out").save(folder / "run.yaml")


def test_the_cli_refuses_in_one_line_with_exit_2_and_runs_with_the_flag(small, available, tmp_path, capsys):
    path = _cli_config(small, tmp_path)
    available(1 * MB)
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("regsosek-link: linking ") and err.count("\n") == 1
    assert "GB of memory at its peak" in err and "--engine spark" in err
    assert not (tmp_path / "o").exists()
    assert main(["run", str(path), "--quiet", "--out", str(tmp_path / "o"), "--no-memory-check"]) == 0
    assert len(pd.read_parquet(tmp_path / "o" / "membership.parquet")) == sum(len(v) for v in small[1].values())
