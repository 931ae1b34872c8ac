"""OSL201 identity-op."""

from __future__ import annotations

from collections.abc import Sequence

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor, can_bypass
from onnxslim_lint.model.index import ModelIndex, NodeRef
from onnxslim_lint.rules.base import (
    CheckContext,
    GraphRule,
    Saving,
    default_opset,
    plural,
    size_note,
    tally,
)


class IdentityOp(GraphRule[NodeRef]):
    """
    ## What it does
    Finds ``Identity`` nodes, and ``Dropout`` nodes that run in inference mode with
    their mask output unused: both pass their input through unchanged. Readers of
    the node's output are rewired to its input and the node is removed.

    ## Why is this bad?
    Exporters emit Identity for every aliased tensor and keep Dropout from training
    code. Each is a node that every runtime must load and schedule for nothing.

    ## What it leaves alone
    - When the output is a graph output, the graph output keeps its name: the node
      that makes the input is renamed to write the output instead. Where that is
      impossible (the input is a graph input, an initializer, a value of an outer
      graph, or itself an output), the node stays.
    - A Dropout whose ``training_mode`` is not a constant false, whose mask is read,
      or (opset < 7) whose ``is_test`` is 0.
    - Reads inside If/Loop/Scan subgraphs are rewired with the rest.

    ## Example
    ``h = Identity(x); y = Relu(h)`` becomes ``y = Relu(x)``.

    ## Fix safety
    Exact: Identity and inference-mode Dropout return their input bit for bit.
    """

    code = "OSL201"
    name = "identity-op"
    summary = "Identity nodes and inference-mode Dropout nodes"
    fix_title = "Remove the no-op nodes and rewire their readers"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[NodeRef]:
        index = ctx.index
        found: list[NodeRef] = []
        renamed: set[str] = set()  # inputs whose producer takes a graph output's name
        for ref in index.nodes():
            old, new = ref.node.output[0] if ref.node.output else "", ref.node.input[:1]
            if not _passes_through(index, ref) or not can_bypass(index, ref, old, new[0]):
                continue
            if index.is_graph_output(old):
                if new[0] in renamed:
                    continue  # its producer can take only one output's name
                renamed.add(new[0])
            found.append(ref)
        return found

    def saving(self, item: NodeRef) -> Saving:
        location = Location("node", item.label, item.scope.path, item.node.op_type, 0)
        return Saving((location,), nbytes=item.node.ByteSize(), nodes=1)

    def message(self, items: Sequence[NodeRef], total: Saving) -> str:
        kinds = tally(ref.node.op_type for ref in items)
        return f"{plural(len(items), 'no-op node')}: {kinds}{size_note(total.nbytes)}"

    def apply(self, index: ModelIndex, items: Sequence[NodeRef]) -> bool:
        editor = Editor(index)
        changed = False
        for ref in items:
            changed |= editor.bypass(ref, ref.node.output[0], ref.node.input[0])
        editor.commit()
        return changed


def _passes_through(index: ModelIndex, ref: NodeRef) -> bool:
    node = ref.node
    if not is_default_domain(node.domain) or not node.input or not node.input[0]:
        return False
    if not node.output or not node.output[0]:
        return False
    if node.op_type == "Identity":
        return len(node.output) == 1
    if node.op_type != "Dropout":
        return False
    if len(node.output) > 1 and node.output[1]:
        mask = node.output[1]
        if index.is_used(mask) or index.is_graph_output(mask):
            return False
    # Before opset 7 Dropout runs in training mode unless is_test=1.
    is_test = any(attr.name == "is_test" and attr.i == 1 for attr in node.attribute)
    if default_opset(index) < 7 and not is_test:
        return False
    if len(node.input) > 2 and node.input[2]:
        mode = index.constant_tensor(node.input[2])
        if mode is None or not index.has_data(mode):
            return False
        values = index.tensor_array(mode)
        if values.size != 1 or bool(values.reshape(-1)[0]):
            return False
    return True
