"""OSL103 duplicate-constant."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import onnx

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import GraphScope, ModelIndex, NodeRef, constant_node_tensor
from onnxslim_lint.model.tensors import node_nbytes, tensor_detail, tensor_nbytes
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note

_SAMPLE = 64


@dataclass(eq=False)
class _Member:
    name: str
    scope: GraphScope
    tensor: onnx.TensorProto
    node: NodeRef | None  # the Constant node, or None for an initializer
    nbytes: int
    pinned: bool  # a graph output or named by a side table: its name must stay

    @property
    def order(self) -> tuple[int, int, int]:
        position = self.node.position if self.node else -1
        return (self.scope.depth, 0 if self.node is None else 1, position)


class DuplicateConstant(GraphRule[tuple[_Member, _Member]]):
    """
    ## What it does
    Finds initializers and Constant nodes that hold the same tensor: the same
    element type, the same dims and the same bytes. Every copy but one is removed
    and its readers are rewired to the one that stays.

    ## Why is this bad?
    Exporters store the same constant many times: every ``Reshape`` gets its own
    shape tensor, every layer its own ``0.5`` or ``sqrt(d)``, shared weights are
    written once per use. Each copy costs file size and memory.

    ## What it leaves alone
    - Tensors compared bit by bit, never by value: ``0.0`` and ``-0.0`` differ, and so
      do NaNs with different payloads; an int32 ``[0, 0]`` and a float32 ``[0, 0]``
      differ, as do shapes ``[4]`` and ``[2, 2]``. The same values stored as
      ``raw_data`` and as typed fields are the same tensor.
    - An initializer that is also a graph input (an overridable default) is never
      merged: the caller may replace it.
    - A copy whose name is a graph output (of the main graph or a subgraph) keeps
      its name; it may serve as the copy others read.
    - A copy is only rewired to one that is visible where it is read (an outer
      graph's constant may serve a subgraph, never the other way round).
    - String tensors and sparse tensors.

    ## Example
    ``Reshape(x, shape_1)`` and ``Reshape(y, shape_2)`` with two initializers
    ``int64[2] = [-1, 64]``: ``shape_2`` is removed and the second Reshape reads
    ``shape_1``.

    ## Fix safety
    Exact: every reader sees the same bits as before.
    """

    code = "OSL103"
    name = "duplicate-constant"
    summary = "Byte-identical initializers and Constant nodes stored more than once"
    fix_title = "Keep one copy of each constant and rewire its readers"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[tuple[_Member, _Member]]:
        return _plan_merges(ctx.index)

    def saving(self, item: tuple[_Member, _Member]) -> Saving:
        member, keep = item
        kind = "initializer" if member.node is None else "constant"
        detail = f"{tensor_detail(member.tensor)} = {keep.name}"
        location = Location(kind, member.name, member.scope.path, detail, member.nbytes)
        return Saving((location,), nbytes=member.nbytes, nodes=int(member.node is not None))

    def message(self, items: Sequence[tuple[_Member, _Member]], total: Saving) -> str:
        return f"{plural(len(items), 'duplicate constant')}{size_note(total.nbytes)}"

    def apply(self, index: ModelIndex, items: Sequence[tuple[_Member, _Member]]) -> bool:
        editor = Editor(index)
        for member, keep in items:
            editor.replace_uses(member.name, keep.name)
            if member.node is None:
                editor.remove_initializer(member.scope, member.name)
            else:
                editor.remove_node(member.node)
        editor.commit()
        return bool(items)


def _plan_merges(index: ModelIndex) -> list[tuple[_Member, _Member]]:
    groups: dict[tuple[int, tuple[int, ...]], list[_Member]] = defaultdict(list)
    for member in _members(index):
        groups[(member.tensor.data_type, tuple(member.tensor.dims))].append(member)
    merges: list[tuple[_Member, _Member]] = []
    for group in groups.values():
        if len(group) < 2:
            continue
        # Touch bytes only here, and compare whole contents only on a sample match.
        buckets: dict[bytes, list[_Member]] = defaultdict(list)
        for member in group:
            buckets[_sample(index.tensor_data(member.tensor))].append(member)
        for bucket in buckets.values():
            if len(bucket) > 1:
                merges.extend(_merge_bucket(index, bucket))
    return merges


def _merge_bucket(index: ModelIndex, bucket: list[_Member]) -> list[tuple[_Member, _Member]]:
    """Split by exact contents, then pair each removable copy with a visible keeper."""
    distinct: list[tuple[bytes | memoryview, list[_Member]]] = []
    for member in sorted(bucket, key=lambda m: m.order):
        data = index.tensor_data(member.tensor)
        for contents, same in distinct:
            if contents == data:
                same.append(member)
                break
        else:
            distinct.append((data, [member]))
    merges: list[tuple[_Member, _Member]] = []
    for _, same in distinct:
        keepers: list[_Member] = []
        for member in same:
            keeper = next((k for k in keepers if _visible(k, member)), None)
            if keeper is None or member.pinned:
                keepers.append(member)
            else:
                merges.append((member, keeper))
    return merges


def _visible(keeper: _Member, member: _Member) -> bool:
    """Is ``keeper`` defined before every read of ``member``?"""
    if not keeper.scope.is_ancestor_or_self(member.scope):
        return False
    if keeper.node is None:
        return True  # initializers are defined before any node
    # A Constant keeper must come before the member's node, or before the node
    # of keeper's graph that holds the subgraph the member lives in.
    position = member.node.position if member.node is not None else -1
    scope = member.scope
    while scope is not keeper.scope:
        assert scope.owner is not None
        position = scope.owner.position
        scope = scope.owner.scope
    return position > keeper.node.position


def _members(index: ModelIndex) -> list[_Member]:
    members: list[_Member] = []

    def pinned(name: str) -> bool:
        return index.is_graph_output(name) or name in index.side_table_names

    for name, (scope, tensor) in index.initializers.items():
        if name in scope.input_names or not _comparable(index, tensor):
            continue
        members.append(_Member(name, scope, tensor, None, tensor_nbytes(tensor), pinned(name)))
    for ref in index.nodes():
        node = ref.node
        if node.op_type != "Constant" or not is_default_domain(node.domain):
            continue
        if len(node.output) != 1 or not node.output[0]:
            continue
        value = constant_node_tensor(node)
        if value is None or not _comparable(index, value):
            continue
        name = node.output[0]
        members.append(_Member(name, ref.scope, value, ref, node_nbytes(node), pinned(name)))
    return members


def _comparable(index: ModelIndex, tensor: onnx.TensorProto) -> bool:
    no_bytes = (onnx.TensorProto.STRING, onnx.TensorProto.UNDEFINED)
    return tensor.data_type not in no_bytes and index.has_data(tensor)


def _sample(data: bytes | memoryview) -> bytes:
    """A few bytes from the start, middle and end: a cheap key before a full compare."""
    if len(data) <= 3 * _SAMPLE:
        return bytes(data)
    middle = len(data) // 2
    return bytes(data[:_SAMPLE]) + bytes(data[middle : middle + _SAMPLE]) + bytes(data[-_SAMPLE:])
