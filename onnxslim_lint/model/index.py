"""One read-only index of a model that every rule queries.

Built once per check round from the ``ModelProto``; no rule walks the graph its own
way. It knows, for the main graph and every If/Loop/Scan subgraph below it:

- which node produces each value and every place that reads it, where a name read
  inside a subgraph but defined outside it counts as a read of the outer value (and as
  an implicit input of the node that owns the subgraph);
- the initializers of each graph, which of them are also graph inputs (overridable
  defaults, part of the interface) and which values are graph outputs;
- the model-local functions and which of them are called;
- names that side tables refer to (training_info bindings, quantization annotations),
  which count as reads so nothing they name is removed.

ONNX forbids shadowing, so a value name identifies one value across a graph and all
its subgraphs. Function bodies have their own namespace; rules leave them alone, the
index only records which functions are called.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import numpy_helper

from onnxslim_lint.model.domains import canonical_domain, is_default_domain
from onnxslim_lint.model.external_data import ExternalData
from onnxslim_lint.model.graphs import all_graphs, all_nodes, named_subgraphs
from onnxslim_lint.model.shapes import ShapeInfo, infer_shapes
from onnxslim_lint.model.tensors import data_nbytes, raw_numpy_dtype

__all__ = [
    "GraphScope",
    "ModelIndex",
    "NodeRef",
    "Use",
    "constant_node_tensor",
]


@dataclass(eq=False)
class GraphScope:
    """A graph in the model: the main graph or a subgraph held by a node attribute."""

    path: str
    graph: onnx.GraphProto
    parent: GraphScope | None = None
    owner: NodeRef | None = None
    depth: int = 0
    input_names: frozenset[str] = frozenset()
    output_names: frozenset[str] = frozenset()
    initializer_names: frozenset[str] = frozenset()
    # Every name defined in this graph: inputs, initializers, node outputs.
    defined: frozenset[str] = frozenset()

    def is_ancestor_or_self(self, other: GraphScope) -> bool:
        """True when ``self`` encloses ``other`` (names of self are visible in other)."""
        scope: GraphScope | None = other
        while scope is not None:
            if scope is self:
                return True
            scope = scope.parent
        return False


@dataclass(eq=False)
class NodeRef:
    scope: GraphScope
    position: int
    node: onnx.NodeProto

    @property
    def label(self) -> str:
        return self.node.name or f"{self.node.op_type}#{self.position}"


@dataclass(eq=False)
class Use:
    """One read of a value: a node input slot, or a graph output of some scope."""

    scope: GraphScope
    node: NodeRef | None  # None: the value is named in scope.graph.output
    slot: int  # input index on the node, or output index in the graph


@dataclass(eq=False)
class ModelIndex:
    model: onnx.ModelProto
    main: GraphScope
    scopes: list[GraphScope]
    producer: dict[str, NodeRef]
    uses: dict[str, list[Use]]
    # Names read by nodes inside a node's subgraphs but defined outside them.
    implicit_inputs: dict[int, frozenset[str]]
    # Where each name is defined: the scope it lives in.
    defined_in: dict[str, GraphScope]
    initializers: dict[str, tuple[GraphScope, onnx.TensorProto]]
    sparse_initializers: dict[str, tuple[GraphScope, onnx.SparseTensorProto]]
    # Names the model's side tables (training_info, quantization_annotation) mention.
    side_table_names: frozenset[str]
    opsets: dict[str, int]
    called_functions: set[tuple[str, str, str]] = field(default_factory=set)
    node_refs: list[NodeRef] = field(default_factory=list)
    # Zero-copy bytes of main-graph initializers: views into the model file's bytes
    # (model/wire.py) or into a memory map of an external-data file (model/load.py).
    # Only given for a model exactly as loaded, so an index built after an edit has none.
    raw_views: Mapping[str, memoryview] = field(default_factory=dict)
    # The checked data files of a model loaded with its weights on disk: a tensor
    # still pointing at them is read through a view, after any edit too (its bytes
    # are where its external_data entries say).
    external: ExternalData | None = None
    _inferred: ShapeInfo | None = field(default=None, repr=False)
    _arrays: dict[str, np.ndarray | None] = field(default_factory=dict, repr=False)

    # -- construction -------------------------------------------------------------

    @classmethod
    def build(
        cls,
        model: onnx.ModelProto,
        raw_views: Mapping[str, memoryview] | None = None,
        external: ExternalData | None = None,
    ) -> ModelIndex:
        main = _make_scope("main", model.graph, None, None)
        index = cls(
            model=model,
            main=main,
            scopes=[],
            producer={},
            uses={},
            implicit_inputs={},
            defined_in={},
            initializers={},
            sparse_initializers={},
            side_table_names=frozenset(_side_table_names(model)),
            opsets={canonical_domain(op.domain): op.version for op in model.opset_import},
            raw_views=raw_views or {},
            external=external,
        )
        index._add_scope(main)
        for function in model.functions:
            for node in all_nodes(function):
                index._note_call(node)
        return index

    def _add_scope(self, scope: GraphScope) -> frozenset[str]:
        """Index a scope and its subgraphs; return the outer names it reads."""
        self.scopes.append(scope)
        graph = scope.graph
        for name in scope.defined:
            self.defined_in.setdefault(name, scope)
        for tensor in graph.initializer:
            self.initializers[tensor.name] = (scope, tensor)
        for sparse in graph.sparse_initializer:
            self.sparse_initializers[sparse.values.name] = (scope, sparse)
        outer_reads: set[str] = set()
        for position, node in enumerate(graph.node):
            ref = NodeRef(scope, position, node)
            self.node_refs.append(ref)
            self._note_call(node)
            for out in node.output:
                if out:
                    self.producer[out] = ref
            for slot, name in enumerate(node.input):
                if not name:
                    continue  # "" marks an absent optional input
                self.uses.setdefault(name, []).append(Use(scope, ref, slot))
                if name not in scope.defined:
                    outer_reads.add(name)
            implicit: set[str] = set()
            for attr_name, sub in named_subgraphs(node):
                child = _make_scope(f"{scope.path}/{ref.label}/{attr_name}", sub, scope, ref)
                implicit |= self._add_scope(child)
            if implicit:
                self.implicit_inputs[id(node)] = frozenset(implicit)
                outer_reads |= {name for name in implicit if name not in scope.defined}
        for slot, value in enumerate(graph.output):
            if value.name:
                self.uses.setdefault(value.name, []).append(Use(scope, None, slot))
                if value.name not in scope.defined:
                    outer_reads.add(value.name)
        return frozenset(outer_reads)

    def _note_call(self, node: onnx.NodeProto) -> None:
        self.called_functions.add((node.domain or "", node.op_type, node.overload))

    # -- queries --------------------------------------------------------------------

    def nodes(self) -> Iterator[NodeRef]:
        """Every node of the main graph and its subgraphs (not function bodies).

        The same NodeRef objects as in ``producer`` and ``uses``, so ``is`` compares them.
        """
        yield from self.node_refs

    def uses_of(self, name: str) -> list[Use]:
        return self.uses.get(name, [])

    def is_used(self, name: str) -> bool:
        return bool(self.uses.get(name)) or name in self.side_table_names

    def is_graph_output(self, name: str) -> bool:
        """True when the value is an output of any graph (main or subgraph)."""
        return any(use.node is None for use in self.uses.get(name, ()))

    def is_main_output(self, name: str) -> bool:
        return name in self.main.output_names

    def is_graph_input(self, name: str) -> bool:
        scope = self.defined_in.get(name)
        return scope is not None and name in scope.input_names

    def is_overridable(self, name: str) -> bool:
        """An initializer that is also a graph input: a default the caller may replace."""
        scope = self.defined_in.get(name)
        return scope is not None and name in scope.initializer_names and name in scope.input_names

    def defined_in_several_graphs(self) -> frozenset[str]:
        """Names two graphs define: sibling branches may, and a subgraph may shadow an
        outer name. ``producer`` and ``defined_in`` hold one of them only."""
        seen: set[str] = set()
        several: set[str] = set()
        for scope in self.scopes:
            several.update(seen & scope.defined)
            seen.update(scope.defined)
        return frozenset(several)

    def reads_of_node(self, node: onnx.NodeProto) -> list[str]:
        """Every value the node reads: its inputs plus names its subgraphs read outside."""
        names = [name for name in node.input if name]
        names.extend(self.implicit_inputs.get(id(node), ()))
        return names

    def constant_tensor(self, name: str) -> onnx.TensorProto | None:
        """The tensor value of a non-overridable initializer or a Constant node output."""
        if name in self.initializers and not self.is_overridable(name):
            return self.initializers[name][1]
        ref = self.producer.get(name)
        if (
            ref is not None
            and ref.node.op_type == "Constant"
            and is_default_domain(ref.node.domain)
        ):
            return constant_node_tensor(ref.node)
        return None

    def tensor_data(self, tensor: onnx.TensorProto) -> bytes | memoryview:
        """A tensor's little-endian data bytes: raw_data and typed fields alike.

        For a main-graph initializer of a model as loaded this is a view into the
        file buffer or the external-data file (no copy); otherwise ``raw_data`` (a
        copy) or the typed values. An external tensor without a view raises
        ValueError (see :meth:`has_data`): its bytes are never read from anywhere else.
        """
        view = self._view(tensor)
        if view is not None:
            return view
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            raise ValueError(f"the data of tensor {tensor.name!r} is not loaded")
        if tensor.HasField("raw_data"):
            return tensor.raw_data
        return numpy_helper.to_array(tensor).tobytes()

    def has_data(self, tensor: onnx.TensorProto) -> bool:
        """Can :meth:`tensor_data` and :meth:`tensor_array` give this tensor's values?"""
        return tensor.data_location != onnx.TensorProto.EXTERNAL or self._view(tensor) is not None

    def tensor_array(self, tensor: onnx.TensorProto) -> np.ndarray:
        """A tensor's value as an array: in place (read-only) for raw data numpy can view.

        Every rule reads tensor values through here or :meth:`constant_array`, so an
        external tensor is read from its view, never by ``numpy_helper`` (which would
        open its location relative to the working folder). ValueError when the data
        is not available (:meth:`has_data`).
        """
        dtype = raw_numpy_dtype(tensor.data_type)
        if tensor.data_location == onnx.TensorProto.EXTERNAL or (
            dtype is not None and tensor.HasField("raw_data")
        ):
            data = self.tensor_data(tensor)
            if dtype is None:  # a type numpy cannot view: convert an inline copy
                inline = onnx.TensorProto()
                inline.CopyFrom(tensor)
                del inline.external_data[:]
                inline.data_location = onnx.TensorProto.DEFAULT
                inline.raw_data = bytes(data)
                return numpy_helper.to_array(inline)
            return np.frombuffer(data, dtype=dtype).reshape(tuple(int(d) for d in tensor.dims))
        return numpy_helper.to_array(tensor)

    def _view(self, tensor: onnx.TensorProto) -> memoryview | None:
        """A view of the tensor's bytes, if one is known and has the size it needs."""
        if self.external is not None and tensor.data_location == onnx.TensorProto.EXTERNAL:
            view = self.external.view(tensor)
        else:
            view = self.raw_views.get(tensor.name)
            entry = self.initializers.get(tensor.name)
            if entry is None or entry[0] is not self.main:
                return None
        if view is None or len(view) != data_nbytes(tensor):
            return None
        return view

    def value_shape(self, name: str) -> tuple[int | str | None, ...] | None:
        """Declared shape of a value from graph inputs/outputs/value_info or an initializer."""
        if name in self.initializers:
            return tuple(self.initializers[name][1].dims)
        scope = self.defined_in.get(name)
        graphs = [scope.graph] if scope is not None else [s.graph for s in self.scopes]
        for graph in graphs:
            for value in (*graph.input, *graph.value_info, *graph.output):
                if value.name == name and value.type.HasField("tensor_type"):
                    tensor_type = value.type.tensor_type
                    if not tensor_type.HasField("shape"):
                        return None
                    return tuple(
                        d.dim_value
                        if d.HasField("dim_value") and d.dim_value >= 0
                        else (d.dim_param or None)
                        for d in tensor_type.shape.dim
                    )
        return None

    def constant_array(self, name: str) -> np.ndarray | None:
        """A constant's value (see :meth:`constant_tensor`) as a read-only array, cached.

        Raw data of common dtypes is viewed in place (through the file buffer when
        the index has views), so folding a large weight does not copy it first.
        """
        if name in self._arrays:
            return self._arrays[name]
        tensor = self.constant_tensor(name)
        value: np.ndarray | None = None
        if tensor is not None and self.has_data(tensor):
            try:
                value = self.tensor_array(tensor)
            except (ValueError, TypeError, KeyError):
                value = None
        self._arrays[name] = value
        return value

    def inferred_shapes(self) -> ShapeInfo:
        """name -> (elem_type, dims or None) by shape inference, computed once per index.

        Never trusts the model's value_info (see :mod:`onnxslim_lint.model.shapes`).
        """
        if self._inferred is None:
            self._inferred = infer_shapes(self.model)
        return self._inferred

    def fresh_name(self, base: str) -> str:
        """A value name not used anywhere in the model (all scopes, any role)."""
        taken = set(self.defined_in) | set(self.uses) | set(self.producer)
        candidate = base
        counter = 1
        while candidate in taken:
            candidate = f"{base}_{counter}"
            counter += 1
        return candidate


def constant_node_tensor(node: onnx.NodeProto) -> onnx.TensorProto | None:
    """The value of a Constant node as a TensorProto (None for sparse and string forms)."""
    if len(node.attribute) != 1:
        return None
    attr = node.attribute[0]
    if attr.ref_attr_name:
        return None  # a function attribute reference: not a constant here
    name = attr.name
    if name == "value":
        return attr.t
    if name == "value_float":
        return onnx.helper.make_tensor("", onnx.TensorProto.FLOAT, [], [attr.f])
    if name == "value_floats":
        return onnx.helper.make_tensor("", onnx.TensorProto.FLOAT, [len(attr.floats)], attr.floats)
    if name == "value_int":
        return onnx.helper.make_tensor("", onnx.TensorProto.INT64, [], [attr.i])
    if name == "value_ints":
        return onnx.helper.make_tensor("", onnx.TensorProto.INT64, [len(attr.ints)], attr.ints)
    return None


def _make_scope(
    path: str, graph: onnx.GraphProto, parent: GraphScope | None, owner: NodeRef | None
) -> GraphScope:
    inputs = frozenset(v.name for v in graph.input if v.name)
    inits = frozenset(t.name for t in graph.initializer) | frozenset(
        s.values.name for s in graph.sparse_initializer
    )
    node_outputs = frozenset(out for node in graph.node for out in node.output if out)
    return GraphScope(
        path=path,
        graph=graph,
        parent=parent,
        owner=owner,
        depth=0 if parent is None else parent.depth + 1,
        input_names=inputs,
        output_names=frozenset(v.name for v in graph.output if v.name),
        initializer_names=inits,
        defined=inputs | inits | node_outputs,
    )


def _side_table_names(model: onnx.ModelProto) -> set[str]:
    names: set[str] = set()
    for graph in all_graphs(model.graph):
        for annotation in graph.quantization_annotation:
            names.add(annotation.tensor_name)
            names.update(entry.value for entry in annotation.quant_parameter_tensor_names)
    for info in model.training_info:
        for binding in (*info.initialization_binding, *info.update_binding):
            names.add(binding.key)
            names.add(binding.value)
        for graph in (info.initialization, info.algorithm):
            for node in all_nodes(graph):
                names.update(name for name in node.input if name)
            names.update(v.name for v in graph.output)
    return names
