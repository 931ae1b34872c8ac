"""OSL405 gelu: the spelled-out GELU becomes one Gelu node (opset 20)."""

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
from onnxslim_lint.rules.gelu import Gelu

check = partial(graphs.check, Gelu)

ERF = """
g (float[2,8] x) => (float[2,8] y) {
    sqrt2 = Constant <value = float {1.4142135}> ()
    one = Constant <value = float {1.0}> ()
    half = Constant <value = float {0.5}> ()
    [div] d = Div (x, sqrt2)
    [erf] e = Erf (d)
    [add] a = Add (e, one)
    [mul] m = Mul (x, a)
    [half] y = Mul (m, half)
}
"""

TANH = """
g (float[2,8] x) => (float[2,8] y) {
    three = Constant <value = float {3.0}> ()
    c = Constant <value = float {0.044715}> ()
    k = Constant <value = float {0.7978846}> ()
    one = Constant <value = float {1.0}> ()
    half = Constant <value = float {0.5}> ()
    [pow] p = Pow (x, three)
    [cube] q = Mul (p, c)
    [inner] i = Add (x, q)
    [scale] s = Mul (i, k)
    [tanh] t = Tanh (s)
    [plus] a = Add (t, one)
    [halfx] h = Mul (half, x)
    [out] y = Mul (h, a)
}
"""


BROADCAST = ERF.replace("float {0.5}", "float[1,1,1] {0.5}").replace(
    "=> (float[2,8] y)", "=> (float[1,2,8] y)"
)


def fused(model: onnx.ModelProto) -> onnx.ModelProto:
    result = apply_fixes(model, [Gelu()], may_fix=lambda finding: True)
    fixed = result.model
    assert check(fixed) == []
    onnx.checker.check_model(fixed, full_check=True)
    assert check_interface(model, fixed) is None
    report = verify_models(model, fixed)  # numeric: within rtol/atol, not bit for bit
    assert report.passed, report
    return fixed


def gelus(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type == "Gelu"]


def test_numeric_rule() -> None:
    assert Gelu.safety is FixSafety.NUMERIC


def test_erf_form() -> None:
    model = parse(ERF, opset=20)
    (finding,) = check(model)
    assert finding.count == finding.nodes == 4
    assert [loc.name for loc in finding.locations] == ["half"]
    fixed = fused(model)
    (gelu,) = gelus(fixed)
    assert list(gelu.input) == ["x"] and list(gelu.output) == ["y"]
    assert not gelu.attribute  # approximate = "none", the default


def test_tanh_form() -> None:
    model = parse(TANH, opset=20)
    (finding,) = check(model)
    assert finding.nodes == 7
    fixed = fused(model)
    (gelu,) = gelus(fixed)
    assert [(a.name, a.s) for a in gelu.attribute] == [("approximate", b"tanh")]
    assert [n.op_type for n in fixed.graph.node if n.op_type != "Constant"] == ["Gelu"]


@pytest.mark.parametrize(
    ("text", "opset"),
    [
        (ERF, 17),  # Gelu exists from opset 20 on
        (ERF.replace("{0.5}", "{0.6}"), 20),  # not the GELU constant
        (ERF.replace("=> (float[2,8] y)", "=> (float[2,8] y, float[2,8] e)"), 20),
        (TANH.replace("{0.044715}", "{0.05}"), 20),
        # the constant broadcasts x to another shape: Gelu(x) would not keep it
        (
            ERF.replace("float {0.5}", "float[1,1,1] {0.5}").replace(
                "=> (float[2,8] y)", "=> (float[1,2,8] y)"
            ),
            20,
        ),
    ],
)
def test_left_alone(text: str, opset: int) -> None:
    assert check(parse(text, opset=opset)) == []
