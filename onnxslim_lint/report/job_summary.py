"""A Markdown job summary (``$GITHUB_STEP_SUMMARY``): one row per model and a total.

Each row shows the model's size, its change against the base (bytes and percent,
with an arrow), its findings and the megabytes ``--fix`` would remove. Pull
requests from forks get a read-only token and cannot comment, so this table is
the main thing a reviewer sees; findings are listed below it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from onnxslim_lint.findings import Finding, format_bytes
from onnxslim_lint.report.escape import printable
from onnxslim_lint.report.formatters._common import repo_relative
from onnxslim_lint.results import FileResult, SizeInfo

__all__ = ["Totals", "render_job_summary", "totals"]

MAX_FINDINGS_LISTED = 50


@dataclass(frozen=True)
class Totals:
    models: int
    findings: int
    removable_bytes: int
    size: int
    size_change: int | None  # None: no base to compare with
    base_size: int


def _findings(result: FileResult) -> list[Finding]:
    return ([result.error] if result.error is not None else []) + list(result.findings)


def _removable(result: FileResult) -> int:
    return sum(f.nbytes for f in result.findings if f.fixable)


def totals(results: Sequence[FileResult], sizes: Mapping[str, SizeInfo]) -> Totals:
    infos = [sizes.get(r.display) for r in results]
    compared = any(info is not None and info.compared for info in infos)
    change = 0
    size = 0
    base = 0
    for info in infos:
        if info is None or info.size is None:
            continue
        size += info.size
        base += info.base_size or 0
        change += info.change or 0
    return Totals(
        models=len(results),
        findings=sum(len(_findings(r)) for r in results),
        removable_bytes=sum(_removable(r) for r in results),
        size=size,
        size_change=change if compared else None,
        base_size=base,
    )


def _code(text: str) -> str:
    return f"<code>{_cell(printable(text))}</code>"


def _text(text: str) -> str:
    one_line = " ".join(printable(text).split())
    return _cell(one_line)


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell: HTML escaped, and the characters
    Markdown reads there (pipes, backticks, emphasis, links) as entities."""
    escaped = html.escape(text)
    for char, entity in (
        ("|", "&#124;"),
        ("`", "&#96;"),
        ("*", "&#42;"),
        ("_", "&#95;"),
        ("[", "&#91;"),
        ("]", "&#93;"),
    ):
        escaped = escaped.replace(char, entity)
    return escaped


def _mb(nbytes: int) -> str:
    return f"{nbytes / 1e6:.2f} MB"


def _change(change: int | None, base: int | None, *, new: bool = False) -> str:
    if new:
        return "🆕 new"
    if change is None:
        return "–"
    if change == 0:
        return "= 0 B"
    arrow = "▲" if change > 0 else "▼"
    sign = "+" if change > 0 else "-"
    text = f"{arrow} {sign}{format_bytes(abs(change))}"
    if base:
        text += f" ({change / base * 100:+.1f}%)"
    return text


def _size(info: SizeInfo | None) -> str:
    if info is None or info.size is None:
        return "–"
    return format_bytes(info.size)


def render_job_summary(
    results: Sequence[FileResult],
    sizes: Mapping[str, SizeInfo],
    *,
    base_ref: str | None = None,
    root: Path | None = None,
    title: str = "onnxslim-lint",
) -> str:
    root = root or Path.cwd()
    against = f"vs {_code(base_ref)}" if base_ref else "vs base"
    lines = [f"## {title}", ""]
    if not results:
        lines.append("No ONNX models to check.")
        return "\n".join(lines) + "\n"
    lines += [
        f"| | Model | Size | Change {against} | Findings | Removable |",
        "|:-:|:--|--:|--:|--:|--:|",
    ]
    for result in results:
        info = sizes.get(result.display)
        found = _findings(result)
        status = "❌" if found else "✅"
        change = info.change if info is not None else None
        base = info.base_size if info is not None else None
        new = info is not None and info.is_new
        codes = ", ".join(sorted({f.code for f in found}))
        count = f"{len(found)} ({codes})" if found else "0"
        lines.append(
            f"| {status} | {_code(repo_relative(result.display, root))} | {_size(info)} | "
            f"{_change(change, base, new=new)} | {count} | {_mb(_removable(result))} |"
        )
    total = totals(results, sizes)
    models = f"{total.models} {'model' if total.models == 1 else 'models'}"
    lines.append(
        f"| | **Total** ({models}) | **{format_bytes(total.size)}** | "
        f"**{_change(total.size_change, total.base_size)}** | **{total.findings}** | "
        f"**{_mb(total.removable_bytes)}** |"
    )
    findings = [(result, f) for result in results for f in _findings(result)]
    if findings:
        lines += ["", "<details><summary>Findings</summary>", ""]
        for result, finding in findings[:MAX_FINDINGS_LISTED]:
            fix = " — fixable with <code>onnxslim-lint --fix</code>" if finding.fixable else ""
            lines.append(
                f"- {_code(repo_relative(result.display, root))}: **{finding.code}** "
                f"{finding.name}: {_text(finding.message)}{fix}"
            )
        hidden = len(findings) - MAX_FINDINGS_LISTED
        if hidden > 0:
            lines.append(f"- … and {hidden} more")
        lines += ["", "</details>"]
    if any(f.fixable for _, f in findings):
        lines += ["", "Run `onnxslim-lint --fix` on the models above to remove the dead weight."]
    return "\n".join(lines) + "\n"
