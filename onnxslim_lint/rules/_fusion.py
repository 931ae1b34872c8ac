"""Shared pieces of the rules that match node patterns: who reads a value, constant
arrays and axes, which nodes a pattern has claimed, rewriting a node in place."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard, TypeVar

import numpy as np
import onnx
from onnx import numpy_helper

from onnxslim_lint.findings import Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import GraphScope, ModelIndex, NodeRef
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, default_opset

FLOAT_TYPES = frozenset({onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16})


def is_op(ref: NodeRef | None, *op_types: str) -> TypeGuard[NodeRef]:
    return ref is not None and is_default_domain(ref.node.domain) and ref.node.op_type in op_types


def sole_reader(index: ModelIndex, name: str) -> NodeRef | None:
    """The one node reading ``name`` (once), when nothing else does: no graph output."""
    if name in index.side_table_names:
        return None
    uses = index.uses_of(name)
    if len(uses) != 1 or uses[0].node is None:
        return None
    return uses[0].node


def only_read_by(index: ModelIndex, name: str, ref: NodeRef) -> bool:
    """Every read of ``name`` is an input of ``ref`` (no graph output, no side table)."""
    if name in index.side_table_names:
        return False
    uses = index.uses_of(name)
    return bool(uses) and all(use.node is ref for use in uses)


def weight_readers_ok(index: ModelIndex, name: str, ref: NodeRef) -> bool:
    """``ref`` is the only node reading the values of ``name``; ``Shape`` nodes may read
    it too (a folded weight keeps its shape)."""
    if name in index.side_table_names:
        return False
    uses = index.uses_of(name)
    mine = [use for use in uses if use.node is ref]
    others = [use for use in uses if use.node is not ref]
    return bool(mine) and all(use.node is not None and is_op(use.node, "Shape") for use in others)


def zero_valued(index: ModelIndex, name: str) -> bool:
    """``name`` is provably all zeros: a zero constant, possibly through Cast,
    CastLike, Identity or Expand (how exporters spell a missing bias)."""
    seen = 0
    while seen < 8:
        array = constant_array(index, name)
        if array is not None:
            return array.dtype.kind in "fiub" and not np.any(array)
        ref = index.producer.get(name)
        if not is_op(ref, "Cast", "CastLike", "Identity", "Expand") or not ref.node.input:
            return False
        name = ref.node.input[0]
        seen += 1
    return False


def initializer(index: ModelIndex, name: str) -> tuple[GraphScope, onnx.TensorProto] | None:
    """A non-overridable, in-file float initializer."""
    if not name or name not in index.initializers or index.is_overridable(name):
        return None
    scope, tensor = index.initializers[name]
    if not index.has_data(tensor) or tensor.data_type not in FLOAT_TYPES:
        return None
    return scope, tensor


def constant_array(index: ModelIndex, name: str) -> np.ndarray | None:
    tensor = index.constant_tensor(name) if name else None
    if tensor is None or not index.has_data(tensor):
        return None
    try:
        return index.tensor_array(tensor).copy()
    except Exception:
        return None


def channel_vector(array: np.ndarray, channels: int, rank: int) -> np.ndarray | None:
    """The per-channel vector of a constant broadcast along axis 1 of a rank-``rank``
    convolution output (``[C, 1, 1]`` or ``[1, C, 1, 1]`` for rank 4); None for any
    other shape."""
    shape = tuple(array.shape)
    spatial = rank - 2
    if shape in ((channels,) + (1,) * spatial, (1, channels) + (1,) * spatial):
        return array.reshape(channels)
    return None


def attr(node: onnx.NodeProto, name: str, default: Any = None) -> Any:
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def set_tensor(tensor: onnx.TensorProto, array: np.ndarray) -> None:
    """Replace a tensor's contents in place, keeping its name and element type.

    The type comes from the data type, not the data: the old bytes may be external.
    """
    name = tensor.name
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
    new = numpy_helper.from_array(array.astype(dtype), name)
    tensor.CopyFrom(new)


def forget(index: ModelIndex, name: str) -> None:
    """Drop value_info entries of a value that no longer exists."""
    for scope in index.scopes:
        infos = scope.graph.value_info
        for position in range(len(infos) - 1, -1, -1):
            if infos[position].name == name:
                del infos[position]


def drop_if_only(editor: Editor, index: ModelIndex, name: str, ref: NodeRef) -> None:
    """Remove initializer ``name`` when ``ref`` is its only reader."""
    if (
        name in index.initializers
        and only_read_by(index, name, ref)
        and not index.is_overridable(name)
    ):
        editor.remove_initializer(index.initializers[name][0], name)


def rewire_output(index: ModelIndex, first: NodeRef, second: NodeRef, editor: Editor) -> None:
    """``first`` takes over ``second``'s output name; ``second`` is removed."""
    middle = first.node.output[0]
    first.node.output[0] = second.node.output[0]
    editor.remove_node(second)
    forget(index, middle)


def chain_next(index: ModelIndex, ref: NodeRef) -> NodeRef | None:
    """The one main-graph node reading ``ref``'s single output, when nothing else reads
    it (no graph output, no side table): the next link of a pattern being matched."""
    if len(ref.node.output) != 1 or index.is_graph_output(ref.node.output[0]):
        return None
    reader = sole_reader(index, ref.node.output[0])
    if reader is None or reader.scope is not index.main:
        return None
    return reader if is_default_domain(reader.node.domain) else None


def other_input(ref: NodeRef | None, name: str) -> str | None:
    """The input of a two-input node that is not ``name``."""
    if ref is None or len(ref.node.input) != 2 or name not in ref.node.input:
        return None
    first, second = ref.node.input
    return second if first == name else first


def scalar(index: ModelIndex, name: str | None, kinds: str = "fiu") -> float | None:
    """The value of a one-element constant (rank 0 or 1) of the given numpy kinds."""
    value = index.constant_array(name) if name else None
    if value is None or value.size != 1 or value.ndim > 1 or value.dtype.kind not in kinds:
        return None
    return float(value.reshape(-1)[0])


def rewrite_as(
    node: onnx.NodeProto, op_type: str, inputs: list[str], attributes: Mapping[str, object]
) -> None:
    """Turn ``node`` in place into ``op_type`` (default domain), keeping its outputs."""
    node.op_type = op_type
    node.domain = ""
    del node.input[:]
    node.input.extend(inputs)
    del node.attribute[:]
    for key, value in attributes.items():
        node.attribute.append(onnx.helper.make_attribute(key, value))


def constant_axes(index: ModelIndex, ref: NodeRef) -> list[int] | None:
    """The constant ``axes`` of a Squeeze or Unsqueeze: its second input from opset 13,
    its attribute before."""
    node = ref.node
    if default_opset(index) >= 13:
        if len(node.input) != 2 or not node.input[1]:
            return None
        value = constant_array(index, node.input[1])
        return None if value is None else [int(v) for v in value.reshape(-1)]
    if len(node.input) != 1:
        return None
    value = attr(node, "axes")
    return None if value is None else [int(v) for v in value]


def node_saving(ref: NodeRef, detail: str, nbytes: int) -> Saving:
    """One node the fix removes (or merges into another), reported where ``ref`` is."""
    location = Location("node", ref.label, ref.scope.path, detail, nbytes)
    return Saving((location,), nbytes=nbytes, nodes=1)


class Claims:
    """The nodes of the patterns matched so far: a node belongs to one pattern at most."""

    def __init__(self) -> None:
        self._ids: set[int] = set()

    def holds(self, ref: NodeRef) -> bool:
        return id(ref) in self._ids

    def take(self, refs: Iterable[NodeRef]) -> bool:
        """Claim every node of a pattern, unless one is claimed already."""
        ids = [id(ref) for ref in refs]
        if any(key in self._ids for key in ids):
            return False
        self._ids.update(ids)
        return True


@dataclass(eq=False)
class Pattern:
    """Elementary ops of the main graph that one fused node of ``x`` computes."""

    x: str
    final: NodeRef  # becomes the fused node, keeping its output name
    others: list[NodeRef]  # removed


PatternT = TypeVar("PatternT", bound=Pattern)


class PatternRule(GraphRule[PatternT]):
    """A fusion that rewrites a pattern of main-graph nodes into its last node."""

    @abstractmethod
    def find(self, index: ModelIndex, ref: NodeRef) -> PatternT | None:
        """The pattern a search from main-graph node ``ref`` finds, if any."""

    @abstractmethod
    def describe(self, pattern: PatternT) -> str:
        """The location's detail: the fused node it becomes."""

    @abstractmethod
    def fused(self, pattern: PatternT) -> tuple[str, list[str], dict[str, object]]:
        """The fused node's op type, inputs and attributes."""

    def match(self, ctx: CheckContext) -> list[PatternT]:
        index = ctx.index
        found: list[PatternT] = []
        claims = Claims()
        for ref in index.nodes():
            if ref.scope is not index.main:
                continue
            pattern = self.find(index, ref)
            if pattern is not None and claims.take([pattern.final, *pattern.others]):
                found.append(pattern)
        return found

    def saving(self, item: PatternT) -> Saving:
        location = Location("node", item.final.label, "main", self.describe(item), 0)
        removed = item.others
        nbytes = sum(ref.node.ByteSize() for ref in removed)
        return Saving((location,), count=len(removed), nbytes=nbytes, nodes=len(removed))

    def apply(self, index: ModelIndex, items: Sequence[PatternT]) -> bool:
        editor = Editor(index)
        for pattern in items:
            rewrite_as(pattern.final.node, *self.fused(pattern))
            for other in pattern.others:
                editor.remove_node(other)
        editor.commit()
        return bool(items)


def set_conv_bias(
    index: ModelIndex,
    editor: Editor,
    conv: NodeRef,
    bias: np.ndarray,
    graph: onnx.GraphProto,
    *,
    shared: bool = False,
) -> None:
    """Make ``bias`` the Conv's ``B``: written into its initializer in place, unless
    ``shared`` (other nodes read it, so it stays); else a new initializer in ``graph``,
    and a Constant ``B`` the Conv alone read goes. A computed ``B`` is left to dead-node."""
    node = conv.node
    old_bias = node.input[2] if len(node.input) > 2 else ""
    if old_bias and old_bias in index.initializers and not shared:
        set_tensor(index.initializers[old_bias][1], bias)
        return
    producer = index.producer.get(old_bias) if old_bias else None
    if is_op(producer, "Constant") and not shared:
        editor.remove_node(producer)
        forget(index, old_bias)
    name = index.fresh_name(f"{node.input[1]}_bias")
    graph.initializer.append(numpy_helper.from_array(bias, name))
    del node.input[2:]
    node.input.append(name)


def merge_pair(
    editor: Editor,
    first: NodeRef,
    second: NodeRef,
    *,
    cancels: bool,
    drop_first: bool,
    rewrite: Callable[[], None] | None = None,
) -> bool:
    """Merge a chain ``first -> second`` into one node reading ``first``'s input.

    When the pair cancels, ``second`` goes and its readers read that input; else
    ``second`` reads it and ``rewrite`` makes it the merged node. ``first`` goes when
    nothing else reads it. False when an earlier merge of this edit touched the chain
    (it waits for the next round).
    """
    source, middle, result = first.node.input[0], first.node.output[0], second.node.output[0]
    if {source, middle, result} & editor.touched:
        return False
    if cancels:
        if not editor.bypass(second, result, source):
            return False
    else:
        if rewrite is not None:
            rewrite()
        second.node.input[0] = source
        editor.touched.update((source, middle, result))
    if drop_first:
        editor.remove_node(first)
    return True


def linked_pairs(
    index: ModelIndex,
    claims: Claims,
    first_ok: Callable[[NodeRef], bool],
    second_ok: Callable[[NodeRef], bool],
) -> Iterator[tuple[NodeRef, NodeRef]]:
    """The unclaimed chains ``first -> second`` of one graph a two-node merge may
    rewrite: ``second`` reads ``first``'s output as its first input, and nothing
    outside the graph's nodes (a graph output, a side table) reads that output."""
    for second in index.nodes():
        if claims.holds(second) or not second_ok(second):
            continue
        middle = second.node.input[0]
        first = index.producer.get(middle)
        if first is None or first.scope is not second.scope or not first_ok(first):
            continue
        if claims.holds(first):
            continue
        if index.is_graph_output(middle) or middle in index.side_table_names:
            continue
        yield first, second
