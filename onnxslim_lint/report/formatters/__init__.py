"""One output format per module; each renders the findings of a whole run to text.

A formatter is called as ``render(findings, run)``: ``run`` (:class:`RunInfo`) tells
the formats that need more than the findings (JUnit's passing files, SARIF's rule
table, repository-relative paths) what else the run covered. Formats that need
only the findings are wrapped by :func:`_findings_only`. The text formats are also in
:data:`TEXT_FORMATTERS`, called as ``render(findings, style)``: the CLI colours them
(``report/style.py``) and prints them file by file; a run's rendering is its files'
renderings one after the other.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from onnxslim_lint.findings import Finding
from onnxslim_lint.report.formatters import (
    concise,
    full,
    github,
    gitlab,
    json_format,
    junit,
    sarif,
)
from onnxslim_lint.report.formatters._common import RunInfo
from onnxslim_lint.report.style import Style

__all__ = ["FORMATTERS", "TEXT_FORMATS", "TEXT_FORMATTERS", "Formatter", "RunInfo"]


class Formatter(Protocol):
    def __call__(self, findings: Sequence[Finding], run: RunInfo | None = None) -> str: ...


def _findings_only(render: Callable[[Sequence[Finding]], str]) -> Formatter:
    def wrapped(findings: Sequence[Finding], run: RunInfo | None = None) -> str:
        return render(findings)

    wrapped.__doc__ = render.__doc__
    return wrapped


FORMATTERS: dict[str, Formatter] = {
    "concise": _findings_only(concise.render),
    "full": _findings_only(full.render),
    "json": json_format.render,
    "json-lines": json_format.render_lines,
    "github": github.render,
    "gitlab": gitlab.render,
    "sarif": sarif.render,
    "junit": junit.render,
}

# Formats for people: the summary and fix reports go with them on stdout.
TEXT_FORMATTERS: dict[str, Callable[[Sequence[Finding], Style], str]] = {
    "concise": concise.render,
    "full": full.render,
}
TEXT_FORMATS = frozenset(TEXT_FORMATTERS)
