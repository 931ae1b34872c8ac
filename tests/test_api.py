"""The Python API: what the CLI does, from a script."""

from __future__ import annotations

import shutil
from pathlib import Path

import onnx

import onnxslim_lint
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.model.load import load_model
from onnxslim_lint.rules.base import CheckContext
from onnxslim_lint.rules.registry import ALL_RULES
from onnxslim_lint.rules.unused_initializer import UnusedInitializer

MESSY = Path(__file__).resolve().parents[1] / "examples" / "messy.onnx"


def test_check_path_and_model_agree() -> None:
    from_path = onnxslim_lint.check(MESSY, select=["OSL1", "OSL2"])
    from_model = onnxslim_lint.check(onnx.load(MESSY), select=["OSL1", "OSL2"])
    assert [(f.code, f.count, f.nbytes) for f in from_path] == [
        (f.code, f.count, f.nbytes) for f in from_model
    ]
    assert {f.code for f in from_path} >= {"OSL101", "OSL102", "OSL103", "OSL201", "OSL202"}
    assert all(f.path == "<model>" for f in from_model)


def test_check_reports_an_unreadable_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    [finding] = onnxslim_lint.check(empty)
    assert finding.code == "OSL001"
    assert not finding.fixable


def test_fix_model_returns_a_verified_copy() -> None:
    model = onnx.load(MESSY)
    before = model.SerializeToString()
    result = onnxslim_lint.fix(model, ignore=["OSL4"])  # numeric fusions need unsafe
    assert model.SerializeToString() == before  # the input is not changed
    assert result.passed
    assert result.verification is not None and result.verification.max_diff == 0.0
    assert len(result.model.graph.node) < len(model.graph.node)
    assert result.remaining == []
    assert {f.code for f in result.fixed} >= {"OSL101", "OSL103"}


def test_fix_path_writes_in_place(tmp_path: Path) -> None:
    target = tmp_path / "m.onnx"
    shutil.copyfile(MESSY, target)
    result = onnxslim_lint.fix(target, select=["OSL101"])
    assert result.fix_report is not None and result.fix_report.written
    assert result.fix_report.verdict == "passed"
    assert [f.code for f in result.fixed] == ["OSL101"]
    assert len(load_model(target).model.graph.initializer) == 8


def test_verify_reports_passed_and_max_diff(tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.onnx"
    onnxslim_lint.fix(MESSY, output=fixed)
    report = onnxslim_lint.verify(MESSY, fixed, n_samples=2)
    assert report.passed
    assert report.max_diff == 0.0
    assert report.samples == 2


def test_each_rule_runs_as_a_pass() -> None:
    model = onnx.load(MESSY)
    slim = UnusedInitializer().run(model)
    assert len(slim.graph.initializer) == len(model.graph.initializer) - 3
    for rule in ALL_RULES:  # every rule alone leaves nothing fixable for itself
        result = rule().run(model)
        remaining = rule().check(CheckContext(ModelIndex.build(result)))
        assert [f for f in remaining if f.fixable] == []
