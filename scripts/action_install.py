#!/usr/bin/env python3
"""The GitHub Action's install step (see ``action.yml``): the tool in a virtual environment.

Run with the ``python`` input's interpreter. Creates ``$RUNNER_TEMP/onnxslim-lint-venv``,
pip-installs what the ``version`` input asks for and hands the environment's
interpreter to the run step as ``ONNXSLIM_LINT_PYTHON`` (through ``$GITHUB_ENV``).

``version`` is empty for the Action's own checkout (the release the workflow's
``uses: ...@ref`` names), ``latest`` for the newest release, an exact version
(``0.2.0``, or ``v0.2.0`` as a tag is spelled) or a PEP 440 specifier (``>=0.2,<0.3``).
Anything else is refused before pip sees it, so the input cannot smuggle in pip options
or another package. Standard library only: nothing is installed yet when this runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = "onnxslim-lint"

_VERSION = r"[0-9]+(?:\.[0-9]+)*(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?"
_EXACT = re.compile(rf"v?({_VERSION})")
_CLAUSE = re.compile(rf"(?:~=|===?|!=|<=|>=|<|>)\s*{_VERSION}(?:\.\*)?")


def pip_requirement(version: str, action_path: str) -> str:
    """What to ``pip install`` for the ``version`` input (ValueError when it is neither
    a version nor a specifier)."""
    spec = version.strip()
    if not spec:
        return action_path
    if spec == "latest":
        return PACKAGE
    exact = _EXACT.fullmatch(spec)
    if exact:
        return f"{PACKAGE}=={exact.group(1)}"
    clauses = [clause.strip() for clause in spec.split(",")]
    if all(_CLAUSE.fullmatch(clause) for clause in clauses):
        return PACKAGE + ",".join(clauses)
    raise ValueError(
        f"version {version!r} is not a version (0.2.0) or a version specifier (>=0.2,<0.3)"
    )


def _escape(message: str) -> str:
    """A workflow command's message: ``%``, CR and LF escaped, so an input cannot end
    the line and start a command of its own."""
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def venv_python(venv: Path) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def main() -> int:
    env = os.environ
    try:
        requirement = pip_requirement(env.get("INPUT_VERSION", ""), env["GITHUB_ACTION_PATH"])
    except ValueError as exc:
        print(f"::error title=onnxslim-lint::{_escape(str(exc))}", flush=True)
        return 2
    venv = Path(env.get("RUNNER_TEMP") or "/tmp") / "onnxslim-lint-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv_python(venv)
    print(f"pip install {requirement}", file=sys.stderr, flush=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if env.get("INPUT_VERSION", "").strip():
        # A release: replace one an earlier use of the Action left in the environment
        # (pip reinstalls a local folder by itself, but keeps a release that satisfies).
        pip.append("--upgrade")
    done = subprocess.run([*pip, requirement], check=False)
    if done.returncode != 0:
        message = _escape(f"pip could not install {requirement}")
        print(f"::error title=onnxslim-lint::{message}", flush=True)
        return 2
    with open(env["GITHUB_ENV"], "a", encoding="utf-8") as handle:
        handle.write(f"ONNXSLIM_LINT_PYTHON={python}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
