"""Registry stage: clean records + person IDs -> registry, membership, households, links.

Golden values are chosen per field by survivorship: usable values first (a structurally
valid NIK/KK, a real rather than placeholder birth date), then the source's priority for
that field (lower wins), then the value most records of the person agree on, then the most
complete (longest) value, then a fixed order of source and record id so ties are
deterministic. Each golden field comes with the source and record it was taken from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .schema import GOLDEN_FIELDS, MEMBERSHIP_COLUMNS

__all__ = ["golden_records", "membership_table", "households_table", "links_table", "REGISTRY_FIELDS"]

#: Golden fields of the registry: the schema's plus the relation to the family head.
REGISTRY_FIELDS: tuple[str, ...] = GOLDEN_FIELDS + ("hubungan_keluarga",)

# usable-value rules: column -> (status column, statuses that are fully usable)
_QUALITY = {
    "nik": ("nik_valid", None),
    "no_kk": ("kk_valid", None),
    "tanggal_lahir": ("tanggal_lahir_status", ("ok",)),
}


def membership_table(records: pd.DataFrame, person_id: np.ndarray, match_probability: np.ndarray) -> pd.DataFrame:
    """One row per input record: ``source, record_id, person_id, match_probability``."""
    out = pd.DataFrame({
        "source": records["source"].astype("string").to_numpy(),
        "record_id": records["record_id"].astype("string").to_numpy(),
        "person_id": pd.array(person_id, dtype="string"),
        "match_probability": np.asarray(match_probability, float),
    })
    return out[list(MEMBERSHIP_COLUMNS)]


def _priority(records: pd.DataFrame, field: str, priorities: Mapping[str, Mapping[str, int]] | None) -> np.ndarray:
    if not priorities:
        return np.full(len(records), 100, np.int64)
    per_source = {s: p.get(field, p.get("*", 100)) for s, p in priorities.items()}
    return records["source"].map(per_source).fillna(100).to_numpy(np.int64)


def golden_records(
    records: pd.DataFrame,
    person_id: np.ndarray,
    *,
    priorities: Mapping[str, Mapping[str, int]] | None = None,
    fields: Sequence[str] = REGISTRY_FIELDS,
) -> pd.DataFrame:
    """One row per person with golden values and their provenance.

    Parameters
    ----------
    records : DataFrame
        Clean records (``source``, ``record_id`` and the golden fields; missing fields are
        simply left empty).
    person_id : array of str
        Person of each record.
    priorities : mapping, optional
        ``{source: {field: rank, "*": default rank}}``; lower rank wins.

    Returns
    -------
    DataFrame
        ``person_id``; for each field ``f``: ``f``, ``f_source``, ``f_record_id``; then
        ``n_records``, ``sources`` (sorted, ``;``-joined), ``n_valid_nik``,
        ``conflicting_nik`` (bool: more than one distinct valid NIK), ``conflicting_sex``,
        ``conflicting_birth_date``. Sorted by ``person_id``.
    """
    pid = pd.Series(np.asarray(person_id, dtype=object), name="person_id")
    base = pd.DataFrame({"person_id": pid, "source": records["source"].to_numpy(),
                         "record_id": records["record_id"].to_numpy()})
    grp = base.groupby("person_id", sort=True)
    out = pd.DataFrame({
        "n_records": grp.size(),
        "sources": grp["source"].agg(lambda s: ";".join(sorted(set(s)))),
    })
    out.index.name = "person_id"
    for field in fields:
        if field not in records.columns:
            out[field] = pd.array([pd.NA] * len(out), dtype="string")
            out[f"{field}_source"] = pd.array([pd.NA] * len(out), dtype="string")
            out[f"{field}_record_id"] = pd.array([pd.NA] * len(out), dtype="string")
            continue
        val = records[field]
        val_s = val.astype("string")
        ok = val_s.notna().to_numpy()
        if not ok.any():
            out[field] = pd.array([pd.NA] * len(out), dtype=val.dtype if val.dtype != object else "string")
            out[f"{field}_source"] = pd.array([pd.NA] * len(out), dtype="string")
            out[f"{field}_record_id"] = pd.array([pd.NA] * len(out), dtype="string")
            continue
        quality = np.zeros(len(records), np.int64)
        if field in _QUALITY and _QUALITY[field][0] in records.columns:
            qcol, good = _QUALITY[field]
            q = records[qcol]
            good_mask = q.fillna(False).astype(bool).to_numpy() if good is None else q.isin(good).to_numpy()
            quality = np.where(good_mask, 0, 1)
        cand = pd.DataFrame({
            "person_id": pid.to_numpy(),
            "value": val_s.to_numpy(),
            "quality": quality,
            "priority": _priority(records, field, priorities),
            "source": records["source"].to_numpy(),
            "record_id": records["record_id"].to_numpy(),
            "pos": np.arange(len(records)),
        })[ok]
        cand["freq"] = cand.groupby(["person_id", "value"], sort=False)["value"].transform("size")
        cand["length"] = cand["value"].str.len()
        cand = cand.sort_values(
            ["person_id", "quality", "priority", "freq", "length", "source", "record_id"],
            ascending=[True, True, True, False, False, True, True],
            kind="mergesort",
        )
        first = cand.drop_duplicates("person_id", keep="first").set_index("person_id")
        chosen = val.iloc[first["pos"].to_numpy()]
        out[field] = pd.Series(chosen.to_numpy(), index=first.index).reindex(out.index).astype(
            val.dtype if str(val.dtype) != "object" else "string")
        out[f"{field}_source"] = first["source"].reindex(out.index).astype("string")
        out[f"{field}_record_id"] = first["record_id"].reindex(out.index).astype("string")

    # quality flags
    def _distinct(col: str, mask_col: str | None = None) -> pd.Series:
        if col not in records.columns:
            return pd.Series(0, index=out.index)
        v = records[col].astype("string")
        keep = v.notna()
        if mask_col is not None and mask_col in records.columns:
            keep &= records[mask_col].fillna(False).astype(bool)
        f = pd.DataFrame({"person_id": pid[keep.to_numpy()].to_numpy(), "v": v[keep].to_numpy()})
        return f.groupby("person_id")["v"].nunique().reindex(out.index, fill_value=0)

    out["n_valid_nik"] = _distinct("nik", "nik_valid").astype("int64")
    out["conflicting_nik"] = out["n_valid_nik"] > 1
    out["conflicting_sex"] = _distinct("jenis_kelamin") > 1
    out["conflicting_birth_date"] = _distinct("tanggal_lahir") > 1
    out = out.reset_index()
    cols = ["person_id"]
    for f in fields:
        cols += [f, f"{f}_source", f"{f}_record_id"]
    cols += ["n_records", "sources", "n_valid_nik", "conflicting_nik", "conflicting_sex", "conflicting_birth_date"]
    return out[cols]


def households_table(registry: pd.DataFrame, records: pd.DataFrame, person_id: np.ndarray) -> pd.DataFrame:
    """Households from family-card numbers: one row per (household, member).

    A person belongs to the household of their golden ``no_kk`` when it is a structurally
    valid KK number. People without one (homeless, ship crews, no KK recorded) stay in the
    registry without a household.

    Returns
    -------
    DataFrame
        ``household_id`` (the KK number), ``person_id``, ``hubungan_keluarga``, ``nama``,
        ``n_members``; sorted by household then relation (head first) then person.
    """
    kk_ok = pd.Series(True, index=registry.index)
    if "kk_valid" in records.columns:
        valid_kk = set(records.loc[records["kk_valid"].fillna(False).astype(bool), "no_kk"].dropna().astype(str))
        kk_ok = registry["no_kk"].astype("string").isin(valid_kk)
    h = registry.loc[registry["no_kk"].notna() & kk_ok, ["no_kk", "person_id", "hubungan_keluarga", "nama"]].copy()
    h = h.rename(columns={"no_kk": "household_id"})
    h["n_members"] = h.groupby("household_id")["person_id"].transform("size").astype("int64")
    head = np.where(h["hubungan_keluarga"].astype("string").eq("KEPALA").fillna(False).to_numpy(dtype=bool), 0, 1)
    h = h.assign(_head=head).sort_values(["household_id", "_head", "person_id"], kind="mergesort")
    return h.drop(columns="_head").reset_index(drop=True)


def links_table(
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    levels: pd.DataFrame,
    contributions: pd.DataFrame,
    probability: np.ndarray,
    weight: np.ndarray,
    *,
    threshold: float,
    review_low: float,
) -> pd.DataFrame:
    """Accepted and near-threshold pairs with score, levels and per-comparison weights."""
    keep = np.asarray(probability) >= review_low
    left = pairs["left"].to_numpy()[keep]
    right = pairs["right"].to_numpy()[keep]
    out = pd.DataFrame({
        "source_l": records["source"].to_numpy()[left],
        "record_id_l": records["record_id"].to_numpy()[left],
        "source_r": records["source"].to_numpy()[right],
        "record_id_r": records["record_id"].to_numpy()[right],
        "match_probability": np.asarray(probability)[keep],
        "match_weight": np.asarray(weight)[keep],
        "accepted": np.asarray(probability)[keep] >= threshold,
    })
    for c in levels.columns:
        out[f"level_{c}"] = levels[c].to_numpy()[keep]
    for c in contributions.columns:
        out[f"weight_{c}"] = contributions[c].to_numpy()[keep]
    return out.sort_values("match_probability", ascending=False, kind="mergesort").reset_index(drop=True)
