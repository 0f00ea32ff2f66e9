"""Wall time of Linker(cfg, tune_process=True).run() alone (imports before the timer).

Runs on older revisions too: before the one-pipeline redesign the Linker lived in
``regsosek_link.pipeline`` and applied the process tweaks always (no ``tune_process``).
"""
import inspect
import sys
import time
import warnings

warnings.simplefilter("ignore")

import regsosek_link.classify  # imported before the timer
import regsosek_link.registry  # noqa: F401 - imported before the timer
from regsosek_link.config import load_config

try:
    from regsosek_link.run import Linker
except ImportError:  # (a revision before the redesign)
    from regsosek_link.pipeline import Linker

cfg = load_config(sys.argv[1])
tune = {"tune_process": True} if "tune_process" in inspect.signature(Linker).parameters else {}
t = time.perf_counter(); res = Linker(cfg, **tune).run()
print(f"pipeline {time.perf_counter() - t:.2f} s (stage sum {sum(res.timings.values()):.2f} s)")
