"""OSL203 constant-folding."""

from __future__ import annotations

from functools import partial

import graphs
import numpy as np
import onnx
import pytest
from graphs import parse, run_outputs, same_outputs
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.model.tensors import initializer_size
from onnxslim_lint.rules.base import CheckContext
from onnxslim_lint.rules.constant_folding import ConstantFolding

check = partial(graphs.check, ConstantFolding)
fixed_ok = partial(graphs.exact_fix_ok, ConstantFolding)


def ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


SHAPE_CHAIN = """
g (float[2,12] x) => (float[2,3,4] y) {
    a = Constant <value = int64[1] {2}> ()
    b = Constant <value = int64 {3}> ()
    zero = Constant <value = int64[1] {0}> ()
    [u] bu = Unsqueeze (b, zero)
    [m] c = Mul (a, a)
    [c] s = Concat <axis = 0> (a, bu, c)
    y = Reshape (x, s)
}
"""


def test_folds_a_shape_chain() -> None:
    model = parse(SHAPE_CHAIN)
    (finding,) = check(model)
    assert finding.code == "OSL203" and finding.name == "constant-folding"
    assert finding.count == 3
    assert finding.nodes == 6  # 3 folded + the 3 Constants only they read
    assert {loc.name for loc in finding.locations if loc.kind == "node"} == {"u", "m", "c"}
    assert finding.nbytes > 0
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Reshape"]
    (init,) = fixed.graph.initializer
    assert init.name == "s" and init.data_type == TensorProto.INT64
    assert numpy_helper.to_array(init).tolist() == [2, 3, 4]


def test_keeps_the_dtype() -> None:
    model = parse(
        """
        g (float16[3] x) => (float16[3] y) {
            a = Constant <value_float = 2.0> ()
            h = Cast <to = 10> (a)
            y = Mul (x, h)
        }
        """
    )
    fixed = fixed_ok(model)
    (init,) = fixed.graph.initializer
    assert init.data_type == TensorProto.FLOAT16


@pytest.mark.parametrize(
    "body",
    [
        # random ops never fold
        "r = RandomUniform <shape = [3], seed = 1.0> ()\n y = Add (x, r)",
        "s = Constant <value = int64[1] {3}> ()\n r = RandomNormalLike (s)\n y = Add (x, r)",
        # a fold that grows the file: a scalar expanded to 1000x1000
        "c = Constant <value = float {1.0}> ()\n s = Constant <value = int64[2] {1000, 1000}> ()\n"
        " e = Expand (c, s)\n y = Add (x, e)",
        "c = Constant <value = float[1] {1.0}> ()\n r = Constant <value = int64[1] {100000}> ()\n"
        " e = Tile (c, r)\n y = Add (x, e)",
        # float reductions and matmul are not exact across runtimes
        "c = Constant <value = float[3] {1.0, 2.0, 3.0}> ()\n e = ReduceSum <keepdims = 0> (c)\n"
        " y = Add (x, e)",
        "c = Constant <value = float[2,2] {1.0, 2.0, 3.0, 4.0}> ()\n e = Exp (c)\n y = Add (x, e)",
    ],
)
def test_leaves_alone(body: str) -> None:
    model = parse(f"g (float[3] x) => (y) {{\n {body}\n}}")
    assert check(model) == []


def test_graph_output_and_overridable_initializers_are_left_alone() -> None:
    model = parse(
        """
        g (float[3] x) => (float[1] y, float[1] z) {
            a = Constant <value = float[1] {2.0}> ()
            y = Neg (a)
            z = Relu (x)
        }
        """
    )
    assert check(model) == []
    two = numpy_helper.from_array(np.array([2.0], np.float32), "two")
    graph = helper.make_graph(
        [helper.make_node("Neg", ["two"], ["n"]), helper.make_node("Add", ["x", "n"], ["y"])],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [3]),
            helper.make_tensor_value_info("two", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
        [two],
    )
    assert check(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])) == []


def test_ir3_is_skipped() -> None:
    model = parse(SHAPE_CHAIN, opset=8, ir_version=3)
    assert check(model) == []


def test_shared_constant_stays_for_its_other_reader() -> None:
    model = parse(
        """
        g (float[4] x) => (float[4] y, float[4] z) {
            w = Constant <value = float[4] {1.0, 2.0, 3.0, 4.0}> ()
            n = Neg (w)
            y = Add (x, n)
            z = Mul (x, w)
        }
        """
    )
    # folding Neg(w) would add a copy of w while w stays for the Mul: larger file
    assert check(model) == []


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (np.zeros((3, 4), np.float32), "a"),
        (np.arange(200, dtype=np.int64), "shape_const_\u540d"),
        (np.array(5, dtype=np.int64), "x"),
        (np.zeros((0,), np.float32), "empty"),
        (np.ones((300, 3000), np.float16), "big"),
        (np.array([True, False]), "b"),
    ],
)
def test_initializer_size_is_exact_without_converting(value: np.ndarray, name: str) -> None:
    assert initializer_size(name, value) == numpy_helper.from_array(value, name).ByteSize()


def test_max_folded_constant_caps_what_a_fold_may_create() -> None:
    """``max-folded-constant``: a Transpose of a 64x64 weight folds only under the cap."""
    from onnxslim_lint.rules.base import RuleOptions

    weight = numpy_helper.from_array(np.arange(64 * 64, dtype=np.float32).reshape(64, 64), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
            helper.make_node("MatMul", ["x", "wt"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 64])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    index = ModelIndex.build(model)
    (finding,) = ConstantFolding().check(CheckContext(index, "m"))
    assert finding.nodes == 1
    capped = CheckContext(index, "m", RuleOptions(max_folded_constant=1000))
    assert ConstantFolding().check(capped) == []
    roomy = CheckContext(index, "m", RuleOptions(max_folded_constant=64 * 64 * 4 + 100))
    assert len(ConstantFolding().check(roomy)) == 1


@pytest.mark.parametrize(("dtype", "folds"), [("int64", True), ("float", False)])
def test_cumsum_folds_for_integers_only(dtype: str, folds: bool) -> None:
    """Integer CumSum is exact; a float one depends on the summation order."""
    model = parse(
        f"""
        g ({dtype}[1,4] x) => ({dtype}[1,4] y) {{
            c = Constant <value = {dtype}[1,4] {{1, 0, 1, 1}}> ()
            axis = Constant <value = int64 {{1}}> ()
            s = CumSum (c, axis)
            y = Add (x, s)
        }}
        """,
        opset=17,
    )
    found = check(model)
    assert bool(found) == folds
    if folds:
        fixed = fixed_ok(model)
        assert "CumSum" not in [n.op_type for n in fixed.graph.node]


def _branches(fixed: onnx.ModelProto) -> dict[str, onnx.GraphProto]:
    (node,) = [n for n in fixed.graph.node if n.op_type == "If"]
    return {attr.name: attr.g for attr in node.attribute}


# silero-vad's 16 kHz and 8 kHz networks, each a branch of one If on the sample rate:
# shape arithmetic from the branch's constants and the main graph's, and a nested If
# reading a folded value from its enclosing branch
BRANCH_SHAPES = """
g (bool c, float[2,12] x) => (float[2,3,4] y) <int64[1] two = {2}> {
    y = If (c) <
        then_branch = t () => (float[2,3,4] a) {
            b = Constant <value = int64[1] {3}> ()
            [tm] four = Mul (two, two)
            [tc] s = Concat <axis = 0> (two, b, four)
            a = If (c) <
                then_branch = tt () => (float[2,3,4] p) { p = Reshape (x, s) },
                else_branch = te () => (float[2,3,4] q) {
                    r = Reshape (x, s)
                    q = Neg (r)
                }
            >
        },
        else_branch = e () => (float[2,3,4] d) {
            three = Constant <value = int64[1] {3}> ()
            [em] m = Mul (two, three)
            [es] s2 = Sub (m, two)
            [ec] t = Concat <axis = 0> (two, three, s2)
            d = Reshape (x, t)
        }
    >
}
"""


def test_folds_inside_if_branches_into_branch_initializers() -> None:
    model = parse(BRANCH_SHAPES)
    (finding,) = check(model)
    nodes = {(loc.graph, loc.name) for loc in finding.locations if loc.kind == "node"}
    assert nodes == {
        ("main/If#0/then_branch", "tm"),
        ("main/If#0/then_branch", "tc"),
        ("main/If#0/else_branch", "em"),
        ("main/If#0/else_branch", "es"),
        ("main/If#0/else_branch", "ec"),
    }
    made = {(loc.graph, loc.name) for loc in finding.locations if loc.kind == "initializer"}
    assert made == {("main/If#0/then_branch", "s"), ("main/If#0/else_branch", "t")}
    fixed = fixed_ok(model)
    # "two" was read by both branches' folds, two components: neither removes it,
    # and unread now, it is OSL101's
    assert [t.name for t in fixed.graph.initializer] == ["two"]
    assert ModelIndex.build(fixed).uses_of("two") == []
    branches = _branches(fixed)
    assert [n.op_type for n in branches["then_branch"].node] == ["If"]
    assert [n.op_type for n in branches["else_branch"].node] == ["Reshape"]
    (s,) = branches["then_branch"].initializer
    (t,) = branches["else_branch"].initializer
    assert (s.name, numpy_helper.to_array(s).tolist()) == ("s", [2, 3, 4])
    assert (t.name, numpy_helper.to_array(t).tolist()) == ("t", [2, 3, 4])
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    for c in (True, False):
        same_outputs(model, fixed, {"c": np.array(c), "x": x})


LOOP = """
g (float[2] s0) => (float[2] s, int64[3] k) {
    n = Constant <value = int64 {3}> ()
    s, k = Loop (n, , s0) <
        body = b (int64 i, bool cond, float[2] acc) => (bool out_cond, float[2] next, int64 ki) {
            out_cond = Identity (cond)
            half = Constant <value = float[1] {0.5}> ()
            [lm] step = Mul (half, half)
            d = Add (acc, step)
            [carried] next = Mul (d, half)
            one = Constant <value = int64 {1}> ()
            [counter] ki = Add (i, one)
        }
    >
}
"""


def test_folds_in_a_loop_body_but_not_what_an_iteration_computes() -> None:
    model = parse(LOOP)
    (finding,) = check(model)
    # the constant step folds; the loop-carried value and the iteration count do not
    assert {loc.name for loc in finding.locations if loc.kind == "node"} == {"lm"}
    fixed = fixed_ok(model)
    body = next(a.g for n in fixed.graph.node if n.op_type == "Loop" for a in n.attribute)
    assert [(t.name, numpy_helper.to_array(t).tolist()) for t in body.initializer] == [
        ("step", [0.25])
    ]
    assert "Mul" in [n.op_type for n in body.node]  # next = Mul(d, half) stays
    feeds = {"s0": np.array([1.0, -8.0], dtype=np.float32)}
    same_outputs(model, fixed, feeds)
    s, k = run_outputs(fixed, feeds)
    assert s.tolist() == [0.34375, -0.78125]  # (acc + 0.25) * 0.5, three times
    assert k.tolist() == [1, 2, 3]


def test_a_branch_output_made_from_constants_keeps_its_node() -> None:
    model = parse(
        """
        g (bool c) => (float[1] y) {
            y = If (c) <
                then_branch = t () => (float[1] a) {
                    k = Constant <value = float[1] {2.0}> ()
                    a = Neg (k)
                },
                else_branch = e () => (float[1] b) {
                    m = Constant <value = float[1] {3.0}> ()
                    b = Neg (m)
                }
            >
        }
        """
    )
    assert check(model) == []


def _if_model(
    then_nodes: list[onnx.NodeProto], else_nodes: list[onnx.NodeProto]
) -> onnx.ModelProto:
    def branch(name: str, nodes: list[onnx.NodeProto], out: str) -> onnx.GraphProto:
        return helper.make_graph(
            nodes, name, [], [helper.make_tensor_value_info(out, TensorProto.INT64, [2])]
        )

    return helper.make_model(
        helper.make_graph(
            [
                helper.make_node(
                    "If",
                    ["c"],
                    ["y"],
                    then_branch=branch("t", then_nodes, "a"),
                    else_branch=branch("e", else_nodes, "b"),
                )
            ],
            "g",
            [
                helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                helper.make_tensor_value_info("x", TensorProto.INT64, [2]),
            ],
            [helper.make_tensor_value_info("y", TensorProto.INT64, [2])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )


def _int_constant(name: str, values: list[int]) -> onnx.NodeProto:
    return helper.make_node(
        "Constant",
        [],
        [name],
        value=helper.make_tensor("", TensorProto.INT64, [len(values)], values),
    )


def test_names_two_branches_define_are_left_alone() -> None:
    # both branches compute "k" from their own constants: one name, two values
    model = _if_model(
        [
            _int_constant("u", [1, 2]),
            helper.make_node("Neg", ["u"], ["k"]),
            helper.make_node("Add", ["x", "k"], ["a"]),
        ],
        [
            _int_constant("v", [3, 4]),
            helper.make_node("Neg", ["v"], ["k"]),
            helper.make_node("Mul", ["x", "k"], ["b"]),
        ],
    )
    assert check(model) == []
