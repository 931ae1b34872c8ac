"""OSL213 reshape-target: a Reshape's computed target that is a constant one."""

from __future__ import annotations

from functools import partial

import graphs
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from graphs import parse

from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext, RuleOptions
from onnxslim_lint.rules.reshape_target import ReshapeTarget

check = partial(graphs.check, ReshapeTarget)
fixed_ok = partial(graphs.exact_fix_ok, ReshapeTarget)

# Whisper's cross-attention key with a static encoder length (24 here), as the dynamo
# exporter writes it with a dynamic batch: merge the heads, swap, and view back to
# [batch, heads, 16, 24] with batch and heads from the Shape of the 4-D value.
CROSS_KEY = """
g (float[batch,4,24,16] t) => (float[batch,4,16,24] y) {
    start = Constant <value = int64[1] {0}> ()
    stop = Constant <value = int64[1] {-2}> ()
    flat = Constant <value = int64[3] {-1, 24, 16}> ()
    sixteen = Constant <value = int64[1] {16}> ()
    twenty_four = Constant <value = int64[1] {24}> ()
    [merge] m = Reshape (t, flat)
    [swap] s = Transpose <perm = [0, 2, 1]> (m)
    [dims] d = Shape (t)
    [lead] h = Slice (d, start, stop)
    [target] k = Concat <axis = 0> (h, sixteen, twenty_four)
    [back] y = Reshape (s, k)
}
"""


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node if n.op_type != "Constant"]


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(out) for out in session.run(None, feeds)]


def test_computed_target_becomes_constant_and_its_chain_goes() -> None:
    model = parse(CROSS_KEY)
    (finding,) = check(model)
    assert graphs.location_names(finding) == ["back"]
    assert finding.locations[0].detail == "target [-1, 4, 16, 24]"
    assert finding.nodes == 7  # Shape, Slice, Concat and the 4 Constants only they read
    fixed = fixed_ok(model)
    assert _ops(fixed) == ["Reshape", "Transpose", "Reshape"]
    back = fixed.graph.node[-1]
    target = next(t for t in fixed.graph.initializer if t.name == back.input[1])
    assert onnx.numpy_helper.to_array(target).tolist() == [-1, 4, 16, 24]


@pytest.mark.parametrize("batch", [0, 1, 3])
def test_the_constant_target_runs_as_the_computed_one_an_empty_batch_included(
    batch: int,
) -> None:
    model = parse(CROSS_KEY)
    fixed = fixed_ok(model)
    t = np.random.default_rng(batch).standard_normal((batch, 4, 24, 16)).astype(np.float32)
    (before,) = _run(model, {"t": t})
    (after,) = _run(fixed, {"t": t})
    assert before.shape == after.shape == (batch, 4, 16, 24)
    assert before.tobytes() == after.tobytes()


def test_entries_equal_to_the_input_dims_are_copied_with_zero() -> None:
    # view(batch, seq, 4, 16) of x: [batch, seq, 64]: batch and seq are x's own dims
    model = parse(
        """
        g (float[batch,seq,64] x) => (float[batch,seq,4,16] y) {
            tail = Constant <value = int64[2] {4, 16}> ()
            [dims] d = Shape <end = 2> (x)
            [target] k = Concat <axis = 0> (d, tail)
            [view] y = Reshape (x, k)
        }
        """
    )
    (finding,) = check(model)
    assert finding.locations[0].detail == "target [0, 0, 4, 16]"
    fixed_ok(model)


def test_target_read_by_another_node_too_is_left_alone() -> None:
    # its chain stays for the other reader: nothing would be saved
    text = CROSS_KEY.replace(
        "[back] y = Reshape (s, k)", "[back] y = Reshape (s, k)\n    [neg] n = Neg (k)"
    )
    text = text.replace("=> (float[batch,4,16,24] y)", "=> (float[batch,4,16,24] y, int64[4] n)")
    assert check(parse(text)) == []


def test_two_entries_not_proven_equal_are_left_alone() -> None:
    # [batch, 4, batch, 4]: only one entry can become -1
    text = CROSS_KEY.replace("(h, sixteen, twenty_four)", "(h, h)")
    text = text.replace("=> (float[batch,4,16,24] y)", "=> (y)")
    assert check(parse(text)) == []


def test_new_minus_one_beside_a_copied_dim_is_left_alone() -> None:
    # view(batch, 4*seq) of x: [batch, seq, 4] would be [0, -1]: onnxruntime refuses
    # that when batch is 0 (the other entries multiply to 0), the computed one runs
    model = parse(
        """
        g (float[batch,seq,4] x) => (y) {
            four = Constant <value = int64[1] {4}> ()
            [dims] d = Shape <end = 1> (x)
            [seq] q = Shape <start = 1, end = 2> (x)
            [times] w = Mul (q, four)
            [target] k = Concat <axis = 0> (d, w)
            [view] y = Reshape (x, k)
        }
        """
    )
    assert check(model) == []
    (out,) = _run(model, {"x": np.zeros((0, 3, 4), np.float32)})
    assert out.shape == (0, 12)


def test_reshape_reading_the_shape_of_its_own_input_keeps_that_input() -> None:
    # x feeds both the Shape of the target and the Reshape itself: x's producer stays
    model = parse(
        """
        g (float[batch,seq,64] a) => (float[batch,seq,4,16] y) {
            tail = Constant <value = int64[2] {4, 16}> ()
            [neg] x = Neg (a)
            [dims] d = Shape <end = 2> (x)
            [target] k = Concat <axis = 0> (d, tail)
            [view] y = Reshape (x, k)
        }
        """
    )
    fixed = fixed_ok(model)
    assert _ops(fixed) == ["Neg", "Reshape"]


def test_reshape_inside_a_branch_is_left_alone() -> None:
    model = parse(
        """
        g (bool c, float[batch,seq,64] x) => (float[batch,seq,4,16] y) {
            tail = Constant <value = int64[2] {4, 16}> ()
            [dims] d = Shape <end = 2> (x)
            [target] k = Concat <axis = 0> (d, tail)
            [if] y = If (c) <
                then_branch = g1 () => (float[batch,seq,4,16] a) { [v1] a = Reshape (x, k) },
                else_branch = g2 () => (float[batch,seq,4,16] b) { [v2] b = Reshape (x, k) }
            >
        }
        """
    )
    assert check(model) == []


def test_max_folded_constant_caps_the_new_target() -> None:
    model = parse(CROSS_KEY)
    tight = CheckContext(ModelIndex.build(model), "m.onnx", RuleOptions(max_folded_constant=8))
    assert ReshapeTarget().check(tight) == []


def test_an_initializer_that_is_a_graph_input_is_not_a_constant() -> None:
    # the caller may feed another 16: the target is not provably [-1, 4, 16, 24]
    text = CROSS_KEY.replace(
        "g (float[batch,4,24,16] t)", "g (float[batch,4,24,16] t, int64[1] sixteen)"
    )
    text = text.replace("    sixteen = Constant <value = int64[1] {16}> ()\n", "").replace(
        "=> (float[batch,4,16,24] y) {", "=> (y) <int64[1] sixteen = {16}> {"
    )
    model = parse(text)
    assert [i.name for i in model.graph.input] == ["t", "sixteen"]
    assert check(model) == []


def test_target_that_is_a_graph_output_is_left_alone() -> None:
    text = CROSS_KEY.replace(
        "=> (float[batch,4,16,24] y)", "=> (float[batch,4,16,24] y, int64[4] k)"
    )
    assert check(parse(text)) == []


def test_an_output_declared_with_another_rank_stays() -> None:
    # ddddocr declares its 3-D Reshape output as [1, seqlen]; onnx inference, which
    # cannot read its computed target, lets that pass, but with a constant target it
    # would see the declaration is wrong and the checker refuse the fixed model
    model = parse(CROSS_KEY.replace("float[batch,4,16,24] y", "float[batch,384] y"))
    graphs.assert_untouched(ReshapeTarget, model)
