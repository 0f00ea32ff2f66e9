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
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["ProcessTuning", "peak_rss_mb"]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (NaN where not measurable)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on Windows
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / 1024 / 1024


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
    """

    def __init__(self, *, enabled: bool) -> None:
        self.enabled = enabled
        self._pages_on = False

    def release_free_memory(self) -> None:
        trim = _malloc_trim() if self.enabled else None
        if trim is not None:
            trim(0)

    def sized(self, n_records: int) -> None:
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
        """Put numpy's huge-page switch back (when this was the last tuned run)."""
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
