"""The one walk over a model's graphs: If/Loop/Scan subgraphs and function bodies.

A subgraph is a graph held by a node attribute, of type ``GRAPH`` (If's branches,
Loop's and Scan's body) or ``GRAPHS``. Every node walk is depth first and in the
graph's own order: a node comes before the nodes of its subgraphs, which come before
the node after it.

:func:`iter_tensors` is the walk for tensors instead of nodes. It goes by the fields
that are set, not by the attribute's declared type, so a tensor the loader must
check (external data) is never missed in a malformed attribute.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import onnx
from onnx import AttributeProto, GraphProto, ModelProto, TensorProto

__all__ = [
    "all_graphs",
    "all_nodes",
    "has_subgraph",
    "inner_nodes",
    "iter_tensors",
    "named_subgraphs",
    "subgraphs",
]

_GRAPH = onnx.AttributeProto.GRAPH
_GRAPHS = onnx.AttributeProto.GRAPHS


def named_subgraphs(node: onnx.NodeProto) -> Iterator[tuple[str, onnx.GraphProto]]:
    """The node's subgraphs, each with its attribute name (``body``, ``branches[1]``)."""
    for attr in node.attribute:
        if attr.type == _GRAPH:
            yield attr.name, attr.g
        elif attr.type == _GRAPHS:
            for position, graph in enumerate(attr.graphs):
                yield f"{attr.name}[{position}]", graph


def subgraphs(node: onnx.NodeProto) -> Iterator[onnx.GraphProto]:
    """The graphs the node's attributes hold, one level down."""
    for _, graph in named_subgraphs(node):
        yield graph


def has_subgraph(node: onnx.NodeProto) -> bool:
    """True when an attribute of the node holds a graph."""
    return any(attr.type in (_GRAPH, _GRAPHS) for attr in node.attribute)


def all_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """The graph and, recursively, every subgraph below it."""
    yield graph
    for node in graph.node:
        for sub in subgraphs(node):
            yield from all_graphs(sub)


def all_nodes(body: onnx.GraphProto | onnx.FunctionProto) -> Iterator[onnx.NodeProto]:
    """Every node of a graph or a function body and, recursively, of its subgraphs."""
    for node in body.node:
        yield node
        yield from inner_nodes(node)


def inner_nodes(node: onnx.NodeProto) -> Iterator[onnx.NodeProto]:
    """Every node inside the node's subgraphs, at any depth (not the node itself)."""
    for sub in subgraphs(node):
        yield from all_nodes(sub)


def iter_tensors(model: ModelProto) -> Iterator[tuple[TensorProto, str]]:
    """Yield every TensorProto in ``model`` with a label naming it.

    Covers graph initializers, both parts of sparse initializers, tensors in node
    attributes (any of ``t``, ``tensors``, ``sparse_tensor(s)`` whatever the
    attribute's declared type), subgraphs (``g``, ``graphs``) to any depth,
    function nodes and attribute defaults, and training-info graphs. The order is
    deterministic. The walk uses a queue, not recursion, so deep nesting is fine.
    """
    graphs: deque[GraphProto] = deque()
    attributes: deque[tuple[AttributeProto, str]] = deque()
    if model.HasField("graph"):
        graphs.append(model.graph)
    for info in model.training_info:
        if info.HasField("initialization"):
            graphs.append(info.initialization)
        if info.HasField("algorithm"):
            graphs.append(info.algorithm)
    for function in model.functions:
        fname = f"{function.domain}.{function.name}" if function.domain else function.name
        for node in function.node:
            owner = f"node '{node.name or node.op_type}' of function '{fname}'"
            attributes.extend((attr, owner) for attr in node.attribute)
        attributes.extend(
            (attr, f"function '{fname}' default") for attr in function.attribute_proto
        )

    while graphs or attributes:
        while graphs:
            graph = graphs.popleft()
            for tensor in graph.initializer:
                yield tensor, tensor.name or f"<initializer of graph '{graph.name}'>"
            for sparse in graph.sparse_initializer:
                name = sparse.values.name or f"<sparse initializer of graph '{graph.name}'>"
                yield sparse.values, name
                yield sparse.indices, f"{name} (indices)"
            for node in graph.node:
                owner = f"node '{node.name or node.op_type}'"
                attributes.extend((attr, owner) for attr in node.attribute)
        while attributes:
            attr, owner = attributes.popleft()
            where = f"<attribute '{attr.name}' of {owner}>"
            if attr.HasField("t"):
                yield attr.t, attr.t.name or where
            for tensor in attr.tensors:
                yield tensor, tensor.name or where
            sparses = list(attr.sparse_tensors)
            if attr.HasField("sparse_tensor"):
                sparses.insert(0, attr.sparse_tensor)
            for sparse in sparses:
                name = sparse.values.name or where
                yield sparse.values, name
                yield sparse.indices, f"{name} (indices)"
            if attr.HasField("g"):
                graphs.append(attr.g)
            graphs.extend(attr.graphs)
