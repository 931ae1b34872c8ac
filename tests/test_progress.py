"""The progress line, drawn on a real pseudo-terminal (what it says, that it fits
the terminal's width, waits before drawing and clears itself), and what feeds it:
the pipeline's phases and the files in flight."""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import struct
import termios
import time
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest

from onnxslim_lint.config import Settings
from onnxslim_lint.parallel import process_files
from onnxslim_lint.pipeline import RunOptions, process_file
from onnxslim_lint.progress import Progress
from onnxslim_lint.results import FileResult

MESSY = Path(__file__).resolve().parents[1] / "examples" / "messy.onnx"

CLEAR = b"\r\x1b[K"


@pytest.fixture
def terminal() -> Iterator[tuple[int, int]]:
    """A pseudo-terminal 40 columns wide: (master, slave)."""
    master, slave = os.openpty()
    tty.setraw(slave)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
    yield master, slave
    os.close(master)
    os.close(slave)


def _drain(master: int) -> bytes:
    """What the terminal has received so far (it does not wait for more)."""
    data = b""
    while select.select([master], [], [], 0)[0]:
        data += os.read(master, 65536)
    return data


def test_the_line_names_the_file_and_phase_and_fits_the_terminal(
    terminal: tuple[int, int],
) -> None:
    _, slave = terminal
    long = "models/" + "deep/" * 20 + "encoder.onnx"
    with open(slave, "w", closefd=False) as stream:
        progress = Progress(stream, ["a.onnx", long, "evil\x1b[2J.onnx"])
        progress.file_started(0)
        progress.phase("verify")
        assert re.fullmatch(r"\[1/3\] a\.onnx: verify, \d+\.\d s", progress.line())
        progress.file_finished(0)
        progress.file_started(1)
        progress.phase("load")
        line = progress.line()
        assert len(line) <= 39  # one column spare: the cursor never wraps
        assert re.fullmatch(r"\[2/3\] …[a-z/]*encoder\.onnx: load, \d+\.\d s", line), line
        progress.file_started(2)  # two in flight (workers): names, no phase
        line = progress.line()
        assert ": load" not in line and line.endswith("s") and "\x1b" not in line
        progress.file_finished(1)
        assert progress.line().startswith("[3/3] evil\\x1b[2J.onnx, ")


def test_nothing_is_drawn_before_the_delay_and_the_line_is_cleared_at_the_end(
    terminal: tuple[int, int],
) -> None:
    master, slave = terminal
    with open(slave, "w", closefd=False) as stream:
        progress = Progress(stream, ["a.onnx"], delay=0.4, interval=0.02)
        progress.start()
        progress.file_started(0)
        progress.phase("check")
        time.sleep(0.2)
        assert _drain(master) == b""  # a quick run shows nothing
        time.sleep(0.4)
        drawn = _drain(master)
        assert drawn.startswith(CLEAR + b"[1/1] a.onnx: check, ")
        with progress.paused():  # another line is printed here
            assert _drain(master).endswith(CLEAR)  # cleared first
            stream.write("a.onnx: OSL101 x\n")
            stream.flush()
            time.sleep(0.1)
            assert _drain(master) == b"a.onnx: OSL101 x\n"  # and not drawn meanwhile
        time.sleep(0.1)
        assert CLEAR + b"[1/1] a.onnx: check, " in _drain(master)  # drawn again
        progress.close()
        assert _drain(master).endswith(CLEAR)
        time.sleep(0.1)
        assert _drain(master) == b""  # and never drawn again


def test_a_run_that_ends_before_the_delay_draws_nothing(terminal: tuple[int, int]) -> None:
    master, slave = terminal
    with open(slave, "w", closefd=False) as stream:
        progress = Progress(stream, ["a.onnx"], delay=0.3)
        progress.start()
        progress.file_started(0)
        progress.file_finished(0)
        progress.close()
        time.sleep(0.4)
        assert _drain(master) == b""


def test_a_forked_child_never_draws(terminal: tuple[int, int]) -> None:
    """The -j workers and the verification child are forked while the line is live;
    the fork waits for the drawing thread, and the child's copy draws nothing."""
    master, slave = terminal
    with open(slave, "w", closefd=False) as stream:
        progress = Progress(stream, ["a.onnx"], delay=0.0, interval=0.001)
        progress.start()
        progress.file_started(0)
        time.sleep(0.05)
        for _ in range(20):
            pid = os.fork()
            if pid == 0:  # the child: its copy must neither draw nor hang
                progress.phase("fix")
                progress._draw()
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        progress.close()
        out = _drain(master)
    assert b"fix" not in out and out.endswith(CLEAR)


def test_the_pipeline_tells_each_phase_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "messy.onnx"
    shutil.copyfile(MESSY, path)
    phases: list[str] = []
    result = process_file(path, Settings(), RunOptions(fix=True, on_phase=phases.append))
    assert result.fix_report is not None and result.fix_report.written
    assert phases == ["load", "check", "fix", "verify", "write", "check"]  # then re-checked
    phases.clear()
    process_file(path, Settings(), RunOptions(on_phase=phases.append))
    assert phases == ["load", "check"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_process_files_tells_which_files_are_in_flight(tmp_path: Path, jobs: int) -> None:
    named = []
    for name in ("a.onnx", "b.onnx", "c.onnx"):
        shutil.copyfile(MESSY, tmp_path / name)
        named.append((tmp_path / name, name))
    events: list[tuple[str, int]] = []
    phases: list[str] = []

    def guard(path: Path, display: str, exc: Exception) -> FileResult:
        raise exc

    results = process_files(
        named,
        Settings(),
        RunOptions(on_phase=phases.append),
        jobs=jobs,
        cache=None,
        guard=guard,
        on_start=lambda index: events.append(("start", index)),
        on_finish=lambda index: events.append(("finish", index)),
    )
    assert [result.display for result in results] == ["a.onnx", "b.onnx", "c.onnx"]
    for index in range(3):
        assert events.count(("start", index)) == events.count(("finish", index)) == 1
        assert events.index(("start", index)) < events.index(("finish", index))
    # Phases are told in the process that runs the file: here only without workers.
    assert phases == (["load", "check"] * 3 if jobs == 1 else [])
