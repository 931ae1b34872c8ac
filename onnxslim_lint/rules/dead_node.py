"""OSL102 dead-node."""

from __future__ import annotations

from collections.abc import Sequence

import onnx

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import GraphScope, ModelIndex, NodeRef
from onnxslim_lint.model.tensors import node_nbytes, tensor_detail, tensor_nbytes
from onnxslim_lint.rules._fusion import node_saving
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note

# A dead node, or an initializer (its scope and tensor) only dead nodes read.
_Dead = NodeRef | tuple[GraphScope, onnx.TensorProto]


class DeadNode(GraphRule[_Dead]):
    """
    ## What it does
    Finds nodes none of whose outputs reaches a graph output: not directly, not
    through other nodes, and not through a read inside an If/Loop/Scan subgraph of
    a node that is itself needed. Initializers that only those nodes read are
    removed with them.

    ## Why is this bad?
    Every runtime still loads, plans and often runs a dead node; its constants and
    weights take space in the file. Exporters leave dead branches behind when an
    output is dropped after tracing, or when shape computations are folded.

    ## What it leaves alone
    - Subgraphs are judged by their own outputs: a node inside a ``Loop`` body that
      feeds the body's outputs is live as long as the ``Loop`` is.
    - A node whose output a subgraph reads from the outer scope is live when that
      subgraph's node is.
    - Values named in training or quantization side tables are live.
    - A custom-domain node with no outputs is live (it exists for a side effect),
      and so is everything it reads.
    - Model-local functions are not removed, even when their last caller is: calls
      are counted in every graph and function.

    ## Example
    ``Y = Relu(X)`` is the output; ``Z = Mul(X, scale)`` is read by nothing: the
    ``Mul`` is reported and removed, and ``scale`` with it if nothing else reads it.

    ## Fix safety
    Exact: the removed nodes cannot influence any output.
    """

    code = "OSL102"
    name = "dead-node"
    summary = "Nodes whose outputs reach no graph output"
    fix_title = "Remove the dead nodes"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT

    def match(self, ctx: CheckContext) -> list[_Dead]:
        index = ctx.index
        dead = _dead_nodes(index)
        if not dead:
            return []
        freed = [index.initializers[name] for _, name in _freed_initializers(index, dead)]
        return [*dead, *freed]

    def saving(self, item: _Dead) -> Saving:
        if isinstance(item, NodeRef):
            return node_saving(item, item.node.op_type, node_nbytes(item.node))
        scope, tensor = item
        nbytes = tensor_nbytes(tensor)
        location = Location("initializer", tensor.name, scope.path, tensor_detail(tensor), nbytes)
        return Saving((location,), nbytes=nbytes)

    def message(self, items: Sequence[_Dead], total: Saving) -> str:
        message = plural(total.nodes, "dead node")
        freed = len(items) - total.nodes
        if freed:
            message += f" and {plural(freed, 'initializer')} only they read"
        return message + size_note(total.nbytes)

    def apply(self, index: ModelIndex, items: Sequence[_Dead]) -> bool:
        editor = Editor(index)
        for item in items:
            if isinstance(item, NodeRef):
                editor.remove_node(item)
            else:
                editor.remove_initializer(item[0], item[1].name)
        editor.commit()
        return any(isinstance(item, NodeRef) for item in items)


def _dead_nodes(index: ModelIndex) -> list[NodeRef]:
    dead: list[NodeRef] = []
    dead_ids: set[int] = set()
    for scope in index.scopes:
        if _inside_dead(scope, dead_ids):
            continue  # removed with the node that holds it
        live = _live_nodes(index, scope)
        for ref in index.node_refs:
            if ref.scope is scope and id(ref) not in live:
                dead.append(ref)
                dead_ids.add(id(ref))
    return dead


def _live_nodes(index: ModelIndex, scope: GraphScope) -> set[int]:
    """ids of the NodeRefs of ``scope`` that some output of ``scope`` depends on.

    A custom-domain node without outputs is live too: it can only be there for a
    side effect of its runtime (logging, saving), which removing it would drop.
    """
    pending = [*scope.output_names, *index.side_table_names]
    live: set[int] = set()
    for ref in index.node_refs:
        node = ref.node
        if ref.scope is scope and not is_default_domain(node.domain) and not any(node.output):
            live.add(id(ref))
            pending.extend(index.reads_of_node(node))
    while pending:
        producer = index.producer.get(pending.pop())
        if producer is None or producer.scope is not scope or id(producer) in live:
            continue
        live.add(id(producer))
        pending.extend(index.reads_of_node(producer.node))
    return live


def _inside_dead(scope: GraphScope, dead_ids: set[int]) -> bool:
    while scope.owner is not None:
        if id(scope.owner) in dead_ids:
            return True
        scope = scope.owner.scope
    return False


def _freed_initializers(index: ModelIndex, dead: list[NodeRef]) -> list[tuple[GraphScope, str]]:
    """Initializers read only by dead nodes (or inside their subgraphs)."""
    dead_ids = {id(ref) for ref in dead}
    candidates: dict[str, None] = {}
    for ref in dead:
        for name in index.reads_of_node(ref.node):
            candidates.setdefault(name)
    freed: list[tuple[GraphScope, str]] = []
    for name in candidates:
        if name not in index.initializers or name in index.side_table_names:
            continue
        scope = index.initializers[name][0]
        if name in scope.input_names:
            continue  # an overridable input: part of the interface
        uses = index.uses_of(name)
        if all(
            use.node is not None and (id(use.node) in dead_ids or _inside_dead(use.scope, dead_ids))
            for use in uses
        ):
            freed.append((scope, name))
    return freed
