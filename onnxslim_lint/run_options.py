"""What a run does with each file, beyond the settings from configuration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onnxslim_lint.gitbase import BaseRevision

__all__ = ["RunOptions"]


@dataclass(frozen=True)
class RunOptions:
    """The command line's per-file choices (the pipeline, the workers, the budgets)."""

    fix: bool = False
    verify: bool = True
    unsafe_fixes: bool = False
    output: Path | None = None  # -o: write the result here instead of in place
    diff: bool = False  # plan the fix and report it, write nothing
    base: BaseRevision | None = None  # --base REF: sizes against that commit (OSL302)
    measure: bool = False  # measure every file's size even with no budget (the Action)
    # Told each stage as it starts: "load", "check", "fix", "verify", "write" (the
    # CLI's progress line); it runs in the process that runs the file.
    on_phase: Callable[[str], None] | None = field(default=None, compare=False, repr=False)
