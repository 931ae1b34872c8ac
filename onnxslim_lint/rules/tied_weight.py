"""OSL208 tied-weight."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import GraphScope, ModelIndex
from onnxslim_lint.model.tensors import element_bits, tensor_detail, tensor_nbytes
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note


@dataclass(eq=False)
class _Tie:
    scope: GraphScope
    removed: str  # the initializer that goes; a Transpose node produces this name
    kept: str
    saved: int  # bytes saved: the tensor minus the new node
    detail: str
    node_name: str


class TiedWeight(GraphRule[_Tie]):
    """
    ## What it does
    Finds a 2-D initializer that holds exactly the transpose of another 2-D
    initializer of the same graph (same element type, dims swapped, every element
    equal bit for bit after transposing). The copy is removed and a
    ``Transpose(perm=[1, 0])`` node of the kept initializer, placed at the top of
    the graph, produces the copy's name, so its readers are unchanged.

    ## Why is this bad?
    Tied weights are stored twice. The legacy torch exporter writes a language
    model's tied embedding once as ``[vocab, hidden]`` for the token ``Gather`` and
    once transposed as ``[hidden, vocab]`` for the output ``MatMul``: often the
    largest tensor of the model, stored twice.

    ## What it leaves alone
    - Initializers that are also graph inputs (overridable defaults), graph
      outputs, or named by a side table.
    - Pairs in different graphs, tensors that are not 2-D, string and external
      tensors, and pairs that differ in a single bit.
    - Symmetric or identical tensors (identical ones are ``duplicate-constant``'s
      job).
    - Tensors so small that the Transpose node would cost more than it saves.

    ## Example
    ``wte: float32[50257,768]`` read by ``Gather`` and ``lm_head: float32[768,50257]``
    equal to ``wte`` transposed and read by ``MatMul``: ``lm_head`` is removed and
    ``lm_head = Transpose(wte, perm=[1, 0])`` is added.

    ## Fix safety
    Exact: a Transpose moves bits without computing anything, so every reader sees
    the same tensor and the outputs are bit-identical. (A runtime that prepacks
    constant weights may sum in another order once the weight is computed; the
    verification runs onnxruntime without prepacking, so it compares the graphs,
    not kernel choices.) The cost moves to run time:
    one Transpose of the tensor per call, unless the runtime folds it; onnxruntime
    constant-folds it once at session creation when graph optimizations are on
    (the default), so the model is smaller on disk and the same in memory after
    loading.
    """

    code = "OSL208"
    name = "tied-weight"
    summary = "An initializer stored again as another initializer's transpose"
    fix_title = "Replace the transposed copy with a Transpose of the kept initializer"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[_Tie]:
        return _plan(ctx.index)

    def saving(self, item: _Tie) -> Saving:
        location = Location("initializer", item.removed, item.scope.path, item.detail, item.saved)
        return Saving((location,), nbytes=item.saved)

    def message(self, items: Sequence[_Tie], total: Saving) -> str:
        return (
            f"{plural(len(items), 'initializer')} stored again as another's transpose"
            f"{size_note(total.nbytes)}; the fix computes it with one Transpose per run "
            "unless the runtime constant-folds it"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Tie]) -> bool:
        editor = Editor(index)
        for tie in items:
            editor.remove_initializer(tie.scope, tie.removed)
        editor.commit()
        for tie in reversed(items):
            node = _transpose(tie.kept, tie.removed, tie.node_name)
            tie.scope.graph.node.insert(0, node)
        return bool(items)


def _transpose(source: str, target: str, name: str) -> onnx.NodeProto:
    return helper.make_node("Transpose", [source], [target], name=name, perm=[1, 0])


def _comparable(index: ModelIndex, tensor: onnx.TensorProto) -> bool:
    return (
        len(tensor.dims) == 2
        and (element_bits(tensor.data_type) or 0) >= 8  # no strings, no packed 4-bit
        and index.has_data(tensor)
        and tensor.dims[0] > 0
        and tensor.dims[1] > 0
    )


# Fractions of the rows and columns where elements are sampled.
_SAMPLE_AT = ((0.0, 0.0), (0.999, 0.999), (0.5, 0.5), (0.25, 0.75), (0.75, 0.25), (0.1, 0.9))


def _array(index: ModelIndex, tensor: onnx.TensorProto) -> np.ndarray:
    """The tensor as an array over its data bytes (a view of the file where possible)."""
    dtype = helper.tensor_dtype_to_np_dtype(tensor.data_type).newbyteorder("<")
    return np.frombuffer(index.tensor_data(tensor), dtype=dtype).reshape(tuple(tensor.dims))


def _sample(array: np.ndarray, *, transposed: bool) -> bytes:
    """A few elements of ``array`` (or of its transpose) at fixed relative positions."""
    rows, cols = (array.shape[1], array.shape[0]) if transposed else array.shape
    picked = []
    for row_at, col_at in _SAMPLE_AT:
        row, col = int(rows * row_at), int(cols * col_at)
        picked.append(array[col, row] if transposed else array[row, col])
    return b"".join(np.asarray(value).tobytes() for value in picked)


def _same_bits(left: np.ndarray, right: np.ndarray) -> bool:
    """Bit equality, block by block and without copies (``array_equal`` on the values
    would take -0.0 for 0.0 and NaN for unequal)."""
    if left.shape != right.shape or left.dtype.itemsize != right.dtype.itemsize:
        return False
    if not left.flags.c_contiguous and left.T.flags.c_contiguous:
        left, right = left.T, right.T  # walk the contiguous one row by row: 4x faster
    unsigned = np.dtype(f"u{left.dtype.itemsize}")
    left_bits, right_bits = left.view(unsigned), right.view(unsigned)
    block = 4096
    for start in range(0, left.shape[0], block):
        stop = start + block
        if not np.array_equal(left_bits[start:stop], right_bits[start:stop]):
            return False
    return True


def _plan(index: ModelIndex) -> list[_Tie]:
    groups: dict[tuple, list[tuple[str, GraphScope, onnx.TensorProto]]] = defaultdict(list)
    for name, (scope, tensor) in index.initializers.items():
        if not _comparable(index, tensor) or name in scope.input_names:
            continue
        if index.is_graph_output(name) or name in index.side_table_names:
            continue
        dims = tuple(tensor.dims)
        groups[(id(scope), tensor.data_type, tuple(sorted(dims)))].append((name, scope, tensor))
    ties: list[_Tie] = []
    taken: set[str] = set()
    used_names: set[str] = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        shapes = {tuple(t.dims) for _, _, t in members}
        if not any((d[1], d[0]) in shapes for d in shapes):
            continue
        order = {t.name: i for i, t in enumerate(members[0][1].graph.initializer)}
        members.sort(key=lambda m: order.get(m[0], 0))
        # Touch bytes only now, and only a few elements of each: a tensor is compared
        # in full with another only when a sample of its transpose matches.
        arrays = {name: _array(index, t) for name, _, t in members}
        by_sample: dict[tuple[tuple[int, ...], bytes], list[str]] = defaultdict(list)
        for name, _, _tensor in members:
            array = arrays[name]
            by_sample[(array.shape, _sample(array, transposed=False))].append(name)
        for name, scope, _tensor in members:  # ``name`` is the one kept
            if name in taken:
                continue
            array = arrays[name]
            key = ((array.shape[1], array.shape[0]), _sample(array, transposed=True))
            for other in by_sample.get(key, []):
                if other == name or other in taken:
                    continue
                if not _same_bits(array.T, arrays[other]):
                    continue
                other_tensor = index.initializers[other][1]
                node_name = index.fresh_name(f"{other}_tied_transpose")
                while node_name in used_names:
                    node_name += "_"
                used_names.add(node_name)
                cost = _transpose(name, other, node_name).ByteSize() + 2
                saved = tensor_nbytes(other_tensor) - cost
                if saved <= 0:
                    continue
                taken.update((name, other))
                ties.append(
                    _Tie(
                        scope,
                        other,
                        name,
                        saved,
                        f"{tensor_detail(other_tensor)} = {name}^T",
                        node_name,
                    )
                )
    return ties
