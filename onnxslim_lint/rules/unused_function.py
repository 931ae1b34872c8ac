"""OSL104 unused-function."""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import canonical_domain
from onnxslim_lint.model.graphs import all_nodes
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note

FunctionKey = tuple[str, str, str]


class UnusedFunction(GraphRule[onnx.FunctionProto]):
    """
    ## What it does
    Finds model-local functions (``model.functions``) that nothing calls: no node
    of the main graph, of any subgraph, or of a function that is itself called.
    They are removed.

    ## Why is this bad?
    Exporters and rewriting tools leave function definitions behind after inlining
    or removing their calls. A definition nobody calls is dead weight in the file,
    and every loader still parses and checks it.

    ## What it leaves alone
    - A function called anywhere: the main graph, an ``If``/``Loop``/``Scan``
      subgraph, or the body of another function that is called (directly or
      through a chain of calls).
    - Calls are matched by domain, name and overload; a call with another overload
      does not keep a function alive.

    ## Example
    A model with functions ``local.Gelu`` (called by the graph) and
    ``local.OldGelu`` (called by nothing): ``local.OldGelu`` is removed.

    ## Fix safety
    Exact: nothing that runs is changed.
    """

    code = "OSL104"
    name = "unused-function"
    summary = "Model-local functions that nothing calls"
    fix_title = "Remove the uncalled functions"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[onnx.FunctionProto]:
        unused = unused_functions(ctx.index)
        return [f for f in ctx.index.model.functions if _key(f) in unused]

    def saving(self, item: onnx.FunctionProto) -> Saving:
        name = f"{item.domain}.{item.name}" if item.domain else item.name
        detail = f"{len(item.node)} nodes" + (
            f", overload {item.overload!r}" if item.overload else ""
        )
        location = Location("function", name, "functions", detail, item.ByteSize())
        return Saving((location,), nbytes=item.ByteSize())

    def message(self, items: Sequence[onnx.FunctionProto], total: Saving) -> str:
        return f"{plural(len(items), 'function')} that nothing calls{size_note(total.nbytes)}"

    def apply(self, index: ModelIndex, items: Sequence[onnx.FunctionProto]) -> bool:
        unused = {_key(function) for function in items}
        functions = index.model.functions
        changed = False
        for position in range(len(functions) - 1, -1, -1):
            if _key(functions[position]) in unused:
                del functions[position]
                changed = True
        return changed


def _key(function: onnx.FunctionProto) -> FunctionKey:
    return (canonical_domain(function.domain), function.name, function.overload)


def _call_key(node: onnx.NodeProto) -> FunctionKey:
    return (canonical_domain(node.domain), node.op_type, node.overload)


def called_functions(index: ModelIndex) -> set[FunctionKey]:
    """Keys of the functions reachable from the graphs (main, subgraphs, training)."""
    by_key = {_key(f): f for f in index.model.functions}
    roots = [ref.node for ref in index.nodes()]
    for info in index.model.training_info:
        roots.extend(all_nodes(info.initialization))
        roots.extend(all_nodes(info.algorithm))
    reached: set[FunctionKey] = set()
    pending = [_call_key(node) for node in roots]
    while pending:
        key = pending.pop()
        if key in reached or key not in by_key:
            continue
        reached.add(key)
        pending.extend(_call_key(node) for node in all_nodes(by_key[key]))
    return reached


def unused_functions(index: ModelIndex) -> set[FunctionKey]:
    called = called_functions(index)
    return {_key(f) for f in index.model.functions} - called
