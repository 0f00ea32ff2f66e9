"""regsosek_link: record linkage and deduplication of Indonesian person data.

Blocks, compares and classifies person records from several ministry sources, then clusters
and merges the matches into one registry ("satu data") with stable person IDs, golden values
with provenance, and households.

>>> import regsosek_link as rl
>>> sorted(rl.__all__)[:3]
['BlockIndex', 'BlockOn', 'ConfigError']
"""

from __future__ import annotations

from .block import BlockIndex, BlockOn, SortedNeighbourhood, block, block_with_report, blocking_report
from .classify import FellegiSunter
from .cluster import connected_components
from .compare import (
    DateOfBirthComparison,
    ExactMatch,
    IdNumberComparison,
    JaroWinklerAtThresholds,
    LevenshteinAtThresholds,
    NameComparison,
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
from .errors import ConfigError, ModelError, Problem, RegsosekLinkError, StoreError
from .evaluate import PairwiseScores, blocking_recall, pairwise_scores
from .explain import cluster_scores, explain_pair, explain_person
from .ingest import read_source, read_sources
from .model_io import TrainedModel, load_model, save_model
from .run import Linker, LinkResult, link
from .registry import golden_records
from .report import write_report
from .standardise import standardise
from .supervised import SupervisedLinkClassifier

__version__ = "0.1.0"

__all__ = [
    "SupervisedLinkClassifier",
    "TrainedModel",
    "cluster_scores",
    "explain_pair",
    "explain_person",
    "load_model",
    "save_model",
    "write_report",
    "BlockIndex",
    "BlockOn",
    "ConfigError",
    "DateOfBirthComparison",
    "ExactMatch",
    "FellegiSunter",
    "IdNumberComparison",
    "JaroWinklerAtThresholds",
    "LevenshteinAtThresholds",
    "LinkConfig",
    "LinkResult",
    "Linker",
    "ModelError",
    "NameComparison",
    "PairwiseScores",
    "Problem",
    "RLComparison",
    "RegionComparison",
    "RegsosekLinkError",
    "StoreError",
    "SortedNeighbourhood",
    "SourceConfig",
    "block",
    "block_with_report",
    "blocking_recall",
    "blocking_report",
    "compare",
    "connected_components",
    "default_blocking_rules",
    "default_comparisons",
    "fewer_pairs_blocking_rules",
    "golden_records",
    "link",
    "load_config",
    "pairwise_scores",
    "read_source",
    "read_sources",
    "standardise",
]
