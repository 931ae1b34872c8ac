"""One writer per model file: an advisory lock on the file itself.

``exclusive(path)`` holds ``flock`` on the model file's inode for the duration of
a fix. A write replaces the file by a new inode (``os.replace``), so a second
process that was waiting on the old inode finds, once it has the lock, that the
path names another file now: it locks that one instead and loads what the first
process wrote, so no update is lost. No lock file is created (nothing to leave
behind). Where ``fcntl`` is missing (Windows) the lock is a no-op.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["exclusive"]

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    for _ in range(100):  # each retry means another process replaced the file
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            yield  # unreadable: the loader reports it
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except OSError:
                same = False
            if same:
                yield
                return
        finally:
            os.close(fd)
    yield  # replaced a hundred times while we waited: go on unlocked
