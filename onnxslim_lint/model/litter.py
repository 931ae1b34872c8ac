"""Temporary files a killed run leaves behind, named so that a later run can tell
them apart and remove them.

Every temporary file or folder the tool makes carries :data:`MARK` and the
process id of its writer: ``.model.onnx.onnxslim-lint-4242-x1y2.tmp`` beside the
model, ``onnxslim-lint-verify-4242-...`` in the system's temporary folder. A run
that writes into a folder first removes the marked temporaries there whose writer
is no longer alive: a concurrent run's files (its process is alive) are left alone.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

__all__ = ["MARK", "remove_stale", "temp_prefix"]

MARK = "onnxslim-lint"
# mkstemp / mkdtemp add 8 characters of [a-z0-9_]; nothing else is ever matched.
_STALE_FILE = re.compile(rf"\..+\.{MARK}-(\d+)-[a-z0-9_]{{8}}\.tmp")
_STALE_DIR = re.compile(rf"{MARK}-verify-(\d+)-[a-z0-9_]{{8}}")


def temp_prefix(kind: str = "") -> str:
    """The start of a temporary name this process makes (``kind``: ``verify``...)."""
    middle = f"{kind}-" if kind else ""
    return f"{MARK}-{middle}{os.getpid()}-"


def remove_stale(folder: Path) -> list[Path]:
    """Remove the marked temporaries in ``folder`` whose writer process is gone;
    returns what was removed (best effort: what cannot be removed stays)."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    uid = os.getuid() if hasattr(os, "getuid") else None
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
            ours = uid is None or entry.stat(follow_symlinks=False).st_uid == uid
        except OSError:
            continue
        pattern = _STALE_DIR if is_dir else _STALE_FILE
        match = pattern.fullmatch(entry.name)
        if match is None or not ours or _alive(int(match.group(1))):
            continue
        path = Path(entry.path)
        try:
            if is_dir:
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's live process, or not ours to judge
    return True
