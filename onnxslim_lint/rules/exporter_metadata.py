"""OSL107 exporter-metadata."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import onnx

from onnxslim_lint.findings import FixAvailability, FixSafety, Location
from onnxslim_lint.model.index import ModelIndex
from onnxslim_lint.model.tensors import field_nbytes
from onnxslim_lint.rules.base import CheckContext, GraphRule, Saving, plural, size_note

# Everything that can carry ``metadata_props`` and ``doc_string`` inside a graph.
_Carrier = onnx.NodeProto | onnx.ValueInfoProto | onnx.TensorProto | onnx.GraphProto


@dataclass(frozen=True)
class _Marked:
    kind: str  # "node", "value", "initializer" or "graph"
    name: str
    graph: str
    carrier: _Carrier
    nbytes: int


class ExporterMetadata(GraphRule[_Marked]):
    """
    ## What it does
    Finds the ``metadata_props`` and ``doc_string`` that exporters write on nodes,
    on value annotations (``value_info``, graph inputs and outputs), on initializers
    and on the graphs themselves (the main graph and every subgraph), and reports the
    bytes they take. The fix strips them.

    Opt-in: selected only by its code or name (``--select OSL107``), never by
    ``ALL`` or a prefix, since some users rely on this information.

    ## Why is this bad?
    The dynamo exporter writes, for every node, the Python stack trace, the module
    hierarchy, the FX node and name scopes (``pkg.torch.onnx.*``, ``namespace``); on
    every parameter its original name and kind; and on the graph the whole
    ``ExportedProgram`` signature. In small models that is often more bytes than the
    weights, and it names the source files of the machine that exported the model.

    ## What it leaves alone
    - Model-level ``metadata_props`` and ``doc_string`` (licence, model card,
      producer notes, ...).
    - Function bodies.
    - Names, which the runtime uses in profiles and error messages, and every type
      and shape annotation.

    ## Example
    A ``Conv`` with ``metadata_props {key: "pkg.torch.onnx.stack_trace", value:
    "File ..."}`` keeps its name, inputs, outputs and attributes, without the
    metadata.

    ## Fix safety
    Exact: metadata and doc strings are never read by a runtime to compute outputs.
    It does remove debugging information (where in the source a node came from).
    """

    code = "OSL107"
    name = "exporter-metadata"
    summary = "metadata_props and doc_string that exporters write on nodes, values and graphs"
    fix_title = "Strip the metadata_props and doc_string inside the graphs"
    availability = FixAvailability.ALWAYS
    safety = FixSafety.EXACT
    opt_in = True

    def match(self, ctx: CheckContext) -> list[_Marked]:
        return list(_marked(ctx.index))

    def saving(self, item: _Marked) -> Saving:
        keys = _keys(item.carrier)
        location = Location(item.kind, item.name, item.graph, keys, item.nbytes)
        return Saving((location,), nbytes=item.nbytes)

    def message(self, items: Sequence[_Marked], total: Saving) -> str:
        kinds = sorted({item.kind for item in items}, key=_KIND_ORDER.index)
        counts = ", ".join(
            plural(sum(1 for item in items if item.kind == kind), kind) for kind in kinds
        )
        return f"metadata or doc strings on {counts}{size_note(total.nbytes)}"

    def apply(self, index: ModelIndex, items: Sequence[_Marked]) -> bool:
        for item in items:
            item.carrier.ClearField("metadata_props")
            item.carrier.ClearField("doc_string")
        return bool(items)


_KIND_ORDER = ["node", "value", "initializer", "graph"]


def _marked(index: ModelIndex) -> Iterator[_Marked]:
    for ref in index.nodes():
        size = _metadata_bytes(ref.node)
        if size:
            yield _Marked("node", ref.label, ref.scope.path, ref.node, size)
    for scope in index.scopes:
        graph = scope.graph
        for value in (*graph.input, *graph.output, *graph.value_info):
            size = _metadata_bytes(value)
            if size:
                yield _Marked("value", value.name, scope.path, value, size)
        for tensor in graph.initializer:
            size = _metadata_bytes(tensor)
            if size:
                yield _Marked("initializer", tensor.name, scope.path, tensor, size)
        size = _metadata_bytes(graph)
        if size:
            yield _Marked("graph", graph.name, scope.path, graph, size)


def _metadata_bytes(carrier: _Carrier) -> int:
    """The bytes ``metadata_props`` and ``doc_string`` take in ``carrier``."""
    if not carrier.metadata_props and not carrier.doc_string:
        return 0
    fields = carrier.DESCRIPTOR.fields_by_name
    size = 0
    for entry in carrier.metadata_props:
        size += field_nbytes(fields["metadata_props"].number, entry.ByteSize())
    if carrier.doc_string:
        size += field_nbytes(fields["doc_string"].number, len(carrier.doc_string.encode()))
    return size


def _keys(carrier: _Carrier) -> str:
    keys = [entry.key for entry in carrier.metadata_props]
    if carrier.doc_string:
        keys.append("doc_string")
    return ", ".join(keys)
