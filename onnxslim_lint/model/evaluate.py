"""Evaluate nodes on constant inputs, and plan which nodes fold into initializers.

Evaluation uses onnx's reference evaluator on a one-node model, only for an
allowlist of default-domain ops whose result is exact (the same bits as any
runtime computes: data movement, integer arithmetic, comparisons and correctly
rounded float arithmetic). Reductions of floats, matrix products, transcendental
functions and random ops are never evaluated.

:func:`plan_folds` finds, in one pass over the main graph in topological order,
every node whose inputs are all constants (transitively), groups the folded nodes
into connected components, and keeps a component only when the initializers it
adds are no larger than what it removes (its nodes and the constants only it
reads), so a fold never makes the file larger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from onnxslim_lint.model.domains import RANDOM_OPS, is_default_domain
from onnxslim_lint.model.graphs import has_subgraph
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.tensors import (
    initializer_size,
    node_nbytes_at_least,
    tensor_nbytes,
    tensor_nbytes_at_least,
)

__all__ = [
    "EXACT_OPS",
    "ConeEvaluator",
    "FoldComponent",
    "apply_folds",
    "evaluate_node",
    "plan_folds",
]

# Ops whose evaluation on any input gives exactly what a runtime gives.
EXACT_OPS = frozenset(
    {
        "Identity",
        "Cast",
        "CastLike",
        "Gather",
        "GatherElements",
        "GatherND",
        "Slice",
        "Concat",
        "Unsqueeze",
        "Squeeze",
        "Reshape",
        "Transpose",
        "Flatten",
        "Expand",
        "Tile",
        "ConstantOfShape",
        "Range",
        "Shape",
        "Size",
        "Equal",
        "Less",
        "Greater",
        "LessOrEqual",
        "GreaterOrEqual",
        "Where",
        "Not",
        "And",
        "Or",
        "Xor",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Neg",
        "Abs",
        "Max",
        "Min",
        "Sqrt",
        "Floor",
        "Ceil",
        "Sign",
        "Split",
        "Relu",
        "Trilu",
        "ReduceProd",
        "ReduceSum",
        "ReduceMax",
        "ReduceMin",
        "CumSum",
    }
)
# Float reductions depend on the summation order: integers only.
_INT_ONLY_OPS = frozenset({"ReduceProd", "ReduceSum", "Range", "CumSum"})
# Cast from float to an integer is implementation-defined out of range; keep it exact
# by evaluating only finite in-range floats (checked in _values_ok).
_DTYPES = frozenset(
    np.dtype(t)
    for t in (
        np.bool_,
        np.int8,
        np.int16,
        np.int32,
        np.int64,
        np.uint8,
        np.uint16,
        np.uint32,
        np.uint64,
        np.float16,
        np.float32,
        np.float64,
    )
)
_MAX_EVAL_BYTES = 64 * 1024 * 1024


def evaluate_node(
    node: onnx.NodeProto, inputs: list[np.ndarray | None], opsets: Mapping[str, int]
) -> list[np.ndarray] | None:
    """The node's outputs on these inputs (``None`` for absent optional ones), or None."""
    from onnx.reference import ReferenceEvaluator

    feeds: dict[str, np.ndarray] = {}
    graph_inputs = []
    for name, value in zip(node.input, inputs, strict=True):
        if not name:
            continue
        if value is None:
            return None
        if name not in feeds:
            feeds[name] = value
            graph_inputs.append(
                onnx.helper.make_tensor_value_info(
                    name, onnx.helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape)
                )
            )
    outputs = [onnx.helper.make_empty_tensor_value_info(o) for o in node.output if o]
    graph = onnx.helper.make_graph([node], "fold", graph_inputs, outputs)
    model = onnx.helper.make_model(
        graph,
        opset_imports=[onnx.helper.make_opsetid(d, v) for d, v in opsets.items()],
        ir_version=onnx.IR_VERSION,
    )
    try:
        results = ReferenceEvaluator(model).run(None, feeds)
    except Exception:
        return None
    arrays = []
    for value in results:
        if not isinstance(value, np.ndarray):
            value = np.asarray(value) if np.isscalar(value) else None
        if value is None or value.dtype not in _DTYPES:
            return None
        arrays.append(value)
    return arrays


@dataclass(eq=False)
class FoldComponent:
    nodes: list[NodeRef] = field(default_factory=list)
    # output name -> its value, for outputs read by nodes that stay (made into an
    # initializer only by the fix: the check needs just its size)
    materialize: dict[str, np.ndarray] = field(default_factory=dict)
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
    """Components of main-graph nodes that fold into initializers without growing the file.

    ``seeds`` maps ``id(NodeRef)`` to the values of nodes known without evaluating
    their inputs (``Shape`` of a static value); with ``constants=False`` only
    components holding a seed are kept. No component creates an initializer larger
    than ``max_constant`` bytes (the ``max-folded-constant`` setting).
    """
    seeds = seeds or {}
    if index.model.ir_version <= 3:
        return []
    main_refs = [ref for ref in index.nodes() if ref.scope is index.main]
    cache: dict[int, list[np.ndarray] | None] = {}
    banned: set[int] = set()
    for _ in range(len(main_refs) + 1):
        values, folded = _fold_pass(index, main_refs, seeds, cache, banned)
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


def _const_value(index: ModelIndex, name: str) -> np.ndarray | None:
    value = index.constant_array(name)
    if value is None:
        return None
    return value if value.dtype in _DTYPES else None


def _all_constant(index: ModelIndex, node: onnx.NodeProto, values: dict) -> bool:  # type: ignore[type-arg]
    """Every input is folded already or a small enough constant (no data touched)."""
    total = 0
    for name in node.input:
        if not name or name in values:
            continue
        tensor = index.constant_tensor(name)
        if tensor is None:
            return False
        total += tensor_nbytes(tensor)
    return total <= _MAX_EVAL_BYTES


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


def _fold_pass(index, refs, seeds, cache, banned):  # type: ignore[no-untyped-def]
    values: dict[str, np.ndarray] = {}
    folded: list[NodeRef] = []
    shapes = None
    for ref in refs:
        node = ref.node
        if id(ref) in banned:
            continue
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
                    value = _const_value(index, name)
                if value is None:
                    ok = False
                    break
                inputs.append(value)
            if not ok or not _inputs_ok(node, inputs):
                continue
            if id(ref) not in cache:
                result = evaluate_node(node, inputs, index.opsets)
                if result is not None:
                    if shapes is None:
                        shapes = index.inferred_shapes()
                    if not _matches_inference(node, result, shapes):
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


def _inputs_ok(node: onnx.NodeProto, inputs: list[np.ndarray | None]) -> bool:
    present = [v for v in inputs if v is not None]
    if sum(v.nbytes for v in present) > _MAX_EVAL_BYTES:
        return False
    if node.op_type in _INT_ONLY_OPS and any(v.dtype.kind == "f" for v in present):
        return False
    if node.op_type == "Cast" and present and present[0].dtype.kind == "f":
        to = next((a.i for a in node.attribute if a.name == "to"), None)
        try:
            target = onnx.helper.tensor_dtype_to_np_dtype(to) if to else None
        except (KeyError, ValueError, TypeError):
            return False
        if target is None or target.kind != "f":
            # float -> int/bool: only exact, in-range, finite values
            if not np.all(np.isfinite(present[0])):
                return False
            if target is not None and target.kind in "iu":
                info = np.iinfo(target)
                if np.any(present[0] < info.min) or np.any(present[0] > info.max):
                    return False
    estimate = _output_elements(node.op_type, inputs)
    return estimate is None or estimate * 8 <= _MAX_EVAL_BYTES


def _output_elements(op: str, inputs: list[np.ndarray | None]) -> float | None:
    """How many elements an op that can grow its input will make (before running it)."""
    try:
        if op == "ConstantOfShape" and inputs[0] is not None:
            return float(np.prod(inputs[0].astype(np.float64)))
        if op == "Expand" and inputs[0] is not None and inputs[1] is not None:
            a, b = list(inputs[0].shape), [int(v) for v in inputs[1].reshape(-1)]
            n = max(len(a), len(b))
            a, b = [1] * (n - len(a)) + a, [1] * (n - len(b)) + b
            return float(np.prod([max(x, y) for x, y in zip(a, b, strict=True)], dtype=np.float64))
        if op == "Tile" and inputs[0] is not None and inputs[1] is not None:
            reps = np.abs(inputs[1].astype(np.float64))
            return float(inputs[0].size) * float(np.prod(reps))
        if op == "Range" and all(v is not None for v in inputs[:3]):
            start, limit, delta = (float(v) for v in inputs[:3])  # type: ignore[arg-type]
            return 0.0 if delta == 0 else max(np.ceil((limit - start) / delta), 0.0)
    except (TypeError, ValueError, IndexError):
        return float("inf")
    return None


def _matches_inference(node: onnx.NodeProto, result: list[np.ndarray], shapes) -> bool:  # type: ignore[no-untyped-def]
    outs = [o for o in node.output if o]
    for name, value in zip(outs, result, strict=False):
        elem, dims = shapes.get(name, (0, None))
        if not elem:
            return False
        if onnx.helper.np_dtype_to_tensor_dtype(value.dtype) != elem:
            return False
        if dims is not None:
            if len(dims) != value.ndim:
                return False
            if any(d is not None and d != s for d, s in zip(dims, value.shape, strict=True)):
                return False
    return True


def _grows(index: ModelIndex, ref: NodeRef, values: Mapping[str, np.ndarray]) -> bool:
    out_bytes = sum(values[o].nbytes for o in ref.node.output if o in values)
    in_bytes = 0
    for name in ref.node.input:
        if name in values:
            in_bytes += values[name].nbytes
        elif name:
            value = _const_value(index, name)
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
                    scope, tensor = index.initializers[name]
                    if scope is index.main and not index.is_overridable(name):
                        comp.initializers.append(name)
                        comp.removed_bytes += tensor_nbytes_at_least(tensor)
                    continue
                producer = index.producer.get(name)
                if (
                    producer is not None
                    and producer.node.op_type == "Constant"
                    and producer.scope is index.main
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


def apply_folds(index: ModelIndex, components: list[FoldComponent]) -> bool:
    """Replace each component's nodes by initializers holding the values read outside it."""
    from onnxslim_lint.model.edit import Editor

    editor = Editor(index)
    graph = index.main.graph
    changed = False
    materialized: set[str] = set()
    for comp in components:
        for ref in (*comp.nodes, *comp.constant_nodes):
            editor.remove_node(ref)
        for name in comp.initializers:
            editor.remove_initializer(index.main, name)
        for name, value in comp.materialize.items():
            graph.initializer.append(numpy_helper.from_array(value, name))
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


class ConeEvaluator:
    """Values computed in memory from constants, for rules that only need to look at them.

    A value qualifies when it is made, through main-graph default-domain nodes in
    :data:`EXACT_OPS` (no subgraphs, no random ops), from constants alone: no graph
    input and no overridable initializer anywhere in its cone. Nothing is written to
    the model. Each cone is capped in nodes and in bytes (constants read plus values
    made), and the whole evaluator in bytes kept, so a rule that asks about every
    node of a large model stays cheap. Results are memoized: build one per index.
    """

    def __init__(
        self,
        index: ModelIndex,
        *,
        max_nodes: int = 64,
        max_bytes: int = 16 * 1024 * 1024,
        max_total_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.index = index
        self.max_nodes = max_nodes
        self.max_bytes = max_bytes
        self.max_total_bytes = max_total_bytes
        self._values: dict[str, np.ndarray] = {}
        self._bad: set[str] = set()  # never computable: the cone reaches a non-constant
        self._failed: set[str] = set()  # not computed (a cap, or evaluation refused)
        self._spent = 0
        self._shapes = None

    def value(self, name: str) -> np.ndarray | None:
        """The value of ``name`` if it is a constant or computable from constants."""
        if not name or name in self._bad or name in self._failed:
            return None
        if name in self._values:
            return self._values[name]
        stored = self._stored(name)
        if stored is not None:
            return stored
        order: list[NodeRef] = []
        leaves: dict[str, int] = {}
        if not self._gather(name, {}, order, leaves):
            if name not in self._bad:
                self._failed.add(name)
            return None
        budget = self.max_bytes - sum(leaves.values())
        if budget < 0:
            self._failed.add(name)
            return None
        for ref in order:
            made = self._evaluate(ref, budget)
            if made is None:
                self._failed.add(name)
                return None
            budget -= made
        return self._values.get(name)

    # -- helpers ------------------------------------------------------------------

    def _stored(self, name: str) -> np.ndarray | None:
        """A stored constant of the main graph (initializer or Constant node)."""
        index = self.index
        if index.defined_in.get(name) is not index.main:
            return None
        tensor = index.constant_tensor(name)
        if tensor is None or tensor_nbytes(tensor) > self.max_bytes:
            return None
        return _const_value(index, name)

    def _evaluable(self, ref: NodeRef | None) -> bool:
        if ref is None or ref.scope is not self.index.main:
            return False
        node = ref.node
        return (
            is_default_domain(node.domain)
            and node.op_type in EXACT_OPS
            and node.op_type not in RANDOM_OPS
            and not has_subgraph(node)
            and bool(node.output)
        )

    def _gather(
        self,
        name: str,
        seen: dict[int, NodeRef],
        order: list[NodeRef],
        leaves: dict[str, int],
    ) -> bool:
        """Collect the nodes to evaluate for ``name`` in topological order."""
        if name in self._bad:
            return False
        if name in self._failed:
            return False
        if name in self._values:
            leaves[name] = self._values[name].nbytes
            return True
        if name in leaves:
            return True
        stored = self._stored(name)
        if stored is not None:
            leaves[name] = stored.nbytes
            return True
        ref = self.index.producer.get(name)
        if not self._evaluable(ref):
            if ref is None or ref.node.op_type != "Constant":
                self._bad.add(name)
            return False
        assert ref is not None
        if id(ref) in seen:
            return True
        seen[id(ref)] = ref
        if len(seen) > self.max_nodes:
            return False
        for source in ref.node.input:
            if source and not self._gather(source, seen, order, leaves):
                if source in self._bad:
                    self._bad.add(name)
                return False
        order.append(ref)
        return True

    def _evaluate(self, ref: NodeRef, budget: int) -> int | None:
        """Evaluate one node of a gathered cone; the bytes it made, or None."""
        node = ref.node
        outs = [o for o in node.output if o]
        if all(o in self._values for o in outs):
            return 0
        if any(o in self._failed for o in outs):
            return None
        inputs: list[np.ndarray | None] = [
            (self._values.get(n) if n in self._values else self._stored(n)) if n else None
            for n in node.input
        ]
        if any(v is None for n, v in zip(node.input, inputs, strict=True) if n):
            return None
        estimate = _output_elements(node.op_type, inputs)
        limit = min(budget, self.max_total_bytes - self._spent)
        if not _inputs_ok(node, inputs) or (estimate is not None and estimate * 8 > limit):
            self._failed.update(outs)
            return None
        result = evaluate_node(node, inputs, self.index.opsets)
        if result is not None:
            if self._shapes is None:
                self._shapes = self.index.inferred_shapes()
            if len(result) != len(outs) or not _matches_inference(node, result, self._shapes):
                result = None
        made = 0 if result is None else sum(v.nbytes for v in result)
        if result is None or made > limit:
            self._failed.update(outs)
            return None
        self._spent += made
        self._values.update(zip(outs, result, strict=True))
        return made
