"""A registry's life cycle: a full run, a new batch, a re-link, a withdrawal, an export.

Each reads what it needs (source files or DataFrames, the stored registry), checks it, then
calls the one pipeline (:func:`regsosek_link.run._core.link_records`) and saves the result
in one transaction. A run with a store holds the store's writer lock from start to end and
refuses to commit over a newer state (see :mod:`regsosek_link.store`).
"""

from __future__ import annotations

import functools
import json
import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._order import arrow_str
from ..config import LinkConfig, SourceConfig, settings_differences, with_stored_sources
from ..errors import ConfigError, ModelError, StoreError
from ..ingest import read_sources
from ..model_io import model_from_dict, model_to_dict
from ..review import DECISION_COLUMNS
from ..standardise import date_status_counts, month_day_counts, standardise
from ._core import KeptLinks, Previous, Stages, link_records
from ._memory import ProcessTuning, check_memory
from .result import OUTPUT_TABLES, LinkResult

__all__ = ["Linker", "export", "link"]

log = logging.getLogger("regsosek_link.run")


@functools.cache
def _clean_dtypes() -> dict[str, Any]:
    """The dtype of every column :func:`standardise` makes (stored records are cast back)."""
    empty = pd.DataFrame({"source": [], "record_id": []}, dtype="string")
    return standardise(empty).dtypes.to_dict()


def _as_clean(records: pd.DataFrame) -> pd.DataFrame:
    """``records`` with the clean dtypes; the columns that have them already are not copied."""
    dtypes = _clean_dtypes()
    change = {c: dtypes.get(c, "string") for c in records.columns if records[c].dtype != dtypes.get(c, "string")}
    return records.astype(change, copy=False) if change else records


def _keys(frame: pd.DataFrame, s: str = "source", r: str = "record_id") -> pd.Series:
    return frame[s].astype(str) + "|" + frame[r].astype(str)


def _decisions(*parts: pd.DataFrame | None) -> pd.DataFrame | None:
    have = [p.astype("string") for p in parts if p is not None and len(p)]
    if not have:
        return None
    return pd.concat(have, ignore_index=True)[list(DECISION_COLUMNS)]


def _arrow_keys(frame: pd.DataFrame, s: str = "source", r: str = "record_id") -> pa.Array:
    """:func:`_keys` as an Arrow string array (no Python string per row)."""
    return pc.binary_join_element_wise(arrow_str(frame[s]), arrow_str(frame[r]), pa.scalar("|", pa.large_string()))


def _kept_links(links: pd.DataFrame, records: pd.DataFrame) -> KeptLinks:
    """The stored links whose two records are among ``records``, with their positions.

    The records' and the links' keys (:func:`_keys`) are matched in Arrow: a Python string
    per record and per link end held ~156 MB at 407,057 records."""
    if len(links) == 0:
        return KeptLinks.none()
    keys = _arrow_keys(records)
    left, right = (pc.index_in(_arrow_keys(links, f"source_{side}", f"record_id_{side}"), value_set=keys)
                   for side in "lr")
    ok = (pc.is_valid(left).to_numpy(zero_copy_only=False) & pc.is_valid(right).to_numpy(zero_copy_only=False))
    table = links[ok].reset_index(drop=True)
    return KeptLinks(left=pc.filter(left, pa.array(ok)).to_numpy().astype(np.int64),
                     right=pc.filter(right, pa.array(ok)).to_numpy().astype(np.int64),
                     probability=table["match_probability"].to_numpy(float), table=table)


def _model_json(model: Any, cfg: LinkConfig) -> str | None:
    if model is None or not hasattr(model, "m_"):
        return None
    try:
        return json.dumps(model_to_dict(model, comparisons=cfg.comparisons, threshold=cfg.threshold))
    except ModelError as exc:
        warnings.warn(f"the run's model is not saved in the store ({exc}); the next update needs "
                      "model= or retrain", UserWarning, stacklevel=3)
        return None


def _known_records(cfg: LinkConfig, data: Mapping[str, pd.DataFrame] | None) -> int:
    """The records a run will read that can be counted without reading them (DataFrames
    given, Parquet files' metadata): a lower bound of the run's size, 0 when none."""
    n = 0
    for s in cfg.sources:
        if data is not None and s.name in data:
            n += len(data[s.name])
        elif s.path and str(s.path).lower().endswith(".parquet"):
            try:
                import pyarrow.parquet as pq

                n += pq.ParquetFile(s.path).metadata.num_rows
            except (OSError, ValueError):  # (ingest reports an unreadable file)
                pass
    return n


class Linker:
    """Run a :class:`~regsosek_link.config.LinkConfig`: a full run, or the life cycle of a
    registry kept in a store.

    Parameters
    ----------
    config : LinkConfig
        The run. For :meth:`update` it may name only the batch's sources: the stored
        sources keep the settings they were linked with.
    model : FellegiSunter, optional
        A trained model to use instead of training one (or, in an update, instead of the
        stored one).
    decisions : DataFrame, optional
        Reviewers' decisions (:func:`regsosek_link.review.read_decisions`), on top of those
        stored: matches are merged first, non-matches never end up in one person.
    constrained : bool
        Cluster under hard constraints (two credible different NIKs, two records of a
        one-record-per-person source, reviewers' non-matches) by cutting the weakest links;
        ``False`` gives the plain connected components of the accepted links.
    tune_process : bool
        Allow process-wide tweaks that make big runs faster and smaller (see
        :mod:`regsosek_link.run._memory`); off by default: a library leaves its process alone.
    engine : optional
        Where the stages run: ``None`` (this process) or an engine such as
        :class:`regsosek_link.engine.SparkEngine`, whose ``run``/``update``/``withdraw``
        take this Linker and the same arguments.
    """

    def __init__(self, config: LinkConfig, *, model: Any = None, decisions: pd.DataFrame | None = None,
                 constrained: bool = True, tune_process: bool = False, engine: Any = None) -> None:
        if not isinstance(config, LinkConfig):
            raise TypeError(f"config must be a LinkConfig; got {type(config).__name__}")
        self.config = config
        self.model = model
        self.decisions = decisions
        self.constrained = constrained
        self.tune_process = tune_process
        self.engine = engine

    # -- a full run ----------------------------------------------------------------------

    def run(self, data: Mapping[str, pd.DataFrame] | None = None, *, progress: Any = None,
            store: str | Path | None = None, relink: bool = False, replace: bool = False) -> LinkResult:
        """Link the configured sources (files, or DataFrames given in ``data`` by source name).

        With ``store`` (a DuckDB file, see :class:`~regsosek_link.store.RegistryStore`) the
        stored reviewers' decisions are honoured and the result is saved there, person IDs
        kept stable against the stored registry. On a store that already holds a registry
        the run is refused, before any work, when its settings contradict the stored ones
        (unless ``relink``: link everything anew with this config, keeping the IDs) or when
        it does not read every stored record (unless ``replace``: the records it does not
        read leave the registry, their persons logged ``removed``).
        """
        if self.engine is not None:
            return self.engine.run(self, data, progress=progress, store=store, relink=relink, replace=replace)
        if store is None:
            return self._pipeline(lambda stages: self._fresh(data, stages), progress)
        from ..store import RegistryStore

        st = RegistryStore(store)
        with st.writing(f"run ({len(self.config.sources)} sources)"):
            snap = st.snapshot()
            cfg = self.config
            if not snap.empty:
                self._check_store(snap.records, st)
            self._check_stored_settings(snap, st, relink=relink)
            kind = "full" if snap.empty or not relink else "relink"
            generation = snap.generation

            def work(stages: Stages) -> LinkResult:
                nonlocal snap
                self._check_memory(_known_records(cfg, data))
                raw = stages("ingest", lambda: self._ingest(cfg, data, stages))
                self._check_memory(len(raw))
                if not snap.empty and not replace:  # (before any linking)
                    missing = ~_keys(snap.records).isin(set(_keys(raw)))
                    if missing.any():
                        gone = snap.records[missing.to_numpy()]
                        by = gone["source"].astype(str).value_counts().sort_index()
                        raise unread_records_error(st, int(missing.sum()), by.to_dict(), _keys(gone).head(3).tolist())
                stages.tuning.sized(len(raw))
                previous, decisions = _previous(snap), _decisions(snap.decisions, self.decisions)
                del snap  # (the stored frames would stay beside the run's to its peak)
                records = self._standardise(raw, cfg, stages)
                return link_records(records, cfg, raw=raw, stages=stages, model=self.model, decisions=decisions,
                                    constrained=self.constrained, previous=previous)

            result = self._pipeline(work, progress)
            return self._save(st, generation, result, config=cfg, kind=kind, replace_records=True)

    def _check_stored_settings(self, snap: Any, st: Any, *, relink: bool) -> None:
        """Refuse, before any work, a run whose settings contradict those stored (unless
        ``relink``); any engine's store (``snap.empty``, ``snap.config``, ``st.path``)."""
        if snap.empty:
            return
        stored_cfg = _stored_config(snap.config, st)
        if not relink:
            diff = settings_differences(stored_cfg, self.config)
            if diff:
                raise _contradiction(st, diff, "run", "--relink")

    def _fresh(self, data: Mapping[str, pd.DataFrame] | None, stages: Stages) -> LinkResult:
        cfg = self.config
        self._check_memory(_known_records(cfg, data))
        raw = stages("ingest", lambda: self._ingest(cfg, data, stages))
        self._check_memory(len(raw))
        stages.tuning.sized(len(raw))
        records = self._standardise(raw, cfg, stages)
        return link_records(records, cfg, raw=raw, stages=stages, model=self.model,
                            decisions=self.decisions, constrained=self.constrained)

    # -- what the records are (a subclass links other records, e.g. encoded ones) --------------

    def _ingest(self, cfg: LinkConfig, data: Mapping[str, pd.DataFrame] | None, stages: Stages) -> pd.DataFrame:
        """The raw records of ``cfg``'s sources (files, or ``data`` by source name)."""
        return read_sources(cfg, data, codes=stages.book)

    def _standardise(self, raw: pd.DataFrame, cfg: LinkConfig, stages: Stages,
                     placeholder_counts: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
        """The records the pipeline links, made from :meth:`_ingest`'s raw records
        (``placeholder_counts``: an update's stored dates per source, see :func:`_standardise`)."""
        return _standardise(raw, cfg, stages, placeholder_counts)

    def _as_stored(self, records: pd.DataFrame) -> pd.DataFrame:
        """Records read back from a store, in the dtypes :meth:`_standardise` gives."""
        return _as_clean(records)

    def _check_store(self, stored: pd.DataFrame, st: Any) -> None:
        """Refuse a store whose records are not of this Linker's kind (clear or encoded)."""
        from ..privacy.processing import ENCODING_COLUMN

        if ENCODING_COLUMN in stored.columns:
            raise StoreError(f"the registry store {str(st.path)!r} holds encoded records (privacy-preserving "
                             "linkage); nothing was changed. Add encoded batches with 'regsosek-link link-encoded "
                             "FILES --store ... --update' (privacy.EncodedLinker), never clear records")

    def _check_batch(self, new: pd.DataFrame, stored: pd.DataFrame) -> None:
        """Refuse a batch that cannot join the stored records (raise :class:`StoreError`)."""
        _refuse_renamed_sources(new, stored)

    def _check_memory(self, n_records: int) -> None:
        """Refuse a run too big for this machine before its work (config ``memory_check``)."""
        if self.config.memory_check and n_records:
            check_memory(n_records)

    def _pipeline(self, work: Any, progress: Any) -> LinkResult:
        tuning = ProcessTuning(enabled=self.tune_process)
        try:
            return work(Stages(progress, tuning=tuning))
        finally:
            tuning.close()

    # -- a new batch -----------------------------------------------------------------------

    def update(self, store: str | Path, data: Mapping[str, pd.DataFrame] | None = None, *,
               retrain: bool = False, relink: bool = False, progress: Any = None) -> LinkResult:
        """Link a new batch against the registry in ``store`` and save it there.

        The config may name only the batch's sources: stored sources keep the settings they
        were linked with (constraints, survivorship). Only pairs with a new record are
        blocked, compared and scored (with this Linker's model, else the stored one;
        ``retrain=True`` trains on the new pairs as a full run trains); stored links are
        reused, and everything is clustered again under the constraints and every stored
        reviewers' decision. A batch record already stored unchanged is skipped; one stored
        with other values is refused (withdraw it first). ``relink=True`` links all stored
        records and the batch anew with this config, keeping the person IDs.

        Refused before any work when the config's settings contradict the stored ones,
        with one line per difference.
        """
        if self.engine is not None:
            return self.engine.update(self, store, data, retrain=retrain, relink=relink, progress=progress)
        from ..store import RegistryStore

        st = RegistryStore(store)
        with st.writing(f"update ({', '.join(s.name for s in self.config.sources)})"):
            snap = st.snapshot()
            if not snap.empty:
                self._check_store(snap.records, st)
            cfg, run_cfg, model, batch_cfg = self._update_plan(snap, st, data, retrain=retrain, relink=relink)

            generation, n_old = snap.generation, len(snap.records)

            def work(stages: Stages) -> LinkResult:
                nonlocal snap
                self._check_memory(n_old + _known_records(batch_cfg, data))
                raw = stages("ingest", lambda: self._ingest(batch_cfg, data, stages))
                self._check_memory(n_old + len(raw))
                new = self._standardise(raw, cfg, stages, placeholder_counts=_stored_dates(snap.records, raw))
                new = _new_records_only(new, snap.records)
                self._check_batch(new, snap.records)
                records = self._as_stored(pd.concat([snap.records, new], ignore_index=True))
                del new
                stages.tuning.sized(len(records))
                is_new = np.zeros(len(records), bool)
                is_new[n_old:] = True
                kept = None if relink else _kept_links(snap.links, records)
                previous, decisions = _previous(snap), _decisions(snap.decisions, self.decisions)
                # the stored frames are not needed any more: what the pipeline needs of them
                # is in records, kept and previous (they would stay beside them to the peak)
                del snap
                return link_records(records, run_cfg, raw=raw, stages=stages, model=model, decisions=decisions,
                                    constrained=self.constrained, new=None if relink else is_new, kept=kept,
                                    previous=previous)

            result = self._pipeline(work, progress)
            return self._save(st, generation, result, config=cfg, kind="relink" if relink else "update",
                              replace_records=relink, append_from=None if relink else n_old)

    def _update_plan(self, snap: Any, st: Any, data: Mapping[str, Any] | None, *, retrain: bool,
                     relink: bool) -> tuple[LinkConfig, LinkConfig, Any, LinkConfig]:
        """What an update of the registry in ``st`` (any engine's store) runs with, checked
        before any work: the config with the stored sources' settings, the config the model
        scores with, the model (this Linker's, else the stored one unless ``retrain`` or
        ``relink``) and the batch's config (the sources given as data, else those with a
        file). Refused when the store is empty, the settings contradict the stored ones, or
        there is no batch."""
        if snap.empty:
            raise StoreError(f"the registry store {str(st.path)!r} holds no registry yet; make one with a full "
                             "run first: 'regsosek-link run CONFIG --store ...' (Linker(config).run(data, "
                             "store=...))")
        stored_cfg = _stored_config(snap.config, st)
        cfg = with_stored_sources(stored_cfg, self.config)
        if not relink:
            diff = settings_differences(stored_cfg, self.config)
            if diff:
                raise _contradiction(st, diff, "update", "--relink")
        model, run_cfg = self.model, cfg
        if model is None and not (retrain or relink):
            if snap.model is None:
                raise StoreError(f"the registry store {str(st.path)!r} holds no model to score the batch "
                                 "with; pass --retrain (retrain=True) or a model")
            trained = model_from_dict(snap.model, where=f"the model stored in {str(st.path)!r}")
            # (the comparisons it scores: those of the stored run that some record could take)
            model, run_cfg = trained.model, cfg.replace(comparisons=trained.comparisons)

        # the batch: the sources given as data, else those with a file
        batch = tuple(s for s in self.config.sources if (s.name in data if data else s.path))
        if not batch:
            raise StoreError("the update has no batch: pass DataFrames by source name, or name the batch's "
                             "files in the config's sources (path: ...)")
        batch_cfg = self.config.replace(sources=batch)
        return cfg, run_cfg, model, batch_cfg

    # -- a withdrawal ----------------------------------------------------------------------

    def withdraw(self, store: str | Path, *, source: str, record_ids: Sequence[str] | None = None,
                 progress: Any = None) -> LinkResult:
        """Remove a source's records (all, or ``record_ids``) from the registry in ``store``.

        Links touching them are dropped and the rest is clustered again: persons left
        without records are logged ``removed``, persons that fall apart (a withdrawn record
        was their bridge) ``split_from``. The stored settings and model are kept.
        """
        if self.engine is not None:
            return self.engine.withdraw(self, store, source=source, record_ids=record_ids, progress=progress)
        from ..store import RegistryStore

        st = RegistryStore(store)
        with st.writing(f"withdraw ({source})"):
            snap = st.snapshot()
            if not snap.empty:
                self._check_store(snap.records, st)
            cfg, run_cfg, model = self._withdraw_plan(snap, st)
            drop = (snap.records["source"].astype(str) == source).to_numpy()
            if record_ids is not None:
                drop &= snap.records["record_id"].astype(str).isin([str(r) for r in record_ids]).to_numpy()
            if not drop.any():
                raise nothing_to_withdraw_error(source, record_ids, snap.records["source"].astype(str).unique())
            records = self._as_stored(snap.records[~drop].reset_index(drop=True))

            def work(stages: Stages) -> LinkResult:
                self._check_memory(len(records))
                return link_records(records, run_cfg, raw=pd.DataFrame(), stages=stages,
                                    model=model, decisions=_decisions(snap.decisions, self.decisions),
                                    constrained=self.constrained, new=np.zeros(len(records), bool),
                                    kept=_kept_links(snap.links, records), previous=_previous(snap))

            result = self._pipeline(work, progress)
            return self._save(st, snap.generation, result, config=cfg, kind="withdraw", replace_records=False,
                              append_from=len(records),
                              drop_keys=snap.records.loc[drop, ["source", "record_id"]].reset_index(drop=True))

    def _withdraw_plan(self, snap: Any, st: Any) -> tuple[LinkConfig, LinkConfig, Any]:
        """What a withdrawal from the registry in ``st`` (any engine's store) runs with: the
        stored config, the config the stored model scores with, and that model (None when
        none is stored). Refused when the store holds no registry."""
        if snap.empty:
            raise StoreError(f"the registry store {str(st.path)!r} holds no registry")
        cfg = _stored_config(snap.config, st)
        model, run_cfg = None, cfg
        if snap.model is not None:
            trained = model_from_dict(snap.model, where=f"the model stored in {str(st.path)!r}")
            model, run_cfg = trained.model, cfg.replace(comparisons=trained.comparisons)
        return cfg, run_cfg, model

    # -- saving ----------------------------------------------------------------------------

    def _save(self, st: Any, generation: int, result: LinkResult, *, config: LinkConfig, kind: str,
              replace_records: bool,
              append_from: int | None = None, drop_keys: pd.DataFrame | None = None) -> LinkResult:
        from ..store import StoreWrite

        t0 = time.perf_counter()
        changes = result.changes if result.changes is not None else pd.DataFrame(
            columns=["change", "person_id", "other_person_id", "reason", "n_records"])
        counts = changes["change"].value_counts()
        run = run_row(kind, config=config, model=result.model, model_config=result.config,
                      n_records=len(result.records), n_persons=len(result.registry), counts=counts.to_dict(),
                      seconds=float(sum(result.timings.values())))
        records = result.records if replace_records else result.records.iloc[append_from or 0:]
        write = StoreWrite(kind=kind, records=records, replace_records=replace_records, links=result.links,
                           replace_links=True, membership=result.membership, registry=result.registry,
                           households=result.households, changes=changes, run=run, drop_keys=drop_keys)
        result.run_id = st.commit(write, generation=generation)
        result.timings["save"] = time.perf_counter() - t0
        log.info("run %d (%s): %d records, %d persons; %s", result.run_id, kind, len(result.records),
                 len(result.registry), dict(counts))
        return result


def run_row(kind: str, *, config: LinkConfig, model: Any, model_config: LinkConfig, n_records: int,
            n_persons: int, counts: Mapping[str, int], seconds: float) -> dict[str, Any]:
    """A store's row of one run: its kind, counts of changes, the config as given (what
    later runs are checked against) and the model with the comparisons it scores."""
    return {
        "kind": kind, "finished_at": datetime.now(UTC).isoformat(),
        "n_records": int(n_records), "n_persons": int(n_persons),
        "n_new": int(counts.get("new", 0)), "n_merged": int(counts.get("merged_into", 0)),
        "n_split": int(counts.get("split_from", 0)), "n_removed": int(counts.get("removed", 0)),
        "config": config.to_json(), "model": _model_json(model, model_config), "seconds": float(seconds),
    }


def unread_records_error(st: Any, n_missing: int, by_source: Mapping[str, int], examples: list[str]) -> StoreError:
    """A full run that does not read every record stored in ``st`` (without ``replace``)."""
    return StoreError(
        f"the registry store {str(st.path)!r} holds {n_missing:,} record(s) this run "
        f"does not read ({', '.join(f'{k}: {v:,}' for k, v in sorted(by_source.items()))}; e.g. "
        f"{examples}); nothing was changed. To add a batch use "
        "'update', to remove records 'withdraw'; to replace the registry with this run's "
        "records pass --replace (replace=True), their persons are logged 'removed'.")


def nothing_to_withdraw_error(source: str, record_ids: Sequence[str] | None, stored_sources: Any) -> StoreError:
    """A withdrawal that names no stored record."""
    return StoreError(f"no stored record of source {source!r}"
                      + (f" with record_id in {list(record_ids)[:5]}" if record_ids is not None else "")
                      + f"; stored sources: {sorted(str(s) for s in stored_sources)}")


def _standardise(raw: pd.DataFrame, cfg: LinkConfig, stages: Stages,
                 placeholder_counts: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """The standardise stage with the sources' date settings (and ``placeholder_counts``, see
    :func:`~regsosek_link.standardise.standardise`), and the birth dates' statuses per source
    in the log."""
    records = stages("standardise", lambda: standardise(raw, profile=cfg.profile, workers=cfg.workers,
                                                        codes=stages.book, placeholder_counts=placeholder_counts,
                                                        **cfg.date_options()))
    if log.isEnabledFor(logging.INFO):
        log.info("birth dates per source:\n%s", date_status_counts(records).to_string(index=False))
    return records


def _stored_config(data: dict[str, Any] | None, st: Any) -> LinkConfig:
    if data is None:
        raise StoreError(f"the registry store {str(st.path)!r} has records but no run config; it was not "
                         "written by regsosek-link")
    try:
        return LinkConfig.from_dict(data)
    except ConfigError as exc:  # a custom comparison, key or survivorship rule whose module is not importable
        raise StoreError(f"the config stored in {str(st.path)!r} cannot be used here ({exc}); put the modules it "
                         "names on PYTHONPATH (or install them), or re-link with a full run into a new store") from exc
    except Exception as exc:  # a config of another version of the library
        raise StoreError(f"the config stored in {str(st.path)!r} cannot be read by this version ({exc}); "
                         "re-link with a full run into a new store") from exc


def _contradiction(st: Any, diff: list[str], what: str, flag: str) -> StoreError:
    lines = "\n".join(f"  - {d}" for d in diff)
    return StoreError(
        f"this config contradicts the registry in {str(st.path)!r} ({len(diff)} difference(s)); nothing was "
        f"changed:\n{lines}\nUse the stored settings (regsosek-link export --store ... writes them to "
        f"config.json), or re-link everything with this config, keeping the person IDs: {what} {flag}.")


def _previous(snap: Any) -> Previous:
    if snap.empty:
        return Previous(membership=pd.DataFrame({"key": pd.array([], dtype="string"),
                                                 "person_id": pd.array([], dtype="string")}),
                        issued=snap.issued, first_seen=snap.first_seen)
    m = snap.membership
    return Previous(membership=pd.DataFrame({"key": _keys(m).to_numpy(), "person_id": m["person_id"].astype(str)}),
                    issued=snap.issued, first_seen=snap.first_seen)


def _row_digests(frame: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """A 64-bit hash of each row's values in ``cols`` as text (missing distinct from any text)."""
    text = frame[cols].astype("string").fillna("\x00<NA>")
    return pd.util.hash_pandas_object(text, index=False).to_numpy()


def _stored_dates(stored: pd.DataFrame, raw: pd.DataFrame) -> dict[str, np.ndarray]:
    """Month-day counts per source of the stored records the batch does not read again: a
    batch's placeholder days are judged on its source's dates as a full run judges them
    (a record stored and read again is counted once)."""
    if len(stored) == 0:
        return {}
    again = _keys(stored).isin(_keys(raw)).to_numpy()
    return month_day_counts(stored[~again] if again.any() else stored)


def _new_records_only(new: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """The batch without the records already stored with the same values (a config naming
    the old sources re-reads them); a record stored with other values is refused."""
    if len(stored) == 0:
        return new
    nk = _keys(new)
    at = pd.Index(_keys(stored)).get_indexer(nk)
    known = at >= 0
    if not known.any():
        return new
    cols = [c for c in new.columns if c in stored.columns]
    # in the batch's dtypes: DuckDB before 2.0 returns a nullable integer column holding
    # nulls as float64 (1979.0), whose text is not the batch's 1979
    was = stored.iloc[at[known]][cols].astype(new[cols].dtypes.to_dict())
    same = _row_digests(new[known], cols) == _row_digests(was, cols)
    if not same.all():
        changed = nk[known][~same]
        raise StoreError(
            f"{len(changed):,} record(s) of the batch are stored already with other values, e.g. "
            f"{changed.head(5).tolist()}; nothing was changed. Withdraw them first "
            "('regsosek-link withdraw') or give them new record ids.")
    log.info("%d record(s) of the batch are stored already, unchanged: skipped", int(known.sum()))
    return new[~known].reset_index(drop=True)


def _refuse_renamed_sources(new: pd.DataFrame, stored: pd.DataFrame) -> None:
    """Refuse a batch source with a new name whose records are, mostly, stored records of
    another source (same record id, same values): a renamed source would enter the registry
    a second time without the stored source's constraints."""
    fresh = sorted(set(new["source"].astype(str)) - set(stored["source"].astype(str)))
    if not fresh or len(stored) == 0:
        return
    cols = [c for c in new.columns if c in stored.columns and c != "source"]
    stored_rows = pd.DataFrame({"h": _row_digests(stored, cols), "source": stored["source"].astype(str).to_numpy()})
    found = []
    for name in fresh:
        part = new[new["source"].astype(str) == name]
        hits = stored_rows[stored_rows["h"].isin(set(_row_digests(part, cols)))]
        if len(hits) and len(hits) * 2 >= len(part):
            old = hits["source"].value_counts().index[0]
            found.append(f"{name!r} holds {len(hits):,} of its {len(part):,} records identical to stored records of "
                         f"{old!r} (same record ids and values)")
    if found:
        raise StoreError(
            f"a renamed source? {'; '.join(found)}. Nothing was changed. Give the source its stored name (its "
            "stored records are then skipped and its settings kept), or withdraw the stored source first.")


def export(store: str | Path, output_dir: str | Path, *, formats: Sequence[str] = ("parquet",)) -> dict[str, Path]:
    """Write the registry's output files again from ``store`` (e.g. after a crash between
    the commit and the writing of the outputs)."""
    from ..outputs import check_formats, write_tables
    from ..store import RegistryStore

    formats = check_formats(formats, where="formats")
    st = RegistryStore(store)
    if not st.exists():
        raise StoreError(f"the registry store {str(st.path)!r} does not exist or holds no registry")
    tables = {name: st.table(name) for name in OUTPUT_TABLES}
    tables["changes"] = st.changes()
    latest = st.latest_config()
    return write_tables(tables, output_dir, formats=formats,
                        texts={"config.json": json.dumps(latest, indent=2, ensure_ascii=False)} if latest else None)


def link(
    data: Mapping[str, pd.DataFrame],
    *,
    columns: Mapping[str, Mapping[str, str]],
    one_record_per_person: tuple[str, ...] = (),
    **options: Any,
) -> LinkResult:
    """Link DataFrames in one call.

    Parameters
    ----------
    data : mapping of str to DataFrame
        Source name -> its rows.
    columns : mapping of str to mapping
        Source name -> {own column: person-schema column}.
    one_record_per_person : tuple of str
        Sources holding at most one record per person.
    **options
        Any other :class:`~regsosek_link.config.LinkConfig` field (``threshold=0.95``...).
    """
    missing = sorted(set(data) - set(columns))
    if missing:
        raise ValueError(f"no column mapping given for source(s) {missing}")
    sources = tuple(
        SourceConfig(name=name, columns=columns[name], one_record_per_person=name in one_record_per_person)
        for name in data
    )
    return Linker(LinkConfig(sources=sources, **options)).run(data)
