"""The seed models the fuzzer mutates: small graphs that reach every rule family
(dead weight, duplicates, no-ops, folds, fusions, subgraphs, functions) and two
real exports from the repository."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.fixing import verify_models as verification_models

REPO = Path(__file__).resolve().parents[2]


def _folds_and_no_ops() -> onnx.ModelProto:
    rng = np.random.default_rng(2)
    w = numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), "w")
    w_copy = numpy_helper.from_array(numpy_helper.to_array(w).copy(), "w_copy")
    shape = numpy_helper.from_array(np.array([-1, 8], np.int64), "shape")
    nodes = [
        helper.make_node("Identity", ["x"], ["xi"]),
        helper.make_node("Transpose", ["xi"], ["t1"], perm=[1, 0]),
        helper.make_node("Transpose", ["t1"], ["t2"], perm=[1, 0]),
        helper.make_node("MatMul", ["t2", "w"], ["a"]),
        helper.make_node("MatMul", ["t2", "w_copy"], ["b"]),
        helper.make_node("Add", ["a", "b"], ["c"]),
        helper.make_node("Shape", ["c"], ["s"]),
        helper.make_node("Reshape", ["c", "s"], ["d"]),
        helper.make_node("Reshape", ["d", "shape"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "folds",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
        [w, w_copy, shape],
        value_info=[helper.make_tensor_value_info("c", TensorProto.FLOAT, [4, 8])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def seeds() -> dict[str, bytes]:
    out = {
        "folds": _folds_and_no_ops().SerializeToString(),
        "sample_rate_if": verification_models.sample_rate_model().SerializeToString(),
        "detector": verification_models.detector_model().SerializeToString(),
        "endless_loop": verification_models.endless_loop_model().SerializeToString(),
        "custom_op": verification_models.custom_op_model("acme.ops", "Scale").SerializeToString(),
        "wrong_output": verification_models.wrong_output_shape_model().SerializeToString(),
        "messy": (REPO / "examples" / "messy.onnx").read_bytes(),
    }
    for name in ("vit_legacy", "whisper_encoder_legacy"):
        out[name] = (REPO / "tests" / "models" / "exported" / f"{name}.onnx").read_bytes()
    return out
