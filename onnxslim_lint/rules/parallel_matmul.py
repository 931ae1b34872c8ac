"""OSL407 parallel-matmul."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from onnxslim_lint.findings import FixAvailability, FixSafety, Location, format_bytes
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.tensors import (
    data_nbytes,
    node_nbytes,
    tensor_header_nbytes,
    tensor_nbytes,
)
from onnxslim_lint.rules._fusion import FLOAT_TYPES, forget, is_op, sole_reader
from onnxslim_lint.rules.base import (
    CheckContext,
    GraphRule,
    Requires,
    Saving,
    default_opset,
    plural,
)


@dataclass(eq=False)
class _Member:
    matmul: NodeRef  # MatMul(x, weight)
    weight: str  # a constant [K, n], read by nothing else
    n: int
    # The bias Add merged into the group's Add (None: no bias merged for this member;
    # an unmerged Add stays where it is and reads the Split's output).
    add: NodeRef | None = None
    bias: str | None = None


@dataclass(eq=False)
class _Group:
    x: str
    members: list[_Member]  # in graph order; members[0] is where the new nodes go
    merge_bias: bool  # one Add of the concatenated biases before the Split
    dtype: int  # the weights' element type
    axis: int  # the Split axis
    weight_name: str  # the concatenated weight
    bias_name: str  # the concatenated bias ("" unless merge_bias)
    sizes_name: str  # the Split sizes initializer ("" before opset 13)
    product: str  # the new MatMul's output
    biased: str  # the new Add's output ("" unless merge_bias)
    add_node: str  # node names of the new Add and Split
    split_node: str
    nodes: int = 0  # nodes saved
    saved: int = 0  # bytes saved
    new_sizes: bool = False  # this group makes the sizes initializer (else shares one)


class ParallelMatMul(GraphRule[_Group]):
    """
    ## What it does
    Finds several ``MatMul`` nodes that read the same input ``x`` and each a
    constant 2-D weight (often each followed by an ``Add`` of a constant bias), and
    merges them into one ``MatMul`` of the weights concatenated along their last
    axis, one ``Add`` of the concatenated biases, and one ``Split`` along the last
    axis whose outputs take the old output names, so every reader is unchanged.

    ## Why is this bad?
    Attention blocks project one normalized input three times, for queries, keys
    and values: torch's dynamo exporter writes three MatMuls and three Adds per
    layer (BERT-base: 72 nodes). One wider MatMul is one kernel launch and one pass
    over ``x`` instead of three.

    ## What it leaves alone
    - Weights that are not constant, are also graph inputs (overridable), are read
      by any other node, are graph outputs or named by a side table, are not 2-D,
      are stored externally, or differ in element type or first dimension.
    - Biases that broadcast along more than the last axis (``[128, 768]``), are not
      constant, are read by anything else, or whose Add is not the MatMul output's
      only reader: such an Add stays after the Split.
    - Groups where the merge would not lower the node count (two MatMuls without
      biases) or would grow the file.
    - The biases, unless every member has one: padding the merged bias for a member
      without one would add data to save one node, so the bias Adds then stay after
      the Split (Whisper's key projection has no bias).
    - Nodes inside subgraphs, a MatMul whose output is named by a side table,
      float types other than float, float16 and double, models before opset 7 or
      with IR version 3 or older.

    ## Example
    ``q = Add(MatMul(x, Wq), bq); k = Add(MatMul(x, Wk), bk); v = Add(MatMul(x,
    Wv), bv)`` with ``W: float[768, 768]`` becomes ``p = MatMul(x, Wqkv); s = Add(p,
    bqkv); q, k, v = Split(s, [768, 768, 768], axis = -1)`` with ``Wqkv: float[768,
    2304]``: six nodes become three.

    ## Fix safety
    Numeric: every output element is the same dot product of the same ``K`` values
    plus the same bias, but a runtime picks its matrix kernel by shape, and a wider
    matrix can be summed in another order. In onnxruntime the attention shapes of
    BERT, GPT-2, ViT and Whisper give the same bits, while three 64-column weights
    on a 2-row input differ in the last bit (both in the tests). Applied with
    ``--unsafe-fixes``, or when the rule is named in ``fixable``.
    """

    code = "OSL407"
    name = "parallel-matmul"
    summary = "MatMuls of one input by constant weights that can be one MatMul and a Split"
    fix_title = "Merge the MatMuls (and their bias Adds) into one MatMul and a Split"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.NUMERIC
    requires = Requires(min_opset=7, min_ir_version=4)

    def match(self, ctx: CheckContext) -> list[_Group]:
        return _plan(ctx.index)

    def saving(self, item: _Group) -> Saving:
        location = Location("node", item.members[0].matmul.label, "main", _detail(item), item.saved)
        return Saving((location,), count=item.nodes, nbytes=item.saved, nodes=item.nodes)

    def message(self, items: Sequence[_Group], total: Saving) -> str:
        size = f", {format_bytes(total.nbytes)}" if total.nbytes else ""
        return (
            f"{plural(len(items), 'group')} of parallel MatMuls on one input "
            f"({plural(total.nodes, 'node')}{size})"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Group]) -> bool:
        graph = index.main.graph
        removed: set[int] = set()  # node positions in the main graph
        inserted: dict[int, list[onnx.NodeProto]] = {}
        drop_inits: set[str] = set()
        gone: set[str] = set()
        # Build everything first: the arrays and protos read below are deleted after.
        for group in items:
            graph.initializer.extend(_new_initializers(index, group))
            inserted[group.members[0].matmul.position] = _new_nodes(group)
            for member in group.members:
                removed.add(member.matmul.position)
                if member.add is not None:
                    removed.add(member.add.position)
                    gone.add(member.matmul.node.output[0])
                for name in (member.weight, member.bias):
                    if not name:
                        continue
                    gone.add(name)
                    if name in index.initializers:
                        drop_inits.add(name)
                    else:
                        removed.add(index.producer[name].position)  # a Constant node
        # From the bottom up, so the positions still to visit do not move; the new
        # nodes take the first member's place (x is defined before it, and every
        # reader of an old output comes after it).
        for position in sorted(removed, reverse=True):
            del graph.node[position]
            for offset, node in enumerate(inserted.get(position, ())):
                graph.node.insert(position + offset, node)
        inits = graph.initializer
        for position in range(len(inits) - 1, -1, -1):
            if inits[position].name in drop_inits:
                del inits[position]
        for name in gone:
            forget(index, name)
        return bool(items)


def _detail(group: _Group) -> str:
    merged = sum(1 for m in group.members if m.add is not None)
    text = plural(len(group.members), "MatMul")
    if merged:
        text += f" + {plural(merged, 'bias Add')}"
    return f"{text} on {group.x}"


# -- planning ---------------------------------------------------------------------


def _plan(index: ModelIndex) -> list[_Group]:
    shapes = index.inferred_shapes()
    by_input: dict[tuple[str, int, int], list[_Member]] = defaultdict(list)
    for ref in index.nodes():
        member = _member(index, ref)
        if member is not None:
            tensor = index.constant_tensor(member.weight)
            assert tensor is not None
            key = (ref.node.input[0], tensor.data_type, int(tensor.dims[0]))
            by_input[key].append(member)
    names = _Names(index, {ref.node.name for ref in index.nodes() if ref.node.name})
    groups: list[_Group] = []
    for (x, dtype, k), members in by_input.items():
        elem, dims = shapes.get(x, (0, None))
        if dims is None or len(dims) < 2:
            continue  # the rank decides which biases broadcast along the last axis only
        if elem != dtype or (isinstance(dims[-1], int) and dims[-1] != k):
            continue
        biases = [_bias(index, m, len(dims)) for m in members]
        group = None
        if all(b is not None for b in biases):
            group = _group(index, x, members, biases, dtype, len(dims), names)
        if group is None:
            group = _group(index, x, members, None, dtype, len(dims), names)
        if group is not None:
            groups.append(group)
    return groups


def _member(index: ModelIndex, ref: NodeRef) -> _Member | None:
    """A main-graph ``MatMul(x, W)`` with ``W`` a constant 2-D weight only it reads."""
    node = ref.node
    if not is_op(ref, "MatMul") or ref.scope is not index.main:
        return None
    if len(node.input) != 2 or len(node.output) != 1 or not node.output[0]:
        return None
    x, weight = node.input
    if not x or not weight or x == weight or node.output[0] in index.side_table_names:
        return None
    tensor = _constant(index, weight)
    if tensor is None or len(tensor.dims) != 2 or tensor.data_type not in FLOAT_TYPES:
        return None
    uses = index.uses_of(weight)
    if len(uses) != 1 or uses[0].node is not ref or uses[0].slot != 1:
        return None
    return _Member(ref, weight, int(tensor.dims[1]))


def _constant(index: ModelIndex, name: str) -> onnx.TensorProto | None:
    """A main-graph, in-file, non-overridable constant no side table names."""
    if name in index.side_table_names or index.is_overridable(name):
        return None
    if name in index.initializers:
        if index.initializers[name][0] is not index.main:
            return None
    else:
        producer = index.producer.get(name)
        if producer is None or producer.scope is not index.main:
            return None
    tensor = index.constant_tensor(name)
    if tensor is None or not index.has_data(tensor):
        return None
    if data_nbytes(tensor) is None or any(d < 0 for d in tensor.dims):
        return None
    return tensor


def _bias(index: ModelIndex, member: _Member, rank: int) -> tuple[NodeRef, str] | None:
    """The member's ``Add`` of a constant bias broadcast along the last axis only."""
    out = member.matmul.node.output[0]
    add = sole_reader(index, out)
    if not is_op(add, "Add") or add.scope is not index.main:
        return None
    node = add.node
    if len(node.input) != 2 or len(node.output) != 1 or not node.output[0]:
        return None
    if node.output[0] in index.side_table_names:
        return None
    a, b = node.input
    bias = b if a == out else a
    if bias == out or not bias:
        return None
    tensor = _constant(index, bias)
    weight = index.constant_tensor(member.weight)
    if tensor is None or weight is None or tensor.data_type != weight.data_type:
        return None
    dims = tuple(int(d) for d in tensor.dims)
    # [n], [1, n], [1, 1, n] ...: never more axes than the product (that would
    # broadcast it up), and no axis but the last one longer than 1.
    if not dims or len(dims) > rank or dims[-1] != member.n or any(d != 1 for d in dims[:-1]):
        return None
    uses = index.uses_of(bias)
    if len(uses) != 1 or uses[0].node is not add:
        return None
    return add, bias


def _group(
    index: ModelIndex,
    x: str,
    members: list[_Member],
    biases: list[tuple[NodeRef, str] | None] | None,
    dtype: int,
    rank: int,
    names: _Names,
) -> _Group | None:
    """The merge of ``members`` (with the given biases), when it saves nodes and bytes."""
    merge_bias = biases is not None
    merged = [b for b in biases if b is not None] if biases is not None else []
    if len(members) + len(merged) <= 2 + merge_bias:
        return None  # no fewer nodes
    chosen: list[_Member] = [
        _Member(m.matmul, m.weight, m.n, *(b if b is not None else (None, None)))
        for m, b in zip(members, biases or [None] * len(members), strict=True)
    ]
    first = chosen[0]
    label = first.matmul.node.name or first.matmul.node.output[0]
    sizes = tuple(m.n for m in chosen)
    opset = default_opset(index)
    shared_sizes = names.sizes.get(sizes, "") if opset >= 13 else ""
    trial = names.trial()
    fresh, fresh_node = trial.value, trial.node
    group = _Group(
        x=x,
        members=chosen,
        merge_bias=merge_bias,
        dtype=dtype,
        axis=-1 if opset >= 11 else rank - 1,
        weight_name=fresh(f"{first.weight}_cat"),
        bias_name=fresh(f"{first.bias or first.weight}_cat") if merge_bias else "",
        sizes_name=(shared_sizes or fresh(f"sizes_{'_'.join(map(str, sizes))}"))
        if opset >= 13
        else "",
        product=fresh(f"{first.matmul.node.output[0]}_cat"),
        biased=fresh(f"{first.matmul.node.output[0]}_bias") if merge_bias else "",
        add_node=fresh_node(f"{label}_add") if merge_bias else "",
        split_node=fresh_node(f"{label}_split"),
    )
    # Bytes: the removed nodes and the removed constants' overhead (their data moves
    # into the merged tensors) against the new nodes, the new tensors' overhead and
    # the Split sizes.
    removed = 0
    for member in chosen:
        removed += node_nbytes(member.matmul.node) + _overhead(index, member.weight)
        if member.add is not None and member.bias is not None:
            removed += node_nbytes(member.add.node) + _overhead(index, member.bias)
    added = sum(node.ByteSize() for node in _new_nodes(group))
    added += tensor_header_nbytes(group.weight_name, 2)
    if merge_bias:
        added += tensor_header_nbytes(group.bias_name, 1)
    if group.sizes_name and not shared_sizes:
        added += tensor_header_nbytes(group.sizes_name, 1) + 8 * len(chosen)
    if added > removed:
        return None  # a slimming fix never grows the file
    constants = sum(
        1 for m in chosen for name in (m.weight, m.bias) if name and name not in index.initializers
    )
    group.nodes = len(chosen) + len(merged) + constants - (2 + merge_bias)
    group.saved = removed - added
    group.new_sizes = bool(group.sizes_name) and not shared_sizes
    names.commit(trial)
    if group.new_sizes:
        names.sizes[sizes] = group.sizes_name
    return group


class _Names:
    """Names chosen for the groups planned so far (values and nodes), and the Split
    sizes initializers they made, which later groups with the same sizes share."""

    def __init__(self, index: ModelIndex, node_names: set[str]) -> None:
        self.index = index
        self.values: set[str] = set()
        self.nodes = node_names
        self.sizes: dict[tuple[int, ...], str] = {}

    def trial(self) -> _Names:
        trial = _Names(self.index, set(self.nodes))
        trial.values = set(self.values)
        return trial

    def commit(self, trial: _Names) -> None:
        self.values = trial.values
        self.nodes = trial.nodes

    def value(self, base: str) -> str:
        name, suffix = self.index.fresh_name(base), 1
        while name in self.values:
            name, suffix = self.index.fresh_name(f"{base}_{suffix}"), suffix + 1
        self.values.add(name)
        return name

    def node(self, base: str) -> str:
        name, suffix = base, 1
        while name in self.nodes:
            name, suffix = f"{base}_{suffix}", suffix + 1
        self.nodes.add(name)
        return name


def _overhead(index: ModelIndex, name: str) -> int:
    """What a constant costs in the file beyond its data."""
    tensor = index.constant_tensor(name)
    assert tensor is not None
    data = data_nbytes(tensor) or 0
    if name in index.initializers:
        return tensor_nbytes(tensor) - data
    return node_nbytes(index.producer[name].node) - data


# -- building -------------------------------------------------------------------------


def _new_nodes(group: _Group) -> list[onnx.NodeProto]:
    """The merged MatMul (the first member's node, renamed in and out), Add, Split."""
    first = group.members[0].matmul.node
    matmul = onnx.NodeProto()
    matmul.CopyFrom(first)
    matmul.input[1] = group.weight_name
    matmul.output[0] = group.product
    nodes = [matmul]
    split_input = group.product
    if group.merge_bias:
        # Bias first when every merged Add had it first (the order only ever decides
        # which NaN payload survives when both operands are NaN).
        bias_first = all(m.add.node.input[0] == m.bias for m in group.members if m.add is not None)
        inputs = [group.product, group.bias_name]
        nodes.append(
            helper.make_node(
                "Add", inputs[::-1] if bias_first else inputs, [group.biased], name=group.add_node
            )
        )
        split_input = group.biased
    outputs = [
        m.add.node.output[0] if m.add is not None else m.matmul.node.output[0]
        for m in group.members
    ]
    if group.sizes_name:
        split = helper.make_node(
            "Split", [split_input, group.sizes_name], outputs, name=group.split_node
        )
        split.attribute.append(helper.make_attribute("axis", group.axis))
    else:
        split = helper.make_node(
            "Split",
            [split_input],
            outputs,
            name=group.split_node,
            axis=group.axis,
            split=[m.n for m in group.members],
        )
    nodes.append(split)
    return nodes


def _new_initializers(index: ModelIndex, group: _Group) -> list[onnx.TensorProto]:
    arrays = [_array(index, m.weight) for m in group.members]
    tensors = [numpy_helper.from_array(np.concatenate(arrays, axis=1), group.weight_name)]
    if group.merge_bias:
        parts = [_array(index, m.bias).reshape(-1) for m in group.members if m.bias]
        tensors.append(numpy_helper.from_array(np.concatenate(parts), group.bias_name))
    if group.new_sizes:
        sizes = np.array([m.n for m in group.members], dtype=np.int64)
        tensors.append(numpy_helper.from_array(sizes, group.sizes_name))
    return tensors


def _array(index: ModelIndex, name: str) -> np.ndarray:
    array = index.constant_array(name)
    assert array is not None
    return array
