"""Privacy-preserving linkage: encoded files hold no clear value, encodings are reproducible
under one key and unrelated under another, the key never leaks, encoded sources link end to
end, person IDs can be salted, outputs can be owner-only, and a run writes its processing record."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from regsosek_link import LinkConfig, SourceConfig, standardise
from regsosek_link.cli import main
from regsosek_link.errors import ConfigError
from regsosek_link.ingest import read_sources
from regsosek_link.privacy import (
    SecretKey,
    decode_filters,
    dice,
    encode_records,
    encode_source,
    link_encoded,
    load_key,
    read_encoded,
    write_encoded,
)

KEY_HEX = "5f1c0e9a3b7d24c68e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"
OTHER_HEX = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#: Columns an encoded file may hold (besides bk_<i>): nothing else passes the encoder.
ENCODED_COLUMNS = {"source", "record_id", "encoding", "nik", "nik_valid", "nik_fit",
                   "no_kk", "kk_valid", "jenis_kelamin", "kode_prov", "kode_kab", "kode_kec", "kode_desa",
                   "kode_wilayah", "nama", "nama_ibu", "tanggal_lahir", "tempat_lahir", "tanggal_lahir_placeholder",
                   "nik_near", "tahun_lahir", "alamat"}


@pytest.fixture(scope="module")
def syn():
    from regsosek_link.datasets import make_sources

    return make_sources(n_people=400, random_state=11)


@pytest.fixture(scope="module")
def cfg(syn) -> LinkConfig:
    single = [k for k, v in syn.source_info.items() if v["one_record_per_person"]]
    return LinkConfig(sources=tuple(SourceConfig(name=k, columns=m, one_record_per_person=k in single)
                                    for k, m in syn.mappings.items()))


@pytest.fixture(scope="module")
def key() -> SecretKey:
    return SecretKey(bytes.fromhex(KEY_HEX), origin="the tests")


@pytest.fixture(scope="module")
def encoded(syn, cfg, key) -> dict[str, pd.DataFrame]:
    return {name: encode_source(name, key, data=syn.sources[name], config=cfg) for name in syn.sources}


def _clear_values(syn, cfg, name: str) -> set[str]:
    """Every clear value of a source: its raw cells, their standardised forms, and the words of both."""
    raw = syn.sources[name]
    own_id = next(c for c, t in syn.mappings[name].items() if t == "record_id")
    values = {str(v).strip() for c in raw.columns if c != own_id for v in raw[c].dropna().tolist()}
    clean = standardise(read_sources(cfg.replace(sources=(cfg.source(name),)), {name: raw}))
    skip = {"source", "record_id", "nik_status", "kk_status", "tanggal_lahir_status", "nik_valid", "kk_valid",
            "nama_tokens_n"}  # (record keys, and status codes such as "ok" that are no personal data)
    values |= {str(v).strip() for c in clean.columns if c not in skip for v in clean[c].dropna().tolist()}
    values |= {w for v in list(values) for w in v.split()}
    return {v for v in values if v}


def test_an_encoded_file_holds_none_of_the_clear_values_of_its_source(syn, cfg, encoded, tmp_path):
    for name, enc in encoded.items():
        path = write_encoded(enc, tmp_path / f"{name}.parquet")
        back = read_encoded(path)
        assert set(back.columns) - ENCODED_COLUMNS <= {c for c in back.columns if c.startswith("bk_")}
        cells = set()
        for c in back.columns:
            if c in ("source", "record_id", "encoding", "nik_valid", "kk_valid", "nik_fit", "tanggal_lahir_placeholder"):
                continue
            for v in back[c].dropna().astype(str).tolist():
                cells.add(v)
                cells.update(v.split())  # each blocking key of a record
        clear = _clear_values(syn, cfg, name)
        assert len(clear) > 5 * len(enc)  # (the check has something to check)
        assert not clear & cells, sorted(clear & cells)[:5]
        # long values (NIKs, names, dates, places) appear nowhere inside an encoded cell either
        long_values = [v for v in clear if len(v) >= 8]
        blob = "\n".join(sorted(cells))
        assert [v for v in long_values if v in blob] == []
        # nor in the file's bytes, but for the record IDs, kept in clear by design (the holder's own
        # row keys): a clear value inside one of them is that ID, not a leak
        ids = "\n".join(back["record_id"].tolist())
        raw_bytes = path.read_bytes()
        assert [v for v in long_values if v.encode("utf-8") in raw_bytes and v not in ids] == []
        # the flag columns hold only flags
        assert set(back["nik_fit"].dropna()) <= {"credible", "contradicts"}


def test_the_same_key_gives_the_same_encodings_in_another_process(syn, cfg, encoded, tmp_path):
    syn.sources["dtks"].to_csv(tmp_path / "dtks.csv", index=False)
    cfg.replace(sources=(SourceConfig(name="dtks", path="dtks.csv", columns=syn.mappings["dtks"]),),
                output_dir="out").save(tmp_path / "run.yaml")
    env = {**os.environ, "LINK_KEY": KEY_HEX}
    done = subprocess.run([sys.executable, "-m", "regsosek_link.cli", "encode", str(tmp_path / "run.yaml"),
                           "--key-env", "LINK_KEY", "--out", str(tmp_path / "dtks.enc.parquet"), "--quiet"],
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    there = read_encoded(tmp_path / "dtks.enc.parquet")
    here = encoded["dtks"]
    pd.testing.assert_frame_equal(there.reset_index(drop=True), here.astype(there.dtypes.to_dict()),
                                  check_dtype=False)
    # and in any row order: each record's encoding depends on the record alone
    shuffled = syn.sources["dtks"].sample(frac=1.0, random_state=1)
    again = encode_source("dtks", KEY_HEX and SecretKey(bytes.fromhex(KEY_HEX), origin="t"), data=shuffled, config=cfg)
    again = again.set_index("record_id").loc[here["record_id"]].reset_index()
    pd.testing.assert_frame_equal(again[here.columns], here)


def test_another_key_gives_unrelated_encodings(syn, cfg, encoded):
    other = encode_source("siak", SecretKey(bytes.fromhex(OTHER_HEX), origin="t"), data=syn.sources["siak"],
                          config=cfg)
    mine = encoded["siak"]
    assert (other["record_id"] == mine["record_id"]).all()
    for col in ("nik", "no_kk", "jenis_kelamin", "kode_desa", "bk_0", "bk_2"):
        assert not set(other[col].dropna()) & set(mine[col].dropna()), col
    assert other["encoding"].iloc[0] != mine["encoding"].iloc[0]  # the key check values differ
    for col in ("nama", "tanggal_lahir"):
        ok = (other[col].notna() & mine[col].notna()).to_numpy()
        a = decode_filters(mine[col][ok].tolist())
        b = decode_filters(other[col][ok].tolist())
        same_record = dice(a, b)
        # unrelated: as close as two independent random filters of the same densities would be
        pa, pb = (np.unpackbits(x, axis=1).mean(axis=1) for x in (a, b))
        independent = 2 * pa * pb / (pa + pb)
        assert abs(same_record.mean() - independent.mean()) < 0.03, col
        assert same_record.max() < 0.75, col


def test_the_same_value_gives_different_filters_in_two_records(key):
    recs = pd.DataFrame({"source": ["a", "a"], "record_id": ["1", "2"], "nama": ["SITI AMINAH"] * 2})
    enc = encode_records(recs, key)
    assert enc["nama"].iloc[0] != enc["nama"].iloc[1]  # BLIP: no frequency to count
    f = decode_filters(enc["nama"].tolist())
    assert dice(f[[0]], f[[1]])[0] > 0.93


def test_encoded_sources_link_end_to_end(syn, encoded):
    single = [k for k, v in syn.source_info.items() if v["one_record_per_person"]]
    result = link_encoded(encoded, one_record_per_person=single)
    n = sum(len(e) for e in encoded.values())
    assert len(result.membership) == n
    assert not result.membership.duplicated(["source", "record_id"]).any()
    scores = result.evaluate(syn.truth)
    assert scores.f1 > 0.95, scores
    # the registry's golden values are encodings: no clear NIK or name in it
    reg = result.registry
    assert reg["nik"].dropna().str.fullmatch(r"[0-9a-f]{32}").all()
    clear_names = set(syn.population["nama"])
    assert not clear_names & set(reg["nama"].dropna())


def test_encoded_records_carry_the_birth_date_status_the_clustering_reads(syn, encoded):
    """Thin links (no valid NIK, a placeholder or no birth date, a weak link) wait for review
    on encodings as on clear data (issue 18): the placeholder flag the data holder wrote
    becomes the ``tanggal_lahir_status`` that :func:`regsosek_link.cluster.ambiguous_links` reads."""
    single = [k for k, v in syn.source_info.items() if v["one_record_per_person"]]
    recs = link_encoded(encoded, one_record_per_person=single).records
    flag = recs["tanggal_lahir_placeholder"].fillna(False).astype(bool).to_numpy()
    status = recs["tanggal_lahir_status"]
    assert flag.any() and (~flag & recs["tanggal_lahir"].isna().to_numpy()).any()
    assert (status[flag] == "placeholder").all()
    real = ~flag & recs["tanggal_lahir"].notna().to_numpy()
    assert (status[real] == "ok").all()
    assert status[~flag & ~real].isna().all()


def test_linking_sources_encoded_with_different_keys_is_refused(syn, cfg, encoded):
    other = encode_source("dtks", SecretKey(bytes.fromhex(OTHER_HEX), origin="t"), data=syn.sources["dtks"],
                          config=cfg)
    with pytest.raises(ConfigError, match="different keys"):
        link_encoded({"siak": encoded["siak"], "dtks": other})


def test_the_key_never_appears_in_logs_or_outputs(syn, cfg, tmp_path, monkeypatch):
    key_path = tmp_path / "link.key"
    key_path.write_text(KEY_HEX + "\n")
    key_path.chmod(0o600)
    for name in ("siak", "dtks"):
        syn.sources[name].to_csv(tmp_path / f"{name}.csv", index=False)
    cfg2 = cfg.replace(sources=tuple(SourceConfig(name=n, path=f"{n}.csv", columns=syn.mappings[n])
                                     for n in ("siak", "dtks")), output_dir="out",
                       person_id_salt="env:ID_SALT")
    cfg2.save(tmp_path / "run.yaml")
    monkeypatch.setenv("ID_SALT", OTHER_HEX)
    args = ["-v"]
    for n in ("siak", "dtks"):
        env = {**os.environ, "LINK_KEY": KEY_HEX}
        done = subprocess.run([sys.executable, "-m", "regsosek_link.cli", *args, "encode", str(tmp_path / "run.yaml"),
                               "--source", n, "--key-file", str(key_path), "--out", str(tmp_path / f"{n}.enc")],
                              env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert KEY_HEX not in done.stderr + done.stdout
    done = subprocess.run([sys.executable, "-m", "regsosek_link.cli", "-v", "link-encoded", str(tmp_path / "siak.enc"),
                           str(tmp_path / "dtks.enc"), "--out", str(tmp_path / "out"), "--person-id-salt",
                           "env:ID_SALT", "--owner-only", "--one-record-per-person", "siak"],
                          env={**os.environ}, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    logs = done.stderr + done.stdout
    secrets = [KEY_HEX, KEY_HEX.upper(), OTHER_HEX]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "link.key"]
    assert len(files) > 8
    for p in files:
        data = p.read_bytes()
        for s in secrets:
            assert s.encode() not in data and bytes.fromhex(s) not in data, p
    for s in secrets:
        assert s not in logs
    assert KEY_HEX not in repr(load_key(f"file:{key_path}")) and KEY_HEX not in cfg2.to_json()
    # owner-only outputs: the folder 0700, every file 0600
    out = tmp_path / "out"
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o600}
    assert stat.S_IMODE((tmp_path / "siak.enc").stat().st_mode) == 0o600
    # the processing record says what was used, encoded, and where it went
    record = json.loads((out / "processing_record.json").read_text())
    assert record["form"].startswith("encoded")
    assert {s["source"] for s in record["sources"]} == {"siak", "dtks"}
    fields = {f["field"]: f for f in record["sources"][0]["fields"]}
    assert fields["nama"]["form"] == "encoded" and any(u.startswith("comparison") for u in fields["nama"]["used_for"])
    assert "salt" in record["person_ids"] and record["outputs"]["access"].startswith("owner only")
    assert "| nama | encoded" in (out / "processing_record.md").read_text()


def test_a_key_file_others_can_read_is_refused(tmp_path, capsys):
    path = tmp_path / "k"
    path.write_text(KEY_HEX)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_key(f"file:{path}")
    (tmp_path / "c.yaml").write_text("sources: [{name: a, path: a.csv, columns: {id: record_id, n: nama}}]\n")
    assert main(["encode", str(tmp_path / "c.yaml"), "--key-file", str(path), "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "chmod 600" in err and KEY_HEX not in err


@pytest.mark.parametrize(("ref", "message"), [
    ("env:NO_SUCH_VARIABLE_HERE", "is not set"),
    ("env:SHORT_KEY", "too short"),
])
def test_key_problems_are_clear(ref, message, monkeypatch):
    monkeypatch.setenv("SHORT_KEY", "abcd")
    with pytest.raises(ConfigError, match=message):
        load_key(ref)


def test_a_key_cannot_be_pickled(key):
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(key)


def test_clear_run_writes_a_clear_processing_record(syn, cfg, tmp_path):
    from regsosek_link import Linker

    small = cfg.replace(sources=tuple(s for s in cfg.sources if s.name in ("siak", "dapodik")))
    result = Linker(small).run({n: syn.sources[n] for n in ("siak", "dapodik")})
    result.write(tmp_path / "o")
    record = json.loads((tmp_path / "o" / "processing_record.json").read_text())
    assert record["form"] == "clear"
    fields = {f["field"]: f for f in record["sources"][1]["fields"]}
    assert fields["nama_ibu"]["form"] == "clear" and fields["nama_ibu"]["source_column"] == "NAMA_IBU_KANDUNG"
    assert "recomputable" in record["person_ids"]
    assert "default file permissions" in record["outputs"]["access"]


def test_salted_person_ids_are_stable_and_not_the_plain_hashes(syn, cfg, monkeypatch):
    from regsosek_link import Linker

    small = cfg.replace(sources=tuple(s for s in cfg.sources if s.name in ("siak", "dtks")))
    data = {n: syn.sources[n] for n in ("siak", "dtks")}
    plain = Linker(small).run(data).membership
    monkeypatch.setenv("SALT_A", KEY_HEX)
    monkeypatch.setenv("SALT_B", OTHER_HEX)
    a1 = Linker(small.replace(person_id_salt="env:SALT_A")).run(data).membership
    a2 = Linker(small.replace(person_id_salt="env:SALT_A")).run(
        {n: d.sample(frac=1.0, random_state=2) for n, d in data.items()}).membership
    b = Linker(small.replace(person_id_salt="env:SALT_B")).run(data).membership

    def ids(m: pd.DataFrame) -> pd.Series:
        return m.set_index(["source", "record_id"])["person_id"].sort_index()

    assert (ids(a1) == ids(a2)).all()  # stable, in any row order
    assert not set(ids(a1)) & set(ids(plain)) and not set(ids(a1)) & set(ids(b))
    # the same partition into persons
    assert ids(a1).groupby(ids(plain)).nunique().max() == 1
    assert ids(a1).nunique() == ids(plain).nunique()


def test_a_salt_written_into_the_config_is_refused():
    with pytest.raises(ConfigError, match="never the salt itself") as info:
        LinkConfig(sources=(SourceConfig(name="a", columns={"i": "record_id", "n": "nama"}),),
                   person_id_salt=KEY_HEX)
    assert KEY_HEX not in str(info.value)


def test_new_ids_against_a_previous_registry_are_salted_too():
    from regsosek_link.ids import assign_person_ids, salted_ids

    keys = pd.Series(["a|1", "a|2", "b|1"])
    labels = np.array([0, 0, 1])
    empty = pd.DataFrame({"key": pd.Series([], dtype="string"), "person_id": pd.Series([], dtype="string")})
    plain, _ = assign_person_ids(keys, labels, empty)
    salted, changes = assign_person_ids(keys, labels, empty, salt=b"s" * 32)
    assert salted.tolist() == salted_ids(plain, b"s" * 32).tolist()
    assert set(changes["person_id"]) == set(salted)
    # a person kept from the previous registry keeps its ID, salt or not
    prev = pd.DataFrame({"key": ["a|1", "a|2"], "person_id": [salted[0], salted[0]]})
    again, _ = assign_person_ids(keys, labels, prev, salt=b"s" * 32)
    assert again.tolist() == salted.tolist()
