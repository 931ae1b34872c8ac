"""The command line: argument parsing, dispatch, and the one place that turns errors
into a message and an exit code (0 clean, 1 findings or a refused fix, 2 usage,
configuration or unreadable files)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from onnxslim_lint import __version__
from onnxslim_lint.config import OUTPUT_FORMATS
from onnxslim_lint.errors import OnnxLintError
from onnxslim_lint.report.style import COLOR_CHOICES

__all__ = ["main"]

COMMANDS = ("check", "rule", "verify", "clean")


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _add_list(parser: argparse._ActionsContainer, flag: str, help_text: str) -> None:
    parser.add_argument(flag, action="append", type=_codes, metavar="RULES", help=help_text)


def _jobs(value: str) -> int:
    try:
        jobs = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of jobs, got {value!r}") from None
    if jobs < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 job, got {jobs}")
    return jobs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="onnxslim-lint",
        description="Lint and fix ONNX model files: find the dead weight exporters leave "
        "behind, remove it with --fix, verified with onnxruntime.",
    )
    parser.add_argument("--version", action="version", version=f"onnxslim-lint {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = sub.add_parser("check", help="check models (the default command)")
    check.add_argument("paths", nargs="*", default=[], help="files or folders (default: .)")
    fixing = check.add_argument_group("fixing")
    fixing.add_argument("--fix", action="store_true", help="apply the fixes, verified")
    fixing.add_argument("--no-fix", dest="fix", action="store_false")
    fixing.add_argument(
        "--unsafe-fixes", action="store_true", default=None, help="also apply numeric fixes"
    )
    fixing.add_argument("--no-unsafe-fixes", dest="unsafe_fixes", action="store_false")
    fixing.add_argument(
        "--diff", action="store_true", help="show what --fix would change; write nothing"
    )
    fixing.add_argument("--show-fixes", action="store_true", help="list what --fix changed")
    fixing.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="write fixes without comparing outputs in onnxruntime",
    )
    fixing.add_argument("--samples", type=int, help="verification samples (default 3)")
    fixing.add_argument(
        "-o", "--output", metavar="PATH", help="with one input: write the result here"
    )
    rules = check.add_argument_group("rule selection")
    _add_list(rules, "--select", "rules to enforce: codes, prefixes, names or ALL")
    _add_list(rules, "--extend-select", "rules to enforce on top of the selection")
    _add_list(rules, "--ignore", "rules not to enforce")
    _add_list(rules, "--fixable", "rules whose fixes may be applied")
    _add_list(rules, "--unfixable", "rules whose fixes are never applied")
    out = check.add_argument_group("output")
    out.add_argument("--output-format", choices=OUTPUT_FORMATS)
    out.add_argument("--statistics", action="store_true", help="counts per rule")
    out.add_argument("-q", "--quiet", action="store_true", help="findings only, no summary")
    out.add_argument(
        "-s",
        "--silent",
        action="store_true",
        help="print nothing; the exit status still says whether there are findings",
    )
    out.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default="auto",
        help="colour the text formats (auto: stdout is a terminal; NO_COLOR, FORCE_COLOR)",
    )
    files = check.add_argument_group("files and configuration")
    files.add_argument("--exclude", action="append", type=_codes, metavar="GLOBS")
    files.add_argument("--extend-exclude", action="append", type=_codes, metavar="GLOBS")
    files.add_argument(
        "--force-exclude", action="store_true", help="apply excludes to files given by name"
    )
    files.add_argument(
        "--config",
        action="append",
        metavar="PATH|KEY=VALUE",
        help="a config file, or a TOML 'key = value' that overrides it",
    )
    files.add_argument("--isolated", action="store_true", help="ignore all config files")
    files.add_argument(
        "--add-ignores",
        action="store_true",
        help="write the findings into per-file-ignores of the config file (fix them later)",
    )
    git = check.add_argument_group("comparing with git")
    git.add_argument(
        "--base",
        metavar="REF",
        help="compare sizes with this git ref (size-growth, OSL302): its merge base with HEAD",
    )
    git.add_argument(
        "--changed-only",
        action="store_true",
        help="with --base: check only models changed since REF (or whose external data changed)",
    )
    run = check.add_argument_group("running")
    run.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        metavar="N",
        help="files checked at once, in worker processes (default: the machine's cores)",
    )
    run.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        help="do not read or write .onnxslim_lint_cache",
    )
    exits = check.add_argument_group("exit status")
    exits.add_argument("-e", "--exit-zero", action="store_true", help="exit 0 despite findings")
    exits.add_argument(
        "--exit-non-zero-on-fix", action="store_true", help="exit 1 when a file was fixed"
    )

    rule = sub.add_parser("rule", help="explain a rule")
    rule.add_argument("rule", nargs="?", help="a code (OSL101) or a name")
    rule.add_argument("--all", action="store_true", help="explain every rule")
    rule.add_argument("--output-format", choices=("text", "json", "markdown"), default="text")

    clean = sub.add_parser("clean", help="remove the result cache (.onnxslim_lint_cache)")
    clean.add_argument("paths", nargs="*", default=[], help="project folders (default: .)")

    verify = sub.add_parser("verify", help="compare two models' outputs in onnxruntime")
    verify.add_argument("original")
    verify.add_argument("fixed")
    verify.add_argument("--samples", type=int, default=10)
    verify.add_argument("--seed", type=int, default=0)
    verify.add_argument("--rtol", type=float, default=1e-4)
    verify.add_argument("--atol", type=float, default=1e-5)
    verify.add_argument("--exact", action="store_true", help="float outputs must be bit-equal")
    return parser


def _normalize(argv: list[str]) -> list[str]:
    """``check`` is the default command, as in ruff."""
    if not argv or argv[0] in ("-h", "--help", "--version"):
        return argv or ["check"]
    if argv[0] in COMMANDS:
        return argv
    return ["check", *argv]


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(_normalize(args_list))
    except SystemExit as exc:  # argparse: --help exits 0, bad usage 2
        return int(exc.code or 0)
    # The commands are imported when run: they load onnx and numpy, which
    # ``--version``, ``--help`` and a usage error need not wait for.
    try:
        if args.command == "rule":
            from onnxslim_lint.commands.rule import run_rule

            return run_rule(args.rule, all_rules=args.all, output_format=args.output_format)
        if args.command == "clean":
            from onnxslim_lint.commands.clean import run_clean

            return run_clean(args)
        if args.command == "verify":
            from onnxslim_lint.commands.verify import run_verify

            return run_verify(args)
        from onnxslim_lint.commands.check import run_check

        return run_check(args)
    except OnnxLintError as exc:
        print(f"onnxslim-lint: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: one line, never a traceback unless asked
        if os.environ.get("ONNXSLIM_LINT_DEBUG"):
            raise
        print(
            f"onnxslim-lint: internal error: {type(exc).__name__}: {exc} "
            "(please report it; ONNXSLIM_LINT_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 2
