"""One model file through the tool: load -> index -> check -> (fix -> write) -> budget.

This is the only module that knows the order of the stages. The fix engine
(:mod:`onnxslim_lint.fixing.engine`) runs the fix loop, the gates, verification and
the retry; the pipeline writes what it accepts, then measures the file against its
size budget. It returns a :class:`FileResult` and prints nothing; the CLI and the
Python API report it.
"""

from __future__ import annotations

import functools
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import onnx

from onnxslim_lint.budget import budget_stage
from onnxslim_lint.cache import ResultCache
from onnxslim_lint.config import Settings, verify_settings_for
from onnxslim_lint.datafiles import models_using
from onnxslim_lint.discover import matches_any
from onnxslim_lint.enforced import codes_for
from onnxslim_lint.errors import ModelReadError
from onnxslim_lint.findings import Finding, FixSafety
from onnxslim_lint.fixing.engine import FixPolicy, fix_model
from onnxslim_lint.model.external_data import ExternalData
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.model.litter import remove_stale
from onnxslim_lint.model.load import LoadedModel, load_model
from onnxslim_lint.model.lock import exclusive
from onnxslim_lint.model.read_errors import READ_ERRORS
from onnxslim_lint.model.write import write_model
from onnxslim_lint.results import FileResult, Verdict
from onnxslim_lint.rules.base import DEFAULT_OPTIONS, CheckContext, Rule, RuleOptions
from onnxslim_lint.rules.registry import resolve_selectors, rules_enabled
from onnxslim_lint.run_options import RunOptions

__all__ = [
    "RunOptions",
    "applicable",
    "budget_stage",
    "check_model",
    "codes_for",
    "fix_policy",
    "process_file",
    "rule_options",
    "rules_for",
]


def _phase(options: RunOptions, name: str) -> None:
    if options.on_phase is not None:
        options.on_phase(name)


def rules_for(path: Path, settings: Settings) -> list[Rule]:
    """The selected rules minus this file's per-file-ignores."""
    return [rule() for rule in rules_enabled(codes_for(path, settings))]


def fixable_codes(settings: Settings) -> set[str]:
    fixable = resolve_selectors(
        ("ALL",) if settings.fixable is None else settings.fixable, include_opt_in=True
    )
    return fixable - resolve_selectors(settings.unfixable, include_opt_in=True)


def fix_policy(settings: Settings, unsafe: bool) -> FixPolicy:
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
    external: ExternalData | None = None,
) -> list[Finding]:
    index = ModelIndex.build(model, raw_views, external)
    ctx = CheckContext(index, display, options)
    findings: list[Finding] = []
    for rule in rules:
        findings.extend(rule.check(ctx))
    return findings


def rule_options(settings: Settings) -> RuleOptions:
    return RuleOptions(max_folded_constant=settings.max_folded_constant)


def process_file(
    path: Path,
    settings: Settings,
    options: RunOptions,
    display: str | None = None,
    cache: ResultCache | None = None,
) -> FileResult:
    """Check (and fix) one file; with ``cache``, a check of an unchanged file is
    read back (the caller passes one only for a check: never with a fix)."""
    display = display or str(path)
    if cache is not None:
        cached = cache.get(path, display)
        if cached is not None:
            budget_stage(cached, settings, options)
            return cached
    result = _process(path, settings, options, display)
    if cache is not None and not (options.fix or options.diff):
        cache.put(path, display, result)
    budget_stage(result, settings, options)
    return result


def _process(path: Path, settings: Settings, options: RunOptions, display: str) -> FileResult:
    if options.fix and not options.diff and options.output is None:
        # In place: one fixer of this file at a time (a second run waits, then
        # loads what the first wrote), and no write over a change made meanwhile.
        with exclusive(path):
            return _load_and_run(path, settings, options, display, _state(path))
    return _load_and_run(path, settings, options, display, None)


def _load_and_run(
    path: Path,
    settings: Settings,
    options: RunOptions,
    display: str,
    state: tuple[int, ...] | None,
) -> FileResult:
    result = FileResult(path, display)
    _phase(options, "load")
    try:
        loaded = load_model(path, read_external_data=False)  # weights stay on disk
    except ModelReadError as exc:
        kind = READ_ERRORS[exc.code]
        result.error = Finding(display, exc.code, kind.name, exc.reason, fixable=False)
        return result
    rules = rules_for(path, settings)
    unsafe = options.unsafe_fixes or settings.unsafe_fixes
    _phase(options, "check")
    findings = check_model(loaded.model, rules, display, loaded.raw_views, rule_options(settings))
    loaded.raw_views = {}  # release the file buffer before any fix
    result.findings = applicable(findings, settings, unsafe)
    if options.fix or options.diff:
        data_state = None if state is None else [_state(p) for p in loaded.data_files]
        _fix(loaded, rules, settings, options, result, (state, data_state))
    return result


def _unwritable(path: Path) -> str | None:
    """Why an in-place fix must not write ``path`` (None: it may).

    A symbolic link is never replaced by a regular file, and its target is not
    written either (its external data is looked up beside the link, not the
    target); a file without write permission is left alone, as formatters do.
    """
    if path.is_symlink():
        return (
            "the model is a symbolic link; nothing written (fix the file it points to, or use -o)"
        )
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    if not mode & 0o222:
        return "the model file is read-only; nothing written (make it writable, or use -o)"
    return None


def _state(path: Path) -> tuple[int, ...]:
    """What tells one version of a file from another: size, mtime, inode, device."""
    try:
        stat = os.stat(path)
    except OSError:
        return ()
    return (stat.st_size, stat.st_mtime_ns, stat.st_ino, stat.st_dev)


def _fix(
    loaded: LoadedModel,
    rules: list[Rule],
    settings: Settings,
    options: RunOptions,
    result: FileResult,
    states: tuple[tuple[int, ...] | None, list[tuple[int, ...]] | None] = (None, None),
) -> None:
    started = time.perf_counter()
    if not options.diff:
        remove_stale(loaded.path.parent)  # temporaries a killed run left beside the model
    unsafe = options.unsafe_fixes or settings.unsafe_fixes
    may_fix = fix_policy(settings, unsafe)
    if not any(f.fixable and may_fix(f) for f in result.findings):
        if options.output is not None and not options.diff:
            _copy_unchanged(loaded, options.output)
        return
    target = options.output or loaded.path
    verify = verify_settings_for(
        settings.verify, lambda glob: matches_any(loaded.path, [glob], settings.root)
    )
    if not options.verify:
        verify = replace(verify, enabled=False)
    _phase(options, "fix")
    outcome = fix_model(
        loaded,
        rules,
        may_fix,
        verify,
        plan_only=options.diff,
        path=result.display,
        options=rule_options(settings),
        target=target,
        on_verify=functools.partial(_phase, options, "verify"),
    )
    report = outcome.report
    if report is None:  # every fix found nothing left to do: the file stays as it is
        if options.output is not None and not options.diff:
            _copy_unchanged(loaded, options.output)
        return
    result.fix_report = report
    if outcome.model is None:  # refused: the reason is in the report
        return
    # The fixes as the loop applied them, round by round (--diff lists them); their
    # plans hold the index of a model that no longer is.
    result.fixes = [replace(finding, plan=None) for finding in outcome.fixed]
    if options.diff:
        _settle(result, outcome.model, rules, settings, unsafe, loaded.external)
        return
    refusal = _unwritable(loaded.path) if options.output is None else None
    if refusal is not None:
        report.verdict = Verdict.REFUSED
        report.reason = refusal
        return
    model_state, data_state = states
    if model_state is not None and (
        _state(loaded.path) != model_state or [_state(p) for p in loaded.data_files] != data_state
    ):
        report.verdict = Verdict.REFUSED
        report.reason = (
            "the file changed on disk while it was being fixed (another program wrote "
            "it); nothing written, run again"
        )
        return
    replaces = _data_files_to_replace(loaded) if options.output is None else ()
    target.parent.mkdir(parents=True, exist_ok=True)
    _phase(options, "write")
    write_model(
        outcome.model,
        target,
        external=loaded.has_external_data,
        replaces=replaces,
        serialized=outcome.payload,
        external_data=loaded.external,  # weights streamed from the old data files
    )
    report.written = True
    # The fixed model's weights that were not rewritten still point at the old data
    # files, which stay readable through the open files even once replaced.
    _phase(options, "check")
    _settle(result, outcome.model, rules, settings, unsafe, loaded.external)
    report.seconds = time.perf_counter() - started


def _settle(
    result: FileResult,
    fixed: onnx.ModelProto,
    rules: Sequence[Rule],
    settings: Settings,
    unsafe: bool,
    external: ExternalData | None,
) -> None:
    """The counts ``--fix`` reports and ``--diff`` predicts, the same way for both:
    ``findings`` becomes what the check finds in the fixed model, ``fixed`` the
    reported findings it no longer has, whichever rule's fix removed them (a
    duplicate Constant merged away no longer needs constant-node, say)."""
    remaining = check_model(
        fixed, rules, result.display, options=rule_options(settings), external=external
    )
    remaining = applicable(remaining, settings, unsafe)
    left = {finding.code for finding in remaining}
    result.fixed = [finding for finding in result.findings if finding.code not in left]
    result.findings = remaining


def _data_files_to_replace(loaded: LoadedModel) -> list[Path]:
    """The old data files the rewrite may delete: those no other model uses.

    Exporters can share one data file between models (decoder and decoder with
    past): deleting it after fixing one of them would break the other.
    """
    here = os.path.realpath(loaded.path)
    folder = loaded.path.parent
    return [
        data
        for data in loaded.data_files
        if all(os.path.realpath(model) == here for model in models_using(data, stop=folder))
    ]


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
