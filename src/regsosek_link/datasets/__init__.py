"""Seeded synthetic Indonesian population and ministry-style sources with ground truth.

``generate_population`` draws people in households (the truth); ``generate_sources`` draws
five sources from it (``siak``, ``dtks``, ``regsosek``, ``dapodik``, ``bpjs_pbi``), each with
its own coverage, column names, formats and error rates (:class:`SourceSpec`);
``make_sources`` does both.

Examples
--------
>>> from regsosek_link.datasets import make_sources
>>> syn = make_sources(n_people=2_000, random_state=0)
>>> sorted(syn.sources)
['bpjs_pbi', 'dapodik', 'dtks', 'regsosek', 'siak']
>>> len(syn.truth) == sum(len(df) for df in syn.sources.values())
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ._population import POPULATION_COLUMNS, generate_population
from ._sources import (
    DEFAULT_SPECS,
    NOISE_LEVELS,
    SOURCE_NAMES,
    SourceSpec,
    SyntheticSources,
    generate_sources,
    scale_noise,
)
from .febrl import FebrlData, load_febrl3, load_febrl4

__all__ = [
    "DEFAULT_SPECS",
    "NOISE_LEVELS",
    "POPULATION_COLUMNS",
    "SOURCE_NAMES",
    "FebrlData",
    "SourceSpec",
    "SyntheticSources",
    "generate_population",
    "generate_sources",
    "load_febrl3",
    "load_febrl4",
    "make_sources",
    "scale_noise",
]


def make_sources(
    *,
    n_people: int,
    random_state: int | np.random.Generator | None = None,
    sources: Sequence[str] | None = None,
    specs: Mapping[str, SourceSpec] | None = None,
    noise: float | str = "typical",
) -> SyntheticSources:
    """Generate a population and its sources in one call.

    Equivalent to ``generate_sources(generate_population(n_people=n_people,
    random_state=random_state), random_state=random_state, ...)`` for an int seed: the
    population uses the generator's own stream, the sources its spawned children, so the two
    are independent even though they share the seed.

    Parameters
    ----------
    n_people : int
        Number of people in the population.
    random_state : int, numpy.random.Generator or None, default None
        Seed or generator for :func:`numpy.random.default_rng`.
    sources : sequence of str, optional
        Which sources to build (default: all of :data:`SOURCE_NAMES`).
    specs : mapping of str to SourceSpec, optional
        Per-source overrides of :data:`DEFAULT_SPECS`.
    noise : {"low", "typical", "harsh"} or float, default "typical"
        Factor on every error rate (0.5, 1, 2; see :func:`generate_sources`).

    Returns
    -------
    SyntheticSources
    """
    rng = np.random.default_rng(random_state)
    population = generate_population(n_people=n_people, random_state=rng)
    return generate_sources(population, random_state=rng, sources=sources, specs=specs, noise=noise)
