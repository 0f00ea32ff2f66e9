"""A SparkSession from the environment (master and settings), for the CLI and notebooks."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from ...errors import ConfigError

__all__ = ["checkpoint_dir", "default_parallelism", "is_connect", "require_pyspark", "spark_session"]

#: Environment variables read by :func:`spark_session`.
MASTER_ENV = "REGSOSEK_SPARK_MASTER"
CONF_ENV = "REGSOSEK_SPARK_CONF"


def require_pyspark() -> Any:
    """The ``pyspark`` module, or a ConfigError saying how to install it."""
    try:
        import pyspark
    except ImportError as exc:
        raise ConfigError("the Spark engine needs PySpark 4 and Java 17: pip install 'regsosek-link[spark]'"
                          ) from exc
    return pyspark


def _conf_from_env(text: str) -> dict[str, str]:
    """``key=value`` pairs separated by commas or new lines.

    >>> _conf_from_env("spark.driver.memory=4g, spark.sql.shuffle.partitions=8")
    {'spark.driver.memory': '4g', 'spark.sql.shuffle.partitions': '8'}
    """
    out = {}
    for part in text.replace("\n", ",").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{CONF_ENV}: {part.strip()!r} is not key=value (e.g. spark.driver.memory=8g)")
        out[key.strip()] = value.strip()
    return out


def spark_session(master: str | None = None, conf: Mapping[str, str] | None = None, *,
                  app_name: str = "regsosek-link") -> Any:
    """The active SparkSession, or a new one.

    ``master`` defaults to ``$REGSOSEK_SPARK_MASTER`` (else ``$MASTER``, else what
    ``spark-submit`` or ``spark-defaults.conf`` set, else Spark's ``local[*]``); ``conf`` is added to
    ``$REGSOSEK_SPARK_CONF`` (``key=value,...``). Python workers run this interpreter.
    """
    require_pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None and not conf:
        return active
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    # no master set here otherwise: under spark-submit (or a notebook's Spark kernel) the
    # session gets the master it was submitted with, which a builder setting would replace
    master = master or os.environ.get(MASTER_ENV) or os.environ.get("MASTER")
    if master:
        builder = builder.master(master)
    settings = {"spark.ui.showConsoleProgress": "false",
                **_conf_from_env(os.environ.get(CONF_ENV, "")), **dict(conf or {})}
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def is_connect(spark: Any) -> bool:
    """Whether ``spark`` is a Spark Connect session (no ``sparkContext``, no RDDs)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def default_parallelism(spark: Any) -> int:
    """The session's default parallelism without ``sparkContext`` (Spark Connect has none):
    ``spark.default.parallelism`` when set, else the cores of a ``local[N]`` master, else
    (a classic session) the context's own figure, else ``spark.sql.shuffle.partitions``."""
    def conf(key: str) -> str | None:
        value = spark.conf.get(key, None)
        return None if value is None else str(value)

    set_ = conf("spark.default.parallelism")
    if set_ and set_.strip().isdigit():
        return int(set_)
    master = conf("spark.master") or ""
    if master.startswith("local"):
        inner = master[master.find("[") + 1:master.find("]")] if "[" in master else "1"
        cores = inner.split(",")[0].strip()
        return int(cores) if cores.isdigit() else os.cpu_count() or 1
    if not is_connect(spark):
        return int(spark.sparkContext.defaultParallelism)
    shuffle = conf("spark.sql.shuffle.partitions")
    return int(shuffle) if shuffle and shuffle.isdigit() else 2


def checkpoint_dir(spark: Any) -> str | None:
    """The reliable checkpoint directory of the session, if any: ``spark.checkpoint.dir``
    (a setting Spark Connect sessions can read and set), else, on a classic session, the
    context's (``sparkContext.setCheckpointDir``)."""
    set_ = spark.conf.get("spark.checkpoint.dir", None)
    if set_:
        return str(set_)
    if not is_connect(spark):
        return spark.sparkContext.getCheckpointDir()
    return None
