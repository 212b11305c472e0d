"""A non-blocking inter-process lock so scheduled runs never overlap (``filelock``, flock on Unix)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout


class LockBusyError(RuntimeError):
    """Another process holds the lock."""


@contextmanager
def exclusive_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the duration of the block; never wait for it.

    The kernel releases the lock when the holder exits, even after a crash, so a stale lock file
    never blocks later runs. The holder writes its pid into the file (filelock leaves the file's
    content to the holder), so a refused run can say who holds it.

    Raises:
        LockBusyError: another process (or another block of this one) holds the lock; the message
            names the lock file and the holder's pid.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = path.read_text(encoding="utf-8").strip() or "unknown"
        raise LockBusyError(f"another run holds {path} (pid {holder})") from None
    try:
        path.write_text(str(os.getpid()), encoding="utf-8")
        yield
    finally:
        path.write_text("", encoding="utf-8")
        lock.release()
