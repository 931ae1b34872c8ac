"""OSL101 unused-initializer."""

from __future__ import annotations

import json

import numpy as np
import onnx
from graphs import (
    assert_fix_ok,
    assert_untouched,
    check,
    fix_both,
    initializer_names,
    location_names,
    one_finding,
    parse,
)
from onnx import TensorProto, helper, numpy_helper

from onnxslim_lint.findings import FixSafety
from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.unused_initializer import UnusedInitializer

RULE = UnusedInitializer


def messy() -> onnx.ModelProto:
    """Y = MatMul(X, W) + b, with an unused 4x4 W_old and an unused scalar."""
    return parse(
        """
        g (float[2, 4] x) => (float[2, 4] y)
          <float[4, 4] w = {1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1., 0., 0., 0., 0., 1.},
           float[4] b = {1., 2., 3., 4.},
           float[4, 4] w_old = {1., 2., 3., 4., 5., 6., 7., 8., 9., 1., 2., 3., 4., 5., 6., 7.},
           float scale = {0.5}> {
            [mm] h = MatMul(x, w)
            [add] y = Add(h, b)
        }"""
    )


# -- finds ----------------------------------------------------------------------------


def test_finds_unused_initializers():
    model = messy()
    finding = one_finding(RULE, model)
    assert finding.count == 2
    assert finding.nodes == 0
    assert finding.nbytes > 0
    assert finding.nbytes == sum(loc.nbytes for loc in finding.locations)
    assert sorted(location_names(finding)) == ["scale", "w_old"]
    assert {loc.kind for loc in finding.locations} == {"initializer"}
    assert {loc.graph for loc in finding.locations} == {"main"}
    details = {loc.name: loc.detail for loc in finding.locations}
    assert details == {"w_old": "float32[4,4]", "scale": "float32[]"}
    assert finding.fixable
    assert finding.safety is FixSafety.EXACT
    assert "2 unused initializers" in finding.message


def test_finding_as_dict_json_keys():
    finding = one_finding(RULE, messy())
    data = json.loads(json.dumps(finding.as_dict()))
    expected = {
        "filename",
        "code",
        "name",
        "message",
        "fixable",
        "count",
        "bytes",
        "nodes",
        "location",
    }
    assert expected <= set(data)
    assert data["filename"] == "m.onnx"
    assert data["code"] == "OSL101"
    assert data["name"] == "unused-initializer"
    assert data["fixable"] is True
    assert data["count"] == 2
    assert data["nodes"] == 0
    assert data["bytes"] == finding.nbytes > 0
    assert data["message"] == finding.message
    assert isinstance(data["location"], list) and len(data["location"]) == 2
    for loc in data["location"]:
        assert set(loc) == {"kind", "name", "graph", "detail", "bytes"}
        assert loc["kind"] == "initializer"
    assert sorted(loc["name"] for loc in data["location"]) == ["scale", "w_old"]
    assert "plan" not in data


# -- fixes ----------------------------------------------------------------------------


def test_fix_removes_exactly_the_reported():
    model = messy()
    reported = set(location_names(one_finding(RULE, model)))
    fixed = fix_both(RULE, model)
    assert initializer_names(model) - initializer_names(fixed) == reported
    assert initializer_names(fixed) == {"w", "b"}
    assert list(fixed.graph.node) == list(model.graph.node)
    assert_fix_ok(RULE, model, fixed)


def test_apply_fixes_counts():
    model = messy()
    result = apply_fixes(model, [RULE()])
    assert result.changed and result.exact
    assert result.applied["OSL101"] == 2
    assert len(result.fixed) == 1
    again = apply_fixes(result.model, [RULE()])
    assert not again.changed
    assert again.model == result.model


def test_unused_value_info_dropped():
    model = messy()
    model.graph.value_info.append(helper.make_tensor_value_info("w_old", TensorProto.FLOAT, [4, 4]))
    fixed = fix_both(RULE, model)
    assert "w_old" not in {v.name for v in fixed.graph.value_info}
    assert_fix_ok(RULE, model, fixed)


# -- leaves alone -------------------------------------------------------------------


def test_overridable_initializer_kept_even_if_unused():
    model = parse(
        """
        g (float[2] x, float[2] opt) => (float[2] y) <float[2] opt = {1., 2.}> {
            [r] y = Relu(x)
        }"""
    )
    assert ModelIndex.build(model).is_overridable("opt")
    assert_untouched(RULE, model)


def test_initializer_read_only_in_then_branch():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) <float[2] k = {1., 2.}> {
            [if] y = If(c) <
                then_branch = t () => (float[2] ty) { [tadd] ty = Add(x, k) },
                else_branch = e () => (float[2] ey) { [eneg] ey = Neg(x) }
            >
        }"""
    )
    assert_untouched(RULE, model)


def test_initializer_read_only_in_loop_body():
    model = parse(
        """
        g (float[2] x) => (float[2] y) <int64 n = {3}, bool t = {1}, float[2] k = {1., 2.}> {
            [loop] y = Loop(n, t, x) <
                body = b (int64 i, bool cin, float[2] acc) => (bool cout, float[2] next) {
                    [keep] cout = Identity(cin)
                    [ladd] next = Add(acc, k)
                }
            >
        }"""
    )
    assert_untouched(RULE, model)


def test_initializer_that_is_a_graph_output():
    model = parse(
        """
        g (float[2] x) => (float[2] y, float[2] k) <float[2] k = {1., 2.}> {
            [r] y = Relu(x)
        }"""
    )
    assert_untouched(RULE, model)


def test_initializer_named_only_in_training_binding():
    model = parse(
        """
        g (float[2] x) => (float[2] y) <float[2] w = {1., 2.}, float[2] w_new = {3., 4.}> {
            [add] y = Add(x, w)
        }"""
    )
    info = onnx.TrainingInfoProto()
    info.update_binding.add(key="w", value="w_new")
    model.training_info.append(info)
    found = check(RULE, model)
    assert "w_new" not in [name for f in found for name in location_names(f)]
    assert "w_new" in initializer_names(RULE().run(model))


def test_initializer_named_only_in_quantization_annotation():
    model = parse(
        """
        g (float[2] x) => (float[2] y) <float q_scale = {0.1}, int8 q_zero = {0}> {
            [r] y = Relu(x)
        }"""
    )
    annotation = model.graph.quantization_annotation.add(tensor_name="y")
    annotation.quant_parameter_tensor_names.add(key="SCALE_TENSOR", value="q_scale")
    annotation.quant_parameter_tensor_names.add(key="ZERO_POINT_TENSOR", value="q_zero")
    onnx.checker.check_model(model, full_check=True)
    assert_untouched(RULE, model)


def _with_sparse(used: bool) -> onnx.ModelProto:
    values = numpy_helper.from_array(np.array([5.0, 7.0], dtype=np.float32), "sp")
    indices = numpy_helper.from_array(np.array([1, 4], dtype=np.int64), "sp_idx")
    sparse = helper.make_sparse_tensor(values, indices, [6])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [6])
    node = helper.make_node("Add", ["x", "sp"], ["y"], name="add") if used else None
    graph = helper.make_graph(
        [node or helper.make_node("Relu", ["x"], ["y"], name="relu")],
        "g",
        [x],
        [y],
        sparse_initializer=[sparse],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_unused_sparse_initializer_found_and_removed():
    model = _with_sparse(used=False)
    onnx.checker.check_model(model, full_check=True)
    finding = one_finding(RULE, model)
    assert finding.count == 1
    assert finding.nbytes > 0
    assert location_names(finding) == ["sp"]
    fixed = fix_both(RULE, model)
    assert len(fixed.graph.sparse_initializer) == 0
    assert_fix_ok(RULE, model, fixed)


def test_used_sparse_initializer_kept():
    assert_untouched(RULE, _with_sparse(used=True))


def test_empty_optional_input_is_no_use():
    # Clip's min is absent (""); "lo" is unused and must be found, "hi" is read.
    model = parse(
        """
        g (float[3] x) => (float[3] y) <float lo = {0.}, float hi = {6.}> {
            [clip] y = Clip(x, "", hi)
        }"""
    )
    index = ModelIndex.build(model)
    assert index.uses_of("") == []
    assert not index.is_used("")
    finding = one_finding(RULE, model)
    assert location_names(finding) == ["lo"]
    fixed = fix_both(RULE, model)
    assert list(fixed.graph.node[0].input) == ["x", "", "hi"]
    assert initializer_names(fixed) == {"hi"}
    assert_fix_ok(RULE, model, fixed)


def test_unused_initializer_in_subgraph_found():
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) {
            [if] y = If(c) <
                then_branch = t () => (float[2] ty) <float[2] dead = {1., 2.}> {
                    [tneg] ty = Neg(x)
                },
                else_branch = e () => (float[2] ey) { [eneg] ey = Relu(x) }
            >
        }"""
    )
    finding = one_finding(RULE, model)
    assert location_names(finding) == ["dead"]
    assert finding.locations[0].graph == "main/if/then_branch"
    fixed = fix_both(RULE, model)
    assert initializer_names(fixed) == set()
    assert_fix_ok(RULE, model, fixed)


def _subgraph_annotated() -> onnx.ModelProto:
    model = parse(
        """
        g (float[2] x, bool c) => (float[2] y) {
            [if] y = If(c) <
                then_branch = t () => (float[2] ty) <float q_scale = {0.1}> {
                    [tneg] ty = Neg(x)
                },
                else_branch = e () => (float[2] ey) { [erelu] ey = Relu(x) }
            >
        }"""
    )
    then_branch = model.graph.node[0].attribute[0].g
    annotation = then_branch.quantization_annotation.add(tensor_name="ty")
    annotation.quant_parameter_tensor_names.add(key="SCALE_TENSOR", value="q_scale")
    onnx.checker.check_model(model, full_check=True)
    return model


def test_initializer_named_only_in_subgraph_quantization_annotation():
    assert_untouched(RULE, _subgraph_annotated())
