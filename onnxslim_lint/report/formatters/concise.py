"""``concise``: one line per finding, ``path: CODE [*] message``."""

from __future__ import annotations

from collections.abc import Sequence

from onnxslim_lint.findings import Finding
from onnxslim_lint.report.escape import printable


def line(finding: Finding) -> str:
    marker = " [*]" if finding.fixable else ""
    return f"{printable(finding.path)}: {finding.code}{marker} {printable(finding.message)}"


def render(findings: Sequence[Finding]) -> str:
    return "".join(line(finding) + "\n" for finding in findings)
