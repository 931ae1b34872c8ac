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

import faulthandler
import multiprocessing
import os
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
# to load it and run a few samples on one thread, and room for its weights, their
# copies in sessions and the activations.
_BASE_SECONDS = 60.0
_SECONDS_PER_100_MB = 20.0
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
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


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
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    with tempfile.TemporaryFile(prefix="onnxslim-lint-ort-") as log:
        child = context.Process(target=_child, args=(task, sender, log.fileno(), limits.memory))
        child.daemon = True
        child.start()
        sender.close()
        try:
            outcome = _wait(child, receiver, limits.timeout)
        finally:
            receiver.close()
            if child.is_alive():
                child.kill()
            child.join()
        if isinstance(outcome, _Died):
            log.seek(0)
            return _failure_of(child.exitcode, _last_lines(log.read()), outcome.phase, limits)
        return outcome


@dataclass(frozen=True)
class _Died:
    phase: str | None


def _wait(child: Any, receiver: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    phase: str | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            child.kill()
            return ChildFailure("timeout", f"timed out after {timeout:g} s", phase)
        if not receiver.poll(min(remaining, 1.0)):
            if not child.is_alive() and not receiver.poll(0):
                return _Died(phase)
            continue
        try:
            kind, payload = receiver.recv()
        except (EOFError, OSError):
            return _Died(phase)
        if kind == "phase":
            phase = payload
        elif kind == "result":
            return payload
        else:  # "error" or "memory": the task raised
            return ChildFailure(kind, payload, phase)


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


def _child(task: Callable[..., Any], sender: Any, log_fd: int, memory: int | None) -> None:
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

        def announce(phase: str) -> None:
            sender.send(("phase", phase))

        sender.send(("result", task(announce)))
    except (MemoryError, OutOfMemory):
        sender.send(("memory", _memory_text(memory or 0)))
    except BaseException as exc:  # everything goes back to the parent as a value
        lines = str(exc).strip().splitlines()
        text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
        kind = "memory" if memory is not None and is_out_of_memory(str(exc)) else "error"
        try:
            sender.send((kind, _memory_text(memory or 0) if kind == "memory" else text))
        except Exception:
            status = 1
    finally:
        sender.close()
        sys.stdout.flush()
        os._exit(status)  # no atexit handlers, no pytest teardown in a forked copy


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
