"""A fix notices a change made to the model while it ran, and two fixes of one file
at once lose nothing and leave nothing behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from onnxslim_lint import pipeline
from onnxslim_lint.cli import main
from onnxslim_lint.model.litter import MARK
from tests import ci_models


def test_a_change_made_during_the_fix_is_not_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ci_models.write(tmp_path / "m.onnx", dead_floats=64)
    theirs = ci_models.build(dead_floats=8, seed=5).SerializeToString()
    real_write = pipeline.write_model
    calls = []

    def someone_else_writes_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args)
        return real_write(*args, **kwargs)

    real_fix = pipeline.fix_model

    def fix_then_edit(*args, **kwargs):  # type: ignore[no-untyped-def]
        outcome = real_fix(*args, **kwargs)
        path.write_bytes(theirs)  # another program saves the model meanwhile
        return outcome

    monkeypatch.setattr(pipeline, "fix_model", fix_then_edit)
    monkeypatch.setattr(pipeline, "write_model", someone_else_writes_first)
    code = main(["--fix", "-j", "1", "--no-verify", str(path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "changed on disk while it was being fixed" in out
    assert calls == [] and path.read_bytes() == theirs  # their version stands


@pytest.mark.parametrize("external", [False, True], ids=["single-file", "external-data"])
def test_two_fixes_of_one_file_at_once(tmp_path: Path, external: bool) -> None:
    path = ci_models.write(tmp_path / "m.onnx", external=external, dead_floats=200_000)
    command = [sys.executable, "-m", "onnxslim_lint", "--fix", "--no-verify", str(path)]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    codes = [run.wait() for run in runs]
    outputs = [run.stdout.read() for run in runs if run.stdout is not None]
    assert codes == [0, 0], outputs
    model = onnx.load_model(str(path))  # with its data file: consistent
    assert {t.name for t in model.graph.initializer} == {"w"}
    files = sorted(p.name for p in tmp_path.iterdir())
    referenced = {
        entry.value
        for tensor in onnx.load_model(str(path), load_external_data=False).graph.initializer
        for entry in tensor.external_data
        if entry.key == "location"
    }
    assert files == sorted({"m.onnx", *referenced})  # no orphan data file, no temporary
    assert not any(MARK in name for name in files)


def test_a_symlinked_model_is_not_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ci_models.write(tmp_path / "real" / "m.onnx", dead_floats=64)
    link = tmp_path / "link.onnx"
    link.symlink_to(target)
    before = target.read_bytes()
    code = main(["--fix", "--no-verify", "-j", "1", str(link)])
    out = capsys.readouterr().out
    assert code == 1 and "is a symbolic link; nothing written" in out
    assert link.is_symlink() and target.read_bytes() == before
    output = tmp_path / "fixed.onnx"
    assert main(["--fix", "--no-verify", "-o", str(output), str(link)]) == 0
    assert output.stat().st_size < len(before)


def test_a_read_only_model_is_not_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = ci_models.write(tmp_path / "m.onnx", dead_floats=64)
    path.chmod(0o444)
    before = path.read_bytes()
    code = main(["--fix", "--no-verify", "-j", "1", str(path)])
    out = capsys.readouterr().out
    assert code == 1 and "is read-only; nothing written" in out
    assert path.read_bytes() == before and (path.stat().st_mode & 0o777) == 0o444
