"""Encode a source where it lives; link encoded sources with the one pipeline."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._secret import SecretKey, load_key
from ..block import BlockOn
from ..compare import Comparison, ExactMatch, RegionComparison
from ..config import LinkConfig, SourceConfig
from ..errors import ConfigError, StoreError
from ..run.linker import Linker
from ..run.result import LinkResult
from ._bloom import dice
from ._compare import DiceAtThresholds, KeyedIdComparison
from ._encode import (
    ENCODING_VERSION,
    FLAG_COLUMNS,
    EncodingSettings,
    decode_filters,
    encode_records,
)
from .processing import ENCODING_COLUMN

__all__ = ["encode_source", "encoded_blocking_rules", "encoded_comparisons", "encoded_config", "link_encoded",
           "read_encoded", "write_encoded"]

_META_KEY = b"regsosek_link.encoding"


def encode_source(source: SourceConfig | str, key: SecretKey | str | os.PathLike[str], *,
                  data: pd.DataFrame | None = None, config: LinkConfig | None = None,
                  settings: EncodingSettings | None = None) -> pd.DataFrame:
    """Read, standardise and encode one source, on the data holder's own machine.

    Parameters
    ----------
    source : SourceConfig or str
        The source (its file and column mapping), or its name in ``config``.
    key : SecretKey or str
        The linkage key, or where to read it (``file:PATH``, ``env:NAME``, a path).
    data : DataFrame, optional
        The source's rows, when it has no file.
    config : LinkConfig, optional
        Supplies the source by name, the standardisation profile and the blocking rules
        whose keys are encoded (unless ``settings`` says otherwise).
    settings : EncodingSettings, optional

    Returns
    -------
    DataFrame
        The encoded records (:func:`regsosek_link.privacy.encode_records`).
    """
    from ..ingest import read_sources
    from ..standardise import standardise

    key = load_key(key)
    if isinstance(source, str):
        if config is None:
            raise ConfigError(f"source {source!r} given by name but no config to find it in")
        source = config.source(source)
    cfg = (config or LinkConfig(sources=(source,))).replace(sources=(source,))
    raw = read_sources(cfg, {source.name: data} if data is not None else None)
    records = standardise(raw, profile=cfg.profile, workers=cfg.workers, **cfg.date_options())
    if settings is None:
        settings = EncodingSettings(blocking_rules=tuple(r for r in cfg.blocking_rules if isinstance(r, BlockOn)))
    return encode_records(records, key, settings=settings)


def write_encoded(encoded: pd.DataFrame, path: str | os.PathLike[str], *, settings: EncodingSettings | None = None,
                  owner_only: bool = True) -> Path:
    """Write encoded records as Parquet, with the encoding settings in its metadata (no key).

    The file is created readable by its owner only unless ``owner_only=False``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ..outputs import _write_atomic

    settings = settings or EncodingSettings()
    table = pa.Table.from_pandas(encoded, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps(settings.describe()).encode("utf-8")
    table = table.replace_schema_metadata(meta)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return _write_atomic(path, lambda tmp: pq.write_table(table, tmp), owner_only)


def read_encoded(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Encoded records from a Parquet file written by :func:`write_encoded`."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if ENCODING_COLUMN not in table.column_names:
        raise ConfigError(f"{str(path)!r} is not an encoded source (no {ENCODING_COLUMN!r} column); encode it "
                          "first with 'regsosek-link encode'")
    frame = table.to_pandas()
    text = [c for c in frame.columns if c not in FLAG_COLUMNS]
    return frame.astype({c: "string" for c in text})


def encoded_blocking_rules(settings: EncodingSettings | None = None) -> tuple[BlockOn, ...]:
    """Blocking on the encoded keys: one rule per encoded clear rule (``bk_<i>``), same name."""
    settings = settings or EncodingSettings()
    return tuple(BlockOn(keys=(f"tokens(bk_{i})",), name=r.label) for i, r in enumerate(settings.blocking_rules))


def encoded_comparisons() -> tuple[Comparison, ...]:
    """The default comparisons (:func:`regsosek_link.config.default_comparisons`) on encodings.

    Household evidence counts once, as in the clear comparisons: the mother's name, region
    and birth place are off for pairs on one family card.
    """
    household = ("no_kk",)
    return (
        KeyedIdComparison(column="nik", fit_column="nik_fit", near_column="nik_near"),
        DiceAtThresholds(column="nama", containment=0.8),
        DiceAtThresholds(column="tanggal_lahir", thresholds=(0.5, 0.7, 0.85, 0.93),
                         placeholder_column="tanggal_lahir_placeholder", year_column="tahun_lahir"),
        ExactMatch(column="jenis_kelamin"),
        DiceAtThresholds(column="nama_ibu", containment=0.8, ignore_when_equal=household),
        KeyedIdComparison(column="no_kk", label="no_kk"),
        RegionComparison(ignore_when_equal=household),
        DiceAtThresholds(column="tempat_lahir", thresholds=(0.8,), ignore_when_equal=household),
    )


def encoded_config(sources: Sequence[SourceConfig | str], *, settings: EncodingSettings | None = None,
                   one_record_per_person: Sequence[str] = (), **options: Any) -> LinkConfig:
    """A :class:`~regsosek_link.config.LinkConfig` that links encoded sources.

    ``sources`` are names (or configs, of which the name, path, priorities and
    one-record-per-person flag are kept); ``options`` are any other ``LinkConfig`` field.
    """
    srcs = []
    for s in sources:
        if isinstance(s, str):
            s = SourceConfig(name=s, columns={"record_id": "record_id", "nik": "nik"},
                             one_record_per_person=s in one_record_per_person)
        else:
            s = SourceConfig(name=s.name, path=s.path, columns={"record_id": "record_id", "nik": "nik"},
                             one_record_per_person=s.one_record_per_person or s.name in one_record_per_person,
                             priority=s.priority, field_priority=s.field_priority)
        srcs.append(s)
    options.setdefault("blocking_rules", encoded_blocking_rules(settings))
    options.setdefault("comparisons", encoded_comparisons())
    return LinkConfig(sources=tuple(srcs), **options)


def _conflicting_dates(records: pd.DataFrame, membership: pd.DataFrame, registry: pd.DataFrame) -> np.ndarray:
    """Per registry row: some record's birth-date filter is far (Dice < 0.85) from another's
    of the person, measured against the person's first record (filters differ by their noise)."""
    out = np.zeros(len(registry), bool)
    if "tanggal_lahir" not in records.columns:
        return out
    values = records["tanggal_lahir"]
    have = values.notna().to_numpy()
    key = records["source"].astype(str) + "|" + records["record_id"].astype(str)
    mkey = membership["source"].astype(str) + "|" + membership["record_id"].astype(str)
    person = pd.Series(membership["person_id"].astype(str).to_numpy(), index=mkey.to_numpy()).reindex(key.to_numpy())
    pid = pd.Index(registry["person_id"].astype(str)).get_indexer(person.to_numpy(dtype=object))
    rows = np.flatnonzero(have & (pid >= 0))
    if len(rows) == 0:
        return out
    filters = decode_filters(values.to_numpy(dtype=object)[rows].tolist())
    p = pid[rows]
    first = pd.Series(np.arange(len(rows))).groupby(p).transform("first").to_numpy()
    d = dice(filters, filters[first])
    far = np.zeros(len(registry), bool)
    np.logical_or.at(far, p, d < 0.85)
    return far


def _encoded_frames(encoded: Mapping[str, pd.DataFrame] | Sequence[str | os.PathLike[str]]) -> dict[str, pd.DataFrame]:
    """Encoded records by source name, from frames by name or encoded Parquet files (whose
    ``source`` column names the sources; a file may hold several)."""
    if isinstance(encoded, Mapping):
        frames = [f.assign(source=name) if "source" not in f.columns else f for name, f in encoded.items()]
    else:
        frames = [read_encoded(p) for p in encoded]
    if not frames:
        raise ConfigError("no encoded source given")
    for f in frames:
        if ENCODING_COLUMN not in f.columns:
            raise ConfigError(f"a source given to link_encoded has no {ENCODING_COLUMN!r} column; encode it first")
    out: dict[str, list[pd.DataFrame]] = {}
    for f in frames:
        for name, part in f.groupby(f["source"].astype(str), sort=False):
            out.setdefault(str(name), []).append(part)
    return {k: pd.concat(v, ignore_index=True) if len(v) > 1 else v[0] for k, v in out.items()}


def _check_encodings(kinds: Sequence[str], where: str = "the sources") -> None:
    """Refuse encodings of several keys or settings, or of another scheme version."""
    kinds = sorted(set(kinds))
    if len(kinds) > 1:
        raise ConfigError(f"{where} were encoded with different keys or scheme versions ({', '.join(kinds)}); "
                          "every data holder must encode with the same key and settings")
    old = sorted({k.split(":")[0] for k in kinds} - {ENCODING_VERSION})
    if old:
        raise ConfigError(f"{where} were encoded with scheme {', '.join(old)}, this version links "
                          f"{ENCODING_VERSION} encodings only; every data holder must encode its source again")


class EncodedLinker(Linker):
    """A :class:`~regsosek_link.run.Linker` whose records are encoded sources: the same life
    cycle (``run``, ``run(store=...)``, ``update``, ``withdraw``), the same pipeline, with the
    encoded records in place of the read and standardised ones.

    ``data`` of :meth:`run`/:meth:`update` maps source names to encoded records
    (:func:`encode_source`); a source without data is read from its config ``path`` (an
    encoded Parquet file, :func:`write_encoded`). The store then holds encoded records only:
    keyed hashes, filters, flags and provenance (``source``, ``record_id``). A batch encoded
    with another key or scheme than the stored records is refused.
    """

    def __init__(self, config: LinkConfig, **options: Any) -> None:
        if options.get("engine") is not None:
            raise ConfigError("encoded sources are linked in this process only (no engine=)")
        super().__init__(config, **options)

    def _ingest(self, cfg: LinkConfig, data: Mapping[str, pd.DataFrame] | None, stages: Any) -> pd.DataFrame:
        frames = []
        for src in cfg.sources:
            if data is not None and src.name in data:
                frame = data[src.name]
                frames.append(frame.assign(source=src.name) if "source" not in frame.columns else frame)
            elif src.path:
                frame = read_encoded(src.path)
                frames.append(frame[frame["source"].astype(str) == src.name])
        if not frames:
            raise ConfigError(f"no encoded records for the sources {[s.name for s in cfg.sources]}: pass them by "
                              "source name, or name their encoded files (path:)")
        for f in frames:
            if ENCODING_COLUMN not in f.columns:
                raise ConfigError(f"a source given as encoded has no {ENCODING_COLUMN!r} column; encode it first "
                                  "with 'regsosek-link encode'")
        records = pd.concat(frames, ignore_index=True)
        _check_encodings(records[ENCODING_COLUMN].dropna().astype(str).unique().tolist())
        names = set(records["source"].astype(str))
        missing = sorted(names - {s.name for s in cfg.sources})
        if missing:
            raise ConfigError(f"encoded records of source(s) {missing} that the config does not name")
        return records

    def _standardise(self, raw: pd.DataFrame, cfg: LinkConfig, stages: Any,
                     placeholder_counts: Any = None) -> pd.DataFrame:
        # (an encoded record's placeholder flag was set where it was encoded)
        records = self._as_stored(raw)
        if "tanggal_lahir_placeholder" in records.columns and "tanggal_lahir" in records.columns:
            # the birth date's status as the clustering reads it ("ok" is a real date), so that
            # links between thin records wait for review as on clear data
            status = pd.Series("ok", index=records.index, dtype="string").where(records["tanggal_lahir"].notna())
            records["tanggal_lahir_status"] = status.mask(records["tanggal_lahir_placeholder"], "placeholder")
        return records

    def _as_stored(self, records: pd.DataFrame) -> pd.DataFrame:
        flags = [c for c in FLAG_COLUMNS if c in records.columns]
        out = records.astype({c: "string" for c in records.columns if c not in flags})
        for c in flags:  # (a source without the flag: False, not NaN's truth)
            out[c] = out[c].astype("boolean").fillna(False).astype(bool)
        return out

    def _check_store(self, stored: pd.DataFrame, st: Any) -> None:
        if ENCODING_COLUMN not in stored.columns:
            raise StoreError(f"the registry store {str(st.path)!r} holds clear records, not encoded ones; nothing "
                             "was changed. Encoded sources go into a registry of their own (a new store)")

    def _check_batch(self, new: pd.DataFrame, stored: pd.DataFrame) -> None:
        kinds = pd.concat([new[ENCODING_COLUMN], stored[ENCODING_COLUMN]]).dropna().astype(str).unique().tolist()
        try:
            _check_encodings(kinds, where="the batch and the stored records")
        except ConfigError as exc:
            raise StoreError(f"{exc}; nothing was changed") from None

    def _pipeline(self, work: Any, progress: Any) -> LinkResult:
        result = super()._pipeline(work, progress)
        result.registry["conflicting_birth_date"] = _conflicting_dates(result.records, result.membership,
                                                                      result.registry)
        return result


def link_encoded(encoded: Mapping[str, pd.DataFrame] | Sequence[str | os.PathLike[str]], *,
                 config: LinkConfig | None = None, one_record_per_person: Sequence[str] = (),
                 model: Any = None, constrained: bool = True, store: str | os.PathLike[str] | None = None,
                 update: bool = False, **options: Any) -> LinkResult:
    """Link encoded sources with the one pipeline, through :class:`EncodedLinker`.

    Parameters
    ----------
    encoded : mapping of str to DataFrame, or sequence of paths
        Encoded records by source name, or encoded Parquet files (their ``source`` column
        names the sources).
    config : LinkConfig, optional
        Default :func:`encoded_config` of the sources found, with ``one_record_per_person``
        and ``options``.
    model : optional
        A trained model to score with instead of training one (or the stored one).
    constrained : bool
        Cluster under the hard constraints (credible different NIKs, single-record sources).
    store : path, optional
        A registry store (DuckDB): the run is saved there, person IDs kept stable against
        it (:meth:`~regsosek_link.run.Linker.run` with ``store``).
    update : bool
        Link ``encoded`` as a new batch against the registry in ``store``
        (:meth:`~regsosek_link.run.Linker.update`): only pairs with a new record are scored,
        with the stored model.

    Returns
    -------
    LinkResult
        Its ``registry`` holds only keyed hashes, filters and provenance; ``membership``
        maps every (source, record_id) to its person ID.

    Raises
    ------
    ConfigError
        Sources encoded with different keys or scheme versions, or not encoded.
    StoreError
        An update without a store registry, or a batch encoded with another key than it.
    """
    frames = _encoded_frames(encoded)
    _check_encodings([k for f in frames.values() for k in f[ENCODING_COLUMN].dropna().astype(str).unique()])
    cfg = config or encoded_config(list(frames), one_record_per_person=one_record_per_person, **options)
    missing = sorted(set(frames) - {s.name for s in cfg.sources})
    if missing:
        raise ConfigError(f"encoded records of source(s) {missing} that the config does not name")
    linker = EncodedLinker(cfg, model=model, constrained=constrained)
    if update:
        if store is None:
            raise ConfigError("an update needs the registry store to add the batch to (store=...)")
        return linker.update(Path(store), frames)
    return linker.run(frames, store=None if store is None else Path(store))
