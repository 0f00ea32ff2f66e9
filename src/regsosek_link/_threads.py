"""How many threads ``LinkConfig.workers`` allows, and running independent tasks on them
(shared by the stages that use threads)."""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def n_threads(workers: int, tasks: int | None = None) -> int:
    """Threads for ``workers`` (-1: one per core), at most ``tasks`` when given.

    >>> n_threads(1), n_threads(4, tasks=2), n_threads(-1) == (os.cpu_count() or 1)
    (1, 2, True)
    """
    n = (os.cpu_count() or 1) if workers == -1 else workers
    return n if tasks is None else min(n, tasks)


def map_in_threads(fn: Callable[[T], R], items: Iterable[T], workers: int, name: str) -> list[R]:
    """``[fn(item) for item in items]``, on up to ``workers`` threads (see :func:`n_threads`;
    one: in this thread). Each task runs in a copy of the calling thread's context, so it
    shares the run's codes cache (:func:`regsosek_link._codes.shared_codes`); results come
    in the order of ``items`` and the first error is raised, after every task has ended.

    >>> map_in_threads(lambda x: x * x, range(5), 2, "demo")
    [0, 1, 4, 9, 16]
    """
    items = list(items)
    threads = n_threads(workers, tasks=len(items))
    if threads <= 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(threads, thread_name_prefix=f"regsosek-{name}") as pool:
        futures = [pool.submit(contextvars.copy_context().run, fn, item) for item in items]
        return [f.result() for f in futures]


@contextlib.contextmanager
def background(*, enabled: bool) -> Iterator[Callable[[Callable[[], T]], Callable[[], T]]]:
    """``submit(fn)`` starts ``fn`` on a second thread (in a copy of this context, so it
    shares the run's codes cache) and returns a function that waits for its result and
    re-raises its error. Not ``enabled``: ``fn`` runs when its result is first asked for, on
    this thread.

    >>> with background(enabled=False) as submit:
    ...     calls = []
    ...     result = submit(lambda: calls.append(1) or len(calls))
    ...     result(), result(), calls
    (1, 1, [1])
    """
    if not enabled:
        def later(fn: Callable[[], T]) -> Callable[[], T]:
            done: list[T] = []

            def result() -> T:
                if not done:
                    done.append(fn())
                return done[0]
            return result
        yield later
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="regsosek-link") as pool:
        def submit(fn: Callable[[], T]) -> Callable[[], T]:
            return pool.submit(contextvars.copy_context().run, fn).result
        yield submit
