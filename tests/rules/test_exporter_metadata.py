"""OSL107 exporter-metadata."""

from __future__ import annotations

from pathlib import Path

import onnx
from onnx import helper

from onnxslim_lint.config import VerifySettings
from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext
from onnxslim_lint.rules.exporter_metadata import ExporterMetadata as R
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
    helper.set_metadata_props(model.graph.input[0], {"pkg.torch.export.kind": "USER_INPUT"})
    model.graph.output[0].doc_string = "logits"
    model.graph.value_info.append(helper.make_tensor_value_info("t", onnx.TensorProto.FLOAT, [2]))
    helper.set_metadata_props(model.graph.value_info[0], {"pkg.torch.onnx.name": "abs"})
    helper.set_metadata_props(model.graph, {"pkg.torch.export.graph_signature": "..."})
    model.doc_string = "kept"
    helper.set_metadata_props(model, {"author": "kept too"})
    return model


def test_opt_in_never_selected_by_all():
    assert R in ALL_RULES and R.opt_in
    assert R not in select_rules(["ALL"])
    assert R not in select_rules(["OSL1"])
    assert R in select_rules(["OSL107"])
    assert R in select_rules(["exporter-metadata"])


def test_finds_and_fixes():
    model = small()
    (finding,) = check(model)
    assert finding.code == "OSL107" and finding.name == "exporter-metadata"
    assert finding.count == 6 and finding.nodes == 0
    assert finding.message.startswith("metadata or doc strings on 2 nodes, 3 values, 1 graph")
    assert [(loc.kind, loc.name) for loc in finding.locations] == [
        ("node", "a"),
        ("node", "b"),
        ("value", "x"),
        ("value", "y"),
        ("value", "t"),
        ("graph", "g"),
    ]
    fixed = R().run(model)
    assert fixed == apply_fixes(model, [R()]).model
    assert check(fixed) == []
    # nested messages also lose a byte of length prefix here and there
    assert 0 <= model.ByteSize() - fixed.ByteSize() - finding.nbytes <= 8
    assert fixed.doc_string == "kept"
    assert [(p.key, p.value) for p in fixed.metadata_props] == [("author", "kept too")]
    assert [v.name for v in fixed.graph.value_info] == ["t"]  # annotations stay
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


def test_subgraphs_and_initializers():
    branch = onnx.parser.parse_graph("b () => (float[2] z) { z = Neg(x) }")
    helper.set_metadata_props(branch, {"scope": "branch"})
    helper.set_metadata_props(branch.node[0], {"stack": "line 9"})
    model = onnx.parser.parse_model(
        """
        <ir_version: 10, opset_import: ["" : 20]>
        g (float[2] x, bool c) => (float[2] y) <float[2] w = {1.0, 2.0}> {
            y = Add(x, w)
        }
        """
    )
    helper.set_metadata_props(model.graph.initializer[0], {"kind": "PARAMETER"})
    model.graph.node.append(
        helper.make_node("If", ["c"], ["u"], name="if", then_branch=branch, else_branch=branch)
    )
    model.graph.output.append(helper.make_tensor_value_info("u", onnx.TensorProto.FLOAT, [2]))
    (finding,) = check(model)
    kinds = [(loc.kind, loc.graph) for loc in finding.locations]
    assert ("initializer", "main") in kinds
    assert ("node", "main/if/then_branch") in kinds and ("graph", "main/if/else_branch") in kinds
    fixed = R().run(model)
    assert check(fixed) == []
    # nested messages also lose a byte of length prefix here and there
    assert 0 <= model.ByteSize() - fixed.ByteSize() - finding.nbytes <= 8
    report = verify_models(model, fixed, exact=True)
    assert report.passed, report
