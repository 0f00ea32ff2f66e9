"""The person-ID policy: one home for how a record's person gets its ID.

A person's ID is ``RP-`` and 16 hex digits of the SHA-1 of the smallest record key
(``source|record_id``) of the cluster it was first seen as, so the same records always give
the same IDs, in any row order (:func:`person_ids`). Against a previous registry the IDs are
stable (:func:`assign_person_ids`): an unchanged person keeps its ID, a merge keeps the ID
with most records (then the oldest, then the smallest), a split keeps the ID in the part
holding most of its records, and everything else gets a new ID never issued before; each
such event is a row of the ``changes`` table.

With a registry's secret ``salt`` (opt-in: ``LinkConfig.person_id_salt``) every ID is instead
``RP-`` and 16 hex digits of the HMAC-SHA256 of that hash under the salt
(:func:`salted_ids`): still stable and order-free, but nobody without the salt can work out a
person's ID from the source lists.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ._arrays import stable_argsort
from ._order import argsort_strings as _argsort_strings
from ._secret import load_key
from .cluster import hash_id, person_ids_from_records

__all__ = ["CHANGE_COLUMNS", "assign_person_ids", "new_id_maker", "person_id_salt", "person_ids", "salted_ids"]

#: Columns of the ``changes`` table.
CHANGE_COLUMNS: tuple[str, ...] = ("run_id", "change", "person_id", "other_person_id", "reason", "n_records")


def person_id_salt(config: Any) -> bytes | None:
    """The salt of a run's person IDs (``config.person_id_salt`` read and derived), or None:
    what every engine hands :func:`person_ids` and :func:`assign_person_ids`."""
    ref = getattr(config, "person_id_salt", None)
    return load_key(ref).derive("person id") if ref else None


def new_id_maker(salt: bytes | None = None, *, prefix: str = "RP") -> Callable[[str], str]:
    """The function giving a new person ID of a record key: :func:`~regsosek_link.cluster.hash_id`,
    salted (:func:`salted_ids`) with ``salt``. :func:`assign_person_ids` tries ``key``,
    then ``key#1``, ``key#2``... until an ID not issued before.

    >>> new_id_maker()("siak|1") == hash_id("siak|1")
    True
    """
    mac = None if salt is None else hmac.new(salt, digestmod=hashlib.sha256)

    def new_id(key: str) -> str:
        pid = hash_id(key, prefix=prefix)
        return pid if mac is None else _salted(pid, mac, prefix)

    return new_id


def person_ids(
    records: pd.DataFrame,
    labels: np.ndarray,
    previous: pd.DataFrame | None = None,
    *,
    issued: set[str] | frozenset[str] = frozenset(),
    first_seen: Mapping[str, int] | None = None,
    salt: bytes | None = None,
) -> tuple[np.ndarray, pd.DataFrame | None]:
    """Person ID of every record of ``records`` clustered as ``labels``.

    Without a ``previous`` membership (``key, person_id``) the IDs are the hashes of each
    cluster's smallest record key and no change log is made (``None``); with one (empty for
    a new registry), they are :func:`assign_person_ids`' stable IDs and the changes. With a
    ``salt`` the new IDs are :func:`salted_ids`.
    """
    if previous is None:
        ids = person_ids_from_records(records, labels)
        return (ids if salt is None else salted_ids(ids, salt)), None
    keys = records["source"].astype(str) + "|" + records["record_id"].astype(str)
    return assign_person_ids(keys, labels, previous, issued=issued, first_seen=first_seen, salt=salt)


def salted_ids(ids: np.ndarray, salt: bytes, *, prefix: str = "RP") -> np.ndarray:
    """Each ID replaced by ``prefix-`` and 16 upper-case hex digits of its HMAC-SHA256 under
    ``salt``, computed once per distinct ID.

    >>> a = salted_ids(np.array(["RP-1", "RP-2", "RP-1"], dtype=object), b"s" * 32)
    >>> a[0] == a[2] != a[1], a[0].startswith("RP-"), len(a[0])
    (True, True, 19)
    """
    uniq, inverse = np.unique(np.asarray(ids, dtype=object).astype(str), return_inverse=True)
    mac = hmac.new(salt, digestmod=hashlib.sha256)
    return np.array([_salted(i, mac, prefix) for i in uniq.tolist()], dtype=object)[inverse.reshape(-1)]


def _salted(pid: str, mac: hmac.HMAC, prefix: str) -> str:
    m = mac.copy()
    m.update(pid.encode("utf-8"))
    return f"{prefix}-{m.hexdigest()[:16].upper()}"


def assign_person_ids(
    keys: pd.Series,
    labels: np.ndarray,
    previous: pd.DataFrame | None = None,
    *,
    issued: set[str] | frozenset[str] = frozenset(),
    first_seen: Mapping[str, int] | None = None,
    prefix: str = "RP",
    salt: bytes | None = None,
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
    salt : bytes, optional
        The registry's secret salt: new IDs are :func:`salted_ids` of the unsalted ones.

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
    order = by_key[stable_argsort(labels[by_key])]
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
        changes.append({"change": "merged_into", "person_id": row.prev, "other_person_id": s,
                            "reason": f"linked into one person; {why}", "n_records": int(row.n)})
    # new IDs for clusters without a survivor, never repeating an issued ID
    ids = survivor.reindex(anchor.index).astype(object)
    used = set(issued) | set(survivor.tolist())
    need = ids.isna().to_numpy()
    fresh = []
    new_id = new_id_maker(salt, prefix=prefix)
    for a in anchor.to_numpy()[need].tolist():
        pid = new_id(a)
        k = 0
        while pid in used:
            k += 1
            pid = new_id(f"{a}#{k}")
        used.add(pid)
        fresh.append(pid)
    vals = ids.to_numpy(dtype=object)
    vals[need] = fresh
    ids = pd.Series(vals, index=anchor.index)
    # splits: records of an ID outside its home cluster
    away = votes[~votes["at_home"]]
    for row in away.itertuples(index=False):
        changes.append({"change": "split_from", "person_id": ids[row.label], "other_person_id": row.prev,
                            "reason": f"{row.n} record(s) of {row.prev} now belong to {ids[row.label]}",
                            "n_records": int(row.n)})
    # brand-new people
    brand_new = ~anchor.index.isin(votes["label"].unique())
    new_rows = pd.DataFrame({"change": "new", "person_id": ids.to_numpy()[brand_new], "other_person_id": None,
                             "reason": "new person", "n_records": size.reindex(anchor.index).to_numpy()[brand_new]})
    # removed: previous IDs without any record now
    if previous is not None and len(previous):
        left_ids = set(votes["prev"].tolist())
        gone = previous[~previous["person_id"].astype(str).isin(left_ids)]
        for pid, n in gone.groupby(previous["person_id"].astype(str)).size().items():
            changes.append({"change": "removed", "person_id": pid, "other_person_id": None,
                                "reason": "all its records were withdrawn", "n_records": int(n)})
    out = pd.DataFrame(changes, columns=list(CHANGE_COLUMNS[1:]))
    out = new_rows if out.empty else pd.concat([new_rows.astype(object), out.astype(object)], ignore_index=True)
    if len(out):
        rank = {"new": 0, "merged_into": 1, "split_from": 2, "removed": 3}
        out = out.assign(_r=out["change"].map(rank)).sort_values(
            ["_r", "person_id", "other_person_id"], kind="mergesort").drop(columns="_r").reset_index(drop=True)
    out = out.astype({"change": "string", "person_id": "string", "other_person_id": "string", "reason": "string",
                      "n_records": "int64"})
    return ids.reindex(labels).to_numpy(dtype=object), out
