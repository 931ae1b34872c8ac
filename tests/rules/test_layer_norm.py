"""OSL406 layer-norm: the spelled-out layer normalization becomes one node."""

from __future__ import annotations

from functools import partial

import graphs
import onnx
import pytest
from graphs import parse

from onnxslim_lint.findings import FixSafety
from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.rules.layer_norm import LayerNorm

check = partial(graphs.check, LayerNorm)

DECOMPOSED = """
g (float[2,3,8] x) => (float[2,3,8] y) {
    axes = Constant <value = int64[1] {-1}> ()
    two = Constant <value = float {2.0}> ()
    eps = Constant <value = float {1e-5}> ()
    gamma = Constant <value = float[8] {1.0, 0.5, 2.0, 1.5, 1.0, 0.25, 3.0, 1.0}> ()
    beta = Constant <value = float[8] {0.0, 0.1, -0.2, 0.3, 0.0, 0.5, -1.0, 2.0}> ()
    [mean] m = ReduceMean (x, axes)
    [sub] d = Sub (x, m)
    [pow] p = Pow (d, two)
    [var] v = ReduceMean (p, axes)
    [add_eps] ve = Add (v, eps)
    [sqrt] s = Sqrt (ve)
    [div] n = Div (d, s)
    [scale] g = Mul (n, gamma)
    [shift] y = Add (g, beta)
}
"""


def fused(model: onnx.ModelProto) -> onnx.ModelProto:
    fixed = apply_fixes(model, [LayerNorm()], may_fix=lambda finding: True).model
    assert check(fixed) == []
    onnx.checker.check_model(fixed, full_check=True)
    assert check_interface(model, fixed) is None
    report = verify_models(model, fixed)
    assert report.passed, report
    return fixed


def test_numeric_rule() -> None:
    assert LayerNorm.safety is FixSafety.NUMERIC


def test_decomposed_layer_norm_becomes_one_node() -> None:
    model = parse(DECOMPOSED, opset=18)
    (finding,) = check(model)
    assert finding.nodes == 8
    assert [loc.name for loc in finding.locations] == ["shift"]
    fixed = fused(model)
    (node,) = [n for n in fixed.graph.node if n.op_type == "LayerNormalization"]
    assert list(node.input) == ["x", "gamma", "beta"] and list(node.output) == ["y"]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    assert attrs["axis"] == -1 and attrs["epsilon"] == pytest.approx(1e-5)


def test_square_as_mul_and_no_bias() -> None:
    text = DECOMPOSED.replace("[pow] p = Pow (d, two)", "[pow] p = Mul (d, d)")
    text = text.replace("[shift] y = Add (g, beta)", "[shift] y = Identity (g)")
    model = parse(text, opset=18)
    (finding,) = check(model)
    fixed = fused(model)
    (node,) = [n for n in fixed.graph.node if n.op_type == "LayerNormalization"]
    assert list(node.input) == ["x", "gamma"]
    assert finding.nodes == 7  # eight nodes become one


@pytest.mark.parametrize(
    ("text", "opset"),
    [
        (DECOMPOSED, 13),  # no LayerNormalization before opset 17
        (DECOMPOSED.replace("{-1}> ()\n    two", "{1}> ()\n    two"), 18),  # not the last axis
        (DECOMPOSED.replace("=> (float[2,3,8] y)", "=> (float[2,3,8] y, float[2,3,8] d)"), 18),
    ],
)
def test_left_alone(text: str, opset: int) -> None:
    assert check(parse(text, opset=opset)) == []
