"""OSL209 constant-node."""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import ModelIndex, NodeRef, constant_node_tensor
from onnxslim_lint.model.tensors import node_nbytes, tensor_detail, tensor_nbytes
from onnxslim_lint.rules.base import CheckContext, GraphRule, Requires, Saving, plural, size_note


class ConstantNode(GraphRule[tuple[NodeRef, onnx.TensorProto]]):
    """
    ## What it does
    Finds ``Constant`` nodes in the main graph and in If/Loop/Scan subgraphs and
    stores each value as an initializer of the same name instead, in the graph that
    held the node, so the value is data, not a node.

    ## Why is this bad?
    Exporters emit a ``Constant`` node for every literal (axes, shapes, scales).
    Every runtime and tool then schedules, walks and reports a node for what is
    plain data; an initializer holds the same tensor with less around it.

    ## What it leaves alone
    - Models with IR version 3 or older, where every initializer must also be a
      graph input (a new input would change the interface).
    - Constants inside model-local functions (a function cannot hold initializers).
    - A Constant whose output is a graph output (of any graph) or named by a side
      table, and one whose name is also defined in another graph (an enclosing
      graph's value it would shadow from the start of its own graph, or a sibling
      branch's).
    - Sparse (``sparse_value``), string (``value_string(s)``) and attribute-reference
      constants.
    - Any Constant whose initializer would be larger than the node.

    ## Example
    ``axes = Constant<value = int64[1] {1}>(); y = Unsqueeze(x, axes)`` becomes an
    initializer ``axes = int64[1] {1}`` read by the same ``Unsqueeze``.

    ## Fix safety
    Exact: readers see the same tensor under the same name, in the same graph (a
    subgraph's initializer is visible to the graph and the subgraphs below it, as
    the node's output was; in a Loop or Scan body it is the same tensor in every
    iteration, as the node's output was). ``value_float`` and
    ``value_int`` forms become float32 and int64 scalars, their types in ONNX.
    """

    code = "OSL209"
    name = "constant-node"
    summary = "Constant nodes that can be initializers"
    fix_title = "Store the Constant nodes' values as initializers"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT
    requires = Requires(min_ir_version=4)  # IR 3: initializers must be graph inputs

    def match(self, ctx: CheckContext) -> list[tuple[NodeRef, onnx.TensorProto]]:
        index = ctx.index
        several = index.defined_in_several_graphs()
        return [
            (ref, tensor)
            for ref in index.nodes()
            if (tensor := _convertible(index, ref, several)) is not None
        ]

    def saving(self, item: tuple[NodeRef, onnx.TensorProto]) -> Saving:
        ref, tensor = item
        location = Location(
            "constant", ref.node.output[0], ref.scope.path, tensor_detail(tensor), 0
        )
        return Saving((location,), nbytes=node_nbytes(ref.node) - tensor_nbytes(tensor), nodes=1)

    def message(self, items: Sequence[tuple[NodeRef, onnx.TensorProto]], total: Saving) -> str:
        return f"{plural(len(items), 'Constant node')} that can be initializers" + size_note(
            total.nbytes
        )

    def apply(self, index: ModelIndex, items: Sequence[tuple[NodeRef, onnx.TensorProto]]) -> bool:
        editor = Editor(index)
        for ref, tensor in items:
            initializer = onnx.TensorProto()
            initializer.CopyFrom(tensor)
            initializer.name = ref.node.output[0]
            ref.scope.graph.initializer.append(initializer)
            editor.remove_node(ref)
        editor.commit()
        return bool(items)


def _convertible(
    index: ModelIndex, ref: NodeRef, several: frozenset[str]
) -> onnx.TensorProto | None:
    node = ref.node
    if node.op_type != "Constant":
        return None
    if not is_default_domain(node.domain) or len(node.output) != 1 or not node.output[0]:
        return None
    name = node.output[0]
    if index.is_graph_output(name) or name in index.side_table_names:
        return None
    if name in several:
        return None  # shadowed or shadowing: as an initializer it would be read earlier
    tensor = constant_node_tensor(node)
    if tensor is None or tensor.data_type == onnx.TensorProto.STRING:
        return None
    if tensor.data_location == onnx.TensorProto.EXTERNAL:
        return None
    initializer = onnx.TensorProto()
    initializer.CopyFrom(tensor)
    initializer.name = name
    if initializer.ByteSize() > node.ByteSize():
        return None
    return tensor
