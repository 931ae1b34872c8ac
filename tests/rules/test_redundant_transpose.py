"""OSL202 redundant-transpose."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from graphs import (
    all_node_names,
    all_nodes,
    assert_fix_ok,
    assert_untouched,
    check,
    fix_both,
    location_names,
    one_finding,
    parse,
)

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.rules.redundant_transpose import RedundantTranspose

RULE = RedundantTranspose


def node(model: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(n for n in all_nodes(model.graph) if n.name == name)


def perm_of(n: onnx.NodeProto) -> list[int] | None:
    for attr in n.attribute:
        if attr.name == "perm":
            return list(attr.ints)
    return None


def transposes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    return [n for n in model.graph.node if n.op_type == "Transpose"]


def run(model: onnx.ModelProto, **feeds: np.ndarray) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return session.run(None, feeds)


def pair_2d() -> onnx.ModelProto:
    return parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [t1] a = Transpose <perm = [1, 0]> (h)
            [t2] b = Transpose <perm = [1, 0]> (a)
            [neg] y = Neg(b)
        }"""
    )


# -- cancel ---------------------------------------------------------------------------


def test_perm_10_twice_found():
    finding = one_finding(RULE, pair_2d())
    assert finding.count == 2
    assert finding.nodes == 2
    assert finding.nbytes > 0
    assert location_names(finding) == ["t1 -> t2"]
    assert finding.locations[0].detail == "cancel"
    assert "1 Transpose pair that cancels" in finding.message


def test_perm_10_twice_both_removed():
    model = pair_2d()
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu", "neg"}
    assert list(node(fixed, "neg").input) == ["h"]
    assert_fix_ok(RULE, model, fixed)


def test_perm_021_twice_cancels():
    model = parse(
        """
        g (float[2, 3, 4] x) => (float[2, 3, 4] y) {
            [relu] h = Relu(x)
            [t1] a = Transpose <perm = [0, 2, 1]> (h)
            [t2] b = Transpose <perm = [0, 2, 1]> (a)
            [neg] y = Neg(b)
        }"""
    )
    finding = one_finding(RULE, model)
    assert finding.nodes == 2
    fixed = fix_both(RULE, model)
    assert transposes(fixed) == []
    assert list(node(fixed, "neg").input) == ["h"]
    assert_fix_ok(RULE, model, fixed)


def test_cancel_pair_ending_in_graph_output_keeps_the_name():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [t1] a = Transpose <perm = [1, 0]> (h)
            [t2] y = Transpose <perm = [1, 0]> (a)
        }"""
    )
    assert location_names(one_finding(RULE, model)) == ["t1 -> t2"]
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu"}
    assert list(node(fixed, "relu").output) == ["y"]
    assert [o.name for o in fixed.graph.output] == ["y"]
    assert_fix_ok(RULE, model, fixed)


def test_pair_from_graph_input_to_graph_output_stays():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [t1] a = Transpose <perm = [1, 0]> (x)
            [t2] y = Transpose <perm = [1, 0]> (a)
        }"""
    )
    assert_untouched(RULE, model)


def test_pair_from_graph_input_in_the_middle_removed():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [t1] a = Transpose <perm = [1, 0]> (x)
            [t2] b = Transpose <perm = [1, 0]> (a)
            [neg] y = Neg(b)
        }"""
    )
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"neg"}
    assert list(node(fixed, "neg").input) == ["x"]
    assert_fix_ok(RULE, model, fixed)


def test_middle_value_that_is_a_graph_output_stays():
    model = parse(
        """
        g (float[2, 3] x) => (float[3, 2] a, float[2, 3] y) {
            [relu] h = Relu(x)
            [t1] a = Transpose <perm = [1, 0]> (h)
            [t2] b = Transpose <perm = [1, 0]> (a)
            [neg] y = Neg(b)
        }"""
    )
    assert_untouched(RULE, model)


def test_first_transpose_feeding_another_node_stays_on_cancel():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y, float[3, 2] z) {
            [relu] h = Relu(x)
            [t1] a = Transpose <perm = [1, 0]> (h)
            [t2] b = Transpose <perm = [1, 0]> (a)
            [neg] y = Neg(b)
            [other] z = Sigmoid(a)
        }"""
    )
    finding = one_finding(RULE, model)
    assert finding.nodes == 1
    assert finding.count == 1
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu", "t1", "neg", "other"}
    assert list(node(fixed, "other").input) == ["a"]
    assert list(node(fixed, "t1").input) == ["h"]
    assert list(node(fixed, "neg").input) == ["h"]
    assert_fix_ok(RULE, model, fixed)


def test_first_transpose_feeding_another_node_not_merged_on_compose():
    # Composing would remove no node: not reported.
    model = parse(
        """
        g (float[2, 3, 4] x) => (float[3, 4, 2] y, float[3, 2, 4] z) {
            [relu] h = Relu(x)
            [t1] a = Transpose <perm = [1, 0, 2]> (h)
            [t2] y = Transpose <perm = [0, 2, 1]> (a)
            [other] z = Sigmoid(a)
        }"""
    )
    assert_untouched(RULE, model)


# -- compose --------------------------------------------------------------------------


def compose_model() -> onnx.ModelProto:
    return parse(
        """
        g (float[2, 3, 4] x) => (float[3, 4, 2] y) {
            [relu] h = Relu(x)
            [t1] a = Transpose <perm = [1, 0, 2]> (h)
            [t2] b = Transpose <perm = [0, 2, 1]> (a)
            [neg] y = Neg(b)
        }"""
    )


def test_compose_found():
    finding = one_finding(RULE, compose_model())
    assert finding.nodes == 1
    assert finding.count == 1
    assert finding.locations[0].detail == "perm=[1, 2, 0]"
    assert "1 Transpose pair that composes" in finding.message


def test_compose_into_one_transpose():
    model = compose_model()
    fixed = fix_both(RULE, model)
    [t] = transposes(fixed)
    assert perm_of(t) == [1, 2, 0]
    assert list(t.input) == ["h"]
    assert all_node_names(fixed) == {"relu", "t2", "neg"}
    assert_fix_ok(RULE, model, fixed)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4) - 7.0
    expected = -np.maximum(x, 0).transpose(1, 0, 2).transpose(0, 2, 1)
    [got] = run(fixed, x=x)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(got, -np.maximum(x, 0).transpose(1, 2, 0))


def test_compose_ending_in_graph_output_keeps_name():
    model = parse(
        """
        g (float[2, 3, 4] x) => (float[3, 4, 2] y) {
            [t1] a = Transpose <perm = [1, 0, 2]> (x)
            [t2] y = Transpose <perm = [0, 2, 1]> (a)
        }"""
    )
    fixed = fix_both(RULE, model)
    [t] = transposes(fixed)
    assert list(t.input) == ["x"] and list(t.output) == ["y"]
    assert_fix_ok(RULE, model, fixed)


# -- perm-less Transpose ------------------------------------------------------------


def test_transpose_without_perm_and_known_rank():
    # First Transpose has no perm (reverse), its input's rank is known from the graph input.
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [t1] a = Transpose (x)
            [t2] b = Transpose <perm = [1, 0]> (a)
            [neg] y = Neg(b)
        }"""
    )
    finding = one_finding(RULE, model)
    assert finding.nodes == 2
    fixed = fix_both(RULE, model)
    assert transposes(fixed) == []
    assert_fix_ok(RULE, model, fixed)


def test_two_transposes_without_perm_with_value_info():
    model = parse(
        """
        g (float[2, 3, 4] x) => (float[2, 3, 4] y) {
            [relu] h = Relu(x)
            [t1] a = Transpose (h)
            [t2] b = Transpose (a)
            [neg] y = Neg(b)
        }"""
    )
    model.graph.value_info.extend(
        [
            onnx.helper.make_tensor_value_info("h", onnx.TensorProto.FLOAT, [2, 3, 4]),
            onnx.helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [4, 3, 2]),
        ]
    )
    fixed = fix_both(RULE, model)
    assert transposes(fixed) == []
    assert "a" not in {v.name for v in fixed.graph.value_info}
    assert_fix_ok(RULE, model, fixed)


def test_perm_less_compose_writes_the_perm():
    model = parse(
        """
        g (float[2, 3, 4] x) => (float[4, 2, 3] y) {
            [neg0] c = Neg(x)
            [t3] d = Transpose <perm = [1, 0, 2]> (c)
            [t4] y = Transpose (d)
        }"""
    )
    model.graph.value_info.append(
        onnx.helper.make_tensor_value_info("d", onnx.TensorProto.FLOAT, [3, 2, 4])
    )
    assert one_finding(RULE, model).locations[0].detail == "perm=[2, 0, 1]"
    fixed = fix_both(RULE, model)
    [t] = transposes(fixed)
    assert perm_of(t) == [2, 0, 1]
    assert list(t.input) == ["c"] and list(t.output) == ["y"]
    assert "d" not in {v.name for v in fixed.graph.value_info}
    assert_fix_ok(RULE, model, fixed)
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(run(fixed, x=x)[0], (-x).transpose(1, 0, 2).transpose(2, 1, 0))


def test_transpose_without_perm_and_unknown_rank_left_alone():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [t1] a = Transpose (h)
            [t2] b = Transpose (a)
            [neg] y = Neg(b)
        }"""
    )
    assert_untouched(RULE, model)


# -- fix loop -------------------------------------------------------------------------


def test_three_transposes_in_a_row_reduced_to_one():
    model = parse(
        """
        g (float[2, 3] x) => (float[3, 2] y) {
            [relu] h = Relu(x)
            [t1] a = Transpose <perm = [1, 0]> (h)
            [t2] b = Transpose <perm = [1, 0]> (a)
            [t3] c = Transpose <perm = [1, 0]> (b)
            [neg] y = Neg(c)
        }"""
    )
    result = apply_fixes(model, [RULE()])
    fixed = result.model
    assert len(transposes(fixed)) == 1
    assert len(fixed.graph.node) == 3
    assert check(RULE, fixed) == []
    assert_fix_ok(RULE, model, fixed)
    assert not apply_fixes(fixed, [RULE()]).changed


def test_three_cycles_in_a_row_reduced_to_none():
    # perm [1, 2, 0] applied three times is the identity.
    model = parse(
        """
        g (float[2, 3, 4] x) => (float[2, 3, 4] y) {
            [relu] h = Relu(x)
            [t1] a = Transpose <perm = [1, 2, 0]> (h)
            [t2] b = Transpose <perm = [1, 2, 0]> (a)
            [t3] y = Transpose <perm = [1, 2, 0]> (b)
        }"""
    )
    result = apply_fixes(model, [RULE()])
    fixed = result.model
    assert transposes(fixed) == []
    assert list(node(fixed, "relu").output) == ["y"]
    assert_fix_ok(RULE, model, fixed)
    assert fixed == RULE().run(model)


def test_four_transposes_all_removed():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [t1] a = Transpose <perm = [1, 0]> (h)
            [t2] b = Transpose <perm = [1, 0]> (a)
            [t3] c = Transpose <perm = [1, 0]> (b)
            [t4] d = Transpose <perm = [1, 0]> (c)
            [neg] y = Neg(d)
        }"""
    )
    finding = one_finding(RULE, model)
    assert finding.nodes == 4
    fixed = fix_both(RULE, model)
    assert transposes(fixed) == []
    assert_fix_ok(RULE, model, fixed)


def test_four_transposes_applied_count_matches_removed_nodes():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [t1] a = Transpose <perm = [1, 0]> (h)
            [t2] b = Transpose <perm = [1, 0]> (a)
            [t3] c = Transpose <perm = [1, 0]> (b)
            [t4] d = Transpose <perm = [1, 0]> (c)
            [neg] y = Neg(d)
        }"""
    )
    result = apply_fixes(model, [RULE()])
    removed = len(model.graph.node) - len(result.model.graph.node)
    assert removed == 4
    assert result.applied["OSL202"] == removed


def test_pair_inside_a_subgraph():
    model = parse(
        """
        g (float[2, 3] x, bool c) => (float[2, 3] y) {
            [if] y = If(c) <
                then_branch = t () => (float[2, 3] ty) {
                    [s_relu] h = Relu(x)
                    [s_t1] a = Transpose <perm = [1, 0]> (h)
                    [s_t2] ty = Transpose <perm = [1, 0]> (a)
                },
                else_branch = e () => (float[2, 3] ey) { [e_neg] ey = Neg(x) }
            >
        }"""
    )
    finding = one_finding(RULE, model)
    assert finding.locations[0].graph == "main/if/then_branch"
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"if", "s_relu", "e_neg"}
    assert list(node(fixed, "s_relu").output) == ["ty"]
    assert_fix_ok(RULE, model, fixed)
