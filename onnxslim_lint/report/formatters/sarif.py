"""``sarif``: a SARIF 2.1.0 log for code scanning (``github/codeql-action/upload-sarif``).

One result per finding (one per file and rule). Each result points at the model by
a repository-relative URI with a line-1 region, names its nodes and tensors as
logical locations, and carries a partial fingerprint made from the file's path,
the rule and the location -- never from the file's bytes, so an alert keeps its
identity when the model changes and does not churn. (A SARIF uploader that finds
no ``primaryLocationLineHash`` hashes the source line; a model has none.)

The rule table lists every rule that was selected plus every code that has a
result, with the rule's documentation as help text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from onnxslim_lint.findings import Finding
from onnxslim_lint.model.read_errors import READ_ERRORS
from onnxslim_lint.report.formatters._common import (
    RuleInfo,
    RunInfo,
    location_lines,
    repo_relative,
    repository_root,
    rule_info,
    rule_url,
)

__all__ = ["SCHEMA_URI", "fingerprint", "render"]

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/onnxslim-lint/onnxslim-lint"
FINGERPRINT_KEY = "onnxslimLint/v1"
MAX_LOGICAL = 50


def fingerprint(uri: str, code: str, line: int = 1) -> str:
    """Stable identity of a result: file, rule and location (the line), nothing else."""
    return hashlib.sha256(f"{uri}\0{code}\0{line}".encode()).hexdigest()


def _uri(relative: str) -> str:
    return quote(relative, safe="/")


def _rule(info: RuleInfo, run: RunInfo | None) -> dict[str, object]:
    family = "file-error" if info.code in READ_ERRORS else "rule"
    return {
        "id": info.code,
        "name": info.name,
        "helpUri": rule_url(info.code, info.name, run),
        "shortDescription": {"text": info.summary},
        "fullDescription": {"text": info.summary},
        "help": {"text": info.help_markdown, "markdown": info.help_markdown},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["onnx", family], "fixable": info.fixable},
    }


def _logical(finding: Finding) -> list[dict[str, object]]:
    kinds = {"node": "function", "initializer": "variable", "constant": "variable"}
    out: list[dict[str, object]] = []
    for loc in finding.locations[:MAX_LOGICAL]:
        qualified = loc.name if loc.graph in ("", "main") else f"{loc.graph}/{loc.name}"
        out.append(
            {
                "name": loc.name,
                "fullyQualifiedName": qualified,
                "kind": kinds.get(loc.kind, "object"),
            }
        )
    return out


def _result(finding: Finding, index: int, root: Path) -> dict[str, object]:
    relative = repo_relative(finding.path, root)
    absolute = relative.startswith("/")
    artifact: dict[str, object] = {
        "uri": ("file://" + _uri(relative)) if absolute else _uri(relative)
    }
    if not absolute:
        artifact["uriBaseId"] = "%SRCROOT%"
    location: dict[str, object] = {
        "physicalLocation": {"artifactLocation": artifact, "region": {"startLine": 1}}
    }
    logical = _logical(finding)
    if logical:
        location["logicalLocations"] = logical
    text = "\n".join([finding.message, *location_lines(finding)])
    digest = fingerprint(relative, finding.code)
    return {
        "ruleId": finding.code,
        "ruleIndex": index,
        "level": "error",
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {
            FINGERPRINT_KEY: digest,
            "primaryLocationLineHash": f"{digest[:16]}:1",
        },
        "properties": {
            "name": finding.name,
            "fixable": finding.fixable,
            "count": finding.count,
            "bytes": finding.nbytes,
            "nodes": finding.nodes,
            "locations": [loc.as_dict() for loc in finding.locations],
        },
    }


def build(findings: Sequence[Finding], run: RunInfo | None = None) -> dict[str, object]:
    root = repository_root(run)
    codes: list[str] = list(run.rules) if run is not None else []
    for finding in findings:
        if finding.code not in codes:
            codes.append(finding.code)
    infos: dict[str, RuleInfo] = {}
    by_code = {f.code: f for f in findings}
    for code in sorted(codes):
        if code in by_code:
            infos[code] = rule_info(by_code[code])
        else:
            infos[code] = rule_info(Finding("", code, code, "", fixable=False))
    order = {code: i for i, code in enumerate(infos)}
    root_uri = root.absolute().as_uri().rstrip("/") + "/"
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "onnxslim-lint",
                        **_version(run),
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule(info, run) for info in infos.values()],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root_uri}},
                "results": [_result(f, order[f.code], root) for f in findings],
                "columnKind": "unicodeCodePoints",
            }
        ],
    }


def _version(run: RunInfo | None) -> dict[str, str]:
    """The driver's version keys, when the run states the tool's version."""
    if run is None or not run.version:
        return {}
    return {"semanticVersion": run.version, "version": run.version}


def render(findings: Sequence[Finding], run: RunInfo | None = None) -> str:
    return json.dumps(build(findings, run), indent=2) + "\n"
