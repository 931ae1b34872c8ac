"""``gitlab``: a GitLab Code Quality report (``artifacts: reports: codequality``).

A JSON array with one issue per finding (one per file and rule)::

    {"description": "OSL101 unused-initializer: 3 unused initializers (66.7 kB)",
     "check_name": "OSL101", "fingerprint": "<sha256 hex>", "severity": "major",
     "location": {"path": "models/net.onnx", "lines": {"begin": 1}}}

Paths are relative to ``CI_PROJECT_DIR`` (GitLab's checkout) when it is set, as
ruff's ``gitlab`` format makes them, else to the run's root. A model has no lines,
so every issue is on line 1. A file that cannot be checked (OSL0xx) is a
``blocker``, every other finding ``major``.

The fingerprint is made from the path and the rule code, never from the message:
the message carries counts and sizes that change with every edit of the model, and
GitLab would then show a model's unchanged finding as one fixed and one new issue
(the SARIF fingerprints leave the message out for the same reason).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from onnxslim_lint.findings import Finding
from onnxslim_lint.model.read_errors import READ_ERRORS
from onnxslim_lint.report.formatters._common import RunInfo, repo_relative, repository_root

__all__ = ["fingerprint", "render"]


def fingerprint(path: str, code: str) -> str:
    """Stable identity of an issue: its repository-relative path and its rule code."""
    return hashlib.sha256(f"onnxslim-lint\0{path}\0{code}".encode()).hexdigest()


def _root(run: RunInfo | None) -> Path:
    project = os.environ.get("CI_PROJECT_DIR")
    if project and os.path.isdir(project):
        return Path(project)
    return repository_root(run)


def _issue(finding: Finding, path: str) -> dict[str, object]:
    return {
        "description": f"{finding.code} {finding.name}: {finding.message}",
        "check_name": finding.code,
        "fingerprint": fingerprint(path, finding.code),
        "severity": "blocker" if finding.code in READ_ERRORS else "major",
        "location": {"path": path, "lines": {"begin": 1}},
    }


def render(findings: Sequence[Finding], run: RunInfo | None = None) -> str:
    root = _root(run)
    issues = [_issue(f, repo_relative(f.path, root)) for f in findings]
    return json.dumps(issues, indent=2) + "\n"
