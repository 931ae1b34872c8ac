#!/usr/bin/env python3
"""The GitHub Action's run step (see ``action.yml``): one check, four outputs.

Runs ``onnxslim-lint check --output-format github`` once, in process, and from the
same results writes

* the annotations (stdout, as workflow commands): file errors and broken budgets
  first, at most ten (GitHub shows no more per step), then one notice for the rest,
* the job summary table (``$GITHUB_STEP_SUMMARY``), with the models the pull
  request deletes or renames; when the inputs are wrong, one line saying what is,
* the step outputs ``findings``, ``removable-bytes``, ``size-change-bytes``
  and ``version`` (``$GITHUB_OUTPUT``),
* SARIF, when the ``sarif-file`` input names a path,
* the summary as a sticky pull-request comment, when the ``comment`` input is true
  (``pr_comment.py``).

Inputs come as ``INPUT_*`` environment variables (set by ``action.yml``). The base
defaults to the pull request's base branch (``origin/$GITHUB_BASE_REF``), fetched
when the checkout does not have it. The exit status is the tool's: 0 clean, 1
findings or a broken budget, 2 unusable input.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from pr_comment import post_summary_comment

from onnxslim_lint import __version__
from onnxslim_lint.budget import Budget
from onnxslim_lint.cli import build_parser
from onnxslim_lint.commands.check import CheckRun, load_run_settings, run_check
from onnxslim_lint.config import Limits
from onnxslim_lint.errors import OnnxLintError
from onnxslim_lint.findings import Finding
from onnxslim_lint.gitbase import gone_models, open_base
from onnxslim_lint.report.formatters import FORMATTERS, RunInfo
from onnxslim_lint.report.formatters._common import repo_relative, repository_root
from onnxslim_lint.report.formatters.github import annotation, escape_data
from onnxslim_lint.report.job_summary import (
    RemovedModel,
    render_input_error,
    render_job_summary,
    totals,
)

ANNOTATIONS_SHOWN = 10  # GitHub shows at most ten error annotations per step
# Shown first, so the cap never hides them: a file that could not be checked
# (OSL0xx) and a broken size budget (OSL3xx).
SEVERE_PREFIXES = ("OSL0", "OSL3")


class InputError(Exception):
    """An input of the action that the run cannot start with (the step fails, 2)."""


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False)


def _has_commit(ref: str) -> bool:
    return _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode == 0


def resolve_base(base_input: str, env: os._Environ[str] | dict[str, str]) -> str | None:
    """The ref to compare with: the input, else the pull request's base branch.

    A branch the shallow checkout lacks is fetched from ``origin`` (one commit).
    """
    ref = base_input.strip()
    branch = ref or env.get("GITHUB_BASE_REF", "").strip()
    if not branch:
        return None
    candidates = [branch] if ref else []
    candidates += [f"origin/{branch}", branch]
    for candidate in candidates:
        if _has_commit(candidate):
            return candidate
    plain = branch.removeprefix("origin/")
    fetched = _git(
        "fetch",
        "--no-tags",
        "--depth=1",
        "origin",
        f"+refs/heads/{plain}:refs/remotes/origin/{plain}",
    )
    if fetched.returncode == 0 and _has_commit(f"origin/{plain}"):
        return f"origin/{plain}"
    print(
        f"::warning title=onnxslim-lint::cannot find the base '{escape_data(branch)}'; "
        "sizes are not compared and every model is checked",
        flush=True,
    )
    return None


def _append(path: str | None, text: str) -> None:
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


def build_argv(env: os._Environ[str] | dict[str, str], base: str | None) -> list[str]:
    raw = env.get("INPUT_PATHS", "")
    # One path per line when there are several lines (paths with spaces), else words.
    lines = [line.strip() for line in raw.splitlines() if line.strip()]
    paths = (lines if len(lines) > 1 else raw.split()) or ["."]
    try:
        extra = shlex.split(env.get("INPUT_ARGS", ""))
    except ValueError as exc:  # an unbalanced quote
        raise InputError(f"the `args` input cannot be split into arguments: {exc}") from None
    argv = ["check", *extra, "--output-format", "github"]
    if base is not None:
        argv += ["--base", base]
        if _truthy(env.get("INPUT_CHANGED_ONLY", "true")):
            argv.append("--changed-only")
    return [*argv, "--", *paths]


def _paths(argv: Sequence[str]) -> list[str]:
    return list(argv[list(argv).index("--") + 1 :])


def check_paths_exist(paths: Sequence[str], base: str | None) -> None:
    """A path that is neither in the checkout nor at the base is a typo in ``paths``
    (with changed-only it would otherwise pass as "no models changed")."""
    missing = [path for path in paths if not os.path.lexists(path) and not _at(base, path)]
    if missing:
        names = ", ".join(f"`{path}`" for path in missing)
        verb = "does" if len(missing) == 1 else "do"
        raise InputError(f"the `paths` input names {names}, which {verb} not exist")


def _at(base: str | None, path: str) -> bool:
    """Whether ``path`` existed at the base (a model the pull request deletes)."""
    if base is None:
        return False
    listed = _git("ls-tree", "--name-only", base, "--", path)
    return listed.returncode == 0 and bool(listed.stdout.strip())


def _parse(argv: list[str]) -> argparse.Namespace:
    """The parsed arguments; an argparse error (a bad ``args`` input) as InputError,
    with argparse's usage message still on stderr for the log."""
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return build_parser().parse_args(argv)
    except SystemExit as exc:
        sys.stderr.write(errors.getvalue())
        said = [line for line in errors.getvalue().splitlines() if ": error: " in line]
        reason = said[-1].split(": error: ", 1)[1] if said else f"argparse exit {exc.code}"
        raise InputError(f"the `args` input is not valid: {reason}") from None


def without_deleted_paths(argv: list[str]) -> list[str]:
    """``argv`` without the named paths the pull request deleted: they are not checked
    (that would be a missing file) but listed as deleted models."""
    paths = _paths(argv)
    present = [path for path in paths if os.path.lexists(path)]
    return [*argv[: len(argv) - len(paths)], *present]


def run_on_nothing(argv: list[str]) -> CheckRun:
    """Every named path was deleted: no check runs, the summary lists the deletions."""
    args = _parse(argv)
    try:
        settings = load_run_settings(args, [Path.cwd()])
        base = open_base(args.base) if args.base else None
    except OnnxLintError as exc:
        raise InputError(str(exc)) from None
    return CheckRun([], settings, RunInfo(root=Path.cwd()), base)


def run_once(argv: list[str]) -> tuple[int, CheckRun]:
    """Run the check in process. Its own annotations (stdout) are dropped: the
    action writes them ordered and capped; anything else it prints is passed on."""
    runs: list[CheckRun] = []
    printed = io.StringIO()
    if not _paths(argv):
        return 0, run_on_nothing(argv)
    args = _parse(argv)
    try:
        with contextlib.redirect_stdout(printed):
            code = run_check(args, observer=runs.append)
    except OnnxLintError as exc:
        raise InputError(str(exc)) from None
    finally:
        kept = [line for line in printed.getvalue().splitlines(True) if not line.startswith("::")]
        sys.stdout.write("".join(kept))
    if not runs:
        raise InputError(f"the check stopped before it ran (exit {code})")
    return code, runs[0]


def _severity(finding: Finding) -> int:
    return 0 if finding.code.startswith(SEVERE_PREFIXES) else 1


def write_annotations(findings: Sequence[Finding], root: Path) -> None:
    """At most ``ANNOTATIONS_SHOWN`` error annotations, file errors and broken budgets
    first, then one notice counting the rest (all of them are in the summary)."""
    ordered = sorted(findings, key=_severity)  # stable: file order within a severity
    for finding in ordered[:ANNOTATIONS_SHOWN]:
        print(annotation(finding, repo_relative(finding.path, root)))
    hidden = len(ordered) - ANNOTATIONS_SHOWN
    if hidden > 0:
        print(f"::notice title=onnxslim-lint::+{hidden} more findings: see the job summary")
    sys.stdout.flush()


def base_changes(run: CheckRun, paths: Sequence[str]) -> tuple[list[RemovedModel], dict[str, str]]:
    """(the models deleted since the base, checked model's display -> its old path for
    the renamed ones), for the summary; nothing without a base."""
    base = run.base
    if base is None:
        return [], {}
    renamed: dict[str, str] = {}
    for result in run.results:
        old = base.renamed_from(result.path)
        if old is not None:
            renamed[result.display] = old
    settings = run.settings
    gone = gone_models(
        base,
        [Path(path) for path in paths],
        root=settings.root,
        exclude=[*settings.exclude, *settings.extend_exclude],
    )
    moved = set(renamed.values())
    removed = [
        RemovedModel(rel, base.model_size(base.root / rel)) for rel in gone if rel not in moved
    ]
    return removed, renamed


def budget_limits(run: CheckRun) -> dict[str, Limits]:
    """Each checked model's budget, by display path, as the pipeline looked it up."""
    budget = Budget.from_settings(run.settings)
    if not budget.configured:
        return {}
    return {result.display: budget.limits_for(result.path) for result in run.results}


def report_input_error(env: os._Environ[str] | dict[str, str], problem: str) -> int:
    print(f"::error title=onnxslim-lint::{escape_data(problem)}", flush=True)
    _append(env.get("GITHUB_STEP_SUMMARY"), render_input_error(problem))
    _append(env.get("GITHUB_OUTPUT"), "findings=\nremovable-bytes=\nsize-change-bytes=\n")
    return 2


def lint() -> int:
    env = os.environ
    base = resolve_base(env.get("INPUT_BASE_REF", ""), env)
    try:
        argv = build_argv(env, base)
        print(f"onnxslim-lint {shlex.join(argv)}", file=sys.stderr, flush=True)
        check_paths_exist(_paths(argv), base)
        code, run = run_once(without_deleted_paths(argv))
    except InputError as exc:
        return report_input_error(env, str(exc))
    findings = [f for r in run.results for f in ([r.error] if r.error else []) + r.findings]
    root = Path(env.get("GITHUB_WORKSPACE") or Path.cwd())
    write_annotations(findings, repository_root(run.run))
    removed, renamed = base_changes(run, _paths(argv))
    summary = render_job_summary(
        run.results,
        run.sizes,
        base_ref=base,
        root=root,
        removed=removed,
        renamed=renamed,
        limits=budget_limits(run),
    )
    changed_only = _truthy(env.get("INPUT_CHANGED_ONLY", "true"))
    if base is not None and changed_only and not run.results and not removed:
        summary = summary.replace(
            "No ONNX models to check.", f"No models changed against <code>{base}</code>."
        )
    _append(env.get("GITHUB_STEP_SUMMARY"), summary)
    total = totals(run.results, run.sizes, removed)
    change = "" if total.size_change is None else str(total.size_change)
    _append(
        env.get("GITHUB_OUTPUT"),
        f"findings={total.findings}\nremovable-bytes={total.removable_bytes}\n"
        f"size-change-bytes={change}\n",
    )
    sarif_path = env.get("INPUT_SARIF_FILE", "").strip()
    if sarif_path:
        target = Path(sarif_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(FORMATTERS["sarif"](findings, run.run), encoding="utf-8")
    return code


def write_version_output(env: os._Environ[str] | dict[str, str]) -> None:
    """The ``version`` output: the release of the tool this run uses (input ``version``)."""
    _append(env.get("GITHUB_OUTPUT"), f"version={__version__}\n")


def comment_with_summary(env: os._Environ[str] | dict[str, str]) -> None:
    """The ``comment`` input: the step's job summary as a sticky pull-request comment.

    GitHub gives each step its own summary file, so the file holds what ``lint`` wrote.
    """
    path = env.get("GITHUB_STEP_SUMMARY")
    summary = Path(path).read_text(encoding="utf-8") if path and Path(path).is_file() else ""
    post_summary_comment(env, summary)


def main() -> int:
    env = os.environ
    write_version_output(env)
    code = lint()
    comment_with_summary(env)  # after the summary; its failure is a warning, never the code
    return code


if __name__ == "__main__":
    sys.exit(main())
