"""model/randomness: random ops, and the graph outputs they reach."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from onnxslim_lint.model.randomness import RANDOM_OPS, is_random_op, random_outputs


@pytest.mark.parametrize("op_type", sorted(RANDOM_OPS))
@pytest.mark.parametrize("domain", ["", "ai.onnx"])
def test_random_ops_of_the_default_domain(op_type: str, domain: str) -> None:
    assert is_random_op(helper.make_node(op_type, [], ["y"], domain=domain))


def test_same_names_elsewhere_and_deterministic_ops_are_not_random() -> None:
    assert not is_random_op(helper.make_node("RandomNormal", [], ["y"], domain="custom"))
    assert not is_random_op(helper.make_node("Dropout", ["x"], ["y"]))
    assert not is_random_op(helper.make_node("Relu", ["x"], ["y"]))


def _model(
    nodes: list[onnx.NodeProto],
    outputs: list[str],
    functions: list[onnx.FunctionProto] | None = None,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)]
    return helper.make_model(graph, opset_imports=opsets, functions=functions or [])


def _noise(out: str) -> onnx.NodeProto:
    return helper.make_node("RandomNormalLike", ["x"], [out])


def test_outputs_computed_from_a_random_op_are_random() -> None:
    model = _model(
        [
            _noise("n"),
            helper.make_node("Add", ["x", "n"], ["noisy"]),
            helper.make_node("Relu", ["x"], ["clean"]),
        ],
        ["noisy", "clean"],
    )
    assert random_outputs(model) == {"noisy"}


def test_an_unsorted_graph_is_followed_all_the_way() -> None:
    model = _model(
        [
            helper.make_node("Relu", ["m"], ["y"]),
            helper.make_node("Neg", ["n"], ["m"]),
            _noise("n"),
        ],
        ["y"],
    )
    assert random_outputs(model) == {"y"}


def test_a_subgraph_holding_or_reading_randomness_taints_its_node() -> None:
    body = helper.make_graph(
        [_noise("b")], "then", [], [helper.make_tensor_value_info("b", TensorProto.FLOAT, None)]
    )
    holds = helper.make_node("If", ["c"], ["held"], then_branch=body, else_branch=body)
    reads_body = helper.make_graph(
        [helper.make_node("Identity", ["n"], ["r"])],
        "reads",
        [],
        [helper.make_tensor_value_info("r", TensorProto.FLOAT, None)],
    )
    reads = helper.make_node("If", ["c"], ["read"], then_branch=reads_body, else_branch=reads_body)
    cond = helper.make_node(
        "Constant", [], ["c"], value=helper.make_tensor("v", TensorProto.BOOL, [], [True])
    )
    model = _model([cond, _noise("n"), holds, reads], ["held", "read"])
    assert random_outputs(model) == {"held", "read"}


def test_a_call_of_a_function_holding_a_random_op_is_random_even_through_another() -> None:
    inner = helper.make_function(
        "local",
        "Inner",
        ["a"],
        ["b"],
        [helper.make_node("RandomUniformLike", ["a"], ["b"])],
        [helper.make_opsetid("", 17)],
    )
    outer = helper.make_function(
        "local",
        "Outer",
        ["a"],
        ["b"],
        [helper.make_node("Inner", ["a"], ["b"], domain="local")],
        [helper.make_opsetid("", 17), helper.make_opsetid("local", 1)],
    )
    calm = helper.make_function(
        "local",
        "Calm",
        ["a"],
        ["b"],
        [helper.make_node("Relu", ["a"], ["b"])],
        [helper.make_opsetid("", 17)],
    )
    model = _model(
        [
            helper.make_node("Outer", ["x"], ["y"], domain="local"),
            helper.make_node("Calm", ["x"], ["z"], domain="local"),
        ],
        ["y", "z"],
        [inner, outer, calm],
    )
    assert random_outputs(model) == {"y"}
