"""``onnxslim-lint check``: every file through the pipeline, then the report."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from onnxslim_lint.config import (
    Settings,
    apply_overrides,
    parse_config_override,
    settings_for,
)
from onnxslim_lint.discover import discover_models
from onnxslim_lint.errors import OnnxLintError, UsageError
from onnxslim_lint.findings import Finding
from onnxslim_lint.model.read_errors import READ_ERRORS
from onnxslim_lint.pipeline import FileResult, RunOptions, process_file
from onnxslim_lint.report.formatters import FORMATTERS, TEXT_FORMATS
from onnxslim_lint.report.summary import fix_report_line, show_fixes, statistics, summary
from onnxslim_lint.rules.registry import resolve_selectors

__all__ = ["run_check"]


def _flat(values: Sequence[Sequence[str]] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    return tuple(item for group in values for item in group)


def load_run_settings(args: argparse.Namespace, paths: Sequence[Path]) -> Settings:
    config_file: Path | None = None
    overrides: list[dict] = []
    for value in args.config or ():
        if "=" in value and not Path(value).exists():
            overrides.append(parse_config_override(value))
        elif config_file is not None:
            raise UsageError("--config may name only one file")
        else:
            config_file = Path(value)
            if not config_file.is_file():
                raise UsageError(f"--config file '{value}' does not exist")
    start = paths[0] if paths else Path.cwd()
    settings = settings_for(start.resolve(), config=config_file, isolated=args.isolated)
    for override in overrides:
        settings = apply_overrides(settings, **override)
    extend_select = _flat(args.extend_select)
    ignore = _flat(args.ignore)
    unfixable = _flat(args.unfixable)
    verify = {"samples": args.samples} if args.samples is not None else None
    if args.samples is not None and args.samples < 1:
        raise UsageError("--samples must be at least 1")
    settings = apply_overrides(
        settings,
        select=_flat(args.select),
        extend_select=settings.extend_select + extend_select if extend_select else None,
        ignore=settings.ignore + ignore if ignore else None,
        fixable=_flat(args.fixable),
        unfixable=settings.unfixable + unfixable if unfixable else None,
        unsafe_fixes=args.unsafe_fixes,
        exclude=_flat(args.exclude),
        extend_exclude=_flat(args.extend_exclude),
        output_format=args.output_format,
        verify=verify,
    )
    # Unknown selectors are usage errors up front, not per file.
    for selectors in (
        settings.select or (),
        settings.extend_select,
        settings.ignore,
        settings.fixable or (),
        settings.unfixable,
        *settings.per_file_ignores.values(),
    ):
        resolve_selectors(selectors)
    return settings


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def run_check(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths] or [Path(".")]
    if args.output and (len(paths) != 1 or paths[0].is_dir()):
        raise UsageError("-o/--output needs exactly one model file")
    settings = load_run_settings(args, paths)
    output_format = settings.output_format or os.environ.get(
        "ONNXSLIM_LINT_OUTPUT_FORMAT", "concise"
    )
    if output_format not in FORMATTERS:
        raise UsageError(f"unknown output format '{output_format}'")
    files = discover_models(
        paths,
        root=settings.root,
        exclude=settings.exclude,
        extend_exclude=settings.extend_exclude,
        force_exclude=args.force_exclude,
    )
    options = RunOptions(
        fix=args.fix,
        verify=args.verify,
        unsafe_fixes=bool(settings.unsafe_fixes),
        output=Path(args.output) if args.output else None,
        diff=args.diff,
    )
    text = output_format in TEXT_FORMATS
    report_stream = sys.stdout if text else sys.stderr
    if not files:
        print("warning: No ONNX files found under the given path(s)", file=sys.stderr)
        return 0
    results: list[FileResult] = []
    for path in files:
        display = _display(path)
        try:
            result = process_file(path, settings, options, display)
        except OnnxLintError as exc:
            result = FileResult(path, display)
            kind = READ_ERRORS["OSL010"]
            result.error = Finding(display, kind.code, kind.name, str(exc), fixable=False)
        results.append(result)
        line = fix_report_line(result)
        if line and not args.quiet:
            print(line, file=report_stream, flush=True)
    findings: list[Finding] = []
    for result in results:
        if result.error is not None:
            findings.append(result.error)
        findings.extend(result.findings)
    if args.statistics:
        sys.stdout.write(statistics(findings))
    else:
        sys.stdout.write(FORMATTERS[output_format](findings))
    if args.show_fixes:
        report_stream.write(show_fixes(results))
    if text and not args.quiet:
        fixing = args.fix and not args.diff
        sys.stdout.write(summary(results, fixing=fixing, fix_hint=not args.diff))
    return _exit_code(results, args)


def _exit_code(results: Sequence[FileResult], args: argparse.Namespace) -> int:
    if any(r.error is not None for r in results):
        return 2
    if any(r.refused for r in results):
        return 1
    if args.diff and any(r.fixed for r in results):
        return 1
    if args.exit_non_zero_on_fix and any(r.fixed for r in results):
        return 1
    if any(r.findings for r in results) and not args.exit_zero:
        return 1
    return 0
