"""Which codes are enforced for one file: the selection, minus its per-file-ignores."""

from __future__ import annotations

from pathlib import Path

from onnxslim_lint.config import Settings
from onnxslim_lint.discover import matches_any
from onnxslim_lint.rules.selection import enabled_codes

__all__ = ["codes_for"]


def _per_file_ignores_for(path: Path, settings: Settings) -> list[tuple[str, ...]]:
    """The per-file-ignores entries that apply to ``path``. As in ruff, a glob with a
    ``!`` prefix applies to the files that do *not* match the rest of it."""
    entries = []
    for glob, selectors in settings.per_file_ignores.items():
        negated = glob.startswith("!")
        pattern = glob[1:] if negated else glob
        if matches_any(path, [pattern], settings.root) != negated:
            entries.append(selectors)
    return entries


def codes_for(path: Path, settings: Settings) -> set[str]:
    """Every code enforced for ``path``: the selected rules and file errors (OSL0xx)
    minus this file's per-file-ignores."""
    return enabled_codes(settings.rule_selections(), _per_file_ignores_for(path, settings))
