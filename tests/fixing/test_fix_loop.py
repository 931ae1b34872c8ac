"""The fix loop's bookkeeping: what it counts, when it stops, and when verification
compares bits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.findings import Finding, FixSafety
from onnxslim_lint.fixing.apply import MAX_IDLE_ROUNDS, RuleError, apply_fixes
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.model.graphs import all_nodes
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext, Rule
from onnxslim_lint.rules.constant_if import ConstantIf
from onnxslim_lint.rules.tied_weight import TiedWeight

GPT2_LEGACY = Path(__file__).resolve().parents[1] / "models" / "exported" / "gpt2_legacy.onnx"


def test_tied_weight_verifies_bit_for_bit() -> None:
    """The weight becomes a computed Transpose: bit-identical once onnxruntime does not
    prepack constant weights (with prepacking, GPT-2 differed by 1.7e-6)."""
    model = onnx.load(GPT2_LEGACY)
    result = apply_fixes(model, [TiedWeight()])
    assert result.changed and result.exact
    assert len(result.model.graph.initializer) == len(model.graph.initializer) - 1
    report = verify_models(model, result.model, exact=True)
    assert report.passed and report.max_diff == 0.0, report


def _nested_constant_ifs(depth: int) -> onnx.ModelProto:
    """``y = x * 1.5`` inside ``depth`` Ifs on a constant true condition, each branch
    pair another level (the else branches negate, so taking them would show)."""
    body = helper.make_graph(
        [helper.make_node("Mul", ["x", "k"], ["y0"])], "leaf", [], [_out("y0")]
    )
    for level in range(1, depth + 1):
        other = helper.make_graph(
            [helper.make_node("Neg", ["x"], [f"n{level}"])], f"else{level}", [], [_out(f"n{level}")]
        )
        node = helper.make_node("If", ["cond"], [f"y{level}"], then_branch=body, else_branch=other)
        body = helper.make_graph([node], f"then{level}", [], [_out(f"y{level}")])
    graph = helper.make_graph(
        list(body.node)[:1],
        "nested",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [_out(f"y{depth}")],
        [
            numpy_helper.from_array(np.array(True), "cond"),
            numpy_helper.from_array(np.array(1.5, dtype=np.float32), "k"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _out(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [2, 3])


def test_an_if_nested_deeper_than_the_idle_limit_unwraps_fully() -> None:
    """A level a round: 30 rounds of progress, more than the 20 idle rounds allowed."""
    depth = MAX_IDLE_ROUNDS + 10
    model = _nested_constant_ifs(depth)
    onnx.checker.check_model(model, full_check=True)
    result = apply_fixes(model, [ConstantIf()])
    assert result.rounds > MAX_IDLE_ROUNDS
    assert [n.op_type for n in all_nodes(result.model.graph)] == ["Mul"]
    assert [o.name for o in result.model.graph.output] == [f"y{depth}"]
    report = verify_models(model, result.model, exact=True)
    assert report.passed and report.max_diff == 0.0, report


class _Renamer(Rule):
    """Renames the node called ``old`` to ``new``: a fix that removes nothing."""

    old = ""
    new = ""
    name = "renamer"

    def check(self, ctx: CheckContext) -> list[Finding]:
        if not any(ref.node.name == self.old for ref in ctx.index.nodes()):
            return []
        return [
            Finding(ctx.path, self.code, self.name, f"rename {self.old}", True, FixSafety.EXACT)
        ]

    def fix(self, index: ModelIndex, finding: Finding) -> bool:
        for ref in index.nodes():
            if ref.node.name == self.old:
                ref.node.name = self.new
                return True
        return False


class _AToB(_Renamer):
    code, old, new = "OSL901", "a", "b"


class _BToA(_Renamer):
    code, old, new = "OSL902", "b", "a"


def test_two_fixes_that_undo_each_other_raise_instead_of_looping() -> None:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], name="a")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    rules: Sequence[Rule] = [_AToB(), _BToA()]
    with pytest.raises(RuleError, match="removed nothing"):
        apply_fixes(model, rules)
