"""OSL103 duplicate-constant."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from graphs import (
    CORE_RULES,
    all_node_names,
    all_nodes,
    assert_fix_ok,
    assert_untouched,
    check,
    fix_both,
    initializer_names,
    location_names,
    one_finding,
    parse,
    verified,
)
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.rules.duplicate_constant import DuplicateConstant

RULE = DuplicateConstant


def two_readers(
    a: onnx.TensorProto, b: onnx.TensorProto, elem: str = "float", shape: str = "[2]"
) -> onnx.ModelProto:
    """ya = Add(x, a), yb = Mul(x, b) with the given initializers ``a`` and ``b``."""
    model = parse(
        f"""
        g ({elem}{shape} x) => ({elem}{shape} ya, {elem}{shape} yb) {{
            [add] ya = Add(x, a)
            [mul] yb = Mul(x, b)
        }}"""
    )
    a.name, b.name = "a", "b"
    model.graph.initializer.extend([a, b])
    onnx.checker.check_model(model, full_check=True)
    return model


def floats(values, raw: bool = True, dims=None) -> onnx.TensorProto:  # type: ignore[no-untyped-def]
    array = np.asarray(values, dtype=np.float32)
    if raw:
        return numpy_helper.from_array(array if dims is None else array.reshape(dims), "")
    return helper.make_tensor("", TensorProto.FLOAT, list(dims or array.shape), array.tolist())


def nan_bits(payload: int) -> onnx.TensorProto:
    array = np.array([0x7FC00000 | payload, 0x3F800000], dtype=np.uint32).view(np.float32)
    return numpy_helper.from_array(array, "")


def reads(model: onnx.ModelProto, node_name: str) -> list[str]:
    return next(list(n.input) for n in all_nodes(model.graph) if n.name == node_name)


# -- finds and fixes ----------------------------------------------------------------


def test_finds_two_identical_initializers():
    model = two_readers(floats([1.5, 2.5]), floats([1.5, 2.5]))
    finding = one_finding(RULE, model)
    assert finding.count == 1
    assert finding.nodes == 0
    assert finding.nbytes > 0
    assert location_names(finding) == ["b"]
    assert finding.locations[0].kind == "initializer"
    assert finding.locations[0].detail == "float32[2] = a"


def test_merge_rewires_readers_and_removes_the_copy():
    model = two_readers(floats([1.5, 2.5]), floats([1.5, 2.5]))
    fixed = fix_both(RULE, model)
    assert initializer_names(fixed) == {"a"}
    assert reads(fixed, "mul") == ["x", "a"]
    assert reads(fixed, "add") == ["x", "a"]
    assert_fix_ok(RULE, model, fixed)
    result = apply_fixes(model, [RULE()])
    assert result.applied["OSL103"] == 1
    assert not apply_fixes(result.model, [RULE()]).changed


def test_merge_rewires_a_reader_inside_an_if_subgraph():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] ya, float[2] yb)
          <float[2] k1 = {1., 2.}, float[2] k2 = {1., 2.}> {
            [add] ya = Add(x, k1)
            [if] yb = If(c) <
                then_branch = t () => (float[2] ty) { [t_mul] ty = Mul(x, k2) },
                else_branch = e () => (float[2] ey) { [e_sub] ey = Sub(x, k2) }
            >
        }"""
    )
    finding = one_finding(RULE, model)
    assert location_names(finding) == ["k2"]
    fixed = fix_both(RULE, model)
    assert initializer_names(fixed) == {"k1"}
    assert reads(fixed, "t_mul") == ["x", "k1"]
    assert reads(fixed, "e_sub") == ["x", "k1"]
    assert_fix_ok(RULE, model, fixed)


def test_raw_data_and_float_data_of_the_same_values_merged():
    a, b = floats([1.5, -2.0], raw=True), floats([1.5, -2.0], raw=False)
    assert a.HasField("raw_data") and not b.HasField("raw_data")
    model = two_readers(a, b)
    assert location_names(one_finding(RULE, model)) == ["b"]
    fixed = fix_both(RULE, model)
    assert initializer_names(fixed) == {"a"}
    assert_fix_ok(RULE, model, fixed)


def test_three_copies_keep_one():
    model = parse(
        """
        g (float[2] x) => (float[2] y)
          <float[2] k1 = {3., 4.}, float[2] k2 = {3., 4.}, float[2] k3 = {3., 4.}> {
            [n1] a = Add(x, k1)
            [n2] b = Mul(a, k2)
            [n3] y = Sub(b, k3)
        }"""
    )
    finding = one_finding(RULE, model)
    assert finding.count == 2
    assert sorted(location_names(finding)) == ["k2", "k3"]
    fixed = fix_both(RULE, model)
    assert initializer_names(fixed) == {"k1"}
    assert_fix_ok(RULE, model, fixed)


# -- bit-exact comparison ---------------------------------------------------------


def test_zero_and_negative_zero_not_merged():
    assert_untouched(RULE, two_readers(floats([0.0, 1.0]), floats([-0.0, 1.0])))
    assert_untouched(RULE, two_readers(floats([0.0, 1.0], False), floats([-0.0, 1.0], False)))


def test_int32_and_float32_zeros_not_merged():
    model = parse(
        """
        g (float[2] x, int32[2] i) => (float[2] ya, int32[2] yb)
          <float[2] f0 = {0., 0.}, int32[2] i0 = {0, 0}> {
            [add] ya = Add(x, f0)
            [iadd] yb = Add(i, i0)
        }"""
    )
    assert_untouched(RULE, model)


def test_different_dims_not_merged():
    model = parse(
        """
        g (float[4] x, float[2, 2] z) => (float[4] ya, float[2, 2] yb)
          <float[4] flat = {1., 2., 3., 4.}, float[2, 2] square = {1., 2., 3., 4.}> {
            [add] ya = Add(x, flat)
            [mul] yb = Mul(z, square)
        }"""
    )
    assert_untouched(RULE, model)


def test_identical_nan_payloads_merged():
    model = two_readers(nan_bits(1), nan_bits(1))
    assert location_names(one_finding(RULE, model)) == ["b"]
    fixed = fix_both(RULE, model)
    assert initializer_names(fixed) == {"a"}
    assert_fix_ok(RULE, model, fixed)


def test_different_nan_payloads_not_merged():
    assert_untouched(RULE, two_readers(nan_bits(1), nan_bits(2)))


def nan_floats(payload: int) -> onnx.TensorProto:
    """The same NaN as :func:`nan_bits`, stored in ``float_data``."""
    values = numpy_helper.to_array(nan_bits(payload)).tolist()
    return helper.make_tensor("", TensorProto.FLOAT, [2], values)


def test_nan_payloads_in_float_data():
    assert not nan_floats(1).HasField("raw_data")
    assert_untouched(RULE, two_readers(nan_floats(1), nan_floats(2)))
    assert_untouched(RULE, two_readers(nan_bits(1), nan_floats(2)))
    model = two_readers(nan_bits(3), nan_floats(3))
    assert location_names(one_finding(RULE, model)) == ["b"]
    assert_fix_ok(RULE, model, fix_both(RULE, model))


# -- interface and names ----------------------------------------------------------


def test_graph_input_initializer_never_merged():
    model = parse(
        """
        g (float[2] x, float[2] k) => (float[2] ya, float[2] yb)
          <float[2] k = {1., 2.}, float[2] plain = {1., 2.}> {
            [add] ya = Add(x, k)
            [mul] yb = Mul(x, plain)
        }"""
    )
    assert_untouched(RULE, model)


def test_graph_input_initializer_never_merged_even_if_listed_second():
    model = parse(
        """
        g (float[2] x, float[2] k) => (float[2] ya, float[2] yb)
          <float[2] plain = {1., 2.}, float[2] k = {1., 2.}> {
            [add] ya = Add(x, k)
            [mul] yb = Mul(x, plain)
        }"""
    )
    assert_untouched(RULE, model)


def test_duplicate_that_is_a_graph_output_keeps_its_name_when_listed_first():
    model = parse(
        """
        g (float[2] x) => (float[2] y, float[2] k_out)
          <float[2] k_out = {1., 2.}, float[2] k = {1., 2.}> {
            [add] y = Add(x, k)
        }"""
    )
    finding = one_finding(RULE, model)
    assert location_names(finding) == ["k"]
    fixed = fix_both(RULE, model)
    assert initializer_names(fixed) == {"k_out"}
    assert [o.name for o in fixed.graph.output] == ["y", "k_out"]
    assert reads(fixed, "add") == ["x", "k_out"]
    assert_fix_ok(RULE, model, fixed)


def test_duplicate_that_is_a_graph_output_keeps_its_name_when_listed_second():
    model = parse(
        """
        g (float[2] x) => (float[2] y, float[2] k_out)
          <float[2] k = {1., 2.}, float[2] k_out = {1., 2.}> {
            [add] y = Add(x, k)
        }"""
    )
    fixed = fix_both(RULE, model)
    assert "k_out" in initializer_names(fixed)
    assert [o.name for o in fixed.graph.output] == ["y", "k_out"]
    assert check(RULE, fixed) == []
    assert_fix_ok(RULE, model, fixed)


def test_constant_node_graph_output_keeps_its_name():
    model = parse(
        """
        g (float[2] x) => (float[2] y, float[2] c_out) {
            [c1] c = Constant <value = float[2] {1., 2.}> ()
            [add] y = Add(x, c)
            [c2] c_out = Constant <value = float[2] {1., 2.}> ()
        }"""
    )
    fixed = fix_both(RULE, model)
    assert "c2" in all_node_names(fixed)
    assert_fix_ok(RULE, model, fixed)


# -- Constant nodes ---------------------------------------------------------------


def test_value_float_and_scalar_value_tensor_merged():
    model = parse(
        """
        g (float x) => (float ya, float yb) {
            [c1] a = Constant <value_float = 0.5> ()
            [c2] b = Constant <value = float {0.5}> ()
            [add] ya = Add(x, a)
            [mul] yb = Mul(x, b)
        }"""
    )
    finding = one_finding(RULE, model)
    assert location_names(finding) == ["b"]
    assert finding.locations[0].kind == "constant"
    assert finding.nodes == 1
    assert finding.nbytes > 0
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"c1", "add", "mul"}
    assert reads(fixed, "mul") == ["x", "a"]
    assert_fix_ok(RULE, model, fixed)


def test_value_float_and_raw_scalar_tensor_merged():
    model = parse(
        """
        g (float x) => (float ya, float yb) {
            [c1] a = Constant <value_float = 0.25> ()
            [add] ya = Add(x, a)
            [mul] yb = Mul(x, b)
        }"""
    )
    raw = numpy_helper.from_array(np.array(0.25, dtype=np.float32), "")
    model.graph.node.insert(1, helper.make_node("Constant", [], ["b"], name="c2", value=raw))
    assert model.graph.node[1].attribute[0].t.HasField("raw_data")
    assert location_names(one_finding(RULE, model)) == ["b"]
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"c1", "add", "mul"}
    assert_fix_ok(RULE, model, fixed)


def test_value_float_and_value_floats_not_merged():
    # A scalar and a one-element vector: same bytes, different dims.
    model = parse(
        """
        g (float x) => (float ya, float[1] yb) {
            [c1] a = Constant <value_float = 0.5> ()
            [c2] b = Constant <value_floats = [0.5]> ()
            [add] ya = Add(x, a)
            [mul] yb = Mul(x, b)
        }"""
    )
    assert_untouched(RULE, model)


def test_constant_node_duplicate_of_initializer_merged_into_initializer():
    model = parse(
        """
        g (float[2] x) => (float[2] ya, float[2] yb) <float[2] k = {1., 2.}> {
            [c] ck = Constant <value = float[2] {1., 2.}> ()
            [add] ya = Add(x, ck)
            [mul] yb = Mul(x, k)
        }"""
    )
    finding = one_finding(RULE, model)
    assert location_names(finding) == ["ck"]
    assert finding.locations[0].detail.endswith("= k")
    fixed = fix_both(RULE, model)
    assert all_node_names(fixed) == {"add", "mul"}
    assert initializer_names(fixed) == {"k"}
    assert reads(fixed, "add") == ["x", "k"]
    assert_fix_ok(RULE, model, fixed)


def test_constant_in_subgraph_merged_into_outer_initializer():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] ya, float[2] yb) <float[2] k = {1., 2.}> {
            [add] ya = Add(x, k)
            [if] yb = If(c) <
                then_branch = t () => (float[2] ty) {
                    [t_const] inner = Constant <value = float[2] {1., 2.}> ()
                    [t_mul] ty = Mul(x, inner)
                },
                else_branch = e () => (float[2] ey) { [e_neg] ey = Neg(x) }
            >
        }"""
    )
    finding = one_finding(RULE, model)
    assert location_names(finding) == ["inner"]
    assert finding.locations[0].graph == "main/if/then_branch"
    fixed = fix_both(RULE, model)
    assert "t_const" not in all_node_names(fixed)
    assert reads(fixed, "t_mul") == ["x", "k"]
    assert_fix_ok(RULE, model, fixed)


def test_constant_in_subgraph_merged_into_earlier_outer_constant():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] ya, float[2] yb) {
            [outer] k = Constant <value = float[2] {1., 2.}> ()
            [add] ya = Add(x, k)
            [if] yb = If(c) <
                then_branch = t () => (float[2] ty) {
                    [t_const] inner = Constant <value = float[2] {1., 2.}> ()
                    [t_mul] ty = Mul(x, inner)
                },
                else_branch = e () => (float[2] ey) { [e_neg] ey = Neg(x) }
            >
        }"""
    )
    assert location_names(one_finding(RULE, model)) == ["inner"]
    fixed = fix_both(RULE, model)
    assert reads(fixed, "t_mul") == ["x", "k"]
    assert_fix_ok(RULE, model, fixed)


def test_outer_constant_never_rewired_to_one_inside_a_subgraph():
    # The outer Constant comes after the If, so the inner one cannot read it; and the
    # outer one must not be rewired to the inner one (not visible outside).
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] ya, float[2] yb) {
            [if] yb = If(c) <
                then_branch = t () => (float[2] ty) {
                    [t_const] inner = Constant <value = float[2] {1., 2.}> ()
                    [t_mul] ty = Mul(x, inner)
                },
                else_branch = e () => (float[2] ey) { [e_neg] ey = Neg(x) }
            >
            [outer] k = Constant <value = float[2] {1., 2.}> ()
            [add] ya = Add(x, k)
        }"""
    )
    assert_untouched(RULE, model)


def test_outer_initializer_never_rewired_to_subgraph_initializer():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] ya, float[2] yb) <float[2] k = {1., 2.}> {
            [add] ya = Add(x, k)
            [if] yb = If(c) <
                then_branch = t () => (float[2] ty) <float[2] inner = {1., 2.}> {
                    [t_mul] ty = Mul(x, inner)
                },
                else_branch = e () => (float[2] ey) { [e_neg] ey = Neg(x) }
            >
        }"""
    )
    finding = one_finding(RULE, model)
    assert location_names(finding) == ["inner"]  # the inner one goes, never k
    fixed = fix_both(RULE, model)
    assert initializer_names(fixed) == {"k"}
    assert reads(fixed, "add") == ["x", "k"]
    assert reads(fixed, "t_mul") == ["x", "k"]
    assert_fix_ok(RULE, model, fixed)


def test_constants_in_sibling_branches_not_merged():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) {
            [if] y = If(c) <
                then_branch = t () => (float[2] ty) {
                    [t_const] a = Constant <value = float[2] {1., 2.}> ()
                    [t_mul] ty = Mul(x, a)
                },
                else_branch = e () => (float[2] ey) {
                    [e_const] b = Constant <value = float[2] {1., 2.}> ()
                    [e_add] ey = Add(x, b)
                }
            >
        }"""
    )
    assert_untouched(RULE, model)


def test_subgraph_output_constant_keeps_its_name():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] ya, float[2] yb) <float[2] k = {1., 2.}> {
            [add] ya = Add(x, k)
            [if] yb = If(c) <
                then_branch = t () => (float[2] ty) {
                    [t_const] ty = Constant <value = float[2] {1., 2.}> ()
                },
                else_branch = e () => (float[2] ey) { [e_neg] ey = Neg(x) }
            >
        }"""
    )
    assert_untouched(RULE, model)


def test_string_constants_not_compared():
    model = parse(
        """
        g (string[2] x) => (string[2] ya, string[2] yb) {
            [c1] a = Constant <value = string[2] {"p", "q"}> ()
            [c2] b = Constant <value = string[2] {"p", "q"}> ()
            [j1] ya = StringConcat(x, a)
            [j2] yb = StringConcat(x, b)
        }""",
        opset=20,
    )
    assert check(RULE, model) == []


# -- random ops -------------------------------------------------------------------


def random_model() -> onnx.ModelProto:
    return parse(
        """
        g (float[2, 2] x) => (float[2, 2] y, float[2, 2] r1, float[2, 2] r2) {
            [rand1] r1 = RandomNormal <shape = [2, 2], seed = 1.0> ()
            [rand2] r2 = RandomNormal <shape = [2, 2], seed = 1.0> ()
            [like] r3 = RandomNormalLike <seed = 1.0> (x)
            [add] s = Add(x, r3)
            [add2] y = Add(s, r1)
        }"""
    )


@pytest.mark.parametrize("rule", CORE_RULES, ids=lambda r: r.code)
def test_random_nodes_untouched_by_every_rule(rule):
    assert_untouched(rule, random_model())


def test_random_nodes_untouched_by_the_fix_loop():
    model = random_model()
    result = apply_fixes(model, [rule() for rule in CORE_RULES])
    assert not result.changed
    assert result.model == model
    assert check_interface(model, result.model) is None
    verified(model, result.model)
