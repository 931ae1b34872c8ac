"""What the CI formats share: the run description, repository-relative paths and
the rule table (codes, names, help) for every code a finding can carry."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath

from onnxslim_lint.findings import DOCS_URL, Finding, Location, format_bytes
from onnxslim_lint.model.read_errors import READ_ERRORS

__all__ = [
    "RuleInfo",
    "RunInfo",
    "location_extras",
    "location_lines",
    "repo_relative",
    "repository_root",
    "rule_info",
    "rule_url",
]


@dataclass(frozen=True)
class RunInfo:
    """What a run covered, beyond its findings (the command fills it in)."""

    files: tuple[str, ...] = ()  # every file checked, as displayed
    rules: tuple[str, ...] = ()  # codes of the rules that were selected
    root: Path | None = None  # repository root for relative paths (None: detect)
    version: str = ""  # the tool's version, for SARIF's driver ("": not stated)
    docs_url: str = DOCS_URL  # the rule pages' base (the docs-url setting)


def rule_url(code: str, name: str, run: RunInfo | None = None) -> str:
    """The page of one rule (or file error): ``<docs-url>/<CODE>-<name>.md``."""
    base = run.docs_url if run is not None else DOCS_URL
    return f"{base}/{code}-{name}.md"


@dataclass(frozen=True)
class RuleInfo:
    code: str
    name: str
    summary: str
    help_markdown: str
    fixable: bool


def repository_root(run: RunInfo | None = None) -> Path:
    """The folder paths are made relative to: the run's root (``check`` passes the
    Action's workspace or the git working tree), else the working directory."""
    if run is not None and run.root is not None:
        return run.root
    return Path.cwd()


def repo_relative(path: str, root: Path) -> str:
    """``path`` (as displayed, relative to the working directory) relative to ``root``,
    in posix form; unchanged (absolute) when it lies outside ``root``."""
    absolute = os.path.realpath(os.path.abspath(path))
    base = os.path.realpath(root)
    try:
        rel = os.path.relpath(absolute, base)
    except ValueError:
        return Path(absolute).as_posix()
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return Path(absolute).as_posix()
    return PurePosixPath(*Path(rel).parts).as_posix()


@lru_cache(maxsize=1)
def _rule_table() -> dict[str, RuleInfo]:
    # The rule classes (and onnx with them) are imported only by the formats that
    # describe rules (SARIF, JUnit), not by every run that prints findings.
    from onnxslim_lint.rules.registry import ALL_RULES

    table: dict[str, RuleInfo] = {}
    for kind in READ_ERRORS.values():
        table[kind.code] = RuleInfo(kind.code, kind.name, kind.summary, kind.summary, False)
    for rule in ALL_RULES:
        table[rule.code] = RuleInfo(
            rule.code, rule.name, rule.summary, rule.explanation(), rule.safety is not None
        )
    return table


def rule_info(finding: Finding) -> RuleInfo:
    known = _rule_table().get(finding.code)
    if known is not None:
        return known
    return RuleInfo(finding.code, finding.name, finding.name, finding.name, finding.fixable)


def location_extras(loc: Location) -> list[str]:
    """What a location shows after its kind and name: detail, size, subgraph."""
    extras = []
    if loc.detail:
        extras.append(loc.detail)
    if loc.nbytes:
        extras.append(format_bytes(loc.nbytes))
    if loc.graph and loc.graph != "main":
        extras.append(f"(in {loc.graph})")
    return extras


def location_lines(finding: Finding, limit: int = 10) -> list[str]:
    """One line per location (kind, name, detail, size, subgraph), at most ``limit``."""
    lines = [
        " ".join([loc.kind, loc.name, *location_extras(loc)]) for loc in finding.locations[:limit]
    ]
    hidden = len(finding.locations) - limit
    if hidden > 0:
        lines.append(f"... and {hidden} more")
    return lines
