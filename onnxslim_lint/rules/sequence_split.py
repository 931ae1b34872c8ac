"""OSL210 sequence-split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.tensors import node_nbytes
from onnxslim_lint.rules.base import CheckContext, GraphRule, Requires, Saving, plural, size_note


@dataclass(eq=False)
class _Rewrite:
    split: NodeRef  # the SplitToSequence, rewritten in place into a Split
    sizes: list[int]  # chunk sizes along the axis
    outputs: list[str]  # the Split's output names, one per chunk
    readers: list[tuple[NodeRef, int]]  # every SequenceAt and the chunk it reads
    sizes_input: str | None  # the node's own 1-D sizes input, reused as it is


class SequenceSplit(GraphRule[_Rewrite]):
    """
    ## What it does
    Finds a ``SplitToSequence`` whose sequence is only read by ``SequenceAt`` nodes at
    constant positions, and turns it into one ``Split`` with a tensor output per
    chunk: the ``SequenceAt`` nodes go, and their readers read the chunks directly.

    ## Why is this bad?
    ``torch.onnx.export(dynamo=True, optimize=False)`` writes every
    ``q, k, v = x.split(...)`` this way (GPT-2: 12 SplitToSequence and 36
    SequenceAt). A sequence is a heavier value than tensors for every runtime, and
    each ``SequenceAt`` is a node to schedule.

    ## What it leaves alone
    - A sequence read by anything other than ``SequenceAt`` with a constant position
      (``SequenceLength``, ``ConcatFromSequence``, a subgraph, a graph output).
    - Chunk sizes that are not known: a scalar ``split`` needs the static size of
      the split axis; no ``split`` with ``keepdims = 0`` (squeezed chunks) is left
      as it is.
    - Two ``SequenceAt`` of the same position whose outputs are both graph outputs.
    - Models before opset 13 (where ``Split`` takes its sizes as an attribute) or
      with IR version 3 or older, and nodes inside subgraphs.

    ## Example
    ``s = SplitToSequence(x, 768, axis = 2); q = SequenceAt(s, 0); k = SequenceAt(s, 1);
    v = SequenceAt(s, 2)`` becomes ``q, k, v = Split(x, [768, 768, 768], axis = 2)``.

    ## Fix safety
    Exact: Split and SplitToSequence cut the same chunks out of the same tensor.
    """

    code = "OSL210"
    name = "sequence-split"
    summary = "SplitToSequence read only by SequenceAt, which can be one Split"
    fix_title = "Split into tensors and drop the SequenceAt nodes"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT
    requires = Requires(min_opset=13, min_ir_version=4)

    def match(self, ctx: CheckContext) -> list[_Rewrite]:
        index = ctx.index
        return [
            plan
            for ref in index.nodes()
            if ref.node.op_type == "SplitToSequence" and (plan := _plan(index, ref)) is not None
        ]

    def saving(self, item: _Rewrite) -> Saving:
        split = item.split
        detail = f"split {item.sizes} -> {', '.join(item.outputs)}"
        location = Location("node", split.label, split.scope.path, detail, 0)
        removed = len(item.readers)
        nbytes = sum(node_nbytes(reader.node) for reader, _ in item.readers)
        return Saving((location,), count=removed, nbytes=nbytes, nodes=removed)

    def message(self, items: Sequence[_Rewrite], total: Saving) -> str:
        return (
            f"{plural(len(items), 'SplitToSequence')} read only by "
            f"{plural(total.nodes, 'SequenceAt')}{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Rewrite]) -> bool:
        editor = Editor(index)
        graph = index.main.graph
        made: dict[tuple[int, ...], str] = {}  # one sizes initializer per distinct split
        for plan in items:
            node = plan.split.node
            sequence = node.output[0]
            sizes_name = plan.sizes_input or made.get(tuple(plan.sizes))
            if sizes_name is None:
                sizes_name = index.fresh_name(f"{node.name or sequence}_sizes")
                made[tuple(plan.sizes)] = sizes_name
                graph.initializer.append(
                    numpy_helper.from_array(np.array(plan.sizes, dtype=np.int64), sizes_name)
                )
            axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
            node.op_type = "Split"
            del node.attribute[:]
            node.attribute.append(onnx.helper.make_attribute("axis", axis))
            del node.input[1:]
            node.input.append(sizes_name)
            del node.output[:]
            node.output.extend(plan.outputs)
            for reader, chunk in plan.readers:
                out = reader.node.output[0]
                if out != plan.outputs[chunk]:
                    editor.replace_uses(out, plan.outputs[chunk])
                editor.remove_node(reader)
            _forget_value_info(index, sequence)
        editor.commit()
        return bool(items)


def _plan(index: ModelIndex, ref: NodeRef) -> _Rewrite | None:
    node = ref.node
    if ref.scope is not index.main or not is_default_domain(node.domain):
        return None
    if len(node.output) != 1 or not node.output[0] or not node.input or not node.input[0]:
        return None
    sequence = node.output[0]
    if index.is_graph_output(sequence) or sequence in index.side_table_names:
        return None
    sizes = _chunk_sizes(index, node)
    if not sizes:
        return None
    readers: list[tuple[NodeRef, int]] = []
    for use in index.uses_of(sequence):
        reader = use.node
        if reader is None or reader.scope is not ref.scope or use.slot != 0:
            return None
        if reader.node.op_type != "SequenceAt" or not is_default_domain(reader.node.domain):
            return None
        position = _constant_int(index, reader.node.input[1] if len(reader.node.input) > 1 else "")
        if position is None or not -len(sizes) <= position < len(sizes):
            return None
        readers.append((reader, position % len(sizes)))
    if not readers:
        return None
    outputs: list[str] = []
    for chunk in range(len(sizes)):
        names = [r.node.output[0] for r, c in readers if c == chunk]
        pinned = [name for name in names if index.is_graph_output(name)]
        if len(pinned) > 1:
            return None
        if names:
            outputs.append(pinned[0] if pinned else names[0])
        else:
            outputs.append(index.fresh_name(f"{sequence}_{chunk}"))
    taken = set(outputs)
    if len(taken) != len(outputs):
        return None
    sizes_input = node.input[1] if len(node.input) > 1 else ""
    split = index.constant_array(sizes_input) if sizes_input else None
    reuse = split is not None and split.ndim == 1 and split.dtype == np.int64
    added = 0 if reuse else 8 * len(sizes) + len(node.name or sequence) + 24
    if sum(node_nbytes(reader.node) for reader, _ in readers) <= added:
        return None  # a slimming fix never grows the file
    return _Rewrite(ref, sizes, outputs, readers, sizes_input if reuse else None)


def _chunk_sizes(index: ModelIndex, node: onnx.NodeProto) -> list[int] | None:
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    keepdims = next((a.i for a in node.attribute if a.name == "keepdims"), 1)
    shape = index.inferred_shapes().get(node.input[0])
    dims = shape[1] if shape is not None else None
    length = None
    if dims is not None and -len(dims) <= axis < len(dims):
        value = dims[axis % len(dims)]
        length = value if isinstance(value, int) else None
    if len(node.input) < 2 or not node.input[1]:
        if keepdims == 0 or length is None:
            return None  # squeezed chunks would need a Squeeze each
        return [1] * length
    split = index.constant_array(node.input[1])
    if split is None or split.dtype.kind not in "iu":
        return None
    if split.ndim == 1:
        sizes = [int(v) for v in split]
        if length is not None and sum(sizes) != length:
            return None
        return sizes if sizes and all(v >= 0 for v in sizes) else None
    if split.ndim != 0 or length is None or int(split) <= 0:
        return None
    step = int(split)
    return [step] * (length // step) + ([length % step] if length % step else [])


def _constant_int(index: ModelIndex, name: str) -> int | None:
    if not name:
        return None
    value = index.constant_array(name)
    if value is None or value.size != 1 or value.dtype.kind not in "iu":
        return None
    return int(value.reshape(-1)[0])


def _forget_value_info(index: ModelIndex, name: str) -> None:
    values = index.main.graph.value_info
    for position in range(len(values) - 1, -1, -1):
        if values[position].name == name:
            del values[position]
