"""Custom survivorship rules (the extension API): a rule of the user's own module chooses a
field's golden value through the same path as the built-in rules, with exact provenance, in
any row order; it is named in a config file, saved in the store and used again by an update,
through the API and through the command line in a fresh process; bad specs are refused with
the field and the fix."""

from __future__ import annotations

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
from regsosek_link.errors import StoreError
from regsosek_link.extend import Candidates, SurvivorshipRule
from regsosek_link.registry import golden_records
from regsosek_link.store import RegistryStore

sys.path.insert(0, str(Path(__file__).parent))
from _user_module import user_module

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PLUGIN = textwrap.dedent('''
    """A user's own survivorship rules, outside the package."""
    from dataclasses import dataclass

    import numpy as np
    import pandas as pd

    import regsosek_link as rl

    CALLS = {"keys": 0}


    @dataclass(frozen=True, kw_only=True)
    class Longest(rl.SurvivorshipRule):
        """The longest value (counted here, not by a built-in criterion)."""

        def keys(self, candidates):
            CALLS["keys"] += 1
            return [-pd.Series(candidates.values).astype(str).str.len().to_numpy()]


    @dataclass(frozen=True, kw_only=True)
    class PreferSource(rl.SurvivorshipRule):
        """One source first, then the most recent extract."""

        source: str

        def keys(self, candidates):
            return [candidates.source != self.source, "most_recent"]


    @dataclass(frozen=True, kw_only=True)
    class LastRecord(rl.SurvivorshipRule):
        """Full control: each person's last candidate in (source, record_id) order."""

        def choose(self, candidates):
            p = candidates.person
            last = np.flatnonzero(np.r_[p[1:] != p[:-1], True]) if len(p) else p
            out = np.full(candidates.n_persons, -1, np.int64)
            out[p[last]] = last
            return out
''')

AS_OF = {"siak": "2019-01-01", "dtks": "2023-06-30", "regsosek": "2022-10-15", "dapodik": "2021-07-01"}


@pytest.fixture()
def plugin(tmp_path, monkeypatch):
    yield from user_module("mysurv", PLUGIN, tmp_path, monkeypatch)


@pytest.fixture(scope="module")
def syn():
    return make_sources(n_people=400, random_state=13)


def _records(rows):
    cols = ["source", "record_id", "nama", "alamat"]
    return pd.DataFrame(rows, columns=cols).astype("string")


ROWS = [
    ["siak", "1", "SRI", "JL LAMA 1"],
    ["dtks", "7", "SRI WAHYUNI", "JL BARU 9"],
    ["regsosek", "3", "SRI W", None],
    ["dtks", "2", "BUDI SANTOSO", "JL MAWAR"],
    ["regsosek", "5", "BUDI SANTOSA", "JL MELATI"],
    ["siak", "9", "ANI", None],
]
PERSONS = np.array(["P1", "P1", "P1", "P2", "P2", "P3"])


def _golden(recs, person, **kw):
    return golden_records(recs, person, priorities={"siak": {"*": 1}}, as_of=AS_OF, **kw).set_index("person_id")


def test_a_custom_rule_picks_the_value_and_its_exact_record(plugin):
    g = _golden(_records(ROWS), PERSONS, survivorship={"nama": plugin.Longest(),
                                                       "alamat": plugin.PreferSource(source="siak")})
    assert plugin.CALLS["keys"] == 1  # once per field, over every person at once
    assert g.loc["P1", ["nama", "nama_source", "nama_record_id"]].tolist() == ["SRI WAHYUNI", "dtks", "7"]
    # equally long: the smallest (source, record_id)
    assert g.loc["P2", ["nama", "nama_source", "nama_record_id"]].tolist() == ["BUDI SANTOSO", "dtks", "2"]
    assert g.loc["P3", ["nama", "nama_source", "nama_record_id"]].tolist() == ["ANI", "siak", "9"]
    # siak first (although dtks is more recent), then the most recent extract
    assert g.loc["P1", ["alamat", "alamat_source", "alamat_record_id"]].tolist() == ["JL LAMA 1", "siak", "1"]
    assert g.loc["P2", ["alamat", "alamat_source", "alamat_record_id"]].tolist() == ["JL MAWAR", "dtks", "2"]
    assert g.loc["P3", ["alamat", "alamat_source", "alamat_record_id"]].isna().all()  # no value anywhere
    # the defaults choose otherwise: siak's priority for the name, the latest extract for the address
    d = _golden(_records(ROWS), PERSONS)
    assert d.loc["P1", ["nama", "alamat", "alamat_source"]].tolist() == ["SRI", "JL BARU 9", "dtks"]


def test_a_rule_given_by_spec_and_full_control_choose(plugin):
    recs = _records(ROWS)
    by_path = _golden(recs, PERSONS, survivorship={"nama": "mysurv:Longest",
                                                   "alamat": {"type": "mysurv:PreferSource", "source": "regsosek"}})
    assert by_path.loc["P1", "nama"] == "SRI WAHYUNI"
    assert by_path.loc["P2", ["alamat", "alamat_source", "alamat_record_id"]].tolist() == ["JL MELATI", "regsosek", "5"]
    last = _golden(recs, PERSONS, survivorship={"nama": "mysurv:LastRecord"})
    # candidates are in (source, record_id) order: dtks < regsosek < siak
    assert last.loc["P1", ["nama_source", "nama_record_id"]].tolist() == ["siak", "1"]
    assert last.loc["P2", ["nama_source", "nama_record_id"]].tolist() == ["regsosek", "5"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_custom_rules_are_deterministic_in_any_row_order(plugin, seed):
    recs, person = _records(ROWS * 3), np.tile(PERSONS, 3)  # repeated values: many ties
    recs["record_id"] = recs["record_id"] + pd.array(np.repeat(["a", "b", "c"], len(ROWS)), dtype="string")
    rules = {"nama": plugin.Longest(), "alamat": plugin.PreferSource(source="dtks"), "rt": plugin.LastRecord()}
    recs["rt"] = pd.array(np.arange(len(recs)).astype(str), dtype="string")
    want = _golden(recs, person, survivorship=rules)
    order = np.random.default_rng(seed).permutation(len(recs))
    got = _golden(recs.iloc[order].reset_index(drop=True), person[order], survivorship=rules)
    pd.testing.assert_frame_equal(got, want)


def test_candidates_carry_the_facts_a_rule_needs():
    seen = {}

    class Spy(SurvivorshipRule):
        def choose(self, candidates: Candidates) -> np.ndarray:
            seen["c"] = candidates
            return candidates.best("priority")

    recs = _records(ROWS)
    golden_records(recs, PERSONS, priorities={"siak": {"*": 1}}, as_of=AS_OF, survivorship={"alamat": Spy()})
    c = seen["c"]
    assert (c.field, c.n_persons, len(c)) == ("alamat", 3, 4)  # the records with an address
    assert c.person.tolist() == [0, 0, 1, 1]
    assert list(zip(c.source, c.record_id)) == [("dtks", "7"), ("siak", "1"), ("dtks", "2"), ("regsosek", "5")]
    assert c.values.tolist() == ["JL BARU 9", "JL LAMA 1", "JL MAWAR", "JL MELATI"]
    assert c.priority.tolist() == [100, 1, 100, 100]
    assert c.as_of.astype(str).tolist() == ["2023-06-30", "2019-01-01", "2023-06-30", "2022-10-15"]
    assert c.frequency.tolist() == [1, 1, 1, 1] and c.length.tolist() == [9, 9, 8, 9]
    assert c.column("nama").tolist() == ["SRI WAHYUNI", "SRI", "BUDI SANTOSO", "BUDI SANTOSA"]
    assert [recs.loc[r, "record_id"] for r in c.row] == ["7", "1", "2", "5"]
    # a key array (lower wins; NaN last), a callable of the candidates still tied, a criterion
    assert c.best(np.array([1.0, np.nan, 0.0, 0.0])).tolist() == [0, 2, -1]  # P3 has no address
    assert c.best(lambda sub: -sub.length, "most_recent").tolist() == [0, 3, -1]


def test_a_bad_choice_is_refused_with_the_field():
    class Wrong(SurvivorshipRule):
        def choose(self, candidates):
            return np.zeros(candidates.n_persons, np.int64)  # person 0's record for everybody

    class Short(SurvivorshipRule):
        def choose(self, candidates):
            return np.zeros(1, np.int64)

    recs = _records(ROWS)
    with pytest.raises(rl.ConfigError, match=r"survivorship of 'nama': Wrong.choose\(\) chose for person 1 a record "
                                             "of person 0"):
        golden_records(recs, PERSONS, survivorship={"nama": Wrong()})
    with pytest.raises(rl.ConfigError, match=r"Short.choose\(\) must return one integer position per person \(3\)"):
        golden_records(recs, PERSONS, survivorship={"nama": Short()})


@pytest.mark.parametrize("spec, message", [
    ({"nama": "longest"}, ("survivorship of 'nama': unknown rule 'longest'; give the field one of priority, "
                          "most_recent, most_frequent, most_complete, or a rule of your own by its import path")),
    ({"umur": "priority"}, "survivorship names unknown field(s) ['umur']"),
    ({"alamat": "no_such_module_xyz:Rule"}, ("survivorship of 'alamat': survivorship rule 'no_such_module_xyz:Rule': "
                                            "cannot import module 'no_such_module_xyz'")),
    ({"alamat": "json:dumps"}, ("survivorship of 'alamat': 'json:dumps' is not a SurvivorshipRule; subclass "
                               "regsosek_link.extend.SurvivorshipRule")),
    ({"rt": {"type": "most_recent", "days": 3}}, ("survivorship of 'rt': rule 'most_recent' has no parameter(s) "
                                                "days; it takes none")),
    ({"nik": 7}, "survivorship of 'nik': a rule is a name or a mapping with a 'type'; got 7"),
])
def test_bad_specs_name_the_field_and_the_fix(spec, message):
    with pytest.raises(rl.ConfigError) as err:
        rl.LinkConfig(sources=({"name": "a", "columns": {"id": "record_id", "n": "nama"}},), survivorship=spec)
    assert str(err.value).startswith(message)
    assert err.value.problems[0].where.startswith("survivorship")


def test_bad_specs_in_a_config_file_are_one_line_and_exit_code_2(tmp_path):
    config = rl.LinkConfig(sources=({"name": "a", "path": "a.csv", "columns": {"id": "record_id", "n": "nama"}},))
    (tmp_path / "bad.yaml").write_text(config.to_yaml() + "survivorship: {nama: longest, alamat: json:dumps}\n")
    with pytest.raises(rl.ConfigError, match="2 problems"):
        rl.load_config(tmp_path / "bad.yaml")
    done = subprocess.run([sys.executable, "-m", "regsosek_link.cli", "run", "bad.yaml", "--quiet"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "survivorship of 'nama': unknown rule 'longest'" in done.stderr
    assert "survivorship of 'alamat': 'json:dumps' is not a SurvivorshipRule" in done.stderr


def test_a_mismatched_rule_keyword_is_a_config_error(plugin):
    with pytest.raises(rl.ConfigError, match="survivorship of 'alamat': survivorship rule 'mysurv:PreferSource' has no "
                                             r"parameter\(s\) sources; its parameters are: source"):
        rl.LinkConfig(sources=({"name": "a", "columns": {"id": "record_id", "n": "nama"}},),
                      survivorship={"alamat": {"type": "mysurv:PreferSource", "sources": ["siak"]}})


# ---------------------------------------------------------------------------------------
# through a run: the config file, the store, an update


def _config(syn, names, survivorship, **kw) -> rl.LinkConfig:
    return rl.LinkConfig(sources=tuple(
        rl.SourceConfig(name=n, path=f"{n}.csv", columns=syn.mappings[n], as_of=AS_OF.get(n),
                        one_record_per_person=bool(syn.source_info[n].get("one_record_per_person")))
        for n in names), survivorship=survivorship, **kw)


def _check_provenance(registry: pd.DataFrame, records: pd.DataFrame, membership: pd.DataFrame) -> None:
    """Every golden value of ``nama`` and ``alamat`` is the value of the record its provenance
    names; ``nama`` is the person's longest (ties: smallest source, record ID), ``alamat``
    siak's when the person has one, else from a record of the latest extract."""
    recs = records.astype({"source": str, "record_id": str}).merge(
        membership[["source", "record_id", "person_id"]].astype(str), on=["source", "record_id"])
    assert len(recs) == len(records)
    for field in ("nama", "alamat"):
        has = registry[registry[f"{field}_source"].notna()]
        picked = has[["person_id", field, f"{field}_source", f"{field}_record_id"]].astype(str).merge(
            recs[["source", "record_id", "person_id", field]].astype(str),
            left_on=["person_id", f"{field}_source", f"{field}_record_id"],
            right_on=["person_id", "source", "record_id"], suffixes=("", "_record"))
        assert len(picked) == len(has) > 0
        assert (picked[field] == picked[f"{field}_record"]).all()
        valued = recs[recs[field].notna()].astype({field: str})
        assert set(has["person_id"]) == set(valued["person_id"].astype(str))
        if field == "nama":  # the oracle of Longest, with the tie-break
            want = (valued.assign(neg_len=-valued["nama"].str.len())
                    .sort_values(["person_id", "neg_len", "source", "record_id"])
                    .groupby("person_id").first())
            got = has.set_index("person_id")
            assert (got["nama_source"] + "|" + got["nama_record_id"]).sort_index().tolist() == \
                (want["source"] + "|" + want["record_id"]).sort_index().tolist()
        else:
            siak = set(valued.loc[valued["source"] == "siak", "person_id"].astype(str))
            got = has.set_index("person_id")
            assert (got.loc[sorted(siak), "alamat_source"] == "siak").all()
            latest = valued.assign(day=valued["source"].map(AS_OF)).groupby("person_id")["day"].max()
            rest = got.drop(index=sorted(siak))
            assert len(rest) > 0
            assert (rest["alamat_source"].map(AS_OF).to_numpy() == latest.loc[rest.index].to_numpy()).all()


RULES = {"nama": "mysurv:Longest", "alamat": {"type": "mysurv:PreferSource", "source": "siak"}}


def test_api_run_and_update_keep_the_rules_in_the_store(syn, plugin, tmp_path):
    path = tmp_path / "r.duckdb"
    q1, batch = ["siak", "dtks"], "regsosek"
    config = _config(syn, q1, RULES)
    first = rl.Linker(config).run({n: syn.sources[n] for n in q1}, store=path)
    _check_provenance(first.registry, first.records, first.membership)
    stored = RegistryStore(path).latest_config()
    assert stored["survivorship"] == {"nama": "mysurv:Longest",
                                      "alamat": {"type": "mysurv:PreferSource", "source": "siak"}}
    # a batch-only config with the same rules: the new records follow them too
    upd = rl.Linker(_config(syn, [batch], RULES)).update(path, {batch: syn.sources[batch]})
    assert (upd.records["source"] == batch).sum() == len(syn.sources[batch])
    _check_provenance(upd.registry, upd.records, upd.membership)
    st = RegistryStore(path)
    _check_provenance(st.registry(), st.records(), st.membership())
    assert (st.registry()["nama_source"] == batch).any()  # the batch supplied some longest names
    # a config without them is refused before any work, naming the setting
    before = st.generation()
    with pytest.raises(StoreError, match=r"survivorship: the registry was linked with .*mysurv:Longest.*, this "
                                         r"config has \{\}"):
        rl.Linker(_config(syn, [batch], {})).update(path, {batch: syn.sources[batch].head(5)})
    assert RegistryStore(path).generation() == before


def test_the_command_line_runs_and_updates_with_custom_rules_from_the_config_file(syn, plugin, tmp_path):
    """A fresh process, told of the rules only by the config file (their module on
    PYTHONPATH): the run saves them in the store, the update uses them for the new batch."""
    for n in ("siak", "dtks", "regsosek"):
        syn.sources[n].to_csv(tmp_path / f"{n}.csv", index=False)
    path = _config(syn, ["siak", "dtks"], RULES, output_dir="out").save(tmp_path / "q1.yaml")
    text = path.read_text()
    assert "nama: mysurv:Longest" in text and "type: mysurv:PreferSource" in text
    assert rl.load_config(path).survivorship == {"nama": plugin.Longest(),
                                                 "alamat": plugin.PreferSource(source="siak")}
    _config(syn, ["regsosek"], RULES, output_dir="out2").save(tmp_path / "q2.yaml")
    _config(syn, ["regsosek"], {}, output_dir="out3").save(tmp_path / "plain.yaml")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    cli = [sys.executable, "-m", "regsosek_link.cli"]

    def run(*args):
        return subprocess.run([*cli, *args, "--quiet", "--store", "r.duckdb"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=False)

    first = run("run", "q1.yaml")
    assert first.returncode == 0, first.stderr
    refused = run("update", "plain.yaml")
    assert refused.returncode == 2 and "survivorship: the registry was linked with" in refused.stderr
    (tmp_path / "elsewhere").mkdir()  # (python -m imports from its working folder)
    lost = subprocess.run([*cli, "update", str(tmp_path / "plain.yaml"), "--quiet", "--store",
                           str(tmp_path / "r.duckdb")], cwd=tmp_path / "elsewhere",
                          env={k: v for k, v in env.items() if k != "PYTHONPATH"}, capture_output=True, text=True,
                          check=False)  # the stored config names a module this process cannot import
    assert lost.returncode == 2 and "cannot import module 'mysurv'" in lost.stderr
    assert "put the modules it names on PYTHONPATH" in lost.stderr
    second = run("update", "q2.yaml")
    assert second.returncode == 0, second.stderr
    st = RegistryStore(tmp_path / "r.duckdb")
    assert [r["kind"] for _, r in st.runs().iterrows()] == ["full", "update"]
    registry = pd.read_parquet(tmp_path / "out2" / "registry.parquet")
    membership = pd.read_parquet(tmp_path / "out2" / "membership.parquet")
    assert set(membership["source"]) == {"siak", "dtks", "regsosek"}
    _check_provenance(registry, st.records(), membership)
