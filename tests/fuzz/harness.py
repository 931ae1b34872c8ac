"""One fuzz case: a model file through ``check`` and ``fix``, in a child process
with a deadline and a memory bound, watched for what must never happen.

Never: an exception out of the pipeline or an ``OSL010 internal error`` (our bug),
a hang past the deadline, an allocation past ``BOUND_BASE + BOUND_PER_BYTE * S`` for
a file of S bytes, a file opened or a folder listed outside the case's own folder
(Python's audit hooks see every ``open``/``listdir``/``scandir`` the tool makes),
a file written outside it, or a written fix that changes the interface or fails a
checker level the input passed.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnx

from onnxslim_lint.config import Settings, VerifySettings
from onnxslim_lint.fixing.gates import check_interface, check_model_valid, checker_level
from onnxslim_lint.fixing.isolation import ChildFailure, Limits, run_isolated
from onnxslim_lint.pipeline import RunOptions, process_file

__all__ = ["BOUND_BASE", "BOUND_PER_BYTE", "Outcome", "run_case"]

BOUND_BASE = 1024**3  # address space beyond the harness's own
BOUND_PER_BYTE = 64
DEADLINE = 60.0  # seconds per case, check and fix together
# The onnxruntime child's time limit in the fix's verification. A mutant whose run
# never ends (the endless-loop seed's, a flipped trip count) meets the limit
# whichever it is: 2 s instead of the default 20 s keeps such cases from taking most
# of a long fuzz run, and still goes through the same timeout and refusal.
VERIFY_TIMEOUT = 2.0


@dataclass(frozen=True)
class Outcome:
    """``kind`` is ``ok`` or what went wrong (``internal-error``, ``hang``,
    ``memory``, ``crash``, ``outside-access``, ``outside-write``, ``bad-fix``)."""

    kind: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def run_case(data: bytes, folder: Path, deadline: float = DEADLINE) -> Outcome:
    """Write ``data`` as ``folder/model.onnx`` (``folder`` must be empty and inside
    a sandbox folder that holds nothing else of value) and run it."""
    folder.mkdir(parents=True, exist_ok=True)
    model_path = folder / "model.onnx"
    model_path.write_bytes(data)
    sandbox = folder.parent
    before = _listing(sandbox, folder)
    limits = Limits(timeout=deadline, memory=BOUND_BASE + BOUND_PER_BYTE * len(data))
    result = run_isolated(lambda announce: _case(model_path, announce), limits)
    if isinstance(result, ChildFailure):
        kind = {"timeout": "hang"}.get(result.kind, result.kind)
        if result.kind == "error":
            kind = "internal-error"
        return Outcome(kind, f"{result.detail} (in {result.phase})")
    if _listing(sandbox, folder) != before:
        return Outcome("outside-write", "the sandbox changed outside the case folder")
    return result


def _listing(sandbox: Path, skip: Path) -> list[tuple[str, int, int]]:
    out = []
    for root, dirs, files in os.walk(sandbox):
        if Path(root) == skip or skip in Path(root).parents:
            dirs[:] = []
            continue
        for name in files:
            stat = os.stat(os.path.join(root, name))
            out.append((os.path.join(root, name), stat.st_size, stat.st_mtime_ns))
    return sorted(out)


def _case(model_path: Path, announce: Any) -> Outcome:
    folder = os.path.realpath(model_path.parent)
    sandbox = os.path.dirname(folder)
    outside: list[str] = []

    def watch(event: str, args: tuple[Any, ...]) -> None:
        if event not in ("open", "os.listdir", "os.scandir") or not args:
            return
        target = args[0]
        if isinstance(target, int) or target is None:
            return
        try:
            path = os.path.realpath(os.fsdecode(target))
        except (TypeError, ValueError):
            return
        inside_sandbox = os.path.commonpath([path, sandbox]) == sandbox
        inside_case = os.path.commonpath([path, folder]) == folder
        if inside_sandbox and not inside_case:
            outside.append(f"{event} {path}")

    sys.addaudithook(watch)  # the forked child only: it exits after the case
    settings = Settings(select=("ALL",), verify=VerifySettings(timeout=VERIFY_TIMEOUT))
    announce("check")
    result = process_file(model_path, settings, RunOptions())
    if result.error is not None and result.error.code == "OSL010":
        return Outcome("internal-error", f"check: {result.error.message}")
    announce("fix")  # in place, as a user runs it
    before = model_path.read_bytes()
    fixed_result = process_file(model_path, settings, RunOptions(fix=True, unsafe_fixes=True))
    if fixed_result.error is not None and fixed_result.error.code == "OSL010":
        return Outcome("internal-error", f"fix: {fixed_result.error.message}")
    if outside:
        return Outcome("outside-access", "; ".join(sorted(set(outside))[:3]))
    announce("judge")
    after = model_path.read_bytes()
    if after != before:
        if len(after) > len(before):
            return Outcome(
                "bad-fix", f"the fix made the file larger ({len(after)} > {len(before)})"
            )
        problem = _judge_fix(before, model_path)
        if problem is not None:
            return Outcome("bad-fix", problem)
    return Outcome("ok")


def _judge_fix(original_bytes: bytes, fixed_path: Path) -> str | None:
    try:
        original = onnx.load_model_from_string(original_bytes)
    except Exception:
        return None  # the input does not parse: nothing to hold the output to
    try:
        fixed = onnx.load_model(str(fixed_path), load_external_data=False)
    except Exception as exc:
        return f"the written fix does not load: {exc}"
    interface = check_interface(original, fixed)
    if interface is not None:
        return f"the fix changed the interface: {interface}"
    level, _ = checker_level(original)
    if level == "full" and check_model_valid(fixed) is not None:
        return f"the fix fails the full checker the input passed: {check_model_valid(fixed)}"
    if level == "structural" and check_model_valid(fixed, full=False) is not None:
        return "the fix fails the structural checker the input passed"
    return None
