"""The closing lines of a run: summary, fix reports and statistics (ruff's wording)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from onnxslim_lint.findings import Finding, FixSafety, format_bytes
from onnxslim_lint.report.escape import printable
from onnxslim_lint.report.style import PLAIN, Style
from onnxslim_lint.results import FileResult, FixReport, Verdict

__all__ = ["fix_report_line", "occurrences", "show_fixes", "statistics", "summary"]


def _percent(before: int, after: int) -> str:
    if before == 0:
        return "0.0%"
    return f"{(after - before) / before * 100:+.1f}%"


def fix_report_line(result: FileResult) -> str | None:
    line = _fix_report_line(result)
    return None if line is None else printable(line)


def _fix_report_line(result: FileResult) -> str | None:
    report: FixReport | None = result.fix_report
    if report is None:
        return None
    rules = " ".join(f"{code}×{n}" for code, n in sorted(report.applied.items()))
    numbers = (
        f"nodes {report.nodes_before} → {report.nodes_after} "
        f"({_percent(report.nodes_before, report.nodes_after)}), "
        f"size {format_bytes(report.size_before)} → {format_bytes(report.size_after)} "
        f"({_percent(report.size_before, report.size_after)}), "
        f"rules {rules or '-'}, {report.seconds:.2f} s"
    )
    if report.verdict is Verdict.PASSED:
        verdict = f"verified ({report.max_diff:.3g} max diff)"
        _, _, how = report.reason.partition("; ")  # inputs searched for, checker level
        if how:
            verdict += f" {how}"
    elif report.verdict is Verdict.NOT_VERIFIED:
        verdict = "not verified (--no-verify)"
    elif report.verdict is Verdict.PLANNED:
        return f"{result.display}: would fix: {numbers}"
    else:
        label = {
            Verdict.FAILED: "verification failed",
            Verdict.COULD_NOT_VERIFY: "could not verify",
        }
        return (
            f"{result.display}: fix refused, file left unchanged: "
            f"{label.get(report.verdict, 'refused')}: {report.reason}"
        )
    if report.left_out:
        verdict += f"; {report.left_out}"
    return f"{result.display}: fixed: {numbers}, {verdict}"


def summary(
    results: Sequence[FileResult], *, fixing: bool, fix_hint: bool = True, style: Style = PLAIN
) -> str:
    remaining = [f for r in results for f in r.findings]
    errors = [r.error for r in results if r.error is not None]
    fixed = sum(len(r.fixed) for r in results)
    total = len(remaining) + len(errors)
    if total == 0 and fixed == 0:
        return style.success("All checks passed!") + "\n"
    hidden = sum(1 for f in remaining if not f.fixable and f.safety is FixSafety.NUMERIC)
    if fixing:
        line = f"Found {total + fixed} {_errors(total + fixed)} ({fixed} fixed, {total} remaining)."
        if hidden and fix_hint:
            fixes = "fix" if hidden == 1 else "fixes"
            line += (
                f"\nNo fixes available ({hidden} hidden {fixes} can be enabled with the "
                "--unsafe-fixes option)."
            )
        return line + "\n"
    # No sum of the findings' bytes and nodes: each finding says what its rule's fix
    # saves on the model as it is, and the fixes overlap (folding and constant-node
    # both remove a folded Constant) and open the way for each other (a fold makes
    # two nodes identical), so the sum is neither what the fix saves nor a bound of
    # it. ``--diff`` closes with what the whole fix saves.
    lines = [f"Found {total} {_errors(total)}."]
    fixable = sum(1 for f in remaining if f.fixable)
    if (fixable or hidden) and fix_hint:
        hint = (
            f"{style.fixable()} {fixable} fixable with the --fix option"
            if fixable
            else "No fixes available"
        )
        if hidden:
            fixes = "fix" if hidden == 1 else "fixes"
            hint += f" ({hidden} hidden {fixes} can be enabled with the --unsafe-fixes option)"
        lines.append(hint + ".")
    return "\n".join(lines) + "\n"


def _errors(n: int) -> str:
    return "error" if n == 1 else "errors"


def statistics(findings: Sequence[Finding]) -> str:
    """``count  code  [*] name  files  bytes`` per rule, most occurrences first.

    As in ruff, ``count`` is occurrences: a finding is one per file and rule and
    holds its own count (3 unused initializers), so a rule's count is the sum of
    its findings' counts (a finding that counts nothing, a file error or a size
    budget, is one); ``files`` is how many files the rule reports.
    """
    counts: Counter[str] = Counter()
    files: Counter[str] = Counter()
    nbytes: dict[str, int] = defaultdict(int)
    names: dict[str, str] = {}
    fixable: dict[str, bool] = {}
    for finding in findings:
        counts[finding.code] += occurrences(finding)
        files[finding.code] += 1
        nbytes[finding.code] += finding.nbytes
        names[finding.code] = finding.name
        fixable[finding.code] = fixable.get(finding.code, False) or finding.fixable
    width = max((len(str(n)) for n in counts.values()), default=1)
    lines = []
    for code, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        marker = "[*]" if fixable[code] else "[ ]"
        in_files = f"{files[code]} {'file' if files[code] == 1 else 'files'}"
        lines.append(
            f"{n:>{width}}\t{code}\t{marker} {names[code]}\t{in_files}\t"
            f"{format_bytes(nbytes[code])}"
        )
    return "".join(line + "\n" for line in lines)


def occurrences(finding: Finding) -> int:
    """What ``--statistics`` counts for one finding: its count, at least one."""
    return max(finding.count, 1)


def show_fixes(results: Sequence[FileResult], style: Style = PLAIN) -> str:
    fixed = [r for r in results if r.fixed]
    if not fixed:
        return ""
    total = sum(len(r.fixed) for r in fixed)
    lines = [style.emphasis(f"Fixed {total} {_errors(total)}:")]
    for result in fixed:
        path = style.path(printable(result.display))
        lines.append(f"{style.separator('-')} {path}{style.separator(':')}")
        for code, n in sorted(Counter(f.code for f in result.fixed).items()):
            name = next(f.name for f in result.fixed if f.code == code)
            lines.append(f"    {n} × {code} ({name})")
    return "\n".join(lines) + "\n"
