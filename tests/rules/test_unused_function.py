"""OSL104 unused-function."""

from __future__ import annotations

import onnx

from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext
from onnxslim_lint.rules.registry import ALL_RULES
from onnxslim_lint.rules.unused_function import UnusedFunction as R

HEADER = '<ir_version: 8, opset_import: ["" : 17, "local" : 1]>\n'
F_DEF = '<domain: "local", opset_import: ["" : 17]>\nF (x) => (y) { y = Abs(x) }\n'
G_DEF = '<domain: "local", opset_import: ["" : 17, "local" : 1]>\nG (x) => (y) { y = local.F(x) }\n'
H_DEF = '<domain: "local", opset_import: ["" : 17, "local" : 1]>\nH (x) => (y) { y = local.F(x) }\n'


def parse(graph: str, *functions: str) -> onnx.ModelProto:
    return onnx.parser.parse_model(HEADER + graph + "".join(functions))


def check(model):
    return R().check(CheckContext(ModelIndex.build(model), "m.onnx"))


def names(model):
    return [f.name for f in model.functions]


def fixed_ok(model):
    fixed = R().run(model)
    assert fixed == apply_fixes(model, [R()]).model
    assert check(fixed) == []
    onnx.checker.check_model(fixed, full_check=True)
    assert check_interface(model, fixed) is None
    report = verify_models(model, fixed, exact=True)
    assert report.passed, report
    return fixed


def test_registered():
    assert R in ALL_RULES


def test_finds_and_fixes_uncalled_chain():
    # H is called by nobody; F is called only by H: both go.
    model = parse("g (float[2] x) => (float[2] y) { y = Neg(x) }\n", F_DEF, H_DEF)
    (finding,) = check(model)
    assert finding.code == "OSL104" and finding.name == "unused-function"
    assert finding.count == 2
    assert sorted(loc.name for loc in finding.locations) == ["local.F", "local.H"]
    assert finding.nbytes == sum(f.ByteSize() for f in model.functions)
    assert names(fixed_ok(model)) == []


def test_called_function_stays():
    model = parse("g (float[2] x) => (float[2] y) { y = local.F(x) }\n", F_DEF, H_DEF)
    (finding,) = check(model)
    assert [loc.name for loc in finding.locations] == ["local.H"]
    assert names(fixed_ok(model)) == ["F"]


def test_called_only_from_called_function_stays():
    model = parse("g (float[2] x) => (float[2] y) { y = local.G(x) }\n", F_DEF, G_DEF)
    assert check(model) == []


def test_called_from_subgraph_stays():
    model = parse(
        """
        g (bool c, float[2] x) => (float[2] y) {
            y = If(c) <
                then_branch = t () => (float[2] a) { a = local.F(x) },
                else_branch = e () => (float[2] b) { b = Neg(x) }
            >
        }
        """,
        F_DEF,
    )
    assert check(model) == []
