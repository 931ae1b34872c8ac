"""OSL102 dead-node."""

from __future__ import annotations

from onnxslim_lint.findings import Finding, FixSafety, Location
from onnxslim_lint.model.domains import is_default_domain
from onnxslim_lint.model.edit import Editor
from onnxslim_lint.model.index import GraphScope, ModelIndex, NodeRef
from onnxslim_lint.model.tensors import node_nbytes, tensor_detail, tensor_nbytes
from onnxslim_lint.rules.base import CheckContext, Rule, plural, size_note


class DeadNode(Rule):
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
    safety = FixSafety.EXACT

    def check(self, ctx: CheckContext) -> list[Finding]:
        index = ctx.index
        dead = _dead_nodes(index)
        if not dead:
            return []
        freed = _freed_initializers(index, dead)
        node_bytes = sum(node_nbytes(ref.node) for ref in dead)
        init_bytes = sum(tensor_nbytes(index.initializers[name][1]) for _, name in freed)
        nbytes = node_bytes + init_bytes
        message = plural(len(dead), "dead node")
        if freed:
            message += f" and {plural(len(freed), 'initializer')} only they read"
        locations = [
            Location("node", ref.label, ref.scope.path, ref.node.op_type, node_nbytes(ref.node))
            for ref in dead
        ]
        locations += [
            Location(
                "initializer",
                name,
                scope.path,
                tensor_detail(index.initializers[name][1]),
                tensor_nbytes(index.initializers[name][1]),
            )
            for scope, name in freed
        ]
        return [
            self.finding(
                ctx,
                message + size_note(nbytes),
                locations=locations,
                count=len(dead) + len(freed),
                nbytes=nbytes,
                nodes=len(dead),
                plan=(dead, freed),
            )
        ]

    def fix(self, index: ModelIndex, finding: Finding) -> bool:
        dead, freed = finding.plan  # type: ignore[misc]
        editor = Editor(index)
        for ref in dead:
            editor.remove_node(ref)
        for scope, name in freed:
            editor.remove_initializer(scope, name)
        editor.commit()
        return bool(dead)


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
        ref = index.producer.get(pending.pop())
        if ref is None or ref.scope is not scope or id(ref) in live:
            continue
        live.add(id(ref))
        pending.extend(index.reads_of_node(ref.node))
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
