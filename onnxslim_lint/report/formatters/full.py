"""``full``: each finding with where it is (tensor and node names) and how to fix it."""

from __future__ import annotations

from collections.abc import Sequence

from onnxslim_lint.findings import Finding, FixSafety, format_bytes
from onnxslim_lint.report.escape import printable
from onnxslim_lint.report.style import PLAIN, Style

MAX_LOCATIONS = 20


def render(findings: Sequence[Finding], style: Style = PLAIN) -> str:
    """The findings as blocks, each followed by a blank line: the rendering of a run
    is the renderings of its files one after the other."""
    blocks = []
    for finding in findings:
        # Each line is escaped first, then painted: colour codes come only from here.
        marker = f" {style.fixable()}" if finding.fixable else ""
        lines = [
            f"{style.code(finding.code)}{marker} {printable(finding.message)}",
            f" {style.arrow('-->')} {style.path(printable(finding.path))}",
        ]
        for loc in finding.locations[:MAX_LOCATIONS]:
            graph = "" if loc.graph == "main" else f"  (in {loc.graph})"
            size = f"  {format_bytes(loc.nbytes)}" if loc.nbytes else ""
            text = f"  {loc.kind:<11} {loc.name}  {loc.detail}{size}{graph}".rstrip()
            lines.append(printable(text))
        hidden = len(finding.locations) - MAX_LOCATIONS
        if hidden > 0:
            lines.append(f"  ... and {hidden} more")
        if finding.fix_title:
            unsafe = (
                " (unsafe: needs --unsafe-fixes)" if finding.safety is FixSafety.NUMERIC else ""
            )
            lines.append(f"  {style.emphasis('help:')} {printable(finding.fix_title + unsafe)}")
        blocks.append("".join(line + "\n" for line in lines) + "\n")
    return "".join(blocks)
