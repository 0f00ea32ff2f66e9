"""Wall time of Linker(cfg, tune_process=True).run() alone (imports before the timer)."""
import sys
import time
import warnings

warnings.simplefilter("ignore")

import regsosek_link.classify  # imported before the timer
import regsosek_link.registry  # noqa: F401 - imported before the timer
from regsosek_link.config import load_config
from regsosek_link.run import Linker

cfg = load_config(sys.argv[1])
t = time.perf_counter(); res = Linker(cfg, tune_process=True).run()
print(f"pipeline {time.perf_counter() - t:.2f} s (stage sum {sum(res.timings.values()):.2f} s)")
