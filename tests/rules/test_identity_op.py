"""OSL201 identity-op."""

from __future__ import annotations

import onnx
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
from onnxslim_lint.rules.identity_op import IdentityOp

RULE = IdentityOp


def node(model: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(n for n in all_nodes(model.graph) if n.name == name)


def outputs(model: onnx.ModelProto) -> list[str]:
    return [o.name for o in model.graph.output]


# -- Identity -----------------------------------------------------------------------


def test_identity_in_the_middle_found():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [id] i = Identity(h)
            [neg] y = Neg(i)
        }"""
    )
    finding = one_finding(RULE, model)
    assert finding.count == 1
    assert finding.nodes == 1
    assert finding.nbytes > 0
    assert location_names(finding) == ["id"]
    assert finding.locations[0].kind == "node"
    assert finding.locations[0].detail == "Identity"
    assert "1 no-op node: 1 Identity" in finding.message


def test_identity_in_the_middle_removed():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [id] i = Identity(h)
            [neg] y = Neg(i)
        }"""
    )
    model.graph.value_info.append(
        onnx.helper.make_tensor_value_info("i", onnx.TensorProto.FLOAT, [2, 3])
    )
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu", "neg"}
    assert list(node(fixed, "neg").input) == ["h"]
    assert [v.name for v in fixed.graph.value_info] == []
    assert_fix_ok(RULE, model, fixed)


def test_identity_of_graph_input_in_the_middle_removed():
    model = parse(
        """
        g (float[2] x) => (float[2] y) {
            [id] i = Identity(x)
            [neg] y = Neg(i)
        }"""
    )
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"neg"}
    assert list(node(fixed, "neg").input) == ["x"]
    assert_fix_ok(RULE, model, fixed)


def test_identity_to_graph_output_keeps_the_output_name():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [id] y = Identity(h)
        }"""
    )
    assert location_names(one_finding(RULE, model)) == ["id"]
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu"}
    assert list(node(fixed, "relu").output) == ["y"]
    assert outputs(fixed) == ["y"]
    assert_fix_ok(RULE, model, fixed)


def test_identity_to_graph_output_other_readers_follow_the_rename():
    model = parse(
        """
        g (float[2] x) => (float[2] y, float[2] z) {
            [relu] h = Relu(x)
            [id] y = Identity(h)
            [neg] z = Neg(h)
        }"""
    )
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu", "neg"}
    assert list(node(fixed, "relu").output) == ["y"]
    assert list(node(fixed, "neg").input) == ["y"]
    assert_fix_ok(RULE, model, fixed)


def test_identity_from_graph_input_to_graph_output_stays():
    model = parse(
        """
        g (float[2] x) => (float[2] y) {
            [id] y = Identity(x)
        }"""
    )
    assert_untouched(RULE, model)


def test_identity_from_initializer_to_output_stays():
    model = parse(
        """
        g (float[2] x) => (float[2] y, float[2] k_out) <float[2] k = {1., 2.}> {
            [add] y = Add(x, k)
            [id] k_out = Identity(k)
        }"""
    )
    assert_untouched(RULE, model)


def test_identity_between_two_graph_outputs_stays():
    model = parse(
        """
        g (float[2] x) => (float[2] h, float[2] y) {
            [relu] h = Relu(x)
            [id] y = Identity(h)
        }"""
    )
    assert_untouched(RULE, model)


def test_two_outputs_fed_by_identities_of_the_same_value():
    model = parse(
        """
        g (float[2] x) => (float[2] y1, float[2] y2) {
            [relu] h = Relu(x)
            [id1] y1 = Identity(h)
            [id2] y2 = Identity(h)
        }"""
    )
    fixed = fix_both(RULE, model)
    # One of them takes over the producer's output; the other must stay (its input
    # is now a graph output), and both outputs are still produced.
    assert outputs(fixed) == ["y1", "y2"]
    assert len(fixed.graph.node) == 2
    assert_fix_ok(RULE, model, fixed)


def test_two_outputs_fed_by_identities_reports_what_the_fix_removes():
    model = parse(
        """
        g (float[2] x) => (float[2] y1, float[2] y2) {
            [relu] h = Relu(x)
            [id1] y1 = Identity(h)
            [id2] y2 = Identity(h)
        }"""
    )
    finding = one_finding(RULE, model)
    result = apply_fixes(model, [RULE()])
    removed = len(model.graph.node) - len(result.model.graph.node)
    assert finding.nodes == removed == result.applied["OSL201"]


def test_identity_chain_to_graph_output():
    model = parse(
        """
        g (float[2] x) => (float[2] y) {
            [relu] h = Relu(x)
            [id1] a = Identity(h)
            [id2] y = Identity(a)
        }"""
    )
    finding = one_finding(RULE, model)
    assert sorted(location_names(finding)) == ["id1", "id2"]
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu"}
    assert list(node(fixed, "relu").output) == ["y"]
    assert_fix_ok(RULE, model, fixed)
    result = apply_fixes(model, [RULE()])
    assert result.applied["OSL201"] >= 2
    assert not apply_fixes(result.model, [RULE()]).changed


def test_identity_chain_applied_count_matches_removed_nodes():
    model = parse(
        """
        g (float[2] x) => (float[2] y) {
            [relu] h = Relu(x)
            [id1] a = Identity(h)
            [id2] b = Identity(a)
            [neg] y = Neg(b)
        }"""
    )
    result = apply_fixes(model, [RULE()])
    removed = len(model.graph.node) - len(result.model.graph.node)
    assert removed == 2
    assert result.applied["OSL201"] == removed


def test_identity_read_inside_if_subgraph_rewired_inside():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) {
            [relu] h = Relu(x)
            [id] i = Identity(h)
            [if] y = If(c) <
                then_branch = t () => (float[2] ty) { [t_neg] ty = Neg(i) },
                else_branch = e () => (float[2] ey) { [e_add] ey = Add(i, x) }
            >
        }"""
    )
    assert location_names(one_finding(RULE, model)) == ["id"]
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu", "if", "t_neg", "e_add"}
    assert list(node(fixed, "t_neg").input) == ["h"]
    assert list(node(fixed, "e_add").input) == ["h", "x"]
    assert_fix_ok(RULE, model, fixed)


def test_identity_inside_subgraph_reading_outer_value_to_subgraph_output_stays():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) {
            [relu] h = Relu(x)
            [if] y = If(c) <
                then_branch = t () => (float[2] ty) { [t_id] ty = Identity(h) },
                else_branch = e () => (float[2] ey) { [e_id] ey = Identity(x) }
            >
        }"""
    )
    assert_untouched(RULE, model)


def test_identity_inside_subgraph_to_subgraph_output_renames_local_producer():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) {
            [if] y = If(c) <
                then_branch = t () => (float[2] ty) {
                    [t_neg] n = Neg(x)
                    [t_id] ty = Identity(n)
                },
                else_branch = e () => (float[2] ey) { [e_relu] ey = Relu(x) }
            >
        }"""
    )
    assert location_names(one_finding(RULE, model)) == ["t_id"]
    fixed = fix_both(RULE, model)
    assert list(node(fixed, "t_neg").output) == ["ty"]
    assert "t_id" not in all_node_names(fixed)
    assert_fix_ok(RULE, model, fixed)


# -- Dropout --------------------------------------------------------------------------


def test_dropout_without_training_mode_and_unused_mask_removed():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [drop] d, mask = Dropout(h)
            [neg] y = Neg(d)
        }""",
        opset=13,
    )
    finding = one_finding(RULE, model)
    assert location_names(finding) == ["drop"]
    assert finding.locations[0].detail == "Dropout"
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu", "neg"}
    assert list(node(fixed, "neg").input) == ["h"]
    assert_fix_ok(RULE, model, fixed)


def test_dropout_single_output_to_graph_output_removed():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [drop] y = Dropout(h)
        }""",
        opset=13,
    )
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu"}
    assert list(node(fixed, "relu").output) == ["y"]
    assert_fix_ok(RULE, model, fixed)


def test_dropout_with_constant_false_training_mode_removed():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) <float ratio = {0.5}, bool mode = {0}> {
            [relu] h = Relu(x)
            [drop] d = Dropout(h, ratio, mode)
            [neg] y = Neg(d)
        }""",
        opset=13,
    )
    assert location_names(one_finding(RULE, model)) == ["drop"]
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu", "neg"}
    assert_fix_ok(RULE, model, fixed)


def test_dropout_with_constant_true_training_mode_stays():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) <float ratio = {0.5}, bool mode = {1}> {
            [relu] h = Relu(x)
            [drop] d = Dropout(h, ratio, mode)
            [neg] y = Neg(d)
        }""",
        opset=13,
    )
    assert_untouched(RULE, model)


def test_dropout_with_constant_node_true_training_mode_stays():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [mode_c] mode = Constant <value = bool {1}> ()
            [relu] h = Relu(x)
            [drop] d = Dropout(h, "", mode)
            [neg] y = Neg(d)
        }""",
        opset=13,
    )
    assert_untouched(RULE, model)


def test_dropout_with_training_mode_graph_input_stays():
    model = parse(
        """
        g (float[2, 3] x, bool mode) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [drop] d = Dropout(h, "", mode)
            [neg] y = Neg(d)
        }""",
        opset=13,
    )
    assert_untouched(RULE, model)


def test_dropout_with_overridable_false_training_mode_stays():
    model = parse(
        """
        g (float[2, 3] x, bool mode) => (float[2, 3] y) <bool mode = {0}> {
            [relu] h = Relu(x)
            [drop] d = Dropout(h, "", mode)
            [neg] y = Neg(d)
        }""",
        opset=13,
    )
    assert_untouched(RULE, model)


def test_dropout_whose_mask_is_a_graph_output_stays():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y, bool[2, 3] mask) {
            [relu] h = Relu(x)
            [drop] d, mask = Dropout(h)
            [neg] y = Neg(d)
        }""",
        opset=13,
    )
    assert_untouched(RULE, model)


def test_dropout_whose_mask_is_read_stays():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y, float[2, 3] z) {
            [relu] h = Relu(x)
            [drop] d, mask = Dropout(h)
            [neg] y = Neg(d)
            [cast] z = Cast <to = 1> (mask)
        }""",
        opset=13,
    )
    assert_untouched(RULE, model)


def test_dropout_opset6_without_is_test_stays():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [drop] d = Dropout(h)
            [neg] y = Neg(d)
        }""",
        opset=6,
        ir_version=3,
    )
    onnx.checker.check_model(model, full_check=True)
    assert_untouched(RULE, model)


def test_dropout_opset6_with_is_test_removed():
    model = parse(
        """
        g (float[2, 3] x) => (float[2, 3] y) {
            [relu] h = Relu(x)
            [drop] d = Dropout <is_test = 1> (h)
            [neg] y = Neg(d)
        }""",
        opset=6,
        ir_version=3,
    )
    assert location_names(one_finding(RULE, model)) == ["drop"]
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu", "neg"}
    # onnxruntime has no opset-6 Dropout kernel: check everything but the run.
    assert_fix_ok(RULE, model, fixed, run=False)


def test_other_ops_not_reported():
    model = parse(
        """
        g (float[2] x) => (float[2] y) {
            [relu] h = Relu(x)
            [neg] y = Neg(h)
        }"""
    )
    assert check(RULE, model) == []
