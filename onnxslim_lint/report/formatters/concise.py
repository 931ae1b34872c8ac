"""``concise``: one line per finding, ``path: CODE [*] message``."""

from __future__ import annotations

from collections.abc import Sequence

from onnxslim_lint.findings import Finding
from onnxslim_lint.report.escape import printable
from onnxslim_lint.report.style import PLAIN, Style


def line(finding: Finding, style: Style = PLAIN) -> str:
    marker = f" {style.fixable()}" if finding.fixable else ""
    return (
        f"{style.path(printable(finding.path))}{style.separator(':')} "
        f"{style.code(finding.code)}{marker} {printable(finding.message)}"
    )


def render(findings: Sequence[Finding], style: Style = PLAIN) -> str:
    return "".join(line(finding, style) + "\n" for finding in findings)
