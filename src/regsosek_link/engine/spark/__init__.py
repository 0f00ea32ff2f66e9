"""The Spark engine: the stages' column kernels on Arrow batches of Spark DataFrames.

- standardise: :func:`regsosek_link.standardise.standardise` per Arrow batch (``mapInArrow``);
- block: each rule's keys per record (:func:`regsosek_link.block.rule_keys`), block sizes
  counted and giant blocks skipped before an equi-join on the keys;
- compare: :func:`regsosek_link.compare.compare` on batches of pairs joined to both
  records' columns;
- classify: level patterns counted by Spark, the model trained on the driver
  (:func:`regsosek_link.classify.train_on_counts`), ``u`` from the same random record pairs
  as the embedded engine, term frequencies by aggregation, pairs scored per batch
  (:func:`regsosek_link.classify.score_pairs`);
- cluster: connected components of the accepted links with DataFrames (min-label
  propagation with pointer jumping, lineage cut each round), then
  :func:`regsosek_link.cluster.cluster_records` per bucket of whole components (the
  constraints), person IDs (:mod:`regsosek_link.ids`) and membership there too;
- registry: :func:`regsosek_link.registry.registry_tables` per bucket of whole persons,
  :func:`regsosek_link.registry.households_table` per bucket of family-card numbers.

PySpark is imported inside the functions, never when this package is imported.
"""

from __future__ import annotations

from ._engine import SparkEngine, SparkLinkResult
from ._session import spark_session

__all__ = ["SparkEngine", "SparkLinkResult", "spark_session"]
