"""The Spark engine on a Spark Connect session (no ``sparkContext``, no RDDs): a local
Spark Connect server is started in a child process (its own JVM; ``SPARK_TESTING`` makes
it take a free port, as Spark's own tests do), and the
store's life cycle runs through a Connect client session there, giving the embedded
engine's membership and person IDs.

Marked ``spark`` and opt-in (``REGSOSEK_SPARK_FULL=1``, ~80 s); skipped where PySpark's Connect client packages (the ``spark`` extra) or
Java are missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(os.environ.get("REGSOSEK_SPARK_FULL") != "1",
                       reason="opt-in (REGSOSEK_SPARK_FULL=1): starts its own Spark Connect server, ~80 s"),
]

CHILD = textwrap.dedent('''
    import sys, warnings
    warnings.simplefilter("ignore")
    sys.path.insert(0, sys.argv[3])
    import pandas as pd
    from pyspark.sql import SparkSession

    # a local Spark Connect server in this process (SPARK_TESTING: on a free port, which the
    # client finds) and a Connect client session to it
    spark = (SparkSession.builder.remote("local[2]").config("spark.sql.shuffle.partitions", "4")
             .config("spark.ui.enabled", "false").getOrCreate())
    assert type(spark).__module__.startswith("pyspark.sql.connect"), type(spark)

    from _registry_fixture import config, model
    from test_spark_store import BATCH, RUN1, _changes, _members
    from regsosek_link import Linker
    from regsosek_link.engine import SparkEngine
    from regsosek_link.store import RegistryStore

    d = sys.argv[1]
    engine = SparkEngine(spark)  # (buckets from the session's settings: no sparkContext)
    for what, cfg, data in (("run", config("siak", "dtks"), RUN1), ("update", config("bpjs"), BATCH)):
        if what == "run":
            a = Linker(cfg, model=model()).run(data, store=f"{d}/r.duckdb")
            b = Linker(cfg, model=model(), engine=engine).run(data, store=f"{d}/registry")
        else:
            a = Linker(cfg, model=model()).update(f"{d}/r.duckdb", data)
            b = Linker(cfg, model=model(), engine=engine).update(f"{d}/registry", data)
        pd.testing.assert_frame_equal(_members(a.membership), _members(b.to_pandas("membership")))
        assert _changes(a.changes) == _changes(b.changes.toPandas()), what
        print(what, "same on Spark Connect:", len(a.membership), "records,", len(a.changes), "changes")
''')


def test_store_life_cycle_through_spark_connect(tmp_path):
    pytest.importorskip("pyspark", reason="PySpark is not installed (pip install -e '.[spark]')")
    for mod in ("grpc", "grpc_status", "google.protobuf", "zstandard"):
        pytest.importorskip(mod, reason=f"{mod} (PySpark's Connect client) is not installed: pip install -e '.[spark]'")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Java (17) is not installed: the Spark engine needs a JVM")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_TESTING": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), "", str(Path(__file__).parent)],
                         check=False, capture_output=True, text=True, timeout=1800, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "run same on Spark Connect: 6 records, 4 changes" in out.stdout
    assert "update same on Spark Connect: 8 records, 2 changes" in out.stdout
