"""OSL206 chain-merge."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from onnx import TensorProto, helper

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor, can_bypass
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules._fusion import Claims, constant_axes, linked_pairs, merge_pair
from onnxslim_lint.rules.base import (
    CheckContext,
    GraphRule,
    Saving,
    default_opset,
    plural,
    size_note,
    tally,
)

_T = TensorProto
_FLOATS = frozenset({_T.FLOAT16, _T.BFLOAT16, _T.FLOAT, _T.DOUBLE})
# source type -> middle types that hold every value of the source exactly
_LOSSLESS: dict[int, frozenset[int]] = {
    _T.BOOL: frozenset(
        {_T.UINT8, _T.INT8, _T.UINT16, _T.INT16, _T.UINT32, _T.INT32, _T.UINT64, _T.INT64} | _FLOATS
    ),
    _T.UINT8: frozenset(
        {_T.UINT16, _T.INT16, _T.UINT32, _T.INT32, _T.UINT64, _T.INT64, _T.FLOAT16}
        | {_T.FLOAT, _T.DOUBLE}
    ),
    _T.INT8: frozenset({_T.INT16, _T.INT32, _T.INT64, _T.FLOAT16, _T.FLOAT, _T.DOUBLE}),
    _T.UINT16: frozenset({_T.UINT32, _T.INT32, _T.UINT64, _T.INT64, _T.FLOAT, _T.DOUBLE}),
    _T.INT16: frozenset({_T.INT32, _T.INT64, _T.FLOAT, _T.DOUBLE}),
    _T.UINT32: frozenset({_T.UINT64, _T.INT64, _T.DOUBLE}),
    _T.INT32: frozenset({_T.INT64, _T.DOUBLE}),
    _T.FLOAT16: frozenset({_T.FLOAT, _T.DOUBLE}),
    _T.BFLOAT16: frozenset({_T.FLOAT, _T.DOUBLE}),
    _T.FLOAT: frozenset({_T.DOUBLE}),
}
_INTS = frozenset(
    {_T.BOOL, _T.UINT8, _T.INT8, _T.UINT16, _T.INT16, _T.UINT32, _T.INT32, _T.UINT64, _T.INT64}
)
_RESHAPE_LIKE = frozenset({"Reshape", "Flatten", "Squeeze", "Unsqueeze"})


@dataclass(eq=False)
class _Merge:
    first: NodeRef
    second: NodeRef
    kind: str  # "reshape" | "cast" | "cast-identity" | "unsqueeze"
    drop_first: bool
    axes: tuple[int, ...] = ()  # "unsqueeze": the axes of the merged Unsqueeze
    # "unsqueeze": the first's other readers, Unsqueezes too, merged the same way
    siblings: tuple[tuple[NodeRef, tuple[int, ...]], ...] = ()

    @property
    def removed(self) -> list[NodeRef]:
        nodes = [self.second] if self.kind == "cast-identity" else []
        if self.drop_first:
            nodes.append(self.first)
        return nodes


class ChainMerge(GraphRule[_Merge]):
    """
    ## What it does
    Merges two consecutive nodes into one (or none):

    - ``Reshape``, ``Flatten``, ``Squeeze`` or ``Unsqueeze`` followed by a
      ``Reshape`` to a constant shape: the Reshape reads the first node's input
      directly (only the element order matters to a Reshape, and none of these
      changes it);
    - ``Unsqueeze`` followed by ``Unsqueeze``: one Unsqueeze of both sets of axes
      (when every reader of the first is such an Unsqueeze, each one is merged and
      the first goes: the causal mask's ``arange`` unsqueezed to rows and columns);
    - ``Cast`` to a type that holds every value of the source type exactly
      (float16 -> float32, int32 -> int64, ...) followed by another ``Cast``: the
      second casts the source directly, and when it casts back to the source type
      both go.

    ## Why is this bad?
    Exporters emit one reshape per framework view call and one cast per dtype
    promotion, so chains of them are common. Each node is a copy of the tensor.

    ## What it leaves alone
    - A first node whose output is read elsewhere too keeps feeding those readers;
      a merge that removes no node is not reported. An Unsqueeze read by Unsqueezes
      alone is merged into all of them, unless one is in a subgraph (an outer-scope
      read) or cannot merge.
    - A Reshape whose shape is not a constant, or holds a ``0`` (copy the input's
      dim, which would then refer to another tensor) without ``allowzero``.
    - A Cast chain through a narrower type (``float32 -> float16 -> float32``
      rounds), one whose source type is not known, and one that goes from a float
      type to a non-float type (out-of-range conversions differ between runtimes).
    - A graph output keeps its name; where it cannot, the chain stays.

    ## Example
    ``a = Reshape(x, [6]); y = Reshape(a, [3, 2])`` becomes ``y = Reshape(x, [3, 2])``;
    ``a = Unsqueeze(x, [0]); y = Unsqueeze(a, [1])`` becomes ``y = Unsqueeze(x, [0, 1])``;
    ``a = Cast(x_int32, to=INT64); y = Cast(a, to=INT32)`` becomes ``y = x_int32``.

    ## Fix safety
    Exact: the merged node computes the same values bit for bit.
    """

    code = "OSL206"
    name = "chain-merge"
    summary = "Reshape, Unsqueeze and Cast chains that merge into one node"
    fix_title = "Merge the chained nodes"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[_Merge]:
        index = ctx.index
        merges: list[_Merge] = []
        claims = Claims()
        touched: set[str] = set()
        for first, second in linked_pairs(index, claims, _plain, _mergeable_second):
            op, middle = second.node.op_type, second.node.input[0]
            merge = _reshape_merge(index, first, second) if op == "Reshape" else None
            if op == "Cast":
                merge = _cast_merge(index, first, second)
            if op == "Unsqueeze":
                merge = _unsqueeze_merge(index, first, second)
            if merge is None or not merge.removed:
                continue
            readers = [second, *(sibling for sibling, _ in merge.siblings)]
            names = {first.node.input[0], middle, *(r.node.output[0] for r in readers)}
            if names & touched or any(claims.holds(r) for r in readers):
                continue  # the fix would skip it this round (see apply)
            touched |= names
            claims.take((first, *readers))
            merges.append(merge)
        return merges

    def saving(self, item: _Merge) -> Saving:
        label = f"{item.first.label} -> {item.second.label}"
        if item.siblings:
            label += "".join(f", {sibling.label}" for sibling, _ in item.siblings)
        location = Location("node", label, item.second.scope.path, item.kind, 0)
        removed = item.removed
        nbytes = sum(ref.node.ByteSize() for ref in removed)
        return Saving((location,), count=len(removed), nbytes=nbytes, nodes=len(removed))

    def message(self, items: Sequence[_Merge], total: Saving) -> str:
        text = tally(f"{m.first.node.op_type}->{m.second.node.op_type}" for m in items)
        return (
            f"{plural(len(items), 'chain')} that merge ({text}), "
            f"{plural(total.count, 'node')} fewer{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Merge]) -> bool:
        editor = Editor(index)
        changed = False
        for merge in items:
            if merge.siblings:
                changed |= _merge_fan_out(index, editor, merge)
                continue
            changed |= merge_pair(
                editor,
                merge.first,
                merge.second,
                cancels=merge.kind == "cast-identity",
                drop_first=merge.drop_first,
                rewrite=partial(_set_axes, index, merge) if merge.kind == "unsqueeze" else None,
            )
        editor.commit()
        return changed


def _mergeable_second(ref: NodeRef) -> bool:
    return _plain(ref) and ref.node.op_type in ("Reshape", "Cast", "Unsqueeze")


def _plain(ref: NodeRef) -> bool:
    node = ref.node
    return (
        is_default_domain(node.domain)
        and len(node.output) == 1
        and bool(node.output[0])
        and bool(node.input)
        and bool(node.input[0])
    )


def _only_reader(index: ModelIndex, name: str, ref: NodeRef) -> bool:
    return all(use.node is ref for use in index.uses_of(name))


def _reshape_merge(index: ModelIndex, first: NodeRef, second: NodeRef) -> _Merge | None:
    if first.node.op_type not in _RESHAPE_LIKE or len(second.node.input) != 2:
        return None
    tensor = index.constant_tensor(second.node.input[1])
    if tensor is None or not index.has_data(tensor):
        return None
    shape = index.tensor_array(tensor)
    allowzero = any(a.name == "allowzero" and a.i == 1 for a in second.node.attribute)
    if shape.ndim != 1 or (not allowzero and bool((shape == 0).any())):
        return None
    if not _only_reader(index, first.node.output[0], second):
        return None  # the first node stays for its other readers: nothing saved
    return _Merge(first, second, "reshape", drop_first=True)


def _cast_merge(index: ModelIndex, first: NodeRef, second: NodeRef) -> _Merge | None:
    if first.node.op_type != "Cast" or len(first.node.input) != 1:
        return None
    if len(second.node.input) != 1:
        return None
    source_type = index.inferred_shapes().get(first.node.input[0], (0, None))[0]
    middle_type = _to(first)
    target_type = _to(second)
    if not source_type or middle_type is None or target_type is None:
        return None
    if middle_type not in _LOSSLESS.get(source_type, ()):
        return None
    if source_type in _FLOATS and target_type not in _FLOATS:
        return None
    if target_type not in _FLOATS | _INTS:
        return None
    drop_first = _only_reader(index, first.node.output[0], second)
    if target_type == source_type:
        source = first.node.input[0]
        if not can_bypass(index, second, second.node.output[0], source):
            return None
        return _Merge(first, second, "cast-identity", drop_first)
    if not drop_first:
        return None
    return _Merge(first, second, "cast", drop_first)


def _to(ref: NodeRef) -> int | None:
    for attr in ref.node.attribute:
        if attr.name == "to" and not attr.ref_attr_name:
            return attr.i
    return None


def _unsqueeze_merge(index: ModelIndex, first: NodeRef, second: NodeRef) -> _Merge | None:
    """The merge of ``first -> second``, with the first's other readers when they are
    all Unsqueezes of the same graph that merge too (then the first goes)."""
    if first.node.op_type != "Unsqueeze":
        return None
    axes = _merged_axes(index, first, second)
    if axes is None:
        return None
    if _only_reader(index, first.node.output[0], second):
        return _Merge(first, second, "unsqueeze", drop_first=True, axes=axes)
    siblings: list[tuple[NodeRef, tuple[int, ...]]] = []
    for use in index.uses_of(first.node.output[0]):
        reader = use.node
        if reader is second:
            continue
        if (
            reader is None
            or use.slot != 0
            or reader.scope is not first.scope
            or reader.node.op_type != "Unsqueeze"
            or not _plain(reader)
        ):
            return None  # a graph output, a subgraph's outer-scope read, another op
        if any(reader is sibling for sibling, _ in siblings):
            return None
        reader_axes = _merged_axes(index, first, reader)
        if reader_axes is None:
            return None
        siblings.append((reader, reader_axes))
    if not siblings:
        return None
    return _Merge(first, second, "unsqueeze", True, axes, tuple(siblings))


def _merged_axes(index: ModelIndex, first: NodeRef, second: NodeRef) -> tuple[int, ...] | None:
    """``Unsqueeze(Unsqueeze(x, a1), a2)`` is ``Unsqueeze(x, a)``: the second call's
    axes count in the final rank, the first call's in the rank between, so each of
    those lands on the matching position among the final axes the second one left."""
    inner, outer = constant_axes(index, first), constant_axes(index, second)
    if not inner or not outer:
        return None
    if min(inner) < 0 or min(outer) < 0:
        rank = _rank(index, first.node.input[0])
        if rank is None:
            return None
        inner = [a % (rank + len(inner)) for a in inner]
        outer = [a % (rank + len(inner) + len(outer)) for a in outer]
    if len(set(inner)) != len(inner) or len(set(outer)) != len(outer):
        return None
    taken = set(outer)
    free = [i for i in range(max(inner) + len(outer) + 1) if i not in taken]
    return tuple(sorted(taken | {free[a] for a in inner}))


def _rank(index: ModelIndex, name: str) -> int | None:
    dims = index.inferred_shapes().get(name, (0, None))[1]
    return None if dims is None else len(dims)


def _merge_fan_out(index: ModelIndex, editor: Editor, merge: _Merge) -> bool:
    """Every reader of the first Unsqueeze reads its input with its merged axes; the
    first goes. False when an earlier merge of this edit touched one of the values."""
    first = merge.first
    source, middle = first.node.input[0], first.node.output[0]
    readers = [(merge.second, merge.axes), *merge.siblings]
    names = {source, middle, *(reader.node.output[0] for reader, _ in readers)}
    if names & editor.touched:
        return False
    spare: NodeRef | None = first  # its axes tensor (read by it alone) goes to one reader
    for reader, axes in readers:
        owners = (reader, spare) if spare is not None else (reader,)
        if _write_axes(index, reader, axes, owners) is spare:
            spare = None
        reader.node.input[0] = source
    editor.touched.update(names)
    editor.remove_node(first)
    return True


def _set_axes(index: ModelIndex, merge: _Merge) -> None:
    """Give the second Unsqueeze the merged axes: in its own axes tensor when nothing
    else reads that, else in the first's (removed with it), else in a new one."""
    _write_axes(index, merge.second, merge.axes, (merge.second, merge.first))


def _write_axes(
    index: ModelIndex, target: NodeRef, axes: tuple[int, ...], owners: tuple[NodeRef, ...]
) -> NodeRef | None:
    """Make ``axes`` the axes of Unsqueeze ``target``: rewritten in the axes tensor of
    the first of ``owners`` that alone reads its own (that owner is returned), else in
    a new initializer (or the attribute, before opset 13)."""
    node = target.node
    if default_opset(index) < 13:
        for attr in node.attribute:
            if attr.name == "axes":
                del attr.ints[:]
                attr.ints.extend(axes)
        return None
    for ref in owners:
        name = ref.node.input[1]
        if name in index.initializers and _only_reader(index, name, ref):
            scope, tensor = index.initializers[name]
            if scope is index.main or scope is target.scope:
                tensor.CopyFrom(_axes_tensor(name, axes))
                node.input[1] = name
                return ref
    name = index.fresh_name(f"{node.output[0]}_axes")
    index.main.graph.initializer.append(_axes_tensor(name, axes))
    node.input[1] = name
    return None


def _axes_tensor(name: str, axes: tuple[int, ...]) -> TensorProto:
    """An int64 axes tensor in ``int64_data`` (varints: a byte per small axis, where
    ``raw_data`` takes eight), so that a merge does not grow the file."""
    return helper.make_tensor(name, TensorProto.INT64, [len(axes)], list(axes))
