"""regsosek_link: record linkage and deduplication of Indonesian person data.

Blocks, compares and classifies person records from several ministry sources, then clusters
and merges the matches into one registry ("satu data") with stable person IDs, golden values
with provenance, and households.

>>> import regsosek_link as rl
>>> sorted(rl.__all__)[:3]
['BlockIndex', 'BlockOn', 'Comparison']
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - the names below are imported on first use
    from ._optional import MissingDependencyError
    from .block import (
        BlockIndex,
        BlockOn,
        SortedNeighbourhood,
        block,
        block_with_report,
        blocking_report,
    )
    from .classify import FellegiSunter
    from .cluster import connected_components
    from .compare import (
        Comparison,
        DateOfBirthComparison,
        ExactMatch,
        IdNumberComparison,
        JaroWinklerAtThresholds,
        LevenshteinAtThresholds,
        NameComparison,
        NeighbourhoodComparison,
        RegionComparison,
        RLComparison,
        compare,
    )
    from .config import (
        LinkConfig,
        SourceConfig,
        default_blocking_rules,
        default_comparisons,
        fewer_pairs_blocking_rules,
        load_config,
    )
    from .errors import (
        ConfigError,
        InsufficientMemoryError,
        ModelError,
        Problem,
        RegsosekLinkError,
        StoreError,
    )
    from .evaluate import PairwiseScores, blocking_recall, pairwise_scores
    from .explain import cluster_scores, explain_pair, explain_person
    from .explore import write_explorer
    from .extend import CustomComparison, LevelComparison
    from .ingest import EncodingGuessWarning, read_source, read_sources
    from .model_io import TrainedModel, load_model, save_model
    from .registry import golden_records
    from .report import write_report
    from .run import Linker, LinkResult, link
    from .standardise import standardise
    from .supervised import SupervisedLinkClassifier
    from .survivorship import SurvivorshipRule

__version__ = "0.1.0"

#: Public name -> the module that defines it. Each module is imported when one of its names
#: is first used, so ``import regsosek_link`` (and ``regsosek-link --help``) does not pay for
#: pandas, scikit-learn, matplotlib... until they are needed.
_EXPORTS: dict[str, str] = {
    "BlockIndex": "block",
    "BlockOn": "block",
    "SortedNeighbourhood": "block",
    "block": "block",
    "blocking_report": "block",
    "block_with_report": "block",
    "FellegiSunter": "classify",
    "connected_components": "cluster",
    "DateOfBirthComparison": "compare",
    "ExactMatch": "compare",
    "IdNumberComparison": "compare",
    "JaroWinklerAtThresholds": "compare",
    "LevenshteinAtThresholds": "compare",
    "NameComparison": "compare",
    "NeighbourhoodComparison": "compare",
    "RegionComparison": "compare",
    "RLComparison": "compare",
    "compare": "compare",
    "Comparison": "compare",
    "CustomComparison": "extend",
    "LevelComparison": "extend",
    "MissingDependencyError": "_optional",
    "LinkConfig": "config",
    "SourceConfig": "config",
    "default_blocking_rules": "config",
    "default_comparisons": "config",
    "fewer_pairs_blocking_rules": "config",
    "load_config": "config",
    "ConfigError": "errors",
    "InsufficientMemoryError": "errors",
    "ModelError": "errors",
    "Problem": "errors",
    "RegsosekLinkError": "errors",
    "StoreError": "errors",
    "PairwiseScores": "evaluate",
    "blocking_recall": "evaluate",
    "pairwise_scores": "evaluate",
    "cluster_scores": "explain",
    "explain_pair": "explain",
    "explain_person": "explain",
    "read_source": "ingest",
    "read_sources": "ingest",
    "TrainedModel": "model_io",
    "load_model": "model_io",
    "save_model": "model_io",
    "Linker": "run",
    "LinkResult": "run",
    "link": "run",
    "EncodingGuessWarning": "ingest",
    "golden_records": "registry",
    "write_report": "report",
    "write_explorer": "explore",
    "standardise": "standardise",
    "SupervisedLinkClassifier": "supervised",
    "SurvivorshipRule": "survivorship",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """The package module: its functions ``block``, ``compare`` and ``standardise`` keep
    their names when the submodules of the same names are imported (the import system sets
    ``regsosek_link.<submodule>`` on the package when it first loads one)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "BlockIndex",
    "BlockOn",
    "Comparison",
    "ConfigError",
    "CustomComparison",
    "DateOfBirthComparison",
    "EncodingGuessWarning",
    "ExactMatch",
    "FellegiSunter",
    "IdNumberComparison",
    "InsufficientMemoryError",
    "JaroWinklerAtThresholds",
    "LevelComparison",
    "LevenshteinAtThresholds",
    "LinkConfig",
    "LinkResult",
    "Linker",
    "MissingDependencyError",
    "ModelError",
    "NameComparison",
    "NeighbourhoodComparison",
    "PairwiseScores",
    "Problem",
    "RLComparison",
    "RegionComparison",
    "RegsosekLinkError",
    "SortedNeighbourhood",
    "SourceConfig",
    "StoreError",
    "SupervisedLinkClassifier",
    "SurvivorshipRule",
    "TrainedModel",
    "block",
    "block_with_report",
    "blocking_recall",
    "blocking_report",
    "cluster_scores",
    "compare",
    "connected_components",
    "default_blocking_rules",
    "default_comparisons",
    "explain_pair",
    "explain_person",
    "fewer_pairs_blocking_rules",
    "golden_records",
    "link",
    "load_config",
    "load_model",
    "pairwise_scores",
    "read_source",
    "read_sources",
    "save_model",
    "standardise",
    "write_explorer",
    "write_report",
]
