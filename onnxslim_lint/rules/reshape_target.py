"""OSL213 reshape-target."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import onnx
from onnx import TensorProto, helper

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.graphs import has_subgraph
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.symbolic import SymbolicShapes
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

_MAX_CONE = 64  # nodes looked at behind one target: shape chains are short


@dataclass(eq=False)
class _Retarget:
    target: str  # the computed shape the Reshapes read
    readers: list[NodeRef]  # every reader of it: Reshapes that all take ``constant``
    constant: tuple[int, ...]
    cone: list[NodeRef]  # the nodes that computed only the target: removed
    added: int  # bytes of the constant's initializer


class ReshapeTarget(GraphRule[_Retarget]):
    """
    ## What it does
    Finds a ``Reshape`` whose target shape is computed (``Shape``, ``Slice``,
    ``Concat``... of other values) but is provably the same as a constant one, and
    gives it that constant: an entry equal to the input's dim at the same position
    becomes ``0`` (copy it; without ``allowzero``), one other symbolic entry becomes
    ``-1`` (the element count fixes it). The nodes that computed only that target
    are removed. Dims are compared as symbols (:mod:`onnxslim_lint.model.symbolic`).

    ## Why is this bad?
    Dynamo exports with dynamic axes spell every ``view(b, h, d, s)`` as a
    ``Shape -> Slice -> Concat`` chain; Whisper's cross-attention key reshape is
    ``Reshape(k, Concat(Shape(t)[:2], [64], [1500]))``, which is ``[-1, 6, 64,
    1500]``. Each run recomputes the chain, and a computed target hides the shape
    from other fixes (chain-merge wants constant targets).

    ## What it leaves alone
    - A target that is also read by anything but such Reshapes (another node, a
      graph output, a subgraph), or whose Reshapes need different constants.
    - A target with more than one entry not proven equal to the input's dim at
      that position (``-1`` can stand for one of them only).
    - A new ``-1`` beside a ``0`` or a zero dim: onnxruntime refuses ``-1`` when the
      other entries multiply to 0, so on an empty batch the constant target would
      fail where the computed one works.
    - When no node is removed (the target's inputs are read elsewhere), or the
      constant would take more bytes than the nodes removed; nodes inside
      subgraphs.

    ## Example
    With ``t: float[batch, 6, 1500, 64]`` and ``k: float[6*batch, 64, 1500]``,
    ``s = Shape(t, end=2); c = Concat(s, [64], [1500]); y = Reshape(k, c)`` becomes
    ``y = Reshape(k, [-1, 6, 64, 1500])``.

    ## Fix safety
    Exact: the constant target gives the same dims as the computed one on every
    input the computed one runs on, an empty batch included.

    ## Options
    ``max-folded-constant`` (see OSL204) caps the constant's size too.
    """

    code = "OSL213"
    name = "reshape-target"
    summary = "Reshapes to a computed shape that is a constant one"
    fix_title = "Give the Reshapes their constant target"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT
    requires = Requires(min_ir_version=4)

    def match(self, ctx: CheckContext) -> list[_Retarget]:
        index = ctx.index
        groups: dict[str, list[NodeRef]] = {}
        for ref in index.nodes():
            if ref.scope is index.main and _computed_reshape(index, ref):
                groups.setdefault(ref.node.input[1], []).append(ref)
        if not groups:
            return []
        symbolic = SymbolicShapes.analyze(index)
        order = {id(ref): position for position, ref in enumerate(index.nodes())}
        limit = ctx.options.max_folded_constant
        found: list[_Retarget] = []
        for target, readers in groups.items():
            plan = _plan(index, symbolic, order, target, readers)
            if plan is None or (limit is not None and plan.added > limit):
                continue
            found.append(plan)
        return found

    def saving(self, item: _Retarget) -> Saving:
        label = ", ".join(ref.label for ref in item.readers)
        detail = f"target {list(item.constant)}"
        nbytes = sum(node_nbytes_at_least(ref.node) for ref in item.cone) - item.added
        location = Location("node", label, "main", detail, 0)
        return Saving((location,), count=len(item.readers), nbytes=nbytes, nodes=len(item.cone))

    def message(self, items: Sequence[_Retarget], total: Saving) -> str:
        text = tally(ref.node.op_type for item in items for ref in item.cone)
        return (
            f"{plural(total.count, 'Reshape')} to a computed shape that is a constant "
            f"one, {plural(total.nodes, 'node')} fewer ({text}){size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Retarget]) -> bool:
        editor = Editor(index)
        made: dict[tuple[int, ...], str] = {}
        for item in items:
            name = made.get(item.constant)
            if name is None:
                name = index.fresh_name(f"{item.target}_constant")
                index.main.graph.initializer.append(_int64_tensor(name, item.constant))
                made[item.constant] = name
            for ref in item.readers:
                ref.node.input[1] = name
            for ref in item.cone:
                editor.remove_node(ref)
        editor.commit()
        return bool(items)


def _computed_reshape(index: ModelIndex, ref: NodeRef) -> bool:
    node = ref.node
    return (
        node.op_type == "Reshape"
        and is_default_domain(node.domain)
        and len(node.input) == 2
        and bool(node.input[0])
        and bool(node.input[1])
        and index.constant_tensor(node.input[1]) is None
        and node.input[1] in index.producer
    )


def exact_constant_target(symbolic: SymbolicShapes, node: onnx.NodeProto) -> tuple[int, ...] | None:
    """The constant target of a Reshape that gives the same dims as its computed one on
    every input that one runs on: a new ``-1`` only beside nonzero static entries."""
    constant = symbolic.constant_reshape_target(node)
    computed = symbolic.value(node.input[1])
    if constant is None or computed is None:
        return None
    introduced = -1 in constant and -1 not in computed
    if introduced and any(entry <= 0 for entry in constant if entry != -1):
        return None  # a copied or zero dim may make the others' product 0
    return constant


def _plan(
    index: ModelIndex,
    symbolic: SymbolicShapes,
    order: dict[int, int],
    target: str,
    readers: list[NodeRef],
) -> _Retarget | None:
    if index.is_graph_output(target) or target in index.side_table_names:
        return None
    uses = index.uses_of(target)
    mine = {id(ref) for ref in readers}
    if any(use.node is None or id(use.node) not in mine or use.slot != 1 for use in uses):
        return None
    constants = {exact_constant_target(symbolic, ref.node) for ref in readers}
    if len(constants) != 1:
        return None
    (constant,) = constants
    if constant is None:
        return None
    cone = _cone(index, order, target, mine)
    if not cone:
        return None
    added = _int64_tensor(f"{target}_constant", constant).ByteSize() + 4
    if added > sum(node_nbytes_at_least(ref.node) for ref in cone):
        return None
    return _Retarget(target, readers, constant, cone, added)


def _cone(
    index: ModelIndex, order: dict[int, int], target: str, readers: set[int]
) -> list[NodeRef]:
    """The main-graph nodes whose every output is read only as the Reshapes' target or
    by other such nodes: dead once the Reshapes read a constant."""
    members: set[int] = set()
    cone: list[NodeRef] = []
    candidates: dict[int, NodeRef] = {}
    pending = [target]
    while pending and len(candidates) < _MAX_CONE:
        producer = index.producer.get(pending.pop())
        if producer is None or id(producer) in candidates:
            continue
        candidates[id(producer)] = producer
        if producer.node.op_type not in ("Shape", "Size"):  # they read no values
            pending.extend(name for name in producer.node.input if name)

    def dead_after(name: str) -> bool:
        if index.is_graph_output(name) or name in index.side_table_names:
            return False
        for use in index.uses_of(name):
            if use.node is None:
                return False
            as_target = name == target and use.slot == 1 and id(use.node) in readers
            if not as_target and id(use.node) not in members:
                return False
        return True

    # readers before the nodes they read: each node is judged once its readers are
    for ref in sorted(candidates.values(), key=lambda r: order[id(r)], reverse=True):
        node = ref.node
        if ref.scope is not index.main or not is_default_domain(node.domain):
            continue
        outputs = [out for out in node.output if out]
        if has_subgraph(node) or not outputs:
            continue
        if all(dead_after(out) for out in outputs):
            members.add(id(ref))
            cone.append(ref)
    return cone


def _int64_tensor(name: str, values: tuple[int, ...]) -> TensorProto:
    """A 1-D int64 tensor in ``int64_data`` (a varint per small entry)."""
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], list(values))
