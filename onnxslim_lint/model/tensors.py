"""What a tensor is made of and what it costs in the file: data types, sizes, protobuf overhead.

Sizes are computed from a tensor's dims and data type, never by serializing it:
``ByteSize()`` encodes the whole message to measure it, which on a model with
large weights costs as much as saving it. Only tensors whose data size cannot be
known from their dims (strings, unknown types) are measured with ``ByteSize()``.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto

__all__ = [
    "data_nbytes",
    "element_bits",
    "field_nbytes",
    "initializer_size",
    "node_nbytes",
    "node_nbytes_at_least",
    "raw_numpy_dtype",
    "tensor_detail",
    "tensor_header_nbytes",
    "tensor_nbytes",
    "tensor_nbytes_at_least",
    "varint_size",
]

# Bits per element of the fixed-size tensor types; sub-byte types are packed, so a
# tensor of n elements takes ceil(n * bits / 8) bytes. Looked up by name so that an
# older onnx without the newest types still works.
_DTYPE_BITS_BY_NAME = {
    "FLOAT": 32,
    "UINT8": 8,
    "INT8": 8,
    "UINT16": 16,
    "INT16": 16,
    "INT32": 32,
    "INT64": 64,
    "BOOL": 8,
    "FLOAT16": 16,
    "DOUBLE": 64,
    "UINT32": 32,
    "UINT64": 64,
    "COMPLEX64": 64,
    "COMPLEX128": 128,
    "BFLOAT16": 16,
    "FLOAT8E4M3FN": 8,
    "FLOAT8E4M3FNUZ": 8,
    "FLOAT8E5M2": 8,
    "FLOAT8E5M2FNUZ": 8,
    "FLOAT8E8M0": 8,
    "UINT4": 4,
    "INT4": 4,
    "FLOAT4E2M1": 4,
    "UINT2": 2,
    "INT2": 2,
    "FLOAT6E2M3": 6,
    "FLOAT6E3M2": 6,
}
_DTYPE_BITS: dict[int, int] = {
    TensorProto.DataType.DESCRIPTOR.values_by_name[name].number: bits
    for name, bits in _DTYPE_BITS_BY_NAME.items()
    if name in TensorProto.DataType.DESCRIPTOR.values_by_name
}

# Data types whose raw bytes numpy reads as they are (little-endian, one element per
# item), so an array can view them in place instead of converting.
_RAW_NUMPY_DTYPES: dict[int, str] = {
    TensorProto.FLOAT: "float32",
    TensorProto.DOUBLE: "float64",
    TensorProto.FLOAT16: "float16",
    TensorProto.INT8: "int8",
    TensorProto.INT16: "int16",
    TensorProto.INT32: "int32",
    TensorProto.INT64: "int64",
    TensorProto.UINT8: "uint8",
    TensorProto.UINT16: "uint16",
    TensorProto.UINT32: "uint32",
    TensorProto.UINT64: "uint64",
    TensorProto.BOOL: "bool",
}


def element_bits(data_type: int) -> int | None:
    """Bits per element of a fixed-size data type; None for strings and unknown types."""
    return _DTYPE_BITS.get(data_type)


def raw_numpy_dtype(data_type: int) -> np.dtype | None:
    """The little-endian numpy dtype that views the type's raw bytes in place, if any."""
    name = _RAW_NUMPY_DTYPES.get(data_type)
    return None if name is None else np.dtype(name).newbyteorder("<")


def data_nbytes(tensor: TensorProto) -> int | None:
    """Bytes the tensor's raw data must have, or None when that is not knowable."""
    bits = _DTYPE_BITS.get(tensor.data_type)
    if bits is None or any(d < 0 for d in tensor.dims):
        return None
    return math.ceil(math.prod(tensor.dims) * bits / 8)


def varint_size(value: int) -> int:
    """Bytes of ``value`` as a protobuf varint."""
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


def encode_varint(value: int) -> bytes:
    """``value`` as a protobuf varint (to write part of a message without the whole)."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field_key(number: int) -> bytes:
    """The key of length-delimited field ``number``."""
    return encode_varint(number << 3 | 2)


def field_nbytes(number: int, length: int) -> int:
    """Bytes of a length-delimited protobuf field: its tag, the length, the payload
    (to measure part of a message without serializing the whole)."""
    return varint_size(number << 3 | 2) + varint_size(length) + length


def tensor_nbytes(tensor: TensorProto) -> int:
    """What a tensor costs in the file (external data included), from its dims.

    The estimate a finding reports: for a tensor of a fixed-size type, its data
    bytes (as raw data, the way exporters write weights) plus an allowance for name
    and dims, within a few bytes of its serialization with inline ``raw_data``. For
    strings and unknown types, ``ByteSize()`` exactly.
    """
    data = data_nbytes(tensor)
    if data is None:
        return tensor.ByteSize()
    return data + tensor_header_nbytes(tensor.name, len(tensor.dims))


def tensor_header_nbytes(name: str, rank: int) -> int:
    """The allowance :func:`tensor_nbytes` adds to a tensor's data: name, dims, type."""
    return len(name) + 2 * rank + 8


def tensor_nbytes_at_least(tensor: TensorProto) -> int:
    """A lower bound of a tensor's serialized size, from its dims (no serializing)."""
    data = data_nbytes(tensor)
    return tensor.ByteSize() if data is None else data + len(tensor.name)


def initializer_size(name: str, value: np.ndarray) -> int:
    """The exact serialized size of ``numpy_helper.from_array(value, name)``.

    Computed from the wire format (dims unpacked, as proto2 writes them; data type;
    name; raw_data) so a large result is never converted just to be measured.
    """
    data_type = onnx.helper.np_dtype_to_tensor_dtype(value.dtype)
    bits = element_bits(data_type)
    # sub-byte types are packed in raw_data, not one element per numpy item
    data = value.nbytes if bits is None else math.ceil(value.size * bits / 8)
    name_bytes = len(name.encode("utf-8"))
    size = sum(1 + varint_size(int(dim)) for dim in value.shape)
    size += 1 + varint_size(int(data_type))
    if name_bytes:  # from_array leaves an empty name unset
        size += 1 + varint_size(name_bytes) + name_bytes
    return size + 1 + varint_size(data) + data


def _is_constant_value_node(node: onnx.NodeProto) -> bool:
    return (
        node.op_type == "Constant"
        and len(node.attribute) == 1
        and node.attribute[0].name == "value"
    )


def node_nbytes(node: onnx.NodeProto) -> int:
    """What a node costs in the file; a Constant's tensor is measured by its dims."""
    if _is_constant_value_node(node):
        overhead = sum(len(name) + 2 for name in (*node.input, *node.output, node.name))
        return tensor_nbytes(node.attribute[0].t) + overhead + 24
    return node.ByteSize()


def node_nbytes_at_least(node: onnx.NodeProto) -> int:
    """A lower bound of a node's serialized size; a Constant's tensor by its dims."""
    if _is_constant_value_node(node):
        return tensor_nbytes_at_least(node.attribute[0].t) + len(node.output[0])
    return node.ByteSize()


def tensor_detail(tensor: TensorProto) -> str:
    """``float32[64,256]``: the dtype and dims, for messages and locations."""
    try:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type).name
    except (KeyError, ValueError, TypeError):
        dtype = TensorProto.DataType.Name(tensor.data_type).lower()
    return f"{dtype}[{','.join(str(d) for d in tensor.dims)}]"
