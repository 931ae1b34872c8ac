"""OSL209 constant-node: Constant nodes become initializers of the graph that holds them."""

from __future__ import annotations

from functools import partial

import graphs
import numpy as np
import onnx
import pytest
from graphs import parse, run_outputs, same_outputs
from onnx import TensorProto, helper

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.rules.constant_node import ConstantNode

check = partial(graphs.check, ConstantNode)


def test_constants_become_initializers_and_verify_bit_exactly() -> None:
    model = parse(
        """
        g (float[2,3] x) => (float[2,1,3] y) {
            [c1] axes = Constant <value = int64[1] {1}> ()
            [c2] half = Constant <value_float = 0.5> ()
            [u] u = Unsqueeze (x, axes)
            [m] y = Mul (u, half)
        }
        """
    )
    (finding,) = check(model)
    assert finding.count == finding.nodes == 2
    assert {loc.name for loc in finding.locations} == {"axes", "half"}
    result = apply_fixes(model, [ConstantNode()])
    fixed = result.model
    assert [n.op_type for n in fixed.graph.node] == ["Unsqueeze", "Mul"]
    inits = {t.name: t for t in fixed.graph.initializer}
    assert set(inits) == {"axes", "half"}
    assert inits["half"].data_type == onnx.TensorProto.FLOAT  # value_float stays float32
    assert list(inits["half"].dims) == []
    onnx.checker.check_model(fixed, full_check=True)
    assert check_interface(model, fixed) is None
    assert check(fixed) == []
    report = verify_models(model, fixed, exact=True)
    assert report.passed and report.max_diff == 0.0
    assert fixed.ByteSize() < model.ByteSize()


@pytest.mark.parametrize(
    "text",
    [
        # a Constant that is the graph output keeps being a node
        "g (float[2] x) => (float[1] y) { y = Constant <value = float[1] {1.0}> () }",
        # a branch output stays a node (the output of a subgraph)
        """g (bool c) => (float[1] y) {
            y = If (c) <
                then_branch = t () => (float[1] a) { a = Constant <value = float[1] {1.0}> () },
                else_branch = e () => (float[1] b) { b = Constant <value = float[1] {2.0}> () }
            >
        }""",
        # strings
        """g (string[1] x) => (string[2] y) {
            s = Constant <value_strings = ["a"]> ()
            y = Concat <axis = 0> (x, s)
        }""",
    ],
)
def test_left_alone(text: str) -> None:
    assert check(parse(text)) == []


def test_ir3_models_are_left_alone() -> None:
    model = parse(
        """
        g (float[2] x) => (float[2] y) {
            c = Constant <value = float[1] {1.0}> ()
            y = Add (x, c)
        }
        """,
        ir_version=3,
    )
    assert check(model) == []


_BRANCHES = """
    g (bool c, float[2] x) => (float[2] y) {
        y = If (c) <
            then_branch = t () => (float[2] a) {
                [tk] k = Constant <value = float[1] {1.5}> ()
                a0 = Add (x, k)
                a = If (c) <
                    then_branch = tt () => (float[2] p) { p = Mul (a0, k) },
                    else_branch = te () => (float[2] q) { q = Sub (a0, k) }
                >
            },
            else_branch = e () => (float[2] b) {
                [ek] m = Constant <value_float = -0.0> ()
                b = Mul (x, m)
            }
        >
    }
"""


def test_constants_in_branches_become_branch_initializers() -> None:
    model = parse(_BRANCHES)
    (finding,) = check(model)
    assert {loc.name for loc in finding.locations} == {"k", "m"}
    assert {loc.graph for loc in finding.locations} == {
        "main/If#0/then_branch",
        "main/If#0/else_branch",
    }
    fixed = graphs.fix_both(ConstantNode, model)
    graphs.assert_fix_ok(ConstantNode, model, fixed)
    assert not [n for n in graphs.all_nodes(fixed.graph) if n.op_type == "Constant"]
    assert not fixed.graph.initializer  # each value stays in the graph that held it
    branches = {a.name: a.g for a in fixed.graph.node[0].attribute}
    assert [t.name for t in branches["then_branch"].initializer] == ["k"]
    assert [t.name for t in branches["else_branch"].initializer] == ["m"]
    # both branches, and the nested If reading k from its enclosing branch, run as before
    x = np.array([2.0, -0.0], dtype=np.float32)
    for c in (True, False):
        same_outputs(model, fixed, {"c": np.array(c), "x": x})


def test_constants_in_a_loop_body_become_body_initializers() -> None:
    # s = s * 2 + 1, three times: the body's constants are the same in every iteration
    model = parse(
        """
        g (float[2] s0) => (float[2] s) {
            n = Constant <value = int64 {3}> ()
            s = Loop (n, , s0) <
                body = b (int64 i, bool cond, float[2] acc) => (bool out_cond, float[2] next) {
                    out_cond = Identity (cond)
                    [two] two = Constant <value = float[1] {2.0}> ()
                    [one] one = Constant <value = float[1] {1.0}> ()
                    d = Mul (acc, two)
                    next = Add (d, one)
                }
            >
        }
        """
    )
    (finding,) = check(model)
    assert {loc.name for loc in finding.locations} == {"n", "two", "one"}
    fixed = graphs.exact_fix_ok(ConstantNode, model)
    body = next(a.g for n in fixed.graph.node if n.op_type == "Loop" for a in n.attribute)
    assert sorted(t.name for t in body.initializer) == ["one", "two"]
    assert [n.op_type for n in body.node] == ["Identity", "Mul", "Add"]
    same_outputs(model, fixed, {"s0": np.array([0.5, -3.0], dtype=np.float32)})
    (s,) = run_outputs(fixed, {"s0": np.array([0.5, -3.0], dtype=np.float32)})
    assert s.tolist() == [11.0, -17.0]


def _constant(name: str, value: float) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name], value=helper.make_tensor("", TensorProto.FLOAT, [1], [value])
    )


def test_a_name_defined_in_another_graph_stays_a_node() -> None:
    # both branches define k: as initializers they would be fine, but the index (and
    # ONNX's no-shadowing rule) holds a name for one value, so neither is moved
    def branch(name: str, value: float, op: str) -> onnx.GraphProto:
        return helper.make_graph(
            [_constant("k", value), helper.make_node(op, ["x", "k"], [name])],
            name,
            [],
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1])],
        )

    siblings = helper.make_model(
        helper.make_graph(
            [
                helper.make_node(
                    "If",
                    ["c"],
                    ["y"],
                    then_branch=branch("a", 1.0, "Add"),
                    else_branch=branch("b", 2.0, "Mul"),
                )
            ],
            "g",
            [
                helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
            ],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    assert check(siblings) == []
    # a branch Constant shadowing the main graph's k: the branch's Add before it
    # reads the outer k; as an initializer, k would be the inner one from the start
    body = helper.make_graph(
        [
            helper.make_node("Add", ["x", "k"], ["early"]),
            _constant("k", 5.0),
            helper.make_node("Mul", ["early", "k"], ["a"]),
        ],
        "t",
        [],
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [1])],
    )
    other = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["b"])],
        "e",
        [],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])],
    )
    shadowing = helper.make_model(
        helper.make_graph(
            [
                _constant("k", 1.0),
                helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=other),
            ],
            "g",
            [
                helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
            ],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        ),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    assert check(shadowing) == []
