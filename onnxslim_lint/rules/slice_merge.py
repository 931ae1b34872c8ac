"""OSL216 slice-merge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from onnxslim_lint.findings import FixAvailability, FixSafety
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules._fusion import node_saving
from onnxslim_lint.rules.base import CheckContext, GraphRule, Requires, Saving, plural, size_note


@dataclass(frozen=True)
class _Window:
    """A Slice's constant parameters, axes made non-negative."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    axes: tuple[int, ...]
    steps: tuple[int, ...]

    def then(self, other: _Window) -> _Window:
        """This window, then ``other`` on other axes: one Slice of both."""
        return _Window(
            self.starts + other.starts,
            self.ends + other.ends,
            self.axes + other.axes,
            self.steps + other.steps,
        )


@dataclass(eq=False)
class _Merge:
    first: NodeRef  # the Slice every reader slices again: removed
    readers: list[tuple[NodeRef, _Window]]  # each second Slice, with its merged window
    dropped: list[str]  # parameters only these Slices read: removed with the first
    nbytes: int  # what the file saves (the first node, minus the new parameters)


class SliceMerge(GraphRule[_Merge]):
    """
    ## What it does
    Finds a ``Slice`` whose every reader is another ``Slice`` of other axes, and
    makes each reader one ``Slice`` of the first one's input over both sets of
    axes; the first Slice goes, and the constant parameters only these Slices
    read. In every graph, If/Loop/Scan bodies included.

    ## Why is this bad?
    Exporters trace each ``x[:, a:b]`` and ``x[..., c:]`` on its own, so
    ``x[:, :129, 1:]`` is two Slices, each a node and a copy of the tensor.
    silero-vad's STFT takes the real and the imaginary half of its frames, minus
    the first frame, as two such pairs.

    ## What it leaves alone
    - Slices whose starts, ends, axes or steps are not constants (or come from an
      overridable initializer), and the opset 1-9 form with attributes.
    - A first Slice read by anything but such Slices (another op, a graph output,
      a subgraph, a Slice reading it as a parameter), or by a Slice in another graph.
    - A pair sharing an axis (composing two windows of one axis is not done), and
      negative axes of a value whose rank is unknown.
    - Merges whose new parameters would take more bytes, all together, than they
      save (a merged Slice reads the model's own one-value constants where they
      hold its values, and the merges share the parameters they make).

    ## Example
    ``a = Slice(x, [0], [129], [1]); y = Slice(a, [1], [INT64_MAX], [2])`` becomes
    ``y = Slice(x, [0, 1], [129, INT64_MAX], [1, 2])``.

    ## Fix safety
    Exact: slicing one axis leaves every other axis as it is, so the two windows
    select the same elements in one Slice as in two, clamped to the same dims.
    """

    code = "OSL216"
    name = "slice-merge"
    summary = "Slices of a Slice on other axes"
    fix_title = "Merge each pair of Slices into one"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT
    requires = Requires(min_opset=10, min_ir_version=4)

    def match(self, ctx: CheckContext) -> list[_Merge]:
        index = ctx.index
        claimed: set[int] = set()
        found: list[_Merge] = []
        several = index.defined_in_several_graphs()
        existing = _int64_initializers(index, several)
        made: set[tuple[int, ...]] = set()  # new parameter values the plans so far make
        for ref in index.nodes():
            if not _is_slice(ref) or id(ref) in claimed:
                continue
            planned = set(made)
            merge = _plan(index, ref, several, existing, planned)
            if merge is None or any(id(reader) in claimed for reader, _ in merge.readers):
                continue
            made = planned
            claimed.add(id(ref))
            claimed.update(id(reader) for reader, _ in merge.readers)
            found.append(merge)
        # one merge may pay for parameters the others then share (a Focus layer's
        # four Slice pairs share axes [2, 3] and steps [2, 2]): the file must not grow
        return found if sum(merge.nbytes for merge in found) >= 0 else []

    def saving(self, item: _Merge) -> Saving:
        return node_saving(item.first, f"into {plural(len(item.readers), 'Slice')}", item.nbytes)

    def message(self, items: Sequence[_Merge], total: Saving) -> str:
        return f"{plural(len(items), 'Slice')} sliced again on other axes" + size_note(total.nbytes)

    def apply(self, index: ModelIndex, items: Sequence[_Merge]) -> bool:
        editor = Editor(index)
        made: dict[tuple[int, tuple[int, ...]], str] = {}  # (graph, values) -> initializer
        existing = _int64_initializers(index, index.defined_in_several_graphs())
        reused: set[str] = set()
        dropped: list[str] = []
        for item in items:
            scope = item.first.scope
            source = item.first.node.input[0]
            for reader, window in item.readers:
                names = []
                for part, values in _parts(window):
                    name = existing.get(values) or made.get((id(scope), values))
                    if name is not None and name in existing.values():
                        reused.add(name)
                    elif name is None:
                        name = _unused_name(index, part[0], set(made.values()))
                        scope.graph.initializer.append(_int64s(name, values))
                        made[(id(scope), values)] = name
                    names.append(name)
                del reader.node.input[:]
                reader.node.input.extend([source, *names])
            editor.remove_node(item.first)
            dropped.extend(name for name in item.dropped if name not in dropped)
        for name in dropped:
            if name in reused:
                continue  # a merged Slice reads it now
            if name in index.initializers:
                editor.remove_initializer(index.initializers[name][0], name)
            else:
                editor.remove_node(index.producer[name])
        editor.commit()
        return bool(items)


def _is_slice(ref: NodeRef) -> bool:
    node = ref.node
    return (
        node.op_type == "Slice"
        and is_default_domain(node.domain)
        and 3 <= len(node.input) <= 5
        and bool(node.input[0])
        and len(node.output) == 1
        and bool(node.output[0])
    )


def _int64_initializers(index: ModelIndex, several: frozenset[str]) -> dict[tuple[int, ...], str]:
    """Small 1-D int64 constants of the main graph by value: a merged Slice reads
    one of these where it holds its parameter (exporters share ``[0]``, ``[2]``...
    between many Slices), so only values the model lacks cost new bytes."""
    found: dict[tuple[int, ...], str] = {}
    for name, (scope, tensor) in index.initializers.items():
        if (
            scope is not index.main
            or name in several
            or tensor.data_type != TensorProto.INT64
            or len(tensor.dims) != 1
            or not 0 < tensor.dims[0] <= _MAX_SHARED_VALUES
        ):
            continue
        array = index.constant_array(name)  # None for an overridable initializer
        if array is not None:
            found.setdefault(tuple(int(v) for v in array), name)
    return found


_MAX_SHARED_VALUES = 8


def _plan(
    index: ModelIndex,
    first: NodeRef,
    several: frozenset[str],
    existing: Mapping[tuple[int, ...], str],
    made: set[tuple[int, ...]],
) -> _Merge | None:
    out = first.node.output[0]
    if index.is_graph_output(out) or out in index.side_table_names:
        return None
    if out in several:
        return None  # another graph's value of the same name: uses hold both
    window = _window(index, first)
    if window is None:
        return None
    readers: list[tuple[NodeRef, _Window]] = []
    for use in index.uses_of(out):
        reader = use.node
        if reader is None or reader.scope is not first.scope or use.slot != 0:
            return None
        if not _is_slice(reader) or reader is first:
            return None
        second = _window(index, reader)
        if second is None or set(second.axes) & set(window.axes):
            return None
        readers.append((reader, window.then(second)))
    if not readers:
        return None
    dropped = _only_theirs(index, first, readers)
    shared = {values: name for values, name in existing.items() if name not in dropped}
    nbytes = _saved_bytes(index, first, readers, dropped, shared, made)
    return _Merge(first, readers, dropped, nbytes)


def _window(index: ModelIndex, ref: NodeRef) -> _Window | None:
    """The constant parameters of a Slice, axes non-negative and distinct."""
    inputs = [*ref.node.input, "", ""][:5]
    values: list[list[int] | None] = []
    for name in inputs[1:]:
        if not name:
            values.append(None)
            continue
        array = index.constant_array(name)  # None for an overridable initializer
        if array is None or array.ndim != 1 or array.dtype.kind not in "iu":
            return None
        values.append([int(v) for v in array])
    starts, ends, axes, steps = values
    if starts is None or ends is None or len(starts) != len(ends):
        return None
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if len(axes) != len(starts) or len(steps) != len(starts) or 0 in steps:
        return None
    if any(axis < 0 for axis in axes):
        dims = index.inferred_shapes().get(ref.node.input[0], (0, None))[1]
        if dims is None:
            return None
        rank = len(dims)
        if any(axis < -rank for axis in axes):
            return None
        axes = [axis + rank if axis < 0 else axis for axis in axes]
    if len(set(axes)) != len(axes):
        return None
    return _Window(tuple(starts), tuple(ends), tuple(axes), tuple(steps))


def _parts(window: _Window) -> list[tuple[str, tuple[int, ...]]]:
    """The merged Slice's parameter inputs; steps left out when all are 1 (the default)."""
    parts = [("starts", window.starts), ("ends", window.ends), ("axes", window.axes)]
    if any(step != 1 for step in window.steps):
        parts.append(("steps", window.steps))
    return parts


def _only_theirs(
    index: ModelIndex, first: NodeRef, readers: list[tuple[NodeRef, _Window]]
) -> list[str]:
    """The parameters (initializers, Constant outputs) no node but these Slices reads."""
    slices = {id(first), *(id(reader) for reader, _ in readers)}
    dropped: list[str] = []
    for ref in (first, *(reader for reader, _ in readers)):
        for name in ref.node.input[1:]:
            if not name or name in dropped or name in index.side_table_names:
                continue
            if index.is_graph_input(name) or index.is_graph_output(name):
                continue
            uses = index.uses_of(name)
            if not all(use.node is not None and id(use.node) in slices for use in uses):
                continue
            producer = index.producer.get(name)
            if name in index.initializers or (
                producer is not None and producer.node.op_type == "Constant"
            ):
                dropped.append(name)
    return dropped


def _saved_bytes(
    index: ModelIndex,
    first: NodeRef,
    readers: list[tuple[NodeRef, _Window]],
    dropped: list[str],
    shared: Mapping[tuple[int, ...], str],
    made: set[tuple[int, ...]],
) -> int:
    """The first node's bytes and the parameters only the merged Slices read, minus
    the new parameters (one per distinct value) and what the readers' inputs grow."""
    saved = first.node.ByteSize() + 3
    for name in dropped:
        if name in index.initializers:
            saved += index.initializers[name][1].ByteSize() + 3
        else:
            saved += index.producer[name].node.ByteSize() + 3
    for reader, window in readers:
        node = reader.node
        names = []
        for part, values in _parts(window):
            name = shared.get(values, f"{part[0]}{len(made)}")
            names.append(name)
            if values not in made and values not in shared:
                made.add(values)
                saved -= _int64s(name, values).ByteSize() + 3
        merged = onnx.NodeProto()
        merged.CopyFrom(node)
        del merged.input[:]
        merged.input.extend([first.node.input[0], *names])
        saved -= merged.ByteSize() - node.ByteSize()
    return saved


def _unused_name(index: ModelIndex, base: str, made: set[str]) -> str:
    """A name no value of the model has, nor one this fix made already."""
    candidate, counter = base, 0
    while (name := index.fresh_name(candidate)) in made:
        counter += 1
        candidate = f"{base}_{counter}"
    return name


def _int64s(name: str, values: tuple[int, ...]) -> TensorProto:
    """Raw little-endian bytes: 8 per value, where a varint of INT64_MAX (the usual
    end) takes 9."""
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)
