"""The inputs verification feeds both models: shapes, value ranges and seeded draws.

Every fed graph input gets a static shape (configured ``shapes``, then ``dims`` by
``dim_param`` name, then ``default_dim``) and, for integers, a value range: an input
that ends up as the indices of a Gather-like op is drawn below the indexed axis's
size, any other integer from a small non-negative range. The same seed gives the
same feed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import product
from typing import Any

import ml_dtypes  # numpy has no bfloat16; onnx imports ml_dtypes anyway
import numpy as np
import onnx
from onnx import TensorProto

from onnxslim_lint.config import VerifySettings
from onnxslim_lint.fixing.gates import elem_name, type_text
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.graphs import all_graphs, all_nodes
from onnxslim_lint.model.shapes import ShapeInfo, infer_shapes, is_static

__all__ = [
    "CannotVerify",
    "InputPlan",
    "InputSpec",
    "alternative_plans",
    "fed_inputs",
    "feeds",
    "generate_inputs",
    "plan_inputs",
]

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

_DEFAULT_SETTINGS = VerifySettings()


class CannotVerify(Exception):
    """The original model cannot be fed or run here; carries the reason."""


@dataclass(frozen=True)
class InputSpec:
    name: str
    elem_type: int
    shape: tuple[int, ...]
    int_high: int  # exclusive upper bound for integer inputs
    value: Any = None  # configured values: a number filling the shape, or nested tuples

    @property
    def nbytes(self) -> int:
        """The bytes one draw of this input takes (a string counts as 8)."""
        count = int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1
        if self.elem_type in (TensorProto.STRING, TensorProto.BFLOAT16):
            return count * (8 if self.elem_type == TensorProto.STRING else 2)
        return count * np.dtype(_NUMPY_TYPES[self.elem_type]).itemsize


@dataclass(frozen=True)
class InputPlan:
    """The specs of every fed input for one try; ``note`` says how it differs from
    the configured plan (empty for the configured plan itself)."""

    specs: tuple[InputSpec, ...]
    note: str = ""

    @property
    def nbytes(self) -> int:
        return sum(spec.nbytes for spec in self.specs)


def fed_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are fed.

    An input that is also an initializer is an overridable default; it is not fed, so
    the model runs with the default it ships with (which is what users get).
    """
    initializers = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in initializers]


def plan_inputs(model: onnx.ModelProto, settings: VerifySettings) -> list[InputSpec]:
    """Shapes and value ranges of every fed input; raises CannotVerify."""
    shapes: dict[str, tuple[int, ...]] = {}
    params: dict[str, int] = dict(settings.dims)
    fed = fed_inputs(model)
    for vi in fed:
        if vi.type.WhichOneof("value") != "tensor_type":
            raise CannotVerify(
                f"input {vi.name!r} has type {type_text(vi.type)}, which verify cannot generate"
            )
        tt = vi.type.tensor_type
        elem = tt.elem_type
        if elem not in _NUMPY_TYPES and elem not in (TensorProto.STRING, TensorProto.BFLOAT16):
            raise CannotVerify(
                f"input {vi.name!r} has element type {elem_name(elem)}, "
                "which verify cannot generate"
            )
        declared = list(tt.shape.dim) if tt.HasField("shape") else None
        configured = settings.values.get(vi.name)
        if isinstance(configured, tuple):  # an array: its own shape
            shape = np.shape(np.array(configured))
            if declared is not None and len(declared) != len(shape):
                raise CannotVerify(
                    f"configured values for input {vi.name!r} have rank {len(shape)}, "
                    f"but the input has rank {len(declared)}"
                )
        elif vi.name in settings.shapes:
            shape = tuple(settings.shapes[vi.name])
            if declared is not None and len(declared) != len(shape):
                raise CannotVerify(
                    f"configured shape {list(shape)} for input {vi.name!r} has rank "
                    f"{len(shape)}, but the input has rank {len(declared)}"
                )
        elif declared is None:
            raise CannotVerify(f"input {vi.name!r} has unknown rank; configure its shape to verify")
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
        value = settings.values.get(vi.name)
        if value is not None and elem == TensorProto.STRING:
            raise CannotVerify(f"input {vi.name!r} is a string tensor: set no numeric values")
        specs.append(InputSpec(vi.name, elem, shapes[vi.name], high, value))
    plan = InputPlan(tuple(specs))
    if plan.nbytes > settings.max_input_size:
        shapes_text = ", ".join(f"{s.name!r} {list(s.shape)}" for s in specs)
        raise CannotVerify(
            f"generated inputs of {plan.nbytes} bytes ({shapes_text}) are over "
            f"verify.max-input-size ({settings.max_input_size} bytes); configure smaller "
            "dims or shapes"
        )
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
    consumers = _consumers(model)
    shapes = _ShapeLookup(model, input_shapes, params)
    bounds: dict[str, int] = {}
    for name in names:
        best: int | None = None
        for node, index, _ in _uses(consumers, name):
            if node.op_type in _INDEXING_OPS and index == _INDEXING_OPS[node.op_type][1]:
                data_index = _INDEXING_OPS[node.op_type][0]
                data_shape = shapes.get(node.input[data_index])
                size = _indexed_axis_size(node, data_shape)
                if size is not None:
                    best = size if best is None else min(best, size)
        if best is not None:
            bounds[name] = best
    return bounds


_Consumers = dict[str, list[tuple[onnx.NodeProto, int]]]


def _consumers(model: onnx.ModelProto) -> _Consumers:
    """Every node reading each value, with the input position it reads it at."""
    consumers: _Consumers = {}
    for node in all_nodes(model.graph):
        for i, name in enumerate(node.input):
            if name:
                consumers.setdefault(name, []).append((node, i))
    return consumers


def _uses(consumers: _Consumers, name: str) -> Iterator[tuple[onnx.NodeProto, int, str]]:
    """The default-domain nodes that read ``name`` or a value made from it by
    value-preserving ops (Cast, Reshape, ...): (node, input position, value read)."""
    seen = {name}
    frontier = [name]
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
            else:
                yield node, index, value


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
    """Static shapes of values, resolved lazily: initializers, Constants and the fed
    shapes first, then the model's value_info, then (only if needed) the model
    layer's shape inference."""

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
        self._inferred: ShapeInfo | None = None
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
        shape = self._from_value_info(self._value_infos, name)
        if shape is None:
            if self._inferred is None:
                self._inferred = infer_shapes(self._model)
            _, dims = self._inferred.get(name, (0, None))
            if is_static(dims) and all(d > 0 for d in dims):
                shape = dims
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

    def _from_value_info(
        self, value_infos: Mapping[str, onnx.ValueInfoProto], name: str
    ) -> tuple[int, ...] | None:
        vi = value_infos.get(name)
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


def _draw(spec: InputSpec, rng: np.random.Generator) -> np.ndarray:
    shape = spec.shape
    if spec.value is not None:
        dtype = (
            ml_dtypes.bfloat16
            if spec.elem_type == TensorProto.BFLOAT16
            else _NUMPY_TYPES[spec.elem_type]
        )
        if isinstance(spec.value, tuple):
            return np.array(spec.value).astype(dtype)
        return np.full(shape, spec.value).astype(dtype)
    if spec.elem_type == TensorProto.STRING:
        lengths = rng.integers(0, 6, size=shape)
        out = np.empty(shape, dtype=object)
        for idx in np.ndindex(*shape):
            chars = rng.choice(_STRING_ALPHABET, size=int(lengths[idx]))
            out[idx] = "".join(chars)
        return out
    if spec.elem_type == TensorProto.BFLOAT16:
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
        specs = plan_inputs(model, settings)
    except CannotVerify as exc:
        raise ValueError(str(exc)) from None
    return feeds(specs, settings.seed + sample_index)


def feeds(specs: Sequence[InputSpec], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {spec.name: _draw(spec, rng) for spec in specs}


# Sizes tried for dynamic dims when the original does not run on the configured
# ones: small, then the image sizes models are exported for (multiples of 32 pass a
# detector's strides), which are also audio chunk sizes (256, 512 samples).
_DIM_LADDER = (8, 16, 32, 64, 224, 256, 320, 512, 640, 1024)
# Tries at most, the configured plan included: each is one run of the original,
# and a failing run usually stops at its first bad op.
_MAX_PLANS = 64
_COMPARISONS = frozenset({"Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual"})

# A dynamic dim: named by its dim_param (one size for every input that names it),
# or unnamed, its own (input, axis).
_DimKey = str | tuple[str, int]


def alternative_plans(
    model: onnx.ModelProto, settings: VerifySettings, specs: Sequence[InputSpec]
) -> list[InputPlan]:
    """Other plans to try, in order, when the original does not run on ``specs``.

    Scalar inputs the graph compares with a constant (a sample rate an If checks,
    a mode flag) take those constants. Dynamic dims that the settings leave open
    take larger sizes: batch dims (a leading dim of a rank >= 2 input, wherever
    its dim_param appears) stay 1, and the others grow all together or one input's at
    a time (unnamed dims of two inputs may have to agree, as an audio chunk and
    its state's batch). Plans over ``max_input_size`` are skipped.
    """
    open_dims = _open_dims(model, settings)
    ranks = {spec.name: len(spec.shape) for spec in specs}
    batch = {
        key
        for name, axes in open_dims.items()
        if ranks.get(name, 0) >= 2
        for axis, key in axes
        if axis == 0
    }
    candidates = _compared_constants(model, settings, specs)
    value_sets: list[dict[str, Any]] = []
    names = sorted(candidates)
    for combo in product(*(candidates[name] for name in names)):
        value_sets.append(dict(zip(names, combo, strict=True)))
        if len(value_sets) >= 3:
            break
    value_sets.append({})
    growing = [name for name, axes in open_dims.items() if any(k not in batch for _, k in axes)]
    groups: list[set[str] | None] = [None]  # None: every input's dims grow
    if len(growing) > 1:
        groups += [{name} for name in growing]

    plans: list[InputPlan] = []
    sizes: list[int | None] = [None, *_DIM_LADDER] if open_dims else [None]
    for size in sizes:
        for values in value_sets:
            for group in groups if size is not None else [None]:
                if not values and size is None:
                    continue  # the configured plan itself
                plan = _variant(specs, open_dims, batch, size, group, values)
                if plan.nbytes <= settings.max_input_size and plan not in plans:
                    plans.append(plan)
                if len(plans) >= _MAX_PLANS - 1:
                    return plans
    return plans


def _open_dims(
    model: onnx.ModelProto, settings: VerifySettings
) -> dict[str, list[tuple[int, _DimKey]]]:
    """Per fed input (not given a shape or values), the axes whose size nothing
    fixes, each with its key."""
    out: dict[str, list[tuple[int, _DimKey]]] = {}
    for vi in fed_inputs(model):
        if vi.name in settings.shapes or vi.name in settings.values:
            continue
        tt = vi.type.tensor_type
        if not tt.HasField("shape"):
            continue
        axes: list[tuple[int, _DimKey]] = []
        for axis, d in enumerate(tt.shape.dim):
            which = d.WhichOneof("value")
            if which == "dim_value" and d.dim_value > 0:
                continue
            if which == "dim_param" and d.dim_param in settings.dims:
                continue
            key: _DimKey = d.dim_param if which == "dim_param" else (vi.name, axis)
            axes.append((axis, key))
        if axes:
            out[vi.name] = axes
    return out


def _variant(
    specs: Sequence[InputSpec],
    open_dims: Mapping[str, list[tuple[int, _DimKey]]],
    batch: set[_DimKey],
    size: int | None,
    group: set[str] | None,
    values: Mapping[str, Any],
) -> InputPlan:
    changed = []
    notes = []
    sizes: dict[_DimKey, int] = {}
    if size is not None:
        for name, axes in open_dims.items():
            for _, key in axes:
                grows = key not in batch and (group is None or name in group)
                sizes[key] = max(sizes.get(key, 1), size if grows else 1)
    for spec in specs:
        new = spec
        if size is not None and spec.name in open_dims:
            shape = list(spec.shape)
            for axis, key in open_dims[spec.name]:
                shape[axis] = sizes[key]
            new = replace(new, shape=tuple(shape))
        if spec.name in values:
            new = replace(new, value=values[spec.name])
            notes.append(f"{spec.name}={values[spec.name]}")
        changed.append(new)
    if size is not None:
        which = "" if group is None else f" of {', '.join(repr(n) for n in sorted(group))}"
        notes.insert(0, f"dynamic dims{which} {size}, batch 1")
    return InputPlan(tuple(changed), ", ".join(notes))


def _compared_constants(
    model: onnx.ModelProto, settings: VerifySettings, specs: Sequence[InputSpec]
) -> dict[str, list[Any]]:
    """Fed inputs of at most one element that the graph compares with a constant
    scalar (through Cast, Reshape, ...), and those constants."""
    small = {
        spec.name
        for spec in specs
        if spec.value is None
        and spec.name not in settings.values
        and spec.elem_type in _NUMPY_TYPES
        and int(np.prod(spec.shape, dtype=np.int64)) == 1
    }
    if not small:
        return {}
    constants: dict[str, np.ndarray] = {}
    for graph in all_graphs(model.graph):
        for init in graph.initializer:
            if _numel(init.dims) == 1 and init.data_location != TensorProto.EXTERNAL:
                constants.setdefault(init.name, onnx.numpy_helper.to_array(init))
        for node in graph.node:
            if node.op_type == "Constant" and is_default_domain(node.domain):
                for attr in node.attribute:
                    tensor = attr.name == "value" and attr.type == onnx.AttributeProto.TENSOR
                    if tensor and _numel(attr.t.dims) == 1:
                        constants[node.output[0]] = onnx.numpy_helper.to_array(attr.t)
    consumers = _consumers(model)
    found: dict[str, list[Any]] = {}
    for name in sorted(small):
        values: list[Any] = []
        for node, _, value in _uses(consumers, name):
            if node.op_type not in _COMPARISONS:
                continue
            for other in node.input:
                if other != value and other in constants:
                    item = constants[other].reshape(-1)[0].item()
                    if item not in values:
                        values.append(item)
        if values:
            found[name] = values[:4]
    return found


def _numel(dims: Sequence[int]) -> int:
    return int(np.prod(dims, dtype=np.int64)) if dims else 1
