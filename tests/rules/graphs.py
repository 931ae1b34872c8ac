"""Helpers for the rule tests: build small models, run a rule, check a fix end to end.

Models are written in ONNX text syntax (``onnx.parser``) where possible; node names
are given explicitly (``[name] y = Op(x)``) so finding locations can be asserted.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort

from onnxslim_lint.findings import Finding
from onnxslim_lint.fixing.apply import apply_fixes
from onnxslim_lint.fixing.gates import check_interface, check_model_valid
from onnxslim_lint.fixing.verify import verify_models
from onnxslim_lint.model.graphs import all_graphs, all_nodes
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext, Rule
from onnxslim_lint.rules.dead_node import DeadNode
from onnxslim_lint.rules.duplicate_constant import DuplicateConstant
from onnxslim_lint.rules.identity_op import IdentityOp
from onnxslim_lint.rules.redundant_transpose import RedundantTranspose
from onnxslim_lint.rules.unused_initializer import UnusedInitializer

#: The five core rules, in code order (as the fix loop runs them).
CORE_RULES: tuple[type[Rule], ...] = (
    UnusedInitializer,
    DeadNode,
    DuplicateConstant,
    IdentityOp,
    RedundantTranspose,
)

__all__ = [
    "CORE_RULES",
    "all_graphs",
    "all_node_names",
    "all_nodes",
    "assert_fix_ok",
    "assert_untouched",
    "check",
    "exact_fix_ok",
    "fix_both",
    "initializer_names",
    "location_names",
    "one_finding",
    "parse",
    "verified",
]


def parse(text: str, opset: int = 17, ir_version: int = 8, extra: str = "") -> onnx.ModelProto:
    """A model from ONNX text syntax; ``text`` is the graph (and any functions)."""
    header = f'<ir_version: {ir_version}, opset_import: ["" : {opset}{extra}]>\n'
    return onnx.parser.parse_model(header + text)


def check(rule: type[Rule], model: onnx.ModelProto) -> list[Finding]:
    """The rule's findings on ``model`` (``model`` must not change)."""
    before = model.SerializeToString()
    found = rule().check(CheckContext(ModelIndex.build(model), "m.onnx"))
    assert model.SerializeToString() == before, "check() changed the model"
    return found


def one_finding(rule: type[Rule], model: onnx.ModelProto) -> Finding:
    found = check(rule, model)
    assert len(found) == 1, found
    finding = found[0]
    assert finding.code == rule.code
    assert finding.name == rule.name
    assert finding.path == "m.onnx"
    return finding


def location_names(finding: Finding, kind: str | None = None) -> list[str]:
    return [loc.name for loc in finding.locations if kind is None or loc.kind == kind]


def all_node_names(model: onnx.ModelProto) -> set[str]:
    return {node.name for node in all_nodes(model.graph)}


def initializer_names(model: onnx.ModelProto) -> set[str]:
    """Dense and sparse initializers of the main graph and every subgraph."""
    names: set[str] = set()
    for graph in all_graphs(model.graph):
        names.update(t.name for t in graph.initializer)
        names.update(s.values.name for s in graph.sparse_initializer)
    return names


def fix_both(rule: type[Rule], model: onnx.ModelProto) -> onnx.ModelProto:
    """Fix with ``Rule().run`` and with ``apply_fixes``; both must agree and keep the input."""
    before = model.SerializeToString()
    by_run = rule().run(model)
    result = apply_fixes(model, [rule()])
    assert model.SerializeToString() == before, "fixing changed the input model"
    assert by_run == result.model, "Rule().run and apply_fixes disagree"
    return by_run


def verified(original: onnx.ModelProto, fixed: onnx.ModelProto) -> None:
    report = verify_models(original, fixed, exact=True)
    assert report.passed, report
    assert report.max_diff == 0.0, report


def assert_fix_ok(
    rule: type[Rule], original: onnx.ModelProto, fixed: onnx.ModelProto, *, run: bool = True
) -> None:
    """The fixed model: nothing left to report, valid, same interface, same outputs."""
    assert check(rule, fixed) == []
    onnx.checker.check_model(fixed, full_check=True)
    assert check_model_valid(fixed) is None
    assert check_interface(original, fixed) is None
    if run:
        verified(original, fixed)


def exact_fix_ok(rule: type[Rule], model: onnx.ModelProto) -> onnx.ModelProto:
    """Fix ``model`` with the rule alone and check the result end to end (bit-exact)."""
    fixed = fix_both(rule, model)
    assert_fix_ok(rule, model, fixed)
    assert fixed.ByteSize() <= model.ByteSize(), "the fix grew the model"
    return fixed


def assert_untouched(rule: type[Rule], model: onnx.ModelProto) -> None:
    """The rule reports nothing and its fix leaves the model as it is."""
    assert check(rule, model) == []
    assert rule().run(model) == model
    assert apply_fixes(model, [rule()]).model == model


def run_outputs(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The model's outputs in onnxruntime for ``feeds`` (any branch a test picks)."""
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(out) for out in session.run(None, feeds)]


def same_outputs(
    model: onnx.ModelProto, fixed: onnx.ModelProto, feeds: dict[str, np.ndarray]
) -> None:
    """Bit for bit the same outputs, dtypes and shapes for these ``feeds``."""
    for want, got in zip(run_outputs(model, feeds), run_outputs(fixed, feeds), strict=True):
        assert want.dtype == got.dtype and want.shape == got.shape
        assert want.tobytes() == got.tobytes()
