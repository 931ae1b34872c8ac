"""Constant and shape folding: which nodes fold into initializers, and the fold itself.

:func:`plan_folds` finds, in one pass over the main graph and its If/Loop/Scan
subgraphs in topological order (a subgraph's nodes right after the node that owns
it), every node whose inputs are all constants (transitively) or whose value is known
(a seed: ``Shape`` of a static value), groups the folded nodes into connected
components, and keeps a component only when the initializers it adds are no
larger than what it removes (its nodes and the constants only it reads), so a fold
never makes the file larger, and none larger than ``max-folded-constant``. Nodes
are evaluated by :mod:`onnxslim_lint.model.evaluate`. A folded value becomes an
initializer of the graph its node was in, so exactly the graphs that saw the node's
output see it (in a Loop or Scan body, a value made from constants is the same in
every iteration; one made from a loop-carried value is not a constant at all).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
import onnx
from onnx import numpy_helper

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.evaluate import (
    EXACT_OPS,
    MAX_EVAL_BYTES,
    constant_value,
    evaluate_node,
    inputs_evaluable,
    matches_inference,
)
from onnxslim_lint.model.graphs import has_subgraph
from onnxslim_lint.model.index import GraphScope, ModelIndex, NodeRef
from onnxslim_lint.model.shapes import ShapeInfo
from onnxslim_lint.model.tensors import (
    initializer_size,
    node_nbytes_at_least,
    tensor_nbytes,
    tensor_nbytes_at_least,
)
from onnxslim_lint.rules.base import GraphRule, Requires, Saving, plural, size_note, tally

__all__ = ["FoldComponent", "FoldingRule", "plan_folds"]


@dataclass(eq=False)
class FoldComponent:
    nodes: list[NodeRef] = field(default_factory=list)
    # output name -> its value, for outputs read by nodes that stay (made into an
    # initializer only by the fix: the check needs just its size)
    materialize: dict[str, np.ndarray] = field(default_factory=dict)
    # materialized name -> the graph it becomes an initializer of (its node's)
    homes: dict[str, GraphScope] = field(default_factory=dict)
    # constants only this component reads: initializers and Constant nodes
    initializers: list[str] = field(default_factory=list)
    constant_nodes: list[NodeRef] = field(default_factory=list)
    removed_bytes: int = 0
    added_bytes: int = 0

    @property
    def removed_nodes(self) -> int:
        return len(self.nodes) + len(self.constant_nodes)


def plan_folds(
    index: ModelIndex,
    seeds: Mapping[int, list[np.ndarray]] | None = None,
    *,
    constants: bool = True,
    max_constant: int | None = None,
) -> list[FoldComponent]:
    """Components of nodes that fold into initializers without growing the file.

    ``seeds`` maps ``id(NodeRef)`` to the values of nodes known without evaluating
    their inputs (``Shape`` of a static value); with ``constants=False`` only
    components holding a seed are kept. No component creates an initializer larger
    than ``max_constant`` bytes (the ``max-folded-constant`` setting).
    """
    seeds = seeds or {}
    # the index holds one value per name: nothing reading or making such a name folds
    ambiguous = index.defined_in_several_graphs()
    refs = [
        ref
        for ref in index.nodes()
        if not any(name in ambiguous for name in (*ref.node.input, *ref.node.output))
    ]
    cache: dict[int, list[np.ndarray] | None] = {}
    banned: set[int] = set()
    for _ in range(len(refs) + 1):
        values, folded = _fold_pass(index, refs, seeds, cache, banned)
        if not folded:
            return []
        components = _components(index, folded, values)
        if not constants:
            components = [c for c in components if any(id(r) in seeds for r in c.nodes)]
        failing = [
            c for c in components if c.added_bytes > c.removed_bytes or _too_large(c, max_constant)
        ]
        if not failing:
            return [c for c in components if c.materialize or c.nodes]
        for comp in failing:
            growing = [
                ref for ref in comp.nodes if id(ref) not in seeds and _grows(index, ref, values)
            ]
            banned.update(id(ref) for ref in (growing or comp.nodes))
    return []


def _all_constant(
    index: ModelIndex, node: onnx.NodeProto, values: Mapping[str, np.ndarray]
) -> bool:
    """Every input is folded already or a small enough constant (no data touched)."""
    total = 0
    for name in node.input:
        if not name or name in values:
            continue
        tensor = index.constant_tensor(name)
        if tensor is None:
            return False
        total += tensor_nbytes(tensor)
    return total <= MAX_EVAL_BYTES


def _foldable(index: ModelIndex, ref: NodeRef) -> bool:
    node = ref.node
    if not is_default_domain(node.domain) or node.op_type not in EXACT_OPS:
        return False
    if has_subgraph(node) or not node.output:
        return False
    for out in node.output:
        if out and (index.is_graph_output(out) or out in index.side_table_names):
            return False
    return True


def _fold_pass(
    index: ModelIndex,
    refs: list[NodeRef],
    seeds: Mapping[int, list[np.ndarray]],
    cache: dict[int, list[np.ndarray] | None],
    banned: set[int],
) -> tuple[dict[str, np.ndarray], list[NodeRef]]:
    """One pass in graph order: the values of every node that folds, and those nodes."""
    values: dict[str, np.ndarray] = {}
    folded: list[NodeRef] = []
    shapes: ShapeInfo | None = None
    for ref in refs:
        node = ref.node
        if id(ref) in banned:
            continue
        result: list[np.ndarray] | None
        if id(ref) in seeds:
            result = seeds[id(ref)]
        else:
            if node.op_type == "Constant" or not _foldable(index, ref):
                continue
            if not _all_constant(index, node, values):
                continue  # decided before any tensor is converted
            inputs: list[np.ndarray | None] = []
            ok = True
            for name in node.input:
                if not name:
                    inputs.append(None)
                    continue
                value = values.get(name)
                if value is None:
                    value = constant_value(index, name)
                if value is None:
                    ok = False
                    break
                inputs.append(value)
            if not ok or not inputs_evaluable(node, inputs):
                continue
            if id(ref) not in cache:
                result = evaluate_node(node, inputs, index.opsets)
                if result is not None:
                    if shapes is None:
                        shapes = index.inferred_shapes()
                    if not matches_inference(node, result, shapes):
                        result = None
                cache[id(ref)] = result
            result = cache[id(ref)]
            if result is None:
                continue
        outs = [o for o in node.output if o]
        if len(outs) != len(result):
            continue
        values.update(zip(outs, result, strict=True))
        folded.append(ref)
    return values, folded


def _grows(index: ModelIndex, ref: NodeRef, values: Mapping[str, np.ndarray]) -> bool:
    out_bytes = sum(values[o].nbytes for o in ref.node.output if o in values)
    in_bytes = 0
    for name in ref.node.input:
        if name in values:
            in_bytes += values[name].nbytes
        elif name:
            value = constant_value(index, name)
            in_bytes += 0 if value is None else value.nbytes
    return out_bytes > in_bytes


def _components(
    index: ModelIndex, folded: list[NodeRef], values: Mapping[str, np.ndarray]
) -> list[FoldComponent]:
    in_fold = {id(ref): ref for ref in folded}
    parent = {id(ref): id(ref) for ref in folded}

    def find(key: int) -> int:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for ref in folded:
        for name in ref.node.input:
            producer = index.producer.get(name) if name else None
            if producer is not None and id(producer) in in_fold:
                parent[find(id(producer))] = find(id(ref))
    groups: dict[int, FoldComponent] = {}
    for ref in folded:
        groups.setdefault(find(id(ref)), FoldComponent()).nodes.append(ref)
    result = []
    for comp in groups.values():
        members = {id(ref) for ref in comp.nodes}
        comp.removed_bytes = sum(node_nbytes_at_least(ref.node) + 3 for ref in comp.nodes)
        for ref in comp.nodes:
            for out in ref.node.output:
                if not out:
                    continue
                uses = index.uses_of(out)
                if any(use.node is None or id(use.node) not in members for use in uses):
                    comp.materialize[out] = values[out]
                    comp.homes[out] = ref.scope
                    comp.added_bytes += initializer_size(out, values[out]) + 6
        seen: set[str] = set()
        for ref in comp.nodes:
            for name in ref.node.input:
                if not name or name in seen or (name in values and _made_in(index, name, members)):
                    continue
                seen.add(name)
                if index.is_graph_output(name) or name in index.side_table_names:
                    continue
                if not all(
                    u.node is not None and id(u.node) in members for u in index.uses_of(name)
                ):
                    continue
                if name in index.initializers:
                    tensor = index.initializers[name][1]
                    if not index.is_overridable(name):
                        comp.initializers.append(name)
                        comp.removed_bytes += tensor_nbytes_at_least(tensor)
                    continue
                producer = index.producer.get(name)
                if (
                    producer is not None
                    and producer.node.op_type == "Constant"
                    and len(producer.node.output) == 1
                ):
                    comp.constant_nodes.append(producer)
                    comp.removed_bytes += node_nbytes_at_least(producer.node)
        result.append(comp)
    return result


def _too_large(comp: FoldComponent, max_constant: int | None) -> bool:
    if max_constant is None:
        return False
    return any(initializer_size(name, v) > max_constant for name, v in comp.materialize.items())


def _made_in(index: ModelIndex, name: str, members: set[int]) -> bool:
    producer = index.producer.get(name)
    return producer is not None and id(producer) in members


class FoldingRule(GraphRule[FoldComponent]):
    """What constant folding and shape folding share: exact, always fixable, on IR 4
    and later (before, initializers must be graph inputs); the finding and the fix."""

    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT
    requires = Requires(min_ir_version=4)

    folded_from: ClassVar[str]  # what the folded nodes are computed from, for the message

    def saving(self, item: FoldComponent) -> Saving:
        locations = [
            Location("node", ref.label, ref.scope.path, ref.node.op_type, 0) for ref in item.nodes
        ]
        locations += [
            Location(
                "initializer",
                name,
                item.homes[name].path,
                f"{self.folded_from} result",
                initializer_size(name, value),
            )
            for name, value in item.materialize.items()
        ]
        return Saving(
            tuple(locations),
            count=len(item.nodes),
            nbytes=item.removed_bytes - item.added_bytes,
            nodes=item.removed_nodes,
        )

    def total(self, items: Sequence[FoldComponent]) -> Saving:
        total = super().total(items)
        # Every folded node first, then the initializers that replace them.
        ordered = sorted(total.locations, key=lambda location: location.kind != "node")
        return replace(total, locations=tuple(ordered))

    def message(self, items: Sequence[FoldComponent], total: Saving) -> str:
        text = tally(ref.node.op_type for comp in items for ref in comp.nodes)
        return (
            f"{plural(total.count, 'node')} computed from {self.folded_from}s "
            f"only ({text}){size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[FoldComponent]) -> bool:
        """Replace each component's nodes by initializers holding the values read outside it."""
        editor = Editor(index)
        changed = False
        materialized: set[str] = set()
        for comp in items:
            for ref in (*comp.nodes, *comp.constant_nodes):
                editor.remove_node(ref)
            for name in comp.initializers:
                editor.remove_initializer(index.initializers[name][0], name)
            for name, value in comp.materialize.items():
                comp.homes[name].graph.initializer.append(numpy_helper.from_array(value, name))
                materialized.add(name)
            changed = True
        editor.commit()
        if materialized:
            # an annotation of the old value may be stale; the initializer says it all
            for scope in index.scopes:
                values = scope.graph.value_info
                for position in range(len(values) - 1, -1, -1):
                    if values[position].name in materialized:
                        del values[position]
        return changed
