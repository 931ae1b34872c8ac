"""model/graphs: the one walk reaches every If/Loop/Scan subgraph, nested, and function bodies."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.model.graphs import (
    all_graphs,
    all_nodes,
    has_subgraph,
    inner_nodes,
    iter_tensors,
    named_subgraphs,
    subgraphs,
)


def _body(name: str, *nodes: onnx.NodeProto) -> onnx.GraphProto:
    return helper.make_graph(
        list(nodes),
        name,
        [],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
    )


def _const(name: str, value: float) -> onnx.NodeProto:
    tensor = numpy_helper.from_array(np.array([value], np.float32), f"{name}_value")
    return helper.make_node("Constant", [], [name], name=name, value=tensor)


def _nested_model() -> onnx.ModelProto:
    """main: [pre, if]; if.else: [scan]; scan.body: [scan_c]; if.then: [then_c, loop];
    loop.body: [loop_c]; plus function F whose body holds an If with one node per branch.

    ``make_node`` sorts attributes by name, so an If holds else_branch first.
    """
    loop_body = _body("loop_body", _const("loop_c", 1.0))
    loop = helper.make_node("Loop", ["", ""], ["loop_out"], name="loop", body=loop_body)
    then_branch = _body("then", _const("then_c", 2.0), helper.make_node("Identity", ["x"], ["t"]))
    then_branch.node.append(loop)
    scan_body = _body("scan_body", _const("scan_c", 3.0))
    scan = helper.make_node("Scan", ["x"], ["e"], name="scan", body=scan_body, num_scan_inputs=1)
    else_branch = _body("else", scan)
    if_node = helper.make_node(
        "If", ["cond"], ["y"], name="if", then_branch=then_branch, else_branch=else_branch
    )
    pre = helper.make_node("Identity", ["x"], ["x2"], name="pre")
    graph = helper.make_graph(
        [pre, if_node],
        "main",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    f_if = helper.make_node(
        "If",
        ["c"],
        ["o"],
        name="f_if",
        then_branch=_body("f_then", _const("f_then_c", 4.0)),
        else_branch=_body("f_else", _const("f_else_c", 5.0)),
    )
    function = helper.make_function(
        "local", "F", ["c"], ["o"], [f_if], [helper.make_opsetid("", 17)]
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], functions=[function]
    )


def test_all_graphs_reaches_every_subgraph_depth_first() -> None:
    model = _nested_model()
    assert [g.name for g in all_graphs(model.graph)] == [
        "main",
        "else",
        "scan_body",
        "then",
        "loop_body",
    ]


def test_all_nodes_puts_each_node_before_its_subgraphs_nodes() -> None:
    model = _nested_model()
    names = [n.name or n.op_type for n in all_nodes(model.graph)]
    assert names == ["pre", "if", "scan", "scan_c", "then_c", "Identity", "loop", "loop_c"]


def test_all_nodes_walks_function_bodies_and_their_subgraphs() -> None:
    function = _nested_model().functions[0]
    assert [n.name for n in all_nodes(function)] == ["f_if", "f_else_c", "f_then_c"]


def test_inner_nodes_are_the_subgraph_nodes_only() -> None:
    model = _nested_model()
    if_node = model.graph.node[1]
    assert [n.name or n.op_type for n in inner_nodes(if_node)] == [
        "scan",
        "scan_c",
        "then_c",
        "Identity",
        "loop",
        "loop_c",
    ]
    assert list(inner_nodes(model.graph.node[0])) == []


def test_named_subgraphs_name_graph_and_graphs_attributes() -> None:
    branches = [_body(f"b{i}", _const(f"c{i}", float(i))) for i in range(2)]
    node = helper.make_node("Switch", ["x"], ["y"], domain="custom")
    node.attribute.append(helper.make_attribute("branches", branches))
    node.attribute.append(helper.make_attribute("body", _body("single", _const("s", 9.0))))
    node.attribute.append(helper.make_attribute("alpha", 1.0))
    assert [(name, g.name) for name, g in named_subgraphs(node)] == [
        ("branches[0]", "b0"),
        ("branches[1]", "b1"),
        ("body", "single"),
    ]
    assert [g.name for g in subgraphs(node)] == ["b0", "b1", "single"]
    assert has_subgraph(node)
    assert not has_subgraph(helper.make_node("Relu", ["x"], ["y"], alpha=1.0))


def test_iter_tensors_finds_constants_in_subgraphs_and_functions() -> None:
    model = _nested_model()
    model.graph.initializer.append(numpy_helper.from_array(np.zeros(2, np.float32), "w"))
    labels = [label for _, label in iter_tensors(model)]
    assert labels[0] == "w"
    assert sorted(labels[1:]) == sorted(
        f"{name}_value" for name in ("then_c", "loop_c", "scan_c", "f_then_c", "f_else_c")
    )
