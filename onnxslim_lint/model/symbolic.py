"""Symbolic shapes: every dim as an int or a symbol, and the values of shape tensors.

onnx shape inference (:mod:`onnxslim_lint.model.shapes`) says ``None`` for every dim it
cannot compute, so on a model with dynamic axes ``Gather(Shape(x), 2)`` stays unknown
even when dim 2 of ``x`` is a constant 64. Here a dim is an ``int`` or an :class:`Expr`:
a graph input's ``dim_param`` (``batch``), a fresh symbol for a dim nobody named
(``?x[0]``, never equal to anything but itself), or a small polynomial of those with
integer coefficients (``batch*sequence``, ``2*batch + 1``). Two dims written the same
way are equal; the reverse is not claimed.

Shape tensors are followed by value: the int64/int32 tensors of rank 0 or 1 that
``Shape`` makes and exporters slice, gather, concatenate and do arithmetic on carry a
tuple of dims (``(batch, sequence, 64)``), so a rule can see which elements are known.

Values filled with one number are followed too (:meth:`SymbolicShapes.fill`): the
zeros an exporter builds with ``ConstantOfShape`` or ``Expand`` of a scalar, and then
slices, reshapes and concatenates into an RNN's initial state.

Everything here is exact or unknown, never a guess: a result that depends on something
not proven (a Slice whose bounds may clamp on a symbolic dim, a division that does not
come out even) is unknown, and an unknown dim gets a fresh symbol. ``dim_param`` names
are taken as the model declares them: two inputs with the same name have the same size.

Costs stay bounded: one pass over the nodes in graph order, no array is built from dim
values, values longer than :data:`MAX_VALUE_LENGTH` are not followed, expressions of
more than :data:`MAX_TERMS` terms are unknown, and only small integer constants are read
(through the index, as views). Ops not handled here take onnx inference's static dims.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from math import copysign, prod

import numpy as np
import onnx
from onnx import numpy_helper

from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.index import ModelIndex, NodeRef

__all__ = [
    "MAX_TERMS",
    "MAX_VALUE_LENGTH",
    "Dim",
    "Expr",
    "Fill",
    "SymbolicShapes",
    "Values",
    "add",
    "exact_div",
    "mul",
    "sub",
    "symbol",
]

MAX_VALUE_LENGTH = 64  # elements of a shape tensor followed by value
MAX_TERMS = 8  # monomials in one expression
_MAX_DEGREE = 4
_INT_TYPES = frozenset(
    {onnx.TensorProto.INT64, onnx.TensorProto.INT32, onnx.TensorProto.INT16, onnx.TensorProto.INT8}
)
_FILL_TYPES = _INT_TYPES | {
    onnx.TensorProto.FLOAT,
    onnx.TensorProto.FLOAT16,
    onnx.TensorProto.DOUBLE,
    onnx.TensorProto.UINT8,
    onnx.TensorProto.UINT16,
    onnx.TensorProto.UINT32,
    onnx.TensorProto.UINT64,
    onnx.TensorProto.BOOL,
}
_FLOAT_TYPES = frozenset(
    {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
)
_MAX_FILL_READ = 1 << 16  # elements of a constant read to see whether it is one number
# A Slice end at or beyond this means "to the end" whatever the dim (exporters write
# INT64_MAX, INT32_MAX or -INT64_MIN for it).
_TO_THE_END = 2**31 - 1

Monomial = tuple[str, ...]  # sorted atom names, repeated for powers; () is the constant


@dataclass(frozen=True)
class Expr:
    """A polynomial with integer coefficients over named atoms, in one normal form.

    Never a plain integer (that is an ``int``), so ``isinstance(dim, int)`` tells a
    static dim from a symbolic one.
    """

    terms: tuple[tuple[Monomial, int], ...]

    def __str__(self) -> str:
        parts = []
        for monomial, coefficient in self.terms:
            atoms = "*".join(monomial)
            if not atoms:
                parts.append(str(coefficient))
            elif coefficient == 1:
                parts.append(atoms)
            else:
                parts.append(f"{coefficient}*{atoms}")
        return " + ".join(parts).replace("+ -", "- ")

    __repr__ = __str__


Dim = int | Expr
Values = tuple[Dim, ...]
Fill = int | float | bool


def symbol(name: str) -> Expr:
    return Expr((((name,), 1),))


def _poly(dim: Dim) -> dict[Monomial, int]:
    if isinstance(dim, int):
        return {(): dim} if dim else {}
    return dict(dim.terms)


def _dim(poly: dict[Monomial, int]) -> Dim | None:
    terms = tuple(sorted((m, c) for m, c in poly.items() if c))
    if not terms:
        return 0
    if len(terms) > MAX_TERMS or any(len(m) > _MAX_DEGREE for m, _ in terms):
        return None
    if len(terms) == 1 and terms[0][0] == ():
        return terms[0][1]
    return Expr(terms)


def add(a: Dim, b: Dim) -> Dim | None:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    poly = _poly(a)
    for monomial, coefficient in _poly(b).items():
        poly[monomial] = poly.get(monomial, 0) + coefficient
    return _dim(poly)


def sub(a: Dim, b: Dim) -> Dim | None:
    negated = mul(b, -1)
    return None if negated is None else add(a, negated)


def mul(a: Dim, b: Dim) -> Dim | None:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    poly: dict[Monomial, int] = {}
    for ma, ca in _poly(a).items():
        for mb, cb in _poly(b).items():
            monomial = tuple(sorted(ma + mb))
            poly[monomial] = poly.get(monomial, 0) + ca * cb
    return _dim(poly)


def exact_div(a: Dim, b: Dim) -> Dim | None:
    """``a / b`` when it divides evenly (then floor, truncating and true division all
    agree), else None. ``b`` must be a nonzero int or one monomial."""
    divisor = _poly(b)
    if len(divisor) != 1:
        return None
    [(monomial, coefficient)] = divisor.items()
    quotient: dict[Monomial, int] = {}
    for term, value in _poly(a).items():
        rest = list(term)
        for atom in monomial:
            if atom not in rest:
                return None
            rest.remove(atom)
        if value % coefficient:
            return None
        quotient[tuple(rest)] = value // coefficient
    return _dim(quotient)


def _product(dims: Sequence[Dim]) -> Dim | None:
    total: Dim | None = 1
    for dim in dims:
        total = None if total is None else mul(total, dim)
    return total


def _broadcast_dim(a: Dim, b: Dim) -> Dim | None:
    """The broadcast of two dims of a valid model: a static dim other than 1 wins
    (the other one is 1 or equal to it)."""
    if a == b or b == 1:
        return a
    if a == 1:
        return b
    if isinstance(a, int) and isinstance(b, int):
        return None  # not broadcastable: the model is wrong, claim nothing
    if isinstance(b, int):
        return b
    if isinstance(a, int):
        return a
    return None


Shape = tuple[Dim, ...]
# What a handler says of one output: its dims (None where unknown) or None when even
# the rank is unknown, and its value.
_Facts = tuple[tuple[Dim | None, ...] | None, Values | None]


@dataclass
class SymbolicShapes:
    """Symbolic shapes and shape-tensor values of every value of a model.

    Built with :meth:`analyze` from a :class:`ModelIndex`; read-only afterwards.
    """

    index: ModelIndex
    shapes: dict[str, Shape] = field(default_factory=dict)
    values: dict[str, Values] = field(default_factory=dict)
    fills: dict[str, Fill] = field(default_factory=dict)
    _elem_types: dict[str, int] = field(default_factory=dict, repr=False)

    # -- queries ------------------------------------------------------------------

    def shape(self, name: str) -> Shape | None:
        """The value's dims (ints and symbols), or None when its rank is unknown."""
        return self.shapes.get(name)

    def value(self, name: str) -> Values | None:
        """The elements of an integer tensor of rank 0 or 1, as dims; None if unknown.

        A scalar gives a 1-tuple (its shape is ``()``).
        """
        return self.values.get(name)

    def constant_value(self, name: str) -> tuple[int, ...] | None:
        """The elements when every one is a known integer."""
        value = self.values.get(name)
        if value is None:
            return None
        ints = tuple(v for v in value if isinstance(v, int))
        return ints if len(ints) == len(value) else None

    def fill(self, name: str) -> Fill | None:
        """The one number every element of the value is (ints, floats and bools as
        Python numbers; ``-0.0`` kept apart from ``0.0``), None when not proven."""
        return self.fills.get(name)

    def is_zeros(self, name: str) -> bool:
        """True when every element is proven to be ``0`` (``+0.0`` for floats: a
        ``-0.0`` differs in its bits)."""
        value = self.fills.get(name)
        return value is not None and value == 0 and copysign(1.0, value) > 0

    def elem_type(self, name: str) -> int:
        """The value's element type (0 when unknown)."""
        return self._elem_types.get(name, 0)

    def same_shape(self, a: str, b: str) -> bool:
        """True when the two values are proven to have the same shape."""
        first, second = self.shapes.get(a), self.shapes.get(b)
        return first is not None and first == second

    def expand_is_noop(self, node: onnx.NodeProto) -> bool:
        """An ``Expand`` whose target broadcasts to the input's own shape."""
        if node.op_type != "Expand" or len(node.input) < 2:
            return False
        shape, target = self.shapes.get(node.input[0]), self.values.get(node.input[1])
        if shape is None or target is None or len(target) > len(shape):
            return False
        tail = shape[len(shape) - len(target) :]
        return all(t == 1 or t == d for t, d in zip(target, tail, strict=True))

    def reshape_is_noop(self, node: onnx.NodeProto) -> bool:
        """A ``Reshape`` whose output is proven to have the input's shape."""
        return (
            node.op_type == "Reshape"
            and len(node.input) >= 2
            and self.same_shape(node.input[0], node.output[0])
        )

    def constant_reshape_target(self, node: onnx.NodeProto) -> tuple[int, ...] | None:
        """An all-constant target equivalent to this ``Reshape``'s computed one.

        Known entries stay; an entry equal to the input's dim at the same position
        becomes 0 (only without ``allowzero``: with it a 0 is a zero-size dim); at most
        one other symbolic entry becomes -1 (the element count fixes it, as long as the
        other dims are not 0: onnxruntime refuses -1 on an empty tensor, so a rule
        should say so). None when more stays symbolic, when the target is constant
        already, or when the output's declared shape (a graph output, a ``value_info``)
        has another rank: with a constant target onnx inference would see that the
        declaration is wrong, and the checker refuse the model.
        """
        if node.op_type != "Reshape" or len(node.input) < 2:
            return None
        target = self.values.get(node.input[1])
        shape = self.shapes.get(node.input[0])
        if target is None or all(isinstance(t, int) for t in target):
            return None
        declared = self.index.value_shape(node.output[0]) if node.output else None
        if declared is not None and len(declared) != len(target):
            return None
        allowzero = _int_attr(node, "allowzero", 0)
        constant: list[int] = []
        inferred = any(t == -1 for t in target)
        for position, entry in enumerate(target):
            if isinstance(entry, int):
                constant.append(entry)
            elif (
                not allowzero
                and shape is not None
                and position < len(shape)
                and shape[position] == entry
            ):
                constant.append(0)
            elif not inferred:
                constant.append(-1)
                inferred = True
            else:
                return None
        return tuple(constant)

    def foldable(self) -> Iterator[NodeRef]:
        """Nodes of the default domain, other than Constant, whose every output is a
        known integer constant: what a shape-folding rule could replace."""
        for ref in self.index.nodes():
            node = ref.node
            if node.op_type == "Constant" or not is_default_domain(node.domain):
                continue
            outputs = [out for out in node.output if out]
            if outputs and all(self.constant_value(out) is not None for out in outputs):
                yield ref

    # -- construction ----------------------------------------------------------------

    @classmethod
    def analyze(cls, index: ModelIndex) -> SymbolicShapes:
        result = cls(index)
        result._seed()
        for ref in index.nodes():
            result._visit(ref.node)
        return result

    def _seed(self) -> None:
        index = self.index
        for scope in index.scopes:
            for value in scope.graph.input:
                tensor_type = value.type.tensor_type
                if value.type.HasField("tensor_type"):
                    self._elem_types[value.name] = tensor_type.elem_type
                if not value.type.HasField("tensor_type") or not tensor_type.HasField("shape"):
                    continue
                self.shapes[value.name] = tuple(
                    d.dim_value
                    if d.HasField("dim_value") and d.dim_value >= 0
                    else symbol(d.dim_param or _fresh(value.name, axis))
                    for axis, d in enumerate(tensor_type.shape.dim)
                )
        for name, (_, tensor) in index.initializers.items():
            if index.is_overridable(name):
                continue  # the caller may feed another shape
            self._set_constant(name, tensor)

    def _set_constant(self, name: str, tensor: onnx.TensorProto) -> None:
        dims = tuple(int(d) for d in tensor.dims)
        self.shapes[name] = dims
        self._elem_types[name] = tensor.data_type
        if tensor.data_type in _INT_TYPES and len(dims) <= 1 and prod(dims) <= MAX_VALUE_LENGTH:
            array = self.index.constant_array(name)
            if array is not None:
                self.values[name] = tuple(int(v) for v in array.reshape(-1))
        if 0 < prod(dims) <= _MAX_FILL_READ and tensor.data_type in _FILL_TYPES:
            array = self.index.constant_array(name)
            if array is not None and array.size:
                first = array.reshape(-1)[:1]
                if bool((array.view(_same_bits(array)) == first.view(_same_bits(array))).all()):
                    self.fills[name] = first.item()

    def _visit(self, node: onnx.NodeProto) -> None:
        outputs = list(node.output)
        facts: list[_Facts] = []
        if is_default_domain(node.domain) and node.op_type == "Constant":
            tensor = self.index.constant_tensor(outputs[0]) if outputs else None
            if tensor is not None:
                self._set_constant(outputs[0], tensor)
            return
        handler = (
            _HANDLERS.get(node.op_type)
            if is_default_domain(node.domain)
            else _MICROSOFT_HANDLERS.get(node.op_type)
            if node.domain == "com.microsoft"
            else None
        )
        if handler is not None:
            try:
                facts = handler(self, node)
            except (IndexError, ValueError, ZeroDivisionError):
                facts = []  # a malformed node: claim nothing
        filled = _fill_of(self, node) if is_default_domain(node.domain) else None
        inferred = self.index.inferred_shapes()
        for position, name in enumerate(outputs):
            if not name:
                continue
            dims, value = facts[position] if position < len(facts) else (None, None)
            elem, static = inferred.get(name, (0, None))
            if elem:
                self._elem_types[name] = elem
            merged = _merge(dims, static)
            if merged is None:
                continue
            shape = tuple(
                d if d is not None else symbol(_fresh(name, axis)) for axis, d in enumerate(merged)
            )
            self.shapes[name] = shape
            if filled is not None:
                self.fills[name] = filled
            if (
                value is not None
                and self._elem_types.get(name, 0) in _INT_TYPES | {0}
                and ((shape == () and len(value) == 1) or shape == (len(value),))
                and len(value) <= MAX_VALUE_LENGTH
            ):
                self.values[name] = value

    # -- helpers for the handlers ------------------------------------------------------

    def _input_shape(self, node: onnx.NodeProto, slot: int) -> Shape | None:
        if slot >= len(node.input) or not node.input[slot]:
            return None
        return self.shapes.get(node.input[slot])

    def _input_value(self, node: onnx.NodeProto, slot: int) -> Values | None:
        if slot >= len(node.input) or not node.input[slot]:
            return None
        return self.values.get(node.input[slot])

    def _input_ints(self, node: onnx.NodeProto, slot: int) -> tuple[int, ...] | None:
        if slot >= len(node.input) or not node.input[slot]:
            return None
        return self.constant_value(node.input[slot])

    def _axes(self, node: onnx.NodeProto, slot: int) -> tuple[int, ...] | None:
        """Axes given as an attribute (older opsets) or as a constant input."""
        for attr in node.attribute:
            if attr.name == "axes":
                return tuple(attr.ints)
        return self._input_ints(node, slot)


def _same_bits(array: np.ndarray) -> np.dtype:
    """A dtype to view ``array`` as so that ``==`` compares bits (``-0.0`` is not
    ``0.0``, a NaN is itself)."""
    return np.dtype(f"u{array.dtype.itemsize}") if array.dtype.kind in "fc" else array.dtype


def _same_fill(a: Fill, b: Fill) -> bool:
    return a == b and copysign(1.0, a) == copysign(1.0, b)


# Ops whose every output element is an element of input 0 (or of one of several
# inputs of the same fill, for Concat): a filled input gives a filled output.
_FILL_KEEPING = frozenset(
    {
        "Expand",
        "Flatten",
        "Gather",
        "Identity",
        "Reshape",
        "Slice",
        "Split",
        "Squeeze",
        "Tile",
        "Transpose",
        "Unsqueeze",
    }
)


def _fill_of(ctx: SymbolicShapes, node: onnx.NodeProto) -> Fill | None:
    """The one number every output element of this default-domain node is, if proven."""
    op = node.op_type
    if op == "ConstantOfShape":
        attr = next((a for a in node.attribute if a.name == "value"), None)
        if attr is None:
            return 0.0  # the default value: float32 zero
        array = numpy_helper.to_array(attr.t).reshape(-1)
        return array[0].item() if array.size == 1 and attr.t.data_type in _FILL_TYPES else None
    if not node.input or not node.input[0]:
        return None
    first = ctx.fills.get(node.input[0])
    if first is None:
        return None
    if op in _FILL_KEEPING:
        return first
    if op == "Concat":
        others = [ctx.fills.get(name) for name in node.input[1:]]
        return first if all(o is not None and _same_fill(first, o) for o in others) else None
    if op == "Cast" and first == 0 and copysign(1.0, first) > 0:
        to = _int_attr(node, "to", 0)
        if to in _FLOAT_TYPES:
            return 0.0
        return 0 if to in _FILL_TYPES else None  # a zero casts to zero
    return None


def _fresh(name: str, axis: int) -> str:
    return f"?{name}[{axis}]"


def _merge(
    mine: tuple[Dim | None, ...] | None, static: tuple[int | None, ...] | None
) -> tuple[Dim | None, ...] | None:
    """Our dims, with onnx inference's static ones where ours are not; inference wins
    when the ranks disagree."""
    if mine is None:
        return static
    if static is None:
        return mine
    if len(mine) != len(static):
        return static
    return tuple(
        s if s is not None and not isinstance(m, int) else m
        for m, s in zip(mine, static, strict=True)
    )


def _int_attr(node: onnx.NodeProto, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return int(attr.i)
    return default


def _ints_attr(node: onnx.NodeProto, name: str) -> tuple[int, ...] | None:
    for attr in node.attribute:
        if attr.name == name:
            return tuple(attr.ints)
    return None


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError(axis)
    return axis % rank


# ---------------------------------------------------------------------------------------
# Op handlers: node -> (shape, value) per output. A missing entry is unknown.
# ---------------------------------------------------------------------------------------

_Handler = Callable[[SymbolicShapes, onnx.NodeProto], list[_Facts]]


def _identity(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    return [(ctx._input_shape(node, 0), ctx._input_value(node, 0))]


def _cast(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    value = ctx._input_value(node, 0)
    if _int_attr(node, "to", 0) not in _INT_TYPES:
        value = None  # a cast to float or bool: not followed as a shape value
    return [(ctx._input_shape(node, 0), value)]


def _shape(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    shape = ctx._input_shape(node, 0)
    if shape is None:
        return []
    value = shape[slice(_int_attr(node, "start", 0), _int_attr(node, "end", len(shape)))]
    return [((len(value),), value)]  # Python's slice clamps exactly as Shape does


def _size(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    shape = ctx._input_shape(node, 0)
    total = None if shape is None else _product(shape)
    return [((), None if total is None else (total,))]


def _gather(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    data, indices = ctx._input_shape(node, 0), ctx._input_shape(node, 1)
    if data is None or indices is None:
        return []
    axis = _axis(_int_attr(node, "axis", 0), len(data))
    shape = data[:axis] + indices + data[axis + 1 :]
    values, picks = ctx._input_value(node, 0), ctx._input_ints(node, 1)
    value: Values | None = None
    if values is not None and picks is not None and len(data) == 1:
        value = tuple(values[p] for p in picks)  # a negative index counts from the end
    return [(shape, value)]


def _slice(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    """Exact on static dims; a symbolic dim survives only a slice of all of it (a
    bounded slice of it may clamp). Axes not sliced keep their dims whatever the bounds."""
    data = ctx._input_shape(node, 0)
    if data is None:
        return []
    starts: Values | None
    ends: Values | None
    if len(node.input) >= 3:
        starts, ends = ctx._input_value(node, 1), ctx._input_value(node, 2)
        axes = ctx._input_ints(node, 3) if len(node.input) > 3 and node.input[3] else None
        steps = ctx._input_ints(node, 4) if len(node.input) > 4 and node.input[4] else None
        if len(node.input) > 3 and node.input[3] and axes is None:
            return [((None,) * len(data), None)]  # axes computed at runtime
    else:  # opset < 10: attributes
        starts, ends = _ints_attr(node, "starts"), _ints_attr(node, "ends")
        axes, steps = _ints_attr(node, "axes"), None
    count = len(starts) if starts is not None else len(axes) if axes is not None else None
    if count is None:
        return [((None,) * len(data), None)]
    axes = axes if axes is not None else tuple(range(count))
    steps = steps if steps is not None else (1,) * count
    shape: list[Dim | None] = list(data)
    value = ctx._input_value(node, 0)
    for position, (axis, step) in enumerate(zip(axes, steps, strict=True)):
        axis = _axis(axis, len(data))
        dim = data[axis]
        start = starts[position] if starts is not None else None
        end = ends[position] if ends is not None else None
        if isinstance(dim, int) and isinstance(start, int) and isinstance(end, int):
            picked = range(dim)[slice(start, end, step)]
            shape[axis] = len(picked)
            if value is not None and len(data) == 1:
                value = tuple(value[i] for i in picked)
            continue
        value = None
        whole = (isinstance(end, int) and end >= _TO_THE_END) or end == dim
        shape[axis] = dim if step == 1 and start == 0 and whole else None
    return [(tuple(shape), value)]


def _recurrent(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    """RNN, GRU, LSTM (and onnxruntime's DynamicQuantizeLSTM): ``Y`` is
    ``[seq, directions, batch, hidden]`` and the last states ``[directions, batch,
    hidden]``; with ``layout=1`` batch comes first in all of them."""
    data = ctx._input_shape(node, 0)
    hidden = _int_attr(node, "hidden_size", 0)
    if data is None or len(data) != 3 or hidden <= 0:
        return []
    direction = next((a.s for a in node.attribute if a.name == "direction"), b"forward")
    directions = 2 if direction == b"bidirectional" else 1
    if _int_attr(node, "layout", 0):
        batch, seq = data[0], data[1]
        y: tuple[Dim, ...] = (batch, seq, directions, hidden)
        state: tuple[Dim, ...] = (batch, directions, hidden)
    else:
        seq, batch = data[0], data[1]
        y = (seq, directions, batch, hidden)
        state = (directions, batch, hidden)
    facts: list[_Facts] = [(y, None)]
    return facts + [(state, None)] * (len(node.output) - 1)


def _gather_nd(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    data, indices = ctx._input_shape(node, 0), ctx._input_shape(node, 1)
    if data is None or indices is None or not indices or not isinstance(indices[-1], int):
        return []
    batch_dims = _int_attr(node, "batch_dims", 0)
    return [((*indices[:-1], *data[batch_dims + indices[-1] :]), None)]


def _tile(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    data, repeats = ctx._input_shape(node, 0), ctx._input_value(node, 1)
    if data is None:
        return []
    if repeats is None or len(repeats) != len(data):
        return [((None,) * len(data), None)]
    return [(tuple(mul(d, r) for d, r in zip(data, repeats, strict=True)), None)]


def _concat(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    shapes = [ctx._input_shape(node, slot) for slot in range(len(node.input))]
    known = [s for s in shapes if s is not None]
    if len(known) != len(shapes) or not known or len({len(s) for s in known}) != 1:
        return []
    rank = len(known[0])
    axis = _axis(_int_attr(node, "axis", 0), rank)
    total: Dim | None = 0
    for s in known:
        total = None if total is None else add(total, s[axis])
    if total is None:
        return []
    out = list(known[0])
    out[axis] = total
    value: Values | None = None
    pieces = [ctx._input_value(node, slot) for slot in range(len(node.input))]
    if rank == 1 and all(p is not None for p in pieces):
        value = tuple(v for p in pieces if p is not None for v in p)
    return [(tuple(out), value)]


def _unsqueeze(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    data, axes = ctx._input_shape(node, 0), ctx._axes(node, 1)
    if data is None or axes is None:
        return []
    rank = len(data) + len(axes)
    positions = {_axis(a, rank) for a in axes}
    dims = iter(data)
    shape: tuple[Dim, ...] = tuple(1 if i in positions else next(dims) for i in range(rank))
    return [(shape, ctx._input_value(node, 0))]


def _squeeze(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    data, axes = ctx._input_shape(node, 0), ctx._axes(node, 1)
    if data is None:
        return []
    if axes is None:
        if len(node.input) > 1 and node.input[1]:
            return []  # axes computed at runtime
        if not all(isinstance(d, int) for d in data):
            return []  # which dims are 1 is not known
        positions = {i for i, d in enumerate(data) if d == 1}
    else:
        positions = {_axis(a, len(data)) for a in axes}
    shape = tuple(d for i, d in enumerate(data) if i not in positions)
    return [(shape, ctx._input_value(node, 0))]


def _reshape(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    data, target = ctx._input_shape(node, 0), ctx._input_value(node, 1)
    if target is None:
        target_shape = ctx._input_shape(node, 1)
        if target_shape is not None and len(target_shape) == 1:
            length = target_shape[0]
            if isinstance(length, int):
                return [((None,) * length, None)]  # the rank is known, the dims are not
        return []
    allowzero = _int_attr(node, "allowzero", 0)
    out: list[Dim | None] = []
    for position, entry in enumerate(target):
        if entry == 0 and not allowzero:
            out.append(data[position] if data is not None and position < len(data) else None)
        else:
            out.append(entry)
    if -1 in out:
        at = out.index(-1)
        total = None if data is None else _product(data)
        others = [d for i, d in enumerate(out) if i != at]
        known = None
        if all(d is not None for d in others):
            known = _product([d for d in others if d is not None])
        if total is not None and known is not None and known != 0:
            out[at] = exact_div(total, known)
        else:
            out[at] = None
    value = ctx._input_value(node, 0) if len(out) <= 1 else None
    return [(tuple(out), value)]


def _expand(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    data, target = ctx._input_shape(node, 0), ctx._input_value(node, 1)
    if data is None or target is None:
        return []
    return [(_broadcast([data, target]), None)]


def _broadcast(shapes: Sequence[Shape | None]) -> tuple[Dim | None, ...] | None:
    """Multidirectional broadcasting; a dim that cannot be decided is None."""
    if not shapes or any(s is None for s in shapes):
        return None
    known = [s for s in shapes if s is not None]
    rank = max(len(s) for s in known)
    out: list[Dim | None] = []
    for axis in range(rank):
        dim: Dim | None = 1
        for s in known:
            offset = axis - (rank - len(s))
            if offset >= 0 and dim is not None:
                dim = _broadcast_dim(dim, s[offset])
        out.append(dim)
    return tuple(out)


def _elementwise(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    shapes = [ctx._input_shape(node, slot) for slot in range(len(node.input)) if node.input[slot]]
    return [(_broadcast(shapes), None)]


_ARITHMETIC: dict[str, Callable[[Dim, Dim], Dim | None]] = {
    "Add": add,
    "Sub": sub,
    "Mul": mul,
    "Div": exact_div,
}


def _arithmetic(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    [(shape, _)] = _elementwise(ctx, node)
    a, b = ctx._input_value(node, 0), ctx._input_value(node, 1)
    value: Values | None = None
    if a is not None and b is not None and shape is not None and len(shape) <= 1:
        length = max(len(a), len(b))
        if len(a) in (1, length) and len(b) in (1, length):
            operation = _ARITHMETIC[node.op_type]
            results = [
                operation(a[i if len(a) > 1 else 0], b[i if len(b) > 1 else 0])
                for i in range(length)
            ]
            if all(r is not None for r in results):
                value = tuple(r for r in results if r is not None)
    return [(shape, value)]


def _range(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    start, limit, delta = (ctx._input_value(node, slot) for slot in range(3))
    if start is None or limit is None or delta is None:
        return []
    first, last, step = start[0], limit[0], delta[0]
    if isinstance(first, int) and isinstance(last, int) and isinstance(step, int) and step:
        count = len(range(first, last, step))
        value = tuple(range(first, last, step)) if count <= MAX_VALUE_LENGTH else None
        return [((count,), value)]
    if step == 1 and first == 0:
        return [((last,), None)]  # a dim-like limit (a Shape element) is never negative
    return []


def _constant_of_shape(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    target = ctx._input_value(node, 0)
    return [] if target is None else [(target, None)]


def _transpose(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    data = ctx._input_shape(node, 0)
    if data is None:
        return []
    perm = _ints_attr(node, "perm") or tuple(reversed(range(len(data))))
    return [(tuple(data[p] for p in perm), None)]


def _matmul(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    a, b = ctx._input_shape(node, 0), ctx._input_shape(node, 1)
    if a is None or b is None or not a or not b:
        return []
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    batch = _broadcast([a2[:-2], b2[:-2]])
    if batch is None:
        return []
    out: tuple[Dim | None, ...] = (*batch, a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return [(out, None)]


def _gemm(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    a, b = ctx._input_shape(node, 0), ctx._input_shape(node, 1)
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        return []
    rows = a[1] if _int_attr(node, "transA", 0) else a[0]
    cols = b[0] if _int_attr(node, "transB", 0) else b[1]
    return [((rows, cols), None)]


def _flatten(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    data = ctx._input_shape(node, 0)
    if data is None:
        return []
    axis = _int_attr(node, "axis", 1)
    axis = axis + len(data) if axis < 0 else axis
    left, right = _product(data[:axis]), _product(data[axis:])
    if left is None or right is None:
        return []
    return [((left, right), None)]


def _reduce(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    data = ctx._input_shape(node, 0)
    if data is None:
        return []
    axes = ctx._axes(node, 1)
    keepdims = _int_attr(node, "keepdims", 1)
    if axes is None:
        if len(node.input) > 1 and node.input[1]:
            return []
        if _int_attr(node, "noop_with_empty_axes", 0):
            return [(data, None)]
        axes = tuple(range(len(data)))
    reduced = {_axis(a, len(data)) for a in axes}
    shape = tuple(
        1 if i in reduced else d for i, d in enumerate(data) if keepdims or i not in reduced
    )
    return [(shape, None)]


def _split(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    data = ctx._input_shape(node, 0)
    if data is None:
        return []
    axis = _axis(_int_attr(node, "axis", 0), len(data))
    sizes = ctx._input_ints(node, 1) if len(node.input) > 1 and node.input[1] else None
    sizes = sizes or _ints_attr(node, "split")
    count = len(node.output)
    if sizes is None:
        dim = data[axis]
        piece = exact_div(dim, count) if count else None
        if piece is None:
            return []
        sizes_dims: list[Dim] = [piece] * count
    else:
        sizes_dims = list(sizes)
    return [((*data[:axis], size, *data[axis + 1 :]), None) for size in sizes_dims]


def _first_output_like_input(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    return [(ctx._input_shape(node, 0), None)]


def _conv_like(ctx: SymbolicShapes, node: onnx.NodeProto) -> list[_Facts]:
    """Conv and pooling: batch and channels kept, spatial dims computed when static."""
    data = ctx._input_shape(node, 0)
    if data is None or len(data) < 3:
        return []
    if node.op_type == "Conv":
        weight = ctx._input_shape(node, 1)
        if weight is None:
            return []
        channels: Dim = weight[0]
        kernel: tuple[Dim, ...] = _ints_attr(node, "kernel_shape") or weight[2:]
    else:
        channels = data[1]
        kernel = _ints_attr(node, "kernel_shape") or ()
    spatial = len(data) - 2
    if node.op_type.startswith("Global"):
        return [((data[0], channels) + (1,) * spatial, None)]
    if len(kernel) != spatial or not all(isinstance(k, int) for k in kernel):
        return [((data[0], channels, *(None,) * spatial), None)]
    static_kernel = [k for k in kernel if isinstance(k, int)]
    auto_pad = next((a.s.decode() for a in node.attribute if a.name == "auto_pad"), "NOTSET")
    strides = _ints_attr(node, "strides") or (1,) * spatial
    dilations = _ints_attr(node, "dilations") or (1,) * spatial
    pads = _ints_attr(node, "pads") or (0,) * (2 * spatial)
    ceil = _int_attr(node, "ceil_mode", 0)
    dims: list[Dim | None] = []
    for i in range(spatial):
        size = data[2 + i]
        if not isinstance(size, int) or auto_pad not in ("NOTSET", "VALID"):
            dims.append(None)
            continue
        padded = size + (pads[i] + pads[i + spatial] if auto_pad == "NOTSET" else 0)
        span = dilations[i] * (static_kernel[i] - 1) + 1
        steps = padded - span
        dims.append((-(-steps // strides[i]) if ceil else steps // strides[i]) + 1)
    return [((data[0], channels, *dims), None)]


_UNARY = [
    "Abs",
    "Acos",
    "Asin",
    "Atan",
    "BitwiseNot",
    "Ceil",
    "Celu",
    "Cos",
    "Cosh",
    "CumSum",
    "Dropout",
    "Elu",
    "Erf",
    "Exp",
    "Floor",
    "Gelu",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "IsInf",
    "IsNaN",
    "LeakyRelu",
    "Log",
    "LogSoftmax",
    "Mish",
    "Neg",
    "Not",
    "Reciprocal",
    "Relu",
    "Round",
    "Selu",
    "Sigmoid",
    "Sign",
    "Sin",
    "Sinh",
    "Softmax",
    "Softplus",
    "Softsign",
    "Sqrt",
    "Tan",
    "Tanh",
    "ThresholdedRelu",
    "Trilu",
    "LRN",
    "BatchNormalization",
    "InstanceNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "MeanVarianceNormalization",
    "LpNormalization",
    "Clip",
    "PRelu",
]
_BROADCAST = [
    "And",
    "Or",
    "Xor",
    "Equal",
    "Greater",
    "GreaterOrEqual",
    "Less",
    "LessOrEqual",
    "Pow",
    "Mod",
    "Max",
    "Min",
    "Mean",
    "Sum",
    "BitShift",
    "BitwiseAnd",
    "BitwiseOr",
    "BitwiseXor",
    "Where",
]

_HANDLERS: dict[str, _Handler] = {
    **{op: _first_output_like_input for op in _UNARY},
    **{op: _elementwise for op in _BROADCAST},
    **{op: _arithmetic for op in _ARITHMETIC},
    "Identity": _identity,
    "Cast": _cast,
    "Shape": _shape,
    "Size": _size,
    "Gather": _gather,
    "GatherND": _gather_nd,
    "Tile": _tile,
    "Slice": _slice,
    "Concat": _concat,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Reshape": _reshape,
    "Expand": _expand,
    "Range": _range,
    "ConstantOfShape": _constant_of_shape,
    "Transpose": _transpose,
    "MatMul": _matmul,
    "Gemm": _gemm,
    "RNN": _recurrent,
    "GRU": _recurrent,
    "LSTM": _recurrent,
    "Flatten": _flatten,
    "Split": _split,
    "Conv": _conv_like,
    "MaxPool": _conv_like,
    "AveragePool": _conv_like,
    "LpPool": _conv_like,
    "GlobalAveragePool": _conv_like,
    "GlobalMaxPool": _conv_like,
    **{
        op: _reduce
        for op in [
            "ReduceMean",
            "ReduceSum",
            "ReduceMax",
            "ReduceMin",
            "ReduceProd",
            "ReduceL1",
            "ReduceL2",
            "ReduceLogSum",
            "ReduceLogSumExp",
            "ReduceSumSquare",
        ]
    },
}

_MICROSOFT_HANDLERS: dict[str, _Handler] = {"DynamicQuantizeLSTM": _recurrent}
