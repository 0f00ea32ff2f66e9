"""The extension API: custom comparisons, blocking keys and survivorship rules that save like
built-in ones.

A **comparison** turns a pair of records into a *level*: ``-1`` missing (either side has no
value; never counted as disagreement), ``0`` different, and higher levels for stronger
agreement. The model learns one match weight per level. There are two ways to make one:

* :class:`LevelComparison` - declarative, from a list of levels (weakest first), each a
  condition on the two values, as Splink's custom comparisons::

      rl.LevelComparison(column="nama_ibu", levels=(
          {"label": "Jaro-Winkler >= 0.88", "jaro_winkler": 0.88},
          {"label": "one edit", "levenshtein": 1},
          {"label": "exact", "exact": True},
      ))

* :class:`CustomComparison` - a subclass with a vectorised ``compare_values`` method on the two
  columns of values, as recordlinkage's ``BaseCompareFeature``::

      @dataclass(frozen=True, kw_only=True)
      class SameInitials(rl.CustomComparison):
          level_names = ("different", "same initials")

          def compare_values(self, left, right):
              def initials(v):
                  return np.array(["".join(w[0] for w in s.split()) for s in v])
              return (initials(left) == initials(right)).astype(np.int8)

Either one goes into :attr:`LinkConfig.comparisons <regsosek_link.LinkConfig>` and
saves with the config (``config.save``) and with the model (``save_model``, the store): a
class of the library is written by its name, any other class by its import path
(``{"type": "mypackage.linking:SameInitials", "column": "nama"}``), which loading imports.
So a comparison defined in an importable module needs no registration: put the module on
``PYTHONPATH`` (or install it) and the command line reads its configs and stored models.
A config file that names an import path runs that module's code, like any Python file.

A **blocking key** is a function of one value named by its import path in a key
expression: ``BlockOn(keys=("mypackage.linking:initials(nama)", "tanggal_lahir"))``. It is
called once per distinct value of the column (a stripped, non-blank ``str``), with the
number as a second argument when the expression gives one (``...:initials(nama, 2)``), and
returns the key, or ``None`` or ``""`` for a record without one.

A **survivorship rule** chooses, for each person, the record whose value of a field becomes
the golden value (and so its provenance: that record's source and ID). Subclass
:class:`SurvivorshipRule` and say what to prefer, most important first, as sort keys over the
field's :class:`Candidates` (every record with a value, grouped by person)::

    @dataclass(frozen=True, kw_only=True)
    class PreferSource(rl.SurvivorshipRule):
        source: str = "siak"

        def keys(self, candidates):
            return [candidates.source != self.source, "most_recent", "priority"]

A key is an array with one value per candidate (lower wins), a callable of the candidates
still tied, or a built-in criterion's name (:data:`CRITERIA`); remaining ties go to the
smallest ``(source, record_id)``. Override ``choose`` instead to return each person's
candidate position yourself. A config gives a field its rule by name for the built-in ones
and by import path for yours: ``survivorship: {nama: most_complete, alamat:
{type: mypackage.linking:PreferSource, source: siak}}``.

All run vectorised: a comparison's ``compare_values`` is called once per distinct pair of values
(names repeat, so far fewer than the pairs) in chunks, a key function once per distinct
value, a survivorship rule once per field over every person at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from . import _spec
from .compare import MISSING, Comparison, Prepared, _OneColumn
from .errors import ConfigError
from .survivorship import CRITERIA, Candidates, SurvivorshipRule

__all__ = ["CRITERIA", "LEVEL_CONDITIONS", "Candidates", "Comparison", "CustomComparison", "LevelComparison",
           "SurvivorshipRule", "comparison_type"]


@dataclass(frozen=True, kw_only=True)
class CustomComparison(_OneColumn):
    """Base of a comparison of one column, defined by a vectorised ``compare_values`` method.

    Subclass it as a ``@dataclass(frozen=True, kw_only=True)``, give ``level_names`` (from
    level 0, "different", upwards) and define :meth:`compare_values`. Parameters of your own are
    more dataclass fields; they are saved with the config and the model. When the level of two
    values cannot depend on which record is on the left, set the class attribute
    ``symmetric = True``: each unordered pair of values is then scored once.

    Parameters
    ----------
    column : str
        The records column compared (a person-schema field, or one of a source's
        ``extra_columns``).
    label : str, optional
        The comparison's name in the model, reports and explanations (default: ``column``).
    ignore_when_equal : tuple of str
        Columns whose agreement already carries this comparison's evidence: pairs agreeing
        on any of them get level -1 (e.g. an address for two records on one family card).

    Examples
    --------
    >>> import pandas as pd
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True, kw_only=True)
    ... class SameLength(CustomComparison):
    ...     level_names = ("different", "same length")
    ...     def compare_values(self, left, right):
    ...         return np.array([len(a) == len(b) for a, b in zip(left, right)], np.int8)
    >>> recs = pd.DataFrame({"nama": ["BUDI", "SITI", "AHMAD", None]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0], "right": [1, 2, 3]})
    >>> SameLength(column="nama").compute(recs, pairs).tolist()
    [1, 0, -1]
    """

    column: str
    label: str | None = None
    ignore_when_equal: tuple[str, ...] = ()

    #: Names of the levels from 0 ("different") upwards; override in the subclass.
    level_names: ClassVar[tuple[str, ...]] = ("different", "same")

    def compare_values(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Levels of value pairs.

        Parameters
        ----------
        left, right : numpy.ndarray of str
            The two records' values, one pair per position: stripped, never missing or
            blank (pairs with a missing side are level -1 without a call). Each distinct
            pair of values comes once.

        Returns
        -------
        numpy.ndarray of int
            One level per pair, from 0 to ``len(level_names) - 1``.
        """
        raise NotImplementedError(f"{type(self).__name__} must define compare_values(left, right)")

    def _value_levels(self, left: np.ndarray, right: np.ndarray, workers: int) -> np.ndarray:
        return self.compare_values(left, right)

    def score(self, prep: Prepared, left: np.ndarray, right: np.ndarray, *, workers: int = 1) -> np.ndarray:
        cl, cr = prep["c"][left], prep["c"][right]
        out = np.full(len(left), MISSING, np.int8)
        known = np.flatnonzero((cl >= 0) & (cr >= 0))
        if len(known):
            got = np.asarray(self._value_levels(prep["u"][cl[known]], prep["u"][cr[known]], workers))
            if got.shape != (len(known),) or got.dtype.kind not in "iub":
                raise ConfigError(f"comparison {self.name!r}: compare_values() must return one integer per pair "
                                  f"({len(known)}); got an array of shape {got.shape} and dtype {got.dtype}")
            if len(got) and (int(got.min()) < 0 or int(got.max()) >= self.n_levels):
                raise ConfigError(f"comparison {self.name!r}: compare_values() returned a level outside 0.."
                                  f"{self.n_levels - 1} (its level_names: {list(self.level_names)})")
            out[known] = got
        return out


def _similar(metric: Any, threshold: float, *, at_least: bool) -> Any:
    def condition(left: np.ndarray, right: np.ndarray, workers: int) -> np.ndarray:
        score = process.cpdist(left, right, scorer=metric, workers=workers)
        return score >= threshold - 1e-9 if at_least else score <= threshold

    return condition


#: The conditions a level of :class:`LevelComparison` can test, by key: each takes its
#: parameter and gives a vectorised test of (left values, right values, workers).
LEVEL_CONDITIONS: Mapping[str, Any] = {
    "exact": lambda flag: (lambda a, b, w: (a == b) if flag else np.zeros(len(a), bool)),
    "jaro_winkler": lambda t: _similar(JaroWinkler.normalized_similarity, float(t), at_least=True),
    "levenshtein": lambda d: _similar(Levenshtein.distance, int(d), at_least=False),
    "prefix": lambda n: (lambda a, b, w: np.array([x[: int(n)] == y[: int(n)] for x, y in zip(a, b)], bool)),
    "first_token": lambda flag: (lambda a, b, w: np.array(
        [x.split(" ", 1)[0] == y.split(" ", 1)[0] for x, y in zip(a, b)], bool)),
}


@_spec.register("comparison")
@dataclass(frozen=True, kw_only=True)
class LevelComparison(CustomComparison):
    """A comparison of one column built from a list of levels, weakest first.

    Each level is a mapping with a ``label`` and one condition of :data:`LEVEL_CONDITIONS`:
    ``{"exact": true}``, ``{"jaro_winkler": 0.9}`` (similarity at least 0.9),
    ``{"levenshtein": 1}`` (at most one edit), ``{"prefix": 3}`` (the first three characters
    agree) or ``{"first_token": true}``. A pair gets the strongest (last) level whose
    condition holds, 0 ("different") when none does, and -1 when a value is missing.

    Parameters
    ----------
    column : str
        The records column compared.
    levels : tuple of mapping
        The levels above "different", weakest first.
    label : str, optional
        The comparison's name (default: ``column``).
    ignore_when_equal : tuple of str
        See :class:`CustomComparison`.

    Examples
    --------
    >>> import pandas as pd
    >>> comp = LevelComparison(column="nama_ibu", levels=(
    ...     {"label": "similar", "jaro_winkler": 0.85},
    ...     {"label": "exact", "exact": True}))
    >>> comp.level_names
    ('different', 'similar', 'exact')
    >>> recs = pd.DataFrame({"nama_ibu": ["SITI AMINAH", "SITI AMINAH", "SITI AMINA", "RATNA", ""]})
    >>> pairs = pd.DataFrame({"left": [0, 0, 0, 0], "right": [1, 2, 3, 4]})
    >>> comp.compute(recs, pairs).tolist()
    [2, 1, 0, -1]
    """

    column: str
    levels: tuple[Mapping[str, Any], ...]
    label: str | None = None
    ignore_when_equal: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "levels", tuple(dict(lv) for lv in self.levels))
        if not self.levels:
            raise ConfigError(f"LevelComparison {self.name!r} needs at least one level")
        for i, lv in enumerate(self.levels):
            conditions = sorted(set(lv) - {"label"})
            if "label" not in lv or len(conditions) != 1 or conditions[0] not in LEVEL_CONDITIONS:
                raise ConfigError(
                    f"LevelComparison {self.name!r}, level {i + 1}: a level is a mapping with a 'label' "
                    f"and one condition of {', '.join(LEVEL_CONDITIONS)}; got {lv!r}")

    @property
    def level_names(self) -> tuple[str, ...]:  # type: ignore[override]
        return ("different", *(str(lv["label"]) for lv in self.levels))

    def _conditions(self) -> list[Any]:
        return [LEVEL_CONDITIONS[key](lv[key]) for lv in self.levels for key in lv if key != "label"]

    def compare_values(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return self._value_levels(left, right, 1)

    def _value_levels(self, left: np.ndarray, right: np.ndarray, workers: int) -> np.ndarray:
        out = np.zeros(len(left), np.int8)
        for level, condition in enumerate(self._conditions(), start=1):
            out[np.asarray(condition(left, right, workers), bool)] = level  # stronger overrides
        return out


def comparison_type(comparison: Comparison) -> str:
    """The ``type`` a comparison is saved under: the class name of a built-in comparison,
    the import path of any other.

    >>> comparison_type(LevelComparison(column="x", levels=({"label": "exact", "exact": True},)))
    'LevelComparison'
    """
    return _spec.type_name(type(comparison))
