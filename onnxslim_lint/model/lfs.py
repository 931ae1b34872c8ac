"""Git LFS pointers: the small text file git keeps in place of a large model.

A pointer is recognised by its first line and measured by its ``size`` line, so a
model that was never fetched (``git lfs pull``) is reported, or sized, without
downloading anything.
"""

from __future__ import annotations

import re

__all__ = ["is_lfs_pointer", "lfs_pointer_size"]

_PREFIX = b"version https://git-lfs.github.com/spec/v1"
_SIZE_LINE = re.compile(rb"^size ([0-9]+)\s*$", re.MULTILINE)
# A pointer is about 130 bytes; its lines are all within the first kilobyte.
_POINTER_HEAD = 1024


def is_lfs_pointer(data: bytes) -> bool:
    """True when ``data`` starts the way every Git LFS pointer starts."""
    return data.startswith(_PREFIX)


def lfs_pointer_size(head: bytes) -> int | None:
    """The object size a Git LFS pointer names; None if not a pointer or no size line."""
    if not is_lfs_pointer(head):
        return None
    match = _SIZE_LINE.search(head[:_POINTER_HEAD])
    return int(match.group(1)) if match else None
