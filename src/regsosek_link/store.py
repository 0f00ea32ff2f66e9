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

Two internal tables serve updates: ``block_keys`` (``rule, key, pos``: a 64-bit hash of each
record's key per blocking rule) and ``block_rules`` (the rules they were computed for).

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

from ._arrays import unique_int
from .block import BlockOn, SortedNeighbourhood, _KeyCache, _rule_codes, block, union_of_rules
from .classify import FellegiSunter, term_frequency_adjustments
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
    out_code: list[np.ndarray] = []
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
        out_code.append(unique_int(lo[ok] * n + hi[ok]))
    # union as in block(): the first rule of each pair and the bit mask of every rule
    return union_of_rules(out_code, n)


# ----------------------------------------------------------------------------------------
# stored blocking keys (an update blocks its batch against them without re-keying old records)

_MIX = np.uint64(0x100000001B3)


def _rules_fingerprint(rules: Any, max_block_size: int) -> str:
    return json.dumps([[type(r).__name__, list(getattr(r, "keys", ()) or [getattr(r, "key", "")])]
                       for r in rules] + [max_block_size])


def _block_key_hashes(records: pd.DataFrame, rules: Any) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Per :class:`BlockOn` rule: (rule index, row positions, 64-bit hash of the block key).

    Rows repeat once per distinct token for a ``tokens(...)`` key, as in :func:`block`;
    rows with a missing key are left out. The hash is of the key's values (not of codes
    local to ``records``), so keys computed for a batch match the stored ones.
    """
    cache = _KeyCache(records)
    out = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, BlockOn):
            continue
        parts = [cache.key(k) for k in rule.keys]
        tok_rows = next((r for r, _, _ in parts if r is not None), None)
        rows = tok_rows if tok_rows is not None else np.arange(len(records), dtype=np.int64)
        cols = [c if r is not None else c[rows] for r, c, _ in parts]
        ok = np.logical_and.reduce([c >= 0 for c in cols]) if cols else np.zeros(len(rows), bool)
        h = np.full(int(ok.sum()), np.uint64(i + 1), np.uint64)
        for c, (_, _, lab) in zip(cols, parts):
            lh = pd.util.hash_array(np.asarray(lab, dtype=object)) if len(lab) else np.zeros(0, np.uint64)
            with np.errstate(over="ignore"):
                h = (h * _MIX) ^ lh[c[ok]]
        out.append((i, rows[ok].astype(np.int64), h.view(np.int64)))
    return out


def _block_keys_frame(records: pd.DataFrame, rules: Any, offset: int = 0) -> pd.DataFrame:
    parts = _block_key_hashes(records, rules)
    if not parts:
        return pd.DataFrame({"rule": np.zeros(0, np.int16), "key": np.zeros(0, np.int64),
                             "pos": np.zeros(0, np.int64)})
    return pd.DataFrame({"rule": np.concatenate([np.full(len(r), i, np.int16) for i, r, _ in parts]),
                         "key": np.concatenate([h for _, _, h in parts]),
                         "pos": np.concatenate([r for _, r, _ in parts]) + offset})


def _write_block_keys(con: Any, records: pd.DataFrame, cfg: LinkConfig, *, offset: int = 0,
                      append: bool = False) -> None:
    """Store the blocking keys of ``records`` (positions from ``offset``) and the rules they are of."""
    frame = _block_keys_frame(records, cfg.blocking_rules, offset)
    con.register("bk_frame", frame)
    if append:
        con.execute("insert into block_keys select * from bk_frame")
    else:
        con.execute("create or replace table block_keys as select * from bk_frame")
        con.execute("create or replace table block_rules as select ? as rules",
                    [_rules_fingerprint(cfg.blocking_rules, cfg.max_block_size)])
    con.unregister("bk_frame")


def _block_against_stored(con: Any, new: pd.DataFrame, n_old: int, cfg: LinkConfig) -> pd.DataFrame:
    """:func:`block_new` on (stored records + ``new``) from the stored keys: keys are computed
    for the new records only and joined in DuckDB with the stored keys of the blocks they
    touch. Same pairs, rules and masks as :func:`block_new`."""
    nk = _block_keys_frame(new, cfg.blocking_rules, n_old)
    con.register("bk_new", nk)
    old = con.execute("select b.rule, b.key, b.pos from block_keys b semi join "
                      "(select distinct rule, key from bk_new) t on b.rule = t.rule and b.key = t.key").df()
    con.unregister("bk_new")
    n = n_old + len(new)
    rules_l, rules_r, rules_i = [], [], []
    for i, rule in enumerate(cfg.blocking_rules):
        a = nk[nk["rule"].to_numpy() == i]
        b = old[old["rule"].to_numpy() == i]
        allk = np.concatenate([a["key"].to_numpy(np.int64), b["key"].to_numpy(np.int64)])
        allp = np.concatenate([a["pos"].to_numpy(np.int64), b["pos"].to_numpy(np.int64)])
        codes, uniq = pd.factorize(allk)
        sizes = np.bincount(codes, minlength=len(uniq))
        keep = sizes[codes] <= cfg.max_block_size
        na = len(a)
        left = pd.DataFrame({"code": codes[:na][keep[:na]], "l": allp[:na][keep[:na]]})
        right = pd.DataFrame({"code": codes[keep], "r": allp[keep]})
        m = left.merge(right, on="code")
        rules_l.append(m["l"].to_numpy(np.int64))
        rules_r.append(m["r"].to_numpy(np.int64))
        rules_i.append(i)
    # sources of every row in a pair (the link type and one-record-per-person filters)
    inv = unique_int(np.concatenate(rules_l + rules_r)) if rules_l else np.zeros(0, np.int64)
    inv_old = inv[inv < n_old]
    con.register("bk_pos", pd.DataFrame({"pos": inv_old}))
    so = con.execute("select r._pos, r.source from records r semi join bk_pos p on r._pos = p.pos").df()
    con.unregister("bk_pos")
    src_names = np.empty(len(inv), dtype=object)
    at = np.searchsorted(inv, so["_pos"].to_numpy(np.int64))
    src_names[at] = so["source"].astype(str).to_numpy(dtype=object)
    newpos = inv >= n_old
    src_names[newpos] = new["source"].astype(str).to_numpy(dtype=object)[inv[newpos] - n_old]
    src, snames = pd.factorize(src_names)
    single_names = {s.name for s in cfg.sources if s.one_record_per_person}
    single_code = np.isin(np.arange(len(snames)), [j for j, s in enumerate(snames) if s in single_names])
    out_code: list[np.ndarray] = []
    for i, left, right in zip(rules_i, rules_l, rules_r):
        lo, hi = np.minimum(left, right), np.maximum(left, right)
        ok = lo != hi
        sl, sh = src[np.searchsorted(inv, lo)], src[np.searchsorted(inv, hi)]
        same = sl == sh
        if cfg.link_type == "link_only":
            ok &= ~same
        elif cfg.link_type == "dedupe_only":
            ok &= same
        ok &= ~(same & single_code[sl])
        out_code.append(unique_int(lo[ok] * n + hi[ok]))
    return union_of_rules(out_code, n)


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


def _train(records: pd.DataFrame, old: pd.DataFrame, pairs: pd.DataFrame, levels: pd.DataFrame,
           cfg: LinkConfig) -> FellegiSunter:
    """Train on an update's pairs the way a full run trains, the prior over every pair that
    has a new record."""
    from .pipeline import _n_all_pairs, train_model

    return train_model(records, pairs, levels, cfg, n_all_pairs=_n_all_pairs(records, cfg) - _n_all_pairs(old, cfg))


def _survivorship_of(sources: Any) -> list[tuple[Any, ...]]:
    return sorted((s.name, s.priority, sorted(s.field_priority.items()), s.one_record_per_person, s.as_of)
                  for s in sources)


def _one(cursor: Any) -> Any:
    """The first row of a DuckDB result (None when empty), fetching it completely."""
    rows = cursor.fetchall()
    return rows[0] if rows else None


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
            reg = golden_records(records, pid, **cfg.golden_options())
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
            # blocking keys of every record, for the next update (an update appending to
            # keys of its rules gets here only when the stored keys are missing or stale)
            _write_block_keys(con, records, cfg)
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
        opts = cfg.golden_options()
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

        When the store holds blocking keys of ``config``'s rules (all :class:`BlockOn`), no
        ``retrain`` and unchanged survivorship settings of the stored sources, the update is
        incremental end to end: the batch is blocked against the stored keys, only the
        touched rows and comparison columns are read, only the persons of old records with
        a new accepted link or a decision (closed over stored links between persons) are
        re-clustered with the batch, and only their rows are replaced. The result then
        reads its records, membership, registry, households and links from the store when
        first used.

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

        n_stored = 0
        if self.path.exists():
            with duckdb.connect(str(self.path), read_only=True) as con:
                if _one(con.execute("select count(*) from information_schema.tables "
                               "where table_name = 'records'"))[0]:
                    n_stored = int(_one(con.execute("select count(*) from records"))[0])
        if not n_stored:
            raise ValueError(f"the store {str(self.path)!r} holds no registry yet; run a full run with "
                             "Linker(config).run(data, store=...) first")
        t = time.perf_counter()
        names = set(data or {}) | {s.name for s in config.sources if s.path and not data}
        batch_cfg = config.replace(sources=tuple(s for s in config.sources if s.name in names))
        raw = read_sources(batch_cfg, data)
        t = tick("ingest", t)
        new = standardise(raw, profile=config.profile)
        t = tick("standardise", t)
        with duckdb.connect(str(self.path)) as con:
            con.register("u_keys", pd.DataFrame({"k": pd.array(_keys(new).unique(), dtype="string")}))
            clash = con.execute("select source || '|' || record_id as k from records "
                                "where (source || '|' || record_id) in (select k from u_keys) order by k").df()["k"]
            con.unregister("u_keys")
            if len(clash):
                raise ValueError(f"{len(clash)} record(s) of the batch are already in the registry, e.g. "
                                 f"{clash.astype(str).tolist()[:5]}; withdraw them first or give them new record ids")
            if self._fast_update_ok(con, config, retrain):
                t = tick("read", t)
                return self._update_fast(con, config, new, raw, model=model, decisions=decisions,
                                         constrained=constrained, timings=timings, t0=t0, t=t)
        old = self.records()
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
        involved = unique_int(np.r_[pairs["left"].to_numpy(), pairs["right"].to_numpy()])
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

    # -- incremental, on the stored tables ---------------------------------------------------

    def _fast_update_ok(self, con: Any, config: LinkConfig, retrain: bool) -> bool:
        """Whether the stored blocking keys and golden records serve ``config`` as they are."""
        if retrain or not all(isinstance(r, BlockOn) for r in config.blocking_rules):
            return False
        have = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
        if not {"block_keys", "block_rules", "records", "membership", "registry", "runs", "changes"} <= have:
            return False
        fp = _one(con.execute("select rules from block_rules"))
        if fp is None or fp[0] != _rules_fingerprint(config.blocking_rules, config.max_block_size):
            return False
        runs = _one(con.execute("select config from runs order by run_id desc limit 1"))
        try:
            stored = LinkConfig.from_dict(json.loads(runs[0]))
        except Exception:  # an older or foreign config: the full update rebuilds everything
            return False
        # sources new to the config hold only new records: their settings touch only the
        # re-clustered persons; every stored source must keep its survivorship settings
        names = {s.name for s in stored.sources}
        return _survivorship_of(stored.sources) == _survivorship_of(
            [s for s in config.sources if s.name in names]) and names <= {s.name for s in config.sources}

    def _update_fast(self, con: Any, config: LinkConfig, new: pd.DataFrame, raw: pd.DataFrame, *,
                     model: FellegiSunter | None, decisions: pd.DataFrame | None, constrained: bool,
                     timings: dict[str, float], t0: float, t: float) -> LinkResult:
        """An update that reads only the stored rows it needs and rewrites only changed rows.

        Blocking joins the batch's keys with the stored ones; comparison reads the comparison
        columns of the old records the pairs touch; the persons re-clustered are those of old
        records with a new accepted link or a reviewer's decision (closed over the stored
        accepted links between persons), with all their records and stored links, plus the
        batch; only their membership, golden and household rows are replaced.
        """

        def tick(name: str, since: float) -> float:
            now = time.perf_counter()
            timings[name] = timings.get(name, 0.0) + now - since
            return now

        started = datetime.now(timezone.utc)
        dtypes = _clean_dtypes()
        n_old = int(_one(con.execute("select count(*) from records"))[0])
        n = n_old + len(new)
        new = new.reset_index(drop=True)
        new = new.astype({c: dtypes.get(c, "string") for c in new.columns})
        pairs = _block_against_stored(con, new, n_old, config)
        t = tick("block", t)
        # compare: the comparison columns of the records the pairs touch
        involved = unique_int(np.r_[pairs["left"].to_numpy(), pairs["right"].to_numpy()])
        cols = ["source", "record_id"]
        for c in config.comparisons:
            for col in list(c.columns) + list(getattr(c, "ignore_when_equal", ())):
                if col not in cols and col in new.columns:
                    cols.append(col)
        part = self._rows(con, involved[involved < n_old], cols)
        local_recs = pd.concat([part, new.loc[involved[involved >= n_old] - n_old, cols]], ignore_index=True)
        local_recs = local_recs.astype({c: dtypes.get(c, "string") for c in cols})
        local = pd.DataFrame({"left": np.searchsorted(involved, pairs["left"].to_numpy()),
                              "right": np.searchsorted(involved, pairs["right"].to_numpy())}, index=pairs.index)
        levels = compare(local_recs, local, config.comparisons, chunk_size=config.chunk_size)
        t = tick("compare", t)
        if model is None:
            row = _one(con.execute("select model from runs where model is not null order by run_id desc limit 1"))
            if row is None:
                raise ValueError("no model given and none stored; pass model= or retrain=True")
            model = _load_model(row[0])
        prob, weight, contrib = _score(model, levels)
        tf = self._tf_adjustments(con, local_recs, local, levels, config, model, new, n)
        if tf.shape[1]:
            contrib = pd.concat([contrib, tf], axis=1)
            weight = contrib.to_numpy().sum(axis=1) + model.prior_weight_
            prob = 1.0 / (1.0 + np.exp2(-np.clip(weight, -1000, 1000)))
        new_links = links_table(local_recs, local, levels, contrib, prob, weight, threshold=config.threshold,
                                review_low=config.review_band[0])
        t = tick("classify", t)

        # the affected persons: of old records with a new accepted link or a decision
        acc = prob >= config.threshold
        seeds = unique_int(np.r_[pairs["left"].to_numpy()[acc], pairs["right"].to_numpy()[acc]])
        seeds = seeds[seeds < n_old]
        if decisions is None:
            decisions = pd.DataFrame(columns=list(DECISION_COLUMNS))
            if _one(con.execute("select count(*) from information_schema.tables where table_name = 'decisions'"))[0]:
                decisions = con.execute("select * from decisions").df()[list(DECISION_COLUMNS)]
        dec_keys = (pd.concat([_keys(decisions, "source_l", "record_id_l"), _keys(decisions, "source_r", "record_id_r")])
                    if len(decisions) else pd.Series([], dtype=str))
        con.register("u_seed", pd.DataFrame({"pos": seeds.astype(np.int64)}))
        persons = set(con.execute(
            "select distinct m.person_id from membership m join records r "
            "on m.source = r.source and m.record_id = r.record_id "
            "where r._pos in (select pos from u_seed)").df()["person_id"].astype(str))
        con.unregister("u_seed")
        if len(dec_keys):
            con.register("u_deck", pd.DataFrame({"k": pd.array(dec_keys.astype(str).unique(), dtype="string")}))
            persons |= set(con.execute("select distinct person_id from membership where (source || '|' || record_id) "
                                       "in (select k from u_deck)").df()["person_id"].astype(str))
            con.unregister("u_deck")
        # closed over stored accepted links between different persons (cut by a constraint)
        if persons:
            cut = con.execute(
                "select m1.person_id a, m2.person_id b from links l "
                "join membership m1 on l.source_l = m1.source and l.record_id_l = m1.record_id "
                "join membership m2 on l.source_r = m2.source and l.record_id_r = m2.record_id "
                "where l.accepted and m1.person_id <> m2.person_id").df()
            if len(cut):
                a, b = cut["a"].astype(str).to_numpy(), cut["b"].astype(str).to_numpy()
                while True:
                    inside = pd.Index(list(persons))
                    grow = set(b[inside.get_indexer(a) >= 0]) | set(a[inside.get_indexer(b) >= 0])
                    if grow <= persons:
                        break
                    persons |= grow
        con.register("u_p", pd.DataFrame({"person_id": pd.array(sorted(persons), dtype="string")}))
        con.execute("create or replace temp table u_aff as select r.*, m.person_id as _prev from records r "
                    "join membership m on m.source = r.source and m.record_id = r.record_id "
                    "where m.person_id in (select person_id from u_p)")
        con.unregister("u_p")
        aff = con.execute("select * from u_aff order by _pos").df()
        prev_pid = aff.pop("_prev").astype(str).to_numpy()
        aff_pos = aff.pop("_pos").to_numpy(np.int64)
        stored_acc = con.execute(
            "select l.source_l, l.record_id_l, l.source_r, l.record_id_r, l.match_probability from links l "
            "semi join u_aff a on l.source_l = a.source and l.record_id_l = a.record_id where l.accepted").df()
        recs = pd.concat([aff, new], ignore_index=True)
        recs = recs.astype({c: dtypes.get(c, "string") for c in recs.columns})
        gpos = np.r_[aff_pos, np.arange(n_old, n, dtype=np.int64)]  # ascending: local order = global order
        keys = _keys(recs)
        kpos = pd.Series(np.arange(len(recs)), index=keys.to_numpy())
        sl = kpos.reindex(_keys(stored_acc, "source_l", "record_id_l").to_numpy()).to_numpy()
        sr = kpos.reindex(_keys(stored_acc, "source_r", "record_id_r").to_numpy()).to_numpy()
        ok = ~(np.isnan(sl.astype(float)) | np.isnan(sr.astype(float)))
        pl = np.searchsorted(gpos, pairs["left"].to_numpy())
        pr = np.searchsorted(gpos, pairs["right"].to_numpy())
        pin = ((pl < len(gpos)) & (gpos[np.minimum(pl, len(gpos) - 1)] == pairs["left"].to_numpy())
               & (pr < len(gpos)) & (gpos[np.minimum(pr, len(gpos) - 1)] == pairs["right"].to_numpy()))
        left = np.concatenate([sl[ok].astype(np.int64), pl[pin]])
        right = np.concatenate([sr[ok].astype(np.int64), pr[pin]])
        p_all = np.concatenate([stored_acc["match_probability"].to_numpy(float)[ok], prob[pin]])
        single = [s.name for s in config.sources if s.one_record_per_person]
        must, cannot = decision_pairs(recs, decisions)
        labels, weakest = cluster_records(recs, left, right, p_all, threshold=config.threshold,
                                          single_record_sources=single, must_link=must, cannot_link=cannot,
                                          constrained=constrained)
        t = tick("cluster", t)

        # stable IDs for the affected part only
        run_id = int(_one(con.execute("select coalesce(max(run_id), 0) from runs"))[0]) + 1
        ch = con.execute("select person_id, min(case when change in ('new', 'split_from') then run_id end) as born "
                         "from changes group by person_id").df()
        issued = set(ch["person_id"].astype(str))
        born = ch[ch["born"].notna()]
        first_seen = dict(zip(born["person_id"].astype(str), born["born"].astype(np.int64)))
        previous = pd.DataFrame({"key": keys.iloc[:len(aff)].to_numpy(), "person_id": prev_pid})
        pid, changes = assign_person_ids(keys, labels, previous, issued=issued, first_seen=first_seen)
        membership = membership_table(recs, pid, weakest)
        reg = golden_records(recs, pid, **config.golden_options())
        changes.insert(0, "run_id", run_id)
        changes.insert(len(changes.columns), "seq", np.arange(len(changes), dtype=np.int64))
        counts = changes["change"].value_counts()

        stored_new = new.copy()
        stored_new.insert(0, "_pos", np.arange(n_old, n, dtype=np.int64))
        old_ids = pd.DataFrame({"person_id": pd.array(sorted(persons), dtype="string")})
        con.execute("begin transaction")
        for name, frame in (("u_new", stored_new), ("u_old_ids", old_ids), ("u_mem", membership), ("u_reg", reg),
                            ("u_links", new_links), ("u_changes", changes)):
            con.register(name, frame)
        con.execute("insert into records by name select * from u_new")
        _write_block_keys(con, new, config, offset=n_old, append=True)
        con.execute("delete from membership where person_id in (select person_id from u_old_ids)")
        con.execute("insert into membership by name select * from u_mem")
        kks = set(con.execute("select distinct no_kk from registry where person_id in "
                              "(select person_id from u_old_ids) and no_kk is not null").df()["no_kk"].astype(str))
        kks |= set(reg["no_kk"].dropna().astype(str))
        con.execute("delete from registry where person_id in (select person_id from u_old_ids)")
        con.execute("insert into registry by name select * from u_reg")
        con.execute("insert into links by name select * from u_links")
        self._update_households(con, sorted(kks), new)
        n_persons = int(_one(con.execute("select count(*) from registry"))[0])
        run = pd.DataFrame([{
            "run_id": run_id, "kind": "update", "started_at": started.isoformat(),
            "finished_at": datetime.now(timezone.utc).isoformat(), "n_records": n, "n_persons": n_persons,
            "n_new": int(counts.get("new", 0)), "n_merged": int(counts.get("merged_into", 0)),
            "n_split": int(counts.get("split_from", 0)), "n_removed": int(counts.get("removed", 0)),
            "config": config.to_json(), "model": _dump_model(model, config),
            "seconds": time.perf_counter() - t0,
        }])
        con.register("u_run", run)
        con.execute("insert into changes by name select * from u_changes")
        con.execute("insert into runs by name select * from u_run")
        con.execute("commit")
        tick("registry", t)
        log.info("run %d (update): %d new records, %d persons re-clustered (%d records); %s", run_id, len(new),
                 len(old_ids), len(recs), dict(counts))
        return _stored_result()(
            store=self, n_old=n_old, registry_dtypes=reg.dtypes.to_dict(), config=config, raw=raw, records=None, pairs=pairs, levels=levels,
            model=model, probability=prob, weight=weight, membership=None, registry=None, households=None,
            links=None, timings=timings)

    @staticmethod
    def _rows(con: Any, positions: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """Columns of the stored records at ``positions`` (ascending), in that order."""
        con.register("u_rows", pd.DataFrame({"pos": np.asarray(positions, np.int64)}))
        sel = ", ".join(f'r."{c}"' for c in columns)
        out = con.execute(f"select {sel} from records r semi join u_rows p on r._pos = p.pos order by r._pos").df()
        con.unregister("u_rows")
        return out

    @staticmethod
    def _tf_adjustments(con: Any, recs: pd.DataFrame, pairs: pd.DataFrame, levels: pd.DataFrame,
                        cfg: LinkConfig, model: FellegiSunter, new: pd.DataFrame, n: int) -> pd.DataFrame:
        """:func:`regsosek_link.classify.term_frequency_adjustments` with value counts over
        every record taken from the store (for the values the pairs need only)."""
        names = list(levels.columns)
        out: dict[str, np.ndarray] = {}
        left = pairs["left"].to_numpy()
        for comp in cfg.comparisons:
            if not getattr(comp, "term_frequency", False) or comp.name not in names:
                continue
            k = names.index(comp.name)
            top = int(model.n_levels_[k]) - 1
            lv = levels[comp.name].to_numpy()
            at = lv == top
            vals = recs[comp.column].astype("string").to_numpy(dtype=object, na_value=None)[left[at]]
            want = pd.unique(pd.Series(vals).dropna().astype(str))
            con.register("u_tf", pd.DataFrame({"v": pd.array(want, dtype="string")}))
            c = comp.column
            stored = con.execute(f'select r."{c}" as v, count(*) as n from records r semi join u_tf t '
                                 f'on r."{c}" = t.v group by r."{c}"').df()
            con.unregister("u_tf")
            nonnull = int(_one(con.execute(f'select count("{c}") from records'))[0])
            nv = new[c].astype("string")
            nonnull += int(nv.notna().sum())
            cnt = pd.Series(stored["n"].to_numpy(np.int64), index=stored["v"].astype(str).to_numpy())
            cnt = cnt.add(nv.dropna().astype(str).value_counts(), fill_value=0)
            f = (pd.Series(vals, dtype=object).map(cnt).to_numpy(dtype=float)) / max(nonnull, 1)
            adj = np.zeros(len(lv))
            adj[at] = np.where(np.isnan(f), 0.0, np.log2(model.u_[k][top] / np.maximum(f, 1.0 / max(n, 1))))
            out[f"tf_{comp.name}"] = adj
        return pd.DataFrame(out, index=levels.index)

    @staticmethod
    def _update_households(con: Any, kks: list[str], new: pd.DataFrame) -> None:
        """Rebuild the household rows of the KK numbers in ``kks`` from the stored registry."""
        if not kks:
            return
        con.register("u_kk", pd.DataFrame({"kk": pd.array(kks, dtype="string")}))
        reg = con.execute("select * from registry where no_kk in (select kk from u_kk)").df()
        have = {r[0] for r in con.execute("select column_name from information_schema.columns "
                                          "where table_name = 'records'").fetchall()}
        if "kk_valid" in have:
            rk = con.execute("select no_kk, kk_valid from records where no_kk in (select kk from u_kk)").df()
        else:
            rk = con.execute("select no_kk from records where no_kk in (select kk from u_kk)").df()
        hh = households_table(reg, rk, np.zeros(0))
        con.execute("delete from households where household_id in (select kk from u_kk)")
        con.register("u_hh", hh)
        con.execute("insert into households by name select * from u_hh")
        con.unregister("u_hh")
        con.unregister("u_kk")

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


@functools.cache
def _stored_result() -> type:
    """A :class:`LinkResult` whose records, membership, registry, households and links are
    read from the store when first used (an update writes only changed rows)."""
    from .pipeline import LinkResult

    def lazy(name: str, load: Any) -> property:
        def get(self: Any) -> Any:
            v = self.__dict__.get("_" + name)
            if v is None:
                v = load(self)
                self.__dict__["_" + name] = v
            return v

        def put(self: Any, value: Any) -> None:
            self.__dict__["_" + name] = value

        return property(get, put)

    def records(self: Any) -> pd.DataFrame:
        return self.store.records()

    def membership(self: Any) -> pd.DataFrame:
        with duckdb.connect(str(self.store.path), read_only=True) as con:
            m = con.execute("select m.* from records r join membership m on m.source = r.source "
                            "and m.record_id = r.record_id order by r._pos").df()
        return m.astype({"source": "string", "record_id": "string", "person_id": "string"})

    def registry(self: Any) -> pd.DataFrame:
        reg = self.store.registry()
        dt = {c: d for c, d in (self.registry_dtypes or {}).items() if c in reg.columns}
        return reg.astype(dt) if dt else reg

    def households(self: Any) -> pd.DataFrame:
        return self.store.households()

    def links(self: Any) -> pd.DataFrame:
        return self.store.links()

    def init(self: Any, *args: Any, store: RegistryStore, n_old: int = 0,
             registry_dtypes: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.store = store
        self.registry_dtypes = registry_dtypes
        self.n_old = n_old
        LinkResult.__init__(self, *args, **kwargs)

    ns = {n: lazy(n, f) for n, f in (("records", records), ("membership", membership), ("registry", registry),
                                      ("households", households), ("links", links))}
    ns["__init__"] = init
    ns["__doc__"] = _stored_result.__doc__
    return type("StoredLinkResult", (LinkResult,), ns)
