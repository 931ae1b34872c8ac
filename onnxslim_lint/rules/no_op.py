"""OSL205 no-op."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from onnx import numpy_helper

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor, can_bypass
from onnxslim_lint.model.evaluate import ConeEvaluator
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.shapes import is_static
from onnxslim_lint.rules._fusion import constant_axes
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note

INT64_MAX = 2**63 - 1

_CANDIDATES = frozenset(
    {
        "Cast",
        "CastLike",
        "Reshape",
        "Expand",
        "Transpose",
        "Pad",
        "Slice",
        "Concat",
        "Squeeze",
        "Unsqueeze",
        "Mul",
        "Div",
        "Sub",
        "Add",
        "And",
        "Or",
        "Xor",
    }
)


@dataclass(eq=False)
class _NoOp:
    ref: NodeRef
    source: str  # the value the node's output equals
    also: NodeRef | None = None  # the first of a Squeeze/Unsqueeze pair, removed with it
    why: str = ""


class NoOp(GraphRule[_NoOp]):
    """
    ## What it does
    Finds nodes that return their input unchanged and removes them, rewiring their
    readers to the input:

    - ``Cast``/``CastLike`` to the type the input already has;
    - ``Reshape`` to the input's own static shape, ``Expand`` to a shape that
      broadcasts to the input's own shape;
    - ``Transpose`` with the identity permutation; ``Pad`` (mode ``constant``) with
      all-zero pads; ``Slice`` over the whole range with step 1; ``Concat`` of one
      input;
    - ``Squeeze`` of the axes the ``Unsqueeze`` right before it added, and
      ``Unsqueeze`` of the axes the ``Squeeze`` right before it removed;
    - ``x * 1``, ``x / 1``, ``x - 0`` and ``x + (-0.0)`` (for integers ``x + 0``),
      when the constant's broadcast leaves the shape of ``x`` unchanged;
    - ``x + 0.0`` and ``x - (-0.0)`` too when every reader of the result is a
      ``Softmax``, ``Exp``, ``Cos`` or ``Cosh``: these cannot tell ``-0.0`` from
      ``+0.0``, the only value the node changes;
    - ``x and True``, ``x or False`` and ``x xor False`` on booleans, when the
      constant's broadcast leaves the shape of ``x`` unchanged.

    The neutral operand may be a stored constant or a value computed from
    constants alone by exact ops (``Where``, ``Expand``, comparisons, ``Range``...:
    the ones constant folding evaluates), such as the all-zero attention mask
    ``Where(all_true, 0.0, -inf)`` the dynamo exporter adds before each
    ``Softmax``. That value is computed in memory only to look at it, never
    written to the model: the node reading it is bypassed, and the nodes that made
    it, once nothing else reads them, are dead code that OSL102 removes.

    ## Why is this bad?
    Exporters trace framework code that is generic over shapes and types, so a
    model carries casts to the type a tensor already has, reshapes to its own shape
    and arithmetic with neutral elements. Each one is a node (often a copy of the
    tensor) that every runtime runs for nothing.

    ## What it leaves alone
    - Anything whose types or shapes are not statically known. Shapes come from
      onnx shape inference on a copy of the model with ``value_info`` cleared, so a
      stale annotation is never trusted; symbolic dims are not equal to anything.
    - ``x + 0.0`` with a positive zero: it turns ``-0.0`` into ``+0.0``, so it is not
      an identity (``x + (-0.0)`` and ``x - 0.0`` are). ``x - (-0.0)`` likewise.
      Unless every reader is one of the sign-blind ops above, in the same graph:
      not when the result is a graph output, is read inside a subgraph or by
      anything else (``Relu``, ``LogSoftmax``, ``Abs``, ``MatMul``... keep or may
      keep the sign of a zero).
    - A computed operand whose cone reads a graph input or an overridable
      initializer, or holds an op outside the exact set (``MatMul``, random ops,
      subgraphs, another domain) or a subgraph node; and one that would take more
      than 64 nodes or 16 MB to compute.
    - A neutral constant whose broadcast grows ``x`` (``x[3] * ones[2,3]``), or
      whose values or shape come from an overridable initializer (a graph input).
    - Reshape or Expand whose shape input is not a constant; Pad in a mode other
      than ``constant``; a Slice, Pad or Squeeze with non-constant parameters.
    - A node whose output is a graph output keeps that name; where it cannot be
      kept (the input is a graph input, an initializer or an output itself), the
      node stays.

    ## Example
    ``y = Cast(x, to=FLOAT)`` with ``x`` float becomes ``y = x``;
    ``u = Unsqueeze(x, [1]); y = Squeeze(u, [1])`` becomes ``y = x``.

    ## Fix safety
    Exact: each removed node returns its input bit for bit, ``-0.0`` and NaN
    included, except ``x + 0.0`` (or ``x - (-0.0)``) before sign-blind readers,
    which differs only where ``x`` is ``-0.0``, a difference those readers cannot
    see: the model's outputs stay bit for bit the same.
    """

    code = "OSL205"
    name = "no-op"
    summary = "Casts, reshapes, pads, slices and arithmetic that change nothing"
    fix_title = "Remove the no-op nodes and rewire their readers"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[_NoOp]:
        index = ctx.index
        candidates = [
            ref
            for ref in index.nodes()
            if ref.node.op_type in _CANDIDATES
            and is_default_domain(ref.node.domain)
            and len(ref.node.output) == 1
            and ref.node.output[0]
            and ref.node.input
            and ref.node.input[0]
        ]
        if not candidates:
            return []
        found: list[_NoOp] = []
        claimed: set[int] = set()
        computed = ConeEvaluator(index)
        for ref in candidates:
            item = _no_op(index, ref, computed)
            if item is None or id(ref) in claimed:
                continue
            if item.also is not None and id(item.also) in claimed:
                continue
            if not can_bypass(index, ref, ref.node.output[0], item.source):
                continue
            claimed.add(id(ref))
            if item.also is not None:
                claimed.add(id(item.also))
            found.append(item)
        if not found:
            return []
        _resolve_chains(index, found)
        _keep_read_pair_firsts(found)
        found = [
            item
            for item in found
            if can_bypass(index, item.ref, item.ref.node.output[0], item.source)
        ]
        return _applicable(index, found)

    def saving(self, item: _NoOp) -> Saving:
        removed = [ref for ref in (item.ref, item.also) if ref is not None]
        nbytes = sum(ref.node.ByteSize() for ref in removed)
        location = Location("node", item.ref.label, item.ref.scope.path, item.why, 0)
        return Saving((location,), count=len(removed), nbytes=nbytes, nodes=len(removed))

    def message(self, items: Sequence[_NoOp], total: Saving) -> str:
        by_kind = Counter(item.ref.node.op_type for item in items)
        kinds = ", ".join(f"{n} {op}" for op, n in sorted(by_kind.items()))
        return (
            f"{plural(total.count, 'node')} that change nothing: {kinds}{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_NoOp]) -> bool:
        editor = Editor(index)
        changed = False
        # Values that are no graph output are rewired directly (a chain of no-ops
        # was resolved to its first input by match); graph outputs keep their names
        # through ``bypass``, which refuses when an earlier rewiring touched them
        # (they go in the next round).
        for item in items:
            old = item.ref.node.output[0]
            if index.is_graph_output(old):
                continue
            editor.replace_uses(old, item.source)
            editor.remove_node(item.ref)
            if item.also is not None:
                editor.remove_node(item.also)
            changed = True
        for item in items:
            old = item.ref.node.output[0]
            if not index.is_graph_output(old):
                continue
            if not editor.bypass(item.ref, old, item.source):
                continue
            changed = True
            if item.also is not None:
                editor.remove_node(item.also)
        editor.commit()
        return changed


# -- helpers ------------------------------------------------------------------------


def _applicable(index: ModelIndex, found: list[_NoOp]) -> list[_NoOp]:
    """The items the fix will apply, in its order (so the finding counts exactly those).

    Rewired values come first; a graph output then keeps its name only when neither
    it nor its source was touched and the source's producer stays (as ``bypass``
    requires); the others wait for the next round.
    """
    touched: set[str] = set()
    removed: set[int] = set()
    plain = [item for item in found if not index.is_graph_output(item.ref.node.output[0])]
    outputs = [item for item in found if index.is_graph_output(item.ref.node.output[0])]
    for item in plain:
        touched.update((item.ref.node.output[0], item.source))
        removed.update(id(r) for r in (item.ref, item.also) if r is not None)
    kept: list[_NoOp] = []
    for item in outputs:
        old, source = item.ref.node.output[0], item.source
        producer = index.producer.get(source)
        if old in touched or source in touched or producer is None or id(producer) in removed:
            continue
        touched.update((old, source))
        removed.update(id(r) for r in (item.ref, item.also) if r is not None)
        kept.append(item)
    return plain + kept


def _keep_read_pair_firsts(found: list[_NoOp]) -> None:
    """A pair's first node stays when another no-op now reads through to its output.

    ``u = Unsqueeze(x); s = Squeeze(u); t = Unsqueeze(s)``: removing the Squeeze
    pair would also drop ``u``, but ``t`` is itself the Unsqueeze of the squeezed
    axes and is rewired to read ``u``, so ``u`` must stay.
    """
    owners = {item.also.node.output[0]: item for item in found if item.also is not None}
    for item in found:
        owner = owners.get(item.source)
        if owner is not None and owner is not item:
            owner.also = None


def _resolve_chains(index: ModelIndex, found: list[_NoOp]) -> None:
    """Point each no-op at the first input of a chain of no-ops feeding it.

    Only through no-ops whose output is no graph output (those are removed by
    rewiring, so their input stays defined).
    """
    by_output = {
        item.ref.node.output[0]: item
        for item in found
        if not index.is_graph_output(item.ref.node.output[0])
    }
    for item in found:
        seen: set[str] = set()
        source = item.source
        while source in by_output and source not in seen:
            seen.add(source)
            source = by_output[source].source
        item.source = source


def _const(index: ModelIndex, name: str) -> np.ndarray | None:
    if not name:
        return None
    tensor = index.constant_tensor(name)
    if tensor is None:
        return None
    try:
        return numpy_helper.to_array(tensor)
    except Exception:
        return None


def _attr(ref: NodeRef, name: str, default=None):  # type: ignore[no-untyped-def]
    for attr in ref.node.attribute:
        if attr.name == name:
            if attr.ref_attr_name:
                return None
            if attr.type == attr.INT:
                return attr.i
            if attr.type == attr.INTS:
                return list(attr.ints)
            if attr.type == attr.STRING:
                return attr.s.decode()
            if attr.type == attr.FLOAT:
                return attr.f
            return None
    return default


def _info(index: ModelIndex, name: str):  # type: ignore[no-untyped-def]
    return index.inferred_shapes().get(name, (0, None))


def _elem(index: ModelIndex, name: str) -> int:
    return _info(index, name)[0]


def _dims(index: ModelIndex, name: str):  # type: ignore[no-untyped-def]
    return _info(index, name)[1]


def _opset(index: ModelIndex) -> int:
    return index.opsets.get("", 1)


def _no_op(index: ModelIndex, ref: NodeRef, computed: ConeEvaluator) -> _NoOp | None:
    op = ref.node.op_type
    if op in _ARITH:
        return _arith(index, ref, computed)
    if op in _LOGIC:
        return _logic(index, ref, computed)
    handler = _HANDLERS.get(op)
    if handler is None:
        return None
    return handler(index, ref)


def _cast(index: ModelIndex, ref: NodeRef) -> _NoOp | None:
    x = ref.node.input[0]
    source_type = _elem(index, x)
    if not source_type:
        return None
    if ref.node.op_type == "Cast":
        if len(ref.node.input) != 1:
            return None
        target = _attr(ref, "to")
    else:
        if len(ref.node.input) != 2 or not ref.node.input[1]:
            return None
        target = _elem(index, ref.node.input[1])
    if target is None or target != source_type:
        return None
    return _NoOp(ref, x, why="cast to the same type")


def _reshape(index: ModelIndex, ref: NodeRef) -> _NoOp | None:
    x = ref.node.input[0]
    if len(ref.node.input) != 2:
        return None
    dims = _dims(index, x)
    shape = _const(index, ref.node.input[1])
    if not is_static(dims) or shape is None or shape.ndim != 1:
        return None
    allowzero = _attr(ref, "allowzero", 0)
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
    return _NoOp(ref, x, why="reshape to the same shape")


def _expand(index: ModelIndex, ref: NodeRef) -> _NoOp | None:
    x = ref.node.input[0]
    if len(ref.node.input) != 2:
        return None
    dims = _dims(index, x)
    shape = _const(index, ref.node.input[1])
    if not is_static(dims) or shape is None or shape.ndim != 1:
        return None
    if not _broadcast_keeps(dims, tuple(int(v) for v in shape)):
        return None
    return _NoOp(ref, x, why="expand to the same shape")


def _broadcast_keeps(dims, other) -> bool:  # type: ignore[no-untyped-def]
    """Does broadcasting ``dims`` with ``other`` give exactly ``dims``?"""
    if len(other) > len(dims):
        return False
    for a, b in zip(reversed(dims), reversed(other), strict=False):
        if b == 1:
            continue
        if a is None or a != b:
            return False
    return True


def _transpose(index: ModelIndex, ref: NodeRef) -> _NoOp | None:
    perm = _attr(ref, "perm")
    if perm is None:
        dims = _dims(index, ref.node.input[0])
        if dims is None or len(dims) > 1:
            return None
        return _NoOp(ref, ref.node.input[0], why="transpose of rank <= 1")
    if list(perm) != list(range(len(perm))):
        return None
    return _NoOp(ref, ref.node.input[0], why="identity perm")


def _pad(index: ModelIndex, ref: NodeRef) -> _NoOp | None:
    mode = _attr(ref, "mode", "constant")
    if mode != "constant":
        return None
    if _opset(index) < 11:
        pads = _attr(ref, "paddings" if _opset(index) < 2 else "pads")
        if pads is None or len(ref.node.input) != 1:
            return None
        values = np.array(pads)
    else:
        if len(ref.node.input) < 2 or not ref.node.input[1]:
            return None
        values = _const(index, ref.node.input[1])
        if values is None:
            return None
        if (
            len(ref.node.input) > 3
            and ref.node.input[3]
            and _const(index, ref.node.input[3]) is None
        ):
            return None
    if values.size and np.any(values != 0):
        return None
    return _NoOp(ref, ref.node.input[0], why="zero pads")


def _slice(index: ModelIndex, ref: NodeRef) -> _NoOp | None:
    x = ref.node.input[0]
    dims = _dims(index, x)
    if not is_static(dims):
        return None
    rank = len(dims)
    if _opset(index) < 10:
        if len(ref.node.input) != 1:
            return None
        starts, ends = _attr(ref, "starts"), _attr(ref, "ends")
        axes = _attr(ref, "axes", list(range(len(starts or []))))
        steps = [1] * len(starts or [])
        if starts is None or ends is None or axes is None:
            return None
    else:
        inputs = list(ref.node.input) + [""] * 5
        arrays = []
        for slot in (1, 2):
            value = _const(index, inputs[slot])
            if value is None:
                return None
            arrays.append([int(v) for v in value.reshape(-1)])
        starts, ends = arrays
        axes_value = _const(index, inputs[3]) if inputs[3] else np.arange(len(starts))
        steps_value = _const(index, inputs[4]) if inputs[4] else np.ones(len(starts))
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
        if not (start == 0 or start <= -dim):
            return None
        if end < dim:
            return None
    return _NoOp(ref, x, why="slice of the whole range")


def _concat(index: ModelIndex, ref: NodeRef) -> _NoOp | None:
    if len(ref.node.input) != 1:
        return None
    return _NoOp(ref, ref.node.input[0], why="concat of one input")


def _squeeze(index: ModelIndex, ref: NodeRef) -> _NoOp | None:
    return _axis_pair(index, ref, "Unsqueeze", "squeeze of the unsqueezed axes")


def _unsqueeze(index: ModelIndex, ref: NodeRef) -> _NoOp | None:
    return _axis_pair(index, ref, "Squeeze", "unsqueeze of the squeezed axes")


def _axis_pair(index: ModelIndex, ref: NodeRef, first_op: str, why: str) -> _NoOp | None:
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
    dims = _dims(index, x)
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
    return _NoOp(ref, x, also=also, why=why)


_FLOAT_TYPES = frozenset({1, 10, 11, 16})  # float, float16, double, bfloat16
_INT_TYPES = frozenset({2, 3, 4, 5, 6, 7, 12, 13})


_ARITH = frozenset({"Mul", "Div", "Sub", "Add"})

# Ops whose outputs are the same whether an input zero is -0.0 or +0.0, so an
# ``x + (+0.0)`` that only feeds them may go (it changes nothing but a zero's sign):
# - Exp, Cos, Cosh: even at zero, exp(-0) = exp(+0) = 1, cos(-0) = cos(+0) = 1 and
#   cosh likewise; every other input value is left as it was;
# - Softmax: exp(x - max) / sum. A zero input changes ``x - max`` only when max is
#   itself a zero, and then ``x - max`` is a zero too, whose exp is 1 either way; a
#   max that is a zero (of either sign) changes no ``x - max`` of a nonzero x. Each
#   exp, the sum and the quotient are therefore the same; a runtime that skips the
#   max subtraction (or subtracts log(sum) too) still takes exp of equal values or
#   of zeros. The output is never -0.0 (exp is > 0 or underflows to +0.0).
# Left out on purpose: LogSoftmax (x - max - log(sum) is ±0 when the row is one
# zero), Abs (a branch ``x < 0 ? -x : x`` returns -0.0 for -0.0), Sqrt, Relu, Gelu,
# Erf, Tanh, Mul, MatMul, Add (all pass a zero's sign on).
_SIGN_BLIND = frozenset({"Softmax", "Exp", "Cos", "Cosh"})


def _arith(index: ModelIndex, ref: NodeRef, computed: ConeEvaluator) -> _NoOp | None:
    op = ref.node.op_type
    if len(ref.node.input) != 2 or not ref.node.input[1]:
        return None
    pairs = [(0, 1), (1, 0)] if op in ("Mul", "Add") else [(0, 1)]
    for x_slot, c_slot in pairs:
        x, c = ref.node.input[x_slot], ref.node.input[c_slot]
        elem = _elem(index, x)
        dims = _dims(index, x)
        if not elem or dims is None or elem not in _FLOAT_TYPES | _INT_TYPES:
            continue
        if _elem(index, c) != elem:
            continue
        value = _const(index, c)
        stored = value is not None
        if value is None:
            # made from constants by exact ops (the mask the dynamo exporter
            # builds for attention): looked at, never materialized
            value = computed.value(c)
        if value is None:
            continue
        if not _broadcast_keeps(dims, tuple(value.shape)):
            continue
        is_float = elem in _FLOAT_TYPES
        if _neutral(op, value, is_float):
            sign_note = ""
        elif is_float and op in ("Add", "Sub") and _zeros(value):
            readers = _sign_blind_readers(index, ref)
            if not readers:
                continue
            sign_note = f", read only by {', '.join(readers)}"
        else:
            continue
        if stored:
            why = f"{op.lower()} by a neutral constant"
        else:
            kind = "one" if op in ("Mul", "Div") else "zero"
            why = f"{op.lower()} {'by' if kind == 'one' else 'of'} a computed {kind}"
        return _NoOp(ref, x, why=why + sign_note)
    return None


# Boolean ops and the constant that leaves the other operand as it is.
_LOGIC = {"And": True, "Or": False, "Xor": False}
_BOOL = 9


def _logic(index: ModelIndex, ref: NodeRef, computed: ConeEvaluator) -> _NoOp | None:
    """``x and True``, ``x or False``, ``x xor False`` (a causal mask and-ed with an
    all-true padding mask, say)."""
    op = ref.node.op_type
    if len(ref.node.input) != 2 or not ref.node.input[1]:
        return None
    neutral = _LOGIC[op]
    for x_slot, c_slot in ((0, 1), (1, 0)):
        x, c = ref.node.input[x_slot], ref.node.input[c_slot]
        dims = _dims(index, x)
        if _elem(index, x) != _BOOL or _elem(index, c) != _BOOL or dims is None:
            continue
        value = _const(index, c)
        if value is None:
            value = computed.value(c)
        if value is None or value.dtype != np.bool_:
            continue
        if not _broadcast_keeps(dims, tuple(value.shape)):
            continue
        if bool(np.all(value == neutral)):
            return _NoOp(ref, x, why=f"{op.lower()} with all {str(neutral).lower()}")
    return None


def _zeros(value: np.ndarray) -> bool:
    return bool(np.all(value == 0))


def _sign_blind_readers(index: ModelIndex, ref: NodeRef) -> list[str]:
    """The op types reading the node's output if none can tell -0.0 from +0.0, else [].

    Only plain node inputs of the same graph count: not a graph output, not a read
    from inside a subgraph, not a name a side table mentions.
    """
    out = ref.node.output[0]
    if index.is_graph_output(out) or out in index.side_table_names:
        return []
    uses = index.uses_of(out)
    if not uses or not all(
        use.node is not None
        and use.scope is ref.scope
        and is_default_domain(use.node.node.domain)
        and use.node.node.op_type in _SIGN_BLIND
        for use in uses
    ):
        return []
    return sorted({use.node.node.op_type for use in uses if use.node is not None})


def _neutral(op: str, value: np.ndarray, is_float: bool) -> bool:
    if op in ("Mul", "Div"):
        return bool(np.all(value == 1))
    if not _zeros(value):
        return False
    if not is_float:
        return True
    negative = np.signbit(value.astype(np.float64))
    if op == "Sub":
        return not bool(np.any(negative))  # x - (+0.0) == x, even for x = -0.0
    return bool(np.all(negative))  # Add: only x + (-0.0) == x for every x


_HANDLERS = {
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
