"""OSL105 unused-opset-import."""

from __future__ import annotations

import onnx

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext
from onnxslim_lint.rules.registry import ALL_RULES
from onnxslim_lint.rules.unused_opset_import import UnusedOpsetImport as R


def check(model):
    return R().check(CheckContext(ModelIndex.build(model), "m.onnx"))


def domains(model):
    return [op.domain for op in model.opset_import]


def test_registered():
    assert R in ALL_RULES


def test_finds_and_fixes():
    model = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17, "com.microsoft" : 1, "ai.onnx.ml" : 3]>
        g (float[2] x) => (float[2] y) { y = Neg(x) }
        """
    )
    (finding,) = check(model)
    assert finding.code == "OSL105" and finding.name == "unused-opset-import"
    assert finding.count == 2
    assert [loc.name for loc in finding.locations] == ["com.microsoft", "ai.onnx.ml"]
    assert finding.nbytes > 0
    fixed = R().run(model)
    assert fixed == apply_fixes(model, [R()]).model
    assert domains(fixed) == [""]
    assert check(fixed) == []
    onnx.checker.check_model(fixed, full_check=True)
    assert check_interface(model, fixed) is None
    report = verify_models(model, fixed, exact=True)
    assert report.passed and report.max_diff == 0.0, report


def test_default_domain_never_removed():
    model = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17]>
        g (float[2] x) => (float[2] y) { y = Identity(x) }
        """
    )
    model.graph.ClearField("node")
    model.graph.node.add().CopyFrom(onnx.helper.make_node("Identity", ["x"], ["y"]))
    assert check(model) == []


def test_domain_used_only_inside_function_stays():
    model = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17, "local" : 1, "ai.onnx.ml" : 3]>
        g (float[2] x) => (float[2] y) { y = local.F(x) }
        <domain: "local", opset_import: ["" : 17, "ai.onnx.ml" : 3]>
        F (x) => (y) { y = ai.onnx.ml.Normalizer<norm = "MAX">(x) }
        """
    )
    assert check(model) == []


def test_domain_used_in_subgraph_stays():
    model = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17, "ai.onnx.ml" : 3]>
        g (bool c, float[1,2] x) => (float[1,2] y) {
            y = If(c) <
                then_branch = t () => (float[1,2] a) {
                    a = ai.onnx.ml.Normalizer<norm = "MAX">(x)
                },
                else_branch = e () => (float[1,2] b) { b = Neg(x) }
            >
        }
        """
    )
    assert check(model) == []
