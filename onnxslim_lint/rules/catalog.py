"""Every rule's code, name and opt-in flag, in the registry's order, without the rules.

Selecting rules (``--select``, ``ignore``, ``per-file-ignores``) needs only these
three facts, and a run whose files all come from the result cache needs nothing
else: it must not pay for importing onnx and the rule modules. The registry's
test holds this table to the rule classes (``tests/rules/test_registry.py``
prints the line to add for a new rule).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["CATALOG", "RuleEntry", "entry_named"]


class RuleEntry(NamedTuple):
    code: str
    name: str
    opt_in: bool = False


CATALOG: tuple[RuleEntry, ...] = (
    RuleEntry("OSL101", "unused-initializer"),
    RuleEntry("OSL102", "dead-node"),
    RuleEntry("OSL103", "duplicate-constant"),
    RuleEntry("OSL201", "identity-op"),
    RuleEntry("OSL202", "redundant-transpose"),
    RuleEntry("OSL203", "constant-folding"),
    RuleEntry("OSL214", "zero-initial-state"),
    RuleEntry("OSL204", "shape-folding"),
    RuleEntry("OSL215", "constant-if"),
    RuleEntry("OSL205", "no-op"),
    RuleEntry("OSL213", "reshape-target"),
    RuleEntry("OSL206", "chain-merge"),
    RuleEntry("OSL216", "slice-merge"),
    RuleEntry("OSL207", "common-subexpression"),
    RuleEntry("OSL208", "tied-weight"),
    RuleEntry("OSL209", "constant-node"),
    RuleEntry("OSL210", "sequence-split"),
    RuleEntry("OSL211", "reshape-roundtrip"),
    RuleEntry("OSL212", "reshaped-transpose"),
    RuleEntry("OSL301", "model-size"),
    RuleEntry("OSL302", "size-growth"),
    RuleEntry("OSL104", "unused-function"),
    RuleEntry("OSL105", "unused-opset-import"),
    RuleEntry("OSL106", "unused-graph-input"),
    RuleEntry("OSL108", "redundant-value-info"),
    RuleEntry("OSL401", "conv-bn"),
    RuleEntry("OSL402", "conv-add"),
    RuleEntry("OSL403", "pad-conv"),
    RuleEntry("OSL404", "matmul-add-gemm"),
    RuleEntry("OSL405", "gelu"),
    RuleEntry("OSL406", "layer-norm"),
    RuleEntry("OSL407", "parallel-matmul"),
    RuleEntry("OSL408", "gemm-transpose"),
    RuleEntry("OSL409", "conv-mul"),
    RuleEntry("OSL410", "add-zero"),
    RuleEntry("OSL107", "exporter-metadata", opt_in=True),
)


def entry_named(name: str) -> RuleEntry:
    """The entry of the rule called ``name`` (a KeyError for a name no rule has)."""
    for entry in CATALOG:
        if entry.name == name:
            return entry
    raise KeyError(name)
