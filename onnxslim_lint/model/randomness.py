"""Which parts of a model are non-deterministic: random ops, and everything they reach.

A default-domain random op (``RandomNormal``, ``Bernoulli``, ...) gives other values
on every run, so nothing computed from it can be compared between two runs, nor
folded, nor shared. The analysis is by name, over the main graph, its subgraphs and
the model-local functions.
"""

from __future__ import annotations

import onnx

from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.graphs import inner_nodes

__all__ = ["RANDOM_OPS", "is_random_op", "random_outputs"]

#: Default-domain ops whose outputs differ from run to run (or seed to seed).
RANDOM_OPS = frozenset(
    {
        "RandomNormal",
        "RandomUniform",
        "RandomNormalLike",
        "RandomUniformLike",
        "Bernoulli",
        "Multinomial",
    }
)


def is_random_op(node: onnx.NodeProto) -> bool:
    """True when the node itself is a non-deterministic op of the default domain."""
    return is_default_domain(node.domain) and node.op_type in RANDOM_OPS


def _random_functions(model: onnx.ModelProto) -> set[tuple[str, str]]:
    """Model-local functions that (transitively) contain a random op."""
    functions = {(f.domain, f.name): f for f in model.functions}
    random: set[tuple[str, str]] = set()
    changed = True
    while changed:
        changed = False
        for key, func in functions.items():
            if key in random:
                continue
            for node in func.node:
                nodes = [node, *inner_nodes(node)]
                if any(is_random_op(n) or (n.domain, n.op_type) in random for n in nodes):
                    random.add(key)
                    changed = True
                    break
    return random


def random_outputs(model: onnx.ModelProto) -> set[str]:
    """Names of graph outputs that depend on a non-deterministic op.

    A node is tainted if it is a random op, calls a model function holding one, has
    a subgraph holding one, or reads a tainted value (directly or from inside one of
    its subgraphs). Shadowed names in subgraphs are not told apart, which can only
    make the set larger.
    """
    random_funcs = _random_functions(model)

    def node_random(node: onnx.NodeProto) -> bool:
        return is_random_op(node) or (node.domain, node.op_type) in random_funcs

    # Per top-level node: does it (or any subgraph) contain randomness, and every
    # name it reads, including outer-scope names read inside its subgraphs.
    info: list[tuple[onnx.NodeProto, bool, set[str]]] = []
    for node in model.graph.node:
        inner = list(inner_nodes(node))
        reads = {n for n in node.input if n}
        reads.update(i for n in inner for i in n.input if i)
        info.append((node, node_random(node) or any(node_random(n) for n in inner), reads))

    tainted: set[str] = set()
    changed = True
    while changed:  # one pass for a sorted graph; loops only for unsorted ones
        changed = False
        for node, is_random, reads in info:
            if (is_random or not reads.isdisjoint(tainted)) and not tainted.issuperset(
                o for o in node.output if o
            ):
                tainted.update(o for o in node.output if o)
                changed = True
    return {o.name for o in model.graph.output if o.name in tainted}
