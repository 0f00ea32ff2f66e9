"""Run configuration: frozen dataclasses that round-trip to dicts, JSON, YAML and TOML.

A run names its sources (a CSV/Parquet file or an in-memory DataFrame each, with a mapping
from the source's own column names to the person schema), the blocking rules, the
comparisons, the threshold and where outputs go. Building a config never touches data.

Example YAML::

    output_dir: out
    threshold: 0.9
    sources:
      - name: siak
        path: siak.csv
        one_record_per_person: true
        columns: {NIK: nik, NAMA_LGKP: nama, TGL_LHR: tanggal_lahir, ID: record_id}
      - name: dtks
        path: dtks.parquet
        columns: {nik_art: nik, nama_art: nama, id: record_id}
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime
import json
import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypedDict

from . import _spec
from .block import BlockingRule, BlockOn
from .compare import (
    Comparison,
    DateOfBirthComparison,
    ExactMatch,
    IdNumberComparison,
    JaroWinklerAtThresholds,
    NameComparison,
    NeighbourhoodComparison,
    RegionComparison,
)
from .errors import ConfigError, Problem
from .extend import LevelComparison  # noqa: F401 - registers it, so configs may name it
from .outputs import check_formats
from .schema import GOLDEN_FIELDS, PERSON_COLUMNS, PLACE_AND_DATE, REGISTRY_FIELDS
from .survivorship import SurvivorshipRule, given_rules, rule_spec

__all__ = [
    "STORED_RUN_SETTINGS",
    "STORED_SOURCE_SETTINGS",
    "LinkConfig",
    "SourceConfig",
    "default_blocking_rules",
    "default_comparisons",
    "fewer_pairs_blocking_rules",
    "load_config",
    "settings_differences",
    "with_stored_sources",
]


class DateOptions(TypedDict):
    """Keywords of :func:`regsosek_link.standardise.standardise` for the sources' dates
    (:meth:`LinkConfig.date_options`)."""

    date_formats: dict[str, str]
    dayfirst: dict[str, bool]


@dataclass(frozen=True, kw_only=True)
class SourceConfig:
    """One input source.

    Parameters
    ----------
    name : str
        Short unique name (``siak``, ``dtks``...), written in every output row.
    path : str, optional
        CSV/TSV/TXT file (also ``.gz``, or the one data file of a ``.zip``), Parquet, Excel
        (``.xlsx``), Stata (``.dta``) or SPSS (``.sav``) file; relative paths are relative to the config file. Leave empty
        when the data is passed as a DataFrame.
    columns : mapping of str to str
        The source's own column name -> person-schema column. Must map ``record_id`` and at
        least one of ``nama``/``nik``. A column holding place and date of birth together
        ("tempat, tanggal lahir": ``Jakarta, 12-08-1980``) maps to ``tempat_tanggal_lahir``:
        it feeds both ``tempat_lahir`` and ``tanggal_lahir``.
    extra_columns : tuple of str
        Own columns kept under their own (lower-cased) names for custom comparisons; their
        values pass through as given (stripped, blank missing; their case is kept).
    one_record_per_person : bool
        The source never holds two records of one person (e.g. the civil registry): no
        pairs are made inside it.
    priority : int
        Survivorship rank for golden values: lower wins (default 100).
    field_priority : mapping of str to int
        Per-field override of ``priority`` (e.g. ``{"alamat": 1}``).
    encoding : str, optional
        Text encoding of a CSV/TSV file. When not given the file is read as UTF-8 (with or
        without a byte order mark) and, when it is not valid UTF-8, as Windows-1252 if that
        decodes it (a UTF-16/32 byte order mark names its own encoding), else as the encoding
        charset-normalizer detects, with an :class:`~regsosek_link.ingest.EncodingGuessWarning`
        naming the guess. A given encoding is always used as it is.
    delimiter : str, optional
        CSV delimiter (sniffed when not given).
    as_of : str, optional
        ISO date (``YYYY-MM-DD``) of the extract: the most recent source wins the address
        fields (see :mod:`regsosek_link.registry`).
    date_format : str, optional
        A ``strptime`` format of the source's birth dates (e.g. ``"%m/%d/%Y"``), tried
        before the usual formats (see :func:`regsosek_link.standardise.parse_date`).
    dayfirst : bool
        Numeric birth dates are day-month (the default, Indonesian use); ``False`` for a
        source that writes month-day. A date that fits only the other order is read that
        way and flagged.
    """

    name: str
    path: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    extra_columns: tuple[str, ...] = ()
    one_record_per_person: bool = False
    priority: int = 100
    field_priority: Mapping[str, int] = field(default_factory=dict)
    encoding: str | None = None
    delimiter: str | None = None
    as_of: str | None = None
    date_format: str | None = None
    dayfirst: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", dict(self.columns))
        object.__setattr__(self, "field_priority", dict(self.field_priority))
        object.__setattr__(self, "extra_columns", tuple(self.extra_columns))
        if isinstance(self.as_of, datetime.date):  # YAML and TOML read bare dates as dates
            object.__setattr__(self, "as_of", self.as_of.isoformat()[:10])
        problems = self.problems()
        if problems:
            raise ConfigError(problems)

    def mapped(self) -> list[tuple[str, str]]:
        """(own column, person-schema column) pairs, a ``tempat_tanggal_lahir`` column
        giving both ``tempat_lahir`` and ``tanggal_lahir``."""
        out = []
        for own, target in self.columns.items():
            out += [(own, "tempat_lahir"), (own, "tanggal_lahir")] if target == PLACE_AND_DATE else [(own, target)]
        return out

    def problems(self) -> list[Problem]:
        """Every problem of the mapping itself (no data is read)."""
        out: list[Problem] = []
        if not isinstance(self.name, str) or not self.name.strip():
            return [Problem(source=None, where="name", message=f"a source needs a non-empty name; got {self.name!r}")]
        unknown = sorted({t for t in self.columns.values() if t not in (*PERSON_COLUMNS, PLACE_AND_DATE)})
        if unknown:
            out.append(Problem(
                source=self.name, where="columns",
                message=f"mapping targets unknown person-schema column(s) {unknown}; "
                f"known columns: {', '.join(PERSON_COLUMNS)} (and {PLACE_AND_DATE} for place and date "
                "of birth in one column). Put other columns in extra_columns.",
            ))
        targets = [t for _, t in self.mapped()]
        dup = sorted({t for t in targets if targets.count(t) > 1})
        if dup:
            out.append(Problem(
                source=self.name, where="columns",
                message=f"several columns are mapped to {dup}; map exactly one column to each"
                + (f" ({PLACE_AND_DATE} gives both tempat_lahir and tanggal_lahir)."
                   if PLACE_AND_DATE in self.columns.values() and {"tempat_lahir", "tanggal_lahir"} & set(dup) else "."),
            ))
        if "record_id" not in targets:
            out.append(Problem(
                source=self.name, where="columns",
                message="no column is mapped to 'record_id'; map the source's unique row key to "
                "record_id (e.g. columns: {ID: record_id}).",
            ))
        if not {"nama", "nik"} & set(targets):
            out.append(Problem(
                source=self.name, where="columns",
                message="a source needs at least 'nama' or 'nik' mapped; it maps "
                f"{sorted(set(targets)) or 'nothing'}.",
            ))
        bad_fields = sorted(set(self.field_priority) - set(GOLDEN_FIELDS))
        if bad_fields:
            out.append(Problem(
                source=self.name, where="field_priority",
                message=f"field_priority names unknown field(s) {bad_fields}; golden fields: {', '.join(GOLDEN_FIELDS)}",
            ))
        if self.encoding is not None and not _is_encoding(self.encoding):
            out.append(Problem(
                source=self.name, where="encoding",
                message=f"unknown encoding {self.encoding!r}; use e.g. utf-8, cp1252, latin-1, or leave "
                "'encoding' out to detect it",
            ))
        if self.as_of is not None and not _is_iso_date(self.as_of):
            out.append(Problem(
                source=self.name, where="as_of",
                message=f"as_of must be an ISO date like 2024-06-30; got {self.as_of!r}",
            ))
        if self.date_format is not None and not (isinstance(self.date_format, str) and "%" in self.date_format):
            out.append(Problem(
                source=self.name, where="date_format",
                message=f"date_format must be a strptime format such as '%d/%m/%Y'; got {self.date_format!r}",
            ))
        if not isinstance(self.dayfirst, bool):
            out.append(Problem(
                source=self.name, where="dayfirst",
                message=f"dayfirst must be true or false; got {self.dayfirst!r}",
            ))
        return out

    def priority_of(self, field_name: str) -> int:
        return int(self.field_priority.get(field_name, self.priority))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["extra_columns"] = list(self.extra_columns)
        if self.dayfirst is True:  # (the default: not written)
            del d["dayfirst"]
        return {k: v for k, v in d.items() if v not in (None, (), [], {}) or k in ("name", "columns")}


def _is_encoding(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        codecs.lookup(value)
    except LookupError:
        return False
    return True


def _is_iso_date(value: Any) -> bool:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return False
    try:
        datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def default_blocking_rules() -> tuple[BlockingRule, ...]:
    """Blocking rules for Indonesian person data (union; each pair kept once).

    NIK first (the deterministic pass), then the family card, then name + birth date
    combinations robust to typos in either, then name within a kecamatan, the birth year
    within one RT (a census record with no NIK, a placeholder date that keeps the year and a
    mistyped or shortened name: an RT holds a few dozen households, so few people of one
    year), mother's name with the birth date (school records), and the desa with the date
    or the name.
    """
    return (
        BlockOn(keys=("nik",), name="nik"),
        BlockOn(keys=("no_kk", "first_token(nama_phonetic)"), name="kk & first name sound"),
        BlockOn(keys=("tanggal_lahir", "tokens(nama_phonetic)"), name="birth date & a name sound"),
        BlockOn(keys=("nik_birth_date", "tokens(nama_phonetic)"), name="NIK birth date & a name sound"),
        BlockOn(keys=("tahun_lahir", "kode_kec", "nama_phonetic"), name="birth year & kecamatan & name sound"),
        BlockOn(keys=("tahun_lahir", "kode_desa", "rw", "rt"), name="birth year & RT"),
        BlockOn(keys=("nama_ibu_phonetic", "tanggal_lahir"), name="mother's name & birth date"),
        BlockOn(keys=("tanggal_lahir", "kode_desa"), name="birth date & desa"),
        BlockOn(keys=("kode_desa", "nama_phonetic"), name="desa & name sound"),
        BlockOn(keys=("no_kk", "jenis_kelamin"), name="kk & sex"),
    )


def fewer_pairs_blocking_rules() -> tuple[BlockingRule, ...]:
    """The default rules without the two that catch records lacking both NIK and birth date.

    "desa & name sound" and "KK & sex" make about two thirds of the candidate pairs and find
    under 1 % of the true pairs that no other rule finds. Measured on the synthetic sources
    at 100,000 people: 425,951 pairs instead of 1,259,894, precision 0.9988 (0.9979), recall
    0.9919 (0.9952), in three quarters of the time. Use it when speed matters more than the
    last duplicates among records with neither NIK nor birth date.

    >>> len(fewer_pairs_blocking_rules()) == len(default_blocking_rules()) - 2
    True
    """
    drop = {"desa & name sound", "kk & sex"}
    return tuple(r for r in default_blocking_rules() if r.label not in drop)


def default_comparisons() -> tuple[Comparison, ...]:
    """Comparisons for Indonesian person data.

    Household evidence is counted once: two records on one family card (KK) share the
    region, the mother and usually the place of birth, so those comparisons are switched
    off for pairs that agree on the KK (``ignore_when_equal``); region and place of birth
    are also off for pairs with the same mother's name. Without this, siblings look like
    one person. A NIK near miss (a digit, a transposition, a shifted serial) weighs by the
    part it sits in and by how common such a neighbour is in the data (serials restart at
    0001 per kecamatan and birth date: ``near_miss=True``); KK typos inside its serial are
    not evidence (cards issued on one day in one kecamatan, or NIKs keyed into the KK
    column), and a NIK in the KK column is no card at all (``other_id_column``). Birth dates
    more than five years apart that are no keying slip have a level of their own
    (``far_years``), and for those pairs the family card says nothing
    (``ignore_when_apart``): a father and his namesake son share it. A one-token name
    contained in the other's (a marga, a given name, a Balinese birth-order name) is a level
    of its own, below two or more tokens contained (``single_token_level``).
    """
    household = ("no_kk",)
    family = ("no_kk", "nama_ibu_phonetic")
    return (
        IdNumberComparison(column="nik", status_column="nik_status", serial_digits=4, near_miss=True,
                           consistency_columns=("nik_birth_date", "tanggal_lahir", "nik_sex", "jenis_kelamin")),
        NameComparison(column="nama", phonetic_column="nama_phonetic", term_frequency=True, single_token_level=True),
        DateOfBirthComparison(column="tanggal_lahir", status_column="tanggal_lahir_status", year_column="tahun_lahir",
                              year_only_level=True, far_years=5,
                              ignore_when_apart=("no_kk",)),
        ExactMatch(column="jenis_kelamin"),
        NameComparison(column="nama_ibu", phonetic_column="nama_ibu_phonetic", ignore_when_equal=household),
        IdNumberComparison(column="no_kk", status_column="kk_status", serial_digits=4, label="no_kk",
                           other_id_column="nik"),
        RegionComparison(ignore_when_equal=family),
        NeighbourhoodComparison(ignore_when_equal=family),
        JaroWinklerAtThresholds(column="tempat_lahir", thresholds=(0.9,), ignore_when_equal=family),
    )


@dataclass(frozen=True, kw_only=True)
class LinkConfig:
    """A whole run.

    Parameters
    ----------
    sources : tuple of SourceConfig
        At least one source; names unique.
    output_dir : str
        Folder for Parquet/CSV outputs.
    output_formats : tuple of str
        Formats the tables are written in: ``"parquet"`` (the default; raw values, typed
        columns) and/or ``"csv"`` (text cells a spreadsheet would run as a formula get a
        leading quote, see :mod:`regsosek_link.outputs`). A string may list them with commas.
    threshold : float
        Match probability at or above which a pair is accepted as a link.
    review_band : tuple of float
        Probabilities between these two bounds are written to ``links`` as near-threshold.
    blocking_rules, comparisons : tuples of specs
        Default to :func:`default_blocking_rules` / :func:`default_comparisons`.
    link_type : {"link_and_dedupe", "link_only", "dedupe_only"}
        Which pairs to consider.
    profile : {"indonesian", "generic"}
        Name standardisation profile.
    max_block_size : int
        Blocking guard (see :func:`regsosek_link.block.block`).
    chunk_size : int
        Pairs compared at a time.
    u_max_pairs : int
        Random record pairs compared to measure chance agreement (``u``).
    workers : int
        Threads for comparing pairs (comparisons side by side, rapidfuzz's kernels);
        ``-1`` (the default) uses every core. Results do not depend on it.
    random_state : int
        Seed for anything random (sampling).
    nik_constraint : {"evidence", "typo", "strict"}
        When two records with different *credible* NIKs (valid, carrying their record's birth
        date and sex) may be one person. ``"evidence"`` (default): only when their NIKs are a
        near miss (a digit, a transposition or a serial shift apart) *and* every other
        comparison together gives at least ``nik_yield_weight`` bits for one person;
        otherwise the cannot-link holds. ``"typo"``: whenever they are one typo apart (the
        rule before issue 18, which fuses people born on one day in neighbouring
        kecamatans). ``"strict"``: never.
    nik_yield_weight : float
        Bits of evidence the other comparisons must give for the NIK constraint to yield
        (``nik_constraint="evidence"``). The default 20 is about a full name, birth date
        and village agreeing.
    ambiguity : {"review", "merge"}
        ``"review"`` (default): accepted links that are truly ambiguous -- a record with two
        competing candidates that cannot be one person, within ``ambiguity_margin`` bits of
        each other, or two records without a NIK or a real birth date linked only weakly --
        are not merged; they go to the clerical review queue with their reason
        (``LinkResult.ambiguous``, :func:`regsosek_link.review.review_queue`). ``"merge"``:
        they are clustered like any link (the behaviour before issue 18).
    ambiguity_margin : float
        Bits: how close two candidates' weights are to count as equally likely, and how far
        above the threshold's weight a thin link must be to be merged.
    lone_threshold : float
        A record no link accepted (alone after clustering) joins the person of its best
        candidate when that link's probability is at least this (default 0.2, the review
        band's lower end), no other person's link in the review band is within
        ``ambiguity_margin`` bits of it, that person holds no record of its source, and no
        constraint, reviewer's non-match or thin-record rule stands against it
        (:func:`regsosek_link.cluster.join_lone_records`). At or above ``threshold``: lone
        records stay alone. Only links in the review band are read (the links table keeps
        them, so an update joins as a full run does): a value under the band's lower end
        acts as that lower end. A joining link stays below the threshold in the links
        table, so it is in the clerical review queue's band.
    person_id_salt : str, optional
        Where the registry's secret person-ID salt is read from: ``"file:PATH"`` or
        ``"env:NAME"`` (never the salt itself). With it person IDs are keyed hashes nobody
        can recompute from the record IDs (see :mod:`regsosek_link.ids`); keep it for the
        registry's lifetime. Without it IDs are the plain hashes of earlier versions.
    owner_only_outputs : bool
        Create the output folder and files readable by their owner only (0700 / 0600).
    report_explorer : bool
        Also write ``explore.html`` beside the outputs: one self-contained interactive page
        where an analyst searches a person or a record and sees its records side by side,
        its links with their per-comparison weights and its cluster graph
        (:mod:`regsosek_link.explore`). Off by default: the page holds records (names,
        NIKs), which are personal data; it is listed in the processing record and follows
        ``owner_only_outputs``.
    report_explorer_persons : int
        At most this many persons are put in ``explore.html`` (those touched by a
        near-threshold or held-back link first, then persons with conflicting values, then
        persons of several records, then the rest), so the page stays small; it says how
        many of how many it holds.
    memory_check : bool
        Before the embedded engine links, estimate the memory the run needs at its peak
        (about 3 KB a record) and refuse it, naming the memory needed and available, when
        the machine (or its memory cgroup) has less: a run too big for one process is
        stopped before any work instead of being killed halfway. ``False`` skips the
        check. Not a linking setting: it is not compared with a stored registry's.
    survivorship : mapping of str to rule
        How each golden field's value is chosen from a person's records, by field:
        ``{"nama": "most_complete"}``. A rule is a built-in one's name (``"priority"``,
        ``"most_recent"``, ``"most_frequent"``, ``"most_complete"``), a
        :class:`~regsosek_link.extend.SurvivorshipRule` of your own by its import path
        (``"mypackage.rules:Longest"``) or with parameters
        (``{"type": "mypackage.rules:PreferSource", "source": "siak"}``), or a rule object.
        Fields not named keep the defaults (``"most_recent"`` for the address fields, else
        ``"priority"``; see :mod:`regsosek_link.registry`). Saved with the config and the
        store, so an update chooses as the run did.
    """

    sources: tuple[SourceConfig, ...]
    output_dir: str = "regsosek_output"
    output_formats: tuple[str, ...] = ("parquet",)
    threshold: float = 0.9
    review_band: tuple[float, float] = (0.2, 0.9)
    blocking_rules: tuple[BlockingRule, ...] = field(default_factory=default_blocking_rules)
    comparisons: tuple[Comparison, ...] = field(default_factory=default_comparisons)
    link_type: Literal["link_and_dedupe", "link_only", "dedupe_only"] = "link_and_dedupe"
    profile: Literal["indonesian", "generic"] = "indonesian"
    max_block_size: int = 2_000
    chunk_size: int = 1_000_000
    u_max_pairs: int = 300_000
    workers: int = -1
    random_state: int = 0
    nik_constraint: Literal["evidence", "typo", "strict"] = "evidence"
    nik_yield_weight: float = 20.0
    ambiguity: Literal["review", "merge"] = "review"
    ambiguity_margin: float = 3.0
    lone_threshold: float = 0.2
    person_id_salt: str | None = None
    owner_only_outputs: bool = False
    report_explorer: bool = False
    report_explorer_persons: int = 2_000
    memory_check: bool = True
    survivorship: Mapping[str, SurvivorshipRule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(
            s if isinstance(s, SourceConfig) else _source_from_dict(s) for s in self.sources
        ))
        object.__setattr__(self, "blocking_rules", tuple(_spec.from_dict("blocking_rule", r) for r in self.blocking_rules))
        object.__setattr__(self, "comparisons", tuple(_spec.from_dict("comparison", c) for c in self.comparisons))
        object.__setattr__(self, "review_band", tuple(self.review_band))
        problems: list[Problem] = []
        try:
            object.__setattr__(self, "output_formats", check_formats(self.output_formats, where="output_formats"))
        except ConfigError as exc:
            problems.extend(exc.problems)
        if not self.sources:
            problems.append(Problem(source=None, where="sources", message="the config names no sources; add at least one under 'sources'"))
        names = [s.name for s in self.sources]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            problems.append(Problem(source=None, where="sources", message=f"source names must be unique; repeated: {dups}"))
        if not isinstance(self.threshold, (int, float)) or not 0 < self.threshold < 1:
            problems.append(Problem(source=None, where="threshold",
                                    message=f"The 'threshold' parameter must be a float in (0, 1). Got {self.threshold!r} instead."))
        if self.link_type not in ("link_and_dedupe", "link_only", "dedupe_only"):
            problems.append(Problem(source=None, where="link_type",
                                    message=f"link_type must be link_and_dedupe, link_only or dedupe_only; got {self.link_type!r}"))
        if self.profile not in ("indonesian", "generic"):
            problems.append(Problem(source=None, where="profile",
                                    message=f"profile must be 'indonesian' or 'generic'; got {self.profile!r}"))
        if not isinstance(self.workers, int) or self.workers == 0 or self.workers < -1:
            problems.append(Problem(source=None, where="workers",
                                    message=f"The 'workers' parameter must be a positive int or -1 (all cores). Got {self.workers!r} instead."))
        if self.nik_constraint not in ("evidence", "typo", "strict"):
            problems.append(Problem(source=None, where="nik_constraint",
                                    message="nik_constraint must be 'evidence', 'typo' or 'strict'; "
                                    f"got {self.nik_constraint!r}"))
        if self.ambiguity not in ("review", "merge"):
            problems.append(Problem(source=None, where="ambiguity",
                                    message=f"ambiguity must be 'review' or 'merge'; got {self.ambiguity!r}"))
        for key in ("nik_yield_weight", "ambiguity_margin"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                problems.append(Problem(source=None, where=key,
                                        message=f"The {key!r} parameter must be a number >= 0 (bits). "
                                        f"Got {value!r} instead."))
        lone = self.lone_threshold
        if isinstance(lone, bool) or not isinstance(lone, (int, float)) or not 0 <= lone <= 1:
            problems.append(Problem(source=None, where="lone_threshold",
                                    message=f"The 'lone_threshold' parameter must be a float in [0, 1]. "
                                    f"Got {lone!r} instead."))
        if not isinstance(self.report_explorer, bool):
            problems.append(Problem(source=None, where="report_explorer", message=(
                f"report_explorer must be true or false; got {self.report_explorer!r}")))
        persons = self.report_explorer_persons
        if isinstance(persons, bool) or not isinstance(persons, int) or persons < 1:
            problems.append(Problem(source=None, where="report_explorer_persons", message=(
                "report_explorer_persons must be a whole number >= 1 (persons put in "
                f"explore.html); got {persons!r}")))
        if not self.blocking_rules:
            problems.append(Problem(source=None, where="blocking_rules", message="at least one blocking rule is needed"))
        if not self.comparisons:
            problems.append(Problem(source=None, where="comparisons", message="at least one comparison is needed"))
        if not isinstance(self.memory_check, bool):
            problems.append(Problem(source=None, where="memory_check",
                                    message=f"memory_check must be true or false; got {self.memory_check!r}"))
        try:
            object.__setattr__(self, "survivorship", given_rules(self.survivorship, REGISTRY_FIELDS))
        except ConfigError as exc:
            problems.extend(exc.problems)
        if self.person_id_salt is not None and not (isinstance(self.person_id_salt, str)
                                                    and self.person_id_salt.startswith(("file:", "env:"))):
            problems.append(Problem(source=None, where="person_id_salt",
                                    message="person_id_salt must name where the salt is kept, 'file:PATH' or "
                                    "'env:NAME', never the salt itself; got a value of another form"))
        if problems:
            raise ConfigError(problems)

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def golden_options(self) -> dict[str, Any]:
        """Survivorship keywords of :func:`regsosek_link.registry.golden_records` for these sources:
        per-source (and per-field) priorities, extract dates, one-record-per-person sources
        and the fields' rules."""
        priorities = {s.name: {"*": s.priority, **s.field_priority} for s in self.sources}
        return {
            "priorities": priorities,
            "as_of": {s.name: s.as_of for s in self.sources if s.as_of},
            "single_record_sources": [s.name for s in self.sources if s.one_record_per_person],
            "survivorship": dict(self.survivorship),
        }

    def date_options(self) -> DateOptions:
        """Keywords of :func:`regsosek_link.standardise.standardise` for these sources' dates:
        ``date_formats`` and ``dayfirst`` by source name (only the sources that set them)."""
        return {
            "date_formats": {s.name: s.date_format for s in self.sources if s.date_format},
            "dayfirst": {s.name: s.dayfirst for s in self.sources if not s.dayfirst},
        }

    def replace(self, **changes: Any) -> LinkConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    # -- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "sources": [s.to_dict() for s in self.sources],
            "output_dir": self.output_dir,
            "output_formats": list(self.output_formats),
            "threshold": self.threshold,
            "review_band": list(self.review_band),
            "blocking_rules": [_spec.to_dict(r) for r in self.blocking_rules],
            "comparisons": [_spec.to_dict(c) for c in self.comparisons],
            "link_type": self.link_type,
            "profile": self.profile,
            "max_block_size": self.max_block_size,
            "chunk_size": self.chunk_size,
            "u_max_pairs": self.u_max_pairs,
            "workers": self.workers,
            "random_state": self.random_state,
            "nik_constraint": self.nik_constraint,
            "nik_yield_weight": self.nik_yield_weight,
            "ambiguity": self.ambiguity,
            "ambiguity_margin": self.ambiguity_margin,
        } | ({} if self.lone_threshold == 0.2 else {"lone_threshold": self.lone_threshold}) | (
            {"person_id_salt": self.person_id_salt} if self.person_id_salt else {}) | (
            {"owner_only_outputs": True} if self.owner_only_outputs else {}) | (
            {"report_explorer": True} if self.report_explorer else {}) | (
            {"report_explorer_persons": self.report_explorer_persons}
            if self.report_explorer_persons != 2_000 else {}) | (
            {} if self.memory_check else {"memory_check": False}) | (
            {"survivorship": {f: rule_spec(r) for f, r in self.survivorship.items()}} if self.survivorship else {})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, base_dir: str | Path | None = None) -> LinkConfig:
        if not isinstance(data, Mapping):
            raise ConfigError(f"a config must be a mapping; got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s) {unknown}; known keys: {', '.join(sorted(known))}")
        kwargs = dict(data)
        sources = []
        problems: list[Problem] = []
        for i, s in enumerate(kwargs.get("sources", []) or []):
            try:
                src = _source_from_dict(s, index=i)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            if base_dir is not None and src.path and not Path(src.path).is_absolute():
                src = dataclasses.replace(src, path=str(Path(base_dir) / src.path))
            sources.append(src)
        if problems:
            raise ConfigError(problems)
        kwargs["sources"] = tuple(sources)
        out_dir = kwargs.get("output_dir")
        if base_dir is not None and out_dir and not Path(out_dir).is_absolute():
            kwargs["output_dir"] = str(Path(base_dir) / out_dir)
        for key in ("blocking_rules", "comparisons"):
            if key in kwargs and kwargs[key] is None:
                del kwargs[key]
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def to_toml(self) -> str:
        return _to_toml(self.to_dict())

    def save(self, path: str | Path) -> Path:
        """Write as JSON, YAML or TOML by the file's suffix."""
        path = Path(path)
        text = {".json": self.to_json, ".yaml": self.to_yaml, ".yml": self.to_yaml, ".toml": self.to_toml}
        if path.suffix.lower() not in text:
            raise ConfigError(f"config file {str(path)!r}: use a .json, .yaml, .yml or .toml suffix")
        path.write_text(text[path.suffix.lower()](), encoding="utf-8")
        return path


def _source_from_dict(data: Any, *, index: int | None = None) -> SourceConfig:
    where = f"sources[{index}]" if index is not None else "source"
    if isinstance(data, SourceConfig):
        return data
    if not isinstance(data, Mapping):
        raise ConfigError(Problem(source=None, where=where, message=f"{where} must be a mapping; got {data!r}"))
    known = {f.name for f in dataclasses.fields(SourceConfig)}
    unknown = sorted(set(data) - known)
    name = data.get("name")
    if unknown:
        raise ConfigError(Problem(source=name, where=where,
                                  message=f"unknown key(s) {unknown}; known keys: {', '.join(sorted(known))}"))
    if "name" not in data:
        raise ConfigError(Problem(source=None, where=where, message=f"{where} has no 'name'"))
    return SourceConfig(**data)


def load_config(path: str | Path) -> LinkConfig:
    """Read a run config from a JSON, YAML or TOML file.

    Source paths and ``output_dir`` are taken relative to the config file's folder.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif suffix == ".toml":
            data = tomllib.loads(text)
        else:
            raise ConfigError(f"config file {str(path)!r}: use a .json, .yaml, .yml or .toml suffix")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid {suffix[1:].upper()}: {exc}") from exc
    except Exception as exc:  # yaml errors
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from exc
    return LinkConfig.from_dict(data or {}, base_dir=path.parent)


# ----------------------------------------------------------------------------------------
# minimal TOML writer (tomllib reads only); enough for our plain config dicts


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, Sequence):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise ConfigError(f"cannot write {v!r} to TOML")


def _to_toml(d: Mapping[str, Any]) -> str:
    lines = []
    tables = []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, list) and v and all(isinstance(x, Mapping) for x in v):
            tables.append((k, v))
        else:
            lines.append(f"{k} = {_toml_value(v)}")
    for k, items in tables:
        for item in items:
            lines.append(f"\n[[{k}]]")
            for kk, vv in item.items():
                if vv is not None:
                    lines.append(f"{kk} = {_toml_value(vv)}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------
# a config against the one a stored registry was linked with

#: Run settings that decide which records are one person, and the survivorship rules that
#: decide their golden values: a registry must be updated with the settings it was linked
#: with (or re-linked as a whole).
STORED_RUN_SETTINGS: tuple[str, ...] = ("threshold", "link_type", "profile", "max_block_size", "blocking_rules",
                                        "comparisons", "nik_constraint", "nik_yield_weight", "ambiguity",
                                        "ambiguity_margin", "lone_threshold", "survivorship")
#: Source settings that decide clustering constraints and golden values.
STORED_SOURCE_SETTINGS: tuple[str, ...] = ("one_record_per_person", "priority", "field_priority", "as_of")


def _show(value: Any) -> str:
    if isinstance(value, tuple) and value and not isinstance(value[0], (int, float, str)):
        return "[" + ", ".join(json.dumps(_spec.to_dict(v), sort_keys=True) for v in value) + "]"
    return json.dumps(value, sort_keys=True, default=lambda v: rule_spec(v) if isinstance(v, SurvivorshipRule) else str(v))


def settings_differences(stored: LinkConfig, config: LinkConfig, *, stored_sources: Sequence[str] = (),
                         every_source: bool = False) -> list[str]:
    """How ``config`` contradicts ``stored``, the config a registry was linked with: one line
    per run setting (:data:`STORED_RUN_SETTINGS`) or source setting
    (:data:`STORED_SOURCE_SETTINGS`) that differs, and (with ``every_source``, for a run
    that replaces the registry's content) each source holding stored records
    (``stored_sources``) that ``config`` does not name. Empty when they agree.
    """
    out = []
    for name in STORED_RUN_SETTINGS:
        a, b = getattr(stored, name), getattr(config, name)
        if a != b:
            out.append(f"{name}: the registry was linked with {_show(a)}, this config has {_show(b)}")
    have = {s.name: s for s in stored.sources}
    for src in config.sources:
        old = have.get(src.name)
        if old is None:
            continue
        for name in STORED_SOURCE_SETTINGS:
            a, b = getattr(old, name), getattr(src, name)
            if a != b:
                out.append(f"source {src.name!r} {name}: stored {_show(a)}, this config {_show(b)}")
    if every_source:
        names = {s.name for s in config.sources}
        for name in sorted(set(stored_sources) - names):
            out.append(f"source {name!r} holds stored records but this config does not name it")
    return out


def with_stored_sources(stored: LinkConfig, config: LinkConfig) -> LinkConfig:
    """``config`` with the sources of ``stored`` it does not name added (settings as
    stored, no path: their records come from the store), so a batch-only config keeps every
    stored source's constraints and survivorship."""
    names = {s.name for s in config.sources}
    kept = tuple(dataclasses.replace(s, path=None) for s in stored.sources if s.name not in names)
    return config.replace(sources=kept + tuple(config.sources))
