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


def test_shared_biases_stay_and_each_fused_conv_gets_its_own():
    """After duplicate-constant, convolutions share one bias: a constant one, or the
    dynamo exporter's zero bias spelled Expand(0, shape)."""
    nodes = [
        helper.make_node("Expand", ["zero", "shape"], ["zb"], name="expand"),
        helper.make_node("Conv", ["x", "W1", "zb"], ["y1"], name="c1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["y1", *BN_INPUTS], ["z1"], name="bn1"),
        helper.make_node("Conv", ["x", "W2", "zb"], ["y2"], name="c2", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["y2", "s2", "b2", "m2", "v2"], ["z2"], name="bn2"),
        helper.make_node("Conv", ["x", "W3", "B"], ["y3"], name="c3", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["y3", "s3", "b3", "m3", "v3"], ["z3"], name="bn3"),
        helper.make_node("Conv", ["x", "W4", "B"], ["y4"], name="c4", pads=[1, 1, 1, 1]),
    ]
    inits = [
        init("zero", arr(1) * 0),
        init("shape", [4]),
        init("B", arr(4)),
        *bn_inits(),
        *(init(f"W{i}", arr(4, 3, 3, 3)) for i in range(1, 5)),
    ]
    for suffix in ("2", "3"):
        inits += [
            init(f"s{suffix}", arr(4, low=0.5, high=2)),
            init(f"b{suffix}", arr(4)),
            init(f"m{suffix}", arr(4)),
            init(f"v{suffix}", arr(4, low=0.1, high=2)),
        ]
    outputs = [vi(f"z{i}", [2, 4, 6, 6]) for i in (1, 2, 3)] + [vi("y4", [2, 4, 6, 6])]
    m = model(nodes, [vi("x", [2, 3, 6, 6])], outputs, inits, opset=14)
    (finding,) = check(R, m)
    assert sorted(loc.name for loc in finding.locations) == ["bn1", "bn2", "bn3"]
    fixed = fixed_ok(R, m)
    assert "BatchNormalization" not in ops(fixed)
    convs = {n.name: n for n in fixed.graph.node if n.op_type == "Conv"}
    assert list(convs["c4"].input) == ["x", "W4", "B"]  # the shared bias stays for c4
    assert len({convs[c].input[2] for c in ("c1", "c2", "c3")} | {"B", "zb"}) == 5
