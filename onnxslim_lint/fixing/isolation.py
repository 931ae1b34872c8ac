"""Running onnxruntime in a child process, so that what it does to a process cannot
happen to ours.

A model can make onnxruntime crash (a bad custom-op library, a kernel bug), hang
(a Loop whose trip count came from random inputs), allocate without end, or print
its own log lines on our stderr. The verification's onnxruntime part therefore runs
in a forked child with a time limit, an address-space limit (``RLIMIT_AS``) and
its stdout/stderr sent to a scratch file; whatever happens there, the parent gets a
value or a :class:`ChildFailure` naming what went wrong and the phase it happened
in. Forking (Linux) shares the parent's loaded model and imported modules with the
child for free; where fork is not available the task runs in this process,
without the limits.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import os
import pickle
import select
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "ChildFailure",
    "Limits",
    "OutOfMemory",
    "can_isolate",
    "default_limits",
    "is_out_of_memory",
    "run_isolated",
]

T = TypeVar("T")

# The verify limits sized from the model when the settings leave them unset: time
# to load it and run a few samples (and the dims search) on one thread, and room for
# its weights, their copies in sessions and the activations. A small file gets 20 s:
# a model of a few kB that runs longer is a Loop that does not end.
_BASE_SECONDS = 20.0
_SECONDS_PER_100_MB = 30.0
_BASE_MEMORY = 2 * 1024**3
_MEMORY_PER_MODEL_BYTE = 4

# Messages of an allocation that hit the limit, from onnxruntime and the C++ runtime.
_OUT_OF_MEMORY = ("bad_alloc", "bad allocation", "failed to allocate", "cannot allocate memory")


class OutOfMemory(BaseException):
    """An allocation failed; a BaseException so that the handlers that turn
    onnxruntime's errors into verdicts let it through to :func:`run_isolated`."""


@dataclass(frozen=True)
class Limits:
    """What a child may spend: seconds of wall time, bytes of address space beyond
    what the parent already maps (None: no memory limit)."""

    timeout: float
    memory: int | None


@dataclass(frozen=True)
class ChildFailure:
    """The child did not return a value: ``kind`` is ``timeout``, ``crash``,
    ``memory`` or ``error``; ``phase`` the last phase it announced (or None)."""

    kind: str
    detail: str
    phase: str | None


def default_limits(model_size: int, timeout: float | None, memory: int | None) -> Limits:
    """The configured limits, or ones sized from the model's bytes."""
    if timeout is None:
        timeout = _BASE_SECONDS + _SECONDS_PER_100_MB * model_size / 100e6
    if memory is None:
        memory = _BASE_MEMORY + _MEMORY_PER_MODEL_BYTE * model_size
    return Limits(timeout, memory)


def can_isolate() -> bool:
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def is_out_of_memory(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in _OUT_OF_MEMORY)


def run_isolated(task: Callable[[Callable[[str], None]], T], limits: Limits) -> T | ChildFailure:
    """``task(announce)`` in a child; ``announce(phase)`` tells the parent where the
    child is, so a failure can say it (``"original"``, ``"fixed"``, ...)."""
    if not can_isolate():
        phases: list[str] = []
        try:
            return task(phases.append)
        except (MemoryError, OutOfMemory):
            return ChildFailure("memory", "ran out of memory", phases[-1] if phases else None)
    receiver, sender = os.pipe()
    with tempfile.TemporaryFile(prefix="onnxslim-lint-ort-") as log:
        # os.fork, not multiprocessing: a daemonic worker (a multiprocessing pool's)
        # may not start Process children, and nothing here needs its machinery.
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(receiver)
            _child(task, sender, log.fileno(), limits.memory, parent)
        os.close(sender)
        try:
            outcome = _wait(pid, receiver, limits.timeout)
        finally:
            os.close(receiver)
            status = _reap(pid)
        if isinstance(outcome, _Died):
            log.seek(0)
            return _failure_of(status, _last_lines(log.read()), outcome.phase, limits)
        return outcome


@dataclass(frozen=True)
class _Died:
    phase: str | None


def _reap(pid: int) -> int:
    """Kill the child if it is still there and collect it: its exit code, or minus
    the signal that ended it (multiprocessing's convention)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _wait(pid: int, receiver: int, timeout: float) -> Any:
    """Read the child's messages until its result, its death or the deadline."""
    deadline = time.monotonic() + timeout
    phase: str | None = None
    buffer = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return ChildFailure("timeout", f"timed out after {timeout:g} s", phase)
        ready, _, _ = select.select([receiver], [], [], min(remaining, 1.0))
        if not ready:
            continue
        chunk = os.read(receiver, 1 << 20)
        if not chunk:  # the pipe closed: the child is gone
            return _Died(phase)
        buffer += chunk
        while len(buffer) >= 8:
            size = int.from_bytes(buffer[:8], "little")
            if len(buffer) < 8 + size:
                break
            kind, payload = pickle.loads(buffer[8 : 8 + size])
            buffer = buffer[8 + size :]
            if kind == "phase":
                phase = payload
            elif kind == "result":
                return payload
            else:  # "error" or "memory": the task raised
                return ChildFailure(kind, payload, phase)


def _send(fd: int, message: tuple[str, Any]) -> None:
    data = pickle.dumps(message)
    data = len(data).to_bytes(8, "little") + data
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _failure_of(exitcode: int | None, log: str, phase: str | None, limits: Limits) -> ChildFailure:
    if is_out_of_memory(log) and limits.memory is not None:
        return ChildFailure("memory", _memory_text(limits.memory), phase)
    if exitcode is not None and exitcode < 0:
        number = -exitcode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        detail = f"crashed (signal {number}: {name})"
    else:
        detail = f"exited with status {exitcode}"
    last = log.strip().splitlines()[-1:] if log.strip() else []
    if last:
        detail += f": {last[0][:200]}"
    return ChildFailure("crash", detail, phase)


def _memory_text(limit: int) -> str:
    return f"ran out of its memory limit of {limit / 1024**3:.1f} GiB"


def _last_lines(data: bytes) -> str:
    return data[-4000:].decode("utf-8", "replace")


def _child(
    task: Callable[..., Any], sender: int, log_fd: int, memory: int | None, parent: int
) -> None:
    # Die with the parent: a parent killed at its own deadline (a fuzzer's, a CI
    # job's) must not leave this child running an endless Loop on its own.
    _die_with_parent(parent)
    # onnxruntime's own log lines go to the scratch file, not the user's terminal.
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    # A crash is reported by the parent; a fault handler set up on another file
    # descriptor (pytest's, a user's) would print a traceback of it besides.
    faulthandler.disable()
    status = 0
    try:
        if memory is not None:
            _limit_address_space(memory)
        _send(sender, ("result", task(lambda phase: _send(sender, ("phase", phase)))))
    except (MemoryError, OutOfMemory):
        status = _try_send(sender, ("memory", _memory_text(memory or 0)))
    except BaseException as exc:  # everything goes back to the parent as a value
        lines = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
        kind = "memory" if memory is not None and is_out_of_memory(str(exc)) else "error"
        status = _try_send(sender, (kind, _memory_text(memory or 0) if kind == "memory" else text))
    finally:
        os.close(sender)
        os._exit(status)  # no atexit handlers, no pytest teardown in a forked copy


def _try_send(fd: int, message: tuple[str, Any]) -> int:
    try:
        _send(fd, message)
    except Exception:  # the result cannot be pickled, or the parent is gone
        return 1
    return 0


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (``PR_SET_PDEATHSIG``),
    and exit now if the parent is already gone."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


_PR_SET_PDEATHSIG = 1


def _limit_address_space(extra: int) -> None:
    import resource

    with open("/proc/self/statm", encoding="ascii") as statm:
        mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = mapped + extra
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    if soft == resource.RLIM_INFINITY or limit < soft:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
