"""Engines the one pipeline runs on.

The embedded engine is the library itself (:class:`~regsosek_link.run.linker.Linker`
without ``engine``): one Python process, the stages on pandas/numpy. :class:`SparkEngine`
runs the same config and the same stage kernels on a ``SparkSession`` (local mode or a
cluster): ``Linker(config, engine=SparkEngine(spark)).run(...)``. PySpark is imported on
first use only (``pip install regsosek-link[spark]``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["SparkEngine", "spark_session"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import spark

        return getattr(spark, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
