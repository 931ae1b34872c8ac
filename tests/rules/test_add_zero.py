"""OSL410 add-zero: ``x + 0.0``, a no-op but for the sign of a zero (numeric)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from graphs import check, location_names, parse, run_outputs

from onnxslim_lint.findings import FixSafety
from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.rules.add_zero import AddZero as R
from onnxslim_lint.rules.no_op import NoOp
from onnxslim_lint.rules.registry import ALL_RULES

_W = "float[8,8] W = {" + ", ".join(f"{(i * 37 % 17 - 8) / 8:.3f}" for i in range(64)) + "}"


_ZEROS = "float[8] z = {0,0,0,0,0,0,0,0}"


def mm_add(zero: str = _ZEROS, add: str = "Add(m, z)", after: str = "Relu") -> onnx.ModelProto:
    return parse(
        f"g (float[batch,8] x) => (float[batch,8] y) <{_W}, {zero}> {{\n"
        f" [mm] m = MatMul(x, W)\n [add] a = {add}\n [after] y = {after}(a) }}"
    )


def fixed_ok(m: onnx.ModelProto) -> onnx.ModelProto:
    fixed = apply_fixes(m, [R()], may_fix=lambda f: True).model
    assert check(R, fixed) == []
    onnx.checker.check_model(fixed, full_check=True)
    assert check_interface(m, fixed) is None
    assert fixed.ByteSize() <= m.ByteSize()
    report = verify_models(m, fixed)
    assert report.passed and report.max_diff == 0.0, report
    return fixed


def test_registered_numeric():
    assert R in ALL_RULES and R.safety is FixSafety.NUMERIC


def test_finds_and_fixes_a_zero_bias():
    m = mm_add()
    (finding,) = check(R, m)
    assert finding.code == "OSL410" and finding.name == "add-zero" and finding.count == 1
    assert location_names(finding) == ["add"]
    fixed = fixed_ok(m)
    assert [n.op_type for n in fixed.graph.node] == ["MatMul", "Relu"]
    assert fixed.graph.node[1].input[0] == "m"


def test_it_changes_only_the_sign_of_a_zero():
    """Why the fix is numeric: -0.0 + 0.0 is +0.0, the fixed model returns -0.0."""
    m = parse(
        "g (float[3] x) => (float[3] y) <float[3] z = {0, 0, 0}> { [neg] n = Neg(x)\n"
        " [add] y = Add(n, z) }"
    )
    fixed = fixed_ok(m)
    assert [n.op_type for n in fixed.graph.node] == ["Neg"]  # y keeps its name
    assert fixed.graph.node[0].output[0] == "y"
    x = np.array([0.0, 1.5, -0.0], np.float32)
    (want,), (got,) = run_outputs(m, {"x": x}), run_outputs(fixed, {"x": x})
    assert np.array_equal(want, got)  # equal values...
    assert np.signbit(got[0]) and not np.signbit(want[0])  # ...but for a zero's sign


@pytest.mark.parametrize(
    "zero, add",
    [
        ("float[8] z = {0,0,0,0,0,0,0,0}", "Add(z, m)"),
        ("float z = {0}", "Add(m, z)"),
        ("float[1,8] z = {0,0,0,0,0,0,0,0}", "Add(m, z)"),
        ("float z = {-0.0}", "Sub(m, z)"),
    ],
)
def test_operand_order_broadcasts_and_sub(zero, add):
    assert [n.op_type for n in fixed_ok(mm_add(zero, add)).graph.node] == ["MatMul", "Relu"]


def test_a_computed_zero_and_the_graph_output():
    m = parse(
        f"g (float[batch,8] x) => (float[batch,8] y) <{_W}, float[8] one = {{1,1,1,1,1,1,1,1}}>"
        " {\n"
        " [mm] m = MatMul(x, W)\n [sub] z = Sub(one, one)\n [add] y = Add(m, z) }"
    )
    fixed = fixed_ok(m)
    assert [n.op_type for n in fixed.graph.node if n.op_type != "Sub"] == ["MatMul"]
    assert fixed.graph.node[0].output[0] == "y"


def test_a_chain_goes_in_two_rounds():
    m = parse(
        f"g (float[batch,8] x) => (float[batch,8] y) <{_W}, float[8] z = {{0,0,0,0,0,0,0,0}}> {{\n"
        " [mm] m = MatMul(x, W)\n [add] a = Add(m, z)\n [add2] b = Add(a, z)\n [r] y = Relu(b) }"
    )
    (finding,) = check(R, m)
    assert location_names(finding) == ["add"]  # add2 reads add: the next round
    assert [n.op_type for n in fixed_ok(m).graph.node] == ["MatMul", "Relu"]


def test_left_alone():
    # exact no-ops are no-op's (OSL205), which removes them by default
    for zero, add, after in [
        ("float z = {-0.0}", "Add(m, z)", "Relu"),
        ("float z = {0}", "Sub(m, z)", "Relu"),
        ("float z = {0}", "Add(m, z)", "Exp"),
    ]:
        m = mm_add(zero, add, after)
        assert check(R, m) == [] and len(check(NoOp, m)) == 1
    assert check(R, mm_add("float z = {0.5}")) == []  # not a zero
    assert check(R, mm_add("float[2,8] z = {0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0}")) == []  # grows m
    assert check(R, mm_add("float z = {0}", "Sub(z, m)")) == []  # 0 - x is -x
    m = mm_add()
    m.graph.input.append(onnx.helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [8]))
    assert check(R, m) == []  # overridable: a caller may pass another bias
    ints = parse(
        "g (int64[4] x) => (int64[4] y) <int64[4] z = {0, 0, 0, 0}> { [add] a = Add(x, z)\n"
        " [n] y = Neg(a) }"
    )
    assert check(R, ints) == []  # exact for integers: no-op's
    direct = parse("g (float[3] x) => (float[3] y) <float[3] z = {0,0,0}> { [add] y = Add(x, z) }")
    assert check(R, direct) == []  # y is x's value: no node can write it under y's name


def test_inside_an_if_branch_reading_an_outer_value():
    m = parse(
        f"g (float[batch,8] x, bool c) => (float[batch,8] y) <{_W}, {_ZEROS}> {{\n"
        " [mm] m = MatMul(x, W)\n"
        " [if] y = If(c) <\n"
        "   then_branch = t () => (float[batch,8] ty) { [r] r = Relu(m)\n"
        "     [add] a = Add(r, z)\n [n] ty = Neg(a) },\n"
        "   else_branch = e () => (float[batch,8] ey) { [add_out] ey = Add(m, z) }> }"
    )
    (finding,) = check(R, m)
    assert location_names(finding) == ["add"]  # ey = m + 0: m is the outer graph's
    fixed = fixed_ok(m)
    then = fixed.graph.node[1].attribute[0].g
    assert [n.op_type for n in then.node] == ["Relu", "Neg"]
    x = np.linspace(-1, 1, 16, dtype=np.float32).reshape(2, 8)
    for branch in (True, False):
        feeds = {"x": x, "c": np.array(branch)}
        np.testing.assert_array_equal(run_outputs(m, feeds)[0], run_outputs(fixed, feeds)[0])
