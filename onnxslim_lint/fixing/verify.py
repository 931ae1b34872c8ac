"""Prove that a rewritten model still computes what the original computed.

Every fix is checked before it is written: both models run in onnxruntime on the
same seeded random inputs and every graph output is compared. The result is a
:class:`VerifyReport` with one of three verdicts:

``passed``
    Same interface, and all outputs matched on every sample.
``failed``
    The fixed model changed the interface, does not run, or computed something
    different. Such a fix must not be written.
``could-not-verify``
    The original itself cannot be run here (custom op, unsupported type, model
    over 2 GB, ...), so nothing can be proven either way.

Model problems never raise; they become verdicts. ``onnxruntime`` is imported only
by :func:`verify_models`, so the lint path never pays for it.
"""

from __future__ import annotations

import ctypes
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.graphs import all_graphs, all_nodes
from onnxslim_lint.model.randomness import random_outputs

__all__ = [
    "COULD_NOT_VERIFY",
    "FAILED",
    "PASSED",
    "VerifyReport",
    "VerifySettings",
    "check_interface",
    "check_model_valid",
    "generate_inputs",
    "verify_models",
]

PASSED = "passed"
FAILED = "failed"
COULD_NOT_VERIFY = "could-not-verify"


# Protobuf cannot serialize a message of 2 GiB or more, so such a model cannot be
# handed to onnxruntime from memory. Module level so tests can lower it.
_PROTOBUF_LIMIT = 2**31

# Integer inputs that do not feed an index are drawn from [0, _SMALL_INT_HIGH):
# such inputs are usually attention masks (0/1), token type ids, lengths or
# counts, and small non-negative values are valid for all of them.
_SMALL_INT_HIGH = 3

# Ops that pass their first input's values through unchanged (or only re-laid
# out), followed when looking for the Gather an integer input ends up indexing.
_VALUE_PRESERVING_OPS = frozenset(
    {"Cast", "CastLike", "Identity", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Transpose"}
)
# op -> (data input index, indices input index)
_INDEXING_OPS = {
    "Gather": (0, 1),
    "GatherElements": (0, 1),
    "GatherND": (0, 1),
    "ScatterElements": (0, 1),
    "ScatterND": (0, 1),
}

_NUMPY_TYPES: dict[int, type] = {
    TensorProto.FLOAT: np.float32,
    TensorProto.DOUBLE: np.float64,
    TensorProto.FLOAT16: np.float16,
    TensorProto.INT8: np.int8,
    TensorProto.INT16: np.int16,
    TensorProto.INT32: np.int32,
    TensorProto.INT64: np.int64,
    TensorProto.UINT8: np.uint8,
    TensorProto.UINT16: np.uint16,
    TensorProto.UINT32: np.uint32,
    TensorProto.UINT64: np.uint64,
    TensorProto.BOOL: np.bool_,
    TensorProto.COMPLEX64: np.complex64,
    TensorProto.COMPLEX128: np.complex128,
}
_STRING_ALPHABET = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789 "), dtype=object)


class _FrozenMap(Mapping):
    """A read-only, hashable copy of a mapping (keeps settings frozen and picklable)."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[Any, Any] | Iterable[tuple[Any, Any]] = ()) -> None:
        self._data = dict(data)

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(frozenset(self._data.items()))

    def __repr__(self) -> str:
        return repr(self._data)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_FrozenMap, (self._data,))


@dataclass(frozen=True)
class VerifySettings:
    """How inputs are generated and outputs compared.

    ``dims`` gives values to symbolic dims by ``dim_param`` name, ``shapes`` gives
    full shapes by graph input name (it wins over ``dims``); any other dynamic dim
    is ``default_dim``. Both mappings are copied into read-only, hashable maps.
    """

    samples: int = 3
    seed: int = 0
    rtol: float = 1e-4
    atol: float = 1e-5
    dims: Mapping[str, int] = field(default_factory=dict)
    shapes: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    default_dim: int = 2

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ValueError(f"samples must be at least 1, got {self.samples}")
        if self.rtol < 0 or self.atol < 0 or math.isnan(self.rtol) or math.isnan(self.atol):
            raise ValueError(f"rtol and atol must be >= 0, got {self.rtol}, {self.atol}")
        if self.default_dim < 0:
            raise ValueError(f"default_dim must be >= 0, got {self.default_dim}")
        dims = {str(k): int(v) for k, v in self.dims.items()}
        shapes = {str(k): tuple(int(d) for d in v) for k, v in self.shapes.items()}
        for name, value in dims.items():
            if value < 0:
                raise ValueError(f"dims[{name!r}] must be >= 0, got {value}")
        for name, shape in shapes.items():
            if any(d < 0 for d in shape):
                raise ValueError(f"shapes[{name!r}] must not be negative, got {shape}")
        object.__setattr__(self, "dims", _FrozenMap(dims))
        object.__setattr__(self, "shapes", _FrozenMap(shapes))


_DEFAULT_SETTINGS = VerifySettings()


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify_models`.

    ``max_diff`` is the largest absolute difference seen between compared
    numeric values (never NaN; ``inf`` when NaN/inf positions disagree). ``output``
    names the offending output of a ``failed`` verdict when there is one.
    """

    verdict: str
    max_diff: float
    output: str | None
    reason: str
    samples: int

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED


class _CannotVerify(Exception):
    """Internal: the original model cannot be run here; carries the reason."""


# --------------------------------------------------------------------------- validity


def check_model_valid(model: onnx.ModelProto | bytes) -> str | None:
    """Run the full ONNX checker; None if it passes, else the first line of its message.

    ``model`` may be the serialized model, so a caller that has its bytes already
    does not pay for serializing it again.
    """
    if not isinstance(model, (onnx.ModelProto, bytes)):
        raise TypeError(f"expected onnx.ModelProto or bytes, got {type(model).__name__}")
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as exc:  # checker, shape inference and size errors alike
        return _first_line(exc)
    return None


# --------------------------------------------------------------------------- interface


def check_interface(original: onnx.ModelProto, fixed: onnx.ModelProto) -> str | None:
    """None if both graphs have the same inputs and outputs, else the first difference.

    Names, order, element types, ranks and every dim (value or ``dim_param``) must be
    identical. An initializer listed in ``graph.input`` is an input with a default,
    so it is part of the interface, and so is whether an input has such a default.
    """
    for model in (original, fixed):
        if not isinstance(model, onnx.ModelProto):
            raise TypeError(f"expected onnx.ModelProto, got {type(model).__name__}")
    og, fg = original.graph, fixed.graph
    problem = _compare_value_infos("input", og.input, fg.input)
    if problem:
        return problem
    o_init = {t.name for t in og.initializer}
    f_init = {t.name for t in fg.initializer}
    for vi in og.input:
        had, has = vi.name in o_init, vi.name in f_init
        if had != has:
            before = "has an initializer default" if had else "is required"
            after = "has an initializer default" if has else "is required"
            return f"input {vi.name!r} {before} in the original but {after} in the fixed model"
    return _compare_value_infos("output", og.output, fg.output)


def _compare_value_infos(
    kind: str, orig: Sequence[onnx.ValueInfoProto], fixed: Sequence[onnx.ValueInfoProto]
) -> str | None:
    o_names = [v.name for v in orig]
    f_names = [v.name for v in fixed]
    if o_names != f_names:
        missing = [n for n in o_names if n not in f_names]
        extra = [n for n in f_names if n not in o_names]
        if missing:
            return f"{kind} {missing[0]!r} is missing from the fixed model"
        if extra:
            return f"the fixed model has an extra {kind} {extra[0]!r}"
        if len(o_names) != len(f_names):
            return f"{kind} count differs: {len(o_names)} in the original, {len(f_names)} fixed"
        i = next(i for i, (a, b) in enumerate(zip(o_names, f_names, strict=False)) if a != b)
        return (
            f"{kind}s are reordered: {kind} {i} is {o_names[i]!r} in the original "
            f"but {f_names[i]!r} in the fixed model"
        )
    for a, b in zip(orig, fixed, strict=True):
        problem = _compare_types(a.type, b.type)
        if problem:
            return f"{kind} {a.name!r}: {problem}"
    return None


def _compare_types(a: onnx.TypeProto, b: onnx.TypeProto) -> str | None:
    if a.WhichOneof("value") == "tensor_type" and b.WhichOneof("value") == "tensor_type":
        ta, tb = a.tensor_type, b.tensor_type
        if ta.elem_type != tb.elem_type:
            return (
                f"element type {_elem_name(ta.elem_type)} in the original but "
                f"{_elem_name(tb.elem_type)} in the fixed model"
            )
        ra = len(ta.shape.dim) if ta.HasField("shape") else None
        rb = len(tb.shape.dim) if tb.HasField("shape") else None
        if ra != rb:
            return (
                f"rank {'unknown' if ra is None else ra} in the original but "
                f"{'unknown' if rb is None else rb} in the fixed model"
            )
        for i, (da, db) in enumerate(zip(ta.shape.dim, tb.shape.dim, strict=True)):
            if _dim_text(da) != _dim_text(db):
                return (
                    f"dim {i} is {_dim_text(da)} in the original but {_dim_text(db)} "
                    "in the fixed model"
                )
        return None
    ta, tb = _type_text(a), _type_text(b)
    if ta != tb:
        return f"type {ta} in the original but {tb} in the fixed model"
    return None


def _elem_name(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(elem_type).lower()
    except ValueError:
        return f"type#{elem_type}"


def _dim_text(dim: onnx.TensorShapeProto.Dimension) -> str:
    which = dim.WhichOneof("value")
    if which == "dim_value":
        return str(dim.dim_value)
    if which == "dim_param":
        return repr(dim.dim_param)
    return "?"


def _type_text(tp: onnx.TypeProto) -> str:
    which = tp.WhichOneof("value")
    if which in ("tensor_type", "sparse_tensor_type"):
        t = getattr(tp, which)
        shape = (
            "[" + ",".join(_dim_text(d) for d in t.shape.dim) + "]" if t.HasField("shape") else ""
        )
        kind = "tensor" if which == "tensor_type" else "sparse_tensor"
        return f"{kind}({_elem_name(t.elem_type)}){shape}"
    if which == "sequence_type":
        return f"seq({_type_text(tp.sequence_type.elem_type)})"
    if which == "optional_type":
        return f"optional({_type_text(tp.optional_type.elem_type)})"
    if which == "map_type":
        key = _elem_name(tp.map_type.key_type)
        return f"map({key},{_type_text(tp.map_type.value_type)})"
    return str(which)


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class _InputSpec:
    name: str
    elem_type: int
    shape: tuple[int, ...]
    int_high: int  # exclusive upper bound for integer inputs


def _fed_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are fed.

    An input that is also an initializer is an overridable default; it is not fed, so
    the model runs with the default it ships with (which is what users get).
    """
    initializers = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in initializers]


def _plan_inputs(model: onnx.ModelProto, settings: VerifySettings) -> list[_InputSpec]:
    """Shapes and value ranges of every fed input; raises _CannotVerify."""
    shapes: dict[str, tuple[int, ...]] = {}
    params: dict[str, int] = dict(settings.dims)
    fed = _fed_inputs(model)
    for vi in fed:
        if vi.type.WhichOneof("value") != "tensor_type":
            raise _CannotVerify(
                f"input {vi.name!r} has type {_type_text(vi.type)}, which verify cannot generate"
            )
        tt = vi.type.tensor_type
        elem = tt.elem_type
        if elem not in _NUMPY_TYPES and elem not in (TensorProto.STRING, TensorProto.BFLOAT16):
            raise _CannotVerify(
                f"input {vi.name!r} has element type {_elem_name(elem)}, "
                "which verify cannot generate"
            )
        declared = list(tt.shape.dim) if tt.HasField("shape") else None
        if vi.name in settings.shapes:
            shape = tuple(settings.shapes[vi.name])
            if declared is not None and len(declared) != len(shape):
                raise _CannotVerify(
                    f"configured shape {list(shape)} for input {vi.name!r} has rank "
                    f"{len(shape)}, but the input has rank {len(declared)}"
                )
        elif declared is None:
            raise _CannotVerify(
                f"input {vi.name!r} has unknown rank; configure its shape to verify"
            )
        else:
            shape = tuple(_resolve_dim(d, settings) for d in declared)
        shapes[vi.name] = shape
        for d, size in zip(declared or (), shape, strict=False):
            if d.WhichOneof("value") == "dim_param":
                params.setdefault(d.dim_param, size)

    bounds = _index_bounds(model, [vi.name for vi in fed], shapes, params)
    specs = []
    for vi in fed:
        elem = vi.type.tensor_type.elem_type
        high = _SMALL_INT_HIGH
        if vi.name in bounds:
            high = max(1, bounds[vi.name])
        if elem in _NUMPY_TYPES and np.issubdtype(_NUMPY_TYPES[elem], np.integer):
            high = min(high, int(np.iinfo(_NUMPY_TYPES[elem]).max) + 1)
        specs.append(_InputSpec(vi.name, elem, shapes[vi.name], high))
    return specs


def _resolve_dim(dim: onnx.TensorShapeProto.Dimension, settings: VerifySettings) -> int:
    if dim.WhichOneof("value") == "dim_value" and dim.dim_value > 0:
        return int(dim.dim_value)
    if dim.WhichOneof("value") == "dim_param" and dim.dim_param in settings.dims:
        return int(settings.dims[dim.dim_param])
    return settings.default_dim


def _index_bounds(
    model: onnx.ModelProto,
    names: Sequence[str],
    input_shapes: Mapping[str, tuple[int, ...]],
    params: Mapping[str, int],
) -> dict[str, int]:
    """For integer inputs that end up as indices, the size of the indexed axis.

    Follows each input through value-preserving ops (Cast, Reshape, Unsqueeze, ...)
    to the indices input of Gather-like ops, and takes the minimum indexed-axis size
    over all such uses whose data shape is known (initializer, Constant, fed input,
    value_info, or onnx shape inference as a last resort).
    """
    consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in all_nodes(model.graph):
        for i, name in enumerate(node.input):
            if name:
                consumers.setdefault(name, []).append((node, i))

    shapes = _ShapeLookup(model, input_shapes, params)
    bounds: dict[str, int] = {}
    for name in names:
        seen = {name}
        frontier = [name]
        best: int | None = None
        while frontier:
            value = frontier.pop()
            for node, index in consumers.get(value, ()):
                if not is_default_domain(node.domain):
                    continue
                if node.op_type in _VALUE_PRESERVING_OPS and index == 0:
                    for out in node.output:
                        if out and out not in seen:
                            seen.add(out)
                            frontier.append(out)
                elif node.op_type in _INDEXING_OPS and index == _INDEXING_OPS[node.op_type][1]:
                    data_index = _INDEXING_OPS[node.op_type][0]
                    data_shape = shapes.get(node.input[data_index])
                    size = _indexed_axis_size(node, data_shape)
                    if size is not None:
                        best = size if best is None else min(best, size)
        if best is not None:
            bounds[name] = best
    return bounds


def _indexed_axis_size(node: onnx.NodeProto, data_shape: tuple[int, ...] | None) -> int | None:
    if data_shape is None or not data_shape:
        return None
    rank = len(data_shape)
    if node.op_type in ("GatherND", "ScatterND"):
        batch_dims = next((a.i for a in node.attribute if a.name == "batch_dims"), 0)
        dims = data_shape[batch_dims:]
        return min(dims) if dims else None
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    if axis < 0:
        axis += rank
    if not 0 <= axis < rank:
        return None
    return data_shape[axis]


class _ShapeLookup:
    """Static shapes of values, resolved lazily (shape inference only if needed)."""

    def __init__(
        self,
        model: onnx.ModelProto,
        input_shapes: Mapping[str, tuple[int, ...]],
        params: Mapping[str, int],
    ) -> None:
        self._model = model
        self._params = params
        self._known: dict[str, tuple[int, ...]] = {}
        self._value_infos: dict[str, onnx.ValueInfoProto] | None = None
        self._inferred = False
        for graph in all_graphs(model.graph):
            for init in graph.initializer:
                self._known.setdefault(init.name, tuple(init.dims))
            for node in graph.node:
                if node.op_type == "Constant" and is_default_domain(node.domain):
                    for attr in node.attribute:
                        if attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR:
                            self._known.setdefault(node.output[0], tuple(attr.t.dims))
        for name, shape in input_shapes.items():
            self._known.setdefault(name, shape)

    def get(self, name: str) -> tuple[int, ...] | None:
        if name in self._known:
            return self._known[name]
        if self._value_infos is None:
            self._value_infos = self._collect(self._model)
        shape = self._from_value_info(name)
        if shape is None and not self._inferred:
            self._inferred = True
            try:
                inferred = onnx.shape_inference.infer_shapes(self._model)
            except Exception:  # inference is best effort here
                inferred = None
            if inferred is not None:
                self._value_infos = self._collect(inferred)
                shape = self._from_value_info(name)
        if shape is not None:
            self._known[name] = shape
        return shape

    @staticmethod
    def _collect(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
        out: dict[str, onnx.ValueInfoProto] = {}
        for graph in all_graphs(model.graph):
            for vi in (*graph.value_info, *graph.input, *graph.output):
                out.setdefault(vi.name, vi)
        return out

    def _from_value_info(self, name: str) -> tuple[int, ...] | None:
        assert self._value_infos is not None
        vi = self._value_infos.get(name)
        if vi is None or vi.type.WhichOneof("value") != "tensor_type":
            return None
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            return None
        dims = []
        for d in tt.shape.dim:
            which = d.WhichOneof("value")
            if which == "dim_value" and d.dim_value > 0:
                dims.append(int(d.dim_value))
            elif which == "dim_param" and d.dim_param in self._params:
                dims.append(int(self._params[d.dim_param]))
            else:
                return None
        return tuple(dims)


def _draw(spec: _InputSpec, rng: np.random.Generator) -> np.ndarray:
    shape = spec.shape
    if spec.elem_type == TensorProto.STRING:
        lengths = rng.integers(0, 6, size=shape)
        out = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            chars = rng.choice(_STRING_ALPHABET, size=int(lengths[idx]))
            out[idx] = "".join(chars)
        return out
    if spec.elem_type == TensorProto.BFLOAT16:
        import ml_dtypes  # an onnx dependency; numpy has no bfloat16

        return rng.standard_normal(size=shape).astype(np.float32).astype(ml_dtypes.bfloat16)
    dtype = np.dtype(_NUMPY_TYPES[spec.elem_type])
    if dtype.kind == "f":
        return rng.standard_normal(size=shape).astype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(size=shape) + 1j * rng.standard_normal(size=shape)).astype(
            dtype
        )
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    return rng.integers(0, spec.int_high, size=shape, dtype=dtype)


def generate_inputs(
    model: onnx.ModelProto, settings: VerifySettings = _DEFAULT_SETTINGS, sample_index: int = 0
) -> dict[str, np.ndarray]:
    """The feed :func:`verify_models` uses for sample ``sample_index``.

    Raises ValueError if the model has an input verify cannot generate (non-tensor,
    unknown rank without a configured shape, unsupported element type).
    bfloat16 inputs come back as ``ml_dtypes.bfloat16`` arrays.
    """
    try:
        specs = _plan_inputs(model, settings)
    except _CannotVerify as exc:
        raise ValueError(str(exc)) from None
    return _feeds(specs, settings.seed + sample_index)


def _feeds(specs: Sequence[_InputSpec], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {spec.name: _draw(spec, rng) for spec in specs}


# --------------------------------------------------------------------------- comparison


@dataclass
class _Cmp:
    ok: bool = True
    max_diff: float = 0.0
    detail: str = ""
    structural: bool = False  # dtype/shape/type mismatch rather than different values
    unsupported: bool = False


def _fmt_index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def _fmt_value(value: Any) -> str:
    if isinstance(value, (np.floating, float)) or type(value).__name__ == "bfloat16":
        return f"{float(value):.9g}"
    if isinstance(value, (np.integer, np.bool_)):
        return str(value.item())
    return repr(value)


def _is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f" or dtype.name == "bfloat16"


def _compare(
    orig: Any, fixed: Any, settings: VerifySettings, exact: bool, shape_only: bool
) -> _Cmp:
    """Compare one output value (ndarray, list, dict or None) of both models."""
    if isinstance(orig, np.ndarray) and isinstance(fixed, np.ndarray):
        return _compare_arrays(orig, fixed, settings, exact, shape_only)
    if orig is None and fixed is None:
        return _Cmp()
    if isinstance(orig, list) and isinstance(fixed, list):
        if len(orig) != len(fixed):
            return _Cmp(
                False, detail=f"sequence length {len(orig)} vs {len(fixed)}", structural=True
            )
        return _combine(
            (f"[{i}]", _compare(a, b, settings, exact, shape_only))
            for i, (a, b) in enumerate(zip(orig, fixed, strict=True))
        )
    if isinstance(orig, dict) and isinstance(fixed, dict):
        if set(orig) != set(fixed):
            return _Cmp(False, detail="map keys differ", structural=True)
        return _combine(
            (f"[{k!r}]", _compare(orig[k], fixed[k], settings, exact, shape_only)) for k in orig
        )
    known = (np.ndarray, list, dict, type(None))
    if isinstance(orig, known) and isinstance(fixed, known):
        return _Cmp(
            False,
            detail=f"{_kind(orig)} in the original but {_kind(fixed)} in the fixed model",
            structural=True,
        )
    return _Cmp(False, unsupported=True, detail=f"cannot compare values of type {_kind(orig)}")


def _kind(value: Any) -> str:
    if value is None:
        return "an empty optional"
    if isinstance(value, np.ndarray):
        return "a tensor"
    if isinstance(value, list):
        return "a sequence"
    if isinstance(value, dict):
        return "a map"
    return type(value).__name__


def _combine(parts: Iterable[tuple[str, _Cmp]]) -> _Cmp:
    """Merge element comparisons of a sequence or map: first failure wins the detail."""
    total = _Cmp()
    for where, cmp in parts:
        total.max_diff = max(total.max_diff, cmp.max_diff)
        if total.ok and not cmp.ok:
            total.ok = False
            total.detail = f"element {where}: {cmp.detail}"
            total.structural = cmp.structural
            total.unsupported = cmp.unsupported
    return total


def _compare_arrays(
    orig: np.ndarray, fixed: np.ndarray, settings: VerifySettings, exact: bool, shape_only: bool
) -> _Cmp:
    if orig.dtype != fixed.dtype:
        return _Cmp(False, detail=f"dtype {orig.dtype} vs {fixed.dtype}", structural=True)
    if orig.shape != fixed.shape:
        return _Cmp(False, detail=f"shape {orig.shape} vs {fixed.shape}", structural=True)
    if shape_only:
        return _Cmp()
    dtype = orig.dtype
    if dtype.kind == "c":
        real = np.float32 if dtype == np.complex64 else np.float64
        orig = np.stack([orig.real, orig.imag], axis=-1).astype(real)
        fixed = np.stack([fixed.real, fixed.imag], axis=-1).astype(real)
        dtype = orig.dtype
    if _is_float(dtype):
        return _compare_floats(orig, fixed, settings, exact)
    if dtype.kind in "iub":
        differ = orig != fixed
        if not differ.any():
            return _Cmp()
        o64 = orig.astype(np.float64)
        f64 = fixed.astype(np.float64)
        diff = np.abs(o64 - f64)
        worst = np.unravel_index(int(np.argmax(diff)), orig.shape)
        return _Cmp(
            False,
            max_diff=float(diff[worst]),
            detail=(
                f"{int(differ.sum())} of {orig.size} values differ, max abs diff "
                f"{_fmt_value(diff[worst])} at {_fmt_index(worst)} "
                f"({_fmt_value(orig[worst])} vs {_fmt_value(fixed[worst])})"
            ),
        )
    if dtype.kind in "OUS":
        differ = np.asarray(orig != fixed, dtype=bool)
        if not differ.any():
            return _Cmp()
        first = np.unravel_index(int(np.argmax(differ)), orig.shape)
        return _Cmp(
            False,
            detail=(
                f"{int(differ.sum())} of {orig.size} values differ, first at {_fmt_index(first)} "
                f"({orig[first]!r} vs {fixed[first]!r})"
            ),
        )
    return _Cmp(False, unsupported=True, detail=f"cannot compare dtype {dtype}")


def _compare_floats(
    orig: np.ndarray, fixed: np.ndarray, settings: VerifySettings, exact: bool
) -> _Cmp:
    o64 = orig.astype(np.float64)
    f64 = fixed.astype(np.float64)
    o_nan, f_nan = np.isnan(o64), np.isnan(f64)
    # NaN positions must agree; then inf positions and signs must agree.
    bad = (o_nan != f_nan) | ((np.isinf(o64) | np.isinf(f64)) & ~o_nan & ~f_nan & (o64 != f64))
    if bad.any():
        where = np.unravel_index(int(np.argmax(bad)), orig.shape)
        a, b = o64[where], f64[where]
        return _Cmp(
            False,
            max_diff=math.inf,
            detail=f"{_fmt_value(a)} vs {_fmt_value(b)} at {_fmt_index(where)}",
        )
    finite = np.isfinite(o64)  # same positions in both now
    positions = np.flatnonzero(finite)
    o_fin = o64.reshape(-1)[positions]
    f_fin = f64.reshape(-1)[positions]
    with np.errstate(over="ignore", invalid="ignore"):
        diff = np.abs(o_fin - f_fin)
    max_diff = float(diff.max()) if diff.size else 0.0
    if exact:
        bits = f"u{orig.dtype.itemsize}"
        wrong = orig.reshape(-1).view(bits)[positions] != fixed.reshape(-1).view(bits)[positions]
        label = "not bit-identical (exact)"
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            wrong = diff > settings.atol + settings.rtol * np.abs(o_fin)
        label = f"rtol {settings.rtol:g}, atol {settings.atol:g}"
    if not wrong.any():
        return _Cmp(max_diff=max_diff)
    k = int(np.argmax(np.where(wrong, diff, -1.0)))
    where = np.unravel_index(int(positions[k]), orig.shape)
    return _Cmp(
        False,
        max_diff=max_diff,
        detail=(
            f"max abs diff {max_diff:.3g}, worst at {_fmt_index(where)} "
            f"({_fmt_value(o64[where])} vs {_fmt_value(f64[where])}) ({label})"
        ),
    )


# --------------------------------------------------------------------------- running


def _first_line(exc: BaseException) -> str:
    """The first line of an error message, as one line.

    Some onnx checker messages break mid-sentence ("... of node:\\nname: ...\\n is not
    ..."); when the first line ends in a colon the rest is joined on (capped).
    """
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = " ".join(lines) if lines[0].endswith(":") else lines[0]
    text = " ".join(text.split())
    return text if len(text) <= 400 else text[:399] + "…"


def _serialize(model: onnx.ModelProto) -> bytes | str:
    """The model's bytes, or a reason why it cannot be serialized in memory."""
    too_big = "the model is 2 GB or larger, which protobuf cannot serialize in memory"
    try:
        data = model.SerializeToString()  # measuring first would serialize twice
    except (ValueError, OverflowError) as exc:  # protobuf's size errors
        return f"{too_big} ({_first_line(exc)})"
    return too_big if len(data) >= _PROTOBUF_LIMIT else data


def _bf16_outputs(session: Any) -> bool:
    return any(o.type == "tensor(bfloat16)" for o in session.get_outputs())


def _to_ort_feed(feeds: Mapping[str, np.ndarray], ort: Any, all_ort: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in feeds.items():
        if value.dtype.name == "bfloat16":
            out[name] = ort.OrtValue.ortvalue_from_numpy_with_onnx_type(
                np.ascontiguousarray(value).view(np.uint16), TensorProto.BFLOAT16
            )
        elif all_ort:
            out[name] = ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(value))
        else:
            out[name] = value
    return out


def _ort_value_to_numpy(value: Any) -> Any:
    """An output OrtValue as numpy; bfloat16 is read from raw memory (no numpy type)."""
    if not value.is_tensor():
        raise _CannotVerify("a model with bfloat16 outputs also has non-tensor outputs")
    if value.data_type() != "tensor(bfloat16)":
        return value.numpy()
    import ml_dtypes

    shape = tuple(value.shape())
    nbytes = value.tensor_size_in_bytes()
    raw = ctypes.string_at(value.data_ptr(), nbytes) if nbytes else b""
    return np.frombuffer(raw, dtype=np.uint16).reshape(shape).view(ml_dtypes.bfloat16).copy()


def _run(session: Any, ort: Any, names: list[str], feeds: Mapping[str, np.ndarray]) -> list[Any]:
    if _bf16_outputs(session):
        values = session.run_with_ort_values(names, _to_ort_feed(feeds, ort, True))
        return [_ort_value_to_numpy(v) for v in values]
    return session.run(names, _to_ort_feed(feeds, ort, False))


def _session(ort: Any, data: bytes) -> Any:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Kernels that prepack constant weights (MatMul, Conv) sum in another order
    # than for the same weight computed at run time; a rewrite that turns a weight
    # into a constant or back (folding a Transpose, tying weights) would then differ
    # in the last bits. Without prepacking both graphs are computed alike.
    options.add_session_config_entry("session.disable_prepacking", "1")
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def verify_models(
    original: onnx.ModelProto,
    fixed: onnx.ModelProto,
    settings: VerifySettings = _DEFAULT_SETTINGS,
    *,
    exact: bool = False,
    fixed_bytes: bytes | None = None,
    original_bytes: bytes | None = None,
) -> VerifyReport:
    """Run both models in onnxruntime on the same seeded inputs and compare outputs.

    The interface must be identical (see :func:`check_interface`), otherwise the
    verdict is ``failed``. Outputs that depend on a random op are compared by dtype
    and shape only. With ``exact`` finite floats must be bit-identical.
    ``fixed_bytes`` and ``original_bytes``, when given, are the models already
    serialized.
    """
    if not isinstance(settings, VerifySettings):
        raise TypeError(f"expected VerifySettings, got {type(settings).__name__}")
    n = settings.samples

    def report(verdict: str, reason: str, max_diff: float = 0.0, output: str | None = None):
        return VerifyReport(verdict, max_diff, output, reason, n)

    interface = check_interface(original, fixed)
    if interface is not None:
        return report(FAILED, f"the interface changed: {interface}")

    try:
        specs = _plan_inputs(original, settings)
    except _CannotVerify as exc:
        return report(COULD_NOT_VERIFY, str(exc))

    if original_bytes is None:
        original_bytes = _serialize(original)
    if isinstance(original_bytes, str):
        return report(COULD_NOT_VERIFY, f"original: {original_bytes}")
    fixed_data = _serialize(fixed) if fixed_bytes is None else fixed_bytes
    if isinstance(fixed_data, str):
        return report(COULD_NOT_VERIFY, f"fixed model: {fixed_data}")

    import onnxruntime as ort

    names = [o.name for o in original.graph.output]
    random = random_outputs(original) | random_outputs(fixed)
    # One session at a time: the original's outputs for every sample first, then the
    # fixed model's. Two sessions of a large model side by side would hold its
    # weights twice more; the outputs kept in between are far smaller.
    try:
        session = _session(ort, original_bytes)
    except Exception as exc:  # any onnxruntime failure is a verdict, not a crash
        return report(
            COULD_NOT_VERIFY, f"onnxruntime cannot load the original model: {_first_line(exc)}"
        )
    del original_bytes
    expected_runs: list[list[Any]] = []
    for sample in range(n):
        feeds = _feeds(specs, settings.seed + sample)
        try:
            expected_runs.append(_run(session, ort, names, feeds))
        except _CannotVerify as exc:
            return report(COULD_NOT_VERIFY, str(exc))
        except Exception as exc:
            return report(
                COULD_NOT_VERIFY,
                f"the original model does not run on generated inputs (sample {sample}): "
                f"{_first_line(exc)}",
            )
    del session
    try:
        session = _session(ort, fixed_data)
    except Exception as exc:
        return report(FAILED, f"the fixed model does not run: {_first_line(exc)}")
    del fixed_data

    max_diff = 0.0
    for sample, expected in enumerate(expected_runs):
        feeds = _feeds(specs, settings.seed + sample)
        try:
            actual = _run(session, ort, names, feeds)
        except _CannotVerify as exc:
            return report(COULD_NOT_VERIFY, str(exc))
        except Exception as exc:
            return report(
                FAILED, f"the fixed model does not run (sample {sample}): {_first_line(exc)}"
            )

        failures: list[tuple[str, _Cmp]] = []
        for name, a, b in zip(names, expected, actual, strict=True):
            cmp = _compare(a, b, settings, exact, shape_only=name in random)
            if cmp.unsupported:
                return report(COULD_NOT_VERIFY, f"output {name!r}: {cmp.detail}", max_diff)
            max_diff = max(max_diff, cmp.max_diff)
            if not cmp.ok:
                failures.append((name, cmp))
        if failures:
            structural = [f for f in failures if f[1].structural]
            name, cmp = structural[0] if structural else max(failures, key=lambda f: f[1].max_diff)
            others = len(failures) - 1
            more = f" (and {others} other output{'s' if others > 1 else ''})" if others else ""
            return report(
                FAILED,
                f"output {name!r} differs: {cmp.detail}, sample {sample}{more}",
                max_diff,
                name,
            )

    compared = len(names) - len(random & set(names))
    plural = "s" if compared != 1 else ""
    reason = f"{n} sample{'s' if n != 1 else ''}, {compared} output{plural} compared"
    shape_only = len(names) - compared
    if shape_only:
        reason += f", {shape_only} random-dependent checked by dtype and shape only"
    return report(PASSED, reason, max_diff)
