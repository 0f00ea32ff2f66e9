"""Trained models as JSON: save a fitted Fellegi-Sunter model, load it back. Never pickle.

The file holds everything needed to score new pairs the same way: each comparison as its
config dict (so it can be rebuilt), its level labels with ``m``, ``u`` and the weight of
each level, ``lambda`` (the prior share of matches) with its weight, the threshold, the
file format version and the library version that wrote it. Floats are written with
Python's shortest round-trip repr, so a loaded model gives bit-identical probabilities.

A file of another format version is migrated when a migration is known (see
``MIGRATIONS``) and refused with :class:`~regsosek_link.errors.ModelError` otherwise.

Examples
--------
>>> import numpy as np, pandas as pd, tempfile, pathlib
>>> from regsosek_link.compare import ExactMatch
>>> X = pd.DataFrame({"jenis_kelamin": [1, 1, 0, 1, 0, -1] * 20})
>>> fs = FellegiSunter().fit(X)
>>> path = pathlib.Path(tempfile.mkdtemp()) / "model.json"
>>> _ = save_model(fs, path, comparisons=[ExactMatch(column="jenis_kelamin")], threshold=0.9)
>>> loaded = load_model(path)
>>> bool((loaded.model.predict_proba(X) == fs.predict_proba(X)).all()), loaded.threshold
(True, 0.9)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import _spec
from .classify import FellegiSunter
from .compare import Comparison
from .errors import ModelError

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MIGRATIONS",
    "TrainedModel",
    "load_model",
    "model_from_dict",
    "model_to_dict",
    "save_model",
]

FORMAT = "regsosek_link.fellegi_sunter"
#: Version of the JSON layout written by :func:`save_model`.
FORMAT_VERSION = 1
#: ``{from_version: function(dict) -> dict of from_version + 1}``; none are needed yet.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def _library_version() -> str:
    from . import __version__

    return __version__


@dataclass(frozen=True, kw_only=True)
class TrainedModel:
    """A loaded model: the fitted estimator, the comparisons it scores, and the threshold."""

    model: FellegiSunter
    comparisons: tuple[Comparison, ...]
    threshold: float
    library_version: str
    format_version: int


def model_to_dict(
    model: FellegiSunter, *, comparisons: Sequence[Comparison], threshold: float | None = None
) -> dict[str, Any]:
    """The JSON-ready dict of a fitted model (see :func:`save_model`)."""
    if not hasattr(model, "m_"):
        raise ModelError("the model is not fitted; fit it (or run a Linker) before saving it")
    names = list(getattr(model, "feature_names_in_", [c.name for c in comparisons]))
    by_name = {c.name: c for c in comparisons}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ModelError(
            f"the model scores comparison(s) {missing} that are not among the comparisons given "
            f"({sorted(by_name)}); pass the run's config.comparisons"
        )
    comps = []
    for k, name in enumerate(names):
        comp = by_name[name]
        labels = list(comp.level_names)
        n = int(model.n_levels_[k])
        if len(labels) != n:
            raise ModelError(
                f"comparison {name!r} has {len(labels)} levels ({labels}) but the model learned {n}"
            )
        comps.append({
            "name": name,
            "spec": _spec.to_dict(comp),
            "levels": [
                {"level": lvl, "label": labels[lvl], "m": float(model.m_[k][lvl]), "u": float(model.u_[k][lvl]),
                 "weight": float(np.log2(model.m_[k][lvl] / model.u_[k][lvl]))}
                for lvl in range(n)
            ],
        })
    thr = float(model.threshold if threshold is None else threshold)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "library_version": _library_version(),
        "threshold": thr,
        "lambda": float(model.lambda_),
        "prior_weight": float(model.prior_weight_),
        "n_iter": int(getattr(model, "n_iter_", 0)),
        "comparisons": comps,
    }


def save_model(
    model: FellegiSunter,
    path: str | Path,
    *,
    comparisons: Sequence[Comparison],
    threshold: float | None = None,
) -> Path:
    """Write a fitted :class:`~regsosek_link.classify.FellegiSunter` to a JSON file.

    Parameters
    ----------
    model : FellegiSunter
        Fitted (e.g. ``result.model``).
    path : str or Path
        File to write (folders are created).
    comparisons : sequence of Comparison
        The comparisons the model scores (e.g. ``result.config.comparisons``).
    threshold : float, optional
        Match threshold to store (default: ``model.threshold``).

    Returns
    -------
    Path
    """
    data = model_to_dict(model, comparisons=comparisons, threshold=threshold)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def _migrate(data: dict[str, Any], where: str) -> dict[str, Any]:
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ModelError(f"{where} has no integer 'format_version' (got {version!r}); is it a regsosek_link model?")
    saved_by = data.get("library_version", "an unknown version")
    while version != FORMAT_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise ModelError(
                f"{where} has model format version {version} (saved by regsosek_link {saved_by}), "
                f"but this regsosek_link ({_library_version()}) reads format version {FORMAT_VERSION} "
                f"and knows no migration from version {version}. Retrain the model, or load it with "
                f"regsosek_link {saved_by}."
            )
        data = step(dict(data))
        version = data.get("format_version")
        if not isinstance(version, int):
            raise ModelError(f"the migration of {where} gave no integer format_version")
    return data


def model_from_dict(data: Mapping[str, Any], *, where: str = "the model") -> TrainedModel:
    """A :class:`TrainedModel` from the dict of :func:`model_to_dict` (migrating old formats)."""
    if not isinstance(data, Mapping):
        raise ModelError(f"{where} must be a JSON object; got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise ModelError(f"{where} is not a regsosek_link model: 'format' is {data.get('format')!r}, expected {FORMAT!r}")
    d = _migrate(dict(data), where)
    try:
        comps = tuple(_spec.from_dict("comparison", c["spec"]) for c in d["comparisons"])
        names = [c["name"] for c in d["comparisons"]]
        m = [np.array([lv["m"] for lv in c["levels"]], dtype=float) for c in d["comparisons"]]
        u = [np.array([lv["u"] for lv in c["levels"]], dtype=float) for c in d["comparisons"]]
        labels = [[lv["label"] for lv in c["levels"]] for c in d["comparisons"]]
        lam = float(d["lambda"])
        thr = float(d["threshold"])
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{where} is incomplete or malformed: missing or bad {exc}") from exc
    for comp, name, lab in zip(comps, names, labels):
        if comp.name != name or list(comp.level_names) != lab:
            raise ModelError(
                f"{where}: comparison {name!r} was saved with levels {lab}, but its spec now builds "
                f"{comp.name!r} with levels {list(comp.level_names)}; the comparison changed since "
                "the model was trained, retrain it"
            )
    fs = FellegiSunter(threshold=thr)
    fs.m_ = m
    fs.u_ = u
    fs.lambda_ = lam
    fs.n_levels_ = np.array([len(v) for v in m], dtype=np.int64)
    fs.feature_names_in_ = np.asarray(names, dtype=object)
    fs.n_features_in_ = len(names)
    fs.classes_ = np.array([0, 1])
    fs.n_iter_ = int(d.get("n_iter", 0))
    return TrainedModel(model=fs, comparisons=comps, threshold=thr,
                        library_version=str(d.get("library_version", "")), format_version=int(d["format_version"]))


def load_model(path: str | Path) -> TrainedModel:
    """Read a model written by :func:`save_model`.

    Raises
    ------
    ModelError
        When the file is not a model, is malformed, or has a format version that cannot be
        migrated (the message names both versions).
    """
    path = Path(path)
    where = f"model file {str(path)!r}"
    if not path.exists():
        raise ModelError(f"{where} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{where} is not valid JSON: {exc}") from exc
    return model_from_dict(data, where=where)
