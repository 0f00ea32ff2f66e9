"""The persistent registry: an embedded DuckDB file that the next run reads back.

Tables
------
``records``     the clean records of every person in the registry (for incremental runs)
``membership``  ``source, record_id, person_id, match_probability`` (one row per record)
``registry``    golden records (see :func:`regsosek_link.registry.golden_records`)
``households``  household id (KK number) -> member person IDs
``links``       accepted and near-threshold pairs with score and contributions
``decisions``   reviewers' decisions (match / non-match), honoured by every later run
``changes``     ``run_id, change, person_id, other_person_id, reason, n_records``
``runs``        ``run_id, kind, started_at, finished_at, n_records, n_persons``, counts of
                changes, the config and the model (JSON)

Person IDs are stable (:func:`assign_person_ids`): an unchanged person keeps its ID, a
merge keeps the ID with most records (then the oldest, then the smallest), a split keeps the
ID in the part holding most of its records, and everything else gets a new ID that was
never issued before.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd

from .block import BlockOn, SortedNeighbourhood, _KeyCache, _rule_codes, block
from .classify import FellegiSunter, term_frequency_adjustments, train_by_sessions, u_from_random_pairs
from .cluster import cluster_records, hash_id
from .compare import compare
from .config import LinkConfig
from .errors import ModelError
from .ingest import read_sources
from .model_io import model_from_dict, model_to_dict
from .registry import _argsort_strings, golden_records, households_table, links_table, membership_table
from .review import DECISION_COLUMNS, decision_pairs, read_decisions
from .standardise import standardise

if TYPE_CHECKING:
    from .pipeline import LinkResult

__all__ = ["CHANGE_COLUMNS", "RegistryStore", "assign_person_ids", "block_new"]

log = logging.getLogger(__name__)

#: Columns of the ``changes`` table.
CHANGE_COLUMNS: tuple[str, ...] = ("run_id", "change", "person_id", "other_person_id", "reason", "n_records")


# ----------------------------------------------------------------------------------------
# stable person IDs


def assign_person_ids(
    keys: pd.Series,
    labels: np.ndarray,
    previous: pd.DataFrame | None = None,
    *,
    issued: set[str] | frozenset[str] = frozenset(),
    first_seen: Mapping[str, int] | None = None,
    prefix: str = "RP",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Person ID of every record given the previous membership, and the changes made.

    Parameters
    ----------
    keys : Series of str
        Record key (``source|record_id``) of each record.
    labels : array
        Cluster label of each record (this run).
    previous : DataFrame, optional
        ``key, person_id`` of the records in the previous registry.
    issued : set of str
        Every ID ever issued; a new ID never repeats one (collisions are rehashed).
    first_seen : mapping, optional
        Previous ID -> run number it was created in (lower is older), for ties.

    Returns
    -------
    person_id : ndarray of str
    changes : DataFrame
        ``change, person_id, other_person_id, reason, n_records`` with ``change`` one of
        ``new`` (a cluster of new records only), ``merged_into`` (``person_id`` now lives on
        as ``other_person_id``), ``split_from`` (``n_records`` records of
        ``other_person_id`` now belong to ``person_id``), ``removed`` (no record left).

    Notes
    -----
    Each previous ID votes with its records; its *home* is the new cluster holding most
    of them (ties: the cluster with the smallest record key). In each cluster the IDs at
    home compete: most records wins, then the oldest, then the smallest ID. A cluster
    without an ID at home gets ``hash(smallest record key)``, as
    :func:`regsosek_link.cluster.person_ids` does.
    """
    key = pd.Series(keys, dtype="string").astype(str).to_numpy()
    labels = np.asarray(labels)
    f = pd.DataFrame({"label": labels, "key": key})
    # smallest key per cluster (sort + first: groupby().min() on strings is a Python loop)
    by_key = _argsort_strings(key.astype(object))
    order = by_key[np.argsort(labels[by_key], kind="stable")]
    first = np.r_[True, labels[order][1:] != labels[order][:-1]] if len(order) else np.zeros(0, bool)
    anchor = pd.Series(key[order][first], index=labels[order][first])
    size = f.groupby("label").size()
    prev = pd.Series(pd.NA, index=range(len(f)), dtype="string")
    if previous is not None and len(previous):
        pmap = pd.Series(previous["person_id"].astype(str).to_numpy(), index=previous["key"].astype(str).to_numpy())
        prev = pd.Series(pd.Index(pmap.index).get_indexer(key))
        prev = pd.Series(np.where(prev.to_numpy() >= 0, pmap.to_numpy()[np.maximum(prev.to_numpy(), 0)], None),
                         dtype="string")
    f["prev"] = prev.to_numpy()
    age = dict(first_seen or {})
    votes = (f[f["prev"].notna()].groupby(["prev", "label"]).size().rename("n").reset_index())
    votes["anchor"] = anchor.reindex(votes["label"]).to_numpy()
    votes["age"] = votes["prev"].map(pd.Series(age, dtype=np.int64)).fillna(0).astype(np.int64)
    votes = votes.sort_values(["prev", "n", "anchor"], ascending=[True, False, True], kind="mergesort")
    home = votes.drop_duplicates("prev").set_index("prev")["label"]
    votes["at_home"] = votes["label"].to_numpy() == home.reindex(votes["prev"]).to_numpy()
    cand = votes[votes["at_home"]].sort_values(["label", "n", "age", "prev"], ascending=[True, False, True, True],
                                               kind="mergesort")
    survivor = cand.drop_duplicates("label").set_index("label")["prev"]

    changes: list[dict[str, Any]] = []
    # merges: other IDs at home in a cluster with a survivor
    surv_n = cand.drop_duplicates("label").set_index("label")["n"]
    for row in cand[cand["prev"].to_numpy() != survivor.reindex(cand["label"]).to_numpy()].itertuples(index=False):
        s = survivor[row.label]
        ns = int(surv_n[row.label])
        if ns > row.n:
            why = f"{s} has more records ({ns} vs {row.n})"
        elif age.get(s, 0) < age.get(row.prev, 0):
            why = f"{s} is older (run {age.get(s, 0)} vs {age.get(row.prev, 0)})"
        else:
            why = f"equal records and age; {s} is the smaller ID"
        changes.append(dict(change="merged_into", person_id=row.prev, other_person_id=s,
                            reason=f"linked into one person; {why}", n_records=int(row.n)))
    # new IDs for clusters without a survivor, never repeating an issued ID
    ids = survivor.reindex(anchor.index).astype(object)
    used = set(issued) | set(survivor.tolist())
    need = ids.isna().to_numpy()
    fresh = []
    for a in anchor.to_numpy()[need].tolist():
        pid = hash_id(a, prefix=prefix)
        k = 0
        while pid in used:
            k += 1
            pid = hash_id(f"{a}#{k}", prefix=prefix)
        used.add(pid)
        fresh.append(pid)
    vals = ids.to_numpy(dtype=object)
    vals[need] = fresh
    ids = pd.Series(vals, index=anchor.index)
    # splits: records of an ID outside its home cluster
    away = votes[~votes["at_home"]]
    for row in away.itertuples(index=False):
        changes.append(dict(change="split_from", person_id=ids[row.label], other_person_id=row.prev,
                            reason=f"{row.n} record(s) of {row.prev} now belong to {ids[row.label]}",
                            n_records=int(row.n)))
    # brand-new people
    brand_new = ~anchor.index.isin(votes["label"].unique())
    new_rows = pd.DataFrame({"change": "new", "person_id": ids.to_numpy()[brand_new], "other_person_id": None,
                             "reason": "new person", "n_records": size.reindex(anchor.index).to_numpy()[brand_new]})
    # removed: previous IDs without any record now
    if previous is not None and len(previous):
        left_ids = set(votes["prev"].tolist())
        gone = previous[~previous["person_id"].astype(str).isin(left_ids)]
        for pid, n in gone.groupby(previous["person_id"].astype(str)).size().items():
            changes.append(dict(change="removed", person_id=pid, other_person_id=None,
                                reason="all its records were withdrawn", n_records=int(n)))
    out = pd.DataFrame(changes, columns=list(CHANGE_COLUMNS[1:]))
    out = new_rows if out.empty else pd.concat([new_rows.astype(object), out.astype(object)], ignore_index=True)
    if len(out):
        rank = {"new": 0, "merged_into": 1, "split_from": 2, "removed": 3}
        out = out.assign(_r=out["change"].map(rank)).sort_values(
            ["_r", "person_id", "other_person_id"], kind="mergesort").drop(columns="_r").reset_index(drop=True)
    out = out.astype({"change": "string", "person_id": "string", "other_person_id": "string", "reason": "string",
                      "n_records": "int64"})
    return ids.reindex(labels).to_numpy(dtype=object), out


# ----------------------------------------------------------------------------------------
# blocking of new records only


def block_new(
    records: pd.DataFrame,
    is_new: np.ndarray,
    rules: Any,
    *,
    link_type: str = "link_and_dedupe",
    single_record_sources: Any = (),
    max_block_size: int = 2_000,
) -> pd.DataFrame:
    """Candidate pairs with at least one new record (same contract as :func:`block`).

    For :class:`BlockOn` rules only blocks holding a new record are expanded, and only
    new x block pairs are made: cost grows with the batch, not with the registry. Block
    sizes are measured over all records, so a block skipped by a full run is skipped here.
    """
    n = len(records)
    is_new = np.asarray(is_new, bool)
    src = pd.factorize(records["source"].astype(str))[0] if "source" in records.columns else np.zeros(n, int)
    srcname = records["source"].astype(str).to_numpy() if "source" in records.columns else np.full(n, "")
    single = np.isin(srcname, list(single_record_sources))
    cache = _KeyCache(records)
    out_code, out_rule = [], []
    for i, rule in enumerate(rules):
        if isinstance(rule, BlockOn):
            rows, codes, _ = _rule_codes(records, rule.keys, cache)
            sizes = np.bincount(codes) if len(codes) else np.zeros(0, np.int64)
            keep = sizes[codes] <= max_block_size if len(codes) else np.zeros(0, bool)
            rows, codes = rows[keep], codes[keep]
            nm = is_new[rows]
            touched = np.zeros(len(sizes), bool)
            touched[codes[nm]] = True
            sel = touched[codes]
            a = pd.DataFrame({"code": codes[nm], "l": rows[nm]})
            b = pd.DataFrame({"code": codes[sel], "r": rows[sel]})
            m = a.merge(b, on="code")
            left, right = m["l"].to_numpy(np.int64), m["r"].to_numpy(np.int64)
        elif isinstance(rule, SortedNeighbourhood):
            p = block(records, [rule], max_block_size=max_block_size)
            left, right = p["left"].to_numpy(), p["right"].to_numpy()
            k = is_new[left] | is_new[right]
            left, right = left[k], right[k]
        else:
            raise TypeError(f"not a blocking rule: {rule!r}")
        lo, hi = np.minimum(left, right), np.maximum(left, right)
        ok = lo != hi
        same = src[lo] == src[hi]
        if link_type == "link_only":
            ok &= ~same
        elif link_type == "dedupe_only":
            ok &= same
        ok &= ~(same & single[lo])
        code = np.unique(lo[ok] * n + hi[ok])
        out_code.append(code)
        out_rule.append(np.full(len(code), i, np.int64))
    # union as in block(): the first rule of each pair and the bit mask of every rule
    allc = np.concatenate(out_code) if out_code else np.empty(0, np.int64)
    rid = np.concatenate(out_rule) if out_rule else np.empty(0, np.int64)
    order = np.lexsort((rid, allc))
    allc, rid = allc[order], rid[order]
    start = np.flatnonzero(np.r_[True, allc[1:] != allc[:-1]]) if len(allc) else np.zeros(0, np.int64)
    mask = (np.bitwise_or.reduceat(np.left_shift(np.int64(1), np.minimum(rid, 62)), start) if len(start)
            else np.zeros(0, np.int64))
    uniq = allc[start]
    return pd.DataFrame({"left": (uniq // n).astype(np.int64), "right": (uniq % n).astype(np.int64),
                         "rule": rid[start].astype(np.int8), "rules": mask})


# ----------------------------------------------------------------------------------------
# model (de)serialisation


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


def model_to_json(model: FellegiSunter) -> str:
    """A fitted :class:`FellegiSunter` as JSON (no pickle)."""
    return json.dumps({
        "params": {k: _jsonable(v) for k, v in model.get_params().items()},
        "m": _jsonable(model.m_), "u": _jsonable(model.u_), "lambda": float(model.lambda_),
        "n_levels": _jsonable(model.n_levels_),
        "feature_names": [str(x) for x in getattr(model, "feature_names_in_", [])],
        "n_iter": int(getattr(model, "n_iter_", 0)),
    })


def _dump_model(model: FellegiSunter, cfg: LinkConfig) -> str | None:
    """The model as :mod:`regsosek_link.model_io` JSON (the store's own format when the
    model does not score the config's comparisons, e.g. a hand-built one)."""
    if not hasattr(model, "m_"):
        return None
    try:
        return json.dumps(model_to_dict(model, comparisons=cfg.comparisons, threshold=cfg.threshold))
    except ModelError:
        return model_to_json(model)


def _load_model(text: str) -> FellegiSunter:
    d = json.loads(text)
    if "format" in d:
        return model_from_dict(d, where="the stored model").model
    return model_from_json(text)


def model_from_json(text: str) -> FellegiSunter:
    d = json.loads(text)
    m = FellegiSunter(**d["params"])
    m.m_ = [np.asarray(v, float) for v in d["m"]]
    m.u_ = [np.asarray(v, float) for v in d["u"]]
    m.lambda_ = float(d["lambda"])
    m.n_levels_ = np.asarray(d["n_levels"], np.int64)
    m.classes_ = np.array([0, 1])
    m.n_features_in_ = len(m.m_)
    if d["feature_names"]:
        m.feature_names_in_ = np.asarray(d["feature_names"], dtype=object)
    m.n_iter_ = d["n_iter"]
    return m


# ----------------------------------------------------------------------------------------
# the store


@functools.cache
def _clean_dtypes() -> dict[str, Any]:
    empty = pd.DataFrame({"source": [], "record_id": []}, dtype="string")
    return standardise(empty).dtypes.to_dict()


def _score(model: FellegiSunter, levels: pd.DataFrame, records: pd.DataFrame | None = None,
           pairs: pd.DataFrame | None = None, cfg: LinkConfig | None = None,
           ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Probability, weight and contributions of each pair, with term-frequency adjustments
    (over all ``records``) as a full run makes them."""
    if len(levels) == 0:
        return np.zeros(0), np.zeros(0), pd.DataFrame(index=levels.index, columns=list(levels.columns), dtype=float)
    contrib = model.contributions(levels)
    if records is not None and pairs is not None and cfg is not None:
        tf = term_frequency_adjustments(records, pairs, levels, cfg.comparisons, model)
        if tf.shape[1]:
            contrib = pd.concat([contrib, tf], axis=1)
    weight = contrib.to_numpy().sum(axis=1) + model.prior_weight_
    prob = 1.0 / (1.0 + np.exp2(-np.clip(weight, -1000, 1000)))
    return prob, weight, contrib


def _priorities(cfg: LinkConfig) -> dict[str, dict[str, int]]:
    out = {}
    for s in cfg.sources:
        d = {"*": s.priority}
        d.update(s.field_priority)
        out[s.name] = d
    return out


def _train(records: pd.DataFrame, old: pd.DataFrame, pairs: pd.DataFrame, levels: pd.DataFrame,
           cfg: LinkConfig) -> FellegiSunter:
    """Train on an update's pairs the way a full run trains (``u`` from random pairs, ``m``
    by EM sessions per blocking rule, the prior over every pair that has a new record)."""
    from .pipeline import _blocked_comparisons, _n_all_pairs

    u = u_from_random_pairs(records, cfg.comparisons, max_pairs=cfg.u_max_pairs, random_state=cfg.random_state)
    n_all = _n_all_pairs(records, cfg) - _n_all_pairs(old, cfg)
    return train_by_sessions(levels, pairs["rules"].to_numpy(), blocked=_blocked_comparisons(cfg), u=u,
                             n_all_pairs=max(n_all, 1), threshold=cfg.threshold)


def _golden_options(cfg: LinkConfig) -> dict[str, Any]:
    return {"priorities": _priorities(cfg), "as_of": {s.name: s.as_of for s in cfg.sources if s.as_of},
            "single_record_sources": [s.name for s in cfg.sources if s.one_record_per_person]}


def _survivorship_of(sources: Any) -> list[tuple[Any, ...]]:
    return sorted((s.name, s.priority, sorted(s.field_priority.items()), s.one_record_per_person, s.as_of)
                  for s in sources)


def _keys(frame: pd.DataFrame, s: str = "source", r: str = "record_id") -> pd.Series:
    return frame[s].astype(str) + "|" + frame[r].astype(str)


class RegistryStore:
    """A registry kept in a DuckDB file across runs.

    Parameters
    ----------
    path : str or Path
        The database file (created on first save).

    Examples
    --------
    Full run, then an incremental batch, then a withdrawal::

        store = RegistryStore("registry.duckdb")
        result = store.save(Linker(config).run(data))          # or Linker.run(data, store=...)
        result = store.update(config, {"dtks": new_rows})        # or Linker.update(...)
        result = store.withdraw(config, source="dtks", record_ids=["17", "18"])
        store.changes()
    """

    TABLES = ("records", "membership", "registry", "households", "links", "decisions", "changes", "runs")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # -- reading ---------------------------------------------------------------------------

    def _read(self, name: str, where: str = "") -> pd.DataFrame:
        if name not in self.TABLES:
            raise ValueError(f"unknown table {name!r}; tables: {', '.join(self.TABLES)}")
        if not self.path.exists():
            return pd.DataFrame()
        with duckdb.connect(str(self.path), read_only=True) as con:
            have = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
            if name not in have:
                return pd.DataFrame()
            return con.execute(f"select * from {name} {where}").df()

    def table(self, name: str) -> pd.DataFrame:
        """A table of the store as a DataFrame (empty when absent)."""
        return self._read(name)

    def membership(self) -> pd.DataFrame:
        return self._read("membership", "order by source, record_id")

    def registry(self) -> pd.DataFrame:
        return self._read("registry", "order by person_id")

    def households(self) -> pd.DataFrame:
        return self._read("households")

    def links(self) -> pd.DataFrame:
        return self._read("links")

    def changes(self, run_id: int | None = None) -> pd.DataFrame:
        """The change log (of one run when ``run_id`` is given)."""
        where = f"where run_id = {int(run_id)} " if run_id is not None else ""
        return self._read("changes", where + "order by run_id, seq")

    def runs(self) -> pd.DataFrame:
        return self._read("runs", "order by run_id")

    def decisions(self) -> pd.DataFrame:
        d = self._read("decisions")
        return d[list(DECISION_COLUMNS)] if len(d) else pd.DataFrame(columns=list(DECISION_COLUMNS))

    def records(self) -> pd.DataFrame:
        """The stored clean records, with the dtypes :func:`standardise` gives."""
        rec = self._read("records", "order by _pos")
        if rec.empty:
            return rec
        rec = rec.drop(columns="_pos")
        dtypes = _clean_dtypes()
        return rec.astype({c: dtypes.get(c, "string") for c in rec.columns})

    def model(self) -> FellegiSunter | None:
        """The model of the latest run that trained one."""
        runs = self._read("runs", "where model is not null order by run_id desc limit 1")
        if runs.empty:
            return None
        return _load_model(runs["model"].iloc[0])

    # -- decisions -------------------------------------------------------------------------

    def add_decisions(self, decisions: pd.DataFrame | str | Path) -> int:
        """Store reviewers' decisions (a later decision on a pair replaces an earlier one).

        They are honoured by every later :meth:`update`/:meth:`withdraw` and by
        ``Linker.run(..., store=...)``. Returns the number of decisions stored.
        """
        d = read_decisions(decisions)
        old = self.decisions()
        both = d.copy() if old.empty else pd.concat([old.astype("string"), d.astype("string")], ignore_index=True)
        a, b = _keys(both, "source_l", "record_id_l"), _keys(both, "source_r", "record_id_r")
        both["_pair"] = np.where(a < b, a + "~" + b, b + "~" + a)
        both = both.drop_duplicates("_pair", keep="last").drop(columns="_pair").reset_index(drop=True)
        with duckdb.connect(str(self.path)) as con:
            con.register("d", both.astype("string"))
            con.execute("create or replace table decisions as select * from d")
        return len(d)

    # -- writing ---------------------------------------------------------------------------

    def save(self, result: LinkResult, *, kind: str = "full") -> LinkResult:
        """Persist a full run, giving its persons stable IDs against the stored registry.

        Returns ``result`` with membership, registry and households re-keyed to the stable
        IDs. Every record not in ``result`` leaves the registry (logged as ``removed`` when
        a person loses all records).
        """
        labels = pd.factorize(result.membership["person_id"].astype(str))[0]
        return self._finish(result, labels=labels, weakest=result.membership["match_probability"].to_numpy(),
                            links=result.links, kind=kind, t0=time.perf_counter())

    def _finish(self, result: LinkResult, *, labels: np.ndarray, weakest: np.ndarray, links: pd.DataFrame,
                kind: str, t0: float, n_kept_records: int = 0, new_links: pd.DataFrame | None = None) -> LinkResult:
        import dataclasses

        cfg, records = result.config, result.records.reset_index(drop=True)
        started = datetime.now(timezone.utc)
        prev = self.membership()
        runs = self.runs()
        run_id = int(runs["run_id"].max()) + 1 if len(runs) else 1
        issued: set[str] = set()
        first_seen: dict[str, int] = {}
        previous = None
        if len(prev):
            previous = pd.DataFrame({"key": _keys(prev), "person_id": prev["person_id"].astype(str)})
            ch = self._read("changes")
            issued = set(ch["person_id"].astype(str))
            born = ch[ch["change"].isin(["new", "split_from"])].groupby("person_id")["run_id"].min()
            first_seen = {str(k): int(v) for k, v in born.items()}
        keys = _keys(records)
        pid, changes = assign_person_ids(keys, labels, previous, issued=issued, first_seen=first_seen)
        membership = membership_table(records, pid, weakest)
        reg = None
        if kind == "update" and previous is not None and self._same_survivorship(cfg, runs):
            reg = self._golden_incremental(records, keys, pid, previous, cfg)
        if reg is None:
            reg = golden_records(records, pid, **_golden_options(cfg))
        hh = households_table(reg, records, pid)
        changes.insert(0, "run_id", run_id)
        changes.insert(len(changes.columns), "seq", np.arange(len(changes), dtype=np.int64))
        counts = changes["change"].value_counts()
        run = pd.DataFrame([{
            "run_id": run_id, "kind": kind, "started_at": started.isoformat(),
            "finished_at": datetime.now(timezone.utc).isoformat(), "n_records": len(records), "n_persons": len(reg),
            "n_new": int(counts.get("new", 0)), "n_merged": int(counts.get("merged_into", 0)),
            "n_split": int(counts.get("split_from", 0)), "n_removed": int(counts.get("removed", 0)),
            "config": cfg.to_json(), "model": _dump_model(result.model, cfg),
            "seconds": time.perf_counter() - t0,
        }])
        # an update appends its new records (rows n_kept_records..) to the stored ones
        stored = records.iloc[n_kept_records:].copy()
        stored.insert(0, "_pos", np.arange(n_kept_records, len(records), dtype=np.int64))
        with duckdb.connect(str(self.path)) as con:
            con.execute("begin transaction")
            if n_kept_records:
                con.register("frame", stored)
                con.execute("insert into records by name select * from frame")
                con.unregister("frame")
            for name, frame in (("records", stored), ("membership", membership), ("registry", reg),
                                ("households", hh), ("links", links)):
                if name == "records" and n_kept_records:
                    continue
                if name == "links" and new_links is not None:  # an update appends its new links
                    con.register("frame", new_links)
                    con.execute("insert into links by name select * from frame")
                    con.unregister("frame")
                    continue
                con.register("frame", frame)
                con.execute(f"create or replace table {name} as select * from frame")
                con.unregister("frame")
            for name, frame in (("changes", changes), ("runs", run)):
                con.register("frame", frame)
                have = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
                if name in have:
                    con.execute(f"insert into {name} by name select * from frame")
                else:
                    con.execute(f"create table {name} as select * from frame")
                con.unregister("frame")
            con.execute("commit")
        log.info("run %d (%s): %d records, %d persons; %s", run_id, kind, len(records), len(reg),
                 dict(counts))
        return dataclasses.replace(result, records=records, membership=membership, registry=reg,
                                   households=hh, links=links)

    def _same_survivorship(self, cfg: LinkConfig, runs: pd.DataFrame) -> bool:
        """Whether the stored golden records were chosen with ``cfg``'s survivorship settings."""
        if runs.empty:
            return False
        try:
            stored = LinkConfig.from_dict(json.loads(runs["config"].iloc[-1]))
        except Exception:  # an older or foreign config: rebuild everything
            return False
        return _survivorship_of(stored.sources) == _survivorship_of(cfg.sources)

    def _golden_incremental(self, records: pd.DataFrame, keys: pd.Series, pid: np.ndarray,
                            previous: pd.DataFrame, cfg: LinkConfig) -> pd.DataFrame | None:
        """Golden records rebuilt only for persons whose records changed; the stored rows of
        every other person are kept as they are."""
        pid = np.asarray(pid, dtype=object).astype(str)
        at = pd.Index(previous["key"].to_numpy()).get_indexer(keys.to_numpy())
        prev_pid = np.where(at >= 0, previous["person_id"].to_numpy(dtype=object)[np.maximum(at, 0)], None)
        codes, persons = pd.factorize(pid)
        n_now = np.bincount(codes, minlength=len(persons))
        n_same = np.bincount(codes, weights=(prev_pid == pid).astype(float), minlength=len(persons))
        n_before = previous["person_id"].value_counts().reindex(persons).fillna(0).to_numpy()
        unchanged = (n_same == n_now) & (n_before == n_now)
        rows = np.flatnonzero(~unchanged[codes])
        opts = _golden_options(cfg)
        fresh = golden_records(records.iloc[rows], pid[rows], **opts)
        stored = self._read("registry")
        if stored.empty or list(stored.columns) != list(fresh.columns):
            return None
        kept = stored[stored["person_id"].isin(persons[unchanged])]
        if len(kept) != int(unchanged.sum()):
            return None
        reg = pd.concat([fresh, kept.astype(fresh.dtypes.to_dict())], ignore_index=True)
        log.info("golden records: %d rebuilt, %d kept", len(fresh), len(kept))
        return reg.sort_values("person_id", kind="mergesort").reset_index(drop=True)

    # -- incremental -----------------------------------------------------------------------

    def update(
        self,
        config: LinkConfig,
        data: Mapping[str, pd.DataFrame] | None = None,
        *,
        model: FellegiSunter | None = None,
        retrain: bool = False,
        decisions: pd.DataFrame | None = None,
        constrained: bool = True,
    ) -> LinkResult:
        """Link a new batch against the stored registry and persist the result.

        Only pairs with at least one new record are made (:func:`block_new`), compared
        and scored, with ``model``, else the stored model (``retrain=True``: trained on the
        new pairs as a full run trains, see :func:`regsosek_link.classify.train_by_sessions`).
        Only the records the new pairs touch are compared. Golden records are rebuilt only for
        persons whose records changed (all of them when the sources' survivorship settings
        changed since the last run). The stored accepted links among old records are reused, and everything is
        re-clustered with the constraints and all stored reviewers' decisions.

        ``data`` maps source names of ``config`` to the batch's rows (sources not in
        ``data`` are read from their configured ``path``, if any). A record whose
        ``source``/``record_id`` is already stored is an error: withdraw it first.
        """
        from .pipeline import LinkResult

        t0 = time.perf_counter()
        timings: dict[str, float] = {}

        def tick(name: str, since: float) -> float:
            now = time.perf_counter()
            timings[name] = now - since
            return now

        old = self.records()
        if old.empty:
            raise ValueError(f"the store {str(self.path)!r} holds no registry yet; run a full run with "
                             "Linker(config).run(data, store=...) first")
        t = time.perf_counter()
        names = set(data or {}) | {s.name for s in config.sources if s.path and not data}
        batch_cfg = config.replace(sources=tuple(s for s in config.sources if s.name in names))
        raw = read_sources(batch_cfg, data)
        t = tick("ingest", t)
        new = standardise(raw, profile=config.profile)
        t = tick("standardise", t)
        clash = set(_keys(new)) & set(_keys(old))
        if clash:
            raise ValueError(f"{len(clash)} record(s) of the batch are already in the registry, e.g. "
                             f"{sorted(clash)[:5]}; withdraw them first or give them new record ids")
        records = pd.concat([old, new], ignore_index=True)
        dtypes = _clean_dtypes()
        records = records.astype({c: dtypes.get(c, "string") for c in records.columns})
        is_new = np.zeros(len(records), bool)
        is_new[len(old):] = True
        single = [s.name for s in config.sources if s.one_record_per_person]
        pairs = block_new(records, is_new, config.blocking_rules, link_type=config.link_type,
                          single_record_sources=single, max_block_size=config.max_block_size)
        t = tick("block", t)
        # compare only the records the pairs touch (comparisons are per pair: same levels)
        involved = np.unique(np.r_[pairs["left"].to_numpy(), pairs["right"].to_numpy()])
        local = pd.DataFrame({"left": np.searchsorted(involved, pairs["left"].to_numpy()),
                              "right": np.searchsorted(involved, pairs["right"].to_numpy())}, index=pairs.index)
        levels = compare(records.iloc[involved].reset_index(drop=True), local, config.comparisons,
                         chunk_size=config.chunk_size)
        t = tick("compare", t)
        if model is None and not retrain:
            model = self.model()
        if model is None or (retrain and len(levels)):
            model = _train(records, old, pairs, levels, config)
        prob, weight, contrib = _score(model, levels, records, pairs, config)
        t = tick("classify", t)
        stored_links = self.links()
        pos = pd.Series(np.arange(len(records)), index=_keys(records).to_numpy())
        acc = stored_links[stored_links["accepted"].astype(bool)] if len(stored_links) else stored_links
        ol = pos.reindex(_keys(acc, "source_l", "record_id_l").to_numpy()).to_numpy() if len(acc) else np.zeros(0)
        orr = pos.reindex(_keys(acc, "source_r", "record_id_r").to_numpy()).to_numpy() if len(acc) else np.zeros(0)
        ok = ~(np.isnan(ol.astype(float)) | np.isnan(orr.astype(float)))
        left = np.concatenate([ol[ok].astype(np.int64), pairs["left"].to_numpy()])
        right = np.concatenate([orr[ok].astype(np.int64), pairs["right"].to_numpy()])
        p_all = np.concatenate([acc["match_probability"].to_numpy(float)[ok] if len(acc) else np.zeros(0), prob])
        if decisions is None:
            decisions = self.decisions()
        must, cannot = decision_pairs(records, decisions)
        labels, weakest = cluster_records(records, left, right, p_all, threshold=config.threshold,
                                          single_record_sources=single, must_link=must, cannot_link=cannot,
                                          constrained=constrained)
        t = tick("cluster", t)
        new_links = links_table(records, pairs, levels, contrib, prob, weight, threshold=config.threshold,
                                review_low=config.review_band[0])
        links = pd.concat([stored_links, new_links], ignore_index=True) if len(stored_links) else new_links
        links = links.sort_values("match_probability", ascending=False, kind="mergesort").reset_index(drop=True)
        result = LinkResult(config=config, raw=raw, records=records, pairs=pairs, levels=levels, model=model,
                            probability=prob, weight=weight, membership=pd.DataFrame(), registry=pd.DataFrame(),
                            households=pd.DataFrame(), links=links, timings=timings)
        out = self._finish(result, labels=labels, weakest=weakest, links=links, kind="update", t0=t0,
                           n_kept_records=len(old), new_links=new_links if len(stored_links) else None)
        tick("registry", t)
        return out

    def withdraw(self, config: LinkConfig, *, source: str, record_ids: Any = None,
                 constrained: bool = True) -> LinkResult:
        """Remove a source's records (all, or ``record_ids``) and re-cluster the rest.

        Links touching the withdrawn records are dropped; persons left without records are
        logged ``removed``; persons that fall apart (a withdrawn record was their bridge)
        are logged ``split_from``.
        """
        from .pipeline import LinkResult

        t0 = time.perf_counter()
        old = self.records()
        if old.empty:
            raise ValueError(f"the store {str(self.path)!r} holds no registry")
        drop = old["source"].astype(str) == source
        if record_ids is not None:
            drop &= old["record_id"].astype(str).isin([str(r) for r in record_ids])
        if not drop.any():
            raise ValueError(f"no stored record of source {source!r}"
                             + (f" with record_id in {list(record_ids)[:5]}" if record_ids is not None else ""))
        records = old[~drop.to_numpy()].reset_index(drop=True)
        gone = set(_keys(old[drop.to_numpy()]))
        links = self.links()
        if len(links):
            touch = _keys(links, "source_l", "record_id_l").isin(gone) | _keys(links, "source_r", "record_id_r").isin(gone)
            links = links[~touch.to_numpy()].reset_index(drop=True)
        pos = pd.Series(np.arange(len(records)), index=_keys(records).to_numpy())
        acc = links[links["accepted"].astype(bool)] if len(links) else links
        left = pos.reindex(_keys(acc, "source_l", "record_id_l").to_numpy()).to_numpy(np.int64) if len(acc) else np.zeros(0, np.int64)
        right = pos.reindex(_keys(acc, "source_r", "record_id_r").to_numpy()).to_numpy(np.int64) if len(acc) else np.zeros(0, np.int64)
        p = acc["match_probability"].to_numpy(float) if len(acc) else np.zeros(0)
        must, cannot = decision_pairs(records, self.decisions())
        single = [s.name for s in config.sources if s.one_record_per_person]
        labels, weakest = cluster_records(records, left, right, p, threshold=config.threshold,
                                          single_record_sources=single, must_link=must, cannot_link=cannot,
                                          constrained=constrained)
        model = self.model() or FellegiSunter(threshold=config.threshold)
        empty = pd.DataFrame({"left": np.zeros(0, np.int64), "right": np.zeros(0, np.int64)})
        result = LinkResult(config=config, raw=pd.DataFrame(), records=records, pairs=empty,
                            levels=pd.DataFrame(), model=model, probability=np.zeros(0), weight=np.zeros(0),
                            membership=pd.DataFrame(), registry=pd.DataFrame(), households=pd.DataFrame(),
                            links=links, timings={})
        return self._finish(result, labels=labels, weakest=weakest, links=links, kind="withdraw", t0=t0)
