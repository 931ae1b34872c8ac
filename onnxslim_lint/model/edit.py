"""Surgical edits of a ModelProto that keep it valid: rewire reads, remove nodes and tensors.

Every rule's fix is made of these few operations, so the ONNX traps are handled in
one place: reads inside subgraphs are rewired with the rest, graph outputs keep their
names, ``""`` (an absent optional input) is never touched, and ``value_info`` entries
of removed values are dropped so no stale shape annotation survives.

An :class:`Editor` collects removals and applies them in one go at ``commit()``, so the
index it was given stays meaningful while a fix is planning (positions do not shift
under it).
"""

from __future__ import annotations

from collections.abc import Callable, MutableSequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TypeVar

import onnx

from onnxslim_lint.model.graphs import all_graphs
from onnxslim_lint.model.index import GraphScope, ModelIndex, NodeRef

__all__ = ["Editor", "can_bypass"]

_T = TypeVar("_T")


def can_bypass(index: ModelIndex, ref: NodeRef, old: str, new: str) -> bool:
    """Can node ``ref`` (whose output ``old`` equals its input ``new``) be removed?

    Always when ``old`` is no graph output; otherwise only when ``new`` can take the
    output's name: it is made by another node of the same graph and is not itself an
    output or named by a side table.
    """
    if old in index.side_table_names:
        return False
    if not index.is_graph_output(old):
        return True
    producer = index.producer.get(new)
    return (
        producer is not None
        and producer is not ref
        and producer.scope is ref.scope
        and not index.is_graph_output(new)
        and new not in index.side_table_names
    )


@dataclass
class Editor:
    index: ModelIndex
    _drop_nodes: dict[int, set[int]] = field(default_factory=dict)  # id(scope) -> positions
    _drop_inits: dict[int, set[str]] = field(default_factory=dict)  # id(scope) -> names
    _scopes: dict[int, GraphScope] = field(default_factory=dict)
    _removed_values: set[str] = field(default_factory=set)
    # Names whose producer or readers changed in this edit: a rule must not plan
    # further edits around them before the index is rebuilt.
    touched: set[str] = field(default_factory=set)

    # -- planning -----------------------------------------------------------------

    def remove_node(self, ref: NodeRef) -> None:
        self._scopes[id(ref.scope)] = ref.scope
        self._drop_nodes.setdefault(id(ref.scope), set()).add(ref.position)
        self._removed_values.update(out for out in ref.node.output if out)

    def remove_initializer(self, scope: GraphScope, name: str) -> None:
        self._scopes[id(scope)] = scope
        self._drop_inits.setdefault(id(scope), set()).add(name)
        self._removed_values.add(name)

    def is_removed(self, ref: NodeRef) -> bool:
        return ref.position in self._drop_nodes.get(id(ref.scope), ())

    def replace_uses(self, old: str, new: str) -> None:
        """Make every read of ``old`` read ``new`` instead (graph outputs excluded).

        The caller makes sure ``new`` is visible wherever ``old`` is read and that
        ``old`` is not a graph output (see :meth:`bypass`).
        """
        for use in self.index.uses_of(old):
            if use.node is None:
                raise AssertionError(f"replace_uses would rename graph output {old!r}")
            if use.node.node.input[use.slot] == old:
                use.node.node.input[use.slot] = new
        self.touched.update((old, new))

    def bypass(self, ref: NodeRef, old: str, new: str) -> bool:
        """Remove node ``ref`` whose output ``old`` equals its input ``new``.

        Readers of ``old`` are rewired to ``new``. When ``old`` is a graph output, its
        name must survive: the producer of ``new`` is renamed to write ``old`` instead,
        which is possible only when ``new`` is made by a node in the same graph and is
        neither an output itself nor touched by an earlier edit. Returns False (and
        changes nothing) when the node has to stay.
        """
        if old in self.touched or new in self.touched:
            return False
        if not can_bypass(self.index, ref, old, new):
            return False
        if not self.index.is_graph_output(old):
            self.replace_uses(old, new)
            self.remove_node(ref)
            return True
        producer = self.index.producer[new]
        if self.is_removed(producer):
            return False
        slot = list(producer.node.output).index(new)
        producer.node.output[slot] = old
        # Every other reader of ``new`` now reads ``old``, defined at the same place.
        for use in self.index.uses_of(new):
            if use.node is not None and use.node is not ref:
                use.node.node.input[use.slot] = old
        self.remove_node(ref)
        self._removed_values.add(new)
        self._removed_values.discard(old)
        self.touched.update((old, new))
        return True

    # -- applying -------------------------------------------------------------------

    def commit(self) -> None:
        """Apply the planned removals and drop value_info of values that are gone."""
        for key, positions in self._drop_nodes.items():
            nodes = self._scopes[key].graph.node
            for position in sorted(positions, reverse=True):
                del nodes[position]
        for key, names in self._drop_inits.items():
            graph = self._scopes[key].graph
            _delete_named(graph.initializer, names, lambda t: t.name)
            _delete_named(graph.sparse_initializer, names, lambda s: s.values.name)
        if self._removed_values:
            still_defined = _defined_names(self.index.model.graph)
            gone = self._removed_values - still_defined
            if gone:
                for scope in self.index.scopes:
                    _delete_named(scope.graph.value_info, gone, lambda v: v.name)
        self._drop_nodes.clear()
        self._drop_inits.clear()
        self._removed_values.clear()


def _delete_named(
    repeated: MutableSequence[_T], names: AbstractSet[str], name_of: Callable[[_T], str]
) -> None:
    """Delete, in place, the entries whose name is one of ``names``."""
    for position in range(len(repeated) - 1, -1, -1):
        if name_of(repeated[position]) in names:
            del repeated[position]


def _defined_names(graph: onnx.GraphProto) -> set[str]:
    names: set[str] = set()
    for sub in all_graphs(graph):
        names.update(v.name for v in sub.input)
        names.update(t.name for t in sub.initializer)
        names.update(s.values.name for s in sub.sparse_initializer)
        names.update(out for node in sub.node for out in node.output if out)
    return names
