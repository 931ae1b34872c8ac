"""Models that random inputs cannot run, or that onnxruntime cannot run without
help, for the verification tests. Each carries an unused initializer so that
``--fix`` has something to do (OSL101)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(7)


def _dead() -> onnx.TensorProto:
    return numpy_helper.from_array(RNG.standard_normal(256).astype(np.float32), "legacy.bias")


def _model(
    graph: onnx.GraphProto, *, opset: int = 17, extra: tuple[onnx.OperatorSetIdProto, ...] = ()
) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), *extra])
    model.ir_version = 8
    return model


def sample_rate_model(*, computed: bool = False) -> onnx.ModelProto:
    """``y = x * w`` when ``sr == 16000``; any other rate takes a branch that cannot
    run (a Reshape to [3, 5]), as a voice-activity model's unsupported rates do.
    With ``computed`` the 16000 is ``8000 + 8000``, not a constant to find."""
    w = numpy_helper.from_array(RNG.standard_normal((1, 4)).astype(np.float32) + 0.5, "w")
    then_graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "w"], ["then_y"], name="scale")],
        "then",
        [],
        [helper.make_tensor_value_info("then_y", TensorProto.FLOAT, None)],
    )
    bad_shape = numpy_helper.from_array(np.array([3, 5], dtype=np.int64), "bad_shape")
    else_graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "bad_shape"], ["else_y"], name="unsupported")],
        "else",
        [],
        [helper.make_tensor_value_info("else_y", TensorProto.FLOAT, None)],
        [bad_shape],
    )
    if computed:
        half = numpy_helper.from_array(np.array(8000, dtype=np.int64), "half_rate")
        rate = [helper.make_node("Add", ["half_rate", "half_rate"], ["rate"], name="rate")]
        constants = [half]
    else:
        constants = [numpy_helper.from_array(np.array(16000, dtype=np.int64), "rate")]
        rate = []
    nodes = [
        *rate,
        helper.make_node("Equal", ["sr", "rate"], ["is_16k"], name="check_rate"),
        helper.make_node(
            "If", ["is_16k"], ["y"], name="by_rate", then_branch=then_graph, else_branch=else_graph
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "vad",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
            helper.make_tensor_value_info("sr", TensorProto.INT64, []),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [w, *constants, _dead()],
    )
    return _model(graph)


def detector_model() -> onnx.ModelProto:
    """A YOLO-style neck: a stride-2 Conv, a MaxPool, a Resize back up and a Concat
    with the Conv's output, on dynamic height and width; the default dims (2) are
    too small for it to run."""
    w = numpy_helper.from_array(RNG.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.2, "w")
    b = numpy_helper.from_array(RNG.standard_normal(4).astype(np.float32) * 0.1, "b")
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], dtype=np.float32), "scales")
    nodes = [
        helper.make_node("Conv", ["images", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Resize", ["p", "", "scales"], ["r"], mode="nearest"),
        helper.make_node("Concat", ["c", "r"], ["features"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "neck",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "h", "w"])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 8, "h2", "w2"])],
        [w, b, scales, _dead()],
        value_info=[
            helper.make_tensor_value_info("c", TensorProto.FLOAT, ["batch", 4, "h2", "w2"])
        ],
    )
    return _model(graph)


def custom_op_model(domain: str = "ai.onnx.contrib", op: str = "Inverse") -> onnx.ModelProto:
    """``y = inverse(x) + b`` with the inverse a custom op (onnxruntime-extensions'
    ``ai.onnx.contrib::Inverse`` by default)."""
    b = numpy_helper.from_array(RNG.standard_normal((3, 3)).astype(np.float32), "b")
    nodes = [
        helper.make_node(op, ["x"], ["inv"], domain=domain, name="custom"),
        helper.make_node("Add", ["inv", "b"], ["y"], name="add"),
    ]
    graph = helper.make_graph(
        nodes,
        "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 3])],
        [b, _dead()],
    )
    return _model(graph, extra=(helper.make_opsetid(domain, 1),))


def endless_loop_model() -> onnx.ModelProto:
    """A Loop with a trip count of 10**15 and a condition that stays true: it runs
    until it is stopped."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["acc_in", "one"], ["acc_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1]),
        ],
        [
            helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1]),
        ],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trips", "keep_going", "x"], ["y"], body=body)],
        "endless",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        [
            numpy_helper.from_array(np.array(10**15, dtype=np.int64), "trips"),
            numpy_helper.from_array(np.array(True), "keep_going"),
            numpy_helper.from_array(np.array([0.25], dtype=np.float32), "one"),
            _dead(),
        ],
    )
    return _model(graph)


def huge_output_model() -> onnx.ModelProto:
    """``y = expand(x, [16384, 16384])``: a 1 GiB output from a 4-byte input."""
    shape = numpy_helper.from_array(np.array([16384, 16384], dtype=np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("Expand", ["x", "shape"], ["y"])],
        "huge",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [16384, 16384])],
        [shape, _dead()],
    )
    return _model(graph)


def wrong_output_shape_model() -> onnx.ModelProto:
    """``y = relu(x) + b`` whose graph output claims [5, 5] for a [2, 3] result: the
    full checker rejects it, onnxruntime runs it (exporters have shipped such)."""
    b = numpy_helper.from_array(RNG.standard_normal((2, 3)).astype(np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "b"], ["y"])],
        "wrong_output_shape",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 5])],
        [b, _dead()],
    )
    return _model(graph)
