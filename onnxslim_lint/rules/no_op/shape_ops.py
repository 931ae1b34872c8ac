"""No-op matchers for the ops that move or retype data: Cast, Reshape, Expand,
Transpose, Pad, Slice, Concat, and Squeeze/Unsqueeze pairs."""

from __future__ import annotations

import numpy as np

from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.shapes import is_static
from onnxslim_lint.model.symbolic import SymbolicShapes
from onnxslim_lint.rules._fusion import constant_axes
from onnxslim_lint.rules.base import default_opset
from onnxslim_lint.rules.no_op.common import (
    Unchanged,
    attribute,
    broadcast_keeps,
    constant,
    dims_of,
    elem_type,
)


def _cast(index: ModelIndex, ref: NodeRef) -> Unchanged | None:
    x = ref.node.input[0]
    source_type = elem_type(index, x)
    if not source_type:
        return None
    if ref.node.op_type == "Cast":
        if len(ref.node.input) != 1:
            return None
        target = attribute(ref, "to")
    else:
        if len(ref.node.input) != 2 or not ref.node.input[1]:
            return None
        target = elem_type(index, ref.node.input[1])
    if target is None or target != source_type:
        return None
    return Unchanged(ref, x, why="cast to the same type")


def _static_target(index: ModelIndex, ref: NodeRef) -> tuple[tuple[int, ...], np.ndarray] | None:
    """The static dims of a Reshape's or Expand's input and its constant 1-D shape."""
    if len(ref.node.input) != 2:
        return None
    dims = dims_of(index, ref.node.input[0])
    shape = constant(index, ref.node.input[1])
    if not is_static(dims) or shape is None or shape.ndim != 1:
        return None
    return dims, shape


def _reshape(index: ModelIndex, ref: NodeRef) -> Unchanged | None:
    x = ref.node.input[0]
    target = _static_target(index, ref)
    if target is None:
        return None
    dims, shape = target
    allowzero = attribute(ref, "allowzero", 0)
    out: list[int | None] = []
    for i, value in enumerate(int(v) for v in shape):
        if value == 0 and not allowzero:
            if i >= len(dims):
                return None
            out.append(dims[i])
        elif value == -1:
            out.append(None)
        elif value < 0:
            return None
        else:
            out.append(value)
    if len(out) != len(dims):
        return None
    if out.count(None) > 1:
        return None
    if None in out:
        known = int(np.prod([d for d in out if d is not None], dtype=np.int64))
        total = int(np.prod(dims, dtype=np.int64))
        if known == 0 or total % known:
            return None
        out[out.index(None)] = total // known
    if tuple(out) != tuple(dims):
        return None
    return Unchanged(ref, x, why="reshape to the same shape")


def _expand(index: ModelIndex, ref: NodeRef) -> Unchanged | None:
    x = ref.node.input[0]
    target = _static_target(index, ref)
    if target is None:
        return None
    dims, shape = target
    if not broadcast_keeps(dims, tuple(int(v) for v in shape)):
        return None
    return Unchanged(ref, x, why="expand to the same shape")


def _transpose(index: ModelIndex, ref: NodeRef) -> Unchanged | None:
    perm = attribute(ref, "perm")
    if perm is None:
        dims = dims_of(index, ref.node.input[0])
        if dims is None or len(dims) > 1:
            return None
        return Unchanged(ref, ref.node.input[0], why="transpose of rank <= 1")
    if list(perm) != list(range(len(perm))):
        return None
    return Unchanged(ref, ref.node.input[0], why="identity perm")


def _pad(index: ModelIndex, ref: NodeRef) -> Unchanged | None:
    mode = attribute(ref, "mode", "constant")
    if mode != "constant":
        return None
    values: np.ndarray | None
    if default_opset(index) < 11:
        pads = attribute(ref, "paddings" if default_opset(index) < 2 else "pads")
        if pads is None or len(ref.node.input) != 1:
            return None
        values = np.array(pads)
    else:
        if len(ref.node.input) < 2 or not ref.node.input[1]:
            return None
        values = constant(index, ref.node.input[1])
        if values is None:
            return None
        if (
            len(ref.node.input) > 3
            and ref.node.input[3]
            and constant(index, ref.node.input[3]) is None
        ):
            return None
    if values.size and np.any(values != 0):
        return None
    return Unchanged(ref, ref.node.input[0], why="zero pads")


_INT64_MAX = 2**63 - 1


def _slice(index: ModelIndex, ref: NodeRef) -> Unchanged | None:
    x = ref.node.input[0]
    dims = dims_of(index, x)
    if dims is None:
        return None
    rank = len(dims)
    if default_opset(index) < 10:
        if len(ref.node.input) != 1:
            return None
        starts, ends = attribute(ref, "starts"), attribute(ref, "ends")
        axes = attribute(ref, "axes", list(range(len(starts or []))))
        steps = [1] * len(starts or [])
        if starts is None or ends is None or axes is None:
            return None
    else:
        inputs = list(ref.node.input) + [""] * 5
        arrays = []
        for slot in (1, 2):
            value = constant(index, inputs[slot])
            if value is None:
                return None
            arrays.append([int(v) for v in value.reshape(-1)])
        starts, ends = arrays
        axes_value = constant(index, inputs[3]) if inputs[3] else np.arange(len(starts))
        steps_value = constant(index, inputs[4]) if inputs[4] else np.ones(len(starts))
        if axes_value is None or steps_value is None:
            return None
        axes = [int(v) for v in axes_value.reshape(-1)]
        steps = [int(v) for v in steps_value.reshape(-1)]
    if not (len(starts) == len(ends) == len(axes) == len(steps)):
        return None
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        if axis < -rank or axis >= rank or step != 1:
            return None
        dim = dims[axis]
        if dim is None or dim < 0:
            # a dim not known statically: only [0, INT64_MAX) is the whole range of any dim
            if start != 0 or end != _INT64_MAX:
                return None
        elif not (start == 0 or start <= -dim) or end < dim:
            return None
    return Unchanged(ref, x, why="slice of the whole range")


def _concat(index: ModelIndex, ref: NodeRef) -> Unchanged | None:
    if len(ref.node.input) != 1:
        return None
    return Unchanged(ref, ref.node.input[0], why="concat of one input")


def _squeeze(index: ModelIndex, ref: NodeRef) -> Unchanged | None:
    return _axis_pair(index, ref, "Unsqueeze", "squeeze of the unsqueezed axes")


def _unsqueeze(index: ModelIndex, ref: NodeRef) -> Unchanged | None:
    return _axis_pair(index, ref, "Squeeze", "unsqueeze of the squeezed axes")


def _axis_pair(index: ModelIndex, ref: NodeRef, first_op: str, why: str) -> Unchanged | None:
    """Squeeze after Unsqueeze (or Unsqueeze after Squeeze) of the same explicit axes.

    Both count axes in the coordinates of the larger rank (Unsqueeze in its output,
    Squeeze in its input), so equal axes put every dim back where it was; Squeeze
    fails unless those dims are 1, so nothing else can come out.
    """
    middle = ref.node.input[0]
    first = index.producer.get(middle)
    if first is None or first.scope is not ref.scope:
        return None
    node = first.node
    if node.op_type != first_op or not is_default_domain(node.domain) or not node.input[0]:
        return None
    axes_out, axes_in = constant_axes(index, ref), constant_axes(index, first)
    if not axes_out or not axes_in:
        return None
    x = node.input[0]
    dims = dims_of(index, x)
    if dims is not None:
        rank = len(dims) + (len(axes_in) if first_op == "Unsqueeze" else 0)
        norm_in = sorted(a % rank for a in axes_in)
        norm_out = sorted(a % rank for a in axes_out)
    elif min(axes_in) >= 0 and min(axes_out) >= 0:
        norm_in, norm_out = sorted(axes_in), sorted(axes_out)
    else:
        return None
    if norm_in != norm_out or len(set(norm_in)) != len(norm_in):
        return None
    also = None
    if (
        all(use.node is ref for use in index.uses_of(middle))
        and middle not in index.side_table_names
    ):
        also = first
    return Unchanged(ref, x, also=also, why=why)


def match_symbolic(symbolic: SymbolicShapes, ref: NodeRef) -> Unchanged | None:
    """A Reshape or Expand proven a no-op with dims as symbols: ``Reshape(x, [batch, -1,
    sequence, 16])`` of ``x: [batch, 4, sequence, 16]`` (its target made from ``Shape``
    elements of other values), which the static matchers cannot decide."""
    node = ref.node
    if symbolic.reshape_is_noop(node):
        return Unchanged(ref, node.input[0], why="reshape to the same shape")
    if symbolic.expand_is_noop(node):
        return Unchanged(ref, node.input[0], why="expand to the same shape")
    return None


SYMBOLIC_OPS = frozenset({"Reshape", "Expand"})

SHAPE_OP_MATCHERS = {
    "Cast": _cast,
    "CastLike": _cast,
    "Reshape": _reshape,
    "Expand": _expand,
    "Transpose": _transpose,
    "Pad": _pad,
    "Slice": _slice,
    "Concat": _concat,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
}
