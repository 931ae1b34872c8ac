"""OSL408 gemm-transpose: a Transpose feeding a Gemm becomes transA/transB."""

from __future__ import annotations

from functools import partial

import fusion_models
import graphs
import numpy as np
import onnx
import pytest
from graphs import parse
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.rules.gemm_transpose import GemmTranspose

check = partial(graphs.check, GemmTranspose)
fixed_ok = partial(fusion_models.fixed_ok, GemmTranspose)  # numeric: within tolerance


def gemm_attrs(model: onnx.ModelProto) -> dict[str, object]:
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    return {a.name: helper.get_attribute_value(a) for a in gemm.attribute}


def test_a_transposed_a_becomes_trans_a() -> None:
    model = parse(
        """
        g (float[4,3] a, float[4,5] b, float[5] c) => (float[3,5] y) {
            [t] at = Transpose <perm = [1, 0]> (a)
            [gemm] y = Gemm <alpha = 0.5, beta = 2.0> (at, b, c)
        }
        """
    )
    (finding,) = check(model)
    assert finding.code == "OSL408" and finding.name == "gemm-transpose"
    assert finding.nodes == finding.count == 1
    assert [(loc.name, loc.detail) for loc in finding.locations] == [("t", "into gemm transA")]
    fixed = fixed_ok(model)
    assert [n.op_type for n in fixed.graph.node] == ["Gemm"]
    assert fixed.graph.node[0].input[0] == "a"
    assert gemm_attrs(fixed) == {"alpha": 0.5, "beta": 2.0, "transA": 1}


def test_an_already_transposed_b_flips_back() -> None:
    model = parse(
        """
        g (float[3,4] a, float[4,5] b) => (float[3,5] y) {
            [t] bt = Transpose (b)
            [gemm] y = Gemm <transB = 1> (a, bt)
        }
        """
    )
    fixed = fixed_ok(model)
    assert gemm_attrs(fixed)["transB"] == 0
    assert [n.op_type for n in fixed.graph.node] == ["Gemm"]


def test_one_transpose_read_as_both_inputs() -> None:
    model = parse(
        """
        g (float[4,4] a) => (float[4,4] y) {
            [t] at = Transpose <perm = [1, 0]> (a)
            [gemm] y = Gemm (at, at)
        }
        """
    )
    fixed = fixed_ok(model)
    assert gemm_attrs(fixed) == {"transA": 1, "transB": 1}
    assert list(fixed.graph.node[0].input) == ["a", "a"]


@pytest.mark.parametrize(
    "body",
    [
        # the Transpose feeds something else too
        "[t] at = Transpose <perm = [1, 0]> (a)\n[gemm] y = Gemm (at, b)\n[n] z = Neg (at)",
        # it is the bias
        "[t] ct = Transpose <perm = [1, 0]> (c)\n[gemm] y = Gemm (a2, b, ct)\n z = Neg (a2)",
    ],
)
def test_left_alone(body: str) -> None:
    model = parse(
        f"""
        g (float[4,3] a, float[4,5] b, float[5,3] c, float[3,4] a2)
            => (float[3,5] y, float[3,4] z) {{
            {body}
        }}
        """
    )
    assert check(model) == []
    assert GemmTranspose().run(model) == model


def test_transpose_that_is_a_graph_output_is_left_alone() -> None:
    model = parse(
        """
        g (float[4,3] a, float[4,5] b) => (float[3,5] y, float[3,4] at) {
            at = Transpose <perm = [1, 0]> (a)
            y = Gemm (at, b)
        }
        """
    )
    assert check(model) == []
    assert GemmTranspose().run(model) == model


@pytest.mark.parametrize("shape", [(128, 768, 768), (7, 64, 33), (1, 384, 1536)])
def test_realistic_sizes_verify(shape: tuple[int, int, int]) -> None:
    # (1, 384, 1536): a one-row product with both inputs transposed takes another
    # kernel in onnxruntime 1.32 (last-bit differences): why the rule is numeric.
    m, k, n = shape
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((n, k)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(n).astype(np.float32), "bias")
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], name="t", perm=[1, 0]),
        helper.make_node("Transpose", ["w"], ["wt"], name="tw", perm=[1, 0]),
        helper.make_node("Gemm", ["xt", "wt", "bias"], ["y"], name="gemm"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [k, m])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])],
        [weight, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    fixed = fixed_ok(model)
    assert [node.op_type for node in fixed.graph.node] == ["Gemm"]
    assert gemm_attrs(fixed) == {"transA": 1, "transB": 1}
