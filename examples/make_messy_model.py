#!/usr/bin/env python3
"""Build ``examples/messy.onnx``: a tiny, working MLP that carries the dead weight exporters
leave behind, for the README's first ``onnxslim-lint`` run.

Built with ``onnx.helper`` only (no torch); weights are seeded numpy.  Run:

    python examples/make_messy_model.py          # writes examples/messy.onnx

What it computes (input ``x`` float32 [batch, 16]):

    h1 = relu(x @ fc1.weight + fc1.bias)              [batch, 32]
    h2 = relu(h1 @ block.weight + block.bias)         [batch, 32]
    h3 = relu(h2 @ block.weight + block.bias)         the same block applied again (tied)
    logits       = h3 @ head.weight + head.bias        [batch, 8]
    hidden_heads = h3 split into 4 heads of 8, as [batch, 8, 4]

What it carries (each is semantics-free and removable):

* 3 unused initializers: ``legacy_proj.weight`` (64x256 float32, 64 KiB),
  ``legacy_proj.bias`` (256 float32), ``num_batches_tracked`` (int64 scalar).
* 2 byte-identical copies: the second application of the tied block reads its weight from
  ``block_again.weight`` (an initializer equal to ``block.weight``) and its bias from a
  Constant node whose value equals the ``block.bias`` initializer.
* A dead node chain (Constant -> Mul -> Sigmoid -> ReduceMean) off ``h1`` whose output
  reaches no graph output.
* 2 Identity nodes: one right after the input, one feeding the graph output ``logits``
  (so the output name must survive its removal).
* A Dropout (inference: no ratio, no training_mode) whose mask output nothing reads.
* A Transpose pair that cancels (perm [1, 0] twice) on h1 before the block.
* Two consecutive Transposes on a 3-D tensor that compose into one:
  perm [1, 0, 2] then [1, 2, 0] == perm [0, 2, 1].
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = Path(__file__).resolve().parent / "messy.onnx"
SEED = 17
OPSET = 17
IR_VERSION = 8

IN_DIM, HIDDEN, OUT_DIM, HEADS = 16, 32, 8, 4


def build() -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    rng = np.random.default_rng(SEED)

    def randn(*shape: int, scale: float = 0.3) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    w = {
        "fc1.weight": randn(IN_DIM, HIDDEN),
        "fc1.bias": randn(HIDDEN, scale=0.1),
        "block.weight": randn(HIDDEN, HIDDEN, scale=0.2),
        "block.bias": randn(HIDDEN, scale=0.1),
        "head.weight": randn(HIDDEN, OUT_DIM),
        "head.bias": randn(OUT_DIM, scale=0.1),
    }
    heads_shape = np.array([-1, HEADS, HIDDEN // HEADS], dtype=np.int64)
    dead_scale = np.array(0.5, dtype=np.float32)

    # Dead weight: never read by anything.
    unused = {
        "legacy_proj.weight": randn(64, 256, scale=0.05),
        "legacy_proj.bias": randn(256, scale=0.05),
        "num_batches_tracked": np.array(1000, dtype=np.int64),
    }

    initializers = [numpy_helper.from_array(v, k) for k, v in w.items()]
    initializers.append(numpy_helper.from_array(heads_shape, "heads_shape"))
    # Byte-identical copy #1: the tied block's weight stored a second time.
    initializers.append(numpy_helper.from_array(w["block.weight"].copy(), "block_again.weight"))
    initializers += [numpy_helper.from_array(v, k) for k, v in unused.items()]

    nodes = [
        helper.make_node("Identity", ["x"], ["x_id"], name="input_identity"),
        helper.make_node("MatMul", ["x_id", "fc1.weight"], ["fc1_mm"], name="fc1_matmul"),
        helper.make_node("Add", ["fc1_mm", "fc1.bias"], ["fc1_out"], name="fc1_add"),
        helper.make_node("Relu", ["fc1_out"], ["h1"], name="fc1_relu"),
        # Dead chain: a statistic nobody reads.
        helper.make_node(
            "Constant",
            [],
            ["dead_scale"],
            name="dead_const",
            value=numpy_helper.from_array(dead_scale),
        ),
        helper.make_node("Mul", ["h1", "dead_scale"], ["dead_mul"], name="dead_mul"),
        helper.make_node("Sigmoid", ["dead_mul"], ["dead_sigmoid"], name="dead_sigmoid"),
        helper.make_node(
            "ReduceMean", ["dead_sigmoid"], ["dead_stat"], name="dead_reduce", keepdims=0
        ),
        # Transpose pair that cancels.
        helper.make_node("Transpose", ["h1"], ["h1_t"], name="transpose_a", perm=[1, 0]),
        helper.make_node("Transpose", ["h1_t"], ["h1_tt"], name="transpose_b", perm=[1, 0]),
        # Tied block, first application.
        helper.make_node("MatMul", ["h1_tt", "block.weight"], ["b1_mm"], name="block_matmul"),
        helper.make_node("Add", ["b1_mm", "block.bias"], ["b1_out"], name="block_add"),
        helper.make_node("Relu", ["b1_out"], ["h2"], name="block_relu"),
        # Inference Dropout: a no-op whose mask nobody reads.
        helper.make_node("Dropout", ["h2"], ["h2_drop", "h2_drop_mask"], name="dropout"),
        # Tied block, second application, from the duplicated weight and a Constant copy
        # of the bias (byte-identical copy #2).
        helper.make_node(
            "Constant",
            [],
            ["block_again.bias"],
            name="block_again_bias",
            value=numpy_helper.from_array(w["block.bias"].copy()),
        ),
        helper.make_node(
            "MatMul", ["h2_drop", "block_again.weight"], ["b2_mm"], name="block_again_matmul"
        ),
        helper.make_node("Add", ["b2_mm", "block_again.bias"], ["b2_out"], name="block_again_add"),
        helper.make_node("Relu", ["b2_out"], ["h3"], name="block_again_relu"),
        # Head; an Identity produces the graph output.
        helper.make_node("MatMul", ["h3", "head.weight"], ["head_mm"], name="head_matmul"),
        helper.make_node("Add", ["head_mm", "head.bias"], ["head_out"], name="head_add"),
        helper.make_node("Identity", ["head_out"], ["logits"], name="output_identity"),
        # hidden_heads: [batch, 32] -> [batch, 4, 8] -> [4, batch, 8] -> [batch, 8, 4].
        helper.make_node("Reshape", ["h3", "heads_shape"], ["h3_heads"], name="split_heads"),
        helper.make_node(
            "Transpose", ["h3_heads"], ["h3_hbt"], name="transpose_heads_1", perm=[1, 0, 2]
        ),
        helper.make_node(
            "Transpose", ["h3_hbt"], ["hidden_heads"], name="transpose_heads_2", perm=[1, 2, 0]
        ),
    ]

    graph = helper.make_graph(
        nodes,
        "messy_mlp",
        inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", IN_DIM])],
        outputs=[
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", OUT_DIM]),
            helper.make_tensor_value_info(
                "hidden_heads", TensorProto.FLOAT, ["batch", HIDDEN // HEADS, HEADS]
            ),
        ],
        initializer=initializers,
        doc_string="Tiny MLP with planted dead weight; see examples/make_messy_model.py.",
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="onnxslim-lint examples/make_messy_model.py",
        producer_version="1",
    )
    return model, w


def reference(x: np.ndarray, w: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The model's outputs, computed with numpy."""
    h1 = np.maximum(x @ w["fc1.weight"] + w["fc1.bias"], 0)
    h2 = np.maximum(h1 @ w["block.weight"] + w["block.bias"], 0)
    h3 = np.maximum(h2 @ w["block.weight"] + w["block.bias"], 0)
    logits = h3 @ w["head.weight"] + w["head.bias"]
    heads = h3.reshape(len(x), HEADS, HIDDEN // HEADS).transpose(0, 2, 1)
    return logits, heads


def describe(model: onnx.ModelProto) -> str:
    g = model.graph
    lines = [
        f"{OUT.name}: opset {model.opset_import[0].version}, ir_version {model.ir_version}, "
        f"{len(g.node)} nodes, {len(g.initializer)} initializers, "
        f"{OUT.stat().st_size if OUT.exists() else model.ByteSize()} bytes",
        "inputs:  " + ", ".join(f"{v.name} {_shape(v)}" for v in g.input),
        "outputs: " + ", ".join(f"{v.name} {_shape(v)}" for v in g.output),
        "initializers:",
    ]
    for t in g.initializer:
        arr = numpy_helper.to_array(t)
        lines.append(f"  {t.name:<22} {arr.dtype!s:<8} {list(arr.shape)!s:<10} {arr.nbytes:>6} B")
    lines.append("nodes:")
    for n in g.node:
        perm = [list(a.ints) for a in n.attribute if a.name == "perm"]
        extra = f" perm={perm[0]}" if perm else ""
        lines.append(
            f"  {n.name:<20} {n.op_type:<10} {', '.join(n.input) or '-'} -> "
            f"{', '.join(n.output)}{extra}"
        )
    lines += [
        "planted dead weight:",
        "  unused initializers (3): legacy_proj.weight [64x256 f32, 64 KiB], "
        "legacy_proj.bias, num_batches_tracked",
        "  duplicates (2): block_again.weight == block.weight (initializer), "
        "Constant block_again.bias == block.bias",
        "  dead nodes (4): dead_const -> dead_mul -> dead_sigmoid -> dead_reduce",
        "  Identity (2): input_identity, output_identity (feeds graph output 'logits')",
        "  Dropout (1): dropout (inference, mask 'h2_drop_mask' unused)",
        "  Transpose pair that cancels: transpose_a + transpose_b (perm [1, 0] twice)",
        "  Transposes that compose: transpose_heads_1 [1, 0, 2] + transpose_heads_2 "
        "[1, 2, 0] == [0, 2, 1]",
    ]
    return "\n".join(lines)


def _shape(v: onnx.ValueInfoProto) -> list:
    return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]


def main() -> int:
    model, w = build()
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(OUT))

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(OUT), so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((3, IN_DIM)).astype(np.float32)
    logits, heads = sess.run(["logits", "hidden_heads"], {"x": x})
    want_logits, want_heads = reference(x, w)
    np.testing.assert_allclose(logits, want_logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(heads, want_heads, rtol=1e-5, atol=1e-5)

    print(describe(onnx.load(str(OUT))))
    print("checker (full_check) ok; onnxruntime matches the numpy reference")
    return 0


if __name__ == "__main__":
    sys.exit(main())
