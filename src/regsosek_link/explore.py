"""The analysts' explorer: one self-contained, interactive HTML page of a run's persons.

:func:`write_explorer` writes ``explore.html``: a search box (a person ID, a record as
``source:record_id`` or its record ID alone, or part of a name), a person's records side by
side (one column per record, one row per field, values that differ from the others
marked), the person's links -- accepted ones and those in the review band, also the ones to
records of other persons -- with each comparison's level and weight and the match
probability, and the cluster graph as an SVG drawing (records as nodes, links as edges
thicker for a higher match weight; click one to see its weights). The page needs no server
and no network: its data sits in the page as JSON, its script is plain JavaScript, and it
opens from a file.

A run writes it with its outputs when ``config.report_explorer`` is set (CLI ``--explore``);
it then appears in the processing record and follows ``owner_only_outputs``. It is
separate from ``report.html`` because it holds records -- names, NIKs, birth dates -- which
are personal data (UU 27/2022) that the report leaves out unless asked.

The page holds at most ``max_persons`` persons (``config.report_explorer_persons``), chosen
in this order and said on the page: persons touched by a link in the review band or by an
accepted link that was not merged (held back as ambiguous, or kept apart by a constraint),
then persons with conflicting values (NIK, sex or birth date), then persons of several
records, then the rest; within each group in person-ID order (a hash: a fair sample). The
records at the other end of an embedded person's links come along, so its graph is whole.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._order import arrow_str
from .outputs import EXPLORER_FILE
from .schema import GOLDEN_FIELDS

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from .run import LinkResult

__all__ = ["EXPLORER_FILE", "LINK_STATUSES", "SELECTION_GROUPS", "explorer_data", "explorer_html",
           "write_explorer"]

#: What became of a link: merged into one person; accepted but held back for review as
#: ambiguous; accepted but kept apart (a cannot-link constraint or a reviewer's decision);
#: below the threshold, in the review band.
LINK_STATUSES: tuple[str, ...] = ("merged", "held", "apart", "review")

#: Why a person is on the page, in the order persons are chosen.
SELECTION_GROUPS: tuple[str, ...] = ("review", "conflict", "several records", "single record")

#: Status columns shown under the fields when the clean records have them.
_STATUS_FIELDS = ("nik_status", "tanggal_lahir_status")
_CONFLICT_FLAGS = ("conflicting_nik", "conflicting_sex", "conflicting_birth_date")


def _text(values: pd.Series) -> list[str | None]:
    """Text values with missing ones as None (JSON null)."""
    return [None if v is pd.NA else str(v) for v in values.astype("string").tolist()]


def _labels(frame: pd.DataFrame, source: str = "source", record_id: str = "record_id") -> pa.Array:
    """``source``, a unit separator and ``record_id`` of each row: one key per record."""
    import pyarrow as pa
    import pyarrow.compute as pc

    sep = pa.scalar("\x1f", pa.large_string())
    return pc.binary_join_element_wise(arrow_str(frame[source]), arrow_str(frame[record_id]), sep)


def _rows(index: pa.Array, *frames: tuple[pd.DataFrame, str, str]) -> list[np.ndarray]:
    """Positions in ``index`` (record labels) of each frame's records (-1: none), looked up
    in one pass (an Arrow hash lookup)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    labels = [_labels(f, s, r) for f, s, r in frames]
    at = pc.index_in(pa.concat_arrays(labels), value_set=index).fill_null(-1)
    return np.split(at.to_numpy().astype(np.int64), np.cumsum([len(x) for x in labels])[:-1])


def _shown_fields(comparison: Any, fields: list[str]) -> list[str]:
    """The shown fields a comparison reads (``nama_phonetic`` -> ``nama``), without the
    columns it only checks for consistency (the NIK's birth date and sex)."""
    from .privacy.processing import _field_of  # (one home for column -> field)

    skip = set(getattr(comparison, "consistency_columns", ()))
    found = (_field_of(col) for col in comparison.columns if col not in skip)
    return list(dict.fromkeys(f for f in found if f in fields))


def _link_status(result: LinkResult, keys: pa.Array, person: np.ndarray, link_l: np.ndarray,
                 link_r: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each link's status (its index in :data:`LINK_STATUSES`) and why it was held back."""
    accepted = prob >= result.config.threshold
    together = person[link_l] == person[link_r]
    status = np.where(accepted, np.where(together, 0, 2), 3).astype(np.int8)
    reason = np.full(len(prob), None, dtype=object)
    held = result.ambiguous
    if held is None or not len(held):
        return status, reason
    n = len(keys)
    hl, hr = _rows(keys, (held, "source_l", "record_id_l"), (held, "source_r", "record_id_r"))
    held_pairs = pd.Index(np.minimum(hl, hr).astype(np.int64) * n + np.maximum(hl, hr))
    first = ~held_pairs.duplicated()
    at = held_pairs[first].get_indexer(np.minimum(link_l, link_r).astype(np.int64) * n
                                       + np.maximum(link_l, link_r))
    hit = (at >= 0) & accepted
    status[hit] = LINK_STATUSES.index("held")
    reason[hit] = held["reason"].astype(str).to_numpy()[first][at[hit]]
    return status, reason


def _select(registry: pd.DataFrame, registry_code: np.ndarray, max_persons: int, person: np.ndarray,
            person_id: np.ndarray, unsettled_records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the chosen persons' codes in page order, the group of every person: its index in
    :data:`SELECTION_GROUPS`). ``person`` is each record's person code, ``person_id`` each
    code's ID and ``registry_code`` each registry row's code."""
    n_persons = len(person_id)
    group = np.full(n_persons, 3, np.int8)  # single record
    group[np.bincount(person, minlength=n_persons) > 1] = 2
    flags = [c for c in _CONFLICT_FLAGS if c in registry.columns]
    if flags:
        conflicting = registry[flags].fillna(False).astype(bool).any(axis=1).to_numpy()
        hit = registry_code[conflicting & (registry_code >= 0)]
        group[hit] = np.minimum(group[hit], 1)
    group[person[unsettled_records]] = 0
    order = pd.DataFrame({"group": group, "person_id": person_id})
    order = order.sort_values(["group", "person_id"], kind="mergesort").index.to_numpy()
    return order[:max_persons], group


def explorer_data(result: LinkResult, *, max_persons: int | None = None) -> dict[str, Any]:
    """What the explorer page shows, as JSON-ready data.

    Parameters
    ----------
    result : LinkResult
    max_persons : int, optional
        Persons to put on the page (default ``config.report_explorer_persons``).

    Returns
    -------
    dict
        ``meta`` (run facts and what was chosen), ``fields`` (rows of the records table),
        ``golden_fields``, ``sources``, ``comparisons`` (name, level names, fields shown
        beside it), ``weights`` (the links table's ``weight_*`` columns, without the
        prefix), ``persons`` (``[person_id, n_records, chosen, group, conflicts, golden
        values]``), ``records`` (``[source index, record_id, person index, values]``, by
        person) and ``links`` (``[left record, right record, probability, match weight,
        status, reason, levels, weights]``, strongest first).
    """
    from . import __version__

    cfg = result.config
    max_persons = cfg.report_explorer_persons if max_persons is None else max_persons
    if isinstance(max_persons, bool) or not isinstance(max_persons, int) or max_persons < 1:
        raise ValueError(f"max_persons must be a whole number >= 1; got {max_persons!r}")
    mem = result.membership
    keys = _labels(mem)
    person, uniques = pd.factorize(mem["person_id"], sort=False)
    pid = np.asarray(uniques.astype(str), dtype=object)
    n_persons = len(pid)

    links = result.links
    link_l, link_r = _rows(keys, (links, "source_l", "record_id_l"),
                           (links, "source_r", "record_id_r"))
    known = np.flatnonzero((link_l >= 0) & (link_r >= 0))  # (all: a link joins two records)
    link_l, link_r = link_l[known], link_r[known]
    prob = links["match_probability"].to_numpy(float)[known]
    status, reason = _link_status(result, keys, person, link_l, link_r, prob)
    unsettled = status != LINK_STATUSES.index("merged")
    reg = result.registry
    reg_code = pd.Index(pid).get_indexer(reg["person_id"].astype(str))
    chosen, group = _select(reg, reg_code, max_persons, person, pid,
                            np.concatenate([link_l[unsettled], link_r[unsettled]]))

    # the records: the chosen persons' and those at the other end of their links
    on_page = np.zeros(n_persons, bool)
    on_page[chosen] = True
    touching = on_page[person[link_l]] | on_page[person[link_r]]
    rows = np.union1d(np.flatnonzero(on_page[person]),
                      np.concatenate([link_l[touching], link_r[touching]]))
    rank = np.full(n_persons, n_persons, np.int64)
    rank[chosen] = np.arange(len(chosen))
    src = mem["source"].iloc[rows].astype(str).to_numpy(dtype=object)
    rid = mem["record_id"].iloc[rows].astype(str).to_numpy(dtype=object)
    by = pd.DataFrame({"rank": rank[person[rows]], "person_id": pid[person[rows]], "source": src,
                       "record_id": rid}).sort_values(["rank", "person_id", "source", "record_id"],
                                                      kind="mergesort").index.to_numpy()
    rows, src, rid = rows[by], src[by], rid[by]
    persons_shown = pd.unique(person[rows])
    person_index = np.full(n_persons, -1, np.int64)
    person_index[persons_shown] = np.arange(len(persons_shown))
    row_index = np.full(len(mem), -1, np.int64)
    row_index[rows] = np.arange(len(rows))

    recs = result.records
    fields = [f for f in (*GOLDEN_FIELDS, "hubungan_keluarga", *_STATUS_FIELDS)
              if f in recs.columns]
    at = _rows(_labels(recs), (mem.iloc[rows], "source", "record_id"))[0]
    values = recs.iloc[at][fields]
    columns = [_text(values[f]) for f in fields]
    sources = sorted(set(src))
    src_code = {s: i for i, s in enumerate(sources)}
    records = [[src_code[s], r, int(person_index[p]), [c[i] for c in columns]]
               for i, (s, r, p) in enumerate(zip(src, rid, person[rows], strict=True))]

    reg_row = np.full(n_persons, -1, np.int64)  # (the registry holds one row per person)
    reg_row[reg_code[reg_code >= 0]] = np.flatnonzero(reg_code >= 0)
    golden = reg.iloc[reg_row[persons_shown]]
    golden_fields = [f for f in fields if f in golden.columns]
    golden_cols = [_text(golden[f]) for f in golden_fields]
    flags = [c for c in _CONFLICT_FLAGS if c in golden.columns]
    conflicts = golden[flags].fillna(False).astype(bool).to_numpy()
    size = np.bincount(person, minlength=n_persons)
    persons = [[str(pid[p]), int(size[p]), bool(on_page[p]), SELECTION_GROUPS[int(group[p])],
                [f.removeprefix("conflicting_")
                 for f, c in zip(flags, conflicts[i], strict=True) if c],
                [g[i] for g in golden_cols]]
               for i, p in enumerate(persons_shown)]

    comps = [c for c in cfg.comparisons if f"level_{c.name}" in links.columns]
    weight_cols = [c for c in links.columns if c.startswith("weight_")]
    keep = np.flatnonzero(touching)
    rows_of_table = known[keep]
    levels = links[[f"level_{c.name}" for c in comps]].to_numpy(np.int64)[rows_of_table].tolist()
    weights = np.round(links[weight_cols].to_numpy(float)[rows_of_table], 4).tolist()
    match_weight = np.round(links["match_weight"].to_numpy(float)[rows_of_table], 4).tolist()
    link_rows = [[int(row_index[link_l[k]]), int(row_index[link_r[k]]), float(prob[k]),
                  match_weight[i], LINK_STATUSES[int(status[k])], reason[k], levels[i], weights[i]]
                 for i, k in enumerate(keep)]

    model = result.model
    return {
        "meta": {
            "written": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "version": __version__,
            "threshold": float(cfg.threshold), "review_low": float(cfg.review_band[0]),
            "prior_weight": None if model is None else round(float(model.prior_weight_), 4),
            "persons_total": n_persons, "records_total": len(mem), "links_total": len(known),
            "persons_embedded": len(chosen), "max_persons": max_persons,
            "chosen": {g: int((group[chosen] == i).sum()) for i, g in enumerate(SELECTION_GROUPS)},
        },
        "fields": fields,
        "golden_fields": golden_fields,
        "sources": sources,
        "comparisons": [{"name": c.name, "levels": list(c.level_names),
                         "fields": _shown_fields(c, fields)} for c in comps],
        "weights": [c.removeprefix("weight_") for c in weight_cols],
        "persons": persons,
        "records": records,
        "links": link_rows,
    }


def _asset(name: str) -> str:
    return files("regsosek_link").joinpath("assets", name).read_text(encoding="utf-8")


def _json_for_script(data: dict[str, Any]) -> str:
    """JSON safe inside ``<script>``: ``<``, ``>`` and ``&`` (which occur only inside
    strings) escaped, so no value can close the element."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def explorer_html(result: LinkResult, *, max_persons: int | None = None,
                  title: str = "regsosek_link explorer") -> str:
    """The explorer page as an HTML string (see :func:`write_explorer`)."""
    import html

    data = explorer_data(result, max_persons=max_persons)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{_asset('explore.css')}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class='note' id='about'></p>"
        "<p class='warning'>This page holds personal data (names, NIKs, birth dates): keep it "
        "where the run's outputs are kept and do not attach it to tickets or e-mails.</p>"
        "<div id='searchbar'><input id='search' type='search' autocomplete='off' "
        "spellcheck='false' placeholder='person ID, source:record_id, record ID or part of a name' "
        "aria-label='search'>"
        "<span id='count' class='note'></span></div><ul id='results'></ul><main id='view'></main>"
        f"<script type='application/json' id='explorer-data'>{_json_for_script(data)}</script>"
        f"<script>{_asset('explore.js')}</script></body></html>"
    )


def write_explorer(result: LinkResult, path: str | Path, *, max_persons: int | None = None,
                   title: str = "regsosek_link explorer", owner_only: bool | None = None) -> Path:
    """Write the explorer page: one self-contained, interactive HTML file.

    Parameters
    ----------
    result : LinkResult
    path : str or Path
        The ``.html`` file to write (folders are created); written atomically.
    max_persons : int, optional
        Persons to put on the page (default ``config.report_explorer_persons``).
    title : str
        The page's title.
    owner_only : bool, optional
        Create the file readable by its owner only (0600); default
        ``config.owner_only_outputs``.

    Returns
    -------
    Path

    Notes
    -----
    A run writes the page beside its outputs itself when ``config.report_explorer`` is
    set (:meth:`LinkResult.write`, CLI ``--explore``), and lists it in its processing record.
    """
    from .outputs import _write_atomic  # (one home for atomic, owner-only writes)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = explorer_html(result, max_persons=max_persons, title=title)

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")

    if owner_only is None:
        owner_only = result.config.owner_only_outputs
    return _write_atomic(path, write, owner_only)
