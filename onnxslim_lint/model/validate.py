"""Check a parsed model's own numbers before any rule, fold or verifier uses them.

A file can parse and still hold data nothing can read: raw bytes that do not fill
the declared shape, a data type ONNX does not define, a ``perm`` stored as a float,
a name that is not UTF-8 (protobuf's upb backend then hands out ``bytes`` where the
schema says ``str``). Left alone, each surfaces later as an exception inside numpy
or onnx, reported as an internal error. :func:`validate_model` walks every message
of the model once (graphs, subgraphs, functions, sparse tensors, attribute tensors,
training info) and raises a :class:`ModelReadError` with one line naming what is
wrong and where.

Everything is computed in integers from dims, element counts and lengths; no tensor
is converted. ``raw_data`` cannot be measured on the proto without copying it (upb
hands out a new ``bytes``), so main-graph initializers are measured through the
loader's zero-copy views of the file buffer when it has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import onnx
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from onnx import AttributeProto, TensorProto

from onnxslim_lint.errors import ModelReadError
from onnxslim_lint.model.domains import canonical_domain
from onnxslim_lint.model.tensors import element_bits, tensor_detail

__all__ = ["validate_model"]

INVALID_TENSOR = "OSL011"
UNKNOWN_DATA_TYPE = "OSL012"
INVALID_ATTRIBUTE = "OSL013"
INVALID_TEXT = "OSL014"
INVALID_MODEL = "OSL002"
INVALID_EXTERNAL_DATA = "OSL009"

# numpy and onnxruntime index bytes with a signed 64-bit integer: no tensor, whatever
# its data, can be larger, and dims beyond it only overflow whoever multiplies them.
_MAX_TENSOR_BYTES = 2**63 - 1
# onnx's schema lookup takes a C int version.
_MAX_OPSET_VERSION = 2**31 - 1
_SHOWN_DIMS = 8
_SHOWN_CHARS = 80

_DATA_TYPES = frozenset(TensorProto.DataType.values())
_STRING = TensorProto.STRING
_COMPLEX: dict[int, str] = {
    TensorProto.COMPLEX64: "float_data",
    TensorProto.COMPLEX128: "double_data",
}

# The typed data fields and the data types each may hold (onnx.proto's comments).
_INT32_TYPES = frozenset(
    TensorProto.DataType.Value(name)
    for name in TensorProto.DataType.DESCRIPTOR.values_by_name
    if name not in ("UNDEFINED", "FLOAT", "INT64", "STRING", "DOUBLE", "UINT32", "UINT64")
    and not name.startswith("COMPLEX")
)
_TYPED_FIELDS: dict[str, frozenset[int]] = {
    "float_data": frozenset({TensorProto.FLOAT, TensorProto.COMPLEX64}),
    "int32_data": _INT32_TYPES,
    "string_data": frozenset({_STRING}),
    "int64_data": frozenset({TensorProto.INT64}),
    "double_data": frozenset({TensorProto.DOUBLE, TensorProto.COMPLEX128}),
    "uint64_data": frozenset({TensorProto.UINT32, TensorProto.UINT64}),
}

# The field that holds an attribute's value, per declared type.
_VALUE_FIELD: dict[int, str] = {
    AttributeProto.FLOAT: "f",
    AttributeProto.INT: "i",
    AttributeProto.STRING: "s",
    AttributeProto.TENSOR: "t",
    AttributeProto.GRAPH: "g",
    AttributeProto.SPARSE_TENSOR: "sparse_tensor",
    AttributeProto.TYPE_PROTO: "tp",
    AttributeProto.FLOATS: "floats",
    AttributeProto.INTS: "ints",
    AttributeProto.STRINGS: "strings",
    AttributeProto.TENSORS: "tensors",
    AttributeProto.GRAPHS: "graphs",
    AttributeProto.SPARSE_TENSORS: "sparse_tensors",
    AttributeProto.TYPE_PROTOS: "type_protos",
}
# onnx.defs' attribute types, as AttributeProto numbers them (same names).
_SCHEMA_ATTR_TYPES = {
    getattr(onnx.defs.OpSchema.AttrType, AttributeProto.AttributeType.Name(number)): number
    for number in _VALUE_FIELD
}
# Singular fields an attribute of that type cannot do without (a 0 is a value).
_NEEDS_VALUE = frozenset({"t", "g", "sparse_tensor", "tp"})


def validate_model(
    model: onnx.ModelProto,
    path: Path | str,
    raw_views: Mapping[str, Sized] | None = None,
) -> None:
    """Raise :class:`ModelReadError` for the first thing in ``model`` no reader can use.

    ``raw_views`` maps main-graph initializer names to views of their ``raw_data``
    in the file buffer (what the loader has anyway); a tensor without a view is
    measured through the proto, which copies its bytes once.
    """
    _Validator(Path(path) if isinstance(path, str) else path, raw_views or {}).run(model)


@dataclass(frozen=True)
class _Visit:
    """A message reached by the walk, and how: enough to name it in a message."""

    message: Message
    field: str
    index: int | None
    parent: _Visit | None
    opsets: Mapping[str, int]


class _Validator:
    def __init__(self, path: Path | str, raw_views: Mapping[str, Sized]) -> None:
        self.path = path
        self.raw_views = raw_views

    def fail(self, code: str, visit: _Visit, what: str) -> ModelReadError:
        return ModelReadError(code, self.path, f"{_describe(visit)}: {what}")

    def run(self, model: onnx.ModelProto) -> None:
        stack = [_Visit(model, "", None, None, {})]
        while stack:
            visit = stack.pop()
            message = visit.message
            self.check_text(visit)
            check = _CHECKS.get(message.DESCRIPTOR.full_name)
            if check is not None:
                check(self, visit)
            opsets = visit.opsets
            if isinstance(message, (onnx.ModelProto, onnx.FunctionProto)):
                opsets = {**opsets, **_opsets(message)}
            children: list[_Visit] = []
            for name, repeated in _message_fields(message.DESCRIPTOR):
                if repeated:
                    children.extend(
                        _Visit(child, name, i, visit, opsets)
                        for i, child in enumerate(getattr(message, name))
                    )
                elif message.HasField(name):
                    children.append(_Visit(getattr(message, name), name, None, visit, opsets))
            stack.extend(reversed(children))

    # ------------------------------------------------------------------ every message

    def check_text(self, visit: _Visit) -> None:
        """upb returns a ``string`` field that is not UTF-8 as ``bytes``: find those."""
        message = visit.message
        for name, repeated in _string_fields(message.DESCRIPTOR):
            values = getattr(message, name) if repeated else (getattr(message, name),)
            for value in values:
                if isinstance(value, bytes):
                    raise self.fail(
                        INVALID_TEXT, visit, f"{name} {_quoted(value)} is not valid UTF-8"
                    )

    # ------------------------------------------------------------------ opsets

    def check_opsets(self, visit: _Visit) -> None:
        message = visit.message
        assert isinstance(message, (onnx.ModelProto, onnx.FunctionProto))
        for entry in message.opset_import:
            low = 1 if canonical_domain(entry.domain) == "" else 0
            if not low <= entry.version <= _MAX_OPSET_VERSION:
                domain = entry.domain or "ai.onnx"
                raise ModelReadError(
                    INVALID_MODEL,
                    self.path,
                    f"is not a valid ONNX model: {_describe(visit, 'it')} imports "
                    f"{domain} version {entry.version}",
                )

    # ------------------------------------------------------------------ tensors

    def check_tensor(self, visit: _Visit) -> None:
        tensor = visit.message
        assert isinstance(tensor, TensorProto)
        data_type = tensor.data_type
        if data_type not in _DATA_TYPES or data_type == TensorProto.UNDEFINED:
            raise self.fail(
                UNKNOWN_DATA_TYPE, visit, f"data type {data_type} is not an ONNX data type"
            )
        count = self.element_count(visit, tensor.dims, data_type)
        if tensor.HasField("segment"):
            raise self.fail(INVALID_TENSOR, visit, "is a segment of a tensor, which ONNX dropped")
        if tensor.data_location == TensorProto.EXTERNAL:
            self.check_external_length(visit, tensor, count)
            return
        typed = [name for name in _TYPED_FIELDS if len(getattr(tensor, name))]
        has_raw = tensor.HasField("raw_data")
        if has_raw and typed:
            raise self.fail(INVALID_TENSOR, visit, f"holds data in both raw_data and {typed[0]}")
        if len(typed) > 1:
            raise self.fail(INVALID_TENSOR, visit, f"holds data in both {typed[0]} and {typed[1]}")
        if has_raw:
            self.check_raw(visit, tensor, count)
        elif typed:
            self.check_typed(visit, tensor, typed[0], count)
        elif count:
            raise self.fail(
                INVALID_TENSOR, visit, f"holds no data, {_detail(tensor)} needs {count:,} elements"
            )

    def element_count(self, visit: _Visit, dims: Sequence[int], data_type: int) -> int:
        """Elements of a tensor of ``dims``; dims beyond any tensor's size are an error."""
        count = 1
        nonzero = 1
        item = max(1, (element_bits(data_type) or 8) // 8)
        for position, dim in enumerate(dims):
            if dim < 0:
                raise self.fail(INVALID_TENSOR, visit, f"dimension {position} is {dim}, negative")
            count *= dim
            if dim:
                nonzero *= dim
                if nonzero * item > _MAX_TENSOR_BYTES:
                    raise self.fail(
                        INVALID_TENSOR,
                        visit,
                        f"dims {_dims_text(dims)} are beyond any tensor's size (2^63 bytes)",
                    )
        return count

    def check_raw(self, visit: _Visit, tensor: TensorProto, count: int) -> None:
        bits = element_bits(tensor.data_type)
        if bits is None:  # strings: the only type without a fixed size
            raise self.fail(INVALID_TENSOR, visit, "is a string tensor with raw_data")
        needs = (count * bits + 7) // 8
        view = self.raw_views.get(tensor.name) if _is_main_initializer(visit) else None
        holds = len(view) if view is not None else len(tensor.raw_data)
        if holds != needs:
            raise self.fail(
                INVALID_TENSOR,
                visit,
                f"raw_data holds {holds:,} bytes, {_detail(tensor)} needs {needs:,}",
            )

    def check_typed(self, visit: _Visit, tensor: TensorProto, field: str, count: int) -> None:
        data_type = tensor.data_type
        if data_type not in _TYPED_FIELDS[field]:
            raise self.fail(
                INVALID_TENSOR,
                visit,
                f"holds {field} but its data type is {TensorProto.DataType.Name(data_type)}",
            )
        needs = count
        if _COMPLEX.get(data_type) == field:
            needs = 2 * count
        elif field == "int32_data":
            bits = element_bits(data_type)
            per_value = 8 // bits if bits in (2, 4) else 1  # sub-byte types are packed
            needs = -(-count // per_value)
        holds = len(getattr(tensor, field))
        if holds != needs:
            raise self.fail(
                INVALID_TENSOR,
                visit,
                f"{field} holds {holds:,} values, {_detail(tensor)} needs {needs:,}",
            )

    def check_external_length(self, visit: _Visit, tensor: TensorProto, count: int) -> None:
        bits = element_bits(tensor.data_type)
        if bits is None:
            raise self.fail(
                INVALID_EXTERNAL_DATA, visit, "is a string tensor, which external data cannot hold"
            )
        needs = (count * bits + 7) // 8
        for entry in tensor.external_data:
            if entry.key == "length" and entry.value.isdecimal() and entry.value.isascii():
                length = int(entry.value)
                if length != needs:
                    raise self.fail(
                        INVALID_EXTERNAL_DATA,
                        visit,
                        f"has external-data length {length:,} but its type and shape "
                        f"({_detail(tensor)}) need {needs:,} bytes",
                    )

    def check_sparse(self, visit: _Visit) -> None:
        sparse = visit.message
        assert isinstance(sparse, onnx.SparseTensorProto)
        self.element_count(visit, sparse.dims, sparse.values.data_type)
        values, indices = sparse.values.dims, sparse.indices.dims
        if len(values) != 1:
            raise self.fail(
                INVALID_TENSOR, visit, f"values have dims {_dims_text(values)}, not one dimension"
            )
        if sparse.indices.data_type != TensorProto.INT64:
            raise self.fail(INVALID_TENSOR, visit, "indices are not int64")
        if list(indices) not in ([values[0]], [values[0], len(sparse.dims)]):
            raise self.fail(
                INVALID_TENSOR,
                visit,
                f"indices have dims {_dims_text(indices)} for {values[0]} values "
                f"of a {len(sparse.dims)}-dimensional tensor",
            )

    # ------------------------------------------------------------------ types

    def check_tensor_type(self, visit: _Visit) -> None:
        message = visit.message
        assert isinstance(message, (onnx.TypeProto.Tensor, onnx.TypeProto.SparseTensor))
        elem_type = message.elem_type
        if elem_type not in _DATA_TYPES:
            raise self.fail(
                UNKNOWN_DATA_TYPE, visit, f"elem_type {elem_type} is not an ONNX data type"
            )

    def check_map_type(self, visit: _Visit) -> None:
        message = visit.message
        assert isinstance(message, onnx.TypeProto.Map)
        key_type = message.key_type
        if key_type not in _DATA_TYPES:
            raise self.fail(
                UNKNOWN_DATA_TYPE, visit, f"map key_type {key_type} is not an ONNX data type"
            )

    def check_dimension(self, visit: _Visit) -> None:
        dim = visit.message
        assert isinstance(dim, onnx.TensorShapeProto.Dimension)
        # paddle2onnx writes -1 for a dynamic dim, and onnxruntime reads it so: it is
        # taken as unknown (model.shapes); any other negative size is corrupt.
        if dim.HasField("dim_value") and dim.dim_value < -1:
            raise self.fail(INVALID_TENSOR, visit, f"dimension is {dim.dim_value}, negative")

    # ------------------------------------------------------------------ attributes

    def check_attribute(self, visit: _Visit) -> None:
        """The declared type is known, and its field is the one holding the value."""
        attr = visit.message
        assert isinstance(attr, AttributeProto)
        if attr.ref_attr_name:  # a function body's reference: the caller's value
            return
        expected = _VALUE_FIELD.get(attr.type)
        if expected is None:
            raise self.fail(INVALID_ATTRIBUTE, visit, "has no type (or one ONNX does not define)")
        for field in _VALUE_FIELD.values():
            if field != expected and _holds(attr, field):
                raise self.fail(
                    INVALID_ATTRIBUTE,
                    visit,
                    f"is {AttributeProto.AttributeType.Name(attr.type)} but holds {field}",
                )
        if expected in _NEEDS_VALUE and not attr.HasField(expected):
            raise self.fail(
                INVALID_ATTRIBUTE,
                visit,
                f"is {AttributeProto.AttributeType.Name(attr.type)} but holds no value",
            )

    def check_node(self, visit: _Visit) -> None:
        """Attribute types as the operator's schema declares them, required ones present."""
        node = visit.message
        assert isinstance(node, onnx.NodeProto)
        domain = canonical_domain(node.domain)
        version = visit.opsets.get(domain)
        if version is None:
            return
        schema = _schema(node.op_type, domain, version)
        if schema is None:
            return
        present: set[str] = set()
        for position, attr in enumerate(node.attribute):
            present.add(attr.name)
            declared = schema.get(attr.name)
            if declared is None or declared[0] == attr.type:
                continue
            if attr.ref_attr_name and attr.type == AttributeProto.UNDEFINED:
                continue
            raise self.fail(
                INVALID_ATTRIBUTE,
                _Visit(attr, "attribute", position, visit, visit.opsets),
                f"is {_attr_type_name(attr.type)}, {node.op_type} needs "
                f"{_attr_type_name(declared[0])}",
            )
        for name, (_, required) in schema.items():
            if required and name not in present:
                raise self.fail(
                    INVALID_ATTRIBUTE,
                    visit,
                    f"has no attribute {_quoted(name)}, which {node.op_type} requires",
                )


_CHECKS = {
    onnx.ModelProto.DESCRIPTOR.full_name: _Validator.check_opsets,
    onnx.FunctionProto.DESCRIPTOR.full_name: _Validator.check_opsets,
    TensorProto.DESCRIPTOR.full_name: _Validator.check_tensor,
    onnx.SparseTensorProto.DESCRIPTOR.full_name: _Validator.check_sparse,
    onnx.TypeProto.Tensor.DESCRIPTOR.full_name: _Validator.check_tensor_type,
    onnx.TypeProto.SparseTensor.DESCRIPTOR.full_name: _Validator.check_tensor_type,
    onnx.TypeProto.Map.DESCRIPTOR.full_name: _Validator.check_map_type,
    onnx.TensorShapeProto.Dimension.DESCRIPTOR.full_name: _Validator.check_dimension,
    AttributeProto.DESCRIPTOR.full_name: _Validator.check_attribute,
    onnx.NodeProto.DESCRIPTOR.full_name: _Validator.check_node,
}


# --------------------------------------------------------------------------- helpers


@cache
def _message_fields(descriptor: Descriptor) -> tuple[tuple[str, bool], ...]:
    """(name, repeated) of the message-typed fields of a message type."""
    return tuple(
        (field.name, bool(field.is_repeated))
        for field in descriptor.fields
        if field.type == FieldDescriptor.TYPE_MESSAGE
    )


@cache
def _string_fields(descriptor: Descriptor) -> tuple[tuple[str, bool], ...]:
    """(name, repeated) of the ``string`` fields (not ``bytes``) of a message type."""
    return tuple(
        (field.name, bool(field.is_repeated))
        for field in descriptor.fields
        if field.type == FieldDescriptor.TYPE_STRING
    )


def _opsets(message: onnx.ModelProto | onnx.FunctionProto) -> dict[str, int]:
    return {canonical_domain(entry.domain): entry.version for entry in message.opset_import}


@cache
def _schema(op_type: str, domain: str, version: int) -> dict[str, tuple[int, bool]] | None:
    """Attribute name -> (type, required) for the op at that opset; None if unknown."""
    if not 0 < version <= _MAX_OPSET_VERSION:
        return None
    try:
        schema = onnx.defs.get_schema(op_type, version, domain)
    except onnx.defs.SchemaError:
        return None
    return {
        name: (_SCHEMA_ATTR_TYPES[attr.type], attr.required)
        for name, attr in schema.attributes.items()
    }


def _holds(attr: AttributeProto, field: str) -> bool:
    if field in ("f", "i", "s", "t", "g", "sparse_tensor", "tp"):
        return attr.HasField(field)
    return len(getattr(attr, field)) > 0


def _attr_type_name(value: int) -> str:
    return AttributeProto.AttributeType.Name(value) if value in _VALUE_FIELD else str(value)


def _is_main_initializer(visit: _Visit) -> bool:
    graph = visit.parent
    return (
        visit.field == "initializer"
        and graph is not None
        and graph.field == "graph"
        and graph.parent is not None
        and graph.parent.parent is None
    )


def _detail(tensor: TensorProto) -> str:
    if len(tensor.dims) <= _SHOWN_DIMS:
        return tensor_detail(tensor)
    dtype = tensor_detail(TensorProto(data_type=tensor.data_type)).removesuffix("[]")
    return f"{dtype}{_dims_text(tensor.dims)}"


def _dims_text(dims: Sequence[int]) -> str:
    shown = dims[:_SHOWN_DIMS]
    more = ",..." if len(dims) > _SHOWN_DIMS else ""
    return f"[{','.join(str(d) for d in shown)}{more}]"


def _quoted(value: str | bytes) -> str:
    """A string from the model, quoted for a one-line message."""
    return f"'{_escaped(value)}'"


def _escaped(value: str | bytes) -> str:
    """Control characters escaped, invalid UTF-8 shown as escapes, long text shortened."""
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    if len(text) > _SHOWN_CHARS:
        text = text[: _SHOWN_CHARS - 3] + "..."
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


_GRAPH_HOLDERS = {"input": "input", "output": "output", "value_info": "value_info"}


def _describe(visit: _Visit, fallback: str = "the model") -> str:
    """Name a message by what holds it: "attribute 'perm' of node 't' (Transpose)"."""
    parts: list[str] = []
    current: _Visit | None = visit
    while current is not None:
        part = _part(current)
        if part:
            parts.append(part)
        current = current.parent
    return " of ".join(parts) if parts else fallback


def _part(visit: _Visit) -> str:
    message, field = visit.message, visit.field
    number = "" if visit.index is None else f" #{visit.index}"
    if isinstance(message, TensorProto):
        if field == "initializer":
            return f"initializer {_quoted(message.name)}"
        if field in ("values", "indices"):
            return field
        if field == "t" and not message.name:
            return ""  # the attribute's own value: the attribute names it
        return f"tensor {_quoted(message.name)}" if message.name else f"tensor{number}"
    if isinstance(message, onnx.SparseTensorProto):
        if field == "sparse_initializer":
            return f"sparse initializer {_quoted(message.values.name)}"
        return f"sparse tensor{number}"
    if isinstance(message, AttributeProto):
        return f"attribute {_quoted(message.name)}"
    if isinstance(message, onnx.NodeProto):
        name = _quoted(message.name) if message.name else f"#{visit.index}"
        return f"node {name} ({_escaped(message.op_type)})"
    if isinstance(message, onnx.GraphProto):
        if visit.parent is not None and visit.parent.parent is None:
            return ""  # the main graph
        return f"graph {_quoted(message.name)}"
    if isinstance(message, onnx.FunctionProto):
        return f"function {_quoted(message.name)}"
    if isinstance(message, onnx.ValueInfoProto):
        return f"{_GRAPH_HOLDERS.get(field, field)} {_quoted(message.name)}"
    if isinstance(message, onnx.TrainingInfoProto):
        return f"training_info{number}"
    if isinstance(message, (onnx.StringStringEntryProto, onnx.OperatorSetIdProto)):
        return f"{field}{number}"
    return ""
