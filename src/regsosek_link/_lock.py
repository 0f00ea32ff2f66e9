"""The writer lock of a registry store (the DuckDB file or a Spark store's directory):
one writer at a time, an OS file lock, so a killed writer never leaves a stale lock."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from .errors import StoreError

__all__ = ["writer_lock"]


@contextlib.contextmanager
def writer_lock(lock_path: Path, command: str, *, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` for the block, or raise
    :class:`~regsosek_link.errors.StoreError` at once naming the process holding it
    (``what`` names the store in the message). The holder's pid, host, ``command`` and start
    time are written into the lock file while it is held."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try_lock(fd):
            holder = _read_holder(lock_path)
            raise StoreError(f"{what} is being written by another run ({holder}); nothing was changed. Wait for "
                             "that run to finish, then run this again.")
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command,
                "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            _unlock(fd)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    """An exclusive, non-blocking OS lock on ``fd``; False when another process holds it."""
    if sys.platform == "win32":  # pragma: no cover - msvcrt locks a byte range
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


def _read_holder(lock_path: Path) -> str:
    """Who holds the writer lock, as the holder wrote it."""
    try:
        info = json.loads(lock_path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not info:
        return "a process that has not said which"
    return (f"process {info.get('pid')} on {info.get('host')}, '{info.get('command')}', "
            f"started {info.get('started_at')}")
