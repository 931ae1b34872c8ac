"""The fix engine: one set of gates, verification and retry for the CLI, the API and
``Rule.run``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import onnxslim_lint
from onnxslim_lint import api, pipeline
from onnxslim_lint.config import Settings, VerifySettings
from onnxslim_lint.findings import Finding, FixAvailability, FixSafety
from onnxslim_lint.fixing.engine import fix_model
from onnxslim_lint.fixing.gates import check_not_larger, refusal
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.model.load import load_model
from onnxslim_lint.pipeline import RunOptions, process_file
from onnxslim_lint.results import Verdict
from onnxslim_lint.rules.base import CheckContext, Rule
from onnxslim_lint.rules.unused_initializer import UnusedInitializer

HEADER = '<ir_version: 8, opset_import: ["" : 17]>\n'


def model_with_unused_weight() -> onnx.ModelProto:
    """y = x + c, plus an initializer nothing reads (unused-initializer's finding)."""
    model = onnx.parser.parse_model(
        HEADER
        + """
        g (float[2, 3] x) => (float[2, 3] y) {
            y = Add(x, c)
        }"""
    )
    model.graph.initializer.extend(
        [
            numpy_helper.from_array(np.ones((1,), np.float32), "c"),
            numpy_helper.from_array(np.zeros((64,), np.float32), "unused"),
        ]
    )
    return model


def _constant(model: onnx.ModelProto) -> onnx.TensorProto:
    return next(t for t in model.graph.initializer if t.name == "c")


class _TestRule(Rule):
    """A rule whose fix does something the engine must catch."""

    summary = "test rule"
    availability = FixAvailability.ALWAYS

    def check(self, ctx: CheckContext) -> list[Finding]:
        if self.done(ctx.index.model):
            return []
        return [Finding(ctx.path, self.code, self.name, "test", fixable=True, safety=self.safety)]

    def fix(self, index: ModelIndex, finding: Finding) -> bool:
        self.edit(index.model)
        return True

    def done(self, model: onnx.ModelProto) -> bool:
        raise NotImplementedError

    def edit(self, model: onnx.ModelProto) -> None:
        raise NotImplementedError


class ChangesValues(_TestRule):
    """A numeric fix that changes the constant: verification fails."""

    # A real numeric code, so that the fix policy (fixable = ALL) lets it through.
    code = "OSL401"
    name = "conv-bn"
    safety = FixSafety.NUMERIC

    def done(self, model: onnx.ModelProto) -> bool:
        return numpy_helper.to_array(_constant(model)).tolist() == [2.0]

    def edit(self, model: onnx.ModelProto) -> None:
        _constant(model).raw_data = np.full((1,), 2.0, np.float32).tobytes()


class Grows(_TestRule):
    """An exact fix that adds an unread weight: the model gets larger."""

    code = "OSL102"
    name = "dead-node"
    safety = FixSafety.EXACT

    def done(self, model: onnx.ModelProto) -> bool:
        return any(t.name == "grown" for t in model.graph.initializer)

    def edit(self, model: onnx.ModelProto) -> None:
        model.graph.initializer.append(
            numpy_helper.from_array(np.zeros((1024,), np.float32), "grown")
        )


class BreaksTheGraph(_TestRule):
    """An exact fix that reads a value nothing produces: the checker refuses it."""

    code = "OSL103"
    name = "duplicate-constant"
    safety = FixSafety.EXACT

    def done(self, model: onnx.ModelProto) -> bool:
        return model.graph.node[0].input[1] == "nowhere"

    def edit(self, model: onnx.ModelProto) -> None:
        model.graph.node[0].input[1] = "nowhere"


def use_rules(monkeypatch: pytest.MonkeyPatch, *rules: type[Rule]) -> None:
    """The API and the pipeline both pick the rules with ``rules_for``."""

    def rules_for(path: Path, settings: Settings) -> list[Rule]:
        return [rule() for rule in rules]

    monkeypatch.setattr(api, "rules_for", rules_for)
    monkeypatch.setattr(pipeline, "rules_for", rules_for)


def test_api_fix_of_a_model_leaves_out_the_failing_rule_like_the_cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_rules(monkeypatch, UnusedInitializer, ChangesValues)
    model = model_with_unused_weight()
    in_memory = onnxslim_lint.fix(model, unsafe_fixes=True)
    assert isinstance(in_memory, api.ModelFix)
    assert in_memory.verdict is Verdict.PASSED
    assert in_memory.passed
    assert [f.code for f in in_memory.fixed] == ["OSL101"]
    assert in_memory.report is not None
    assert in_memory.report.left_out.startswith("OSL401 left out, its fix did not verify: ")
    assert [t.name for t in in_memory.model.graph.initializer] == ["c"]
    assert numpy_helper.to_array(_constant(in_memory.model)).tolist() == [1.0]

    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    on_disk = onnxslim_lint.fix(path, unsafe_fixes=True)
    assert isinstance(on_disk, pipeline.FileResult)
    assert on_disk.fix_report is not None
    assert on_disk.fix_report.verdict is Verdict.PASSED
    assert on_disk.fix_report.left_out == in_memory.report.left_out
    assert on_disk.fix_report.written
    assert load_model(path).model == in_memory.model


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (Grows, "the fixed model would be larger ("),
        (BreaksTheGraph, "the fixed model fails the onnx checker: "),
    ],
)
def test_api_fix_of_a_model_refuses_what_the_cli_refuses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, rule: type[Rule], reason: str
) -> None:
    use_rules(monkeypatch, rule)
    model = model_with_unused_weight()
    result = onnxslim_lint.fix(model)
    assert isinstance(result, api.ModelFix)
    assert result.verdict is Verdict.REFUSED
    assert not result.passed
    assert result.fixed == []
    assert result.verification is None  # refused before onnxruntime
    assert result.report is not None and result.report.reason.startswith(reason)
    assert result.model == model and result.model is not model

    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    before = path.read_bytes()
    on_disk = process_file(path, Settings(), RunOptions(fix=True))
    assert on_disk.fix_report is not None
    assert on_disk.fix_report.verdict is Verdict.REFUSED
    assert on_disk.fix_report.reason == result.report.reason
    assert on_disk.refused
    assert path.read_bytes() == before


def test_rule_run_verifies_a_numeric_fix_by_default() -> None:
    model = model_with_unused_weight()
    assert ChangesValues().run(model) == model  # refused: the outputs changed
    unverified = ChangesValues().run(model, verify=False)
    assert numpy_helper.to_array(_constant(unverified)).tolist() == [2.0]


def test_rule_run_keeps_the_gates_without_verification() -> None:
    model = model_with_unused_weight()
    assert Grows().run(model, verify=False) == model
    assert BreaksTheGraph().run(model, verify=False) == model


def test_fix_model_verdicts() -> None:
    model = model_with_unused_weight()
    rules = [UnusedInitializer()]
    exact = lambda finding: finding.safety is FixSafety.EXACT  # noqa: E731
    verified = fix_model(model, rules, exact, VerifySettings())
    assert verified.verdict is Verdict.PASSED and verified.verification is not None
    assert verified.accepted and verified.payload is not None
    unverified = fix_model(model, rules, exact, VerifySettings(enabled=False))
    assert unverified.verdict is Verdict.NOT_VERIFIED and unverified.verification is None
    planned = fix_model(model, rules, exact, VerifySettings(), plan_only=True)
    assert planned.verdict is Verdict.PLANNED and planned.accepted
    clean = verified.model
    assert clean is not None
    nothing = fix_model(clean, rules, exact, VerifySettings())
    assert nothing.report is None and nothing.verdict is None and not nothing.accepted


def test_gates() -> None:
    model = model_with_unused_weight()
    assert check_not_larger(10, 10) is None
    assert check_not_larger(10, 11) == "the fixed model would be larger (11 > 10 bytes)"
    assert refusal(model, model, serialized=None, size_before=1, size_after=1) is None
    other = onnx.ModelProto()
    other.CopyFrom(model)
    other.graph.output[0].name = "z"
    assert refusal(model, other, serialized=None, size_before=1, size_after=1) == (
        "the fix would change the model's interface: output 'y' is missing from the fixed model"
    )


def test_check_of_a_path_reports_the_size_budget(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.onnxslim-lint.budget]\nmax-size = "100 B"\n', encoding="utf-8"
    )
    path = tmp_path / "m.onnx"
    onnx.save(model_with_unused_weight(), path)
    findings = onnxslim_lint.check(path)
    [budget] = [f for f in findings if f.code == "OSL301"]
    size = path.stat().st_size
    assert budget.message == (f"model is {size} B, {size - 100} B above the 100 B budget")
    assert not budget.fixable
