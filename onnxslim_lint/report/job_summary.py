"""A Markdown job summary (``$GITHUB_STEP_SUMMARY``): one row per model and a total.

Each row shows the model's size, its change against the base (bytes and percent,
with an arrow), its findings, a broken budget in words ("12.3 MB: 2.3 MB over the 10 MB
budget") and what ``--fix`` would remove, all in human units. Models deleted since
the base get a row and count in the total's change; a renamed model is shown as
``old → new`` and compared with its old path's size. Pull requests from forks get a
read-only token and cannot comment, so this table is the main thing a reviewer
sees; findings are listed below it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from onnxslim_lint.findings import Finding, format_bytes
from onnxslim_lint.report.escape import printable
from onnxslim_lint.report.formatters._common import repo_relative
from onnxslim_lint.results import FileResult, SizeInfo

__all__ = [
    "BudgetLimits",
    "RemovedModel",
    "Totals",
    "render_input_error",
    "render_job_summary",
    "totals",
]

MAX_FINDINGS_LISTED = 50
MODEL_SIZE = "OSL301"  # the budget rules, whose findings the row puts in words
SIZE_GROWTH = "OSL302"


class BudgetLimits(Protocol):
    """One model's size budget (``config.Limits`` is one); None: no limit."""

    @property
    def max_size(self) -> int | None: ...

    @property
    def max_growth(self) -> int | None: ...

    @property
    def max_growth_percent(self) -> float | None: ...


@dataclass(frozen=True)
class RemovedModel:
    """A model at the base that the working tree no longer has."""

    path: str  # repository-relative, posix
    base_size: int | None  # None: unknown


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


def totals(
    results: Sequence[FileResult],
    sizes: Mapping[str, SizeInfo],
    removed: Sequence[RemovedModel] = (),
) -> Totals:
    """The table's last row; a removed model counts as a model of size 0."""
    infos = [sizes.get(r.display) for r in results]
    compared = bool(removed) or any(info is not None and info.compared for info in infos)
    change = 0
    size = 0
    base = 0
    for info in infos:
        if info is None or info.size is None:
            continue
        size += info.size
        base += info.base_size or 0
        change += info.change or 0
    for gone in removed:
        base += gone.base_size or 0
        change -= gone.base_size or 0
    return Totals(
        models=len(results) + len(removed),
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


def _removable_cell(nbytes: int) -> str:
    return format_bytes(nbytes) if nbytes else "–"


def _signed(change: int) -> str:
    return ("+" if change >= 0 else "-") + format_bytes(abs(change))


def _limit(nbytes: int) -> str:
    """A budget as people write it: "50 kB", "10 MB", "1.5 GB" (no ".0")."""
    text = format_bytes(nbytes)
    number, _, unit = text.partition(" ")
    return f"{number.removesuffix('.0')} {unit}"


def _size_budget(info: SizeInfo, finding: Finding, limits: BudgetLimits | None) -> str:
    assert info.size is not None
    limit = limits.max_size if limits is not None else None
    if limit is None:  # the finding's bytes are those above the limit
        limit = info.size - finding.nbytes
    over = format_bytes(info.size - limit)
    return f"{format_bytes(info.size)}: {over} over the {_limit(limit)} budget"


def _growth_budget(info: SizeInfo, limits: BudgetLimits | None) -> str:
    change = info.change or 0
    percent = info.change_percent
    broken: list[str] = []
    if limits is not None:
        if limits.max_growth is not None and change > limits.max_growth:
            broken.append(_limit(limits.max_growth))
        limit = limits.max_growth_percent
        if limit is not None and percent is not None and percent > limit:
            broken.append(f"{limit:g}%")
    budget = f"the {' and '.join(broken)} growth budget" if broken else "the growth budget"
    grown = _signed(change) if percent is None else f"{_signed(change)} ({percent:+.1f}%)"
    return f"{'new, ' if info.is_new else ''}{grown} over {budget}"


def _budget_notes(
    found: Sequence[Finding], info: SizeInfo | None, limits: BudgetLimits | None
) -> list[str]:
    """A broken budget in words, for the row: "12.3 MB: 2.3 MB over the 10 MB budget"."""
    if info is None or info.size is None:
        return []
    notes = []
    for finding in found:
        if finding.code == MODEL_SIZE:
            notes.append(_size_budget(info, finding, limits))
        elif finding.code == SIZE_GROWTH and info.change is not None:
            notes.append(_growth_budget(info, limits))
    return notes


def _findings_cell(found: Sequence[Finding], notes: Sequence[str]) -> str:
    if not found:
        return "0"
    codes = ", ".join(sorted({f.code for f in found}))
    return "<br>".join([f"{len(found)} ({codes})", *(f"**{_text(note)}**" for note in notes)])


def _model_cell(display: str, root: Path, renamed_from: str | None) -> str:
    name = _code(repo_relative(display, root))
    return f"{_code(renamed_from)} → {name}" if renamed_from else name


def _removed_row(gone: RemovedModel) -> str:
    change = None if gone.base_size is None else -gone.base_size
    return f"| 🗑️ | {_code(gone.path)} | deleted | {_change(change, gone.base_size)} | – | – |"


def render_job_summary(
    results: Sequence[FileResult],
    sizes: Mapping[str, SizeInfo],
    *,
    base_ref: str | None = None,
    root: Path | None = None,
    title: str = "onnxslim-lint",
    removed: Sequence[RemovedModel] = (),
    renamed: Mapping[str, str] | None = None,
    limits: Mapping[str, BudgetLimits] | None = None,
) -> str:
    """The summary's Markdown. ``removed`` are the models deleted since the base,
    ``renamed`` maps a result's display path to its path at the base, and
    ``limits`` a result's display path to its budget (to name the limit a growth
    finding broke)."""
    root = root or Path.cwd()
    renamed = renamed or {}
    limits = limits or {}
    against = f"vs {_code(base_ref)}" if base_ref else "vs base"
    lines = [f"## {title}", ""]
    if not results and not removed:
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
        notes = _budget_notes(found, info, limits.get(result.display))
        lines.append(
            f"| {status} | {_model_cell(result.display, root, renamed.get(result.display))} | "
            f"{_size(info)} | {_change(change, base, new=new)} | "
            f"{_findings_cell(found, notes)} | {_removable_cell(_removable(result))} |"
        )
    lines += [_removed_row(gone) for gone in removed]
    total = totals(results, sizes, removed)
    models = f"{total.models} {'model' if total.models == 1 else 'models'}"
    if removed:
        models += f", {len(removed)} deleted"
    lines.append(
        f"| | **Total** ({models}) | **{format_bytes(total.size)}** | "
        f"**{_change(total.size_change, total.base_size)}** | **{total.findings}** | "
        f"**{_removable_cell(total.removable_bytes)}** |"
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


def render_input_error(problem: str, *, title: str = "onnxslim-lint") -> str:
    """The summary of a run that could not start: one line saying what was wrong."""
    return f"## {title}\n\n❌ **Nothing was checked:** {_text(problem)}\n"
