"""Small models for the CI-facing tests (pre-commit, the Action, formats, budgets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(
    *, dead_floats: int = 0, dead_name: str = "legacy.weight", seed: int = 0
) -> onnx.ModelProto:
    """``y = x @ w``; with ``dead_floats``, an unused float32 initializer of that many
    elements (``4 * dead_floats`` bytes of dead weight) and a no-op Identity."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="matmul")]
    inits = [w]
    if dead_floats:
        dead = rng.standard_normal(dead_floats).astype(np.float32)
        inits.append(numpy_helper.from_array(dead, dead_name))
        nodes = [
            helper.make_node("Identity", ["x"], ["x_id"], name="input_identity"),
            helper.make_node("MatMul", ["x_id", "w"], ["y"], name="matmul"),
        ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write(path: Path, *, external: bool = False, **kwargs) -> Path:
    """Write ``build(**kwargs)`` to ``path`` (weights in ``<name>.data`` if ``external``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = build(**kwargs)
    if external:
        onnx.save_model(
            model,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=f"{path.name}.data",
            size_threshold=0,
        )
    else:
        onnx.save_model(model, str(path))
    return path


def lfs_pointer(path: Path, size: int) -> Path:
    """A Git LFS pointer file standing in for a ``size``-byte object."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "version https://git-lfs.github.com/spec/v1\noid sha256:" + "ab" * 32 + f"\nsize {size}\n"
    )
    return path


def matmul_chain(weights: list[np.ndarray], unused_shape: tuple[int, ...]) -> onnx.ModelProto:
    """The big-model shape in miniature: ``x`` through one MatMul per weight, a large
    unused weight of another shape, and a small Reshape shape constant at the end."""
    side = weights[0].shape[0]
    nodes, initializers, value = [], [], "x"
    for i, weight in enumerate(weights):
        initializers.append(numpy_helper.from_array(weight, f"w{i}"))
        nodes.append(helper.make_node("MatMul", [value, f"w{i}"], [f"h{i}"]))
        value = f"h{i}"
    initializers.append(numpy_helper.from_array(np.ones(unused_shape, np.float32), "unused"))
    initializers.append(numpy_helper.from_array(np.array([1, -1], np.int64), "shape"))
    nodes.append(helper.make_node("Reshape", [value, "shape"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, side])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, side])],
        initializers,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
