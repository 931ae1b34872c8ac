"""``--diff``: what ``--fix`` would change in each model, without writing anything.

A model has no lines to diff, so the diff is structural: per rule, the
initializers, constants and nodes its fix removes or merges away (a merged copy
shows the one it is merged into), then the nodes and bytes saved::

    --- models/a.onnx
    +++ models/a.onnx (fixed)
    @@ OSL101 unused-initializer: Remove the unused initializers @@
    -initializer legacy_proj.weight  float32[64,256]  65.6 kB
    @@ OSL103 duplicate-constant: Keep one copy of each constant and rewire its readers @@
    -constant block_again.bias  float32[32] = block.bias  197 B
     nodes 24 → 13 (-11), size 80.0 kB → 8.5 kB (-71.5 kB)

The lines come from the fixes the fix loop applied, so they are exactly what
``--fix`` would do: several rounds of one rule are shown together, and a rule
whose finding appears only once another fix is made (a Constant left dead) has its
section too. The closing line counts what ``--fix`` reports as fixed: the
findings the check reported that the fixed model no longer has, whichever rule's
fix removed them, and the nodes and bytes of the whole fix.
"""

from __future__ import annotations

from collections.abc import Sequence

from onnxslim_lint.findings import Finding, Location, format_bytes
from onnxslim_lint.report.escape import printable
from onnxslim_lint.report.formatters._common import location_extras
from onnxslim_lint.results import FileResult

__all__ = ["render_diff", "would_fix_line"]


def _location(loc: Location) -> str:
    parts = [f"{loc.kind} {loc.name}", *location_extras(loc)]
    return "-" + "  ".join(parts).replace("\n", "\\n").replace("\r", "\\r")


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else str(n)


def _signed_bytes(n: int) -> str:
    return f"+{format_bytes(n)}" if n > 0 else f"-{format_bytes(-n)}" if n < 0 else "0 B"


def render_file(result: FileResult) -> str:
    if not result.fixes:
        return ""
    lines = [f"--- {result.display}", f"+++ {result.display} (fixed)"]
    by_code: dict[str, list[Finding]] = {}
    for finding in result.fixes:
        by_code.setdefault(finding.code, []).append(finding)
    for code, findings in by_code.items():
        first = findings[0]
        title = first.fix_title or "fix"
        lines.append(f"@@ {code} {first.name}: {title} @@")
        for finding in findings:
            lines.extend(_location(loc) for loc in finding.locations)
    report = result.fix_report
    if report is not None:
        nodes = report.nodes_after - report.nodes_before
        size = report.size_after - report.size_before
        lines.append(
            f" nodes {report.nodes_before} → {report.nodes_after} ({_signed(nodes)}), "
            f"size {format_bytes(report.size_before)} → {format_bytes(report.size_after)} "
            f"({_signed_bytes(size)})"
        )
    return "\n".join(lines) + "\n"


def render_diff(results: Sequence[FileResult]) -> str:
    """The diff of every model a fix would change, in order, separated by blank lines."""
    blocks = [render_file(result) for result in results]
    text = "\n".join(block for block in blocks if block)
    return "\n".join(printable(line) for line in text.split("\n"))


def would_fix_line(results: Sequence[FileResult]) -> str:
    """ruff's closing line for ``--diff``: the errors ``--fix`` would report as fixed,
    in the files it would change, and what the whole fix saves there."""
    changed = [r for r in results if r.fixes]
    if not changed:
        return "No errors would be fixed.\n"
    fixed = sum(len(r.fixed) for r in changed)
    reports = [r.fix_report for r in changed if r.fix_report is not None]
    saved = sum(report.size_before - report.size_after for report in reports)
    nodes = sum(report.nodes_before - report.nodes_after for report in reports)
    files = len(changed)
    return (
        f"Would fix {fixed} {'error' if fixed == 1 else 'errors'} in {files} "
        f"{'file' if files == 1 else 'files'} ({format_bytes(saved)} and "
        f"{nodes} {'node' if nodes == 1 else 'nodes'} saved).\n"
    )
