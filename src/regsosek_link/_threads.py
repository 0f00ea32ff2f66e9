"""How many threads ``LinkConfig.workers`` allows (shared by the stages that use threads)."""

from __future__ import annotations

import os


def n_threads(workers: int, tasks: int | None = None) -> int:
    """Threads for ``workers`` (-1: one per core), at most ``tasks`` when given.

    >>> n_threads(1), n_threads(4, tasks=2), n_threads(-1) == (os.cpu_count() or 1)
    (1, 2, True)
    """
    n = (os.cpu_count() or 1) if workers == -1 else workers
    return n if tasks is None else min(n, tasks)
