"""OSL102 dead-node."""

from __future__ import annotations

import onnx
from graphs import (
    all_node_names,
    assert_fix_ok,
    assert_untouched,
    check,
    fix_both,
    initializer_names,
    location_names,
    one_finding,
    parse,
)

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.rules.dead_node import DeadNode

RULE = DeadNode


def dead_chain() -> onnx.ModelProto:
    """y = Relu(x) is the output; a -> b -> c is a dead chain reading two initializers."""
    return parse(
        """
        g (float[2, 3] x) => (float[2, 3] y)
          <float[3] s = {1., 2., 3.}, float[3] t = {4., 5., 6.}, float[3] live_w = {1., 1., 1.}> {
            [relu] r = Relu(x)
            [live_add] y = Add(r, live_w)
            [d_mul] a = Mul(x, s)
            [d_add] b = Add(a, t)
            [d_neg] c = Neg(b)
        }"""
    )


# -- finds and fixes ----------------------------------------------------------------


def test_finds_dead_chain_and_its_initializers():
    finding = one_finding(RULE, dead_chain())
    assert sorted(location_names(finding, "node")) == ["d_add", "d_mul", "d_neg"]
    assert sorted(location_names(finding, "initializer")) == ["s", "t"]
    assert finding.nodes == 3
    assert finding.count == 5
    assert finding.nbytes > 0
    assert finding.nbytes == sum(loc.nbytes for loc in finding.locations)
    assert {loc.graph for loc in finding.locations} == {"main"}
    assert "3 dead nodes and 2 initializers" in finding.message


def test_fix_removes_the_dead_chain_with_its_initializers():
    model = dead_chain()
    finding = one_finding(RULE, model)
    fixed = fix_both(RULE, model)
    assert all_node_names(model) - all_node_names(fixed) == set(location_names(finding, "node"))
    assert initializer_names(model) - initializer_names(fixed) == set(
        location_names(finding, "initializer")
    )
    assert [n.name for n in fixed.graph.node] == ["relu", "live_add"]
    assert_fix_ok(RULE, model, fixed)


def test_apply_fixes_settles_in_one_fix():
    model = dead_chain()
    result = apply_fixes(model, [RULE()])
    assert result.applied["OSL102"] == 5
    assert len(result.fixed) == 1
    assert not apply_fixes(result.model, [RULE()]).changed


def test_dead_value_info_dropped():
    model = dead_chain()
    model.graph.value_info.extend(
        [
            onnx.helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, [2, 3]),
            onnx.helper.make_tensor_value_info("r", onnx.TensorProto.FLOAT, [2, 3]),
        ]
    )
    fixed = fix_both(RULE, model)
    assert [v.name for v in fixed.graph.value_info] == ["r"]
    assert_fix_ok(RULE, model, fixed)


def test_dead_node_inside_a_subgraph_found_and_removed():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) {
            [if] y = If(c) <
                then_branch = t () => (float[2] ty) <float[2] k = {1., 2.}> {
                    [t_dead] unused = Mul(x, k)
                    [t_live] ty = Neg(x)
                },
                else_branch = e () => (float[2] ey) { [e_live] ey = Relu(x) }
            >
        }"""
    )
    finding = one_finding(RULE, model)
    assert location_names(finding, "node") == ["t_dead"]
    assert location_names(finding, "initializer") == ["k"]
    assert {loc.graph for loc in finding.locations} == {"main/if/then_branch"}
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"if", "t_live", "e_live"}
    assert initializer_names(fixed) == set()
    assert_fix_ok(RULE, model, fixed)


def test_dead_if_goes_with_its_subgraphs():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) <float[2] k = {1., 2.}> {
            [relu] y = Relu(x)
            [dead_if] z = If(c) <
                then_branch = t () => (float[2] ty) { [t_add] ty = Add(x, k) },
                else_branch = e () => (float[2] ey) { [e_neg] ey = Neg(x) }
            >
        }"""
    )
    finding = one_finding(RULE, model)
    # The If is dead; its subgraph nodes go with it and are not listed on their own.
    assert location_names(finding, "node") == ["dead_if"]
    assert location_names(finding, "initializer") == ["k"]
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"relu"}
    assert initializer_names(fixed) == set()
    assert_fix_ok(RULE, model, fixed)


# -- leaves alone -------------------------------------------------------------------


def test_output_read_only_inside_live_if_subgraph_stays():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) <float[2] k = {1., 2.}> {
            [outer] h = Mul(x, k)
            [if] y = If(c) <
                then_branch = t () => (float[2] ty) { [t_neg] ty = Neg(h) },
                else_branch = e () => (float[2] ey) { [e_relu] ey = Relu(x) }
            >
        }"""
    )
    assert_untouched(RULE, model)


def test_nodes_in_loop_body_feeding_body_outputs_stay():
    model = parse(
        """
        g (float[2] x) => (float[2] y) <int64 n = {3}, bool go = {1}, float[2] k = {1., 2.}> {
            [loop] y = Loop(n, go, x) <
                body = b (int64 i, bool cin, float[2] acc) => (bool cout, float[2] next) {
                    [b_cond] cout = Identity(cin)
                    [b_mul] m = Mul(acc, k)
                    [b_add] next = Add(m, acc)
                }
            >
        }"""
    )
    assert_untouched(RULE, model)


def test_initializer_shared_between_dead_and_live_node_stays():
    model = parse(
        """
        g (float[2] x) => (float[2] y) <float[2] k = {1., 2.}> {
            [live] y = Add(x, k)
            [dead] z = Mul(x, k)
        }"""
    )
    finding = one_finding(RULE, model)
    assert location_names(finding) == ["dead"]
    assert finding.count == 1
    fixed = fix_both(RULE, model)
    assert initializer_names(fixed) == {"k"}
    assert all_node_names(fixed) == {"live"}
    assert_fix_ok(RULE, model, fixed)


def test_overridable_initializer_read_only_by_dead_node_stays():
    model = parse(
        """
        g (float[2] x, float[2] k) => (float[2] y) <float[2] k = {1., 2.}> {
            [live] y = Relu(x)
            [dead] z = Mul(x, k)
        }"""
    )
    finding = one_finding(RULE, model)
    assert location_names(finding) == ["dead"]
    fixed = fix_both(RULE, model)
    assert initializer_names(fixed) == {"k"}
    assert_fix_ok(RULE, model, fixed)


FUNCTIONS = """
<domain: "local", opset_import: ["" : 17]>
double (a) => (b) {
    b = Add(a, a)
}
"""


def test_function_with_a_live_caller_stays():
    model = parse(
        """
        g (float[2] x) => (float[2] y) {
            [call] y = local.double(x)
        }"""
        + FUNCTIONS,
        extra=', "local" : 1',
    )
    onnx.checker.check_model(model, full_check=True)
    assert_untouched(RULE, model)
    assert list(RULE().run(model).functions) == list(model.functions)


def test_dead_function_call_removed_function_kept():
    model = parse(
        """
        g (float[2] x) => (float[2] y) {
            [live] y = Relu(x)
            [dead_call] z = local.double(x)
        }"""
        + FUNCTIONS,
        extra=', "local" : 1',
    )
    finding = one_finding(RULE, model)
    assert location_names(finding) == ["dead_call"]
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"live"}
    assert list(fixed.functions) == list(model.functions)
    assert_fix_ok(RULE, model, fixed)


def test_value_named_by_side_table_stays():
    model = parse(
        """
        g (float[2] x) => (float[2] y) {
            [live] y = Relu(x)
            [annotated] z = Neg(x)
        }"""
    )
    model.graph.quantization_annotation.add(tensor_name="z")
    assert_untouched(RULE, model)


def test_node_feeding_only_main_output_through_other_outputs_stays():
    # Every node reaches an output (one through a multi-output node): nothing dead.
    model = parse(
        """
        g (float[4] x) => (float[2] y) {
            [split] a, b = Split(x) <num_outputs = 2>
            [relu] y = Relu(a)
        }"""
    )
    assert check(RULE, model) == []


def test_dead_node_in_subgraph_frees_an_outer_initializer():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) <float[2] k = {1., 2.}> {
            [if] y = If(c) <
                then_branch = t () => (float[2] ty) {
                    [t_dead] unused = Mul(x, k)
                    [t_live] ty = Neg(x)
                },
                else_branch = e () => (float[2] ey) { [e_live] ey = Relu(x) }
            >
        }"""
    )
    finding = one_finding(RULE, model)
    assert location_names(finding, "node") == ["t_dead"]
    assert location_names(finding, "initializer") == ["k"]
    assert [loc.graph for loc in finding.locations] == ["main/if/then_branch", "main"]
    fixed = fix_both(RULE, model)
    assert initializer_names(fixed) == set()
    assert_fix_ok(RULE, model, fixed)


def test_outer_node_read_only_by_a_dead_subgraph_node_goes_in_a_later_round():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) {
            [outer] h = Sigmoid(x)
            [if] y = If(c) <
                then_branch = t () => (float[2] ty) {
                    [t_dead] unused = Mul(x, h)
                    [t_live] ty = Neg(x)
                },
                else_branch = e () => (float[2] ey) { [e_live] ey = Relu(x) }
            >
        }"""
    )
    # While t_dead reads it, ``outer`` counts as read by the live If.
    assert location_names(one_finding(RULE, model)) == ["t_dead"]
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"if", "t_live", "e_live"}
    assert_fix_ok(RULE, model, fixed)


def test_dead_node_inside_loop_body_removed():
    model = parse(
        """
        g (float[2] x) => (float[2] y) <int64 n = {3}, bool go = {1}> {
            [loop] y = Loop(n, go, x) <
                body = b (int64 i, bool cin, float[2] acc) => (bool cout, float[2] next) {
                    [b_cond] cout = Identity(cin)
                    [b_dead] junk = Neg(acc)
                    [b_add] next = Add(acc, acc)
                }
            >
        }"""
    )
    assert location_names(one_finding(RULE, model)) == ["b_dead"]
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"loop", "b_cond", "b_add"}
    assert_fix_ok(RULE, model, fixed)


def test_value_named_by_subgraph_quantization_annotation_stays():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) {
            [if] y = If(c) <
                then_branch = t () => (float[2] ty) {
                    [t_annotated] z = Sigmoid(x)
                    [t_neg] ty = Neg(x)
                },
                else_branch = e () => (float[2] ey) { [e_relu] ey = Relu(x) }
            >
        }"""
    )
    model.graph.node[0].attribute[0].g.quantization_annotation.add(tensor_name="z")
    assert_untouched(RULE, model)


def test_custom_node_without_outputs_is_kept_with_what_it_reads():
    """A custom op with no outputs exists for a side effect (say, logging)."""
    model = parse(
        """
        g (float[2] x) => (float[2] y) {
            [relu] y = Relu (x)
            [neg] n = Neg (x)
        }
        """,
        extra=', "com.example" : 1',
    )
    model.graph.node.append(
        onnx.helper.make_node("Log", ["n"], [], name="log", domain="com.example")
    )
    assert check(DeadNode, model) == []
    model.graph.node[-1].output.append("unused")  # with an output nobody reads: dead
    (finding,) = check(DeadNode, model)
    assert sorted(location_names(finding, "node")) == ["log", "neg"]
