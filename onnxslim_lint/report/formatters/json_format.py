"""``json`` (one list) and ``json-lines`` (one object per line), keys kept stable."""

from __future__ import annotations

import json
from collections.abc import Sequence

from onnxslim_lint.findings import Finding


def render(findings: Sequence[Finding]) -> str:
    return json.dumps([f.as_dict() for f in findings], indent=2) + "\n"


def render_lines(findings: Sequence[Finding]) -> str:
    return "".join(json.dumps(f.as_dict()) + "\n" for f in findings)
