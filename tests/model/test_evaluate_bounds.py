"""The fold evaluator estimates an op's output before it runs it: small constants
that broadcast or multiply into a huge one are never computed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.model.evaluate import MAX_EVAL_BYTES, inputs_evaluable, output_elements


@pytest.mark.parametrize(
    ("op", "shapes", "elements"),
    [
        ("Add", [(30000, 1), (1, 30000)], 30000 * 30000),
        ("Where", [(1, 1, 8), (5, 1, 1), (1, 7, 1)], 5 * 7 * 8),
        ("Mul", [(4,), (3, 1)], 12),
        ("MatMul", [(20000, 2), (2, 20000)], 20000 * 20000),
        ("MatMul", [(6, 1, 2, 3), (5, 3, 4)], 6 * 5 * 2 * 4),
    ],
)
def test_output_size_is_known_before_running(
    op: str, shapes: list[tuple[int, ...]], elements: int
) -> None:
    inputs: list[np.ndarray | None] = [np.zeros(shape, np.float32) for shape in shapes]
    assert output_elements(op, inputs) == elements
    node = helper.make_node(op, [f"i{k}" for k in range(len(shapes))], ["o"])
    assert inputs_evaluable(node, inputs) is (elements * 8 <= MAX_EVAL_BYTES)


def test_a_broadcast_of_two_small_constants_is_not_folded(tmp_path: Path) -> None:
    """A 240 kB file whose Add would make a 3.6 GB constant: the lint and the fix
    stay far below it (peak RSS of the child process)."""
    rng = np.random.default_rng(0)
    a = numpy_helper.from_array(rng.standard_normal((30000, 1)).astype(np.float32), "a")
    b = numpy_helper.from_array(rng.standard_normal((1, 30000)).astype(np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["c"]), helper.make_node("Add", ["x", "c"], ["y"])],
        "broadcast",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [a, b],
    )
    path = tmp_path / "broadcast.onnx"
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    code = (
        "import resource, sys\n"
        "from onnxslim_lint.cli import main\n"
        "code = main(['--fix', '--no-verify', sys.argv[1]])\n"
        "print(code, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    exit_code, peak_kb = result.stdout.split()[-2:]
    assert exit_code in ("0", "1")
    assert int(peak_kb) < 1_000_000, result.stdout  # the constant alone would be 3.6 GB
