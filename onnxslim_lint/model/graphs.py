"""The one walk over a model's graphs: If/Loop/Scan subgraphs and function bodies.

A subgraph is a graph held by a node attribute, of type ``GRAPH`` (If's branches,
Loop's and Scan's body) or ``GRAPHS``. Every walk is depth first and in the graph's
own order: a node comes before the nodes of its subgraphs, which come before the
node after it.
"""

from __future__ import annotations

from collections.abc import Iterator

import onnx

__all__ = [
    "all_graphs",
    "all_nodes",
    "has_subgraph",
    "inner_nodes",
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
