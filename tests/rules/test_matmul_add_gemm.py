"""OSL404 matmul-add-gemm."""

from __future__ import annotations

from fusion_models import arr, check, fixed_ok, init, model, ops, vi
from onnx import helper

from onnxslim_lint.findings import FixSafety
from onnxslim_lint.rules.matmul_add_gemm import MatMulAddGemm as R
from onnxslim_lint.rules.registry import ALL_RULES


def mm_add(x_shape=(8, 16), bias_shape=(4,), *, first=False, extra_reader=False):
    out = [*x_shape[:-1], 4]
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["y"], name="mm"),
        helper.make_node("Add", ["b", "y"] if first else ["y", "b"], ["z"], name="add"),
    ]
    outputs = [vi("z", out)]
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["y"], ["r"], name="relu"))
        outputs.append(vi("r", out))
    inits = [init("W", arr(16, 4)), init("b", arr(*bias_shape))]
    return model(nodes, [vi("x", list(x_shape))], outputs, inits)


def test_registered_numeric():
    assert R in ALL_RULES and R.safety is FixSafety.NUMERIC


def test_finds_and_fixes():
    m = mm_add()
    (finding,) = check(R, m)
    assert finding.code == "OSL404" and finding.name == "matmul-add-gemm"
    assert finding.count == 1 and finding.nodes == 1
    assert [loc.name for loc in finding.locations] == ["mm"]
    fixed = fixed_ok(R, m)
    assert ops(fixed) == ["Gemm"]
    assert list(fixed.graph.node[0].input) == ["x", "W", "b"]
    assert fixed.graph.node[0].output[0] == "z"


def test_row_bias_and_operand_order():
    assert ops(fixed_ok(R, mm_add(bias_shape=(1, 4), first=True))) == ["Gemm"]


def test_left_alone():
    assert check(R, mm_add(x_shape=(2, 8, 16))) == []  # batched: rank 3
    assert check(R, mm_add(bias_shape=(8, 4))) == []  # not a row bias
    assert check(R, mm_add(extra_reader=True)) == []
    m = mm_add()
    m.graph.input[0].type.tensor_type.ClearField("shape")  # rank unknown
    assert check(R, m) == []
