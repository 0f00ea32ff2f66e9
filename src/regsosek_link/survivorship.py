"""Survivorship rules: which of a person's records gives the golden value of a field.

The registry stage (:func:`regsosek_link.registry.golden_records`) hands each field's rule the
:class:`Candidates` of that field -- every record that holds a value, grouped by person -- and
the rule returns, for each person, the position of the candidate whose value survives. The
registry takes the value, its source and its record ID from that one record, so provenance is
exact whatever the rule.

A rule is a :class:`SurvivorshipRule`. Most rules only say what to prefer: their
:meth:`~SurvivorshipRule.keys` list sort keys, most important first, and the default
:meth:`~SurvivorshipRule.choose` keeps, key by key, each person's candidates with the lowest
key (:meth:`Candidates.best`) after the usable values (a credible NIK, a valid KK number, a
real birth date) are kept first. A key is an array with one value per candidate (lower wins;
``False`` before ``True``, NaN last), a callable evaluated on the candidates still tied, or
the name of a built-in criterion of :data:`CRITERIA`. Remaining ties go to the smallest
``(source, record_id)``: the candidates are in that order, so a rule's result never depends on
the order of the input rows.

The built-in rules (:class:`BuiltInRule`, :data:`BUILT_IN`), by the name a config gives them:

``"priority"`` (the default)
    the source's rank for the field (lower wins; for the identity fields a source holding one
    record per person next), then the most frequent value, then the longest;
``"most_recent"`` (the default of the address fields)
    the latest extract date (undated records last), then as ``"priority"``;
``"most_frequent"``
    the value most of the person's records hold, then the priority, then the longest;
``"most_complete"``
    the longest value, then the priority, then the most frequent.

A rule of your own is a subclass of :class:`SurvivorshipRule` written as a frozen keyword-only
dataclass in an importable module; a config names it by its import path, alone
(``nama: mypackage.rules:Longest``) or with its parameters
(``nama: {type: mypackage.rules:PreferSource, source: siak}``), and saves it so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from . import _spec
from .errors import ConfigError, Problem

__all__ = [
    "BUILT_IN",
    "CRITERIA",
    "BuiltInRule",
    "Candidates",
    "SurvivorshipRule",
    "rule_spec",
    "survivorship_rule",
]

#: A sort key of :meth:`Candidates.best`: one value per candidate (lower wins), a callable of
#: the candidates still tied giving one value each, or a criterion's name (:data:`CRITERIA`).
Key = np.ndarray | Callable[["Candidates"], np.ndarray] | str


@dataclass(frozen=True, eq=False)
class _FieldView:
    """What the registry knows of one field's records (made by :mod:`regsosek_link.registry`):
    the records in candidate order (``perm``: by person, then source, then record ID) and
    the per-record and per-source facts the criteria read."""

    field: str
    n_persons: int
    records: pd.DataFrame
    column: Any  #: the field's values (a pandas extension array), one per record
    perm: np.ndarray  #: record positions in candidate order
    person_s: np.ndarray  #: person of each record, in ``perm`` order
    ok_s: np.ndarray  #: has a value, in ``perm`` order
    source_s: np.ndarray  #: source code (into ``sources``), in ``perm`` order
    sources: np.ndarray  #: the source names, sorted
    by_source: np.ndarray  #: per source code: rank of the source for this field (lower wins)
    priority: np.ndarray  #: per source code: the configured priority for this field
    single_record: np.ndarray  #: per source code: the source holds one record per person
    recency: np.ndarray | None  #: per record: extract date in days since 1970 (NaN: undated)
    quality: np.ndarray | None  #: per record: usability of the value, 0 best (None: all equal)
    record_ids: Callable[[], Any]  #: gives the records' IDs (an Arrow or pandas string array)


def _taken(array: str, by: str) -> cached_property[np.ndarray]:
    """A lazy attribute of :class:`Candidates`: ``view.<array>[self.<by>]``."""
    return cached_property(lambda self: getattr(self._view, array)[getattr(self, by)])


class Candidates:
    """The records holding a value of one field, grouped by person: what a
    :class:`SurvivorshipRule` chooses from.

    Candidates are sorted by person, then source, then record ID; a position ``i`` (0 to
    ``len(candidates) - 1``) names one candidate. Every attribute is an array with one entry
    per candidate, computed on first use.

    Attributes
    ----------
    field : str
        The golden field.
    n_persons : int
        Persons of the registry (numbered 0 to ``n_persons - 1``; a person without a value of
        the field has no candidate).
    person : numpy.ndarray of int64
        Each candidate's person, ascending.
    values : numpy.ndarray of object
        The candidates' values of the field (never missing; ``str`` for text fields).
    source, record_id : numpy.ndarray of object
        Each candidate's source and record ID (``str``).
    row : numpy.ndarray of int64
        Each candidate's row in the records the registry was made from.
    priority : numpy.ndarray of int64
        The configured priority of the candidate's source for this field (lower wins; 100 when
        the config sets none).
    single_record : numpy.ndarray of bool
        The candidate's source holds one record per person (the civil registry).
    as_of : numpy.ndarray of datetime64[D]
        The candidate's extract date: the record's own ``as_of``, else its source's
        (``NaT``: undated).
    quality : numpy.ndarray of int64
        Usability of the value, 0 best: for ``nik`` 0 a credible NIK, 1 a merely valid one, 2
        any other; for ``no_kk`` 0 a valid KK number; for ``tanggal_lahir`` 0 a real date, 1
        a placeholder (1 July, 31 December), 2 any other. 0 for other fields.
    frequency : numpy.ndarray of int64
        How many of the person's records hold the candidate's value.
    length : numpy.ndarray of int64
        Length of the value as text.
    """

    def __init__(self, view: _FieldView, cand: np.ndarray) -> None:
        self._view = view
        self._cand = cand  # positions in the view's candidate order (ascending)

    def __len__(self) -> int:
        return len(self._cand)

    def __repr__(self) -> str:
        return f"<Candidates of {self.field!r}: {len(self)} records of {self.n_persons} persons>"

    @property
    def field(self) -> str:
        return self._view.field

    @property
    def n_persons(self) -> int:
        return self._view.n_persons

    # arrays of the view taken in candidate order: by candidate, or by the candidates' sources
    person = _taken("person_s", "_cand")
    row = _taken("perm", "_cand")
    _source_code = _taken("source_s", "_cand")
    source = _taken("sources", "_source_code")
    priority = _taken("priority", "_source_code")
    single_record = _taken("single_record", "_source_code")

    @cached_property
    def record_id(self) -> np.ndarray:
        return np.asarray(pd.Series(self._view.record_ids().take(self.row)).to_numpy(dtype=object))

    @cached_property
    def values(self) -> np.ndarray:
        return np.asarray(self._array().to_numpy(dtype=object))

    def _array(self) -> Any:
        """The values as the records' extension array (no conversion to Python objects)."""
        return self._view.column.take(self.row)

    @cached_property
    def as_of(self) -> np.ndarray:
        if self._view.recency is None:
            return np.full(len(self), np.datetime64("NaT"), "datetime64[D]")
        days = self._view.recency[self.row]
        out = np.full(len(self), np.datetime64("NaT"), "datetime64[D]")
        dated = ~np.isnan(days)
        out[dated] = days[dated].astype(np.int64).astype("datetime64[D]")
        return out

    @cached_property
    def quality(self) -> np.ndarray:
        q = self._view.quality
        return np.zeros(len(self), np.int64) if q is None else np.asarray(q[self.row], np.int64)

    @cached_property
    def length(self) -> np.ndarray:
        return pd.Series(self._array()).astype(str).str.len().to_numpy(np.int64)

    @cached_property
    def frequency(self) -> np.ndarray:
        # counted among every record of these persons with a value (not only the candidates
        # still tied), the values factorised for those persons only
        v = self._view
        persons = np.zeros(v.n_persons, bool)
        persons[self.person] = True
        rows = np.flatnonzero(persons[v.person_s] & v.ok_s)
        codes, uniq = pd.factorize(v.column.take(v.perm[rows]))
        group, size = _groups(v.person_s[rows] * max(len(uniq), 1) + codes)
        return np.asarray(size[group[np.searchsorted(rows, self._cand)]], np.int64)

    def column(self, name: str) -> np.ndarray:
        """The candidates' values of another column of the records (object array; ``None``
        where missing or where the records lack the column)."""
        records = self._view.records
        if name not in records.columns:
            return np.full(len(self), None, dtype=object)
        taken = records[name].take(self.row)
        return np.asarray(taken.astype(object).where(taken.notna(), None).to_numpy(dtype=object))

    def subset(self, positions: np.ndarray) -> Candidates:
        """The candidates at ``positions`` (ascending), with the same attributes; a key's
        ``frequency`` still counts every record of the person."""
        return Candidates(self._view, self._cand[np.asarray(positions, np.int64)])

    # -- choosing ------------------------------------------------------------------------

    def best(self, *keys: Key | None) -> np.ndarray:
        """For each person, the position of the candidate with the lowest ``keys``, compared
        one after the other; remaining ties go to the first candidate (the smallest
        ``(source, record_id)``).

        Parameters
        ----------
        *keys : array, callable, str or None
            Each key is an array of one value per candidate (bool, numbers or str; lower
            wins, NaN last), a callable given the :class:`Candidates` still tied (a subset)
            and returning one value per candidate, or the name of a criterion of
            :data:`CRITERIA`. A key is evaluated only while some person still has several
            candidates, and a callable or a criterion only on those persons' candidates.
            ``None`` keys are skipped.

        Returns
        -------
        numpy.ndarray of int64
            ``n_persons`` positions into these candidates; -1 for a person without one.
        """
        idx = np.arange(len(self))
        p = self.person
        n_with = int(np.count_nonzero(p[1:] != p[:-1])) + 1 if len(p) else 0
        first_key = True
        for key in keys:
            if key is None:
                continue
            if len(idx) == n_with:  # one candidate per person left
                break
            # the first key sees every candidate; later ones only the still tied persons'
            tied = slice(None) if first_key else np.bincount(p, minlength=self.n_persons)[p] > 1
            k = self._key(key, idx[tied])
            if k is None:  # all equal
                continue
            first_key = False
            lowest = np.full(self.n_persons, np.inf if k.dtype.kind == "f" else np.iinfo(np.int64).max, k.dtype)
            np.minimum.at(lowest, p[tied], k)
            keep = np.ones(len(idx), bool)
            keep[tied] = k == lowest[p[tied]]
            idx, p = idx[keep], p[keep]
        pos = np.full(self.n_persons, -1, np.int64)
        first = np.r_[True, p[1:] != p[:-1]] if len(p) else np.zeros(0, bool)
        pos[p[first]] = idx[first]
        return pos

    def _key(self, key: Key, positions: np.ndarray) -> np.ndarray | None:
        """``key`` of the candidates at ``positions`` as int64 or float64 (NaN: +inf)."""
        if isinstance(key, str):
            if key not in CRITERIA:
                raise ConfigError(f"survivorship of {self.field!r}: unknown criterion {key!r}; "
                                  f"criteria: {', '.join(CRITERIA)}")
            sub = self.subset(positions) if len(positions) != len(self) else self
            got = CRITERIA[key](sub)
            if got is None:
                return None
        elif callable(key):
            sub = self.subset(positions) if len(positions) != len(self) else self
            got = key(sub)
        else:
            got = np.asarray(key)
            if got.shape != (len(self),):
                raise ConfigError(f"survivorship of {self.field!r}: a key has shape {got.shape}; it needs one "
                                  f"value per candidate ({len(self)})")
            got = got[positions]
        got = np.asarray(got)
        if got.shape != (len(positions),):
            raise ConfigError(f"survivorship of {self.field!r}: a key gave an array of shape {got.shape} for "
                              f"{len(positions)} candidates")
        if got.dtype.kind in "biu":
            return got.astype(np.int64, copy=False)
        if got.dtype.kind == "f":
            return np.where(np.isnan(got), np.inf, got)
        if got.dtype.kind == "M":
            return np.where(np.isnat(got), np.inf, got.astype("datetime64[D]").astype(np.int64).astype(float))
        # text (or other objects): their rank in sorted order
        return pd.factorize(pd.Series(got, dtype=object).astype(str), sort=True)[0].astype(np.int64)


def _groups(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group code of each int64 key and the size of each group (hashing, no sort)."""
    codes, _ = pd.factorize(key)
    return codes, np.bincount(codes)


def _most_recent(c: Candidates) -> np.ndarray | None:
    recency = c._view.recency
    if recency is None:
        return None
    days = recency[c.row]
    return np.where(np.isnan(days), np.inf, -days)


#: The built-in criteria a key can name, each a function of the candidates still tied giving
#: one key per candidate (lower wins; ``None``: all equal):
#:
#: ``"usable"``: :attr:`Candidates.quality`; ``"priority"``: the source's priority for the
#: field, then (for the identity fields) a one-record-per-person source; ``"most_recent"``:
#: the latest extract date first, undated last; ``"most_frequent"``: the value most of the
#: person's records hold first; ``"longest"``: the longest value first.
CRITERIA: Mapping[str, Callable[[Candidates], np.ndarray | None]] = {
    "usable": lambda c: None if c._view.quality is None else c.quality,
    "priority": lambda c: c._view.by_source[c._source_code],
    "most_recent": _most_recent,
    "most_frequent": lambda c: -c.frequency,
    "longest": lambda c: -c.length,
}


@dataclass(frozen=True, kw_only=True)
class SurvivorshipRule:
    """Base of a survivorship rule: how a person's golden value of a field is chosen from its
    records.

    Subclass it as a ``@dataclass(frozen=True, kw_only=True)`` in an importable module; its
    fields are the rule's parameters, saved with the config. Define :meth:`keys` (what to
    prefer, most important first) or, for full control, :meth:`choose`.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True, kw_only=True)
    ... class PreferSource(SurvivorshipRule):
    ...     source: str
    ...     def keys(self, candidates):
    ...         return [candidates.source != self.source, "most_recent", "priority"]
    >>> PreferSource(source="siak")
    PreferSource(source='siak')
    """

    def keys(self, candidates: Candidates) -> Sequence[Key | None]:
        """Sort keys of the candidates, most important first (see :meth:`Candidates.best`).

        Parameters
        ----------
        candidates : Candidates
            Every record with a value of the field, grouped by person.

        Returns
        -------
        sequence
            Keys: arrays with one value per candidate (lower wins), callables of the
            candidates still tied, or criteria's names (:data:`CRITERIA`).
        """
        raise NotImplementedError(f"{type(self).__name__} must define keys(candidates) or choose(candidates)")

    def choose(self, candidates: Candidates) -> np.ndarray:
        """For each person, the position of the candidate whose value survives.

        The default keeps the usable values first (criterion ``"usable"``), then follows
        :meth:`keys` (given the same ``candidates``); ties go to the smallest
        ``(source, record_id)``.

        Returns
        -------
        numpy.ndarray of int
            ``candidates.n_persons`` positions into ``candidates`` (a position of that
            person's candidates), or -1 for a person left without a value.
        """
        return candidates.best("usable", *self.keys(candidates))


#: The built-in rules by their config name: each one's criteria (:data:`CRITERIA`) in order.
BUILT_IN: Mapping[str, tuple[str, ...]] = {
    "priority": ("priority", "most_frequent", "longest"),
    "most_recent": ("most_recent", "priority", "most_frequent", "longest"),
    "most_frequent": ("most_frequent", "priority", "longest"),
    "most_complete": ("longest", "priority", "most_frequent"),
}


@dataclass(frozen=True, kw_only=True)
class BuiltInRule(SurvivorshipRule):
    """A built-in rule, by its name in :data:`BUILT_IN`: its criteria one after the other.

    >>> BuiltInRule(name="most_recent").keys(None)
    ('most_recent', 'priority', 'most_frequent', 'longest')
    """

    name: str

    def __post_init__(self) -> None:
        if self.name not in BUILT_IN:
            raise ConfigError(f"unknown built-in survivorship rule {self.name!r}; built-in rules: "
                              f"{', '.join(BUILT_IN)}")

    def keys(self, candidates: Candidates) -> Sequence[Key | None]:
        return BUILT_IN[self.name]


def _fix(field: str) -> str:
    return (f"give the field one of {', '.join(BUILT_IN)}, or a rule of your own by its import path, "
            f"'package.module:ClassName' or {{type: 'package.module:ClassName', ...parameters}}")


def survivorship_rule(spec: Any, field: str) -> SurvivorshipRule:
    """The rule a config gives a field: a built-in rule's name (``"most_recent"``), an import
    path of a :class:`SurvivorshipRule` subclass (``"mypackage.rules:Longest"``), a mapping
    ``{"type": name or import path, ...parameters}``, or a rule.

    Raises
    ------
    ConfigError
        The spec names no rule; the message names the field and how to fix it.

    >>> survivorship_rule("most_recent", "alamat")
    BuiltInRule(name='most_recent')
    """
    where = f"survivorship.{field}"
    if isinstance(spec, SurvivorshipRule):
        return spec
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str):
        raise ConfigError(Problem(source=None, where=where, message=(
            f"survivorship of {field!r}: a rule is a name or a mapping with a 'type'; got {spec!r}; {_fix(field)}")))
    data = dict(spec)
    name = data["type"]
    if name in BUILT_IN:
        if len(data) > 1:
            raise ConfigError(Problem(source=None, where=where, message=(
                f"survivorship of {field!r}: rule {name!r} has no parameter(s) "
                f"{', '.join(sorted(set(data) - {'type'}))}; it takes none")))
        return BuiltInRule(name=name)
    if ":" in name:
        try:
            cls = _spec.import_object(name, what="survivorship rule")
        except ConfigError as exc:
            raise ConfigError(Problem(source=None, where=where, message=f"survivorship of {field!r}: {exc}")) from exc
        if not (isinstance(cls, type) and issubclass(cls, SurvivorshipRule)):
            raise ConfigError(Problem(source=None, where=where, message=(
                f"survivorship of {field!r}: {name!r} is not a SurvivorshipRule; subclass "
                "regsosek_link.extend.SurvivorshipRule as a @dataclass(frozen=True, kw_only=True)")))
    else:
        raise ConfigError(Problem(source=None, where=where, message=(
            f"survivorship of {field!r}: unknown rule {name!r}; {_fix(field)}")))
    try:
        rule = _spec.from_dict("survivorship rule", data)
    except ConfigError as exc:
        raise ConfigError(Problem(source=None, where=where, message=f"survivorship of {field!r}: {exc}")) from exc
    return rule


def rule_spec(rule: SurvivorshipRule) -> str | dict[str, Any]:
    """The form a rule is saved in: a built-in rule's name, a rule of your own without
    parameters by its import path, else ``{"type": import path, ...parameters}``.

    >>> rule_spec(BuiltInRule(name="most_recent"))
    'most_recent'
    """
    if isinstance(rule, BuiltInRule):
        return rule.name
    spec = _spec.to_dict(rule)
    return spec["type"] if len(spec) == 1 else spec


def chosen_rows(rule: SurvivorshipRule, candidates: Candidates) -> np.ndarray:
    """The record row each person's value is taken from (-1: none): ``rule.choose``, checked."""
    pos = np.asarray(rule.choose(candidates))
    n = candidates.n_persons
    what = f"survivorship of {candidates.field!r}: {type(rule).__name__}.choose()"
    if pos.shape != (n,) or pos.dtype.kind not in "iu":
        raise ConfigError(f"{what} must return one integer position per person ({n}); got an array of shape "
                          f"{pos.shape} and dtype {pos.dtype}")
    pos = pos.astype(np.int64, copy=False)
    chosen = np.flatnonzero(pos >= 0)
    if len(chosen) and (int(pos.min()) < -1 or int(pos.max()) >= len(candidates)):
        raise ConfigError(f"{what} returned a position outside -1..{len(candidates) - 1}")
    if not (candidates.person[pos[chosen]] == chosen).all():
        bad = int(chosen[np.flatnonzero(candidates.person[pos[chosen]] != chosen)[0]])
        raise ConfigError(f"{what} chose for person {bad} a record of person "
                          f"{int(candidates.person[pos[bad]])}; a position must be one of the person's candidates")
    rows = np.full(n, -1, np.int64)
    rows[chosen] = candidates.row[pos[chosen]]
    return rows


def given_rules(survivorship: Mapping[str, Any] | None, fields: Sequence[str]) -> dict[str, SurvivorshipRule]:
    """The rules ``survivorship`` gives (``{field: spec}``, see :func:`survivorship_rule`),
    checked: every problem (an unknown field, a spec naming no rule) in one
    :class:`~regsosek_link.errors.ConfigError`."""
    if survivorship is None:
        return {}
    if not isinstance(survivorship, Mapping):
        raise ConfigError(Problem(source=None, where="survivorship", message=(
            f"survivorship must be a mapping of field to rule ({{nama: most_complete}}); got {survivorship!r}")))
    problems: list[Problem] = []
    unknown = sorted(str(f) for f in set(survivorship) - set(fields))
    if unknown:
        problems.append(Problem(source=None, where="survivorship", message=(
            f"survivorship names unknown field(s) {unknown}; fields: {', '.join(fields)}")))
    out: dict[str, SurvivorshipRule] = {}
    for f, spec in survivorship.items():
        if f in fields:
            try:
                out[f] = survivorship_rule(spec, f)
            except ConfigError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return out


def field_rules(survivorship: Mapping[str, Any] | None, fields: Sequence[str],
                defaults: Mapping[str, str]) -> dict[str, SurvivorshipRule]:
    """The rule of each field in ``fields``: ``survivorship``'s (:func:`given_rules`), else
    ``defaults``', else ``"priority"``."""
    given = given_rules(survivorship, fields)
    return {f: given[f] if f in given else survivorship_rule(defaults.get(f, "priority"), f) for f in fields}
