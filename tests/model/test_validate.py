"""Tests for onnxslim_lint.model.validate: one case per thing a parsed model can get wrong."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from onnxslim_lint.errors import ModelReadError
from onnxslim_lint.model.shapes import infer_shapes
from onnxslim_lint.model.validate import validate_model
from onnxslim_lint.model.wire import initializer_views

ROOT = Path(__file__).resolve().parents[2]
EXPORTED = sorted((ROOT / "tests" / "models" / "exported").glob("*.onnx"))


def model_of(
    nodes: list[onnx.NodeProto] | None = None,
    initializers: list[TensorProto] | None = None,
    *,
    inputs: list[onnx.ValueInfoProto] | None = None,
    opset: int = 17,
) -> onnx.ModelProto:
    """Y = Identity(X) plus whatever nodes and initializers a case needs."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["Y"], name="id"), *(nodes or [])],
        "main",
        inputs or [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2])],
        initializers or [],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def raw(name: str, data_type: int, dims: list[int], nbytes: int) -> TensorProto:
    tensor = TensorProto(name=name, data_type=data_type, dims=dims)
    tensor.raw_data = b"\0" * nbytes
    return tensor


def failure(model: onnx.ModelProto, views: dict[str, memoryview] | None = None) -> ModelReadError:
    with pytest.raises(ModelReadError) as info:
        validate_model(model, "m.onnx", views)
    return info.value


def reason(model: onnx.ModelProto, code: str) -> str:
    error = failure(model)
    assert error.code == code, error
    assert "\n" not in error.reason
    return error.reason


# --------------------------------------------------------------------------- tensor data


def test_raw_data_shorter_than_the_shape() -> None:
    model = model_of(initializers=[raw("w", TensorProto.FLOAT, [3, 4], 10)])
    error = failure(model)
    assert error.code == "OSL011"
    assert error.reason == "initializer 'w': raw_data holds 10 bytes, float32[3,4] needs 48"
    assert str(error) == f"m.onnx: {error.reason}"


def test_raw_data_not_a_multiple_of_the_element_size() -> None:
    model = model_of(initializers=[raw("w", TensorProto.INT64, [2], 15)])
    assert reason(model, "OSL011") == "initializer 'w': raw_data holds 15 bytes, int64[2] needs 16"


@pytest.mark.parametrize(
    ("data_type", "count", "nbytes"),
    [
        (TensorProto.INT4, 5, 3),
        (TensorProto.UINT4, 4, 2),
        (TensorProto.FLOAT4E2M1, 1, 1),
        (TensorProto.INT2, 5, 2),
        (TensorProto.FLOAT6E2M3, 5, 4),
        (TensorProto.BOOL, 3, 3),
        (TensorProto.COMPLEX128, 2, 32),
    ],
)
def test_sub_byte_and_wide_types_are_measured_packed(
    data_type: int, count: int, nbytes: int
) -> None:
    validate_model(model_of(initializers=[raw("w", data_type, [count], nbytes)]), "m.onnx")
    too_long = model_of(initializers=[raw("w", data_type, [count], nbytes + 1)])
    assert f"needs {nbytes}" in reason(too_long, "OSL011")


def test_float_data_shorter_than_the_shape() -> None:
    tensor = helper.make_tensor("w", TensorProto.FLOAT, [5], [1.0, 2.0, 3.0, 4.0, 5.0])
    del tensor.float_data[3:]
    assert (
        reason(model_of(initializers=[tensor]), "OSL011")
        == "initializer 'w': float_data holds 3 values, float32[5] needs 5"
    )


def test_int32_data_counts_packed_and_complex_values() -> None:
    int4 = helper.make_tensor("q", TensorProto.INT4, [5], [1, 2, 3, 4, 5])
    assert len(int4.int32_data) == 3  # two 4-bit values per int32
    complex64 = helper.make_tensor("c", TensorProto.COMPLEX64, [2], [1 + 2j, 3 + 4j])
    validate_model(model_of(initializers=[int4, complex64]), "m.onnx")
    del complex64.float_data[-1]
    assert "float_data holds 3 values, complex64[2] needs 4" in reason(
        model_of(initializers=[complex64]), "OSL011"
    )


def test_typed_field_of_another_data_type() -> None:
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2], int64_data=[1, 2])
    assert (
        reason(model_of(initializers=[tensor]), "OSL011")
        == "initializer 'w': holds int64_data but its data type is FLOAT"
    )


def test_data_in_two_fields() -> None:
    tensor = raw("w", TensorProto.FLOAT, [2], 8)
    tensor.float_data.extend([1.0, 2.0])
    assert "both raw_data and float_data" in reason(model_of(initializers=[tensor]), "OSL011")


def test_no_data_for_a_non_empty_shape() -> None:
    empty = TensorProto(name="e", data_type=TensorProto.FLOAT, dims=[0, 3])
    validate_model(model_of(initializers=[empty]), "m.onnx")
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[3])
    assert "holds no data, float32[3] needs 3 elements" in reason(
        model_of(initializers=[tensor]), "OSL011"
    )


def test_string_tensors() -> None:
    strings = helper.make_tensor("s", TensorProto.STRING, [2], [b"a", b"b"])
    validate_model(model_of(initializers=[strings]), "m.onnx")
    del strings.string_data[1]
    assert "string_data holds 1 values" in reason(model_of(initializers=[strings]), "OSL011")
    as_raw = raw("r", TensorProto.STRING, [1], 1)
    assert "string tensor with raw_data" in reason(model_of(initializers=[as_raw]), "OSL011")


def test_negative_dim() -> None:
    tensor = raw("w", TensorProto.FLOAT, [2, -3], 0)
    assert reason(model_of(initializers=[tensor]), "OSL011") == (
        "initializer 'w': dimension 1 is -3, negative"
    )


def test_dims_beyond_any_tensor_are_caught_in_integers() -> None:
    tensor = raw("w", TensorProto.FLOAT, [2**40, 2**40, 2**40], 0)
    assert "are beyond any tensor's size" in reason(model_of(initializers=[tensor]), "OSL011")
    # a zero dim makes an empty tensor, however large the others
    empty = raw("e", TensorProto.FLOAT, [0, 2**40], 0)
    validate_model(model_of(initializers=[empty]), "m.onnx")


def test_a_dim_list_in_a_message_is_shortened() -> None:
    tensor = raw("w", TensorProto.UINT8, [1] * 50, 2)
    assert "uint8[1,1,1,1,1,1,1,1,...] needs 1" in reason(model_of(initializers=[tensor]), "OSL011")


def test_segment() -> None:
    tensor = raw("w", TensorProto.FLOAT, [1], 4)
    tensor.segment.begin = 0
    assert "segment" in reason(model_of(initializers=[tensor]), "OSL011")


def test_external_length_that_disagrees_with_the_shape() -> None:
    tensor = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("length", "12")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    assert reason(model_of(initializers=[tensor]), "OSL009") == (
        "initializer 'w': has external-data length 12 but its type and shape (float32[4])"
        " need 16 bytes"
    )
    tensor.external_data[1].value = "16"
    validate_model(model_of(initializers=[tensor]), "m.onnx")


def test_sparse_initializer_indices_must_fit_the_values() -> None:
    values = helper.make_tensor("sv", TensorProto.FLOAT, [2], [1.0, 2.0])
    indices = helper.make_tensor("si", TensorProto.INT64, [3], [0, 1, 2])
    sparse = helper.make_sparse_tensor(values, indices, [4])
    model = model_of()
    model.graph.sparse_initializer.append(sparse)
    assert "sparse initializer 'sv': indices have dims [3] for 2 values" in reason(model, "OSL011")


# --------------------------------------------------------------------------- data types


def test_unknown_data_type_is_an_error_not_an_enum_exception() -> None:
    tensor = raw("w", 100, [1], 4)
    assert reason(model_of(initializers=[tensor]), "OSL012") == (
        "initializer 'w': data type 100 is not an ONNX data type"
    )
    undefined = raw("u", TensorProto.UNDEFINED, [1], 4)
    assert "data type 0" in reason(model_of(initializers=[undefined]), "OSL012")


def test_unknown_elem_type_of_a_graph_input() -> None:
    inputs = [helper.make_tensor_value_info("X", 100, [2])]
    assert reason(model_of(inputs=inputs), "OSL012") == (
        "input 'X': elem_type 100 is not an ONNX data type"
    )


def test_negative_dim_of_a_graph_input() -> None:
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, -2])]
    assert "input 'X': dimension is -2, negative" in reason(model_of(inputs=inputs), "OSL011")


def test_minus_one_dim_is_paddles_dynamic_dim() -> None:
    # paddle2onnx writes -1 for a dynamic dim (PaddleOCR's classifier ships so).
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, [-1, 2])]
    model = model_of(inputs=inputs)
    validate_model(model, "m.onnx", None)
    assert infer_shapes(model)["X"] == (TensorProto.FLOAT, (None, 2))


# --------------------------------------------------------------------------- attributes


def test_attribute_of_the_wrong_type_for_its_operator() -> None:
    node = helper.make_node("Transpose", ["X"], ["T"], name="t")
    node.attribute.append(helper.make_attribute("perm", 1.5))
    assert reason(model_of([node]), "OSL013") == (
        "attribute 'perm' of node 't' (Transpose): is FLOAT, Transpose needs INTS"
    )


def test_constant_value_must_be_a_tensor() -> None:
    node = helper.make_node("Constant", [], ["C"], name="c", value=3)
    assert "is INT, Constant needs TENSOR" in reason(model_of([node]), "OSL013")


def test_required_subgraph_missing() -> None:
    branch = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["B"])],
        "then",
        [],
        [helper.make_tensor_value_info("B", TensorProto.FLOAT, [2])],
    )
    node = helper.make_node("If", ["cond"], ["Z"], name="if", then_branch=branch)
    assert reason(model_of([node]), "OSL013") == (
        "node 'if' (If): has no attribute 'else_branch', which If requires"
    )


def test_attribute_value_stored_in_another_field() -> None:
    node = helper.make_node("Transpose", ["X"], ["T"], name="t", perm=[1, 0])
    node.attribute[0].f = 2.0
    assert "is INTS but holds f" in reason(model_of([node]), "OSL013")


def test_attribute_without_a_type() -> None:
    node = helper.make_node("Custom", ["X"], ["T"], name="c", domain="my.ops")
    node.attribute.add(name="alpha", f=1.0)
    assert reason(model_of([node]), "OSL013") == (
        "attribute 'alpha' of node 'c' (Custom): has no type (or one ONNX does not define)"
    )


def test_graph_attribute_without_a_graph() -> None:
    node = helper.make_node("Custom", ["X"], ["T"], name="c", domain="my.ops")
    node.attribute.add(name="body", type=AttributeProto.GRAPH)
    assert "is GRAPH but holds no value" in reason(model_of([node]), "OSL013")


def test_function_reference_attributes_are_left_to_the_caller() -> None:
    inner = helper.make_node("Transpose", ["x"], ["y"], name="t")
    inner.attribute.add(name="perm", ref_attr_name="order", type=AttributeProto.INTS)
    function = helper.make_function(
        "my.fn", "F", ["x"], ["y"], [inner], [helper.make_opsetid("", 17)], ["order"]
    )
    model = model_of([helper.make_node("F", ["X"], ["Z"], domain="my.fn", order=[0])])
    model.functions.append(function)
    model.opset_import.append(helper.make_opsetid("my.fn", 1))
    validate_model(model, "m.onnx")


# --------------------------------------------------------------------------- text


def test_invalid_utf8_name_parses_as_bytes_and_is_reported() -> None:
    model = model_of()
    data = model.SerializeToString().replace(b"\x12\x01Y", b"\x12\x01\xff", 1)
    parsed = onnx.ModelProto.FromString(data)
    assert parsed.graph.node[0].output[0] == b"\xff"  # what upb hands out
    assert reason(parsed, "OSL014") == "node 'id' (Identity): output '\\xff' is not valid UTF-8"


# --------------------------------------------------------------------------- where


def test_a_bad_tensor_deep_in_subgraphs_and_functions_is_named_by_its_path() -> None:
    bad = raw("", TensorProto.FLOAT, [2], 3)
    constant = helper.make_node("Constant", [], ["K"], name="k", value=bad)
    body = helper.make_graph(
        [constant],
        "body",
        [],
        [helper.make_tensor_value_info("K", TensorProto.FLOAT, [2])],
    )
    loop = helper.make_node("Loop", ["", ""], ["Z"], name="loop", body=body)
    assert reason(model_of([loop]), "OSL011") == (
        "attribute 'value' of node 'k' (Constant) of graph 'body' of attribute 'body' "
        "of node 'loop' (Loop): raw_data holds 3 bytes, float32[2] needs 8"
    )
    function = helper.make_function(
        "my.fn", "F", ["x"], ["y"], [constant], [helper.make_opsetid("", 17)]
    )
    model = model_of()
    model.functions.append(function)
    assert reason(model, "OSL011").startswith(
        "attribute 'value' of node 'k' (Constant) of function 'F':"
    )


def test_training_info_graphs_are_checked() -> None:
    model = model_of()
    info = model.training_info.add()
    info.initialization.name = "init"
    info.initialization.initializer.append(raw("w", TensorProto.FLOAT, [1], 2))
    assert reason(model, "OSL011").startswith("initializer 'w' of graph 'init' of training_info")


def test_opset_version_out_of_range() -> None:
    model = model_of()
    model.opset_import[0].version = 2**40
    assert reason(model, "OSL002") == (
        f"is not a valid ONNX model: it imports ai.onnx version {2**40}"
    )


# --------------------------------------------------------------------------- cost


def test_main_graph_initializers_are_measured_through_the_file_views() -> None:
    weight = numpy_helper.from_array(np.zeros((4, 8), np.float32), "W")
    model = model_of(initializers=[weight])
    views = initializer_views(model.SerializeToString())
    assert len(views["W"]) == 128
    validate_model(model, "m.onnx", views)
    # a view is what is measured: one of the wrong length is caught without reading raw_data
    assert "raw_data holds 4 bytes" in failure(model, {"W": memoryview(b"1234")}).reason


@pytest.mark.parametrize("path", EXPORTED, ids=lambda p: p.name)
def test_exported_models_pass_untouched(path: Path) -> None:
    data = path.read_bytes()
    model = onnx.ModelProto.FromString(data)
    validate_model(model, path, initializer_views(data))
    assert model.SerializeToString() == onnx.ModelProto.FromString(data).SerializeToString()


def test_the_messy_example_passes() -> None:
    data = (ROOT / "examples" / "messy.onnx").read_bytes()
    validate_model(onnx.ModelProto.FromString(data), "messy.onnx", initializer_views(data))


# --------------------------------------------------------------------------- wiring


def test_the_loader_validates(tmp_path: Path) -> None:
    from onnxslim_lint.model.load import load_model, load_model_bytes

    model = model_of(initializers=[raw("w", TensorProto.FLOAT, [3, 4], 10)])
    path = tmp_path / "bad.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelReadError) as info:
        load_model(path)
    assert info.value.code == "OSL011" and "raw_data holds 10 bytes" in info.value.reason
    with pytest.raises(ModelReadError) as info:
        load_model_bytes(model.SerializeToString())
    assert info.value.code == "OSL011"


def test_the_check_reports_one_line_not_an_internal_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from onnxslim_lint.cli import main

    node = helper.make_node("Transpose", ["X"], ["T"], name="t")
    node.attribute.append(helper.make_attribute("perm", 1.5))
    (tmp_path / "bad.onnx").write_bytes(model_of([node]).SerializeToString())
    assert main(["check", "--isolated", str(tmp_path / "bad.onnx")]) == 2
    out = capsys.readouterr().out
    assert "OSL013" in out and "is FLOAT, Transpose needs INTS" in out
    assert "OSL010" not in out
