"""OSL214 zero-initial-state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.graphs import has_subgraph
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.symbolic import Dim, SymbolicShapes
from onnxslim_lint.model.tensors import node_nbytes_at_least
from onnxslim_lint.rules.base import (
    CheckContext,
    GraphRule,
    Requires,
    Saving,
    plural,
    size_note,
    tally,
)

# The initial-state inputs (initial_h, then initial_c for LSTMs) of each recurrent op,
# by domain and op type.
_STATE_SLOTS: dict[tuple[str, str], tuple[int, ...]] = {
    ("", "RNN"): (5,),
    ("", "GRU"): (5,),
    ("", "LSTM"): (5, 6),
    ("com.microsoft", "DynamicQuantizeLSTM"): (5, 6),
}
_MAX_CONE = 64  # nodes looked at behind one state: the chains that build zeros are short


@dataclass(eq=False)
class _ZeroState:
    node: NodeRef  # the recurrent node
    slots: tuple[int, ...]  # its initial-state inputs that are zeros: dropped
    cone: list[NodeRef] = field(default_factory=list)  # nodes that built only them


class ZeroInitialState(GraphRule[_ZeroState]):
    """
    ## What it does
    Finds ``RNN``, ``GRU`` and ``LSTM`` nodes (and onnxruntime's
    ``DynamicQuantizeLSTM``) whose ``initial_h`` or ``initial_c`` is proven to be all
    zeros of the shape the op expects, drops that input (an absent initial state is
    zero by the op's definition) and removes the nodes that built only it. Zeros are
    followed through ``ConstantOfShape``, ``Expand`` of a zero scalar, ``Slice``,
    ``Concat``, ``Unsqueeze``, ``Reshape``, ``Cast`` and the like, and the shape is
    compared as symbols (:mod:`onnxslim_lint.model.symbolic`), so a state of
    ``[2, batch, 64]`` built from ``Shape(x)`` of a dynamic batch counts.

    ## Why is this bad?
    PyTorch and tf2onnx export ``h0 = torch.zeros(2, x.size(1), 64)`` (or Keras'
    zero states) as ``Shape -> Gather -> Concat -> ConstantOfShape`` chains feeding
    the recurrent op. Each run computes and fills a tensor the op would assume
    anyway.

    ## What it leaves alone
    - A state not proven zero: a graph input, an initializer that is also a graph
      input (the caller may feed another value), ``-0.0`` (its bits differ), a value
      computed from the model's inputs.
    - A state whose shape is not proven to be ``[directions, batch, hidden_size]``
      (``[batch, directions, hidden_size]`` with ``layout = 1``).
    - Nodes inside subgraphs; the building nodes that anything else reads.

    ## Example
    ``z = ConstantOfShape(Concat([2], Gather(Shape(x), 1), [64])); y = LSTM(x, W, R,
    B, "", z, z)`` becomes ``y = LSTM(x, W, R, B)``.

    ## Fix safety
    Exact: the recurrent ops start from zeros when no initial state is given, the
    same numbers as the zeros the model built.
    """

    code = "OSL214"
    name = "zero-initial-state"
    summary = "Recurrent ops given an initial state of zeros"
    fix_title = "Drop the zero initial states"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT
    requires = Requires(min_ir_version=3)

    def match(self, ctx: CheckContext) -> list[_ZeroState]:
        index = ctx.index
        recurrent = [
            ref
            for ref in index.nodes()
            if ref.scope is index.main and _state_slots(ref) and not has_subgraph(ref.node)
        ]
        if not recurrent:
            return []
        symbolic = SymbolicShapes.analyze(index)
        found: list[_ZeroState] = []
        for ref in recurrent:
            slots = tuple(slot for slot in _state_slots(ref) if _zero_state(symbolic, ref, slot))
            if slots:
                found.append(_ZeroState(ref, slots))
        if found:
            _assign_cones(index, found)
        return found

    def saving(self, item: _ZeroState) -> Saving:
        names = [item.node.node.input[slot] for slot in item.slots]
        location = Location("node", item.node.label, "main", f"zeros: {', '.join(names)}", 0)
        nbytes = sum(node_nbytes_at_least(ref.node) for ref in item.cone)
        return Saving((location,), count=len(item.slots), nbytes=nbytes, nodes=len(item.cone))

    def message(self, items: Sequence[_ZeroState], total: Saving) -> str:
        ops = tally(item.node.node.op_type for item in items)
        removed = tally(ref.node.op_type for item in items for ref in item.cone)
        fewer = f", {plural(total.nodes, 'node')} fewer ({removed})" if total.nodes else ""
        return (
            f"{plural(total.count, 'initial state')} of zeros given to {ops}"
            f"{fewer}{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_ZeroState]) -> bool:
        editor = Editor(index)
        for item in items:
            inputs = item.node.node.input
            for slot in item.slots:
                inputs[slot] = ""
            while inputs and not inputs[-1]:
                del inputs[-1]
            for ref in item.cone:
                editor.remove_node(ref)
        editor.commit()
        return bool(items)


def _state_slots(ref: NodeRef) -> tuple[int, ...]:
    node = ref.node
    domain = "" if is_default_domain(node.domain) else node.domain
    slots = _STATE_SLOTS.get((domain, node.op_type), ())
    return tuple(slot for slot in slots if slot < len(node.input) and node.input[slot])


def _zero_state(symbolic: SymbolicShapes, ref: NodeRef, slot: int) -> bool:
    """The state is zeros of exactly the shape the op takes."""
    node = ref.node
    state = node.input[slot]
    if not symbolic.is_zeros(state):
        return False
    return symbolic.shape(state) == _state_shape(symbolic, ref)


def _state_shape(symbolic: SymbolicShapes, ref: NodeRef) -> tuple[Dim, ...] | None:
    node = ref.node
    data = symbolic.shape(node.input[0]) if node.input and node.input[0] else None
    attributes = {a.name: a for a in node.attribute}
    hidden = attributes["hidden_size"].i if "hidden_size" in attributes else 0
    if data is None or len(data) != 3 or hidden <= 0:
        return None
    direction = attributes["direction"].s if "direction" in attributes else b"forward"
    directions = 2 if direction == b"bidirectional" else 1
    if "layout" in attributes and attributes["layout"].i:
        return (data[0], directions, hidden)
    return (directions, data[1], hidden)


def _assign_cones(index: ModelIndex, items: list[_ZeroState]) -> None:
    """Give each item the main-graph nodes that are dead once every item's zero
    states are dropped; a node shared by several items goes to the first one."""
    dropped = {(id(item.node), slot) for item in items for slot in item.slots}
    order = {id(ref): position for position, ref in enumerate(index.nodes())}
    candidates: dict[int, NodeRef] = {}
    pending = [item.node.node.input[slot] for item in items for slot in item.slots]
    while pending and len(candidates) < _MAX_CONE * len(items):
        producer = index.producer.get(pending.pop())
        if producer is None or id(producer) in candidates:
            continue
        candidates[id(producer)] = producer
        if producer.node.op_type not in ("Shape", "Size"):  # they read no values
            pending.extend(name for name in producer.node.input if name)
    members: set[int] = set()

    def dead_after(name: str) -> bool:
        if index.is_graph_output(name) or name in index.side_table_names:
            return False
        for use in index.uses_of(name):
            if use.node is None:
                return False
            if (id(use.node), use.slot) not in dropped and id(use.node) not in members:
                return False
        return True

    # readers before the nodes they read: each node is judged once its readers are
    for ref in sorted(candidates.values(), key=lambda r: order[id(r)], reverse=True):
        node = ref.node
        outputs = [out for out in node.output if out]
        if ref.scope is not index.main or has_subgraph(node) or not outputs:
            continue
        if all(dead_after(out) for out in outputs):
            members.add(id(ref))
    assigned: set[int] = set()
    for item in items:
        pending = [item.node.node.input[slot] for slot in item.slots]
        while pending:
            producer = index.producer.get(pending.pop())
            if producer is None or id(producer) not in members or id(producer) in assigned:
                continue
            assigned.add(id(producer))
            item.cone.append(producer)
            pending.extend(name for name in producer.node.input if name)
