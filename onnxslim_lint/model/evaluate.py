"""Evaluate nodes on constant inputs, exactly.

Evaluation uses onnx's reference evaluator on a one-node model, only for an
allowlist of default-domain ops whose result is exact (the same bits as any
runtime computes: data movement, integer arithmetic, comparisons and correctly
rounded float arithmetic). Reductions of floats, matrix products, transcendental
functions and random ops are never evaluated. Which nodes to fold into
initializers is the folding rules' decision (:mod:`onnxslim_lint.rules._folding`);
:class:`ConeEvaluator` computes values in memory for rules that only look at them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx

from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.graphs import has_subgraph
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.randomness import RANDOM_OPS
from onnxslim_lint.model.shapes import ShapeInfo
from onnxslim_lint.model.tensors import tensor_nbytes

__all__ = [
    "EXACT_OPS",
    "MAX_EVAL_BYTES",
    "ConeEvaluator",
    "constant_value",
    "evaluate_node",
    "inputs_evaluable",
    "matches_inference",
    "output_elements",
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
MAX_EVAL_BYTES = 64 * 1024 * 1024


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
    for result in results:
        value = result if isinstance(result, np.ndarray) else None
        if value is None and np.isscalar(result):
            value = np.asarray(result)
        if value is None or value.dtype not in _DTYPES:
            return None
        arrays.append(value)
    return arrays


def constant_value(index: ModelIndex, name: str) -> np.ndarray | None:
    value = index.constant_array(name)
    if value is None:
        return None
    return value if value.dtype in _DTYPES else None


def inputs_evaluable(node: onnx.NodeProto, inputs: list[np.ndarray | None]) -> bool:
    present = [v for v in inputs if v is not None]
    if sum(v.nbytes for v in present) > MAX_EVAL_BYTES:
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
    estimate = output_elements(node.op_type, inputs)
    return estimate is None or estimate * 8 <= MAX_EVAL_BYTES


# Ops whose output takes the broadcast of their inputs' shapes: two small constants
# ([N, 1] and [1, N]) can make an N * N one.
_BROADCASTING_OPS = frozenset(
    {
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "BitShift", "PRelu", "Where",
        "And", "Or", "Xor", "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual",
        "Max", "Min", "Mean", "Sum", "BitwiseAnd", "BitwiseOr", "BitwiseXor",
    }
)  # fmt: skip


def output_elements(op: str, inputs: list[np.ndarray | None]) -> float | None:
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
        if op in _BROADCASTING_OPS:
            shapes = [v.shape for v in inputs if v is not None]
            if len(shapes) >= 2:
                rank = max(len(shape) for shape in shapes)
                padded = [(1,) * (rank - len(shape)) + tuple(shape) for shape in shapes]
                return float(np.prod([max(d) for d in zip(*padded, strict=True)], dtype=np.float64))
        if op == "MatMul" and inputs[0] is not None and inputs[1] is not None:
            left, right = inputs[0].shape, inputs[1].shape
            rows = left[-2] if len(left) >= 2 else 1
            cols = right[-1] if len(right) >= 2 else 1
            pairs = zip(left[:-2][::-1], right[:-2][::-1], strict=False)
            batch = [max(x, y) for x, y in pairs]
            longer = left[:-2] if len(left) > len(right) else right[:-2]
            rest = longer[: len(longer) - len(batch)]
            return float(np.prod([*rest, *batch, rows, cols], dtype=np.float64))
        if op == "Range" and all(v is not None for v in inputs[:3]):
            start, limit, delta = (float(v) for v in inputs[:3] if v is not None)
            return 0.0 if delta == 0 else max(np.ceil((limit - start) / delta), 0.0)
    except (TypeError, ValueError, IndexError):
        return float("inf")
    return None


def matches_inference(node: onnx.NodeProto, result: list[np.ndarray], shapes: ShapeInfo) -> bool:
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
        self._shapes: ShapeInfo | None = None

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
        return constant_value(index, name)

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
        estimate = output_elements(node.op_type, inputs)
        limit = min(budget, self.max_total_bytes - self._spent)
        if not inputs_evaluable(node, inputs) or (estimate is not None and estimate * 8 > limit):
            self._failed.update(outs)
            return None
        result = evaluate_node(node, inputs, self.index.opsets)
        if result is not None:
            if self._shapes is None:
                self._shapes = self.index.inferred_shapes()
            if len(result) != len(outs) or not matches_inference(node, result, self._shapes):
                result = None
        made = 0 if result is None else sum(v.nbytes for v in result)
        if result is None or made > limit:
            self._failed.update(outs)
            return None
        self._spent += made
        self._values.update(zip(outs, result, strict=True))
        return made
