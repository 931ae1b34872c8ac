"""OSL409 conv-mul."""

from __future__ import annotations

import numpy as np
import pytest
from fusion_models import arr, check, fixed_ok, init, model, ops, vi
from onnx import helper, numpy_helper

from onnxslim_lint.findings import FixSafety
from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.rules.conv_add import ConvAdd
from onnxslim_lint.rules.conv_mul import ConvMul as R
from onnxslim_lint.rules.registry import ALL_RULES


def conv_mul(scale_shape=(1, 4, 1, 1), *, conv_bias=False, first=False, extra_reader=False):
    inputs = ["x", "W", "B"] if conv_bias else ["x", "W"]
    mul_inputs = ["s", "y"] if first else ["y", "s"]
    nodes = [
        helper.make_node("Conv", inputs, ["y"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Mul", mul_inputs, ["z"], name="mul"),
    ]
    outputs = [vi("z", [2, 4, 6, 6])]
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["y"], ["r"], name="relu"))
        outputs.append(vi("r", [2, 4, 6, 6]))
    inits = [init("W", arr(4, 3, 3, 3)), init("s", arr(*scale_shape, low=0.5, high=2.0))]
    if conv_bias:
        inits.append(init("B", arr(4)))
    return model(nodes, [vi("x", [2, 3, 6, 6])], outputs, inits)


def test_registered_numeric():
    assert R in ALL_RULES and R.safety is FixSafety.NUMERIC


def test_finds_and_fixes():
    m = conv_mul(conv_bias=True)
    (finding,) = check(R, m)
    assert finding.code == "OSL409" and finding.name == "conv-mul"
    assert finding.count == 1 and finding.nodes == 1
    assert [loc.name for loc in finding.locations] == ["mul"]
    fixed = fixed_ok(R, m)
    assert ops(fixed) == ["Conv"] and fixed.graph.node[0].output[0] == "z"
    assert sorted(t.name for t in fixed.graph.initializer) == ["B", "W"]
    weights = {t.name: numpy_helper.to_array(t) for t in fixed.graph.initializer}
    old = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    np.testing.assert_allclose(weights["W"], old["W"] * old["s"].reshape(4, 1, 1, 1), rtol=1e-6)
    np.testing.assert_allclose(weights["B"], old["B"] * old["s"].reshape(4), rtol=1e-6)


@pytest.mark.parametrize("shape", [(4, 1, 1), (1, 4, 1, 1), (1,), (), (1, 1, 1, 1)])
def test_scale_shapes_and_operand_order(shape):
    assert ops(fixed_ok(R, conv_mul(shape))) == ["Conv"]
    assert ops(fixed_ok(R, conv_mul(shape, first=True))) == ["Conv"]


def test_the_add_after_it_then_becomes_the_bias():
    """Conv -> Mul -> Add, an exporter's lowered BatchNormalization: two folds."""
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["y"], name="conv"),
        helper.make_node("Mul", ["y", "s"], ["m"], name="mul"),
        helper.make_node("Add", ["m", "t"], ["z"], name="add"),
    ]
    inits = [init("W", arr(4, 3, 3, 3)), init("s", arr(1, 4, 1, 1)), init("t", arr(1, 4, 1, 1))]
    m = model(nodes, [vi("x", [2, 3, 6, 6])], [vi("z", [2, 4, 4, 4])], inits)
    fixed = apply_fixes(m, [R(), ConvAdd()], may_fix=lambda f: True).model
    assert ops(fixed) == ["Conv"] and len(fixed.graph.node[0].input) == 3
    assert verify_models(m, fixed).passed


def test_a_zero_bias_stays_as_it_is():
    m = conv_mul(conv_bias=True)
    m.graph.initializer[2].CopyFrom(init("B", np.zeros(4, np.float32)))
    fixed = fixed_ok(R, m)
    (bias,) = [t for t in fixed.graph.initializer if t.name == "B"]
    assert not numpy_helper.to_array(bias).any()


def test_left_alone():
    assert check(R, conv_mul((4, 6, 6))) == []  # not per-channel
    assert check(R, conv_mul((2, 4, 1, 1))) == []  # broadcasts over the batch
    assert check(R, conv_mul(extra_reader=True)) == []  # the Conv's output is read twice
    m = conv_mul()
    m.graph.input.append(vi("s", [1, 4, 1, 1]))  # overridable
    assert check(R, m) == []
    m = conv_mul()
    m.graph.initializer[1].CopyFrom(init("s", np.array([1, np.inf, 1, 1], np.float32)))
    assert check(R, m) == []  # inf * 0 in a weight would become NaN
    m = conv_mul()
    m.graph.node.append(helper.make_node("Conv", ["x", "W"], ["w2"], name="conv2"))
    m.graph.output.append(vi("w2", [2, 4, 4, 4]))
    assert check(R, m) == []  # the weight is shared


def test_conv_transpose_is_left_alone():
    nodes = [
        helper.make_node("ConvTranspose", ["x", "W"], ["y"], name="convt"),
        helper.make_node("Mul", ["y", "s"], ["z"], name="mul"),
    ]
    inits = [init("W", arr(3, 4, 2, 2)), init("s", arr(1, 4, 1, 1))]
    m = model(nodes, [vi("x", [2, 3, 5, 5])], [vi("z", [2, 4, 6, 6])], inits)
    assert check(R, m) == []


def test_dynamic_batch_and_a_1d_convolution():
    nodes = [
        helper.make_node("Conv", ["x", "W", "B"], ["y"], name="conv"),
        helper.make_node("Mul", ["y", "s"], ["z"], name="mul"),
    ]
    inits = [init("W", arr(5, 3, 3)), init("B", arr(5)), init("s", arr(5, 1))]
    m = model(nodes, [vi("x", ["batch", 3, "time"])], [vi("z", ["batch", 5, None])], inits)
    assert ops(fixed_ok(R, m)) == ["Conv"]
