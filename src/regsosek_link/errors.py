"""Errors raised at the library's boundaries.

Errors are data (after pandera): each problem names the source, the column or row, what
was received and how to fix it. Validation collects every problem first and raises once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One validation failure.

    Parameters
    ----------
    source : str or None
        Name of the source the problem is in (``None`` for run-level problems).
    where : str
        Column, row or config key the problem is at.
    message : str
        What is wrong and what to do about it.
    """

    source: str | None
    where: str
    message: str

    def __str__(self) -> str:
        prefix = f"source {self.source!r}: " if self.source is not None else ""
        return f"{prefix}{self.message}"


class RegsosekLinkError(Exception):
    """Base class of the library's errors."""


class ConfigError(RegsosekLinkError, ValueError):
    """A run's configuration or one of its sources is unusable.

    ``problems`` holds every :class:`Problem` found; the message lists them all, one a line.
    """

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(source=None, where="config", message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        if len(self.problems) == 1:
            text = str(self.problems[0])
        else:
            text = f"{len(self.problems)} problems:\n" + "\n".join(
                f"- {p}" for p in self.problems
            )
        super().__init__(text)


class ModelError(RegsosekLinkError, ValueError):
    """A trained model cannot be used (e.g. saved by an incompatible version)."""


class StoreError(RegsosekLinkError):
    """A registry store refuses an operation: it is locked by another run, changed under an
    update, holds settings that contradict the config, or is unreadable. Nothing was changed;
    the message says what to do."""


class InsufficientMemoryError(RegsosekLinkError):
    """A run would need more memory than the machine has left: refused before it starts
    (see :func:`regsosek_link.run._memory.check_memory`). Nothing was done; the message
    names the memory needed and available and the way out (the Spark engine).

    ``needed`` and ``available`` are in bytes.
    """

    def __init__(self, message: str, *, needed: int, available: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.available = available
