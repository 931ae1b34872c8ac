"""Sizes as users write them in configuration: 1048576, "50 MB", "1.5 GB", "512 KiB"."""

from __future__ import annotations

import re

__all__ = ["SIZE_HELP", "parse_size"]

_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")
SIZE_HELP = 'a size: bytes as an integer, or a string like "50 MB", "1.5 GB" or "512 KiB"'


def parse_size(value: object) -> int | None:
    """Bytes for ``value`` (an integer >= 0 or "50 MB"-style text); None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    match = _SIZE.match(value)
    if match is None:
        return None
    number, unit = match.groups()
    factor = _UNITS.get((unit or "b").lower())
    if factor is None:
        return None
    return round(float(number) * factor)
