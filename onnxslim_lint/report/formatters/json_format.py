"""``json`` (one list) and ``json-lines`` (one object per line), keys kept stable."""

from __future__ import annotations

import json
from collections.abc import Sequence

from onnxslim_lint.findings import Finding
from onnxslim_lint.report.formatters._common import RunInfo, rule_url


def _item(finding: Finding, run: RunInfo | None) -> dict[str, object]:
    return {**finding.as_dict(), "url": rule_url(finding.code, finding.name, run)}


def render(findings: Sequence[Finding], run: RunInfo | None = None) -> str:
    return json.dumps([_item(f, run) for f in findings], indent=2) + "\n"


def render_lines(findings: Sequence[Finding], run: RunInfo | None = None) -> str:
    return "".join(json.dumps(_item(f, run)) + "\n" for f in findings)
