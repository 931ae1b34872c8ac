"""OSL401 conv-bn."""

from __future__ import annotations

from fusion_models import arr, check, fixed_ok, init, model, ops, vi
from onnx import helper

from onnxslim_lint.findings import FixSafety
from onnxslim_lint.rules.conv_bn import ConvBn as R
from onnxslim_lint.rules.registry import ALL_RULES

BN_INPUTS = ["s", "b", "m", "v"]


def bn_inits(c=4):
    return [
        init("s", arr(c, low=0.5, high=2)),
        init("b", arr(c)),
        init("m", arr(c)),
        init("v", arr(c, low=0.1, high=2)),
    ]


def conv_bn(*, bias=True, transpose=False, extra_reader=False, bn_outputs=("z",)):
    op = "ConvTranspose" if transpose else "Conv"
    weight = arr(3, 4, 3, 3) if transpose else arr(4, 3, 3, 3)
    conv_inputs = ["x", "W", "B"] if bias else ["x", "W"]
    nodes = [
        helper.make_node(op, conv_inputs, ["y"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node(
            "BatchNormalization", ["y", *BN_INPUTS], list(bn_outputs), name="bn", epsilon=1e-3
        ),
    ]
    outputs = [vi("z", [2, 4, 6, 6])]
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["y"], ["r"], name="relu"))
        outputs.append(vi("r", [2, 4, 6, 6]))
    inits = [init("W", weight), *bn_inits()]
    if bias:
        inits.append(init("B", arr(4)))
    return model(nodes, [vi("x", [2, 3, 6, 6])], outputs, inits, opset=14)


def test_registered_numeric():
    assert R in ALL_RULES and R.safety is FixSafety.NUMERIC


def test_finds_and_fixes():
    m = conv_bn()
    (finding,) = check(R, m)
    assert finding.code == "OSL401" and finding.name == "conv-bn"
    assert finding.count == 1 and finding.nodes == 1
    assert [loc.name for loc in finding.locations] == ["bn"]
    assert finding.nbytes > 64
    fixed = fixed_ok(R, m)
    assert ops(fixed) == ["Conv"]
    assert fixed.graph.node[0].output[0] == "z"
    assert sorted(t.name for t in fixed.graph.initializer) == ["B", "W"]


def test_without_bias_and_transpose():
    assert ops(fixed_ok(R, conv_bn(bias=False))) == ["Conv"]
    assert ops(fixed_ok(R, conv_bn(transpose=True))) == ["ConvTranspose"]


def test_conv_output_read_elsewhere_not_fused():
    assert check(R, conv_bn(extra_reader=True)) == []


def test_training_outputs_not_fused():
    m = conv_bn(bn_outputs=("z", "rm", "rv"))
    del m.graph.value_info[:]
    m.graph.node[1].attribute.append(helper.make_attribute("training_mode", 1))
    assert check(R, m) == []
    m.graph.node[1].ClearField("attribute")
    assert check(R, m) == []  # still has running-stat outputs


def test_shared_weight_not_fused():
    m = conv_bn()
    m.graph.node.append(helper.make_node("Conv", ["x", "W"], ["y2"], name="conv2"))
    m.graph.output.append(vi("y2", [2, 4, 6, 6]))
    assert check(R, m) == []


def test_overridable_stats_not_fused():
    m = conv_bn()
    m.graph.input.append(vi("m", [4]))
    assert check(R, m) == []
