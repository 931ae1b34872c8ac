"""``github``: GitHub Actions workflow commands, one annotation per file and rule.

``::error file=models/a.onnx,line=1,title=OSL101 unused-initializer::3 unused ...``

The file is repository-relative, the line is 1 (a model has no lines), the title
carries the rule code and name, and the message the finding with the names of the
nodes and tensors it is about, one per line. GitHub shows at most ten error
annotations per step, which is why a finding is one per file and rule. Everything
a model controls (tensor and node names may hold ``%``, ``:``, ``,`` or newlines) is
escaped as the workflow-command syntax requires.
"""

from __future__ import annotations

from collections.abc import Sequence

from onnxslim_lint.findings import Finding
from onnxslim_lint.report.escape import printable
from onnxslim_lint.report.formatters._common import (
    RunInfo,
    location_lines,
    repo_relative,
    repository_root,
)

__all__ = ["escape_data", "escape_property", "render"]

MAX_NAMES = 10


def escape_data(text: str) -> str:
    """Escape a workflow command's message (after the ``::``); other control
    characters (escape codes, line separators) are written as escapes."""
    escaped = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return printable(escaped)


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (``file=``, ``title=``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def message(finding: Finding) -> str:
    lines = [finding.message]
    lines.extend(location_lines(finding, MAX_NAMES))
    if finding.fixable and finding.fix_title:
        lines.append(f"Fix: {finding.fix_title} (onnxslim-lint --fix)")
    return "\n".join(lines)


def annotation(finding: Finding, root_relative: str) -> str:
    title = f"{finding.code} {finding.name}"
    return (
        f"::error file={escape_property(root_relative)},line=1,"
        f"title={escape_property(title)}::{escape_data(message(finding))}"
    )


def render(findings: Sequence[Finding], run: RunInfo | None = None) -> str:
    root = repository_root(run)
    return "".join(annotation(f, repo_relative(f.path, root)) + "\n" for f in findings)
