"""``onnxslim-lint check``: every file through the pipeline, then the report."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from onnxslim_lint import __version__
from onnxslim_lint.budget import budget_stage
from onnxslim_lint.cache import ResultCache, check_fingerprint
from onnxslim_lint.commands.add_ignores import add_ignores, refuse_conflicts
from onnxslim_lint.config import (
    DOCS_URL,
    Settings,
    add_selection,
    apply_overrides,
    budget_settings,
    parse_config_override,
    settings_for,
)
from onnxslim_lint.datafiles import expand_data_files
from onnxslim_lint.discover import discover_models
from onnxslim_lint.enforced import codes_for
from onnxslim_lint.errors import OnnxLintError, UsageError
from onnxslim_lint.findings import Finding
from onnxslim_lint.gitbase import BaseRevision, changed_models, find_toplevel, open_base
from onnxslim_lint.model.read_errors import READ_ERRORS
from onnxslim_lint.parallel import default_jobs, process_files
from onnxslim_lint.progress import Progress
from onnxslim_lint.report.diff import render_diff, would_fix_line
from onnxslim_lint.report.formatters import FORMATTERS, TEXT_FORMATS, TEXT_FORMATTERS, RunInfo
from onnxslim_lint.report.style import PLAIN, Style, color_enabled
from onnxslim_lint.report.summary import fix_report_line, show_fixes, statistics, summary
from onnxslim_lint.results import FileResult, SizeInfo, Verdict
from onnxslim_lint.rules.selection import (
    enabled_codes,
    in_registry_order,
    resolve_selectors,
    validate_selection,
)
from onnxslim_lint.run_options import RunOptions

__all__ = ["CheckRun", "run_check"]


@dataclass
class CheckRun:
    """Everything a run found, for callers that report more (the GitHub Action)."""

    results: list[FileResult]
    settings: Settings
    run: RunInfo
    base: BaseRevision | None = None
    sizes: dict[str, SizeInfo] = field(default_factory=dict)  # by display path
    exit_code: int = 0


def _flat(values: Sequence[Sequence[str]] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    return tuple(item for group in values for item in group)


_SELECTION_KEYS = ("select", "extend_select", "ignore")


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
    # Unknown selectors are usage errors up front, not per file: the file's first.
    validate_selection(settings.rule_selections())
    for override in overrides:
        # Rule selection in --config text is a layer above the file's, as in ruff.
        selection = {key: override.pop(key) for key in _SELECTION_KEYS if key in override}
        if selection:
            settings = add_selection(settings, source="--config", **selection)
        settings = apply_overrides(settings, **override)
    unfixable = _flat(args.unfixable)
    verify = {"samples": args.samples} if args.samples is not None else None
    if args.samples is not None and args.samples < 1:
        raise UsageError("--samples must be at least 1")
    # The command line's selection is the top layer: its --select beats the file's
    # ignore, and its --ignore / --extend-select change what the layers below chose.
    settings = add_selection(
        settings,
        select=_flat(args.select),
        extend_select=_flat(args.extend_select) or (),
        ignore=_flat(args.ignore) or (),
    )
    settings = apply_overrides(
        settings,
        fixable=_flat(args.fixable),
        unfixable=settings.unfixable + unfixable if unfixable else None,
        unsafe_fixes=args.unsafe_fixes,
        exclude=_flat(args.exclude),
        extend_exclude=_flat(args.extend_exclude),
        output_format=args.output_format,
        verify=verify,
    )
    validate_selection(settings.rule_selections())
    resolve_selectors(settings.fixable or (), what="in fixable")
    resolve_selectors(settings.unfixable, what="in unfixable")
    for selectors in settings.per_file_ignores.values():
        resolve_selectors(selectors, what="in per-file-ignores")
    return settings


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def run_check(
    args: argparse.Namespace, *, observer: Callable[[CheckRun], None] | None = None
) -> int:
    if args.silent:
        # ruff's -s: nothing printed, the exit status says it all. An error that stops
        # the run (usage, configuration) is still raised, and cli.main says it.
        with (
            open(os.devnull, "w", encoding="utf-8") as sink,
            contextlib.redirect_stdout(sink),
            contextlib.redirect_stderr(sink),
        ):
            return _check(args, observer)
    return _check(args, observer)


def _check(args: argparse.Namespace, observer: Callable[[CheckRun], None] | None) -> int:
    paths = [Path(p) for p in args.paths] or [Path(".")]
    if args.output and (len(paths) != 1 or paths[0].is_dir()):
        raise UsageError("-o/--output needs exactly one model file")
    refuse_conflicts(args)
    if args.output and (args.diff or not args.fix) and not args.quiet:
        # ruff has no -o: say so rather than ignore it without a word.
        why = "with --diff, which writes nothing" if args.diff else "without --fix"
        print(f"warning: -o/--output has no effect {why}", file=sys.stderr)
    settings = load_run_settings(args, paths)
    budget_settings(settings)  # a mistake in the budget table is a usage error up front
    base_ref = getattr(args, "base", None)
    if getattr(args, "changed_only", False) and not base_ref:
        raise UsageError("--changed-only needs --base REF")
    base = open_base(base_ref) if base_ref else None
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
    # A changed external-data file stands for the models that use it (pre-commit).
    files, unused_data = expand_data_files(files)
    for data in unused_data:
        if not args.quiet:
            print(f"warning: {_display(data)}: no model here uses it; skipped", file=sys.stderr)
    if base is not None and getattr(args, "changed_only", False):
        files = changed_models(files, base)
    selected = in_registry_order(enabled_codes(settings.rule_selections()))
    sizes: dict[str, SizeInfo] = {}
    options = RunOptions(
        fix=args.fix,
        verify=args.verify,
        unsafe_fixes=bool(settings.unsafe_fixes),
        output=Path(args.output) if args.output else None,
        diff=args.diff,
        base=base,
        measure=observer is not None,
    )
    text = output_format in TEXT_FORMATS
    report_stream = sys.stdout if text else sys.stderr
    style = _style(args) if text else PLAIN  # the machine formats are never coloured
    # The text formats print each file's findings as soon as it is done (files in
    # order); the machine formats, --diff and --statistics are one document at the end.
    streamed = text and not args.diff and not args.statistics
    if not files:
        if not getattr(args, "changed_only", False):
            print("warning: No ONNX files found under the given path(s)", file=sys.stderr)
        elif not args.quiet:
            print(f"No models changed against {base_ref}.", file=sys.stderr)
        if observer is not None:
            observer(CheckRun([], settings, _run_info((), selected), base, sizes, 0))
        return 0
    results: list[FileResult] = []
    cached = (
        getattr(args, "cache", True)
        and not (options.fix or options.diff or options.output)
        and base is None
    )
    cache = (
        ResultCache(settings.root or Path.cwd(), check_fingerprint(settings)) if cached else None
    )
    jobs = getattr(args, "jobs", None) or default_jobs()
    guard = functools.partial(_file_failed, settings, options)
    named = [(path, _display(path)) for path in files]
    if cache is None or not cache.preload(named):
        # Imported before the progress line starts: a second of `import onnx` is not
        # the first file's time (a run of cache hits never imports it).
        import onnxslim_lint.pipeline  # noqa: F401
    progress = _progress(args, named)
    if progress is not None:
        options = dataclasses.replace(options, on_phase=progress.phase)
    paused = progress.paused if progress is not None else contextlib.nullcontext
    try:
        for index, result in enumerate(
            process_files(
                named,
                settings,
                options,
                jobs=jobs,
                cache=cache,
                guard=guard,
                on_start=None if progress is None else progress.file_started,
                on_finish=None if progress is None else progress.file_finished,
            )
        ):
            if progress is not None:
                progress.file_finished(index)  # a cache hit too
            with paused():
                _file_done(result, args, settings, sizes, report_stream)
                results.append(result)
                if streamed:
                    sys.stdout.write(TEXT_FORMATTERS[output_format](_findings_of(result), style))
                    sys.stdout.flush()
    finally:
        if progress is not None:
            progress.close()
    findings = [finding for result in results for finding in _findings_of(result)]
    run = _run_info(tuple(r.display for r in results), selected, settings.docs_url)
    if args.diff:
        sys.stdout.write(render_diff(results))
    elif args.statistics:
        sys.stdout.write(statistics(findings))
    elif not streamed:
        sys.stdout.write(FORMATTERS[output_format](findings, run))
    if args.show_fixes:
        report_stream.write(show_fixes(results, style))
    if args.diff and not args.quiet:
        sys.stdout.write(would_fix_line(results))
    elif text and not args.quiet:
        fixing = args.fix and not args.diff
        sys.stdout.write(summary(results, fixing=fixing, fix_hint=not args.diff, style=style))
    code = _exit_code(results, args)
    if getattr(args, "add_ignores", False):
        code = add_ignores(results, settings, paths[0], quiet=args.quiet)
    if observer is not None:
        observer(CheckRun(results, settings, run, base, sizes, code))
    return code


def _file_done(
    result: FileResult,
    args: argparse.Namespace,
    settings: Settings,
    sizes: dict[str, SizeInfo],
    report_stream: TextIO,
) -> None:
    """What the run notes as each file's result arrives; its fix report line."""
    path, display = result.path, result.display
    if result.error is not None and result.error.code not in codes_for(path, settings):
        # An ignored file error is a warning and does not fail the run (ruff's E902).
        if not args.quiet:
            error = result.error
            print(
                f"warning: {display}: {error.code} {error.name} (ignored): {error.message}",
                file=sys.stderr,
                flush=True,
            )
        result.error = None
    if result.size is not None:
        sizes[display] = result.size
    line = fix_report_line(result)
    planned = result.fix_report is not None and result.fix_report.verdict is Verdict.PLANNED
    if args.diff and planned:
        line = None  # the diff below shows it
    if line and not args.quiet:
        print(line, file=report_stream, flush=True)


def _progress(args: argparse.Namespace, named: Sequence[tuple[Path, str]]) -> Progress | None:
    """The progress line, on a terminal's stderr only, and never with -q or -s."""
    if args.quiet or args.silent or not sys.stderr.isatty():
        return None
    progress = Progress(sys.stderr, [display for _, display in named])
    progress.start()
    return progress


def _findings_of(result: FileResult) -> list[Finding]:
    """A file's findings in report order: its file error first."""
    return ([result.error] if result.error is not None else []) + result.findings


def _style(args: argparse.Namespace) -> Style:
    return Style(color_enabled(args.color, is_tty=sys.stdout.isatty(), environ=os.environ))


def _run_info(files: tuple[str, ...], rules: tuple[str, ...], docs_url: str = DOCS_URL) -> RunInfo:
    """What the CI formats need beyond the findings; paths are made relative to the
    Action's workspace, else the git working tree, else the working directory."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace and os.path.isdir(workspace):
        root = Path(workspace)
    else:
        root = find_toplevel(Path.cwd()) or Path.cwd()
    return RunInfo(files=files, rules=rules, root=root, version=__version__, docs_url=docs_url)


def _file_failed(
    settings: Settings, options: RunOptions, path: Path, display: str, exc: Exception
) -> FileResult:
    """One file's failure as its result: the others go on."""
    result = FileResult(path, display)
    kind = READ_ERRORS["OSL010"]
    reason = str(exc) if isinstance(exc, OnnxLintError) else _bug_line(exc)
    result.error = Finding(display, kind.code, kind.name, reason, fixable=False)
    budget_stage(result, settings, options)
    return result


def _bug_line(exc: BaseException) -> str:
    """One line for an unexpected exception; the traceback with ONNXSLIM_LINT_DEBUG=1."""
    if os.environ.get("ONNXSLIM_LINT_DEBUG"):
        traceback.print_exception(exc, file=sys.stderr)
    text = " ".join(str(exc).split())[:300]
    return (
        f"internal error {type(exc).__name__}: {text} (file left unchanged; please report "
        "it, with ONNXSLIM_LINT_DEBUG=1 for the traceback)"
    )


def _exit_code(results: Sequence[FileResult], args: argparse.Namespace) -> int:
    if any(r.error is not None for r in results):
        return 2
    if any(r.refused for r in results):
        return 1
    if args.diff:  # as in ruff, --diff implies --fix-only; 1 means "something to change"
        return 1 if any(r.fixed for r in results) else 0
    if args.exit_non_zero_on_fix and any(r.fixed for r in results):
        return 1
    if any(r.findings for r in results) and not args.exit_zero:
        return 1
    return 0
