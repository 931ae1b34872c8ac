"""The progress line of a long run, on a terminal's stderr.

One line, redrawn in place with ``\\r``: the position in the run, the file being
processed and its phase (load / check / fix / verify / write, from the pipeline's
``RunOptions.on_phase``), and the seconds since the run started, e.g.
``[2/5] models/big.onnx: verify, 12.3 s``. With ``-j N`` the files are in worker
processes: the line names the files in flight, without a phase. Nothing is drawn
before ``delay`` seconds, so a quick run prints exactly what it would without it.

A thread redraws the line (the main thread is inside onnx or onnxruntime for most
of a big file). Whatever else the run prints goes through :meth:`Progress.paused`,
which clears the line first, so no output is ever mixed with it. The pipeline
forks (the ``-j`` workers, the verification child) while the thread runs: a fork
waits until the thread is not writing (``os.register_at_fork``), so a child never
inherits a stream locked in the middle of a write.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import TextIO

from onnxslim_lint.report.escape import printable

__all__ = ["Progress"]

_CLEAR = "\r\x1b[K"  # to the start of the line, then erase it
_ELLIPSIS = "…"

_LIVE: weakref.WeakSet[Progress] = weakref.WeakSet()


def _before_fork() -> None:
    for progress in list(_LIVE):
        progress._lock.acquire()


def _after_fork() -> None:
    for progress in list(_LIVE):
        progress._lock.release()


def _after_fork_in_child() -> None:
    for progress in list(_LIVE):
        progress._in_child = True  # the child has no drawing thread and draws nothing
        progress._lock.release()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork_in_child
    )


class Progress:
    """The progress line of one run over the files named ``names`` (display names, in
    order; a file is given by its index), drawn on ``stream``."""

    def __init__(
        self, stream: TextIO, names: Sequence[str], *, delay: float = 0.5, interval: float = 0.1
    ) -> None:
        self._stream = stream
        self._names = [printable(name) for name in names]
        self._total = len(names)
        self._delay = delay
        self._interval = interval
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self._in_flight: dict[int, str] = {}  # index -> name, in start order
        self._finished: set[int] = set()
        self._phase: str | None = None  # of the one file in flight, when it is here
        self._drawn = False
        self._in_child = False

    def start(self) -> None:
        self._started = time.monotonic()
        _LIVE.add(self)
        self._thread = threading.Thread(target=self._run, name="onnxslim-lint-progress")
        self._thread.daemon = True
        self._thread.start()

    def close(self) -> None:
        """Stop redrawing and clear the line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        _LIVE.discard(self)
        with self._lock:
            self._clear()

    def file_started(self, index: int) -> None:
        with self._lock:
            self._in_flight[index] = self._names[index]
            self._phase = "load"  # until the pipeline says more: a line never lacks one

    def file_finished(self, index: int) -> None:
        with self._lock:
            self._in_flight.pop(index, None)
            self._finished.add(index)
            self._phase = None

    def phase(self, name: str) -> None:
        """The phase of the file in flight (the pipeline calls this at each stage)."""
        with self._lock:
            self._phase = name

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Print other output inside this: the line is cleared first and drawn again
        after (by the thread, at its next tick)."""
        with self._lock:
            self._clear()
            yield

    def _run(self) -> None:
        if self._stop.wait(self._delay):
            return
        while True:
            with self._lock:
                self._draw()
            if self._stop.wait(self._interval):
                return

    def _clear(self) -> None:
        if self._drawn:
            self._stream.write(_CLEAR)
            self._stream.flush()
            self._drawn = False

    def _draw(self) -> None:
        if self._in_child or not self._in_flight:
            return
        self._stream.write(_CLEAR + self.line())
        self._stream.flush()
        self._drawn = True

    def line(self) -> str:
        """The text of the line now, fitted to the terminal's width."""
        position = min(len(self._finished) + 1, self._total)
        names = ", ".join(self._in_flight.values())
        phase = f": {self._phase}" if self._phase and len(self._in_flight) == 1 else ""
        head = f"[{position}/{self._total}] "
        tail = f"{phase}, {time.monotonic() - self._started:.1f} s"
        # A line longer than the terminal wraps, and \r would then redraw only its
        # last part: the names give way, from the left.
        width = self._width() - 1
        room = width - len(head) - len(tail)
        if len(names) > room:
            names = _ELLIPSIS + names[len(names) - max(room - 1, 0) :] if room > 1 else ""
        return head + names + tail

    def _width(self) -> int:
        """The terminal's columns (80 when it does not say: a new pseudo-terminal)."""
        try:
            columns = os.get_terminal_size(self._stream.fileno()).columns
        except (OSError, ValueError):
            columns = shutil.get_terminal_size().columns
        return columns if columns > 0 else 80
