"""OSL211 reshape-roundtrip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor, can_bypass
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.model.symbolic import SymbolicShapes
from onnxslim_lint.model.tensors import node_nbytes
from onnxslim_lint.rules._fusion import Claims
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note

# Ops that compute each element from the same element of their inputs: they give
# the same bits whatever the tensor's shape, as long as no input broadcasts.
_ELEMENTWISE = frozenset(
    {
        "Abs",
        "Add",
        "Cast",
        "Div",
        "Erf",
        "Exp",
        "Gelu",
        "Identity",
        "Log",
        "Max",
        "Min",
        "Mul",
        "Neg",
        "Pow",
        "Relu",
        "Sigmoid",
        "Softplus",
        "Sqrt",
        "Sub",
        "Tanh",
    }
)


@dataclass(eq=False)
class _Roundtrip:
    first: NodeRef  # Reshape x -> a
    last: NodeRef  # Reshape back to x's shape
    region: list[NodeRef]  # the elementwise nodes between them


class ReshapeRoundtrip(GraphRule[_Roundtrip]):
    """
    ## What it does
    Finds a ``Reshape`` followed by elementwise ops (``Add``, ``Mul``, ``Tanh``,
    ``Pow``, ...) and a ``Reshape`` back to the original shape, and removes both
    Reshapes: the elementwise ops work on the original tensor directly.

    ## Why is this bad?
    Exporters reshape to 3-D after every ``Gemm`` and back to 2-D before the next,
    with only an activation in between (GPT-2's MLP: 12 such pairs). Each Reshape is
    a node, and a copy in runtimes that do not alias.

    ## What it leaves alone
    - Unless every node between the Reshapes is elementwise, with each input either
      from the region or a constant scalar (a constant of any other shape could
      broadcast differently).
    - Values in between that are read by anything else or are graph outputs.
    - Unless the second Reshape provably gives back exactly the first one's input
      shape. Dims are compared as symbols (:mod:`onnxslim_lint.model.symbolic`), so
      ``float[batch*sequence, 256]`` reshaped to ``[batch, sequence, 256]`` and back
      with ``[-1, 256]`` qualifies; dims nobody can relate do not.
    - Nodes inside subgraphs.

    ## Example
    ``a = Reshape(x, [1, 128, 3072]); g = Tanh(a); y = Reshape(g, [128, 3072])``
    with ``x: float[128, 3072]`` becomes ``y = Tanh(x)``.

    ## Fix safety
    Exact: an elementwise op gives the same bits for an element whatever the shape
    of the tensor holding it. (On an empty tensor a ``-1`` in a removed Reshape's
    shape makes onnxruntime fail; the fixed model returns the empty result.)
    """

    code = "OSL211"
    name = "reshape-roundtrip"
    summary = "Reshape, elementwise ops, and a Reshape back"
    fix_title = "Remove both Reshapes around the elementwise ops"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[_Roundtrip]:
        index = ctx.index
        plans: list[_Roundtrip] = []
        claims = Claims()
        symbolic: SymbolicShapes | None = None
        for ref in index.nodes():
            if not _is_reshape(ref) or ref.scope is not index.main:
                continue
            symbolic = symbolic or SymbolicShapes.analyze(index)
            plan = _plan(index, symbolic, ref)
            if plan is None:
                continue
            if claims.take([plan.first, plan.last, *plan.region]):
                plans.append(plan)
        return plans

    def saving(self, item: _Roundtrip) -> Saving:
        label = f"{item.first.label} -> {item.last.label}"
        detail = f"{len(item.region)} elementwise nodes between"
        nbytes = node_nbytes(item.first.node) + node_nbytes(item.last.node)
        return Saving((Location("node", label, "main", detail, 0),), 2, nbytes, nodes=2)

    def message(self, items: Sequence[_Roundtrip], total: Saving) -> str:
        return (
            f"{plural(len(items), 'Reshape round trip')} around elementwise ops"
            f"{size_note(total.nbytes)}"
        )

    def apply(self, index: ModelIndex, items: Sequence[_Roundtrip]) -> bool:
        editor = Editor(index)
        changed = False
        for plan in items:
            x, a = plan.first.node.input[0], plan.first.node.output[0]
            end_in, end_out = plan.last.node.input[0], plan.last.node.output[0]
            if {x, a, end_in, end_out} & editor.touched:
                continue
            if not editor.bypass(plan.last, end_out, end_in):
                continue
            for node in plan.region:
                for slot, name in enumerate(node.node.input):
                    if name == a:
                        node.node.input[slot] = x
            editor.remove_node(plan.first)
            editor.touched.update((x, a))
            # The values between now have x's shape: their annotations are stale.
            region_values = {out for node in plan.region for out in node.node.output}
            _drop_value_info(index, region_values)
            changed = True
        editor.commit()
        return changed


def _plan(index: ModelIndex, symbolic: SymbolicShapes, first: NodeRef) -> _Roundtrip | None:
    x, a = first.node.input[0], first.node.output[0]
    if symbolic.shape(x) is None:
        return None
    if index.is_graph_output(a) or a in index.side_table_names:
        return None
    values = {a}
    region: dict[int, NodeRef] = {}
    ends: list[NodeRef] = []
    pending = [a]
    while pending:
        value = pending.pop()
        for use in index.uses_of(value):
            reader = use.node
            if reader is None or reader.scope is not index.main:
                return None  # a graph output, or read inside a subgraph
            if _is_reshape(reader) and use.slot == 0:
                ends.append(reader)
                continue
            if id(reader) in region:
                continue
            if not _elementwise_op(reader):
                return None
            region[id(reader)] = reader
            for out in reader.node.output:
                if index.is_graph_output(out) or out in index.side_table_names:
                    return None
                values.add(out)
                pending.append(out)
    if len(ends) != 1 or not region:
        return None
    # Inputs from outside the region must be scalars (checked once the region is
    # complete: an input may come from a region node found later).
    if not all(_inputs_ok(index, node, values) for node in region.values()):
        return None
    last = ends[0]
    if last.node.input[0] == a:
        return None  # Reshape -> Reshape: chain-merge's job
    if not symbolic.same_shape(last.node.output[0], x):
        return None
    if not can_bypass(index, last, last.node.output[0], last.node.input[0]):
        return None
    return _Roundtrip(first, last, list(region.values()))


def _is_reshape(ref: NodeRef) -> bool:
    node = ref.node
    return (
        node.op_type == "Reshape"
        and is_default_domain(node.domain)
        and len(node.input) >= 2
        and len(node.output) == 1
        and bool(node.output[0])
    )


def _elementwise_op(ref: NodeRef) -> bool:
    node = ref.node
    return (
        node.op_type in _ELEMENTWISE
        and is_default_domain(node.domain)
        and len(node.output) == 1
        and bool(node.output[0])
    )


def _inputs_ok(index: ModelIndex, ref: NodeRef, values: set[str]) -> bool:
    for name in ref.node.input:
        if name in values:
            continue
        constant = index.constant_array(name) if name else None
        if constant is None or constant.ndim != 0:
            return False  # only scalars broadcast the same way to every shape
    return True


def _drop_value_info(index: ModelIndex, names: set[str]) -> None:
    values = index.main.graph.value_info
    for position in range(len(values) - 1, -1, -1):
        if values[position].name in names:
            del values[position]
