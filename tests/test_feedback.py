"""What a run shows while it runs: each file's findings as soon as the file is done,
the progress line on a terminal's stderr (tested on a real pseudo-terminal), and
``-s`` printing nothing at all."""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import subprocess
import sys
import time
import tty
from pathlib import Path

import pytest

from onnxslim_lint.cli import main
from onnxslim_lint.config import Settings
from onnxslim_lint.pipeline import RunOptions, process_file
from onnxslim_lint.report.formatters import FORMATTERS, RunInfo
from onnxslim_lint.report.summary import summary

ROOT = Path(__file__).resolve().parents[1]
MESSY = ROOT / "examples" / "messy.onnx"
EXPORTED = ROOT / "tests" / "models" / "exported"
# Three real exports whose --fix runs load, check, fix, verify and write: together
# well over the progress line's half second.
SLOW = ("bert_legacy.onnx", "gpt2_legacy.onnx", "mobilenetv2_legacy.onnx")
CLEAR = b"\r\x1b[K"
DRAWN = re.compile(rb"\r\x1b\[K(\[(\d+)/(\d+)\] ([^\r\n]*), (\d+\.\d) s)")
PHASES = {"load", "check", "fix", "verify", "write"}
DEADLINE = 300.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env["COLUMNS"] = "200"
    return env


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "onnxslim_lint", "--no-cache", *args]


def _read_all(fds: list[int], deadline: float) -> dict[int, bytes]:
    """Everything from each of ``fds`` until its writers close it (EOF on a pipe, EIO
    on a pty's master), read side by side so that no writer blocks on a full pipe."""
    data = {fd: b"" for fd in fds}
    open_fds = list(fds)
    while open_fds:
        if time.monotonic() > deadline:
            raise AssertionError(f"no end of output in {DEADLINE} s; so far: {data!r}")
        ready, _, _ = select.select(open_fds, [], [], 1.0)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the pty's last writer is gone
                chunk = b""
            if chunk:
                data[fd] += chunk
            else:
                open_fds.remove(fd)
    return data


def _on_terminal(
    cwd: Path, *args: str, stdout_too: bool = False, env: dict[str, str] | None = None
) -> tuple[int, bytes, bytes]:
    """Run the CLI with stderr (and with ``stdout_too`` stdout as well) on a new
    pseudo-terminal in raw mode (the bytes as written, no CR added); returns the exit
    code, the pipe's bytes (stdout, empty with ``stdout_too``) and the terminal's."""
    master, slave = os.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen(
        _command(*args),
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_too else subprocess.PIPE,
        stderr=slave,
        cwd=cwd,
        env=env or _env(),
    )
    os.close(slave)
    fds = [master] if proc.stdout is None else [master, proc.stdout.fileno()]
    try:
        data = _read_all(fds, time.monotonic() + DEADLINE)
    finally:
        os.close(master)
        if proc.stdout is not None:
            proc.stdout.close()
    piped = b"" if proc.stdout is None else data[fds[1]]
    return proc.wait(timeout=60), piped, data[master]


def _slow_models(folder: Path) -> list[str]:
    folder.mkdir(exist_ok=True)
    for name in SLOW:
        shutil.copyfile(EXPORTED / name, folder / name)
    return list(SLOW)


def test_progress_line_names_the_file_and_its_phase_and_is_cleared(tmp_path: Path) -> None:
    names = _slow_models(tmp_path / "models")
    code, out, err = _on_terminal(tmp_path / "models", "-j", "1", "--fix", *names)
    assert code == 0, err
    draws = DRAWN.findall(err)
    assert draws, err
    phases = set()
    for _, position, total, what, seconds in draws:
        assert total == b"3" and 1 <= int(position) <= 3
        assert float(seconds) >= 0.5  # nothing is drawn in the first half second
        name, _, phase = what.decode().partition(": ")
        assert name == names[int(position) - 1]
        assert phase in PHASES
        phases.add(phase)
    assert len(phases) >= 2, phases  # it follows the file through its stages
    assert err.endswith(CLEAR)  # cleared at the end
    assert DRAWN.sub(b"", err).replace(CLEAR, b"") == b""  # nothing else on stderr
    assert out.count(b": fixed: ") == 3 and b"\x1b" not in out  # stdout is a pipe


def test_progress_with_workers_names_the_files_in_flight(tmp_path: Path) -> None:
    names = _slow_models(tmp_path / "models")
    code, _, err = _on_terminal(tmp_path / "models", "-j", "2", "--fix", *names)
    assert code == 0, err
    draws = DRAWN.findall(err)
    assert draws, err
    for _, _, total, what, _ in draws:
        assert total == b"3"
        in_flight = what.decode().split(", ")
        assert set(in_flight) <= set(names), what  # names only: no phase from a worker
    assert any(b", " in what for _, _, _, what, _ in draws)  # two files at once
    assert err.endswith(CLEAR)


def test_progress_is_cleared_before_every_other_line(tmp_path: Path) -> None:
    """stdout and stderr on one terminal, as in a shell: a finding or fix line never
    lands on the progress line."""
    names = _slow_models(tmp_path / "models")
    code, _, screen = _on_terminal(
        tmp_path / "models", "-j", "1", "--fix", "--color", "never", *names, stdout_too=True
    )
    assert code == 0, screen
    assert DRAWN.search(screen)
    for draw in DRAWN.finditer(screen):  # each drawn line is cleared before the next output
        assert screen.startswith(CLEAR, draw.end()), screen[draw.start() : draw.end() + 80]
    printed = DRAWN.sub(b"", screen).replace(CLEAR, b"")
    lines = printed.decode().splitlines()
    assert [line.split(": ")[0] for line in lines[:3]] == names
    assert lines[-1].startswith("Found ")


def test_no_progress_for_a_quick_run_with_q_or_without_a_terminal(tmp_path: Path) -> None:
    shutil.copyfile(MESSY, tmp_path / "messy.onnx")
    code, out, err = _on_terminal(tmp_path, "messy.onnx")
    assert code == 1 and err == b""  # under half a second: nothing drawn
    assert out.endswith(b"fixable with the --fix option.\n")
    # The run that draws in the test above draws nothing with -q, or on a pipe.
    names = _slow_models(tmp_path / "quiet")
    code, _, err = _on_terminal(tmp_path / "quiet", "-q", "-j", "1", "--fix", *names)
    assert code == 0 and err == b""
    names = _slow_models(tmp_path / "piped")
    piped = subprocess.run(
        _command("-j", "1", "--fix", *names),
        cwd=tmp_path / "piped",
        capture_output=True,
        env=_env(),
        check=False,
    )
    assert piped.returncode == 0 and piped.stderr == b""
    assert piped.stdout.count(b": fixed: ") == 3


def test_auto_colour_on_a_terminal_and_no_color(tmp_path: Path) -> None:
    shutil.copyfile(MESSY, tmp_path / "messy.onnx")
    _, _, screen = _on_terminal(tmp_path, "messy.onnx", stdout_too=True)
    assert b"\x1b[31;1mOSL101\x1b[0m" in screen
    _, _, screen = _on_terminal(
        tmp_path, "messy.onnx", stdout_too=True, env={**_env(), "NO_COLOR": "1"}
    )
    assert b"\x1b" not in screen and b"messy.onnx: OSL101 [*]" in screen


def test_a_files_findings_are_printed_before_the_next_file_is_done(tmp_path: Path) -> None:
    """The second file waits on the lock an in-place --fix takes: the first file's
    findings must be on stdout by then, not at the end of the run."""
    for name in ("a.onnx", "b.onnx"):
        shutil.copyfile(MESSY, tmp_path / name)
    command = _command("-j", "1", "--fix", "--unfixable", "ALL", "a.onnx", "b.onnx")
    with open(tmp_path / "b.onnx", "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, env=_env())
        assert proc.stdout is not None
        early = b""
        deadline = time.monotonic() + 120  # a check of messy.onnx takes well under 1 s
        while early.count(b"\n") < 6 and time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if ready:
                early += os.read(proc.stdout.fileno(), 65536)
        assert proc.poll() is None  # b.onnx is still waiting for the lock
    rest, _ = proc.communicate(timeout=DEADLINE)
    assert early.decode().splitlines() == [
        line for line in (early + rest).decode().splitlines() if line.startswith("a.onnx: ")
    ]
    whole = subprocess.run(command, cwd=tmp_path, capture_output=True, env=_env(), check=False)
    assert early + rest == whole.stdout  # the same bytes as a run nothing held up
    assert whole.stdout.decode().endswith("Found 12 errors (0 fixed, 12 remaining).\n")


@pytest.mark.parametrize("fmt", ["concise", "full"])
def test_streamed_text_is_the_text_of_the_whole_run(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
) -> None:
    """File by file, the text formats print what rendering all the findings at once
    does: the findings of the first file, then the second's, then the summary."""
    names = ("a.onnx", "b.onnx")
    for name in names:
        shutil.copyfile(MESSY, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    assert main(["--no-cache", "--isolated", "--output-format", fmt, *names]) == 1
    out = capsys.readouterr().out
    results = [process_file(Path(name), Settings(), RunOptions(), name) for name in names]
    findings = [finding for result in results for finding in result.findings]
    assert [f.path for f in findings] == ["a.onnx"] * 6 + ["b.onnx"] * 6
    assert out == FORMATTERS[fmt](findings, RunInfo()) + summary(results, fixing=False)


def test_silent_prints_nothing_and_keeps_the_exit_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copyfile(MESSY, tmp_path / "messy.onnx")
    (tmp_path / "model.data").write_bytes(b"\0" * 8)  # "no model uses it": a warning
    path, data = str(tmp_path / "messy.onnx"), str(tmp_path / "model.data")
    for args in ([path, data], ["--output-format", "json", path], ["--show-fixes", "--diff", path]):
        assert main(["--no-cache", "-s", *args]) == 1
        assert capsys.readouterr() == ("", "")
    assert main(["--no-cache", "-s", "--fix", path]) == 0
    assert capsys.readouterr() == ("", "")
    assert main(["--no-cache", path]) == 0  # it was fixed, silently
    assert capsys.readouterr().out == "All checks passed!\n"
    # An error that stops the run is still said (as ruff's "ruff failed").
    assert main(["-s", "--select", "NOPE", path]) == 2
    assert "NOPE" in capsys.readouterr().err
