"""OSL403 pad-conv."""

from __future__ import annotations

import numpy as np
from fusion_models import arr, check, fixed_ok, init, model, ops, vi
from onnx import helper

from onnxslim_lint.findings import FixSafety
from onnxslim_lint.rules.pad_conv import PadConv as R
from onnxslim_lint.rules.registry import ALL_RULES


def pad_then(op="Conv", pads=(0, 0, 1, 2, 0, 0, 1, 0), value=None, mode="constant"):
    pad_inputs = ["x", "pads"] + (["v"] if value is not None else [])
    if op == "Conv":
        reader = helper.make_node("Conv", ["p", "W"], ["y"], name="conv", pads=[1, 0, 0, 1])
        out = [2, 4, 7, 7]
    else:
        reader = helper.make_node(op, ["p"], ["y"], name="pool", kernel_shape=[3, 3])
        out = [2, 3, 6, 5]
    nodes = [helper.make_node("Pad", pad_inputs, ["p"], name="pad", mode=mode), reader]
    inits = [init("pads", np.array(pads, np.int64)), init("W", arr(4, 3, 3, 3))]
    if value is not None:
        inits.append(init("v", np.array(value, np.float32)))
    return model(nodes, [vi("x", [2, 3, 6, 6])], [vi("y", out)], inits)


def test_registered_numeric():
    assert R in ALL_RULES and R.safety is FixSafety.NUMERIC


def test_finds_and_fixes():
    m = pad_then()
    (finding,) = check(R, m)
    assert finding.code == "OSL403" and finding.name == "pad-conv"
    assert finding.count == 1 and finding.nodes == 1
    assert [loc.name for loc in finding.locations] == ["pad"]
    fixed = fixed_ok(R, m)
    assert ops(fixed) == ["Conv"]
    conv = fixed.graph.node[0]
    assert conv.input[0] == "x"
    assert list(next(a for a in conv.attribute if a.name == "pads").ints) == [2, 2, 1, 1]
    assert [t.name for t in fixed.graph.initializer] == ["W"]


def test_explicit_zero_value():
    assert ops(fixed_ok(R, pad_then(value=0.0))) == ["Conv"]


def test_pools_never():
    assert check(R, pad_then("MaxPool")) == []
    assert check(R, pad_then("AveragePool")) == []


def test_left_alone():
    assert check(R, pad_then(value=1.0)) == []
    assert check(R, pad_then(mode="reflect")) == []
    assert check(R, pad_then(pads=(0, 1, 1, 1, 0, 0, 1, 1))) == []  # channel axis
    assert check(R, pad_then(pads=(0, 0, -1, 1, 0, 0, 1, 1))) == []  # negative
