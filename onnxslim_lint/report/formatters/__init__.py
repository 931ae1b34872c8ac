"""One output format per module; each renders the findings of a whole run to text."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from onnxslim_lint.findings import Finding
from onnxslim_lint.report.formatters import concise, full, json_format

__all__ = ["FORMATTERS", "TEXT_FORMATS"]

Formatter = Callable[[Sequence[Finding]], str]

FORMATTERS: dict[str, Formatter] = {
    "concise": concise.render,
    "full": full.render,
    "json": json_format.render,
    "json-lines": json_format.render_lines,
}

# Formats for people: the summary and fix reports go with them on stdout.
TEXT_FORMATS = frozenset({"concise", "full"})
