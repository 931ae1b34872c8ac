"""OSL215 constant-if."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, MutableSequence, Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.evaluate import EXACT_OPS, evaluate_node, inputs_evaluable
from onnxslim_lint.model.graphs import all_graphs, all_nodes, has_subgraph, subgraphs
from onnxslim_lint.model.index import GraphScope, ModelIndex, NodeRef
from onnxslim_lint.model.randomness import RANDOM_OPS
from onnxslim_lint.model.shapes import ShapeInfo
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note


@dataclass(frozen=True)
class TakenBranch:
    """An If whose condition is known: the branch every run takes."""

    ref: NodeRef
    branch: str  # "then_branch" or "else_branch"
    condition: str  # how the condition is known, for the report


class ConstantIf(GraphRule[TakenBranch]):
    """
    ## What it does
    Finds ``If`` nodes whose condition is the same on every run and replaces each
    by the nodes of the branch it takes: the branch's nodes and initializers move
    into the graph that held the If, the branch's outputs take the If's output
    names, and the other branch is dropped.

    A condition is known when it is a constant (an initializer that is no graph
    input, a ``Constant`` node), or is computed by exact ops (``Equal``, ``Not``,
    ``Cast``, ``Squeeze``, ``Gather``, ...) from constants and from dims that onnx
    shape inference proves static: ``Shape``/``Size`` of a value whose dims are
    fixed, a ``Gather`` of a ``Shape`` that picks only fixed dims, the rank
    (``Size(Shape(x))``) of a value of known rank.

    ## Why is this bad?
    Exporters trace Python branches into If nodes even where the branch taken is
    fixed by the model itself (``if state.shape[0]``, ``if x.dim() != 2``), and
    tools that inline functions leave If nodes on constants. Every run evaluates
    the condition, and the untaken branch is dead weight in the file; the nodes
    inside a subgraph are also hidden from the fixes that work on the main graph.

    ## What it leaves alone
    - A condition that depends on a graph input's value (silero VAD's
      ``Equal(sr, 16000)``) or on a dim that is symbolic or unknown: an input
      with a dynamic batch size stays dynamic, whatever value a run happens to use.
    - Dims are taken from onnx shape inference on a copy of the model with every
      ``value_info`` cleared, never from the model's annotations, and not inside
      ``Loop``/``Scan`` bodies, where a loop-carried value may change shape from one
      iteration to the next (a constant condition folds there too).
    - An If in a model-local function, an If named by a side table
      (quantization annotations, training bindings), and a branch with
      initializers in a model of IR version 3 (initializers must be graph inputs).

    ## Example
    ``c = Constant<value = bool {1}>(); y = If(c) then { y1 = Relu(x) } else
    { y2 = Neg(x) }`` becomes ``y = Relu(x)``.

    ## Fix safety
    Exact: If runs exactly the nodes of the branch its condition selects, and the
    condition is the same on every run. Names a moved node would shadow in the
    graph it moves to are renamed to fresh ones.
    """

    code = "OSL215"
    name = "constant-if"
    summary = "If nodes whose condition is the same on every run"
    fix_title = "Replace the If nodes by the branch they take"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[TakenBranch]:
        index = ctx.index
        candidates = [ref for ref in index.nodes() if _is_plain_if(index, ref)]
        if not candidates:
            return []
        evaluator = _ConditionEvaluator(index)
        found: list[TakenBranch] = []
        for ref in candidates:
            if any(_inside(ref.scope, item.ref) for item in found):
                continue  # inside an If this round already inlines: the next round
            known = evaluator.condition(ref)
            if known is None:
                continue
            value, how = known
            branch = "then_branch" if value else "else_branch"
            if _branch(ref.node, branch) is None:
                continue
            found.append(TakenBranch(ref, branch, how))
        return found

    def saving(self, item: TakenBranch) -> Saving:
        node = item.ref.node
        dropped = _branch(node, _other(item.branch))
        taken = _branch(node, item.branch)
        assert dropped is not None and taken is not None
        nodes = 1 + sum(1 for _ in all_nodes(dropped)) - _identities_needed(taken)
        nbytes = node.ByteSize() - taken.ByteSize()
        detail = f"takes {item.branch} ({item.condition})"
        location = Location("node", item.ref.label, item.ref.scope.path, detail, 0)
        return Saving((location,), nbytes=nbytes, nodes=nodes)

    def message(self, items: Sequence[TakenBranch], total: Saving) -> str:
        return f"{plural(len(items), 'If node')} with a constant condition" + size_note(
            total.nbytes
        )

    def apply(self, index: ModelIndex, items: Sequence[TakenBranch]) -> bool:
        if not items:
            return False
        defined = Counter(_defined_everywhere(index.model.graph))
        taken_names = set(defined) | set(index.uses) | set(index.side_table_names)
        by_scope: dict[int, list[TakenBranch]] = {}
        for item in items:
            by_scope.setdefault(id(item.ref.scope), []).append(item)
        for group in by_scope.values():
            scope = group[0].ref.scope
            replacement: dict[int, list[onnx.NodeProto]] = {}
            for item in group:
                replacement[item.ref.position] = _inline(scope.graph, item, defined, taken_names)
            nodes = list(scope.graph.node)
            del scope.graph.node[:]
            for position, node in enumerate(nodes):
                if position in replacement:
                    scope.graph.node.extend(replacement[position])
                else:
                    scope.graph.node.append(node)
        return True


# -- which Ifs ------------------------------------------------------------------------


def _is_plain_if(index: ModelIndex, ref: NodeRef) -> bool:
    node = ref.node
    if node.op_type != "If" or not is_default_domain(node.domain) or len(node.input) != 1:
        return False
    if not node.input[0] or not any(out for out in node.output):
        return False
    if _branch(node, "then_branch") is None or _branch(node, "else_branch") is None:
        return False
    inner = [name for graph in subgraphs(node) for name in _defined_everywhere(graph)]
    if any(name in index.side_table_names for name in (*inner, *node.output)):
        return False
    for graph in subgraphs(node):
        if any(sub.quantization_annotation for sub in all_graphs(graph)):
            return False
        if len(graph.output) != len(node.output) or graph.input:
            return False
        tensors = bool(graph.initializer or graph.sparse_initializer)
        if tensors and index.model.ir_version < 4:  # initializers must be inputs there
            return False
    return True


def _inside(scope: GraphScope, owner: NodeRef) -> bool:
    """True when ``scope`` is one of the subgraphs of ``owner``, at any depth."""
    current: GraphScope | None = scope
    while current is not None:
        if current.owner is owner:
            return True
        current = current.parent
    return False


def _branch(node: onnx.NodeProto, name: str) -> onnx.GraphProto | None:
    for attr in node.attribute:
        if attr.name == name and attr.type == onnx.AttributeProto.GRAPH:
            return attr.g
    return None


def _other(branch: str) -> str:
    return "else_branch" if branch == "then_branch" else "then_branch"


# -- the condition --------------------------------------------------------------------

# A dim vector from a Shape: an int where the dim is static, None where it is not.
_Dims = tuple[int | None, ...]
_MAX_ELEMENTS = 4096  # a condition's cone holds small shape arithmetic only
_MAX_DEPTH = 32


class _ConditionEvaluator:
    """Values of condition cones, from constants and statically known dims."""

    def __init__(self, index: ModelIndex) -> None:
        self.index = index
        self._shapes: ShapeInfo | None = None
        self._memo: dict[str, np.ndarray | _Dims | None] = {}
        self.used_shapes = False
        # A name defined twice (sibling branches may reuse one) has one entry in the
        # inferred shapes, for one of its definitions: its dims are never used.
        self._defined = Counter(_defined_everywhere(index.model.graph))

    def condition(self, ref: NodeRef) -> tuple[bool, str] | None:
        name = ref.node.input[0]
        self.used_shapes = False
        value = self._value(name, _in_loop(ref.scope), 0)
        if not isinstance(value, np.ndarray) or value.size != 1 or value.dtype != np.bool_:
            return None
        how = "static shapes" if self.used_shapes else "constant"
        return bool(value.reshape(-1)[0]), how

    def shapes(self) -> ShapeInfo:
        if self._shapes is None:
            self._shapes = self.index.inferred_shapes()
        return self._shapes

    def _value(self, name: str, in_loop: bool, depth: int) -> np.ndarray | _Dims | None:
        key = f"{int(in_loop)}:{name}"
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = None  # a cycle (malformed graph) evaluates to unknown
        value = self._compute(name, in_loop, depth)
        self._memo[key] = value
        return value

    def _compute(self, name: str, in_loop: bool, depth: int) -> np.ndarray | _Dims | None:
        index = self.index
        if depth > _MAX_DEPTH:
            return None
        stored = index.constant_array(name)
        if stored is not None:
            return stored if stored.size <= _MAX_ELEMENTS else None
        if index.is_graph_input(name):
            return None
        ref = index.producer.get(name)
        if ref is None or not is_default_domain(ref.node.domain) or has_subgraph(ref.node):
            return None
        node = ref.node
        if node.op_type in ("Shape", "Size"):
            if in_loop or len(node.input) != 1 or len(node.output) != 1:
                return None
            return self._shape_of(node)
        if node.op_type not in EXACT_OPS or node.op_type in RANDOM_OPS or len(node.output) != 1:
            return None
        inputs = [self._value(n, in_loop, depth + 1) if n else None for n in node.input]
        if node.op_type in ("Gather", "Slice") and isinstance(inputs[0], tuple):
            return _pick(node, inputs)
        arrays: list[np.ndarray | None] = []
        for source, value in zip(node.input, inputs, strict=True):
            if source and not isinstance(value, np.ndarray):
                return None
            arrays.append(value if isinstance(value, np.ndarray) else None)
        if not inputs_evaluable(node, arrays):
            return None
        result = evaluate_node(node, arrays, index.opsets)
        if result is None or len(result) != 1 or result[0].size > _MAX_ELEMENTS:
            return None
        return result[0]

    def _shape_of(self, node: onnx.NodeProto) -> np.ndarray | _Dims | None:
        if self._defined[node.input[0]] != 1:
            return None
        dims = self.shapes().get(node.input[0], (0, None))[1]
        if dims is None:
            return None
        self.used_shapes = True
        if node.op_type == "Size":
            static = [d for d in dims if d is not None]
            if len(static) != len(dims):
                return None
            return np.array(int(np.prod(static, dtype=np.int64)), dtype=np.int64)
        rank = len(dims)
        start = next((a.i for a in node.attribute if a.name == "start"), 0)
        end = next((a.i for a in node.attribute if a.name == "end"), rank)
        start = min(max(start + rank if start < 0 else start, 0), rank)
        end = min(max(end + rank if end < 0 else end, 0), rank)
        picked = tuple(dims[start:end])
        if all(d is not None for d in picked):
            return np.array(picked, dtype=np.int64)
        return picked


def _pick(node: onnx.NodeProto, inputs: list[np.ndarray | _Dims | None]) -> np.ndarray | None:
    """``Gather``/``Slice`` of a partly static shape, when it picks only static dims."""
    vector = inputs[0]
    assert isinstance(vector, tuple)
    consts = inputs[1:]
    if any(not isinstance(c, np.ndarray) for c in consts if c is not None):
        return None
    arrays = [c for c in consts if isinstance(c, np.ndarray)]
    n = len(vector)
    if node.op_type == "Gather":
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if axis not in (0, -1) or len(arrays) != 1 or arrays[0].dtype.kind not in "iu":
            return None
        flat = [int(i) for i in arrays[0].reshape(-1)]
        if any(i < -n or i >= n for i in flat):
            return None
        picked = [vector[i] for i in flat]
        if any(d is None for d in picked):
            return None
        return np.array(picked, dtype=np.int64).reshape(arrays[0].shape)
    if len(consts) < 2 or len(node.input) < 3 or not all(isinstance(c, np.ndarray) for c in consts):
        return None  # Slice: the opset >= 10 form with constant starts, ends, axes, steps
    starts, ends = arrays[0].reshape(-1), arrays[1].reshape(-1)
    axes = [int(a) for a in arrays[2].reshape(-1)] if len(arrays) > 2 else [0]
    steps = [int(s) for s in arrays[3].reshape(-1)] if len(arrays) > 3 else [1]
    if len(starts) != 1 or len(ends) != 1 or axes not in ([0], [-1]) or steps != [1]:
        return None
    start, end = int(starts[0]), int(ends[0])
    start = min(max(start + n if start < 0 else start, 0), n)
    end = min(max(end + n if end < 0 else end, 0), n)
    sliced = vector[start:end]
    if any(d is None for d in sliced):
        return None
    return np.array(sliced, dtype=np.int64)


def _in_loop(scope: GraphScope) -> bool:
    """True inside a Loop or Scan body (or any graph that is not an If branch)."""
    current: GraphScope | None = scope
    while current is not None and current.owner is not None:
        if current.owner.node.op_type != "If":
            return True
        current = current.parent
    return False


# -- inlining -------------------------------------------------------------------------


def _identities_needed(branch: onnx.GraphProto) -> int:
    """How many branch outputs cannot be renamed into place (each needs an Identity)."""
    local = {out for node in branch.node for out in node.output if out}
    local |= {t.name for t in branch.initializer}
    seen: set[str] = set()
    count = 0
    for value in branch.output:
        if value.name in local and value.name not in seen:
            seen.add(value.name)
        else:
            count += 1
    return count


def _defined_everywhere(graph: onnx.GraphProto) -> Iterator[str]:
    """Every name a graph and its subgraphs define, once per definition."""
    for sub in all_graphs(graph):
        yield from (value.name for value in sub.input)
        yield from (tensor.name for tensor in sub.initializer)
        yield from (sparse.values.name for sparse in sub.sparse_initializer)
        yield from (out for node in sub.node for out in node.output if out)


def _inline(
    parent: onnx.GraphProto, item: TakenBranch, defined: Counter[str], taken_names: set[str]
) -> list[onnx.NodeProto]:
    """The nodes that replace the If; moves the branch's tensors into ``parent``."""
    node = item.ref.node
    branch = onnx.GraphProto()
    taken = _branch(node, item.branch)
    assert taken is not None
    branch.CopyFrom(taken)
    # Names defined anywhere but in this If's own subgraphs: a moved name must not
    # equal one of them (it would be defined twice, or shadow a subgraph's name).
    elsewhere = defined.copy()
    for graph in subgraphs(node):
        elsewhere.subtract(_defined_everywhere(graph))
    for out in node.output:
        elsewhere[out] -= 1
    local = [out for n in branch.node for out in n.output if out]
    local += [t.name for t in branch.initializer]
    local += [s.values.name for s in branch.sparse_initializer]
    renames: dict[str, str] = {}
    identities: list[onnx.NodeProto] = []
    for value, target in zip(branch.output, node.output, strict=True):
        if not target:
            continue
        if value.name in local and value.name not in renames:
            renames[value.name] = target
        else:
            source = renames.get(value.name, value.name)
            identities.append(onnx.helper.make_node("Identity", [source], [target]))
    for name in local:
        if name not in renames and elsewhere[name] > 0:
            renames[name] = _fresh(name, taken_names)
    _rename(branch, renames)
    parent.initializer.extend(branch.initializer)
    parent.sparse_initializer.extend(branch.sparse_initializer)
    present = {value.name for value in parent.value_info} | set(node.output)
    parent.value_info.extend(v for v in branch.value_info if v.name not in present)
    return [*branch.node, *identities]


def _fresh(base: str, taken_names: set[str]) -> str:
    candidate, counter = base, 1
    while candidate in taken_names:
        candidate = f"{base}_{counter}"
        counter += 1
    taken_names.add(candidate)
    return candidate


def _rename(branch: onnx.GraphProto, renames: dict[str, str]) -> None:
    """Rename values in the branch and in every subgraph below it (which read them)."""
    if not renames:
        return
    for graph in all_graphs(branch):
        for node in graph.node:
            _replace(node.input, renames)
            _replace(node.output, renames)
        for tensor in graph.initializer:
            tensor.name = renames.get(tensor.name, tensor.name)
        for sparse in graph.sparse_initializer:
            sparse.values.name = renames.get(sparse.values.name, sparse.values.name)
        for value in _values(graph):
            value.name = renames.get(value.name, value.name)


def _values(graph: onnx.GraphProto) -> Iterable[onnx.ValueInfoProto]:
    yield from graph.input
    yield from graph.output
    yield from graph.value_info


def _replace(names: MutableSequence[str], renames: dict[str, str]) -> None:
    for position, name in enumerate(names):
        if name in renames:
            names[position] = renames[name]
