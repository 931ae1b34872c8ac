"""OSL106 unused-graph-input."""

from __future__ import annotations

import onnx

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext
from onnxslim_lint.rules.registry import ALL_RULES
from onnxslim_lint.rules.unused_graph_input import UnusedGraphInput as R


def check(model):
    return R().check(CheckContext(ModelIndex.build(model), "m.onnx"))


MODEL = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[2] x, int64[2] ids, float[2] w, bool c) => (float[2] y)
    <float[2] w = {1.0, 2.0}>
{
    y = If(c) <
        then_branch = t () => (float[2] a) { a = Neg(x) },
        else_branch = e () => (float[2] b) { b = Abs(x) }
    >
}
"""


def test_registered_report_only():
    assert R in ALL_RULES
    assert R.safety is None


def test_reports_without_fix_and_interface_untouched():
    model = onnx.parser.parse_model(MODEL)
    (finding,) = check(model)
    assert finding.code == "OSL106" and finding.name == "unused-graph-input"
    # x is read inside the subgraphs only; w is an overridable initializer.
    assert [loc.name for loc in finding.locations] == ["ids"]
    assert finding.count == 1
    assert not finding.fixable and finding.safety is None
    assert R().run(model) == model
    assert apply_fixes(model, [R()], may_fix=lambda f: True).model == model


def test_nothing_when_all_read():
    model = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[2] x, float[2] z) => (float[2] y, float[2] z2) {
            y = Neg(x)
            z2 = Identity(z)
        }
        """
    )
    assert check(model) == []
