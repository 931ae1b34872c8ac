"""OSL107 node-metadata."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import helper

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.verify import VerifySettings, check_interface, verify_models
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext
from onnxslim_lint.rules.node_metadata import NodeMetadata as R
from onnxslim_lint.rules.registry import ALL_RULES, select_rules

EXPORTED = Path(__file__).parent.parent / "models" / "exported"


def check(model):
    return R().check(CheckContext(ModelIndex.build(model), "m.onnx"))


def small():
    model = onnx.parser.parse_model(
        """
        <ir_version: 10, opset_import: ["" : 20]>
        g (float[2] x) => (float[2] y) {
            [a] t = Abs(x)
            [b] y = Neg(t)
        }
        """
    )
    node = model.graph.node[0]
    helper.set_metadata_props(node, {"pkg.torch.onnx.stack_trace": "File x.py, line 3"})
    model.graph.node[1].doc_string = "negate"
    model.doc_string = "kept"
    return model


def test_opt_in_never_selected_by_all():
    assert R in ALL_RULES and R.opt_in
    assert R not in select_rules(["ALL"])
    assert R not in select_rules(["OSL1"])
    assert R in select_rules(["OSL107"])
    assert R in select_rules(["node-metadata"])


def test_finds_and_fixes():
    model = small()
    (finding,) = check(model)
    assert finding.code == "OSL107" and finding.name == "node-metadata"
    assert finding.count == 2 and finding.nodes == 0
    assert [loc.name for loc in finding.locations] == ["a", "b"]
    fixed = R().run(model)
    assert fixed == apply_fixes(model, [R()]).model
    assert check(fixed) == []
    assert model.ByteSize() - fixed.ByteSize() >= finding.nbytes
    assert fixed.doc_string == "kept"
    onnx.checker.check_model(fixed, full_check=True)
    assert check_interface(model, fixed) is None
    report = verify_models(model, fixed, exact=True)
    assert report.passed and report.max_diff == 0.0, report


def test_dynamo_export():
    model = onnx.load(EXPORTED / "bert_dynamo.onnx")
    (finding,) = check(model)
    assert finding.nbytes > 0
    fixed = R().run(model)
    assert fixed.ByteSize() < model.ByteSize()
    report = verify_models(
        model, fixed, VerifySettings(dims={"batch": 2, "sequence": 8}), exact=True
    )
    assert report.passed, report
