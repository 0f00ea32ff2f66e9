"""Process-wide tuning a run may ask for: the one place the library touches the process.

A library must not change the process around it unless the caller asks. These tweaks make
a big run faster or smaller on glibc Linux, but they act on the whole process (the C
allocator, numpy's huge-page switch, Python's cyclic garbage collector), so they are off
unless a run is made with ``tune_process=True`` (the command line does, since its process
is its own). With tuning off every method here is a no-op and the results are the same.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import gc
import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["ProcessTuning", "available_memory", "check_memory", "memory_needed", "peak_rss_mb"]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (NaN where not measurable)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 1024 / 1024


#: The embedded engine's peak resident memory per input record, and the process's fixed
#: part. Calibrated on ``benchmarks/results/results.md`` (one process, the run's peak incl.
#: its loaded input): 271,543 records 1,145 MB, 1,004,010 records 3,134 MB, 2,713,058
#: records 7,914 MB, i.e. 2.8 KB a record above ~330 MB. Candidate pairs per record grow
#: with size (4.6, 5.3, 6.9 at those sizes; ~35 bytes a pair at the peak), so 3 KB is the
#: figure for the sizes where the check matters (5 - 10 M records on 16 - 32 GB machines).
PEAK_BYTES_PER_RECORD = 3 * 1024
PEAK_BYTES_FIXED = 400 * 2**20


def memory_needed(n_records: int) -> int:
    """Bytes the embedded engine's process is expected to hold at its peak for a run
    linking ``n_records`` records (see :data:`PEAK_BYTES_PER_RECORD`)."""
    return PEAK_BYTES_FIXED + PEAK_BYTES_PER_RECORD * int(n_records)


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _stat_value(path: str, key: str) -> int:
    try:
        with open(path, encoding="ascii") as f:
            for line in f:
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_free() -> int | None:
    """What the process's memory cgroup still allows (limit - usage, reclaimable page cache
    counted as free), or None without a limit (cgroup v2, then v1)."""
    for limit_file, usage_file, stat_file, cache_key in (
            ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat",
             "inactive_file"),
            ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
             "/sys/fs/cgroup/memory/memory.stat", "total_inactive_file")):
        limit, usage = _read_int(limit_file), _read_int(usage_file)
        if limit is None or usage is None or limit >= 1 << 60:  # ("max", or v1's huge number: no limit)
            continue
        return max(limit - usage + _stat_value(stat_file, cache_key), 0)
    return None


def available_memory() -> tuple[int, str] | None:
    """Bytes a process may still take before the out-of-memory killer acts, and where the
    figure comes from: the system's ``MemAvailable`` (``/proc/meminfo``, else psutil),
    lowered to the memory cgroup's limit minus its usage when that is less. None where
    neither can be read."""
    found: list[tuple[int, str]] = []
    kb = _stat_value("/proc/meminfo", "MemAvailable:") if os.path.exists("/proc/meminfo") else 0
    if kb:
        found.append((kb * 1024, "available system memory"))
    else:
        try:  # (other systems; psutil is optional, and untyped: imported by name)
            psutil = importlib.import_module("psutil")
            found.append((int(psutil.virtual_memory().available), "available system memory"))
        except ImportError:
            pass
    cgroup = _cgroup_free()
    if cgroup is not None:
        found.append((cgroup, "left under the memory cgroup's limit"))
    return min(found) if found else None


def _rss_bytes() -> int:
    """Resident memory of this process now (0 where not readable)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0


def check_memory(n_records: int, *, what: str = "linking") -> None:
    """Refuse, before the work starts, a run the embedded engine cannot finish in this
    machine's memory (rather than being killed halfway by the out-of-memory killer).

    Raises
    ------
    InsufficientMemoryError
        When :func:`memory_needed` minus what the process holds already exceeds
        :func:`available_memory`. Nothing happens where available memory cannot be read.
    """
    from ..errors import InsufficientMemoryError

    available = available_memory()
    if available is None:
        return
    free, source = available
    need, held = memory_needed(n_records), _rss_bytes()
    if need - held <= free:
        return
    gb = 2**30
    raise InsufficientMemoryError(
        f"{what} {n_records:,} records in this process needs about {need / gb:.1f} GB of memory at its peak "
        f"(~{PEAK_BYTES_PER_RECORD // 1024} KB a record), {max(need - held, 0) / gb:.1f} GB more than it holds, but "
        f"only {free / gb:.1f} GB is {source}: nothing was done. Run it on Spark, which spills to disk "
        "(regsosek-link run --engine spark; Linker(config, engine=SparkEngine(spark))), or on a machine with "
        "more memory; to try anyway: --no-memory-check (config memory_check: false)",
        needed=need, available=free)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None (other C libraries, other systems)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (e.g. musl has no malloc_trim)
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_PAGES: dict[str, Any] = {"runs": 0, "lock": threading.Lock(), "before": None}
_POOL: dict[str, Any] = {"runs": 0, "lock": threading.Lock(), "before": None}
#: Runs of at most this many records keep numpy's big arrays on normal pages.
SMALL_PAGES_MAX_RECORDS = 2_000_000


class ProcessTuning:
    """Opt-in process tweaks for one run (all no-ops when ``enabled`` is false).

    - :meth:`release_free_memory`: glibc keeps freed blocks of up to 32 MB in its heaps and
      a stage's threads leave their arenas behind; trimming before the registry stage,
      where a run peaks, lowers the peak (~210 MB at 1,004,010 records), and trimming when
      the run ends keeps what the caller does next off the run's garbage. Trimming after
      every stage only hands back memory the next stage faults in again.
    - :meth:`sized`: with transparent huge pages on ``madvise``, each big temporary numpy
      array faults in 2 MB pages the kernel must find and zero; runs of up to
      :data:`SMALL_PAGES_MAX_RECORDS` records are faster on normal pages, bigger ones need
      the huge pages' TLB reach for their random gathers. numpy's setting is put back when
      the last concurrent run ends; left alone when ``NUMPY_MADVISE_HUGEPAGE`` is set.
    - :meth:`gc_paused`: the cyclic collector walks every live object (~0.25 s at a
      million records) when a Python loop allocates many small containers, as the
      constrained clustering's greedy pass does; reference counting frees them anyway.
    - :meth:`sized` also makes the C allocator Arrow's default memory pool for the run:
      Arrow's own pool (mimalloc) keeps the pages of freed Arrow buffers (the output
      tables' text columns and their temporaries, made where a run peaks) out of reach of
      the trimming above; 40-100 MB lower peak at 298,735 records, the same CPU time. Put
      back when the last concurrent run ends; left alone when ``ARROW_DEFAULT_MEMORY_POOL``
      is set.
    """

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._pages_on = False
        self._pool_on = False

    def release_free_memory(self) -> None:
        trim = _malloc_trim() if self.enabled else None
        if trim is not None:
            trim(0)

    def sized(self, n_records: int) -> None:
        if self.enabled and not self._pool_on and "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
            import pyarrow as pa

            with _POOL["lock"]:
                _POOL["runs"] += 1
                if _POOL["runs"] == 1:
                    _POOL["before"] = pa.default_memory_pool()
                    pa.set_memory_pool(pa.system_memory_pool())
            self._pool_on = True
        switch = _hugepage_switch()
        if (not self.enabled or self._pages_on or switch is None or "NUMPY_MADVISE_HUGEPAGE" in os.environ
                or n_records > SMALL_PAGES_MAX_RECORDS):
            return
        with _PAGES["lock"]:
            _PAGES["runs"] += 1
            if _PAGES["runs"] == 1:
                _PAGES["before"] = bool(switch(False))
        self._pages_on = True

    def close(self) -> None:
        """Put numpy's huge-page switch and Arrow's memory pool back (when this was the
        last tuned run)."""
        if self._pool_on:
            import pyarrow as pa

            with _POOL["lock"]:
                _POOL["runs"] -= 1
                if _POOL["runs"] == 0:
                    pa.set_memory_pool(_POOL["before"])
            self._pool_on = False
        if not self._pages_on:
            return
        switch = _hugepage_switch()
        assert switch is not None  # (sized() turned it on)
        with _PAGES["lock"]:
            _PAGES["runs"] -= 1
            if _PAGES["runs"] == 0:
                switch(_PAGES["before"])
        self._pages_on = False

    @contextlib.contextmanager
    def gc_paused(self) -> Iterator[None]:
        if not self.enabled or not gc.isenabled():
            yield
            return
        gc.disable()
        try:
            yield
        finally:
            gc.enable()


def _hugepage_switch() -> Callable[[bool], bool] | None:
    """numpy's huge-page switch (``numpy._core`` from NumPy 2, ``numpy.core`` before), or None."""
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    return getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
