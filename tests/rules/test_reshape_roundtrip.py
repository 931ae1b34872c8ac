"""OSL211 reshape-roundtrip: Reshape, elementwise ops, Reshape back."""

from __future__ import annotations

from functools import partial

import graphs
import pytest
from graphs import parse

from onnxslim_lint.rules.reshape_roundtrip import ReshapeRoundtrip

check = partial(graphs.check, ReshapeRoundtrip)
fixed_ok = partial(graphs.exact_fix_ok, ReshapeRoundtrip)

# GPT-2's MLP between two Gemms: 3-D for the activation, 2-D again after it.
MLP = """
g (float[6,4] x) => (float[6,4] y) {
    to3 = Constant <value = int64[3] {1, 6, 4}> ()
    to2 = Constant <value = int64[2] {6, 4}> ()
    half = Constant <value = float {0.5}> ()
    three = Constant <value = float {3.0}> ()
    [up] a = Reshape (x, to3)
    [pow] p = Pow (a, three)
    [add] s = Add (a, p)
    [tanh] t = Tanh (s)
    [mul] m = Mul (a, t)
    [scale] h = Mul (m, half)
    [down] r = Reshape (h, to2)
    [relu] y = Relu (r)
}
"""


def test_round_trip_around_elementwise_ops_goes() -> None:
    model = parse(MLP)
    (finding,) = check(model)
    assert finding.nodes == 2
    assert [loc.name for loc in finding.locations] == ["up -> down"]
    fixed = fixed_ok(model)
    assert "Reshape" not in [n.op_type for n in fixed.graph.node]
    pow_node = next(n for n in fixed.graph.node if n.op_type == "Pow")
    assert pow_node.input[0] == "x"


def test_the_last_reshape_may_produce_the_graph_output() -> None:
    model = parse(
        MLP.replace(
            "[down] r = Reshape (h, to2)\n    [relu] y = Relu (r)", "[down] y = Reshape (h, to2)"
        )
    )
    fixed = fixed_ok(model)
    assert [o.name for o in fixed.graph.output] == ["y"]
    assert "Reshape" not in [n.op_type for n in fixed.graph.node]


@pytest.mark.parametrize(
    "change",
    [
        # a constant that broadcasts: not shape-independent
        (
            "half = Constant <value = float {0.5}>",
            "half = Constant <value = float[1,1,4] {0.5, 0.5, 0.5, 0.5}>",
        ),
        # the second Reshape does not give x's shape back
        ("to2 = Constant <value = int64[2] {6, 4}>", "to2 = Constant <value = int64[2] {4, 6}>"),
        # a value between is read by a non-elementwise node
        ("[relu] y = Relu (r)", "[relu] y = Relu (r)\n    [sm] q = Softmax (t)"),
    ],
)
def test_left_alone(change: tuple[str, str]) -> None:
    text = MLP.replace(*change)
    if "Softmax" in text:
        text = text.replace("=> (float[6,4] y)", "=> (float[6,4] y, float[1,6,4] q)")
    if "{4, 6}" in text:
        text = text.replace("=> (float[6,4] y)", "=> (float[4,6] y)")
    assert check(parse(text)) == []


# The dynamo export of GPT-2's MLP with dynamic axes: 2-D for the Gemm, 3-D from the
# input's own Shape for the activation, 2-D again with -1: equal only as symbols.
SYMBOLIC = """
g (float[batch,seq,4] x, float[n,4] w) => (float[m,4] y) {
    flat_shape = Constant <value = int64[2] {-1, 4}> ()
    half = Constant <value = float {0.5}> ()
    [flat] f = Reshape (x, flat_shape)
    [dims] d = Shape (x)
    [up] a = Reshape (f, d)
    [tanh] t = Tanh (a)
    [mul] h = Mul (t, half)
    [down] r = Reshape (h, flat_shape)
    [relu] y = Relu (r)
}
"""


def test_round_trip_on_symbolic_dims_goes() -> None:
    model = parse(SYMBOLIC)
    (finding,) = check(model)
    assert [loc.name for loc in finding.locations] == ["up -> down"]
    fixed = fixed_ok(model)
    names = [n.name for n in fixed.graph.node if n.op_type != "Constant"]
    assert names == ["flat", "dims", "tanh", "mul", "relu"]  # dims: dead code for OSL102
    tanh = next(n for n in fixed.graph.node if n.op_type == "Tanh")
    assert tanh.input[0] == "f"


def test_dims_not_provably_equal_are_left_alone() -> None:
    # back to the shape of another input: [n, 4] may differ from [batch*seq, 4]
    text = SYMBOLIC.replace(
        "[down] r = Reshape (h, flat_shape)", "[wd] e = Shape (w)\n    [down] r = Reshape (h, e)"
    )
    assert check(parse(text)) == []
