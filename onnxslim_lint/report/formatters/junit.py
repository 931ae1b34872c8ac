"""``junit``: JUnit XML for CI test-report views (GitLab, Jenkins, Azure, Buildkite).

One ``<testsuite>`` per model; one ``<testcase>`` per finding, with a ``<failure>``
(a rule) or an ``<error>`` (a file that could not be checked, OSL0xx). A model with
no findings gets one passing test case, so the report counts every model checked.
Text from the model (tensor and node names) is escaped, and characters XML 1.0
cannot hold at all are written as ``\\xNN``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from onnxslim_lint.findings import Finding
from onnxslim_lint.model.read_errors import READ_ERRORS
from onnxslim_lint.report.formatters._common import (
    RunInfo,
    location_lines,
    repo_relative,
    repository_root,
)

__all__ = ["render"]

PASSING_CASE = "onnxslim-lint"
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text: str) -> str:
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _classname(relative: str) -> str:
    return _clean(relative)


def render(findings: Sequence[Finding], run: RunInfo | None = None) -> str:
    root = repository_root(run)
    files: list[str] = list(run.files) if run is not None else []
    for finding in findings:
        if finding.path not in files:
            files.append(finding.path)
    by_file: dict[str, list[Finding]] = {path: [] for path in files}
    for finding in findings:
        by_file[finding.path].append(finding)

    suites = ET.Element("testsuites", name="onnxslim-lint")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for path, found in by_file.items():
        relative = repo_relative(path, root)
        errors = sum(1 for f in found if f.code in READ_ERRORS)
        failures = len(found) - errors
        tests = max(len(found), 1)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=_clean(relative),
            tests=str(tests),
            failures=str(failures),
            errors=str(errors),
            skipped="0",
            time="0",
        )
        totals["tests"] += tests
        totals["failures"] += failures
        totals["errors"] += errors
        if not found:
            ET.SubElement(
                suite,
                "testcase",
                name=PASSING_CASE,
                classname=_classname(relative),
                file=_clean(relative),
                time="0",
            )
            continue
        for finding in found:
            case = ET.SubElement(
                suite,
                "testcase",
                name=_clean(f"{finding.code} {finding.name}"),
                classname=_classname(relative),
                file=_clean(relative),
                time="0",
            )
            tag = "error" if finding.code in READ_ERRORS else "failure"
            element = ET.SubElement(
                case, tag, message=_clean(finding.message), type=_clean(finding.code)
            )
            body = [f"{relative}: {finding.code} {finding.message}", *location_lines(finding, 50)]
            if finding.fixable and finding.fix_title:
                body.append(f"help: {finding.fix_title} (onnxslim-lint --fix)")
            element.text = _clean("\n".join(body))
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", "0")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"
