"""OSL402 conv-add."""

from __future__ import annotations

from fusion_models import arr, check, fixed_ok, init, model, ops, vi
from onnx import helper

from onnxslim_lint.findings import FixSafety
from onnxslim_lint.rules.conv_add import ConvAdd as R
from onnxslim_lint.rules.registry import ALL_RULES


def conv_add(bias_shape=(4, 1, 1), *, conv_bias=False, first=False, extra_reader=False):
    inputs = ["x", "W", "B"] if conv_bias else ["x", "W"]
    add_inputs = ["c", "y"] if first else ["y", "c"]
    nodes = [
        helper.make_node("Conv", inputs, ["y"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Add", add_inputs, ["z"], name="add"),
    ]
    outputs = [vi("z", [2, 4, 6, 6])]
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["y"], ["r"], name="relu"))
        outputs.append(vi("r", [2, 4, 6, 6]))
    inits = [init("W", arr(4, 3, 3, 3)), init("c", arr(*bias_shape))]
    if conv_bias:
        inits.append(init("B", arr(4)))
    return model(nodes, [vi("x", [2, 3, 6, 6])], outputs, inits)


def test_registered_numeric():
    assert R in ALL_RULES and R.safety is FixSafety.NUMERIC


def test_finds_and_fixes():
    m = conv_add(conv_bias=True)
    (finding,) = check(R, m)
    assert finding.code == "OSL402" and finding.name == "conv-add"
    assert finding.count == 1 and finding.nodes == 1
    assert [loc.name for loc in finding.locations] == ["add"]
    assert finding.nbytes > 0
    fixed = fixed_ok(R, m)
    assert ops(fixed) == ["Conv"] and fixed.graph.node[0].output[0] == "z"
    assert sorted(t.name for t in fixed.graph.initializer) == ["B", "W"]


def test_shapes_and_operand_order():
    assert ops(fixed_ok(R, conv_add((1, 4, 1, 1), first=True))) == ["Conv"]
    assert ops(fixed_ok(R, conv_add((4, 1, 1)))) == ["Conv"]


def test_left_alone():
    assert check(R, conv_add((4, 6, 6))) == []  # not per-channel
    assert check(R, conv_add((1, 1, 1, 1))) == []  # scalar broadcast
    assert check(R, conv_add(extra_reader=True)) == []
    m = conv_add()
    m.graph.input.append(vi("c", [4, 1, 1]))  # overridable
    assert check(R, m) == []


def test_conv_transpose():
    nodes = [
        helper.make_node("ConvTranspose", ["x", "W"], ["y"], name="convt", strides=[2, 2]),
        helper.make_node("Add", ["y", "c"], ["z"], name="add"),
    ]
    inits = [init("W", arr(3, 4, 2, 2)), init("c", arr(1, 4, 1, 1))]
    m = model(nodes, [vi("x", [2, 3, 5, 5])], [vi("z", [2, 4, 10, 10])], inits)
    (finding,) = check(R, m)
    assert [loc.name for loc in finding.locations] == ["add"]
    fixed = fixed_ok(R, m)
    assert ops(fixed) == ["ConvTranspose"] and fixed.graph.node[0].output[0] == "z"
