"""OSL207 common-subexpression."""

from __future__ import annotations

import onnx
from onnx import helper

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext
from onnxslim_lint.rules.common_subexpression import CommonSubexpression as R
from onnxslim_lint.rules.registry import ALL_RULES


def parse(text: str) -> onnx.ModelProto:
    return onnx.parser.parse_model('<ir_version: 8, opset_import: ["" : 17]>\n' + text)


def check(model):
    return R().check(CheckContext(ModelIndex.build(model), "m.onnx"))


def fixed_ok(model, *, run=True):
    fixed = R().run(model)
    assert fixed == apply_fixes(model, [R()]).model
    assert check(fixed) == []
    onnx.checker.check_model(fixed, full_check=True)
    assert check_interface(model, fixed) is None
    if run:
        report = verify_models(model, fixed, exact=True)
        assert report.passed, report
        assert report.max_diff == 0.0
    return fixed


def ops(model):
    return [n.op_type for n in model.graph.node]


def test_registered():
    assert R in ALL_RULES
    assert "## Fix safety" in R.explanation()


def test_finds_and_fixes_chains():
    model = parse(
        """
        g (float[2,3] x) => (float[2,3] y) {
            [a1] a = Abs(x)
            [a2] b = Abs(x)
            [n1] c = Neg(a)
            [n2] d = Neg(b)
            [s1] e = Softmax<axis = 1>(c)
            [s2] f = Softmax<axis = 0>(d)
            y = Add(e, f)
        }
        """
    )
    (finding,) = check(model)
    assert finding.code == "OSL207" and finding.name == "common-subexpression"
    assert finding.count == 1 and finding.nodes == 1
    assert [loc.name for loc in finding.locations] == ["a2"]
    assert finding.nbytes == model.graph.node[1].ByteSize()
    fixed = fixed_ok(model)
    # Abs and Neg merged across rounds; Softmax axes differ so both stay.
    assert ops(fixed) == ["Abs", "Neg", "Softmax", "Softmax", "Add"]


def test_random_ops_never_merged():
    model = parse(
        """
        g (float[2] x) => (float[2,3] y) {
            r1 = RandomNormal<shape = [2, 3], seed = 1.0>()
            r2 = RandomNormal<shape = [2, 3], seed = 1.0>()
            y = Add(r1, r2)
        }
        """
    )
    assert check(model) == []
    assert ops(R().run(model)).count("RandomNormal") == 2


def test_custom_domain_and_function_calls_left_alone():
    model = onnx.parser.parse_model(
        """
        <ir_version: 8, opset_import: ["" : 17, "local" : 1]>
        g (float[2] x) => (float[2] y) {
            a = local.F(x)
            b = local.F(x)
            y = Add(a, b)
        }
        <domain: "local", opset_import: ["" : 17]>
        F (x) => (y) { y = Abs(x) }
        """
    )
    assert check(model) == []


def test_subgraph_nodes_not_merged():
    then_g = helper.make_graph(
        [helper.make_node("Abs", ["x"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", onnx.TensorProto.FLOAT, [2])],
    )
    nodes = [
        helper.make_node("If", ["c"], ["i1"], then_branch=then_g, else_branch=then_g),
        helper.make_node("If", ["c"], ["i2"], then_branch=then_g, else_branch=then_g),
        helper.make_node("Add", ["i1", "i2"], ["y"]),
    ]
    # Distinct inner names (no shadowing): rename the second If's subgraph values.
    second = nodes[1]
    for attr in second.attribute:
        attr.g.node[0].output[0] = "t2"
        attr.g.output[0].name = "t2"
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("c", onnx.TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    assert check(model) == []


def test_graph_output_keeps_its_name():
    model = parse(
        """
        g (float[2] x) => (float[2] y, float[2] z) {
            a = Abs(x)
            y = Neg(a)
            z = Abs(x)
        }
        """
    )
    assert len(check(model)) == 1
    fixed = fixed_ok(model)
    assert [o.name for o in fixed.graph.output] == ["y", "z"]
    assert [n.output[0] for n in fixed.graph.node] == ["z", "y"]
    assert fixed.graph.node[1].input[0] == "z"


def test_both_graph_outputs_stay():
    model = parse(
        """
        g (float[2] x) => (float[2] y, float[2] z) {
            y = Abs(x)
            z = Abs(x)
        }
        """
    )
    assert check(model) == []


def test_three_copies_one_pinned():
    model = parse(
        """
        g (float[2] x) => (float[2] y, float[2] z) {
            a = Abs(x)
            b = Abs(x)
            z = Abs(x)
            c = Neg(a)
            d = Neg(b)
            y = Add(c, d)
        }
        """
    )
    (finding,) = check(model)
    assert finding.count == 2
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Abs", "Neg", "Add"]


def test_subgraph_outer_reads_rewired():
    body = helper.make_graph(
        [helper.make_node("Neg", ["b"], ["t"])],
        "then",
        [],
        [helper.make_tensor_value_info("t", onnx.TensorProto.FLOAT, [2])],
    )
    other = helper.make_graph(
        [helper.make_node("Neg", ["a"], ["u"])],
        "else",
        [],
        [helper.make_tensor_value_info("u", onnx.TensorProto.FLOAT, [2])],
    )
    nodes = [
        helper.make_node("Abs", ["x"], ["a"]),
        helper.make_node("Abs", ["x"], ["b"]),
        helper.make_node("If", ["c"], ["y"], then_branch=body, else_branch=other),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [
            helper.make_tensor_value_info("c", onnx.TensorProto.BOOL, []),
            helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    fixed = fixed_ok(model)
    assert ops(fixed) == ["Abs", "If"]
    assert fixed.graph.node[1].attribute[0].g.node[0].input[0] == "a"
