"""A small linked run for the explorer's tests, and its tables keyed as the page shows them
(``source:record_id``) with each link's persons (not a test module)."""

from __future__ import annotations

import warnings

import pandas as pd

from regsosek_link import LinkConfig, Linker
from regsosek_link.config import SourceConfig
from regsosek_link.datasets import make_sources


def small_run(n_people: int = 300, **options):
    """(result, synthetic data) of a run over ``n_people`` generated people (~820 records)."""
    syn = make_sources(n_people=n_people, random_state=1)
    sources = tuple(SourceConfig(name=n, columns=syn.mappings[n]) for n in syn.sources)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (learned weights on 800 records: WeightOrderWarning)
        return Linker(LinkConfig(sources=sources, **options)).run(syn.sources), syn


def keyed_tables(result) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The membership with ``label`` and the links with ``left``/``right`` labels and
    ``person_l``/``person_r``."""
    mem = result.membership.astype({"source": str, "record_id": str, "person_id": str})
    mem = mem.assign(label=mem["source"] + ":" + mem["record_id"])
    links = result.links.astype({"source_l": str, "record_id_l": str, "source_r": str,
                                 "record_id_r": str})
    links = links.assign(left=links["source_l"] + ":" + links["record_id_l"],
                         right=links["source_r"] + ":" + links["record_id_r"])
    person = dict(zip(mem["label"], mem["person_id"], strict=True))
    return mem, links.assign(person_l=links["left"].map(person),
                             person_r=links["right"].map(person))
