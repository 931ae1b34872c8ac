"""One model file through the tool: load -> index -> check -> (fix -> verify -> write).

This is the only module that knows the order of the stages. It returns a
:class:`FileResult` and prints nothing; the CLI and the Python API report it.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import onnx

from onnxslim_lint.config import Settings
from onnxslim_lint.discover import matches_any
from onnxslim_lint.errors import ModelReadError
from onnxslim_lint.findings import Finding, FixSafety
from onnxslim_lint.fixing.apply import FixLoopResult, apply_fixes
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.model.load import LoadedModel, load_model
from onnxslim_lint.model.read_errors import READ_ERRORS
from onnxslim_lint.rules.base import DEFAULT_OPTIONS, CheckContext, Rule, RuleOptions
from onnxslim_lint.rules.registry import resolve_selectors, select_rules

if TYPE_CHECKING:
    from onnxslim_lint.fixing.verify import VerifySettings

__all__ = [
    "FileResult",
    "FixReport",
    "RunOptions",
    "check_model",
    "count_nodes",
    "process_file",
    "rules_for",
]


@dataclass(frozen=True)
class RunOptions:
    """What to do with each file, beyond the settings from configuration."""

    fix: bool = False
    verify: bool = True
    unsafe_fixes: bool = False
    output: Path | None = None  # -o: write the result here instead of in place
    diff: bool = False  # plan the fix and report it, write nothing


@dataclass
class FixReport:
    nodes_before: int
    nodes_after: int
    size_before: int
    size_after: int
    applied: Counter[str]
    seconds: float
    verdict: str  # "passed" | "failed" | "could-not-verify" | "not-verified" | "refused"
    max_diff: float = 0.0
    reason: str = ""
    written: bool = False
    # A rule whose fix did not verify and was left out of the written result, and why.
    left_out: str = ""


@dataclass
class FileResult:
    path: Path
    display: str
    findings: list[Finding] = field(default_factory=list)  # what remains to report
    fixed: list[Finding] = field(default_factory=list)  # what --fix removed
    error: Finding | None = None  # the file could not be checked (OSL0xx)
    fix_report: FixReport | None = None

    @property
    def refused(self) -> bool:
        report = self.fix_report
        return report is not None and report.verdict in ("failed", "could-not-verify", "refused")


def rules_for(path: Path, settings: Settings) -> list[Rule]:
    """The selected rules minus this file's per-file-ignores."""
    ignored: set[str] = set()
    for glob, selectors in settings.per_file_ignores.items():
        if matches_any(path, [glob], settings.root):
            ignored |= resolve_selectors(selectors, what="in per-file-ignores")
    rules = select_rules(settings.select, settings.extend_select, settings.ignore)
    return [rule() for rule in rules if rule.code not in ignored]


def fixable_codes(settings: Settings) -> set[str]:
    fixable = resolve_selectors(
        ("ALL",) if settings.fixable is None else settings.fixable, include_opt_in=True
    )
    return fixable - resolve_selectors(settings.unfixable, include_opt_in=True)


def fix_policy(settings: Settings, unsafe: bool) -> Callable[[Finding], bool]:
    """Which findings ``--fix`` applies.

    Exact fixes of fixable rules always; numeric ones with ``--unsafe-fixes``, or
    when the rule is named in ``fixable`` by code, prefix or name (``ALL`` does not
    count: choosing numeric fixes is deliberate).
    """
    allowed = fixable_codes(settings)
    named = set()
    if settings.fixable is not None:
        named = resolve_selectors([s for s in settings.fixable if s.strip().upper() != "ALL"])

    def may_fix(finding: Finding) -> bool:
        if finding.code not in allowed:
            return False
        return finding.safety is FixSafety.EXACT or unsafe or finding.code in named

    return may_fix


def applicable(findings: list[Finding], settings: Settings, unsafe: bool) -> list[Finding]:
    """Findings whose fix ``--fix`` would apply stay ``fixable``; the others lose it.

    A numeric fix that is not enabled, or a rule listed as unfixable, is still shown,
    without the ``[*]`` mark (a numeric one keeps its ``safety``, so the summary can
    count it as a hidden fix).
    """
    may_fix = fix_policy(settings, unsafe)
    return [
        finding if not finding.fixable or may_fix(finding) else replace(finding, fixable=False)
        for finding in findings
    ]


def check_model(
    model: onnx.ModelProto,
    rules: Sequence[Rule],
    display: str,
    raw_views: Mapping[str, memoryview] | None = None,
    options: RuleOptions = DEFAULT_OPTIONS,
) -> list[Finding]:
    index = ModelIndex.build(model, raw_views)
    ctx = CheckContext(index, display, options)
    findings: list[Finding] = []
    for rule in rules:
        findings.extend(rule.check(ctx))
    return findings


def rule_options(settings: Settings) -> RuleOptions:
    return RuleOptions(max_folded_constant=settings.max_folded_constant)


def count_nodes(model: onnx.ModelProto) -> int:
    """Nodes of the main graph and all its subgraphs."""
    return sum(1 for _ in ModelIndex.build(model).nodes())


def process_file(
    path: Path, settings: Settings, options: RunOptions, display: str | None = None
) -> FileResult:
    display = display or str(path)
    result = FileResult(path, display)
    try:
        loaded = load_model(path)
    except ModelReadError as exc:
        kind = READ_ERRORS[exc.code]
        result.error = Finding(display, exc.code, kind.name, exc.reason, fixable=False)
        return result
    rules = rules_for(path, settings)
    unsafe = options.unsafe_fixes or settings.unsafe_fixes
    findings = check_model(loaded.model, rules, display, loaded.raw_views, rule_options(settings))
    loaded.raw_views = {}  # release the file buffer before any fix
    result.findings = applicable(findings, settings, unsafe)
    if options.fix or options.diff:
        _fix(loaded, rules, settings, options, result)
    return result


def _fix(
    loaded: LoadedModel,
    rules: list[Rule],
    settings: Settings,
    options: RunOptions,
    result: FileResult,
) -> None:
    started = time.perf_counter()
    unsafe = options.unsafe_fixes or settings.unsafe_fixes
    may_fix = fix_policy(settings, unsafe)
    if not any(f.fixable and may_fix(f) for f in result.findings):
        if options.output is not None and not options.diff:
            _copy_unchanged(loaded, options.output)
        return
    loop = apply_fixes(
        loaded.model,
        rules,
        may_fix=may_fix,
        path=result.display,
        options=rule_options(settings),
    )
    if not loop.changed:  # every fix found nothing left to do: the file stays as it is
        if options.output is not None and not options.diff:
            _copy_unchanged(loaded, options.output)
        return
    from onnxslim_lint.model.write import write_model

    external = loaded.has_external_data
    target = options.output or loaded.path
    report, payload, refusal = _attempt(loaded, loop, settings, options, target)
    if report.verdict == "failed":
        # One rule's fix did not verify: the others may still be good. Leave each
        # applied rule out in turn (numeric ones first) and keep the first result
        # that verifies, saying which rule was left out and why.
        for code in _retry_order(loop, rules):
            retry = apply_fixes(
                loaded.model,
                [rule for rule in rules if rule.code != code],
                may_fix=may_fix,
                path=result.display,
                options=rule_options(settings),
            )
            if not retry.changed:
                continue
            second, second_payload, second_refusal = _attempt(
                loaded, retry, settings, options, target
            )
            if second_refusal is None:
                second.left_out = f"{code} left out, its fix did not verify: {report.reason}"
                loop, report, payload, refusal = retry, second, second_payload, None
                break
    fixed_model = loop.model
    result.fix_report = report
    if refusal is not None:
        if report.verdict in ("not-verified", "planned"):
            report.verdict = "refused"
        report.seconds = time.perf_counter() - started
        return
    if options.diff:
        result.fixed = loop.fixed
        report.seconds = time.perf_counter() - started
        return
    replaces = _data_files_to_replace(loaded) if options.output is None else ()
    target.parent.mkdir(parents=True, exist_ok=True)
    write_model(fixed_model, target, external=external, replaces=replaces, serialized=payload)
    report.written = True
    remaining = check_model(fixed_model, rules, result.display, options=rule_options(settings))
    remaining = applicable(remaining, settings, unsafe)
    # What was reported before and is gone now, whichever rule's fix removed it
    # (a duplicate Constant merged away no longer needs constant-node, say).
    left = {finding.code for finding in remaining}
    result.fixed = [finding for finding in result.findings if finding.code not in left]
    result.findings = remaining
    report.seconds = time.perf_counter() - started


def _attempt(
    loaded: LoadedModel,
    loop: FixLoopResult,
    settings: Settings,
    options: RunOptions,
    target: Path,
) -> tuple[FixReport, bytes | None, str | None]:
    """Judge one fixed model: its report, its bytes (single-file models) and the
    reason it must not be written (None: it may)."""
    from onnxslim_lint.model.write import serialized_size

    fixed_model = loop.model
    report = FixReport(
        nodes_before=count_nodes(loaded.model),
        nodes_after=count_nodes(fixed_model),
        size_before=loaded.total_size,
        size_after=loaded.total_size,
        applied=loop.applied,
        seconds=0.0,
        verdict="not-verified",
    )
    external = loaded.has_external_data
    # A single-file model is serialized once, for its size, the checker,
    # onnxruntime and the write (each would otherwise serialize it again).
    payload = None if external else _serialize(fixed_model)
    if payload is not None:
        report.size_after = len(payload)
    else:
        report.size_after = serialized_size(fixed_model, external=external, target=target)
    refusal = _refusal(loaded, fixed_model, payload, report)
    if refusal is None and options.diff:
        report.verdict = "planned"
    elif refusal is None and options.verify and settings.verify.enabled:
        from onnxslim_lint.fixing.verify import verify_models

        verdict = verify_models(
            loaded.model,
            fixed_model,
            verify_settings(settings),
            exact=loop.exact,
            fixed_bytes=payload,
            original_bytes=None if external else loaded.file_bytes,
        )
        report.verdict = verdict.verdict
        report.max_diff = verdict.max_diff
        report.reason = verdict.reason
        if not verdict.passed:
            refusal = verdict.verdict
    return report, payload, refusal


def _retry_order(loop: FixLoopResult, rules: Sequence[Rule]) -> list[str]:
    """The applied rules to leave out after a failed verification: numeric ones first
    (their fixes change values by design), then the others, last-registered first."""
    applied = {finding.code for finding in loop.fixed}
    numeric = {f.code for f in loop.fixed if f.safety is not FixSafety.EXACT}
    order = [rule.code for rule in reversed(rules) if rule.code in applied]
    return sorted(order, key=lambda code: code not in numeric)


def verify_settings(settings: Settings) -> VerifySettings:
    """The verification settings from ``[tool.onnxslim-lint.verify]``."""
    from onnxslim_lint.fixing.verify import VerifySettings

    config = settings.verify
    return VerifySettings(
        samples=config.samples,
        seed=config.seed,
        rtol=config.rtol,
        atol=config.atol,
        dims=dict(config.dims),
        shapes={k: tuple(v) for k, v in config.shapes.items()},
    )


def _data_files_to_replace(loaded: LoadedModel) -> list[Path]:
    """The old data files the rewrite may delete: those no other model uses.

    Exporters can share one data file between models (decoder and decoder with
    past): deleting it after fixing one of them would break the other.
    """
    from onnxslim_lint.datafiles import models_using

    here = os.path.realpath(loaded.path)
    return [
        data
        for data in loaded.data_files
        if all(os.path.realpath(model) == here for model in models_using(data))
    ]


def _serialize(model: onnx.ModelProto) -> bytes | None:
    try:
        return model.SerializeToString()
    except (ValueError, OverflowError):  # over protobuf's 2 GiB: the checker says why
        return None


def _refusal(
    loaded: LoadedModel, fixed: onnx.ModelProto, payload: bytes | None, report: FixReport
) -> str | None:
    """A reason the fixed model must not be written, before any verification."""
    from onnxslim_lint.fixing.verify import check_interface, check_model_valid

    problem = check_interface(loaded.model, fixed)
    if problem is not None:
        report.reason = f"the fix would change the model's interface: {problem}"
        return "interface"
    problem = check_model_valid(payload if payload is not None else fixed)
    if problem is not None:
        report.reason = f"the fixed model fails the onnx checker: {problem}"
        return "invalid"
    if report.size_after > report.size_before:
        report.reason = (
            f"the fixed model would be larger ({report.size_after} > {report.size_before} bytes)"
        )
        return "larger"
    return None


def _copy_unchanged(loaded: LoadedModel, output: Path) -> None:
    """-o with nothing to fix: a byte-identical copy (data files beside it)."""
    if output.resolve() == loaded.path.resolve():
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp")
    shutil.copyfile(loaded.path, tmp)
    os.replace(tmp, output)
    if loaded.data_files and output.parent.resolve() != loaded.path.parent.resolve():
        for data in loaded.data_files:
            relative = data.relative_to(loaded.path.parent.resolve())
            destination = output.parent / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(data, destination)
