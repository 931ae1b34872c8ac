#!/usr/bin/env python3
"""The GitHub Action's run step (see ``action.yml``): one check, four outputs.

Runs ``onnxslim-lint check --output-format github`` once, in process, and from the
same results writes

* the annotations (stdout, as workflow commands),
* the job summary table (``$GITHUB_STEP_SUMMARY``),
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

import html
import os
import shlex
import subprocess
import sys
from pathlib import Path

from pr_comment import post_summary_comment

from onnxslim_lint import __version__
from onnxslim_lint.cli import build_parser
from onnxslim_lint.commands.check import CheckRun, run_check
from onnxslim_lint.errors import OnnxLintError
from onnxslim_lint.report.formatters import FORMATTERS
from onnxslim_lint.report.formatters.github import escape_data
from onnxslim_lint.report.job_summary import render_job_summary, totals

ANNOTATIONS_SHOWN = 10  # GitHub shows at most ten error annotations per step


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
    argv = ["check", *shlex.split(env.get("INPUT_ARGS", ""))]
    argv += ["--output-format", "github"]
    if base is not None:
        argv += ["--base", base]
        if _truthy(env.get("INPUT_CHANGED_ONLY", "true")):
            argv.append("--changed-only")
    return [*argv, "--", *paths]


def lint() -> int:
    env = os.environ
    base = resolve_base(env.get("INPUT_BASE_REF", ""), env)
    argv = build_argv(env, base)
    print(f"onnxslim-lint {shlex.join(argv)}", file=sys.stderr, flush=True)
    runs: list[CheckRun] = []
    try:
        args = build_parser().parse_args(argv)
        code = run_check(args, observer=runs.append)
    except SystemExit as exc:  # argparse: bad `args` input
        code = int(exc.code or 0)
        print("::error title=onnxslim-lint::invalid arguments (see the log)", flush=True)
    except OnnxLintError as exc:
        print(f"::error title=onnxslim-lint::{escape_data(str(exc))}", flush=True)
        problem = html.escape(str(exc))
        _append(env.get("GITHUB_STEP_SUMMARY"), f"## onnxslim-lint\n\n❌ error: {problem}\n")
        code = 2
    sys.stdout.flush()
    if not runs:
        _append(env.get("GITHUB_OUTPUT"), "findings=\nremovable-bytes=\nsize-change-bytes=\n")
        return code or 2
    run = runs[0]
    findings = [f for r in run.results for f in ([r.error] if r.error else []) + r.findings]
    if len(findings) > ANNOTATIONS_SHOWN:
        print(
            f"::notice title=onnxslim-lint::{len(findings)} findings; GitHub shows "
            f"{ANNOTATIONS_SHOWN} annotations per step: the job summary lists them all",
            flush=True,
        )
    root = Path(env.get("GITHUB_WORKSPACE") or Path.cwd())
    summary = render_job_summary(run.results, run.sizes, base_ref=base, root=root)
    if base is not None and _truthy(env.get("INPUT_CHANGED_ONLY", "true")) and not run.results:
        summary = summary.replace(
            "No ONNX models to check.", f"No models changed against <code>{base}</code>."
        )
    _append(env.get("GITHUB_STEP_SUMMARY"), summary)
    total = totals(run.results, run.sizes)
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
