"""Every rule in the registry keeps the rule contract.

Its documentation has the headings ``onnxslim-lint rule`` shows, its code and
kebab-case name are unique, its fix availability says what its findings are (always
fixable, or never), and on a model where it fires its fix converges: fixing what it
found and checking again finds nothing left.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import onnx
import pytest
from fusion_models import arr, init, model, vi
from graphs import parse
from onnx import helper

from onnxslim_lint.findings import Finding, FixAvailability, FixSafety, Location
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext, GraphRule, Rule, Saving
from onnxslim_lint.rules.catalog import CATALOG, RuleEntry
from onnxslim_lint.rules.registry import ALL_RULES

GRAPH_RULES = [rule for rule in ALL_RULES if issubclass(rule, GraphRule)]
# Measured on the files by the budget stage, not on the graph.
BUDGET_RULES = {"OSL301", "OSL302"}


def _with_doc_string(m: onnx.ModelProto) -> onnx.ModelProto:
    m.graph.node[0].doc_string = "File model.py, line 12, in forward"
    return m


def _with_stale_value_info(m: onnx.ModelProto) -> onnx.ModelProto:
    m.graph.value_info.append(vi("gone", [2]))
    return m


def _tied() -> onnx.ModelProto:
    w = arr(8, 16)
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="up"),
        helper.make_node("MatMul", ["h", "wt"], ["y"], name="down"),
    ]
    inits = [init("w", w), init("wt", np.ascontiguousarray(w.T))]
    return model(nodes, [vi("x", [2, 8])], [vi("y", [2, 8])], inits)


def _conv_then(op: str) -> onnx.ModelProto:
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv")]
    inits = [init("W", arr(4, 3, 3, 3))]
    if op == "BatchNormalization":
        nodes.append(helper.make_node(op, ["c", "s", "b", "m", "v"], ["y"], name="bn"))
        inits += [init("s", arr(4)), init("b", arr(4)), init("m", arr(4))]
        inits.append(init("v", arr(4, low=0.5, high=1.5)))
    else:
        nodes.append(helper.make_node(op, ["c", "bias"], ["y"], name=op.lower()))
        inits.append(init("bias", arr(4, 1, 1)))
    return model(nodes, [vi("x", [2, 3, 6, 6])], [vi("y", [2, 4, 4, 4])], inits)


def _pad_conv() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], name="pad"),
        helper.make_node("Conv", ["p", "W"], ["y"], name="conv"),
    ]
    inits = [init("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)), init("W", arr(4, 3, 3, 3))]
    return model(nodes, [vi("x", [2, 3, 6, 6])], [vi("y", [2, 4, 6, 6])], inits)


def _matmul_add() -> onnx.ModelProto:
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="matmul"),
        helper.make_node("Add", ["h", "b"], ["y"], name="add"),
    ]
    inits = [init("w", arr(4, 3)), init("b", arr(3))]
    return model(nodes, [vi("x", [2, 4])], [vi("y", [2, 3])], inits)


def _parallel_matmul() -> onnx.ModelProto:
    """Two projections of x, named as exporters name them (the merge saves their names)."""
    nodes, inits, outputs = [], [], []
    for role in ("query", "key"):
        prefix = f"/encoder/layer.0/attention/self/{role}"
        weight, bias = f"encoder.layer.0.attention.self.{role}.weight", f"{prefix}.bias"
        nodes += [
            helper.make_node(
                "MatMul", ["x", weight], [f"{prefix}/MatMul_output_0"], f"{prefix}/MatMul"
            ),
            helper.make_node(
                "Add",
                [bias, f"{prefix}/MatMul_output_0"],
                [f"{prefix}/Add_output_0"],
                f"{prefix}/Add",
            ),
            helper.make_node("Relu", [f"{prefix}/Add_output_0"], [role], f"{prefix}/Relu"),
        ]
        inits += [init(weight, arr(4, 4)), init(bias, arr(4))]
        outputs.append(vi(role, [1, 3, 4]))
    return model(nodes, [vi("x", [1, 3, 4])], outputs, inits)


LOCAL = '<domain: "local", opset_import: ["" : 17]>\nF (x) => (y) { y = Abs(x) }\n'

# code -> a model the rule fires on
FIRING: dict[str, Callable[[], onnx.ModelProto]] = {
    "OSL101": lambda: parse(
        "g (float[2] x) => (float[2] y) <float[2] w = {1.0, 2.0}> { y = Neg(x) }"
    ),
    "OSL102": lambda: parse("g (float[2] x) => (float[2] y) { d = Abs(x)\n y = Neg(x) }"),
    "OSL103": lambda: parse(
        "g (float[2] x) => (float[2] y) <float[2] a = {1.0, 2.0}, float[2] b = {1.0, 2.0}>"
        " { s = Add(x, a)\n y = Add(s, b) }"
    ),
    "OSL104": lambda: parse(
        "g (float[2] x) => (float[2] y) { y = Neg(x) }\n" + LOCAL, extra=', "local" : 1'
    ),
    "OSL105": lambda: parse(
        "g (float[2] x) => (float[2] y) { y = Neg(x) }", extra=', "com.microsoft" : 1'
    ),
    "OSL106": lambda: parse("g (float[2] x, float[2] unused) => (float[2] y) { y = Neg(x) }"),
    "OSL107": lambda: _with_doc_string(parse("g (float[2] x) => (float[2] y) { y = Neg(x) }")),
    "OSL108": lambda: _with_stale_value_info(
        parse("g (float[2] x) => (float[2] y) { y = Neg(x) }")
    ),
    "OSL201": lambda: parse("g (float[2] x) => (float[2] y) { h = Identity(x)\n y = Neg(h) }"),
    "OSL202": lambda: parse(
        "g (float[2,3] x) => (float[2,3] y) { a = Transpose <perm = [1, 0]> (x)\n"
        " b = Transpose <perm = [1, 0]> (a)\n y = Neg(b) }"
    ),
    "OSL203": lambda: parse(
        "g (float[2] x) => (float[2] y) { c = Constant <value = float[2] {1.0, 2.0}> ()\n"
        " n = Neg(c)\n y = Add(x, n) }"
    ),
    "OSL204": lambda: parse(
        "g (float[2,3,4] x) => (float[2,12] y) { h = Relu(x)\n"
        " s = Shape <start = 0, end = 1> (h)\n m = Constant <value = int64[1] {-1}> ()\n"
        " t = Concat <axis = 0> (s, m)\n y = Reshape(h, t) }"
    ),
    "OSL205": lambda: parse(
        "g (float[2] x) => (float[2] y) { c = Cast <to = 1> (x)\n y = Neg(c) }"
    ),
    "OSL206": lambda: parse(
        "g (float[2,3] x) => (float[6] y) <int64[2] s1 = {3, 2}, int64[1] s2 = {6}>"
        " { a = Reshape(x, s1)\n b = Reshape(a, s2)\n y = Neg(b) }"
    ),
    "OSL207": lambda: parse(
        "g (float[2] x) => (float[2] y) { a = Neg(x)\n b = Neg(x)\n y = Add(a, b) }"
    ),
    "OSL208": _tied,
    "OSL215": lambda: parse(
        "g (float[2] x) => (float[2] y) <bool c = {1}> { y = If (c) <then_branch ="
        " t () => (float[2] a) { a = Relu(x) }, else_branch = e () => (float[2] b)"
        " { b = Neg(x) }> }"
    ),
    "OSL209": lambda: parse(
        "g (float[2] x) => (float[2] y) { c = Constant <value = float[2] {1.0, 2.0}> ()\n"
        " y = Add(x, c) }"
    ),
    "OSL210": lambda: parse(
        "g (float[2,4] x) => (float[2,2] a, float[2,2] b) {"
        " size = Constant <value = int64 {2}> ()\n"
        " i0 = Constant <value = int64 {0}> ()\n i1 = Constant <value = int64 {1}> ()\n"
        " s = SplitToSequence <axis = 1> (x, size)\n a = SequenceAt(s, i0)\n"
        " b = SequenceAt(s, i1) }",
        opset=18,
    ),
    "OSL211": lambda: parse(
        "g (float[6,4] x) => (float[6,4] y) { to3 = Constant <value = int64[3] {1, 6, 4}> ()\n"
        " to2 = Constant <value = int64[2] {6, 4}> ()\n a = Reshape(x, to3)\n r = Relu(a)\n"
        " b = Reshape(r, to2)\n y = Neg(b) }"
    ),
    "OSL212": lambda: parse(
        "g (float[2,3,4] x) => (float[2,4,3] y) {"
        " s1 = Constant <value = int64[4] {1, 2, 3, 4}> ()\n"
        " s2 = Constant <value = int64[3] {2, 4, 3}> ()\n a = Reshape(x, s1)\n"
        " t = Transpose <perm = [0, 1, 3, 2]> (a)\n y = Reshape(t, s2) }"
    ),
    "OSL213": lambda: parse(
        "g (float[b,6,8,4] t, float[b6,4,8] k) => (float[b,6,4,8] y) {"
        " four = Constant <value = int64[1] {4}> ()\n"
        " eight = Constant <value = int64[1] {8}> ()\n s = Shape <end = 2> (t)\n"
        " c = Concat <axis = 0> (s, four, eight)\n y = Reshape(k, c) }"
    ),
    "OSL214": lambda: parse(
        "g (float[5,1,3] x, float[1,16,3] W, float[1,16,4] R) => (float[5,1,1,4] y) {"
        " z = Constant <value = float[1,1,4] {0.0, 0.0, 0.0, 0.0}> ()\n"
        " y, h, c = LSTM <hidden_size = 4> (x, W, R, , , z, z) }"
    ),
    "OSL216": lambda: parse(
        "g (float[4,6] x) => (float[3,2] y) <int64[1] s = {1}, int64[1] e = {3}, int64[1] a = {0},"
        " int64[1] s2 = {1}, int64[1] e2 = {4}> { first_slice = Slice(x, s2, e2, a)\n"
        " y = Slice(first_slice, s, e, s) }"
    ),
    "OSL401": lambda: _conv_then("BatchNormalization"),
    "OSL402": lambda: _conv_then("Add"),
    "OSL403": _pad_conv,
    "OSL404": _matmul_add,
    "OSL405": lambda: parse(
        "g (float[2,8] x) => (float[2,8] y) { sqrt2 = Constant <value = float {1.4142135}> ()\n"
        " one = Constant <value = float {1.0}> ()\n half = Constant <value = float {0.5}> ()\n"
        " d = Div(x, sqrt2)\n e = Erf(d)\n a = Add(e, one)\n m = Mul(x, a)\n"
        " y = Mul(m, half) }",
        opset=20,
    ),
    "OSL406": lambda: parse(
        "g (float[2,8] x) => (float[2,8] y) { axes = Constant <value = int64[1] {-1}> ()\n"
        " two = Constant <value = float {2.0}> ()\n eps = Constant <value = float {1e-5}> ()\n"
        " m = ReduceMean(x, axes)\n d = Sub(x, m)\n p = Pow(d, two)\n"
        " v = ReduceMean(p, axes)\n ve = Add(v, eps)\n s = Sqrt(ve)\n n = Div(d, s)\n"
        " gamma = Constant <value = float[8] {1.0, 0.5, 2.0, 1.5, 1.0, 0.25, 3.0, 1.0}> ()\n"
        " y = Mul(n, gamma) }",
        opset=18,
    ),
    "OSL407": _parallel_matmul,
    "OSL408": lambda: parse(
        "g (float[4,3] a, float[4,5] b) => (float[3,5] y) {"
        " at = Transpose <perm = [1, 0]> (a)\n y = Gemm(at, b) }"
    ),
    "OSL409": lambda: _conv_then("Mul"),
    "OSL410": lambda: parse(
        "g (float[2,8] x) => (float[2,8] y) <float[8] z = {0, 0, 0, 0, 0, 0, 0, 0}> {"
        " a = Abs(x)\n b = Add(a, z)\n y = Relu(b) }"
    ),
}


def _check(rule: Rule, m: onnx.ModelProto) -> list[Finding]:
    return rule.check(CheckContext(ModelIndex.build(m), "m.onnx"))


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda rule: rule.code)
def test_documentation_has_the_headings(rule: type[Rule]) -> None:
    doc = rule.explanation()
    for heading in ("## What it does", "## Why is this bad?", "## Example"):
        assert heading in doc
    if rule.availability is not FixAvailability.NONE:
        assert "## Fix safety" in doc


def test_codes_and_names_are_unique_and_well_formed() -> None:
    codes = [rule.code for rule in ALL_RULES]
    names = [rule.name for rule in ALL_RULES]
    assert len(set(codes)) == len(codes) and len(set(names)) == len(names)
    for rule in ALL_RULES:
        assert re.fullmatch(r"OSL[1-4]\d\d", rule.code)
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)
        assert rule.summary and not rule.summary.endswith(".")


def test_the_catalog_lists_every_rule_as_the_registry_does() -> None:
    """Selection reads the catalog, not the rules: it must say what the classes say."""
    expected = [RuleEntry(rule.code, rule.name, rule.opt_in) for rule in ALL_RULES]
    missing = [entry for entry in expected if entry not in CATALOG]
    assert list(CATALOG) == expected, f"rules/catalog.py must list, in this order: {missing}"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda rule: rule.code)
def test_availability_agrees_with_safety_and_title(rule: type[Rule]) -> None:
    has_fix = rule.availability is not FixAvailability.NONE
    assert (rule.safety is not None) == has_fix
    assert (rule.fix_title is not None) == has_fix


def test_every_graph_rule_has_a_model_it_fires_on() -> None:
    assert {rule.code for rule in GRAPH_RULES} == set(FIRING)
    assert {rule.code for rule in ALL_RULES if rule not in GRAPH_RULES} == BUDGET_RULES


@pytest.mark.parametrize("code", sorted(BUDGET_RULES))
def test_budget_rules_find_nothing_in_the_graph(code: str) -> None:
    (rule,) = [rule for rule in ALL_RULES if rule.code == code]
    assert rule.availability is FixAvailability.NONE
    assert _check(rule(), FIRING["OSL101"]()) == []


@pytest.mark.parametrize("rule", GRAPH_RULES, ids=lambda rule: rule.code)
def test_findings_are_as_fixable_as_the_rule_says(rule: type[GraphRule[Any]]) -> None:
    (finding,) = _check(rule(), FIRING[rule.code]())
    assert finding.code == rule.code and finding.name == rule.name
    assert finding.locations
    if rule.availability is FixAvailability.ALWAYS:
        assert finding.fixable and finding.safety is rule.safety
        assert finding.fix_title == rule.fix_title
    else:
        assert rule.availability is FixAvailability.NONE
        assert not finding.fixable and finding.safety is None and finding.fix_title is None


@pytest.mark.parametrize(
    "rule",
    [rule for rule in GRAPH_RULES if rule.availability is not FixAvailability.NONE],
    ids=lambda rule: rule.code,
)
def test_the_fix_converges(rule: type[GraphRule[Any]]) -> None:
    """Fixing what the rule found and checking again leaves nothing for it."""
    m = FIRING[rule.code]()
    instance = rule()
    for _ in range(3):
        index = ModelIndex.build(m)
        findings = instance.check(CheckContext(index, "m.onnx"))
        if not findings:
            break
        assert all(instance.fix(index, finding) for finding in findings)
    assert _check(instance, m) == []
    onnx.checker.check_model(m, full_check=True)


class _SometimesFixable(GraphRule[str]):
    """A rule whose findings are fixable only when every item it found is: the base
    class asks the rule (``fixable``) instead of assuming."""

    code = "OSL999"
    name = "sometimes-fixable"
    summary = "Graph inputs, fixable only when none is named keep"
    fix_title = "Nothing"
    availability = FixAvailability.SOMETIMES
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[str]:
        return [value.name for value in ctx.index.model.graph.input]

    def saving(self, item: str) -> Saving:
        return Saving((Location("value", item),))

    def message(self, items: Sequence[str], total: Saving) -> str:
        return ", ".join(items)

    def fixable(self, items: Sequence[str]) -> bool:
        return "keep" not in items


def test_a_sometimes_rule_decides_per_finding() -> None:
    (fixable,) = _check(_SometimesFixable(), parse("g (float[2] x) => (float[2] y) { y = Neg(x) }"))
    assert fixable.fixable and fixable.safety is FixSafety.EXACT
    kept = parse("g (float[2] keep) => (float[2] y) { y = Neg(keep) }")
    (reported,) = _check(_SometimesFixable(), kept)
    assert not reported.fixable and reported.safety is None and reported.fix_title is None


@pytest.mark.parametrize(
    "rule",
    [rule for rule in GRAPH_RULES if rule.requires.min_opset > 1 or rule.requires.min_ir_version],
    ids=lambda rule: rule.code,
)
def test_a_rule_finds_nothing_in_a_model_its_requirements_rule_out(
    rule: type[GraphRule[Any]],
) -> None:
    requires = rule.requires
    if requires.min_opset > 1:
        older = FIRING[rule.code]()
        (default,) = [op for op in older.opset_import if op.domain in ("", "ai.onnx")]
        default.version = requires.min_opset - 1
        assert _check(rule(), older) == []
    if requires.min_ir_version:
        older = FIRING[rule.code]()
        older.ir_version = requires.min_ir_version - 1
        assert _check(rule(), older) == []
