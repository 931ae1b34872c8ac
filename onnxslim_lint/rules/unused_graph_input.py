"""OSL106 unused-graph-input."""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from onnxslim_lint.findings import FixAvailability, Location
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural


class UnusedGraphInput(GraphRule[onnx.ValueInfoProto]):
    """
    ## What it does
    Reports inputs of the main graph (other than initializers) that nothing reads:
    no node, no subgraph, no graph output, no side table.

    ## Why is this bad?
    Every caller has to build and pass a tensor the model ignores. Often the
    export traced an argument (a ``position_ids``, a ``token_type_ids``) that the
    model no longer uses.

    ## What it leaves alone
    Everything: this rule only reports. Removing an input changes the model's
    interface, and every caller that passes it would fail; that is a decision for
    whoever owns the callers (re-export without the argument).

    Inputs that have an initializer default (overridable weights) are
    ``unused-initializer``'s concern, not this rule's.

    ## Example
    ``g (float[N,4] x, int64[N] ids) => (y) { y = Relu(x) }``: ``ids`` is reported.

    ## Fix safety
    No fix: the interface must not change behind the caller's back.
    """

    code = "OSL106"
    name = "unused-graph-input"
    summary = "Graph inputs that nothing reads (report only)"
    availability = FixAvailability.NONE

    def match(self, ctx: CheckContext) -> list[onnx.ValueInfoProto]:
        index = ctx.index
        main = index.main
        return [
            value
            for value in main.graph.input
            if value.name
            and value.name not in main.initializer_names
            and not index.is_used(value.name)
        ]

    def saving(self, item: onnx.ValueInfoProto) -> Saving:
        return Saving((Location("value", item.name, "main", "graph input", 0),))

    def message(self, items: Sequence[onnx.ValueInfoProto], total: Saving) -> str:
        names = ", ".join(repr(value.name) for value in items)
        return f"{plural(len(items), 'graph input')} that nothing reads: {names}"
