"""ModelIndex: the names more than one graph defines."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from onnxslim_lint.model.index import ModelIndex


def _branch(name: str, nodes: list[onnx.NodeProto], out: str) -> onnx.GraphProto:
    return helper.make_graph(
        nodes, name, [], [helper.make_tensor_value_info(out, TensorProto.FLOAT, [1])]
    )


def test_names_defined_in_several_graphs() -> None:
    # both branches define k; the then branch also shadows the main graph's m;
    # a, b and y are each defined once, x is only read
    then_branch = _branch(
        "t",
        [
            helper.make_node("Neg", ["x"], ["k"]),
            helper.make_node("Relu", ["k"], ["m"]),
            helper.make_node("Add", ["m", "x"], ["a"]),
        ],
        "a",
    )
    else_branch = _branch(
        "e",
        [helper.make_node("Abs", ["x"], ["k"]), helper.make_node("Mul", ["k", "m"], ["b"])],
        "b",
    )
    model = helper.make_model(
        helper.make_graph(
            [
                helper.make_node("Exp", ["x"], ["m"]),
                helper.make_node(
                    "If", ["c"], ["y"], then_branch=then_branch, else_branch=else_branch
                ),
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
    assert ModelIndex.build(model).defined_in_several_graphs() == {"k", "m"}
