"""End to end: seeded synthetic sources with known truth, FEBRL, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import regsosek_link as rl
import regsosek_link.store
from regsosek_link.cli import main
from regsosek_link.datasets import load_febrl3, load_febrl4, make_sources
from regsosek_link.standardise import resolve_region


@pytest.fixture(scope="module")
def synthetic():
    return make_sources(n_people=3_000, random_state=11)


@pytest.fixture(scope="module")
def linked(synthetic):
    return rl.link(synthetic.sources, columns=synthetic.mappings, one_record_per_person=("siak",))


def test_every_input_record_exactly_once(synthetic, linked):
    mem = linked.membership
    n_in = sum(len(df) for df in synthetic.sources.values())
    assert len(mem) == n_in
    assert not mem.duplicated(["source", "record_id"]).any()
    for name, df in synthetic.sources.items():
        rid = df[next(k for k, v in synthetic.mappings[name].items() if v == "record_id")]
        assert set(mem.loc[mem.source == name, "record_id"]) == set(rid)
    assert mem["person_id"].notna().all()
    assert set(mem["person_id"]) == set(linked.registry["person_id"])
    assert linked.registry["n_records"].sum() == n_in


def test_synthetic_accuracy(synthetic, linked):
    scores = linked.evaluate(synthetic.truth)
    assert scores.precision >= 0.99, scores
    assert scores.recall >= 0.93, scores
    assert linked.blocking_recall(synthetic.truth) >= 0.97


def test_match_probability_is_weakest_accepted_link(linked):
    mem = linked.membership
    singles = linked.registry.loc[linked.registry.n_records == 1, "person_id"]
    assert (mem.loc[mem.person_id.isin(singles), "match_probability"] == 1.0).all()
    multi = mem.loc[~mem.person_id.isin(singles), "match_probability"]
    # (a lone record joins its one likely candidate with a link below the threshold)
    assert (multi >= linked.config.lone_threshold).all() and (multi <= 1.0).all()
    assert (multi >= linked.config.threshold).mean() > 0.99


def test_rerun_gives_identical_person_ids(synthetic, linked):
    again = rl.link(synthetic.sources, columns=synthetic.mappings, one_record_per_person=("siak",))
    pd.testing.assert_frame_equal(linked.membership, again.membership)


def test_golden_values_prefer_valid_nik_and_keep_provenance(linked):
    reg = linked.registry
    recs = linked.records
    has = reg["nik"].notna()
    valid = set(recs.loc[recs.nik_valid, "nik"])
    # a person with any valid NIK among its records gets a valid golden NIK
    pid = linked.membership["person_id"].to_numpy()
    persons_with_valid = set(pid[recs["nik_valid"].to_numpy()])
    chosen = reg.set_index("person_id")["nik"]
    assert all(chosen[p] in valid for p in persons_with_valid)
    assert reg.loc[has, "nik_source"].notna().all() and reg.loc[has, "nik_record_id"].notna().all()


def test_households_from_kk(linked):
    hh = linked.households
    assert set(hh["person_id"]) <= set(linked.registry["person_id"])
    assert not hh.duplicated(["household_id", "person_id"]).any()
    sizes = hh.groupby("household_id").size()
    assert (sizes == hh.groupby("household_id")["n_members"].first()).all()


def test_outputs_written(linked, tmp_path: Path):
    written = linked.write(tmp_path)  # the config's output_formats: Parquet only by default
    assert sorted(written) == sorted([f"{n}.parquet" for n in ("membership", "registry", "households", "links")]
                                     + ["config.json", "processing_record.json", "processing_record.md"])
    written = linked.write(tmp_path, formats=("parquet", "csv"))
    for name in ("membership", "registry", "households", "links"):
        back = pd.read_parquet(written[f"{name}.parquet"])
        assert len(back) == len(getattr(linked, name))
        csv = pd.read_csv(written[f"{name}.csv"], dtype=str, keep_default_na=False)
        assert list(csv.columns) == list(getattr(linked, name).columns) and len(csv) == len(back)


def test_region_names_resolve_row_by_row():
    # regression: a NUL missing-marker made every name-only row resolve to the first row's region
    S = lambda *v: pd.Series(list(v), dtype="string")
    out = resolve_region(code=None, desa=S("HUTA RAKYAT", "KRAMAT SELATAN"),
                         kecamatan=S("SIDIKALANG", "MAGELANG UTARA"),
                         kabupaten=S("DAIRI", "KOTA MAGELANG"), provinsi=S("SUMATERA UTARA", "JAWA TENGAH"))
    assert out["kode_kab"].tolist() == ["1211", "3371"]


@pytest.mark.parametrize("loader", [load_febrl4, load_febrl3])
def test_febrl_unsupervised_f1(loader):
    data = loader()
    result = rl.Linker(data.config).run(data.sources)
    scores = result.evaluate(data.truth)
    assert scores.f1 >= 0.99, scores
    assert result.blocking_recall(data.truth) >= 0.99


def test_febrl4_link_only_pairs_cross_files():
    data = load_febrl4()
    result = rl.Linker(data.config).run(data.sources)
    src = result.records["source"].to_numpy()
    assert (src[result.pairs["left"]] != src[result.pairs["right"]]).all()


# -- CLI ---------------------------------------------------------------------------------

def test_cli_demo_small(tmp_path: Path, capsys):
    assert main(["demo", "--people", "1500", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Accuracy against the ground truth (pairwise): precision" in out
    assert (tmp_path / "registry" / "membership.parquet").exists()
    assert (tmp_path / "config.yaml").exists()
    f1 = float(out.split("F1 ")[1].split()[0])
    assert f1 > 0.9


def test_cli_run_bad_config_exits_2(tmp_path: Path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("sources:\n  - name: siak\n    path: missing.csv\n    columns: {ID: record_id, NAMA: nama}\n")
    assert main(["run", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "configuration problem: source 'siak': file" in err and "missing.csv' does not exist" in err


def test_console_script_is_installed():
    res = subprocess.run([sys.executable, "-m", "regsosek_link.cli", "--help"], capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0 and "demo" in res.stdout


def test_cli_store_update_and_review_round_trip(tmp_path: Path, capsys):
    """run --store, then a new batch with update, then a review export and import."""
    syn = make_sources(n_people=600, random_state=21)
    first = {k: v.iloc[: int(len(v) * 0.9)] for k, v in syn.sources.items()}
    rest = {k: v.iloc[int(len(v) * 0.9):] for k, v in syn.sources.items()}

    def config(data, name):
        folder = tmp_path / name
        folder.mkdir()
        sources = []
        for k, df in data.items():
            df.to_csv(folder / f"{k}.csv", index=False)
            sources.append(rl.SourceConfig(name=k, path=f"{k}.csv", columns=syn.mappings[k],
                                           one_record_per_person=k == "siak"))
        return rl.LinkConfig(sources=tuple(sources), output_dir="out").save(folder / "run.yaml")

    store = tmp_path / "registry.duckdb"
    assert main(["run", str(config(first, "q1")), "--store", str(store), "--quiet", "--no-report"]) == 0
    before = rl.store.RegistryStore(store).membership()
    assert main(["update", str(config(rest, "q2")), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"Updated {store}" in out
    after = rl.store.RegistryStore(store).membership()
    assert len(after) == sum(len(v) for v in syn.sources.values())
    kept = before.merge(after, on=["source", "record_id"], suffixes=("_old", "_new"))
    # an existing person keeps its ID unless a merge is logged for it
    changed = kept[kept.person_id_old != kept.person_id_new]
    merges = rl.store.RegistryStore(store).changes()
    assert set(changed.person_id_old) <= set(merges.loc[merges.change == "merged_into", "person_id"])

    review = tmp_path / "review.csv"
    assert main(["review", "export", "--store", str(store), "--file", str(review), "--low", "0.0"]) == 0
    queue = pd.read_csv(review, dtype=str)
    assert "decision" in queue.columns
    if len(queue):
        queue["decision"] = "not a match"
        queue.to_csv(review, index=False)
        assert main(["review", "import", "--store", str(store), "--file", str(review)]) == 0
        assert len(rl.store.RegistryStore(store).decisions()) == len(queue)


def test_cli_update_needs_an_existing_store(tmp_path: Path, capsys):
    cfg = rl.LinkConfig(sources=(rl.SourceConfig(name="a", path="a.csv", columns={"i": "record_id", "n": "nama"}),))
    path = cfg.save(tmp_path / "run.yaml")
    assert main(["update", str(path), "--store", str(tmp_path / "none.duckdb")]) == 2
    assert "registry store" in capsys.readouterr().err


def test_one_or_more_workers_give_the_same_result(synthetic, linked):
    # ``linked`` ran with the default (every core); one thread must give the same result, and
    # two threads (comparisons prepared and u estimated while blocking runs) too
    one = rl.link(synthetic.sources, columns=synthetic.mappings, one_record_per_person=("siak",), workers=1)
    two = rl.link(synthetic.sources, columns=synthetic.mappings, one_record_per_person=("siak",), workers=2)
    assert rl.LinkConfig.__dataclass_fields__["workers"].default == -1
    for other in (linked, two):
        pd.testing.assert_frame_equal(other.membership, one.membership)
        pd.testing.assert_frame_equal(other.pairs, one.pairs)
        pd.testing.assert_frame_equal(other.links, one.links)
        np.testing.assert_array_equal(other.probability, one.probability)
        for a, b in zip(other.model.u_, one.model.u_):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(rl.ConfigError, match="The 'workers' parameter must be a positive int or -1"):
        rl.LinkConfig(sources=(rl.SourceConfig(name="a", columns={"i": "record_id", "n": "nama"}),), workers=0)


def test_fewer_pairs_preset(synthetic, linked):
    fast = rl.link(synthetic.sources, columns=synthetic.mappings, one_record_per_person=("siak",),
                   blocking_rules=rl.fewer_pairs_blocking_rules())
    assert len(fast.pairs) < 0.6 * len(linked.pairs)
    assert fast.evaluate(synthetic.truth).precision >= 0.99
    assert len(fast.membership) == len(linked.membership)


def test_background_work_runs_in_the_runs_context_and_reraises():
    import contextvars

    from regsosek_link._threads import background

    var = contextvars.ContextVar("v", default="outside")
    var.set("the run's")
    for enabled in (True, False):
        with background(enabled=enabled) as submit:
            seen = submit(var.get)
            failing = submit(lambda: 1 // 0)
            assert seen() == "the run's"
            with pytest.raises(ZeroDivisionError):
                failing()


def test_release_free_memory_finds_glibc_and_is_harmless():
    import platform

    from regsosek_link.run._memory import ProcessTuning, _malloc_trim

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert (_malloc_trim() is not None) == glibc
    big = np.ones(4_000_000)  # 32 MB, freed below
    del big
    ProcessTuning(enabled=True).release_free_memory()  # glibc: malloc_trim; elsewhere a no-op
    ProcessTuning(enabled=False).release_free_memory()


def test_process_tuning_makes_the_system_allocator_arrows_pool_for_the_run(monkeypatch):
    """A tuned run (nested ones too) allocates Arrow memory with the C allocator, which
    its trimming reaches; Arrow's pool is put back after the last run, and left alone
    without tuning or when ARROW_DEFAULT_MEMORY_POOL is set."""
    import pyarrow as pa

    from regsosek_link.run._memory import ProcessTuning

    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    before = pa.default_memory_pool().backend_name
    if before == "system":
        pytest.skip("this pyarrow's default pool is the system allocator already")
    off = ProcessTuning(enabled=False)
    off.sized(10)
    assert pa.default_memory_pool().backend_name == before
    outer, inner = ProcessTuning(enabled=True), ProcessTuning(enabled=True)
    try:
        outer.sized(10)
        assert pa.default_memory_pool().backend_name == "system"
        assert pa.array(["a", "b"]).take([1]).to_pylist() == ["b"]
        inner.sized(10)
        inner.close()
        assert pa.default_memory_pool().backend_name == "system"  # the outer run goes on
    finally:
        outer.close()
    assert pa.default_memory_pool().backend_name == before
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", before)
    user = ProcessTuning(enabled=True)
    user.sized(10)
    assert pa.default_memory_pool().backend_name == before
    user.close()


def test_process_tuning_is_off_unless_asked_and_restores_numpy(monkeypatch):
    """Without tune_process a run leaves numpy's huge-page switch and the garbage collector
    alone; with it, the switch is off once a run of at most SMALL_PAGES_MAX_RECORDS records
    knows its size (nested runs too) and back as it was after the last run; untouched for
    bigger runs and when NUMPY_MADVISE_HUGEPAGE is set."""
    import gc

    from regsosek_link.run._memory import SMALL_PAGES_MAX_RECORDS, ProcessTuning, _hugepage_switch

    switch = _hugepage_switch()
    if switch is None:
        pytest.skip("this numpy has no huge-page switch")

    def current() -> bool:
        value = bool(switch(False))
        switch(value)
        return value

    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    before = bool(switch(True))
    try:
        off = ProcessTuning(enabled=False)
        off.sized(10)
        with off.gc_paused():
            assert gc.isenabled() and current() is True
        outer = ProcessTuning(enabled=True)
        assert current() is True  # (the size is not known yet)
        outer.sized(1_004_010)
        assert current() is False
        inner = ProcessTuning(enabled=True)
        inner.sized(10)
        inner.close()
        assert current() is False  # the outer run goes on
        with outer.gc_paused():
            assert not gc.isenabled()
        assert gc.isenabled()
        outer.close()
        assert current() is True
        big = ProcessTuning(enabled=True)
        big.sized(SMALL_PAGES_MAX_RECORDS + 1)
        assert current() is True
        big.close()
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
        user = ProcessTuning(enabled=True)
        user.sized(10)
        assert current() is True
        user.close()
    finally:
        switch(before)
