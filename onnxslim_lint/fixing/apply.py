"""The fix loop: apply the selected rules' fixes until nothing changes.

Each round runs every rule once, in code order, on a freshly built index, so no
rule ever plans against a stale view of the model. The loop stops when a whole
round changes nothing. A round that removes something (nodes, tensors, functions,
opset imports) is progress: some models need many (an If nested 26 deep in constant
conditions unwraps a level a round). Rounds that change the model but remove
nothing, ``MAX_IDLE_ROUNDS`` in a row, are two rules undoing each other: a bug in a
rule, which raises. After ``MAX_ROUNDS`` rounds of progress the loop stops with what
it has (a valid, smaller model; the next check reports what is left), so the time a
fix takes stays bounded by the model's size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import onnx

from onnxslim_lint.errors import OnnxLintError
from onnxslim_lint.findings import Finding, FixSafety
from onnxslim_lint.model.annotations import repair_annotations
from onnxslim_lint.model.external_data import ExternalData
from onnxslim_lint.model.graphs import all_graphs
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import DEFAULT_OPTIONS, CheckContext, Rule, RuleOptions

__all__ = ["FixLoopResult", "RuleError", "apply_fixes"]

MAX_ROUNDS = 100
MAX_IDLE_ROUNDS = 20


class RuleError(OnnxLintError):
    """A rule's fix misbehaved (raised, or never converged): a bug to report."""


@dataclass
class FixLoopResult:
    model: onnx.ModelProto
    # rule code -> how many items (nodes, tensors, functions, opsets) its fixes removed
    applied: Counter[str] = field(default_factory=Counter)
    fixed: list[Finding] = field(default_factory=list)
    rounds: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.fixed)

    @property
    def exact(self) -> bool:
        """True when every applied fix promises bit-identical outputs."""
        return all(f.safety is FixSafety.EXACT for f in self.fixed)


def apply_fixes(
    model: onnx.ModelProto,
    rules: Sequence[Rule],
    *,
    may_fix: Callable[[Finding], bool] = lambda finding: finding.safety is FixSafety.EXACT,
    path: str = "<model>",
    options: RuleOptions = DEFAULT_OPTIONS,
    external: ExternalData | None = None,
) -> FixLoopResult:
    """Fix a copy of ``model``; ``model`` itself is not changed.

    ``external`` holds the data files of a model loaded with its weights on disk:
    the copy is then only the graph and the weights' headers, and rules read the
    weights through views of those files.
    """
    work = onnx.ModelProto()
    work.CopyFrom(model)
    result = FixLoopResult(work)
    index = ModelIndex.build(work, external=external)
    idle = 0
    for round_number in range(1, MAX_ROUNDS + 1):
        changed = False
        at_start = sum(_items(index))
        for rule in rules:
            for finding in rule.check(CheckContext(index, path, options)):
                if not finding.fixable or not may_fix(finding):
                    continue
                before = _items(index)
                try:
                    modified = rule.fix(index, finding)
                except Exception as exc:  # a rule bug: name the rule, keep the cause
                    raise RuleError(f"{path}: rule {rule.code} failed to fix: {exc!r}") from exc
                if modified:
                    changed = True
                    result.fixed.append(finding)
                    index = ModelIndex.build(work, external=external)
                    _repair_annotations(index)
                    # a fix that removes no item (stripping metadata) counts its finding
                    removed = _removed(before, _items(index))
                    result.applied[rule.code] += removed or finding.count
                    break  # the index changed: the rule's other findings wait a round
        result.rounds = round_number
        if not changed:
            return result
        idle = idle + 1 if sum(_items(index)) >= at_start else 0
        if idle >= MAX_IDLE_ROUNDS:
            raise RuleError(
                f"{path}: fixes did not settle: {idle} rounds in a row changed the model"
                " and removed nothing (please report)"
            )
    return result


def _repair_annotations(index: ModelIndex) -> None:
    """Bring the model's ``value_info`` back in line with what its graph now computes.

    A fix that changes a value (chain-merge giving an Unsqueeze a longer axes tensor)
    or makes a shape inferable (a fold exposing an exporter's placeholder) leaves
    annotations the full checker rejects, and that the next round's rules would read
    (``ModelIndex.value_shape``). Shape inference ignores ``value_info``, so the
    index's cached inference stays valid for the rules after the repair.
    """
    model = index.model
    if not any(graph.value_info for graph in all_graphs(model.graph)):
        return
    repair_annotations(model, index.inferred_shapes())


def _items(index: ModelIndex) -> tuple[int, ...]:
    model = index.model
    tensors = len(index.initializers) + len(index.sparse_initializers)
    return (len(index.node_refs), tensors, len(model.functions), len(model.opset_import))


def _removed(before: tuple[int, ...], after: tuple[int, ...]) -> int:
    """What a fix removed: nodes, tensors, functions and opset imports that are gone.

    Counted from the model rather than taken from the finding, so a fix that did part
    of its plan (the rest waits for the next round) is not counted twice.
    """
    return sum(max(0, b - a) for b, a in zip(before, after, strict=True))
