"""model/tensors: sizes computed from dims, held against protobuf's own ``ByteSize()``."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.model.tensors import (
    data_nbytes,
    element_bits,
    field_nbytes,
    initializer_size,
    node_nbytes,
    node_nbytes_at_least,
    raw_numpy_dtype,
    tensor_detail,
    tensor_nbytes,
    tensor_nbytes_at_least,
    varint_size,
)

#: Every fixed-size data type this onnx knows, by number.
FIXED_TYPES = sorted(
    value.number
    for value in TensorProto.DataType.DESCRIPTOR.values
    if element_bits(value.number) is not None
)
SHAPES = [(), (0,), (3, 5), (130,), (2, 300, 7)]


def _array(data_type: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape, dtype=helper.tensor_dtype_to_np_dtype(data_type))


def _name(data_type: int) -> str:
    return TensorProto.DataType.Name(data_type)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("data_type", FIXED_TYPES, ids=_name)
def test_initializer_size_is_byte_size_for_every_type(data_type: int, shape: tuple) -> None:
    value = _array(data_type, shape)
    for name in ("w", "", "é" * 70):
        assert initializer_size(name, value) == numpy_helper.from_array(value, name).ByteSize()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("data_type", FIXED_TYPES, ids=_name)
def test_data_nbytes_is_the_raw_data_length(data_type: int, shape: tuple) -> None:
    tensor = numpy_helper.from_array(_array(data_type, shape), "w")
    assert data_nbytes(tensor) == len(tensor.raw_data)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("data_type", FIXED_TYPES, ids=_name)
def test_raw_data_estimates_bracket_byte_size(data_type: int, shape: tuple) -> None:
    tensor = numpy_helper.from_array(_array(data_type, shape), "weight")
    exact = tensor.ByteSize()
    assert tensor_nbytes_at_least(tensor) <= exact
    assert abs(tensor_nbytes(tensor) - exact) <= 8


@pytest.mark.parametrize(
    ("data_type", "values"),
    [
        (TensorProto.FLOAT, [1.5, -2.0, 3.25]),
        (TensorProto.DOUBLE, [1.5, -2.0]),
        (TensorProto.INT32, [1, -1, 300]),
        (TensorProto.INT64, [1, -1, 2**40]),
        (TensorProto.UINT64, [1, 2**63]),
        (TensorProto.FLOAT16, [1.0, 2.0]),
        (TensorProto.BOOL, [True, False]),
    ],
    ids=lambda v: _name(v) if isinstance(v, int) else "",
)
def test_typed_fields_lower_bound(data_type: int, values: list) -> None:
    tensor = helper.make_tensor("t", data_type, [len(values)], values)
    assert not tensor.HasField("raw_data")
    assert tensor_nbytes_at_least(tensor) <= tensor.ByteSize()


def test_strings_and_unknown_types_are_measured_exactly() -> None:
    strings = helper.make_tensor("s", TensorProto.STRING, [3], [b"a", b"bc", b"\xff" * 200])
    undefined = TensorProto(name="u", dims=[4], data_type=TensorProto.UNDEFINED)
    for tensor in (strings, undefined):
        assert data_nbytes(tensor) is None
        assert tensor_nbytes(tensor) == tensor.ByteSize()
        assert tensor_nbytes_at_least(tensor) == tensor.ByteSize()


def test_an_external_tensor_costs_its_data_too() -> None:
    inline = numpy_helper.from_array(np.zeros((64, 32), np.float32), "w")
    external = TensorProto()
    external.CopyFrom(inline)
    external.ClearField("raw_data")
    external.data_location = TensorProto.EXTERNAL
    entry = external.external_data.add()
    entry.key, entry.value = "location", "model.onnx.data"
    assert data_nbytes(external) == len(inline.raw_data)
    assert tensor_nbytes(external) == tensor_nbytes(inline)
    assert external.ByteSize() < len(inline.raw_data)  # the proto itself is a header


def test_a_negative_dim_has_no_data_size() -> None:
    tensor = TensorProto(name="bad", dims=[-1, 4], data_type=TensorProto.FLOAT)
    assert data_nbytes(tensor) is None
    assert tensor_nbytes(tensor) == tensor.ByteSize()


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**14 - 1, 2**14, 2**35, 2**63 - 1])
def test_varint_size_is_protobufs(value: int) -> None:
    # an unpacked int64 dim is one tag byte and the varint
    assert varint_size(value) == TensorProto(dims=[value]).ByteSize() - 1


@pytest.mark.parametrize("length", [0, 5, 127, 128, 20000])
def test_field_nbytes_is_a_length_delimited_field(length: int) -> None:
    number = TensorProto.DESCRIPTOR.fields_by_name["raw_data"].number
    assert field_nbytes(number, length) == TensorProto(raw_data=b"x" * length).ByteSize()
    graph = onnx.GraphProto(doc_string="d" * length)
    doc_field = onnx.GraphProto.DESCRIPTOR.fields_by_name["doc_string"].number
    assert field_nbytes(doc_field, length) == graph.ByteSize()


def test_node_sizes() -> None:
    relu = helper.make_node("Relu", ["x"], ["y"], name="r")
    assert node_nbytes(relu) == relu.ByteSize()
    assert node_nbytes_at_least(relu) == relu.ByteSize()
    value = numpy_helper.from_array(np.ones((16, 16), np.float32), "c")
    constant = helper.make_node("Constant", [], ["c"], name="const", value=value)
    assert node_nbytes_at_least(constant) <= constant.ByteSize()
    assert abs(node_nbytes(constant) - constant.ByteSize()) <= 32


def test_raw_numpy_dtype_views_little_endian_bytes() -> None:
    tensor = numpy_helper.from_array(np.arange(6, dtype=np.int32).reshape(2, 3), "w")
    dtype = raw_numpy_dtype(tensor.data_type)
    assert dtype is not None
    assert np.frombuffer(tensor.raw_data, dtype=dtype).tolist() == list(range(6))
    assert raw_numpy_dtype(TensorProto.STRING) is None
    assert raw_numpy_dtype(TensorProto.INT4) is None  # packed: no in-place view


def test_tensor_detail() -> None:
    tensor = numpy_helper.from_array(np.zeros((64, 256), np.float32), "w")
    assert tensor_detail(tensor) == "float32[64,256]"
    assert tensor_detail(TensorProto(data_type=TensorProto.UNDEFINED)) == "undefined[]"
