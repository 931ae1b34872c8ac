"""What a run produces, as plain data: the fix verdict, a fix's report, one file's
result and one model's measured size.

A leaf module: the pipeline and the fix engine fill these in, the report layer and
the commands read them, and none of them needs the other to do so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from onnxslim_lint.findings import Finding

__all__ = ["FileResult", "FixReport", "SizeInfo", "Verdict"]


class Verdict(str, Enum):
    """What became of a fix. A ``str`` enum: it prints and serializes as its value."""

    PASSED = "passed"  # verified in onnxruntime: outputs match
    FAILED = "failed"  # the fixed model changed the interface, does not run or differs
    COULD_NOT_VERIFY = "could-not-verify"  # the original cannot be run here
    NOT_VERIFIED = "not-verified"  # valid and not larger; verification was turned off
    REFUSED = "refused"  # a gate (interface, checker, size) refused it before verification
    PLANNED = "planned"  # --diff: valid and not larger, planned and not verified

    def __str__(self) -> str:
        return self.value

    @property
    def refuses(self) -> bool:
        """True when the fix must not be written (or returned as the fixed model)."""
        return self in (Verdict.FAILED, Verdict.COULD_NOT_VERIFY, Verdict.REFUSED)


@dataclass
class FixReport:
    nodes_before: int
    nodes_after: int
    size_before: int
    size_after: int
    applied: Counter[str]
    seconds: float
    verdict: Verdict
    max_diff: float = 0.0
    reason: str = ""
    written: bool = False
    # A rule whose fix did not verify and was left out of the result, and why.
    left_out: str = ""


@dataclass
class FileResult:
    path: Path
    display: str
    findings: list[Finding] = field(default_factory=list)  # what remains to report
    # The reported findings the fix removed (--diff: would remove), whichever
    # rule's fix did it: what "N fixed" and "Would fix N" count.
    fixed: list[Finding] = field(default_factory=list)
    # The fixes the fix loop applied, round by round, later rounds' rules included
    # (plans dropped): what --diff lists.
    fixes: list[Finding] = field(default_factory=list)
    error: Finding | None = None  # the file could not be checked (OSL0xx)
    fix_report: FixReport | None = None
    size: SizeInfo | None = None  # measured when a budget or --base asks for it
    data_files: tuple[Path, ...] | None = None  # its external-data files, when known

    @property
    def refused(self) -> bool:
        report = self.fix_report
        return report is not None and report.verdict.refuses


@dataclass
class SizeInfo:
    """One model's size now and at the base (None: unknown, or absent at the base)."""

    path: Path
    display: str
    size: int | None
    base_size: int | None = None
    base_ref: str | None = None  # None: no --base given
    data_files: tuple[Path, ...] = ()

    @property
    def compared(self) -> bool:
        return self.base_ref is not None

    @property
    def is_new(self) -> bool:
        return self.compared and self.base_size is None and self.size is not None

    @property
    def change(self) -> int | None:
        if not self.compared or self.size is None:
            return None
        return self.size - (self.base_size or 0)

    @property
    def change_percent(self) -> float | None:
        if self.change is None or not self.base_size:
            return None
        return self.change / self.base_size * 100.0
