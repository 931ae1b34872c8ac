"""--fix with every rule on the committed real exports: verified, written, smaller."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx
import pytest

from onnxslim_lint.config import Settings
from onnxslim_lint.fixing.engine import count_nodes
from onnxslim_lint.pipeline import RunOptions, process_file

EXPORTED = sorted((Path(__file__).parent.parent / "models" / "exported").glob("*.onnx"))
CORE = ("OSL101", "OSL102", "OSL103", "OSL201", "OSL202")
OURS = ("OSL203", "OSL204", "OSL205", "OSL206")


def _fix(source: Path, folder: Path, select: tuple[str, ...] | None):  # type: ignore[no-untyped-def]
    folder.mkdir()
    target = folder / source.name
    shutil.copyfile(source, target)
    result = process_file(target, Settings(select=select), RunOptions(fix=True))
    report = result.fix_report
    assert report is not None
    assert report.verdict == "passed", report.reason
    assert report.written
    assert report.size_after <= report.size_before
    assert target.stat().st_size <= source.stat().st_size
    return count_nodes(onnx.load(str(target)))


@pytest.mark.parametrize("source", EXPORTED, ids=lambda p: p.stem)
def test_fix_with_folding_rules_beats_the_core_rules(source: Path, tmp_path: Path) -> None:
    core = _fix(source, tmp_path / "core", CORE)
    ours = _fix(source, tmp_path / "ours", CORE + OURS)
    everything = _fix(source, tmp_path / "all", None)
    assert ours < core
    assert everything <= ours
