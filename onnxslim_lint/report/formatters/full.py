"""``full``: each finding with where it is (tensor and node names) and how to fix it."""

from __future__ import annotations

from collections.abc import Sequence

from onnxslim_lint.findings import Finding, FixSafety, format_bytes
from onnxslim_lint.report.escape import printable

MAX_LOCATIONS = 20


def render(findings: Sequence[Finding]) -> str:
    blocks = []
    for finding in findings:
        marker = " [*]" if finding.fixable else ""
        lines = [f"{finding.code}{marker} {finding.message}", f" --> {finding.path}"]
        for loc in finding.locations[:MAX_LOCATIONS]:
            graph = "" if loc.graph == "main" else f"  (in {loc.graph})"
            size = f"  {format_bytes(loc.nbytes)}" if loc.nbytes else ""
            lines.append(f"  {loc.kind:<11} {loc.name}  {loc.detail}{size}{graph}".rstrip())
        hidden = len(finding.locations) - MAX_LOCATIONS
        if hidden > 0:
            lines.append(f"  ... and {hidden} more")
        if finding.fix_title:
            unsafe = (
                " (unsafe: needs --unsafe-fixes)" if finding.safety is FixSafety.NUMERIC else ""
            )
            lines.append(f"  help: {finding.fix_title}{unsafe}")
        blocks.append("\n".join(printable(line) for line in lines) + "\n")
    return "\n".join(blocks) + ("\n" if blocks else "")  # a blank line before the summary
